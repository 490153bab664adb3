//! Where documents come from: folders (walked with `ignore`) and BEIR-style
//! JSON Lines corpora.

use std::io::Read;
use std::path::{Path, PathBuf};

use ignore::overrides::OverrideBuilder;
use ignore::WalkBuilder;

use crate::error::{Error, IoContext, Result};
use crate::extract::SkipReason;
use crate::store::INDEX_DIR_NAME;

/// How to walk folders.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    pub hidden: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Never descend into this folder (the index itself).
    pub index_dir: Option<PathBuf>,
}

/// A file found by the walk, or why one could not be looked at.
pub enum Found {
    File(PathBuf),
    Skipped(PathBuf, SkipReason),
}

fn classify(err: &ignore::Error) -> (Option<PathBuf>, SkipReason) {
    match err {
        ignore::Error::Loop { child, .. } => (Some(child.clone()), SkipReason::SymlinkLoop),
        ignore::Error::WithPath { path, err } => (Some(path.clone()), classify(err).1),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            classify(err)
        }
        ignore::Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (None, SkipReason::BrokenLink)
        }
        _ => (None, SkipReason::Unreadable),
    }
}

/// Every candidate file under `root`, honouring .gitignore, .ignore,
/// .semsearchignore, hidden-file rules and the include/exclude globs.
/// Symlinks are followed; loops are reported, not followed.
pub fn walk(root: &Path, opts: &WalkOptions) -> Result<Vec<Found>> {
    let mut overrides = OverrideBuilder::new(root);
    let glob_err = |g: &str, e: ignore::Error| Error::Glob {
        glob: g.to_string(),
        reason: e.to_string(),
    };
    for g in &opts.include {
        overrides.add(g).map_err(|e| glob_err(g, e))?;
    }
    for g in &opts.exclude {
        overrides
            .add(&format!("!{g}"))
            .map_err(|e| glob_err(g, e))?;
    }
    let overrides = overrides.build().map_err(|e| glob_err("(all)", e))?;
    let index_dir = opts
        .index_dir
        .as_ref()
        .and_then(|d| std::fs::canonicalize(d).ok());
    let walker = WalkBuilder::new(root)
        .hidden(!opts.hidden)
        .follow_links(true)
        .require_git(false)
        .add_custom_ignore_filename(".semsearchignore")
        .overrides(overrides)
        .filter_entry(move |e| {
            if e.file_name() == INDEX_DIR_NAME {
                return false;
            }
            match &index_dir {
                Some(d) => std::fs::canonicalize(e.path()).map_or(true, |p| &p != d),
                None => true,
            }
        })
        .build();
    let mut found = Vec::new();
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_some_and(|t| t.is_file()) => {
                found.push(Found::File(e.into_path()))
            }
            Ok(_) => {}
            Err(err) => {
                let (path, reason) = classify(&err);
                found.push(Found::Skipped(
                    path.unwrap_or_else(|| root.to_path_buf()),
                    reason,
                ));
            }
        }
    }
    Ok(found)
}

/// One object of a BEIR corpus.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CorpusDoc {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub text: String,
}

/// Read a `.jsonl` or `.jsonl.gz` corpus of `{"_id", "title", "text"}`.
pub fn read_jsonl(path: &Path) -> Result<Vec<CorpusDoc>> {
    let file = std::fs::File::open(path).at(path)?;
    let mut text = String::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .at(path)?;
    } else {
        std::io::BufReader::new(file)
            .read_to_string(&mut text)
            .at(path)?;
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str::<CorpusDoc>(l).map_err(|e| Error::Jsonl {
                path: path.to_path_buf(),
                line: n + 1,
                reason: format!("expected {{\"_id\", \"title\", \"text\"}}: {e}"),
            })
        })
        .collect()
}
