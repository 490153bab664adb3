//! The one printer of results: human text (with colour), JSON Lines and
//! the `--explain` breakdown, for `search`, `similar`, `compare` and the
//! prompt (and the JSON objects the server answers with). It only words
//! what the searcher computed; no ranking or snippet logic lives here.

use std::io::{IsTerminal, Write};
use std::path::Path;

use semsearch_indexer::extract::Unit;
use semsearch_searcher::{Comparison, Duplicate, Explain, LegHit, Mode, Place, SearchResult};
use serde::Serialize;

use crate::cli::ColorArg;

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// JSON Lines instead of text.
    pub json: bool,
    /// ANSI colour in text output.
    pub color: bool,
    /// Show each score's breakdown.
    pub explain: bool,
}

/// Whether `arg` asks for colour on this stdout.
pub fn use_color(arg: ColorArg) -> bool {
    match arg {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// The `--json` object of one result (documented in README.md).
#[derive(Serialize)]
pub struct JsonResult<'a> {
    rank: usize,
    id: &'a str,
    path: Option<String>,
    line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slide: Option<usize>,
    title: &'a str,
    score: f32,
    /// Far below the best result ([`semsearch_searcher::Scale::is_weak`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    weak: bool,
    lexical: Option<LegHit>,
    semantic: Option<LegHit>,
    snippet: &'a str,
    /// Byte ranges of the query's terms in `snippet`.
    highlights: &'a [(usize, usize)],
    passage: semsearch_searcher::Span,
    /// Near-duplicates folded under this result.
    duplicates: &'a [Duplicate],
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<JsonExplain<'a>>,
}

/// `--explain` in JSON: the formula, each leg's part, and the sentence the
/// text output prints.
#[derive(Serialize)]
pub struct JsonExplain<'a> {
    #[serde(flatten)]
    formula: Explain,
    lexical_part: Option<f32>,
    semantic_part: Option<f32>,
    /// Terms feedback added to the query, `[term, weight]`.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    expansion: &'a [(String, f32)],
    text: String,
}

impl<'a> JsonResult<'a> {
    /// The JSON object of `r`, with its explanation if `explain`.
    pub fn new(r: &'a SearchResult, explain: bool) -> Self {
        let numbered = |unit| r.place.filter(|p| p.unit == unit).map(|p| p.number);
        JsonResult {
            rank: r.hit.rank,
            id: &r.hit.id,
            path: r.path.as_deref().map(display_path),
            line: r.line,
            page: numbered(Unit::Page),
            slide: numbered(Unit::Slide),
            title: &r.title,
            score: r.hit.score,
            weak: r.hit.weak,
            lexical: r.hit.lexical,
            semantic: r.hit.semantic,
            snippet: &r.snippet.text,
            highlights: &r.snippet.highlights,
            passage: r.span,
            duplicates: &r.hit.duplicates,
            explain: r.explain.filter(|_| explain).map(|formula| JsonExplain {
                formula,
                expansion: &r.expansion,
                lexical_part: r.hit.lexical.map(|l| l.fused_part),
                semantic_part: r.hit.semantic.map(|l| l.fused_part),
                text: explain_line(r).unwrap_or_default(),
            }),
        }
    }
}

/// A path as the user would type it: relative to the current folder when
/// under it.
pub fn display_path(p: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    semsearch_indexer::pathname::display(p.strip_prefix(&cwd).unwrap_or(p))
}

/// Where a passage is, after the path: `p12` (page), `slide3`, else the
/// line number.
pub fn place(line: usize, place: Option<Place>) -> String {
    match place {
        Some(Place {
            unit: Unit::Page,
            number,
        }) => format!("p{number}"),
        Some(Place {
            unit: Unit::Slide,
            number,
        }) => format!("slide{number}"),
        None => line.to_string(),
    }
}

/// `page 3`, `slide 2` or `line 14`: where `:open` says a passage is.
pub fn place_words(r: &SearchResult) -> String {
    match r.place {
        Some(p) => format!("{} {}", p.unit.as_str(), p.number),
        None => format!("line {}", r.line),
    }
}

/// The score's breakdown in one line: each leg's rank and score, then the
/// fusion's arithmetic.
pub fn explain_line(r: &SearchResult) -> Option<String> {
    let hit = &r.hit;
    let legs = |name: &str, l: &Option<LegHit>| match l {
        Some(l) => format!("{name} rank {} score {:.4}", l.rank, l.score),
        None => format!("{name} -"),
    };
    let arithmetic = match r.explain? {
        Explain::Rrf { k } => {
            let part =
                |l: &Option<LegHit>| l.map_or("0".to_string(), |l| format!("1/({k}+{})", l.rank));
            format!(
                "rrf: {} + {} = {:.5}",
                part(&hit.lexical),
                part(&hit.semantic),
                hit.score
            )
        }
        Explain::Linear { alpha, norm } => {
            let part = |l: &Option<LegHit>| {
                l.map_or("(leg minimum)".to_string(), |l| {
                    format!("{:.3}", l.fused_part)
                })
            };
            format!(
                "linear ({norm}): {alpha} x {} + {} x {} = {:.4}",
                part(&hit.semantic),
                1.0 - alpha,
                part(&hit.lexical),
                hit.score
            )
        }
        Explain::Single { mode } => format!(
            "score = the {} leg's score",
            if mode == Mode::Lexical {
                "lexical"
            } else {
                "semantic"
            }
        ),
    };
    let mut line = format!(
        "{}; {}; {arithmetic}",
        legs("lexical", &hit.lexical),
        legs("semantic", &hit.semantic)
    );
    if !r.expansion.is_empty() {
        let terms: Vec<String> = r
            .expansion
            .iter()
            .map(|(t, w)| format!("{t} {w:.2}"))
            .collect();
        line += &format!("; feedback added {}", terms.join(", "));
    }
    Some(line)
}

impl Printer {
    /// Print results as text or JSON Lines, then flush.
    pub fn results(&self, out: &mut dyn Write, results: &[SearchResult]) -> std::io::Result<()> {
        for r in results {
            if self.json {
                let line = serde_json::to_string(&JsonResult::new(r, self.explain))
                    .map_err(std::io::Error::other)?;
                writeln!(out, "{line}")?;
            } else {
                self.human(out, r)?;
            }
        }
        out.flush()
    }

    fn human(&self, out: &mut dyn Write, r: &SearchResult) -> std::io::Result<()> {
        let (bold, dim, hl, reset) = if self.color {
            ("\x1b[1m", "\x1b[2m", "\x1b[1;31m", "\x1b[0m")
        } else {
            ("", "", "", "")
        };
        let location = match &r.path {
            Some(p) => format!("{}:{}", display_path(p), place(r.line, r.place)),
            None => r.hit.id.clone(),
        };
        // A weak match says so after its title, and is not in bold.
        let (strong, weak) = match r.hit.weak {
            true => ("", format!("  {dim}(weak match){reset}")),
            false => (bold, String::new()),
        };
        writeln!(
            out,
            "{bold}{:>2}.{reset} {dim}{:.4}{reset}  {strong}{location}{reset}  {}{weak}",
            r.hit.rank, r.hit.score, r.title
        )?;
        let text = if self.color {
            r.snippet.render(hl, reset)
        } else {
            r.snippet.text.clone()
        };
        writeln!(out, "    {text}")?;
        if !r.hit.duplicates.is_empty() {
            let ids: Vec<&str> = r.hit.duplicates.iter().map(|d| d.id.as_str()).collect();
            writeln!(
                out,
                "    {dim}+{} similar: {}{reset}",
                ids.len(),
                ids.join(", ")
            )?;
        }
        if let Some(e) = self.explain.then(|| explain_line(r)).flatten() {
            writeln!(out, "    {dim}{e}{reset}")?;
        }
        Ok(())
    }

    /// Print a comparison: JSON, or the rankings as columns, each
    /// document's rank per ranking, and the agreement of every pair.
    pub fn comparison(&self, out: &mut dyn Write, c: &Comparison) -> std::io::Result<()> {
        if self.json {
            let line = serde_json::to_string(&comparison_json(c)).map_err(std::io::Error::other)?;
            writeln!(out, "{line}")?;
        } else {
            comparison_columns(out, c)?;
        }
        out.flush()
    }
}

/// The `compare --json` object: the rankings by name, each document's
/// ranks, and the agreement of every pair.
pub fn comparison_json(c: &Comparison) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let lists: Map<String, Value> = c
        .rankings
        .iter()
        .map(|r| (r.name.to_string(), json!(r.ids)))
        .collect();
    let ranks: Map<String, Value> = c
        .ranks()
        .into_iter()
        .map(|(d, ranks)| {
            let per: Map<String, Value> = c
                .rankings
                .iter()
                .zip(ranks)
                .map(|(r, rank)| (r.name.to_string(), json!(rank)))
                .collect();
            (d.to_string(), Value::Object(per))
        })
        .collect();
    let overlap: Vec<Value> = c
        .agreement
        .iter()
        .map(|a| json!({"a": a.a, "b": a.b, format!("overlap@{}", c.k): a.overlap, "rbo": a.rbo}))
        .collect();
    json!({"query": c.query, "k": c.k, "lists": lists, "ranks": ranks, "overlap": overlap,
           "rbo_p": semsearch_searcher::compare::RBO_P, "titles": c.titles})
}

/// The human `compare` view: the rankings as columns, each document's rank
/// per ranking, and the agreement of every pair.
fn comparison_columns(out: &mut dyn Write, c: &Comparison) -> std::io::Result<()> {
    // Five columns fit 110 characters.
    const W: usize = 20;
    let cut = |s: &str| -> String {
        if s.chars().count() <= W {
            s.to_string()
        } else {
            format!("{}…", s.chars().take(W - 1).collect::<String>())
        }
    };
    write!(out, "{:>4}", "rank")?;
    for r in &c.rankings {
        write!(out, "  {:<W$}", r.name)?;
    }
    writeln!(out)?;
    for i in 0..c.k {
        if c.rankings.iter().all(|r| i >= r.ids.len()) {
            break;
        }
        write!(out, "{:>4}", i + 1)?;
        for r in &c.rankings {
            write!(
                out,
                "  {:<W$}",
                r.ids.get(i).map_or(String::new(), |d| cut(d))
            )?;
        }
        writeln!(out)?;
    }
    writeln!(out)?;
    write!(out, "{:<W$}", "document")?;
    for r in &c.rankings {
        write!(out, " {:>8}", r.name)?;
    }
    writeln!(out)?;
    for (d, ranks) in c.ranks() {
        write!(out, "{:<W$}", cut(d))?;
        for r in ranks {
            write!(out, " {:>8}", r.map_or("-".to_string(), |r| r.to_string()))?;
        }
        writeln!(out)?;
    }
    writeln!(out)?;
    for a in &c.agreement {
        writeln!(
            out,
            "{:<20} overlap@{} {:.2}  rbo {:.3}",
            format!("{} vs {}", a.a, a.b),
            c.k,
            a.overlap,
            a.rbo
        )?;
    }
    Ok(())
}
