//! `semsearch mcp`: JSON-RPC over the server's stdin/stdout, as an agent
//! would speak it (initialize, tools/list, tools/call).

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use crate::common::{bin, stderr, tiny_model};
use serde_json::{json, Value};

#[test]
fn an_agent_lists_the_tools_and_searches() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let dir = tmp.path().join("notes");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bread.md"),
        "# Bread\n\nKnead the dough, then bake.",
    )
    .unwrap();
    std::fs::write(dir.join("pets.md"), "# Pets\n\nThe dog chases the ball.").unwrap();
    let out = bin()
        .arg("index")
        .arg(&dir)
        .arg("--model")
        .arg(&model)
        .arg("-q")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let mut child = bin()
        .arg("mcp")
        .arg("--index")
        .arg(dir.join(".semsearch"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut send = |v: Value| writeln!(stdin, "{v}").unwrap();
    let mut answer = |id: u64| -> Value {
        loop {
            let line = lines.next().expect("an answer").unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    };

    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}}),
    );
    let init = answer(1);
    assert_eq!(init["result"]["serverInfo"]["name"], "semsearch", "{init}");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));

    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let list = answer(2);
    let tools = list["result"]["tools"].as_array().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["compare", "search", "similar", "status"]);
    let search = tools.iter().find(|t| t["name"] == "search").unwrap();
    let schema = &search["inputSchema"];
    assert_eq!(schema["required"], json!(["query"]), "{schema}");
    assert!(schema["properties"]["k"].is_object() && schema["properties"]["mode"].is_object());

    send(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "search", "arguments": {"query": "knead dough", "k": 1, "mode": "lexical"}}}),
    );
    let call = answer(3);
    let result = &call["result"];
    assert_eq!(result["isError"], false, "{call}");
    let hit = &result["structuredContent"]["results"][0];
    assert_eq!(hit["id"], "bread.md");
    assert_eq!(hit["title"], "Bread");
    assert!(hit["snippet"].as_str().unwrap().contains("Knead"));
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("bread.md:") && text.contains("Bread"),
        "{text}"
    );

    send(
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
        "name": "similar", "arguments": {"id": "no/such.md"}}}),
    );
    let bad = answer(4);
    assert_eq!(bad["result"]["isError"], true, "{bad}");
    assert!(bad["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("no/such.md"));

    send(
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
        "name": "status", "arguments": {}}}),
    );
    assert_eq!(answer(5)["result"]["structuredContent"]["documents"], 2);

    drop(stdin);
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "mcp exits cleanly when the client closes stdin"
    );
}
