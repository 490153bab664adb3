//! Zip containers (Office Open XML, OpenDocument, EPUB): which format a zip
//! is, by its members, and reading members with a bound on the bytes they
//! inflate to, so a zip bomb is `too_large` instead of the machine's memory.

use std::io::{Cursor, Read};

use zip::ZipArchive;

use super::{Format, SkipReason};

/// Most one member may inflate to.
const MEMBER_LIMIT: u64 = 64 << 20;

/// A zip archive read from memory, counting what it has inflated.
pub struct Zip<'a> {
    archive: ZipArchive<Cursor<&'a [u8]>>,
    /// Bytes inflated so far, against [`TOTAL_LIMIT`].
    inflated: u64,
}

/// Most all members of one file may inflate to together.
const TOTAL_LIMIT: u64 = 256 << 20;

impl<'a> Zip<'a> {
    pub fn open(bytes: &'a [u8]) -> Result<Self, SkipReason> {
        let archive = ZipArchive::new(Cursor::new(bytes)).map_err(|_| SkipReason::Corrupt)?;
        Ok(Zip {
            archive,
            inflated: 0,
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.archive.index_for_name(name).is_some()
    }

    /// A member's bytes; `None` if there is no such member.
    pub fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>, SkipReason> {
        let mut file = match self.archive.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(zip::result::ZipError::UnsupportedArchive(
                zip::result::ZipError::PASSWORD_REQUIRED,
            )) => return Err(SkipReason::Encrypted),
            Err(_) => return Err(SkipReason::Corrupt),
        };
        if file.encrypted() {
            return Err(SkipReason::Encrypted);
        }
        let limit = MEMBER_LIMIT.min(TOTAL_LIMIT - self.inflated);
        let mut out = Vec::new();
        // The declared size can lie: read one byte past the limit to know.
        file.by_ref()
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|_| SkipReason::Corrupt)?;
        if out.len() as u64 > limit {
            return Err(SkipReason::TooLarge);
        }
        self.inflated += out.len() as u64;
        Ok(Some(out))
    }

    /// A member as text (XML is UTF-8 in all these formats).
    pub fn read_text(&mut self, name: &str) -> Result<Option<String>, SkipReason> {
        Ok(self
            .read(name)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }
}

/// Which document format a zip holds, by its members (and OpenDocument's and
/// EPUB's `mimetype` member).
pub fn format(bytes: &[u8]) -> Option<Format> {
    let mut zip = Zip::open(bytes).ok()?;
    if zip.has("word/document.xml") {
        return Some(Format::Docx);
    }
    if zip.has("ppt/presentation.xml") {
        return Some(Format::Pptx);
    }
    let mimetype = zip.read_text("mimetype").ok().flatten().unwrap_or_default();
    match mimetype.trim() {
        "application/vnd.oasis.opendocument.text" => Some(Format::Odt),
        "application/vnd.oasis.opendocument.presentation" => Some(Format::Odp),
        "application/epub+zip" => Some(Format::Epub),
        _ if zip.has("META-INF/container.xml") => Some(Format::Epub),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in members {
            w.start_file(*name, opts).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_bomb_is_too_large_not_out_of_memory() {
        // 65 MB of zeros deflate to about 64 KB.
        let zeros = vec![0u8; (MEMBER_LIMIT + 1024) as usize];
        let bomb = zip_of(&[("word/document.xml", &zeros)]);
        assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
        assert_eq!(format(&bomb), Some(Format::Docx));
        let mut zip = Zip::open(&bomb).unwrap();
        assert_eq!(zip.read("word/document.xml"), Err(SkipReason::TooLarge));
    }

    #[test]
    fn members_name_the_format() {
        let epub = zip_of(&[("mimetype", b"application/epub+zip")]);
        assert_eq!(format(&epub), Some(Format::Epub));
        let other = zip_of(&[("notes.txt", b"hello")]);
        assert_eq!(format(&other), None);
        assert_eq!(
            Zip::open(b"PK\x03\x04 truncated").err(),
            Some(SkipReason::Corrupt)
        );
    }
}
