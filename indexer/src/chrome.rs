//! Site chrome: the navigation, help and footer lines that a generated
//! site (mdBook, rustdoc, Sphinx) repeats verbatim on every page. Left in,
//! they open the first passage of every page and become the snippet of
//! real results ("Keyboard shortcuts Press ← or → to navigate between
//! chapters ..."). PDFs already lose their running headers
//! ([`crate::extract`]); HTML pages lose their chrome here, before
//! chunking.
//!
//! A site is a folder of pages (one template per folder: mdBook's book,
//! one rustdoc module). From an even sample of its pages, a line is chrome
//! when it is on 60% of them. A page loses the first occurrence of
//! each chrome line, and only when it carries the template (half of the
//! chrome lines at least): a page that quotes a chrome line in its own
//! text keeps the quote, and a page of another template keeps everything.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

/// Pages a folder needs before its repeated lines count as chrome.
pub const MIN_PAGES: usize = 5;
/// Pages read per folder to learn its chrome.
const SAMPLE: usize = 24;
/// Share of the sampled pages a line must be on to be chrome.
const SHARE: f64 = 0.6;

/// The chrome lines of each site folder, learned from its pages.
#[derive(Debug, Default)]
pub struct Chrome {
    sites: HashMap<PathBuf, HashSet<u64>>,
}

/// Whether `path` is an HTML page (the only documents with site chrome).
pub fn is_page(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "html" | "htm" | "xhtml"))
}

fn key(line: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(line.trim().as_bytes())
}

fn site(path: &Path) -> PathBuf {
    path.parent().unwrap_or(Path::new("")).to_path_buf()
}

impl Chrome {
    /// Learn the chrome of every folder of `pages` that has [`MIN_PAGES`]
    /// pages and one (at least) that `wanted` says will be extracted (an
    /// unchanged folder costs nothing). `text_of` extracts a page's text.
    pub fn learn(
        pages: &[&Path],
        wanted: impl Fn(&Path) -> bool,
        text_of: impl Fn(&Path) -> Option<String> + Sync,
    ) -> Chrome {
        let mut folders: HashMap<PathBuf, Vec<&Path>> = HashMap::new();
        for &p in pages.iter().filter(|p| is_page(p)) {
            folders.entry(site(p)).or_default().push(p);
        }
        folders.retain(|_, ps| ps.len() >= MIN_PAGES && ps.iter().any(|p| wanted(p)));
        let sites = folders
            .into_par_iter()
            .map(|(folder, mut ps)| {
                ps.sort();
                let step = ps.len().div_ceil(SAMPLE);
                let texts: Vec<String> =
                    ps.iter().step_by(step).filter_map(|p| text_of(p)).collect();
                (folder, repeated_lines(&texts))
            })
            .filter(|(_, lines)| !lines.is_empty())
            .collect();
        Chrome { sites }
    }

    /// Folders with chrome learned.
    pub fn sites(&self) -> usize {
        self.sites.len()
    }

    /// `text` of the page at `path` without its site's chrome; `None` when
    /// nothing is dropped.
    pub fn strip(&self, path: &Path, text: &str) -> Option<String> {
        let chrome = self.sites.get(&site(path))?;
        let mut left: HashSet<u64> = chrome.clone();
        let carried = text
            .lines()
            .map(key)
            .collect::<HashSet<_>>()
            .intersection(chrome)
            .count();
        if carried * 2 < chrome.len() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            if !left.remove(&key(line)) {
                out.push_str(line);
            }
        }
        Some(out)
    }
}

/// Lines (non-empty) on `SHARE` of `texts` (counted once per text).
fn repeated_lines(texts: &[String]) -> HashSet<u64> {
    if texts.len() < MIN_PAGES {
        return HashSet::new();
    }
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for t in texts {
        let lines: HashSet<u64> = t
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(key)
            .collect();
        for k in lines {
            *counts.entry(k).or_default() += 1;
        }
    }
    let need = (texts.len() as f64 * SHARE).ceil() as usize;
    counts
        .into_iter()
        .filter(|&(_, n)| n >= need)
        .map(|(k, _)| k)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str =
        "Keyboard shortcuts\nPress ← or → to navigate between chapters\nThe Book\n";

    fn site_pages() -> Vec<(PathBuf, String)> {
        let mut pages: Vec<(PathBuf, String)> = (0..6)
            .map(|i| {
                (
                    PathBuf::from(format!("/site/ch{i}.html")),
                    format!("{CHROME}Chapter {i}\nWhat chapter {i} says.\n"),
                )
            })
            .collect();
        // Quotes a chrome line in its own text.
        pages.push((
            PathBuf::from("/site/help.html"),
            format!("{CHROME}Help\nThe help popup says: \nKeyboard shortcuts\nand more.\n"),
        ));
        pages
    }

    fn learned(pages: &[(PathBuf, String)]) -> Chrome {
        let text: HashMap<&Path, &str> = pages
            .iter()
            .map(|(p, t)| (p.as_path(), t.as_str()))
            .collect();
        let paths: Vec<&Path> = pages.iter().map(|(p, _)| p.as_path()).collect();
        Chrome::learn(&paths, |_| true, |p| text.get(p).map(|t| t.to_string()))
    }

    #[test]
    fn lines_on_most_pages_of_a_folder_are_dropped() {
        let pages = site_pages();
        let chrome = learned(&pages);
        assert_eq!(chrome.sites(), 1);
        let stripped = chrome.strip(&pages[2].0, &pages[2].1).unwrap();
        assert_eq!(stripped, "Chapter 2\nWhat chapter 2 says.\n");
    }

    #[test]
    fn a_page_quoting_the_chrome_keeps_its_quote() {
        let pages = site_pages();
        let chrome = learned(&pages);
        let stripped = chrome.strip(&pages[6].0, &pages[6].1).unwrap();
        assert_eq!(
            stripped,
            "Help\nThe help popup says: \nKeyboard shortcuts\nand more.\n"
        );
    }

    #[test]
    fn a_page_without_the_template_keeps_everything() {
        let pages = site_pages();
        let chrome = learned(&pages);
        let other = "Keyboard shortcuts\nare listed below, one per line.\n";
        assert_eq!(chrome.strip(Path::new("/site/other.html"), other), None);
    }

    #[test]
    fn small_folders_and_other_folders_are_left_alone() {
        let pages = site_pages();
        let few = &pages[..MIN_PAGES - 1];
        assert_eq!(learned(few).sites(), 0);
        let chrome = learned(&pages);
        assert_eq!(
            chrome.strip(Path::new("/elsewhere/ch1.html"), &pages[1].1),
            None
        );
    }
}
