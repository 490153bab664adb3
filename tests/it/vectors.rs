//! End-to-end tests of what semsearch does with vectors beyond ranking a
//! query: `similar`, `--plus/--minus` arithmetic, `bench-ann`, `map`.
//! Tests of semantic behaviour need the real model (HF_HOME=../shared/hf).

use std::path::{Path, PathBuf};

use crate::common::{bin, stderr, stdout, tiny_model};
use serde_json::Value;

const DOCS: &[(&str, &str)] = &[
    (
        "garage/cars.txt",
        "The automobile needs new tyres and an oil change before the long drive.",
    ),
    (
        "garage/cars-copy.txt",
        "The automobile needs new tyres and an oil change before the long trip.",
    ),
    (
        "kitchen/bread.md",
        "# Baking bread\n\nKnead the dough, let it rise for two hours, then bake at 220 degrees.",
    ),
    (
        "space.txt",
        "Astronauts aboard the orbiting station conducted experiments in microgravity.",
    ),
    (
        "pets.md",
        "# Pets\n\nMy dog loves to chase the ball in the park every morning.",
    ),
    (
        "finance.txt",
        "Quarterly revenue grew twelve percent thanks to strong sales in Europe.",
    ),
];

/// `root/notes` indexed with `model` (None: the real default model).
fn indexed(root: &Path, model: Option<&Path>) -> PathBuf {
    let dir = root.join("notes");
    for (name, text) in DOCS {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let mut cmd = bin();
    cmd.arg("index").arg(&dir).arg("--quiet");
    if let Some(m) = model {
        cmd.arg("--model").arg(m);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "indexing failed (the real model needs HF_HOME=../shared/hf HF_HUB_OFFLINE=1): {}",
        stderr(&out)
    );
    dir
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn run(args: &[&str], cwd: &Path) -> std::process::Output {
    bin().args(args).current_dir(cwd).output().unwrap()
}

#[test]
fn similar_puts_the_near_duplicate_first() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = indexed(tmp.path(), None);
    // By relative path, from inside the folder (the index is discovered).
    let out = run(&["similar", "garage/cars.txt", "--json", "-k", "3"], &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let hits = json_lines(&stdout(&out));
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0]["id"], "garage/cars-copy.txt");
    assert!(
        hits.iter().all(|h| h["id"] != "garage/cars.txt"),
        "itself excluded"
    );
    // The search --json schema.
    for key in [
        "rank", "id", "path", "line", "title", "score", "semantic", "snippet", "passage",
    ] {
        assert!(hits[0].get(key).is_some(), "missing {key}: {}", hits[0]);
    }
    let score = |i: usize| hits[i]["score"].as_f64().unwrap();
    assert!(score(0) > 0.7 && score(0) > score(1) + 0.3, "{hits:?}");
    assert!(hits[0]["snippet"].as_str().unwrap().contains("tyres"));

    // By document id, with an explicit index, human output.
    let index = dir.join(".semsearch");
    let out = run(
        &[
            "similar",
            "garage/cars-copy.txt",
            "--index",
            index.to_str().unwrap(),
            "-k",
            "1",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("cars.txt"), "{}", stdout(&out));

    // Unknown documents are named.
    let out = run(&["similar", "nowhere.txt"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nowhere.txt"), "{}", stderr(&out));
}

#[test]
fn plus_and_minus_the_same_text_leave_the_semantic_ranking_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = indexed(tmp.path(), None);
    let search = |extra: &[&str]| {
        let mut args = vec![
            "search",
            "fixing my vehicle",
            "--mode",
            "semantic",
            "--json",
            "-k",
            "6",
        ];
        args.extend_from_slice(extra);
        let out = run(&args, &dir);
        assert!(out.status.success(), "{}", stderr(&out));
        json_lines(&stdout(&out))
    };
    let plain = search(&[]);
    let same = search(&[
        "--plus",
        "baking in the kitchen",
        "--minus",
        "baking in the kitchen",
    ]);
    let ids = |h: &[Value]| h.iter().map(|h| h["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&plain), ids(&same));
    for (a, b) in plain.iter().zip(&same) {
        let (a, b) = (a["score"].as_f64().unwrap(), b["score"].as_f64().unwrap());
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    // A real shift: adding bread moves the bread document up.
    let shifted = search(&["--plus", "bread dough oven"]);
    let rank = |h: &[Value], id: &str| h.iter().position(|h| h["id"] == id).unwrap();
    assert!(rank(&shifted, "kitchen/bread.md") < rank(&plain, "kitchen/bread.md"));

    // --explain shows the terms; lexical mode has no vector to change.
    let out = run(
        &[
            "search",
            "car",
            "--plus",
            "tyres",
            "--minus",
            "oil",
            "--explain",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(r#"normalize(e("car") + e("tyres") - e("oil"))"#),
        "{}",
        stdout(&out)
    );
    let out = run(
        &["search", "car", "--mode", "lexical", "--plus", "tyres"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--plus"), "{}", stderr(&out));
}

#[test]
fn bench_ann_recall_is_exact_on_a_small_index() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let dir = indexed(tmp.path(), Some(&model));
    let out = run(
        &[
            "bench-ann",
            "--json",
            "--queries",
            "6",
            "-k",
            "3",
            "--expansion",
            "8,64",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["queries"], 6);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        // Six vectors: the graph search visits them all.
        assert_eq!(row["recall"].as_f64(), Some(1.0), "{row}");
        let (mean, p99) = (
            row["hnsw"]["mean_ms"].as_f64(),
            row["hnsw"]["p99_ms"].as_f64(),
        );
        assert!(
            mean.is_some_and(f64::is_finite) && p99.is_some_and(f64::is_finite),
            "latencies are numbers: {row}"
        );
    }
    let out = run(&["bench-ann", "--queries", "3"], &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("recall@k"), "{}", stdout(&out));
}

#[test]
fn map_draws_one_mark_per_document() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let dir = indexed(tmp.path(), Some(&model));
    let docs = DOCS.len();

    let svg = tmp.path().join("map.svg");
    let out = run(
        &["map", "--out", svg.to_str().unwrap(), "--labels", "1"],
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
    assert_eq!(
        text.matches("<circle").count(),
        docs,
        "one point per document"
    );
    assert!(
        text.contains("% of variance"),
        "axes name the explained variance"
    );
    // Three top-level groups (garage, kitchen, files at the top) in the legend.
    for name in ["garage (2)", "kitchen (1)", "(top level) (3)"] {
        assert!(text.contains(name), "legend lacks {name}");
    }

    let png = tmp.path().join("map.png");
    let out = run(
        &[
            "map",
            "--out",
            png.to_str().unwrap(),
            "--color-by",
            "cluster",
            "--clusters",
            "2",
            "--size",
            "400x300",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (400, 300));
    assert!(buf.iter().any(|&b| b < 200), "something is drawn");

    let csv_path = tmp.path().join("map.csv");
    let out = run(
        &[
            "map",
            "--out",
            csv_path.to_str().unwrap(),
            "--components",
            "3",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut r = csv::Reader::from_path(&csv_path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, ["id", "group", "pc1", "pc2", "pc3", "title"]);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), docs);
    // Principal components are centred: each column sums to about zero.
    for k in 2..5 {
        let sum: f64 = rows.iter().map(|row| row[k].parse::<f64>().unwrap()).sum();
        assert!(sum.abs() < 1e-3, "pc{} sums to {sum}", k - 1);
    }

    // A query placed on the map: its row, and its hits' ranks.
    let out = run(
        &[
            "map",
            "--out",
            csv_path.to_str().unwrap(),
            "--query",
            "oil change",
            "-k",
            "2",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut r = csv::Reader::from_path(&csv_path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header.last().unwrap(), "rank");
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), docs + 1);
    assert_eq!(&rows[docs][0], "(query)");
    let mut ranks: Vec<&str> = rows[..docs]
        .iter()
        .map(|row| &row[5])
        .filter(|r| !r.is_empty())
        .collect();
    ranks.sort();
    assert_eq!(ranks, ["1", "2"]);
    let svg_query = tmp.path().join("query.svg");
    let out = run(
        &[
            "map",
            "--out",
            svg_query.to_str().unwrap(),
            "--query",
            "oil change",
            "-k",
            "2",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&svg_query).unwrap();
    assert!(
        text.contains(">\nquery\n<"),
        "the query is named on the map"
    );
    assert_eq!(text.matches("<circle").count(), docs + 2, "two hits ringed");

    let out = run(&["map", "--out", "map.txt"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(".svg, .png or .csv"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn prompt_similar_lists_documents_like_a_result() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let dir = indexed(tmp.path(), Some(&model));
    let script = ":mode lexical\n:k 2\nautomobile tyres\n:similar 1\n:open 1\n:similar 9\n:quit\n";
    let mut cmd = bin();
    cmd.arg("repl").current_dir(&dir);
    let out = crate::common::prompt(cmd, script);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("documents like garage/cars"), "{text}");
    assert!(text.contains("no result 9"), "{text}");
}

#[test]
fn bench_search_times_only_the_rankings_asked_and_refuses_unknown_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let dir = indexed(tmp.path(), Some(&model));
    let queries = tmp.path().join("queries.jsonl");
    std::fs::write(
        &queries,
        "{\"text\": \"car repair\"}\n{\"text\": \"revenue\"}\n",
    )
    .unwrap();
    let q = queries.to_str().unwrap();
    let args = ["bench", "search", "--queries", q, "--json"];
    let out = run(
        &[&args[..], &["--only", "hybrid,lexical-1", "--no-recall"]].concat(),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    for timed in ["hybrid", "lexical-1"] {
        assert!(report[timed]["p50_ms"].as_f64().is_some(), "{report}");
    }
    for skipped in ["lexical", "semantic", "hybrid-1", "ann_recall_at_10"] {
        assert!(report.get(skipped).is_none(), "{skipped} in {report}");
    }
    let out = run(&[&args[..], &["--only", "fast"]].concat(), &dir);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--only fast: no such ranking"),
        "{}",
        stderr(&out)
    );
}
