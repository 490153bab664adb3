//! Searching a shared store: the store's retrieval primitives for the one
//! ranking pipeline (crate::backend). Each leg is one SQL statement written
//! here (BM25 over the term statistics in [`bm25`], pgvector's nearest
//! neighbours); the indexer owns the tables and the connections.

mod bm25;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use pgvector::Vector;
use semsearch_indexer::pg::{PgIndex, Urls, MAX_EF_SEARCH};
use semsearch_indexer::{schema, DocEntry, PassageRef};
use semsearch_models::Embedder;
use tantivy::tokenizer::TextAnalyzer;

use crate::backend::{self, Backend};
use crate::compare::Comparison;
use crate::config::SearchConfig;
use crate::error::Result;
use crate::lexical::Lexical;
use crate::model::Model;
use crate::query::Query;
use crate::result::SearchResult;
use crate::semantic::Nearest;
use crate::store::Store;
use crate::Hit;

/// pgvector's `hnsw.ef_search` by default (pgvector's own is 40) up to
/// 100,000 passages: the candidate list of the HNSW scan, raised to the
/// rows asked for.
pub const DEFAULT_EF_SEARCH: usize = 100;

/// The default `hnsw.ef_search` for a store of `passages`: 100, or the
/// folder index's expansion for a graph of that size where more
/// ([`semsearch_indexer::vectors::search_expansion`], 383 at a million),
/// as the greedy descent's hops grow with the logarithm of the size.
/// (pgvector's graph at a million short documents, 300 rows asked:
/// recall@10 0.978 at ef 300, 0.985 at 400, at 22.5 and 29.8 ms.)
pub fn default_ef_search(passages: usize) -> usize {
    DEFAULT_EF_SEARCH.max(semsearch_indexer::vectors::search_expansion(passages))
}

/// A shared store opened for searching, with its model.
pub struct PgSearcher {
    index: PgIndex,
    /// Loaded as the store opens ([`PgSearcher::open`]), or at the first
    /// query that embeds ([`PgSearcher::open_lazily`]).
    model: Model,
    analyzer: TextAnalyzer,
    ef_search: usize,
}

impl PgSearcher {
    /// Open the store at `urls` and load the model that built it.
    pub fn open(urls: &Urls) -> Result<Self> {
        let index = PgIndex::open(urls)?;
        let model = index.model();
        let embedder = model.load()?;
        Self::with_embedder(index, embedder)
    }

    /// Open the store at `urls` without its model, which loads (and is
    /// checked) at the first query that needs a vector, as
    /// [`Searcher::open_lazily`](crate::Searcher::open_lazily) does.
    pub fn open_lazily(urls: &Urls) -> Result<Self> {
        Ok(Self::with_model(PgIndex::open(urls)?, Model::deferred()))
    }

    /// An opened store with an already loaded model (checked to be the
    /// store's own).
    pub fn with_embedder(index: PgIndex, embedder: impl Into<Arc<Embedder>>) -> Result<Self> {
        let model = Model::loaded(embedder.into(), index.manifest(), &index.label())?;
        Ok(Self::with_model(index, model))
    }

    fn with_model(index: PgIndex, model: Model) -> Self {
        let manifest = index.manifest();
        // Passage ids are never reused: an upper bound on the graph.
        let ef_search = default_ef_search(manifest.next_passage_id as usize);
        PgSearcher {
            analyzer: schema::analyzer(&manifest.analyzer),
            index,
            model,
            ef_search,
        }
    }

    /// The store's model (loaded now if the store was opened without it).
    fn embedder(&self) -> Result<&Arc<Embedder>> {
        self.model.get(self.index.manifest(), &self.index.label())
    }

    /// The store searched.
    pub fn index(&self) -> &PgIndex {
        &self.index
    }

    /// Set pgvector's `hnsw.ef_search` (recall against speed).
    pub fn set_ef_search(&mut self, ef: usize) {
        self.ef_search = ef;
    }

    /// Rows of the documents `allowed` lets through.
    fn rows(allowed: Option<&[bool]>) -> Option<Vec<i64>> {
        allowed.map(|a| {
            a.iter()
                .enumerate()
                .filter(|(_, ok)| **ok)
                .map(|(d, _)| d as i64)
                .collect()
        })
    }

    fn rank(&self, query: &str, vector: Option<&[f32]>, cfg: &SearchConfig) -> Result<Vec<Hit>> {
        let analysed = Query::analysed(&mut self.analyzer.clone(), query);
        Ok(backend::rank_with_vector(self, &analysed, vector, cfg)?.hits)
    }
}

impl Backend for PgSearcher {
    fn model(&self) -> Result<&Embedder> {
        Ok(self.embedder()?)
    }

    fn analyzer(&self) -> TextAnalyzer {
        self.analyzer.clone()
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn label(&self) -> PathBuf {
        self.index.label()
    }

    fn names(&self) -> Result<Vec<(usize, String, Option<String>)>> {
        Ok(self
            .index
            .paths()?
            .into_iter()
            .map(|(d, id, path)| (d as usize, id, path))
            .collect())
    }

    fn lexical(
        &self,
        terms: &[(String, f32)],
        _model: Lexical,
        n: usize,
        allowed: Option<&[bool]>,
    ) -> Result<Vec<(usize, f32)>> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        bm25::rank(&self.index, terms, n, Self::rows(allowed))
    }

    fn lexical_of(
        &self,
        terms: &[(String, f32)],
        _model: Lexical,
        docs: &[usize],
    ) -> Result<Vec<(usize, f32)>> {
        if terms.is_empty() || docs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = docs.iter().map(|&d| d as i64).collect();
        bm25::rank(&self.index, terms, docs.len(), Some(rows))
    }

    fn nearest(
        &self,
        vector: &[f32],
        n: usize,
        exact: bool,
        allowed: Option<&[bool]>,
    ) -> Result<Nearest> {
        // Documents have several passages: three passages per document
        // wanted, as for a folder index.
        let want = (n * 3).min(MAX_EF_SEARCH);
        let rows = Self::rows(allowed);
        // The HNSW index serves `ORDER BY embedding <=> $1` only: `+ 0`
        // makes the planner scan. A filter scans too: HNSW filters after
        // its `ef_search` candidates, which can leave too few.
        let order = if exact || rows.is_some() {
            "(embedding <=> $1) + 0"
        } else {
            "embedding <=> $1"
        };
        let sql = format!(
            "SELECT doc, ordinal, (1 - (embedding <=> $1))::real FROM semsearch_passages
             WHERE $3::bigint[] IS NULL OR doc = ANY($3)
             ORDER BY {order} LIMIT $2"
        );
        let v = Vector::from(vector.to_vec());
        let ef = self.ef_search.max(want);
        let found = self
            .index
            .query(&sql, &[&v, &(want as i64), &rows], Some(ef))?;
        let found: Vec<(f32, PassageRef)> = found
            .iter()
            .map(|row| {
                let doc = row.get::<_, i64>(0) as usize;
                let ordinal = row.get::<_, i32>(1) as usize;
                (row.get(2), PassageRef { doc, ordinal })
            })
            .collect();
        let mut hits = crate::semantic::by_document(found.iter().copied());
        hits.truncate(n);
        let pool = found.into_iter().map(|(_, p)| p).collect();
        Ok(Nearest { hits, pool })
    }

    fn texts(&self, docs: &[usize]) -> Result<Vec<String>> {
        let rows = as_rows(docs);
        let mut found: HashMap<i64, String> = self
            .index
            .documents(&rows)?
            .into_iter()
            .map(|d| (d.doc, d.text))
            .collect();
        Ok(rows
            .iter()
            .map(|r| found.remove(r).unwrap_or_default())
            .collect())
    }

    fn doc_vectors(&self, docs: &[usize]) -> Result<HashMap<usize, Vec<f32>>> {
        let rows = as_rows(docs);
        Ok(self
            .index
            .doc_vectors(&rows)?
            .into_iter()
            .map(|(d, v)| (d as usize, v))
            .collect())
    }

    fn passage_vectors(&self, passages: &[PassageRef]) -> Result<HashMap<PassageRef, Vec<f32>>> {
        let keys: Vec<(i64, i32)> = passages
            .iter()
            .map(|p| (p.doc as i64, p.ordinal as i32))
            .collect();
        Ok(self
            .index
            .passage_vectors(&keys)?
            .into_iter()
            .map(|((d, o), v)| {
                let doc = d as usize;
                (
                    PassageRef {
                        doc,
                        ordinal: o as usize,
                    },
                    v,
                )
            })
            .collect())
    }

    fn ids(&self, docs: &[usize]) -> Result<HashMap<usize, String>> {
        let rows = as_rows(docs);
        Ok(self
            .index
            .ids(&rows)?
            .into_iter()
            .map(|(d, id)| (d as usize, id))
            .collect())
    }

    fn passage_counts(&self, docs: &[usize]) -> Result<HashMap<usize, usize>> {
        let rows = as_rows(docs);
        let found = self.index.query(
            "SELECT doc, count(*) FROM semsearch_passages WHERE doc = ANY($1) GROUP BY doc",
            &[&rows],
            None,
        )?;
        Ok(found
            .iter()
            .map(|row| (row.get::<_, i64>(0) as usize, row.get::<_, i64>(1) as usize))
            .collect())
    }

    fn titles(&self, docs: &[usize]) -> Result<HashMap<usize, String>> {
        let rows = as_rows(docs);
        let found = self.index.query(
            "SELECT doc, title FROM semsearch_documents WHERE doc = ANY($1)",
            &[&rows],
            None,
        )?;
        Ok(found
            .iter()
            .map(|row| (row.get::<_, i64>(0) as usize, row.get(1)))
            .collect())
    }

    fn documents(&self, docs: &[usize]) -> Result<HashMap<usize, (DocEntry, String)>> {
        let rows = as_rows(docs);
        Ok(self
            .index
            .documents(&rows)?
            .into_iter()
            .map(|d| (d.doc as usize, (d.entry, d.text)))
            .collect())
    }

    fn lexical_models(&self) -> &'static [Lexical] {
        &[Lexical::Bm25]
    }
}

impl Store for PgSearcher {
    fn embedder(&self) -> Result<&Arc<Embedder>> {
        PgSearcher::embedder(self)
    }

    fn label(&self) -> PathBuf {
        self.index.label()
    }

    fn results(&self, query: &str, cfg: &SearchConfig) -> Result<Vec<SearchResult>> {
        crate::result::results(self, query, cfg)
    }

    fn search(&self, query: &str, cfg: &SearchConfig) -> Result<Vec<Hit>> {
        let analysed = Query::analysed(&mut self.analyzer.clone(), query);
        Ok(backend::rank_query(self, &analysed, cfg)?.hits)
    }

    fn search_with_vector(
        &self,
        query: &str,
        vector: Option<&[f32]>,
        cfg: &SearchConfig,
    ) -> Result<Vec<Hit>> {
        self.rank(query, vector, cfg)
    }

    /// BM25, semantic and hybrid: TF-IDF and LSA need a folder index.
    fn compare(&self, query: &str, base: &SearchConfig) -> Result<Comparison> {
        crate::compare::compare(self, query, base)
    }

    fn position(&self, id: &str) -> Result<Option<usize>> {
        Ok(self.index.position(id)?.map(|d| d as usize))
    }

    fn find_document(&self, path_or_id: &str) -> Result<Option<usize>> {
        Ok(self.index.find_document(path_or_id)?.map(|d| d as usize))
    }

    fn document(&self, doc: usize) -> Result<Option<(String, DocEntry, String)>> {
        let found = self.index.documents(&[doc as i64])?.into_iter().next();
        Ok(found.map(|d| (d.id, d.entry, d.text)))
    }

    fn lexical_models(&self) -> &'static [Lexical] {
        Backend::lexical_models(self)
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn similar_results(&self, doc: usize, k: usize) -> Result<Vec<SearchResult>> {
        let hits = crate::similar::similar(self, doc, k)?;
        crate::result::present(self, &Query::none(), hits, None)
    }
}

/// Documents as the store's rows (`semsearch_documents.doc`).
fn as_rows(docs: &[usize]) -> Vec<i64> {
    docs.iter().map(|&d| d as i64).collect()
}

#[cfg(test)]
mod tests {
    use super::{default_ef_search, DEFAULT_EF_SEARCH};

    #[test]
    fn the_default_ef_search_grows_past_a_hundred_thousand_passages() {
        assert_eq!(default_ef_search(0), DEFAULT_EF_SEARCH);
        assert_eq!(default_ef_search(100_000), DEFAULT_EF_SEARCH);
        assert_eq!(default_ef_search(1_000_000), 383);
    }
}
