//! Loading, pooling, truncation and batching on a tiny random BERT.

use candle_core::Device;
use semsearch_models::testing::{write_tiny_bert, TinyBert};
use semsearch_models::{Cache, Embedder, Error, ModelFiles, ModelSpec, Pooling};

fn load(dir: &std::path::Path) -> Result<Embedder, Error> {
    Embedder::load(&ModelSpec::Local(dir.to_path_buf()))
}

fn tiny(spec: TinyBert) -> (tempfile::TempDir, Embedder) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &spec).unwrap();
    let e = load(dir.path()).unwrap();
    (dir, e)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0., f32::max)
}

const TEXTS: &[&str] = &[
    "the cat",
    "",
    "   ",
    "install rust on linux with the search engine index",
    "a dog and a cat and a car and a pizza and the query of the index of the engine is cheap",
    "émoji 🍕 and 東京",
];

#[test]
fn loads_metadata_and_overrides_tokenizer_truncation_and_padding() {
    let (_d, e) = tiny(TinyBert::default());
    let info = e.info();
    assert_eq!(
        (info.dim, info.pooling, info.normalize),
        (32, Pooling::Mean, true)
    );
    assert_eq!(info.max_seq_length, 24);
    assert_eq!(info.revision, "local");
    let ids = e.tokenize(&["the cat", TEXTS[4]]).unwrap();
    // No fixed padding to 8: [CLS] the cat [SEP].
    assert_eq!(ids[0], vec![2, ids[0][1], ids[0][2], 3]);
    // Truncated at max_seq_length (24), not at tokenizer.json's 8, ending in [SEP].
    assert_eq!(ids[1].len(), 24);
    assert_eq!(*ids[1].last().unwrap(), 3);
}

#[test]
fn missing_metadata_falls_back_to_mean_normalised_and_position_limit() {
    let (_d, e) = tiny(TinyBert {
        pooling: None,
        max_seq_length: None,
        ..TinyBert::default()
    });
    let info = e.info();
    assert_eq!(
        (info.pooling, info.normalize, info.max_seq_length),
        (Pooling::Mean, true, 64)
    );
}

#[test]
fn batched_equals_one_by_one_and_vectors_are_unit_length() {
    let (_d, e) = tiny(TinyBert::default());
    let batch = e.embed(TEXTS).unwrap();
    for (text, v) in TEXTS.iter().zip(&batch) {
        let single = e.embed_one(text).unwrap();
        assert!(max_abs_diff(v, &single) < 1e-5, "{text:?}");
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
    // One explicit padded batch gives the same answers.
    let ids = e.tokenize(TEXTS).unwrap();
    let rows: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    for (a, b) in e.embed_batch(&rows).unwrap().iter().zip(&batch) {
        assert!(max_abs_diff(a, b) < 1e-5);
    }
}

#[test]
fn pooling_modes_come_from_the_config_and_differ() {
    let mut out = Vec::new();
    for p in [
        Pooling::Mean,
        Pooling::Cls,
        Pooling::Max,
        Pooling::MeanSqrtLen,
    ] {
        let (_d, e) = tiny(TinyBert {
            pooling: Some(p),
            ..TinyBert::default()
        });
        assert_eq!(e.info().pooling, p);
        out.push(e.embed_one("the cat and the dog").unwrap());
    }
    // Mean and mean-sqrt-len differ only in scale, which normalising removes.
    assert!(max_abs_diff(&out[0], &out[3]) < 1e-5);
    assert!(max_abs_diff(&out[0], &out[1]) > 1e-3);
    assert!(max_abs_diff(&out[0], &out[2]) > 1e-3);
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyBert::default()).unwrap();
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = load(dir.path()).err().unwrap();
    assert!(matches!(err, Error::MissingFile { ref file, .. } if file == "tokenizer.json"));
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

#[test]
fn corrupt_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyBert::default()).unwrap();
    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    let err = load(dir.path()).err().unwrap().to_string();
    assert!(
        err.contains("config.json") && err.contains("not valid"),
        "{err}"
    );
}

#[test]
fn unsupported_architecture_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec = TinyBert {
        model_type: "gpt2".into(),
        ..TinyBert::default()
    };
    write_tiny_bert(dir.path(), &spec).unwrap();
    let err = load(dir.path()).err().unwrap();
    assert!(matches!(err, Error::Unsupported { ref architecture, .. } if architecture == "gpt2"));
}

#[test]
fn model_not_in_cache_and_offline_names_model_cache_and_flag() {
    let cache = tempfile::tempdir().unwrap();
    let spec = ModelSpec::parse("someone/missing-model", None);
    let err = ModelFiles::resolve_with(&spec, &Cache::new(cache.path().to_path_buf()), true)
        .err()
        .unwrap()
        .to_string();
    for needle in [
        "someone/missing-model",
        "--model",
        "HF_HOME",
        "HF_HUB_OFFLINE",
    ] {
        assert!(err.contains(needle), "{needle} not in: {err}");
    }
    assert!(err.contains(&cache.path().display().to_string()), "{err}");
}

#[test]
fn loads_on_an_explicit_device() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyBert::default()).unwrap();
    let files = ModelFiles::resolve(&ModelSpec::Local(dir.path().to_path_buf())).unwrap();
    let e = Embedder::from_files(&files, &Device::Cpu).unwrap();
    assert_eq!(e.embed_one("cat").unwrap().len(), 32);
}

#[test]
fn encoder_matches_candle_transformers_bert_on_random_weights() {
    use candle_nn::VarBuilder;
    use candle_transformers::models::bert::{BertModel, Config};
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyBert::default()).unwrap();
    let config_text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    let weights = [dir.path().join("model.safetensors")];
    let dev = Device::Cpu;
    // SAFETY: the file is ours and nothing modifies it while mapped.
    let vb =
        unsafe { VarBuilder::from_mmaped_safetensors(&weights, candle_core::DType::F32, &dev) };
    let vb = vb.unwrap();
    let theirs = BertModel::load(
        vb.clone(),
        &serde_json::from_str::<Config>(&config_text).unwrap(),
    )
    .unwrap();
    // Two rows, the second right-padded.
    let ids =
        candle_core::Tensor::new(&[[2u32, 40, 41, 42, 43, 3], [2, 44, 45, 3, 0, 0]], &dev).unwrap();
    let mask =
        candle_core::Tensor::new(&[[1u32, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], &dev).unwrap();
    let b = theirs
        .forward(&ids, &ids.zeros_like().unwrap(), Some(&mask))
        .unwrap();
    // Every kernel family this CPU runs, in f32, against the reference.
    for kernels in semsearch_models::ALL_KERNELS {
        let name = format!("encoder_matches_candle_transformers_bert [{kernels}]");
        if let Some(why) = kernels.missing() {
            semsearch_models::testing::skip_without(&name, why, false);
            continue;
        }
        let ours = semsearch_models::BertEncoder::load(
            vb.clone(),
            &serde_json::from_str(&config_text).unwrap(),
            kernels,
            semsearch_models::Precision::F32,
        )
        .unwrap();
        let a = ours.forward(&ids, &[6, 4]).unwrap();
        // Padded positions' states are never pooled; compare the real ones.
        for (row, len) in [(0, 6), (1, 4)] {
            let d = (a.get(row).unwrap().narrow(0, 0, len).unwrap()
                - b.get(row).unwrap().narrow(0, 0, len).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
            assert!(d < 1e-4, "{name} row {row}: max diff {d}");
        }
        eprintln!("{name}: ok");
    }
}

/// The BERT families people pick: CLS, mean and max pooling (BGE, MiniLM,
/// some sentence-transformers), with and without token type embeddings,
/// WordPiece and Unigram (XLM-R style, multilingual MiniLM) tokenizers.
#[test]
fn every_bert_family_loads_and_embeds_each_text_alone_as_in_a_batch() {
    let families = [
        ("wordpiece, mean", TinyBert::default()),
        (
            "cls pooling",
            TinyBert {
                pooling: Some(Pooling::Cls),
                ..TinyBert::default()
            },
        ),
        (
            "max pooling",
            TinyBert {
                pooling: Some(Pooling::Max),
                ..TinyBert::default()
            },
        ),
        (
            "no token types",
            TinyBert {
                token_types: false,
                ..TinyBert::default()
            },
        ),
        (
            "unigram tokenizer",
            TinyBert {
                unigram: true,
                ..TinyBert::default()
            },
        ),
    ];
    let mut firsts = Vec::new();
    for (name, spec) in families {
        let (_d, e) = tiny(spec.clone());
        assert_eq!(e.info().pooling, spec.pooling.unwrap(), "{name}");
        let ids = e.tokenize(&["the cat and a dog"]).unwrap();
        assert!(ids[0].len() > 2, "{name}: tokens {:?}", ids[0]);
        let batch = e.embed(TEXTS).unwrap();
        for (t, v) in TEXTS.iter().zip(&batch) {
            assert_eq!(v.len(), 32, "{name}");
            assert!(v.iter().all(|x| x.is_finite()), "{name}: {t:?}");
            let alone = e.embed_one(t).unwrap();
            assert!(
                max_abs_diff(v, &alone) < 1e-4,
                "{name}: {t:?} alone and batched"
            );
        }
        firsts.push(batch[0].clone());
    }
    // Each family makes its own vectors (pooling, embeddings, tokens).
    for i in 1..firsts.len() {
        assert!(
            max_abs_diff(&firsts[0], &firsts[i]) > 1e-3,
            "family {i} equals the first"
        );
    }
}

#[test]
fn a_unigram_tokenizer_cuts_words_into_its_pieces() {
    let (_d, e) = tiny(TinyBert {
        unigram: true,
        ..TinyBert::default()
    });
    let tok = e.tokenizer();
    let enc = tok.encode("the cat", true).unwrap();
    // <s> ▁the ▁cat </s>
    assert_eq!(
        enc.get_tokens(),
        ["<s>", "\u{2581}the", "\u{2581}cat", "</s>"]
    );
}
