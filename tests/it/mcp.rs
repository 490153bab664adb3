//! `semsearch mcp`: JSON-RPC over the server's stdin/stdout, as an agent
//! would speak it (initialize, tools/list, tools/call).

use crate::common::{bin, stderr, tiny_model, Mcp};
use serde_json::json;

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

    let index = dir.join(".semsearch");
    let (mut mcp, init) = Mcp::start(&["--index".as_ref(), index.as_os_str()]);
    assert_eq!(init["result"]["serverInfo"]["name"], "semsearch", "{init}");

    let list = mcp.call("tools/list", json!({}));
    let tools = list["result"]["tools"].as_array().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["compare", "search", "similar", "status"]);
    let search = tools.iter().find(|t| t["name"] == "search").unwrap();
    let schema = &search["inputSchema"];
    assert_eq!(schema["required"], json!(["query"]), "{schema}");
    assert!(schema["properties"]["k"].is_object() && schema["properties"]["mode"].is_object());
    // The engine's one Mode, its names offered to the agent.
    assert_eq!(
        schema["properties"]["mode"]["enum"],
        json!(["lexical", "semantic", "hybrid"]),
        "{schema}"
    );

    let call = mcp.call(
        "tools/call",
        json!({"name": "search", "arguments": {"query": "knead dough", "k": 1, "mode": "lexical"}}),
    );
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

    let bad = mcp.call(
        "tools/call",
        json!({"name": "similar", "arguments": {"id": "no/such.md"}}),
    );
    assert_eq!(bad["result"]["isError"], true, "{bad}");
    assert!(bad["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("no/such.md"));

    let status = mcp.call("tools/call", json!({"name": "status", "arguments": {}}));
    assert_eq!(status["result"]["structuredContent"]["documents"], 2);
    assert!(
        mcp.finish(),
        "mcp exits cleanly when the client closes stdin"
    );
}
