//! SIGINT and SIGTERM end `watch`, `serve`, `mcp` and a long `index` with
//! 130 and 143 and a consistent index, even when the process inherited
//! SIGINT ignored (a script's background job); a second signal exits at
//! once. Every wait is bounded (`common::STOP_DEADLINE`).

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    bin, bin_ignoring_sigint, signal, stdout, tiny_model, wait_bounded, write_notes, Mcp, Server,
};

/// 128 + the signal, as a shell reports it.
fn code(sig: &str) -> i32 {
    match sig {
        "INT" => 130,
        "TERM" => 143,
        _ => unreachable!(),
    }
}

/// Lexical search ids of the index in `dir` (`note` is in every file).
fn ids(index: &Path) -> Vec<String> {
    let out = bin()
        .args([
            "search", "note", "--mode", "lexical", "--json", "-k", "1000",
        ])
        .arg("--index")
        .arg(index)
        .output()
        .unwrap();
    assert!(out.status.success(), "search failed: {out:?}");
    stdout(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

/// Documents in the index in `dir`, as `status` counts them.
fn documents(index: &Path) -> usize {
    let out = bin()
        .args(["status", "--json", "--index"])
        .arg(index)
        .output()
        .unwrap();
    assert!(out.status.success(), "status failed: {out:?}");
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    v["documents"].as_u64().unwrap() as usize
}

/// Killed on drop, so a failing test leaves no process behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Read the child's stderr until a line contains `what` (bounded).
fn read_until(child: &mut Child, what: &str) {
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let what = what.to_string();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if line.contains(&what) {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the expected line on stderr");
}

#[test]
fn watch_ends_on_sigint_and_sigterm_although_sigint_was_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = write_notes(tmp.path(), &[("a.md", "a note"), ("b.md", "another note")]);
    for sig in ["INT", "TERM"] {
        let mut watch = Running(
            bin_ignoring_sigint()
                .arg("watch")
                .arg(&docs)
                .arg("--model")
                .arg(&model)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        read_until(&mut watch.0, "watching");
        let status = signal(&mut watch.0, sig);
        assert_eq!(status.code(), Some(code(sig)), "SIG{sig}: {status:?}");
        let mut got = ids(&docs.join(".semsearch"));
        got.sort();
        assert_eq!(got, ["a.md", "b.md"]);
    }
}

#[test]
fn serve_and_mcp_end_on_sigint_and_sigterm_although_sigint_was_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = write_notes(tmp.path(), &[("a.md", "a note")]);
    let indexed = bin()
        .arg("index")
        .arg(&docs)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    assert!(indexed.status.success(), "{indexed:?}");
    let idx = docs.join(".semsearch");
    for sig in ["INT", "TERM"] {
        let server = Server::start_with(
            bin_ignoring_sigint(),
            &["--index".as_ref(), idx.as_os_str()],
        );
        assert_eq!(server.get("/api/status").0, 200);
        let status = server.stop(sig);
        assert_eq!(
            status.code(),
            Some(code(sig)),
            "serve, SIG{sig}: {status:?}"
        );

        let (mcp, init) = Mcp::start_with(
            bin_ignoring_sigint(),
            &["--index".as_ref(), idx.as_os_str()],
        );
        assert!(init["result"].is_object(), "{init}");
        let status = mcp.stop(sig);
        assert_eq!(status.code(), Some(code(sig)), "mcp, SIG{sig}: {status:?}");
    }
}

/// `n` notes, enough for several of the run's look-at chunks (256 files).
fn many_notes(root: &Path, n: usize) -> std::path::PathBuf {
    let docs = root.join("many");
    std::fs::create_dir_all(&docs).unwrap();
    for i in 0..n {
        std::fs::write(
            docs.join(format!("n{i:04}.md")),
            format!("note {i} of many"),
        )
        .unwrap();
    }
    docs
}

fn index_cmd(docs: &Path, model: &Path) -> Command {
    let mut cmd = bin_ignoring_sigint();
    cmd.arg("index").arg(docs).arg("--model").arg(model).args([
        "--checkpoint-secs",
        "0",
        "--embed-batch",
        "16",
    ]);
    cmd
}

#[test]
fn sigint_ends_a_long_index_with_what_it_embedded_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = many_notes(tmp.path(), 700);
    // Paused after its first checkpoint: the signal lands mid-run.
    let mut run = Running(
        index_cmd(&docs, &model)
            .env("SEMSEARCH_FAILPOINT", "checkpoint-1")
            .env("SEMSEARCH_FAILPOINT_MS", "1000")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    read_until(&mut run.0, "failpoint checkpoint-1");
    let status = signal(&mut run.0, "INT");
    assert_eq!(status.code(), Some(130), "{status:?}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut run.0.stdout.take().unwrap(), &mut out).unwrap();
    assert!(out.contains("stopped early"), "{out}");
    let committed = documents(&docs.join(".semsearch"));
    assert!(
        (1..700).contains(&committed),
        "{committed} of 700 documents committed"
    );

    // The next run finishes the rest, re-embedding nothing committed.
    let next = index_cmd(&docs, &model).arg("--json").output().unwrap();
    assert!(next.status.success(), "{next:?}");
    let report: serde_json::Value = serde_json::from_str(stdout(&next).trim()).unwrap();
    assert_eq!(report["documents"], 700);
    assert_eq!(report["unchanged"], committed);
    assert_eq!(report["added"], 700 - committed);
    assert!(report.get("interrupted").is_none(), "{report}");
}

#[test]
fn a_second_signal_exits_at_once_leaving_the_last_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let docs = write_notes(tmp.path(), &[("a.md", "a note")]);
    let first = index_cmd(&docs, &model).output().unwrap();
    assert!(first.status.success(), "{first:?}");
    std::fs::write(docs.join("b.md"), "a new note").unwrap();
    // Held for 30 s just before the commit point: the first signal asks
    // it to stop, the second ends it there.
    let mut run = Running(
        index_cmd(&docs, &model)
            .env("SEMSEARCH_FAILPOINT", "before-manifest")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    read_until(&mut run.0, "failpoint before-manifest");
    let start = Instant::now();
    Command::new("kill")
        .args(["-INT", &run.0.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let status = signal(&mut run.0, "TERM");
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}: the failpoint's pause was not cut short",
        start.elapsed()
    );
    assert_eq!(ids(&docs.join(".semsearch")), ["a.md"]);
    // The write lock died with the process: the next run adds b.md.
    let mut next = index_cmd(&docs, &model).spawn().unwrap();
    assert!(wait_bounded(&mut next, "indexing").success());
    let mut got = ids(&docs.join(".semsearch"));
    got.sort();
    assert_eq!(got, ["a.md", "b.md"]);
}
