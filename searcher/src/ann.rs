//! Approximate against exact nearest neighbours: what the HNSW graph costs
//! in recall and saves in time, at several `expansion_search` values.

use std::collections::HashSet;
use std::time::Instant;

use semsearch_indexer::Index;
use serde::Serialize;

use crate::error::{Result, SearchError};

/// Latency of one way of searching, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Mean latency of one query, milliseconds.
    pub mean_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
}

impl Latency {
    fn of(mut ms: Vec<f64>) -> Self {
        ms.sort_by(f64::total_cmp);
        let mean_ms = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
        let p99_ms = crate::metrics::percentile(&ms, 0.99);
        Latency { mean_ms, p99_ms }
    }
}

/// HNSW at one `expansion_search`.
#[derive(Debug, Clone, Serialize)]
pub struct AnnRow {
    /// HNSW search expansion (ef) of this row.
    pub expansion_search: usize,
    /// Mean over queries of |HNSW top-k ∩ exact top-k| / |exact top-k|.
    pub recall: f64,
    /// HNSW latency at this expansion.
    pub hnsw: Latency,
    /// Exact mean latency / HNSW mean latency.
    pub speedup: f64,
}

/// HNSW against exact search: recall and latency per expansion.
#[derive(Debug, Clone, Serialize)]
pub struct AnnReport {
    /// Vectors in the index.
    pub vectors: usize,
    /// Queries run.
    pub queries: usize,
    /// Neighbours asked for.
    pub k: usize,
    /// Brute-force latency.
    pub exact: Latency,
    /// One row per expansion tried.
    pub rows: Vec<AnnRow>,
}

/// `n` passage vectors spread evenly over the index, as queries: the
/// first passage of documents at even steps of the handles.
pub fn sample_queries(index: &Index, n: usize) -> Vec<Vec<f32>> {
    let slots = index.slots();
    if slots == 0 || n == 0 {
        return Vec::new();
    }
    let step = (slots as f64 / n.min(slots) as f64).max(1.0);
    (0..n.min(slots))
        .filter_map(|i| {
            let key = *index.passage_keys((i as f64 * step) as usize).first()?;
            index.passage_vector(key)
        })
        .collect()
}

/// Search every query exactly and by HNSW at each of `expansions`.
pub fn compare(
    index: &Index,
    queries: &[Vec<f32>],
    k: usize,
    expansions: &[usize],
) -> Result<AnnReport> {
    let v = index.vectors();
    let err = |e| SearchError::vectors(index, e);
    let mut exact_ms = Vec::with_capacity(queries.len());
    let mut truth = Vec::with_capacity(queries.len());
    for q in queries {
        let t = Instant::now();
        let m = v.search(q, k, true, None).map_err(err)?;
        exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
        truth.push(m.into_iter().map(|(key, _)| key).collect::<HashSet<u64>>());
    }
    let exact = Latency::of(exact_ms);
    let mut rows = Vec::with_capacity(expansions.len());
    for &e in expansions {
        v.set_expansion(Some(e));
        let (mut ms, mut recall) = (Vec::with_capacity(queries.len()), 0.0);
        for (q, truth) in queries.iter().zip(&truth) {
            let t = Instant::now();
            let m = v.search(q, k, false, None).map_err(err)?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            let found = m.iter().filter(|(key, _)| truth.contains(key)).count();
            recall += found as f64 / truth.len().max(1) as f64;
        }
        let hnsw = Latency::of(ms);
        rows.push(AnnRow {
            expansion_search: e,
            recall: recall / queries.len().max(1) as f64,
            speedup: exact.mean_ms / hnsw.mean_ms.max(1e-9),
            hnsw,
        });
    }
    v.set_expansion(None);
    Ok(AnnReport {
        vectors: v.len(),
        queries: queries.len(),
        k,
        exact,
        rows,
    })
}
