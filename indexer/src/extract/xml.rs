//! A forgiving walk over an XML part of a document: start and end tags by
//! local name, and text with entities resolved.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use quick_xml::XmlVersion;

use super::SkipReason;

/// What [`walk`] reports.
pub enum Node<'a, 'b> {
    /// An element opens (`empty`: it closes at once, `<w:tab/>`).
    Open {
        name: &'a str,
        tag: &'a BytesStart<'b>,
        empty: bool,
    },
    Close(&'a str),
    Text(&'a str),
}

/// Walk `xml`, calling `f` for every element and piece of text. Malformed
/// XML is `corrupt`.
pub fn walk(xml: &str, mut f: impl FnMut(Node<'_, '_>)) -> Result<(), SkipReason> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = false;
    loop {
        match reader.read_event().map_err(|_| SkipReason::Corrupt)? {
            Event::Start(tag) => f(Node::Open {
                name: local(&tag).as_str(),
                tag: &tag,
                empty: false,
            }),
            Event::Empty(tag) => {
                let name = local(&tag);
                f(Node::Open {
                    name: &name,
                    tag: &tag,
                    empty: true,
                });
                f(Node::Close(&name));
            }
            Event::End(tag) => f(Node::Close(tag.local_name().as_ref())),
            Event::Text(t) => f(Node::Text(&t.xml10_content())),
            Event::CData(t) => f(Node::Text(&t.xml10_content())),
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => predefined(r.into_inner().as_ref()),
                };
                if let Some(c) = c {
                    f(Node::Text(c.encode_utf8(&mut [0; 4])));
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        _ => return None,
    })
}

fn local(tag: &BytesStart<'_>) -> String {
    tag.local_name().as_ref().to_string()
}

/// The value of attribute `key` (a qualified name such as `r:id`, or a local
/// name such as `val`, which matches any prefix).
pub fn attr(tag: &BytesStart<'_>, key: &str) -> Option<String> {
    tag.attributes().flatten().find_map(|a| {
        let name = a.key.as_ref();
        let local = name.rsplit(':').next().unwrap_or(name);
        let hit = if key.contains(':') {
            name == key
        } else {
            local == key
        };
        hit.then(|| {
            a.normalized_value(XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .unwrap_or_default()
        })
    })
}

/// The text of the first element named `name` (local name), e.g. Dublin
/// Core's `dc:title`.
pub fn first_text(xml: &str, name: &str) -> Option<String> {
    let (mut depth, mut out, mut done) = (0usize, String::new(), false);
    walk(xml, |n| match n {
        Node::Open { name: n, empty, .. } if n == name && !done && !empty => depth += 1,
        Node::Open { .. } if depth > 0 => depth += 1,
        Node::Close(_) if depth > 0 => {
            depth -= 1;
            done |= depth == 0;
        }
        Node::Text(t) if depth > 0 => out.push_str(t),
        _ => {}
    })
    .ok()?;
    let t = out.split_whitespace().collect::<Vec<_>>().join(" ");
    (!t.is_empty()).then_some(t)
}
