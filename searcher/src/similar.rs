//! Operations on vectors beyond ranking a query: documents like a given
//! one (by averaged document vectors), and query arithmetic.

use semsearch_indexer::vectors::dot;
use semsearch_indexer::PassageRef;

use crate::error::{Result, SearchError};
use crate::fusion::LegHit;
use crate::{Hit, Searcher};

/// A query vector built from text: `normalize(q + sum(plus) - sum(minus))`.
#[derive(Debug, Clone, Default)]
pub struct Arithmetic {
    pub plus: Vec<String>,
    pub minus: Vec<String>,
}

impl Arithmetic {
    pub fn is_empty(&self) -> bool {
        self.plus.is_empty() && self.minus.is_empty()
    }

    /// The formula, for `--explain`.
    pub fn describe(&self, query: &str) -> String {
        let mut s = format!("normalize(e({query:?})");
        for p in &self.plus {
            s += &format!(" + e({p:?})");
        }
        for m in &self.minus {
            s += &format!(" - e({m:?})");
        }
        s + ")"
    }
}

impl Searcher {
    /// The semantic leg's vector for `query` with `terms` added and
    /// subtracted, unit length. Every text is embedded in one batch.
    pub fn query_vector(&self, query: &str, terms: &Arithmetic) -> Result<Vec<f32>> {
        let texts: Vec<&str> = std::iter::once(query)
            .chain(terms.plus.iter().map(String::as_str))
            .chain(terms.minus.iter().map(String::as_str))
            .collect();
        if query.trim().is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        if texts.iter().any(|t| t.trim().is_empty()) {
            return Err(SearchError::EmptyTerm);
        }
        let vectors = self.embedder.embed(&texts)?;
        let mut sum = vec![0f32; self.index.model().dim];
        for (i, v) in vectors.iter().enumerate() {
            let sign = if i > terms.plus.len() { -1.0 } else { 1.0 };
            for (s, x) in sum.iter_mut().zip(v) {
                *s += sign * x;
            }
        }
        let norm = dot(&sum, &sum).sqrt();
        if norm > 0.0 {
            sum.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(sum)
    }

    /// The `k` documents nearest to document `doc` by averaged document
    /// vector, itself excluded, best first. Each hit's passage is the one
    /// nearest to `doc`'s vector.
    pub fn similar(&self, doc: usize, k: usize) -> Result<Vec<Hit>> {
        let index = &self.index;
        let Some(v) = index.doc_vector(doc) else {
            return Ok(Vec::new());
        };
        let want = (k + 1).min(index.doc_vectors.size());
        let found = index
            .doc_vectors
            .search(&v, want)
            .map_err(|e| SearchError::vectors(index, e))?;
        let mut hits = Vec::with_capacity(k);
        for (&key, &dist) in found.keys.iter().zip(&found.distances) {
            let Some(p) = index.passage(key) else {
                continue;
            };
            if p.doc == doc || hits.len() == k {
                continue;
            }
            let score = 1.0 - dist;
            let rank = hits.len() + 1;
            hits.push(Hit {
                rank,
                doc: p.doc,
                id: index.doc_ids[p.doc].clone(),
                score,
                lexical: None,
                semantic: Some(LegHit {
                    rank,
                    score,
                    fused_part: score,
                }),
                passage: Some(self.nearest_passage(p.doc, &v)),
            });
        }
        Ok(hits)
    }

    /// The passage of `doc` whose vector is nearest to `v`.
    fn nearest_passage(&self, doc: usize, v: &[f32]) -> PassageRef {
        let sims: Vec<f32> = self
            .index
            .doc(doc)
            .1
            .passages
            .iter()
            .map(|p| {
                self.index
                    .passage_vector(p.id)
                    .map_or(f32::MIN, |p| dot(&p, v))
            })
            .collect();
        // First of equals: the earlier passage.
        let ordinal = (0..sims.len())
            .max_by(|&a, &b| sims[a].total_cmp(&sims[b]).then(b.cmp(&a)))
            .unwrap_or(0);
        PassageRef { doc, ordinal }
    }
}
