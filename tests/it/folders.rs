//! Real folders at any size (issue 11): checkpoints that survive a kill,
//! generated files skipped, any file name, files as well as folders,
//! progress and quiet runs. With a tiny random model.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{bin, kill_at_failpoint, stderr, stdout, tiny_model};
use serde_json::Value;

fn index_cmd(model: &Path, paths: &[&Path], extra: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.arg("index")
        .args(paths)
        .arg("--model")
        .arg(model)
        .args(extra);
    cmd
}

fn report(out: &Output) -> Value {
    assert!(out.status.success(), "index failed: {}", stderr(out));
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn index_json(model: &Path, paths: &[&Path], extra: &[&str]) -> Value {
    report(
        &index_cmd(model, paths, extra)
            .arg("--json")
            .output()
            .unwrap(),
    )
}

/// Ids of the top 10 for `query`, exact vector search.
fn top10(index: &Path, query: &str) -> Vec<String> {
    let out = bin()
        .args(["search", query, "--json", "--exact", "-k", "10", "--index"])
        .arg(index)
        .output()
        .unwrap();
    assert!(out.status.code() == Some(0), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Documents with their passages' byte ranges (ids aside: they differ
/// between runs).
fn contents(index: &Path) -> Vec<(String, Vec<(u64, u64)>)> {
    crate::common::documents(index)
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, d)| {
            let ranges = d["passages"]
                .as_array()
                .unwrap()
                .iter()
                // A passage is written as [id, start, end, line].
                .map(|p| (p[1].as_u64().unwrap(), p[2].as_u64().unwrap()))
                .collect();
            (id.clone(), ranges)
        })
        .collect()
}

const TOPICS: &[&str] = &[
    "cats sleep on warm cars in the winter sun",
    "the dog barks at the pizza delivery man",
    "install the rust compiler on linux with rustup",
    "a search engine ranks passages by meaning",
    "bread rises when the yeast eats the sugar",
];

fn corpus(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let topic = TOPICS[i % TOPICS.len()];
        let body = format!("# Note {i}\n\n{topic}. Entry number {i} of the notes.\n");
        std::fs::write(dir.join(format!("note-{i:03}.md")), body).unwrap();
    }
}

#[test]
fn a_run_killed_after_two_checkpoints_resumes_and_equals_a_clean_build() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    corpus(&docs, 40);
    let idx = tmp.path().join("resumed");
    // A checkpoint after every batch of 4 passages, paused after the second.
    let mut cmd = index_cmd(&model, &[&docs], &["--quiet", "--checkpoint-secs", "0"]);
    cmd.args(["--embed-batch", "4", "--index"]).arg(&idx);
    kill_at_failpoint(cmd, "checkpoint-2");

    // What was checkpointed is a consistent, searchable index.
    let done = contents(&idx).len();
    assert!((1..40).contains(&done), "{done} documents checkpointed");
    assert!(!top10(&idx, "rust compiler").is_empty());

    // The rerun embeds only the rest.
    let r = index_json(&model, &[&docs], &["--index", idx.to_str().unwrap()]);
    assert_eq!(r["unchanged"].as_u64().unwrap() as usize, done, "{r}");
    assert_eq!(r["added"].as_u64().unwrap() as usize, 40 - done, "{r}");

    let clean = tmp.path().join("clean");
    index_json(&model, &[&docs], &["--index", clean.to_str().unwrap()]);
    assert_eq!(contents(&idx), contents(&clean));
    for q in ["rust compiler", "pizza", "yeast and sugar", "cat on a car"] {
        assert_eq!(top10(&idx, q), top10(&clean, q), "{q}");
    }
}

#[test]
fn generated_files_and_non_documents_are_skipped_unless_selected() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("book");
    std::fs::create_dir_all(&docs).unwrap();
    let w = |name: &str, text: &str| std::fs::write(docs.join(name), text).unwrap();
    w("chapter.md", "# Ownership\n\nEach value has one owner.\n");
    w(
        "print.html",
        "<title>Print</title><p>Each value has one owner.</p>",
    );
    // mdBook's search index: one line of JSON in JavaScript.
    let index_js = format!(
        "window.search = {{\"doc\": \"{}\"}};",
        "owner ".repeat(1000)
    );
    w("searchindex-f63457fb.js", &index_js);
    w("app.min.js", "var a=1;");
    w("Cargo.lock", "[[package]]\nname = \"x\"\n");
    w("bundle.js", &"function f(){return 1};".repeat(500));
    w("style.css", "body { color: red; }\n");
    w(
        "logo.svg",
        "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>",
    );
    w("image.txt", "<?xml version=\"1.0\"?>\n<svg></svg>\n");
    w("table.txt", &"1.5, 2.25, 3.125, 4\n".repeat(200));
    let r = index_json(&model, &[&docs], &[]);
    assert_eq!(r["documents"], 2, "{r}");
    assert_eq!(r["skipped_by_reason"]["generated"], 4, "{r}");
    assert_eq!(r["skipped_by_reason"]["not_document"], 4, "{r}");

    let all = index_json(&model, &[&docs], &["--all-text"]);
    assert_eq!(all["documents"], 10, "{all}");
    assert_eq!(all["added"], 8, "{all}");
    // Selected by --include or --type: indexed whatever the rules say.
    let css = index_json(&model, &[&docs], &["--include", "*.css"]);
    assert_eq!(css["documents"], 1, "{css}");
    let js = index_json(&model, &[&docs], &["--type", "js"]);
    assert_eq!(js["documents"], 3, "{js}");
    let no_md = index_json(&model, &[&docs], &["--type-not", "markdown"]);
    assert_eq!(no_md["documents"], 1, "only print.html: {no_md}");

    let types = bin().args(["index", "--type-list"]).output().unwrap();
    assert!(stdout(&types).lines().any(|l| l.starts_with("markdown: ")));
}

#[cfg(unix)]
#[test]
fn a_file_name_that_is_not_utf8_is_indexed_and_shown_escaped() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(docs.join(name), "coffee with milk in the morning").unwrap();
    std::fs::write(docs.join("tea.txt"), "green tea in the afternoon").unwrap();
    let r = index_json(&model, &[&docs], &[]);
    assert_eq!(r["documents"], 2, "{r}");
    // Again: the stored path reads back, so nothing is re-embedded.
    let again = index_json(&model, &[&docs], &[]);
    assert_eq!(again["unchanged"], 2, "{again}");
    let out = bin()
        .args(["search", "coffee milk", "--mode", "lexical", "--index"])
        .arg(docs.join(".semsearch"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("caf\\351.txt"), "{}", stdout(&out));
}

#[test]
fn files_and_folders_are_indexed_together() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let notes = tmp.path().join("notes.md");
    std::fs::write(&notes, "# Notes\n\nbuy milk").unwrap();
    // Named explicitly, so indexed even though a style sheet.
    let css = tmp.path().join("theme.css");
    std::fs::write(&css, "body { color: red }").unwrap();
    let docs = tmp.path().join("docs");
    corpus(&docs, 3);
    let r = index_json(&model, &[&notes, &css, &docs], &[]);
    assert_eq!(r["documents"], 5, "{r}");
    let idx = tmp.path().join(".semsearch");
    let ids: Vec<String> = contents(&idx).into_iter().map(|(id, _)| id).collect();
    assert!(ids.contains(&"notes.md".to_string()), "{ids:?}");
    assert!(ids.contains(&"docs/note-000.md".to_string()), "{ids:?}");
    // Run again with no paths: the same sources, nothing changed.
    let again = report(
        &index_cmd(&model, &[], &["--json", "--index"])
            .arg(&idx)
            .output()
            .unwrap(),
    );
    assert_eq!(again["unchanged"], 5, "{again}");
    let missing = index_cmd(&model, &[&tmp.path().join("nope.md")], &[])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("does not exist"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn quiet_prints_nothing_and_a_pipe_gets_progress_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    corpus(&docs, 5);
    let out = index_cmd(&model, &[&docs], &["--quiet"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((stdout(&out), stderr(&out)), (String::new(), String::new()));
    // stderr is a pipe here: progress comes as lines (every 10 s; every
    // time with the interval at 0).
    std::fs::write(docs.join("new.md"), "one more note").unwrap();
    let out = index_cmd(&model, &[&docs], &[])
        .env("SEMSEARCH_PROGRESS_SECS", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("semsearch: indexing: 6/6 files"), "{err}");
    assert!(stdout(&out).contains("1 added"), "{}", stdout(&out));
}

/// A generated site: every page repeats the same help popup and footer.
fn site(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let chrome_top = "<div class=\"help\"><h2>Keyboard shortcuts</h2>\
        <p>Press left or right to navigate between chapters</p>\
        <p>Press S to search in the book</p></div><div class=\"menu\">The Zoo Book</div>";
    let footer = "<footer><p>Built with a static site generator</p></footer>";
    let topics = ["lions", "zebras", "walruses", "pandas", "otters", "camels"];
    for t in topics {
        let page = format!(
            "<html><head><title>{t}</title></head><body>{chrome_top}<main><h1>All about {t}</h1>\
             <p>The {t} of the zoo eat, sleep and play all day.</p></main>{footer}</body></html>"
        );
        std::fs::write(dir.join(format!("{t}.html")), page).unwrap();
    }
    // A page about the popup itself quotes a chrome line in its own text.
    let help = format!(
        "<html><head><title>help</title></head><body>{chrome_top}<main><h1>Using the help popup</h1>\
         <p>The popup opens with the heading</p><p>Press S to search in the book</p>\
         <p>and closes again.</p></main>{footer}</body></html>"
    );
    std::fs::write(dir.join("help.html"), help).unwrap();
}

/// Ids of the lexical results for `query` (none: exit 1, an empty list).
fn lexical_ids(index: &Path, query: &str) -> Vec<String> {
    let out = bin()
        .args([
            "search",
            query,
            "--mode",
            "lexical",
            "--json",
            "--no-collapse",
            "--index",
        ])
        .arg(index)
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn a_sites_repeated_chrome_is_dropped_but_a_page_quoting_it_keeps_its_words() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("zoo");
    site(&docs);
    index_json(&model, &[&docs], &[]);
    let idx = docs.join(".semsearch");
    // The chrome's words find only the page that says them itself.
    assert_eq!(
        lexical_ids(&idx, "navigate between chapters"),
        Vec::<String>::new()
    );
    assert_eq!(
        lexical_ids(&idx, "static site generator"),
        Vec::<String>::new()
    );
    assert_eq!(lexical_ids(&idx, "search in the book"), ["help.html"]);
    // Each page's own text and its title stay.
    assert_eq!(lexical_ids(&idx, "walruses")[0], "walruses.html");

    // --keep-chrome keeps it on every page.
    let kept = tmp.path().join("kept");
    index_json(
        &model,
        &[&docs],
        &["--keep-chrome", "--index", kept.to_str().unwrap()],
    );
    assert_eq!(lexical_ids(&kept, "navigate between chapters").len(), 7);
}

#[test]
fn pages_that_only_redirect_are_skipped_as_redirect() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("site");
    std::fs::create_dir_all(docs.join("old")).unwrap();
    std::fs::write(
        docs.join("ch17.html"),
        "<html><head><title>Redirecting...</title>\
         <meta http-equiv=\"refresh\" content=\"0; URL=ch18.html\"></head>\
         <body><p>Redirecting to... <a href=\"ch18.html\">ch18.html</a>.</p></body></html>",
    )
    .unwrap();
    std::fs::write(
        docs.join("ch18.html"),
        "<html><head><title>Traits</title></head><body><h1>Traits</h1>\
         <p>A trait defines shared behaviour.</p></body></html>",
    )
    .unwrap();
    // A folder of stubs of an old edition: the notice is on every page.
    for i in 0..6 {
        std::fs::write(
            docs.join(format!("old/page{i}.html")),
            format!(
                "<html><head><title>Old {i}</title></head><body><h1>Chapter {i}</h1>\
                 <p>The first edition is no longer distributed. See the \
                 <a href=\"../ch18.html\">current version</a>.</p></body></html>"
            ),
        )
        .unwrap();
    }
    // A short page that does not say it moved stays.
    std::fs::write(
        docs.join("note.html"),
        "<html><body><p>Moving house: a checklist.</p></body></html>",
    )
    .unwrap();
    let report = index_json(&model, &[&docs], &[]);
    assert_eq!(report["skipped_by_reason"]["redirect"], 7, "{report}");
    assert_eq!(report["documents"], 2, "{report}");
    // Named on the command line, a redirect is indexed anyway.
    let report = index_json(
        &model,
        &[&docs.join("ch17.html")],
        &["--index", tmp.path().join("one").to_str().unwrap()],
    );
    assert_eq!(report["documents"], 1, "{report}");
}

#[test]
fn pre_turns_matching_files_into_text_and_its_failures_are_skip_reasons() {
    use base64::Engine;
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("vault");
    std::fs::create_dir_all(&docs).unwrap();
    // A format only a command can read: base64 of the text (coreutils'
    // base64 -d is the converter). One is damaged.
    let b64 = base64::engine::general_purpose::STANDARD;
    std::fs::write(
        docs.join("zebra.b64"),
        b64.encode("# Zebras\n\nZebras graze the savanna."),
    )
    .unwrap();
    std::fs::write(docs.join("comet.b64"), b64.encode("Comets orbit the sun.")).unwrap();
    std::fs::write(docs.join("broken.b64"), "!!! not base64 !!!").unwrap();
    std::fs::write(docs.join("plain.md"), "# Plain\n\nA note read as it is.").unwrap();
    let base64 = which("base64");
    // base64 takes -d before the file: a wrapper, as users write them.
    let wrapper = tmp.path().join("decode");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {} -d \"$1\"\n", base64.display()),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&wrapper).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&wrapper, perms).unwrap();
    let args = ["--pre", wrapper.to_str().unwrap(), "--pre-glob", "*.b64"];
    let report = index_json(&model, &[&docs], &args);
    assert_eq!(report["documents"], 3, "{report}");
    assert_eq!(report["skipped_by_reason"]["pre_failed"], 1, "{report}");
    let out = bin()
        .args([
            "search",
            "zebras savanna",
            "--mode",
            "lexical",
            "--json",
            "--index",
        ])
        .arg(docs.join(".semsearch"))
        .output()
        .unwrap();
    let first: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "zebra.b64");
    assert_eq!(first["title"], "Zebras", "the output's heading titles it");
    // Unchanged files are not converted again; a run without the flag
    // keeps the index's --pre (so its files are never read raw by
    // mistake); --no-pre reads them as they are.
    let again = index_json(&model, &[&docs], &args);
    assert_eq!(again["unchanged"], 3, "{again}");
    let kept = index_json(&model, &[&docs], &[]);
    assert_eq!(kept["unchanged"], 3, "{kept}");
    // `search QUERY FOLDER` refreshes the index with its settings too.
    let out = bin()
        .args(["search", "zebras savanna", "--mode", "lexical", "--json"])
        .arg(&docs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("updated"), "{}", stderr(&out));
    let top: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(top["title"], "Zebras");
    let plain = index_json(&model, &[&docs], &["--no-pre"]);
    assert_eq!(plain["updated"], 2, "{plain}");
}

/// A program on PATH, or the test fails naming it.
fn which(name: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{name} is not installed (coreutils)"))
}
