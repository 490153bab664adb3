//! The one ranking pipeline and the seam under it.
//!
//! A [`Backend`] offers retrieval primitives: the lexical leg over analysed,
//! weighted terms, the nearest passages, documents' texts and vectors, ids.
//! The folder index ([`Searcher`](crate::Searcher)) and the Postgres store
//! ([`PgSearcher`](crate::PgSearcher)) implement it; everything above it
//! (fusion, feedback, collapse, path filters, arithmetic, `min_score`) is
//! written once here, so both backends rank the same way.

use std::collections::HashMap;
use std::path::PathBuf;

use globset::{Glob, GlobSetBuilder};
use semsearch_indexer::{DocEntry, PassageRef};
use semsearch_models::Embedder;
use tantivy::tokenizer::TextAnalyzer;

use crate::config::{Mode, Scale, SearchConfig};
use crate::error::{Result, SearchError};
use crate::lexical::Lexical;
use crate::query::Query;
use crate::semantic::Nearest;
use crate::{fuse_legs, fusion, Hit, Ranked};

/// A document's semantic-leg entry: (doc, cosine, best passage).
pub(crate) type SemHit = (usize, f32, PassageRef);

/// Retrieval primitives of an index, wherever it is kept.
pub(crate) trait Backend: Sync {
    /// The model that embeds queries.
    fn model(&self) -> Result<&Embedder>;
    /// The index's analyser (query terms, feedback's term counts).
    fn analyzer(&self) -> TextAnalyzer;
    /// How errors name the index: its folder, or the store's URL.
    fn label(&self) -> PathBuf;
    /// Documents in the index.
    fn len(&self) -> usize;
    /// Every document as (doc, id, path), for `--path` globs.
    fn names(&self) -> Result<Vec<(usize, String, Option<String>)>>;
    /// The lexical leg for weighted terms: (doc, score), best first.
    fn lexical(
        &self,
        terms: &[(String, f32)],
        model: Lexical,
        n: usize,
        allowed: Option<&[bool]>,
    ) -> Result<Vec<(usize, f32)>>;
    /// [`Backend::lexical`] when at least `n` allowed documents are known
    /// to score `floor` or more: a backend may leave every document below
    /// it unscored. The default ranks as `lexical`.
    fn lexical_above(
        &self,
        terms: &[(String, f32)],
        model: Lexical,
        n: usize,
        allowed: Option<&[bool]>,
        _floor: f32,
    ) -> Result<Vec<(usize, f32)>> {
        self.lexical(terms, model, n, allowed)
    }
    /// The lexical scores of the documents `docs` alone, best first (those
    /// with none of the terms left out): a first ranking's candidates
    /// scored again.
    fn lexical_of(
        &self,
        terms: &[(String, f32)],
        model: Lexical,
        docs: &[usize],
    ) -> Result<Vec<(usize, f32)>>;
    /// The `n` documents whose best passage is nearest `vector`, and the
    /// passages found.
    fn nearest(
        &self,
        vector: &[f32],
        n: usize,
        exact: bool,
        allowed: Option<&[bool]>,
    ) -> Result<Nearest>;
    /// The texts of documents `docs`, in order (empty when missing).
    fn texts(&self, docs: &[usize]) -> Result<Vec<String>>;
    /// Document vectors (unit mean of their passages') of those that have.
    fn doc_vectors(&self, docs: &[usize]) -> Result<HashMap<usize, Vec<f32>>>;
    /// Passage vectors of those that exist.
    fn passage_vectors(&self, passages: &[PassageRef]) -> Result<HashMap<PassageRef, Vec<f32>>>;
    /// The ids of documents `docs`.
    fn ids(&self, docs: &[usize]) -> Result<HashMap<usize, String>>;
    /// How many passages documents `docs` have.
    fn passage_counts(&self, docs: &[usize]) -> Result<HashMap<usize, usize>>;
    /// The titles of documents `docs`.
    fn titles(&self, docs: &[usize]) -> Result<HashMap<usize, String>>;
    /// Manifest entries and texts of documents `docs` (for presenting).
    fn documents(&self, docs: &[usize]) -> Result<HashMap<usize, (DocEntry, String)>>;
    /// The lexical models this backend ranks with, in `compare`'s order
    /// (the rest are refused by name).
    fn lexical_models(&self) -> &'static [Lexical];
}

/// Which documents `globs` allow (by id or path), `None` for all.
pub(crate) fn allowed(b: &dyn Backend, globs: &[String]) -> Result<Option<Vec<bool>>> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for g in globs {
        let glob = Glob::new(g).map_err(|e| SearchError::Glob {
            glob: g.clone(),
            source: Box::new(e),
        })?;
        builder.add(glob);
    }
    let set = builder.build().map_err(|e| SearchError::Glob {
        glob: globs.join(" "),
        source: Box::new(e),
    })?;
    let names = b.names()?;
    let len = names.iter().map(|n| n.0 + 1).max().unwrap_or(0);
    let mut mask = vec![false; len];
    for (doc, id, path) in names {
        mask[doc] = set.is_match(&id) || path.as_ref().is_some_and(|p| set.is_match(p));
    }
    Ok(Some(mask))
}

/// Refuse, before any work, an empty query, a setting out of range, or a
/// lexical model this backend does not rank with (TF-IDF and LSA need a
/// folder index's whole-corpus statistics).
fn admit(b: &dyn Backend, query: &Query, cfg: &SearchConfig) -> Result<()> {
    if query.text().trim().is_empty() {
        return Err(SearchError::EmptyQuery);
    }
    cfg.validate()?;
    if cfg.mode != Mode::Semantic && !b.lexical_models().contains(&cfg.lexical) {
        return Err(SearchError::Unsupported {
            index: b.label(),
            what: format!("--lexical {}", cfg.lexical),
        });
    }
    Ok(())
}

/// Rank an analysed query: its vector (with `cfg.arithmetic` applied) and
/// its terms.
pub(crate) fn rank_query(b: &dyn Backend, query: &Query, cfg: &SearchConfig) -> Result<Ranked> {
    admit(b, query, cfg)?;
    if !cfg.arithmetic.is_empty() {
        if cfg.mode == Mode::Lexical {
            return Err(SearchError::ArithmeticWithoutVectors);
        }
        let v = crate::similar::query_vector(b.model()?, query.text(), &cfg.arithmetic)?;
        return rank_with_vector(b, query, Some(&v), cfg);
    }
    if cfg.mode != Mode::Hybrid {
        let vector = match cfg.mode {
            Mode::Lexical => None,
            _ => Some(b.model()?.embed_query(query.text())?),
        };
        return rank_with_vector(b, query, vector.as_deref(), cfg);
    }
    // Embedding a short query leaves a core idle, so the lexical leg runs
    // beside it and the semantic leg that follows it.
    let allowed = allowed(b, &cfg.paths)?;
    let n = cfg.candidates.max(cfg.k);
    let (sem, lex) = rayon::join(
        || -> Result<_> {
            let vector = b.model()?.embed_query(query.text())?;
            let sem = semantic_leg(b, Some(&vector), allowed.as_deref(), cfg)?;
            Ok((vector, sem))
        },
        || {
            b.lexical(
                &query.weighted(cfg.lexical, cfg.query_tf),
                cfg.lexical,
                n,
                allowed.as_deref(),
            )
        },
    );
    let (vector, sem) = sem?;
    let legs = Legs { sem, lex: lex? };
    rank(b, query, Some(&vector), legs, allowed.as_deref(), cfg)
}

/// A first ranking's two legs, before fusion.
struct Legs {
    sem: Nearest,
    lex: Vec<(usize, f32)>,
}

/// [`rank_query`] with the query vector given; `cfg.arithmetic` is not
/// applied.
pub(crate) fn rank_with_vector(
    b: &dyn Backend,
    query: &Query,
    vector: Option<&[f32]>,
    cfg: &SearchConfig,
) -> Result<Ranked> {
    admit(b, query, cfg)?;
    let allowed = allowed(b, &cfg.paths)?;
    let terms = query.weighted(cfg.lexical, cfg.query_tf);
    let lex = match (cfg.mode, cfg.feedback) {
        (Mode::Semantic, _) => Vec::new(),
        (Mode::Lexical, Some(fb)) => feedback_top(b, &terms, fb.docs, allowed.as_deref(), cfg)?,
        _ => {
            let n = cfg.candidates.max(cfg.k);
            b.lexical(&terms, cfg.lexical, n, allowed.as_deref())?
        }
    };
    let sem = semantic_leg(b, vector, allowed.as_deref(), cfg)?;
    rank(b, query, vector, Legs { sem, lex }, allowed.as_deref(), cfg)
}

/// The lexical first ranking that feedback reads only the top `docs` of:
/// BM25's pruning skips more the fewer it must keep (a million passages,
/// block-WAND: lexical p50 14.5 -> 11.0 ms against 100 kept). Asked again
/// for four times more while the last kept ties the `docs`-th, so that
/// tied documents are ordered by id as in the full ranking rather than
/// left to the collector's pick (ArguAna holds duplicates).
fn feedback_top(
    b: &dyn Backend,
    terms: &[(String, f32)],
    docs: usize,
    allowed: Option<&[bool]>,
    cfg: &SearchConfig,
) -> Result<Vec<(usize, f32)>> {
    let docs = docs.max(1);
    let mut n = docs + 1;
    loop {
        let lex = b.lexical(terms, cfg.lexical, n, allowed)?;
        let tied = lex.len() == n && lex[n - 1].1 == lex[docs - 1].1;
        if !tied || n >= cfg.candidates.max(cfg.k) {
            return Ok(lex);
        }
        n *= 4;
    }
}

/// The semantic leg for `vector` (none in lexical mode).
fn semantic_leg(
    b: &dyn Backend,
    vector: Option<&[f32]>,
    allowed: Option<&[bool]>,
    cfg: &SearchConfig,
) -> Result<Nearest> {
    let n = cfg.candidates.max(cfg.k);
    match (cfg.mode, vector) {
        (Mode::Lexical, _) | (_, None) => Ok(Nearest::default()),
        (_, Some(v)) => b.nearest(v, n, cfg.exact, allowed),
    }
}

/// Equal scores in the order of the documents' ids, not of their handles
/// (which follow the order documents were added), so that a fresh index
/// and an upgraded one of the same documents rank alike. RRF ties often:
/// a document at rank r of one leg alone against one at rank r of the
/// other (SciFact test, hybrid-rrf nDCG@10: 0.7162 by handle in a fresh
/// index, 0.7178 by id as format 7 ranked).
fn order_ties(b: &dyn Backend, fused: &mut [crate::fusion::Fused]) -> Result<()> {
    let tied: Vec<usize> = fused
        .windows(2)
        .filter(|w| w[0].score == w[1].score)
        .flat_map(|w| [w[0].doc, w[1].doc])
        .collect();
    if tied.is_empty() {
        return Ok(());
    }
    let ids = b.ids(&tied)?;
    fused.sort_by(|x, y| {
        let by_id = || ids.get(&x.doc).cmp(&ids.get(&y.doc));
        y.score
            .total_cmp(&x.score)
            .then_with(by_id)
            .then(x.doc.cmp(&y.doc))
    });
    Ok(())
}

/// Fusion of the first ranking's legs, then feedback (a second ranking)
/// and collapse, as `cfg` asks.
fn rank(
    b: &dyn Backend,
    query: &Query,
    vector: Option<&[f32]>,
    Legs { sem, lex }: Legs,
    allowed: Option<&[bool]>,
    cfg: &SearchConfig,
) -> Result<Ranked> {
    let (mut fused, mut best) = fuse_legs(&sem.hits, &lex, cfg);
    order_ties(b, &mut fused)?;
    let mut expansion = Vec::new();
    if let Some(fb) = cfg.feedback.filter(|_| !fused.is_empty()) {
        let top: Vec<usize> = fused.iter().take(fb.docs).map(|f| f.doc).collect();
        let moved = match (cfg.mode, vector) {
            (Mode::Lexical, _) | (_, None) => None,
            (_, Some(v)) => Some(crate::feedback::expand_vector(
                b,
                v,
                &top,
                fb.semantic_weight,
            )?),
        };
        let n = cfg.candidates.max(cfg.k);
        let lexical_docs: Vec<usize> = lex.iter().map(|l| l.0).collect();
        // The two legs' second runs are independent: one per core.
        let (sem, lex) = rayon::join(
            || match &moved {
                Some(v) => crate::feedback::rank_again(b, v, &sem.pool, &lexical_docs, n),
                None => Ok(Vec::new()),
            },
            || -> Result<_> {
                if cfg.mode == Mode::Semantic {
                    return Ok((lex, Vec::new()));
                }
                let terms = query.weighted(cfg.lexical, cfg.query_tf);
                let (terms, added) = crate::feedback::expand_terms(b, &terms, &top, &fb)?;
                // A large index's hybrid mode scores its candidates again;
                // lexical mode has only the few documents feedback read.
                let again = if cfg.mode == Mode::Hybrid && b.len() > fb.rescore_past {
                    let pool = &sem.pool;
                    crate::feedback::score_again(b, &terms, cfg.lexical, &lexical_docs, pool, n)?
                } else {
                    let floor = crate::feedback::floor(&lex, n, &fb);
                    b.lexical_above(&terms, cfg.lexical, n, allowed, floor)?
                };
                Ok((again, added))
            },
        );
        let (lex, added) = lex?;
        expansion = added;
        (fused, best) = fuse_legs(&sem?, &lex, cfg);
        order_ties(b, &mut fused)?;
    }
    let scale = Scale::of(&fused.iter().map(|f| f.score).collect::<Vec<_>>());
    let fused: Vec<fusion::Fused> = fused
        .into_iter()
        .filter(|f| cfg.min_score.is_none_or(|m| m.keeps(f.score, &scale)))
        .collect();
    let kept = if cfg.collapse {
        crate::collapse::collapse(b, fused, &best, cfg.k)?
    } else {
        fused
            .into_iter()
            .take(cfg.k)
            .map(|f| (f, Vec::new()))
            .collect()
    };
    let docs: Vec<usize> = kept.iter().map(|(f, _)| f.doc).collect();
    let ids = b.ids(&docs)?;
    let hits = kept
        .into_iter()
        .filter_map(|(f, duplicates)| {
            Some(Hit {
                rank: 0,
                doc: f.doc,
                id: ids.get(&f.doc)?.clone(),
                score: f.score,
                lexical: f.lexical,
                semantic: f.semantic,
                passage: best.get(&f.doc).copied(),
                weak: scale.is_weak(f.score, cfg.weak),
                duplicates,
            })
        })
        .enumerate()
        .map(|(i, h)| Hit { rank: i + 1, ..h })
        .collect();
    Ok(Ranked { hits, expansion })
}
