//! Progress of an indexing run on stderr: a bar on a terminal; elsewhere
//! (pipes, CI, cron) one line every [`LINE_EVERY`], so a long run is never
//! silent; nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use semsearch_indexer::{Event, Progress};

/// How often a progress line is printed when stderr is not a terminal
/// (`SEMSEARCH_PROGRESS_SECS` overrides it, for tests and impatient logs).
pub const LINE_EVERY: Duration = Duration::from_secs(10);

fn line_every() -> Duration {
    std::env::var("SEMSEARCH_PROGRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(LINE_EVERY, Duration::from_secs)
}

/// Shows [`Event`]s of the indexer.
pub struct Reporter {
    bar: Option<ProgressBar>,
    lines: bool,
    verbose: bool,
    started: Instant,
    every: Duration,
    last_line: Option<Instant>,
    files: usize,
    bytes: u64,
    committed: usize,
}

impl Reporter {
    /// `verbose` lists skipped files; `quiet` shows nothing else.
    pub fn new(quiet: bool, verbose: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template("{bar:30} {percent:>3}% {msg} (eta {eta})")
                .expect("valid template");
            bar.set_style(style);
            bar
        });
        Reporter {
            bar,
            lines: !quiet && !terminal,
            verbose,
            started: Instant::now(),
            every: line_every(),
            last_line: None,
            files: 0,
            bytes: 0,
            committed: 0,
        }
    }

    /// Take one event.
    pub fn event(&mut self, e: Event) {
        match e {
            Event::Found { files, bytes } => {
                (self.files, self.bytes) = (files, bytes);
                if let Some(bar) = &self.bar {
                    bar.set_length(bytes.max(1));
                }
            }
            Event::Progress(p) => self.progress(p),
            Event::Skipped(path, reason) if self.verbose => {
                let line = format!(
                    "skipped ({reason}): {}",
                    semsearch_indexer::pathname::display(&path)
                );
                match &self.bar {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
            }
            Event::Skipped(..) => {}
            Event::Checkpoint { documents, .. } => self.committed = documents,
        }
    }

    fn progress(&mut self, p: Progress) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = p.passages as f64 / secs;
        let msg = format!(
            "{}/{} files, {} passages ({rate:.0}/s)",
            p.files, self.files, p.passages
        );
        if let Some(bar) = &self.bar {
            bar.set_position(p.bytes);
            bar.set_message(msg);
        } else if self.lines && self.line_due() {
            self.last_line = Some(Instant::now());
            let share = p.bytes as f64 / self.bytes.max(1) as f64;
            let eta = if share > 0.0 {
                format!(", eta {}", clock(secs * (1.0 - share) / share))
            } else {
                String::new()
            };
            let committed = match self.committed {
                0 => String::new(),
                n => format!(", {n} documents committed"),
            };
            eprintln!(
                "semsearch: indexing: {msg}, {:.0}% of the bytes{eta}{committed}",
                share * 100.0
            );
        }
    }

    fn line_due(&self) -> bool {
        let since = self.last_line.unwrap_or(self.started);
        since.elapsed() >= self.every
    }

    /// Remove the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
