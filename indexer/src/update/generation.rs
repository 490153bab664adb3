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

use bit_set::BitSet;
use rayon::prelude::*;

use super::plan::Legacy;
use super::Known;
use crate::error::{IoContext, Result};
use crate::index::Table;
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
    /// Documents in the committed generation (the manifest's count).
    committed_docs: usize,
    /// The committed generation's documents table (opened when first
    /// asked), to look documents up in and read a touched one's text from.
    table: Option<Table>,
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
    /// (`legacy`: an older format's documents, which the first commit
    /// writes into the current format.)
    pub fn new(
        dir: &Path,
        committed: Option<u64>,
        manifest: &Manifest,
        legacy: Legacy,
        segment_vectors: usize,
    ) -> Self {
        let vector_file = committed.is_some_and(|g| {
            store::generation_dir(dir, g)
                .join("vectors.usearch")
                .is_file()
        });
        let legacy_keys = legacy.as_ref().filter(|_| vector_file).map(|docs| {
            let docs = docs.values();
            docs.flat_map(|d| d.passages.iter().map(|p| p.id)).collect()
        });
        let legacy_lexical = legacy.filter(|_| {
            committed.is_some_and(|g| !has_documents_table(&store::generation_dir(dir, g)))
        });
        Generation {
            legacy_lexical,
            next_seq: manifest.next_doc_seq,
            segment_vectors,
            committed_docs: manifest.totals().documents,
            table: None,
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
        let g = self.committed.expect("an upgrade of a committed index");
        let tdir = store::tantivy_dir(&store::generation_dir(&self.dir, g));
        let (_, reader) = crate::index::open_reader(&tdir, false).at(&tdir)?;
        let searcher = reader.searcher();
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
            self.add_lexical(&id, entry, text).map(drop)
        })?;
        self.next_seq = start;
        Ok(())
    }

    /// The committed generation's documents table (opened once), `None`
    /// for a new index.
    fn table(&mut self) -> Result<Option<&Table>> {
        if self.table.is_none() {
            let Some(g) = self.committed else {
                return Ok(None);
            };
            let gen_dir = store::generation_dir(&self.dir, g);
            self.table = Some(Table::open(&self.dir, &gen_dir, self.committed_docs)?);
        }
        Ok(self.table.as_ref())
    }

    /// A committed document's text, by id.
    fn committed_text(&mut self, id: &str) -> Result<String> {
        let dir = self.dir.clone();
        let found = match self.table()? {
            Some(table) => table.get(id)?,
            None => None,
        };
        let Some((_, doc)) = found else {
            return Err(crate::Error::Corrupt {
                path: dir,
                reason: format!("document {id} is not in the lexical index"),
            });
        };
        Ok(doc.text)
    }

    /// Add a document to the open lexical index with the next handle,
    /// which is returned.
    fn add_lexical(&mut self, id: &str, entry: &DocEntry, text: &str) -> Result<u64> {
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
        if let (Some(field), Some(words)) = (f.hash, schema::hash_words(&entry.hash)) {
            doc.add_u64(field, words[0]);
            doc.add_u64(field, words[1]);
        }
        doc.add_text(f.body, text);
        doc.add_text(f.text, format!("{}\n{text}", entry.title));
        open.writer.add_document(doc).at(&tdir)?;
        Ok(seq)
    }
}

/// Whether a generation's lexical index has the documents table (format 8).
fn has_documents_table(gen_dir: &Path) -> bool {
    tantivy::Index::open_in_dir(store::tantivy_dir(gen_dir))
        .is_ok_and(|i| schema::fields(&i.schema()).is_some())
}

impl super::Writer for Generation {
    fn committed(&mut self, ids: &[&str]) -> Result<Vec<Option<Known>>> {
        let Some(table) = self.table()? else {
            return Ok(vec![None; ids.len()]);
        };
        let known = |id: &&str| {
            let found = table.get(id)?;
            Ok(found.map(|(handle, doc)| Known {
                handle,
                entry: doc.entry,
            }))
        };
        // Side by side: a store block read is most of a lookup.
        ids.par_iter().map(known).collect()
    }

    fn same_content(&mut self, ids: &[(&str, [u64; 2])]) -> Result<Vec<Option<u64>>> {
        let table = match self.table()? {
            Some(table) if table.has_hashes() => table,
            _ => return Ok(vec![None; ids.len()]),
        };
        // Side by side, as `committed`: the id's term lookups are the cost.
        Ok(ids
            .par_iter()
            .map(|&(id, hash)| table.handle_if_hash(id, hash))
            .collect())
    }

    fn unmet(&mut self, met: &BitSet) -> Result<Vec<(String, DocEntry)>> {
        let Some(table) = self.table()? else {
            return Ok(Vec::new());
        };
        let unmet = table.all_but(|handle| met.contains(handle as usize))?;
        Ok(unmet.into_iter().map(|d| (d.id, d.entry)).collect())
    }

    fn is_dirty(&self) -> bool {
        self.open.is_some()
    }

    fn remove(&mut self, id: &str, entry: &DocEntry) -> Result<()> {
        let (open, vectors) = self.open()?;
        open.writer
            .delete_term(Term::from_field_text(open.fields.id, id));
        vectors.remove(entry.passages.iter().map(|p| p.id))
    }

    fn add(&mut self, id: &str, entry: &DocEntry, text: &str) -> Result<u64> {
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
    fn update_entry(&mut self, id: &str, entry: &DocEntry) -> Result<u64> {
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
        self.committed_docs = manifest.totals().documents;
        self.table = None;
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
