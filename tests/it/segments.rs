//! End-to-end tests of the passage vector segments: a commit writes the
//! vectors it added, links the older segments, keeps removals as
//! tombstones, fills segments to a size and gathers small ones, survives a kill during a merge, and
//! upgrades a format 6 index without re-embedding. The real model
//! (HF_HOME=../shared/hf): a probe text must find its own document.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{bin, kill_at_failpoint, stderr, stdout};
use serde_json::Value;

fn index(folder: &Path, extra: &[&str]) -> Value {
    let out = bin()
        .arg("index")
        .arg(folder)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "index failed (the real model needs HF_HOME=../shared/hf HF_HUB_OFFLINE=1): {}",
        stderr(&out)
    );
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

fn added(report: &Value) -> u64 {
    report["added"].as_u64().unwrap()
}

fn manifest(idx: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(idx.join("manifest.json")).unwrap()).unwrap()
}

fn gen_dir(idx: &Path, generation: u64) -> PathBuf {
    idx.join(format!("gen-{generation:06}"))
}

/// (id, vectors) of each segment the manifest lists.
fn segments(idx: &Path) -> Vec<(u64, u64)> {
    let m = manifest(idx);
    let list = m["vector_segments"].as_array().unwrap();
    list.iter()
        .map(|s| (s["id"].as_u64().unwrap(), s["vectors"].as_u64().unwrap()))
        .collect()
}

/// The search expansion each segment the manifest lists carries (`None`:
/// not measured).
fn expansions(idx: &Path) -> Vec<Option<u64>> {
    let m = manifest(idx);
    let list = m["vector_segments"].as_array().unwrap();
    list.iter().map(|s| s["expansion"].as_u64()).collect()
}

/// The vectors of each segment the manifest lists.
fn sizes(idx: &Path) -> Vec<u64> {
    segments(idx).iter().map(|s| s.1).collect()
}

/// Files in the committed generation's vectors folder.
fn vector_files(idx: &Path) -> usize {
    let g = manifest(idx)["generation"].as_u64().unwrap();
    std::fs::read_dir(gen_dir(idx, g).join("vectors"))
        .unwrap()
        .count()
}

/// A folder of `n` notes indexed with `extra` flags: (its temp dir, the
/// folder, the index).
fn indexed_notes(n: usize, extra: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    notes(&docs, 0..n);
    index(&docs, extra);
    let idx = docs.join(".semsearch");
    (tmp, docs, idx)
}

fn segment_file(idx: &Path, generation: u64, id: u64) -> PathBuf {
    gen_dir(idx, generation).join(format!("vectors/seg-{id:06}.usearch"))
}

/// Edges per node of a committed segment's graph, as saved in its file.
fn connectivity(idx: &Path, id: u64) -> usize {
    let g = manifest(idx)["generation"].as_u64().unwrap();
    let opts = semsearch_indexer::vectors::options(384, semsearch_indexer::Quantization::F16);
    let graph = usearch::Index::new(&opts).unwrap();
    graph
        .view(segment_file(idx, g, id).to_str().unwrap())
        .unwrap();
    graph.connectivity()
}

fn tombstones(idx: &Path) -> usize {
    let g = manifest(idx)["generation"].as_u64().unwrap();
    let bytes = std::fs::read(gen_dir(idx, g).join("vectors/tombstones.bin")).unwrap();
    bytes.len() / 8
}

/// Distinct one-passage texts: a search for one ranks its document first.
const PROBES: [&str; 3] = [
    "zebras graze on the open savanna",
    "a violin sonata in the concert hall",
    "volcanoes erupt under the pacific ocean",
];

fn probe(dir: &Path, i: usize) {
    std::fs::write(dir.join(format!("probe{i}.txt")), PROBES[i]).unwrap();
}

fn ranks_first(idx: &Path, i: usize) {
    let found = semantic(idx, PROBES[i]);
    assert_eq!(found[0], format!("probe{i}.txt"), "{found:?}");
}

fn notes(dir: &Path, range: std::ops::Range<usize>) {
    std::fs::create_dir_all(dir).unwrap();
    for i in range {
        std::fs::write(
            dir.join(format!("n{i:03}.txt")),
            format!("note {i} on subject {} with the word w{}", i % 7, i * 13),
        )
        .unwrap();
    }
}

/// The documents a semantic search (exact, so the check is the data's and
/// not the graph's) ranks for `text`, best first.
fn semantic(idx: &Path, text: &str) -> Vec<String> {
    let out: Output = bin()
        .args(["search", text, "--mode", "semantic", "--exact", "--json"])
        .args(["-k", "100", "--no-collapse", "--no-feedback", "--index"])
        .arg(idx)
        .output()
        .unwrap();
    assert!(out.status.success(), "search: {}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

fn passages(idx: &Path) -> u64 {
    status(idx)["passages"].as_u64().unwrap()
}

fn status_documents(idx: &Path) -> u64 {
    status(idx)["documents"].as_u64().unwrap()
}

fn status(idx: &Path) -> Value {
    let out = bin()
        .args(["status", "--json", "--index"])
        .arg(idx)
        .output()
        .unwrap();
    assert!(out.status.success(), "status: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn a_commit_writes_its_vectors_links_the_rest_and_tombstones_removals() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    notes(&docs, 0..30);
    index(&docs, &[]);
    let idx = docs.join(".semsearch");
    let p30 = passages(&idx);
    let ino = |g| std::fs::metadata(segment_file(&idx, g, 1)).unwrap().ino();
    let first = ino(manifest(&idx)["generation"].as_u64().unwrap());
    assert_eq!(segments(&idx), vec![(1, p30)]);

    probe(&docs, 0);
    assert_eq!(added(&index(&docs, &[])), 1);
    let second = manifest(&idx)["generation"].as_u64().unwrap();
    let segs = segments(&idx);
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert_eq!(segs[0], (1, p30), "the old segment is kept as it was");
    let p31 = passages(&idx);
    assert_eq!(
        segs[1].1,
        p31 - p30,
        "the new segment holds the new vectors alone"
    );
    // Linked, not written again: the same file as the previous generation's.
    assert_eq!(first, ino(second));
    ranks_first(&idx, 0);
    assert_eq!(semantic(&idx, PROBES[0]).len(), 31);

    // A removed document's vector in an old segment: a tombstone.
    std::fs::remove_file(docs.join("n005.txt")).unwrap();
    index(&docs, &[]);
    assert_eq!(segments(&idx), segs, "no segment rewritten for a removal");
    assert_eq!(tombstones(&idx) as u64, p31 - passages(&idx));
    let found = semantic(&idx, "note 5 on subject 5 with the word w65");
    assert!(!found.iter().any(|p| p == "n005.txt"), "{found:?}");
    assert_eq!(found.len(), 30);
    assert_eq!(status_documents(&idx), 30);
}

#[test]
fn a_run_fills_segments_across_checkpoints_and_never_inserts_a_vector_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    notes(&docs, 0..197);
    (0..3).for_each(|i| probe(&docs, i));
    // A commit after every batch of 8 (25 commits), segments of 16.
    let r = index(
        &docs,
        &[
            "--checkpoint-secs",
            "0",
            "--embed-batch",
            "8",
            "--segment-vectors",
            "16",
        ],
    );
    assert_eq!(added(&r), 200);
    assert_eq!(r["checkpoints"].as_u64().unwrap(), 25);
    let idx = docs.join(".semsearch");
    let segs = segments(&idx);
    let total = passages(&idx);
    assert_eq!(segs.iter().map(|s| s.1).sum::<u64>(), total, "{segs:?}");
    // Full segments as filled, none merged: the open one was saved anew
    // at each checkpoint and the last holds the rest.
    let (last, full) = segs.split_last().unwrap();
    assert!(full.iter().all(|s| s.1 == 16), "{segs:?}");
    assert_eq!(last.1, total - 16 * full.len() as u64, "{segs:?}");
    assert!(full.windows(2).all(|w| w[0].0 < w[1].0), "{segs:?}");
    // The first segment was begun not knowing it would fill: usearch's
    // 16 edges per node; those begun after a full one, the dense graph.
    let edges: Vec<usize> = segs.iter().map(|s| connectivity(&idx, s.0)).collect();
    let dense = semsearch_indexer::vectors::DENSE_CONNECTIVITY;
    assert_eq!(edges[0], 16, "{edges:?}");
    assert!(edges[1..].iter().all(|&e| e == dense), "{edges:?}");
    assert_eq!(
        vector_files(&idx),
        2 * segs.len() + 1,
        "earlier saves' files are gone"
    );
    for i in 0..3 {
        ranks_first(&idx, i);
    }
    assert_eq!(semantic(&idx, PROBES[0]).len(), 100);
}

#[test]
fn small_segments_of_later_runs_gather_and_full_ones_stay() {
    let cap = ["--segment-vectors", "40"];
    let (_tmp, docs, idx) = indexed_notes(30, &cap);
    let p30 = passages(&idx);
    // Runs of two documents: each run's segment merges into the one
    // before it while that holds at most 4x its vectors and both fit.
    let mut after_each = Vec::new();
    for run in 0..4 {
        notes(&docs, 30 + 2 * run..32 + 2 * run);
        assert_eq!(added(&index(&docs, &cap)), 2);
        after_each.push(sizes(&idx));
    }
    // 30 | 2 -> 30 | 2 + 2 = 4 -> 30 | 6 -> 30 + 8 = 38 (<= 40, 30 <= 32).
    assert_eq!(
        after_each,
        vec![vec![p30, 2], vec![p30, 4], vec![p30, 6], vec![p30 + 8]]
    );
    // One more would pass the cap: it stays beside.
    notes(&docs, 38..41);
    index(&docs, &cap);
    assert_eq!(sizes(&idx), vec![p30 + 8, 3]);
    assert_eq!(semantic(&idx, "note 40 on subject 5").len(), 41);
}

#[test]
fn segments_mostly_tombstones_are_rewritten_and_dead_ones_go() {
    let cap = ["--segment-vectors", "16"];
    let (_tmp, docs, idx) = indexed_notes(30, &cap);
    assert_eq!(segments(&idx).len(), 2, "{:?}", segments(&idx));
    // 12 of 30 removed: past a quarter of the live vectors, so each
    // segment a quarter or more dead is rewritten without them.
    for i in (0..30).filter(|i| i % 5 < 2) {
        std::fs::remove_file(docs.join(format!("n{i:03}.txt"))).unwrap();
    }
    index(&docs, &cap);
    let live = passages(&idx);
    assert_eq!(live, 18);
    let segs = segments(&idx);
    let dead = tombstones(&idx) as u64;
    assert!(dead * 4 <= live, "{dead} tombstones left beside {live}");
    assert_eq!(
        segs.iter().map(|s| s.1).sum::<u64>(),
        live + dead,
        "{segs:?}"
    );
    assert!(segs.iter().all(|s| s.1 <= 16), "{segs:?}");
    let found = semantic(&idx, "note 3 on subject 3");
    assert_eq!(found.len(), 18, "{found:?}");
    assert!(!found.contains(&"n005.txt".to_string()), "{found:?}");

    // Every note gone, one probe added: the dead segments go whole.
    for i in (0..30).filter(|i| i % 5 >= 2) {
        std::fs::remove_file(docs.join(format!("n{i:03}.txt"))).unwrap();
    }
    probe(&docs, 0);
    index(&docs, &cap);
    assert_eq!(sizes(&idx), vec![1]);
    assert_eq!(tombstones(&idx), 0);
    assert_eq!(
        vector_files(&idx),
        3,
        "one segment's two files and the tombstones"
    );
    ranks_first(&idx, 0);
}

#[test]
fn a_run_killed_during_a_merge_leaves_the_index_whole_and_the_next_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    notes(&docs, 0..30);
    index(&docs, &[]);
    let idx = docs.join(".semsearch");
    let p30 = passages(&idx);
    // 10 more: the new segment merges into the first (30 <= 4 x 10).
    notes(&docs, 30..39);
    probe(&docs, 1);
    let mut cmd = bin();
    cmd.arg("index").arg(&docs).arg("--quiet");
    kill_at_failpoint(cmd, "merge");
    assert_eq!(status_documents(&idx), 30, "the committed index, whole");
    assert_eq!(segments(&idx), vec![(1, p30)]);
    assert_eq!(semantic(&idx, "note 3").len(), 30);

    // The next run commits the ten and merges.
    assert_eq!(added(&index(&docs, &[])), 10);
    let segs = segments(&idx);
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_eq!(segs[0].1, passages(&idx));
    ranks_first(&idx, 1);
    assert_eq!(semantic(&idx, PROBES[1]).len(), 40);
}

#[test]
fn a_format_6_index_is_upgraded_in_place_without_re_embedding() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    notes(&docs, 0..11);
    probe(&docs, 2);
    index(&docs, &[]);
    let idx = docs.join(".semsearch");
    // Format 6's layout: one vectors.usearch, no segment list, the
    // documents in documents.json (the lexical index is left as it is:
    // indexer/tests/lsa.rs rewrites it too).
    let mut m = manifest(&idx);
    let g = m["generation"].as_u64().unwrap();
    let table = crate::common::documents(&idx);
    std::fs::write(gen_dir(&idx, g).join("documents.json"), table.to_string()).unwrap();
    m.as_object_mut().unwrap().remove("next_doc_seq");
    let old = gen_dir(&idx, g).join("vectors.usearch");
    std::fs::rename(segment_file(&idx, g, 1), &old).unwrap();
    std::fs::remove_dir_all(gen_dir(&idx, g).join("vectors")).unwrap();
    m["format_version"] = 6.into();
    m.as_object_mut().unwrap().remove("vector_segments");
    std::fs::write(idx.join("manifest.json"), m.to_string()).unwrap();
    let before = std::fs::metadata(&old).unwrap().ino();
    let out = bin()
        .args(["search", "note", "--index"])
        .arg(&idx)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("semsearch index"), "{}", stderr(&out));

    let r = index(&docs, &[]);
    assert_eq!(added(&r), 0, "nothing re-embedded: {r}");
    assert_eq!(r["unchanged"], 12);
    assert_eq!(manifest(&idx)["format_version"], 8);
    assert_eq!(segments(&idx), vec![(1, passages(&idx))]);
    let now = manifest(&idx)["generation"].as_u64().unwrap();
    let ino = std::fs::metadata(segment_file(&idx, now, 1)).unwrap().ino();
    assert_eq!(ino, before, "linked, not rewritten");
    ranks_first(&idx, 2);
}

#[test]
fn segments_carry_their_measured_search_expansion_and_older_ones_get_it_once() {
    let (_tmp, docs, idx) = indexed_notes(11, &[]);
    probe(&docs, 0);
    index(&docs, &[]);
    // Twelve spread vectors: usearch's default expansion finds them all.
    assert_eq!(expansions(&idx), vec![Some(64), Some(64)]);
    assert_eq!(
        status(&idx)["search_expansions"],
        serde_json::json!([64, 64])
    );
    // As segments were listed before they were calibrated.
    let mut m = manifest(&idx);
    for seg in m["vector_segments"].as_array_mut().unwrap() {
        seg.as_object_mut().unwrap().remove("expansion");
    }
    std::fs::write(idx.join("manifest.json"), m.to_string()).unwrap();
    ranks_first(&idx, 0);
    let g = m["generation"].as_u64().unwrap();
    let first = segments(&idx)[0].0;
    let before = std::fs::metadata(segment_file(&idx, g, first))
        .unwrap()
        .ino();
    notes(&docs, 11..12);
    let r = index(&docs, &[]);
    assert_eq!(added(&r), 1, "{r}");
    let list = expansions(&idx);
    assert!(list.iter().all(|e| *e == Some(64)), "{list:?}");
    let now = manifest(&idx)["generation"].as_u64().unwrap();
    let ino = std::fs::metadata(segment_file(&idx, now, first))
        .unwrap()
        .ino();
    assert_eq!(ino, before, "measured, not rewritten");
    ranks_first(&idx, 0);
}
