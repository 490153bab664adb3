//! `semsearch similar`: documents like a given one.

use anyhow::Context;

use crate::cli::SimilarArgs;
use crate::output::Outcome;
use crate::printer::{use_color, Printer};

pub fn run(args: SimilarArgs) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.k > 0, "-k must be at least 1");
    let searcher = super::open_store(&args.store, false, || {
        super::find_index(args.index.index.as_deref())
    })?;
    let doc = searcher.find_document(&args.target)?.with_context(|| {
        format!(
            "{} is neither a document id nor the path of an indexed file in {}",
            args.target,
            searcher.label().display()
        )
    })?;
    let results = searcher.similar_results(doc, args.k)?;
    let printer = Printer {
        json: args.json,
        color: use_color(args.color),
        explain: false,
    };
    printer.results(&mut std::io::stdout().lock(), &results)?;
    Ok(Outcome::of(&results))
}
