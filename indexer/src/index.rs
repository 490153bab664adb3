//! An index opened for searching: the manifest, the lexical index and the
//! memory-mapped vector segments of one committed generation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use semsearch_models::ModelInfo;
use tantivy::schema::Value;
use tantivy::{IndexReader, ReloadPolicy, TantivyDocument, Term};

use crate::error::{Error, IoContext, Result};
use crate::manifest::{DocEntry, Manifest, PassageEntry};
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
    /// Index into [`Index::doc_ids`].
    pub doc: usize,
    /// Ordinal of the passage in its document.
    pub ordinal: usize,
}

/// A committed index opened for searching (see the module docs).
pub struct Index {
    /// The index folder (`.semsearch`).
    dir: PathBuf,
    /// The manifest of the generation opened.
    manifest: Manifest,
    /// The tantivy index of that generation.
    lexical: tantivy::Index,
    /// A reader of `lexical`, reloaded by hand (an opened index never changes).
    reader: IndexReader,
    /// The lexical index's fields.
    fields: Fields,
    /// The passage HNSW segments, memory-mapped, keyed by passage id.
    vectors: Vectors,
    /// Document ids in manifest order; [`PassageRef::doc`] indexes this.
    doc_ids: Vec<String>,
    passages: HashMap<u64, PassageRef>,
    /// This generation held for as long as the index is open, so that a
    /// commit does not remove it from under the reader.
    _lease: Option<store::ReadLease>,
}

impl Index {
    /// Open the committed index in `dir`, checking that every part is there
    /// and agrees with the manifest.
    pub fn open(dir: &Path) -> Result<Self> {
        // A commit may switch generations and remove the old one between
        // reading the manifest and taking the lease: read it again then.
        let mut tries = 0;
        let (manifest, lease) = loop {
            let manifest = Manifest::read(dir)?;
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
        let tdir = store::tantivy_dir(&gen_dir);
        let mut lexical = tantivy::Index::open_in_dir(&tdir)
            .map_err(|e| corrupt(format!("lexical index {}: {e}", tdir.display())))?;
        if manifest.documents.len() >= PARALLEL_SEGMENTS_FROM {
            lexical
                .set_default_multithread_executor()
                .map_err(|e| corrupt(format!("lexical index {}: {e}", tdir.display())))?;
        }
        lexical
            .tokenizers()
            .register(&manifest.analyzer, schema::analyzer(&manifest.analyzer));
        let fields = schema::fields(&lexical.schema())
            .ok_or_else(|| corrupt("lexical index has another schema".into()))?;
        let reader = lexical
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .at(&tdir)?;
        // The passages by key, built here anyway, count them: a second
        // walk over a million documents was 8% of a one-shot search.
        let passages: HashMap<u64, PassageRef> = manifest
            .documents
            .values()
            .enumerate()
            .flat_map(|(doc, d)| {
                d.passages
                    .iter()
                    .enumerate()
                    .map(move |(ordinal, p)| (p.id, PassageRef { doc, ordinal }))
            })
            .collect();
        let (n_docs, n_passages) = (manifest.documents.len(), passages.len());
        let (dim, q) = (manifest.model.dim, manifest.quantization);
        let vectors = Vectors::open(&gen_dir, &manifest.vector_segments, dim, q)
            .map_err(|e| corrupt(e.to_string()))?;
        if vectors.len() != n_passages {
            return Err(corrupt(format!(
                "vector segments hold {} live passages, manifest lists {n_passages}",
                vectors.len()
            )));
        }
        let lexical_docs = reader.searcher().num_docs() as usize;
        if lexical_docs != n_docs {
            return Err(corrupt(format!(
                "lexical index holds {lexical_docs} documents, manifest lists {n_docs}"
            )));
        }
        let doc_ids: Vec<String> = manifest.documents.keys().cloned().collect();
        Ok(Index {
            dir: dir.to_path_buf(),
            manifest,
            lexical,
            reader,
            fields,
            vectors,
            doc_ids,
            passages,
            _lease: lease,
        })
    }

    /// The index folder (`.semsearch`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest of the generation opened.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Document ids in manifest order (sorted); [`PassageRef::doc`] and
    /// every `doc: usize` of the searcher index this.
    pub fn doc_ids(&self) -> &[String] {
        &self.doc_ids
    }

    /// Documents in the index.
    pub fn len(&self) -> usize {
        self.doc_ids.len()
    }

    /// Whether the index holds no document.
    pub fn is_empty(&self) -> bool {
        self.doc_ids.is_empty()
    }

    /// A searcher of the lexical index (cheap: an `Arc` of the segments).
    pub fn lexical_searcher(&self) -> tantivy::Searcher {
        self.reader.searcher()
    }

    /// The lexical index's fields.
    pub fn fields(&self) -> Fields {
        self.fields
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

    /// Position of a document id in [`Index::doc_ids`] (sorted, as the
    /// manifest's keys are).
    pub fn position(&self, id: &str) -> Option<usize> {
        self.doc_ids.binary_search_by(|d| d.as_str().cmp(id)).ok()
    }

    /// A document by id, else by file path (relative to the current folder
    /// or absolute).
    pub fn find_document(&self, path_or_id: &str) -> Option<usize> {
        if let Some(i) = self.position(path_or_id) {
            return Some(i);
        }
        let path = std::fs::canonicalize(path_or_id).ok()?;
        self.manifest
            .documents
            .values()
            .position(|d| d.path.as_deref() == Some(path.as_path()))
    }

    /// A document's vector: the re-normalised mean of its passages'.
    /// Computed when asked rather than stored: a second HNSW of document
    /// vectors was 488 bytes a passage on SciFact (22% of the index) for
    /// `similar` and `map` alone, which read a few documents' vectors.
    pub fn doc_vector(&self, doc: usize) -> Option<Vec<f32>> {
        let passages = &self.doc(doc).1.passages;
        if passages.is_empty() {
            return None;
        }
        let vectors: Vec<Vec<f32>> = passages
            .iter()
            .map(|p| self.passage_vector(p.id))
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

    /// Where the passage with vector key `key` is.
    pub fn passage(&self, key: u64) -> Option<PassageRef> {
        self.passages.get(&key).copied()
    }

    /// Document `i` (in manifest order): its id and entry.
    pub fn doc(&self, i: usize) -> (&str, &DocEntry) {
        let id = &self.doc_ids[i];
        (id, &self.manifest.documents[id])
    }

    /// A passage's manifest entry.
    pub fn passage_entry(&self, r: PassageRef) -> &PassageEntry {
        &self.doc(r.doc).1.passages[r.ordinal]
    }

    /// The stored extracted text of a document.
    pub fn text(&self, id: &str) -> Result<String> {
        let searcher = self.reader.searcher();
        let q = tantivy::query::TermQuery::new(
            Term::from_field_text(self.fields.id, id),
            tantivy::schema::IndexRecordOption::Basic,
        );
        let hits = searcher
            .search(
                &q,
                &tantivy::collector::TopDocs::with_limit(1).order_by_score(),
            )
            .at(&self.dir)?;
        let Some((_, addr)) = hits.first() else {
            return Err(Error::Corrupt {
                path: self.dir.clone(),
                reason: format!("document {id} is not in the lexical index"),
            });
        };
        let doc: TantivyDocument = searcher.doc(*addr).at(&self.dir)?;
        Ok(doc
            .get_first(self.fields.body)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string())
    }
}
