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
    let m = semsearch_indexer::Manifest::read_header(index).unwrap();
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

/// Every document's entry, by id, as the index stores them.
fn entries(index: &Path) -> std::collections::BTreeMap<String, semsearch_indexer::DocEntry> {
    let mut out = std::collections::BTreeMap::new();
    Index::open(index)
        .unwrap()
        .each_document(|_, d| {
            out.insert(d.id, d.entry);
            Ok(())
        })
        .unwrap();
    out
}

/// Write the lexical index of generation folder `gen_dir` anew in the
/// schema of formats 4-7 (id, body, text: no documents table), with the
/// same documents and texts.
fn old_lexical(index: &Path, gen_dir: &Path, analyzer: &str) {
    use tantivy::schema::{IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
    use tantivy::schema::{FAST, STORED, STRING};
    let mut docs = Vec::new();
    Index::open(index)
        .unwrap()
        .each_document(|_, d| {
            docs.push((d.id, d.entry.title, d.text));
            Ok(())
        })
        .unwrap();
    let tdir = gen_dir.join("tantivy");
    std::fs::remove_dir_all(&tdir).unwrap();
    std::fs::create_dir_all(&tdir).unwrap();
    let mut b = Schema::builder();
    let id = b.add_text_field("id", STRING | FAST);
    let body = b.add_text_field("body", STORED);
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(analyzer)
        .set_index_option(IndexRecordOption::WithFreqs);
    let text = b.add_text_field(
        "text",
        TextOptions::default().set_indexing_options(indexing),
    );
    let lexical = tantivy::Index::builder()
        .schema(b.build())
        .settings(semsearch_indexer::schema::settings())
        .create_in_dir(&tdir)
        .unwrap();
    lexical
        .tokenizers()
        .register(analyzer, semsearch_indexer::schema::analyzer(analyzer));
    let mut w: tantivy::IndexWriter = lexical.writer(20 << 20).unwrap();
    for (i, title, t) in docs {
        let all = format!("{title}\n{t}");
        w.add_document(tantivy::doc!(id => i, body => t, text => all))
            .unwrap();
    }
    w.commit().unwrap();
}

/// Make the index in `index` look as format `version` wrote it: a lexical
/// index without the documents table and no document handles (formats
/// 4-7), the documents in the generation's `documents.json` (6 and 7) or
/// inside the manifest (4 and 5), no LSA basis (4), one `vectors.usearch`
/// (formats 4-6).
fn downgrade(index: &std::path::Path, version: u32) {
    use serde_json::Value;
    let lsa = lsa_file(index);
    let docs = serde_json::to_value(entries(index)).unwrap();
    let manifest = index.join("manifest.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let generation = m["generation"].as_u64().unwrap();
    let gen_dir = index.join(format!("gen-{generation:06}"));
    old_lexical(index, &gen_dir, m["analyzer"].as_str().unwrap());
    m["format_version"] = version.into();
    m.as_object_mut().unwrap().remove("next_doc_seq");
    if version >= 6 {
        std::fs::write(gen_dir.join("documents.json"), docs.to_string()).unwrap();
    } else {
        m["documents"] = docs;
        m.as_object_mut().unwrap().remove("totals");
    }
    if version < 7 {
        let segments = m
            .as_object_mut()
            .unwrap()
            .remove("vector_segments")
            .unwrap();
        assert_eq!(segments.as_array().unwrap().len(), 1, "{segments}");
        std::fs::rename(
            gen_dir.join("vectors/seg-000001.usearch"),
            gen_dir.join("vectors.usearch"),
        )
        .unwrap();
        std::fs::remove_dir_all(gen_dir.join("vectors")).unwrap();
    }
    std::fs::write(&manifest, m.to_string()).unwrap();
    if version < 5 {
        std::fs::remove_file(lsa).unwrap();
    }
}

#[test]
fn formats_4_to_7_are_upgraded_without_re_embedding() {
    for version in [4, 5, 6, 7] {
        let tmp = tempfile::tempdir().unwrap();
        let (embedder, docs) = setup(tmp.path());
        run(&embedder, &docs);
        let index = docs.join(".semsearch");
        let before = entries(&index);
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
        // The documents table: the same entries, handles in id order, and
        // every passage's key back to its document.
        assert_eq!(entries(&index), before, "from format {version}");
        assert_eq!(opened.slots(), 12);
        for (handle, (id, entry)) in before.iter().enumerate() {
            assert_eq!(opened.position(id), Some(handle), "{id}");
            assert_eq!(opened.id(handle).as_deref(), Some(id.as_str()));
            for (ordinal, p) in entry.passages.iter().enumerate() {
                let found = opened.passage(p.id).unwrap();
                assert_eq!((found.doc, found.ordinal), (handle, ordinal));
            }
        }
        let gen_dir = store::generation_dir(&index, opened.manifest().generation);
        assert!(!gen_dir.join("documents.json").exists());
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
