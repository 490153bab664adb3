//! `semsearch watch` driven by real file operations in a temp folder, with
//! a tiny random model. Deadlines are generous failure limits, not timings
//! (the latency is measured in BENCHMARKS.md).

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, signal, stderr, stdout, tiny_model};

const DEADLINE: Duration = Duration::from_secs(60);

fn ids(index: &Path) -> Vec<String> {
    let out = bin()
        .args([
            "search", "note", "--mode", "lexical", "--json", "-k", "50", "--index",
        ])
        .arg(index)
        .output()
        .unwrap();
    stdout(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < DEADLINE,
            "not within {DEADLINE:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn watch_follows_creates_edits_renames_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(docs.join("sub")).unwrap();
    std::fs::write(docs.join("a.md"), "# A\n\nthe first note").unwrap();
    let idx = docs.join(".semsearch");
    let mut watch = Watch(
        bin()
            .arg("watch")
            .arg(&docs)
            .arg("--model")
            .arg(&model)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = std::io::BufReader::new(watch.0.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("watching"), "{line}");
    assert_eq!(ids(&idx), ["a.md"]);

    // A new file.
    std::fs::write(docs.join("b.md"), "a second note").unwrap();
    wait_until("b.md indexed", || ids(&idx).contains(&"b.md".to_string()));
    // An editor's save: write a temp file, rename it over the original.
    std::fs::write(docs.join(".b.md.swp"), "a second note, now about zebras").unwrap();
    std::fs::rename(docs.join(".b.md.swp"), docs.join("b.md")).unwrap();
    let zebra = || {
        let out = bin()
            .args(["search", "zebras", "--mode", "lexical", "--json", "--index"])
            .arg(&idx)
            .output()
            .unwrap();
        stdout(&out).contains("\"b.md\"")
    };
    wait_until("the saved b.md searchable", zebra);
    // A whole folder moved in, then a file deleted.
    let outside = tmp.path().join("more");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("c.md"), "a third note").unwrap();
    std::fs::rename(&outside, docs.join("sub/more")).unwrap();
    wait_until("the moved folder indexed", || {
        ids(&idx).contains(&"sub/more/c.md".to_string())
    });
    std::fs::remove_file(docs.join("a.md")).unwrap();
    wait_until("a.md gone", || !ids(&idx).contains(&"a.md".to_string()));

    // A second writer is refused while watch holds the index.
    let second = bin()
        .arg("index")
        .arg(&docs)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    assert!(stderr(&second).contains("locked"), "{}", stderr(&second));

    // Ctrl-C: exit 130, the index stays committed and usable.
    let status = signal(&mut watch.0, "INT");
    assert_eq!(status.code(), Some(130), "{status:?}");
    let mut got = ids(&idx);
    got.sort();
    assert_eq!(got, ["b.md", "sub/more/c.md"]);
}
