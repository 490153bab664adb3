//! `semsearch repl` (and plain `semsearch` on a terminal): the interactive
//! prompt. The model and index load once; each line is a query or a
//! `:command`, sharing the one-shot CLI's configuration and output.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};
use rustyline::error::ReadlineError;
use semsearch_searcher::{Fusion, SearchConfig, SearchResult, Store};

use crate::cli::ReplArgs;
use crate::output::Outcome;
use crate::printer::{place_words, Printer};

const HELP: &str = "\
Type a query to search. Commands:
  :mode lexical|semantic|hybrid   ranking mode
  :lexical bm25|tfidf|lsa         lexical model
  :fusion rrf|linear              how hybrid mode fuses
  :k N                            results per query
  :alpha A                        semantic weight in linear fusion (0..1)
  :explain                        toggle per-leg scores and fusion arithmetic
  :feedback                       toggle pseudo-relevance feedback (a second ranking)
  :collapse                       toggle folding near-duplicates under the first copy
  :compare [QUERY]                TF-IDF, BM25, LSA, semantic, hybrid side by side
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
    printer: Printer,
    last_query: String,
    last: Vec<SearchResult>,
}

impl State {
    /// Apply one `:command`; returns false to quit.
    fn command(
        &mut self,
        searcher: &dyn Store,
        line: &str,
        out: &mut dyn Write,
    ) -> anyhow::Result<bool> {
        let (cmd, arg) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(c, a)| (c, a.trim()));
        match cmd {
            ":q" | ":quit" | ":exit" => return Ok(false),
            ":help" | ":h" => writeln!(out, "{HELP}")?,
            ":mode" => self.cfg.mode = arg.parse().map_err(|e| anyhow::anyhow!(":mode: {e}"))?,
            ":lexical" => {
                self.cfg.lexical = arg.parse().map_err(|e| anyhow::anyhow!(":lexical: {e}"))?
            }
            ":fusion" => {
                self.cfg.fusion = match arg {
                    "rrf" => Fusion::default_rrf(),
                    "linear" => Fusion::default_linear(),
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
                    Fusion::Rrf { .. } => SearchConfig::DEFAULT_NORM,
                };
                self.cfg.fusion = Fusion::Linear { alpha: a, norm };
            }
            ":explain" => {
                self.printer.explain = !self.printer.explain;
                let on = if self.printer.explain { "on" } else { "off" };
                writeln!(out, "explain {on}")?;
            }
            ":feedback" => {
                self.cfg.feedback = match self.cfg.feedback {
                    Some(_) => None,
                    None => Some(Default::default()),
                };
                let on = if self.cfg.feedback.is_some() {
                    "on"
                } else {
                    "off"
                };
                writeln!(out, "feedback {on}")?;
            }
            ":collapse" => {
                self.cfg.collapse = !self.cfg.collapse;
                let on = if self.cfg.collapse { "on" } else { "off" };
                writeln!(out, "collapse {on}")?;
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
                self.printer
                    .comparison(out, &searcher.compare(&q, &self.cfg)?)?;
            }
            ":open" => {
                let n: usize = arg.parse().context(":open takes a result number")?;
                let r = self.result(n)?;
                let text = searcher.passage_text(r)?;
                writeln!(out, "{} ({})\n{text}", r.hit.id, place_words(r))?;
            }
            ":similar" => {
                let n: usize = arg.parse().context(":similar takes a result number")?;
                let r = self.result(n)?;
                writeln!(out, "documents like {}:", r.hit.id)?;
                let results = searcher.similar_results(r.hit.doc, self.cfg.k)?;
                self.printer.results(out, &results)?;
                self.last = results;
            }
            _ => bail!("unknown command {cmd}; :help lists them"),
        }
        Ok(true)
    }

    /// Result `n` (1-based) of the last query.
    fn result(&self, n: usize) -> anyhow::Result<&SearchResult> {
        self.last
            .get(n.wrapping_sub(1))
            .with_context(|| format!("no result {n} in the last query"))
    }

    fn query(&mut self, searcher: &dyn Store, q: &str, out: &mut dyn Write) -> anyhow::Result<()> {
        let start = std::time::Instant::now();
        let results = searcher.results(q, &self.cfg)?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        self.printer.results(out, &results)?;
        if !self.printer.json {
            writeln!(out, "({} results in {ms:.1} ms)", results.len())?;
        }
        self.last_query = q.to_string();
        self.last = results;
        Ok(())
    }
}

pub fn run(args: ReplArgs) -> anyhow::Result<Outcome> {
    let cfg = args.rank.config()?;
    // Started in lexical mode, the prompt loads the model only if a later
    // `:mode` or `:compare` needs it.
    let embeds = cfg.mode != semsearch_searcher::Mode::Lexical;
    let searcher = super::open_store(&args.store, embeds, || {
        super::find_index(args.index.index.as_deref())
    })?;
    let searcher = searcher.as_ref();
    let dir = searcher.label();
    let mut editor = rustyline::DefaultEditor::new()?;
    // A folder index keeps the prompt's history; a store's label is a URL.
    let history = searcher.folder().map(|_| dir.join("history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let mut state = State {
        cfg,
        printer: Printer {
            json: args.json,
            color: crate::printer::use_color(crate::cli::ColorArg::Auto),
            explain: false,
        },
        last_query: String::new(),
        last: Vec::new(),
    };
    let mut out = std::io::stdout();
    if std::io::stdin().is_terminal() {
        eprintln!(
            "semsearch: {} documents in {}; :help for commands",
            searcher.len(),
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
            match state.command(searcher, line, &mut out) {
                Ok(true) => Ok(()),
                Ok(false) => break,
                Err(e) => Err(e),
            }
        } else {
            state.query(searcher, line, &mut out)
        };
        if let Err(e) = result {
            if crate::output::is_broken_pipe(&e) {
                break;
            }
            writeln!(out, "error: {e:#}")?;
        }
        out.flush()?;
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(Outcome::Success)
}
