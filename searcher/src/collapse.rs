//! Near-duplicate collapse: a result whose text is nearly the same as a
//! better-ranked one's is folded under it instead of taking a place.
//!
//! Real folders hold the same text twice: mdBook's `print.html` repeats
//! every chapter, exports sit beside their sources, copies beside versions.
//! Two results are duplicates when their document vectors (the unit mean
//! of their passages') or the passages that matched the query have a
//! cosine of at least [`DUPLICATE_COSINE`]. Comparing the matched passages
//! too catches a chapter inside a whole-book page, whose document vector
//! differs from the chapter's.

use std::collections::HashMap;

use semsearch_indexer::vectors::dot;
use semsearch_indexer::PassageRef;
use serde::Serialize;

use crate::backend::Backend;
use crate::error::Result;
use crate::fusion::Fused;

/// Cosine at or above which two texts count as the same. all-MiniLM-L6-v2
/// puts a text and a copy with a changed sentence or heading above 0.97,
/// while distinct abstracts on one topic stay below 0.95 (SciFact's closest
/// pairs); eval measures the ranking with and without (EVALUATION.md).
pub const DUPLICATE_COSINE: f32 = 0.98;

/// A result folded under a better-ranked one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Duplicate {
    /// Index into the index's documents.
    #[serde(skip)]
    pub doc: usize,
    /// The document's id.
    pub id: String,
    /// Its fused score.
    pub score: f32,
    /// Its cosine to the result it is folded under.
    pub similarity: f32,
}

/// What a result is compared by.
struct Signature {
    doc: Option<Vec<f32>>,
    passage: Option<Vec<f32>>,
}

fn cosine(a: &Option<Vec<f32>>, b: &Option<Vec<f32>>) -> f32 {
    match (a, b) {
        (Some(a), Some(b)) => dot(a, b),
        _ => f32::MIN,
    }
}

/// Walk `fused` best first, keeping up to `k` results and folding each
/// near-duplicate under the kept result it repeats. Vectors are read in
/// batches of `2k` candidates (one round trip each on a store).
pub(crate) fn collapse(
    b: &dyn Backend,
    fused: Vec<Fused>,
    best: &HashMap<usize, PassageRef>,
    k: usize,
) -> Result<Vec<(Fused, Vec<Duplicate>)>> {
    let mut kept: Vec<(Fused, Signature, Vec<Duplicate>)> = Vec::new();
    let mut folded: Vec<(usize, Duplicate)> = Vec::new();
    let batch = (2 * k).max(1);
    let mut rest = fused.into_iter().peekable();
    while kept.len() < k && rest.peek().is_some() {
        let chunk: Vec<Fused> = rest.by_ref().take(batch).collect();
        let docs: Vec<usize> = chunk.iter().map(|f| f.doc).collect();
        let passages: Vec<PassageRef> = docs.iter().filter_map(|d| best.get(d).copied()).collect();
        let mut doc_vectors = b.doc_vectors(&docs)?;
        let mut passage_vectors = b.passage_vectors(&passages)?;
        for f in chunk {
            if kept.len() == k {
                break;
            }
            let sig = Signature {
                doc: doc_vectors.remove(&f.doc),
                passage: best.get(&f.doc).and_then(|p| passage_vectors.remove(p)),
            };
            let twin = kept
                .iter()
                .enumerate()
                .map(|(i, (_, s, _))| {
                    (
                        i,
                        cosine(&s.doc, &sig.doc).max(cosine(&s.passage, &sig.passage)),
                    )
                })
                .find(|(_, sim)| *sim >= DUPLICATE_COSINE);
            match twin {
                Some((i, similarity)) => folded.push((
                    i,
                    Duplicate {
                        doc: f.doc,
                        id: String::new(),
                        score: f.score,
                        similarity,
                    },
                )),
                None => kept.push((f, sig, Vec::new())),
            }
        }
    }
    let ids = b.ids(&folded.iter().map(|(_, d)| d.doc).collect::<Vec<_>>())?;
    for (i, mut d) in folded {
        d.id = ids.get(&d.doc).cloned().unwrap_or_default();
        kept[i].2.push(d);
    }
    Ok(kept.into_iter().map(|(f, _, d)| (f, d)).collect())
}
