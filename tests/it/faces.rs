//! One request, four faces: the same search through the CLI, the HTTP API,
//! MCP and the prompt returns the same results, object for object (issue
//! 24: a search request is built once, whatever face it came through).

use serde_json::{json, Value};

use crate::common::{bin, prompt, stderr, stdout, tiny_model, write_notes, Mcp, Server};

const DOCS: &[(&str, &str)] = &[
    (
        "bread.md",
        "# Bread\n\nKnead the dough, let it rise, then bake the bread.",
    ),
    (
        "pets.md",
        "# Pets\n\nThe dog chases the ball; the cat sleeps.",
    ),
    ("cars.txt", "Change the oil of the car every year."),
    (
        "dough.md",
        "# Pizza\n\nPizza dough rises overnight in the fridge.",
    ),
];

/// Every field but the timing-free ones the faces share: what a client
/// reads of a result.
fn comparable(results: &[Value]) -> Vec<Value> {
    results
        .iter()
        .map(|r| json!([r["id"], r["score"], r["title"], r["line"], r["snippet"]]))
        .collect()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn cli_http_mcp_and_prompt_answer_one_search_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let dir = write_notes(tmp.path(), DOCS);
    let out = bin()
        .arg("index")
        .arg(&dir)
        .arg("--model")
        .arg(&model)
        .arg("-q")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let index = dir.join(".semsearch");
    let server = Server::start(&["--index".as_ref(), index.as_os_str()]);
    let (mut mcp, _) = Mcp::start(&["--index".as_ref(), index.as_os_str()]);
    for (mode, k) in [("hybrid", 3), ("lexical", 2), ("semantic", 4)] {
        let query = "knead the dough";
        let cli = bin()
            .args([
                "search",
                query,
                "--json",
                "--mode",
                mode,
                "-k",
                &k.to_string(),
                "--index",
            ])
            .arg(&index)
            .output()
            .unwrap();
        assert!(cli.status.success(), "{}", stderr(&cli));
        let cli = comparable(&json_lines(&stdout(&cli)));
        assert_eq!(cli.len(), k, "{mode}: {cli:?}");

        let (code, http) = server.get(&format!("/api/search?q=knead+the+dough&mode={mode}&k={k}"));
        assert_eq!(code, 200, "{http}");
        let http = comparable(http["results"].as_array().unwrap());

        let answer = mcp.call(
            "tools/call",
            json!({"name": "search", "arguments": {"query": query, "mode": mode, "k": k}}),
        );
        let mcp_results = answer["result"]["structuredContent"]["results"].as_array();
        let mcp_results = comparable(mcp_results.unwrap_or_else(|| panic!("{answer}")));

        let mut cmd = bin();
        cmd.args(["repl", "--json", "--index"]).arg(&index);
        let script = format!(":mode {mode}\n:k {k}\n{query}\n");
        let repl = prompt(cmd, &script);
        assert!(repl.status.success(), "{}", stderr(&repl));
        let repl = comparable(&json_lines(&stdout(&repl)));

        assert_eq!(http, cli, "{mode}: HTTP against CLI");
        assert_eq!(mcp_results, cli, "{mode}: MCP against CLI");
        assert_eq!(repl, cli, "{mode}: prompt against CLI");
    }
    assert!(mcp.finish());
}
