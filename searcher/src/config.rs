//! What shapes one search, and its defaults: the one place they are
//! written. The CLI's flags, the prompt's `:commands`, `eval` and the
//! server's parameters all start from [`SearchConfig::default`].

use crate::error::SearchError;
use crate::feedback::Feedback;
use crate::fusion::{Fusion, Norm};
use crate::lexical::Lexical;
use crate::similar::Arithmetic;

/// Which ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// BM25 or TF-IDF over whole documents.
    Lexical,
    /// Cosine similarity of passage embeddings, best passage per document.
    Semantic,
    /// Both, fused (the default).
    Hybrid,
}

impl Mode {
    /// `lexical`, `semantic` or `hybrid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Lexical => "lexical",
            Mode::Semantic => "semantic",
            Mode::Hybrid => "hybrid",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lexical" => Ok(Mode::Lexical),
            "semantic" => Ok(Mode::Semantic),
            "hybrid" => Ok(Mode::Hybrid),
            _ => Err(format!(
                "unknown mode {s:?} (expected lexical, semantic or hybrid)"
            )),
        }
    }
}

impl std::fmt::Display for Lexical {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lexical::Bm25 => "bm25",
            Lexical::TfIdf => "tfidf",
            Lexical::Lsa => "lsa",
        })
    }
}

impl std::str::FromStr for Lexical {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bm25" => Ok(Lexical::Bm25),
            "tfidf" => Ok(Lexical::TfIdf),
            "lsa" => Ok(Lexical::Lsa),
            _ => Err(format!(
                "unknown lexical model {s:?} (expected bm25, tfidf or lsa)"
            )),
        }
    }
}

/// Everything that shapes one search; shared by every face and by the
/// evaluation harness.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// Lexical, semantic or hybrid.
    pub mode: Mode,
    /// BM25, TF-IDF or LSA for the lexical leg.
    pub lexical: Lexical,
    /// How the legs are combined in hybrid mode.
    pub fusion: Fusion,
    /// Results wanted.
    pub k: usize,
    /// Documents each leg contributes before fusion.
    pub candidates: usize,
    /// Brute-force vector scan instead of HNSW.
    pub exact: bool,
    /// Only documents whose id or path matches one of these globs.
    pub paths: Vec<String>,
    /// Drop results scoring below this (a score, or a share of the best).
    pub min_score: Option<MinScore>,
    /// A result under this share of the way from the candidates' mean score
    /// to the best is marked weak ([`Scale::is_weak`]).
    pub weak: f32,
    /// Texts added to and subtracted from the query's vector.
    pub arithmetic: Arithmetic,
    /// Weigh each BM25 query term by its count in the query (TF-IDF
    /// always does, as 1 + ln count).
    pub query_tf: bool,
    /// Pseudo-relevance feedback: a second ranking with the query moved
    /// toward the first ranking's top documents; `None` for one ranking.
    pub feedback: Option<Feedback>,
    /// Fold near-duplicate results under the better-ranked one.
    pub collapse: bool,
}

impl SearchConfig {
    /// Most results one search returns, on every face (CLI, HTTP, MCP,
    /// prompt): enough to page through, bounded so that one request cannot
    /// ask for the whole corpus with snippets.
    pub const MAX_K: usize = 1000;
    /// Most documents a leg contributes: pgvector's HNSW returns at most
    /// 1,000 rows (`hnsw.ef_search`'s cap), and a leg's cost grows with it.
    pub const MAX_CANDIDATES: usize = 1000;

    /// Every setting within its range, or the first that is not, named
    /// with its value and what it takes. The pipeline checks this before
    /// it ranks; the faces call it to refuse a request before any work.
    pub fn validate(&self) -> Result<(), SearchError> {
        let bad = |setting, value: String, expected: String| {
            Err(SearchError::Setting {
                setting,
                value,
                expected,
            })
        };
        if !(1..=Self::MAX_K).contains(&self.k) {
            return bad("k", self.k.to_string(), format!("1 to {}", Self::MAX_K));
        }
        if !(1..=Self::MAX_CANDIDATES).contains(&self.candidates) {
            let expected = format!("1 to {}", Self::MAX_CANDIDATES);
            return bad("candidates", self.candidates.to_string(), expected);
        }
        match self.fusion {
            Fusion::Linear { alpha, .. } if !(0.0..=1.0).contains(&alpha) => {
                bad("alpha", alpha.to_string(), "a number from 0 to 1".into())
            }
            Fusion::Rrf { k } if k.is_nan() || k < 0.0 => {
                bad("rrf_k", k.to_string(), "a number of 0 or more".into())
            }
            _ if self.min_score.is_some_and(|m| !m.is_valid()) => bad(
                "min_score",
                self.min_score.map(|m| m.to_string()).unwrap_or_default(),
                "a number, or a share of the best score from 0% to 100%".into(),
            ),
            _ if !(0.0..=1.0).contains(&self.weak) => {
                bad("weak", self.weak.to_string(), "a share from 0 to 1".into())
            }
            _ => Ok(()),
        }
    }

    /// Weak below a fifth of the way from the candidates' mean score to
    /// the best. On the train splits (`semsearch eval --json --weak`,
    /// hybrid, top 10): SciFact marks 29% weak, of which 0.6% relevant
    /// against 13.4% of the others; NFCorpus 19%, 6.5% against 32.6%.
    /// At 0.3 and 0.4 more relevant results were marked (EVALUATION.md).
    pub const DEFAULT_WEAK: f32 = 0.2;

    /// The RRF paper's rank offset (Cormack et al., 2009), also the usual
    /// default of the engines that offer RRF.
    pub const DEFAULT_RRF_K: f32 = 60.0;
    /// Semantic weight of linear fusion: the best on both training splits
    /// (`semsearch eval --sweep`: SciFact 0.7454, NFCorpus 0.3666 nDCG@10;
    /// min-max at 0.5 within 0.0007); see EVALUATION.md.
    pub const DEFAULT_ALPHA: f32 = 0.5;
    /// Normalisation of linear fusion: z-scores, whose curve around the
    /// best alpha is flatter than min-max's on SciFact's train split
    /// (EVALUATION.md).
    pub const DEFAULT_NORM: Norm = Norm::ZScore;
}

impl Fusion {
    /// Reciprocal rank fusion with [`SearchConfig::DEFAULT_RRF_K`].
    pub fn default_rrf() -> Fusion {
        Fusion::Rrf {
            k: SearchConfig::DEFAULT_RRF_K,
        }
    }

    /// Linear fusion with the default weight and normalisation.
    pub fn default_linear() -> Fusion {
        Fusion::Linear {
            alpha: SearchConfig::DEFAULT_ALPHA,
            norm: SearchConfig::DEFAULT_NORM,
        }
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            mode: Mode::Hybrid,
            lexical: Lexical::Bm25,
            fusion: Fusion::default_linear(),
            k: 10,
            // Each leg's top 100: the depth `eval` reports recall at.
            candidates: 100,
            exact: false,
            paths: Vec::new(),
            min_score: None,
            weak: SearchConfig::DEFAULT_WEAK,
            arithmetic: Arithmetic::default(),
            // Off: counting query terms lowered both training splits (BM25
            // SciFact 0.7085 -> 0.7018, NFCorpus 0.3319 -> 0.3314; hybrid
            // 0.7454 -> 0.7416, NFCorpus equal); EVALUATION.md.
            query_tf: false,
            // On: one document's feedback moved SciFact train from 0.7396
            // to 0.7455 nDCG@10 (hybrid) and 0.6995 to 0.7085 (BM25);
            // more documents or heavier weights lowered it (EVALUATION.md).
            feedback: Some(Feedback::default()),
            // On: it never lowered nDCG@10 on the shared sets and real
            // folders repeat text (EVALUATION.md).
            collapse: true,
        }
    }
}

/// `--min-score`: a score, or (`50%`) a share of the way from the
/// candidates' mean score to the best ([`Scale`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinScore {
    /// Drop results scoring below this.
    Absolute(f32),
    /// Drop results under this share (0 to 1) of the way from the
    /// candidates' mean score to the best ([`Scale::is_weak`]).
    Relative(f32),
}

impl MinScore {
    fn is_valid(self) -> bool {
        match self {
            MinScore::Absolute(s) => !s.is_nan(),
            MinScore::Relative(s) => (0.0..=1.0).contains(&s),
        }
    }

    /// Whether a result scoring `score` stays in a ranking of `scale`.
    pub fn keeps(self, score: f32, scale: &Scale) -> bool {
        match self {
            MinScore::Absolute(m) => score >= m,
            MinScore::Relative(share) => !scale.is_weak(score, share),
        }
    }
}

impl std::fmt::Display for MinScore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MinScore::Absolute(s) => write!(f, "{s}"),
            MinScore::Relative(s) => write!(f, "{}%", s * 100.0),
        }
    }
}

impl std::str::FromStr for MinScore {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let number = |t: &str| {
            t.trim()
                .parse::<f32>()
                .ok()
                .filter(|v| !v.is_nan())
                .ok_or_else(|| format!("{s:?} is not a score (0.3) or a share of the best (50%)"))
        };
        match s.trim().strip_suffix('%') {
            Some(share) => Ok(MinScore::Relative(number(share)? / 100.0)),
            None => Ok(MinScore::Absolute(number(s)?)),
        }
    }
}

/// Where the scores of one ranking stand: its best, and the mean of every
/// candidate it ranked (both legs' candidates, fused). A score's place
/// between them is scale-free, so one rule serves BM25, cosines, RRF and
/// fused z-scores alike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// The best score.
    pub best: f32,
    /// The candidates' mean score.
    pub mean: f32,
}

impl Scale {
    /// The scale of a ranking's scores.
    pub fn of(scores: &[f32]) -> Scale {
        let best = scores.iter().copied().fold(f32::MIN, f32::max);
        let mean = scores.iter().sum::<f32>() / scores.len().max(1) as f32;
        Scale { best, mean }
    }

    /// 1 for the best, 0 at the candidates' mean, below 0 under it.
    pub fn relative(&self, score: f32) -> f32 {
        let span = self.best - self.mean;
        if span > 0.0 {
            (score - self.mean) / span
        } else {
            1.0
        }
    }

    /// Whether `score` is a weak match: under `share` of the way from the
    /// candidates' mean to the best.
    pub fn is_weak(&self, score: f32, share: f32) -> bool {
        self.relative(score) < share
    }
}
