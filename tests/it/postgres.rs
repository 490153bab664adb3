//! The shared store on a real PostgreSQL with pgvector and a streaming
//! replica (tests/postgres/start.sh; tests/run.sh starts them and sets
//! SEMSEARCH_TEST_POSTGRES to "PRIMARY_URL REPLICA_URL"). Each test works in
//! a database of its own, so the tests run side by side.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::{bin, kill_at_failpoint, stderr, stdout, tiny_model};
use serde_json::Value;

/// The primary's and the replica's URLs for a fresh database `name`;
/// `None` (said on stderr) when the tests are told to skip.
// A test helper: a panic is the test's failure, with the reason.
#[allow(clippy::unwrap_in_result)]
fn database(name: &str) -> Option<(String, String)> {
    let urls = match std::env::var("SEMSEARCH_TEST_POSTGRES") {
        Ok(v) if v == "skip" => {
            eprintln!("SKIPPED {name}: SEMSEARCH_TEST_POSTGRES=skip");
            return None;
        }
        Ok(v) => v,
        Err(_) => panic!(
            "SEMSEARCH_TEST_POSTGRES is not set: run the tests with tests/run.sh, which \
             starts PostgreSQL + pgvector (tests/postgres/start.sh), or set it to \
             \"PRIMARY_URL REPLICA_URL\", or to skip"
        ),
    };
    let mut it = urls.split_whitespace();
    let (primary, replica) = (it.next().unwrap(), it.next().expect("a replica URL"));
    let mut client = postgres::Client::connect(primary, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to {primary}: {e}"));
    // One statement each: neither may run inside a transaction block.
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        client.batch_execute(&sql).unwrap();
    }
    let with_db = |url: &str| {
        let base = &url[..url.rfind('/').unwrap()];
        format!("{base}/{name}")
    };
    Some((with_db(primary), with_db(replica)))
}

fn sql_count(url: &str, sql: &str) -> i64 {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.query_one(sql, &[]).unwrap().get(0)
}

/// `index FOLDER --model MODEL --store STORE` and the flags `extra`.
fn index_command(model: &Path, folder: &Path, store: &str, extra: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.arg("index")
        .arg(folder)
        .arg("--model")
        .arg(model)
        .args(["--store", store])
        .args(extra);
    cmd
}

/// The same documents indexed into a folder, to compare the store with.
fn index_folder(model: &Path, docs: &Path, folder: &Path) {
    let out = bin()
        .arg("index")
        .arg(docs)
        .arg("--model")
        .arg(model)
        .arg("--index")
        .arg(folder)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn index(model: &Path, folder: &Path, store: &str, extra: &[&str]) -> Output {
    index_command(model, folder, store, &[&["--json"], extra].concat())
        .output()
        .unwrap()
}

fn report(out: &Output) -> Value {
    assert!(out.status.success(), "index failed: {}", stderr(out));
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn counts(v: &Value) -> [u64; 4] {
    ["added", "updated", "removed", "unchanged"].map(|k| v[k].as_u64().unwrap())
}

/// The ids of JSON Lines results, in order.
fn json_ids(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Ids of the results of `query` on `stores` (primary first), best first.
fn search(stores: &[&str], query: &str, extra: &[&str]) -> Vec<String> {
    let mut cmd = bin();
    cmd.args(["search", query, "--json", "-k", "10"])
        .args(extra);
    for s in stores {
        cmd.args(["--store", s]);
    }
    let out = cmd.output().unwrap();
    // 1: no results, as grep says it.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "search failed: {}",
        stderr(&out)
    );
    json_ids(&stdout(&out))
}

fn notes(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("cats.md"),
        "# Cats\n\nthe cat sleeps on the warm car.\n",
    )
    .unwrap();
    std::fs::write(dir.join("dogs.txt"), "the dog fetches the pizza box").unwrap();
    std::fs::write(
        dir.join("rust.md"),
        "# Rust\n\ninstall rust on linux with rustup",
    )
    .unwrap();
}

/// The notes indexed into the store at `primary` with the tiny model: the
/// temp folder (kept alive by the caller), the model and the notes' folder.
fn indexed_notes(primary: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    notes(&docs);
    report(&index(&model, &docs, primary, &[]));
    (tmp, model, docs)
}

/// A search on the store at `primary` after its schema version is set to
/// `version`.
fn search_at_schema(primary: &str, version: i32) -> Output {
    postgres::Client::connect(primary, postgres::NoTls)
        .unwrap()
        .batch_execute(&format!("UPDATE semsearch_schema SET version = {version}"))
        .unwrap();
    bin()
        .args(["search", "cat", "--store", primary])
        .output()
        .unwrap()
}

#[test]
fn index_search_update_and_delete_in_the_store() {
    let Some((primary, replica)) = database("semsearch_crud") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    notes(&docs);
    assert_eq!(
        counts(&report(&index(&model, &docs, &primary, &[]))),
        [3, 0, 0, 0]
    );
    // Nothing is written into the folder: the store holds the index.
    assert!(!docs.join(".semsearch").exists());
    assert_eq!(
        sql_count(&replica, "SELECT count(*) FROM semsearch_passages"),
        sql_count(&primary, "SELECT count(*) FROM semsearch_passages")
    );
    // Reads from the replica: lexical hits by the stemmed word.
    let lexical = ["--mode", "lexical"];
    assert_eq!(
        search(&[&primary, &replica], "rustup installing", &lexical)[0],
        "rust.md"
    );
    assert_eq!(
        search(&[&primary, &replica], "pizza", &lexical)[0],
        "dogs.txt"
    );
    // Unchanged files are not rewritten; a change and a deletion are.
    assert_eq!(
        counts(&report(&index(&model, &docs, &primary, &[]))),
        [0, 0, 0, 3]
    );
    std::fs::write(docs.join("dogs.txt"), "the dog chases a frisbee").unwrap();
    std::fs::remove_file(docs.join("cats.md")).unwrap();
    assert_eq!(
        counts(&report(&index(&model, &docs, &primary, &[]))),
        [0, 1, 1, 1]
    );
    assert!(search(&[&primary, &replica], "pizza", &lexical).is_empty());
    assert_eq!(
        search(&[&primary, &replica], "frisbee", &lexical),
        ["dogs.txt"]
    );
    assert_eq!(
        sql_count(&replica, "SELECT count(*) FROM semsearch_documents"),
        2
    );
    // Passages of the changed and the deleted documents are gone with them.
    assert_eq!(
        sql_count(
            &replica,
            "SELECT count(*) FROM semsearch_passages p
             LEFT JOIN semsearch_documents d USING (doc) WHERE d.doc IS NULL"
        ),
        0
    );
    // status reads the store: counts, model, size.
    let out = bin()
        .args(["status", "--json", "--store", &primary])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["documents"], 2);
    assert_eq!(
        v["passages"].as_i64().unwrap(),
        sql_count(&primary, "SELECT count(*) FROM semsearch_passages")
    );
    assert!(v["bytes"].as_u64().unwrap() > 0, "{v}");
    // --explain works on a store: both legs' ranks and the formula.
    let out = bin()
        .args(["search", "frisbee", "--explain", "--store", &primary])
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("lexical rank 1") && stdout(&out).contains("linear"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn killed_index_leaves_the_last_commit() {
    let Some((primary, _)) = database("semsearch_kill") else {
        return;
    };
    let (_tmp, model, docs) = indexed_notes(&primary);
    for i in 0..300 {
        std::fs::write(docs.join(format!("n{i}.txt")), format!("the cat {i}")).unwrap();
    }
    // Killed between writing every row and COMMIT.
    let cmd = index_command(&model, &docs, &primary, &["--quiet"]);
    kill_at_failpoint(cmd, "before-manifest");
    let documents = || sql_count(&primary, "SELECT count(*) FROM semsearch_documents");
    assert_eq!(documents(), 3, "the last commit, intact");
    assert_eq!(
        search(&[&primary], "pizza", &["--mode", "lexical"])[0],
        "dogs.txt"
    );
    // Killed at arbitrary moments: one committed state or the other.
    for delay_ms in [20, 80, 200] {
        let mut child = index_command(&model, &docs, &primary, &["--quiet"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let n = documents();
        assert!(n == 3 || n == 303, "{n} documents");
    }
    // The lock died with the killed connection: the next run completes.
    let r = report(&index(&model, &docs, &primary, &[]));
    assert_eq!(r["documents"], 303);
    assert_eq!(documents(), 303);
}

#[test]
fn a_run_waits_a_moment_for_the_lock_then_is_refused_by_name() {
    let Some((primary, _)) = database("semsearch_lockwait") else {
        return;
    };
    let (_tmp, model, docs) = indexed_notes(&primary);
    std::fs::write(docs.join("owl.txt"), "the owl hoots").unwrap();
    // Another session holds the lock of `semsearch index` (writer.rs's key),
    // as a run killed a moment ago does until its server process ends.
    let mut holder = postgres::Client::connect(&primary, postgres::NoTls).unwrap();
    holder
        .batch_execute("SELECT pg_advisory_lock(1580591660)")
        .unwrap();
    let start = std::time::Instant::now();
    let out = index(&model, &docs, &primary, &[]);
    assert!(
        !out.status.success() && stderr(&out).contains("is locked"),
        "{}",
        stderr(&out)
    );
    assert!(
        start.elapsed().as_secs_f64() > 8.0,
        "refused after {:?}",
        start.elapsed()
    );
    // Released while a run waits: the run goes on.
    let child = index_command(&model, &docs, &primary, &["--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    drop(holder);
    let r = report(&child.wait_with_output().unwrap());
    assert_eq!(counts(&r), [1, 0, 0, 3]);
}

/// The names of semsearch's search indexes the store at `url` has.
fn search_indexes(url: &str) -> Vec<String> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let rows = c
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE indexname IN ('semsearch_terms_pkey', \
             'semsearch_terms_doc', 'semsearch_passages_doc', 'semsearch_passages_embedding') \
             ORDER BY 1",
            &[],
        )
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[test]
fn a_new_store_builds_its_search_indexes_once_at_the_end() {
    let Some((primary, _)) = database("semsearch_bulk") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    notes(&docs);
    for i in 0..300 {
        std::fs::write(docs.join(format!("n{i}.txt")), format!("the owl {i}")).unwrap();
    }
    // A first build killed after a checkpoint: its rows are committed,
    // its indexes not yet built, and it is searched all the same.
    let quick = ["--quiet", "--checkpoint-secs", "0", "--embed-batch", "8"];
    let cmd = index_command(&model, &docs, &primary, &quick);
    kill_at_failpoint(cmd, "checkpoint-1");
    let committed = sql_count(&primary, "SELECT count(*) FROM semsearch_documents");
    assert!((1..303).contains(&committed), "{committed} committed");
    assert!(search_indexes(&primary).is_empty());
    let status = |store: &str| -> Value {
        let out = bin()
            .args(["status", "--json", "--store", store])
            .output()
            .unwrap();
        serde_json::from_str(stdout(&out).trim()).unwrap()
    };
    assert_eq!(status(&primary)["search_indexes"], false);
    let before = search(&[&primary], "owl", &["--mode", "lexical"]);
    assert!(
        !before.is_empty(),
        "a checkpoint without indexes is searched"
    );
    assert!(!search(&[&primary], "owl", &["--mode", "semantic"]).is_empty());
    // The next run finishes the build, then makes the indexes.
    let r = report(&index(&model, &docs, &primary, &[]));
    assert_eq!(r["documents"], 303);
    let all = [
        "semsearch_passages_doc",
        "semsearch_passages_embedding",
        "semsearch_terms_doc",
        "semsearch_terms_pkey",
    ];
    assert_eq!(search_indexes(&primary), all);
    assert_eq!(status(&primary)["search_indexes"], true);
    // A run with nothing to do on a store a killed run left bare builds them.
    let mut c = postgres::Client::connect(&primary, postgres::NoTls).unwrap();
    c.batch_execute(
        "DROP INDEX semsearch_terms_pkey, semsearch_terms_doc, semsearch_passages_doc, \
         semsearch_passages_embedding",
    )
    .unwrap();
    let r = report(&index(&model, &docs, &primary, &[]));
    assert_eq!(counts(&r), [0, 0, 0, 303]);
    assert_eq!(search_indexes(&primary), all);
    assert_eq!(
        search(&[&primary], "pizza", &["--mode", "lexical"])[0],
        "dogs.txt"
    );
}

#[test]
fn another_model_or_setting_is_refused() {
    let Some((primary, replica)) = database("semsearch_model") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let other = tmp.path().join("other-model");
    let spec = semsearch_models::testing::TinyBert {
        hidden: 48,
        ..Default::default()
    };
    semsearch_models::testing::write_tiny_bert(&other, &spec).unwrap();
    let docs = tmp.path().join("docs");
    notes(&docs);
    report(&index(&model, &docs, &primary, &[]));
    let out = index(&other, &docs, &primary, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--rebuild") && err.contains(&primary), "{err}");
    let out = index(&model, &docs, &primary, &["--overlap", "8"]);
    assert!(stderr(&out).contains("overlap"), "{}", stderr(&out));
    // A search loads the store's own model, whatever SEMSEARCH_MODEL says.
    let out = bin()
        .args(["search", "cat", "--store", &replica])
        .env("SEMSEARCH_MODEL", &other)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the store's own model: {}",
        stderr(&out)
    );
    // --rebuild replaces the store with the other model's vectors.
    assert_eq!(
        counts(&report(&index(&other, &docs, &primary, &["--rebuild"]))),
        [3, 0, 0, 0]
    );
    let dims: i32 = postgres::Client::connect(&replica, postgres::NoTls)
        .unwrap()
        .query_one(
            "SELECT vector_dims(embedding) FROM semsearch_passages LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(dims, 48);
}

#[test]
fn reads_go_to_the_replicas_in_turn_and_writes_to_the_primary() {
    let Some((primary, replica)) = database("semsearch_replicas") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    notes(&docs);
    // A replica refuses writes: the store must write to the primary only.
    let out = index(&model, &docs, &replica, &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    report(&index(&model, &docs, &primary, &[]));
    let urls =
        semsearch_indexer::pg::Urls::parse(&[primary.clone(), replica.clone(), primary.clone()])
            .unwrap();
    let store = semsearch_indexer::pg::PgIndex::open(&urls).unwrap();
    let turns: Vec<String> = (0..4).map(|_| store.reader_url()).collect();
    assert_eq!(
        turns,
        [&replica, &primary, &replica, &primary].map(|s| s.clone())
    );
    // The same ranking from either reader.
    let one = search(&[&primary, &replica], "cat", &[]);
    let other = search(&[&primary], "cat", &[]);
    assert_eq!(one, other);
    assert_eq!(one.len(), 3);
}

/// As with a folder index, a lexical search on the store opens it without
/// the model: it answers with the model's folder gone, and a hybrid search
/// names the model it cannot load.
#[test]
fn a_lexical_search_of_the_store_needs_no_model_files() {
    let Some((primary, _)) = database("semsearch_it_lazy") else {
        return;
    };
    let (tmp, model, _) = indexed_notes(&primary);
    let before = search(&[&primary], "pizza", &["--mode", "lexical"]);
    assert_eq!(before, ["dogs.txt"]);
    std::fs::rename(&model, tmp.path().join("moved")).unwrap();
    assert_eq!(search(&[&primary], "pizza", &["--mode", "lexical"]), before);
    let out = bin()
        .args(["search", "pizza", "--store", &primary])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&*model.to_string_lossy()), "{err}");
}

#[test]
fn a_newer_schema_is_refused_by_name() {
    let Some((primary, _)) = database("semsearch_schema") else {
        return;
    };
    let (_tmp, _model, _docs) = indexed_notes(&primary);
    let out = search_at_schema(&primary, 99);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("schema version 99") && stderr(&out).contains("upgrade semsearch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_older_schema_is_named_with_the_rebuild_that_fixes_it() {
    let Some((primary, _)) = database("semsearch_old_schema") else {
        return;
    };
    let (_tmp, model, docs) = indexed_notes(&primary);
    let out = search_at_schema(&primary, 1);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("schema version 1 is older") && stderr(&out).contains("--rebuild"),
        "{}",
        stderr(&out)
    );
    // The way out it names works.
    let rebuilt = report(&index(&model, &docs, &primary, &["--rebuild"]));
    assert_eq!(counts(&rebuilt), [3, 0, 0, 0]);
    assert_eq!(search(&[&primary], "cat", &[]).len(), 3);
}

#[test]
fn the_store_ranks_like_the_folder_index() {
    let Some((primary, _)) = database("semsearch_same_ranking") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    notes(&docs);
    // A near-copy: collapse runs on both backends.
    std::fs::write(
        docs.join("cats-copy.md"),
        "# Cats\n\nthe cat sleeps on the warm car today.\n",
    )
    .unwrap();
    report(&index(&model, &docs, &primary, &[]));
    let folder = tmp.path().join("index");
    index_folder(&model, &docs, &folder);
    let on_folder = |query: &str, extra: &[&str]| -> Vec<String> {
        let out = bin()
            .args(["search", query, "--json", "-k", "10", "--index"])
            .arg(&folder)
            .args(extra)
            .output()
            .unwrap();
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
        json_ids(&stdout(&out))
    };
    // Defaults (feedback and collapse on), each mode, a path filter and
    // query arithmetic: every one was refused or ranked apart before.
    for extra in [
        &[][..],
        &["--mode", "lexical"][..],
        &["--mode", "semantic"][..],
        &["--path", "*.md"][..],
        &["--plus", "dog"][..],
        &["--no-collapse"][..],
    ] {
        for query in ["cat car", "install rust", "pizza"] {
            let store = search(&[&primary], query, extra);
            assert!(!store.is_empty(), "{query} {extra:?}: no results");
            assert_eq!(store, on_folder(query, extra), "{query} {extra:?}");
        }
    }
    // compare and similar run the same pipeline on both (the store has no
    // TF-IDF or LSA list).
    let run = |args: &[&str], on: &[&std::ffi::OsStr]| -> String {
        let out = bin().args(args).args(on).output().unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            stderr(&out)
        );
        stdout(&out)
    };
    let (on_store, on_dir) = (
        ["--store".as_ref(), primary.as_ref()],
        ["--index".as_ref(), folder.as_os_str()],
    );
    let lists =
        |text: String| -> Value { serde_json::from_str::<Value>(&text).unwrap()["lists"].clone() };
    let (store_lists, folder_lists) = (
        lists(run(&["compare", "cat car", "--json"], &on_store)),
        lists(run(&["compare", "cat car", "--json"], &on_dir)),
    );
    for name in ["bm25", "semantic", "hybrid"] {
        assert_eq!(store_lists[name], folder_lists[name], "compare {name}");
    }
    assert!(store_lists.get("tfidf").is_none() && folder_lists.get("tfidf").is_some());
    assert_eq!(
        json_ids(&run(&["similar", "cats.md", "--json"], &on_store)),
        json_ids(&run(&["similar", "cats.md", "--json"], &on_dir)),
        "similar"
    );
    let with_path = search(&[&primary], "cat", &["--path", "*.txt"]);
    assert_eq!(with_path, ["dogs.txt"]);
    // What a store cannot do is refused by name.
    let out = bin()
        .args(["search", "cat", "--lexical", "tfidf", "--store", &primary])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--lexical tfidf"), "{}", stderr(&out));
}

/// Hybrid feedback past `rescore_past` documents (a large index's path,
/// forced here on three notes) scores the candidates in SQL on the store
/// and by seeking postings in a folder: the same ranking, and, as every
/// note is a candidate here, the whole-index ranking's.
#[test]
fn candidates_scored_again_rank_alike_on_the_store_and_the_folder() {
    use semsearch_searcher::{Feedback, PgSearcher, SearchConfig, Searcher, Store};
    let Some((primary, _)) = database("semsearch_rescore") else {
        return;
    };
    let (tmp, model, docs) = indexed_notes(&primary);
    let folder = tmp.path().join("index");
    index_folder(&model, &docs, &folder);
    let urls = semsearch_indexer::pg::Urls::parse(std::slice::from_ref(&primary)).unwrap();
    let store = PgSearcher::open(&urls).unwrap();
    let dir = Searcher::open(&folder).unwrap();
    let rescored = SearchConfig {
        feedback: Some(Feedback {
            rescore_past: 0,
            ..Feedback::default()
        }),
        ..SearchConfig::default()
    };
    let ranked = |hits: Vec<semsearch_searcher::Hit>| -> Vec<(String, Option<f32>)> {
        hits.into_iter()
            .map(|h| (h.id, h.lexical.map(|l| l.score)))
            .collect()
    };
    for query in ["cat car", "install rust", "pizza", "the dog"] {
        let on_store = ranked(Store::search(&store, query, &rescored).unwrap());
        let on_folder = ranked(dir.search(query, &rescored).unwrap());
        assert!(!on_store.is_empty(), "{query}");
        let ids = |r: &[(String, Option<f32>)]| r.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&on_store), ids(&on_folder), "{query}");
        for (s, f) in on_store.iter().zip(&on_folder) {
            let (s, f) = (s.1.unwrap_or(0.0), f.1.unwrap_or(0.0));
            assert!(
                (s - f).abs() <= 1e-4 * f.abs().max(1.0),
                "{query}: {on_store:?} {on_folder:?}"
            );
        }
        let whole = ranked(dir.search(query, &SearchConfig::default()).unwrap());
        assert_eq!(ids(&whole), ids(&on_folder), "{query}");
    }
}

#[test]
fn the_prompt_searches_the_store() {
    let Some((primary, replica)) = database("semsearch_prompt") else {
        return;
    };
    let (_tmp, _model, _docs) = indexed_notes(&primary);
    let mut cmd = bin();
    cmd.args(["repl", "--store", &primary, "--store", &replica]);
    let out = crate::common::prompt(cmd, ":mode lexical\nrustup\n:open 1\n:similar 1\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("error"), "{text}");
    assert!(text.contains("rust.md"), "{text}");
    // :open prints the passage in full, read from the store.
    assert!(text.contains("install rust on linux with rustup"), "{text}");
    assert!(text.contains("documents like rust.md"), "{text}");
}

#[test]
fn serve_answers_from_the_store() {
    let Some((primary, replica)) = database("semsearch_serve") else {
        return;
    };
    let (_tmp, _model, docs) = indexed_notes(&primary);
    let server = crate::common::Server::start(&[
        "--store".as_ref(),
        primary.as_ref(),
        "--store".as_ref(),
        replica.as_ref(),
    ]);
    let (code, v) = server.get("/api/search?q=rustup&mode=lexical");
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["results"][0]["id"], "rust.md");
    let (code, v) = server.get("/api/document?id=rust.md");
    assert_eq!(code, 200, "{v}");
    assert!(v["text"].as_str().unwrap().contains("rustup"), "{v}");
    // Ids only: a path is not a document id.
    let path = docs.join("rust.md");
    let (code, _) = server.get(&format!("/api/document?id={}", path.display()));
    assert_eq!(code, 404);
    let (code, v) = server.get("/api/compare?q=cat");
    assert_eq!(code, 200, "{v}");
    let names: Vec<&String> = v["lists"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["bm25", "hybrid", "semantic"]);
    let (code, v) = server.get("/api/status");
    assert_eq!((code, v["documents"].as_u64()), (200, Some(3)));
    // A path filter works on a store; TF-IDF is the request's error (400,
    // not 500), by name.
    let (code, v) = server.get("/api/search?q=cat&path=*.txt");
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["results"][0]["id"], "dogs.txt", "{v}");
    let (code, v) = server.get("/api/search?q=cat&lexical=tfidf");
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("tfidf"), "{v}");
    // What needs a folder index says so.
    let (code, v) = server.get("/api/map");
    assert_eq!(code, 400);
    assert!(v["error"].as_str().unwrap().contains("folder index"), "{v}");
}

#[test]
fn an_agent_searches_the_store_and_the_session_ends_cleanly() {
    use std::io::Write;
    let Some((primary, replica)) = database("semsearch_mcp") else {
        return;
    };
    let (_tmp, _model, _docs) = indexed_notes(&primary);
    let mut child = bin()
        .args(["mcp", "--store", &primary, "--store", &replica])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for msg in [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","arguments":{"query":"rustup","mode":"lexical"}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"status","arguments":{}}}"#,
    ] {
        writeln!(stdin, "{msg}").unwrap();
    }
    // Answers come before the end of input closes the session.
    std::thread::sleep(std::time::Duration::from_secs(3));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the session ended with {:?}: {}",
        out.status,
        stderr(&out)
    );
    let answers: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let search = answers
        .iter()
        .find(|v| v["id"] == 2)
        .expect("a search answer");
    assert_eq!(
        search["result"]["structuredContent"]["results"][0]["id"], "rust.md",
        "{search}"
    );
    let status = answers
        .iter()
        .find(|v| v["id"] == 3)
        .expect("a status answer");
    assert_eq!(
        status["result"]["structuredContent"]["documents"], 3,
        "{status}"
    );
}

/// Terms whose `semsearch_df` and counted postings disagree (a term no
/// document holds any more may keep a row at 0).
const DF_MISMATCHES: &str = "SELECT count(*) FROM semsearch_df d
    FULL JOIN (SELECT term, count(*) AS n FROM semsearch_terms GROUP BY term) c USING (term)
    WHERE coalesce(d.df, 0) <> coalesce(c.n, 0)";

/// 1 when `semsearch_totals` holds the documents' count and summed length.
const TOTALS_KEPT: &str = "SELECT count(*) FROM semsearch_totals t
    JOIN (SELECT count(*) AS n, coalesce(sum(length), 0) AS l FROM semsearch_documents) c
    ON t.documents = c.n AND t.length = c.l";

#[test]
fn document_frequencies_and_totals_are_kept_through_changes_and_upgrades() {
    let Some((primary, _)) = database("semsearch_df") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    // "alpha" in every document, "gamma" in half, "delta" in one in six.
    for i in 0..90 {
        let mut text = format!(
            "note {i}: alpha and more alpha words {}",
            "filler ".repeat(i % 7)
        );
        if i % 2 == 0 {
            text += &" gamma".repeat(1 + i % 3);
        }
        if i % 6 == 0 {
            text += &" delta".repeat(1 + i % 4);
        }
        std::fs::write(docs.join(format!("n{i:02}.txt")), text).unwrap();
    }
    report(&index(&model, &docs, &primary, &[]));
    assert_eq!(sql_count(&primary, DF_MISMATCHES), 0);
    assert_eq!(sql_count(&primary, TOTALS_KEPT), 1);
    let folder = tmp.path().join("index");
    index_folder(&model, &docs, &folder);
    let ranked = |on: [&std::ffi::OsStr; 2], extra: &[&str]| -> Vec<String> {
        let out = bin()
            // The notes are near-copies: collapse would keep one.
            .args(["search", "alpha gamma delta", "--json", "--mode", "lexical"])
            .arg("--no-collapse")
            .args(on)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        json_ids(&stdout(&out))
    };
    let (on_store, on_dir) = (
        ["--store".as_ref(), primary.as_ref()],
        ["--index".as_ref(), folder.as_os_str()],
    );
    // Idf from `semsearch_df` ranks as the folder's from its postings:
    // with and without feedback's added terms, and over allowed rows.
    for extra in [
        &["--candidates", "5", "-k", "5", "--no-feedback"][..],
        &["--candidates", "5", "-k", "5"][..],
        &["--candidates", "8", "-k", "8", "--path", "n[0-4]*.txt"][..],
        &["-k", "30"][..],
    ] {
        let store = ranked(on_store, extra);
        assert!(store.len() >= 5, "{extra:?}: {store:?}");
        assert_eq!(store, ranked(on_dir, extra), "{extra:?}");
    }
    // The writer keeps the counts through a change and a removal.
    std::fs::write(docs.join("n00.txt"), "delta delta alpha epsilon").unwrap();
    std::fs::remove_file(docs.join("n06.txt")).unwrap();
    report(&index(&model, &docs, &primary, &[]));
    assert_eq!(sql_count(&primary, DF_MISMATCHES), 0);
    assert_eq!(sql_count(&primary, TOTALS_KEPT), 1);
    assert_eq!(
        sql_count(
            &primary,
            "SELECT df::int8 FROM semsearch_df WHERE term = 'epsilon'"
        ),
        1
    );
    assert_eq!(
        sql_count(&primary, "SELECT documents FROM semsearch_totals"),
        89
    );
    // A store from before the tables ranks alike by counting postings and
    // scanning documents, and gains them at its next `index` run.
    let store = |extra: &[&str]| ranked(on_store, extra);
    let before = store(&["-k", "30"]);
    postgres::Client::connect(&primary, postgres::NoTls)
        .unwrap()
        .batch_execute("DROP TABLE semsearch_df, semsearch_totals")
        .unwrap();
    assert_eq!(store(&["-k", "30"]), before);
    // A run with nothing to do still adds them.
    assert_eq!(
        counts(&report(&index(&model, &docs, &primary, &[])))[..3],
        [0; 3]
    );
    assert_eq!(sql_count(&primary, DF_MISMATCHES), 0);
    assert_eq!(sql_count(&primary, TOTALS_KEPT), 1);
    assert_eq!(store(&["-k", "30"]), before);
}

/// The store's documents are copied in batches, their handles taken from
/// the identity sequence ahead: copies of one id in later batches and
/// checkpoints still replace the rows written before them.
#[test]
fn a_corpus_repeating_ids_keeps_each_last_copy_in_the_store() {
    let Some((primary, _)) = database("semsearch_repeats") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let corpus = tmp.path().join("corpus.jsonl");
    for (round, last) in ["first", "second"].into_iter().enumerate() {
        crate::index::repeated_corpus(&corpus, last);
        let target = ["--store".as_ref(), primary.as_ref()];
        let r = crate::index::index_committing_often(&corpus, &model, target);
        assert!(r["checkpoints"].as_u64().unwrap() >= 2, "{r}");
        let want = if round == 0 {
            [620, 0, 0, 0]
        } else {
            [0, 20, 0, 600]
        };
        assert_eq!(counts(&r), want, "{r}");
        let count = |sql: &str| sql_count(&primary, sql);
        assert_eq!(count("SELECT count(*) FROM semsearch_documents"), 620);
        let last_copies = format!(
            "SELECT count(*) FROM semsearch_documents WHERE id LIKE 'd%' AND body LIKE '%({last})'"
        );
        assert_eq!(count(&last_copies), 20);
        // Every passage and term row belongs to a live document, one each.
        assert_eq!(count("SELECT count(*) FROM semsearch_passages"), 620);
        let terms_of_old = "SELECT count(*) FROM semsearch_terms t
             JOIN semsearch_documents d USING (doc) WHERE d.body LIKE '%(early)'";
        assert_eq!(count(terms_of_old), 0);
    }
    let hits = search(&[&primary], "note 3 on topic 3", &["--mode", "lexical"]);
    assert_eq!(hits.first().map(String::as_str), Some("d3"), "{hits:?}");
}
