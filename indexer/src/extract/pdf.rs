//! PDF: text by page (pdf-extract over lopdf), the title from the document
//! information dictionary, and the repairs of [`super::repair`].

use lopdf::{Document, Object};
use pdf_extract::{MediaBox, OutputDev, OutputError, PlainTextOutput, Transform};

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
    let pages = match all_pages(&doc, numbers.len()) {
        Some(pages) => pages,
        None => page_by_page(&doc, &numbers)?,
    };
    let pages = repair::pages(pages);
    let (text, sections) = join_sections(pages);
    Ok(Extracted {
        title: info_title(&doc).unwrap_or_default(),
        text,
        lossy: false,
        breaks: None,
        sections,
        unit: Some(Unit::Page),
        ocr_pages: 0,
    })
}

/// Every page's text in one pass over the page tree, cut where each page
/// ends. `None` if a page fails (the pass stops there).
fn all_pages(doc: &Document, count: usize) -> Option<Vec<String>> {
    let buf = Shared::default();
    let mut writer = buf.clone();
    let mut paged = Paged {
        text: PlainTextOutput::new(&mut writer as &mut dyn std::io::Write),
        buf: buf.clone(),
        ends: Vec::with_capacity(count),
    };
    pdf_extract::output_doc(doc, &mut paged).ok()?;
    let ends = std::mem::take(&mut paged.ends);
    drop(paged);
    let bytes = buf.0.take();
    let mut pages = Vec::with_capacity(ends.len());
    let mut from = 0;
    for end in ends {
        pages.push(String::from_utf8_lossy(&bytes[from..end]).into_owned());
        from = end;
    }
    Some(pages)
}

/// Page by page, each failure an empty page: pdf-extract looks the page
/// up in a fresh page tree map each time (quadratic in pages), so only
/// for documents whose one-pass read failed.
fn page_by_page(doc: &Document, numbers: &[u32]) -> Result<Vec<String>, SkipReason> {
    let mut pages = Vec::with_capacity(numbers.len());
    let mut failed = 0;
    for &n in numbers {
        let mut s = String::new();
        let ok = pdf_extract::output_doc_page(doc, &mut PlainTextOutput::new(&mut s), n);
        if ok.is_err() {
            // One unreadable page keeps its number, empty.
            failed += 1;
            s.clear();
        }
        pages.push(s);
    }
    match failed == pages.len() {
        true => Err(SkipReason::Corrupt),
        false => Ok(pages),
    }
}

/// A byte buffer shared by the text output and the page cutter.
#[derive(Default, Clone)]
struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// pdf-extract's plain text output, noting where each page's text ends.
struct Paged<'a> {
    text: PlainTextOutput<&'a mut dyn std::io::Write>,
    buf: Shared,
    ends: Vec<usize>,
}

impl OutputDev for Paged<'_> {
    fn begin_page(
        &mut self,
        n: u32,
        media: &MediaBox,
        art: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        self.text.begin_page(n, media, art)
    }
    fn end_page(&mut self) -> Result<(), OutputError> {
        self.text.end_page()?;
        self.ends.push(self.buf.0.borrow().len());
        Ok(())
    }
    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        spacing: f64,
        size: f64,
        c: &str,
    ) -> Result<(), OutputError> {
        self.text.output_character(trm, width, spacing, size, c)
    }
    fn begin_word(&mut self) -> Result<(), OutputError> {
        self.text.begin_word()
    }
    fn end_word(&mut self) -> Result<(), OutputError> {
        self.text.end_word()
    }
    fn end_line(&mut self) -> Result<(), OutputError> {
        self.text.end_line()
    }
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
