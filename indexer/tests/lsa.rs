//! The LSA term basis: written with every generation, reused while the
//! corpus has not changed much, and added to a format 4 index by the next
//! update without re-embedding anything.

use std::path::Path;

use semsearch_indexer::{store, update, Index, Report, UpdateOptions};
use semsearch_models::testing::{write_tiny_bert, TinyBert};
use semsearch_models::{Embedder, ModelSpec};

fn run(embedder: &Embedder, docs: &Path) -> Report {
    let opts = UpdateOptions::new(docs.join(".semsearch"), vec![docs.to_path_buf()]);
    update(embedder, &opts, &mut |_| {}).unwrap()
}

fn setup(root: &Path) -> (Embedder, std::path::PathBuf) {
    let model = root.join("model");
    write_tiny_bert(&model, &TinyBert::default()).unwrap();
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let topics = [
        "rivers flood the valley",
        "trains leave the station",
        "bread rises in the oven",
    ];
    for i in 0..12 {
        std::fs::write(
            docs.join(format!("n{i}.txt")),
            format!("{} {}", topics[i % 3], topics[(i + 1) % 3]),
        )
        .unwrap();
    }
    (Embedder::load(&ModelSpec::Local(model)).unwrap(), docs)
}

fn lsa_file(index: &Path) -> std::path::PathBuf {
    let m = semsearch_indexer::Manifest::read(index).unwrap();
    store::lsa_path(&store::generation_dir(index, m.generation))
}

#[test]
fn every_generation_has_a_basis_with_unit_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let (embedder, docs) = setup(tmp.path());
    run(&embedder, &docs);
    let index = Index::open(&docs.join(".semsearch")).unwrap();
    let lsa = index.lsa().unwrap();
    assert_eq!(lsa.built_docs, 12);
    assert!(lsa.terms.contains_key("river") && lsa.terms.contains_key("bread"));
    // Columns of V are orthonormal (up to the i8 rounding): check each
    // kept dimension's length over the vocabulary.
    assert!(lsa.dims > 0 && lsa.dims <= semsearch_indexer::lsa::DIMS);
    let rows: Vec<Vec<f32>> = (0..lsa.terms.len()).map(|t| lsa.row(t).collect()).collect();
    for k in 0..lsa.dims {
        let len: f32 = rows.iter().map(|r| r[k] * r[k]).sum();
        assert!(
            (len - 1.0).abs() < 0.05,
            "column {k} has squared length {len}"
        );
    }
}

#[test]
fn a_small_change_links_the_basis_and_a_big_one_recomputes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (embedder, docs) = setup(tmp.path());
    run(&embedder, &docs);
    let index = docs.join(".semsearch");
    let first = std::fs::read(lsa_file(&index)).unwrap();
    std::fs::write(docs.join("n0.txt"), "rivers flood the town").unwrap();
    run(&embedder, &docs);
    assert_eq!(std::fs::read(lsa_file(&index)).unwrap(), first, "reused");
    for i in 12..20 {
        std::fs::write(docs.join(format!("n{i}.txt")), "kites fly over hills").unwrap();
    }
    run(&embedder, &docs);
    let lsa = Index::open(&index).unwrap().lsa().unwrap();
    assert_eq!(lsa.built_docs, 20);
    assert!(lsa.terms.contains_key("kite"));
}

/// Make the index in `index` look as format `version` wrote it: the
/// documents inside the manifest (formats 4 and 5), no LSA basis (4), one
/// `vectors.usearch` (formats 4-6).
fn downgrade(index: &std::path::Path, version: u32) {
    use serde_json::Value;
    let lsa = lsa_file(index);
    let manifest = index.join("manifest.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let generation = m["generation"].as_u64().unwrap();
    let docs_path = index.join(format!("gen-{generation:06}/documents.json"));
    let docs: Value = serde_json::from_str(&std::fs::read_to_string(&docs_path).unwrap()).unwrap();
    std::fs::remove_file(&docs_path).unwrap();
    m["documents"] = docs;
    m["format_version"] = version.into();
    m.as_object_mut().unwrap().remove("totals");
    let segments = m
        .as_object_mut()
        .unwrap()
        .remove("vector_segments")
        .unwrap();
    assert_eq!(segments.as_array().unwrap().len(), 1, "{segments}");
    let gen_dir = index.join(format!("gen-{generation:06}"));
    std::fs::rename(
        gen_dir.join("vectors/seg-000001.usearch"),
        gen_dir.join("vectors.usearch"),
    )
    .unwrap();
    std::fs::remove_dir_all(gen_dir.join("vectors")).unwrap();
    std::fs::write(&manifest, m.to_string()).unwrap();
    if version < 5 {
        std::fs::remove_file(lsa).unwrap();
    }
}

#[test]
fn formats_4_and_5_are_upgraded_without_re_embedding() {
    for version in [4, 5] {
        let tmp = tempfile::tempdir().unwrap();
        let (embedder, docs) = setup(tmp.path());
        run(&embedder, &docs);
        let index = docs.join(".semsearch");
        downgrade(&index, version);
        let err = Index::open(&index)
            .err()
            .expect("an older format is refused")
            .to_string();
        assert!(
            err.contains(&format!("format version {version}"))
                && err.contains("run `semsearch index` once to upgrade"),
            "{err}"
        );
        let report = run(&embedder, &docs);
        assert_eq!(
            (report.added, report.updated),
            (0, 0),
            "nothing re-embedded from format {version}"
        );
        assert_eq!(report.documents, 12);
        let opened = Index::open(&index).unwrap();
        assert_eq!(
            opened.manifest().format_version,
            semsearch_indexer::manifest::FORMAT_VERSION
        );
        assert_eq!(opened.vectors().len(), opened.manifest().totals().passages);
        assert_eq!(opened.len(), 12);
        assert_eq!(opened.lsa().unwrap().built_docs, 12);
        let header = semsearch_indexer::Manifest::read_header(&index).unwrap();
        assert_eq!(header.totals(), opened.manifest().totals());
        assert_eq!(header.totals().documents, 12);
        assert!(header.documents.is_empty(), "the header reads no document");
    }
}

#[test]
fn a_truncated_basis_is_named_as_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let (embedder, docs) = setup(tmp.path());
    run(&embedder, &docs);
    let index = docs.join(".semsearch");
    let path = lsa_file(&index);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = Index::open(&index).unwrap().lsa().unwrap_err().to_string();
    assert!(err.contains("lsa.bin") || err.contains("LSA"), "{err}");
}
