//! The model a searcher embeds queries with: loaded as the searcher opens,
//! or at the first query that embeds (a lexical search never does, and so
//! neither waits for the model nor needs its files).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use semsearch_indexer::Manifest;
use semsearch_models::Embedder;

use crate::error::Result;

/// An index's model, loaded now or when first asked for.
pub(crate) struct Model {
    loaded: OnceLock<Arc<Embedder>>,
}

impl Model {
    /// A model already loaded, checked to be the one in the `manifest` of
    /// the index that `label` names.
    pub(crate) fn loaded(
        embedder: Arc<Embedder>,
        manifest: &Manifest,
        label: &Path,
    ) -> Result<Self> {
        Ok(Model {
            loaded: OnceLock::from(checked(embedder, manifest, label)?),
        })
    }

    /// The manifest's model, to be loaded when first asked for.
    pub(crate) fn deferred() -> Self {
        Model {
            loaded: OnceLock::new(),
        }
    }

    /// The model, loaded now if it was deferred and checked against the
    /// `manifest` of the index that `label` names.
    pub(crate) fn get(&self, manifest: &Manifest, label: &Path) -> Result<&Arc<Embedder>> {
        if let Some(e) = self.loaded.get() {
            return Ok(e);
        }
        let embedder = checked(Arc::new(manifest.model.load()?), manifest, label)?;
        Ok(self.loaded.get_or_init(|| embedder))
    }
}

/// `embedder`, if it is the model in `manifest` (else the mismatch, named
/// with the index's `label`).
fn checked(embedder: Arc<Embedder>, manifest: &Manifest, label: &Path) -> Result<Arc<Embedder>> {
    manifest.check_model(label, embedder.info())?;
    Ok(embedder)
}
