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

#[test]
fn a_format_4_index_is_upgraded_without_re_embedding() {
    let tmp = tempfile::tempdir().unwrap();
    let (embedder, docs) = setup(tmp.path());
    run(&embedder, &docs);
    let index = docs.join(".semsearch");
    // What format 4 wrote: no basis, version 4.
    std::fs::remove_file(lsa_file(&index)).unwrap();
    let manifest = index.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("\"format_version\":5", "\"format_version\":4"),
    )
    .unwrap();
    let err = Index::open(&index)
        .err()
        .expect("format 4 is refused")
        .to_string();
    assert!(
        err.contains("format version 4") && err.contains("run `semsearch index` once to upgrade"),
        "{err}"
    );
    let report = run(&embedder, &docs);
    assert_eq!(
        (report.added, report.updated),
        (0, 0),
        "nothing re-embedded"
    );
    assert_eq!(report.documents, 12);
    let opened = Index::open(&index).unwrap();
    assert_eq!(opened.manifest().format_version, 5);
    assert_eq!(opened.lsa().unwrap().built_docs, 12);
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
