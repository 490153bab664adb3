use semsearch_indexer::Index;

/// Errors while searching; each names the index folder.
// Variants and fields are documented by their `#[error]` messages, which
// are what users read; a doc line per `path` field would repeat them.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the query is empty: type some words to search for")]
    EmptyQuery,
    #[error("a --plus or --minus text is empty")]
    EmptyTerm,
    #[error("--plus and --minus change the semantic leg; --mode lexical has none")]
    ArithmeticWithoutVectors,
    #[error("lexical search in {index} failed")]
    Lexical {
        index: std::path::PathBuf,
        #[source]
        source: Box<tantivy::TantivyError>,
    },
    #[error("vector search in {index} failed: {reason}")]
    Vectors {
        index: std::path::PathBuf,
        reason: String,
    },
    #[error("the index in {index} holds no documents")]
    EmptyIndex { index: std::path::PathBuf },
    #[error("{what} is not available on the store {index}: it needs a folder index")]
    Unsupported {
        index: std::path::PathBuf,
        what: String,
    },
    #[error("{setting} {value}: expected {expected}")]
    Setting {
        setting: &'static str,
        value: String,
        expected: String,
    },
    #[error("invalid --path glob {glob}")]
    Glob {
        glob: String,
        #[source]
        source: Box<globset::Error>,
    },
    #[error(transparent)]
    Index(#[from] semsearch_indexer::Error),
    #[error(transparent)]
    Model(#[from] semsearch_models::Error),
}

impl SearchError {
    pub(crate) fn lexical(index: &Index, e: tantivy::TantivyError) -> Self {
        SearchError::Lexical {
            index: index.dir().to_path_buf(),
            source: Box::new(e),
        }
    }
    pub(crate) fn vectors(index: &Index, e: impl std::fmt::Display) -> Self {
        SearchError::Vectors {
            index: index.dir().to_path_buf(),
            reason: e.to_string(),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = SearchError> = std::result::Result<T, E>;
