//! `semsearch search`: one query, ranked documents with snippets.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};

use anyhow::Context;
use semsearch_indexer::extract::Unit;
use semsearch_indexer::store::INDEX_DIR_NAME;
use semsearch_searcher::{snippet, Arithmetic, Fusion, Hit, LegHit, Mode, SearchConfig, Searcher};
use serde::Serialize;

use crate::cli::{ColorArg, SearchArgs};
use crate::output::Outcome;

/// Bytes of passage text in a snippet.
const SNIPPET_LEN: usize = 240;

/// The `--json` schema (documented in README.md).
#[derive(Serialize)]
pub struct JsonHit<'a> {
    pub rank: usize,
    pub id: &'a str,
    pub path: Option<String>,
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slide: Option<usize>,
    pub title: &'a str,
    pub score: f32,
    pub lexical: Option<Leg>,
    pub semantic: Option<Leg>,
    pub snippet: String,
    pub passage: Span,
}

#[derive(Serialize)]
pub struct Leg {
    pub rank: usize,
    pub score: f32,
}

#[derive(Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

fn leg(h: &Option<LegHit>) -> Option<Leg> {
    h.map(|h| Leg {
        rank: h.rank,
        score: h.score,
    })
}

/// Everything shown for one hit.
pub struct Shown<'a> {
    pub hit: &'a Hit,
    pub title: &'a str,
    pub path: Option<String>,
    pub line: usize,
    /// The page or slide the passage starts on (PDF, PPTX, ODP).
    pub page: Option<(Unit, usize)>,
    pub span: (usize, usize),
    pub snippet: snippet::Snippet,
}

pub fn describe<'a>(
    searcher: &'a Searcher,
    hit: &'a Hit,
    query: &str,
) -> anyhow::Result<Shown<'a>> {
    let (p, text) = searcher.best_passage(hit, query)?;
    let entry = searcher.index.doc(hit.doc).1;
    let pe = searcher.index.passage_entry(p);
    let passage = text.get(pe.start..pe.end).unwrap_or_default();
    let terms = semsearch_searcher::lexical::query_terms(&searcher.index, query);
    let set: HashSet<&str> = terms.iter().map(|(t, _)| t.as_str()).collect();
    let snippet = snippet::make(&mut searcher.analyzer(), passage, &set, SNIPPET_LEN);
    let path = entry.path.as_ref().map(|p| {
        let cwd = std::env::current_dir().unwrap_or_default();
        semsearch_indexer::pathname::display(p.strip_prefix(&cwd).unwrap_or(p))
    });
    Ok(Shown {
        hit,
        title: &entry.title,
        path,
        line: pe.line,
        page: entry.page_at(pe.start),
        span: (pe.start, pe.end),
        snippet,
    })
}

pub fn explain(hit: &Hit, cfg: &SearchConfig) -> String {
    let legs = |name: &str, l: &Option<LegHit>| match l {
        Some(l) => format!("{name} rank {} score {:.4}", l.rank, l.score),
        None => format!("{name} -"),
    };
    let arithmetic = match (cfg.mode, cfg.fusion) {
        (Mode::Hybrid, Fusion::Rrf { k }) => {
            let part =
                |l: &Option<LegHit>| l.map_or("0".to_string(), |l| format!("1/({k}+{})", l.rank));
            format!(
                "rrf: {} + {} = {:.5}",
                part(&hit.lexical),
                part(&hit.semantic),
                hit.score
            )
        }
        (Mode::Hybrid, Fusion::Linear { alpha, norm }) => {
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
        _ => format!(
            "score = the {} leg's score",
            if cfg.mode == Mode::Lexical {
                "lexical"
            } else {
                "semantic"
            }
        ),
    };
    format!(
        "{}; {}; {arithmetic}",
        legs("lexical", &hit.lexical),
        legs("semantic", &hit.semantic)
    )
}

pub fn print_human(
    out: &mut dyn Write,
    shown: &Shown,
    color: bool,
    explain_line: Option<String>,
) -> std::io::Result<()> {
    let (bold, dim, hl, reset) = if color {
        ("\x1b[1m", "\x1b[2m", "\x1b[1;31m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    let location = match &shown.path {
        Some(p) => format!("{p}:{}", place(shown.line, shown.page)),
        None => shown.hit.id.clone(),
    };
    writeln!(
        out,
        "{bold}{:>2}.{reset} {dim}{:.4}{reset}  {bold}{location}{reset}  {}",
        shown.hit.rank, shown.hit.score, shown.title
    )?;
    let text = if color {
        shown.snippet.render(hl, reset)
    } else {
        shown.snippet.text.clone()
    };
    writeln!(out, "    {text}")?;
    if let Some(e) = explain_line {
        writeln!(out, "    {dim}{e}{reset}")?;
    }
    Ok(())
}

/// Where a passage is, after the path: `p12` (page), `slide3`, else the
/// line number.
pub fn place(line: usize, page: Option<(Unit, usize)>) -> String {
    match page {
        Some((Unit::Page, n)) => format!("p{n}"),
        Some((Unit::Slide, n)) => format!("slide{n}"),
        None => line.to_string(),
    }
}

pub fn json_hit<'a>(shown: &'a Shown<'a>) -> JsonHit<'a> {
    let numbered = |unit| shown.page.filter(|p| p.0 == unit).map(|p| p.1);
    JsonHit {
        rank: shown.hit.rank,
        id: &shown.hit.id,
        path: shown.path.clone(),
        line: shown.line,
        page: numbered(Unit::Page),
        slide: numbered(Unit::Slide),
        title: shown.title,
        score: shown.hit.score,
        lexical: leg(&shown.hit.lexical),
        semantic: leg(&shown.hit.semantic),
        snippet: shown.snippet.text.clone(),
        passage: Span {
            start: shown.span.0,
            end: shown.span.1,
        },
    }
}

pub fn use_color(arg: ColorArg) -> bool {
    match arg {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

pub fn run(args: SearchArgs) -> anyhow::Result<Outcome> {
    let cfg = args.rank.config()?;
    let searcher = match (&args.index.index, &args.folder) {
        (None, Some(folder)) => {
            let dir = folder.join(INDEX_DIR_NAME);
            let embedder = super::index::refresh(folder, &dir)?;
            let index = semsearch_indexer::Index::open(&dir)
                .with_context(|| format!("cannot open index {}", dir.display()))?;
            Searcher::with_embedder(index, embedder)?
        }
        (explicit, _) => {
            let dir = match explicit {
                Some(d) => d.clone(),
                None => super::find_index(None)?,
            };
            Searcher::open(&dir).with_context(|| format!("cannot open index {}", dir.display()))?
        }
    };
    let terms = Arithmetic {
        plus: args.plus.clone(),
        minus: args.minus.clone(),
    };
    let hits = if terms.is_empty() {
        searcher.search(&args.query, &cfg)?
    } else {
        anyhow::ensure!(
            cfg.mode != Mode::Lexical,
            "--plus and --minus change the semantic leg; --mode lexical has none"
        );
        let v = searcher.query_vector(&args.query, &terms)?;
        searcher.search_with_vector(&args.query, Some(&v), &cfg)?
    };
    let color = use_color(args.color);
    let mut out = std::io::stdout().lock();
    if args.explain && !args.json && !terms.is_empty() {
        writeln!(out, "semantic query: {}", terms.describe(&args.query))?;
    }
    let explain = args.explain.then_some(&cfg);
    print_hits(
        &mut out,
        &searcher,
        &hits,
        &args.query,
        args.json,
        color,
        explain,
    )?;
    Ok(if hits.is_empty() {
        Outcome::NoResults
    } else {
        Outcome::Success
    })
}

/// Print hits as text or JSON Lines; shared by `search` and `similar`.
pub fn print_hits(
    out: &mut dyn Write,
    searcher: &Searcher,
    hits: &[Hit],
    query: &str,
    json: bool,
    color: bool,
    explain_with: Option<&SearchConfig>,
) -> anyhow::Result<()> {
    for hit in hits {
        let shown = describe(searcher, hit, query)?;
        if json {
            writeln!(out, "{}", serde_json::to_string(&json_hit(&shown))?)?;
        } else {
            print_human(out, &shown, color, explain_with.map(|c| explain(hit, c)))?;
        }
    }
    out.flush()?;
    Ok(())
}
