//! Flags, parsed once into the structs the commands run from.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use semsearch_models::{ModelSpec, DEFAULT_MODEL};

/// Local semantic search: index folders of documents, then ask questions in
/// your own words. Ranks by BM25/TF-IDF, by BERT sentence embeddings, or by
/// both fused.
#[derive(Parser, Debug)]
#[command(name = "semsearch", version, about, long_about = None)]
#[command(
    after_help = "Models are found in the Hugging Face cache (HF_HOME, default \
~/.cache/huggingface) and downloaded when missing, unless HF_HUB_OFFLINE=1."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Embed texts or a JSON Lines file and print the vectors.
    Embed(EmbedArgs),
    /// Measure embedding throughput and query latency.
    Bench(BenchArgs),
}

/// Which embedding model to use.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Hugging Face repo id, or a local folder with config.json,
    /// tokenizer.json and model.safetensors.
    #[arg(long, value_name = "ID_OR_PATH", default_value = DEFAULT_MODEL, env = "SEMSEARCH_MODEL")]
    pub model: String,
    /// Branch, tag or commit of a hub model.
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
}

impl ModelArgs {
    pub fn spec(&self) -> ModelSpec {
        ModelSpec::parse(&self.model, self.revision.as_deref())
    }
}

#[derive(Args, Debug)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Embed every line of this JSON Lines file (objects with a "text" field).
    #[arg(long, short, value_name = "FILE.jsonl")]
    pub input: Option<PathBuf>,
    /// Print one JSON object per input: {"text", "tokens", "embedding"}.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Texts to embed.
    #[arg(value_name = "TEXT", required_unless_present = "input")]
    pub texts: Vec<String>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Passages to embed (JSON Lines with a "text" field), e.g.
    /// ../shared/reference/passages-2000.jsonl.
    #[arg(long, short, value_name = "FILE.jsonl")]
    pub input: PathBuf,
    /// Use only the first N passages.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Timed repetitions of the whole set (after one warm-up batch).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Short queries to time one at a time.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
}
