//! Word (DOCX), PowerPoint (PPTX) and OpenDocument (ODT, ODP) files: zips
//! of XML whose paragraphs become the text's paragraphs (blank-line
//! separated, so the chunker cuts there first), with slides as numbered
//! sections and the title from the document's properties.

use super::xml::{attr, first_text, walk, Node};
use super::zipped::Zip;
use super::{join_sections, repair, Extracted, SkipReason, Unit};

/// Paragraphs of one XML part, each closed by [`Paragraphs::end_paragraph`].
#[derive(Default)]
struct Paragraphs {
    done: Vec<String>,
    current: String,
    /// Heading paragraphs seen, in order (Word's "Title"/"Heading N"
    /// styles, OpenDocument's `text:h`).
    headings: Vec<String>,
    heading: bool,
}

impl Paragraphs {
    fn end_paragraph(&mut self) {
        let p = repair::text(self.current.trim());
        self.current.clear();
        if !p.is_empty() {
            if self.heading {
                self.headings.push(p.clone());
            }
            self.done.push(p);
        }
        self.heading = false;
    }

    fn text(self) -> String {
        self.done.join("\n\n")
    }
}

fn extracted(
    title: Option<String>,
    text: String,
    sections: Vec<usize>,
    unit: Option<Unit>,
) -> Extracted {
    Extracted {
        title: title.unwrap_or_default(),
        text,
        lossy: false,
        breaks: None,
        sections,
        unit,
        ocr_pages: 0,
    }
}

/// The title in Office Open XML's core properties.
fn core_title(zip: &mut Zip) -> Result<Option<String>, SkipReason> {
    Ok(zip
        .read_text("docProps/core.xml")?
        .and_then(|x| first_text(&x, "title")))
}

/// A Word document: `w:p` paragraphs of `w:t` runs.
pub fn docx(bytes: &[u8]) -> Result<Extracted, SkipReason> {
    let mut zip = Zip::open(bytes)?;
    let xml = zip
        .read_text("word/document.xml")?
        .ok_or(SkipReason::Corrupt)?;
    let mut p = Paragraphs::default();
    let mut in_text = false;
    walk(&xml, |n| match n {
        Node::Open { name: "t", .. } => in_text = true,
        Node::Close("t") => in_text = false,
        Node::Open {
            name: "pStyle",
            tag,
            ..
        } => {
            let style = attr(tag, "val").unwrap_or_default().to_ascii_lowercase();
            p.heading = style.starts_with("heading") || style == "title";
        }
        Node::Open { name: "tab", .. } => p.current.push('\t'),
        Node::Open {
            name: "br" | "cr", ..
        } => p.current.push('\n'),
        Node::Close("p") => p.end_paragraph(),
        Node::Text(t) if in_text => p.current.push_str(t),
        _ => {}
    })?;
    let title = core_title(&mut zip)?.or_else(|| p.headings.first().cloned());
    Ok(extracted(title, p.text(), Vec::new(), None))
}

/// A PowerPoint deck: slides in the presentation's order, each a section.
pub fn pptx(bytes: &[u8]) -> Result<Extracted, SkipReason> {
    let mut zip = Zip::open(bytes)?;
    let order = slide_order(&mut zip)?;
    let mut slides = Vec::with_capacity(order.len());
    for part in order {
        let Some(xml) = zip.read_text(&part)? else {
            slides.push(String::new());
            continue;
        };
        let mut p = Paragraphs::default();
        walk(&xml, |n| match n {
            Node::Close("p") => p.end_paragraph(),
            Node::Open { name: "br", .. } => p.current.push('\n'),
            Node::Text(t) => p.current.push_str(t),
            _ => {}
        })?;
        slides.push(p.text());
    }
    let first_line = slides
        .first()
        .and_then(|s| s.lines().next())
        .map(str::to_string);
    let title = core_title(&mut zip)?.or(first_line);
    let (text, sections) = join_sections(slides);
    Ok(extracted(title, text, sections, Some(Unit::Slide)))
}

/// Slide parts in presentation order: `p:sldId` entries of
/// ppt/presentation.xml, resolved through its relationships.
fn slide_order(zip: &mut Zip) -> Result<Vec<String>, SkipReason> {
    let pres = zip
        .read_text("ppt/presentation.xml")?
        .ok_or(SkipReason::Corrupt)?;
    let rels = zip
        .read_text("ppt/_rels/presentation.xml.rels")?
        .unwrap_or_default();
    let mut ids = Vec::new();
    walk(&pres, |n| {
        if let Node::Open {
            name: "sldId", tag, ..
        } = n
        {
            ids.extend(attr(tag, "r:id"));
        }
    })?;
    let mut targets = std::collections::HashMap::new();
    walk(&rels, |n| {
        if let Node::Open {
            name: "Relationship",
            tag,
            ..
        } = n
        {
            if let (Some(id), Some(t)) = (attr(tag, "Id"), attr(tag, "Target")) {
                targets.insert(id, t);
            }
        }
    })?;
    Ok(ids
        .iter()
        .filter_map(|id| targets.get(id))
        .map(|t| match t.strip_prefix('/') {
            Some(abs) => abs.to_string(),
            None => format!("ppt/{t}"),
        })
        .collect())
}

/// An OpenDocument text (`text:p`, `text:h`) or presentation (each
/// `draw:page` a slide).
pub fn odf(bytes: &[u8], slides: bool) -> Result<Extracted, SkipReason> {
    let mut zip = Zip::open(bytes)?;
    let xml = zip.read_text("content.xml")?.ok_or(SkipReason::Corrupt)?;
    let mut p = Paragraphs::default();
    let mut pages: Vec<String> = Vec::new();
    walk(&xml, |n| match n {
        Node::Open { name: "h", .. } => p.heading = true,
        Node::Close("p" | "h") => p.end_paragraph(),
        Node::Open { name: "s", tag, .. } => {
            let n: usize = attr(tag, "c").and_then(|c| c.parse().ok()).unwrap_or(1);
            p.current.extend(std::iter::repeat_n(' ', n.min(100)));
        }
        Node::Open { name: "tab", .. } => p.current.push('\t'),
        Node::Open {
            name: "line-break", ..
        } => p.current.push('\n'),
        Node::Close("page") if slides => pages.push(std::mem::take(&mut p).text()),
        Node::Text(t) => p.current.push_str(t),
        _ => {}
    })?;
    let title = zip
        .read_text("meta.xml")?
        .and_then(|x| first_text(&x, "title"));
    if slides {
        let title = title.or_else(|| {
            pages
                .first()
                .and_then(|s| s.lines().next())
                .map(str::to_string)
        });
        let (text, sections) = join_sections(pages);
        return Ok(extracted(title, text, sections, Some(Unit::Slide)));
    }
    let title = title.or_else(|| p.headings.first().cloned());
    Ok(extracted(title, p.text(), Vec::new(), None))
}
