//! File names that are not UTF-8: stored losslessly in the manifest, shown
//! escaped (as `ls -b` shows them) in document ids and output.
//!
//! Unix file names are bytes. The manifest is JSON, whose strings are
//! Unicode, so a name that is not valid UTF-8 is stored as an array of its
//! bytes instead of a string; every other name stays a readable string.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A path as a person reads it: UTF-8 as is, every byte of an invalid
/// sequence as an octal escape (`caf\351.txt`), as `ls -b` prints it.
pub fn display(path: &Path) -> String {
    escape(path.as_os_str())
}

/// [`display`] for one name or path component.
pub fn escape(name: &std::ffi::OsStr) -> String {
    if let Some(s) = name.to_str() {
        return s.to_string();
    }
    let mut out = String::new();
    for chunk in os_bytes(name).utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
    out
}

#[cfg(unix)]
fn os_bytes(s: &std::ffi::OsStr) -> std::borrow::Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    std::borrow::Cow::Borrowed(s.as_bytes())
}

#[cfg(not(unix))]
fn os_bytes(s: &std::ffi::OsStr) -> std::borrow::Cow<'_, [u8]> {
    // Elsewhere names are Unicode (Windows: UTF-16, lossy only for lone
    // surrogates).
    std::borrow::Cow::Owned(s.to_string_lossy().into_owned().into_bytes())
}

#[cfg(unix)]
fn from_bytes(b: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(b))
}

#[cfg(not(unix))]
fn from_bytes(b: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&b).into_owned())
}

/// A path in JSON: a string, or its bytes when it is not UTF-8.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr {
    Text(String),
    Bytes(Vec<u8>),
}

impl Repr {
    fn of(p: &Path) -> Repr {
        match p.to_str() {
            Some(s) => Repr::Text(s.to_string()),
            None => Repr::Bytes(os_bytes(p.as_os_str()).into_owned()),
        }
    }

    fn path(self) -> PathBuf {
        match self {
            Repr::Text(s) => PathBuf::from(s),
            Repr::Bytes(b) => from_bytes(b),
        }
    }
}

/// `#[serde(with = "pathname::opt")]` for `Option<PathBuf>`.
pub mod opt {
    use super::*;

    /// Serialise losslessly.
    pub fn serialize<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        p.as_deref().map(Repr::of).serialize(s)
    }

    /// Read what [`serialize`] wrote (or a plain string).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        Ok(Option::<Repr>::deserialize(d)?.map(Repr::path))
    }
}

/// `#[serde(with = "pathname::list")]` for `Vec<PathBuf>`.
pub mod list {
    use super::*;

    /// Serialise losslessly.
    pub fn serialize<S: Serializer>(p: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
        p.iter()
            .map(|p| Repr::of(p))
            .collect::<Vec<_>>()
            .serialize(s)
    }

    /// Read what [`serialize`] wrote (or plain strings).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
        Ok(Vec::<Repr>::deserialize(d)?
            .into_iter()
            .map(Repr::path)
            .collect())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_round_trips_and_displays_escaped() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct T {
            #[serde(with = "opt")]
            p: Option<PathBuf>,
            #[serde(with = "list")]
            l: Vec<PathBuf>,
        }
        let bad = from_bytes(b"/tmp/caf\xe9.txt".to_vec());
        let t = T {
            p: Some(bad.clone()),
            l: vec![PathBuf::from("/ok"), bad.clone()],
        };
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.contains("\"/ok\""), "{json}");
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), t);
        assert_eq!(display(&bad), "/tmp/caf\\351.txt");
        assert_eq!(display(Path::new("/tmp/café")), "/tmp/café");
    }
}
