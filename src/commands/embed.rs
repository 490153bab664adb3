//! `semsearch embed`: texts in, vectors out.

use std::io::Write;
use std::time::Instant;

use crate::cli::EmbedArgs;
use crate::output::{progress, Outcome};

/// Inputs above this many get a progress bar.
const PROGRESS_MIN: usize = 64;

pub fn run(args: EmbedArgs) -> anyhow::Result<Outcome> {
    let mut texts = args.texts;
    if let Some(path) = &args.input {
        texts.extend(super::read_jsonl_texts(path)?);
    }
    let embedder = args.model.load()?;
    let start = Instant::now();
    let ids = embedder.tokenize(&texts)?;
    let bar = progress(
        texts.len() as u64,
        "texts",
        args.quiet || texts.len() < PROGRESS_MIN,
    );
    let vectors = embedder.embed_tokens_with_progress(&ids, &mut |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();

    let mut out = std::io::stdout().lock();
    if args.json {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            text: &'a str,
            tokens: usize,
            /// The kernel family and arithmetic that made the vector.
            kernels: semsearch_models::Kernels,
            precision: semsearch_models::Precision,
            embedding: &'a [f32],
        }
        for ((text, ids), v) in texts.iter().zip(&ids).zip(&vectors) {
            let line = Line {
                text,
                tokens: ids.len(),
                kernels: embedder.kernels(),
                precision: embedder.info().precision,
                embedding: v,
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
        }
    } else {
        let info = embedder.info();
        for ((text, ids), v) in texts.iter().zip(&ids).zip(&vectors).take(20) {
            let head: Vec<String> = v.iter().take(4).map(|x| format!("{x:+.4}")).collect();
            let short: String = text.chars().take(40).collect();
            writeln!(
                out,
                "{:>4} tokens  [{} ...]  {short:?}",
                ids.len(),
                head.join(", ")
            )?;
        }
        if texts.len() > 20 {
            writeln!(
                out,
                "... and {} more (use --json for all vectors)",
                texts.len() - 20
            )?;
        }
        let tokens: usize = ids.iter().map(Vec::len).sum();
        writeln!(
            out,
            "{} texts, {tokens} tokens, {}-d vectors ({} pooling{}, max {} tokens) from {}@{} in {seconds:.2}s",
            texts.len(),
            info.dim,
            info.pooling,
            if info.normalize { ", normalised" } else { "" },
            info.max_seq_length,
            info.id,
            info.revision,
        )?;
    }
    out.flush()?;
    Ok(Outcome::Success)
}
