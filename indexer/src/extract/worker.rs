//! Documents parsed in a child process: a program that links this crate
//! (the `semsearch` binary) registers itself with [`use_worker`] and answers
//! [`WORKER_ARG`] with [`serve`]. The child caps its own address space, so a
//! PDF whose streams inflate to gigabytes ends the child, not the run, and
//! the parent kills a child still busy at [`super::TIME_LIMIT`]. Without a
//! registered worker (the library's own tests), documents are parsed on a
//! thread ([`super::document`]).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, OnceLock};

use serde::{Deserialize, Serialize};

use super::document::{self, TIME_LIMIT};
use super::{Extracted, SkipReason, Unit};

/// The first argument that makes a program [`serve`] one document.
pub const WORKER_ARG: &str = "__extract-worker";

/// Address space a worker may use: lopdf holds the whole PDF and its
/// decoded streams (a 100 MB PDF, the size limit, fits several times over).
pub const WORKER_MEMORY: u64 = 2 << 30;

static WORKER: OnceLock<PathBuf> = OnceLock::new();

/// Parse documents by running `exe WORKER_ARG PATH` from now on.
pub fn use_worker(exe: PathBuf) {
    let _ = WORKER.set(exe);
}

pub(super) fn registered() -> Option<&'static Path> {
    WORKER.get().map(PathBuf::as_path)
}

/// What a worker writes: the extraction or the skip reason.
#[derive(Serialize, Deserialize)]
enum Outcome {
    Extracted {
        title: String,
        text: String,
        sections: Vec<usize>,
        unit: Option<Unit>,
    },
    Skipped(String),
}

/// The worker's side: extract the document at `path` and write the outcome
/// to `out` as JSON. A parser panic is written as `corrupt`.
pub fn serve(path: &Path, out: &mut impl Write) -> std::io::Result<()> {
    let run = || -> Result<Extracted, SkipReason> {
        let bytes = std::fs::read(path).map_err(|_| SkipReason::Unreadable)?;
        match document::detect(path, &bytes)? {
            Some(format) => document::parse(format, path, &bytes),
            None => Err(SkipReason::Binary),
        }
    };
    let result = std::panic::catch_unwind(run).unwrap_or(Err(SkipReason::Corrupt));
    let outcome = match result {
        Ok(e) => Outcome::Extracted {
            title: e.title,
            text: e.text,
            sections: e.sections,
            unit: e.unit,
        },
        Err(r) => Outcome::Skipped(r.as_str().into()),
    };
    serde_json::to_writer(&mut *out, &outcome)?;
    out.flush()
}

/// The parent's side: run the worker on `path`. No answer: `timeout` when
/// it ran out of time, `too_large` when it ran out of memory (it aborts on
/// a failed allocation), else `corrupt`.
pub(super) fn isolated(exe: &Path, path: &Path) -> Result<Extracted, SkipReason> {
    let mut child = Command::new(exe)
        .arg(WORKER_ARG)
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|_| SkipReason::Unreadable)?;
    let mut stdout = child.stdout.take().ok_or(SkipReason::Unreadable)?;
    // Read on a thread: a child writing more than a pipe holds would block
    // until read.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    let answer = match rx.recv_timeout(TIME_LIMIT) {
        Ok(answer) => answer,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SkipReason::Timeout);
        }
    };
    let status = child.wait().map_err(|_| SkipReason::Unreadable)?;
    match serde_json::from_slice::<Outcome>(&answer) {
        Ok(Outcome::Extracted {
            title,
            text,
            sections,
            unit,
        }) => Ok(Extracted {
            title,
            text,
            lossy: false,
            breaks: None,
            sections,
            unit,
            ocr_pages: 0,
        }),
        Ok(Outcome::Skipped(reason)) => {
            Err(SkipReason::parse(&reason).unwrap_or(SkipReason::Corrupt))
        }
        Err(_) if aborted(&status) => Err(SkipReason::TooLarge),
        Err(_) => Err(SkipReason::Corrupt),
    }
}

#[cfg(unix)]
fn aborted(status: &std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(libc_sigabrt())
}

#[cfg(not(unix))]
fn aborted(_status: &std::process::ExitStatus) -> bool {
    false
}

/// SIGABRT, the signal of Rust's abort on a failed allocation.
#[cfg(unix)]
const fn libc_sigabrt() -> i32 {
    6
}
