//! LSA ranking: documents and the query folded into the index's stored
//! term basis (see [`semsearch_indexer::lsa`]), ranked by cosine.
//!
//! A document's vector is `sum over its terms of (1 + ln tf) * idf * V[t]`,
//! the query's the same with its own term weights; every vector is
//! normalised, so the score is the cosine in the latent space. Document
//! vectors are computed from the postings on the first LSA search and
//! kept as bytes with a scale each (260 bytes per document at 256
//! dimensions: 1.3 MB for SciFact, 260 MB at a million; f32 took four
//! times that). A ranking reads every one of them, as 16-bit integer
//! multiply-adds: widened to f32 they cost 150 ms at a million documents.

use rayon::prelude::*;
use semsearch_indexer::lsa::{tfidf_weight, Lsa};
use semsearch_indexer::Index;
use semsearch_models::linear::{int8_scale, quantize};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Term};

use crate::error::{Result, SearchError};

/// The basis and every document's vector, in manifest order.
pub struct LsaSpace {
    basis: Lsa,
    n_docs: f32,
    /// Each unit vector as `dims` values `q` in [-127, 127] ...
    docs: Vec<i8>,
    /// ... and the scale that makes them `q x scale`.
    scales: Vec<f32>,
}

/// A unit vector as bytes and their scale (the model's symmetric int8
/// rule; a zero vector scores zero).
fn quantise(v: &[f32], out: &mut [i8]) -> f32 {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        out.fill(0);
        return 0.0;
    }
    let scale = int8_scale(max);
    for (o, &x) in out.iter_mut().zip(v) {
        *o = quantize(x, scale);
    }
    scale
}

/// Cosines at or below this are the bytes' rounding, not a match: two
/// orthogonal vectors score up to about this much once quantised.
const MIN_COSINE: f32 = 0.01;

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
    pub fn compute(index: &Index) -> Result<Self> {
        let basis = index.lsa()?;
        let searcher = index.lexical_searcher();
        let field = index.fields().text;
        let n_docs = searcher.num_docs() as f32;
        let dims = basis.dims;
        let mut docs = vec![0f32; index.slots() * dims];
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
                    let Some(p) = index.handle(DocAddress::new(seg_ord as u32, d)) else {
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
        let mut bytes = vec![0i8; docs.len()];
        let scales = docs
            .par_chunks_mut(dims.max(1))
            .zip(bytes.par_chunks_mut(dims.max(1)))
            .map(|(v, out)| {
                normalise(v);
                quantise(v, out)
            })
            .collect();
        Ok(LsaSpace {
            basis,
            n_docs,
            docs: bytes,
            scales,
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
        let mut q_bytes = vec![0i8; dims];
        let q_scale = quantise(&q, &mut q_bytes);
        let q = q_bytes;
        // Every document's cosine (one pass over its bytes, both cores:
        // 256 MB at a million documents); each task keeps its best n, the
        // best n of those are sorted.
        let order = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let best = |mut v: Vec<(usize, f32)>| {
            if v.len() > n {
                v.select_nth_unstable_by(n.max(1) - 1, order);
                v.truncate(n);
            }
            v
        };
        let mut ranked = self
            .docs
            .par_chunks(dims * CHUNK_DOCS)
            .enumerate()
            .map(|(c, block)| {
                let scored = block.chunks(dims).enumerate().filter_map(|(i, v)| {
                    let d = c * CHUNK_DOCS + i;
                    let s = semsearch_models::dot_i8(&q, v) as f32 * q_scale * self.scales[d];
                    (s > MIN_COSINE && allowed.is_none_or(|a| a[d])).then_some((d, s))
                });
                best(scored.collect())
            })
            .reduce(Vec::new, |mut a, b| {
                a.extend(b);
                best(a)
            });
        ranked.sort_by(order);
        Ok(ranked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes and scale give back the cosine to within a byte's step.
    #[test]
    fn byte_vectors_keep_the_cosine() {
        let dims = 37;
        let unit = |seed: usize| {
            let mut v: Vec<f32> = (0..dims)
                .map(|i| (((i + 1) * seed * 7919) % 1009) as f32 / 504.0 - 1.0)
                .collect();
            normalise(&mut v);
            v
        };
        let q = unit(3);
        let mut q_bytes = vec![0i8; dims];
        let q_scale = quantise(&q, &mut q_bytes);
        for seed in [5, 11, 17, 23] {
            let v = unit(seed);
            let mut bytes = vec![0i8; dims];
            let scale = quantise(&v, &mut bytes);
            let exact: f32 = q.iter().zip(&v).map(|(a, b)| a * b).sum();
            let approx = semsearch_models::dot_i8(&q_bytes, &bytes) as f32 * q_scale * scale;
            assert!((exact - approx).abs() < 0.01, "{exact} vs {approx}");
        }
        let mut zero = vec![1i8; dims];
        assert_eq!(quantise(&vec![0.0; dims], &mut zero), 0.0);
        assert!(zero.iter().all(|&b| b == 0));
    }
}
