//! Where documents come from: folders (walked with `ignore`) and BEIR-style
//! JSON Lines corpora.

use std::path::{Path, PathBuf};

use ignore::overrides::{Override, OverrideBuilder};
use ignore::types::{Types, TypesBuilder};
use ignore::WalkBuilder;

use crate::error::{Error, Result};
use crate::extract::SkipReason;
use crate::store::INDEX_DIR_NAME;

/// How to walk folders.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Index hidden files and folders too.
    pub hidden: bool,
    /// Only files matching these globs (ripgrep's `--glob`); matching one
    /// also selects a file past the [`crate::kind`] rules.
    pub include: Vec<String>,
    /// Never files matching these globs.
    pub exclude: Vec<String>,
    /// Only files of these types (ripgrep's type names: `md`, `rust`, ...);
    /// selects them past the [`crate::kind`] rules.
    pub types: Vec<String>,
    /// Never files of these types.
    pub types_not: Vec<String>,
    /// Index every text file: no `generated` or `not_document` rules.
    pub all_text: bool,
    /// Never descend into this folder (the index itself).
    pub index_dir: Option<PathBuf>,
}

/// A file found by the walk, or why one could not be looked at.
pub enum Found {
    /// A file to look at.
    File {
        /// The file.
        path: PathBuf,
        /// Chosen explicitly (named, or matched by `--include`/`--type`), so
        /// the [`crate::kind`] rules do not apply.
        selected: bool,
    },
    /// A path that could not be walked, or a file the kind rules refuse.
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

fn glob_err(g: &str, e: ignore::Error) -> Error {
    Error::Glob {
        glob: g.to_string(),
        source: Box::new(e),
    }
}

fn overrides(root: &Path, opts: &WalkOptions) -> Result<Override> {
    let mut overrides = OverrideBuilder::new(root);
    for g in &opts.include {
        overrides.add(g).map_err(|e| glob_err(g, e))?;
    }
    for g in &opts.exclude {
        overrides
            .add(&format!("!{g}"))
            .map_err(|e| glob_err(g, e))?;
    }
    overrides.build().map_err(|e| glob_err("(all)", e))
}

/// ripgrep's file types (the `ignore` crate's definitions), narrowed to
/// `--type` and without `--type-not`.
pub fn types(opts: &WalkOptions) -> Result<Types> {
    let mut types = TypesBuilder::new();
    types.add_defaults();
    for t in &opts.types {
        types.select(t);
    }
    for t in &opts.types_not {
        types.negate(t);
    }
    types.build().map_err(|e| Error::Glob {
        glob: format!("--type {}", opts.types.join(",")),
        source: Box::new(e),
    })
}

/// The type names and their globs, for `--type-list`.
pub fn type_list() -> Vec<(String, Vec<String>)> {
    let mut types = TypesBuilder::new();
    types.add_defaults();
    types
        .definitions()
        .into_iter()
        .map(|d| (d.name().to_string(), d.globs().to_vec()))
        .collect()
}

/// Every candidate file under `root` (or `root` itself when it is a file),
/// honouring .gitignore, .ignore, .semsearchignore, hidden-file rules, the
/// include/exclude globs, the types and the [`crate::kind`] name rules.
/// Symlinks are followed; loops are reported, not followed.
pub fn walk(root: &Path, opts: &WalkOptions) -> Result<Vec<Found>> {
    if root.is_file() {
        // Named on the command line: indexed whatever the rules say, as
        // ripgrep searches a file it is given.
        return Ok(vec![Found::File {
            path: root.to_path_buf(),
            selected: true,
        }]);
    }
    let overrides = overrides(root, opts)?;
    let types = types(opts)?;
    let index_dir = opts
        .index_dir
        .as_ref()
        .and_then(|d| std::fs::canonicalize(d).ok());
    let walker = WalkBuilder::new(root)
        .hidden(!opts.hidden)
        .follow_links(true)
        .require_git(false)
        .add_custom_ignore_filename(".semsearchignore")
        .overrides(overrides.clone())
        .types(types.clone())
        .filter_entry(move |e| {
            if e.file_name() == INDEX_DIR_NAME {
                return false;
            }
            // Only a folder can be the index: files are not resolved
            // (resolving each was a third of a no-op run over 20,000).
            let folder = e.file_type().is_none_or(|t| t.is_dir());
            match &index_dir {
                Some(d) if folder => std::fs::canonicalize(e.path()).map_or(true, |p| &p != d),
                _ => true,
            }
        })
        .build();
    let mut found = Vec::new();
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_some_and(|t| t.is_file()) => {
                let path = e.into_path();
                let selected = opts.all_text
                    || overrides.matched(&path, false).is_whitelist()
                    || types.matched(&path, false).is_whitelist();
                match crate::kind::by_name(&path).filter(|_| !selected) {
                    Some(reason) => found.push(Found::Skipped(path, reason)),
                    None => found.push(Found::File { path, selected }),
                }
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
    /// The object's `_id`.
    #[serde(rename = "_id")]
    pub id: String,
    /// The object's `title` (may be empty).
    #[serde(default)]
    pub title: String,
    /// The object's `text`.
    #[serde(default)]
    pub text: String,
}

/// Stream a `.jsonl` or `.jsonl.gz` corpus of `{"_id", "title", "text"}`
/// one object at a time, each with the bytes of the file read so far (for
/// progress; of the compressed file for `.gz`).
pub fn jsonl_docs(path: &Path) -> Result<impl Iterator<Item = Result<(CorpusDoc, u64)>>> {
    Ok(
        crate::jsonl::read::<CorpusDoc>(path, "{\"_id\", \"title\", \"text\"}")?
            .map(|l| l.map(|l| (l.value, l.read))),
    )
}
