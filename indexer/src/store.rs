//! The index folder: where it is, who may write it, and its generations.
//!
//! ```text
//! .semsearch/
//!   manifest.json      the commit point: names the current generation
//!   lock               held by the one process updating the index
//!   gen-000007/        one generation, never modified once committed
//!     tantivy/         lexical index (documents)
//!     vectors/         HNSW segments of passage vectors, tombstones
//! ```
//!
//! An update builds generation N+1 beside N (tantivy's and the vector
//! segments' files are hard-linked, not copied, since neither is ever
//! rewritten in place), then renames
//! a new manifest into place. A crash at any point leaves manifest.json
//! naming the intact generation N; leftovers are removed by the next update.
//! New generations are numbered past every folder on disk, so not even a
//! `--rebuild` touches the committed one before its manifest is replaced.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// The default index folder name inside an indexed folder.
pub const INDEX_DIR_NAME: &str = ".semsearch";

/// The folder of generation `generation`.
pub fn generation_dir(index: &Path, generation: u64) -> PathBuf {
    index.join(format!("gen-{generation:06}"))
}

/// The tantivy folder of a generation.
pub fn tantivy_dir(gen_dir: &Path) -> PathBuf {
    gen_dir.join("tantivy")
}

/// The LSA term basis of a generation.
pub fn lsa_path(gen_dir: &Path) -> PathBuf {
    gen_dir.join("lsa.bin")
}

/// `SEMSEARCH_INDEX`, else the nearest `.semsearch/` holding a manifest
/// from `start` upwards, as git finds `.git`.
pub fn discover(start: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SEMSEARCH_INDEX") {
        return Some(PathBuf::from(p));
    }
    let start = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
    start
        .ancestors()
        .map(|d| d.join(INDEX_DIR_NAME))
        .find(|d| d.join("manifest.json").is_file())
}

/// The writer's exclusive lock, released on drop (and by the kernel if the
/// process dies).
pub struct WriteLock {
    _file: File,
}

/// Take the index's write lock, or fail with [`crate::Error::Locked`].
pub fn lock(index: &Path) -> Result<WriteLock> {
    std::fs::create_dir_all(index).at(index)?;
    let path = index.join("lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(WriteLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
            path: index.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(e).at(&path),
    }
}

/// One more than the highest generation folder in `index` (1 when none).
pub fn next_generation(index: &Path) -> u64 {
    std::fs::read_dir(index)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .strip_prefix("gen-")?
                        .parse::<u64>()
                        .ok()
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
        + 1
}

/// Start generation `next` from `prev` (if any): hard-link the lexical
/// index's and the vector segments' files so that they can be added to
/// without touching `prev`.
pub fn start_generation(index: &Path, prev: Option<u64>, next: u64) -> Result<PathBuf> {
    let dir = generation_dir(index, next);
    if dir.exists() {
        // Left over from an interrupted run: never committed, so unused.
        std::fs::remove_dir_all(&dir).at(&dir)?;
    }
    let tdir = tantivy_dir(&dir);
    std::fs::create_dir_all(&tdir).at(&tdir)?;
    // Readers lease the generation through this file (`lease`); made here
    // so that a generation no reader ever opened is removed at once.
    let lease = lease_path(&dir);
    File::create(&lease).at(&lease)?;
    if let Some(prev) = prev {
        let prev = generation_dir(index, prev);
        link_files(&tantivy_dir(&prev), &tdir)?;
        let vectors = crate::segments::dir(&prev);
        if vectors.is_dir() {
            link_files(&vectors, &crate::segments::dir(&dir))?;
        }
    }
    Ok(dir)
}

/// Hard-link (else copy) the files of `from` into `to`, locks left out.
fn link_files(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).at(to)?;
    for entry in std::fs::read_dir(from).at(from)? {
        let entry = entry.at(from)?;
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".lock") {
            continue;
        }
        let target = to.join(&name);
        std::fs::hard_link(entry.path(), &target)
            .or_else(|_| std::fs::copy(entry.path(), &target).map(|_| ()))
            .at(&target)?;
    }
    Ok(())
}

/// The file readers hold a shared lock on while a generation is open.
fn lease_path(gen_dir: &Path) -> PathBuf {
    gen_dir.join("readers.lock")
}

/// A reader's hold on a generation: a shared lock on its `readers.lock`,
/// released on drop and by the kernel when the process dies, so a killed
/// reader never keeps a generation on disk.
#[derive(Debug)]
pub struct ReadLease {
    _file: File,
}

/// Hold generation `generation` of `index` for reading; `None` when it is
/// gone or going (a writer removing it holds the exclusive lock): read the
/// manifest again and open the generation it names.
pub fn lease(index: &Path, generation: u64) -> Option<ReadLease> {
    let gen_dir = generation_dir(index, generation);
    let path = lease_path(&gen_dir);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .ok()?;
    file.try_lock_shared().ok()?;
    // Locked, but perhaps on a file a writer unlinked just before: the
    // generation must still be there.
    let still = std::fs::metadata(&path).is_ok() && tantivy_dir(&gen_dir).is_dir();
    still.then_some(ReadLease { _file: file })
}

/// Remove every generation but `keep` that no reader holds (its
/// `readers.lock` takes the exclusive lock). Called with the write lock
/// held after `keep` is committed; a generation still read is removed by
/// a later commit, once its readers are gone. A `previous` made by an older
/// semsearch has no `readers.lock` (its readers take no lease): it is kept
/// one commit, as that semsearch did.
pub fn remove_old_generations(index: &Path, keep: u64, previous: Option<u64>) {
    let Ok(entries) = std::fs::read_dir(index) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(n) = name
            .strip_prefix("gen-")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if n == keep || Some(n) == previous && !lease_path(&entry.path()).exists() {
            continue;
        }
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lease_path(&entry.path()));
        // Held exclusively while the folder goes: a reader arriving now
        // fails its shared lock (or finds the folder gone) and re-reads
        // the manifest.
        if let Ok(file) = lock {
            if file.try_lock().is_ok() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}
