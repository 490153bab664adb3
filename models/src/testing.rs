//! A tiny randomly initialised BERT, written to a folder, for fast tests of
//! everything around the model (loading, pooling, batching, indexing) without
//! the real weights. Not part of the stable API.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::Pooling;

/// Shape and metadata of the tiny model.
#[derive(Debug, Clone)]
pub struct TinyBert {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub max_position_embeddings: usize,
    /// Written to `sentence_bert_config.json` when set.
    pub max_seq_length: Option<usize>,
    /// Written to `modules.json` + `1_Pooling/config.json` when set.
    pub pooling: Option<Pooling>,
    pub seed: u64,
    /// `model_type` in `config.json`.
    pub model_type: String,
    /// Token type embeddings (`type_vocab_size` 2); without, 0 and none.
    pub token_types: bool,
    /// A SentencePiece-style Unigram tokenizer (`<s>`, `</s>`, `▁` word
    /// starts, as XLM-R's multilingual models) instead of WordPiece.
    pub unigram: bool,
}

impl Default for TinyBert {
    fn default() -> Self {
        TinyBert {
            hidden: 32,
            layers: 2,
            heads: 4,
            max_position_embeddings: 64,
            max_seq_length: Some(24),
            pooling: Some(Pooling::Mean),
            seed: 7,
            model_type: "bert".into(),
            token_types: true,
            unigram: false,
        }
    }
}

/// Words in the vocabulary besides single letters, digits and pieces, so that
/// common test words are one token each.
const WORDS: &[&str] = &[
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "on",
    "with",
    "rust",
    "install",
    "linux",
    "cat",
    "dog",
    "car",
    "search",
    "engine",
    "index",
    "query",
    "cheap",
    "expensive",
    "pizza",
];

/// Letters, digits and punctuation: every vocabulary has each alone.
fn singles() -> impl Iterator<Item = char> {
    ('a'..='z').chain('0'..='9').chain(".,;:!?'\"()-_/".chars())
}

fn vocab() -> Vec<String> {
    let mut v: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for c in singles() {
        v.push(c.to_string());
        v.push(format!("##{c}"));
    }
    v.extend(WORDS.iter().map(|w| w.to_string()));
    v
}

/// Stores one named tensor.
type Put<'a> = dyn FnMut(String, &[usize], Vec<f32>) + 'a;

/// Deterministic uniform values in [-scale, scale] (xorshift), so a seed
/// always gives the same model and tests need no `rand`.
fn random(n: usize, seed: &mut u64, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            ((*seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Write `config.json`, `tokenizer.json`, `model.safetensors` and the
/// sentence-transformers metadata of a tiny BERT into `dir`.
pub fn write_tiny_bert(
    dir: &Path,
    spec: &TinyBert,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    std::fs::create_dir_all(dir)?;
    let vocab = match spec.unigram {
        true => unigram_vocab(),
        false => vocab(),
    };
    let (h, inter) = (spec.hidden, spec.hidden * 4);
    let config = serde_json::json!({
        "architectures": ["BertModel"],
        "model_type": spec.model_type,
        "vocab_size": vocab.len(),
        "hidden_size": h,
        "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads,
        "intermediate_size": inter,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": spec.max_position_embeddings,
        "type_vocab_size": if spec.token_types { 2 } else { 0 },
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;

    if spec.unigram {
        write_unigram_tokenizer(dir, &vocab)?;
    } else {
        write_wordpiece_tokenizer(dir, &vocab)?;
    }
    write_weights(dir, spec, vocab.len())?;
    write_sentence_transformers(dir, spec)
}

/// Pieces of a Unigram vocabulary: the specials, word starts (`▁the`),
/// and every single character with and without a word start.
fn unigram_vocab() -> Vec<String> {
    let mut v: Vec<String> = ["<pad>", "<unk>", "<s>", "</s>"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for c in singles() {
        v.push(c.to_string());
        v.push(format!("\u{2581}{c}"));
    }
    v.extend(WORDS.iter().map(|w| format!("\u{2581}{w}")));
    v
}

fn write_unigram_tokenizer(
    dir: &Path,
    vocab: &[String],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use tokenizers::models::unigram::Unigram;
    use tokenizers::normalizers::Lowercase;
    use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
    use tokenizers::processors::template::TemplateProcessing;
    // Whole words score above their letters, so they are one piece.
    let scored: Vec<(String, f64)> = vocab
        .iter()
        .map(|p| (p.clone(), if p.chars().count() > 2 { -1.0 } else { -5.0 }))
        .collect();
    let mut tok = Tokenizer::new(Unigram::from(scored, Some(1), false)?);
    tok.with_normalizer(Some(Lowercase))?;
    tok.with_pre_tokenizer(Some(Metaspace::new(
        '\u{2581}',
        PrependScheme::Always,
        true,
    )));
    tok.with_post_processor(Some(
        TemplateProcessing::builder()
            .try_single("<s> $A </s>")?
            .special_tokens(vec![("<s>", 2), ("</s>", 3)])
            .build()?,
    ));
    tok.save(dir.join("tokenizer.json"), false)?;
    Ok(())
}

fn write_wordpiece_tokenizer(
    dir: &Path,
    vocab: &[String],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let vocab_txt = dir.join("vocab.txt");
    std::fs::write(&vocab_txt, vocab.join("\n") + "\n")?;
    let wordpiece = WordPiece::builder()
        .files(vocab_txt.to_string_lossy().into_owned())
        .unk_token("[UNK]".into())
        .build()?;
    let mut tok = Tokenizer::new(wordpiece);
    tok.with_normalizer(Some(BertNormalizer::new(true, true, None, true)))?;
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    tok.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), 3),
        ("[CLS]".into(), 2),
    )));
    // Like MiniLM's tokenizer.json: its own truncation and fixed padding,
    // which the loader must override.
    tok.with_truncation(Some(TruncationParams {
        max_length: 8,
        ..Default::default()
    }))?;
    tok.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::Fixed(8),
        ..Default::default()
    }));
    tok.save(dir.join("tokenizer.json"), false)?;
    Ok(())
}

fn write_weights(
    dir: &Path,
    spec: &TinyBert,
    vocab: usize,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (h, inter) = (spec.hidden, spec.hidden * 4);
    let mut seed = spec.seed.max(1);
    let dev = Device::Cpu;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let mut put = |name: String, shape: &[usize], values: Vec<f32>| {
        tensors.insert(name, Tensor::from_vec(values, shape, &dev).expect("shape"));
    };
    let mut rand = |shape: &[usize]| random(shape.iter().product(), &mut seed, 0.2);
    let ln = |prefix: &str, put: &mut Put| {
        put(format!("{prefix}.LayerNorm.weight"), &[h], vec![1.0; h]);
        put(format!("{prefix}.LayerNorm.bias"), &[h], vec![0.0; h]);
    };
    put(
        "embeddings.word_embeddings.weight".into(),
        &[vocab, h],
        rand(&[vocab, h]),
    );
    let pos = spec.max_position_embeddings;
    put(
        "embeddings.position_embeddings.weight".into(),
        &[pos, h],
        rand(&[pos, h]),
    );
    if spec.token_types {
        put(
            "embeddings.token_type_embeddings.weight".into(),
            &[2, h],
            rand(&[2, h]),
        );
    }
    ln("embeddings", &mut put);
    for l in 0..spec.layers {
        let p = format!("encoder.layer.{l}");
        let mut linear = |name: String, out: usize, inp: usize| {
            put(format!("{name}.weight"), &[out, inp], rand(&[out, inp]));
            put(format!("{name}.bias"), &[out], rand(&[out]));
        };
        for m in ["query", "key", "value"] {
            linear(format!("{p}.attention.self.{m}"), h, h);
        }
        linear(format!("{p}.attention.output.dense"), h, h);
        linear(format!("{p}.intermediate.dense"), inter, h);
        linear(format!("{p}.output.dense"), h, inter);
        ln(&format!("{p}.attention.output"), &mut put);
        ln(&format!("{p}.output"), &mut put);
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    Ok(())
}

fn write_sentence_transformers(
    dir: &Path,
    spec: &TinyBert,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let h = spec.hidden;
    if let Some(max) = spec.max_seq_length {
        let st = serde_json::json!({"max_seq_length": max, "do_lower_case": false});
        std::fs::write(dir.join("sentence_bert_config.json"), st.to_string())?;
    }
    if let Some(pooling) = spec.pooling {
        let modules = serde_json::json!([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        ]);
        std::fs::write(dir.join("modules.json"), modules.to_string())?;
        std::fs::create_dir_all(dir.join("1_Pooling"))?;
        let pc = serde_json::json!({
            "word_embedding_dimension": h,
            "pooling_mode_cls_token": pooling == Pooling::Cls,
            "pooling_mode_mean_tokens": pooling == Pooling::Mean,
            "pooling_mode_max_tokens": pooling == Pooling::Max,
            "pooling_mode_mean_sqrt_len_tokens": pooling == Pooling::MeanSqrtLen
        });
        std::fs::write(dir.join("1_Pooling/config.json"), pc.to_string())?;
    }
    Ok(())
}

/// For tests of CPU-specific kernels: `true` (skip) when this CPU lacks
/// `feature`, after saying so on stderr as `SKIPPED`, so a run on such a
/// CPU shows what it did not test. With `SEMSEARCH_REQUIRE_KERNELS=1` (set
/// where the hardware is known to have them) a missing feature fails the
/// test instead.
pub fn skip_without(test: &str, feature: &str, available: bool) -> bool {
    if available {
        return false;
    }
    assert!(
        std::env::var_os("SEMSEARCH_REQUIRE_KERNELS").is_none(),
        "{test}: this CPU has no {feature}, and SEMSEARCH_REQUIRE_KERNELS is set"
    );
    eprintln!("SKIPPED {test}: this CPU has no {feature}");
    true
}
