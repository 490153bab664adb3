//! The index's model reopens exactly as it was built: a local folder given
//! by a relative path works from any folder, and a hub model built at a
//! revision other than `main` reopens at that commit.

use std::path::{Path, PathBuf};

use crate::common::{bin, stderr, tiny_model};

fn notes(dir: &Path) -> PathBuf {
    let docs = dir.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("cats.txt"), "cats purr and sleep in the sun").unwrap();
    std::fs::write(docs.join("cars.txt"), "cars need fuel and oil changes").unwrap();
    docs
}

#[test]
fn a_local_model_given_by_a_relative_path_is_found_from_any_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    tiny_model(&work);
    let docs = notes(&work);
    let out = bin()
        .current_dir(&work)
        .args(["index", "docs", "--quiet", "--model", "./model"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let index = docs.join(".semsearch");
    let out = bin()
        .current_dir(&elsewhere)
        .args(["search", "purring cats", "-k", "1", "--index"])
        .arg(&index)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // An update from elsewhere reuses the model too.
    let out = bin()
        .current_dir(&elsewhere)
        .args(["index", "--quiet", "--index"])
        .arg(&index)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The shared Hugging Face cache (HF_HOME, relative to the workspace).
fn shared_cache() -> PathBuf {
    let home = std::env::var_os("HF_HOME")
        .map(PathBuf::from)
        .expect("HF_HOME must name the cache with all-MiniLM-L6-v2 (README: HF_HOME=../shared/hf)");
    Path::new(env!("CARGO_MANIFEST_DIR")).join(home)
}

#[test]
fn a_hub_model_built_at_a_revision_reopens_at_that_commit() {
    const REPO: &str = "models--sentence-transformers--all-MiniLM-L6-v2";
    let shared = shared_cache().join("hub").join(REPO);
    let commit = std::fs::read_to_string(shared.join("refs/main"))
        .expect("the shared cache has all-MiniLM-L6-v2")
        .trim()
        .to_string();
    // A cache where the model is known as tag `v1` only: no `main` to fall
    // back on, as after the branch moved on and the old snapshot stayed.
    let tmp = tempfile::tempdir().unwrap();
    let hf = tmp.path().join("hf");
    let repo = hf.join("hub").join(REPO);
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/v1"), &commit).unwrap();
    std::os::unix::fs::symlink(
        std::fs::canonicalize(shared.join("snapshots")).unwrap(),
        repo.join("snapshots"),
    )
    .unwrap();
    let docs = notes(tmp.path());

    let run = |args: &[&str]| {
        let out = bin()
            .env("HF_HOME", &hf)
            .env("HF_HUB_OFFLINE", "1")
            .args(args)
            .arg(&docs)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    };
    run(&["index", "--quiet", "--revision", "v1"]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(docs.join(".semsearch/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["model"]["revision"], commit.as_str());
    // `main` is unknown to this cache: only the recorded commit can work.
    let with_index = docs.join(".semsearch");
    let out = bin()
        .env("HF_HOME", &hf)
        .env("HF_HUB_OFFLINE", "1")
        .args(["search", "purring cats", "-k", "1", "--index"])
        .arg(&with_index)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Index `docs` into `idx` with `model` and extra flags; the run's output.
fn index(model: &Path, docs: &Path, idx: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .arg("index")
        .arg(docs)
        .arg("--model")
        .arg(model)
        .arg("--index")
        .arg(idx)
        .arg("--quiet")
        .args(extra)
        .output()
        .unwrap()
}

/// The semantic score of the top result for `query`.
fn semantic_score(idx: &Path, query: &str) -> f64 {
    let out = bin()
        .args([
            "search", query, "--mode", "semantic", "--exact", "--json", "-k", "1", "--index",
        ])
        .arg(idx)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    v["score"].as_f64().unwrap()
}

#[test]
fn prompts_come_from_the_model_or_the_flags_and_are_kept_by_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    // A model that declares e5's prompts.
    std::fs::write(
        model.join("config_sentence_transformers.json"),
        r#"{"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": null}"#,
    )
    .unwrap();
    let docs = notes(tmp.path());
    let with = tmp.path().join("with");
    assert!(index(&model, &docs, &with, &[]).status.success());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(with.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["model"]["query_prompt"], "query: ");
    assert_eq!(manifest["model"]["document_prompt"], "passage: ");

    // Another document prompt on the same index is a settings mismatch.
    let out = index(&model, &docs, &with, &["--document-prompt", ""]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("document prompt") && err.contains("--rebuild"),
        "{err}"
    );
    // An update without flags keeps the index's prompts.
    assert!(index(&model, &docs, &with, &[]).status.success());

    // The same passages, queries with and without the prompt: the search
    // embeds the query as the index says.
    let bare = tmp.path().join("bare");
    let none = ["--query-prompt", "", "--document-prompt", ""];
    assert!(index(&model, &docs, &bare, &none).status.success());
    let queried = tmp.path().join("queried");
    let query_only = ["--query-prompt", "query: ", "--document-prompt", ""];
    assert!(index(&model, &docs, &queried, &query_only).status.success());
    let (a, b) = (
        semantic_score(&bare, "purring cats"),
        semantic_score(&queried, "purring cats"),
    );
    assert!(
        (a - b).abs() > 1e-4,
        "the query prompt changes the query's vector: {a} {b}"
    );
    // And the document prompt the passages'.
    let c = semantic_score(&with, "purring cats");
    assert!(
        (b - c).abs() > 1e-4,
        "the document prompt changes the passages: {b} {c}"
    );
}

#[test]
fn a_unigram_model_without_token_types_indexes_and_searches_a_folder() {
    use semsearch_models::testing::{write_tiny_bert, TinyBert};
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("xlmr-like");
    let spec = TinyBert {
        unigram: true,
        token_types: false,
        pooling: Some(semsearch_models::Pooling::Cls),
        ..TinyBert::default()
    };
    write_tiny_bert(&model, &spec).unwrap();
    let docs = notes(tmp.path());
    let idx = tmp.path().join("idx");
    let out = index(&model, &docs, &idx, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = bin()
        .args([
            "search",
            "cats purr",
            "--mode",
            "lexical",
            "--json",
            "--index",
        ])
        .arg(&idx)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let top: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(top["id"], "cats.txt");
    // Snippets cut on the Unigram pieces' offsets: the words are whole.
    assert!(
        top["snippet"].as_str().unwrap().contains("cats purr"),
        "{top}"
    );
}
