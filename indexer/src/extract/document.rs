//! Documents that are not plain text: which format a file is (by content,
//! not name), and its extraction under a time limit with parser panics
//! caught.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use super::{epub, office, pdf, zipped, Extracted, SkipReason};

/// Formats read by a parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Portable Document Format.
    Pdf,
    /// Word (Office Open XML).
    Docx,
    /// PowerPoint (Office Open XML).
    Pptx,
    /// OpenDocument text.
    Odt,
    /// OpenDocument presentation.
    Odp,
    /// EPUB book.
    Epub,
}

/// Longest a parser may take on one file: pdf-extract reads a few hundred
/// pages a second here (BENCHMARKS.md), so a 60 s parse is a parser stuck,
/// not a long book. It is left behind and the file skipped as `timeout`.
pub const TIME_LIMIT: Duration = Duration::from_secs(60);

/// Documents may be this many times `--max-file-size`: their bytes are
/// mostly fonts and pictures (a 10 MB PDF is often 1 MB of text).
pub const DOCUMENT_SIZE_FACTOR: u64 = 10;

/// Extensions of the formats above (for the size allowance, decided before
/// a file is read).
pub fn is_document_name(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    matches!(
        ext.as_str(),
        "pdf" | "docx" | "pptx" | "odt" | "odp" | "epub"
    )
}

/// The document format of `bytes`, `None` for text (and for binaries that
/// are no document, left to the text path's binary check). A file named
/// like a document that is none is `corrupt`; an OLE2 container named like
/// an Office Open XML file is one encrypted with a password (that is how
/// Office stores them).
pub fn detect(path: &Path, bytes: &[u8]) -> Result<Option<Format>, SkipReason> {
    let named = is_document_name(path);
    // The PDF header may follow up to 1 KB of junk (PDF 1.7, annex H); only
    // trusted there for a file named .pdf, so that a note quoting "%PDF-1.7"
    // stays a text file.
    let head = &bytes[..bytes.len().min(1024)];
    if bytes.starts_with(b"%PDF-") || (named && head.windows(5).any(|w| w == b"%PDF-")) {
        return Ok(Some(Format::Pdf));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return match zipped::format(bytes) {
            Some(f) => Ok(Some(f)),
            None if named => Err(SkipReason::Corrupt),
            None => Ok(None),
        };
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) && named {
        return Err(SkipReason::Encrypted);
    }
    if named {
        return Err(SkipReason::Corrupt);
    }
    Ok(None)
}

/// Extract a document in a worker process when one is registered
/// ([`super::use_worker`]: time and memory limits), else on a thread of its
/// own, so that a parser stuck in a loop costs one thread, not the run, and
/// a panic becomes `corrupt`.
pub fn extract(format: Format, path: &Path, bytes: &[u8]) -> Result<Extracted, SkipReason> {
    if let Some(exe) = super::worker::registered() {
        return super::worker::isolated(exe, path);
    }
    let owned = bytes.to_vec();
    let path = path.to_path_buf();
    guarded(TIME_LIMIT, move || parse(format, &path, &owned))
}

/// Run `work` on a named thread: its result, `corrupt` if it panicked,
/// `timeout` if it is still running after `limit` (it is then left to
/// finish or spin on its own; Rust cannot stop a thread).
fn guarded<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> Result<T, SkipReason> + Send + 'static,
) -> Result<T, SkipReason> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .unwrap_or(Err(SkipReason::Corrupt));
            let _ = tx.send(result);
        });
    if spawned.is_err() {
        return Err(SkipReason::Unreadable);
    }
    match rx.recv_timeout(limit) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(SkipReason::Timeout),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(SkipReason::Corrupt),
    }
}

/// Name of the extraction threads: a program can keep their panics quiet
/// (they are reported as `corrupt`).
pub const THREAD_NAME: &str = "semsearch-extract";

/// Parse a document of a known format (no limits: see [`extract`]).
pub(super) fn parse(format: Format, path: &Path, bytes: &[u8]) -> Result<Extracted, SkipReason> {
    let mut e = match format {
        Format::Pdf => pdf::extract(bytes)?,
        Format::Docx => office::docx(bytes)?,
        Format::Pptx => office::pptx(bytes)?,
        Format::Odt => office::odf(bytes, false)?,
        Format::Odp => office::odf(bytes, true)?,
        Format::Epub => epub::extract(bytes)?,
    };
    if e.text.trim().is_empty() {
        return Err(SkipReason::NoText);
    }
    if e.title.trim().is_empty() {
        e.title = super::file_title(path);
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_known_by_content_not_name() {
        let pdf = b"%PDF-1.7\n...";
        assert_eq!(detect(Path::new("paper.bin"), pdf), Ok(Some(Format::Pdf)));
        let note = b"# Notes\nA PDF starts with %PDF-1.7, then objects.";
        assert_eq!(detect(Path::new("notes.md"), note), Ok(None));
        assert_eq!(
            detect(Path::new("a.pdf"), b"junk\n%PDF-1.4"),
            Ok(Some(Format::Pdf))
        );
        assert_eq!(
            detect(Path::new("a.pdf"), b"hello"),
            Err(SkipReason::Corrupt)
        );
        let ole = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        assert_eq!(
            detect(Path::new("a.docx"), &ole),
            Err(SkipReason::Encrypted)
        );
        assert_eq!(
            detect(Path::new("a.doc"), &ole),
            Ok(None),
            "legacy Word: binary"
        );
    }

    #[test]
    fn a_parser_that_panics_or_hangs_costs_its_file_only() {
        let panics = guarded::<()>(TIME_LIMIT, || panic!("parser bug"));
        assert_eq!(panics, Err(SkipReason::Corrupt));
        let hangs = guarded::<()>(Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_secs(5));
            Ok(())
        });
        assert_eq!(hangs, Err(SkipReason::Timeout));
        assert_eq!(guarded(TIME_LIMIT, || Ok(7)), Ok(7));
    }
}
