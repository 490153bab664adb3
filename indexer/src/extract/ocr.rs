//! OCR: scanned PDFs (pages without a text layer) and images (PNG, JPEG,
//! TIFF) are read with Tesseract when it is installed (Debian
//! `tesseract-ocr`; PDF pages are first rendered by poppler's `pdftoppm`,
//! `poppler-utils`). Without them such files are skipped as `no_ocr`, and
//! the run says which package to install. Both run as child processes,
//! bounded like every parser (time, output).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::pre::{run_bounded, Failure};
use super::{file_title, join_sections, Extracted, SkipReason, Unit};

/// The Debian packages OCR needs, for messages.
pub const PACKAGES: &str = "tesseract-ocr (and poppler-utils for PDFs)";

/// Resolution pages are rendered at: Tesseract reads body text best at
/// about 300 dpi; 200 keeps a page's image (and the time) smaller.
const DPI: &str = "200";

/// Whether `path` is an image OCR reads, by its name.
pub fn is_image(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(
            e.to_ascii_lowercase().as_str(),
            "png" | "jpg" | "jpeg" | "tif" | "tiff"
        )
    })
}

/// A program on `PATH`, looked up once per process.
fn program(name: &'static str, cell: &'static OnceLock<Option<PathBuf>>) -> Option<&'static Path> {
    cell.get_or_init(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    })
    .as_deref()
}

fn tesseract() -> Option<&'static Path> {
    static CELL: OnceLock<Option<PathBuf>> = OnceLock::new();
    program("tesseract", &CELL)
}

fn pdftoppm() -> Option<&'static Path> {
    static CELL: OnceLock<Option<PathBuf>> = OnceLock::new();
    program("pdftoppm", &CELL)
}

/// The text Tesseract reads in one image file.
fn read_image(image: &Path, limit: u64) -> Result<String, SkipReason> {
    let tesseract = tesseract().ok_or(SkipReason::NoOcr)?;
    let mut cmd = Command::new(tesseract);
    // `stdout`: the text on standard output; quiet about its settings.
    cmd.arg(image).arg("stdout").arg("--psm").arg("3");
    let out = run_bounded(cmd, limit).map_err(skip)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Why an OCR tool gave nothing: not there, or the file is damaged.
fn skip(e: Failure) -> SkipReason {
    match e {
        Failure::Start => SkipReason::NoOcr,
        Failure::Status => SkipReason::Corrupt,
        Failure::Skip(r) => r,
    }
}

/// An image file read by OCR: one page.
pub fn image(path: &Path, limit: u64) -> Result<Extracted, SkipReason> {
    let text = read_image(path, limit)?;
    if text.trim().is_empty() {
        return Err(SkipReason::NoText);
    }
    let mut e = Extracted::plain(path, text);
    e.ocr_pages = 1;
    Ok(e)
}

/// A PDF without a text layer, every page rendered and read by OCR.
pub fn pdf(path: &Path, limit: u64) -> Result<Extracted, SkipReason> {
    let pages = read_pages(path, None, limit)?;
    let count = pages.len();
    let (text, sections) = join_sections(pages);
    if text.trim().is_empty() {
        return Err(SkipReason::NoText);
    }
    Ok(Extracted {
        title: file_title(path),
        text,
        lossy: false,
        breaks: None,
        sections,
        unit: Some(Unit::Page),
        ocr_pages: count,
    })
}

/// A PDF with a text layer whose pages `empty` (1-based) have none: those
/// pages read by OCR, the others kept. Unchanged when OCR is missing.
pub fn fill_pages(path: &Path, e: Extracted, limit: u64) -> Extracted {
    if tesseract().is_none() || pdftoppm().is_none() {
        return e;
    }
    let pages = split_pages(&e.text, &e.sections);
    let empty: Vec<usize> = (0..pages.len())
        .filter(|&i| pages[i].trim().is_empty())
        .collect();
    if empty.is_empty() {
        return e;
    }
    let mut pages = pages;
    let mut read = 0;
    for i in empty {
        let text = read_pages(path, Some(i + 1), limit)
            .ok()
            .and_then(|mut p| p.pop());
        if let Some(t) = text.filter(|t| !t.trim().is_empty()) {
            pages[i] = t;
            read += 1;
        }
    }
    if read == 0 {
        return e;
    }
    let (text, sections) = join_sections(pages);
    Extracted {
        text,
        sections,
        ocr_pages: read,
        ..e
    }
}

/// The pages of a text cut at `starts`.
fn split_pages(text: &str, starts: &[usize]) -> Vec<String> {
    starts
        .iter()
        .enumerate()
        .map(|(i, &from)| {
            let to = starts.get(i + 1).copied().unwrap_or(text.len());
            text.get(from..to).unwrap_or_default().to_string()
        })
        .collect()
}

/// A fresh temporary folder for rendered pages.
fn scratch() -> PathBuf {
    static RUN: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "semsearch-ocr-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The text of a PDF's pages (all, or page `only`, 1-based), each
/// rendered by `pdftoppm` into a scratch folder and read by Tesseract.
fn read_pages(pdf: &Path, only: Option<usize>, limit: u64) -> Result<Vec<String>, SkipReason> {
    let (Some(_), Some(pdftoppm)) = (tesseract(), pdftoppm()) else {
        return Err(SkipReason::NoOcr);
    };
    let dir = scratch();
    std::fs::create_dir_all(&dir).map_err(|_| SkipReason::Unreadable)?;
    let mut cmd = Command::new(pdftoppm);
    cmd.args(["-r", DPI, "-gray", "-png"]);
    if let Some(n) = only.map(|n| n.to_string()) {
        cmd.args(["-f", &n, "-l", &n]);
    }
    cmd.arg(pdf).arg(dir.join("page"));
    let read = run_bounded(cmd, 1 << 20).map_err(skip).and_then(|_| {
        // page-1.png, page-2.png ... (zero-padded to the page count's width).
        let mut images: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|_| SkipReason::Unreadable)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "png"))
            .collect();
        images.sort();
        images.iter().map(|img| read_image(img, limit)).collect()
    });
    let _ = std::fs::remove_dir_all(&dir);
    read
}
