//! IR evaluation metrics with trec_eval conventions: linear gains for graded
//! judgements, ideal DCG from all judged documents, queries without a
//! relevant document excluded by the caller, no results scoring 0.

use std::collections::HashMap;

/// Judgements for one query: document id to gain (> 0 is relevant).
pub type Qrels = HashMap<String, u32>;

/// nDCG@k: DCG of the run's top k over the DCG of the ideal ordering.
pub fn ndcg_at(run: &[&str], qrels: &Qrels, k: usize) -> f64 {
    let dcg: f64 = run
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| qrels.get(*d).copied().unwrap_or(0) as f64 / (i as f64 + 2.0).log2())
        .sum();
    let mut gains: Vec<u32> = qrels.values().copied().filter(|&g| g > 0).collect();
    gains.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = gains
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &g)| g as f64 / (i as f64 + 2.0).log2())
        .sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

fn relevant(qrels: &Qrels) -> usize {
    qrels.values().filter(|&&g| g > 0).count()
}

/// Recall@k: relevant documents in the top k over all relevant documents.
pub fn recall_at(run: &[&str], qrels: &Qrels, k: usize) -> f64 {
    let total = relevant(qrels);
    if total == 0 {
        return 0.0;
    }
    let found = run
        .iter()
        .take(k)
        .filter(|d| qrels.get(**d).is_some_and(|&g| g > 0))
        .count();
    found as f64 / total as f64
}

/// MRR@k: 1 / rank of the first relevant document in the top k.
pub fn mrr_at(run: &[&str], qrels: &Qrels, k: usize) -> f64 {
    run.iter()
        .take(k)
        .position(|d| qrels.get(*d).is_some_and(|&g| g > 0))
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0))
}

/// AP@k: mean of precision at each relevant document in the top k, over
/// all relevant documents.
pub fn map_at(run: &[&str], qrels: &Qrels, k: usize) -> f64 {
    let total = relevant(qrels);
    if total == 0 {
        return 0.0;
    }
    let (mut hits, mut sum) = (0, 0.0);
    for (i, d) in run.iter().take(k).enumerate() {
        if qrels.get(*d).is_some_and(|&g| g > 0) {
            hits += 1;
            sum += hits as f64 / (i as f64 + 1.0);
        }
    }
    sum / total as f64
}

/// The `p` quantile (0..=1) of ascending `sorted` latencies, nearest rank
/// (`NaN` when empty): what every `bench` reports as p50/p90/p99.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p.clamp(0.0, 1.0)).round() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qrels(pairs: &[(&str, u32)]) -> Qrels {
        pairs.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    #[test]
    fn hand_computed_binary() {
        let q = qrels(&[("a", 1), ("c", 1)]);
        let run = ["b", "a", "d", "c"];
        // DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3).
        let want = (1.0 / 3f64.log2() + 1.0 / 5f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!((ndcg_at(&run, &q, 10) - want).abs() < 1e-12);
        assert_eq!(recall_at(&run, &q, 2), 0.5);
        assert_eq!(mrr_at(&run, &q, 10), 0.5);
        // AP = (1/2 + 2/4) / 2.
        assert_eq!(map_at(&run, &q, 100), 0.5);
    }

    #[test]
    fn graded_gains_are_linear_and_empty_run_scores_zero() {
        let q = qrels(&[("a", 3), ("b", 1)]);
        // Ideal: a then b. Run: b then a.
        let want = (1.0 + 3.0 / 3f64.log2()) / (3.0 + 1.0 / 3f64.log2());
        assert!((ndcg_at(&["b", "a"], &q, 10) - want).abs() < 1e-12);
        assert_eq!(ndcg_at(&[], &q, 10), 0.0);
        assert_eq!(map_at(&[], &q, 100), 0.0);
    }
}
