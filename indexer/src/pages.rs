//! How a vector segment's file sits in memory: in 2 MiB pages.
//!
//! An HNSW search reads a few thousand vectors at random places of its
//! segments, each a cache miss, and at a million passages (1 GB of f16
//! vectors) each also a TLB miss when the file is mapped in 4 KiB pages:
//! in this VM a random 768-byte read of a 1 GiB mapped file took 547-608 ns
//! from 4 KiB pages and 370-465 from 2 MiB ones (BENCHMARKS.md). Linux
//! (ext4 from 6.16) keeps a file's page cache in 2 MiB folios, and maps
//! them with one page-table entry each, when the file is written in 2 MiB
//! pieces or read from disk through a mapping advised `MADV_HUGEPAGE`.
//! usearch writes a segment a vector at a time through a 4 KiB `FILE`
//! buffer (4 KiB folios), so [`write()`] rewrites its file in 2 MiB pieces,
//! and [`map`] advises the mapping a segment is viewed through. Where the
//! kernel or file system cannot, both still work, in 4 KiB pages.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use memmap2::Mmap;

/// The piece files are written in: a transparent huge page on x86-64.
const PIECE: usize = 2 << 20;

/// Write the file that `save` writes at `path`, in 2 MiB pieces: `save`
/// writes a sibling file that is then copied to `path` (which must not
/// exist) and removed.
pub fn write(path: &Path, save: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    let part = std::path::PathBuf::from(name);
    let written = save(&part).and_then(|()| copy(&part, path));
    let removed = match std::fs::remove_file(&part) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    };
    written.and(removed)
}

fn copy(from: &Path, to: &Path) -> io::Result<()> {
    let mut src = File::open(from)?;
    let mut dst = File::create_new(to)?;
    let mut buf = vec![0u8; PIECE];
    loop {
        let n = read_full(&mut src, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        dst.write_all(&buf[..n])?;
    }
}

/// Read until `buf` is full or the file ends: a short read would make the
/// next write start off a 2 MiB boundary.
fn read_full(src: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..])? {
            0 => break,
            m => n += m,
        }
    }
    Ok(n)
}

/// A usearch index viewing a file it does not own, mapped read-only in
/// 2 MiB pages (usearch's own `view` maps it in 4 KiB ones and gives no
/// way to advise the mapping).
pub struct Viewed {
    // Declared first, so dropped before the mapping it reads.
    index: usearch::Index,
    _map: Mmap,
}

/// Why a file could not be viewed.
#[derive(Debug)]
pub enum ViewError {
    /// Opening or mapping the file.
    Io(io::Error),
    /// usearch refused its bytes.
    Usearch(String),
}

impl Viewed {
    /// `index` (empty, made with the file's options) viewing `path`.
    pub fn new(index: usearch::Index, path: &Path) -> Result<Self, ViewError> {
        let map = map(path).map_err(ViewError::Io)?;
        // SAFETY: `Viewed` keeps the mapping for as long as the index that
        // reads it, and drops the index first.
        unsafe { index.view_from_buffer(&map) }.map_err(|e| ViewError::Usearch(e.to_string()))?;
        Ok(Viewed { index, _map: map })
    }
}

impl std::ops::Deref for Viewed {
    type Target = usearch::Index;

    fn deref(&self) -> &usearch::Index {
        &self.index
    }
}

/// Map `path` read-only, advised to be read in 2 MiB pages.
fn map(path: &Path) -> io::Result<Mmap> {
    let file = File::open(path)?;
    // SAFETY: segment files are written once under a new name and never
    // changed after (a commit writes new files; older generations keep
    // theirs until no reader holds them), so the mapped bytes stay put.
    let map = unsafe { Mmap::map(&file)? };
    #[cfg(target_os = "linux")]
    {
        // Advice only: a kernel without transparent huge pages for files
        // refuses it, and the mapping works in 4 KiB pages.
        let _ = map.advise(memmap2::Advice::HugePage);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_holds_every_byte_and_leaves_no_sibling() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("seg.usearch");
        // Longer than two pieces and not a multiple of one.
        let bytes: Vec<u8> = (0..2 * PIECE + 12_345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        write(&path, |p| std::fs::write(p, &bytes)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert_eq!(&map(&path).unwrap()[..], &bytes[..]);
        let left: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
        assert_eq!(left.len(), 1, "only the file: {left:?}");
        // A file of that name is never written over (it may be a link
        // into a committed generation).
        assert!(write(&path, |p| std::fs::write(p, b"x")).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}
