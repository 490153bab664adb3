//! Turns folders of documents and JSON Lines corpora into a semsearch index:
//! a tantivy inverted index of documents, a usearch HNSW index of passage
//! vectors, and a manifest that ties them to the model that made the vectors.
//!
//! This crate owns the on-disk format; the searcher opens indexes through
//! [`Index`].
//!
//! ```no_run
//! use semsearch_indexer::{update, UpdateOptions};
//! use semsearch_models::{Embedder, ModelSpec};
//!
//! let embedder = Embedder::load(&ModelSpec::default())?;
//! let opts = UpdateOptions::new("notes/.semsearch".into(), vec!["notes".into()]);
//! let report = update(&embedder, &opts, &mut |_| {})?;
//! println!("{} documents, {} passages", report.documents, report.passages);
//! # Ok::<(), semsearch_indexer::Error>(())
//! ```

#![deny(unsafe_code)]

pub mod chrome;
pub mod chunk;
mod error;
pub mod extract;
mod index;
pub mod jsonl;
pub mod kind;
pub mod lsa;
pub mod manifest;
// The one module with unsafe code: a file mapped by hand for usearch to
// view (usearch's own mapping cannot be advised to use 2 MiB pages).
#[allow(unsafe_code)]
mod pages;
pub mod pathname;
pub mod pg;
pub mod schema;
pub mod segments;
pub mod source;
pub mod store;
pub mod update;
pub mod vectors;
pub mod watch;

pub use error::{Error, Result};
pub use index::{Index, PassageRef};
pub use manifest::{ChunkSettings, DocEntry, Manifest, PassageEntry, Quantization, Totals};
pub use update::{
    update, Event, Indexer, Progress, Report, UpdateOptions, DEFAULT_CHECKPOINT,
    DEFAULT_QUANTIZATION,
};
