//! The JSON API. Parameters are the CLI's flags (`q`, `mode`, `lexical`,
//! `fusion`, `alpha`, `rrf_k`, `norm`, `k`, `candidates`, `exact`,
//! `query_tf`, `feedback`, `collapse`, `path`, `plus`, `minus`, `min_score`, `weak`,
//! `explain`);
//! each result is the object
//! `search --json` prints. Documents are named by id only: no parameter
//! ever reaches the filesystem.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{RawQuery, State as Shared};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use semsearch_searcher::layout::{layout, Grouping};
use semsearch_searcher::{Fusion, SearchConfig};
use serde_json::json;

use super::state::{Loaded, State};
use crate::printer::{comparison_json, JsonResult};

/// Most results one request may ask for.
pub const MAX_K: usize = semsearch_searcher::SearchConfig::MAX_K;
/// Longest query, in bytes.
pub const MAX_QUERY: usize = 2048;

/// An error answered as `{"error": message}` with `status`.
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, for people.
    pub message: String,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
    }
}

/// A JSON error response.
pub fn error(status: StatusCode, message: String) -> Response {
    (
        status,
        Json(json!({"error": message, "status": status.as_u16()})),
    )
        .into_response()
}

/// Unknown `/api/...` routes.
pub async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "no such endpoint: see README.md, \"HTTP API\"".into(),
    }
}

type Answer = Result<Response, ApiError>;

/// Serialised here rather than through `serde_json::Value`, which would
/// widen every f32 score to f64 digits and differ from `search --json`.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: e.to_string(),
    })
}

fn respond(body: String) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `{"<key>": <key_value>, "results": [...], "took_ms": ...}`
#[derive(serde::Serialize)]
struct Answered<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    results: Vec<JsonResult<'a>>,
    took_ms: f64,
}

/// The parameters, in order; keys may repeat.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: Option<String>) -> Params {
        let raw = raw.unwrap_or_default();
        Params(
            form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn parsed<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(key)
            .map(|v| v.parse::<T>().map_err(|e| bad(format!("{key}={v:?}: {e}"))))
            .transpose()
    }

    fn flag(&self, key: &str) -> Result<bool, ApiError> {
        self.flag_or(key, false)
    }

    /// A true/false parameter, `default` when absent.
    fn flag_or(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some("false" | "0") => Ok(false),
            Some("" | "true" | "1") => Ok(true),
            Some(v) => Err(bad(format!("{key}={v:?}: expected true or false"))),
        }
    }

    fn query(&self) -> Result<String, ApiError> {
        let q = self.get("q").unwrap_or_default();
        if q.trim().is_empty() {
            return Err(bad("q is missing: /api/search?q=your+question"));
        }
        if q.len() > MAX_QUERY {
            return Err(bad(format!("q is over {MAX_QUERY} bytes")));
        }
        Ok(q.to_string())
    }

    fn k(&self, default: usize) -> Result<usize, ApiError> {
        let k = self.parsed::<usize>("k")?.unwrap_or(default);
        if !(1..=MAX_K).contains(&k) {
            return Err(bad(format!("k={k}: expected 1 to {MAX_K}")));
        }
        Ok(k)
    }

    /// The search configuration: the CLI's defaults, then the parameters.
    fn config(&self) -> Result<SearchConfig, ApiError> {
        let mut c = SearchConfig::default();
        if let Some(m) = self.parsed("mode")? {
            c.mode = m;
        }
        if let Some(l) = self.parsed("lexical")? {
            c.lexical = l;
        }
        let alpha = self
            .parsed::<f32>("alpha")?
            .unwrap_or(SearchConfig::DEFAULT_ALPHA);
        if !(0.0..=1.0).contains(&alpha) {
            return Err(bad("alpha: expected a number from 0 to 1"));
        }
        let norm = self.parsed("norm")?.unwrap_or(SearchConfig::DEFAULT_NORM);
        let rrf_k = self
            .parsed::<f32>("rrf_k")?
            .unwrap_or(SearchConfig::DEFAULT_RRF_K);
        if rrf_k.is_nan() || rrf_k < 0.0 {
            return Err(bad("rrf_k: expected a number of 0 or more"));
        }
        let linear = matches!(c.fusion, Fusion::Linear { .. });
        c.fusion = match self.get("fusion") {
            Some("rrf") => Fusion::Rrf { k: rrf_k },
            Some("linear") => Fusion::Linear { alpha, norm },
            None if linear => Fusion::Linear { alpha, norm },
            None => Fusion::Rrf { k: rrf_k },
            Some(f) => return Err(bad(format!("fusion={f:?}: expected linear or rrf"))),
        };
        c.k = self.k(c.k)?;
        if let Some(n) = self.parsed::<usize>("candidates")? {
            c.candidates = n;
        }
        c.exact = self.flag("exact")?;
        c.query_tf = self.flag("query_tf")?;
        if self.flag_or("feedback", c.feedback.is_some())? {
            c.feedback.get_or_insert_with(Default::default);
        } else {
            c.feedback = None;
        }
        c.collapse = self.flag_or("collapse", c.collapse)?;
        c.paths = self.all("path");
        c.min_score = self.parsed("min_score")?;
        c.weak = self.parsed("weak")?.unwrap_or(c.weak);
        c.arithmetic.plus = self.all("plus");
        c.arithmetic.minus = self.all("minus");
        c.validate().map_err(search_error)?;
        Ok(c)
    }
}

/// Run `f` on the current generation in the search pool.
async fn on_index<T: Send + 'static>(
    state: &Arc<State>,
    f: impl FnOnce(&Loaded) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let loaded = state.current().map_err(|message| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message,
    })?;
    let _permit = state.permit().await;
    tokio::task::spawn_blocking(move || f(&loaded))
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("the search failed: {e}"),
        })?
}

/// A searcher error: the user's (400) or the index's (500).
fn search_error(e: semsearch_searcher::SearchError) -> ApiError {
    use semsearch_searcher::SearchError as E;
    let status = match e {
        // What the request asked of an index that cannot do it (TF-IDF on
        // a store) is the request's fault too.
        E::EmptyQuery
        | E::EmptyTerm
        | E::ArithmeticWithoutVectors
        | E::Glob { .. }
        | E::Setting { .. }
        | E::Unsupported { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError {
        status,
        message: crate::output::chain(&e),
    }
}

/// The folder index behind `loaded`, for what a store does not offer.
fn folder<'a>(
    loaded: &'a Loaded,
    what: &str,
) -> Result<&'a semsearch_searcher::Searcher, ApiError> {
    loaded.searcher.folder().ok_or_else(|| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: format!("{what} needs a folder index; this server serves a store"),
    })
}

/// Documents are named by id, never by path.
fn doc_by_id(loaded: &Loaded, id: &str) -> Result<usize, ApiError> {
    let found = loaded.searcher.position(id).map_err(search_error)?;
    found.ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("no document with id {id:?} in the index"),
    })
}

fn ms(start: Instant) -> f64 {
    (start.elapsed().as_secs_f64() * 1e3 * 100.0).round() / 100.0
}

/// `GET /api/search?q=...`
pub async fn search(Shared(state): Shared<Arc<State>>, RawQuery(raw): RawQuery) -> Answer {
    let p = Params::parse(raw);
    let (q, cfg, explain) = (p.query()?, p.config()?, p.flag("explain")?);
    let start = Instant::now();
    let body = on_index(&state, move |l| {
        let results = l.searcher.results(&q, &cfg).map_err(search_error)?;
        to_json(&Answered {
            query: Some(&q),
            id: None,
            results: results
                .iter()
                .map(|r| JsonResult::new(r, explain))
                .collect(),
            took_ms: ms(start),
        })
    })
    .await?;
    Ok(respond(body))
}

/// `GET /api/compare?q=...`: the five rankings, as `compare --json`.
pub async fn compare(Shared(state): Shared<Arc<State>>, RawQuery(raw): RawQuery) -> Answer {
    let p = Params::parse(raw);
    let (q, cfg) = (p.query()?, p.config()?);
    let start = Instant::now();
    let body = on_index(&state, move |l| {
        let c = l.searcher.compare(&q, &cfg).map_err(search_error)?;
        let mut v = comparison_json(&c);
        v["took_ms"] = json!(ms(start));
        to_json(&v)
    })
    .await?;
    Ok(respond(body))
}

/// `GET /api/similar?id=DOC&k=N`: documents like document `id`.
pub async fn similar(Shared(state): Shared<Arc<State>>, RawQuery(raw): RawQuery) -> Answer {
    let p = Params::parse(raw);
    let id = p.get("id").ok_or_else(|| bad("id is missing"))?.to_string();
    let k = p.k(SearchConfig::default().k)?;
    let start = Instant::now();
    let body = on_index(&state, move |l| {
        let doc = doc_by_id(l, &id)?;
        let results = l.searcher.similar_results(doc, k).map_err(search_error)?;
        to_json(&Answered {
            query: None,
            id: Some(&id),
            results: results.iter().map(|r| JsonResult::new(r, false)).collect(),
            took_ms: ms(start),
        })
    })
    .await?;
    Ok(respond(body))
}

/// `GET /api/status`: `status --json`, or 503 with the reason.
pub async fn status(Shared(state): Shared<Arc<State>>) -> Answer {
    let dir = state.dir().to_path_buf();
    let body = on_index(&state, move |l| {
        to_json(&crate::commands::status::served_json(
            &dir,
            l.searcher.as_ref(),
        ))
    })
    .await?;
    Ok(respond(body))
}

/// `GET /api/map`: every document's 2-D coordinates, title and group
/// (clusters named by their distinctive words); with `q=`, also the
/// query's coordinates and its top hits' (`k`, the search's settings).
pub async fn map(Shared(state): Shared<Arc<State>>, RawQuery(raw): RawQuery) -> Answer {
    let p = Params::parse(raw);
    let query = match p.get("q") {
        Some(_) => Some((p.query()?, p.config()?)),
        None => None,
    };
    let body = on_index(&state, move |l| {
        let index = folder(l, "the map")?.index();
        let m = match l.map.get() {
            Some(m) => m.clone(),
            None => {
                let m = Arc::new(layout(index, Grouping::Auto, 8, 2).map_err(search_error)?);
                l.map.get_or_init(|| m).clone()
            }
        };
        let placed = match query {
            None => None,
            Some((q, cfg)) => {
                let embedder = l.searcher.embedder().map_err(search_error)?;
                let vector = embedder.embed_queries(&[&q]).map_err(|e| ApiError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: format!("cannot embed the query: {e}"),
                })?;
                let hits = l.searcher.search(&q, &cfg).map_err(search_error)?;
                let ranked: Vec<(usize, String)> =
                    hits.into_iter().map(|h| (h.rank, h.id)).collect();
                Some(m.place(&q, &vector[0], &ranked))
            }
        };
        let mut v = serde_json::to_value(&*m).map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        })?;
        v["query"] = serde_json::to_value(placed).unwrap_or_default();
        to_json(&v)
    })
    .await?;
    Ok(respond(body))
}

/// `GET /api/document?id=DOC`: a document's extracted text.
pub async fn document(Shared(state): Shared<Arc<State>>, RawQuery(raw): RawQuery) -> Answer {
    let p = Params::parse(raw);
    let id = p.get("id").ok_or_else(|| bad("id is missing"))?.to_string();
    let body = on_index(&state, move |l| {
        let doc = doc_by_id(l, &id)?;
        let (_, entry, text) = l
            .searcher
            .document(doc)
            .map_err(search_error)?
            .ok_or_else(|| bad("the document is gone"))?;
        to_json(&json!({
            "id": id,
            "title": entry.title,
            "path": entry.path.as_deref().map(crate::printer::display_path),
            "text": text,
        }))
    })
    .await?;
    Ok(respond(body))
}
