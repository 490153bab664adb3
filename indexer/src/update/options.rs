//! What a run is asked to do, what it tells while running, and what it
//! reports.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::manifest::Quantization;
use crate::schema::DEFAULT_ANALYZER;
use crate::source::WalkOptions;

/// What to index and how.
#[derive(Debug, Clone)]
pub struct UpdateOptions {
    /// The index folder (with `store`, only what errors name).
    pub index_dir: PathBuf,
    /// A shared store to write instead of the folder.
    pub store: Option<crate::pg::Urls>,
    /// Folders and files to index. Empty with no `jsonl`: the index's own.
    pub roots: Vec<PathBuf>,
    /// BEIR-style corpora.
    pub jsonl: Vec<PathBuf>,
    /// How to walk folders.
    pub walk: WalkOptions,
    /// Larger files are skipped (`too_large`).
    pub max_file_size: u64,
    /// Tokens shared by consecutive passages.
    pub overlap: usize,
    /// How vectors are stored.
    pub quantization: Quantization,
    /// Lexical analyser name.
    pub analyzer: String,
    /// Discard an existing index (another model or format) and start over.
    pub rebuild: bool,
    /// Commit a generation at least this often during a run.
    pub checkpoint: Duration,
    /// Passages embedded (and written) together.
    pub embed_batch: usize,
    /// Vectors a new HNSW segment is filled to before the next starts.
    pub segment_vectors: usize,
    /// Set (by a signal handler) to end the run early: no more files are
    /// looked at, what is written is committed (atomically, as at a
    /// checkpoint), documents not yet embedded are left for the next run,
    /// and nothing is removed (the walk did not finish).
    pub stop: Option<Arc<AtomicBool>>,
    /// Keep the lines an HTML site repeats on most pages of a folder
    /// (navigation, help, footers: [`crate::chrome`]), dropped by default.
    pub keep_chrome: bool,
    /// A user's command that turns the files it applies to into text
    /// (`--pre`, `--pre-glob`).
    pub pre: Option<crate::extract::pre::Pre>,
}

/// The default checkpoint interval: a kill loses at most about a minute
/// of work, for about 1% more time (BENCHMARKS.md).
pub const DEFAULT_CHECKPOINT: Duration = Duration::from_secs(60);

/// Passages per embedding batch: enough for length-sorting to keep
/// padding small, few enough that a batch's tokens, texts and vectors stay
/// a few MB.
pub const DEFAULT_EMBED_BATCH: usize = 1024;

/// Vectors are stored as f16 by default: half of f32's size, and nDCG@10
/// within 0.0012 of it on SciFact and Cranfield (EVALUATION.md).
pub const DEFAULT_QUANTIZATION: Quantization = Quantization::F16;

impl UpdateOptions {
    /// The defaults, for `roots` into `index_dir`.
    pub fn new(index_dir: PathBuf, roots: Vec<PathBuf>) -> Self {
        UpdateOptions {
            index_dir,
            store: None,
            roots,
            jsonl: Vec::new(),
            walk: WalkOptions::default(),
            max_file_size: 10 * 1024 * 1024,
            overlap: 0,
            quantization: DEFAULT_QUANTIZATION,
            analyzer: DEFAULT_ANALYZER.to_string(),
            rebuild: false,
            checkpoint: DEFAULT_CHECKPOINT,
            embed_batch: DEFAULT_EMBED_BATCH,
            segment_vectors: crate::segments::SEGMENT_VECTORS,
            stop: None,
            keep_chrome: false,
            pre: None,
        }
    }
}

/// What a run is doing, for progress displays.
#[derive(Debug, Clone)]
pub enum Event {
    /// The walk is done: files (and corpora) to look at, their bytes.
    Found {
        /// Files and corpora.
        files: usize,
        /// Their total size.
        bytes: u64,
    },
    /// Work done so far.
    Progress(Progress),
    /// A file was skipped.
    Skipped(PathBuf, &'static str),
    /// A generation was committed during the run.
    Checkpoint {
        /// Its number.
        generation: u64,
        /// Documents in the index now.
        documents: usize,
    },
}

/// Counters of a run, for progress displays.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Files and corpus objects looked at.
    pub files: usize,
    /// Bytes of them (of a corpus: read so far).
    pub bytes: u64,
    /// Passages embedded.
    pub passages: usize,
    /// Passages cut from the documents looked at so far, embedded or
    /// waiting: with `bytes`, what the rest of the run will embed can be
    /// estimated (the work is the embedding, not the bytes).
    pub found: usize,
}

/// What a run did. Serialised as the `index --json` output.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// New documents.
    pub added: usize,
    /// Changed documents (re-embedded).
    pub updated: usize,
    /// Documents gone from the sources.
    pub removed: usize,
    /// Documents unchanged (not re-embedded).
    pub unchanged: usize,
    /// Files skipped, all reasons.
    pub skipped: usize,
    /// Files skipped, by reason.
    pub skipped_by_reason: BTreeMap<String, usize>,
    /// Files decoded lossily (invalid UTF-8), indexed anyway.
    pub lossy_utf8: usize,
    /// Generations committed during the run, before the last.
    pub checkpoints: usize,
    /// Documents in the index after the run.
    pub documents: usize,
    /// Passages in the index after the run.
    pub passages: usize,
    /// Wall time of the run.
    pub seconds: f64,
    /// Of `seconds`, the time spent in the model.
    pub embed_seconds: f64,
    /// Of `seconds`, the time spent writing embedded documents into the
    /// generation (lexical index and HNSW insertion).
    pub write_seconds: f64,
    /// Of `seconds`, the time spent committing generations (segment
    /// merges, the LSA basis, the manifest swap): checkpoints and the last.
    pub commit_seconds: f64,
    /// The run was stopped early ([`UpdateOptions::stop`]): what it
    /// committed is searchable, the rest waits for the next run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Pages read by OCR in this run (scanned PDFs, images).
    #[serde(skip_serializing_if = "is_zero")]
    pub ocr_pages: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
