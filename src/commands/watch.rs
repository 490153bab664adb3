//! `semsearch watch`: index, then keep the index fresh until Ctrl-C.

use anyhow::{bail, Context};
use semsearch_indexer::watch::{watch, WatchEvent};
use semsearch_indexer::Indexer;

use crate::cli::IndexArgs;
use crate::output::Outcome;
use crate::progress::Reporter;
use crate::signals::Stop;

pub fn run(args: IndexArgs) -> anyhow::Result<Outcome> {
    if !args.jsonl.is_empty() {
        bail!("watch follows folders and files; a --jsonl corpus is indexed with `index`");
    }
    let mut prepared = super::index::prepare(&args)?;
    let dir = prepared.dir.clone();
    // The first signal ends the update in flight (committing what it
    // embedded) and the watch; a second exits at once, which leaves the
    // last committed generation (every commit is atomic).
    let stop = Stop::install()?;
    prepared.opts.stop = Some(stop.flag());
    let mut indexer = Indexer::open(&prepared.embedder, prepared.opts)
        .with_context(|| format!("cannot watch into {}", dir.display()))?;
    let mut reporter = Reporter::new(args.quiet, args.verbose);
    let mut first = true;
    let result = watch(&mut indexer, &dir, &stop.flag(), &mut |e| match e {
        WatchEvent::Indexing(e) => reporter.event(e),
        WatchEvent::Updated(report) => {
            reporter.finish();
            reporter = Reporter::new(args.quiet, args.verbose);
            let changed = report.added + report.updated + report.removed > 0;
            if (first || changed) && (!args.quiet || args.json) {
                let _ = super::index::print_report(&report, &dir, args.json);
            }
            first = false;
        }
        WatchEvent::Rescan(why) if !args.quiet => {
            eprintln!("semsearch: events lost ({why}); rescanning")
        }
        WatchEvent::Rescan(_) => {}
        WatchEvent::Watching(roots) if !args.quiet => {
            let shown: Vec<String> = roots
                .iter()
                .map(|r| semsearch_indexer::pathname::display(r))
                .collect();
            eprintln!("semsearch: watching {} (Ctrl-C to stop)", shown.join(", "));
        }
        WatchEvent::Watching(_) => {}
    });
    result.with_context(|| format!("watching into {} failed", dir.display()))?;
    Ok(Outcome::unless_stopped(&stop))
}
