//! `semsearch search`: one query, ranked documents with snippets.

use std::io::Write;

use anyhow::Context;
use semsearch_indexer::store::INDEX_DIR_NAME;
use semsearch_searcher::{Searcher, Store};

use crate::cli::SearchArgs;
use crate::output::Outcome;
use crate::printer::{use_color, Printer};

pub fn run(args: SearchArgs) -> anyhow::Result<Outcome> {
    let mut cfg = args.rank.config()?;
    cfg.arithmetic.plus = args.plus.clone();
    cfg.arithmetic.minus = args.minus.clone();
    // A lexical search needs no query vector: the model is not waited for.
    let embeds = cfg.mode != semsearch_searcher::Mode::Lexical;
    let searcher: Box<dyn Store> = match (&args.index.index, &args.folder) {
        _ if super::store_urls(&args.store)?.is_some() => {
            if let Some(folder) = &args.folder {
                anyhow::bail!(
                    "FOLDER and --store: index {} into the store first, with \
                     `semsearch index {} --store URL`, then search without FOLDER",
                    folder.display(),
                    folder.display()
                );
            }
            super::open_store(&args.store, embeds, || unreachable!("a store is named"))?
        }
        (None, Some(folder)) => {
            let dir = folder.join(INDEX_DIR_NAME);
            let embedder = super::index::refresh(folder, &dir)?;
            let index = semsearch_indexer::Index::open(&dir)
                .with_context(|| format!("cannot open index {}", dir.display()))?;
            Box::new(Searcher::with_embedder(index, embedder)?)
        }
        (explicit, _) => {
            let dir = match explicit {
                Some(d) => d.clone(),
                None => super::find_index(None)?,
            };
            Box::new(super::open_folder(&dir, embeds)?)
        }
    };
    let results = searcher.results(&args.query, &cfg)?;
    let printer = Printer {
        json: args.json,
        color: use_color(args.color),
        explain: args.explain,
    };
    let mut out = std::io::stdout().lock();
    if args.explain && !args.json && !cfg.arithmetic.is_empty() {
        writeln!(
            out,
            "semantic query: {}",
            cfg.arithmetic.describe(&args.query)
        )?;
    }
    printer.results(&mut out, &results)?;
    Ok(Outcome::of(&results))
}
