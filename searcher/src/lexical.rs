//! Lexical ranking at document level: BM25 (tantivy) and classic TF-IDF.
//!
//! Queries are never parsed as query syntax: the text goes through the
//! index's analyser and each distinct term becomes an optional clause, so
//! quotes, `AND`, `field:value` and brackets are just words.

use std::collections::HashMap;

use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, DocId, Term};

use semsearch_indexer::lsa::{idf, tf_weight};
use semsearch_indexer::Index;

use crate::disjunction::Disjunction;
use crate::error::{Result, SearchError};

/// Which lexical model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lexical {
    /// Okapi BM25 (tantivy's, k1 1.2, b 0.75).
    Bm25,
    /// Cosine of the query's and the document's TF-IDF vectors.
    TfIdf,
    /// Cosine in latent semantic analysis' space: the TF-IDF vectors
    /// projected on the index's truncated SVD basis.
    Lsa,
}

/// BM25 top-`n` documents for weighted terms (a term's BM25 score is
/// multiplied by its weight), optionally restricted to `allowed` handles.
/// `floor` (0 for none): at least `n` allowed documents are known to score
/// that or more, so pruning skips every document below it from the start.
pub fn bm25(
    index: &Index,
    terms: &[(String, f32)],
    n: usize,
    allowed: Option<&[bool]>,
    floor: f32,
) -> Result<Vec<(usize, f32)>> {
    let f = index.fields();
    let clauses: Vec<(Occur, Box<dyn Query>)> = terms
        .iter()
        .map(|&(ref t, weight)| {
            let mut q: Box<dyn Query> = Box::new(TermQuery::new(
                Term::from_field_text(f.text, t),
                IndexRecordOption::WithFreqs,
            ));
            if weight != 1.0 {
                q = Box::new(BoostQuery::new(q, weight));
            }
            (Occur::Should, q)
        })
        .collect();
    if clauses.is_empty() || n == 0 {
        return Ok(Vec::new());
    }
    let boolean = BooleanQuery::new(clauses);
    let weighted = text_terms(index, terms);
    let mut query: Box<dyn Query> = Box::new(Disjunction::new(weighted, boolean));
    if let Some(allowed) = allowed {
        let handles = allowed.iter().enumerate().filter(|(_, ok)| **ok);
        let set = TermSetQuery::new(handles.map(|(d, _)| Term::from_field_u64(f.seq, d as u64)));
        query = Box::new(BooleanQuery::new(vec![
            (Occur::Must, query),
            (Occur::Must, Box::new(set)),
        ]));
    }
    let searcher = index.lexical_searcher();
    let hits = searcher
        .search(&query, &crate::top::SharedTopDocs::above(n, floor))
        .map_err(|e| SearchError::lexical(index, e))?;
    Ok(hits
        .into_iter()
        .filter_map(|(score, addr)| {
            // BooleanQuery scores a Must filter clause too (a constant); the
            // ranking is unaffected, but report the BM25 part only.
            index.handle(addr).map(|d| (d, score))
        })
        .collect())
}

/// [`bm25`]'s scores of the documents `docs` alone (handles), best first
/// (equal scores in index order, as [`bm25`] ranks them); documents with
/// none of the terms are left out.
pub fn bm25_of(
    index: &Index,
    terms: &[(String, f32)],
    docs: &[usize],
) -> Result<Vec<(usize, f32)>> {
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let addresses: Vec<DocAddress> = docs.iter().filter_map(|&d| index.address(d)).collect();
    let weighted = text_terms(index, terms);
    let searcher = index.lexical_searcher();
    let mut scored = crate::disjunction::score_documents(&searcher, &weighted, addresses)
        .map_err(|e| SearchError::lexical(index, e))?;
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(scored
        .into_iter()
        .filter_map(|(addr, score)| Some((index.handle(addr)?, score)))
        .collect())
}

/// Weighted query terms as terms of the index's text field.
fn text_terms(index: &Index, terms: &[(String, f32)]) -> Vec<(Term, f32)> {
    let text = index.fields().text;
    terms
        .iter()
        .map(|(t, w)| (Term::from_field_text(text, t), *w))
        .collect()
}

/// Call `f(term bytes, term info)` for every term of a segment's field.
fn each_term(
    index: &Index,
    inv: &tantivy::InvertedIndexReader,
    mut f: impl FnMut(&[u8], &tantivy::postings::TermInfo) -> Result<()>,
) -> Result<()> {
    let mut terms = inv
        .terms()
        .stream()
        .map_err(|e| SearchError::lexical(index, e.into()))?;
    while terms.advance() {
        f(terms.key(), terms.value())?;
    }
    Ok(())
}

/// Call `f(doc, term frequency)` for every posting of a term.
pub(crate) fn each_posting(
    mut postings: tantivy::postings::SegmentPostings,
    mut f: impl FnMut(DocId, u32),
) {
    use tantivy::postings::Postings;
    use tantivy::{DocSet, TERMINATED};
    let mut d = postings.doc();
    while d != TERMINATED {
        f(d, postings.term_freq());
        d = postings.advance();
    }
}

/// Cosine norms of the TF-IDF document vectors, one per document of each
/// segment; computed once from the postings.
pub struct TfIdfNorms {
    n_docs: f32,
    norms: Vec<Vec<f32>>,
}

impl TfIdfNorms {
    /// Compute every document's TF-IDF vector norm.
    pub fn compute(index: &Index) -> Result<Self> {
        let searcher = index.lexical_searcher();
        let field = index.fields().text;
        let n_docs = searcher.num_docs() as f32;
        // Document frequencies across segments, by term bytes.
        let mut df: HashMap<Vec<u8>, u64> = HashMap::new();
        for seg in searcher.segment_readers() {
            let inv = seg
                .inverted_index(field)
                .map_err(|e| SearchError::lexical(index, e))?;
            each_term(index, &inv, |term, info| {
                *df.entry(term.to_vec()).or_default() += info.doc_freq as u64;
                Ok(())
            })?;
        }
        let mut norms = Vec::new();
        for seg in searcher.segment_readers() {
            let mut sq = vec![0f32; seg.max_doc() as usize];
            let inv = seg
                .inverted_index(field)
                .map_err(|e| SearchError::lexical(index, e))?;
            each_term(index, &inv, |term, info| {
                let w_idf = idf(n_docs, df[term]);
                let postings = inv
                    .read_postings_from_terminfo(info, IndexRecordOption::WithFreqs)
                    .map_err(|e| SearchError::lexical(index, e.into()))?;
                each_posting(postings, |d, tf| {
                    sq[d as usize] += (tf_weight(tf) * w_idf).powi(2)
                });
                Ok(())
            })?;
            norms.push(sq.into_iter().map(f32::sqrt).collect());
        }
        Ok(TfIdfNorms { n_docs, norms })
    }
}

/// Classic TF-IDF: cosine between log-tf x idf vectors of query and
/// document; `terms` carry the query side's tf weight ([`tf_weight`] of
/// the count, or feedback's weight).
pub fn tfidf(
    index: &Index,
    norms: &TfIdfNorms,
    terms: &[(String, f32)],
    n: usize,
    allowed: Option<&[bool]>,
) -> Result<Vec<(usize, f32)>> {
    let searcher = index.lexical_searcher();
    let field = index.fields().text;
    let mut q_weights = Vec::new();
    for (t, qtf) in terms {
        let term = Term::from_field_text(field, t);
        let df = searcher
            .doc_freq(&term)
            .map_err(|e| SearchError::lexical(index, e))?;
        if df > 0 {
            let w_idf = idf(norms.n_docs, df);
            q_weights.push((term, w_idf, qtf * w_idf));
        }
    }
    let q_norm = q_weights.iter().map(|(_, _, w)| w * w).sum::<f32>().sqrt();
    if q_norm == 0.0 {
        return Ok(Vec::new());
    }
    let mut scores: HashMap<DocAddress, f32> = HashMap::new();
    for (seg_ord, seg) in searcher.segment_readers().iter().enumerate() {
        let inv = seg
            .inverted_index(field)
            .map_err(|e| SearchError::lexical(index, e))?;
        let alive = seg.alive_bitset();
        for (term, w_idf, qw) in &q_weights {
            let Some(postings) = inv
                .read_postings(term, IndexRecordOption::WithFreqs)
                .map_err(|e| SearchError::lexical(index, e.into()))?
            else {
                continue;
            };
            each_posting(postings, |d, tf| {
                if alive.is_none_or(|a| a.is_alive(d)) {
                    let w = tf_weight(tf) * w_idf;
                    *scores
                        .entry(DocAddress::new(seg_ord as u32, d))
                        .or_default() += w * qw;
                }
            });
        }
    }
    let mut ranked: Vec<(usize, f32)> = scores
        .into_iter()
        .filter_map(|(addr, dot)| {
            let norm = norms.norms[addr.segment_ord as usize][addr.doc_id as usize];
            let doc = index.handle(addr)?;
            if allowed.is_some_and(|a| !a[doc]) {
                return None;
            }
            Some((
                doc,
                if norm > 0.0 {
                    dot / (norm * q_norm)
                } else {
                    0.0
                },
            ))
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(n);
    Ok(ranked)
}
