//! Snapshots of the real binary's human output (insta), temp paths and
//! times scrubbed. Only output that is the same on every CPU: the command
//! list, lexical rankings (BM25 is exact arithmetic on counts), status.
//! Update with `INSTA_UPDATE=always cargo test --test it snapshots::`, then review
//! the diff.

use std::path::Path;

use crate::common::{bin, stderr, stdout, tiny_model};

fn notes(root: &Path) -> std::path::PathBuf {
    let dir = root.join("notes");
    for (name, text) in [
        (
            "cars.txt",
            "The automobile needs new tyres and an oil change before the long drive.",
        ),
        (
            "bread.md",
            "# Baking bread\n\nKnead the dough, let it rise, bake the bread at 220 degrees.",
        ),
        (
            "errors/rare.txt",
            "Error code XK4471 appears when the flux capacitor overheats.",
        ),
        (
            "pets.md",
            "# Pets\n\nMy dog loves to chase the ball. The dog sleeps after.",
        ),
    ] {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let model = tiny_model(root);
    let out = bin()
        .arg("index")
        .arg(&dir)
        .arg("--model")
        .arg(&model)
        // f32 exists on every CPU; bf16 would fall back where it does not.
        .args(["--precision", "f32"])
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    dir
}

fn scrub(text: &str, root: &Path) -> String {
    let root = std::fs::canonicalize(root).unwrap();
    text.replace(&root.display().to_string(), "[TMP]")
        .lines()
        .map(|l| {
            // Sizes and ages change from run to run, kernels from CPU to CPU.
            if l.starts_with("size ") || l.starts_with("updated ") || l.starts_with("kernels ") {
                format!("{} [..]", l.split_whitespace().next().unwrap())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn command_list() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn lexical_search_with_explain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = notes(tmp.path());
    let out = bin()
        .args([
            "search",
            "dog bread",
            "--mode",
            "lexical",
            "--explain",
            "--color",
            "never",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    insta::assert_snapshot!(scrub(&stdout(&out), tmp.path()));
}

#[test]
fn status_of_a_small_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = notes(tmp.path());
    let out = bin().arg("status").current_dir(&dir).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    insta::assert_snapshot!(scrub(&stdout(&out), tmp.path()));
}

#[test]
fn completions_and_man_page_come_from_the_flags() {
    let out = bin().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let bash = stdout(&out);
    assert!(bash.contains("_semsearch()"), "a bash completion function");
    assert!(bash.contains("--max-file-size") && bash.contains("--checkpoint-secs"));
    let out = bin().args(["completions", "zsh"]).output().unwrap();
    assert!(
        stdout(&out).starts_with("#compdef semsearch"),
        "{}",
        stdout(&out)
    );
    let out = bin().arg("man").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let man = stdout(&out);
    assert!(
        man.starts_with(".ie") || man.contains(".TH semsearch"),
        "{}",
        &man[..200.min(man.len())]
    );
    assert!(
        man.contains("index") && man.contains("search"),
        "subcommands listed"
    );
}
