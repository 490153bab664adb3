//! Flags, parsed once into the structs the commands run from.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use semsearch_models::{ModelSpec, Precision, DEFAULT_MODEL};

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
    /// Without a command: the interactive prompt on the nearest index.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Index folders and files (or a JSON Lines corpus); run again to update.
    Index(IndexArgs),
    /// Index, then keep the index fresh as files change, until Ctrl-C.
    Watch(IndexArgs),
    /// Search an index: BM25/TF-IDF, semantic, or both fused.
    Search(SearchArgs),
    /// TF-IDF, BM25, LSA, semantic and hybrid rankings side by side, with overlap.
    Compare(CompareArgs),
    /// Interactive prompt: the model and index load once, each query answers
    /// in milliseconds.
    Repl(ReplArgs),
    /// Measure ranking quality on a BEIR-style test collection.
    Eval(EvalArgs),
    /// Show what an index holds: model, counts, size, last update.
    Status(StatusArgs),
    /// Documents most like a given one (file path or document id), by their
    /// averaged passage vectors.
    Similar(SimilarArgs),
    /// Draw the corpus: document vectors projected to 2-D by PCA, coloured by
    /// folder or k-means cluster (SVG or PNG), or the coordinates as CSV.
    Map(MapArgs),
    /// Embed texts or a JSON Lines file and print the vectors.
    Embed(EmbedArgs),
    /// Measure embedding throughput and search latency.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Approximate (HNSW) against exact nearest neighbours: recall@K and
    /// latency at several expansion_search values.
    BenchAnn(BenchAnnArgs),
    /// Shell completions on stdout, e.g. `semsearch completions bash >
    /// ~/.local/share/bash-completion/completions/semsearch`.
    Completions(CompletionsArgs),
    /// The manual page (roff) on stdout: `semsearch man > semsearch.1`.
    Man,
    /// HTTP API and web page on one warm process (model loaded once),
    /// following the index as it is updated.
    Serve(ServeArgs),
    /// Model Context Protocol server on stdin/stdout, for AI agents (tools:
    /// search, similar, compare, status).
    Mcp(McpArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Folder to serve; it is indexed (or its index updated) first.
    pub folder: Option<PathBuf>,
    #[command(flatten)]
    pub index: IndexDirArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on. Anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "HOST:PORT")]
    pub addr: std::net::SocketAddr,
    /// Require `Authorization: Bearer TOKEN` on every API request.
    #[arg(
        long,
        env = "SEMSEARCH_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Keep FOLDER's index fresh as files change (the `watch` engine).
    #[arg(long, requires = "folder")]
    pub watch: bool,
    /// Searches run at once; more requests wait their turn. Default: one
    /// per CPU.
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Print the address and nothing else.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct McpArgs {
    #[command(flatten)]
    pub index: IndexDirArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The model's arithmetic for new indexes and for `embed`/`eval` on this
/// CPU: the fastest that passes the quality gate with the selected kernels
/// (int8 wherever AVX2, AVX-512 VNNI or AMX runs it, else f32; see
/// `Kernels::default_precision`, BENCHMARKS.md and ARCHITECTURE.md).
pub fn default_precision() -> Precision {
    Precision::default_here()
}

/// Where the index lives.
#[derive(Args, Debug, Clone)]
pub struct IndexDirArgs {
    /// Index folder. Default: $SEMSEARCH_INDEX, else the nearest .semsearch/
    /// from the current folder upwards.
    #[arg(long, value_name = "DIR")]
    pub index: Option<PathBuf>,
}

/// A shared store instead of an index folder.
#[derive(Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// Keep the index in PostgreSQL with pgvector instead of a folder:
    /// postgres://USER@HOST:PORT/DATABASE. Repeat it (or separate URLs
    /// with spaces in $SEMSEARCH_STORE) for read replicas: the primary
    /// first, which takes the writes; searches go to the replicas in turn.
    #[arg(
        long,
        value_name = "URL",
        env = "SEMSEARCH_STORE",
        value_delimiter = ' '
    )]
    pub store: Vec<String>,
    /// pgvector's hnsw.ef_search on a store: candidates of the HNSW scan,
    /// raised to the rows a search asks for (default 100, more past
    /// 100,000 passages: 383 at a million).
    #[arg(long, value_name = "N")]
    pub ef_search: Option<usize>,
}

#[derive(Args, Debug)]
pub struct IndexArgs {
    /// Folders and files to index. Default: those the index was built from.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Index folder. Default: .semsearch in the first PATH (in the folder
    /// holding it, for a file).
    #[arg(long, value_name = "DIR")]
    pub index: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Also index a BEIR-style corpus: JSON Lines (or .jsonl.gz) objects with
    /// "_id", "title" and "text".
    #[arg(long, value_name = "FILE")]
    pub jsonl: Vec<PathBuf>,
    /// Hugging Face repo id or local folder. Default: the index's model, or
    /// sentence-transformers/all-MiniLM-L6-v2 for a new index.
    #[arg(long, value_name = "ID_OR_PATH", env = "SEMSEARCH_MODEL")]
    pub model: Option<String>,
    /// Branch, tag or commit of a hub model.
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
    /// Index hidden files and folders too.
    #[arg(long)]
    pub hidden: bool,
    /// Only index files matching GLOB (repeatable); matching files are
    /// indexed even when generated or not documents.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Skip files matching GLOB (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Only index files of TYPE (repeatable; ripgrep's types, see
    /// --type-list), even when generated or not documents.
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    pub types: Vec<String>,
    /// Never index files of TYPE (repeatable).
    #[arg(long = "type-not", short = 'T', value_name = "TYPE")]
    pub types_not: Vec<String>,
    /// Print the file types --type knows, with their globs, and exit.
    #[arg(long)]
    pub type_list: bool,
    /// Index every text file: also generated ones (minified code, search
    /// indexes, lock files) and non-documents (style sheets, SVG, data).
    #[arg(long)]
    pub all_text: bool,
    /// Keep the lines an HTML site repeats on most pages of a folder
    /// (navigation, help popups, footers), which are dropped by default.
    /// An index keeps it (--rebuild to drop it).
    #[arg(long)]
    pub keep_chrome: bool,
    /// Put TEXT in front of every query before embedding (default: the
    /// model's `config_sentence_transformers.json`, e.g. e5's `query: `;
    /// "" for none). Recorded in the index: searches use it.
    #[arg(long, value_name = "TEXT")]
    pub query_prompt: Option<String>,
    /// Put TEXT in front of every passage before embedding (default: the
    /// model's, e.g. e5's `passage: `; "" for none). Changing it is a
    /// settings mismatch (--rebuild).
    #[arg(long, value_name = "TEXT")]
    pub document_prompt: Option<String>,
    /// Turn files into text with COMMAND (ripgrep's --pre): it runs as
    /// `COMMAND FILE`, its output is the text; a failure skips the file as
    /// pre_failed. E.g. `--pre pdftotext-stdout --pre-glob '*.pdf'`.
    #[arg(long, value_name = "COMMAND")]
    pub pre: Option<String>,
    /// Only files matching GLOB go through --pre (repeatable; default: all).
    #[arg(long, value_name = "GLOB", requires = "pre")]
    pub pre_glob: Vec<String>,
    /// Read files as they are again, dropping the --pre an index was built
    /// with (an index keeps its --pre otherwise).
    #[arg(long, conflicts_with = "pre")]
    pub no_pre: bool,
    /// Skip files larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_file_size: u64,
    /// Tokens shared by consecutive passages of a document. Default: the
    /// index's, else 0.
    #[arg(long, value_name = "TOKENS")]
    pub overlap: Option<usize>,
    /// Matrix arithmetic of the model: f32, bf16 (CPUs with AMX or AVX-512
    /// BF16) or int8 (AMX or AVX-512 VNNI; below the quality gate, see
    /// BENCHMARKS.md). Default: the index's, else the fastest that passes
    /// the quality gate on this CPU (`semsearch status` names it).
    #[arg(long, value_name = "P")]
    pub precision: Option<Precision>,
    /// Store vectors as f16 (default: half of f32's size, same ranking),
    /// f32 or i8. Default: the index's, else f16.
    #[arg(long, value_name = "KIND")]
    pub quantize: Option<semsearch_indexer::Quantization>,
    /// Stemming and stop words for the lexical index (english,
    /// english-unstemmed, french, german, spanish, italian, portuguese, dutch,
    /// swedish, danish, norwegian, finnish, russian, or their two-letter
    /// codes). Default: the index's, else english.
    #[arg(long, value_name = "LANG")]
    pub language: Option<String>,
    /// Discard the existing index (another model, format or settings) and
    /// index from scratch.
    #[arg(long)]
    pub rebuild: bool,
    /// Commit what is done every SECS seconds during a long run, so a kill
    /// loses at most that much work.
    #[arg(long, value_name = "SECS", default_value_t = semsearch_indexer::DEFAULT_CHECKPOINT.as_secs())]
    pub checkpoint_secs: u64,
    /// Passages embedded together (memory against padding).
    #[arg(long, value_name = "N", default_value_t = semsearch_indexer::update::DEFAULT_EMBED_BATCH, hide = true)]
    pub embed_batch: usize,
    /// Vectors per HNSW segment before a new one starts (memory and a
    /// checkpoint's writes against segments a search asks).
    #[arg(long, value_name = "N", default_value_t = semsearch_indexer::segments::SEGMENT_VECTORS, hide = true)]
    pub segment_vectors: usize,
    /// Print one JSON object with the counts (watch: one per update).
    #[arg(long)]
    pub json: bool,
    /// List skipped files with the reason.
    #[arg(long, short)]
    pub verbose: bool,
    /// Print nothing on success: no progress, no summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The searcher's defaults: every flag's default below is read from here.
fn defaults() -> semsearch_searcher::SearchConfig {
    semsearch_searcher::SearchConfig::default()
}

/// A flag parsed straight into the engine's own type (one `Mode`, one
/// `Lexical` for every face), `names` listed in `--help` and completions.
fn engine_enum<T>(names: &'static [&'static str]) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(names).try_map(|s| s.parse::<T>())
}

/// How to rank; shared by `search`, the prompt and `eval`.
#[derive(Args, Debug, Clone)]
pub struct RankArgs {
    /// lexical, semantic, or hybrid (both, fused).
    #[arg(long, default_value_t = defaults().mode,
          value_parser = engine_enum::<semsearch_searcher::Mode>(&["lexical", "semantic", "hybrid"]))]
    pub mode: semsearch_searcher::Mode,
    /// Lexical model: bm25, classic tfidf (log tf x idf, cosine), or lsa
    /// (tfidf vectors in the index's truncated-SVD space, cosine).
    #[arg(long, default_value_t = defaults().lexical,
          value_parser = engine_enum::<semsearch_searcher::Lexical>(&["bm25", "tfidf", "lsa"]))]
    pub lexical: semsearch_searcher::Lexical,
    /// How hybrid mode fuses the two rankings: linear (normalised scores,
    /// weighted by --alpha) or rrf (reciprocal rank fusion).
    #[arg(long, value_enum, default_value_t = defaults().fusion.into())]
    pub fusion: FusionArg,
    /// RRF constant k in 1 / (k + rank).
    #[arg(long, default_value_t = semsearch_searcher::SearchConfig::DEFAULT_RRF_K, value_name = "K")]
    pub rrf_k: f32,
    /// Weight of the semantic leg in linear fusion (0..1).
    #[arg(long, default_value_t = semsearch_searcher::SearchConfig::DEFAULT_ALPHA, value_name = "A")]
    pub alpha: f32,
    /// Score normalisation for linear fusion: minmax or zscore.
    #[arg(long, default_value_t = semsearch_searcher::SearchConfig::DEFAULT_NORM, value_name = "NORM")]
    pub norm: semsearch_searcher::Norm,
    /// Results to show.
    #[arg(short, long, default_value_t = defaults().k)]
    pub k: usize,
    /// Documents each leg contributes before fusion.
    #[arg(long, default_value_t = defaults().candidates, value_name = "N")]
    pub candidates: usize,
    /// Scan all vectors instead of the HNSW graph (exact, slower).
    #[arg(long)]
    pub exact: bool,
    /// Weigh each BM25 query term by how often the query says it, as
    /// Lucene does (helps long queries that repeat their key words).
    #[arg(long)]
    pub query_tf: bool,
    /// Pseudo-relevance feedback: rank twice, the second time with the
    /// query moved toward the first ranking's top documents (RM3 terms for
    /// the lexical leg, Rocchio for the semantic leg).
    #[arg(long, overrides_with = "no_feedback")]
    pub feedback: bool,
    /// One ranking, no feedback.
    #[arg(long, overrides_with = "feedback")]
    pub no_feedback: bool,
    /// Show near-duplicate results in their own places instead of folding
    /// them under the better-ranked copy.
    #[arg(long)]
    pub no_collapse: bool,
    /// Only documents whose path or id matches GLOB (repeatable).
    #[arg(long = "path", value_name = "GLOB")]
    pub paths: Vec<String>,
    /// Drop results scoring below SCORE, or below a share of the best
    /// result's score (`50%`), the rule that marks weak results.
    #[arg(long, value_name = "SCORE|SHARE%", allow_hyphen_values = true)]
    pub min_score: Option<semsearch_searcher::MinScore>,
    /// Mark results scoring below this share of the best as weak matches.
    #[arg(long, value_name = "SHARE", default_value_t = defaults().weak)]
    pub weak: f32,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FusionArg {
    Rrf,
    Linear,
}

impl From<semsearch_searcher::Fusion> for FusionArg {
    fn from(f: semsearch_searcher::Fusion) -> Self {
        match f {
            semsearch_searcher::Fusion::Rrf { .. } => FusionArg::Rrf,
            semsearch_searcher::Fusion::Linear { .. } => FusionArg::Linear,
        }
    }
}

impl RankArgs {
    /// The validated search configuration.
    pub fn config(&self) -> anyhow::Result<semsearch_searcher::SearchConfig> {
        use semsearch_searcher::{Fusion, SearchConfig};
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.alpha),
            "--alpha must be between 0 and 1"
        );
        let cfg = SearchConfig {
            mode: self.mode,
            lexical: self.lexical,
            fusion: match self.fusion {
                FusionArg::Rrf => Fusion::Rrf { k: self.rrf_k },
                FusionArg::Linear => Fusion::Linear {
                    alpha: self.alpha,
                    norm: self.norm,
                },
            },
            k: self.k,
            candidates: self.candidates,
            exact: self.exact,
            paths: self.paths.clone(),
            min_score: self.min_score,
            weak: self.weak,
            arithmetic: Default::default(),
            query_tf: self.query_tf,
            feedback: match (self.feedback, self.no_feedback) {
                (true, _) => Some(Default::default()),
                (_, true) => None,
                _ => defaults().feedback,
            },
            collapse: !self.no_collapse,
        };
        // The one place every face's bounds are written (searcher/config.rs).
        cfg.validate().map_err(|e| match e {
            semsearch_searcher::SearchError::Setting {
                setting,
                value,
                expected,
            } => {
                let flag = match setting {
                    "k" => "-k".to_string(),
                    other => format!("--{}", other.replace('_', "-")),
                };
                anyhow::anyhow!("{flag} {value}: expected {expected}")
            }
            other => other.into(),
        })?;
        Ok(cfg)
    }
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// What to look for, in your own words.
    pub query: String,
    /// Folder to search; it is indexed (or its index updated) first.
    pub folder: Option<PathBuf>,
    #[command(flatten)]
    pub index: IndexDirArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub rank: RankArgs,
    /// JSON Lines output, one object per result.
    #[arg(long)]
    pub json: bool,
    /// Add TEXT's embedding to the query's in the semantic leg (repeatable):
    /// the leg searches normalize(q + sum(plus) - sum(minus)).
    #[arg(long, value_name = "TEXT")]
    pub plus: Vec<String>,
    /// Subtract TEXT's embedding from the query's (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub minus: Vec<String>,
    /// Show each leg's rank and score and the fusion arithmetic.
    #[arg(long)]
    pub explain: bool,
    /// Colour: auto (when stdout is a terminal), always, never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
}

#[derive(Args, Debug)]
pub struct SimilarArgs {
    /// A file path (absolute or relative) or a document id.
    #[arg(value_name = "PATH_OR_ID")]
    pub target: String,
    #[command(flatten)]
    pub index: IndexDirArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Results to show.
    #[arg(short, long, default_value_t = defaults().k)]
    pub k: usize,
    /// JSON Lines output, one object per result (the `search --json` schema).
    #[arg(long)]
    pub json: bool,
    /// Colour: auto (when stdout is a terminal), always, never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
}

#[derive(Args, Debug)]
pub struct BenchAnnArgs {
    #[command(flatten)]
    pub index: IndexDirArgs,
    /// Query vectors: this many passage vectors sampled evenly from the index.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub queries: usize,
    /// Embed these queries instead (JSON Lines with a "text" field, e.g. a
    /// BEIR queries.jsonl); the first N are used.
    #[arg(long, value_name = "FILE.jsonl")]
    pub from: Option<PathBuf>,
    /// Neighbours per query.
    #[arg(short, long, default_value_t = 10)]
    pub k: usize,
    /// expansion_search values to try (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256")]
    pub expansion: Vec<usize>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorBy {
    /// folder when documents span several top-level folders, else cluster.
    Auto,
    /// The document's top-level folder.
    Folder,
    /// k-means cluster of the document vectors.
    Cluster,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapFormat {
    Svg,
    Png,
    Csv,
}

#[derive(Args, Debug)]
pub struct MapArgs {
    #[command(flatten)]
    pub index: IndexDirArgs,
    /// Where to write the picture (.svg or .png) or the coordinates (.csv).
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// What the colours mean.
    #[arg(long, value_enum, default_value_t = ColorBy::Auto)]
    pub color_by: ColorBy,
    /// Clusters for --color-by cluster.
    #[arg(long, default_value_t = 8, value_name = "K")]
    pub clusters: usize,
    /// Label the N most central documents of each colour with their titles.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub labels: usize,
    /// Output format. Default: from the --out extension.
    #[arg(long, value_enum)]
    pub format: Option<MapFormat>,
    /// Principal components written by --format csv (2 or 3).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub components: usize,
    /// Picture size in pixels, WIDTHxHEIGHT.
    #[arg(long, default_value = "1200x900", value_name = "WxH")]
    pub size: String,
    /// Place this query on the map, with its top hits ringed and numbered
    /// (loads the index's model).
    #[arg(long, value_name = "TEXT")]
    pub query: Option<String>,
    /// Hits of --query marked.
    #[arg(short, long, default_value_t = 10, value_name = "N")]
    pub k: usize,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// What to look for.
    pub query: String,
    #[command(flatten)]
    pub index: IndexDirArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub rank: RankArgs,
    /// Print the comparison as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ReplArgs {
    #[command(flatten)]
    pub index: IndexDirArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Answer each query with JSON Lines (`search --json`'s objects), for
    /// a program driving the prompt; no timing lines.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub rank: RankArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Folder with corpus.jsonl[.gz], queries.jsonl and qrels/SPLIT.tsv.
    pub dataset: PathBuf,
    /// Which qrels file to evaluate.
    #[arg(long, default_value = "test")]
    pub split: String,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Index folder (reused when current). Default: a cache folder under the
    /// system temp folder, never inside DATASET.
    #[arg(long, value_name = "DIR")]
    pub index: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Modes to evaluate (comma-separated): tfidf, bm25, lsa, semantic,
    /// hybrid-rrf, hybrid-linear.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "tfidf,bm25,lsa,semantic,hybrid-rrf,hybrid-linear"
    )]
    pub modes: Vec<String>,
    #[command(flatten)]
    pub rank: RankArgs,
    /// Write one TREC run file per mode into DIR.
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Try a grid of fusion settings and print them sorted by nDCG@10.
    #[arg(long)]
    pub sweep: bool,
    /// Drop a retrieved document whose id is the query's before scoring
    /// (BEIR's rule). Default: on where the dataset's queries are documents
    /// of its corpus under their own ids (ArguAna), off elsewhere.
    #[arg(long, conflicts_with = "keep_identical_ids")]
    pub ignore_identical_ids: bool,
    /// Score a retrieved document whose id is the query's like any other.
    #[arg(long)]
    pub keep_identical_ids: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub index: IndexDirArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
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
    /// Matrix arithmetic: f32 (matches sentence-transformers to cosine
    /// 0.9999), bf16 (0.999; CPUs with AMX or AVX-512 BF16) or int8 (AMX or
    /// AVX-512 VNNI). Default: the fastest that passes the quality gate on
    /// this CPU. The kernel family is SEMSEARCH_KERNELS (auto, portable,
    /// avx2, avx512, amx).
    #[arg(long, value_name = "P")]
    pub precision: Option<Precision>,
}

impl ModelArgs {
    pub fn spec(&self) -> ModelSpec {
        ModelSpec::parse(&self.model, self.revision.as_deref())
    }

    /// `--precision`, else this CPU's default.
    pub fn precision(&self) -> Precision {
        self.precision.unwrap_or_else(default_precision)
    }

    pub fn load(&self) -> anyhow::Result<semsearch_models::Embedder> {
        use anyhow::Context;
        let spec = self.spec();
        semsearch_models::Embedder::load_with(&spec, self.precision())
            .with_context(|| format!("cannot load model {spec}"))
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

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Passages/s and tokens/s embedding a JSON Lines file, and short-query latency.
    Embed(BenchArgs),
    /// Per-query latency of lexical, semantic and hybrid search on an index
    /// (model loaded once, as in the prompt).
    Search(BenchSearchArgs),
    /// Extraction speed per format (PDF, DOCX, ODT, PPTX, EPUB, text):
    /// MB/s and pages/s, one file after another on one thread.
    Extract(BenchExtractArgs),
    /// Latency (p50, p99) and requests/s of a running `semsearch serve`
    /// under 1, 8 and 64 concurrent clients, per mode.
    Serve(BenchServeArgs),
}

#[derive(Args, Debug)]
pub struct BenchServeArgs {
    /// The server, e.g. http://127.0.0.1:7878
    #[arg(long, default_value = "http://127.0.0.1:7878")]
    pub url: String,
    /// Queries (JSON Lines with a "text" field), e.g. a BEIR queries.jsonl.
    #[arg(long, value_name = "FILE.jsonl")]
    pub queries: PathBuf,
    /// Concurrent clients, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    pub clients: Vec<usize>,
    /// Modes, one run each.
    #[arg(long, value_delimiter = ',', default_value = "lexical,semantic,hybrid")]
    pub modes: Vec<String>,
    /// Requests per run (the queries, cycled).
    #[arg(long, default_value_t = 600)]
    pub requests: usize,
    /// Bearer token, if the server has one.
    #[arg(long, env = "SEMSEARCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BenchExtractArgs {
    /// Files to extract.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Print the totals as one JSON object, by format.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BenchSearchArgs {
    #[command(flatten)]
    pub index: IndexDirArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Queries (JSON Lines with a "text" field), e.g. a BEIR queries.jsonl.
    #[arg(long, value_name = "FILE.jsonl")]
    pub queries: PathBuf,
    /// Use only the first N queries.
    #[arg(long, default_value_t = 300)]
    pub limit: usize,
    /// Time only these rankings (comma-separated), e.g. `hybrid` to
    /// profile one: lexical, lexical-1, lsa, semantic, semantic-1, hybrid,
    /// hybrid-1 (`-1`: the first ranking alone, no feedback or collapse).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub only: Vec<String>,
    /// Skip the HNSW recall measurement (two searches per query).
    #[arg(long)]
    pub no_recall: bool,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
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
