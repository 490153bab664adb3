//! The sentence embedder: tokeniser, BERT encoder, pooling, normalisation.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};
use tokenizers::{Tokenizer, TruncationParams};

use crate::bert::{BertConfig, BertEncoder, InputRanges, WORD_EMBEDDINGS};
use crate::calibration;
use crate::config::SentenceConfig;
use crate::cpu::Kernels;
use crate::error::{Error, Result};
use crate::mapped::MappedRows;
use crate::packed;
use crate::pooling::{float_mask, l2_normalize, Pooling};
use crate::source::{ModelFiles, ModelSpec, Weights};

/// Exactly what produces the vectors: an index records this and refuses to
/// mix vectors from different models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Hub repo id, or the absolute path of a local model folder.
    pub id: String,
    /// Hub commit of the files used, or `local`.
    pub revision: String,
    /// Dimension of the sentence vectors.
    pub dim: usize,
    /// How token states are pooled into a sentence vector.
    pub pooling: Pooling,
    /// Whether vectors are scaled to unit length.
    pub normalize: bool,
    /// Tokens per input (special tokens included); longer inputs are cut.
    pub max_seq_length: usize,
    /// Arithmetic of the linear layers (f32 unless asked and supported).
    #[serde(default)]
    pub precision: Precision,
    /// Put in front of every query before embedding (the model's
    /// `config_sentence_transformers.json`, or `--query-prompt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_prompt: Option<String>,
    /// Put in front of every passage before embedding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_prompt: Option<String>,
}

impl ModelInfo {
    /// Load the model these vectors came from, as they were made: its
    /// files at that revision, its precision and its prompts.
    pub fn load(&self) -> Result<Embedder> {
        let mut e = Embedder::load_with(&self.spec(), self.precision)?;
        e.set_prompts(self.query_prompt.clone(), self.document_prompt.clone());
        Ok(e)
    }

    /// The spec that loads exactly this model again: the local folder (an
    /// absolute path), or the hub repo at the commit that made the vectors.
    pub fn spec(&self) -> crate::ModelSpec {
        if self.revision == LOCAL_REVISION {
            crate::ModelSpec::Local(self.id.clone().into())
        } else {
            crate::ModelSpec::Hub {
                id: self.id.clone(),
                revision: Some(self.revision.clone()),
            }
        }
    }
}

/// [`ModelInfo::revision`] of a model loaded from a local folder.
pub const LOCAL_REVISION: &str = "local";

/// Arithmetic of the encoder's matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 throughout: matches sentence-transformers to cosine 0.9999.
    #[default]
    F32,
    /// Weights and activations rounded to bf16, products summed in f32, on
    /// CPUs with AVX-512 BF16 or AMX (elsewhere: f32).
    Bf16,
    /// Weights quantised per output column at load, activations per row at
    /// run time, int32 sums (AVX-512 VNNI or AMX; elsewhere: f32).
    Int8,
}

impl Precision {
    /// The default on this CPU: the fastest precision that passes the
    /// quality gate with the kernels `SEMSEARCH_KERNELS` selects (see
    /// [`crate::Kernels::default_precision`]); f32 where that variable
    /// names kernels this CPU lacks (loading then says why).
    pub fn default_here() -> Precision {
        crate::Kernels::selected().map_or(Precision::F32, |k| k.default_precision())
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        })
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            "int8" => Ok(Precision::Int8),
            _ => Err(format!(
                "unknown precision {s:?} (expected f32, bf16 or int8)"
            )),
        }
    }
}

/// Text run through the model in f32 when it loads in int8, to measure the
/// range of each product's inputs per feature (int8 smoothing, see
/// `PackedLinear::new_smoothed`): the kinds of passage people index (prose,
/// a scientific abstract, documentation, code, a table of numbers) and a
/// short query. Built in, so int8 vectors do not depend on the corpus;
/// none of it is among the reference inputs the quality gate is measured on
/// (`models/tests/reference.rs`).
const CALIBRATION: &[&str] = &[
    "cheap flights from boston to denver in march",
    "Vitamin D deficiency is associated with an increased risk of hip fractures in \
     elderly women; supplementation of 800 IU per day reduced the incidence by 23% \
     (95% CI 12-33%) in a randomised trial of 3,270 participants.",
    "TCP retransmits a segment when its acknowledgement does not arrive before the \
     timer expires; the timeout doubles after each attempt, up to a limit set by \
     the operating system.",
    "To configure the server, copy config.example.toml to config.toml, set `listen` to \
     127.0.0.1:8080 and run `systemctl restart app`. See the FAQ if the port is taken.",
    "def parse(path):\n    with open(path) as f:\n        return [json.loads(l) for l in f if l.strip()]",
    "Quarter | Revenue | Margin\nQ1 2024 | $12.4M | 31.2%\nQ2 2024 | $13.9M | 29.8%",
    "She walked along the river at dusk, thinking about the letter she had not \
     answered and the city she had left twenty years before.",
    "What are the side effects of ibuprofen taken together with aspirin?",
];

/// Padded tokens a batch may hold. Measured with candle's BERT on 200
/// passages: 8 x 256 gave 11.4 passages/s, 16 x 256 and 32 x 256 12.2
/// (baselines.md: beyond 32 the attention scores fall out of cache).
const TOKEN_BUDGET: usize = 16 * 256;
/// The token budget on AMX: tile products are fast enough that moving the
/// activations between ops dominates, and 1,024 rows keep them nearer the
/// core (600 passages, bf16: 6.2-6.5 s against 7.1 s with 4,096).
const TOKEN_BUDGET_AMX: usize = 1024;
/// Upper bound on inputs per batch, for very short texts.
const MAX_BATCH: usize = 128;

/// A loaded sentence-embedding model: tokenizer, encoder, pooling and
/// normalisation, turning texts into vectors.
pub struct Embedder {
    model: BertEncoder,
    tokenizer: Tokenizer,
    info: ModelInfo,
    kernels: Kernels,
    device: Device,
}

fn check_architecture(config: &Path, model: &str) -> Result<BertConfig> {
    let text = std::fs::read_to_string(config).map_err(|source| Error::Io {
        path: config.to_path_buf(),
        source,
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::BadFile {
        path: config.to_path_buf(),
        reason: e.to_string(),
    })?;
    let model_type = value.get("model_type").and_then(|v| v.as_str());
    let arch = value
        .get("architectures")
        .and_then(|a| a.get(0))
        .and_then(|v| v.as_str());
    let is_bert = match model_type {
        Some(t) => t == "bert",
        None => arch.is_some_and(|a| a.starts_with("Bert")),
    };
    if !is_bert {
        return Err(Error::Unsupported {
            model: model.to_string(),
            architecture: model_type.or(arch).unwrap_or("unknown").to_string(),
        });
    }
    let config: BertConfig = serde_json::from_value(value).map_err(|e| Error::BadFile {
        path: config.to_path_buf(),
        reason: e.to_string(),
    })?;
    if !BertEncoder::supports_activation(&config.hidden_act) {
        return Err(Error::Unsupported {
            model: model.to_string(),
            architecture: format!("bert with hidden_act {}", config.hidden_act),
        });
    }
    Ok(config)
}

impl Embedder {
    /// Resolve `spec` (cache, download or folder) and load it on the CPU.
    pub fn load(spec: &ModelSpec) -> Result<Self> {
        Self::load_with(spec, Precision::F32)
    }

    /// [`Embedder::load`] with the given arithmetic.
    pub fn load_with(spec: &ModelSpec, precision: Precision) -> Result<Self> {
        Self::from_files_with(&ModelFiles::resolve(spec)?, &Device::Cpu, precision)
    }

    /// Load from resolved files onto `device`.
    pub fn from_files(files: &ModelFiles, device: &Device) -> Result<Self> {
        Self::from_files_with(files, device, Precision::F32)
    }

    /// [`Embedder::from_files`] with the given arithmetic, on the kernels
    /// `SEMSEARCH_KERNELS` selects (by default the best this CPU has for
    /// that arithmetic: [`Kernels::selected_for`]).
    pub fn from_files_with(
        files: &ModelFiles,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        Self::from_files_on(files, device, precision, Kernels::selected_for(precision)?)
    }

    /// [`Embedder::from_files_with`] on the given kernel family (which this
    /// CPU must run: [`Kernels::check`]). A precision the family cannot
    /// compute (bf16 or int8 on portable kernels, bf16 on AVX2) falls back
    /// to f32; [`ModelInfo::precision`] says which ran, [`Embedder::kernels`]
    /// on what.
    pub fn from_files_on(
        files: &ModelFiles,
        device: &Device,
        precision: Precision,
        kernels: Kernels,
    ) -> Result<Self> {
        kernels.check()?;
        let precision = if device.is_cpu() && kernels.runs(precision) {
            precision
        } else {
            Precision::F32
        };
        crate::malloc::tune_allocator();
        let config = check_architecture(&files.config, &files.id)?;
        let st = SentenceConfig::read(
            files.modules.as_deref(),
            files.pooling_config.as_deref(),
            files.sentence_bert_config.as_deref(),
            config.max_position_embeddings,
        )?;
        // Parsing tokenizer.json and packing the weights share nothing: one
        // core each (a one-shot search waits for both).
        let (arith, max_len) = ((kernels, precision), st.max_seq_length);
        let (tokenizer, model) = rayon::join(
            || load_tokenizer(&files.tokenizer, max_len),
            || Self::encoder(files, &config, device, arith, max_len),
        );
        let (tokenizer, model) = (tokenizer?, model?);
        let prompts = crate::config::Prompts::read(files.st_config.as_deref())?;
        let info = ModelInfo {
            id: files.id.clone(),
            revision: files.revision.clone(),
            dim: config.hidden_size,
            pooling: st.pooling,
            normalize: st.normalize,
            max_seq_length: st.max_seq_length,
            precision,
            query_prompt: prompts.query,
            document_prompt: prompts.document,
        };
        Ok(Embedder {
            model,
            tokenizer,
            info,
            kernels,
            device: device.clone(),
        })
    }

    /// The encoder of `files`, its linear layers packed for `kernels` at
    /// `precision` (int8 smoothed by the cached or measured calibration),
    /// or read back as a previous process packed them ([`packed`]).
    fn encoder(
        files: &ModelFiles,
        config: &BertConfig,
        device: &Device,
        (kernels, precision): (Kernels, Precision),
        max_len: usize,
    ) -> Result<BertEncoder> {
        let weights_err = |path: &Path| {
            let model = files.id.clone();
            let path = path.to_path_buf();
            move |source| Error::Weights {
                model,
                path,
                source: Box::new(source),
            }
        };
        let vb = match &files.weights {
            // SAFETY: the weights file is memory-mapped read-only; like every
            // mmap user we rely on nobody truncating it while we run.
            Weights::Safetensors(p) => unsafe {
                VarBuilder::from_mmaped_safetensors(&[p], DType::F32, device)
                    .map_err(weights_err(p))?
            },
            Weights::PyTorch(p) => {
                VarBuilder::from_pth(p, DType::F32, device).map_err(weights_err(p))?
            }
        };
        let weights_path = match &files.weights {
            Weights::Safetensors(p) | Weights::PyTorch(p) => p,
        };
        // What packing depends on: the weights, and for int8 what its
        // calibration read.
        let files_key = match precision {
            Precision::Int8 => {
                calibration::key(&[weights_path, &files.tokenizer], CALIBRATION, config)
            }
            _ => calibration::key(&[weights_path], &[], config),
        };
        let dir = crate::cache::dir();
        let packed_key = packed::key(files_key, kernels, precision);
        let kept = device
            .is_cpu()
            .then(|| packed::read(dir.as_deref(), packed_key, config, (kernels, precision)))
            .flatten();
        let ranges = match (precision, &kept) {
            (Precision::Int8, None) => {
                calibrated(files, &vb, config, max_len, (dir.as_deref(), files_key))
                    .map_err(weights_err(weights_path))?
            }
            _ => vec![InputRanges::default(); config.num_hidden_layers],
        };
        let words = word_table(files, &vb, config, device).map_err(weights_err(weights_path))?;
        let fresh = kept.is_none() && device.is_cpu();
        let arith = (kernels, precision);
        let encoder = BertEncoder::load_with_ranges(vb, config, arith, &ranges, words, kept)
            .map_err(weights_err(weights_path))?;
        if let Some(products) = encoder.packed().filter(|_| fresh) {
            packed::write(dir.as_deref(), packed_key, &products);
        }
        Ok(encoder)
    }

    fn token_budget(&self) -> usize {
        match (self.kernels, self.info.precision) {
            (Kernels::Amx, Precision::Bf16 | Precision::Int8) => TOKEN_BUDGET_AMX,
            _ => TOKEN_BUDGET,
        }
    }

    /// The kernel family the encoder's products run on.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// What this model is: id, revision, dimension, pooling, precision.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The tokeniser, configured to truncate at `max_seq_length` and not pad.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Token ids, special tokens included, truncated to `max_seq_length`.
    pub fn tokenize<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        let inputs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let encodings = match inputs[..] {
            // One text (a query) on this thread: `encode_batch` hands even
            // one to rayon's pool and waits for it (a futex wake-up and a
            // sleep, tens of µs on a VM).
            [one] => self.tokenizer.encode(one, true).map(|e| vec![e]),
            _ => self.tokenizer.encode_batch(inputs, true),
        }
        .map_err(|e| Error::Tokenize(e.to_string()))?;
        Ok(encodings
            .into_iter()
            .map(|e| e.get_ids().to_vec())
            .collect())
    }

    /// Embed texts; vectors come back in input order.
    pub fn embed<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        let ids = self.tokenize(texts)?;
        self.embed_tokens(&ids)
    }

    /// Embed one text.
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.embed(&[text])?.pop().unwrap_or_default())
    }

    /// Embed queries: each after the model's query prompt, if it has one.
    pub fn embed_queries<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        match &self.info.query_prompt {
            Some(p) => {
                let prompted: Vec<String> =
                    texts.iter().map(|t| format!("{p}{}", t.as_ref())).collect();
                self.embed(&prompted)
            }
            None => self.embed(texts),
        }
    }

    /// Embed one query ([`Embedder::embed_queries`]).
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.embed_queries(&[text])?.pop().unwrap_or_default())
    }

    /// Use these prompts instead of the model's (`--query-prompt`,
    /// `--document-prompt`, or the ones an index recorded); an empty one
    /// is none.
    pub fn set_prompts(&mut self, query: Option<String>, document: Option<String>) {
        let some = |p: Option<String>| p.filter(|p| !p.is_empty());
        self.info.query_prompt = some(query);
        self.info.document_prompt = some(document);
    }

    /// Embed pre-tokenised inputs (from [`Embedder::tokenize`]), in input
    /// order. Inputs are sorted by length and batched under a token budget,
    /// so padding stays small.
    pub fn embed_tokens(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        self.embed_tokens_with_progress(ids, &mut |_| {})
    }

    /// [`Embedder::embed_tokens`], calling `progress` with the number of
    /// inputs finished after every batch.
    pub fn embed_tokens_with_progress(
        &self,
        ids: &[Vec<u32>],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<Vec<f32>>> {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out = vec![Vec::new(); ids.len()];
        let mut start = 0;
        while start < order.len() {
            // Sorted longest first, so the first item sets the padded length.
            let longest = ids[order[start]].len().max(1);
            let n = (self.token_budget() / longest).clamp(1, MAX_BATCH);
            let batch = &order[start..(start + n).min(order.len())];
            let rows: Vec<&[u32]> = batch.iter().map(|&i| ids[i].as_slice()).collect();
            for (&i, v) in batch.iter().zip(self.embed_batch(&rows)?) {
                out[i] = v;
            }
            start += batch.len();
            progress(batch.len());
        }
        Ok(out)
    }

    /// One padded forward pass over token-id rows of any lengths.
    pub fn embed_batch(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let wrap = |source| Error::Inference {
            model: self.info.id.clone(),
            source: Box::new(source),
        };
        let len = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut input = vec![0u32; rows.len() * len];
        let mut mask = vec![0u32; rows.len() * len];
        for (b, row) in rows.iter().enumerate() {
            input[b * len..b * len + row.len()].copy_from_slice(row);
            mask[b * len..b * len + row.len()].fill(1);
        }
        let shape = (rows.len(), len);
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let input = Tensor::from_vec(input, shape, &self.device)?;
            let mask = Tensor::from_vec(mask, shape, &self.device)?;
            let lengths: Vec<usize> = rows.iter().map(|r| r.len()).collect();
            let hidden = self.model.forward(&input, &lengths)?;
            let fmask = float_mask(&mask, hidden.dtype())?;
            let mut pooled = self.info.pooling.pool(&hidden, &fmask)?;
            if self.info.normalize {
                pooled = l2_normalize(&pooled)?;
            }
            pooled.to_dtype(DType::F32)?.to_vec2()
        };
        if rows.len() * len <= serial_tokens(self.kernels) {
            // A query: its ~100 small ops each woke the other worker and
            // waited for it (futex calls, about a third of the time on a
            // 2-vCPU VM); one thread streams the weights alone, faster, and
            // the calling one needs no hand-off to a pool (80-100 µs).
            return crate::parallel::inline(run).map_err(wrap);
        }
        // Inside the pool: every parallel op of the forward pass then starts
        // from a worker thread instead of being injected from outside and
        // waited on (about 40 such hand-offs per short query).
        rayon::scope(|_| run()).map_err(wrap)
    }
}

/// Token count (rows x padded length) up to which a forward pass runs on
/// one thread: 1 thread beats 2 up to here with AVX-512 and AMX kernels
/// (the AMX VM of BENCHMARKS.md, "Short queries on one thread"; even on a
/// Zen 4). The AVX2 family and candle's portable kernels do 2-4x the work
/// per token: there a short query's second thread saves more than the
/// hand-off costs (AVX2 int8 on a Zen 4: 2.1-2.8 -> 1.8-2.2 ms; portable
/// 8.4-8.8 -> 7.3-7.6), so they split every pass.
/// `SEMSEARCH_SERIAL_TOKENS` overrides it.
fn serial_tokens(kernels: Kernels) -> usize {
    static TOKENS: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let set = TOKENS.get_or_init(|| {
        std::env::var("SEMSEARCH_SERIAL_TOKENS")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    set.unwrap_or(match kernels {
        Kernels::Avx512 | Kernels::Amx => SERIAL_TOKENS,
        Kernels::Avx2 | Kernels::Portable => 0,
    })
}

const SERIAL_TOKENS: usize = 64;

/// The word embeddings read from the weights' file where it is a
/// safetensors one on the CPU (`None`: the encoder loads them as a tensor).
fn word_table(
    files: &ModelFiles,
    vb: &VarBuilder,
    config: &BertConfig,
    device: &Device,
) -> candle_core::Result<Option<MappedRows>> {
    match &files.weights {
        Weights::Safetensors(p) if device.is_cpu() => {
            let shape = (config.vocab_size, config.hidden_size);
            match WORD_EMBEDDINGS.into_iter().find(|n| vb.contains_tensor(n)) {
                Some(name) => MappedRows::open(p, name, shape),
                None => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

/// int8's calibration ranges for `files`: kept under `key` in `dir`, else
/// measured (then kept).
fn calibrated(
    files: &ModelFiles,
    vb: &VarBuilder,
    config: &BertConfig,
    max_len: usize,
    (dir, key): (Option<&Path>, u64),
) -> candle_core::Result<Vec<InputRanges>> {
    calibration::ranges(dir, key, config, || {
        // Only when no calibration is cached: the tokenizer is parsed
        // again rather than waited for.
        let tokenizer = load_tokenizer(&files.tokenizer, max_len)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let ids = tokenizer
            .encode_batch(CALIBRATION.to_vec(), true)
            .map_err(|e| candle_core::Error::Msg(format!("tokenizing: {e}")))?;
        let ids: Vec<Vec<u32>> = ids.iter().map(|e| e.get_ids().to_vec()).collect();
        BertEncoder::calibrate(vb.clone(), config, &ids)
    })
}

fn load_tokenizer(path: &Path, max_len: usize) -> Result<Tokenizer> {
    let err = |reason: String| Error::Tokenizer {
        path: path.to_path_buf(),
        reason,
    };
    let mut tok = Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
    // tokenizer.json may carry its own truncation (MiniLM: 128) and fixed
    // padding (MiniLM: 128); sentence-transformers overrides both, so must we.
    tok.with_padding(None);
    tok.with_truncation(Some(TruncationParams {
        max_length: max_len,
        ..Default::default()
    }))
    .map_err(|e| err(e.to_string()))?;
    Ok(tok)
}
