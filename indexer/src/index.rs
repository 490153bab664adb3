//! An index opened for searching: the manifest's header, the lexical
//! index and the memory-mapped vector segments of one committed generation.
//!
//! The lexical index is also the documents table (format 8): each
//! document's entry is stored beside its text, with its handle (`seq`) and
//! its passages' vector keys (`keys`) indexed and in fast columns. So
//! opening reads no document (a million passages: 3.1 s to parse a
//! `documents.json`), a hit is named by a column read, a semantic hit's
//! key and a handle are found through the term dictionaries, and a
//! checkpoint writes only the documents that changed (tantivy's segments).

use std::path::{Path, PathBuf};

use semsearch_models::ModelInfo;
use tantivy::columnar::{Column, StrColumn};
use tantivy::fastfield::AliveBitSet;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{
    DocAddress, DocId, DocSet, IndexReader, InvertedIndexReader, ReloadPolicy, Searcher,
    TantivyDocument, Term, TERMINATED,
};

use crate::error::{Error, IoContext, Result};
use crate::manifest::{DocEntry, Manifest};
use crate::schema::{self, Fields};
use crate::segments::Vectors;
use crate::store;
use crate::vectors;

/// Documents from which a lexical search runs its segments on every core
/// (a million short documents: BM25 with feedback's second pass 12.8 ms on
/// one thread); below, the hand-offs cost more than they save.
const PARALLEL_SEGMENTS_FROM: usize = 200_000;

/// Where a passage lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PassageRef {
    /// The document's handle (see [`Index::document`]).
    pub doc: usize,
    /// Ordinal of the passage in its document.
    pub ordinal: usize,
}

/// One document as stored: its id, entry and extracted text.
#[derive(Debug, Clone)]
pub struct Document {
    /// The path relative to its root, or the corpus `_id`.
    pub id: String,
    /// What the index knows of it: path, title, passages.
    pub entry: DocEntry,
    /// The extracted text.
    pub text: String,
}

/// One lexical segment's lookups: the fields' term dictionaries (id,
/// handle, key to document) and the fast columns (document to handle,
/// keys).
struct SegmentLookup {
    ord: u32,
    alive: Option<AliveBitSet>,
    by_id: std::sync::Arc<InvertedIndexReader>,
    by_seq: std::sync::Arc<InvertedIndexReader>,
    by_key: std::sync::Arc<InvertedIndexReader>,
    seq: Column<u64>,
    keys: Column<u64>,
    ids: StrColumn,
    /// The content hash's two words ([`schema::Fields::hash`]), where the
    /// index has the column.
    hash: Option<Column<u64>>,
}

/// A committed index opened for searching (see the module docs).
pub struct Index {
    /// The index folder (`.semsearch`).
    dir: PathBuf,
    /// The manifest's header (no documents) of the generation opened.
    manifest: Manifest,
    /// The tantivy index of that generation.
    lexical: tantivy::Index,
    /// Its documents.
    table: Table,
    /// The passage HNSW segments, memory-mapped, keyed by passage id.
    vectors: Vectors,
    /// This generation held for as long as the index is open, so that a
    /// commit does not remove it from under the reader.
    _lease: Option<store::ReadLease>,
}

impl Index {
    /// Open the committed index in `dir`, checking that every part is there
    /// and agrees with the manifest. Reads no document.
    pub fn open(dir: &Path) -> Result<Self> {
        // A commit may switch generations and remove the old one between
        // reading the manifest and taking the lease: read it again then.
        let mut tries = 0;
        let (manifest, lease) = loop {
            let manifest = Manifest::read_header(dir)?;
            match store::lease(dir, manifest.generation) {
                Some(lease) => break (manifest, Some(lease)),
                None if tries < 3 => tries += 1,
                // No lease (a read-only folder): open unheld, as before.
                None => break (manifest, None),
            }
        };
        let gen_dir = store::generation_dir(dir, manifest.generation);
        let corrupt = |reason: String| Error::Corrupt {
            path: dir.to_path_buf(),
            reason,
        };
        let (n_docs, n_passages) = (manifest.totals().documents, manifest.passage_count());
        let parallel = n_docs >= PARALLEL_SEGMENTS_FROM;
        let (lexical, reader, fields) = open_lexical(dir, &gen_dir, parallel)?;
        lexical
            .tokenizers()
            .register(&manifest.analyzer, schema::analyzer(&manifest.analyzer));
        let (dim, q) = (manifest.model.dim, manifest.quantization);
        let vectors = Vectors::open(&gen_dir, &manifest.vector_segments, dim, q)
            .map_err(|e| corrupt(e.to_string()))?;
        if vectors.len() != n_passages {
            return Err(corrupt(format!(
                "vector segments hold {} live passages, manifest lists {n_passages}",
                vectors.len()
            )));
        }
        let table = Table::new(dir, reader.searcher(), fields, n_docs)?;
        Ok(Index {
            dir: dir.to_path_buf(),
            manifest,
            lexical,
            table,
            vectors,
            _lease: lease,
        })
    }

    /// The index folder (`.semsearch`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest's header (settings, generation, totals; no documents)
    /// of the generation opened.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Documents in the index.
    pub fn len(&self) -> usize {
        self.manifest.totals().documents
    }

    /// Whether the index holds no document.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One past the highest document handle: a table by handle has this
    /// many slots (handles of removed documents are not reused).
    pub fn slots(&self) -> usize {
        self.manifest.next_doc_seq as usize
    }

    /// A searcher of the lexical index (cheap: an `Arc` of the segments).
    pub fn lexical_searcher(&self) -> Searcher {
        self.table.searcher.clone()
    }

    /// The lexical index's fields.
    pub fn fields(&self) -> Fields {
        self.table.fields
    }

    /// The index's lexical analyser, as used on the documents.
    pub fn analyzer(&self) -> tantivy::tokenizer::TextAnalyzer {
        self.lexical
            .tokenizers()
            .get(&self.manifest.analyzer)
            .expect("registered at open")
    }

    /// The passage HNSW segments, memory-mapped, keyed by passage id.
    pub fn vectors(&self) -> &Vectors {
        &self.vectors
    }

    /// The model that made the vectors.
    pub fn model(&self) -> &ModelInfo {
        &self.manifest.model
    }

    /// The handle of a lexical hit: a column read.
    pub fn handle(&self, addr: DocAddress) -> Option<usize> {
        self.table.handle(addr)
    }

    /// Where document `doc` is in the lexical index (its term dictionary
    /// looked up: the inverse of [`Index::handle`]).
    pub fn address(&self, doc: usize) -> Option<DocAddress> {
        let (l, d) = self.table.address(doc)?;
        Some(DocAddress::new(l.ord, d))
    }

    /// The handle of the document with this id.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.table.position(id)
    }

    /// A document by id, else by file path (relative to the current folder
    /// or absolute): its id relative to the root the path is under.
    pub fn find_document(&self, path_or_id: &str) -> Option<usize> {
        if let Some(i) = self.position(path_or_id) {
            return Some(i);
        }
        let path = std::fs::canonicalize(path_or_id).ok()?;
        let roots = &self.manifest.roots;
        let prefix = roots.len() > 1;
        roots.iter().find_map(|root| {
            let id = crate::update::doc_id_of(root, &path, prefix)?;
            let doc = self.position(&id)?;
            let entry = self.document(doc).ok()??.entry;
            (entry.path.as_deref() == Some(path.as_path())).then_some(doc)
        })
    }

    /// Document `doc`: id, entry and text, read from the lexical index's
    /// store (one block decompressed); `None` when there is no such handle.
    pub fn document(&self, doc: usize) -> Result<Option<Document>> {
        self.table.document(doc)
    }

    /// Call `f` with every document and its handle, in the lexical
    /// index's order: the whole store read, one block at a time (for what
    /// needs every document: path filters, layouts, an import).
    pub fn each_document(&self, f: impl FnMut(usize, Document) -> Result<()>) -> Result<()> {
        let t = &self.table;
        each_document(&t.dir, &t.searcher, t.fields, f)
    }

    /// Document `doc`'s id (`None` when there is no such handle).
    pub fn id(&self, doc: usize) -> Option<String> {
        let (l, d) = self.table.address(doc)?;
        id_at(&l.by_id, &l.ids, d)
    }

    /// Where the passage with vector key `key` is.
    pub fn passage(&self, key: u64) -> Option<PassageRef> {
        let t = &self.table;
        let term = Term::from_field_u64(t.fields.keys, key);
        let (l, d) = t.find_number(|l| (&l.by_key, &l.keys), key, &term)?;
        let ordinal = l.keys.values_for_doc(d).position(|k| k == key)?;
        let doc = l.seq.first(d)? as usize;
        Some(PassageRef { doc, ordinal })
    }

    /// The vector keys of document `doc`'s passages, in text order.
    pub fn passage_keys(&self, doc: usize) -> Vec<u64> {
        self.table
            .address(doc)
            .map(|(l, d)| l.keys.values_for_doc(d).collect())
            .unwrap_or_default()
    }

    /// The vector key of a passage.
    pub fn passage_key(&self, p: PassageRef) -> Option<u64> {
        let (l, d) = self.table.address(p.doc)?;
        l.keys.values_for_doc(d).nth(p.ordinal)
    }

    /// A document's vector: the re-normalised mean of its passages'.
    /// Computed when asked rather than stored: a second HNSW of document
    /// vectors was 488 bytes a passage on SciFact (22% of the index) for
    /// `similar` and `map` alone, which read a few documents' vectors.
    pub fn doc_vector(&self, doc: usize) -> Option<Vec<f32>> {
        self.mean_vector(&self.passage_keys(doc))
    }

    /// The re-normalised mean of the passage vectors with these keys
    /// (`None` for no keys or a key without a vector).
    pub fn mean_vector(&self, keys: &[u64]) -> Option<Vec<f32>> {
        if keys.is_empty() {
            return None;
        }
        let vectors: Vec<Vec<f32>> = keys
            .iter()
            .map(|&k| self.passage_vector(k))
            .collect::<Option<_>>()?;
        let dim = self.manifest.model.dim;
        Some(vectors::mean(vectors.iter().map(Vec::as_slice), dim))
    }

    /// The LSA term basis of this generation (read from disk at each call;
    /// the searcher keeps it).
    pub fn lsa(&self) -> Result<crate::lsa::Lsa> {
        let gen_dir = store::generation_dir(&self.dir, self.manifest.generation);
        crate::lsa::Lsa::load(&store::lsa_path(&gen_dir))
    }

    /// A passage's vector, by its key.
    pub fn passage_vector(&self, key: u64) -> Option<Vec<f32>> {
        self.vectors.get(key)
    }
}

/// A generation's documents table: its lexical index's live documents,
/// looked up by id, handle and passage key through the term dictionaries
/// (see the module docs).
pub(crate) struct Table {
    /// The index folder, to name in errors.
    dir: PathBuf,
    /// The one searcher (a committed generation never changes).
    searcher: Searcher,
    fields: Fields,
    /// Per lexical segment, the largest first (where a key is most likely).
    lookups: Vec<SegmentLookup>,
    /// Each lexical segment's handle column, by segment ordinal.
    handles: Vec<Column<u64>>,
}

impl Table {
    /// The table of `searcher`, which must hold `documents` (the count the
    /// manifest recorded).
    fn new(dir: &Path, searcher: Searcher, fields: Fields, documents: usize) -> Result<Self> {
        let corrupt = |reason: String| Error::Corrupt {
            path: dir.to_path_buf(),
            reason,
        };
        let lexical_docs = searcher.num_docs() as usize;
        if lexical_docs != documents {
            return Err(corrupt(format!(
                "lexical index holds {lexical_docs} documents, manifest lists {documents}"
            )));
        }
        let mut lookups = lookups(&searcher, fields).map_err(|e| corrupt(e.to_string()))?;
        let handles = lookups.iter().map(|l| l.seq.clone()).collect();
        lookups.sort_by_key(|l| std::cmp::Reverse(searcher.segment_reader(l.ord).num_docs()));
        Ok(Table {
            dir: dir.to_path_buf(),
            searcher,
            fields,
            lookups,
            handles,
        })
    }

    /// The table of generation `gen_dir` of the index in `dir`, for an
    /// update (`documents`: what the manifest says it holds).
    pub(crate) fn open(dir: &Path, gen_dir: &Path, documents: usize) -> Result<Self> {
        let (_, reader, fields) = open_lexical(dir, gen_dir, false)?;
        Table::new(dir, reader.searcher(), fields, documents)
    }

    /// The handle of a lexical hit: a column read.
    fn handle(&self, addr: DocAddress) -> Option<usize> {
        let column = self.handles.get(addr.segment_ord as usize)?;
        column.first(addr.doc_id).map(|s| s as usize)
    }

    /// Where a term of `field` (an id, handle or key: unique among live
    /// documents) is: the largest segment first.
    fn find(
        &self,
        pick: impl Fn(&SegmentLookup) -> &InvertedIndexReader,
        term: &Term,
    ) -> Option<(&SegmentLookup, DocId)> {
        self.lookups.iter().find_map(|l| {
            let doc = first_alive(pick(l), term, l.alive.as_ref())?;
            Some((l, doc))
        })
    }

    /// The handle of the document with this id.
    fn position(&self, id: &str) -> Option<usize> {
        let term = Term::from_field_text(self.fields.id, id);
        let (l, doc) = self.find(|l| &l.by_id, &term)?;
        l.seq.first(doc).map(|s| s as usize)
    }

    /// Where document `doc` is in the lexical index.
    fn address(&self, doc: usize) -> Option<(&SegmentLookup, DocId)> {
        let term = Term::from_field_u64(self.fields.seq, doc as u64);
        self.find_number(|l| (&l.by_seq, &l.seq), doc as u64, &term)
    }

    /// [`Table::find`] for a number that a column holds too: segments
    /// whose column's range leaves it out are not looked in. Handles and
    /// keys are handed out in order, so a lexical segment holds a narrow
    /// range of each and one dictionary is read instead of up to one per
    /// segment (the misses were most of what a search's lookups cost: a
    /// hundred thousand passages, 14% of a hybrid query's time).
    fn find_number(
        &self,
        pick: impl Fn(&SegmentLookup) -> (&InvertedIndexReader, &Column<u64>),
        value: u64,
        term: &Term,
    ) -> Option<(&SegmentLookup, DocId)> {
        self.lookups.iter().find_map(|l| {
            let (inv, column) = pick(l);
            if value < column.min_value() || value > column.max_value() {
                return None;
            }
            let doc = first_alive(inv, term, l.alive.as_ref())?;
            Some((l, doc))
        })
    }

    /// Document `doc`: id, entry and text (one store block decompressed,
    /// or found in the store's cache).
    fn document(&self, doc: usize) -> Result<Option<Document>> {
        let Some((l, d)) = self.address(doc) else {
            return Ok(None);
        };
        self.read(l, d).map(Some)
    }

    fn read(&self, l: &SegmentLookup, d: DocId) -> Result<Document> {
        let id = id_at(&l.by_id, &l.ids, d).ok_or_else(|| Error::Corrupt {
            path: self.dir.clone(),
            reason: format!("document {d} of segment {} has no id", l.ord),
        })?;
        self.read_as(l, d, id)
    }

    /// [`Table::read`] of a document whose id the caller knows (an update
    /// looks every record up by id: the id's dictionary walk was 7% of a
    /// no-op run over a million records).
    fn read_as(&self, l: &SegmentLookup, d: DocId, id: String) -> Result<Document> {
        let stored: TantivyDocument = self.searcher.doc(DocAddress::new(l.ord, d)).at(&self.dir)?;
        read_document(&self.dir, self.fields, id, &stored)
    }

    /// Whether any segment has the content hash column (an index made
    /// before it has none: [`Table::handle_if_hash`] would only look ids
    /// up for nothing).
    pub(crate) fn has_hashes(&self) -> bool {
        self.lookups.iter().any(|l| l.hash.is_some())
    }

    /// The handle of the document with this id if its content hash is
    /// `hash`: two column reads, no stored document (`None`: no such id, or
    /// another hash, or no hash stored for it).
    pub(crate) fn handle_if_hash(&self, id: &str, hash: [u64; 2]) -> Option<u64> {
        let term = Term::from_field_text(self.fields.id, id);
        let (l, d) = self.find(|l| &l.by_id, &term)?;
        let mut words = l.hash.as_ref()?.values_for_doc(d);
        let same = words.next() == Some(hash[0]) && words.next() == Some(hash[1]);
        same.then(|| l.seq.first(d)).flatten()
    }

    /// The document with this id and its handle.
    pub(crate) fn get(&self, id: &str) -> Result<Option<(u64, Document)>> {
        let term = Term::from_field_text(self.fields.id, id);
        let Some((l, d)) = self.find(|l| &l.by_id, &term) else {
            return Ok(None);
        };
        let handle = l.seq.first(d).unwrap_or(u64::MAX);
        self.read_as(l, d, id.to_string())
            .map(|doc| Some((handle, doc)))
    }

    /// Every live document but those whose handle `skip` accepts: the
    /// handle columns read, then the store for the documents kept only.
    pub(crate) fn all_but(&self, skip: impl Fn(u64) -> bool) -> Result<Vec<Document>> {
        let mut out = Vec::new();
        for l in &self.lookups {
            let max = self.searcher.segment_reader(l.ord).max_doc();
            for d in 0..max {
                let alive = l.alive.as_ref().is_none_or(|a| a.is_alive(d));
                let handle = l.seq.first(d).unwrap_or(u64::MAX);
                if alive && !skip(handle) {
                    out.push(self.read(l, d)?);
                }
            }
        }
        Ok(out)
    }
}

/// Open a generation's lexical index with a reader that is never reloaded,
/// checking it has the documents table's schema.
fn open_lexical(
    dir: &Path,
    gen_dir: &Path,
    parallel: bool,
) -> Result<(tantivy::Index, IndexReader, Fields)> {
    let corrupt = |reason: String| Error::Corrupt {
        path: dir.to_path_buf(),
        reason,
    };
    let tdir = store::tantivy_dir(gen_dir);
    let (lexical, reader) = open_reader(&tdir, parallel)
        .map_err(|e| corrupt(format!("lexical index {}: {e}", tdir.display())))?;
    let fields = schema::fields(&lexical.schema())
        .ok_or_else(|| corrupt("lexical index has another schema".into()))?;
    Ok((lexical, reader, fields))
}

/// A lexical index of any schema in `tdir`, with a reader that is never
/// reloaded (a committed generation never changes); `parallel`: its
/// searches run the segments on every core. (The reader's searchers keep
/// the executor the index had when the reader was built.)
pub(crate) fn open_reader(
    tdir: &Path,
    parallel: bool,
) -> tantivy::Result<(tantivy::Index, IndexReader)> {
    let mut lexical = tantivy::Index::open_in_dir(tdir)?;
    if parallel {
        lexical.set_default_multithread_executor()?;
    }
    let reader = lexical
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    Ok((lexical, reader))
}

/// Every segment's lookups, by segment ordinal.
fn lookups(searcher: &Searcher, f: Fields) -> tantivy::Result<Vec<SegmentLookup>> {
    let mut out = Vec::new();
    for (ord, seg) in searcher.segment_readers().iter().enumerate() {
        let ff = seg.fast_fields();
        let missing = || tantivy::TantivyError::SchemaError("no id column".into());
        out.push(SegmentLookup {
            ord: ord as u32,
            alive: seg.alive_bitset().cloned(),
            by_id: seg.inverted_index(f.id)?,
            by_seq: seg.inverted_index(f.seq)?,
            by_key: seg.inverted_index(f.keys)?,
            seq: ff.u64("seq")?,
            keys: ff.u64("keys")?,
            ids: ff.str("id")?.ok_or_else(missing)?,
            hash: f.hash.and_then(|_| ff.u64("hash").ok()),
        });
    }
    Ok(out)
}

/// The first live document holding `term` in a segment.
fn first_alive(
    inv: &InvertedIndexReader,
    term: &Term,
    alive: Option<&AliveBitSet>,
) -> Option<DocId> {
    let info = inv.get_term_info(term).ok()??;
    let mut postings = inv
        .read_postings_from_terminfo(&info, IndexRecordOption::Basic)
        .ok()?;
    let mut d = postings.doc();
    while d != TERMINATED {
        if alive.is_none_or(|a| a.is_alive(d)) {
            return Some(d);
        }
        d = postings.advance();
    }
    None
}

/// Document `d`'s id in a segment. The id column gives the id's ordinal,
/// which is its ordinal in the `id` field's term dictionary too (both hold
/// the segment's ids, sorted), an FST read without decompressing: the
/// column's own dictionary is a zstd-compressed sstable, a block
/// decompressed for every id (about 20 us; `eval` asks 100 ids a query,
/// and SciFact's queries ran at half the speed).
fn id_at(by_id: &InvertedIndexReader, ids: &StrColumn, d: DocId) -> Option<String> {
    let ord = ids.term_ords(d).next()?;
    let mut bytes = Vec::new();
    by_id
        .terms()
        .ord_to_term(ord, &mut bytes)
        .ok()?
        .then_some(())?;
    String::from_utf8(bytes).ok()
}

/// A stored document's entry and text, with its id.
fn read_document(dir: &Path, f: Fields, id: String, stored: &TantivyDocument) -> Result<Document> {
    let corrupt = |reason: String| Error::Corrupt {
        path: dir.to_path_buf(),
        reason,
    };
    let bytes = stored
        .get_first(f.entry)
        .and_then(|v| v.as_bytes())
        .ok_or_else(|| corrupt(format!("document {id} has no stored entry")))?;
    let entry: DocEntry = serde_json::from_slice(bytes)
        .map_err(|e| corrupt(format!("document {id}'s stored entry: {e}")))?;
    let text = stored
        .get_first(f.body)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    Ok(Document { id, entry, text })
}

/// Call `each` with every live document of a searcher and its handle,
/// store block by block.
fn each_document(
    dir: &Path,
    searcher: &Searcher,
    f: Fields,
    mut each: impl FnMut(usize, Document) -> Result<()>,
) -> Result<()> {
    let mut seqs = Vec::new();
    for seg in searcher.segment_readers() {
        let seq = seg.fast_fields().u64("seq").map_err(|e| Error::Corrupt {
            path: dir.to_path_buf(),
            reason: format!("lexical index: {e}"),
        })?;
        seqs.push(seq);
    }
    each_stored(dir, searcher, f.id, |seg, d, id, stored| {
        let handle = seqs[seg].first(d).unwrap_or(u64::MAX) as usize;
        each(handle, read_document(dir, f, id, &stored)?)
    })
}

/// Call `each(segment, doc, id, stored fields)` with every live document
/// of a searcher of any schema with an `id` field (raw, fast): the store
/// read block by block, the ids by ordinal (see `id_at`) from one pass
/// over each segment's dictionary.
pub(crate) fn each_stored(
    dir: &Path,
    searcher: &Searcher,
    id_field: tantivy::schema::Field,
    mut each: impl FnMut(usize, DocId, String, TantivyDocument) -> Result<()>,
) -> Result<()> {
    let corrupt = |reason: String| Error::Corrupt {
        path: dir.to_path_buf(),
        reason: format!("lexical index: {reason}"),
    };
    for (s, seg) in searcher.segment_readers().iter().enumerate() {
        let ids = seg
            .fast_fields()
            .str("id")
            .map_err(|e| corrupt(e.to_string()))?;
        let ids = ids.ok_or_else(|| corrupt("no id column".into()))?;
        let mut names = Vec::new();
        let by_id = seg.inverted_index(id_field).at(dir)?;
        let mut terms = by_id.terms().stream().at(dir)?;
        while terms.advance() {
            names.push(String::from_utf8_lossy(terms.key()).into_owned());
        }
        let store = seg.get_store_reader(1).at(dir)?;
        let alive = seg.alive_bitset();
        let live = (0..seg.max_doc()).filter(|&d| alive.is_none_or(|a| a.is_alive(d)));
        for (d, stored) in live.zip(store.iter::<TantivyDocument>(alive)) {
            let stored = stored.at(dir)?;
            let id = ids.term_ords(d).next().and_then(|o| names.get(o as usize));
            let id = id.ok_or_else(|| corrupt(format!("document {d} has no id")))?;
            each(s, d, id.clone(), stored)?;
        }
    }
    Ok(())
}
