//! `semsearch bench`: embedding throughput and short-query latency, the
//! numbers BENCHMARKS.md records.

use std::io::Write;
use std::time::Instant;

use crate::cli::{BenchArgs, BenchSearchArgs};
use crate::output::Outcome;
use semsearch_searcher::metrics::percentile;

/// Short queries (4-10 tokens), cycled.
const QUERIES: &[&str] = &[
    "how to install rust on linux",
    "best pizza near me",
    "what is the capital of france",
    "effects of vitamin d on bone density",
    "write-ahead log crash recovery",
    "semantic search with embeddings",
];

pub fn run(args: BenchArgs) -> anyhow::Result<Outcome> {
    let mut texts = super::read_jsonl_texts(&args.input)?;
    if let Some(n) = args.limit {
        texts.truncate(n);
    }
    let t = Instant::now();
    let embedder = args.model.load()?;
    let load_s = t.elapsed().as_secs_f64();

    let ids = embedder.tokenize(&texts)?;
    let tokens: usize = ids.iter().map(Vec::len).sum();
    embedder.embed_tokens(&ids[..ids.len().min(16)])?; // warm-up
    let mut runs = Vec::new();
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        embedder.embed_tokens(&ids)?;
        runs.push(t.elapsed().as_secs_f64());
    }
    let best = runs.iter().cloned().fold(f64::INFINITY, f64::min);

    for q in QUERIES {
        embedder.embed_query(q)?;
    }
    let mut lat: Vec<f64> = (0..args.queries)
        .map(|i| {
            let t = Instant::now();
            embedder
                .embed_query(QUERIES[i % QUERIES.len()])
                .map(|_| t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<_, _>>()?;
    lat.sort_by(f64::total_cmp);

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = serde_json::json!({
        "model": embedder.info().id,
        "passages": texts.len(),
        "tokens": tokens,
        "threads": threads,
        "load_seconds": load_s,
        "precision": embedder.info().precision,
        "kernels": embedder.kernels(),
        "cpu": super::status::cpu_json(),
        "run_seconds": runs,
        "passages_per_s": texts.len() as f64 / best,
        "tokens_per_s": tokens as f64 / best,
        "query_ms_p50": percentile(&lat, 0.5),
        "query_ms_p90": percentile(&lat, 0.9),
    });
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{report}")?;
    } else {
        writeln!(
            out,
            "model            {} ({} on {} kernels)",
            embedder.info().id,
            embedder.info().precision,
            embedder.kernels()
        )?;
        writeln!(
            out,
            "passages         {} ({tokens} tokens, {:.1} per passage)",
            texts.len(),
            tokens as f64 / texts.len().max(1) as f64
        )?;
        writeln!(out, "threads          {threads}")?;
        writeln!(out, "load             {:.3} s", load_s)?;
        writeln!(
            out,
            "runs             {}",
            runs.iter()
                .map(|s| format!("{s:.2}s"))
                .collect::<Vec<_>>()
                .join(" ")
        )?;
        writeln!(
            out,
            "throughput       {:.1} passages/s, {:.0} tokens/s (best run)",
            texts.len() as f64 / best,
            tokens as f64 / best
        )?;
        writeln!(
            out,
            "query latency    p50 {:.2} ms, p90 {:.2} ms ({} short queries)",
            percentile(&lat, 0.5),
            percentile(&lat, 0.9),
            lat.len()
        )?;
    }
    Ok(Outcome::Success)
}

/// The rankings `bench search` times, as `--only` names them.
const RANKINGS: [&str; 7] = [
    "lexical",
    "lexical-1",
    "lsa",
    "semantic",
    "semantic-1",
    "hybrid",
    "hybrid-1",
];

/// Latency of each mode per query, model and index loaded once.
pub fn run_search(args: BenchSearchArgs) -> anyhow::Result<Outcome> {
    use semsearch_searcher::{Lexical, Mode, SearchConfig};
    if let Some(bad) = args.only.iter().find(|o| !RANKINGS.contains(&o.as_str())) {
        anyhow::bail!(
            "--only {bad}: no such ranking (one of {})",
            RANKINGS.join(", ")
        );
    }
    let mut queries = super::read_jsonl_texts(&args.queries)?;
    queries.truncate(args.limit);
    let t = Instant::now();
    let searcher = super::open_store(&args.store, true, || {
        super::find_index(args.index.index.as_deref())
    })?;
    let dir = searcher.label();
    let open_s = t.elapsed().as_secs_f64();
    let mut report = serde_json::Map::new();
    report.insert("index".into(), serde_json::json!(dir));
    report.insert("queries".into(), serde_json::json!(queries.len()));
    report.insert("open_seconds".into(), serde_json::json!(open_s));
    let mut out = std::io::stdout().lock();
    if !args.json {
        writeln!(
            out,
            "{} queries on {} (opened in {open_s:.3}s)",
            queries.len(),
            dir.display()
        )?;
    }
    let defaults = SearchConfig::default();
    let plain = SearchConfig {
        feedback: None,
        collapse: false,
        ..SearchConfig::default()
    };
    // The defaults per mode, LSA, and each mode's first ranking alone (no
    // feedback, no collapse): what those two cost, measured side by side.
    let rankings = [
        ("lexical", Mode::Lexical, defaults.lexical, &defaults),
        ("lexical-1", Mode::Lexical, defaults.lexical, &plain),
        ("lsa", Mode::Lexical, Lexical::Lsa, &defaults),
        ("semantic", Mode::Semantic, defaults.lexical, &defaults),
        ("semantic-1", Mode::Semantic, defaults.lexical, &plain),
        ("hybrid", Mode::Hybrid, defaults.lexical, &defaults),
        ("hybrid-1", Mode::Hybrid, defaults.lexical, &plain),
    ];
    debug_assert!(rankings.iter().map(|r| r.0).eq(RANKINGS));
    let timed = rankings
        .into_iter()
        .filter(|r| args.only.is_empty() || args.only.iter().any(|o| o == r.0));
    for (name, mode, lexical, base) in timed {
        let cfg = SearchConfig {
            mode,
            lexical,
            ..base.clone()
        };
        let rank = |q: &str| -> anyhow::Result<()> {
            searcher.search(q, &cfg)?;
            Ok(())
        };
        // A store has no LSA (it needs the whole corpus' statistics).
        if !searcher.lexical_models().contains(&lexical) {
            continue;
        }
        for q in queries.iter().take(5) {
            rank(q)?; // warm-up
        }
        let mut lat: Vec<f64> = Vec::with_capacity(queries.len());
        for q in &queries {
            let t = Instant::now();
            rank(q)?;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        lat.sort_by(f64::total_cmp);
        let (p50, p90, p99) = (
            percentile(&lat, 0.5),
            percentile(&lat, 0.9),
            percentile(&lat, 0.99),
        );
        report.insert(
            name.into(),
            serde_json::json!({"p50_ms": p50, "p90_ms": p90, "p99_ms": p99}),
        );
        if !args.json {
            writeln!(
                out,
                "{name:<9} p50 {p50:7.2} ms  p90 {p90:7.2} ms  p99 {p99:7.2} ms"
            )?;
        }
    }
    // HNSW against brute force: recall@10 of the semantic leg's documents
    // alone (one pass, nothing folded), and of the default semantic
    // search, whose feedback moves the query by the first pass's documents
    // (so a first-pass miss can move the second pass further).
    let leg = SearchConfig {
        mode: Mode::Semantic,
        feedback: None,
        collapse: false,
        ..SearchConfig::default()
    };
    let full = SearchConfig {
        mode: Mode::Semantic,
        ..SearchConfig::default()
    };
    if !args.no_recall {
        let recall = ann_recall(searcher.as_ref(), &queries, &leg)?;
        let recall_full = ann_recall(searcher.as_ref(), &queries, &full)?;
        report.insert("ann_recall_at_10".into(), serde_json::json!(recall));
        report.insert(
            "ann_recall_at_10_with_feedback".into(),
            serde_json::json!(recall_full),
        );
        if !args.json {
            writeln!(
                out,
                "HNSW recall@10 against --exact: {recall:.4} (semantic leg), {recall_full:.4} (with feedback)"
            )?;
        }
    }
    if args.json {
        writeln!(out, "{}", serde_json::Value::Object(report))?;
    }
    Ok(Outcome::Success)
}

/// Share of the exact search's documents that the HNSW search also
/// returns, over `queries`, both searched as `cfg` says.
fn ann_recall(
    searcher: &dyn semsearch_searcher::Store,
    queries: &[String],
    cfg: &semsearch_searcher::SearchConfig,
) -> anyhow::Result<f64> {
    use semsearch_searcher::SearchConfig;
    let (mut found, mut total) = (0usize, 0usize);
    for q in queries {
        let v = searcher.embedder()?.embed_query(q)?;
        let ann = searcher.search_with_vector(q, Some(&v), cfg)?;
        let exact = searcher.search_with_vector(
            q,
            Some(&v),
            &SearchConfig {
                exact: true,
                ..cfg.clone()
            },
        )?;
        total += exact.len();
        found += exact
            .iter()
            .filter(|e| ann.iter().any(|a| a.doc == e.doc))
            .count();
    }
    Ok(found as f64 / total.max(1) as f64)
}
