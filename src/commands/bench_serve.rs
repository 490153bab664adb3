//! `semsearch bench serve`: a running server under concurrent clients.
//! Each run sends `--requests` searches from N client threads (one
//! keep-alive connection each), queries cycled from a file, and reports
//! latency percentiles and throughput.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::cli::BenchServeArgs;
use crate::output::Outcome;
use semsearch_searcher::metrics::percentile;

struct Run {
    mode: String,
    clients: usize,
    latencies_ms: Vec<f64>,
    seconds: f64,
    errors: usize,
}

fn run_once(args: &BenchServeArgs, queries: &Arc<Vec<String>>, mode: &str, clients: usize) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (next, queries) = (next.clone(), queries.clone());
            let (url, mode, token, total) = (
                args.url.clone(),
                mode.to_string(),
                args.token.clone(),
                args.requests,
            );
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(60))
                    .build();
                let (mut lat, mut errors) = (Vec::new(), 0);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let q = &queries[i % queries.len()];
                    let mut req = agent
                        .get(&format!("{url}/api/search"))
                        .query("q", q)
                        .query("mode", &mode);
                    if let Some(t) = &token {
                        req = req.set("Authorization", &format!("Bearer {t}"));
                    }
                    let t = Instant::now();
                    // The whole body is read: the time is the answer's.
                    let ok = req.call().is_ok_and(|r| r.into_string().is_ok());
                    if ok {
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut latencies_ms, mut errors) = (Vec::new(), 0);
    for t in threads {
        let (lat, e) = t.join().expect("client thread");
        latencies_ms.extend(lat);
        errors += e;
    }
    latencies_ms.sort_by(f64::total_cmp);
    Run {
        mode: mode.to_string(),
        clients,
        latencies_ms,
        seconds: start.elapsed().as_secs_f64(),
        errors,
    }
}

pub fn run(args: BenchServeArgs) -> anyhow::Result<Outcome> {
    let queries = Arc::new(super::read_jsonl_texts(&args.queries)?);
    anyhow::ensure!(
        !queries.is_empty(),
        "{} holds no queries",
        args.queries.display()
    );
    let status = ureq::get(&format!("{}/api/status", args.url));
    let status = match &args.token {
        Some(t) => status.set("Authorization", &format!("Bearer {t}")),
        None => status,
    };
    let status: serde_json::Value = status
        .call()
        .with_context(|| format!("no semsearch server answers at {}", args.url))?
        .into_json()?;
    let mut runs = Vec::new();
    for mode in &args.modes {
        // Warm-up: the first requests touch the index's pages.
        run_once(&args, &queries, mode, 1.max(args.clients[0]));
        for &clients in &args.clients {
            runs.push(run_once(&args, &queries, mode, clients.max(1)));
        }
    }
    let rows: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| {
            serde_json::json!({
                "mode": r.mode, "clients": r.clients,
                "requests": r.latencies_ms.len(), "errors": r.errors,
                "p50_ms": percentile(&r.latencies_ms, 0.5),
                "p99_ms": percentile(&r.latencies_ms, 0.99),
                "requests_per_s": r.latencies_ms.len() as f64 / r.seconds,
            })
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = serde_json::json!({
            "url": args.url, "documents": status["documents"],
            "passages": status["passages"], "runs": rows,
        });
        writeln!(out, "{report}")?;
    } else {
        writeln!(
            out,
            "{} documents, {} passages at {}",
            status["documents"], status["passages"], args.url
        )?;
        writeln!(out, "mode      clients   p50 ms   p99 ms   req/s  errors")?;
        for r in &rows {
            writeln!(
                out,
                "{:<9} {:>7} {:>8.2} {:>8.2} {:>7.1} {:>7}",
                r["mode"].as_str().unwrap_or_default(),
                r["clients"],
                r["p50_ms"].as_f64().unwrap_or(f64::NAN),
                r["p99_ms"].as_f64().unwrap_or(f64::NAN),
                r["requests_per_s"].as_f64().unwrap_or(f64::NAN),
                r["errors"],
            )?;
        }
    }
    Ok(Outcome::Success)
}
