use std::path::PathBuf;

/// Errors of building or opening an index; each names the folder or file.
// Variants and fields are documented by their `#[error]` messages, which
// are what users read; a doc line per `path` field would repeat them.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no semsearch index in {path}: run `semsearch index FOLDER` first")]
    NoIndex { path: PathBuf },
    #[error("index {path} is locked: another `semsearch index` is updating it")]
    Locked { path: PathBuf },
    #[error(
        "index {path} was built with {built}, not {wanted}: use the same --model, \
         or pass --rebuild to re-index from scratch"
    )]
    ModelMismatch {
        path: PathBuf,
        built: String,
        wanted: String,
    },
    #[error(
        "index {path} was built with {setting} {built}, not {wanted}: pass {flag} {built} \
         to keep it, or --rebuild to re-index with {wanted}"
    )]
    SettingsMismatch {
        path: PathBuf,
        /// What differs: quantization, language, overlap, precision.
        setting: &'static str,
        built: String,
        wanted: String,
        /// The flag that sets it.
        flag: &'static str,
    },
    #[error(
        "index {path} has format version {found}, this semsearch reads version {expected}: \
         {way_out}"
    )]
    FormatVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
        /// What to run.
        way_out: &'static str,
    },
    #[error("index {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot access {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lexical index {path} failed")]
    Tantivy {
        path: PathBuf,
        #[source]
        source: Box<tantivy::TantivyError>,
    },
    #[error("vector index {path} failed: {reason}")]
    Vectors { path: PathBuf, reason: String },
    #[error("{path}:{line}: {reason}")]
    Jsonl {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("cannot watch {path}")]
    Watch {
        path: PathBuf,
        #[source]
        source: Box<notify_debouncer_mini::notify::Error>,
    },
    #[error("invalid glob {glob}")]
    Glob {
        glob: String,
        #[source]
        source: Box<ignore::Error>,
    },
    /// What semsearch found wrong with a store (its schema, its setup).
    #[error("store {url}: {reason}")]
    Store { url: String, reason: String },
    /// What Postgres answered, kept whole: SQLSTATE, message, detail.
    #[error("store {url}: {message}")]
    Postgres {
        url: String,
        /// The server's message (or the client's, for a lost connection).
        message: String,
        #[source]
        source: Box<postgres::Error>,
    },
    #[error(transparent)]
    Model(#[from] semsearch_models::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a path to an I/O error.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

impl<T> IoContext<T> for tantivy::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| Error::Tantivy {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }
}
