//! PDF: text by page (pdf-extract over lopdf), the title from the document
//! information dictionary, and the repairs of [`super::repair`].

use lopdf::{Document, Object};
use pdf_extract::PlainTextOutput;

use super::{join_sections, repair, Extracted, SkipReason, Unit};

pub fn extract(bytes: &[u8]) -> Result<Extracted, SkipReason> {
    let mut doc = Document::load_mem(bytes).map_err(|e| match e {
        lopdf::Error::Decryption(_) => SkipReason::Encrypted,
        _ => SkipReason::Corrupt,
    })?;
    // Many PDFs are "encrypted" with an empty user password (to set
    // permissions): those open; one that needs a password is skipped.
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(SkipReason::Encrypted);
    }
    let numbers: Vec<u32> = doc.get_pages().keys().copied().collect();
    if numbers.is_empty() {
        return Err(SkipReason::Corrupt);
    }
    let mut pages = Vec::with_capacity(numbers.len());
    let mut failed = 0;
    for n in numbers {
        let mut s = String::new();
        let ok = pdf_extract::output_doc_page(&doc, &mut PlainTextOutput::new(&mut s), n);
        if ok.is_err() {
            // One unreadable page keeps its number, empty.
            failed += 1;
            s.clear();
        }
        pages.push(s);
    }
    if failed == pages.len() {
        return Err(SkipReason::Corrupt);
    }
    let pages = repair::pages(pages);
    let (text, sections) = join_sections(pages);
    Ok(Extracted {
        title: info_title(&doc).unwrap_or_default(),
        text,
        lossy: false,
        breaks: None,
        sections,
        unit: Some(Unit::Page),
    })
}

/// `/Title` of the trailer's `/Info` dictionary.
fn info_title(doc: &Document) -> Option<String> {
    let info = match doc.trailer.get(b"Info").ok()? {
        Object::Reference(id) => doc.get_dictionary(*id).ok()?,
        Object::Dictionary(d) => d,
        _ => return None,
    };
    let Object::String(raw, _) = info.get(b"Title").ok()? else {
        return None;
    };
    let title = text_string(raw);
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    (!title.is_empty()).then_some(title)
}

/// A PDF text string: UTF-16BE after a byte-order mark, else (close enough
/// to PDFDocEncoding for titles) Latin-1.
fn text_string(raw: &[u8]) -> String {
    if let Some(be) = raw.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = be
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Ok(s) = std::str::from_utf8(raw.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(raw)) {
        return s.to_string();
    }
    raw.iter().map(|&b| char::from(b)).collect()
}
