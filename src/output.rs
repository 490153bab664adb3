//! Shared output helpers: exit codes, progress bars, broken pipes.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Exit status, grep-style: 0 found something, 1 found nothing, 2 error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    NoResults,
    /// Stopped by a signal, after leaving the index consistent: exit with
    /// 128 + the signal, as a shell reports a process it killed.
    Interrupted(i32),
}

impl Outcome {
    /// Success, unless a signal stopped the command.
    pub fn unless_stopped(stop: &crate::signals::Stop) -> Outcome {
        stop.signal().map_or(Outcome::Success, Outcome::Interrupted)
    }

    /// Success when there is anything to show.
    pub fn of<T>(items: &[T]) -> Outcome {
        if items.is_empty() {
            Outcome::NoResults
        } else {
            Outcome::Success
        }
    }
}

impl From<Outcome> for std::process::ExitCode {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Success => std::process::ExitCode::SUCCESS,
            Outcome::NoResults => std::process::ExitCode::from(1),
            Outcome::Interrupted(sig) => std::process::ExitCode::from((128 + sig) as u8),
        }
    }
}

/// A reader closing our stdout early (`semsearch ... | head`) is not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A progress bar on stderr when it is a terminal, hidden otherwise.
pub fn progress(len: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template = format!("{{bar:30}} {{pos}}/{{len}} {what} {{msg}} ({{per_sec}}, eta {{eta}})");
    bar.set_style(ProgressStyle::with_template(&template).expect("valid template"));
    bar
}

/// An error and its sources as one line, `outer: inner: innermost` (what
/// the CLI prints as "caused by" lines), for the server's and MCP's
/// messages: library errors keep their source (the Postgres error, the
/// glob parser's) rather than a flattened reason.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out = format!("{out}: {text}");
        }
        next = s.source();
    }
    out
}
