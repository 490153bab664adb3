//! Helpers shared by the end-to-end tests: the binary, a tiny model, temp
//! folders.

#![allow(dead_code)] // each module uses its share

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use semsearch_models::testing::{write_tiny_bert, TinyBert};

pub fn bin() -> Command {
    with_env(Command::new(env!("CARGO_BIN_EXE_semsearch")))
}

/// The binary started with SIGINT ignored, as a shell script's background
/// job starts it (`cmd &`): it must handle the signal itself.
pub fn bin_ignoring_sigint() -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "trap '' INT; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_semsearch"));
    with_env(cmd)
}

/// Most a signalled process may take to exit before the test fails.
pub const STOP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Send `signal` (`INT`, `TERM`) and wait, at most [`STOP_DEADLINE`], for
/// the exit status (killed, and the test failed, past it).
pub fn signal(child: &mut std::process::Child, signal: &str) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{signal} failed");
    wait_bounded(child, &format!("after SIG{signal}"))
}

/// Wait, at most [`STOP_DEADLINE`], for `child` to exit.
pub fn wait_bounded(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > STOP_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running {STOP_DEADLINE:?} {what}: killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn with_env(mut cmd: Command) -> Command {
    cmd.env_remove("SEMSEARCH_MODEL")
        .env_remove("SEMSEARCH_INDEX")
        .env_remove("SEMSEARCH_STORE");
    // The README's HF_HOME=../shared/hf is relative to the workspace root;
    // tests that run the binary in a temp folder need it absolute.
    if let Some(home) = std::env::var_os("HF_HOME").map(PathBuf::from) {
        if home.is_relative() {
            cmd.env("HF_HOME", Path::new(env!("CARGO_MANIFEST_DIR")).join(home));
        }
    }
    cmd
}

/// Run `cmd` until it says on stderr that it reached failpoint `name`,
/// then kill it (SIGKILL) there.
pub fn kill_at_failpoint(mut cmd: Command, name: &str) {
    let mut child = cmd
        .env("SEMSEARCH_FAILPOINT", name)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stderr.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains(&format!("failpoint {name}")), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A tiny random BERT in `dir/model`, for pipeline tests that need no real model.
pub fn tiny_model(dir: &Path) -> PathBuf {
    let path = dir.join("model");
    write_tiny_bert(&path, &TinyBert::default()).expect("write tiny model");
    path
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Run `cmd` (a `repl`) with `script` on its standard input.
pub fn prompt(mut cmd: Command, script: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A `semsearch serve` process on a free loopback port, killed on drop.
pub struct Server {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`, without the trailing slash.
    pub url: String,
}

impl Server {
    /// Start `semsearch serve ARGS --addr 127.0.0.1:0` and wait for the
    /// address it prints once it listens.
    pub fn start(args: &[&std::ffi::OsStr]) -> Server {
        Server::start_with(bin(), args)
    }

    /// [`Server::start`] from a prepared command (environment, folder).
    pub fn start_with(mut cmd: Command, args: &[&std::ffi::OsStr]) -> Server {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = cmd
            .arg("serve")
            .args(args)
            .args(["--addr", "127.0.0.1:0", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start semsearch serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().trim_end_matches('/').to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "serve printed {line:?}"
        );
        Server { child, url }
    }

    /// Send `sig` and wait (bounded) for the exit status.
    pub fn stop(mut self, sig: &str) -> std::process::ExitStatus {
        signal(&mut self.child, sig)
    }

    /// GET `path`: the status and the JSON body.
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.get_with(path, None)
    }

    /// GET `path` with a bearer token.
    pub fn get_with(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = ureq::get(&format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        match req.call() {
            Ok(r) => (r.status(), r.into_json().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or_default()),
            Err(e) => panic!("GET {path}: {e}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write `docs` (relative path, text) under `root/notes`; returns that folder.
pub fn write_notes(root: &Path, docs: &[(&str, &str)]) -> PathBuf {
    let dir = root.join("notes");
    for (name, text) in docs {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

/// A `semsearch mcp` session over the child's stdin and stdout, as an
/// agent speaks it; initialised on start.
pub struct Mcp {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Mcp {
    /// Start `semsearch mcp ARGS` and complete the MCP handshake.
    pub fn start(args: &[&std::ffi::OsStr]) -> (Mcp, serde_json::Value) {
        Mcp::start_with(bin(), args)
    }

    /// [`Mcp::start`] from a prepared command.
    pub fn start_with(mut cmd: Command, args: &[&std::ffi::OsStr]) -> (Mcp, serde_json::Value) {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = cmd
            .arg("mcp")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start semsearch mcp");
        let stdin = child.stdin.take();
        let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut mcp = Mcp {
            child,
            stdin,
            lines,
        };
        let init = mcp.call(
            "initialize",
            serde_json::json!({"protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"}}),
        );
        mcp.send(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        (mcp, init)
    }

    fn send(&mut self, v: serde_json::Value) {
        use std::io::Write;
        writeln!(self.stdin.as_mut().unwrap(), "{v}").unwrap();
    }

    /// Call `method` and wait for its answer (notifications skipped).
    pub fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.send(
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        );
        loop {
            let line = self.lines.next().expect("an answer").unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    }

    /// Close stdin (the client leaving) and wait: whether it exited 0.
    pub fn finish(mut self) -> bool {
        drop(self.stdin.take());
        wait_bounded(&mut self.child, "after stdin closed").success()
    }

    /// Send `sig` with the session open and wait (bounded) for the exit.
    pub fn stop(mut self, sig: &str) -> std::process::ExitStatus {
        signal(&mut self.child, sig)
    }
}

/// The documents of the committed generation of the index in `index`,
/// by id (as the documents table stores them), read through the library.
pub fn documents(index: &Path) -> serde_json::Value {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(index.join("manifest.json")).unwrap())
            .unwrap();
    assert!(m.get("documents").is_none(), "the manifest is the header");
    let opened = semsearch_indexer::Index::open(index).unwrap();
    let mut docs = serde_json::Map::new();
    opened
        .each_document(|_, d| {
            docs.insert(d.id, serde_json::to_value(&d.entry).unwrap());
            Ok(())
        })
        .unwrap();
    docs.into()
}
