//! int8's calibration, measured once per model and kept between processes.
//!
//! An int8 encoder is smoothed by the largest input of each product over
//! built-in calibration texts ([`crate::bert::BertEncoder::calibrate`]),
//! run in f32 on the portable kernels: with the real model that is most of
//! loading it (a one-shot search loaded the model in 0.37-0.44 s). The
//! ranges depend only on the weights, the tokenizer and the texts, so they
//! are kept in the user's cache folder under a key made of those and read
//! back by the next process ([`crate::cache`]). A malformed file is
//! measured again.

use std::path::Path;

use crate::bert::{BertConfig, InputRanges};

/// Bumped when the measurement or the file layout changes.
const VERSION: &[u8] = b"semsearch int8 ranges 1";
/// The file's first bytes.
const MAGIC: &[u8; 4] = b"SSR1";

/// The key of a measurement: what it depends on, each file by its path,
/// size and modification time (hub files are immutable blobs).
pub(crate) fn key(files: &[&Path], texts: &[&str], c: &BertConfig) -> u64 {
    let mut bytes = VERSION.to_vec();
    for f in files {
        let abs = std::fs::canonicalize(f).unwrap_or_else(|_| f.to_path_buf());
        bytes.extend_from_slice(abs.to_string_lossy().as_bytes());
        if let Ok(m) = std::fs::metadata(&abs) {
            bytes.extend_from_slice(&m.len().to_le_bytes());
            let modified = m.modified().ok();
            let since = modified.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            bytes.extend_from_slice(&since.unwrap_or_default().as_nanos().to_le_bytes());
        }
        bytes.push(0);
    }
    for t in texts {
        bytes.extend_from_slice(t.as_bytes());
        bytes.push(0);
    }
    for n in [c.hidden_size, c.intermediate_size, c.num_hidden_layers] {
        bytes.extend_from_slice(&(n as u64).to_le_bytes());
    }
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// The ranges kept in `dir` under `key`, else those `measure` returns
/// (then kept there for the next process).
pub(crate) fn ranges(
    dir: Option<&Path>,
    key: u64,
    c: &BertConfig,
    measure: impl FnOnce() -> candle_core::Result<Vec<InputRanges>>,
) -> candle_core::Result<Vec<InputRanges>> {
    let name = format!("int8-{key:016x}.ranges");
    if let Some(kept) = crate::cache::read(dir, &name).and_then(|b| decode(&b, c)) {
        return Ok(kept);
    }
    let measured = measure()?;
    crate::cache::write(dir, &name, &encode(&measured));
    Ok(measured)
}

fn encode(ranges: &[InputRanges]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(ranges.len() as u32).to_le_bytes());
    for r in ranges {
        for v in [&r.qkv, &r.attn_out, &r.ffn_in, &r.ffn_out] {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
    }
    out
}

/// The ranges in `bytes` if they are whole and fit `c`'s shapes.
fn decode(bytes: &[u8], c: &BertConfig) -> Option<Vec<InputRanges>> {
    let mut rest = bytes.strip_prefix(MAGIC)?;
    let mut word = || -> Option<u32> {
        let (w, tail) = rest.split_first_chunk::<4>()?;
        rest = tail;
        Some(u32::from_le_bytes(*w))
    };
    let layers = word()? as usize;
    if layers != c.num_hidden_layers {
        return None;
    }
    let (h, i) = (c.hidden_size, c.intermediate_size);
    let mut out = Vec::with_capacity(layers);
    for _ in 0..layers {
        let mut vectors = Vec::with_capacity(4);
        for want in [h, h, h, i] {
            let n = word()? as usize;
            if n != want {
                return None;
            }
            let v: Option<Vec<f32>> = (0..n).map(|_| word().map(f32::from_bits)).collect();
            vectors.push(v?);
        }
        let [qkv, attn_out, ffn_in, ffn_out] = <[Vec<f32>; 4]>::try_from(vectors).ok()?;
        out.push(InputRanges {
            qkv,
            attn_out,
            ffn_in,
            ffn_out,
        });
    }
    rest.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(hidden: usize, intermediate: usize, layers: usize) -> BertConfig {
        serde_json::from_value(serde_json::json!({
            "vocab_size": 10, "hidden_size": hidden, "num_hidden_layers": layers,
            "num_attention_heads": 1, "intermediate_size": intermediate,
            "max_position_embeddings": 8,
        }))
        .unwrap()
    }

    fn measured(c: &BertConfig) -> Vec<InputRanges> {
        let v = |n: usize, k: usize| (0..n).map(|j| (j * 7 + k) as f32 * 0.25).collect();
        (0..c.num_hidden_layers)
            .map(|l| InputRanges {
                qkv: v(c.hidden_size, l),
                attn_out: v(c.hidden_size, l + 1),
                ffn_in: v(c.hidden_size, l + 2),
                ffn_out: v(c.intermediate_size, l + 3),
            })
            .collect()
    }

    #[test]
    fn measured_once_then_read_back_alike() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(4, 16, 2);
        let first = ranges(Some(dir.path()), 7, &c, || Ok(measured(&c))).unwrap();
        let again = ranges(Some(dir.path()), 7, &c, || panic!("measured twice")).unwrap();
        assert_eq!(first, again);
        assert_eq!(again, measured(&c));
        // Another key is measured anew.
        let mut called = false;
        ranges(Some(dir.path()), 8, &c, || {
            called = true;
            Ok(measured(&c))
        })
        .unwrap();
        assert!(called);
    }

    #[test]
    fn a_malformed_or_misshapen_file_is_measured_again() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(4, 16, 2);
        let path = dir.path().join(format!("int8-{:016x}.ranges", 9u64));
        let whole = encode(&measured(&c));
        for bad in [&whole[..whole.len() - 1], b"SSR1", b"nonsense"] {
            std::fs::write(&path, bad).unwrap();
            let mut called = false;
            let got = ranges(Some(dir.path()), 9, &c, || {
                called = true;
                Ok(measured(&c))
            })
            .unwrap();
            assert!(called && got == measured(&c));
        }
        // Ranges of another shape (three layers) do not fit two.
        std::fs::write(&path, encode(&measured(&config(4, 16, 3)))).unwrap();
        assert!(decode(&std::fs::read(&path).unwrap(), &c).is_none());
    }

    #[test]
    fn the_key_follows_the_files_and_texts() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("model.safetensors");
        std::fs::write(&f, b"one").unwrap();
        let c = config(4, 16, 2);
        let k = key(&[&f], &["a"], &c);
        assert_eq!(k, key(&[&f], &["a"], &c));
        assert_ne!(k, key(&[&f], &["b"], &c));
        std::fs::write(&f, b"other").unwrap();
        assert_ne!(k, key(&[&f], &["a"], &c));
    }
}
