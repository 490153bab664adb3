//! The real all-MiniLM-L6-v2 against what sentence-transformers produced
//! (`../shared/reference/all-MiniLM-L6-v2.json`). Needs the model in the
//! Hugging Face cache: `HF_HOME=../shared/hf HF_HUB_OFFLINE=1`.

use std::path::PathBuf;

use semsearch_models::{Cache, Embedder, ModelFiles, ModelSpec, Precision};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    max_seq_length: usize,
    dim: usize,
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    text: String,
    input_ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn shared() -> PathBuf {
    std::env::var_os("SEMSEARCH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

fn reference() -> Reference {
    let path = shared().join("reference/all-MiniLM-L6-v2.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reference file {} is missing ({e}); set SEMSEARCH_SHARED",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// The hub cache: `HF_HOME/hub`. cargo runs this test inside `models/`, so a
/// relative HF_HOME (the README's `HF_HOME=../shared/hf`) is taken relative
/// to the workspace root, where the command was typed.
fn cache() -> Cache {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let home = std::env::var_os("HF_HOME").map(PathBuf::from);
    match home {
        Some(h) if h.is_relative() => Cache::new(root.join(h).join("hub")),
        _ => Cache::from_env(),
    }
}

fn real_model() -> Embedder {
    real_model_with(Precision::F32)
}

fn real_model_with(precision: Precision) -> Embedder {
    Embedder::from_files_with(&model_files(), &candle_core::Device::Cpu, precision).unwrap()
}

fn model_files() -> ModelFiles {
    ModelFiles::resolve_with(&ModelSpec::default(), &cache(), true).unwrap_or_else(|e| {
        panic!(
            "the reference test needs the real model all-MiniLM-L6-v2 in the Hugging Face cache: \
             run with HF_HOME=../shared/hf HF_HUB_OFFLINE=1 ({e})"
        )
    })
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}

#[test]
fn matches_sentence_transformers_one_by_one_and_batched() {
    let reference = reference();
    let e = real_model();
    assert_eq!(e.info().max_seq_length, reference.max_seq_length);
    assert_eq!(e.info().dim, reference.dim);
    assert_eq!(reference.items.len(), 24);
    let texts: Vec<&str> = reference.items.iter().map(|i| i.text.as_str()).collect();
    let ids = e.tokenize(&texts).unwrap();
    let rows: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    let batched = e.embed_batch(&rows).unwrap();
    for ((item, ids), batched) in reference.items.iter().zip(&ids).zip(&batched) {
        assert_eq!(ids, &item.input_ids, "token ids of {:?}", item.text);
        let single = e.embed_one(&item.text).unwrap();
        let (c1, c2) = (
            cosine(&single, &item.embedding),
            cosine(batched, &item.embedding),
        );
        assert!(c1 >= 0.9999, "one-by-one cosine {c1} for {:?}", item.text);
        assert!(c2 >= 0.9999, "batched cosine {c2} for {:?}", item.text);
    }
}

/// Every kernel family and precision this CPU runs, each named in the
/// output, against sentence-transformers: f32 to cosine 0.9999 (as
/// above), bf16 to 0.999, int8 to 0.99, the quality gate a precision must
/// pass to be a default (`Kernels::default_precision`). int8 measures
/// 0.9912 (AVX2 with AVX-VNNI, AVX-512 VNNI: integer sums, so the same)
/// and 0.9925 (AMX: bf16 attention), with its calibrated smoothing;
/// without it 0.9857. Paths this CPU cannot run print SKIPPED (and fail
/// under SEMSEARCH_REQUIRE_KERNELS).
#[test]
fn every_kernel_path_stays_within_its_cosine_bound() {
    use semsearch_models::{Kernels, ALL_KERNELS};
    let reference = reference();
    let texts: Vec<&str> = reference.items.iter().map(|i| i.text.as_str()).collect();
    let files = model_files();
    for kernels in ALL_KERNELS {
        for (precision, bound) in [
            (Precision::F32, 0.9999),
            (Precision::Bf16, 0.999),
            (Precision::Int8, 0.99),
        ] {
            let name = format!("every_kernel_path [{kernels} {precision}]");
            if let Some(why) = kernels.missing() {
                semsearch_models::testing::skip_without(&name, why, false);
                continue;
            }
            if !kernels.runs(precision) {
                // Portable has only f32, AVX2 no bf16 product. Elsewhere,
                // a CPU without the extension (BF16, VNNI, AVX-VNNI).
                let by_design = kernels == Kernels::Portable
                    || (kernels, precision) == (Kernels::Avx2, Precision::Bf16);
                if !by_design {
                    let what = format!("{precision} products on {kernels}");
                    semsearch_models::testing::skip_without(&name, &what, false);
                }
                continue;
            }
            let e = Embedder::from_files_on(&files, &candle_core::Device::Cpu, precision, kernels)
                .unwrap();
            assert_eq!((e.kernels(), e.info().precision), (kernels, precision));
            let vectors = e.embed(&texts).unwrap();
            let worst = reference
                .items
                .iter()
                .zip(&vectors)
                .map(|(item, v)| cosine(v, &item.embedding))
                .fold(1.0f32, f32::min);
            eprintln!("{name}: worst cosine to the reference {worst:.5}");
            assert!(worst >= bound, "{name}: cosine {worst} < {bound}");
        }
    }
}
