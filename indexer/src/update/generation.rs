//! The write and commit stages: one generation of the index being written
//! (a tantivy writer, the vectors added since the last commit in memory as
//! a new vector segment) and its commit, at
//! every checkpoint and at the end of a run, through the atomic manifest
//! swap of [`crate::store`].

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tantivy::{doc, IndexWriter, Term};

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
    pub fn new(dir: &Path, committed: Option<u64>, manifest: &Manifest) -> Self {
        let legacy = committed.is_some_and(|g| {
            store::generation_dir(dir, g)
                .join("vectors.usearch")
                .is_file()
        });
        let legacy_keys = legacy.then(|| {
            let docs = manifest.documents.values();
            docs.flat_map(|d| d.passages.iter().map(|p| p.id)).collect()
        });
        Generation {
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
            let index = if self.committed.is_some() {
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
        }
        if self.vectors.is_none() {
            let prev = self.committed.map(|g| store::generation_dir(&self.dir, g));
            let w = segments::Writer::new(
                prev.as_deref(),
                &self.segments,
                self.dim,
                self.quantization,
            )?;
            self.vectors = Some(w);
        }
        let vectors = self.vectors.as_mut().expect("made above");
        Ok((self.open.as_mut().expect("opened above"), vectors))
    }
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
        let (open, _) = self.open()?;
        let f = open.fields;
        let tdir = store::tantivy_dir(&open.gen_dir);
        let all = format!("{}\n{text}", entry.title);
        open.writer
            .add_document(doc!(f.id => id, f.body => text, f.text => all))
            .at(&tdir)?;
        Ok(())
    }

    // One embedding batch at once, so that usearch's parallel insertion
    // has a thousand vectors to share out.
    fn add_vectors(&mut self, passages: &[(u64, Vec<f32>)]) -> Result<()> {
        let (_, vectors) = self.open()?;
        vectors.add(passages)
    }

    // The manifest keeps the new entry; it is written at the commit.
    fn update_entry(&mut self, _id: &str, _entry: &DocEntry) -> Result<()> {
        Ok(())
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
        manifest.generation = generation;
        manifest.updated = now();
        super::failpoint("before-manifest");
        manifest.write(&self.dir)?;
        store::remove_old_generations(&self.dir, generation, self.committed);
        self.committed = Some(generation);
        Ok(())
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
