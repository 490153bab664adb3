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

/// Mark `name` in `dir` as just used (its modification time), so that
/// [`bound`] removes others first.
pub(crate) fn touch(dir: Option<&Path>, name: &str) {
    let Some(dir) = dir else {
        return;
    };
    if let Ok(f) = std::fs::File::options().write(true).open(dir.join(name)) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

/// Remove the least recently used files of `dir` named `prefix*suffix`
/// until those left hold at most `limit` bytes; the most recent stays
/// whatever its size.
pub(crate) fn bound(dir: Option<&Path>, (prefix, suffix): (&str, &str), limit: u64) {
    let Some(entries) = dir.and_then(|d| std::fs::read_dir(d).ok()) else {
        return;
    };
    let mut kept: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, m.len(), e.path()))
        })
        .collect();
    kept.sort_by_key(|k| std::cmp::Reverse(k.0));
    let mut total = 0;
    for (i, (_, len, path)) in kept.iter().enumerate() {
        total += len;
        if i > 0 && total > limit {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{bound, touch};
    use std::time::{Duration, SystemTime};

    #[test]
    fn the_least_recently_used_go_first_and_the_newest_stays() {
        let dir = tempfile::tempdir().unwrap();
        let d = Some(dir.path());
        let now = SystemTime::now();
        // a: oldest, 30 bytes; b: 30; c: newest, 50; d: another kind.
        for (name, len, age) in [("p-a.bin", 30, 3), ("p-b.bin", 30, 2), ("p-c.bin", 50, 1)] {
            let path = dir.path().join(name);
            std::fs::write(&path, vec![0u8; len]).unwrap();
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(now - Duration::from_secs(age * 60)).unwrap();
        }
        std::fs::write(dir.path().join("p-d.tmp"), vec![0u8; 99]).unwrap();
        // Used now: a is the most recent.
        touch(d, "p-a.bin");
        bound(d, ("p-", ".bin"), 70);
        let left = |n: &str| dir.path().join(n).exists();
        assert!(left("p-a.bin") && !left("p-b.bin") && !left("p-c.bin") && left("p-d.tmp"));
        // Over the limit alone, the newest still stays.
        bound(d, ("p-", ".bin"), 10);
        assert!(left("p-a.bin"));
    }
}
