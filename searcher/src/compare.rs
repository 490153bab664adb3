//! TF-IDF, BM25, LSA, semantic and hybrid rankings of one query side by side,
//! and how much they agree: overlap@k and rank-biased overlap.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::backend::Backend;
use crate::config::{Mode, SearchConfig};
use crate::error::Result;
use crate::lexical::Lexical;
use crate::query::Query;
use crate::Searcher;

/// Persistence of rank-biased overlap: 0.9 puts 86% of the weight on the
/// top 10 ranks, the depth people read.
pub const RBO_P: f64 = 0.9;

/// One ranking of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Ranking {
    /// `tfidf`, `bm25`, `lsa`, `semantic` or `hybrid`.
    pub name: &'static str,
    /// Document ids, best first.
    pub ids: Vec<String>,
}

/// How much two rankings agree.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    /// One ranking's name.
    pub a: &'static str,
    /// The other's.
    pub b: &'static str,
    /// Shared documents in the two top-k, over k.
    pub overlap: f64,
    /// Rank-biased overlap with persistence [`RBO_P`].
    pub rbo: f64,
}

/// The five rankings of one query.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The query.
    pub query: String,
    /// Depth of each ranking.
    pub k: usize,
    /// TF-IDF, BM25, LSA, semantic, hybrid: the history of text representations
    /// in the order it happened.
    pub rankings: Vec<Ranking>,
    /// Every pair of rankings.
    pub agreement: Vec<Agreement>,
    /// The title of every document ranked.
    pub titles: BTreeMap<String, String>,
}

impl Searcher {
    /// The query ranked every way the index can, side by side, with how
    /// much each pair agrees.
    pub fn compare(&self, query: &str, base: &SearchConfig) -> Result<Comparison> {
        compare(self, query, base)
    }
}

/// [`Searcher::compare`] on any backend: each lexical model it offers,
/// then semantic and hybrid, the query embedded once.
pub(crate) fn compare(b: &dyn Backend, query: &str, base: &SearchConfig) -> Result<Comparison> {
    let analysed = Query::analysed(&mut b.analyzer(), query);
    if analysed.text().trim().is_empty() {
        return Err(crate::SearchError::EmptyQuery);
    }
    let models = b.lexical_models();
    let mut runs: Vec<(&'static str, Mode, Lexical)> = models
        .iter()
        .map(|&l| (lexical_name(l), Mode::Lexical, l))
        .collect();
    // The legs' lexical model: the asked one where this backend has it.
    let lexical = if models.contains(&base.lexical) {
        base.lexical
    } else {
        Lexical::Bm25
    };
    runs.push(("semantic", Mode::Semantic, lexical));
    runs.push(("hybrid", Mode::Hybrid, lexical));
    let vector = crate::similar::query_vector(b.model()?, query, &base.arithmetic)?;
    let mut docs = Vec::new();
    let rankings: Vec<Ranking> = runs
        .iter()
        .map(|&(name, mode, lexical)| {
            let cfg = SearchConfig {
                mode,
                lexical,
                ..base.clone()
            };
            let hits = crate::backend::rank_with_vector(b, &analysed, Some(&vector), &cfg)?.hits;
            docs.extend(hits.iter().map(|h| h.doc));
            Ok(Ranking {
                name,
                ids: hits.into_iter().map(|h| h.id).collect(),
            })
        })
        .collect::<Result<_>>()?;
    docs.sort_unstable();
    docs.dedup();
    let ids = b.ids(&docs)?;
    let titles = b
        .titles(&docs)?
        .into_iter()
        .filter_map(|(d, title)| Some((ids.get(&d)?.clone(), title)))
        .collect();
    Ok(Comparison::new(query, base.k, rankings, titles))
}

/// A lexical model's name in a comparison.
fn lexical_name(l: Lexical) -> &'static str {
    match l {
        Lexical::TfIdf => "tfidf",
        Lexical::Bm25 => "bm25",
        Lexical::Lsa => "lsa",
    }
}

impl Comparison {
    /// The rankings of `query`, each `k` deep, with every pair's agreement.
    pub fn new(
        query: &str,
        k: usize,
        rankings: Vec<Ranking>,
        titles: BTreeMap<String, String>,
    ) -> Comparison {
        let mut agreement = Vec::new();
        for (i, a) in rankings.iter().enumerate() {
            for b in &rankings[i + 1..] {
                agreement.push(Agreement {
                    a: a.name,
                    b: b.name,
                    overlap: overlap_at(&a.ids, &b.ids, k),
                    rbo: rbo(&a.ids, &b.ids, RBO_P),
                });
            }
        }
        Comparison {
            query: query.to_string(),
            k,
            rankings,
            agreement,
            titles,
        }
    }

    /// Every document in any ranking, in first-seen order, with its rank
    /// (1-based) in each ranking.
    pub fn ranks(&self) -> Vec<(&str, Vec<Option<usize>>)> {
        let mut docs: Vec<&str> = Vec::new();
        for r in &self.rankings {
            for d in &r.ids {
                if !docs.contains(&d.as_str()) {
                    docs.push(d);
                }
            }
        }
        docs.into_iter()
            .map(|d| {
                let ranks = self
                    .rankings
                    .iter()
                    .map(|r| r.ids.iter().position(|x| x == d).map(|p| p + 1))
                    .collect();
                (d, ranks)
            })
            .collect()
    }

    /// Whether every ranking came back empty.
    pub fn is_empty(&self) -> bool {
        self.rankings.iter().all(|r| r.ids.is_empty())
    }
}

/// |top-k of a ∩ top-k of b| / k.
pub fn overlap_at<T: Eq + std::hash::Hash>(a: &[T], b: &[T], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    let sa: HashSet<&T> = a.iter().take(k).collect();
    let common = b.iter().take(k).filter(|x| sa.contains(x)).count();
    common as f64 / k as f64
}

/// Extrapolated rank-biased overlap (Webber, Moffat and Zobel, 2010) of two
/// rankings cut at depth `k`, with persistence `p` (0.9: the top ~10 ranks
/// carry most of the weight). 1 for identical lists, 0 for disjoint ones.
pub fn rbo<T: Eq + std::hash::Hash>(a: &[T], b: &[T], p: f64) -> f64 {
    let k = a.len().min(b.len());
    if k == 0 {
        return if a.is_empty() && b.is_empty() {
            1.0
        } else {
            0.0
        };
    }
    let (mut seen_a, mut seen_b) = (HashSet::new(), HashSet::new());
    let (mut x, mut sum) = (0usize, 0.0);
    for d in 1..=k {
        let (ia, ib) = (&a[d - 1], &b[d - 1]);
        if ia == ib {
            x += 1;
        } else {
            x += seen_b.contains(ia) as usize + seen_a.contains(ib) as usize;
        }
        seen_a.insert(ia);
        seen_b.insert(ib);
        sum += (x as f64 / d as f64) * p.powi(d as i32);
    }
    (x as f64 / k as f64) * p.powi(k as i32) + (1.0 - p) / p * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_disjoint_and_partial() {
        let a = [1, 2, 3, 4];
        assert!((rbo(&a, &a, 0.9) - 1.0).abs() < 1e-12);
        assert_eq!(rbo(&a, &[5, 6, 7, 8], 0.9), 0.0);
        assert_eq!(overlap_at(&a, &[4, 3, 9, 9], 4), 0.5);
        // Agreement at the top weighs more: a swap at the bottom costs less.
        let top = rbo(&a, &[2, 1, 3, 4], 0.9);
        let bottom = rbo(&a, &[1, 2, 4, 3], 0.9);
        assert!(bottom > top && top < 1.0);
    }
}
