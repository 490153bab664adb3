//! Pseudo-relevance feedback: the first ranking's best documents are taken
//! as relevant and move the query toward them before a second ranking.
//!
//! - Lexical leg, RM3 (Lavrenko and Croft's relevance model, mixed with the
//!   query as in Anserini): `P(w|R) = sum over the top documents d of
//!   P(w|d) / m`, with `P(w|d)` the term's share of d's analysed tokens;
//!   the `terms` most likely are added, and every term's weight becomes
//!   `(1 - lambda) * w(t) + lambda * S * P(t|R)`, S the sum of the
//!   query's own weights (so a query without feedback scores as before).
//! - Semantic leg, Rocchio: `q' = normalize(q + beta * m)`, m the unit
//!   mean of the top documents' vectors (each the unit mean of its
//!   passages', as the index computes them).
//!
//! In hybrid mode the top documents are the fused ranking's, for both legs,
//! and the second semantic ranking scores the first's candidates again
//! ([`rank_again`]); past [`RESCORE_PAST`] documents the lexical one does
//! too ([`score_again`]) rather than ranking the whole index anew.

use std::collections::HashMap;

use semsearch_indexer::vectors::{dot, mean};
use semsearch_indexer::PassageRef;

use crate::backend::{Backend, SemHit};
use crate::error::Result;
use crate::lexical::Lexical;

/// How feedback expands a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feedback {
    /// Top documents of the first ranking taken as relevant.
    pub docs: usize,
    /// Terms added to the lexical query.
    pub terms: usize,
    /// RM3's lambda: the expansion's share of the lexical query.
    pub lexical_weight: f32,
    /// Rocchio's beta: the weight of the top documents' mean vector
    /// (the query's own weight is 1).
    pub semantic_weight: f32,
    /// Documents past which hybrid mode's second lexical ranking scores
    /// the first ranking's candidates instead of the whole index
    /// ([`RESCORE_PAST`]).
    pub rescore_past: usize,
}

impl Default for Feedback {
    /// The best on SciFact's train split (EVALUATION.md); the whole index
    /// ranked again up to [`RESCORE_PAST`] documents.
    fn default() -> Self {
        Feedback {
            docs: 1,
            terms: 10,
            lexical_weight: 0.2,
            semantic_weight: 0.2,
            rescore_past: RESCORE_PAST,
        }
    }
}

/// Weighted lexical terms.
type Terms = Vec<(String, f32)>;

/// Bytes of a document's text read for its term distribution: enough for
/// an article, and a bound on the cost of a book-sized hit.
const TEXT_LIMIT: usize = 64 * 1024;

/// The query's lexical terms after RM3 with the documents `top`, and the
/// terms feedback added (with their weights), best first.
pub(crate) fn expand_terms(
    b: &dyn Backend,
    terms: &[(String, f32)],
    top: &[usize],
    fb: &Feedback,
) -> Result<(Terms, Terms)> {
    let mut relevance: HashMap<String, f32> = HashMap::new();
    let mut analyzer = b.analyzer();
    for text in b.texts(top)? {
        let text = &text[..floor_char_boundary(&text, TEXT_LIMIT)];
        let mut counts: HashMap<String, u32> = HashMap::new();
        let mut total = 0u32;
        let mut stream = analyzer.token_stream(text);
        while let Some(tok) = stream.next() {
            // Numbers and single letters say little about a topic.
            if tok.text.len() > 1 && !tok.text.bytes().all(|b| b.is_ascii_digit()) {
                *counts.entry(tok.text.clone()).or_default() += 1;
                total += 1;
            }
        }
        for (t, c) in counts {
            *relevance.entry(t).or_default() += c as f32 / total as f32 / top.len() as f32;
        }
    }
    let mut best: Vec<(String, f32)> = relevance.into_iter().collect();
    best.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    best.truncate(fb.terms);
    let mass: f32 = best.iter().map(|b| b.1).sum();
    let own: f32 = terms.iter().map(|t| t.1).sum();
    let lambda = fb.lexical_weight;
    let mut out: Vec<(String, f32)> = terms
        .iter()
        .map(|(t, w)| (t.clone(), (1.0 - lambda) * w))
        .collect();
    let mut added = Vec::new();
    for (t, p) in best {
        let w = lambda * own * p / mass.max(f32::MIN_POSITIVE);
        match out.iter_mut().find(|(o, _)| *o == t) {
            Some((_, ow)) => *ow += w,
            None => out.push((t.clone(), w)),
        }
        added.push((t, w));
    }
    Ok((out, added))
}

/// A score at least `n` documents reach in the second lexical ranking, from
/// the first's (`first`, best first; 0 when it kept fewer than `n`). RM3
/// keeps every query term at `1 - lambda` of its weight or more and adds
/// only positive ones, and a BM25 term's score is its weight times a
/// positive part, so each of the first's documents scores at least
/// `1 - lambda` of what it did; `1e-4` of that is given up to rounding.
pub(crate) fn floor(first: &[(usize, f32)], n: usize, fb: &Feedback) -> f32 {
    match first.get(n.max(1) - 1) {
        Some(&(_, nth)) if first.len() >= n => {
            (1.0 - fb.lexical_weight).max(0.0) * nth * (1.0 - 1e-4)
        }
        _ => 0.0,
    }
}

/// Rocchio: the query vector moved toward the documents `top`.
pub(crate) fn expand_vector(
    b: &dyn Backend,
    query: &[f32],
    top: &[usize],
    beta: f32,
) -> Result<Vec<f32>> {
    let found = b.doc_vectors(top)?;
    let vectors: Vec<&Vec<f32>> = top.iter().filter_map(|d| found.get(d)).collect();
    if vectors.is_empty() {
        return Ok(query.to_vec());
    }
    let centre = mean(vectors.iter().map(|v| v.as_slice()), query.len());
    let mut v: Vec<f32> = query
        .iter()
        .zip(&centre)
        .map(|(q, c)| q + beta * c)
        .collect();
    let norm = dot(&v, &v).sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    Ok(v)
}

/// Passages of each lexical candidate ranked again: a bound on what a
/// long document costs (each is a vector fetched).
const LEXICAL_PASSAGES: usize = 8;

/// Feedback's second semantic ranking: the passages the first search
/// found (`pool`, its nearest `3n` or more, HNSW or `--exact`) and the
/// first passages of the lexical candidates `docs`, ranked again by their
/// cosine to the moved query `vector` and rolled up to the best `n`
/// documents. The moved query stays near the first (Rocchio's beta is
/// small), so its nearest passages are among the first's; the lexical
/// candidates' are added so that fusion sees their cosine (NFCorpus train,
/// hybrid-rrf nDCG@10: 0.3552 without, 0.3556 with, 0.3561 searching
/// again). Searching the graph again cost as much as the first search (a
/// million passages: semantic p50 8.5 -> 15.8 ms; ranking again 10.3).
pub(crate) fn rank_again(
    b: &dyn Backend,
    vector: &[f32],
    pool: &[PassageRef],
    docs: &[usize],
    n: usize,
) -> Result<Vec<SemHit>> {
    let counts = b.passage_counts(docs)?;
    let mut pool = pool.to_vec();
    for &d in docs {
        let count = counts.get(&d).copied().unwrap_or(0).min(LEXICAL_PASSAGES);
        pool.extend((0..count).map(|ordinal| PassageRef { doc: d, ordinal }));
    }
    let mut seen = std::collections::HashSet::new();
    pool.retain(|p| seen.insert(*p));
    let vectors = b.passage_vectors(&pool)?;
    let scored = pool.iter().filter_map(|p| {
        let v = vectors.get(p)?;
        let norm = dot(v, v).sqrt();
        (norm > 0.0).then(|| (dot(v, vector) / norm, *p))
    });
    let mut hits = crate::semantic::by_document(scored);
    hits.truncate(n);
    Ok(hits)
}

/// Documents past which hybrid feedback's second lexical ranking scores
/// the first ranking's candidates again (`score_again`) instead of
/// ranking the whole index. The whole index costs with its size: at a
/// million passages 3-5 ms of a 13-17 ms hybrid query, the candidates
/// under 0.5 (hybrid p50 13.5-16.7 -> 9.2-10.4 ms); at 100,000 under a
/// millisecond. What it finds beyond the candidates still counts a little
/// in the top ten (nDCG@10 of hybrid-linear, candidates against the
/// whole index: train NFCorpus 0.3666 / 0.3668, SciFact 0.7447 / 0.7444;
/// test ArguAna 0.5517 / 0.5524, NFCorpus 0.3680 / 0.3683; hybrid-rrf
/// NFCorpus test 0.3555 / 0.3581), so indexes of this size and under keep
/// the whole (BENCHMARKS.md, session 28).
pub const RESCORE_PAST: usize = 250_000;

/// Feedback's second lexical ranking in a large index's hybrid mode: the
/// first ranking's candidates, the lexical leg's documents `docs` and
/// those of the passages the semantic leg found (`pool`), scored with the
/// expanded `terms`, the best `n`; what [`rank_again`] is to the semantic
/// leg. (The semantic leg's 100 documents alone instead of its pool's:
/// NFCorpus train 0.3662; the lexical leg's 300 instead of 100: no
/// better.)
pub(crate) fn score_again(
    b: &dyn Backend,
    terms: &[(String, f32)],
    model: Lexical,
    docs: &[usize],
    pool: &[PassageRef],
    n: usize,
) -> Result<Vec<(usize, f32)>> {
    let mut candidates = docs.to_vec();
    candidates.extend(pool.iter().map(|p| p.doc));
    let mut scored = b.lexical_of(terms, model, &candidates)?;
    scored.truncate(n);
    Ok(scored)
}

/// The largest char boundary of `s` at or below `i`.
fn floor_char_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    (0..=i).rev().find(|&j| s.is_char_boundary(j)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::{expand_terms, floor, Feedback};
    use crate::backend::Backend;
    use crate::{Lexical, Query, SearchConfig, Searcher};
    use semsearch_indexer::{update, UpdateOptions};
    use semsearch_models::testing::{write_tiny_bert, TinyBert};
    use semsearch_models::{Embedder, ModelSpec};

    /// 300 notes drawn from 30 words (many equal scores), indexed with the
    /// tiny model.
    fn notes(root: &std::path::Path) -> Searcher {
        let model = root.join("model");
        write_tiny_bert(&model, &TinyBert::default()).unwrap();
        let docs = root.join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        let mut seed = 11u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) % n
        };
        for d in 0..300 {
            let words: Vec<String> = (0..2 + next(14))
                .map(|_| format!("w{}", next(30)))
                .collect();
            std::fs::write(docs.join(format!("{d}.txt")), words.join(" ")).unwrap();
        }
        let embedder = Embedder::load(&ModelSpec::Local(model)).unwrap();
        let index = docs.join(".semsearch");
        update(
            &embedder,
            &UpdateOptions::new(index.clone(), vec![docs]),
            &mut |_| {},
        )
        .unwrap();
        Searcher::open(&index).unwrap()
    }

    /// The second ranking started from the first's floor: no document of
    /// the full ranking is lost, and the n-th scores the floor or more.
    #[test]
    fn the_second_ranking_from_the_first_rankings_floor_loses_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let s = notes(tmp.path());
        let b: &dyn Backend = &s;
        let every_other: Vec<bool> = (0..s.index().slots()).map(|d| d % 2 == 0).collect();
        let mut floored = 0;
        for q in 0..30 {
            let terms: Vec<(String, f32)> = (0..1 + q % 4)
                .map(|i| (format!("w{}", (q * 7 + i * 11) % 30), 1.0 + i as f32 / 3.0))
                .collect();
            for (n, allowed) in [(10, None), (40, None), (10, Some(&every_other[..]))] {
                for fb in [
                    Feedback::default(),
                    Feedback {
                        docs: 3,
                        terms: 20,
                        lexical_weight: 0.6,
                        ..Feedback::default()
                    },
                ] {
                    let first = b.lexical(&terms, Lexical::Bm25, n, allowed).unwrap();
                    let top: Vec<usize> = first.iter().take(fb.docs).map(|f| f.0).collect();
                    let (expanded, _) = expand_terms(b, &terms, &top, &fb).unwrap();
                    let bound = floor(&first, n, &fb);
                    let full = b.lexical(&expanded, Lexical::Bm25, n, allowed).unwrap();
                    let above = b
                        .lexical_above(&expanded, Lexical::Bm25, n, allowed, bound)
                        .unwrap();
                    // The same documents; a score's last bit follows the
                    // order pruning summed its terms in.
                    let docs = |r: &[(usize, f32)]| r.iter().map(|h| h.0).collect::<Vec<_>>();
                    assert_eq!(docs(&above), docs(&full), "{terms:?} n {n} {fb:?}");
                    for (a, f) in above.iter().zip(&full) {
                        assert!((a.1 - f.1).abs() <= 1e-5 * f.1, "{above:?} {full:?}");
                    }
                    if bound > 0.0 {
                        floored += 1;
                        assert!(
                            full[n - 1].1 >= bound,
                            "{terms:?}: {} < {bound}",
                            full[n - 1].1
                        );
                    }
                }
            }
        }
        assert!(floored > 50, "only {floored} rankings had a floor");
    }

    /// Hybrid feedback scores the first ranking's candidates again: each
    /// scores what the full ranking gives it, in the full ranking's order,
    /// and a candidate without the terms is left out.
    #[test]
    fn candidates_scored_alone_score_as_in_the_full_ranking() {
        let tmp = tempfile::tempdir().unwrap();
        let s = notes(tmp.path());
        let b: &dyn Backend = &s;
        let slots = s.index().slots();
        let mut left_out = 0;
        for q in 0..30 {
            let terms: Vec<(String, f32)> = (0..1 + q % 5)
                .map(|i| (format!("w{}", (q * 7 + i * 11) % 30), 0.3 + i as f32 / 2.0))
                .collect();
            let full = b.lexical(&terms, Lexical::Bm25, slots, None).unwrap();
            // Every third document, and one twice.
            let mut candidates: Vec<usize> = (q % 3..slots).step_by(3).collect();
            candidates.push(candidates[0]);
            let alone = b.lexical_of(&terms, Lexical::Bm25, &candidates).unwrap();
            let expected: Vec<(usize, f32)> = full
                .iter()
                .filter(|h| candidates.contains(&h.0))
                .copied()
                .collect();
            let docs = |r: &[(usize, f32)]| r.iter().map(|h| h.0).collect::<Vec<_>>();
            assert_eq!(docs(&alone), docs(&expected), "{terms:?}");
            for (a, e) in alone.iter().zip(&expected) {
                assert!((a.1 - e.1).abs() <= 1e-5 * e.1, "{alone:?} {expected:?}");
            }
            left_out += candidates.len() - 1 - alone.len();
        }
        assert!(left_out > 0, "every candidate held a query term");
    }

    /// Past `rescore_past` documents, hybrid feedback ranks only the first
    /// ranking's candidates: the lexical leg's documents and those of the
    /// semantic leg's passages. Below it, the whole index (which finds
    /// documents outside them, or the check would prove nothing).
    #[test]
    fn rescoring_keeps_to_the_first_rankings_candidates() {
        let tmp = tempfile::tempdir().unwrap();
        let s = notes(tmp.path());
        let b: &dyn Backend = &s;
        let rescored = SearchConfig {
            k: 3,
            candidates: 3,
            collapse: false,
            feedback: Some(Feedback {
                rescore_past: 0,
                ..Feedback::default()
            }),
            ..SearchConfig::default()
        };
        let whole = SearchConfig {
            feedback: Some(Feedback::default()),
            ..rescored.clone()
        };
        let mut outside = 0;
        for q in 0..30 {
            let text = format!("w{} w{}", q % 30, (q * 7 + 3) % 30);
            let query = Query::analysed(&mut b.analyzer(), &text);
            let terms = query.weighted(Lexical::Bm25, false);
            let lexical = b.lexical(&terms, Lexical::Bm25, 3, None).unwrap();
            let vector = s.embed_query(&text).unwrap();
            let pool = b.nearest(&vector, 3, false, None).unwrap().pool;
            let candidate =
                |d: usize| lexical.iter().any(|l| l.0 == d) || pool.iter().any(|p| p.doc == d);
            for hit in s.search(&text, &rescored).unwrap() {
                assert!(candidate(hit.doc), "{text}: {} is no candidate", hit.id);
            }
            let hits = s.search(&text, &whole).unwrap();
            outside += hits.iter().filter(|h| !candidate(h.doc)).count();
        }
        assert!(outside > 0, "the whole index found only candidates");
    }
}
