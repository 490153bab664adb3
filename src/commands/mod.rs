//! One module per subcommand.

mod bench;
mod bench_ann;
mod bench_extract;
mod bench_serve;
mod compare;
mod completions;
mod embed;
mod eval;
mod index;
mod man;
mod map;
mod mcp;
mod repl;
mod search;
mod serve;
mod similar;
pub(crate) mod status;
mod watch;

use crate::cli::{Cli, Command};
use crate::output::Outcome;

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let Some(command) = cli.command else {
        return repl::run_default();
    };
    match command {
        Command::Index(args) => index::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Search(args) => search::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Repl(args) => repl::run(args),
        Command::Status(args) => status::run(args),
        Command::Embed(args) => embed::run(args),
        Command::Similar(args) => similar::run(args),
        Command::Map(args) => map::run(args),
        Command::BenchAnn(args) => bench_ann::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man => man::run(),
        Command::Serve(args) => serve::run(args),
        Command::Mcp(args) => mcp::run(args),
        Command::Bench(crate::cli::BenchCommand::Embed(args)) => bench::run(args),
        Command::Bench(crate::cli::BenchCommand::Search(args)) => bench::run_search(args),
        Command::Bench(crate::cli::BenchCommand::Extract(args)) => bench_extract::run(args),
        Command::Bench(crate::cli::BenchCommand::Serve(args)) => bench_serve::run(args),
    }
}

/// Read the "text" field of every line of a JSON Lines file (or `.gz`).
pub(crate) fn read_jsonl_texts(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Line {
        text: String,
    }
    let lines: Vec<Line> =
        semsearch_indexer::jsonl::read_all(path, r#"a JSON object with a "text" field"#)?;
    Ok(lines.into_iter().map(|l| l.text).collect())
}

/// The index folder: `--index`, else `SEMSEARCH_INDEX` or the nearest
/// `.semsearch/` upwards from the current folder.
pub(crate) fn find_index(explicit: Option<&std::path::Path>) -> anyhow::Result<std::path::PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    let cwd = std::env::current_dir()?;
    semsearch_indexer::store::discover(&cwd).ok_or_else(|| {
        anyhow::anyhow!(
            "no semsearch index found in {} or its parents: run `semsearch index FOLDER`, \
             or pass --index DIR",
            cwd.display()
        )
    })
}

/// What to search: the shared store of `--store`, else the index folder
/// `dir()` gives, its model loaded as it opens when `embeds` (a command
/// that embeds queries), else only if a query needs it.
pub(crate) fn open_store(
    store: &crate::cli::StoreArgs,
    embeds: bool,
    dir: impl FnOnce() -> anyhow::Result<std::path::PathBuf>,
) -> anyhow::Result<Box<dyn semsearch_searcher::Store>> {
    use anyhow::Context;
    if let Some(urls) = store_urls(store)? {
        let open = match embeds {
            true => semsearch_searcher::PgSearcher::open,
            false => semsearch_searcher::PgSearcher::open_lazily,
        };
        let mut s =
            open(&urls).with_context(|| format!("cannot open store {}", urls.label().display()))?;
        if let Some(ef) = store.ef_search {
            s.set_ef_search(ef);
        }
        return Ok(Box::new(s));
    }
    Ok(Box::new(open_folder(&dir()?, embeds)?))
}

/// The index folder `dir`, with its model loaded beside it when `embeds`;
/// else the model loads at the first query that needs it (a lexical
/// search or `similar` never does: they neither wait for it nor need its
/// files).
pub(crate) fn open_folder(
    dir: &std::path::Path,
    embeds: bool,
) -> anyhow::Result<semsearch_searcher::Searcher> {
    use anyhow::Context;
    let open = match embeds {
        true => semsearch_searcher::Searcher::open,
        false => semsearch_searcher::Searcher::open_lazily,
    };
    open(dir).with_context(|| format!("cannot open index {}", dir.display()))
}

/// The store's URLs, when `--store` (or `SEMSEARCH_STORE`) names one.
pub(crate) fn store_urls(
    store: &crate::cli::StoreArgs,
) -> anyhow::Result<Option<semsearch_indexer::pg::Urls>> {
    if store.store.iter().all(|s| s.trim().is_empty()) {
        return Ok(None);
    }
    Ok(Some(semsearch_indexer::pg::Urls::parse(&store.store)?))
}
