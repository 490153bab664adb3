//! Ranking documents of a semsearch index: lexical (BM25 or TF-IDF),
//! semantic (nearest passage vectors), or both fused.
//!
//! ```no_run
//! use semsearch_searcher::{SearchConfig, Searcher};
//!
//! let searcher = Searcher::open(std::path::Path::new("notes/.semsearch"))?;
//! for r in searcher.results("how do I rotate the logs", &SearchConfig::default())? {
//!     println!("{:.3} {} {}", r.hit.score, r.hit.id, r.snippet.text);
//! }
//! # Ok::<(), semsearch_searcher::SearchError>(())
//! ```

#![forbid(unsafe_code)]

pub mod ann;
mod backend;
mod collapse;
pub mod compare;
mod config;
mod disjunction;
mod error;
mod feedback;
pub mod fusion;
pub mod labels;
pub mod layout;
pub mod lexical;
pub mod lsa;
pub mod map;
pub mod metrics;
mod model;
mod postgres;
mod query;
mod result;
mod semantic;
mod similar;
pub mod snippet;
mod store;
mod top;

use std::collections::HashMap;
use std::path::Path;

use backend::Backend;
use std::sync::{Arc, OnceLock};

use semsearch_indexer::{Index, PassageRef};
use semsearch_models::Embedder;

pub use collapse::{Duplicate, DUPLICATE_COSINE};
pub use compare::Comparison;
pub use config::{MinScore, Mode, Scale, SearchConfig};
pub use error::{Result, SearchError};
pub use feedback::{Feedback, RESCORE_PAST};
pub use fusion::{Fusion, LegHit, Norm};
pub use lexical::Lexical;
pub use postgres::PgSearcher;
pub use query::Query;
pub use result::{Explain, Place, SearchResult, Span, SNIPPET_LEN};
pub use similar::Arithmetic;
pub use snippet::Snippet;
pub use store::Store;

/// One ranked document.
#[derive(Debug, Clone)]
pub struct Hit {
    /// 1-based position in the ranking.
    pub rank: usize,
    /// Index into the index's documents.
    pub doc: usize,
    /// The document's id (path under its root, or corpus `_id`).
    pub id: String,
    /// The fused score (or the one leg's score).
    pub score: f32,
    /// Rank and score in the lexical leg, if it found the document.
    pub lexical: Option<LegHit>,
    /// Rank and score in the semantic leg, if it found the document.
    pub semantic: Option<LegHit>,
    /// Best passage by vector similarity, when the semantic leg found it.
    pub passage: Option<PassageRef>,
    /// Far below the ranking's best ([`Scale::is_weak`]): shown as a
    /// weak match.
    pub weak: bool,
    /// Lower-ranked results folded under this one as near-duplicates.
    pub duplicates: Vec<Duplicate>,
}

/// A ranking and the terms feedback added to its lexical query.
#[derive(Debug, Clone, Default)]
pub struct Ranked {
    /// The documents, best first.
    pub hits: Vec<Hit>,
    /// Terms pseudo-relevance feedback added, with their weights.
    pub expansion: Vec<(String, f32)>,
}

/// An opened index with its model: runs searches.
pub struct Searcher {
    index: Index,
    /// The index's model: loaded beside the index by [`Searcher::open`],
    /// at the first query that embeds after [`Searcher::open_lazily`].
    model: model::Model,
    norms: OnceLock<lexical::TfIdfNorms>,
    lsa: OnceLock<lsa::LsaSpace>,
}

impl Searcher {
    /// Open the index in `dir` and load the model that built it, side by
    /// side: neither needs the other but the manifest's header (a million
    /// passages: the index opens in about 90 ms, the slim model loads in
    /// about 100; a one-shot search paid both, one after the other).
    pub fn open(dir: &Path) -> Result<Self> {
        let model = semsearch_indexer::Manifest::read_header(dir)?.model;
        std::thread::scope(|s| {
            let embedder = s.spawn(|| model.load());
            // The index's own error (corrupt, another format) comes first.
            let index = Index::open(dir)?;
            let embedder = embedder.join().expect("loading the model panicked")?;
            Self::with_embedder(index, embedder)
        })
    }

    /// Open the index in `dir` without its model, which loads (and is
    /// checked) at the first query that needs a vector: a lexical search
    /// never does, so it neither waits for the model nor needs its files
    /// (SciFact with all-MiniLM-L6-v2: a one-shot lexical search 0.12 s
    /// -> under 10 ms).
    pub fn open_lazily(dir: &Path) -> Result<Self> {
        Ok(Self::new(Index::open(dir)?, model::Model::deferred()))
    }

    fn new(index: Index, model: model::Model) -> Self {
        Searcher {
            index,
            model,
            norms: OnceLock::new(),
            lsa: OnceLock::new(),
        }
    }

    /// An opened index with an already loaded model (checked to be the
    /// index's own), which may be shared: a server reopening the index at
    /// each new generation keeps one model.
    pub fn with_embedder(index: Index, embedder: impl Into<Arc<Embedder>>) -> Result<Self> {
        let model = model::Model::loaded(embedder.into(), index.manifest(), index.dir())?;
        Ok(Self::new(index, model))
    }

    /// The index searched.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The index's model, which embeds queries (loaded now if the
    /// searcher was opened without it).
    pub fn embedder(&self) -> Result<&Arc<Embedder>> {
        self.model.get(self.index.manifest(), self.index.dir())
    }

    /// The lexical leg for weighted terms (see [`Query::weighted`]).
    fn lexical_weighted(
        &self,
        terms: &[(String, f32)],
        model: Lexical,
        n: usize,
        allowed: Option<&[bool]>,
    ) -> Result<Vec<(usize, f32)>> {
        match model {
            // BM25 filters inside tantivy's search, by handle.
            Lexical::Bm25 => lexical::bm25(&self.index, terms, n, allowed, 0.0),
            Lexical::TfIdf => {
                if self.norms.get().is_none() {
                    let _ = self.norms.set(lexical::TfIdfNorms::compute(&self.index)?);
                }
                let norms = self.norms.get().expect("just set");
                lexical::tfidf(&self.index, norms, terms, n, allowed)
            }
            Lexical::Lsa => {
                if self.lsa.get().is_none() {
                    let space = lsa::LsaSpace::compute(&self.index)?;
                    let _ = self.lsa.set(space);
                }
                let space = self.lsa.get().expect("just set");
                space.rank(&self.index, terms, n, allowed)
            }
        }
    }

    /// Embed a query with the index's model.
    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>> {
        Ok(self.embedder()?.embed_query(query)?)
    }

    /// The `cfg.k` best documents for `query`, best first (ranking only;
    /// [`Searcher::results`] adds passages and snippets).
    pub fn search(&self, query: &str, cfg: &SearchConfig) -> Result<Vec<Hit>> {
        Ok(self.rank_query(&Query::new(&self.index, query), cfg)?.hits)
    }

    /// Rank an analysed query: its vector (with `cfg.arithmetic` applied)
    /// and its terms.
    pub fn rank_query(&self, query: &Query, cfg: &SearchConfig) -> Result<Ranked> {
        backend::rank_query(self, query, cfg)
    }

    /// [`Searcher::search`] with the query vector given (to embed queries
    /// in batches, or once for several rankings); `cfg.arithmetic` is not
    /// applied.
    pub fn search_with_vector(
        &self,
        query: &str,
        vector: Option<&[f32]>,
        cfg: &SearchConfig,
    ) -> Result<Vec<Hit>> {
        Ok(self
            .rank_with_vector(&Query::new(&self.index, query), vector, cfg)?
            .hits)
    }

    pub(crate) fn rank_with_vector(
        &self,
        query: &Query,
        vector: Option<&[f32]>,
        cfg: &SearchConfig,
    ) -> Result<Ranked> {
        backend::rank_with_vector(self, query, vector, cfg)
    }
}

impl Backend for Searcher {
    fn model(&self) -> Result<&Embedder> {
        Ok(self.embedder()?)
    }

    fn analyzer(&self) -> tantivy::tokenizer::TextAnalyzer {
        self.index.analyzer()
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn label(&self) -> std::path::PathBuf {
        self.index.dir().to_path_buf()
    }

    fn names(&self) -> Result<Vec<(usize, String, Option<String>)>> {
        let mut names = Vec::with_capacity(self.index.len());
        self.index.each_document(|doc, d| {
            let path = d.entry.path.map(|p| p.to_string_lossy().into_owned());
            names.push((doc, d.id, path));
            Ok(())
        })?;
        Ok(names)
    }

    fn lexical(
        &self,
        terms: &[(String, f32)],
        model: Lexical,
        n: usize,
        allowed: Option<&[bool]>,
    ) -> Result<Vec<(usize, f32)>> {
        self.lexical_weighted(terms, model, n, allowed)
    }

    fn lexical_above(
        &self,
        terms: &[(String, f32)],
        model: Lexical,
        n: usize,
        allowed: Option<&[bool]>,
        floor: f32,
    ) -> Result<Vec<(usize, f32)>> {
        if model != Lexical::Bm25 {
            return self.lexical_weighted(terms, model, n, allowed);
        }
        let found = lexical::bm25(&self.index, terms, n, allowed, floor)?;
        if found.len() < n && floor > 0.0 {
            // Fewer than promised: rank without the floor rather than lose one.
            return lexical::bm25(&self.index, terms, n, allowed, 0.0);
        }
        Ok(found)
    }

    fn lexical_of(
        &self,
        terms: &[(String, f32)],
        model: Lexical,
        docs: &[usize],
    ) -> Result<Vec<(usize, f32)>> {
        if model == Lexical::Bm25 {
            return lexical::bm25_of(&self.index, terms, docs);
        }
        let mut only = vec![false; self.index.slots()];
        docs.iter().for_each(|&d| only[d] = true);
        self.lexical_weighted(terms, model, docs.len(), Some(&only))
    }

    fn nearest(
        &self,
        vector: &[f32],
        n: usize,
        exact: bool,
        allowed: Option<&[bool]>,
    ) -> Result<semantic::Nearest> {
        semantic::search(&self.index, vector, n, exact, allowed)
    }

    fn texts(&self, docs: &[usize]) -> Result<Vec<String>> {
        docs.iter()
            .map(|&d| Ok(self.index.document(d)?.map(|d| d.text).unwrap_or_default()))
            .collect()
    }

    fn doc_vectors(&self, docs: &[usize]) -> Result<HashMap<usize, Vec<f32>>> {
        Ok(docs
            .iter()
            .filter_map(|&d| Some((d, self.index.doc_vector(d)?)))
            .collect())
    }

    fn passage_vectors(&self, passages: &[PassageRef]) -> Result<HashMap<PassageRef, Vec<f32>>> {
        Ok(passages
            .iter()
            .filter_map(|&p| {
                let key = self.index.passage_key(p)?;
                Some((p, self.index.passage_vector(key)?))
            })
            .collect())
    }

    fn ids(&self, docs: &[usize]) -> Result<HashMap<usize, String>> {
        Ok(docs
            .iter()
            .filter_map(|&d| Some((d, self.index.id(d)?)))
            .collect())
    }

    fn passage_counts(&self, docs: &[usize]) -> Result<HashMap<usize, usize>> {
        Ok(docs
            .iter()
            .map(|&d| (d, self.index.passage_keys(d).len()))
            .filter(|&(_, n)| n > 0)
            .collect())
    }

    fn titles(&self, docs: &[usize]) -> Result<HashMap<usize, String>> {
        let mut titles = HashMap::new();
        for &d in docs {
            if let Some(doc) = self.index.document(d)? {
                titles.insert(d, doc.entry.title);
            }
        }
        Ok(titles)
    }

    fn documents(
        &self,
        docs: &[usize],
    ) -> Result<HashMap<usize, (semsearch_indexer::DocEntry, String)>> {
        let mut found = HashMap::new();
        for &d in docs {
            if let Some(doc) = self.index.document(d)? {
                found.insert(d, (doc.entry, doc.text));
            }
        }
        Ok(found)
    }

    fn lexical_models(&self) -> &'static [Lexical] {
        &[Lexical::TfIdf, Lexical::Bm25, Lexical::Lsa]
    }
}

/// The semantic leg `sem` fused with `lex` (or one leg alone, with its
/// own scores), and each document's best passage.
pub(crate) fn fuse_legs(
    sem: &[(usize, f32, PassageRef)],
    lex: &[(usize, f32)],
    cfg: &SearchConfig,
) -> (Vec<fusion::Fused>, HashMap<usize, PassageRef>) {
    let sem_scores: Vec<(usize, f32)> = sem.iter().map(|&(d, s, _)| (d, s)).collect();
    let fused = match cfg.mode {
        // A single leg keeps its own scores.
        Mode::Lexical | Mode::Semantic => {
            let list = if cfg.mode == Mode::Lexical {
                lex
            } else {
                &sem_scores
            };
            fusion::fuse(&[], list, Fusion::Rrf { k: 0.0 })
                .into_iter()
                .zip(list)
                .map(|(mut f, &(_, score))| {
                    f.score = score;
                    if cfg.mode == Mode::Lexical {
                        f.lexical = f.semantic.take();
                    }
                    f
                })
                .collect()
        }
        Mode::Hybrid => fusion::fuse(lex, &sem_scores, cfg.fusion),
    };
    let best = sem.iter().map(|&(d, _, p)| (d, p)).collect();
    (fused, best)
}
