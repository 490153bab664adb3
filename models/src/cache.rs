//! What is computed once from a model's files and kept between processes
//! in the user's cache folder: int8's calibration ranges
//! ([`crate::calibration`]) and the packed weights ([`crate::packed`]).
//! Each file is named by a key of what it depends on; a missing or
//! unreadable file is computed again, and a cache that cannot be written
//! is only slower.

use std::path::{Path, PathBuf};

/// The folder kept results live in: `$SEMSEARCH_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/semsearch`, else `~/.cache/semsearch`; `None` where
/// none is known.
pub(crate) fn dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("SEMSEARCH_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("semsearch"))
}

/// The bytes kept in `dir` under `name`, if any.
pub(crate) fn read(dir: Option<&Path>, name: &str) -> Option<Vec<u8>> {
    std::fs::read(dir?.join(name)).ok()
}

/// Keep `bytes` in `dir` under `name`, written aside and renamed so that a
/// reader never sees half a file.
pub(crate) fn write(dir: Option<&Path>, name: &str, bytes: &[u8]) {
    let Some(dir) = dir else {
        return;
    };
    let aside = dir.join(format!("{name}.{}.tmp", std::process::id()));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&aside, bytes))
        .and_then(|()| std::fs::rename(&aside, dir.join(name)));
    if written.is_err() {
        let _ = std::fs::remove_file(&aside);
    }
}
