//! Before a run: the previous index (kept, or discarded when asked) and
//! what to scan.

use std::collections::BTreeMap;
use std::path::PathBuf;

use semsearch_models::Embedder;

use super::UpdateOptions;
use crate::error::{Error, IoContext, Result};
use crate::manifest::{ChunkSettings, DocEntry, Manifest};
use crate::pg::PgWriter;
use crate::schema::language_name;

/// The documents of an older format, by id, which a run upgrades.
pub(super) type Legacy = Option<BTreeMap<String, DocEntry>>;

/// Open the previous manifest, unless it must be discarded, with the
/// documents of an older format this run upgrades.
pub(super) fn previous(
    opts: &UpdateOptions,
    embedder: &Embedder,
) -> Result<(Option<Manifest>, Legacy)> {
    match Manifest::read_for_update(&opts.index_dir) {
        Ok((m, legacy)) => match compatible(&m, opts, embedder) {
            Ok(()) if !opts.rebuild => Ok((Some(m), legacy)),
            Err(e) if !opts.rebuild => Err(e),
            _ => Ok((None, None)),
        },
        Err(Error::NoIndex { .. }) => Ok((None, None)),
        Err(e @ (Error::FormatVersion { .. } | Error::Corrupt { .. })) if !opts.rebuild => Err(e),
        Err(Error::FormatVersion { .. } | Error::Corrupt { .. }) => Ok((None, None)),
        Err(e) => Err(e),
    }
}

/// [`previous`] for a shared store: its committed manifest, checked the
/// same way (a store has no older format to upgrade).
pub(super) fn previous_in_store(
    pg: &mut PgWriter,
    opts: &UpdateOptions,
    embedder: &Embedder,
) -> Result<Option<Manifest>> {
    if opts.rebuild {
        // Not read: a store of an older schema is what a rebuild is for.
        return Ok(None);
    }
    match pg.previous()? {
        Some(m) => {
            compatible(&m, opts, embedder)?;
            Ok(Some(m))
        }
        _ => Ok(None),
    }
}

fn compatible(m: &Manifest, opts: &UpdateOptions, embedder: &Embedder) -> Result<()> {
    m.check_model(&opts.index_dir, embedder.info())?;
    let precision = embedder.info().precision;
    let settings = [
        (
            "quantization",
            "--quantize",
            m.quantization.to_string(),
            opts.quantization.to_string(),
        ),
        (
            "language",
            "--language",
            language_name(&m.analyzer),
            language_name(&opts.analyzer),
        ),
        (
            "overlap",
            "--overlap",
            m.chunking.overlap.to_string(),
            opts.overlap.to_string(),
        ),
        (
            "precision",
            "--precision",
            m.model.precision.to_string(),
            precision.to_string(),
        ),
    ];
    match settings
        .into_iter()
        .find(|(_, _, built, wanted)| built != wanted)
    {
        Some((setting, flag, built, wanted)) => Err(Error::SettingsMismatch {
            path: opts.index_dir.clone(),
            setting,
            built,
            wanted,
            flag,
        }),
        None => Ok(()),
    }
}

/// The manifest a run starts from: the previous one, or a new empty one.
pub(super) fn start(
    prev: Option<Manifest>,
    opts: &UpdateOptions,
    embedder: &Embedder,
    chunking: ChunkSettings,
) -> Manifest {
    prev.unwrap_or_else(|| {
        Manifest::new(
            embedder.info().clone(),
            chunking,
            opts.analyzer.clone(),
            opts.quantization,
        )
    })
}

/// Folders/files and corpora to scan, absolute: those asked for, else those
/// the index was built from.
pub(super) fn sources(
    opts: &UpdateOptions,
    prev: Option<&Manifest>,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut roots, mut corpora) = (opts.roots.clone(), opts.jsonl.clone());
    if roots.is_empty() && corpora.is_empty() {
        if let Some(p) = prev {
            (roots, corpora) = (p.roots.clone(), p.corpora.clone());
        }
    }
    let canon = |p: &PathBuf| std::fs::canonicalize(p).at(p);
    let roots: Vec<PathBuf> = roots.iter().map(canon).collect::<Result<_>>()?;
    let corpora: Vec<PathBuf> = corpora.iter().map(canon).collect::<Result<_>>()?;
    Ok((roots, corpora))
}
