//! `semsearch compare`: TF-IDF, BM25, LSA, semantic and hybrid side by side.

use crate::cli::CompareArgs;
use crate::output::Outcome;
use crate::printer::Printer;

pub fn run(args: CompareArgs) -> anyhow::Result<Outcome> {
    let cfg = args.rank.config()?;
    let searcher = super::open_store(&args.store, true, || {
        super::find_index(args.index.index.as_deref())
    })?;
    let c = searcher.compare(&args.query, &cfg)?;
    let printer = Printer {
        json: args.json,
        color: false,
        explain: false,
    };
    printer.comparison(&mut std::io::stdout().lock(), &c)?;
    Ok(if c.is_empty() {
        Outcome::NoResults
    } else {
        Outcome::Success
    })
}
