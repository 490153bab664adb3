//! The packed products kept between processes: a model loaded from them
//! embeds exactly as one packed from its weights, on every kernel family
//! and precision this CPU runs, and a damaged file is packed again.
//!
//! One test in its own binary: it points `SEMSEARCH_CACHE_DIR` at a
//! folder of its own before anything reads it.

use candle_core::Device;
use semsearch_models::linear::paths_here;
use semsearch_models::testing::{write_tiny_bert, TinyBert};
use semsearch_models::{Embedder, ModelFiles, ModelSpec};

const TEXTS: &[&str] = &["the cat", "install rust on linux", "émoji 🍕 and 東京"];

/// The kept files of packed products in `dir`, with their sizes.
fn kept(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("packed-")
        })
        .map(|p| {
            let len = std::fs::metadata(&p).unwrap().len();
            (p, len)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn kept_products_embed_as_freshly_packed_ones_and_damage_repacks() {
    let cache = tempfile::tempdir().unwrap();
    std::env::set_var("SEMSEARCH_CACHE_DIR", cache.path());
    let model = tempfile::tempdir().unwrap();
    write_tiny_bert(model.path(), &TinyBert::default()).unwrap();
    let files = ModelFiles::resolve(&ModelSpec::Local(model.path().to_path_buf())).unwrap();
    let paths = paths_here();
    assert!(!paths.is_empty(), "no kernel of our own runs on this CPU");
    for (kernels, precision) in paths {
        let what = format!("{kernels} {precision}");
        let load = || Embedder::from_files_on(&files, &Device::Cpu, precision, kernels).unwrap();
        let before = kept(cache.path());
        let fresh = load().embed(TEXTS).unwrap();
        let new: Vec<_> = kept(cache.path())
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        assert_eq!(new.len(), 1, "{what}: one file kept");
        assert_eq!(load().embed(TEXTS).unwrap(), fresh, "{what}: read back");
        // Damaged two ways: packed again, and kept again.
        let (path, len) = new[0].clone();
        let whole = std::fs::read(&path).unwrap();
        let mut flipped = whole.clone();
        flipped[whole.len() / 2] ^= 0x40;
        for damaged in [&whole[..whole.len() - 3], &flipped[..]] {
            std::fs::write(&path, damaged).unwrap();
            assert_eq!(load().embed(TEXTS).unwrap(), fresh, "{what}: repacked");
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                len,
                "{what}: rewritten"
            );
        }
    }
}
