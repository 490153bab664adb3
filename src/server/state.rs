//! What the server holds: the opened index (reopened at each new
//! generation), the one loaded model, and the permits of the search pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use semsearch_indexer::pg::Urls;
use semsearch_indexer::{Index, Manifest};
use semsearch_models::Embedder;
use semsearch_searcher::{PgSearcher, Searcher, Store};
use tokio::sync::Semaphore;

/// How often the manifest is looked at: a new generation is served within
/// this long of its commit.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// One opened generation, shared by the requests that use it.
pub struct Loaded {
    /// The searcher over it (a folder index's, or a store's).
    pub searcher: Box<dyn Store>,
    /// The corpus map, computed on first request (PCA and k-means over
    /// every document vector: worth keeping).
    pub map: OnceLock<Arc<semsearch_searcher::layout::Layout>>,
}

/// The server's state.
pub struct State {
    dir: PathBuf,
    /// A shared store served instead of the folder `dir`.
    store: Option<Urls>,
    current: RwLock<Option<Arc<Loaded>>>,
    /// The manifest's (modified time, length) when `current` was opened.
    seen: RwLock<Option<(SystemTime, u64)>>,
    embedder: RwLock<Option<Arc<Embedder>>>,
    /// Why the last open failed, for 503 answers.
    problem: RwLock<Option<String>>,
    permits: Semaphore,
}

/// A copy of what `lock` holds. A panic while holding a lock cannot leave
/// these values half-made (each is replaced whole), so poisoning is ignored.
fn get<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(PoisonError::into_inner).clone()
}

fn set<T>(lock: &RwLock<T>, value: T) {
    *lock.write().unwrap_or_else(PoisonError::into_inner) = value;
}

fn stamp(dir: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(Manifest::path(dir)).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl State {
    /// Serve the index in `dir` (which may not exist yet: the API answers
    /// 503 until it does), with `embedder` if already loaded.
    pub fn new(dir: PathBuf, embedder: Option<Arc<Embedder>>, workers: usize) -> Arc<State> {
        Self::with_store(dir, None, embedder, workers)
    }

    /// Serve the shared store at `urls` (its label stands for the folder).
    pub fn for_store(urls: Urls, workers: usize) -> Arc<State> {
        Self::with_store(urls.label(), Some(urls), None, workers)
    }

    fn with_store(
        dir: PathBuf,
        store: Option<Urls>,
        embedder: Option<Arc<Embedder>>,
        workers: usize,
    ) -> Arc<State> {
        let state = Arc::new(State {
            dir,
            store,
            current: RwLock::new(None),
            seen: RwLock::new(None),
            embedder: RwLock::new(embedder),
            problem: RwLock::new(None),
            permits: Semaphore::new(workers.max(1)),
        });
        state.reload_if_changed();
        state
    }

    /// The index folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The generation being served, or why there is none.
    pub fn current(&self) -> Result<Arc<Loaded>, String> {
        if let Some(l) = get(&self.current) {
            return Ok(l);
        }
        Err(get(&self.problem).unwrap_or_else(|| {
            format!(
                "no index in {} yet: run `semsearch index FOLDER --index {}`",
                self.dir.display(),
                self.dir.display()
            )
        }))
    }

    /// A permit of the search pool (waits for one).
    pub async fn permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.permits.acquire().await.expect("never closed")
    }

    /// Reopen the index if its manifest changed since it was opened.
    pub fn reload_if_changed(&self) {
        if let Some(urls) = &self.store {
            // A store is read live: opened once, never reopened.
            if get(&self.current).is_none() {
                match PgSearcher::open(urls) {
                    Ok(s) => set(
                        &self.current,
                        Some(Arc::new(Loaded {
                            searcher: Box::new(s),
                            map: OnceLock::new(),
                        })),
                    ),
                    Err(e) => set(
                        &self.problem,
                        Some(format!("cannot open store {}: {e:#}", self.dir.display())),
                    ),
                }
            }
            return;
        }
        let now = stamp(&self.dir);
        if now.is_none() || now == get(&self.seen) {
            return;
        }
        match self.open() {
            Ok(loaded) => {
                set(&self.current, Some(Arc::new(loaded)));
                set(&self.problem, None);
                set(&self.seen, now);
            }
            // Keep serving the generation already open; a half-written
            // index cannot be seen (the manifest swap is atomic), so this
            // is a real problem, reported by /api/status and 503s if
            // nothing was open.
            Err(e) => {
                set(
                    &self.problem,
                    Some(format!("cannot open index {}: {e:#}", self.dir.display())),
                );
                set(&self.seen, now);
            }
        }
    }

    fn open(&self) -> anyhow::Result<Loaded> {
        let index = Index::open(&self.dir)?;
        let held = get(&self.embedder);
        let searcher = match held {
            Some(e) if index.manifest().check_model(index.dir(), e.info()).is_ok() => {
                Searcher::with_embedder(index, e)?
            }
            // First open, or the index was rebuilt with another model.
            _ => {
                let model = index.model();
                let e = Arc::new(model.load()?);
                set(&self.embedder, Some(e.clone()));
                Searcher::with_embedder(index, e)?
            }
        };
        Ok(Loaded {
            searcher: Box::new(searcher),
            map: OnceLock::new(),
        })
    }
}

/// Look at the manifest every [`FOLLOW_EVERY`] and reopen on change.
pub async fn follow(state: Arc<State>) {
    let mut tick = tokio::time::interval(FOLLOW_EVERY);
    loop {
        tick.tick().await;
        let s = state.clone();
        // Opening reads the manifest and maps files: off the async threads.
        let _ = tokio::task::spawn_blocking(move || s.reload_if_changed()).await;
    }
}
