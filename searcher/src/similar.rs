//! Operations on vectors beyond ranking a query: documents like a given
//! one (by averaged document vectors), and query arithmetic.

use std::collections::HashMap;

use semsearch_indexer::vectors::dot;
use semsearch_indexer::PassageRef;
use semsearch_models::Embedder;

use crate::backend::Backend;
use crate::error::{Result, SearchError};
use crate::fusion::LegHit;
use crate::{Hit, Searcher};

/// Candidate documents per similar document wanted (each found by its
/// nearest passage): room for documents whose own vector ranks them
/// higher than their best passage did.
const CANDIDATES_PER_HIT: usize = 2;

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
        query_vector(self.embedder()?, query, terms)
    }

    /// The `k` documents nearest to document `doc` by averaged document
    /// vector, itself excluded, best first.
    pub fn similar(&self, doc: usize, k: usize) -> Result<Vec<Hit>> {
        similar(self, doc, k)
    }
}

/// Documents like document `doc` on any backend: the documents whose
/// passages are nearest `doc`'s vector (several per hit wanted) are the
/// candidates, ranked by their own averaged vectors; each hit's passage is
/// its nearest to `doc`'s vector. Document vectors are not indexed (see
/// [`semsearch_indexer::Index::doc_vector`]).
pub(crate) fn similar(b: &dyn Backend, doc: usize, k: usize) -> Result<Vec<Hit>> {
    let Some(v) = b.doc_vectors(&[doc])?.remove(&doc) else {
        return Ok(Vec::new());
    };
    let want = (k + 1).saturating_mul(CANDIDATES_PER_HIT);
    let found = b.nearest(&v, want, false, None)?.hits;
    let candidates: Vec<usize> = found.iter().map(|f| f.0).filter(|&d| d != doc).collect();
    let vectors = b.doc_vectors(&candidates)?;
    let passages: HashMap<usize, PassageRef> = found.iter().map(|f| (f.0, f.2)).collect();
    let mut scored: Vec<(usize, f32)> = candidates
        .iter()
        .filter_map(|d| Some((*d, dot(vectors.get(d)?, &v))))
        .collect();
    // Best first; equal scores in document order.
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let scale = crate::config::Scale::of(&scored.iter().map(|s| s.1).collect::<Vec<_>>());
    let weak = |score| scale.is_weak(score, crate::SearchConfig::DEFAULT_WEAK);
    scored.truncate(k);
    let ids = b.ids(&scored.iter().map(|s| s.0).collect::<Vec<_>>())?;
    Ok(scored
        .into_iter()
        .filter_map(|(d, score)| Some((d, score, ids.get(&d)?.clone())))
        .enumerate()
        .map(|(i, (d, score, id))| Hit {
            rank: i + 1,
            doc: d,
            id,
            score,
            lexical: None,
            semantic: Some(LegHit {
                rank: i + 1,
                score,
                fused_part: score,
            }),
            passage: passages.get(&d).copied(),
            weak: weak(score),
            duplicates: Vec::new(),
        })
        .collect())
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
    let vectors = model.embed_queries(&texts)?;
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
