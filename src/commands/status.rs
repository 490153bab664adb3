//! `semsearch status`: what an index holds.

use std::io::Write;
use std::path::Path;

use semsearch_indexer::pathname::display;
use semsearch_indexer::Manifest;

use crate::cli::StatusArgs;
use crate::output::Outcome;

fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| disk_usage(&e.path())).sum())
        .unwrap_or(0)
}

/// Bytes the index takes now: its manifest and current generation (the
/// one before is kept for searches that opened it until the next update).
fn index_size(dir: &Path, m: &Manifest) -> u64 {
    let gen_dir = semsearch_indexer::store::generation_dir(dir, m.generation);
    disk_usage(&Manifest::path(dir)) + disk_usage(&gen_dir)
}

/// The `status --json` object (also the server's `/api/status`).
pub fn status_json(dir: &Path, m: &Manifest) -> serde_json::Value {
    status_json_sized(dir, m, index_size(dir, m))
}

/// The status of what a server serves: [`status_json`] for a folder
/// index; for a store, what the opened store knows without reading every
/// entry (`semsearch status --store` has the rest).
pub fn served_json(dir: &Path, searcher: &dyn semsearch_searcher::Store) -> serde_json::Value {
    match searcher.folder() {
        Some(s) => status_json(dir, s.index().manifest()),
        None => serde_json::json!({
            "store": dir,
            "documents": searcher.len(),
            "model": searcher.embedder().ok().map(|e| e.info()),
        }),
    }
}

/// What this CPU runs: the kernel families it can run, the one selected
/// for the default precision (`SEMSEARCH_KERNELS`, else the best for it),
/// that precision, and the instruction-set extensions behind them.
pub fn cpu_json() -> serde_json::Value {
    let selected = selected_here();
    serde_json::json!({
        "kernels": selected.as_ref().ok(),
        "kernels_error": selected.as_ref().err().map(|e| e.to_string()),
        "default_precision": crate::cli::default_precision(),
        "runs": runnable(),
        "features": semsearch_models::CpuFeatures::get(),
    })
}

/// The `kernels` line of the text output.
fn cpu_line() -> String {
    let runs: Vec<String> = runnable().iter().map(|k| k.to_string()).collect();
    match selected_here() {
        Ok(k) => format!(
            "{k}, {} by default (this CPU runs {})",
            crate::cli::default_precision(),
            runs.join(", ")
        ),
        Err(e) => e.to_string(),
    }
}

/// The kernel families this CPU can run.
fn runnable() -> Vec<semsearch_models::Kernels> {
    semsearch_models::ALL_KERNELS
        .into_iter()
        .filter(|k| k.missing().is_none())
        .collect()
}

/// The family that runs the default precision here.
fn selected_here() -> semsearch_models::Result<semsearch_models::Kernels> {
    semsearch_models::Kernels::selected_for(crate::cli::default_precision())
}

/// [`status_json`] of an index taking `size` bytes.
fn status_json_sized(dir: &Path, m: &Manifest, size: u64) -> serde_json::Value {
    let totals = m.totals();
    let passages = totals.passages;
    serde_json::json!({
        "cpu": cpu_json(),
        "index": dir, "format_version": m.format_version, "model": m.model,
        "documents": totals.documents, "passages": passages, "bytes": size,
        "quantization": m.quantization, "analyzer": m.analyzer, "chunking": m.chunking,
        "bytes_per_passage": size / (passages.max(1) as u64),
        "roots": m.roots.iter().map(|r| display(r)).collect::<Vec<_>>(),
        "corpora": m.corpora.iter().map(|r| display(r)).collect::<Vec<_>>(),
        "updated": m.updated, "generation": m.generation,
        "ocr_pages": totals.ocr_pages,
        "vector_segments": m.vector_segments.len(),
        "search_expansions": m.vector_segments.iter().map(|s| s.expansion()).collect::<Vec<_>>(),
    })
}

/// How many vector segments, and the search expansions they measured
/// (what a semantic search costs on each).
fn segments_line(list: &[semsearch_indexer::segments::Segment]) -> String {
    let count = match list.len() {
        0 | 1 => String::new(),
        n => format!(" in {n} segments"),
    };
    let low = list.iter().map(|s| s.expansion()).min();
    let high = list.iter().map(|s| s.expansion()).max();
    match (low, high) {
        (Some(l), Some(h)) if l == h => format!("{count}, HNSW search expansion {l}"),
        (Some(l), Some(h)) => format!("{count}, HNSW search expansion {l}-{h}"),
        _ => count,
    }
}

pub fn run(args: StatusArgs) -> anyhow::Result<Outcome> {
    // A store a first build has not finished has no search indexes yet.
    let (dir, m, size, indexed) = match super::store_urls(&args.store)? {
        Some(urls) => {
            let dir = urls.label();
            let s = semsearch_indexer::pg::status(&urls)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "no semsearch index in the store {}: run `semsearch index FOLDER --store URL` first",
                    dir.display()
                )
            })?;
            (dir, s.manifest, s.bytes, Some(s.indexed))
        }
        None => {
            let dir = super::find_index(args.index.index.as_deref())?;
            let m = Manifest::read_header(&dir)?;
            let size = index_size(&dir, &m);
            (dir, m, size, None)
        }
    };
    let passages = m.passage_count();
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut json = status_json_sized(&dir, &m, size);
        if let Some(indexed) = indexed {
            json["search_indexes"] = serde_json::json!(indexed);
        }
        writeln!(out, "{json}")?;
    } else {
        writeln!(out, "index      {}", dir.display())?;
        writeln!(
            out,
            "model      {}@{} ({}-d, {} pooling, max {} tokens, {} arithmetic)",
            m.model.id,
            m.model.revision,
            m.model.dim,
            m.model.pooling,
            m.model.max_seq_length,
            m.model.precision
        )?;
        let totals = m.totals();
        writeln!(out, "documents  {}", totals.documents)?;
        writeln!(out, "passages   {passages}")?;
        let ocr = totals.ocr_pages;
        if ocr > 0 {
            writeln!(out, "ocr        {ocr} pages read by OCR")?;
        }
        writeln!(
            out,
            "size       {:.1} MiB ({} bytes per passage)",
            size as f64 / (1024.0 * 1024.0),
            size / (passages.max(1) as u64)
        )?;
        writeln!(
            out,
            "vectors    {}{}, analyser {}",
            m.quantization,
            segments_line(&m.vector_segments),
            m.analyzer
        )?;
        for r in &m.roots {
            writeln!(out, "root       {}", display(r))?;
        }
        for r in &m.corpora {
            writeln!(out, "corpus     {}", display(r))?;
        }
        let age = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(m.updated);
        writeln!(out, "updated    {} ago", humanize(age))?;
        if indexed == Some(false) {
            writeln!(
                out,
                "searched   by scanning: the first `index` run into this store did not \
                 finish; the next run builds the search indexes at its end"
            )?;
        }
        writeln!(out, "kernels    {}", cpu_line())?;
    }
    Ok(Outcome::Success)
}

fn humanize(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}
