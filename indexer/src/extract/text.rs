//! Text files: decoding, HTML to visible text, titles from the first
//! heading (Markdown, reStructuredText) or `<title>`.

use std::path::Path;

use super::{file_title, Extracted, SkipReason};

/// Bytes looked at to decide whether a file is binary (as git and ripgrep do:
/// a NUL byte near the start).
const SNIFF: usize = 8192;

/// Decode and extract a text file. With `judge`, text that is generated or not a
/// document ([`crate::kind::by_content`]) is refused; without, it is
/// extracted with the rule it breaks.
pub(super) fn extract(path: &Path, bytes: &[u8], judge: bool) -> Result<Extracted, SkipReason> {
    if bytes[..bytes.len().min(SNIFF)].contains(&0) {
        return Err(SkipReason::Binary);
    }
    let (raw, lossy) = match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), false),
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
    };
    let raw = raw
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(raw);
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let markup = matches!(ext.as_str(), "html" | "htm" | "xhtml");
    let breaks = crate::kind::by_content(&raw, markup);
    if let Some(reason) = breaks.filter(|_| judge) {
        return Err(reason);
    }
    if markup && judge && refreshes(&raw) {
        return Err(SkipReason::Redirect);
    }
    let (title, text) = match ext.as_str() {
        "html" | "htm" | "xhtml" => html(&raw),
        "md" | "markdown" => (markdown_title(&raw), raw),
        "rst" => (rst_title(&raw), raw),
        _ => (None, raw),
    };
    if text.trim().is_empty() {
        return Err(SkipReason::Empty);
    }
    let title = title
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| file_title(path));
    Ok(Extracted {
        title,
        text,
        lossy,
        breaks,
        sections: Vec::new(),
        unit: None,
        ocr_pages: 0,
    })
}

/// First ATX (`# Title`) or setext (`Title` over `===`) heading.
pub(super) fn markdown_title(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().take(200).collect();
    let mut in_front_matter = lines.first().is_some_and(|l| l.trim() == "---");
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if in_front_matter {
            if i > 0 && t == "---" {
                in_front_matter = false;
            } else if let Some(v) = t.strip_prefix("title:") {
                return Some(v.trim().trim_matches(['"', '\'']).to_string());
            }
            continue;
        }
        if let Some(h) = t.strip_prefix('#') {
            let h = h.trim_start_matches('#');
            if h.starts_with(' ') || h.is_empty() {
                return Some(h.trim().trim_end_matches('#').trim().to_string());
            }
        }
        if let Some(next) = lines.get(i + 1) {
            let n = next.trim();
            let underline =
                n.len() >= 3 && (n.chars().all(|c| c == '=') || n.chars().all(|c| c == '-'));
            if !t.is_empty() && underline {
                return Some(t.to_string());
            }
        }
    }
    None
}

/// A reStructuredText title: a line underlined (optionally overlined) by a
/// run of one punctuation character at least as long as the text.
fn rst_title(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().take(200).collect();
    let adornment = |l: &str| {
        let l = l.trim_end();
        let mut chars = l.chars();
        match chars.next() {
            Some(c) if c.is_ascii_punctuation() && l.len() >= 3 => chars.all(|x| x == c),
            _ => false,
        }
    };
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.is_empty() || adornment(line) {
            continue;
        }
        if lines
            .get(i + 1)
            .is_some_and(|n| adornment(n) && n.trim().len() >= t.chars().count())
        {
            return Some(t.to_string());
        }
    }
    None
}

/// Whether an HTML page sends its reader elsewhere with a meta refresh
/// naming a URL (`<meta http-equiv="refresh" content="0; url=...">`); a
/// refresh without a URL only reloads the page.
fn refreshes(raw: &str) -> bool {
    use scraper::{Html, Selector};
    // The <head> is enough, and cheap to find.
    let head = raw.find("</head>").map_or(raw, |end| &raw[..end]);
    if !head.to_ascii_lowercase().contains("refresh") {
        return false;
    }
    let doc = Html::parse_document(head);
    let meta = Selector::parse("meta[http-equiv]").expect("valid selector");
    doc.select(&meta).any(|m| {
        let v = m.value();
        v.attr("http-equiv")
            .is_some_and(|h| h.eq_ignore_ascii_case("refresh"))
            && v.attr("content")
                .is_some_and(|c| c.to_ascii_lowercase().contains("url="))
    })
}

/// Whether a page is only a notice that it moved: its own text (`own`, its
/// chrome dropped) a few dozen words at most, and the page (`text`, chrome
/// and all: where every page of a folder is such a stub, the notice is the
/// folder's chrome) saying so. English phrases: the sites that leave such
/// stubs (mdBook, Sphinx, GitHub Pages) say it in English.
pub fn moved_notice(own: &str, text: &str) -> bool {
    const WORDS: usize = 60;
    const SAYING: [&str; 6] = [
        "redirect",
        "has moved",
        "have moved",
        "moved to",
        "no longer",
        "new location",
    ];
    if own.split_whitespace().nth(WORDS).is_some() {
        return false;
    }
    let lower = text.to_lowercase();
    SAYING.iter().any(|s| lower.contains(s))
}

/// Visible text of an HTML page (no scripts, styles or templates), with
/// block elements on their own lines, and its `<title>`.
pub(super) fn html(raw: &str) -> (Option<String>, String) {
    use scraper::{Html, Node};
    let doc = Html::parse_document(raw);
    let mut out = String::new();
    const HIDDEN: &[&str] = &["script", "style", "noscript", "template", "head", "svg"];
    const BLOCK: &[&str] = &[
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "pre",
        "blockquote",
        "dt",
        "dd",
        "hr",
    ];
    fn walk(node: ego_tree::NodeRef<'_, Node>, out: &mut String) {
        for child in node.children() {
            match child.value() {
                Node::Text(t) => {
                    let s = t.trim();
                    if !s.is_empty() {
                        if !out.is_empty() && !out.ends_with(['\n', ' ']) {
                            out.push(' ');
                        }
                        out.push_str(&s.split_whitespace().collect::<Vec<_>>().join(" "));
                    }
                }
                Node::Element(e) => {
                    let name = e.name();
                    if HIDDEN.contains(&name) {
                        continue;
                    }
                    let block = BLOCK.contains(&name);
                    if block && !out.is_empty() && !out.ends_with('\n') {
                        out.push('\n');
                    }
                    walk(child, out);
                    if block && !out.ends_with('\n') {
                        out.push('\n');
                    }
                }
                _ => walk(child, out),
            }
        }
    }
    walk(doc.tree.root(), &mut out);
    let selector = scraper::Selector::parse("title").expect("valid selector");
    let title = doc.select(&selector).next().map(|t| {
        t.text()
            .collect::<Vec<_>>()
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    });
    (title, out)
}

#[cfg(test)]
mod tests {
    use super::super::{extract, SkipReason};
    use std::path::Path;

    #[test]
    fn html_keeps_visible_text_and_title() {
        let page = "<html><head><title>My  Page</title><style>p{}</style></head>\
                    <body><script>var x=1;</script><h1>Hello</h1><p>World <b>wide</b></p></body></html>";
        let e = extract(Path::new("a.html"), page.as_bytes(), true).unwrap();
        assert_eq!(e.title, "My Page");
        assert_eq!(e.text.trim(), "Hello\nWorld wide");
    }

    #[test]
    fn redirecting_pages_are_skipped_unless_selected() {
        let refresh = "<html><head><title>Redirecting...</title>\
            <meta http-equiv=\"Refresh\" content=\"0; URL=ch18.html\"></head>\
            <body><p>Redirecting to... <a href=\"ch18.html\">ch18.html</a>.</p></body></html>";
        assert_eq!(
            extract(Path::new("a.html"), refresh.as_bytes(), true).map(|e| e.text),
            Err(SkipReason::Redirect)
        );
        assert!(extract(Path::new("a.html"), refresh.as_bytes(), false).is_ok());
        // A refresh that only reloads the page is a page.
        let reload = "<html><head><meta http-equiv=\"refresh\" content=\"30\"></head>\
            <body><p>Scores</p></body></html>";
        assert!(extract(Path::new("a.html"), reload.as_bytes(), true).is_ok());
    }

    #[test]
    fn a_short_page_saying_it_moved_is_a_moved_notice() {
        use super::moved_notice;
        let stub = "If\nThe first edition of the book is no longer distributed with Rust's \
             documentation. You may want to check out the current version of the book instead.";
        assert!(moved_notice(stub, stub));
        assert!(moved_notice(
            "This page has moved to docs.example.org.",
            "Menu\nThis page has moved to docs.example.org."
        ));
        // A folder of stubs: the notice is its chrome, the title is left.
        assert!(moved_notice("If", stub));
        // Long pages that mention a move, short pages that do not: pages.
        let long = format!("{} The office moved to Lyon.", "word ".repeat(80));
        assert!(!moved_notice(&long, &long));
        assert!(!moved_notice(
            "Moving house: a checklist.",
            "Moving house: a checklist."
        ));
    }

    #[test]
    fn titles_from_headings_or_file_name() {
        let md = "intro\n\n## Second\n";
        assert_eq!(
            extract(Path::new("x/notes.md"), md.as_bytes(), true)
                .unwrap()
                .title,
            "Second"
        );
        let setext = "Big Title\n=========\n\ntext";
        assert_eq!(
            extract(Path::new("a.md"), setext.as_bytes(), true)
                .unwrap()
                .title,
            "Big Title"
        );
        let rst = "=====\nTitle\n=====\n\nBody";
        assert_eq!(
            extract(Path::new("a.rst"), rst.as_bytes(), true)
                .unwrap()
                .title,
            "Title"
        );
        assert_eq!(
            extract(Path::new("dir/plain.txt"), b"hello", true)
                .unwrap()
                .title,
            "plain"
        );
    }

    #[test]
    fn binary_empty_and_bad_utf8() {
        assert_eq!(
            extract(Path::new("a.bin"), b"ab\0cd", true),
            Err(SkipReason::Binary)
        );
        assert_eq!(
            extract(Path::new("a.txt"), b"  \n\t", true),
            Err(SkipReason::Empty)
        );
        let e = extract(Path::new("a.txt"), b"caf\xe9 au lait", true).unwrap();
        assert!(e.lossy && e.text.contains("au lait"));
    }
}
