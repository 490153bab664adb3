//! `semsearch serve`: the real server on a free loopback port, every
//! endpoint called over HTTP. Uses the tiny random model: these tests are
//! about the API, not ranking quality.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{bin, stderr, stdout, tiny_model, Server};
use serde_json::Value;

const DOCS: &[(&str, &str)] = &[
    (
        "bread.md",
        "# Baking bread\n\nKnead the dough, let it rise, then bake.",
    ),
    (
        "pets.md",
        "# Pets\n\nMy dog loves to chase the ball in the park.",
    ),
    (
        "space/iss.txt",
        "Astronauts aboard the station ran experiments.",
    ),
    (
        "cars.txt",
        "The automobile needs new tyres and an oil change.",
    ),
];

fn folder(root: &Path) -> PathBuf {
    crate::common::write_notes(root, DOCS)
}

fn index(model: &Path, dir: &Path) {
    let out = bin()
        .arg("index")
        .arg(dir)
        .arg("--model")
        .arg(model)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A folder indexed with the tiny model, and a server on it.
fn served(root: &Path) -> (PathBuf, Server) {
    let model = tiny_model(root);
    let dir = folder(root);
    index(&model, &dir);
    let idx = dir.join(".semsearch");
    let server = Server::start(&[OsStr::new("--index"), idx.as_os_str()]);
    (idx, server)
}

fn cli_json(idx: &Path, args: &[&str]) -> Vec<Value> {
    let out = bin()
        .args(args)
        .arg("--index")
        .arg(idx)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_endpoint_answers_what_the_cli_prints() {
    let tmp = tempfile::tempdir().unwrap();
    let (idx, s) = served(tmp.path());

    let (code, body) = s.get("/api/search?q=knead+dough&k=3&mode=lexical");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["query"], "knead dough");
    assert!(body["took_ms"].as_f64().unwrap() >= 0.0);
    let cli = cli_json(
        &idx,
        &["search", "knead dough", "-k", "3", "--mode", "lexical"],
    );
    assert_eq!(
        body["results"].as_array().unwrap(),
        &cli,
        "same objects as search --json"
    );
    assert_eq!(cli[0]["id"], "bread.md");

    // Hybrid with every parameter the CLI has.
    let (code, body) = s.get(
        "/api/search?q=dog+park&mode=hybrid&fusion=rrf&rrf_k=10&k=2&path=*.md&plus=ball&explain=true",
    );
    assert_eq!(code, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert!(results.len() <= 2 && !results.is_empty());
    assert!(results
        .iter()
        .all(|r| r["id"].as_str().unwrap().ends_with(".md")));
    assert_eq!(results[0]["explain"]["fusion"], "rrf");
    assert_eq!(results[0]["explain"]["k"], 10.0);

    let (code, c) = s.get("/api/compare?q=dough&k=3");
    assert_eq!(code, 200, "{c}");
    let cli = cli_json(&idx, &["compare", "dough", "-k", "3"]);
    for key in ["lists", "ranks", "overlap", "titles", "k", "query"] {
        assert_eq!(c[key], cli[0][key], "{key}");
    }
    assert_eq!(c["titles"]["bread.md"], "Baking bread");

    let (code, sim) = s.get("/api/similar?id=pets.md&k=2");
    assert_eq!(code, 200, "{sim}");
    let cli = cli_json(&idx, &["similar", "pets.md", "-k", "2"]);
    assert_eq!(sim["results"].as_array().unwrap(), &cli);

    let (code, st) = s.get("/api/status");
    assert_eq!(code, 200);
    assert_eq!(st["documents"], 4);
    assert_eq!(st["passages"], cli_json(&idx, &["status"])[0]["passages"]);

    let (code, map) = s.get("/api/map");
    assert_eq!(code, 200);
    assert_eq!(map["ids"].as_array().unwrap().len(), 4);
    assert_eq!(map["coords"][0].as_array().unwrap().len(), 2);
    assert_eq!(map["group"].as_array().unwrap().len(), 4);
    assert_eq!(map["query"], Value::Null, "no q=, no query placed");
    // With q=, the query and its top hits are placed on the same axes.
    let (code, map) = s.get("/api/map?q=dough&k=2&mode=lexical");
    assert_eq!(code, 200, "{map}");
    assert_eq!(map["query"]["text"], "dough");
    assert_eq!(map["query"]["coords"].as_array().unwrap().len(), 2);
    let hits = map["query"]["hits"].as_array().unwrap();
    assert_eq!(hits[0]["rank"], 1);
    assert_eq!(hits[0]["id"], "bread.md");
    let at = map["ids"]
        .as_array()
        .unwrap()
        .iter()
        .position(|i| i == "bread.md")
        .unwrap();
    assert_eq!(hits[0]["coords"], map["coords"][at]);
    assert_eq!(s.get("/api/map?q=").0, 400, "an empty query is refused");

    let (code, doc) = s.get("/api/document?id=space%2Fiss.txt");
    assert_eq!(code, 200);
    assert_eq!(doc["text"], DOCS[2].1);

    // The page and its assets, with a policy that runs only our script.
    let page = ureq::get(&format!("{}/", s.url)).call().unwrap();
    let csp = page.header("content-security-policy").unwrap().to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(page
        .into_string()
        .unwrap()
        .contains("<script src=\"/app.js\">"));
    for asset in ["/app.js", "/style.css"] {
        assert_eq!(
            ureq::get(&format!("{}{asset}", s.url))
                .call()
                .unwrap()
                .status(),
            200
        );
    }
}

#[test]
fn bad_requests_are_refused_with_json_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, s) = served(tmp.path());
    for (path, want) in [
        ("/api/search", 400),
        ("/api/search?q=x&k=0", 400),
        ("/api/search?q=x&k=1001", 400),
        // One bound for every face (SearchConfig::validate), not a clamp.
        ("/api/search?q=x&candidates=5000", 400),
        ("/api/search?q=x&candidates=0", 400),
        ("/api/search?q=x&mode=psychic", 400),
        ("/api/search?q=x&alpha=2", 400),
        ("/api/search?q=x&mode=lexical&plus=y", 400),
        ("/api/search?q=x&path=%5B", 400),
        ("/api/similar?id=nope.md", 404),
        ("/api/nothing", 404),
        // Documents by id only: no path reaches the filesystem.
        ("/api/document?id=..%2F..%2F..%2Fetc%2Fpasswd", 404),
        ("/api/document?id=%2Fetc%2Fpasswd", 404),
        ("/api/document?path=%2Fetc%2Fpasswd", 400),
        ("/api/similar?id=..%2Fnotes%2Fpets.md", 404),
    ] {
        let (code, body) = s.get(path);
        assert_eq!(code, want, "{path}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {body}"
        );
    }
    // The error says why, from the glob parser's own error (kept as the
    // library error's source, not flattened away).
    let (code, body) = s.get("/api/search?q=x&path=%5B");
    assert_eq!(code, 400, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("--path glob [") && message.contains("unclosed"),
        "{message}"
    );
    let long = "a".repeat(20_000);
    let (code, body) = s.get(&format!("/api/search?q={long}"));
    assert_eq!(code, 414, "{body}");
    let (code, _) = s.get(&format!("/api/search?q={}", "a+".repeat(1500)));
    assert_eq!(code, 400, "a query over 2048 bytes");
    let big = ureq::post(&format!("{}/api/search", s.url))
        .set("Content-Length", "1000000")
        .send_bytes(&vec![b'x'; 1_000_000]);
    match big {
        Err(ureq::Error::Status(code, _)) => assert!(code == 413 || code == 405, "{code}"),
        // The server may answer 413 and close before the client has sent
        // the whole megabyte: the client then sees the pipe break.
        Err(ureq::Error::Transport(t)) => assert!(
            t.to_string().contains("Broken pipe") || t.to_string().contains("reset"),
            "{t}"
        ),
        Ok(r) => panic!("a megabyte body was accepted: {}", r.status()),
    }
    assert_eq!(
        s.get("/api/status").0,
        200,
        "still serving after the refusal"
    );
}

#[test]
fn waits_for_an_index_then_follows_new_generations() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let dir = folder(tmp.path());
    let idx = dir.join(".semsearch");
    // No index yet: 503 with the way out.
    let s = Server::start(&[OsStr::new("--index"), idx.as_os_str()]);
    let (code, body) = s.get("/api/search?q=dough");
    assert_eq!(code, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("semsearch index"),
        "{body}"
    );
    index(&model, &dir);
    let docs = |s: &Server| s.get("/api/status").1["documents"].as_u64();
    wait_for(|| docs(&s) == Some(4));
    // A new file, indexed by another process, is served without restart.
    std::fs::write(dir.join("tea.txt"), "Steep green tea for three minutes.").unwrap();
    index(&model, &dir);
    wait_for(|| docs(&s) == Some(5));
    let (code, body) = s.get("/api/search?q=green+tea&mode=lexical&k=1");
    assert_eq!(code, 200);
    assert_eq!(body["results"][0]["id"], "tea.txt");
}

fn wait_for(mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(20), "not within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn beyond_loopback_a_token_is_required() {
    let tmp = tempfile::tempdir().unwrap();
    let (idx, _) = served(tmp.path());
    let out = bin()
        .arg("serve")
        .arg("--index")
        .arg(&idx)
        .args(["--addr", "0.0.0.0:0"])
        .env_remove("SEMSEARCH_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--token"), "{}", stderr(&out));

    let mut cmd = bin();
    cmd.env("SEMSEARCH_TOKEN", "s3cret");
    let s = Server::start_with(cmd, &[OsStr::new("--index"), idx.as_os_str()]);
    assert_eq!(s.get("/api/status").0, 401);
    assert_eq!(s.get_with("/api/status", Some("wrong")).0, 401);
    assert_eq!(s.get_with("/api/status", Some("s3cret")).0, 200);
    // The page itself holds no data; its API calls carry the token.
    assert_eq!(
        ureq::get(&format!("{}/", s.url)).call().unwrap().status(),
        200
    );
}

#[test]
fn sixty_four_concurrent_clients_all_get_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, s) = served(tmp.path());
    let url = s.url.clone();
    let threads: Vec<_> = (0..64)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mode = ["lexical", "semantic", "hybrid"][i % 3];
                let r = ureq::get(&format!("{url}/api/search?q=dog+bread+{i}&mode={mode}"))
                    .call()
                    .map_err(|e| e.to_string())?;
                let body: Value = r.into_json().map_err(|e| e.to_string())?;
                Ok::<usize, String>(body["results"].as_array().map_or(0, Vec::len))
            })
        })
        .collect();
    for t in threads {
        let n = t.join().unwrap().expect("every client gets an answer");
        assert!(n > 0);
    }
}

#[test]
fn map_clusters_are_named_by_their_distinctive_words() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    // One folder: grouped by cluster, not by folder.
    let docs: Vec<(String, String)> = (0..12)
        .map(|i| {
            let topic = [
                "walrus ice arctic",
                "zebra savanna grass",
                "comet orbit telescope",
            ][i % 3];
            (
                format!("n{i}.md"),
                format!("A note about {topic}, number {i}."),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = docs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let dir = crate::common::write_notes(tmp.path(), &refs);
    index(&model, &dir);
    let s = Server::start(&[OsStr::new("--index"), dir.join(".semsearch").as_os_str()]);
    let (code, map) = s.get("/api/map");
    assert_eq!(code, 200);
    let words = "walrus ice arctic zebra savanna grass comet orbit telescope note number";
    for name in map["groups"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        assert!(!name.starts_with("cluster"), "{name}");
        assert!(
            name.split(", ").all(|w| words.contains(w)),
            "{name}: words of the notes"
        );
    }
}
