//! Helpers shared by the end-to-end tests: the binary, a tiny model, temp
//! folders.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use semsearch_models::testing::{write_tiny_bert, TinyBert};

pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_semsearch"));
    cmd.env_remove("SEMSEARCH_MODEL")
        .env_remove("SEMSEARCH_INDEX");
    // The README's HF_HOME=../shared/hf is relative to the workspace root;
    // tests that run the binary in a temp folder need it absolute.
    if let Some(home) = std::env::var_os("HF_HOME").map(PathBuf::from) {
        if home.is_relative() {
            cmd.env("HF_HOME", Path::new(env!("CARGO_MANIFEST_DIR")).join(home));
        }
    }
    cmd
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
