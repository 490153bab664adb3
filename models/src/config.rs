//! sentence-transformers metadata: which pooling, whether to normalise, and
//! how many tokens the model was trained to read.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::pooling::Pooling;

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| Error::BadFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

#[derive(Deserialize)]
struct Module {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

fn modules(path: &Path) -> Result<Vec<Module>> {
    read_json(path)
}

/// The folder of the Pooling module named in `modules.json`, if any.
pub(crate) fn pooling_dir(modules_json: &Path) -> Result<Option<String>> {
    Ok(modules(modules_json)?
        .into_iter()
        .find(|m| m.kind.ends_with(".Pooling"))
        .map(|m| m.path))
}

#[derive(Deserialize, Default)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

fn pooling(path: &Path) -> Result<Pooling> {
    let c: PoolingConfig = read_json(path)?;
    let modes = [
        (c.pooling_mode_cls_token, Some(Pooling::Cls)),
        (c.pooling_mode_mean_tokens, Some(Pooling::Mean)),
        (c.pooling_mode_max_tokens, Some(Pooling::Max)),
        (
            c.pooling_mode_mean_sqrt_len_tokens,
            Some(Pooling::MeanSqrtLen),
        ),
        (c.pooling_mode_weightedmean_tokens, None),
        (c.pooling_mode_lasttoken, None),
    ];
    let on: Vec<_> = modes.iter().filter(|(set, _)| *set).collect();
    match on.as_slice() {
        [] => Ok(Pooling::Mean),
        [(_, Some(p))] => Ok(*p),
        [(_, None)] => Err(Error::BadFile {
            path: path.to_path_buf(),
            reason: "weighted-mean and last-token pooling are not supported".into(),
        }),
        _ => Err(Error::BadFile {
            path: path.to_path_buf(),
            reason: "several pooling modes at once (concatenated pooling) are not supported".into(),
        }),
    }
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

/// How a sentence embedding is made from the encoder's token states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentenceConfig {
    /// How token states become one sentence vector.
    pub pooling: Pooling,
    /// Whether sentence vectors are scaled to unit length.
    pub normalize: bool,
    /// Tokens per input, special tokens included; longer inputs are truncated.
    pub max_seq_length: usize,
}

impl SentenceConfig {
    /// Read the metadata files that exist; missing ones fall back to mean
    /// pooling, L2 normalisation and the model's position limit.
    pub fn read(
        modules_json: Option<&Path>,
        pooling_config: Option<&Path>,
        sentence_bert_config: Option<&Path>,
        max_position_embeddings: usize,
    ) -> Result<Self> {
        let pooling = pooling_config
            .map(pooling)
            .transpose()?
            .unwrap_or(Pooling::Mean);
        let normalize = match modules_json {
            Some(p) => modules(p)?.iter().any(|m| m.kind.ends_with(".Normalize")),
            None => true,
        };
        let st_max = match sentence_bert_config {
            Some(p) => read_json::<SentenceBertConfig>(p)?.max_seq_length,
            None => None,
        };
        let max_seq_length = st_max
            .unwrap_or(max_position_embeddings)
            .min(max_position_embeddings);
        Ok(SentenceConfig {
            pooling,
            normalize,
            max_seq_length,
        })
    }
}

/// Texts put in front of queries and of documents before embedding, as
/// the model was trained (e5: `query: ` and `passage: `).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompts {
    /// In front of every query.
    pub query: Option<String>,
    /// In front of every passage of a document.
    pub document: Option<String>,
}

#[derive(Deserialize)]
struct StConfig {
    #[serde(default)]
    prompts: std::collections::HashMap<String, String>,
    #[serde(default)]
    default_prompt_name: Option<String>,
}

impl Prompts {
    /// The prompts `config_sentence_transformers.json` declares: `query`,
    /// and `document` (or `passage`, e5's name); the default prompt stands
    /// for a missing one, as sentence-transformers uses it for any text
    /// encoded without a prompt name.
    pub fn read(path: Option<&Path>) -> Result<Prompts> {
        let Some(path) = path else {
            return Ok(Prompts::default());
        };
        let c: StConfig = read_json(path)?;
        let named = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| c.prompts.get(*n))
                .or_else(|| {
                    c.default_prompt_name
                        .as_ref()
                        .and_then(|d| c.prompts.get(d))
                })
                .filter(|p| !p.is_empty())
                .cloned()
        };
        Ok(Prompts {
            query: named(&["query"]),
            document: named(&["document", "passage", "doc"]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompts(json: &str) -> Prompts {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config_sentence_transformers.json");
        std::fs::write(&path, json).unwrap();
        Prompts::read(Some(&path)).unwrap()
    }

    #[test]
    fn prompts_by_name_with_e5s_passage_and_a_default() {
        let e5 = prompts(r#"{"prompts": {"query": "query: ", "passage": "passage: "}}"#);
        assert_eq!(e5.query.as_deref(), Some("query: "));
        assert_eq!(e5.document.as_deref(), Some("passage: "));
        let one = prompts(
            r#"{"prompts": {"retrieval": "Represent this: ", "query": "Q: "}, "default_prompt_name": "retrieval"}"#,
        );
        assert_eq!(one.query.as_deref(), Some("Q: "));
        assert_eq!(one.document.as_deref(), Some("Represent this: "));
        // MiniLM's: versions only.
        assert_eq!(
            prompts(r#"{"__version__": {"sentence_transformers": "2.0.0"}}"#),
            Prompts::default()
        );
    }
}
