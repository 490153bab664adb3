//! `semsearch eval` on a collection built here, checked against metrics
//! computed by hand for the lexical modes (whose rankings are designed).

use crate::common::{bin, stderr, stdout, tiny_model};
use serde_json::Value;

#[test]
fn lexical_metrics_match_hand_computed_values() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let ds = tmp.path().join("tiny-beir");
    std::fs::create_dir_all(ds.join("qrels")).unwrap();
    let mut corpus = String::new();
    let fillers = [
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
    ];
    for (i, f) in fillers.iter().enumerate() {
        corpus.push_str(&format!(
            "{{\"_id\": \"f{i}\", \"title\": \"\", \"text\": \"{f} filler text\"}}\n"
        ));
    }
    corpus.push_str("{\"_id\": \"d1\", \"title\": \"Walrus\", \"text\": \"a walrus on ice\"}\n");
    corpus.push_str("{\"_id\": \"d2\", \"title\": \"\", \"text\": \"the narwhal tusk\"}\n");
    // For 'zebra': the short repeated one ranks first, the judged one second.
    corpus.push_str("{\"_id\": \"z1\", \"title\": \"\", \"text\": \"zebra zebra zebra\"}\n");
    corpus.push_str("{\"_id\": \"z2\", \"title\": \"\", \"text\": \"one zebra among many other quite different words here\"}\n");
    std::fs::write(ds.join("corpus.jsonl"), corpus).unwrap();
    std::fs::write(
        ds.join("queries.jsonl"),
        "{\"_id\": \"q1\", \"text\": \"walrus\"}\n{\"_id\": \"q2\", \"text\": \"narwhal\"}\n\
         {\"_id\": \"q3\", \"text\": \"zebra\"}\n{\"_id\": \"q4\", \"text\": \"unjudged query\"}\n",
    )
    .unwrap();
    std::fs::write(
        ds.join("qrels/test.tsv"),
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq3\tz2\t1\nq3\tf0\t0\n",
    )
    .unwrap();
    let runs = tmp.path().join("runs");
    let out = bin()
        .arg("eval")
        .arg(&ds)
        .arg("--model")
        .arg(&model)
        .arg("--index")
        .arg(tmp.path().join("idx"))
        .arg("--run-dir")
        .arg(&runs)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        v["queries"], 3,
        "q4 has no judgement; f0's score 0 is not relevant"
    );
    assert_eq!(v["default_mode"], "hybrid-linear");
    let modes: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mode"].as_str().unwrap())
        .collect();
    assert_eq!(
        modes,
        [
            "tfidf",
            "bm25",
            "lsa",
            "semantic",
            "hybrid-rrf",
            "hybrid-linear"
        ]
    );
    // q1, q2 perfect; q3's relevant document at rank 2.
    let ndcg = (1.0 + 1.0 + 1.0 / 3f64.log2()) / 3.0;
    let rr = (1.0 + 1.0 + 0.5) / 3.0;
    for r in &v["results"].as_array().unwrap()[..2] {
        assert!((r["ndcg@10"].as_f64().unwrap() - ndcg).abs() < 1e-9, "{r}");
        assert!((r["mrr@10"].as_f64().unwrap() - rr).abs() < 1e-9, "{r}");
        assert!((r["map@100"].as_f64().unwrap() - rr).abs() < 1e-9, "{r}");
        assert_eq!(r["recall@100"], 1.0);
    }
    let bm25 = std::fs::read_to_string(runs.join("bm25.run")).unwrap();
    let first: Vec<&str> = bm25.lines().next().unwrap().split(' ').collect();
    assert_eq!(&first[..4], ["q1", "Q0", "d1", "1"]);
    assert_eq!(first[5], "semsearch-bm25");
}

/// An ArguAna-like collection: each query is itself a document (same id,
/// same text); the judged answer is another document sharing its words.
fn argument_dataset(root: &std::path::Path) -> std::path::PathBuf {
    let ds = root.join("arguments");
    std::fs::create_dir_all(ds.join("qrels")).unwrap();
    let docs = [
        ("a-pro", "walruses should live on the ice of the arctic sea"),
        ("a-con", "walruses live on ice but the arctic sea warms"),
        ("b-pro", "zebras need open savanna grass to graze"),
        ("b-con", "zebras graze savanna grass that farms now take"),
        ("filler", "nothing about the other topics at all"),
    ];
    let line = |(id, text): &(&str, &str)| format!("{{\"_id\": \"{id}\", \"text\": \"{text}\"}}\n");
    std::fs::write(
        ds.join("corpus.jsonl"),
        docs.iter().map(line).collect::<String>(),
    )
    .unwrap();
    let queries = [docs[0], docs[2]];
    std::fs::write(
        ds.join("queries.jsonl"),
        queries.iter().map(line).collect::<String>(),
    )
    .unwrap();
    std::fs::write(
        ds.join("qrels/test.tsv"),
        "query-id\tcorpus-id\tscore\na-pro\ta-con\t1\nb-pro\tb-con\t1\n",
    )
    .unwrap();
    ds
}

fn bm25_eval(
    ds: &std::path::Path,
    model: &std::path::Path,
    idx: &std::path::Path,
    flag: Option<&str>,
) -> Value {
    let out = bin()
        .arg("eval")
        .arg(ds)
        .args(["--modes", "bm25", "--json", "-q", "--model"])
        .arg(model)
        .arg("--index")
        .arg(idx)
        .args(flag)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

#[test]
fn queries_that_are_documents_are_not_found_as_their_own_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let ds = argument_dataset(tmp.path());
    let idx = tmp.path().join("idx");
    // Detected (the queries are documents under their own ids): the
    // answer ranks first once the query itself is dropped.
    let auto = bm25_eval(&ds, &model, &idx, None);
    assert_eq!(auto["ignore_identical_ids"], true, "{auto}");
    assert_eq!(auto["results"][0]["ndcg@10"], 1.0, "{auto}");
    // Kept: each query finds itself first, its answer second.
    let kept = bm25_eval(&ds, &model, &idx, Some("--keep-identical-ids"));
    assert_eq!(kept["ignore_identical_ids"], false);
    let second = 1.0 / 3f64.log2();
    let ndcg = kept["results"][0]["ndcg@10"].as_f64().unwrap();
    assert!((ndcg - second).abs() < 1e-9, "{kept}");
}

#[test]
fn the_identical_id_rule_stays_off_where_queries_are_not_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let ds = argument_dataset(tmp.path());
    // Same ids, other texts (as Cranfield's numbered queries and documents).
    std::fs::write(
        ds.join("queries.jsonl"),
        "{\"_id\": \"a-pro\", \"text\": \"walrus arctic\"}\n{\"_id\": \"b-pro\", \"text\": \"zebra savanna\"}\n",
    )
    .unwrap();
    let v = bm25_eval(&ds, &model, &tmp.path().join("idx"), None);
    assert_eq!(v["ignore_identical_ids"], false, "{v}");
    let forced = bm25_eval(
        &ds,
        &model,
        &tmp.path().join("idx"),
        Some("--ignore-identical-ids"),
    );
    assert_eq!(forced["ignore_identical_ids"], true, "{forced}");
}
