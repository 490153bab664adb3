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
            let style = ProgressStyle::with_template("{bar:30} {percent:>3}% {msg}")
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
                    bar.set_length(BAR_STEPS);
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
        let done = done(&p, self.bytes);
        let eta = match done > 0.0 && done < 1.0 {
            true => format!(", eta {}", clock(secs * (1.0 - done) / done)),
            false => String::new(),
        };
        let msg = format!(
            "{}/{} files, {} passages ({rate:.0}/s){eta}",
            p.files, self.files, p.passages
        );
        if let Some(bar) = &self.bar {
            bar.set_position((done * BAR_STEPS as f64) as u64);
            bar.set_message(msg);
        } else if self.lines && self.line_due() {
            self.last_line = Some(Instant::now());
            let committed = match self.committed {
                0 => String::new(),
                n => format!(", {n} documents committed"),
            };
            eprintln!(
                "semsearch: indexing: {msg}, {:.0}% done{committed}",
                done * 100.0
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

/// Steps of the bar (its position is the share of the work done).
const BAR_STEPS: u64 = 1000;

/// The share of the run's work done, 0 to 1. The work is embedding: the
/// passages still to come are estimated from those cut per byte looked at
/// so far (unchanged files cut none), so the estimate moves inside a big
/// file as its passages are embedded, not only when a file is finished.
/// Before any passage is cut (an unchanged folder), the bytes looked at.
fn done(p: &Progress, total_bytes: u64) -> f64 {
    let looked = p.bytes.min(total_bytes);
    if p.found == 0 {
        return looked as f64 / total_bytes.max(1) as f64;
    }
    let per_byte = p.found as f64 / looked.max(1) as f64;
    let total = p.found as f64 + (total_bytes - looked) as f64 * per_byte;
    (p.passages as f64 / total).min(1.0)
}

fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(bytes: u64, found: usize, passages: usize) -> Progress {
        Progress {
            files: 0,
            bytes,
            passages,
            found,
        }
    }

    #[test]
    fn the_share_done_moves_inside_a_big_file() {
        // One 100 MB file of 100 MB looked at, 10,000 passages cut: the
        // share follows the embedding, not the bytes (all looked at).
        let total = 100 << 20;
        assert!((done(&at(total, 10_000, 2_500), total) - 0.25).abs() < 1e-9);
        assert!((done(&at(total, 10_000, 7_500), total) - 0.75).abs() < 1e-9);
    }

    #[test]
    fn the_rest_is_estimated_from_what_was_cut_per_byte() {
        // A quarter of the bytes gave 1,000 passages, all embedded: about
        // 4,000 in all, a quarter done.
        assert!((done(&at(250, 1_000, 1_000), 1_000) - 0.25).abs() < 1e-9);
        // Nothing cut yet (unchanged files): the bytes looked at.
        assert!((done(&at(500, 0, 0), 1_000) - 0.5).abs() < 1e-9);
    }
}
