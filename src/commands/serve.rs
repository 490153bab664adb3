//! `semsearch serve`: the HTTP API and web page (src/server/).

use std::sync::Arc;

use anyhow::Context;
use semsearch_indexer::store::INDEX_DIR_NAME;
use semsearch_indexer::watch::{watch, WatchEvent};
use semsearch_indexer::Indexer;

use crate::cli::ServeArgs;
use crate::output::Outcome;
use crate::server::{serve, Options, State};
use crate::signals::Stop;

pub fn run(args: ServeArgs) -> anyhow::Result<Outcome> {
    let stop = Stop::install()?;
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    if let Some(urls) = super::store_urls(&args.store)? {
        anyhow::ensure!(
            args.folder.is_none(),
            "FOLDER and --store: index the folder into the store with \
             `semsearch index FOLDER --store URL`, then serve the store"
        );
        let dir = urls.label();
        return serve_state(State::for_store(urls, workers), dir, workers, &args, stop);
    }
    let (dir, embedder) = match (&args.index.index, &args.folder) {
        (None, Some(folder)) if args.watch => {
            let dir = folder.join(INDEX_DIR_NAME);
            let (embedder, opts) = super::index::folder_options(folder, &dir)?;
            let embedder = Arc::new(embedder);
            follow_folder(embedder.clone(), opts, args.quiet, &stop);
            (dir, Some(embedder))
        }
        (None, Some(folder)) => {
            let dir = folder.join(INDEX_DIR_NAME);
            let embedder = super::index::refresh(folder, &dir)?;
            (dir, Some(Arc::new(embedder)))
        }
        (Some(dir), _) => (dir.clone(), None),
        (None, None) => (super::find_index(None)?, None),
    };
    serve_state(
        State::new(dir.clone(), embedder, workers),
        dir,
        workers,
        &args,
        stop,
    )
}

/// Serve `state` (of the index `dir`) until stopped.
fn serve_state(
    state: Arc<State>,
    dir: std::path::PathBuf,
    workers: usize,
    args: &ServeArgs,
    stop: Stop,
) -> anyhow::Result<Outcome> {
    if let Err(why) = state.current() {
        eprintln!("semsearch: {why}; answering 503 until it can be opened");
    }
    let opts = Options {
        addr: args.addr,
        token: args.token.clone(),
        workers,
        stop: stop.clone(),
    };
    let quiet = args.quiet;
    serve(state, opts, |addr| {
        // The one line a script or test waits for, on stdout.
        println!("http://{addr}/");
        if !quiet {
            eprintln!(
                "semsearch: serving {} at http://{addr}/ ({workers} workers; Ctrl-C to stop)",
                dir.display()
            );
        }
    })
    .with_context(|| "the server stopped")?;
    Ok(Outcome::unless_stopped(&stop))
}

/// Run the watch engine on its own thread: it indexes the folder, then
/// commits a generation per change, which the server picks up.
fn follow_folder(
    embedder: Arc<semsearch_models::Embedder>,
    mut opts: semsearch_indexer::UpdateOptions,
    quiet: bool,
    stop: &Stop,
) {
    // The watch ends with the server; an update in flight commits what it
    // embedded unless the process exits first (commits are atomic).
    let stop = stop.flag();
    opts.stop = Some(stop.clone());
    std::thread::spawn(move || {
        let dir = opts.index_dir.clone();
        let result = Indexer::open(&embedder, opts).and_then(|mut indexer| {
            watch(&mut indexer, &dir, &stop, &mut |e| {
                if let WatchEvent::Updated(r) = e {
                    if !quiet && r.added + r.updated + r.removed > 0 {
                        eprintln!(
                            "semsearch: index updated: {} added, {} updated, {} removed",
                            r.added, r.updated, r.removed
                        );
                    }
                }
            })
        });
        if let Err(e) = result {
            eprintln!("semsearch: watching into {} failed: {e}", dir.display());
        }
    });
}
