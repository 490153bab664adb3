//! JSON Lines, plain or gzip-compressed: the one reader of the workspace,
//! for BEIR corpora and queries, `embed --input` and `bench` inputs.
//!
//! Lines are streamed (a corpus is never held whole); blank lines are
//! skipped; a line that does not parse is an error naming the file and the
//! line number.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::error::{Error, IoContext, Result};

/// One parsed line, with the bytes of the file read so far (of the
/// compressed file for `.gz`), for progress.
pub struct Line<T> {
    /// The line's object.
    pub value: T,
    /// Bytes of the file consumed up to and including this line's buffer.
    pub read: u64,
}

/// Stream `path` (`.gz` is decompressed) as objects of type `T`;
/// `expected` describes the object in errors, e.g. `{"_id", "text"}`.
pub fn read<T: DeserializeOwned>(
    path: &Path,
    expected: &'static str,
) -> Result<impl Iterator<Item = Result<Line<T>>>> {
    let file = std::fs::File::open(path).at(path)?;
    let counter = Counting {
        inner: file,
        read: Arc::default(),
    };
    let read = counter.read.clone();
    let reader: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(counter)))
    } else {
        Box::new(BufReader::new(counter))
    };
    let path: PathBuf = path.to_path_buf();
    Ok(reader
        .lines()
        .enumerate()
        .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
        .map(move |(n, line)| {
            let line = line.at(&path)?;
            let value = serde_json::from_str::<T>(&line).map_err(|e| Error::Jsonl {
                path: path.clone(),
                line: n + 1,
                reason: format!("expected {expected}: {e}"),
            })?;
            Ok(Line {
                value,
                read: read.load(Ordering::Relaxed),
            })
        }))
}

/// Every line of `path` as `T`, in order.
pub fn read_all<T: DeserializeOwned>(path: &Path, expected: &'static str) -> Result<Vec<T>> {
    read(path, expected)?.map(|l| l.map(|l| l.value)).collect()
}

/// A reader that counts the bytes read through it.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Q {
        text: String,
    }

    #[test]
    fn reads_plain_and_gzip_alike_and_skips_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let body = "{\"text\":\"a\"}\n\n{\"text\":\"b\"}\n";
        let plain = dir.path().join("q.jsonl");
        std::fs::write(&plain, body).unwrap();
        let gz = dir.path().join("q.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(body.as_bytes()).unwrap();
        enc.finish().unwrap();
        for path in [plain, gz] {
            let got: Vec<Q> = read_all(&path, "{\"text\"}").unwrap();
            let texts: Vec<&str> = got.iter().map(|q| q.text.as_str()).collect();
            assert_eq!(texts, ["a", "b"], "{}", path.display());
        }
    }

    #[test]
    fn a_bad_line_is_named_by_file_and_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.jsonl");
        std::fs::write(&path, "{\"text\":\"a\"}\n{\"txt\":1}\n").unwrap();
        let err = read_all::<Q>(&path, "{\"text\"}").unwrap_err().to_string();
        assert!(err.contains("bad.jsonl:2"), "{err}");
        assert!(err.contains("expected {\"text\"}"), "{err}");
    }
}
