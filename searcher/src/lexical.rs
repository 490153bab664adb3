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

/// The manifest position of every document of the opened generation's
/// tantivy segments (`u32::MAX` where none). Read once per opened index
/// from the `id` column in dictionary order, a sequential read, instead of
/// a dictionary lookup per hit, which was half of a BM25 search's time on
/// SciFact (`perf`: sstable `ord_to_term` and block decoding against
/// block-WAND); feedback's second search pays it again.
pub struct Positions(Vec<Vec<u32>>);

impl Positions {
    /// Read every segment's ids.
    pub fn compute(index: &Index) -> Positions {
        let searcher = index.lexical_searcher();
        let segments = searcher
            .segment_readers()
            .iter()
            .map(|seg| {
                let mut out = vec![u32::MAX; seg.max_doc() as usize];
                let Ok(Some(col)) = seg.fast_fields().str("id") else {
                    return out;
                };
                let mut by_ord = Vec::with_capacity(col.num_terms());
                if let Ok(mut stream) = col.dictionary().stream() {
                    // Both lists are sorted: each id is searched for from
                    // the last one's place, in steps that double.
                    let mut from = 0;
                    while stream.advance() {
                        let pos = std::str::from_utf8(stream.key())
                            .ok()
                            .and_then(|id| position_from(index.doc_ids(), from, id));
                        if let Some(p) = pos {
                            from = p + 1;
                        }
                        by_ord.push(pos.map_or(u32::MAX, |p| p as u32));
                    }
                }
                for (doc, slot) in out.iter_mut().enumerate() {
                    if let Some(ord) = col.term_ords(doc as DocId).next() {
                        *slot = by_ord.get(ord as usize).copied().unwrap_or(u32::MAX);
                    }
                }
                out
            })
            .collect();
        Positions(segments)
    }

    /// The manifest position of a tantivy hit.
    pub fn get(&self, addr: DocAddress) -> Option<usize> {
        let p = *self
            .0
            .get(addr.segment_ord as usize)?
            .get(addr.doc_id as usize)?;
        (p != u32::MAX).then_some(p as usize)
    }
}

/// Where `id` is in the sorted `ids`, searching from `from` on: steps
/// that double until past it, then halving (the ids of a segment's
/// dictionary, in order, are a few places apart in a large index, where a
/// search of the whole list took 20 comparisons of strings each).
fn position_from(ids: &[String], from: usize, id: &str) -> Option<usize> {
    let rest = ids.get(from..)?;
    let mut end = 1;
    while end < rest.len() && rest[end - 1].as_str() < id {
        end *= 2;
    }
    let end = end.min(rest.len());
    let start = end / 2;
    rest[start..end]
        .binary_search_by(|d| d.as_str().cmp(id))
        .ok()
        .map(|i| from + start + i)
}

/// BM25 top-`n` documents for weighted terms (a term's BM25 score is
/// multiplied by its weight), optionally restricted to `allowed` ids.
pub fn bm25(
    index: &Index,
    positions: &Positions,
    terms: &[(String, f32)],
    n: usize,
    allowed: Option<&[&str]>,
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
    let mut query: Box<dyn Query> = Box::new(BooleanQuery::new(clauses));
    if let Some(allowed) = allowed {
        let set = TermSetQuery::new(allowed.iter().map(|id| Term::from_field_text(f.id, id)));
        query = Box::new(BooleanQuery::new(vec![
            (Occur::Must, query),
            (Occur::Must, Box::new(set)),
        ]));
    }
    let searcher = index.lexical_searcher();
    let hits = searcher
        .search(&query, &crate::top::SharedTopDocs::new(n))
        .map_err(|e| SearchError::lexical(index, e))?;
    Ok(hits
        .into_iter()
        .filter_map(|(score, addr)| {
            // BooleanQuery scores a Must filter clause too (a constant); the
            // ranking is unaffected, but report the BM25 part only.
            positions.get(addr).map(|d| (d, score))
        })
        .collect())
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
    positions: &Positions,
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
            let doc = positions.get(addr)?;
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

#[cfg(test)]
mod position_tests {
    /// Searching onward from the last find gives what a whole search gives,
    /// for every id in order, for ids missing, and from past the end.
    #[test]
    fn position_from_matches_a_whole_search() {
        let ids: Vec<String> = (0..1000).map(|i| format!("doc{:05}", i * 3)).collect();
        let mut from = 0;
        for i in 0..3000 {
            let id = format!("doc{i:05}");
            let whole = ids.binary_search(&id).ok();
            assert_eq!(super::position_from(&ids, from, &id), whole, "{id}");
            if let Some(p) = whole {
                from = p + 1;
            }
        }
        assert_eq!(super::position_from(&ids, 1000, "doc00003"), None);
        assert_eq!(super::position_from(&ids, 5000, "doc00003"), None);
    }
}
