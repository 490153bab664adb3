//! Sentence embeddings with BERT-family encoders, run by candle.
//!
//! A model comes from a local folder or the Hugging Face hub (cache first,
//! then download). Its sentence-transformers metadata decides pooling,
//! normalisation and the token limit, so vectors match the reference
//! implementation.
//!
//! ```no_run
//! use semsearch_models::{Embedder, ModelSpec};
//!
//! let embedder = Embedder::load(&ModelSpec::default())?;
//! let vectors = embedder.embed(&["how to install rust", "rustup setup"])?;
//! assert_eq!(vectors[0].len(), embedder.info().dim);
//! # Ok::<(), semsearch_models::Error>(())
//! ```

mod attention;
mod bert;
mod cache;
mod calibration;
mod config;
mod cpu;
mod embedder;
mod error;
#[macro_use]
mod kernels;
pub mod linear;
mod malloc;
mod mapped;
mod packed;
mod parallel;
mod pooling;
mod source;
#[doc(hidden)]
pub mod testing;

pub use bert::{BertConfig, BertEncoder};
pub use config::{Prompts, SentenceConfig};
pub use cpu::{CpuFeatures, Kernels, ALL_KERNELS};
pub use embedder::{Embedder, ModelInfo, Precision};
pub use error::{Error, Result};
pub use kernels::dot_i8;
pub use malloc::tune_allocator;
pub use pooling::{l2_normalize, Pooling};
pub use source::{Cache, ModelFiles, ModelSpec, Weights, DEFAULT_MODEL};
