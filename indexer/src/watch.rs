//! Watch mode: keep an index fresh as its folders change.
//!
//! File-system events (inotify and its kin, through `notify`) are debounced
//! into batches; each batch that touches anything outside the index folder
//! runs one incremental update through the same commit path as `index`
//! (a stat of every file, re-embedding only what changed). A rescan rather
//! than per-path bookkeeping is what makes editors' save-by-rename, moves of
//! whole folders and lost events (an overflowing kernel queue, reported as
//! an error) all come out right; on a folder of a few thousand files it
//! costs tens of milliseconds. A first update on start catches whatever
//! changed while nobody watched.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{new_debouncer, DebounceEventResult};

use crate::error::{Error, Result};
use crate::update::{Event, Indexer, Report};

/// Quiet time after the last event before a batch is indexed: long enough
/// to gather an editor's write-rename-delete of one save, short enough that
/// a saved file is searchable within about a second.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// What watching did.
pub enum WatchEvent {
    /// Progress of an update in flight.
    Indexing(Event),
    /// An update committed (or found nothing to change).
    Updated(Report),
    /// Events were lost (or the watcher failed); a rescan follows.
    Rescan(String),
    /// Watching: the folders and files followed.
    Watching(Vec<PathBuf>),
}

/// Update the index, then follow its roots until `stop` is set, updating
/// after every batch of changes. Returns after the update in flight (if any)
/// has committed.
pub fn watch(
    indexer: &mut Indexer<'_>,
    index_dir: &Path,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(WatchEvent),
) -> Result<()> {
    update(indexer, on_event)?;
    let roots = indexer.roots()?;
    let (tx, rx) = mpsc::channel::<DebounceEventResult>();
    let watch_err = |path: &Path, e: notify_debouncer_mini::notify::Error| Error::Watch {
        path: path.to_path_buf(),
        source: Box::new(e),
    };
    let mut debouncer = new_debouncer(DEBOUNCE, tx).map_err(|e| watch_err(index_dir, e))?;
    for root in &roots {
        // A file is followed through its folder (a save-by-rename replaces
        // the file, which would end a watch on it).
        let (path, mode) = match root.is_dir() {
            true => (root.as_path(), RecursiveMode::Recursive),
            false => (root.parent().unwrap_or(root), RecursiveMode::NonRecursive),
        };
        debouncer
            .watcher()
            .watch(path, mode)
            .map_err(|e| watch_err(path, e))?;
    }
    on_event(WatchEvent::Watching(roots.clone()));
    let index_dir = std::fs::canonicalize(index_dir).unwrap_or_else(|_| index_dir.to_path_buf());
    while !stop.load(Ordering::Relaxed) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Ok(events)) => {
                let relevant = events
                    .iter()
                    .any(|e| !e.path.starts_with(&index_dir) && concerns(&roots, &e.path));
                if relevant {
                    update(indexer, on_event)?;
                }
            }
            Ok(Err(e)) => {
                on_event(WatchEvent::Rescan(e.to_string()));
                update(indexer, on_event)?;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(())
}

fn update(indexer: &mut Indexer<'_>, on_event: &mut dyn FnMut(WatchEvent)) -> Result<()> {
    let report = indexer.update(&mut |e| on_event(WatchEvent::Indexing(e)))?;
    on_event(WatchEvent::Updated(report));
    Ok(())
}

/// Whether a changed path can matter to an index of `roots` (a file root's
/// folder also reports its neighbours).
fn concerns(roots: &[PathBuf], path: &Path) -> bool {
    roots.iter().any(|r| {
        if r.is_dir() {
            path.starts_with(r)
        } else {
            path == r
        }
    })
}
