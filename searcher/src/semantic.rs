//! Semantic ranking: nearest passage vectors (HNSW, or exact scan), rolled
//! up to documents by their best passage.

use std::collections::HashMap;

use semsearch_indexer::{Index, PassageRef};

use crate::backend::SemHit;
use crate::error::{Result, SearchError};

/// What a semantic search found: the top documents by their best passage,
/// and every passage it found on the way (its pool, best first), which
/// feedback's second ranking ranks again instead of searching again.
#[derive(Default)]
pub(crate) struct Nearest {
    /// (doc, cosine, best passage), best first.
    pub hits: Vec<SemHit>,
    /// The passages the search returned, nearest first.
    pub pool: Vec<PassageRef>,
}

/// Top-`n` documents by cosine similarity of their best passage to `query`,
/// with that passage. `allowed` restricts the documents inside the search.
pub(crate) fn search(
    index: &Index,
    query: &[f32],
    n: usize,
    exact: bool,
    allowed: Option<&[bool]>,
) -> Result<Nearest> {
    let total = index.vectors().len();
    if total == 0 || n == 0 {
        return Ok(Nearest::default());
    }
    // Documents have several passages: ask for more passages than documents
    // wanted, and more again if roll-up leaves fewer than `n` documents.
    let mut want = (n * 3).min(total);
    loop {
        let keep = allowed
            .map(|allowed| move |key: u64| index.passage(key).is_some_and(|p| allowed[p.doc]));
        let keep = keep.as_ref().map(|f| f as &(dyn Fn(u64) -> bool + Sync));
        let matches = index
            .vectors()
            .search(query, want, exact, keep)
            .map_err(|e| SearchError::vectors(index, e))?;
        let found: Vec<(f32, PassageRef)> = matches
            .iter()
            .filter_map(|&(key, dist)| Some((1.0 - dist, index.passage(key)?)))
            .filter(|(_, p)| allowed.is_none_or(|a| a[p.doc]))
            .collect();
        let mut hits = by_document(found.iter().copied());
        if hits.len() >= n || want >= total || matches.len() < want {
            hits.truncate(n);
            let pool = found.into_iter().map(|(_, p)| p).collect();
            return Ok(Nearest { hits, pool });
        }
        want = (want * 2).min(total);
    }
}

/// Documents by their best passage among `found` (similarity, passage):
/// best first, equal similarities in document order; of a document's
/// equal passages, the first found.
pub(crate) fn by_document(found: impl IntoIterator<Item = (f32, PassageRef)>) -> Vec<SemHit> {
    let mut best: HashMap<usize, (f32, PassageRef)> = HashMap::new();
    for (sim, p) in found {
        let e = best.entry(p.doc).or_insert((sim, p));
        if sim > e.0 {
            *e = (sim, p);
        }
    }
    let mut hits: Vec<SemHit> = best.into_iter().map(|(d, (s, p))| (d, s, p)).collect();
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    hits
}

#[cfg(test)]
mod tests {
    use super::by_document;
    use semsearch_indexer::PassageRef;

    fn p(doc: usize, ordinal: usize) -> PassageRef {
        PassageRef { doc, ordinal }
    }

    #[test]
    fn documents_rank_by_their_best_passage_ties_by_document() {
        let found = [
            (0.5, p(3, 0)),
            (0.9, p(3, 2)),
            (0.7, p(1, 0)),
            (0.7, p(1, 1)),
            (0.9, p(2, 4)),
        ];
        assert_eq!(
            by_document(found),
            vec![(2, 0.9, p(2, 4)), (3, 0.9, p(3, 2)), (1, 0.7, p(1, 0))]
        );
    }
}
