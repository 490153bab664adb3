//! `semsearch compare`: TF-IDF, BM25, semantic and hybrid side by side.

use std::io::Write;

use anyhow::Context;
use semsearch_searcher::compare::{overlap_at, rbo};
use semsearch_searcher::{Lexical, Mode, SearchConfig, Searcher};

use crate::cli::CompareArgs;
use crate::output::Outcome;

/// Persistence of rank-biased overlap: most weight on the top ~10 ranks.
const RBO_P: f64 = 0.9;

pub struct Comparison {
    pub query: String,
    pub k: usize,
    pub lists: Vec<(&'static str, Vec<String>)>,
}

pub fn compare(
    searcher: &Searcher,
    query: &str,
    base: &SearchConfig,
) -> anyhow::Result<Comparison> {
    let k = base.k;
    let runs = [
        ("tfidf", Mode::Lexical, Lexical::TfIdf),
        ("bm25", Mode::Lexical, Lexical::Bm25),
        ("semantic", Mode::Semantic, base.lexical),
        ("hybrid", Mode::Hybrid, base.lexical),
    ];
    let vector = searcher.embed_query(query)?;
    let lists = runs
        .iter()
        .map(|&(name, mode, lexical)| {
            let cfg = SearchConfig {
                mode,
                lexical,
                ..base.clone()
            };
            let hits = searcher.search_with_vector(query, Some(&vector), &cfg)?;
            Ok((name, hits.into_iter().map(|h| h.id).collect()))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Comparison {
        query: query.to_string(),
        k,
        lists,
    })
}

impl Comparison {
    fn pairs(&self) -> Vec<(&str, &str, f64, f64)> {
        let mut out = Vec::new();
        for (i, (a, la)) in self.lists.iter().enumerate() {
            for (b, lb) in &self.lists[i + 1..] {
                out.push((*a, *b, overlap_at(la, lb, self.k), rbo(la, lb, RBO_P)));
            }
        }
        out
    }

    /// Every document in any list, in first-seen order, with its rank in each.
    fn ranks(&self) -> Vec<(&str, Vec<Option<usize>>)> {
        let mut docs: Vec<&str> = Vec::new();
        for (_, l) in &self.lists {
            for d in l {
                if !docs.contains(&d.as_str()) {
                    docs.push(d);
                }
            }
        }
        docs.into_iter()
            .map(|d| {
                (
                    d,
                    self.lists
                        .iter()
                        .map(|(_, l)| l.iter().position(|x| x == d).map(|p| p + 1))
                        .collect(),
                )
            })
            .collect()
    }

    pub fn to_json(&self) -> serde_json::Value {
        let lists: serde_json::Map<String, serde_json::Value> = self
            .lists
            .iter()
            .map(|(n, l)| (n.to_string(), serde_json::json!(l)))
            .collect();
        let ranks: serde_json::Map<String, serde_json::Value> = self
            .ranks()
            .into_iter()
            .map(|(d, r)| {
                let per: serde_json::Map<String, serde_json::Value> = self
                    .lists
                    .iter()
                    .zip(r)
                    .map(|((n, _), r)| (n.to_string(), serde_json::json!(r)))
                    .collect();
                (d.to_string(), serde_json::Value::Object(per))
            })
            .collect();
        let overlap: Vec<serde_json::Value> = self
            .pairs()
            .into_iter()
            .map(|(a, b, o, r)| serde_json::json!({"a": a, "b": b, format!("overlap@{}", self.k): o, "rbo": r}))
            .collect();
        serde_json::json!({"query": self.query, "k": self.k, "lists": lists, "ranks": ranks, "overlap": overlap, "rbo_p": RBO_P})
    }

    pub fn print(&self, out: &mut dyn Write) -> std::io::Result<()> {
        const W: usize = 24;
        let cut = |s: &str| -> String {
            if s.chars().count() <= W {
                s.to_string()
            } else {
                format!("{}…", s.chars().take(W - 1).collect::<String>())
            }
        };
        write!(out, "{:>4}", "rank")?;
        for (n, _) in &self.lists {
            write!(out, "  {n:<W$}")?;
        }
        writeln!(out)?;
        for i in 0..self.k {
            if self.lists.iter().all(|(_, l)| i >= l.len()) {
                break;
            }
            write!(out, "{:>4}", i + 1)?;
            for (_, l) in &self.lists {
                write!(out, "  {:<W$}", l.get(i).map_or(String::new(), |d| cut(d)))?;
            }
            writeln!(out)?;
        }
        writeln!(out)?;
        write!(out, "{:<W$}", "document")?;
        for (n, _) in &self.lists {
            write!(out, " {n:>8}")?;
        }
        writeln!(out)?;
        for (d, ranks) in self.ranks() {
            write!(out, "{:<W$}", cut(d))?;
            for r in ranks {
                write!(out, " {:>8}", r.map_or("-".to_string(), |r| r.to_string()))?;
            }
            writeln!(out)?;
        }
        writeln!(out)?;
        for (a, b, o, r) in self.pairs() {
            writeln!(
                out,
                "{:<20} overlap@{} {o:.2}  rbo {r:.3}",
                format!("{a} vs {b}"),
                self.k
            )?;
        }
        Ok(())
    }
}

pub fn run(args: CompareArgs) -> anyhow::Result<Outcome> {
    let cfg = args.rank.config()?;
    let dir = super::find_index(args.index.index.as_deref())?;
    let searcher =
        Searcher::open(&dir).with_context(|| format!("cannot open index {}", dir.display()))?;
    let c = compare(&searcher, &args.query, &cfg)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", c.to_json())?;
    } else {
        c.print(&mut out)?;
    }
    Ok(if c.lists.iter().all(|(_, l)| l.is_empty()) {
        Outcome::NoResults
    } else {
        Outcome::Success
    })
}
