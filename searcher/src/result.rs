//! Presentation-ready results: what every face (CLI, prompt, server, MCP)
//! shows for a hit, computed once here so that they all show the same.

use std::path::PathBuf;

use semsearch_indexer::extract::Unit;
use semsearch_indexer::PassageRef;
use serde::Serialize;

use crate::backend::Backend;
use crate::config::{Mode, SearchConfig};
use crate::error::Result;
use crate::fusion::{Fusion, Norm};
use crate::query::Query;
use crate::snippet::{self, Snippet};
use crate::{Hit, Searcher};

/// Bytes of passage text in a snippet: about two lines of a terminal, and
/// enough context to judge a hit without opening it.
pub const SNIPPET_LEN: usize = 240;

/// The page or slide a passage starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Place {
    /// Page (PDF) or slide (PPTX, ODP).
    #[serde(serialize_with = "unit_name")]
    pub unit: Unit,
    /// 1-based.
    pub number: usize,
}

fn unit_name<S: serde::Serializer>(u: &Unit, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(u.as_str())
}

/// A byte range of a document's extracted text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// How a hit's score was made, as data (the faces word it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "fusion", rename_all = "lowercase")]
pub enum Explain {
    /// One leg ran: the score is that leg's own.
    Single {
        /// The leg that ran.
        mode: Mode,
    },
    /// `1/(k + lexical rank) + 1/(k + semantic rank)`; a leg that missed the
    /// document adds nothing.
    Rrf {
        /// The rank offset.
        k: f32,
    },
    /// `alpha * semantic + (1 - alpha) * lexical` of normalised scores; a
    /// leg that missed the document gives its lowest normalised score.
    Linear {
        /// Semantic weight.
        alpha: f32,
        /// Normalisation.
        norm: Norm,
    },
}

impl Serialize for Norm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Explain {
    /// The formula behind a search run with `cfg`.
    pub fn of(cfg: &SearchConfig) -> Explain {
        match (cfg.mode, cfg.fusion) {
            (Mode::Hybrid, Fusion::Rrf { k }) => Explain::Rrf { k },
            (Mode::Hybrid, Fusion::Linear { alpha, norm }) => Explain::Linear { alpha, norm },
            (mode, _) => Explain::Single { mode },
        }
    }
}

/// One result, ready to show.
#[derive(Debug, Clone)]
pub struct SearchResult {
    /// The ranked hit (document, score, per-leg ranks and scores).
    pub hit: Hit,
    /// The file, for documents of folders (absolute); `None` for corpus
    /// documents.
    pub path: Option<PathBuf>,
    /// The document's title.
    pub title: String,
    /// The passage shown: the semantic leg's best, else the one with the
    /// most query terms.
    pub passage: PassageRef,
    /// Where that passage lies in the document's text.
    pub span: Span,
    /// Its first line, 1-based.
    pub line: usize,
    /// Its page or slide, for paged documents.
    pub place: Option<Place>,
    /// Up to [`SNIPPET_LEN`] bytes of it around the query's terms, with
    /// the terms' byte ranges.
    pub snippet: Snippet,
    /// How the score was made; `None` where no query was ranked
    /// (documents like a document).
    pub explain: Option<Explain>,
    /// The terms pseudo-relevance feedback added to the query, with their
    /// weights (empty without feedback).
    pub expansion: Vec<(String, f32)>,
}

impl Searcher {
    /// The `cfg.k` best documents for `query`, each with its passage,
    /// snippet and score breakdown. The query is analysed once, for
    /// ranking and snippets alike.
    pub fn results(&self, query: &str, cfg: &SearchConfig) -> Result<Vec<SearchResult>> {
        results(self, query, cfg)
    }

    /// The `k` documents most like document `doc`, ready to show.
    pub fn similar_results(&self, doc: usize, k: usize) -> Result<Vec<SearchResult>> {
        present(
            self,
            &Query::none(),
            crate::similar::similar(self, doc, k)?,
            None,
        )
    }

    /// Turn ranked hits into results: passage, place and snippet of each.
    pub fn present(
        &self,
        query: &Query,
        hits: Vec<Hit>,
        explain: Option<Explain>,
    ) -> Result<Vec<SearchResult>> {
        present(self, query, hits, explain)
    }
}

/// [`Searcher::results`] on any backend.
pub(crate) fn results(
    b: &dyn Backend,
    query: &str,
    cfg: &SearchConfig,
) -> Result<Vec<SearchResult>> {
    let query = Query::analysed(&mut b.analyzer(), query);
    let ranked = crate::backend::rank_query(b, &query, cfg)?;
    let mut results = present(b, &query, ranked.hits, Some(Explain::of(cfg)))?;
    for r in &mut results {
        r.expansion.clone_from(&ranked.expansion);
    }
    Ok(results)
}

/// [`Searcher::present`] on any backend: each hit's document read once.
pub(crate) fn present(
    b: &dyn Backend,
    query: &Query,
    hits: Vec<Hit>,
    explain: Option<Explain>,
) -> Result<Vec<SearchResult>> {
    let docs: Vec<usize> = hits.iter().map(|h| h.doc).collect();
    let mut found = b.documents(&docs)?;
    let terms = query.term_set();
    let mut analyzer = b.analyzer();
    Ok(hits
        .into_iter()
        .filter_map(|hit| {
            let (entry, text) = found.remove(&hit.doc)?;
            Some(present_hit(
                &mut analyzer,
                hit,
                &entry,
                &text,
                &terms,
                explain,
            ))
        })
        .collect())
}

/// One hit of document `entry` with text `text`, ready to show: its
/// passage (the semantic leg's, else the one with the most of `terms`),
/// place and snippet.
pub(crate) fn present_hit(
    analyzer: &mut tantivy::tokenizer::TextAnalyzer,
    hit: Hit,
    entry: &semsearch_indexer::DocEntry,
    text: &str,
    terms: &std::collections::HashSet<&str>,
    explain: Option<Explain>,
) -> SearchResult {
    let passage = hit.passage.unwrap_or_else(|| PassageRef {
        doc: hit.doc,
        ordinal: best_by_terms(analyzer, text, &entry.passages, terms),
    });
    let pe =
        entry
            .passages
            .get(passage.ordinal)
            .cloned()
            .unwrap_or(semsearch_indexer::PassageEntry {
                id: 0,
                start: 0,
                end: 0,
                line: 1,
            });
    let body = text.get(pe.start..pe.end).unwrap_or_default();
    SearchResult {
        path: entry.path.clone(),
        title: entry.title.clone(),
        passage,
        span: Span {
            start: pe.start,
            end: pe.end,
        },
        line: pe.line,
        place: entry
            .page_at(pe.start)
            .map(|(unit, number)| Place { unit, number }),
        snippet: snippet::make(analyzer, body, terms, SNIPPET_LEN),
        explain,
        expansion: Vec::new(),
        hit,
    }
}

/// The passage with the most query-term matches (the first on a tie).
fn best_by_terms(
    analyzer: &mut tantivy::tokenizer::TextAnalyzer,
    text: &str,
    passages: &[semsearch_indexer::PassageEntry],
    terms: &std::collections::HashSet<&str>,
) -> usize {
    (0..passages.len())
        .max_by_key(|&i| {
            let p = &passages[i];
            let slice = text.get(p.start..p.end).unwrap_or_default();
            (
                snippet::matches(analyzer, slice, terms).len(),
                std::cmp::Reverse(i),
            )
        })
        .unwrap_or(0)
}
