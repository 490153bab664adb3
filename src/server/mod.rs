//! `semsearch serve`'s HTTP face: a JSON API over the searcher and the web
//! page, in one process that loads the model once and follows the index.
//!
//! - Every search runs on tokio's blocking pool behind a semaphore of
//!   `workers` permits: requests past that wait their turn instead of
//!   failing, and the async threads stay free to accept connections.
//! - The index is reopened when its manifest changes (a new generation
//!   committed by `index` or `watch`); requests in flight keep the
//!   generation they started with (an `Arc`), which stays on disk until
//!   the next commit.
//! - Loopback unless a token is set; no CORS headers; bounded requests.

pub mod api;
mod page;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub use state::State;

/// Bytes of a request's query string: a long question fits many times.
pub const MAX_QUERY_STRING: usize = 16 * 1024;
/// Bodies are not read by any route; anything sent is refused past this.
const MAX_BODY: usize = 16 * 1024;

/// Who may call and where the server listens.
pub struct Options {
    /// Listen address.
    pub addr: SocketAddr,
    /// Bearer token every API request must carry, if set.
    pub token: Option<String>,
    /// Searches at once.
    pub workers: usize,
    /// The signal handlers' stop request: the server stops accepting,
    /// finishes the requests in flight and returns.
    pub stop: crate::signals::Stop,
}

/// The routes, over `state`.
pub fn router(state: Arc<State>, token: Option<String>) -> Router {
    let api = Router::new()
        .route("/api/search", get(api::search))
        .route("/api/compare", get(api::compare))
        .route("/api/similar", get(api::similar))
        .route("/api/status", get(api::status))
        .route("/api/map", get(api::map))
        .route("/api/document", get(api::document))
        .fallback(api::not_found)
        .layer(middleware::from_fn_with_state(
            token.map(Arc::new),
            require_token,
        ))
        .with_state(state);
    Router::new()
        .route("/", get(page::index))
        .route("/app.js", get(page::script))
        .route("/style.css", get(page::style))
        .merge(api)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(limits_and_headers))
}

/// Refuse oversized requests; tell browsers to run nothing but our own
/// script and not to guess content types.
async fn limits_and_headers(req: Request<axum::body::Body>, next: Next) -> Response {
    if req
        .uri()
        .query()
        .is_some_and(|q| q.len() > MAX_QUERY_STRING)
    {
        return api::error(
            StatusCode::URI_TOO_LONG,
            format!("the query string is over {MAX_QUERY_STRING} bytes"),
        );
    }
    let too_big = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY);
    if too_big {
        return api::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request bodies are limited to {MAX_BODY} bytes"),
        );
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

async fn require_token(
    axum::extract::State(token): axum::extract::State<Option<Arc<String>>>,
    req: Request<axum::body::Body>,
    next: Next,
) -> Response {
    if let Some(token) = token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            let mut res = api::error(
                StatusCode::UNAUTHORIZED,
                "this server needs `Authorization: Bearer TOKEN`".into(),
            );
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return res;
        }
    }
    next.run(req).await
}

/// Compare without an early exit, so response times do not tell how much
/// of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serve until `opts.stop` (SIGINT or SIGTERM). `ready` is called with the
/// bound address once the socket listens.
pub fn serve(
    state: Arc<State>,
    opts: Options,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    if !opts.addr.ip().is_loopback() && opts.token.is_none() {
        anyhow::bail!(
            "{} is reachable from other machines: pass --token TOKEN (or set \
             SEMSEARCH_TOKEN) so that only clients holding it can search, or \
             listen on 127.0.0.1",
            opts.addr
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(opts.workers.max(1) + 2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", opts.addr))?;
        ready(listener.local_addr()?);
        tokio::spawn(state::follow(state.clone()));
        let app = router(state, opts.token);
        let stop = opts.stop.clone();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.wait().await })
            .await?;
        Ok(())
    })
}

impl IntoResponse for api::ApiError {
    fn into_response(self) -> Response {
        api::error(self.status, self.message)
    }
}
