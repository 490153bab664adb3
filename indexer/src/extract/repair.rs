//! Repairs to text taken out of laid-out documents: ligature glyphs spelled
//! out, control characters dropped, PDF lines joined into paragraphs with
//! words hyphenated at line ends made whole, and headers and footers that
//! repeat on every page removed (else a 20-page paper indexes its running
//! title 20 times).

use std::collections::HashMap;

/// Ligatures, soft hyphens and control characters (NUL included) fixed in
/// any extracted text.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            '\u{AD}' => {}
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Lines looked at for a running header (first lines) or footer (last).
const EDGE_LINES: usize = 2;

/// PDF pages: running headers and footers removed, then each page repaired
/// and its lines joined into paragraphs.
pub fn pages(pages: Vec<String>) -> Vec<String> {
    let repeated = running_lines(&pages);
    pages
        .iter()
        .map(|page| {
            let lines: Vec<&str> = page.lines().collect();
            let kept: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|&(i, l)| !(is_edge(&lines, i) && repeated.contains_key(&shape(l))))
                .map(|(_, l)| *l)
                .collect();
            paragraphs(&text(&kept.join("\n")))
        })
        .collect()
}

/// Whether line `i` is among the first or last [`EDGE_LINES`] non-empty
/// lines of its page.
fn is_edge(lines: &[&str], i: usize) -> bool {
    let before = lines[..i].iter().filter(|l| !l.trim().is_empty()).count();
    let after = lines[i + 1..]
        .iter()
        .filter(|l| !l.trim().is_empty())
        .count();
    !lines[i].trim().is_empty() && (before < EDGE_LINES || after < EDGE_LINES)
}

/// A line with its digits masked, so "Page 3 of 9" matches "Page 4 of 9".
fn shape(line: &str) -> String {
    line.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

/// Edge lines that repeat, digits aside, on at least half the pages (and on
/// three or more): running headers, footers and page numbers.
fn running_lines(pages: &[String]) -> HashMap<String, usize> {
    let mut count: HashMap<String, usize> = HashMap::new();
    for page in pages {
        let lines: Vec<&str> = page.lines().collect();
        let mut seen: Vec<String> = (0..lines.len())
            .filter(|&i| is_edge(&lines, i))
            .map(|i| shape(lines[i]))
            .collect();
        seen.sort();
        seen.dedup();
        for s in seen {
            *count.entry(s).or_default() += 1;
        }
    }
    let needed = (pages.len() / 2).max(3);
    count.retain(|_, n| *n >= needed);
    count
}

/// Lines joined into paragraphs (blank lines separate them): a line-end
/// hyphen between lowercase letters is a word cut by the layout, so the
/// halves are joined ("exam-" + "ple" = "example"); other lines are joined
/// with a space.
fn paragraphs(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    let mut blank = false;
    for line in page.lines() {
        let line = line.trim();
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push_str("\n\n");
            blank = false;
        } else if !out.is_empty() {
            let cut_word = out.ends_with('-')
                && out[..out.len() - 1]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_lowercase())
                && line.chars().next().is_some_and(|c| c.is_lowercase());
            if cut_word {
                out.pop();
            } else {
                out.push(' ');
            }
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ligatures_and_controls() {
        assert_eq!(text("e\u{FB03}cient \u{FB01}le\0x"), "efficient file x");
        assert_eq!(text("co\u{AD}operate"), "cooperate");
    }

    #[test]
    fn lines_become_paragraphs_and_cut_words_are_joined() {
        let page = "The ranking of docu-\nments by BM-\n25 scores\nis fast.\n\nNext para.";
        assert_eq!(
            paragraphs(page),
            "The ranking of documents by BM- 25 scores is fast.\n\nNext para."
        );
    }

    #[test]
    fn running_headers_and_page_numbers_go() {
        let words = ["alpha", "beta", "gamma", "delta"];
        let pages: Vec<String> = (1..=4)
            .map(|i| {
                let w = words[i - 1];
                format!("Annual Report 2026\nOn {w} we write.\nThe {w} body.\nEnd of {w}.\n\nPage {i} of 4")
            })
            .collect();
        let out = super::pages(pages);
        for (p, w) in out.iter().zip(words) {
            assert!(!p.contains("Annual Report"), "{p}");
            assert!(!p.contains("of 4"), "{p}");
            assert!(
                p.contains(&format!("On {w} we write. The {w} body. End of {w}.")),
                "{p}"
            );
        }
    }
}
