//! End-to-end tests of `semsearch embed`.

use crate::common::{bin, stderr, stdout, tiny_model};

#[test]
fn embeds_texts_and_jsonl_as_json_lines_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"id\": 1, \"text\": \"the dog\"}\n{\"text\": \"a car\"}\n",
    )
    .unwrap();
    let out = bin()
        .args(["embed", "--json", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&input)
        .arg("the cat and the dog")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let texts: Vec<&str> = lines.iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["the cat and the dog", "the dog", "a car"]);
    // [CLS] the cat and the dog [SEP]
    assert_eq!(lines[0]["tokens"], 7);
    for l in &lines {
        let v: Vec<f64> = serde_json::from_value(l["embedding"].clone()).unwrap();
        assert_eq!(v.len(), 32);
        let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
    // Keys in the documented order.
    assert!(stdout(&out).starts_with("{\"text\":"));
}

#[test]
fn human_summary_names_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let out = bin()
        .args(["embed", "--model"])
        .arg(&model)
        .arg("cat")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("1 texts, 3 tokens, 32-d vectors (mean pooling, normalised"),
        "{text}"
    );
}

#[test]
fn missing_model_is_a_clear_error_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["embed", "--model", "nobody/no-such-model", "hi"])
        .env("HF_HOME", dir.path())
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("nobody/no-such-model")
            && err.contains("--model PATH")
            && err.contains("HF_HOME"),
        "{err}"
    );
}

#[test]
fn bad_jsonl_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let input = dir.path().join("bad.jsonl");
    std::fs::write(&input, "{\"text\": \"ok\"}\n{\"txt\": 1}\n").unwrap();
    let out = bin()
        .args(["embed", "--model"])
        .arg(&model)
        .arg("-i")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.jsonl:2"), "{}", stderr(&out));
}

#[test]
fn help_lists_every_subcommand() {
    let out = bin().arg("--help").output().unwrap();
    let text = stdout(&out);
    for sub in ["embed", "bench"] {
        assert!(text.contains(sub), "{sub} missing from --help");
    }
}

#[test]
fn broken_pipe_is_success() {
    use std::io::Read;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let input = dir.path().join("many.jsonl");
    let lines: String = (0..3000)
        .map(|i| format!("{{\"text\": \"cat {i}\"}}\n"))
        .collect();
    std::fs::write(&input, lines).unwrap();
    let mut child = bin()
        .args(["embed", "--json", "--model"])
        .arg(&model)
        .arg("-i")
        .arg(&input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// `embed --json` says which kernels and arithmetic made each vector;
/// `SEMSEARCH_KERNELS` picks the family, and a name it does not know is a
/// clear error (exit 2), not a silent fallback.
#[test]
fn json_names_the_kernels_and_precision_that_ran() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let run = |kernels: &str, extra: &[&str]| {
        bin()
            .args(["embed", "--json", "--model"])
            .arg(&model)
            .args(extra)
            .arg("the cat")
            .env("SEMSEARCH_KERNELS", kernels)
            .output()
            .unwrap()
    };
    let out = run("portable", &["--precision", "bf16"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    // Portable kernels have f32 only: bf16 falls back, and says so.
    assert_eq!(line["kernels"], "portable");
    assert_eq!(line["precision"], "f32");
    let out = run("auto", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let names = ["portable", "avx2", "avx512", "amx"];
    assert!(names.contains(&line["kernels"].as_str().unwrap()), "{line}");
    assert!(["f32", "bf16", "int8"].contains(&line["precision"].as_str().unwrap()));
    let out = run("avx1024", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("avx1024") && err.contains("SEMSEARCH_KERNELS"),
        "{err}"
    );
}
