//! LSA ranking: documents and the query folded into the index's stored
//! term basis (see [`semsearch_indexer::lsa`]), ranked by cosine.
//!
//! A document's vector is `sum over its terms of (1 + ln tf) * idf * V[t]`,
//! the query's the same with its own term weights; every vector is
//! normalised, so the score is the cosine in the latent space. Document
//! vectors are computed from the postings on the first LSA search and
//! kept (4 bytes x 128 per document: 2.6 MB for SciFact).

use semsearch_indexer::lsa::{tfidf_weight, Lsa};
use semsearch_indexer::vectors::dot;
use semsearch_indexer::Index;
use tantivy::schema::IndexRecordOption;
use rayon::prelude::*;
use tantivy::{DocAddress, Term};

use crate::error::{Result, SearchError};
use crate::lexical::Positions;

/// The basis and every document's vector, in manifest order.
pub struct LsaSpace {
    basis: Lsa,
    n_docs: f32,
    docs: Vec<f32>,
}

/// Documents per parallel task of a ranking.
const CHUNK_DOCS: usize = 4096;

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

impl LsaSpace {
    /// Load the basis and fold every document in.
    pub fn compute(index: &Index, positions: &Positions) -> Result<Self> {
        let basis = index.lsa()?;
        let searcher = index.lexical_searcher();
        let field = index.fields().text;
        let n_docs = searcher.num_docs() as f32;
        let dims = basis.dims;
        let mut docs = vec![0f32; index.len() * dims];
        for (seg_ord, seg) in searcher.segment_readers().iter().enumerate() {
            let inv = seg
                .inverted_index(field)
                .map_err(|e| SearchError::lexical(index, e))?;
            let alive = seg.alive_bitset();
            for (t, &row) in &basis.terms {
                let term = Term::from_field_text(field, t);
                let Some(postings) = inv
                    .read_postings(&term, IndexRecordOption::WithFreqs)
                    .map_err(|e| SearchError::lexical(index, e.into()))?
                else {
                    continue;
                };
                let df = searcher
                    .doc_freq(&term)
                    .map_err(|e| SearchError::lexical(index, e))?;
                crate::lexical::each_posting(postings, |d, tf| {
                    let Some(p) = positions.get(DocAddress::new(seg_ord as u32, d)) else {
                        return;
                    };
                    if alive.is_some_and(|a| !a.is_alive(d)) {
                        return;
                    }
                    let w = tfidf_weight(tf, n_docs, df);
                    let out = &mut docs[p * dims..(p + 1) * dims];
                    for (o, v) in out.iter_mut().zip(basis.row(row)) {
                        *o += w * v;
                    }
                });
            }
        }
        docs.chunks_mut(dims.max(1)).for_each(normalise);
        Ok(LsaSpace {
            basis,
            n_docs,
            docs,
        })
    }

    /// Top-`n` documents by cosine to the query's terms (weighted as
    /// TF-IDF weighs them: 1 + ln count, or feedback's weight).
    pub fn rank(
        &self,
        index: &Index,
        terms: &[(String, f32)],
        n: usize,
        allowed: Option<&[bool]>,
    ) -> Result<Vec<(usize, f32)>> {
        let searcher = index.lexical_searcher();
        let field = index.fields().text;
        let dims = self.basis.dims;
        let mut q = vec![0f32; dims];
        for (t, w) in terms {
            let Some(&row) = self.basis.terms.get(t) else {
                continue;
            };
            let df = searcher
                .doc_freq(&Term::from_field_text(field, t))
                .map_err(|e| SearchError::lexical(index, e))?;
            let idf = tfidf_weight(1, self.n_docs, df);
            for (o, v) in q.iter_mut().zip(self.basis.row(row)) {
                *o += w * idf * v;
            }
        }
        normalise(&mut q);
        if dims == 0 || q.iter().all(|&x| x == 0.0) {
            return Ok(Vec::new());
        }
        // Every document's cosine (one pass over its vectors, both cores:
        // 512 MB at a million documents), then the best n selected, not
        // the whole list sorted.
        let mut ranked: Vec<(usize, f32)> = self
            .docs
            .par_chunks(dims * CHUNK_DOCS)
            .enumerate()
            .flat_map_iter(|(c, block)| {
                let q = &q;
                block.chunks(dims).enumerate().filter_map(move |(i, v)| {
                    let d = c * CHUNK_DOCS + i;
                    let s = dot(v, q);
                    (s > 0.0 && allowed.is_none_or(|a| a[d])).then_some((d, s))
                })
            })
            .collect();
        let order = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if ranked.len() > n && n > 0 {
            ranked.select_nth_unstable_by(n - 1, order);
        }
        ranked.truncate(n);
        ranked.sort_by(order);
        Ok(ranked)
    }
}
