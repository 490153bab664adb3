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

use crate::fusion::Fused;
use crate::Searcher;

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

impl Searcher {
    /// Walk `fused` best first, keeping up to `k` results and folding
    /// each near-duplicate under the kept result it repeats.
    pub(crate) fn collapse(
        &self,
        fused: Vec<Fused>,
        best: &HashMap<usize, PassageRef>,
        k: usize,
    ) -> Vec<(Fused, Vec<Duplicate>)> {
        let index = self.index();
        let mut kept: Vec<(Fused, Signature, Vec<Duplicate>)> = Vec::new();
        for f in fused {
            if kept.len() == k {
                break;
            }
            let sig = Signature {
                doc: index.doc_vector(f.doc),
                passage: best
                    .get(&f.doc)
                    .and_then(|&p| index.passage_vector(index.passage_entry(p).id)),
            };
            let twin = kept
                .iter_mut()
                .map(|(_, s, dups)| {
                    let sim = cosine(&s.doc, &sig.doc).max(cosine(&s.passage, &sig.passage));
                    (sim, dups)
                })
                .find(|(sim, _)| *sim >= DUPLICATE_COSINE);
            match twin {
                Some((similarity, dups)) => dups.push(Duplicate {
                    doc: f.doc,
                    id: index.doc_ids()[f.doc].clone(),
                    score: f.score,
                    similarity,
                }),
                None => kept.push((f, sig, Vec::new())),
            }
        }
        kept.into_iter().map(|(f, _, d)| (f, d)).collect()
    }
}
