use std::path::PathBuf;

/// Everything that can go wrong while finding, loading or running a model.
/// Each variant names the model, file or field involved, so that the message
/// alone tells the user what to fix.
// Variants and fields are documented by their `#[error]` messages, which
// are what users read; a doc line per `path` field would repeat them.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "model `{model}` is not in the Hugging Face cache ({cache}) and could not be downloaded: \
         {reason}; set HF_HOME to a cache that holds it, allow downloads (unset HF_HUB_OFFLINE), \
         or pass --model PATH with a local model folder"
    )]
    NotFound {
        model: String,
        cache: PathBuf,
        reason: String,
    },
    #[error("model folder {path} has no {file}")]
    MissingFile { path: PathBuf, file: String },
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid: {reason}")]
    BadFile { path: PathBuf, reason: String },
    #[error(
        "model `{model}` has architecture `{architecture}`, which semsearch cannot run \
         (supported: BERT-family encoders: bert, roberta-style BERT weights, MiniLM, BGE, E5)"
    )]
    Unsupported { model: String, architecture: String },
    #[error("cannot load tokenizer {path}: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("cannot tokenise input: {0}")]
    Tokenize(String),
    #[error("cannot load weights of model `{model}` from {path}")]
    Weights {
        model: String,
        path: PathBuf,
        #[source]
        source: Box<candle_core::Error>,
    },
    #[error(
        "kernels `{requested}` cannot run here: {reason}; unset SEMSEARCH_KERNELS (or set it \
         to auto) for the best this CPU has"
    )]
    Kernels { requested: String, reason: String },
    #[error("inference failed in model `{model}`")]
    Inference {
        model: String,
        #[source]
        source: Box<candle_core::Error>,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
