//! `semsearch index`: build or update an index.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use semsearch_indexer::schema::analyzer_for;
use semsearch_indexer::source::WalkOptions;
use semsearch_indexer::store::INDEX_DIR_NAME;
use semsearch_indexer::{update, Event, Manifest, UpdateOptions};
use semsearch_models::{Embedder, ModelSpec, DEFAULT_MODEL};

use crate::cli::IndexArgs;
use crate::output::{progress, Outcome};

fn index_dir(args: &IndexArgs) -> anyhow::Result<PathBuf> {
    if let Some(d) = &args.index {
        return Ok(d.clone());
    }
    match args.paths.first() {
        Some(p) if p.is_dir() => Ok(p.join(INDEX_DIR_NAME)),
        Some(p) => bail!("{} is not a folder", p.display()),
        None if !args.jsonl.is_empty() => {
            bail!("--jsonl needs --index DIR (where to put the index)")
        }
        None => super::find_index(None),
    }
}

pub fn run(args: IndexArgs) -> anyhow::Result<Outcome> {
    for p in &args.paths {
        if !p.is_dir() {
            bail!("{} is not a folder", p.display());
        }
    }
    let dir = index_dir(&args)?;
    let (analyzer, _) = analyzer_for(&args.language)
        .with_context(|| format!("--language {}: not a supported language", args.language))?;
    // An existing index keeps its model unless --model says otherwise.
    let existing = Manifest::read(&dir).ok().map(|m| m.model);
    let model = args
        .model
        .clone()
        .or(existing.as_ref().map(|m| m.id.clone()))
        .unwrap_or_else(|| DEFAULT_MODEL.to_string());
    let precision = args
        .precision
        .or(existing.map(|m| m.precision))
        .unwrap_or(crate::cli::DEFAULT_PRECISION);
    let spec = ModelSpec::parse(&model, args.revision.as_deref());
    let embedder = Embedder::load_with(&spec, precision)
        .with_context(|| format!("cannot load model {spec}"))?;
    let opts = UpdateOptions {
        roots: args.paths.clone(),
        jsonl: args.jsonl.clone(),
        walk: WalkOptions {
            hidden: args.hidden,
            include: args.include.clone(),
            exclude: args.exclude.clone(),
            index_dir: None,
        },
        max_file_size: args.max_file_size,
        overlap: args.overlap,
        quantization: args.quantize,
        analyzer,
        rebuild: args.rebuild,
        ..UpdateOptions::new(dir.clone(), Vec::new())
    };
    let bar = progress(0, "passages", args.quiet || args.json);
    let report = update(&embedder, &opts, &mut |e| match e {
        Event::Embedding {
            documents,
            passages,
        } => {
            bar.set_length(passages as u64);
            bar.set_message(format!("from {documents} files"));
        }
        Event::Embedded(n) => bar.inc(n as u64),
    })
    .with_context(|| format!("indexing into {} failed", dir.display()))?;
    bar.finish_and_clear();

    if args.verbose {
        let mut err = std::io::stderr().lock();
        for (path, reason) in &report.skipped_files {
            writeln!(err, "skipped ({reason}): {}", path.display())?;
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        let reasons: Vec<String> = report
            .skipped_by_reason
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        writeln!(
            out,
            "{} added, {} updated, {} removed, {} unchanged, {} skipped{} in {:.1}s",
            report.added,
            report.updated,
            report.removed,
            report.unchanged,
            report.skipped,
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join(", "))
            },
            report.seconds
        )?;
        writeln!(
            out,
            "{}: {} documents, {} passages",
            dir.display(),
            report.documents,
            report.passages
        )?;
    }
    Ok(Outcome::Success)
}

/// Index `folder` into `dir` if it has no index or has changed, with a short
/// progress line on stderr (for `semsearch search QUERY FOLDER`). Returns
/// the loaded model, so the search need not load it again.
pub fn refresh(folder: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<Embedder> {
    let existing = Manifest::read(dir).ok().map(|m| m.model);
    // A new index gets $SEMSEARCH_MODEL, as `index` would, else the default.
    let fallback = std::env::var("SEMSEARCH_MODEL").unwrap_or_else(|_| DEFAULT_MODEL.to_string());
    let (model, precision) = existing.map_or((fallback, crate::cli::DEFAULT_PRECISION), |m| {
        (m.id, m.precision)
    });
    let spec = ModelSpec::parse(&model, None);
    let embedder = Embedder::load_with(&spec, precision)
        .with_context(|| format!("cannot load model {spec}"))?;
    // The index here is a cache of the folder: one in an older format is
    // rebuilt rather than refused (`search` has no --rebuild to suggest).
    let rebuild = match Manifest::read(dir) {
        Err(semsearch_indexer::Error::FormatVersion { found, .. }) => {
            eprintln!(
                "semsearch: {} has index format {found} from another semsearch version; re-indexing {}",
                dir.display(),
                folder.display()
            );
            true
        }
        _ => false,
    };
    let opts = UpdateOptions {
        rebuild,
        ..UpdateOptions::new(dir.to_path_buf(), vec![folder.to_path_buf()])
    };
    let bar = progress(0, "passages", false);
    let report = update(&embedder, &opts, &mut |e| match e {
        Event::Embedding { passages, .. } => bar.set_length(passages as u64),
        Event::Embedded(n) => bar.inc(n as u64),
    })
    .with_context(|| format!("indexing {} failed", folder.display()))?;
    bar.finish_and_clear();
    if report.added + report.updated + report.removed > 0 {
        eprintln!(
            "semsearch: indexed {}: {} added, {} updated, {} removed",
            folder.display(),
            report.added,
            report.updated,
            report.removed
        );
    }
    Ok(embedder)
}
