//! `manifest.json`: the commit point of an index. Human-readable JSON that
//! records what produced the vectors, how text was cut, the generation and
//! its totals; every document's entry, with its passages, is in that
//! generation's lexical index, beside its text (the documents table, see
//! [`crate::Index`]). The manifest is written last, atomically, so a
//! reader sees either the previous index or the new one, never a mixture,
//! and opening an index reads a few hundred bytes instead of every
//! document (a million passages: 3.1 s to parse a `documents.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use semsearch_models::ModelInfo;
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::extract::Unit;

/// Bumped on any change to the layout or the meaning of a field.
/// 2: document vectors (documents.usearch).
/// 3: roots may be files, corpora listed apart; non-UTF-8 paths as bytes.
/// 4: no documents.usearch (document vectors computed from passages);
///    doc store zstd-compressed; passages as `[id, start, end, line]`;
///    `pages` of PDFs and slide decks.
/// 5: `lsa.bin` in each generation (the LSA term basis). A format 4 index
///    is upgraded by the next `index` run, without re-embedding.
/// 6: documents in the generation's `documents.json`, the manifest keeps
///    their `totals`. Formats 4 and 5 are upgraded by the next `index` run.
/// 7: passage vectors in segments (`vectors/`, listed in
///    `vector_segments`) with tombstones, not one `vectors.usearch`
///    rewritten at every commit. Formats 4-6 are upgraded by the next
///    `index` run, their vector file linked as the first segment.
/// 8: documents in the lexical index (stored `entry`, `seq` and `keys`
///    fields), no `documents.json`: opened without reading them, written
///    by the change. Formats 4-7 are upgraded by the next `index` run (the
///    lexical index rewritten from its stored text, nothing re-embedded).
pub const FORMAT_VERSION: u32 = 8;

/// The oldest format an update upgrades in place.
pub const UPGRADABLE_FROM: u32 = 4;

/// How documents are cut into passages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkSettings {
    /// Tokens per passage, special tokens and the title included.
    pub max_tokens: usize,
    /// Tokens shared by consecutive passages of a document.
    pub overlap: usize,
    /// Title tokens kept in front of every passage.
    pub max_title_tokens: usize,
}

/// Vector storage precision in the HNSW index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// 4 bytes a dimension.
    #[default]
    F32,
    /// 2 bytes a dimension (the default: nDCG@10 within 0.0012 of f32).
    F16,
    /// 1 byte a dimension.
    I8,
}

impl std::fmt::Display for Quantization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Quantization::F32 => "f32",
            Quantization::F16 => "f16",
            Quantization::I8 => "i8",
        })
    }
}

impl std::str::FromStr for Quantization {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f32" => Ok(Quantization::F32),
            "f16" => Ok(Quantization::F16),
            "i8" => Ok(Quantization::I8),
            _ => Err(format!(
                "unknown quantization {s:?} (expected f32, f16 or i8)"
            )),
        }
    }
}

/// One passage of a document. Written as the array `[id, start, end,
/// line]`: field names took 27 of a passage's 159 manifest bytes on SciFact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    from = "(u64, usize, usize, usize)",
    into = "(u64, usize, usize, usize)"
)]
pub struct PassageEntry {
    /// Key in the vector index; unique across the index's history.
    pub id: u64,
    /// Byte range in the document's extracted text.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
    /// 1-based line of `start` in the extracted text.
    pub line: usize,
}

impl From<(u64, usize, usize, usize)> for PassageEntry {
    fn from((id, start, end, line): (u64, usize, usize, usize)) -> Self {
        PassageEntry {
            id,
            start,
            end,
            line,
        }
    }
}

impl From<PassageEntry> for (u64, usize, usize, usize) {
    fn from(p: PassageEntry) -> Self {
        (p.id, p.start, p.end, p.line)
    }
}

/// One indexed document (a file, or one object of a JSON Lines corpus).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocEntry {
    /// File path (absolute) or `None` for corpus objects. A path that is
    /// not UTF-8 is stored as an array of its bytes.
    #[serde(with = "crate::pathname::opt")]
    pub path: Option<PathBuf>,
    /// From the metadata, the first heading, or the file name.
    pub title: String,
    /// Size in bytes (of the corpus object's text for corpus documents).
    pub size: u64,
    /// Modification time, nanoseconds since the epoch (0 for corpus objects).
    pub mtime: u128,
    /// xxh3-128 of the raw content, hex.
    pub hash: String,
    /// Indexed only because it was selected (`--include`, `--type`,
    /// `--all-text`, named): it breaks a [`crate::kind`] rule, so a run
    /// without that selection looks at it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exempt: bool,
    /// Read through a `--pre` command: [`crate::extract::pre::Pre::id`]
    /// of it, so that another command (or none) reads the file again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre: Option<String>,
    /// Pages read by OCR (a scan, an image).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ocr_pages: usize,
    /// The passages, in text order.
    pub passages: Vec<PassageEntry>,
    /// Where the pages (PDF) or slides (PPTX, ODP) start in the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<Pages>,
}

/// The numbered sections of a document: byte offsets in its extracted text
/// where page (or slide) 1, 2, ... starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pages {
    /// Pages or slides.
    pub unit: Unit,
    /// Byte offset of each page's start, page 1 first (at 0).
    pub starts: Vec<usize>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl DocEntry {
    /// The page (or slide) that text offset `at` is on, 1-based.
    pub fn page_at(&self, at: usize) -> Option<(Unit, usize)> {
        let p = self.pages.as_ref()?;
        // The last section starting at or before `at` (an empty page and
        // the next start at the same offset: the text is the next one's).
        let n = p.starts.partition_point(|&s| s <= at);
        Some((p.unit, n.max(1)))
    }
}

/// The index's manifest (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] of the semsearch that wrote it.
    pub format_version: u32,
    /// The model that made the vectors.
    pub model: ModelInfo,
    /// How texts were cut into passages.
    pub chunking: ChunkSettings,
    /// Name of the lexical analyser (tantivy tokenizer name).
    pub analyzer: String,
    /// Precision of the stored vectors.
    pub quantization: Quantization,
    /// Folders and files this index was built from.
    #[serde(with = "crate::pathname::list")]
    pub roots: Vec<PathBuf>,
    /// JSON Lines corpora this index was built from.
    #[serde(with = "crate::pathname::list")]
    pub corpora: Vec<PathBuf>,
    /// Folder (under the index) holding the current tantivy and usearch files.
    pub generation: u64,
    /// The next passage id to hand out; ids are never reused.
    pub next_passage_id: u64,
    /// Seconds since the epoch of the last committed update.
    pub updated: u64,
    /// The `--pre` preprocessor the index was built with: later runs (and
    /// `search QUERY FOLDER`) keep it, so its files are not read raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre: Option<PreSettings>,
    /// Built with `--keep-chrome`: later runs keep it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_chrome: bool,
    /// What the documents add up to, as of the last write.
    #[serde(default)]
    pub totals: Totals,
    /// The generation's passage vector segments, oldest first (format 7).
    #[serde(default)]
    pub vector_segments: Vec<crate::segments::Segment>,
    /// The next document handle to hand out ([`crate::Index`]'s `doc`);
    /// handles are never reused (format 8).
    #[serde(default)]
    pub next_doc_seq: u64,
    /// Formats 4 and 5 listed the documents here, by id; read to upgrade
    /// them ([`Manifest::read_for_update`]), never written.
    #[serde(default, skip_serializing, rename = "documents")]
    legacy_documents: BTreeMap<String, DocEntry>,
}

/// What the documents of an index add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Documents.
    pub documents: usize,
    /// Passages.
    pub passages: usize,
    /// Pages read by OCR.
    pub ocr_pages: usize,
}

impl Totals {
    /// The totals with document `entry` added.
    pub fn add(&mut self, entry: &DocEntry) {
        self.documents += 1;
        self.passages += entry.passages.len();
        self.ocr_pages += entry.ocr_pages;
    }

    /// The totals with document `entry` taken out.
    pub fn remove(&mut self, entry: &DocEntry) {
        self.documents = self.documents.saturating_sub(1);
        self.passages = self.passages.saturating_sub(entry.passages.len());
        self.ocr_pages = self.ocr_pages.saturating_sub(entry.ocr_pages);
    }

    /// What `documents` add up to.
    fn of<'a>(documents: impl Iterator<Item = &'a DocEntry>) -> Totals {
        let mut t = Totals::default();
        documents.for_each(|d| t.add(d));
        t
    }
}

/// `value` as compact JSON to `path` (in index folder `dir`): a temp file
/// beside it, fsync, rename over the old one, fsync of the folder. A
/// rename replaces the name: a file shared with an older generation by a
/// hard link is never written into.
fn write_atomically(dir: &Path, path: &Path, value: &impl Serialize) -> Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let f = std::fs::File::create(&tmp).at(&tmp)?;
        // Streamed and compact: no copy of the whole text in memory (12 MB
        // for SciFact five times over), 40% smaller than indented JSON on
        // disk; `jq .` shows it indented.
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer(&mut w, value).map_err(|e| Error::Corrupt {
            path: dir.to_path_buf(),
            reason: format!("{} does not serialise: {e}", path.display()),
        })?;
        w.flush().at(&tmp)?;
        w.get_ref().sync_all().at(&tmp)?;
    }
    std::fs::rename(&tmp, path).at(path)?;
    // Make the rename itself durable.
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// A `--pre` command and its `--pre-glob`s, as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreSettings {
    /// The command.
    pub command: String,
    /// The globs of the files it is for (all files when empty).
    #[serde(default)]
    pub globs: Vec<String>,
}

impl Manifest {
    /// Where the manifest of index folder `dir` is.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("manifest.json")
    }

    /// A new index's manifest: no document, no generation yet.
    pub fn new(
        model: ModelInfo,
        chunking: ChunkSettings,
        analyzer: String,
        quantization: Quantization,
    ) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            model,
            chunking,
            analyzer,
            quantization,
            roots: Vec::new(),
            corpora: Vec::new(),
            generation: 0,
            next_passage_id: 1,
            updated: 0,
            pre: None,
            keep_chrome: false,
            totals: Totals::default(),
            vector_segments: Vec::new(),
            next_doc_seq: 0,
            legacy_documents: BTreeMap::new(),
        }
    }

    /// Read the manifest: settings, model, generation and totals (the
    /// documents are in the generation's lexical index).
    pub fn read_header(dir: &Path) -> Result<Self> {
        Self::read_version(dir, false)
    }

    /// Read the manifest for an update, which also accepts a format it
    /// upgrades ([`UPGRADABLE_FROM`] and later) and marks it current. An
    /// older format's documents come with it, by id: it has no documents
    /// table to look them up in.
    pub fn read_for_update(dir: &Path) -> Result<(Self, Option<BTreeMap<String, DocEntry>>)> {
        let mut m = Self::read_version(dir, true)?;
        let legacy = match m.format_version {
            FORMAT_VERSION => None,
            _ => Some(m.legacy_documents(dir)?),
        };
        m.format_version = FORMAT_VERSION;
        Ok((m, legacy))
    }

    /// Where the documents of generation `generation` of a format 6 or 7
    /// index in `dir` are.
    fn documents_path(dir: &Path, generation: u64) -> PathBuf {
        crate::store::generation_dir(dir, generation).join("documents.json")
    }

    /// The documents of a format 4-7 index: beside the generation (formats
    /// 6 and 7) or in the manifest, already read (formats 4 and 5).
    fn legacy_documents(&mut self, dir: &Path) -> Result<BTreeMap<String, DocEntry>> {
        let documents = std::mem::take(&mut self.legacy_documents);
        if self.format_version < 6 {
            self.totals = Totals::of(documents.values());
            return Ok(documents);
        }
        let path = Self::documents_path(dir, self.generation);
        let corrupt = |reason: String| Error::Corrupt {
            path: dir.to_path_buf(),
            reason: format!("{}: {reason}", path.display()),
        };
        // Read whole, then parsed: serde_json parses a reader byte by byte.
        let bytes = std::fs::read(&path).map_err(|e| corrupt(e.to_string()))?;
        let documents: BTreeMap<String, DocEntry> =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if Totals::of(documents.values()) != self.totals {
            return Err(corrupt(format!(
                "lists {} documents, the manifest {}",
                documents.len(),
                self.totals.documents
            )));
        }
        Ok(documents)
    }

    fn read_version(dir: &Path, upgrade: bool) -> Result<Self> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoIndex {
                    path: dir.to_path_buf(),
                })
            }
            Err(e) => return Err(e).at(&path),
        };
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let corrupt = |e: serde_json::Error| Error::Corrupt {
            path: dir.to_path_buf(),
            reason: format!("manifest.json: {e}"),
        };
        let v: Version = serde_json::from_str(&text).map_err(corrupt)?;
        if v.format_version != FORMAT_VERSION && !(upgrade && v.format_version >= UPGRADABLE_FROM) {
            return Err(Error::FormatVersion {
                path: dir.to_path_buf(),
                found: v.format_version,
                expected: FORMAT_VERSION,
                way_out: if (UPGRADABLE_FROM..FORMAT_VERSION).contains(&v.format_version) {
                    "run `semsearch index` once to upgrade it (nothing is re-embedded)"
                } else {
                    "pass --rebuild to re-index"
                },
            });
        }
        serde_json::from_str(&text).map_err(corrupt)
    }

    /// Write the manifest over the old one, atomically: a temp file,
    /// fsync, rename. The documents themselves are in the generation's
    /// lexical index, committed before.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_atomically(dir, &Self::path(dir), self)
    }

    /// What the documents add up to, as of the last write.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Passages in the index.
    pub fn passage_count(&self) -> usize {
        self.totals().passages
    }

    /// Fail unless vectors in this index came from `model`.
    pub fn check_model(&self, dir: &Path, model: &ModelInfo) -> Result<()> {
        let same = self.model.id == model.id
            && self.model.dim == model.dim
            && self.model.pooling == model.pooling
            && self.model.normalize == model.normalize
            && self.model.max_seq_length == model.max_seq_length
            && self.model.revision == model.revision
            && self.model.query_prompt == model.query_prompt
            && self.model.document_prompt == model.document_prompt;
        if same {
            return Ok(());
        }
        let show = |m: &ModelInfo| {
            let prompt =
                |p: &Option<String>| p.as_deref().map_or("none".into(), |p| format!("{p:?}"));
            format!(
                "{}@{} ({}-d, {} pooling, query prompt {}, document prompt {})",
                m.id,
                m.revision,
                m.dim,
                m.pooling,
                prompt(&m.query_prompt),
                prompt(&m.document_prompt)
            )
        };
        Err(Error::ModelMismatch {
            path: dir.to_path_buf(),
            built: show(&self.model),
            wanted: show(model),
        })
    }
}
