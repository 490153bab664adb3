//! The scan stage: what is there to index, and what each file or corpus
//! object holds now (unchanged, changed with its passages, or skipped).

use std::path::Path;
use std::time::UNIX_EPOCH;

use crate::chrome::Chrome;
use crate::chunk::{Chunk, Chunker};
use crate::extract::ocr;
use crate::extract::pre::Pre;
use crate::extract::{detect, extract, moved_notice, Extracted, Format, SkipReason, Unit};
use crate::manifest::{DocEntry, Pages};
use crate::pathname;
use crate::source::CorpusDoc;

/// A document to (re-)embed: its entry (passages still empty), text and
/// passages' token ids, and what the index held for its id (set by the
/// run, which looks it up).
pub(super) struct NewDoc {
    pub id: String,
    pub entry: DocEntry,
    pub text: String,
    pub chunks: Vec<Chunk>,
    pub old: Option<super::Known>,
}

/// Outcome of looking at one file or corpus object.
pub(super) enum Seen {
    /// Same content as indexed; the entry where it differs from the
    /// index's (a touched file: size and mtime refreshed), else `None` (no
    /// copy: a no-op run over a million records cloned one each, 8% of it).
    Unchanged(String, Option<DocEntry>),
    /// New or changed, with whether it was decoded lossily.
    Changed(Box<NewDoc>, bool),
    Skipped(std::path::PathBuf, SkipReason),
}

/// xxh3-128 of the parts, hex: a document's content hash.
pub(super) fn hash(parts: &[&[u8]]) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for p in parts {
        h.update(p);
        h.update(&[0]);
    }
    format!("{:032x}", h.digest128())
}

fn mtime_nanos(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// A file's document id: its path under `root` with `/` separators (names
/// that are not UTF-8 escaped as `ls -b` shows them), prefixed with the
/// root's name when several roots share the index. A file given as a root
/// is known by its name.
pub(super) fn doc_id(root: &Path, path: &Path, prefix_root: bool) -> String {
    if root == path {
        return path.file_name().map(pathname::escape).unwrap_or_default();
    }
    let rel = path.strip_prefix(root).unwrap_or(path);
    let rel = rel
        .components()
        .map(|c| pathname::escape(c.as_os_str()))
        .collect::<Vec<_>>()
        .join("/");
    match (prefix_root, root.file_name()) {
        (true, Some(name)) => format!("{}/{rel}", pathname::escape(name)),
        _ => rel,
    }
}

/// Whether the file at `path` will be read again: new, or its size or
/// modification time differ from the entry's.
pub(super) fn may_change(path: &Path, old: Option<&DocEntry>) -> bool {
    let Some(old) = old else { return true };
    std::fs::metadata(path).map_or(true, |m| {
        m.len() != old.size || mtime_nanos(&m) != old.mtime
    })
}

/// An HTML page's extracted text, to learn its site's chrome from.
pub(super) fn page_text(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    extract(path, &bytes, true).ok().map(|e| e.text)
}

/// Whether a file is a PDF, as extraction recognises one.
fn is_pdf(path: &Path, bytes: &[u8]) -> bool {
    matches!(detect(path, bytes), Ok(Some(Format::Pdf)))
}

/// Look at one file: unchanged (same size and mtime, or same hash), changed
/// (extracted and cut into passages), or skipped with the reason.
/// What looking at a file needs besides the file.
pub(super) struct Looker<'a> {
    pub chunker: &'a Chunker,
    pub max_size: u64,
    pub chrome: &'a Chrome,
    pub pre: Option<&'a Pre>,
}

pub(super) fn look_at_file(
    id: String,
    path: &Path,
    selected: bool,
    old: Option<&DocEntry>,
    looker: &Looker,
) -> Seen {
    let Looker {
        chunker,
        max_size,
        chrome,
        pre,
    } = *looker;
    let pre = pre.filter(|p| p.applies(path));
    let skip = |r| Seen::Skipped(path.to_path_buf(), r);
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return skip(SkipReason::BrokenLink),
        Err(_) => return skip(SkipReason::Unreadable),
    };
    let (size, mtime) = (meta.len(), mtime_nanos(&meta));
    let limit = if crate::extract::is_document_name(path) {
        max_size.saturating_mul(crate::extract::DOCUMENT_SIZE_FACTOR)
    } else {
        max_size
    };
    if size > limit {
        return skip(SkipReason::TooLarge);
    }
    // An exempt file no longer selected is judged again.
    let old = old.filter(|o| selected || !o.exempt);
    let pre_id = pre.map(Pre::id);
    // Read by another preprocessor, or by none: read again.
    let old = old.filter(|o| o.pre == pre_id);
    if old.is_some_and(|o| o.size == size && o.mtime == mtime) {
        return Seen::Unchanged(id, None);
    }
    let Ok(bytes) = std::fs::read(path) else {
        return skip(SkipReason::Unreadable);
    };
    // A preprocessed file's text depends on the command too.
    let h = match pre {
        Some(p) => hash(&[&bytes, p.signature.as_bytes()]),
        None => hash(&[&bytes]),
    };
    if let Some(old) = old.filter(|o| o.hash == h) {
        // Touched but not changed: keep the passages, refresh size and mtime.
        let entry = DocEntry {
            size,
            mtime,
            ..old.clone()
        };
        return Seen::Unchanged(id, Some(entry));
    }
    let extracted = match pre {
        Some(p) => p.run(path, limit).map(|text| Extracted::plain(path, text)),
        None if ocr::is_image(path) => ocr::image(path, limit),
        None => match extract(path, &bytes, !selected) {
            // A scan: its pages are images.
            Err(SkipReason::NoText) if is_pdf(path, &bytes) => ocr::pdf(path, limit),
            // Some pages scanned among text ones.
            Ok(e) if e.unit == Some(Unit::Page) && is_pdf(path, &bytes) => {
                Ok(ocr::fill_pages(path, e, limit))
            }
            other => other,
        },
    };
    let mut extracted = match extracted {
        Ok(e) => e,
        Err(r) => return skip(r),
    };
    drop(bytes);
    let own = match extracted.sections.is_empty() {
        true => chrome.strip(path, &extracted.text),
        false => None,
    };
    let page = crate::chrome::is_page(path);
    if !selected && page && moved_notice(own.as_deref().unwrap_or(&extracted.text), &extracted.text)
    {
        return skip(SkipReason::Redirect);
    }
    if let Some(text) = own {
        extracted.text = text;
    }
    let exempt = crate::kind::by_name(path).is_some() || extracted.breaks.is_some();
    let chunks = chunker.chunk_sections(&extracted.title, &extracted.text, &extracted.sections);
    let pages = extracted.unit.map(|unit| Pages {
        unit,
        starts: extracted.sections,
    });
    let entry = DocEntry {
        path: Some(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())),
        title: extracted.title,
        size,
        mtime,
        hash: h,
        exempt,
        pre: pre_id,
        ocr_pages: extracted.ocr_pages,
        passages: Vec::new(),
        pages,
    };
    let doc = NewDoc {
        id,
        entry,
        text: extracted.text,
        chunks,
        old: None,
    };
    Seen::Changed(Box::new(doc), extracted.lossy)
}

/// A corpus object's content hash (title and text).
pub(super) fn corpus_hash(d: &CorpusDoc) -> String {
    hash(&[d.title.as_bytes(), d.text.as_bytes()])
}

/// Look at one object of a JSON Lines corpus whose [`corpus_hash`] is `h`
/// (unchanged when the index's hash is that).
pub(super) fn look_at_corpus_doc(
    d: CorpusDoc,
    h: String,
    old: Option<&DocEntry>,
    chunker: &Chunker,
) -> Seen {
    if old.is_some_and(|o| o.hash == h) {
        return Seen::Unchanged(d.id, None);
    }
    let chunks = chunker.chunk(&d.title, &d.text);
    let entry = DocEntry {
        path: None,
        title: d.title,
        size: d.text.len() as u64,
        mtime: 0,
        hash: h,
        exempt: false,
        pre: None,
        ocr_pages: 0,
        passages: Vec::new(),
        pages: None,
    };
    let doc = NewDoc {
        id: d.id,
        entry,
        text: d.text,
        chunks,
        old: None,
    };
    Seen::Changed(Box::new(doc), false)
}
