//! `semsearch bench-ann`: HNSW against brute force on an index's passage
//! vectors.

use std::io::Write;

use anyhow::Context;
use semsearch_indexer::Index;
use semsearch_searcher::ann;

use crate::cli::BenchAnnArgs;
use crate::output::Outcome;

pub fn run(args: BenchAnnArgs) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.k > 0, "-k must be at least 1");
    anyhow::ensure!(args.queries > 0, "--queries must be at least 1");
    anyhow::ensure!(
        args.expansion.iter().all(|&e| e > 0),
        "--expansion values must be at least 1"
    );
    let dir = super::find_index(args.index.index.as_deref())?;
    let index =
        Index::open(&dir).with_context(|| format!("cannot open index {}", dir.display()))?;
    let (queries, source) = match &args.from {
        Some(file) => {
            let mut texts = super::read_jsonl_texts(file)?;
            texts.truncate(args.queries);
            let model = index.model();
            let embedder = model.load()?;
            (
                embedder.embed_queries(&texts)?,
                format!("queries of {}", file.display()),
            )
        }
        None => (
            ann::sample_queries(&index, args.queries),
            "passage vectors of the index".to_string(),
        ),
    };
    anyhow::ensure!(!queries.is_empty(), "the index holds no vectors");
    let report = ann::compare(&index, &queries, args.k, &args.expansion)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        return Ok(Outcome::Success);
    }
    writeln!(
        out,
        "{} vectors ({}), {} queries ({source}), k = {}",
        report.vectors,
        index.manifest().quantization,
        report.queries,
        report.k
    )?;
    writeln!(
        out,
        "exact (brute force): mean {:.3} ms, p99 {:.3} ms",
        report.exact.mean_ms, report.exact.p99_ms
    )?;
    writeln!(
        out,
        "{:>9}  {:>9}  {:>9}  {:>9}  {:>8}",
        "expansion", "recall@k", "mean ms", "p99 ms", "speed-up"
    )?;
    for r in &report.rows {
        writeln!(
            out,
            "{:>9}  {:>9.4}  {:>9.3}  {:>9.3}  {:>7.1}x",
            r.expansion_search, r.recall, r.hnsw.mean_ms, r.hnsw.p99_ms, r.speedup
        )?;
    }
    Ok(Outcome::Success)
}
