//! The store's lexical leg: Okapi BM25 as tantivy scores a folder index,
//! in SQL over the store's term statistics (the index's own analyser,
//! written by the indexer): `w * idf * (k1 + 1) * tf /
//! (tf + k1 * (1 - b + b * |d| / avgdl))`, idf =
//! `ln(1 + (N - df + 0.5) / (df + 0.5))`, k1 1.2, b 0.75.
//!
//! Summing every posting of every query term and sorting the documents is
//! what a million-document store spent its time on (one common term is
//! 300,000 postings to group). So the leg ranks as MaxScore does (Turtle
//! and Flood): a term scores at most `w * idf * (k1 + 1)`; once `n`
//! documents are known to reach a score `theta`, the weakest terms whose
//! bounds together stay under `theta` cannot lift a document without any
//! other term into the top `n`. Their postings are then looked up only
//! for the documents the other terms find, and only for those whose
//! other terms' score plus those bounds reaches `theta`. `theta` is
//! feedback's floor (crate::feedback::floor) when a first ranking proved
//! one, else the `n`-th score over the query's rarest terms alone (a part
//! of every document's full score, as every weight is positive).

use postgres::types::ToSql;
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

/// One posting's score, `wi` being `w * idf * (k1 + 1)`: `b |d|` in
/// float8, not in `numeric` as a bare `0.75` makes it (the same value,
/// exact either way; a third of a million-posting query's time).
macro_rules! posting {
    () => {
        "q.wi * t.tf / (t.tf + 1.2 * (0.25 + 0.75::float8 * t.length / $3::float8))"
    };
}

/// Every posting of every term, summed per document. Parameters: terms,
/// their `wi`, avgdl, limit, allowed rows (or NULL).
const SCORE_SQL: &str = concat!(
    "WITH q AS MATERIALIZED (SELECT * FROM unnest($1::text[], $2::float8[]) AS q(term, wi))
    SELECT t.doc, sum(",
    posting!(),
    ")::real AS score
    FROM q JOIN semsearch_terms t ON t.term = q.term
    WHERE $5::bigint[] IS NULL OR t.doc = ANY($5)
    GROUP BY t.doc ORDER BY score DESC, t.doc LIMIT $4"
);

/// MaxScore: the essential terms' postings summed per document, the
/// others' looked up by the primary key for the documents whose sum plus
/// their bound ($7) reaches `theta` ($8). Parameters as [`SCORE_SQL`]'s,
/// then each term's `essential` flag ($6).
const MAXSCORE_SQL: &str = concat!(
    "WITH q AS MATERIALIZED (
        SELECT * FROM unnest($1::text[], $2::float8[], $6::bool[]) AS q(term, wi, essential)),
    found AS MATERIALIZED (
        SELECT t.doc, sum(",
    posting!(),
    ") AS part
        FROM q JOIN semsearch_terms t ON t.term = q.term
        WHERE q.essential AND ($5::bigint[] IS NULL OR t.doc = ANY($5))
        GROUP BY t.doc)
    SELECT f.doc, (f.part + coalesce((SELECT sum(",
    posting!(),
    ") FROM q JOIN semsearch_terms t ON t.term = q.term AND t.doc = f.doc
            WHERE NOT q.essential), 0))::real AS score
    FROM found f WHERE f.part + $7::float8 >= $8::float8
    ORDER BY score DESC, f.doc LIMIT $4"
);

/// The share of a query's postings its rarest terms may hold when they
/// alone rank a first `theta`: enough documents for the `n`-th score to
/// mean something, a small part of the work.
const RARE_SHARE: i64 = 8;

/// A query term as the store scores it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Term {
    /// The analysed term.
    pub name: String,
    /// Documents that hold it.
    pub df: i64,
    /// `w * idf * (k1 + 1)`: the most one posting scores.
    pub bound: f64,
}

impl Term {
    fn new(name: &str, weight: f32, df: i64, docs: f64) -> Term {
        let df_ = df as f64;
        let idf = (1.0 + (docs - df_ + 0.5) / (df_ + 0.5)).ln() * 2.2;
        Term {
            name: name.to_string(),
            df,
            bound: f64::from(weight) * idf,
        }
    }
}

/// The top `n` documents for weighted `terms`, best first (equal scores
/// by row), over the allowed `rows`; `floor`: a score `n` of them are
/// known to reach (0 when none is known).
pub(super) fn rank(
    index: &PgIndex,
    terms: &[(String, f32)],
    n: usize,
    rows: Option<&[i64]>,
    floor: f32,
) -> Result<Vec<(usize, f32)>> {
    let names: Vec<&str> = terms.iter().map(|t| t.0.as_str()).collect();
    let sql = if index.has_df() { DF_SQL } else { COUNT_DF_SQL };
    let dfs = index.query(sql, &[&names], None)?;
    let docs = index.len() as f64;
    let terms: Vec<Term> = terms
        .iter()
        .zip(&dfs)
        .map(|((name, w), row)| Term::new(name, *w, row.get(0), docs))
        .filter(|t| t.df > 0)
        .collect();
    if terms.is_empty() || n == 0 {
        return Ok(Vec::new());
    }
    let avg = index.avg_length().max(1.0);
    let theta = match f64::from(floor) {
        f if f > 0.0 => f,
        _ => threshold(index, &terms, n, rows, avg)?,
    };
    let (names, bounds): (Vec<&str>, Vec<f64>) =
        terms.iter().map(|t| (t.name.as_str(), t.bound)).unzip();
    let (limit, rows) = (n as i64, rows.map(<[i64]>::to_vec));
    let found = match split(&terms, theta) {
        None => index.query(SCORE_SQL, &[&names, &bounds, &avg, &limit, &rows], None)?,
        Some((essential, rest)) => {
            let params: [&(dyn ToSql + Sync); 8] = [
                &names, &bounds, &avg, &limit, &rows, &essential, &rest, &theta,
            ];
            index.query(MAXSCORE_SQL, &params, None)?
        }
    };
    Ok(found
        .iter()
        .map(|row| (row.get::<_, i64>(0) as usize, row.get(1)))
        .collect())
}

/// A score `n` documents reach: the `n`-th over the rarest terms alone,
/// those holding at most `1 / RARE_SHARE` of the query's postings (0 when
/// fewer than `n` documents hold them, when they are all the terms, or
/// when a weight is not positive and a part could exceed the whole).
fn threshold(
    index: &PgIndex,
    terms: &[Term],
    n: usize,
    rows: Option<&[i64]>,
    avg: f64,
) -> Result<f64> {
    let rare = rarest(terms);
    if rare.len() == terms.len() || terms.iter().any(|t| t.bound <= 0.0) {
        return Ok(0.0);
    }
    let (names, bounds): (Vec<&str>, Vec<f64>) =
        rare.iter().map(|t| (t.name.as_str(), t.bound)).unzip();
    let (limit, rows) = (n as i64, rows.map(<[i64]>::to_vec));
    let found = index.query(SCORE_SQL, &[&names, &bounds, &avg, &limit, &rows], None)?;
    Ok(match found.get(n - 1) {
        // The part was rounded to f32: a little is given up.
        Some(row) => f64::from(row.get::<_, f32>(1)) * (1.0 - 1e-4),
        None => 0.0,
    })
}

/// The rarest terms whose postings together are at most `1 / RARE_SHARE`
/// of the query's (the rarest one at least).
fn rarest(terms: &[Term]) -> Vec<&Term> {
    let mut by_df: Vec<&Term> = terms.iter().collect();
    by_df.sort_by_key(|t| t.df);
    let budget = by_df.iter().map(|t| t.df).sum::<i64>() / RARE_SHARE;
    let mut postings = 0;
    by_df
        .into_iter()
        .enumerate()
        .take_while(|(i, t)| {
            postings += t.df;
            *i == 0 || postings <= budget
        })
        .map(|(_, t)| t)
        .collect()
}

/// MaxScore's split for a score `theta` that `n` documents reach: which
/// terms are essential, and the sum of the others' bounds (the weakest
/// terms whose bounds together stay under `theta`, which alone cannot
/// reach it). `None` when every term is essential.
fn split(terms: &[Term], theta: f64) -> Option<(Vec<bool>, f64)> {
    let mut order: Vec<usize> = (0..terms.len()).collect();
    order.sort_by(|&a, &b| terms[a].bound.total_cmp(&terms[b].bound));
    let mut essential = vec![true; terms.len()];
    let mut rest = 0.0;
    for i in order {
        let bound = terms[i].bound.max(0.0);
        // A hair over the bound, for the sums' rounding.
        if (rest + bound) * (1.0 + 1e-9) >= theta {
            break;
        }
        rest += bound;
        essential[i] = false;
    }
    let optional = essential.iter().any(|e| !e);
    let all = essential.iter().all(|e| !e);
    (optional && !all).then_some((essential, rest * (1.0 + 1e-9)))
}

#[cfg(test)]
mod tests {
    use super::{rarest, split, Term};

    fn term(name: &str, df: i64, bound: f64) -> Term {
        Term {
            name: name.into(),
            df,
            bound,
        }
    }

    #[test]
    fn terms_whose_bounds_stay_under_theta_together_are_optional() {
        let terms = [term("a", 900, 2.0), term("b", 10, 9.0), term("c", 500, 3.0)];
        // a + c = 5 < 6: both optional; b alone reaches 6.
        assert_eq!(
            split(&terms, 6.0),
            Some((vec![false, true, false], 5.0 * (1.0 + 1e-9)))
        );
        // a = 2 < 4.5, a + c = 5 is not: only a is optional.
        assert_eq!(split(&terms, 4.5).unwrap().0, [false, true, true]);
        // Nothing under 2: every term essential, the plain sum.
        assert_eq!(split(&terms, 2.0), None);
        assert_eq!(split(&terms, 0.0), None);
        // Every term under theta together cannot happen for a theta that
        // documents reach; it is not split on.
        assert_eq!(split(&terms, 100.0), None);
    }

    #[test]
    fn the_rarest_terms_hold_an_eighth_of_the_postings_at_most() {
        let terms = [
            term("common", 7000, 1.0),
            term("rare", 100, 5.0),
            term("middle", 800, 3.0),
            term("rarer", 50, 6.0),
        ];
        let names = |ts: Vec<&Term>| ts.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        // 7,950 postings: an eighth is 993, rarer + rare + middle = 950.
        assert_eq!(names(rarest(&terms)), ["rarer", "rare", "middle"]);
        // The rarest one is always taken.
        assert_eq!(names(rarest(&terms[..1])), ["common"]);
    }
}
