//! Which text files are documents. A folder a person points semsearch at
//! holds much text that nobody wrote or would call a document: minified
//! assets, search indexes of static-site generators, lock files, style
//! sheets and images in text form. Indexing them costs time and ranking
//! quality: in the Rust books as rustup installs them (863 files), the
//! mdBook search indexes alone made 39,297 of 52,156 passages and surfaced
//! as hits. So by default they are skipped, counted under their own reasons:
//!
//! - `generated`: made by a tool. By name: `*.min.js`, `*.min.css`, source
//!   maps, search indexes (`searchindex*.js[on]` of mdBook and Sphinx,
//!   `search_index.json` of MkDocs, `search-index*.js[on]` of rustdoc and
//!   Docusaurus), lock files. By content: lines averaging over
//!   [`GENERATED_LINE`] bytes (minified code, data on one line) or a
//!   `@generated` / `Code generated ... DO NOT EDIT` marker near the top.
//! - `not_document`: text that is neither prose nor code. By name: style
//!   sheets, SVG/PostScript images, text fonts, CSV/TSV tables, PEM keys.
//!   By content: an SVG image under another name, or mostly digits and
//!   punctuation (number dumps: under [`MIN_LETTERS`] letters).
//!
//! Files a user selects explicitly (named on the command line, matched by
//! `--include` or `--type`) and every file under `--all-text` skip these
//! rules.

use std::path::Path;

use crate::extract::SkipReason;

/// Mean line length (bytes) from which a file counts as generated. Prose
/// written with one paragraph per line averages a few hundred bytes a line
/// (blank lines between paragraphs halve it); minified code and one-line
/// data run to many thousands.
pub const GENERATED_LINE: usize = 2000;

/// Share of letters among the non-space characters below which a text is a
/// dump of numbers, not prose or code (prose is about 0.8, code 0.6).
pub const MIN_LETTERS: f64 = 0.25;

/// Bytes looked at by the content rules.
const SAMPLE: usize = 64 * 1024;

const NOT_DOCUMENT_EXT: &[&str] = &[
    "css", "scss", "sass", "less", "styl", "svg", "eps", "ps", "afm", "bdf", "ttx", "csv", "tsv",
    "pem", "crt",
];

const LOCK_FILES: &[&str] = &[
    "package-lock.json",
    "npm-shrinkwrap.json",
    "pnpm-lock.yaml",
    "go.sum",
];

/// The rule a file's name breaks, if any.
pub fn by_name(path: &Path) -> Option<SkipReason> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    let generated = name.ends_with(".min.js")
        || name.ends_with(".min.mjs")
        || name.ends_with(".min.css")
        || name.ends_with(".js.map")
        || name.ends_with(".css.map")
        || ext == "lock"
        || LOCK_FILES.contains(&name.as_str())
        || is_search_index(&name, ext);
    if generated {
        return Some(SkipReason::Generated);
    }
    NOT_DOCUMENT_EXT
        .contains(&ext)
        .then_some(SkipReason::NotDocument)
}

fn is_search_index(name: &str, ext: &str) -> bool {
    matches!(ext, "js" | "json")
        && (name.starts_with("searchindex")
            || name.starts_with("search-index")
            || name.starts_with("search_index"))
}

/// The rule a file's decoded text breaks, if any. `markup` files (HTML) are
/// judged by their visible text elsewhere, so only the marker rules apply.
pub fn by_content(text: &str, markup: bool) -> Option<SkipReason> {
    let sample = &text[..floor_char_boundary(text, SAMPLE)];
    let head = &sample[..floor_char_boundary(sample, 1024)];
    if head.contains("@generated")
        || (head.contains("Code generated") && head.contains("DO NOT EDIT"))
    {
        return Some(SkipReason::Generated);
    }
    if markup {
        return None;
    }
    let start = head.trim_start();
    if start.starts_with("<svg") || (start.starts_with("<?xml") && head.contains("<svg")) {
        return Some(SkipReason::NotDocument);
    }
    let lines = text.lines().count().max(1);
    if text.len() / lines > GENERATED_LINE {
        return Some(SkipReason::Generated);
    }
    let (mut letters, mut visible) = (0usize, 0usize);
    for c in sample.chars().filter(|c| !c.is_whitespace()) {
        visible += 1;
        letters += c.is_alphabetic() as usize;
    }
    // Short files say too little to judge (a list of numbers can be a note).
    if visible > 1024 && (letters as f64) < MIN_LETTERS * visible as f64 {
        return Some(SkipReason::NotDocument);
    }
    None
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_generated_and_non_documents() {
        let reason = |p: &str| by_name(Path::new(p));
        for p in [
            "a/app.min.js",
            "x.css.map",
            "book/searchindex-f63457fb.js",
            "searchindex.json",
            "site/search/search_index.json",
            "Cargo.lock",
            "package-lock.json",
        ] {
            assert_eq!(reason(p), Some(SkipReason::Generated), "{p}");
        }
        for p in ["style.css", "logo.svg", "data.csv"] {
            assert_eq!(reason(p), Some(SkipReason::NotDocument), "{p}");
        }
        for p in [
            "notes.md",
            "main.rs",
            "index.html",
            "search.md",
            "lockfile.txt",
        ] {
            assert_eq!(reason(p), None, "{p}");
        }
    }

    #[test]
    fn content_rules() {
        let minified = "var a=1;".repeat(2000);
        assert_eq!(by_content(&minified, false), Some(SkipReason::Generated));
        // One long line of markup is still a page: its visible text counts.
        assert_eq!(by_content(&minified, true), None);
        let marker = "// Code generated by protoc-gen-go. DO NOT EDIT.\npackage x\n";
        assert_eq!(by_content(marker, false), Some(SkipReason::Generated));
        let svg = "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>";
        assert_eq!(by_content(svg, false), Some(SkipReason::NotDocument));
        let numbers = "1.25, 3.5, 7.75, 100\n".repeat(200);
        assert_eq!(by_content(&numbers, false), Some(SkipReason::NotDocument));
        let prose = "The cat sat on the mat and looked at the dog.\n\n".repeat(100);
        assert_eq!(by_content(&prose, false), None);
        let paragraphs = format!("{}\n\n", "word ".repeat(300)).repeat(10);
        assert_eq!(by_content(&paragraphs, false), None);
    }
}
