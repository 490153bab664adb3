//! The store's lexical leg: Okapi BM25 as tantivy scores a folder index,
//! in SQL over the store's term statistics (the index's own analyser,
//! written by the indexer): `w * idf * (k1 + 1) * tf /
//! (tf + k1 * (1 - b + b * |d| / avgdl))`, idf =
//! `ln(1 + (N - df + 0.5) / (df + 0.5))`, k1 1.2, b 0.75.
//!
//! Each term's df is one row of `semsearch_df` (counting a common term's
//! postings on the primary key was a fifth of a query's time at a million
//! documents); the scores are every posting of every term summed per
//! document. MaxScore was tried and not kept: with a floor the first
//! ranking proves, feedback's ten added terms fall under it, but their
//! bounds (`w * idf * (k1 + 1)` each) add up to most of it, so nearly
//! every document with a query term had to be looked up for them: 0.57
//! to 0.65 s against 0.43 s for grouping every posting (BENCHMARKS.md,
//! session 22).

use semsearch_indexer::pg::PgIndex;

use crate::error::Result;

/// Each term's document frequency, as the writer's triggers keep it.
const DF_SQL: &str =
    "SELECT coalesce((SELECT d.df FROM semsearch_df d WHERE d.term = q.term), 0)::int8
    FROM unnest($1::text[]) WITH ORDINALITY AS q(term, i) ORDER BY q.i";

/// Each term's postings counted by the primary key (term, doc), in a
/// store written before `semsearch_df`.
const COUNT_DF_SQL: &str = "SELECT (SELECT count(*) FROM semsearch_terms t WHERE t.term = q.term)
    FROM unnest($1::text[]) WITH ORDINALITY AS q(term, i) ORDER BY q.i";

/// Every posting of every term, summed per document, from the same index
/// (it includes tf and |d|: no join), `wi` being `w * idf * (k1 + 1)`;
/// `b |d|` in float8, not in `numeric` as a bare `0.75` makes it (the
/// same value, exact either way; a third of a million-posting query's
/// time). Parameters: terms, their `wi`, avgdl, limit, allowed rows (or
/// NULL).
const SCORE_SQL: &str = "WITH q AS MATERIALIZED (
        SELECT * FROM unnest($1::text[], $2::float8[]) AS q(term, wi))
    SELECT t.doc, sum(q.wi * t.tf
               / (t.tf + 1.2 * (0.25 + 0.75::float8 * t.length / $3::float8)))::real AS score
    FROM q JOIN semsearch_terms t ON t.term = q.term
    WHERE $5::bigint[] IS NULL OR t.doc = ANY($5)
    GROUP BY t.doc ORDER BY score DESC, t.doc LIMIT $4";

/// `w * idf * (k1 + 1)` for a term of weight `w` held by `df` of `docs`
/// documents.
fn weight(w: f32, df: i64, docs: f64) -> f64 {
    let df = df as f64;
    f64::from(w) * (1.0 + (docs - df + 0.5) / (df + 0.5)).ln() * 2.2
}

/// The top `n` documents for weighted `terms`, best first (equal scores
/// by row), over the allowed `rows`.
pub(super) fn rank(
    index: &PgIndex,
    terms: &[(String, f32)],
    n: usize,
    rows: Option<Vec<i64>>,
) -> Result<Vec<(usize, f32)>> {
    let names: Vec<&str> = terms.iter().map(|t| t.0.as_str()).collect();
    let sql = if index.has_df() { DF_SQL } else { COUNT_DF_SQL };
    let dfs = index.query(sql, &[&names], None)?;
    let docs = index.len() as f64;
    // Terms no document holds score nothing.
    let (names, weights): (Vec<&str>, Vec<f64>) = terms
        .iter()
        .zip(&dfs)
        .map(|((name, w), row)| (name.as_str(), row.get::<_, i64>(0), *w))
        .filter(|&(_, df, _)| df > 0)
        .map(|(name, df, w)| (name, weight(w, df, docs)))
        .unzip();
    if names.is_empty() || n == 0 {
        return Ok(Vec::new());
    }
    let avg = index.avg_length().max(1.0);
    let found = index.query(
        SCORE_SQL,
        &[&names, &weights, &avg, &(n as i64), &rows],
        None,
    )?;
    Ok(found
        .iter()
        .map(|row| (row.get::<_, i64>(0) as usize, row.get(1)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::weight;

    #[test]
    fn a_term_weighs_its_idf_times_k1_plus_one() {
        // Half the documents: ln(1 + 50.5 / 50.5) = ln 2.
        assert!((weight(1.0, 50, 100.0) - 2f64.ln() * 2.2).abs() < 1e-12);
        assert!((weight(0.5, 50, 100.0) - 2f64.ln() * 1.1).abs() < 1e-12);
        // Every document: still positive, as tantivy's.
        assert!(weight(1.0, 100, 100.0) > 0.0);
    }
}
