//! From raw bytes to (title, text): text files are decoded (HTML reduced to
//! its visible text); PDF, Word, OpenDocument, PowerPoint and EPUB files,
//! recognised by their content, are read by their format's parser under a
//! time limit, with page and slide boundaries kept.

mod document;
mod epub;
pub mod ocr;
mod office;
mod pdf;
pub mod pre;
mod repair;
mod text;
mod worker;
mod xml;
mod zipped;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub(crate) use document::detect;
pub use document::{is_document_name, Format, DOCUMENT_SIZE_FACTOR, THREAD_NAME, TIME_LIMIT};
pub use text::moved_notice;
pub use worker::{serve, use_worker, WORKER_ARG, WORKER_MEMORY};

/// Why a file was not indexed (or was indexed with a caveat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// A NUL byte in the first 8 KB, and no document format recognised.
    Binary,
    /// Nothing but whitespace.
    Empty,
    /// Over `--max-file-size` (documents: ten times that), or a zip member
    /// inflating past its bound.
    TooLarge,
    /// Could not be opened or read (permissions, I/O error).
    Unreadable,
    /// A symbolic link to nothing.
    BrokenLink,
    /// A symbolic link that leads back to a folder above it.
    SymlinkLoop,
    /// Made by a tool, not written: minified code, search indexes, lock files.
    Generated,
    /// Text that is neither prose nor code: style sheets, SVG, data dumps.
    NotDocument,
    /// A document that needs a password (PDF, or an encrypted Office file).
    Encrypted,
    /// A document its parser cannot read: truncated, damaged, not what its
    /// name says, or a parser that panicked on it.
    Corrupt,
    /// A document without text: a scanned PDF with no text layer.
    NoText,
    /// A document whose parser ran past [`TIME_LIMIT`].
    Timeout,
    /// An HTML page that only sends the reader elsewhere: a meta refresh,
    /// or a short page saying it moved (mdBook's stubs of old editions).
    Redirect,
    /// The `--pre` command failed on it (an error status, or it could not
    /// start).
    PreFailed,
    /// An image or a scanned PDF, and no OCR installed
    /// ([`ocr::PACKAGES`]).
    NoOcr,
}

impl SkipReason {
    /// Every reason, in report order.
    pub const ALL: [SkipReason; 15] = [
        SkipReason::Binary,
        SkipReason::Empty,
        SkipReason::TooLarge,
        SkipReason::Unreadable,
        SkipReason::BrokenLink,
        SkipReason::SymlinkLoop,
        SkipReason::Generated,
        SkipReason::NotDocument,
        SkipReason::Encrypted,
        SkipReason::Corrupt,
        SkipReason::NoText,
        SkipReason::Timeout,
        SkipReason::Redirect,
        SkipReason::PreFailed,
        SkipReason::NoOcr,
    ];

    /// The reason named `name` (as [`SkipReason::as_str`] writes it).
    pub fn parse(name: &str) -> Option<SkipReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The reason as `index --json` counts it (`too_large`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Binary => "binary",
            SkipReason::Empty => "empty",
            SkipReason::TooLarge => "too_large",
            SkipReason::Unreadable => "unreadable",
            SkipReason::BrokenLink => "broken_link",
            SkipReason::SymlinkLoop => "symlink_loop",
            SkipReason::Generated => "generated",
            SkipReason::NotDocument => "not_document",
            SkipReason::Encrypted => "encrypted",
            SkipReason::Corrupt => "corrupt",
            SkipReason::NoText => "no_text",
            SkipReason::Timeout => "timeout",
            SkipReason::Redirect => "redirect",
            SkipReason::PreFailed => "pre_failed",
            SkipReason::NoOcr => "no_ocr",
        }
    }
}

/// What a document's numbered sections are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A page of a PDF.
    Page,
    /// A slide of a PowerPoint or OpenDocument presentation.
    Slide,
}

impl Unit {
    /// `page` or `slide`.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Page => "page",
            Unit::Slide => "slide",
        }
    }
}

/// Extracted content of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// From the metadata, the first heading, or the file name.
    pub title: String,
    /// The text to index, paragraphs separated by blank lines.
    pub text: String,
    /// The bytes were not valid UTF-8 and were decoded lossily.
    pub lossy: bool,
    /// The content rule of [`crate::kind::by_content`] this text breaks.
    pub breaks: Option<SkipReason>,
    /// Byte offsets in `text` where a page, slide or chapter starts (the
    /// first at 0); no passage crosses one. Empty for plain text.
    pub sections: Vec<usize>,
    /// What the sections are, when they are numbered for people (pages and
    /// slides; EPUB chapters are boundaries only).
    pub unit: Option<Unit>,
    /// Pages read by OCR ([`ocr`]).
    pub ocr_pages: usize,
}

impl Extracted {
    /// A preprocessor's output for `path`: plain text, titled by its first
    /// Markdown heading (pandoc's and most converters' output has one),
    /// else by the file's name.
    pub fn plain(path: &Path, text: String) -> Extracted {
        let title = text::markdown_title(&text).unwrap_or_else(|| file_title(path));
        Extracted {
            title,
            text,
            lossy: false,
            breaks: None,
            sections: Vec::new(),
            unit: None,
            ocr_pages: 0,
        }
    }
}

/// Extract a file. Documents (PDF, Office, EPUB) are recognised by their
/// content, whatever their name. Text files: with `judge`, text that is
/// generated or not a document ([`crate::kind::by_content`]) is refused;
/// without, it is extracted with the rule it breaks.
pub fn extract(path: &Path, bytes: &[u8], judge: bool) -> Result<Extracted, SkipReason> {
    match document::detect(path, bytes)? {
        Some(format) => document::extract(format, path, bytes),
        None => text::extract(path, bytes, judge),
    }
}

/// The file name without its extension: the title of last resort.
fn file_title(path: &Path) -> String {
    path.file_stem()
        .or_else(|| path.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Join sections (pages, slides, chapters) into one text with a blank line
/// between them, recording where each starts.
fn join_sections(parts: impl IntoIterator<Item = String>) -> (String, Vec<usize>) {
    let mut text = String::new();
    let mut starts = Vec::new();
    for part in parts {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        starts.push(text.len());
        text.push_str(part.trim());
    }
    (text, starts)
}
