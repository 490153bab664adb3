//! `semsearch eval`: nDCG@10, Recall@100, MRR@10 and MAP@100 per mode on a
//! BEIR-style collection, through the normal indexer and searcher.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use semsearch_indexer::{update, UpdateOptions};
use semsearch_models::Precision;
use semsearch_searcher::metrics::{map_at, mrr_at, ndcg_at, recall_at, Qrels};
use semsearch_searcher::{Fusion, Lexical, Mode, Norm, PgSearcher, SearchConfig, Searcher, Store};
use serde::Serialize;

use crate::cli::EvalArgs;
use crate::output::Outcome;

/// Documents retrieved per query (the deepest cut-off reported).
const DEPTH: usize = 100;

#[derive(Serialize, Clone)]
struct ModeResult {
    mode: String,
    #[serde(rename = "ndcg@10")]
    ndcg10: f64,
    #[serde(rename = "recall@100")]
    recall100: f64,
    #[serde(rename = "mrr@10")]
    mrr10: f64,
    #[serde(rename = "map@100")]
    map100: f64,
    queries_per_second: f64,
    /// Of the top 10: the share marked weak, and the share relevant among
    /// the weak and among the others (how well `--weak` separates them).
    weak: WeakStats,
}

#[derive(Serialize, Clone, Default)]
struct WeakStats {
    share: f64,
    relevant_weak: f64,
    relevant_strong: f64,
}

fn corpus_file(dataset: &Path) -> anyhow::Result<PathBuf> {
    ["corpus.jsonl", "corpus.jsonl.gz"]
        .iter()
        .map(|f| dataset.join(f))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "{} has no corpus.jsonl or corpus.jsonl.gz",
                dataset.display()
            )
        })
}

fn read_queries(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    #[derive(serde::Deserialize)]
    struct Q {
        #[serde(rename = "_id")]
        id: String,
        text: String,
    }
    let queries: Vec<Q> = semsearch_indexer::jsonl::read_all(path, r#"{"_id", "text"}"#)?;
    Ok(queries.into_iter().map(|q| (q.id, q.text)).collect())
}

/// Qrels by query id; only rows with a positive score count as relevant.
fn read_qrels(path: &Path) -> anyhow::Result<BTreeMap<String, Qrels>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out: BTreeMap<String, Qrels> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if n == 0 && cols.first().is_some_and(|c| c.starts_with("query")) || line.trim().is_empty()
        {
            continue;
        }
        let [q, d, score] = cols[..] else {
            bail!(
                "{}:{}: expected query-id, corpus-id, score",
                path.display(),
                n + 1
            )
        };
        let score: i64 = score
            .trim()
            .parse()
            .with_context(|| format!("{}:{}: bad score", path.display(), n + 1))?;
        if score > 0 {
            out.entry(q.to_string())
                .or_default()
                .insert(d.to_string(), score as u32);
        }
    }
    Ok(out)
}

/// The default cache folder for a dataset's index.
fn default_index_dir(dataset: &Path, precision: Precision) -> PathBuf {
    let abs = std::fs::canonicalize(dataset).unwrap_or_else(|_| dataset.to_path_buf());
    let name = abs
        .file_name()
        .map_or("dataset".into(), |n| n.to_string_lossy().into_owned());
    let tag = xxhash_rust::xxh3::xxh3_64(abs.to_string_lossy().as_bytes());
    std::env::temp_dir()
        .join("semsearch-eval")
        .join(format!("{name}-{tag:016x}-{precision}"))
}

fn mode_config(name: &str, base: &SearchConfig) -> anyhow::Result<SearchConfig> {
    let mut c = SearchConfig {
        // One more: BEIR's identical-id rule may drop one.
        k: DEPTH + 1,
        candidates: base.candidates.max(DEPTH),
        min_score: None,
        paths: Vec::new(),
        ..base.clone()
    };
    match name {
        "tfidf" => (c.mode, c.lexical) = (Mode::Lexical, Lexical::TfIdf),
        "bm25" => (c.mode, c.lexical) = (Mode::Lexical, Lexical::Bm25),
        "lsa" => (c.mode, c.lexical) = (Mode::Lexical, Lexical::Lsa),
        "semantic" => c.mode = Mode::Semantic,
        "hybrid-rrf" => {
            c.mode = Mode::Hybrid;
            if !matches!(c.fusion, Fusion::Rrf { .. }) {
                c.fusion = Fusion::default_rrf();
            }
        }
        "hybrid-linear" => {
            c.mode = Mode::Hybrid;
            if !matches!(c.fusion, Fusion::Linear { .. }) {
                c.fusion = Fusion::default_linear();
            }
        }
        _ => bail!(
            "unknown mode {name:?}: expected tfidf, bm25, lsa, semantic, hybrid-rrf or hybrid-linear"
        ),
    }
    Ok(c)
}

struct Prepared<'a> {
    searcher: &'a dyn Store,
    queries: Vec<(String, String, Vec<f32>)>,
    qrels: &'a BTreeMap<String, Qrels>,
    /// BEIR's rule: a retrieved document whose id is the query's is
    /// dropped before scoring.
    ignore_identical_ids: bool,
}

/// Whether the judged queries are documents of the corpus under their own
/// ids (most of them: same id, same text), as ArguAna's are: a search then
/// finds the query itself first, which BEIR does not count.
fn queries_are_documents(index: &semsearch_indexer::Index, judged: &[(String, String)]) -> bool {
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let same = judged
        .iter()
        .filter(|(id, text)| {
            let doc = index.position(id).and_then(|d| index.document(d).ok()?);
            doc.is_some_and(|doc| words(&doc.text).contains(&words(text)))
        })
        .count();
    same * 2 > judged.len()
}

fn evaluate(
    p: &Prepared,
    name: &str,
    cfg: &SearchConfig,
    run_dir: Option<&Path>,
) -> anyhow::Result<ModeResult> {
    let (mut ndcg, mut recall, mut mrr, mut map) = (0.0, 0.0, 0.0, 0.0);
    // Top-10 results: [weak, weak and relevant, strong, strong and relevant].
    let mut marks = [0usize; 4];
    let mut run_file = String::new();
    let start = Instant::now();
    for (qid, text, vector) in &p.queries {
        let hits = p.searcher.search_with_vector(text, Some(vector), cfg)?;
        // A folded near-duplicate is judged where the output shows it:
        // right under the result it repeats ("+1 similar: ..."), so the
        // metrics read the ranking a person reads.
        let ranked = hits.iter().flat_map(|h| {
            std::iter::once((h.id.as_str(), h.score))
                .chain(h.duplicates.iter().map(|d| (d.id.as_str(), d.score)))
        });
        let (ids, scores): (Vec<&str>, Vec<f32>) = ranked
            .filter(|(id, _)| !(p.ignore_identical_ids && id == qid))
            .take(DEPTH)
            .unzip();
        let q = &p.qrels[qid];
        for h in hits.iter().take(10) {
            let relevant = q.get(&h.id).is_some_and(|&g| g > 0) as usize;
            let at = if h.weak { 0 } else { 2 };
            marks[at] += 1;
            marks[at + 1] += relevant;
        }
        ndcg += ndcg_at(&ids, q, 10);
        recall += recall_at(&ids, q, 100);
        mrr += mrr_at(&ids, q, 10);
        map += map_at(&ids, q, 100);
        if run_dir.is_some() {
            // In the order judged above; trec_eval orders by score, so a
            // score is lowered where needed to keep that order.
            let mut last = f32::INFINITY;
            for (rank, (id, &score)) in ids.iter().zip(&scores).enumerate() {
                last = score.min(last - last.abs().max(1.0) * 1e-6);
                run_file.push_str(&format!(
                    "{qid} Q0 {id} {} {last} semsearch-{name}\n",
                    rank + 1
                ));
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    if let Some(dir) = run_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("{name}.run"));
        std::fs::write(&path, run_file)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let n = p.queries.len().max(1) as f64;
    Ok(ModeResult {
        mode: name.to_string(),
        ndcg10: ndcg / n,
        recall100: recall / n,
        mrr10: mrr / n,
        map100: map / n,
        queries_per_second: p.queries.len() as f64 / seconds,
        weak: WeakStats {
            share: marks[0] as f64 / (marks[0] + marks[2]).max(1) as f64,
            relevant_weak: marks[1] as f64 / marks[0].max(1) as f64,
            relevant_strong: marks[3] as f64 / marks[2].max(1) as f64,
        },
    })
}

/// Copy the evaluation index into the store (replacing what it held,
/// nothing re-embedded) and open it for searching.
fn import_into_store(
    index: &semsearch_indexer::Index,
    urls: &semsearch_indexer::pg::Urls,
    embedder: semsearch_models::Embedder,
    quiet: bool,
) -> anyhow::Result<PgSearcher> {
    let label = urls.label();
    let (docs, passages) = semsearch_indexer::pg::import(index, urls, &mut |n| {
        if !quiet {
            eprint!(
                "\rsemsearch: copying into {}: {n} documents",
                label.display()
            );
        }
    })
    .with_context(|| format!("cannot copy the index into {}", label.display()))?;
    if !quiet {
        eprintln!(
            "\rsemsearch: copied {docs} documents, {passages} passages into {}",
            label.display()
        );
    }
    let store = semsearch_indexer::pg::PgIndex::open(urls)?;
    Ok(PgSearcher::with_embedder(store, embedder)?)
}

pub fn run(args: EvalArgs) -> anyhow::Result<Outcome> {
    let base = args.rank.config()?;
    let corpus = corpus_file(&args.dataset)?;
    let queries = read_queries(&args.dataset.join("queries.jsonl"))?;
    let qrels = read_qrels(
        &args
            .dataset
            .join("qrels")
            .join(format!("{}.tsv", args.split)),
    )?;
    let dir = args
        .index
        .clone()
        .unwrap_or_else(|| default_index_dir(&args.dataset, args.model.precision()));

    let t = Instant::now();
    let embedder = args.model.load()?;
    let mut opts = UpdateOptions {
        jsonl: vec![corpus],
        ..UpdateOptions::new(dir.clone(), Vec::new())
    };
    // An existing index keeps its lexical and vector settings.
    if let Ok(m) = semsearch_indexer::Manifest::read_header(&dir) {
        (opts.analyzer, opts.quantization, opts.overlap) =
            (m.analyzer, m.quantization, m.chunking.overlap);
    }
    let mut reporter = crate::progress::Reporter::new(args.quiet, false);
    let report = update(&embedder, &opts, &mut |e| reporter.event(e))?;
    reporter.finish();
    let index_seconds = t.elapsed().as_secs_f64();
    // The model just used is the index's: no second load.
    let index = semsearch_indexer::Index::open(&dir)?;
    // Judged queries only; embedded once, shared by every mode.
    let judged: Vec<(String, String)> = qrels
        .keys()
        .map(|q| {
            queries
                .get(q)
                .map(|t| (q.clone(), t.clone()))
                .with_context(|| format!("query {q} of the qrels is not in queries.jsonl"))
        })
        .collect::<anyhow::Result<_>>()?;
    let ignore_identical_ids = !args.keep_identical_ids
        && (args.ignore_identical_ids || queries_are_documents(&index, &judged));
    if ignore_identical_ids && !args.ignore_identical_ids && !args.quiet {
        eprintln!(
            "semsearch: the queries are documents of this corpus: a retrieved document with \
             the query's id is not scored (BEIR's rule; --keep-identical-ids scores it)"
        );
    }
    let mut store_seconds = None;
    let searcher: Box<dyn Store> = match crate::commands::store_urls(&args.store)? {
        Some(urls) => {
            let t = Instant::now();
            let searcher = import_into_store(&index, &urls, embedder, args.quiet)?;
            store_seconds = Some(t.elapsed().as_secs_f64());
            Box::new(searcher)
        }
        None => Box::new(Searcher::with_embedder(index, embedder)?),
    };
    // Lexical modes the index does not rank with (a store has no TF-IDF
    // or LSA) are left out, saying so.
    let models = searcher.lexical_models();
    let modes: Vec<String> = args
        .modes
        .iter()
        .filter(|m| {
            let model = match m.as_str() {
                "tfidf" => Some(semsearch_searcher::Lexical::TfIdf),
                "lsa" => Some(semsearch_searcher::Lexical::Lsa),
                _ => None,
            };
            let left_out = model.is_some_and(|l| !models.contains(&l));
            if left_out && !args.quiet {
                eprintln!("semsearch: mode {m} needs a folder index's term statistics; left out on a store");
            }
            !left_out
        })
        .cloned()
        .collect();
    let texts: Vec<&str> = judged.iter().map(|(_, t)| t.as_str()).collect();
    let vectors = searcher.embedder()?.embed_queries(&texts)?;
    let prepared = Prepared {
        searcher: searcher.as_ref(),
        queries: judged
            .into_iter()
            .zip(vectors)
            .map(|((q, t), v)| (q, t, v))
            .collect(),
        qrels: &qrels,
        ignore_identical_ids,
    };

    let mut results = Vec::new();
    if args.sweep {
        let mut grid: Vec<(String, SearchConfig)> = Vec::new();
        for k in [10.0, 20.0, 40.0, 60.0, 100.0] {
            grid.push((
                format!("rrf k={k}"),
                SearchConfig {
                    fusion: Fusion::Rrf { k },
                    ..mode_config("hybrid-rrf", &base)?
                },
            ));
        }
        for norm in [Norm::MinMax, Norm::ZScore] {
            for alpha in [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
                let fusion = Fusion::Linear { alpha, norm };
                grid.push((
                    format!("linear {norm} alpha={alpha}"),
                    SearchConfig {
                        fusion,
                        ..mode_config("hybrid-linear", &base)?
                    },
                ));
            }
        }
        for (name, cfg) in grid {
            results.push(evaluate(&prepared, &name, &cfg, None)?);
        }
        results.sort_by(|a, b| b.ndcg10.total_cmp(&a.ndcg10));
    } else {
        for name in &modes {
            let cfg = mode_config(name, &base)?;
            results.push(evaluate(&prepared, name, &cfg, args.run_dir.as_deref())?);
        }
    }

    let dataset = std::fs::canonicalize(&args.dataset)
        .unwrap_or(args.dataset.clone())
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({
            "dataset": dataset, "split": args.split, "queries": prepared.queries.len(),
            "default_mode": "hybrid-linear", "results": results, "index_seconds": index_seconds,
            "documents": report.documents, "passages": report.passages,
            "store_seconds": store_seconds, "ignore_identical_ids": ignore_identical_ids,
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(out, "{dataset} ({} split): {} queries, {} documents, {} passages, indexed in {index_seconds:.1}s", args.split, prepared.queries.len(), report.documents, report.passages)?;
        if let Some(s) = store_seconds {
            writeln!(out, "copied into the store in {s:.1}s")?;
        }
        if ignore_identical_ids {
            writeln!(
                out,
                "retrieved documents with the query's id not scored (BEIR's rule)"
            )?;
        }
        writeln!(
            out,
            "{:<28} {:>8} {:>10} {:>8} {:>8} {:>9}",
            "mode", "nDCG@10", "Recall@100", "MRR@10", "MAP@100", "queries/s"
        )?;
        for r in &results {
            writeln!(
                out,
                "{:<28} {:>8.4} {:>10.4} {:>8.4} {:>8.4} {:>9.1}",
                r.mode, r.ndcg10, r.recall100, r.mrr10, r.map100, r.queries_per_second
            )?;
        }
    }
    Ok(Outcome::Success)
}
