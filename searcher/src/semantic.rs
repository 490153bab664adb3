//! Semantic ranking: nearest passage vectors (HNSW, or exact scan), rolled
//! up to documents by their best passage.

use std::collections::HashMap;

use semsearch_indexer::{Index, PassageRef};

use crate::error::{Result, SearchError};

/// Top-`n` documents by cosine similarity of their best passage to `query`,
/// with that passage. `allowed` restricts the documents inside the search.
pub fn search(
    index: &Index,
    query: &[f32],
    n: usize,
    exact: bool,
    allowed: Option<&[bool]>,
) -> Result<Vec<(usize, f32, PassageRef)>> {
    let total = index.vectors().len();
    if total == 0 || n == 0 {
        return Ok(Vec::new());
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
        let mut best: HashMap<usize, (f32, PassageRef)> = HashMap::new();
        let mut order = Vec::new();
        for &(key, dist) in &matches {
            let Some(p) = index.passage(key) else {
                continue;
            };
            if allowed.is_some_and(|a| !a[p.doc]) {
                continue;
            }
            let sim = 1.0 - dist;
            if let std::collections::hash_map::Entry::Vacant(e) = best.entry(p.doc) {
                order.push(p.doc);
                e.insert((sim, p));
            }
        }
        if order.len() >= n || want >= total || matches.len() < want {
            let mut out: Vec<(usize, f32, PassageRef)> = order
                .into_iter()
                .map(|d| (d, best[&d].0, best[&d].1))
                .collect();
            out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            out.truncate(n);
            return Ok(out);
        }
        want = (want * 2).min(total);
    }
}
