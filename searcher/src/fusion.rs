//! Combining the lexical and semantic rankings into one.
//!
//! RRF: `score(d) = sum over legs of 1 / (k + rank_leg(d))`, ranks from 1;
//! a document missing from a leg gets nothing from it, which is RRF's own
//! treatment of "not retrieved".
//!
//! Linear: each leg's scores are normalised over that leg's candidate list
//! (min-max to [0, 1], or z-scores), then
//! `score(d) = alpha * semantic(d) + (1 - alpha) * lexical(d)`. A document
//! missing from a leg gets that leg's lowest normalised score among its
//! candidates: it ranked below all of them, and treating it as 0 would
//! punish it more under z-scores than under min-max.

use std::collections::HashMap;

/// How the two legs are combined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion: a document scores the sum over legs of
    /// `1 / (k + rank)`.
    Rrf {
        /// The rank offset (60 in the RRF paper).
        k: f32,
    },
    /// `alpha * semantic + (1 - alpha) * lexical`, each leg's scores
    /// normalised first.
    Linear {
        /// Weight of the semantic leg.
        alpha: f32,
        /// How each leg's scores are put on one scale.
        norm: Norm,
    },
}

/// How a leg's scores are normalised before linear fusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// Scaled to [0, 1] by the leg's minimum and maximum.
    MinMax,
    /// Mean 0 and standard deviation 1 over the leg's candidates.
    ZScore,
}

impl std::fmt::Display for Norm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Norm::MinMax => "min-max",
            Norm::ZScore => "z-score",
        })
    }
}

impl std::str::FromStr for Norm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "minmax" | "min-max" => Ok(Norm::MinMax),
            "zscore" | "z-score" => Ok(Norm::ZScore),
            _ => Err(format!(
                "unknown normalisation {s:?} (expected minmax or zscore)"
            )),
        }
    }
}

/// A document's place in one leg.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LegHit {
    /// 1-based.
    pub rank: usize,
    /// The leg's raw score (BM25, TF-IDF cosine, or passage cosine).
    pub score: f32,
    /// The score after normalisation (linear fusion), or 1/(k + rank) (RRF).
    #[serde(skip)]
    pub fused_part: f32,
}

/// Normalise scores (in rank order) per `norm`.
pub fn normalise(scores: &[f32], norm: Norm) -> Vec<f32> {
    if scores.is_empty() {
        return Vec::new();
    }
    match norm {
        Norm::MinMax => {
            let (lo, hi) = scores
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &s| (l.min(s), h.max(s)));
            let span = hi - lo;
            scores
                .iter()
                .map(|&s| if span > 0.0 { (s - lo) / span } else { 1.0 })
                .collect()
        }
        Norm::ZScore => {
            let n = scores.len() as f32;
            let mean = scores.iter().sum::<f32>() / n;
            let sd = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f32>() / n).sqrt();
            scores
                .iter()
                .map(|&s| if sd > 0.0 { (s - mean) / sd } else { 0.0 })
                .collect()
        }
    }
}

/// One fused document: its combined score and its place in each leg.
#[derive(Debug, Clone)]
pub struct Fused {
    /// Index into the index's documents.
    pub doc: usize,
    /// The fused score.
    pub score: f32,
    /// The lexical leg's rank and score, if it found the document.
    pub lexical: Option<LegHit>,
    /// The semantic leg's rank and score, if it found the document.
    pub semantic: Option<LegHit>,
}

/// Fuse two ranked lists of (doc, score), best first.
pub fn fuse(lexical: &[(usize, f32)], semantic: &[(usize, f32)], fusion: Fusion) -> Vec<Fused> {
    let part = |list: &[(usize, f32)]| -> (HashMap<usize, LegHit>, f32) {
        let parts: Vec<f32> = match fusion {
            Fusion::Rrf { k } => (1..=list.len()).map(|r| 1.0 / (k + r as f32)).collect(),
            Fusion::Linear { norm, .. } => {
                normalise(&list.iter().map(|x| x.1).collect::<Vec<_>>(), norm)
            }
        };
        let floor = match fusion {
            Fusion::Linear { .. } if !parts.is_empty() => {
                parts.iter().cloned().fold(f32::MAX, f32::min)
            }
            _ => 0.0,
        };
        let hits = list
            .iter()
            .zip(parts)
            .enumerate()
            .map(|(i, (&(doc, score), p))| {
                (
                    doc,
                    LegHit {
                        rank: i + 1,
                        score,
                        fused_part: p,
                    },
                )
            })
            .collect();
        (hits, floor)
    };
    let (lex, lex_floor) = part(lexical);
    let (sem, sem_floor) = part(semantic);
    let mut docs: Vec<usize> = lexical.iter().chain(semantic).map(|x| x.0).collect();
    docs.sort_unstable();
    docs.dedup();
    let mut out: Vec<Fused> = docs
        .into_iter()
        .map(|doc| {
            let (l, s) = (lex.get(&doc).copied(), sem.get(&doc).copied());
            let lp = l.map_or(lex_floor, |h| h.fused_part);
            let sp = s.map_or(sem_floor, |h| h.fused_part);
            let score = match fusion {
                Fusion::Rrf { .. } => lp + sp,
                Fusion::Linear { alpha, .. } => alpha * sp + (1.0 - alpha) * lp,
            };
            Fused {
                doc,
                score,
                lexical: l,
                semantic: s,
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_by_hand() {
        let lex = [(1, 9.0), (2, 5.0)];
        let sem = [(2, 0.9), (3, 0.8)];
        let f = fuse(&lex, &sem, Fusion::Rrf { k: 60.0 });
        // doc 2: 1/62 + 1/61; doc 1: 1/61; doc 3: 1/62.
        assert_eq!(f.iter().map(|x| x.doc).collect::<Vec<_>>(), vec![2, 1, 3]);
        assert!((f[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-7);
        assert_eq!(f[1].semantic, None);
    }

    #[test]
    fn linear_minmax_by_hand_and_missing_gets_leg_minimum() {
        let lex = [(1, 10.0), (2, 6.0), (4, 2.0)];
        let sem = [(2, 0.9), (3, 0.5)];
        let f = fuse(
            &lex,
            &sem,
            Fusion::Linear {
                alpha: 0.5,
                norm: Norm::MinMax,
            },
        );
        let score = |d| f.iter().find(|x| x.doc == d).unwrap().score;
        assert!((score(2) - (0.5 * 1.0 + 0.5 * 0.5)).abs() < 1e-6);
        assert!((score(1) - (0.5 * 0.0 + 0.5 * 1.0)).abs() < 1e-6);
        assert!((score(3) - 0.0).abs() < 1e-6);
        assert_eq!(f[0].doc, 2);
    }

    #[test]
    fn zscore_has_zero_mean_unit_variance() {
        let z = normalise(&[1.0, 2.0, 3.0, 4.0], Norm::ZScore);
        assert!(z.iter().sum::<f32>().abs() < 1e-6);
        assert!((z.iter().map(|x| x * x).sum::<f32>() / 4.0 - 1.0).abs() < 1e-5);
    }
}
