//! `semsearch bench extract`: how fast documents are read, per format
//! (MB/s of files, pages or slides/s), the numbers BENCHMARKS.md sets
//! against `pdftotext`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use semsearch_indexer::extract::extract;
use serde::Serialize;

use crate::cli::BenchExtractArgs;
use crate::output::Outcome;

/// One format's totals.
#[derive(Default, Serialize)]
struct Totals {
    files: usize,
    bytes: u64,
    /// Pages (PDF) or slides; documents without numbered sections count 0.
    pages: usize,
    text_bytes: usize,
    skipped: BTreeMap<&'static str, usize>,
    seconds: f64,
}

pub fn run(args: BenchExtractArgs) -> anyhow::Result<Outcome> {
    let mut by_format: BTreeMap<String, Totals> = BTreeMap::new();
    for path in &args.files {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let t = Instant::now();
        let result = extract(path, &bytes, false);
        let seconds = t.elapsed().as_secs_f64();
        let totals = by_format.entry(format_of(path)).or_default();
        totals.files += 1;
        totals.bytes += bytes.len() as u64;
        totals.seconds += seconds;
        match result {
            Ok(e) => {
                totals.text_bytes += e.text.len();
                totals.pages += if e.unit.is_some() {
                    e.sections.len()
                } else {
                    0
                };
            }
            Err(r) => *totals.skipped.entry(r.as_str()).or_default() += 1,
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &by_format)?;
        writeln!(out)?;
        return Ok(Outcome::Success);
    }
    writeln!(
        out,
        "format  files      MB  pages  text MB   seconds    MB/s  pages/s  skipped"
    )?;
    for (format, t) in &by_format {
        let mb = t.bytes as f64 / 1e6;
        let secs = t.seconds.max(1e-9);
        writeln!(
            out,
            "{format:<6} {:>6} {mb:>7.2} {:>6} {:>8.2} {:>9.3} {:>7.2} {:>8.0}  {:?}",
            t.files,
            t.pages,
            t.text_bytes as f64 / 1e6,
            t.seconds,
            mb / secs,
            t.pages as f64 / secs,
            t.skipped
        )?;
    }
    Ok(Outcome::Success)
}

fn format_of(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_else(|| "-".into())
}
