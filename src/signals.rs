//! SIGINT and SIGTERM for the long-running commands (`index`, `watch`,
//! `serve`, `mcp`): handled by semsearch itself, whatever disposition it
//! inherited. A background job of a shell script starts with SIGINT
//! ignored, so relying on the default action left `watch` running; services
//! (systemd, containers) stop programs with SIGTERM.
//!
//! The first signal sets a flag: the command stops taking work, commits
//! or abandons what is in flight atomically, and exits with 128 + the
//! signal (130, 143). A second signal exits at once with that status;
//! every commit is atomic, so the index is then the last one committed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// The stop request of this process's signal handlers.
#[derive(Clone)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

impl Stop {
    /// Handle SIGINT and SIGTERM from now on.
    pub fn install() -> anyhow::Result<Stop> {
        let stop = Stop {
            flag: Arc::new(AtomicBool::new(false)),
            signal: Arc::new(AtomicUsize::new(0)),
        };
        for sig in [SIGINT, SIGTERM] {
            // Registered first, so it sees the flag as the first signal
            // left it: unset the first time, set from the second on.
            flag::register_conditional_shutdown(sig, 128 + sig, stop.flag.clone())
                .and_then(|_| flag::register_usize(sig, stop.signal.clone(), sig as usize))
                .and_then(|_| flag::register(sig, stop.flag.clone()))
                .with_context(|| format!("cannot handle signal {sig}"))?;
        }
        Ok(stop)
    }

    /// The flag the engine polls (`UpdateOptions::stop`, `watch`).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }

    /// Whether a signal asked to stop.
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// The signal that asked to stop, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::Relaxed) {
            0 => None,
            s => Some(s as i32),
        }
    }

    /// Wait, asynchronously, until a signal asks to stop.
    pub async fn wait(&self) {
        while !self.requested() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
