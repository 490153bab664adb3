//! The write and commit stages: one generation of the index being written
//! (a tantivy writer, the vectors added since the last commit in memory as
//! a new vector segment) and its commit, at
//! every checkpoint and at the end of a run, through the atomic manifest
//! swap of [`crate::store`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tantivy::schema::Value;
use tantivy::{IndexWriter, TantivyDocument, Term};

use crate::error::{IoContext, Result};
use crate::lsa;
use crate::manifest::{DocEntry, Manifest, Quantization};
use crate::schema::{self, Fields};
use crate::segments::{self, Segment};
use crate::store;

/// tantivy's indexing memory: it flushes a segment when this fills, so the
/// run's memory does not grow with the documents added.
const WRITER_BUDGET: usize = 64 << 20;

/// The index as it is being written.
pub(super) struct Generation {
    dir: PathBuf,
    analyzer: String,
    dim: usize,
    quantization: Quantization,
    /// The last committed generation: read by searches, linked from.
    committed: Option<u64>,
    /// The generation being written since the last commit, if any.
    open: Option<Open>,
    /// Passage vector segments; the vectors added since the last commit
    /// in memory.
    vectors: Option<segments::Writer>,
    /// The committed generation's segments.
    segments: Vec<Segment>,
    /// A format 4-6 generation's passage keys: its one vector file is
    /// adopted as the first segment of the next generation.
    legacy_keys: Option<Vec<u64>>,
    /// A format 4-7 generation's documents: its lexical index, which has
    /// no documents table, is written anew from its stored text.
    legacy_lexical: Option<BTreeMap<String, DocEntry>>,
    /// The next document handle.
    next_seq: u64,
    /// Vectors a new segment is filled to.
    segment_vectors: usize,
    /// The committed generation's lexical index, to read a touched
    /// document's text from.
    committed_text: Option<tantivy::Searcher>,
}

struct Open {
    generation: u64,
    gen_dir: PathBuf,
    writer: IndexWriter,
    fields: Fields,
}

impl Generation {
    /// Continue from generation `committed` of the index in `dir` (none: a
    /// new index).
    pub fn new(
        dir: &Path,
        committed: Option<u64>,
        manifest: &Manifest,
        segment_vectors: usize,
    ) -> Self {
        let legacy = committed.is_some_and(|g| {
            store::generation_dir(dir, g)
                .join("vectors.usearch")
                .is_file()
        });
        let legacy_keys = legacy.then(|| {
            let docs = manifest.documents.values();
            docs.flat_map(|d| d.passages.iter().map(|p| p.id)).collect()
        });
        let legacy_lexical = committed
            .filter(|&g| !has_documents_table(&store::generation_dir(dir, g)))
            .map(|_| manifest.documents.clone());
        Generation {
            legacy_lexical,
            next_seq: manifest.next_doc_seq,
            segment_vectors,
            committed_text: None,
            // None committed (a new index, --rebuild): no segment yet.
            segments: match committed {
                Some(_) => manifest.vector_segments.clone(),
                None => Vec::new(),
            },
            legacy_keys,
            dir: dir.to_path_buf(),
            analyzer: manifest.analyzer.clone(),
            dim: manifest.model.dim,
            quantization: manifest.quantization,
            committed,
            open: None,
            vectors: None,
        }
    }

    fn open(&mut self) -> Result<(&mut Open, &mut segments::Writer)> {
        if self.open.is_none() {
            // Past every generation on disk, even one of a discarded
            // (--rebuild) index: the committed one must survive until the
            // new manifest lands.
            let generation = store::next_generation(&self.dir);
            let gen_dir = store::start_generation(&self.dir, self.committed, generation)?;
            if let (Some(keys), Some(prev)) = (self.legacy_keys.take(), self.committed) {
                let prev = store::generation_dir(&self.dir, prev);
                self.segments = vec![segments::adopt(&prev, &gen_dir, keys)?];
            }
            let tdir = store::tantivy_dir(&gen_dir);
            let (schema, fields) = schema::schema(&self.analyzer);
            if self.legacy_lexical.is_some() {
                // The linked files of the old schema's index go.
                std::fs::remove_dir_all(&tdir).at(&tdir)?;
                std::fs::create_dir_all(&tdir).at(&tdir)?;
            }
            let index = if self.committed.is_some() && self.legacy_lexical.is_none() {
                tantivy::Index::open_in_dir(&tdir).at(&tdir)?
            } else {
                tantivy::Index::builder()
                    .schema(schema)
                    .settings(schema::settings())
                    .create_in_dir(&tdir)
                    .at(&tdir)?
            };
            index
                .tokenizers()
                .register(&self.analyzer, schema::analyzer(&self.analyzer));
            let writer = index.writer(WRITER_BUDGET).at(&tdir)?;
            self.open = Some(Open {
                generation,
                gen_dir,
                writer,
                fields,
            });
            if let Some(docs) = self.legacy_lexical.take() {
                self.rewrite_lexical(&docs)?;
            }
        }
        if self.vectors.is_none() {
            let prev = self.committed.map(|g| store::generation_dir(&self.dir, g));
            let w = segments::Writer::new(
                prev.as_deref(),
                &self.segments,
                self.dim,
                self.quantization,
                self.segment_vectors,
            )?;
            self.vectors = Some(w);
        }
        let vectors = self.vectors.as_mut().expect("made above");
        Ok((self.open.as_mut().expect("opened above"), vectors))
    }
}

impl Generation {
    /// Write the committed generation's documents (text from its lexical
    /// index, entries from `docs`) into the open one, whose lexical index
    /// is new: an upgrade from a format without the documents table.
    /// Handles follow the ids' order, as positions in the sorted
    /// documents did before.
    fn rewrite_lexical(&mut self, docs: &BTreeMap<String, DocEntry>) -> Result<()> {
        let seqs: HashMap<&str, u64> = docs
            .keys()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i as u64))
            .collect();
        let start = self.next_seq.max(docs.len() as u64);
        let searcher = self.committed_searcher()?.clone();
        let dir = self.dir.clone();
        let schema = searcher.schema();
        let (id, body) = (
            schema.get_field("id").at(&dir)?,
            schema.get_field("body").at(&dir)?,
        );
        crate::index::each_stored(&dir, &searcher, id, |_, _, id, stored| {
            let (Some(entry), Some(&seq)) = (docs.get(&id), seqs.get(id.as_str())) else {
                return Ok(());
            };
            let text = stored
                .get_first(body)
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            self.next_seq = seq;
            self.add_lexical(&id, entry, text)
        })?;
        self.next_seq = start;
        Ok(())
    }

    /// The committed generation's lexical searcher (opened once).
    fn committed_searcher(&mut self) -> Result<&tantivy::Searcher> {
        if self.committed_text.is_none() {
            let g = self.committed.expect("an update of a committed index");
            let tdir = store::tantivy_dir(&store::generation_dir(&self.dir, g));
            let (_, reader) = crate::index::open_reader(&tdir, false).at(&tdir)?;
            self.committed_text = Some(reader.searcher());
        }
        Ok(self.committed_text.as_ref().expect("set above"))
    }

    /// A committed document's text, by id.
    fn committed_text(&mut self, id: &str) -> Result<String> {
        let dir = self.dir.clone();
        let searcher = self.committed_searcher()?;
        let schema = searcher.schema();
        let (id_field, body) = (
            schema.get_field("id").at(&dir)?,
            schema.get_field("body").at(&dir)?,
        );
        let q = tantivy::query::TermQuery::new(
            Term::from_field_text(id_field, id),
            tantivy::schema::IndexRecordOption::Basic,
        );
        let hits = searcher
            .search(
                &q,
                &tantivy::collector::TopDocs::with_limit(1).order_by_score(),
            )
            .at(&dir)?;
        let Some(&(_, addr)) = hits.first() else {
            return Err(crate::Error::Corrupt {
                path: dir,
                reason: format!("document {id} is not in the lexical index"),
            });
        };
        let doc: TantivyDocument = searcher.doc(addr).at(&dir)?;
        Ok(doc
            .get_first(body)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string())
    }

    /// Add a document to the open lexical index with the next handle.
    fn add_lexical(&mut self, id: &str, entry: &DocEntry, text: &str) -> Result<()> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let (open, _) = self.open()?;
        let f = open.fields;
        let tdir = store::tantivy_dir(&open.gen_dir);
        let json = serde_json::to_vec(entry).map_err(|e| crate::Error::Corrupt {
            path: tdir.clone(),
            reason: format!("document {id}'s entry does not serialise: {e}"),
        })?;
        let mut doc = TantivyDocument::new();
        doc.add_text(f.id, id);
        doc.add_u64(f.seq, seq);
        for p in &entry.passages {
            doc.add_u64(f.keys, p.id);
        }
        doc.add_bytes(f.entry, &json);
        doc.add_text(f.body, text);
        doc.add_text(f.text, format!("{}\n{text}", entry.title));
        open.writer.add_document(doc).at(&tdir)?;
        Ok(())
    }
}

/// Whether a generation's lexical index has the documents table (format 8).
fn has_documents_table(gen_dir: &Path) -> bool {
    tantivy::Index::open_in_dir(store::tantivy_dir(gen_dir))
        .is_ok_and(|i| schema::fields(&i.schema()).is_some())
}

impl super::Writer for Generation {
    fn is_dirty(&self) -> bool {
        self.open.is_some()
    }

    fn remove(&mut self, id: &str, entry: &DocEntry) -> Result<()> {
        let (open, vectors) = self.open()?;
        open.writer
            .delete_term(Term::from_field_text(open.fields.id, id));
        vectors.remove(entry.passages.iter().map(|p| p.id))
    }

    fn add(&mut self, id: &str, entry: &DocEntry, text: &str) -> Result<()> {
        self.add_lexical(id, entry, text)
    }

    // One embedding batch at once, so that usearch's parallel insertion
    // has a thousand vectors to share out.
    fn add_vectors(&mut self, passages: Vec<(u64, Vec<f32>)>) -> Result<()> {
        let (_, vectors) = self.open()?;
        vectors.add(passages)
    }

    // The entry is stored with the text: the document is written anew,
    // with its committed text (its vectors stay).
    fn update_entry(&mut self, id: &str, entry: &DocEntry) -> Result<()> {
        let text = self.committed_text(id)?;
        let (open, _) = self.open()?;
        open.writer
            .delete_term(Term::from_field_text(open.fields.id, id));
        self.add_lexical(id, entry, &text)
    }

    /// Commit what was written: tantivy's segments, the vector files, then
    /// the manifest naming this generation (the commit point). Older
    /// generations but the one just replaced are removed; a search that
    /// opened that one before the swap can finish.
    fn commit(&mut self, manifest: &mut Manifest) -> Result<()> {
        self.open()?;
        let Open {
            generation,
            gen_dir,
            mut writer,
            fields,
        } = self.open.take().expect("opened above");
        let tdir = store::tantivy_dir(&gen_dir);
        writer.commit().at(&tdir)?;
        let lexical = writer.index().clone();
        writer.wait_merging_threads().at(&tdir)?;
        let reader = lexical
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .at(&tdir)?;
        let prev = self
            .committed
            .map(|g| store::lsa_path(&store::generation_dir(&self.dir, g)));
        lsa::refresh(
            &reader.searcher(),
            fields.text,
            prev.as_deref(),
            &store::lsa_path(&gen_dir),
        )?;
        let vectors = self.vectors.as_mut().expect("made by open");
        self.segments = vectors.commit(&gen_dir)?;
        manifest.vector_segments = self.segments.clone();
        manifest.next_doc_seq = self.next_seq;
        manifest.generation = generation;
        manifest.updated = now();
        super::failpoint("before-manifest");
        manifest.write(&self.dir)?;
        store::remove_old_generations(&self.dir, generation, self.committed);
        self.committed = Some(generation);
        self.committed_text = None;
        Ok(())
    }

    // This run's open vector segment is closed at the last commit, so that
    // it merges with small ones before it.
    fn finish(&mut self) {
        if let Some(v) = self.vectors.as_mut() {
            v.close();
        }
    }

    fn touch(&mut self, manifest: &mut Manifest) -> Result<()> {
        manifest.updated = now();
        super::failpoint("before-manifest");
        manifest.write(&self.dir)
    }
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
