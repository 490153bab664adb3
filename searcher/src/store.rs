//! What the faces search: a folder index ([`Searcher`]) or a shared
//! Postgres store ([`PgSearcher`](crate::PgSearcher)). Both rank with the
//! same fusion and present the same results; the faces hold a
//! `dyn Store` and do not know which.

use std::path::PathBuf;
use std::sync::Arc;

use semsearch_indexer::DocEntry;
use semsearch_models::Embedder;

use crate::compare::Comparison;
use crate::config::SearchConfig;
use crate::error::Result;
use crate::result::SearchResult;
use crate::{Hit, Searcher};

/// A searchable index, wherever it is kept.
pub trait Store: Send + Sync {
    /// The model that embeds queries (the index's own).
    fn embedder(&self) -> Result<&Arc<Embedder>>;
    /// How messages name the index: its folder, or the store's URL.
    fn label(&self) -> PathBuf;
    /// The `cfg.k` best documents for `query`, ready to show.
    fn results(&self, query: &str, cfg: &SearchConfig) -> Result<Vec<SearchResult>>;
    /// The ranking alone (no passages or snippets), the query embedded
    /// as its mode needs.
    fn search(&self, query: &str, cfg: &SearchConfig) -> Result<Vec<Hit>>;
    /// The ranking alone, with the query's vector given (to embed queries
    /// in batches); `cfg.arithmetic` is not applied.
    fn search_with_vector(
        &self,
        query: &str,
        vector: Option<&[f32]>,
        cfg: &SearchConfig,
    ) -> Result<Vec<Hit>>;
    /// The query ranked every way the index can, side by side.
    fn compare(&self, query: &str, cfg: &SearchConfig) -> Result<Comparison>;
    /// The document with this id (ids only: what a server takes).
    fn position(&self, id: &str) -> Result<Option<usize>>;
    /// The document with this id or path.
    fn find_document(&self, path_or_id: &str) -> Result<Option<usize>>;
    /// The `k` documents most like document `doc`, ready to show.
    fn similar_results(&self, doc: usize, k: usize) -> Result<Vec<SearchResult>>;
    /// Document `doc`'s id, manifest entry and extracted text.
    fn document(&self, doc: usize) -> Result<Option<(String, DocEntry, String)>>;
    /// The whole text of a result's passage (empty when the document is
    /// gone).
    fn passage_text(&self, result: &SearchResult) -> Result<String> {
        let text = self.document(result.hit.doc)?.map(|(_, _, text)| text);
        Ok(text
            .and_then(|t| {
                t.get(result.span.start..result.span.end)
                    .map(str::to_string)
            })
            .unwrap_or_default())
    }
    /// The lexical models this index ranks with (a store: BM25 only).
    fn lexical_models(&self) -> &'static [crate::Lexical];
    /// Documents in the index.
    fn len(&self) -> usize;
    /// Whether the index holds no documents.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The folder index, for what only it has (TF-IDF statistics, the
    /// manifest's every entry, the corpus map).
    fn folder(&self) -> Option<&Searcher> {
        None
    }
}

impl Store for Searcher {
    fn embedder(&self) -> Result<&Arc<Embedder>> {
        Searcher::embedder(self)
    }

    fn label(&self) -> PathBuf {
        self.index().dir().to_path_buf()
    }

    fn results(&self, query: &str, cfg: &SearchConfig) -> Result<Vec<SearchResult>> {
        Searcher::results(self, query, cfg)
    }

    fn search(&self, query: &str, cfg: &SearchConfig) -> Result<Vec<Hit>> {
        Searcher::search(self, query, cfg)
    }

    fn search_with_vector(
        &self,
        query: &str,
        vector: Option<&[f32]>,
        cfg: &SearchConfig,
    ) -> Result<Vec<Hit>> {
        Searcher::search_with_vector(self, query, vector, cfg)
    }

    fn compare(&self, query: &str, cfg: &SearchConfig) -> Result<Comparison> {
        Searcher::compare(self, query, cfg)
    }

    fn position(&self, id: &str) -> Result<Option<usize>> {
        Ok(self.index().position(id))
    }

    fn find_document(&self, path_or_id: &str) -> Result<Option<usize>> {
        Ok(self.index().find_document(path_or_id))
    }

    fn similar_results(&self, doc: usize, k: usize) -> Result<Vec<SearchResult>> {
        Searcher::similar_results(self, doc, k)
    }

    fn document(&self, doc: usize) -> Result<Option<(String, DocEntry, String)>> {
        let found = self.index().document(doc)?;
        Ok(found.map(|d| (d.id, d.entry, d.text)))
    }

    fn lexical_models(&self) -> &'static [crate::Lexical] {
        crate::backend::Backend::lexical_models(self)
    }

    fn len(&self) -> usize {
        self.index().len()
    }

    fn folder(&self) -> Option<&Searcher> {
        Some(self)
    }
}
