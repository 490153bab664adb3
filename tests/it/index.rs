//! End-to-end tests of `semsearch index` and `status` on temp folders, with
//! a tiny random model.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Output, Stdio};

use crate::common::{bin, kill_at_failpoint, stderr, stdout, tiny_model};
use serde_json::Value;

fn index(model: &Path, folder: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("index")
        .arg(folder)
        .arg("--model")
        .arg(model)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap()
}

fn report(out: &Output) -> Value {
    assert!(out.status.success(), "index failed: {}", stderr(out));
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn counts(v: &Value) -> [u64; 5] {
    ["added", "updated", "removed", "unchanged", "skipped"].map(|k| v[k].as_u64().unwrap())
}

fn notes(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.md"), "# Cats\n\nthe cat is on the car.\n").unwrap();
    std::fs::write(dir.join("b.txt"), "the dog and the pizza").unwrap();
    std::fs::write(
        dir.join("sub/c.html"),
        "<title>Rust</title><p>install rust on linux</p><script>x</script>",
    )
    .unwrap();
}

#[test]
fn first_index_then_change_delete_add_are_incremental() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    notes(&docs);
    let first = report(&index(&model, &docs, &[]));
    assert_eq!(counts(&first), [3, 0, 0, 0, 0]);
    assert_eq!(first["documents"], 3);
    assert!(docs.join(".semsearch/manifest.json").is_file());

    // Nothing changed: nothing re-embedded.
    assert_eq!(counts(&report(&index(&model, &docs, &[]))), [0, 0, 0, 3, 0]);

    // One file changed, one deleted, one added.
    std::fs::write(docs.join("b.txt"), "the dog and the cheap pizza").unwrap();
    std::fs::remove_file(docs.join("a.md")).unwrap();
    std::fs::write(docs.join("d.txt"), "a search engine index").unwrap();
    let r = report(&index(&model, &docs, &[]));
    assert_eq!(counts(&r), [1, 1, 1, 1, 0]);
    assert_eq!(r["documents"], 3);

    // Touched without a change: same content hash, not re-embedded.
    // The documents as the committed generation's table stores them.
    let ids = || crate::common::documents(&docs.join(".semsearch"))["d.txt"]["passages"].clone();
    let before = ids();
    std::fs::write(docs.join("d.txt"), "a search engine index").unwrap();
    assert_eq!(counts(&report(&index(&model, &docs, &[]))), [0, 0, 0, 3, 0]);
    assert_eq!(before, ids(), "passage ids kept");

    let status = bin()
        .arg("status")
        .arg("--index")
        .arg(docs.join(".semsearch"))
        .output()
        .unwrap();
    assert!(
        stdout(&status).contains("documents  3"),
        "{}",
        stdout(&status)
    );
}

#[test]
fn bad_files_are_skipped_and_counted_by_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    notes(&docs);
    // Not an image (those go to OCR): bytes with NUL in them.
    std::fs::write(docs.join("blob.dat"), b"\x89PNG\r\n\x1a\n\0\0\0").unwrap();
    std::fs::write(docs.join("latin1.txt"), b"caf\xe9 and the dog").unwrap();
    std::fs::write(docs.join("empty.txt"), b"").unwrap();
    std::fs::write(docs.join("big.txt"), "the cat ".repeat(1000)).unwrap();
    std::os::unix::fs::symlink("/proc/self/mem", docs.join("unreadable.txt")).unwrap();
    std::os::unix::fs::symlink(&docs, docs.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink(docs.join("gone.txt"), docs.join("broken.txt")).unwrap();
    let out = index(&model, &docs, &["--max-file-size", "4000", "--verbose"]);
    let r = report(&out);
    let reasons = &r["skipped_by_reason"];
    for (reason, n) in [
        ("binary", 1),
        ("empty", 1),
        ("too_large", 1),
        ("unreadable", 1),
        ("symlink_loop", 1),
        ("broken_link", 1),
    ] {
        assert_eq!(reasons[reason], n, "{reason}: {r}");
    }
    assert_eq!(r["lossy_utf8"], 1);
    assert_eq!(r["documents"], 4, "the three notes and the Latin-1 file");
    assert!(
        stderr(&out).contains("skipped (binary)"),
        "--verbose lists skipped files"
    );
}

#[test]
fn hidden_ignored_and_globbed_files_follow_the_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    notes(&docs);
    std::fs::write(docs.join(".hidden.txt"), "secret cat").unwrap();
    std::fs::write(docs.join(".semsearchignore"), "b.txt\n").unwrap();
    let r = report(&index(&model, &docs, &["--exclude", "*.html"]));
    assert_eq!(r["documents"], 1, "only a.md: {r}");
    let r = report(&index(&model, &docs, &["--hidden", "--include", "*.txt"]));
    // As in ripgrep, --include globs override ignore files: b.txt and the
    // hidden file.
    assert_eq!(r["documents"], 2, "{r}");
}

#[test]
fn another_model_is_refused_unless_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let other = tmp.path().join("other-model");
    // Another width, so vectors of the two models cannot be mistaken.
    let spec = semsearch_models::testing::TinyBert {
        hidden: 48,
        ..Default::default()
    };
    semsearch_models::testing::write_tiny_bert(&other, &spec).unwrap();
    let docs = tmp.path().join("docs");
    notes(&docs);
    report(&index(&model, &docs, &[]));
    let out = index(&other, &docs, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--rebuild") && stderr(&out).contains(".semsearch"),
        "{}",
        stderr(&out)
    );
    // A --rebuild killed before its manifest lands leaves the old index.
    let mut cmd = bin();
    cmd.arg("index")
        .arg(&docs)
        .arg("--model")
        .arg(&other)
        .args(["--rebuild", "--quiet"]);
    kill_at_failpoint(cmd, "before-manifest");
    assert_eq!(search_works(&model, &docs.join(".semsearch")), 3);
    assert_eq!(
        counts(&report(&index(&other, &docs, &["--rebuild"]))),
        [3, 0, 0, 0, 0]
    );
}

#[test]
fn second_writer_is_refused_while_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    notes(&docs);
    let _held = semsearch_indexer::store::lock(&docs.join(".semsearch")).unwrap();
    let out = index(&model, &docs, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("locked"), "{}", stderr(&out));
}

fn search_works(model_dir: &Path, index_dir: &Path) -> u64 {
    let out = bin()
        .args(["search", "the cat", "--json", "--index"])
        .arg(index_dir)
        .env("SEMSEARCH_MODEL", model_dir)
        .output()
        .unwrap();
    assert!(
        out.status.code() == Some(0),
        "search after a kill: {}",
        stderr(&out)
    );
    let status = bin()
        .args(["status", "--json", "--index"])
        .arg(index_dir)
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(&stdout(&status)).unwrap();
    v["documents"].as_u64().unwrap()
}

#[test]
fn killed_run_leaves_previous_index_usable_and_next_run_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    notes(&docs);
    report(&index(&model, &docs, &[]));
    for i in 0..300 {
        std::fs::write(
            docs.join(format!("n{i}.txt")),
            format!("the cat {i} and the dog {}", i * 7),
        )
        .unwrap();
    }
    let idx = docs.join(".semsearch");
    // Killed exactly between writing the new generation and the manifest.
    let mut cmd = bin();
    cmd.arg("index")
        .arg(&docs)
        .arg("--model")
        .arg(&model)
        .arg("--quiet");
    kill_at_failpoint(cmd, "before-manifest");
    assert_eq!(search_works(&model, &idx), 3, "the previous index, intact");
    // Killed at arbitrary moments: always one consistent index or the other.
    for delay_ms in [20, 80, 200] {
        let mut child = bin()
            .arg("index")
            .arg(&docs)
            .arg("--model")
            .arg(&model)
            .arg("--quiet")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let n = search_works(&model, &idx);
        assert!(n == 3 || n == 303, "{n} documents");
    }
    let r = report(&index(&model, &docs, &[]));
    assert_eq!(r["documents"], 303);
    assert_eq!(search_works(&model, &idx), 303);
}

#[test]
fn precision_is_recorded_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    notes(&docs);
    report(&index(&model, &docs, &["--precision", "f32"]));
    let status = |docs: &Path| {
        let out = bin()
            .arg("status")
            .arg("--json")
            .arg("--index")
            .arg(docs.join(".semsearch"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()
    };
    assert_eq!(status(&docs)["model"]["precision"], "f32");
    // Without --precision an update keeps the index's; another one needs
    // --rebuild, as vectors of both kinds would otherwise mix.
    report(&index(&model, &docs, &[]));
    assert_eq!(status(&docs)["model"]["precision"], "f32");
    let bf16 = semsearch_models::Kernels::best().runs(semsearch_models::Precision::Bf16);
    if bf16 {
        let out = index(&model, &docs, &["--precision", "bf16"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("--rebuild"), "{}", stderr(&out));
    }
    report(&index(&model, &docs, &["--precision", "bf16", "--rebuild"]));
    let want = if bf16 { "bf16" } else { "f32" };
    assert_eq!(status(&docs)["model"]["precision"], want);
}

#[test]
fn search_with_a_folder_rebuilds_an_index_of_an_older_format() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    notes(&docs);
    report(&index(&model, &docs, &[]));
    // Pretend an older semsearch wrote it.
    let manifest = docs.join(".semsearch/manifest.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    m["format_version"] = 1.into();
    std::fs::write(&manifest, m.to_string()).unwrap();
    // `index` refuses and names the way out...
    let out = index(&model, &docs, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--rebuild"), "{}", stderr(&out));
    // ...`search QUERY FOLDER`, whose index is a cache, rebuilds it.
    let out = bin()
        .args(["search", "pizza", "--mode", "lexical"])
        .arg(&docs)
        .env("SEMSEARCH_MODEL", &model)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("re-indexing"), "{}", stderr(&out));
    assert!(stdout(&out).contains("b.txt"), "{}", stdout(&out));
}

#[test]
fn another_setting_is_named_with_the_flag_that_keeps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    notes(&docs);
    report(&index(&model, &docs, &[]));
    for (flags, said) in [
        (
            ["--quantize", "f32"],
            "quantization f16, not f32: pass --quantize f16",
        ),
        (
            ["--language", "french"],
            "language english, not french: pass --language english",
        ),
    ] {
        let out = index(&model, &docs, &flags);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(err.contains(said) && err.contains("--rebuild"), "{err}");
        assert!(
            !err.contains("corrupt"),
            "a setting is not corruption: {err}"
        );
    }
    // --rebuild takes the new setting.
    report(&index(&model, &docs, &["--quantize", "f32", "--rebuild"]));
}

/// The generation folders of the index in `dir`, sorted.
fn generations(dir: &Path) -> Vec<String> {
    let mut g: Vec<String> = std::fs::read_dir(dir.join(".semsearch"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gen-"))
        .collect();
    g.sort();
    g
}

#[test]
fn an_old_generation_stays_while_read_and_goes_when_its_reader_does() {
    use std::io::{BufRead, Write};
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let dir = tmp.path().join("notes");
    notes(&dir);
    report(&index(&model, &dir, &[]));
    std::fs::write(dir.join("b.txt"), "the dog and the pizza, again").unwrap();
    report(&index(&model, &dir, &[]));
    // No reader: only the committed generation is left on disk.
    assert_eq!(generations(&dir), ["gen-000002"]);

    // A prompt holds generation 2 open (it has answered a query).
    let mut reader = bin()
        .args(["repl", "--index"])
        .arg(dir.join(".semsearch"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = reader.stdin.take().unwrap();
    writeln!(stdin, "cat").unwrap();
    let mut lines = std::io::BufReader::new(reader.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("results in")));
    std::fs::write(dir.join("a.md"), "# Cats\n\nthe cat sleeps.\n").unwrap();
    report(&index(&model, &dir, &[]));
    assert_eq!(
        generations(&dir),
        ["gen-000002", "gen-000003"],
        "gen-2 is being read"
    );

    // Killed, the reader leaves no hold behind: the next commit removes it.
    reader.kill().unwrap();
    reader.wait().unwrap();
    std::fs::write(dir.join("a.md"), "# Cats\n\nthe cat wakes.\n").unwrap();
    report(&index(&model, &dir, &[]));
    assert_eq!(generations(&dir), ["gen-000004"]);
    assert!(search_works(&model, &dir.join(".semsearch")) > 0);
}

/// A corpus holding documents `d0`..`d19` three times, 300 other lines
/// apart (more than a chunk of 256 looked at together), the first two
/// copies' texts ending in `(early)`, the last in `(LAST)`.
pub(crate) fn repeated_corpus(path: &Path, last: &str) {
    let line = |id: String, text: String| serde_json::json!({"_id": id, "text": text}).to_string();
    let mut lines = Vec::new();
    for (copy, tag) in ["early", "early", last].into_iter().enumerate() {
        for i in 0..20 {
            lines.push(line(
                format!("d{i}"),
                format!("note {i} on topic {} ({tag})", i % 7),
            ));
        }
        if copy < 2 {
            let fill = (0..300).map(|j| line(format!("f{copy}-{j}"), format!("filler {j}")));
            lines.extend(fill);
        }
    }
    std::fs::write(path, lines.join("\n")).unwrap();
}

/// `index --jsonl CORPUS` into `target` (`--index DIR` or `--store URL`)
/// with a commit after every 16 passages: its report.
pub(crate) fn index_committing_often(corpus: &Path, model: &Path, target: [&OsStr; 2]) -> Value {
    let out = bin()
        .args(["index", "--json", "--checkpoint-secs", "0"])
        .args(["--embed-batch", "16", "--jsonl"])
        .arg(corpus)
        .arg("--model")
        .arg(model)
        .args(target)
        .output()
        .unwrap();
    report(&out)
}

#[test]
fn a_corpus_repeating_ids_keeps_each_last_copy_across_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let corpus = tmp.path().join("corpus.jsonl");
    let idx = tmp.path().join("idx");
    // A commit after every 16 passages: copies of one id are written,
    // committed, then replaced by later ones; the third run writes the
    // early copies over what the second committed, then the last copies
    // (the same as that) back.
    let run = |last: &str| {
        repeated_corpus(&corpus, last);
        index_committing_often(&corpus, &model, ["--index".as_ref(), idx.as_os_str()])
    };
    for (round, last) in ["first", "second", "second"].into_iter().enumerate() {
        let r = run(last);
        assert!(r["checkpoints"].as_u64().unwrap() >= 2, "{r}");
        assert_eq!(
            (r["documents"].as_u64(), r["removed"].as_u64()),
            (Some(620), Some(0))
        );
        if round < 2 {
            let want = if round == 0 { [620, 0] } else { [0, 20] };
            assert_eq!(
                [r["added"].as_u64().unwrap(), r["updated"].as_u64().unwrap()],
                want,
                "{r}"
            );
        }
        // Opening checks that the vectors and the documents add up to the
        // totals: no copy's passages are left behind.
        let opened = semsearch_indexer::Index::open(&idx).unwrap();
        assert_eq!(opened.len(), 620);
        assert_eq!(opened.vectors().len(), opened.manifest().totals().passages);
        for i in 0..20 {
            let doc = opened.position(&format!("d{i}")).unwrap();
            let text = opened.document(doc).unwrap().unwrap().text;
            assert!(text.ends_with(&format!("({last})")), "d{i}: {text}");
        }
    }
}
