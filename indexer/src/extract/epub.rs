//! EPUB books: the package document (found through
//! META-INF/container.xml) gives the title and the reading order; each
//! chapter is an XHTML page, reduced to its visible text as HTML files are,
//! and starts a section (no passage spans two chapters).

use std::collections::HashMap;

use super::text::html;
use super::xml::{attr, first_text, walk, Node};
use super::zipped::Zip;
use super::{join_sections, repair, Extracted, SkipReason};

pub fn extract(bytes: &[u8]) -> Result<Extracted, SkipReason> {
    let mut zip = Zip::open(bytes)?;
    let container = zip
        .read_text("META-INF/container.xml")?
        .ok_or(SkipReason::Corrupt)?;
    let mut opf_path = None;
    walk(&container, |n| {
        if let Node::Open {
            name: "rootfile",
            tag,
            ..
        } = n
        {
            opf_path = opf_path.take().or_else(|| attr(tag, "full-path"));
        }
    })?;
    let opf_path = opf_path.ok_or(SkipReason::Corrupt)?;
    let opf = zip.read_text(&opf_path)?.ok_or(SkipReason::Corrupt)?;
    let base = opf_path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let (mut hrefs, mut spine) = (HashMap::new(), Vec::new());
    walk(&opf, |n| match n {
        Node::Open {
            name: "item", tag, ..
        } => {
            if let (Some(id), Some(href)) = (attr(tag, "id"), attr(tag, "href")) {
                hrefs.insert(id, href);
            }
        }
        Node::Open {
            name: "itemref",
            tag,
            ..
        } => spine.extend(attr(tag, "idref")),
        _ => {}
    })?;
    let mut chapters = Vec::with_capacity(spine.len());
    for id in &spine {
        let Some(href) = hrefs.get(id) else { continue };
        let href = percent_decode(href.split('#').next().unwrap_or(href));
        let path = if base.is_empty() {
            href
        } else {
            format!("{base}/{href}")
        };
        if let Some(page) = zip.read_text(&path)? {
            let (_, text) = html(&page);
            chapters.push(repair::text(&text));
        }
    }
    chapters.retain(|c| !c.trim().is_empty());
    let title = first_text(&opf, "title");
    let (text, sections) = join_sections(chapters);
    Ok(Extracted {
        title: title.unwrap_or_default(),
        text,
        lossy: false,
        breaks: None,
        sections,
        unit: None,
        ocr_pages: 0,
    })
}

/// `%20` and friends in a manifest href (a chapter file with a space).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
