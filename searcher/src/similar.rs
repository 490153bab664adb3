//! Operations on vectors beyond ranking a query: documents like a given
//! one (by averaged document vectors), and query arithmetic.

use std::collections::HashSet;

use semsearch_indexer::vectors::dot;
use semsearch_indexer::PassageRef;
use semsearch_models::Embedder;

use crate::error::{Result, SearchError};
use crate::fusion::LegHit;
use crate::{Hit, Searcher};

/// Passages looked at per similar document wanted. SciFact documents have
/// 1.9 passages on average; four per hit leaves room for long documents
/// whose passages crowd the nearest ones.
const CANDIDATES_PER_HIT: usize = 4;

/// A query vector built from text: `normalize(q + sum(plus) - sum(minus))`.
#[derive(Debug, Clone, Default)]
pub struct Arithmetic {
    /// Texts whose vectors are added.
    pub plus: Vec<String>,
    /// Texts whose vectors are subtracted.
    pub minus: Vec<String>,
}

impl Arithmetic {
    /// No term to add or subtract.
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
        query_vector(&self.embedder, query, terms)
    }

    /// The `k` documents nearest to document `doc` by averaged document
    /// vector, itself excluded, best first. Each hit's passage is the one
    /// nearest to `doc`'s vector.
    ///
    /// Document vectors are not indexed (see [`semsearch_indexer::Index::doc_vector`]): the
    /// passages nearest to `doc`'s vector name the candidates, several per
    /// hit wanted, which are then ranked by their own averaged vectors.
    pub fn similar(&self, doc: usize, k: usize) -> Result<Vec<Hit>> {
        let index = &self.index;
        let Some(v) = index.doc_vector(doc) else {
            return Ok(Vec::new());
        };
        let want = (k + 1)
            .saturating_mul(CANDIDATES_PER_HIT)
            .min(index.vectors().size());
        let found = index
            .vectors()
            .search(&v, want)
            .map_err(|e| SearchError::vectors(index, e))?;
        let mut seen = HashSet::new();
        let mut scored: Vec<(usize, f32)> = found
            .keys
            .iter()
            .filter_map(|&key| index.passage(key).map(|p| p.doc))
            .filter(|&d| d != doc && seen.insert(d))
            .filter_map(|d| index.doc_vector(d).map(|dv| (d, dot(&dv, &v))))
            .collect();
        // Best first; equal scores in manifest order.
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        Ok(scored
            .into_iter()
            .enumerate()
            .map(|(i, (d, score))| Hit {
                rank: i + 1,
                doc: d,
                id: index.doc_ids()[d].clone(),
                score,
                lexical: None,
                semantic: Some(LegHit {
                    rank: i + 1,
                    score,
                    fused_part: score,
                }),
                passage: Some(self.nearest_passage(d, &v)),
                duplicates: Vec::new(),
            })
            .collect())
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

/// The semantic leg's vector for `query` with `terms` added and subtracted,
/// unit length; every text embedded in one batch.
pub(crate) fn query_vector(model: &Embedder, query: &str, terms: &Arithmetic) -> Result<Vec<f32>> {
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
    let vectors = model.embed(&texts)?;
    let mut sum = vec![0f32; model.info().dim];
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
