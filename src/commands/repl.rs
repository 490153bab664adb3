//! `semsearch repl` (and plain `semsearch` on a terminal): the interactive
//! prompt. The model and index load once; each line is a query or a
//! `:command`, sharing the one-shot CLI's configuration and output.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};
use rustyline::error::ReadlineError;
use semsearch_searcher::{Fusion, Hit, Lexical, Mode, Norm, SearchConfig, Searcher};

use crate::cli::ReplArgs;
use crate::output::Outcome;

const HELP: &str = "\
Type a query to search. Commands:
  :mode lexical|semantic|hybrid   ranking mode
  :lexical bm25|tfidf             lexical model
  :fusion rrf|linear              how hybrid mode fuses
  :k N                            results per query
  :alpha A                        semantic weight in linear fusion (0..1)
  :explain                        toggle per-leg scores and fusion arithmetic
  :compare [QUERY]                TF-IDF, BM25, semantic, hybrid side by side
  :open N                         print result N's passage in full
  :similar N                      documents like result N (by document vector)
  :help                           this text
  :quit                           leave (or Ctrl-D)";

/// Plain `semsearch`: the prompt when there is an index nearby and a
/// terminal to talk to; otherwise help.
pub fn run_default() -> anyhow::Result<Outcome> {
    use clap::{CommandFactory, Parser};
    if std::io::stdin().is_terminal() && super::find_index(None).is_ok() {
        // The prompt's defaults are exactly `semsearch repl`'s.
        let cli = crate::cli::Cli::try_parse_from(["semsearch", "repl"])?;
        if let Some(crate::cli::Command::Repl(args)) = cli.command {
            return run(args);
        }
    }
    crate::cli::Cli::command().print_help()?;
    Ok(Outcome::Success)
}

struct State {
    cfg: SearchConfig,
    explain: bool,
    last_query: String,
    last_hits: Vec<Hit>,
}

impl State {
    /// Apply one `:command`; returns false to quit.
    fn command(
        &mut self,
        searcher: &Searcher,
        line: &str,
        out: &mut dyn Write,
        color: bool,
    ) -> anyhow::Result<bool> {
        let (cmd, arg) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(c, a)| (c, a.trim()));
        match cmd {
            ":q" | ":quit" | ":exit" => return Ok(false),
            ":help" | ":h" => writeln!(out, "{HELP}")?,
            ":mode" => {
                self.cfg.mode = match arg {
                    "lexical" => Mode::Lexical,
                    "semantic" => Mode::Semantic,
                    "hybrid" => Mode::Hybrid,
                    _ => bail!(":mode takes lexical, semantic or hybrid"),
                }
            }
            ":lexical" => {
                self.cfg.lexical = match arg {
                    "bm25" => Lexical::Bm25,
                    "tfidf" => Lexical::TfIdf,
                    _ => bail!(":lexical takes bm25 or tfidf"),
                }
            }
            ":fusion" => {
                self.cfg.fusion = match arg {
                    "rrf" => Fusion::Rrf { k: 60.0 },
                    "linear" => Fusion::Linear {
                        alpha: 0.5,
                        norm: Norm::ZScore,
                    },
                    _ => bail!(":fusion takes rrf or linear"),
                }
            }
            ":k" => {
                self.cfg.k = arg
                    .parse()
                    .ok()
                    .filter(|&k| k > 0)
                    .context(":k takes a positive number")?
            }
            ":alpha" => {
                let a: f32 = arg
                    .parse()
                    .ok()
                    .filter(|a| (0.0..=1.0).contains(a))
                    .context(":alpha takes a number from 0 to 1")?;
                let norm = match self.cfg.fusion {
                    Fusion::Linear { norm, .. } => norm,
                    Fusion::Rrf { .. } => Norm::ZScore,
                };
                self.cfg.fusion = Fusion::Linear { alpha: a, norm };
            }
            ":explain" => {
                self.explain = !self.explain;
                writeln!(out, "explain {}", if self.explain { "on" } else { "off" })?;
            }
            ":compare" => {
                let q = if arg.is_empty() {
                    self.last_query.clone()
                } else {
                    arg.to_string()
                };
                if q.trim().is_empty() {
                    bail!(":compare needs a query");
                }
                super::compare::compare(searcher, &q, &self.cfg)?.print(out)?;
            }
            ":open" => {
                let n: usize = arg.parse().context(":open takes a result number")?;
                let hit = self
                    .last_hits
                    .get(n.wrapping_sub(1))
                    .with_context(|| format!("no result {n} in the last query"))?;
                let (p, text) = searcher.best_passage(hit, &self.last_query)?;
                let e = searcher.index.passage_entry(p);
                let at = match searcher.index.doc(hit.doc).1.page_at(e.start) {
                    Some((unit, n)) => format!("{} {n}", unit.as_str()),
                    None => format!("line {}", e.line),
                };
                writeln!(
                    out,
                    "{} ({at})\n{}",
                    hit.id,
                    text.get(e.start..e.end).unwrap_or_default()
                )?;
            }
            ":similar" => {
                let n: usize = arg.parse().context(":similar takes a result number")?;
                let hit = self
                    .last_hits
                    .get(n.wrapping_sub(1))
                    .with_context(|| format!("no result {n} in the last query"))?;
                writeln!(out, "documents like {}:", hit.id)?;
                let hits = searcher.similar(hit.doc, self.cfg.k)?;
                self.show(searcher, &hits, "", out, color)?;
                self.last_hits = hits;
            }
            _ => bail!("unknown command {cmd}; :help lists them"),
        }
        Ok(true)
    }

    fn show(
        &self,
        searcher: &Searcher,
        hits: &[Hit],
        q: &str,
        out: &mut dyn Write,
        color: bool,
    ) -> anyhow::Result<()> {
        for hit in hits {
            let shown = super::search::describe(searcher, hit, q)?;
            // Similar documents have no query to explain.
            let explain =
                (self.explain && !q.is_empty()).then(|| super::search::explain(hit, &self.cfg));
            super::search::print_human(out, &shown, color, explain)?;
        }
        Ok(())
    }

    fn query(
        &mut self,
        searcher: &Searcher,
        q: &str,
        out: &mut dyn Write,
        color: bool,
    ) -> anyhow::Result<()> {
        let start = std::time::Instant::now();
        let hits = searcher.search(q, &self.cfg)?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        self.show(searcher, &hits, q, out, color)?;
        writeln!(out, "({} results in {ms:.1} ms)", hits.len())?;
        self.last_query = q.to_string();
        self.last_hits = hits;
        Ok(())
    }
}

pub fn run(args: ReplArgs) -> anyhow::Result<Outcome> {
    let cfg = args.rank.config()?;
    let dir = super::find_index(args.index.index.as_deref())?;
    let searcher =
        Searcher::open(&dir).with_context(|| format!("cannot open index {}", dir.display()))?;
    let color = super::search::use_color(crate::cli::ColorArg::Auto);
    let mut editor = rustyline::DefaultEditor::new()?;
    let history = dir.join("history");
    let _ = editor.load_history(&history);
    let mut state = State {
        cfg,
        explain: false,
        last_query: String::new(),
        last_hits: Vec::new(),
    };
    let mut out = std::io::stdout();
    if std::io::stdin().is_terminal() {
        eprintln!(
            "semsearch: {} documents in {}; :help for commands",
            searcher.index.doc_ids.len(),
            dir.display()
        );
    }
    loop {
        let line = match editor.readline("semsearch> ") {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line);
        let result = if line.starts_with(':') {
            match state.command(&searcher, line, &mut out, color) {
                Ok(true) => Ok(()),
                Ok(false) => break,
                Err(e) => Err(e),
            }
        } else {
            state.query(&searcher, line, &mut out, color)
        };
        if let Err(e) = result {
            if crate::output::is_broken_pipe(&e) {
                break;
            }
            writeln!(out, "error: {e:#}")?;
        }
        out.flush()?;
    }
    let _ = editor.save_history(&history);
    Ok(Outcome::Success)
}
