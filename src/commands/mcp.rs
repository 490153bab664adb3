//! `semsearch mcp`: a Model Context Protocol server on stdin/stdout (rmcp),
//! so AI agents can search the index. Tools `search`, `similar`, `compare`
//! and `status`; each answers with structured content (the objects the
//! CLI's `--json` prints) and the same as text. Like `serve`, it loads the
//! model once and follows the index as it is updated.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool, tool_handler, tool_router, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use semsearch_searcher::{Mode, SearchConfig};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::cli::McpArgs;
use crate::output::Outcome;
use crate::printer::{comparison_json, JsonResult, Printer};
use crate::server::state::{follow, Loaded};
use crate::server::State;
use crate::signals::Stop;

/// Most results a tool call may ask for, as the HTTP API.
const MAX_K: usize = crate::server::api::MAX_K;

#[derive(Debug, Deserialize, JsonSchema)]
struct SearchParams {
    /// What to look for, in your own words.
    query: String,
    /// Results wanted (1 to 1000; default 10).
    k: Option<usize>,
    /// lexical (BM25 over words), semantic (meaning: sentence embeddings)
    /// or hybrid (both, fused; the default). Parsed as the CLI's `--mode`.
    #[schemars(extend("enum" = ["lexical", "semantic", "hybrid"]))]
    mode: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct SimilarParams {
    /// A document id, as the `id` of a search result.
    id: String,
    /// Results wanted (1 to 1000; default 10).
    k: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct CompareParams {
    /// What to look for, in your own words.
    query: String,
    /// Depth of each ranking (1 to 1000; default 10).
    k: Option<usize>,
}

/// The MCP service: the server's state and the tools.
#[derive(Clone)]
struct Tools {
    state: Arc<State>,
    tool_router: ToolRouter<Self>,
}

fn k_of(k: Option<usize>) -> Result<usize, String> {
    let k = k.unwrap_or(SearchConfig::default().k);
    if (1..=MAX_K).contains(&k) {
        Ok(k)
    } else {
        Err(format!("k must be 1 to {MAX_K}, not {k}"))
    }
}

impl Tools {
    /// Run `f` on the current index off the async threads; an error
    /// becomes a tool error the agent reads.
    async fn on_index(
        &self,
        f: impl FnOnce(&Loaded) -> Result<(Value, String), String> + Send + 'static,
    ) -> CallToolResult {
        let run = async {
            let loaded = self.state.current()?;
            let _permit = self.state.permit().await;
            tokio::task::spawn_blocking(move || f(&loaded))
                .await
                .map_err(|e| crate::output::chain(&e))?
        };
        match run.await {
            Ok((value, text)) => {
                let mut r = CallToolResult::structured(value);
                r.content = vec![ContentBlock::text(text)];
                r
            }
            Err(e) => CallToolResult::error(vec![ContentBlock::text(e)]),
        }
    }
}

/// What the CLI's plain-text printer writes, as a string.
fn plain_text(
    print: impl FnOnce(&Printer, &mut Vec<u8>) -> std::io::Result<()>,
) -> Result<String, String> {
    let printer = Printer {
        json: false,
        color: false,
        explain: false,
    };
    let mut text = Vec::new();
    print(&printer, &mut text).map_err(|e| crate::output::chain(&e))?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// Results as the `--json` objects, and as the CLI prints them.
fn results_answer(results: &[semsearch_searcher::SearchResult]) -> Result<(Value, String), String> {
    let json: Vec<JsonResult> = results.iter().map(|r| JsonResult::new(r, false)).collect();
    // Through text, as the CLI and HTTP write it: a `Value` made from the
    // struct widens each f32 score to f64 digits (1.1923218 would read
    // 1.19232177734375), so the same result would differ between faces.
    let json = serde_json::to_string(&json)
        .and_then(|t| serde_json::from_str::<Value>(&t))
        .map_err(|e| crate::output::chain(&e))?;
    let text = plain_text(|p, out| p.results(out, results))?;
    Ok((json!({ "results": json }), text))
}

#[tool_router(router = tool_router)]
impl Tools {
    fn new(state: Arc<State>) -> Self {
        Tools {
            state,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        name = "search",
        description = "Search the indexed documents by meaning and words. Returns the best \
                       documents with path, title, line or page, score and a snippet."
    )]
    async fn search(&self, Parameters(p): Parameters<SearchParams>) -> CallToolResult {
        self.on_index(move |l| {
            let cfg = SearchConfig {
                k: k_of(p.k)?,
                mode: match p.mode.as_deref() {
                    Some(m) => m.parse::<Mode>()?,
                    None => SearchConfig::default().mode,
                },
                ..SearchConfig::default()
            };
            let results = l
                .searcher
                .results(&p.query, &cfg)
                .map_err(|e| crate::output::chain(&e))?;
            results_answer(&results)
        })
        .await
    }

    #[tool(
        name = "similar",
        description = "Documents most like a given one (by its id from a search result)."
    )]
    async fn similar(&self, Parameters(p): Parameters<SimilarParams>) -> CallToolResult {
        self.on_index(move |l| {
            let k = k_of(p.k)?;
            let doc = l
                .searcher
                .position(&p.id)
                .map_err(|e| crate::output::chain(&e))?
                .ok_or_else(|| format!("no document with id {:?} in the index", p.id))?;
            let results = l
                .searcher
                .similar_results(doc, k)
                .map_err(|e| crate::output::chain(&e))?;
            results_answer(&results)
        })
        .await
    }

    #[tool(
        name = "compare",
        description = "TF-IDF, BM25, LSA, semantic and hybrid rankings of one query side by side, \
                       with their overlap and rank-biased overlap."
    )]
    async fn compare(&self, Parameters(p): Parameters<CompareParams>) -> CallToolResult {
        self.on_index(move |l| {
            let cfg = SearchConfig {
                k: k_of(p.k)?,
                ..SearchConfig::default()
            };
            let c = l
                .searcher
                .compare(&p.query, &cfg)
                .map_err(|e| crate::output::chain(&e))?;
            let text = plain_text(|p, out| p.comparison(out, &c))?;
            Ok((comparison_json(&c), text))
        })
        .await
    }

    #[tool(
        name = "status",
        description = "What the index holds: model, documents, passages, size, last update."
    )]
    async fn status(&self) -> CallToolResult {
        let dir = self.state.dir().to_path_buf();
        self.on_index(move |l| {
            let v = crate::commands::status::served_json(&dir, l.searcher.as_ref());
            let passages = match &v["passages"] {
                serde_json::Value::Null => String::new(),
                n => format!(", {n} passages"),
            };
            let text = format!(
                "{} documents{passages}, model {}",
                v["documents"], v["model"]["id"]
            );
            Ok((v, text))
        })
        .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("semsearch", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Search the user's indexed documents by meaning: call `search` with a \
                 question in plain words; `similar` with a result's id finds related \
                 documents.",
            )
    }
}

pub fn run(args: McpArgs) -> anyhow::Result<Outcome> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let state = match super::store_urls(&args.store)? {
        Some(urls) => State::for_store(urls, workers),
        None => State::new(
            super::find_index(args.index.index.as_deref())?,
            None,
            workers,
        ),
    };
    if let Err(why) = state.current() {
        // stdout is the protocol's: diagnostics go to stderr.
        eprintln!("semsearch: {why}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let stop = Stop::install()?;
    let signalled = stop.clone();
    let result = runtime.block_on(async move {
        tokio::spawn(follow(state.clone()));
        let serve = async {
            let service = Tools::new(state)
                .serve(rmcp::transport::stdio())
                .await
                .map_err(|e| anyhow::anyhow!("MCP handshake failed: {e}"))?;
            service.waiting().await?;
            anyhow::Ok(())
        };
        // A signal ends the session where it is: tool calls only read.
        tokio::select! {
            done = serve => done,
            _ = signalled.wait() => Ok(()),
        }
    });
    // Not waiting for the blocking read of stdin that a signal leaves
    // pending (dropping the runtime would, until the client writes).
    runtime.shutdown_background();
    result?;
    Ok(Outcome::unless_stopped(&stop))
}
