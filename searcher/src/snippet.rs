//! Snippets: the best passage of a document, trimmed around the query terms,
//! with the matching words marked.

use std::collections::HashSet;

use tantivy::tokenizer::TextAnalyzer;

/// A piece of text with byte ranges (into `text`) to highlight.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Snippet {
    /// The snippet's text.
    pub text: String,
    /// Byte ranges in `text` of the query's terms, to highlight.
    #[serde(skip)]
    pub highlights: Vec<(usize, usize)>,
}

/// Byte ranges of tokens of `text` whose analysed form is a query term.
pub fn matches(
    analyzer: &mut TextAnalyzer,
    text: &str,
    terms: &HashSet<&str>,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(t) = stream.next() {
        if terms.contains(t.text.as_str()) {
            out.push((t.offset_from, t.offset_to));
        }
    }
    out
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Up to `max_len` bytes of `passage` (whitespace collapsed), starting a
/// little before the first match.
pub fn make(
    analyzer: &mut TextAnalyzer,
    passage: &str,
    terms: &HashSet<&str>,
    max_len: usize,
) -> Snippet {
    let flat: String = passage.split_whitespace().collect::<Vec<_>>().join(" ");
    let hits = matches(analyzer, &flat, terms);
    let start = match hits.first() {
        Some(&(s, _)) if s > max_len / 3 => {
            let from = floor_char(&flat, s - max_len / 4);
            flat[from..].find(' ').map_or(from, |sp| from + sp + 1)
        }
        _ => 0,
    };
    let mut end = floor_char(&flat, (start + max_len).min(flat.len()));
    if end < flat.len() {
        end = flat[start..end].rfind(' ').map_or(end, |sp| start + sp);
    }
    let mut text = String::new();
    let offset = if start > 0 {
        text.push_str("… ");
        "… ".len()
    } else {
        0
    };
    text.push_str(&flat[start..end]);
    if end < flat.len() {
        text.push_str(" …");
    }
    let highlights = hits
        .into_iter()
        .filter(|&(s, e)| s >= start && e <= end)
        .map(|(s, e)| (s - start + offset, e - start + offset))
        .collect();
    Snippet { text, highlights }
}

impl Snippet {
    /// The text with highlights wrapped in `open`/`close`.
    pub fn render(&self, open: &str, close: &str) -> String {
        let mut out = String::new();
        let mut at = 0;
        for &(s, e) in &self.highlights {
            out.push_str(&self.text[at..s]);
            out.push_str(open);
            out.push_str(&self.text[s..e]);
            out.push_str(close);
            at = e;
        }
        out.push_str(&self.text[at..]);
        out
    }
}
