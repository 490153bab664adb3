//! Document vectors: the re-normalised mean of a document's passage vectors,
//! kept in step with the passages by incremental updates.

use std::path::Path;

use semsearch_indexer::{update, vectors, Index, UpdateOptions};
use semsearch_models::testing::{write_tiny_bert, TinyBert};
use semsearch_models::{Embedder, ModelSpec};

fn index(embedder: &Embedder, docs: &Path) -> Index {
    let dir = docs.join(".semsearch");
    update(
        embedder,
        &UpdateOptions::new(dir.clone(), vec![docs.to_path_buf()]),
        &mut |_| {},
    )
    .unwrap();
    Index::open(&dir).unwrap()
}

/// Vectors are stored as f16 (the default): about 3 decimal digits.
const TOL: f32 = 2e-3;

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn document_vector_is_the_mean_of_its_passages() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    // 24 tokens a passage: a few sentences make a several-passage document.
    write_tiny_bert(&model, &TinyBert::default()).unwrap();
    let embedder = Embedder::load(&ModelSpec::Local(model)).unwrap();
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("short.txt"), "cat").unwrap();
    std::fs::write(docs.join("other.txt"), "dog").unwrap();
    let long = "alpha beta gamma delta. ".repeat(12);
    std::fs::write(docs.join("long.txt"), &long).unwrap();

    let idx = index(&embedder, &docs);
    assert_eq!(idx.len(), 3);
    let mut multi = 0;
    for doc in 0..idx.slots() {
        let d = idx
            .document(doc)
            .unwrap()
            .expect("handles 0..3, none removed");
        let entry = d.entry;
        // The keys column agrees with the stored entry, in text order.
        let keys: Vec<u64> = entry.passages.iter().map(|p| p.id).collect();
        assert_eq!(idx.passage_keys(doc), keys);
        let dv = idx.doc_vector(doc).expect("every document has a vector");
        let passages: Vec<Vec<f32>> = entry
            .passages
            .iter()
            .map(|p| idx.passage_vector(p.id).unwrap())
            .collect();
        if passages.len() == 1 {
            // One passage: the average is that passage's vector.
            assert!(max_diff(&dv, &passages[0]) < TOL, "{}", d.id);
        } else {
            multi += 1;
            let m = vectors::mean(passages.iter().map(Vec::as_slice), dv.len());
            assert!(max_diff(&dv, &m) < TOL);
            assert!(
                max_diff(&dv, &passages[0]) > 10.0 * TOL,
                "differs from one passage"
            );
        }
    }
    assert_eq!(multi, 1, "only long.txt has several passages");

    // Incremental: a changed document gets a new vector, a removed one loses
    // its vector, the others keep theirs.
    let short = idx.position("short.txt").unwrap();
    let before_other = idx.doc_vector(idx.position("other.txt").unwrap()).unwrap();
    let before_short = idx.doc_vector(short).unwrap();
    drop(idx);
    std::fs::write(docs.join("short.txt"), "cats").unwrap();
    std::fs::remove_file(docs.join("long.txt")).unwrap();
    let idx = index(&embedder, &docs);
    assert_eq!(idx.len(), 2);
    assert_eq!(idx.vectors().len(), 2, "long.txt's passages are gone");
    let short = idx.position("short.txt").unwrap();
    let after_short = idx.doc_vector(short).unwrap();
    assert!(max_diff(&before_short, &after_short) > 1e-3);
    let key = idx.document(short).unwrap().unwrap().entry.passages[0].id;
    assert!(max_diff(&after_short, &idx.passage_vector(key).unwrap()) < TOL);
    let other = idx.doc_vector(idx.position("other.txt").unwrap()).unwrap();
    assert_eq!(other, before_other);
}
