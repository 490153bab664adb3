//! `--pre COMMAND` (ripgrep's convention): a user's command turns files
//! into text. It runs as `COMMAND FILE` (no shell), for the files matching
//! `--pre-glob` (every file without one); its standard output is the
//! document's text. A command that fails, runs past [`super::TIME_LIMIT`],
//! writes more than the size limit or writes nothing skips the file with
//! reason `pre_failed`, never the run.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::SkipReason;

/// A preprocessor and the files it is for.
#[derive(Debug, Clone)]
pub struct Pre {
    command: PathBuf,
    globs: Option<GlobSet>,
    /// As given, for the manifest.
    settings: crate::manifest::PreSettings,
    /// The command and globs as given, for content hashes (changing the
    /// preprocessor re-reads what it produced).
    pub signature: String,
}

impl Pre {
    /// `command` for files matching `globs` (all files when empty); a bad
    /// glob is named.
    pub fn new(command: &str, globs: &[String]) -> Result<Pre, String> {
        let globs_given = globs;
        let signature = format!("{command}\0{}", globs.join("\0"));
        let globs = match globs.is_empty() {
            true => None,
            false => {
                let mut set = GlobSetBuilder::new();
                for g in globs {
                    set.add(Glob::new(g).map_err(|e| format!("--pre-glob {g:?}: {e}"))?);
                }
                Some(set.build().map_err(|e| format!("--pre-glob: {e}"))?)
            }
        };
        Ok(Pre {
            command: PathBuf::from(command),
            globs,
            settings: crate::manifest::PreSettings {
                command: command.to_string(),
                globs: globs_given.to_vec(),
            },
            signature,
        })
    }

    /// The command and globs as given (what the manifest records).
    pub fn settings(&self) -> &crate::manifest::PreSettings {
        &self.settings
    }

    /// A short name of the command and its globs, kept in the entries of
    /// the files it read.
    pub fn id(&self) -> String {
        format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(self.signature.as_bytes())
        )
    }

    /// Whether `path` goes through the command (matched by file name or
    /// by path).
    pub fn applies(&self, path: &Path) -> bool {
        match &self.globs {
            None => true,
            Some(set) => {
                set.is_match(path) || path.file_name().is_some_and(|n| set.is_match(Path::new(n)))
            }
        }
    }

    /// The command's output for `path`: text, at most `limit` bytes.
    pub fn run(&self, path: &Path, limit: u64) -> Result<String, SkipReason> {
        let mut cmd = Command::new(&self.command);
        cmd.arg(path);
        let out = run_bounded(cmd, limit).map_err(|e| match e {
            Failure::Start | Failure::Status => SkipReason::PreFailed,
            Failure::Skip(r) => r,
        })?;
        let text = String::from_utf8_lossy(&out).into_owned();
        if text.trim().is_empty() {
            return Err(SkipReason::Empty);
        }
        Ok(text)
    }
}

/// Why a bounded command gave no output.
pub(crate) enum Failure {
    /// It could not be started (not installed, not executable).
    Start,
    /// It exited with an error status.
    Status,
    /// It ran too long or wrote too much.
    Skip(SkipReason),
}

/// Run `cmd` (stdin closed, stderr dropped) for its standard output, at
/// most `limit` bytes and [`super::TIME_LIMIT`].
pub(crate) fn run_bounded(mut cmd: Command, limit: u64) -> Result<Vec<u8>, Failure> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|_| Failure::Start)?;
    let stdout = child.stdout.take().expect("piped");
    // Read on a thread, so a command that never ends is still stopped at
    // the time limit.
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.take(limit + 1).read_to_end(&mut out).map(|_| out)
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < super::TIME_LIMIT => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::Skip(SkipReason::Timeout));
            }
        }
    };
    let out = reader
        .join()
        .ok()
        .and_then(Result::ok)
        .ok_or(Failure::Status)?;
    if !status.success() {
        return Err(Failure::Status);
    }
    if out.len() as u64 > limit {
        return Err(Failure::Skip(SkipReason::TooLarge));
    }
    Ok(out)
}
