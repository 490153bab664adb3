//! `semsearch similar`: documents like a given one.

use anyhow::Context;
use semsearch_searcher::Searcher;

use crate::cli::SimilarArgs;
use crate::output::Outcome;

pub fn run(args: SimilarArgs) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.k > 0, "-k must be at least 1");
    let dir = super::find_index(args.index.index.as_deref())?;
    let searcher =
        Searcher::open(&dir).with_context(|| format!("cannot open index {}", dir.display()))?;
    let doc = searcher
        .index
        .find_document(&args.target)
        .with_context(|| {
            format!(
                "{} is neither a document id nor the path of an indexed file in {}",
                args.target,
                dir.display()
            )
        })?;
    let hits = searcher.similar(doc, args.k)?;
    let color = super::search::use_color(args.color);
    let mut out = std::io::stdout().lock();
    super::search::print_hits(&mut out, &searcher, &hits, "", args.json, color, None)?;
    Ok(if hits.is_empty() {
        Outcome::NoResults
    } else {
        Outcome::Success
    })
}
