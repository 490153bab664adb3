//! `semsearch index`: build or update an index.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use semsearch_indexer::schema::analyzer_for;
use semsearch_indexer::source::{type_list, WalkOptions};
use semsearch_indexer::store::INDEX_DIR_NAME;
use semsearch_indexer::{update, Manifest, Report, UpdateOptions, DEFAULT_QUANTIZATION};
use semsearch_models::{Embedder, ModelSpec, DEFAULT_MODEL};

use crate::cli::IndexArgs;
use crate::output::Outcome;
use crate::progress::Reporter;
use crate::signals::Stop;

/// The index folder: `--index`, else `.semsearch` in the first path (in
/// the folder holding it, for a file), else the nearest one.
fn index_dir(args: &IndexArgs) -> anyhow::Result<PathBuf> {
    if let Some(d) = &args.index {
        return Ok(d.clone());
    }
    match args.paths.first() {
        Some(p) if p.is_dir() => Ok(p.join(INDEX_DIR_NAME)),
        Some(p) => {
            let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
            Ok(parent.unwrap_or(Path::new(".")).join(INDEX_DIR_NAME))
        }
        None if !args.jsonl.is_empty() => {
            bail!("--jsonl needs --index DIR (where to put the index)")
        }
        None => super::find_index(None),
    }
}

/// Everything `index` and `watch` share: the checked arguments, the index
/// folder, the loaded model and the indexer's options.
pub struct Prepared {
    pub dir: PathBuf,
    pub embedder: Embedder,
    pub opts: UpdateOptions,
}

pub fn prepare(args: &IndexArgs) -> anyhow::Result<Prepared> {
    for p in &args.paths {
        if !p.exists() {
            bail!("{} does not exist", p.display());
        }
    }
    let store = super::store_urls(&args.store)?;
    let dir = match &store {
        Some(urls) => urls.label(),
        None => index_dir(args)?,
    };
    // An existing index keeps its model and settings unless flags say
    // otherwise (so `search QUERY FOLDER` and `serve FOLDER`, which update
    // the index without these flags, keep them too).
    let existing = match &store {
        Some(urls) => semsearch_indexer::pg::manifest(urls)
            .with_context(|| format!("cannot open store {}", dir.display()))?,
        None => Manifest::read_header(&dir).ok(),
    };
    let analyzer = match (&args.language, &existing) {
        (Some(lang), _) => {
            analyzer_for(lang)
                .with_context(|| format!("--language {lang}: not a supported language"))?
                .0
        }
        (None, Some(m)) => m.analyzer.clone(),
        (None, None) => semsearch_indexer::schema::DEFAULT_ANALYZER.to_string(),
    };
    let overlap = args
        .overlap
        .or(existing.as_ref().map(|m| m.chunking.overlap))
        .unwrap_or(0);
    // The model asked for, else the one that built the index (exactly: its
    // absolute folder or hub commit), else the default.
    let spec = match (&args.model, &existing) {
        (Some(m), _) => ModelSpec::parse(m, args.revision.as_deref()),
        (None, Some(m)) => m.model.spec(),
        (None, None) => ModelSpec::parse(DEFAULT_MODEL, args.revision.as_deref()),
    };
    let precision = args
        .precision
        .or(existing.as_ref().map(|m| m.model.precision))
        .unwrap_or_else(crate::cli::default_precision);
    let quantization = args
        .quantize
        .or(existing.as_ref().map(|m| m.quantization))
        .unwrap_or(DEFAULT_QUANTIZATION);
    let mut embedder = Embedder::load_with(&spec, precision)
        .with_context(|| format!("cannot load model {spec}"))?;
    // Prompts: the flags, else the index's (with its model), else the
    // model's own (config_sentence_transformers.json).
    let kept = existing.as_ref().filter(|_| args.model.is_none()).map(|m| {
        (
            m.model.query_prompt.clone(),
            m.model.document_prompt.clone(),
        )
    });
    let (query, document) = kept.unwrap_or_else(|| {
        let info = embedder.info();
        (info.query_prompt.clone(), info.document_prompt.clone())
    });
    embedder.set_prompts(
        args.query_prompt.clone().or(query),
        args.document_prompt.clone().or(document),
    );
    let opts = UpdateOptions {
        roots: args.paths.clone(),
        jsonl: args.jsonl.clone(),
        walk: WalkOptions {
            hidden: args.hidden,
            include: args.include.clone(),
            exclude: args.exclude.clone(),
            types: args.types.clone(),
            types_not: args.types_not.clone(),
            all_text: args.all_text,
            index_dir: None,
        },
        max_file_size: args.max_file_size,
        overlap,
        quantization,
        analyzer,
        rebuild: args.rebuild,
        checkpoint: Duration::from_secs(args.checkpoint_secs),
        embed_batch: args.embed_batch.max(1),
        segment_vectors: args.segment_vectors.max(1),
        keep_chrome: args.keep_chrome
            || (!args.rebuild && existing.as_ref().is_some_and(|m| m.keep_chrome)),
        pre: match (&args.pre, existing.as_ref().and_then(|m| m.pre.as_ref())) {
            (Some(command), _) => Some(pre(command, &args.pre_glob)?),
            (None, Some(kept)) if !args.no_pre => Some(pre(&kept.command, &kept.globs)?),
            _ => None,
        },
        store,
        ..UpdateOptions::new(dir.clone(), Vec::new())
    };
    Ok(Prepared {
        dir,
        embedder,
        opts,
    })
}

fn pre(command: &str, globs: &[String]) -> anyhow::Result<semsearch_indexer::extract::pre::Pre> {
    semsearch_indexer::extract::pre::Pre::new(command, globs).map_err(anyhow::Error::msg)
}

/// `--type-list`: ripgrep's format, `name: glob, glob`.
pub fn print_types() -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    for (name, globs) in type_list() {
        writeln!(out, "{name}: {}", globs.join(", "))?;
    }
    Ok(Outcome::Success)
}

pub fn run(args: IndexArgs) -> anyhow::Result<Outcome> {
    if args.type_list {
        return print_types();
    }
    let Prepared {
        dir,
        embedder,
        mut opts,
    } = prepare(&args)?;
    let stop = Stop::install()?;
    opts.stop = Some(stop.flag());
    let mut reporter = Reporter::new(args.quiet, args.verbose);
    let report = update(&embedder, &opts, &mut |e| reporter.event(e))
        .with_context(|| format!("indexing into {} failed", dir.display()))?;
    reporter.finish();
    if !args.quiet || args.json {
        print_report(&report, &dir, args.json)?;
    }
    Ok(Outcome::unless_stopped(&stop))
}

/// The summary of a run: one JSON object, or two lines.
pub fn print_report(report: &Report, dir: &Path, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(report)?)?;
        return Ok(out.flush()?);
    }
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
    if report.ocr_pages > 0 {
        writeln!(out, "{} pages read by OCR", report.ocr_pages)?;
    }
    if let Some(n) = report.skipped_by_reason.get("no_ocr") {
        writeln!(
            out,
            "{n} images or scanned PDFs skipped (no_ocr): install {} to read them",
            semsearch_indexer::extract::ocr::PACKAGES
        )?;
    }
    if report.interrupted {
        writeln!(
            out,
            "stopped early: what was embedded is committed; run the same command again to finish"
        )?;
    }
    Ok(out.flush()?)
}

/// The model and update options that keep `dir` an index of `folder`: the
/// index's own model, else the default (`search FOLDER`, `serve FOLDER`).
pub fn folder_options(folder: &Path, dir: &Path) -> anyhow::Result<(Embedder, UpdateOptions)> {
    let existing = Manifest::read_header(dir).ok().map(|m| m.model);
    // A new index gets $SEMSEARCH_MODEL, as `index` would, else the default;
    // an existing one its own model, precision and prompts.
    let fallback = std::env::var("SEMSEARCH_MODEL").unwrap_or_else(|_| DEFAULT_MODEL.to_string());
    let embedder = match existing {
        Some(m) => m
            .load()
            .with_context(|| format!("cannot load model {}", m.spec()))?,
        None => {
            let spec = ModelSpec::parse(&fallback, None);
            Embedder::load_with(&spec, crate::cli::default_precision())
                .with_context(|| format!("cannot load model {spec}"))?
        }
    };
    // The index here is a cache of the folder: one in a format the update
    // cannot upgrade is rebuilt rather than refused (`search` has no
    // --rebuild to suggest); an upgradable one is upgraded by the update.
    let rebuild = match Manifest::read_header(dir) {
        Err(semsearch_indexer::Error::FormatVersion { found, .. })
            if !(semsearch_indexer::manifest::UPGRADABLE_FROM
                ..semsearch_indexer::manifest::FORMAT_VERSION)
                .contains(&found) =>
        {
            eprintln!(
                "semsearch: {} has index format {found} from another semsearch version; re-indexing {}",
                dir.display(),
                folder.display()
            );
            true
        }
        _ => false,
    };
    let mut opts = UpdateOptions {
        rebuild,
        ..UpdateOptions::new(dir.to_path_buf(), vec![folder.to_path_buf()])
    };
    // Every setting the index was built with is kept (these commands take
    // none of `index`'s flags, and a mismatch would refuse the update).
    if let Ok(m) = Manifest::read_header(dir) {
        (opts.quantization, opts.analyzer, opts.overlap) =
            (m.quantization, m.analyzer, m.chunking.overlap);
        opts.keep_chrome = m.keep_chrome;
        opts.pre = m.pre.map(|p| pre(&p.command, &p.globs)).transpose()?;
    }
    Ok((embedder, opts))
}

/// Index `folder` into `dir` if it has no index or has changed, with a short
/// progress line on stderr (for `semsearch search QUERY FOLDER`). Returns
/// the loaded model, so the search need not load it again.
pub fn refresh(folder: &Path, dir: &Path) -> anyhow::Result<Embedder> {
    let (embedder, opts) = folder_options(folder, dir)?;
    let mut reporter = Reporter::new(false, false);
    let report = update(&embedder, &opts, &mut |e| reporter.event(e))
        .with_context(|| format!("indexing {} failed", folder.display()))?;
    reporter.finish();
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
