//! Near-duplicate collapse: a result whose text is nearly the same as a
//! better-ranked one's is folded under it instead of taking a place.
//!
//! Real folders hold the same text twice: mdBook's `print.html` repeats
//! every chapter, exports sit beside their sources, copies beside versions.
//! Two results are duplicates when their document vectors (the unit mean
//! of their passages') or the passages that matched the query have a
//! cosine of at least [`DUPLICATE_COSINE`]. Comparing the matched passages
//! too catches a chapter inside a whole-book page, whose document vector
//! differs from the chapter's. Such a page (many times the passages of the
//! document it repeats) folds under that document even when it ranked
//! first: the chapter is shown in its place.

use std::collections::HashMap;

use semsearch_indexer::vectors::dot;
use semsearch_indexer::{DocEntry, PassageRef};
use serde::Serialize;

use crate::backend::Backend;
use crate::error::Result;
use crate::fusion::Fused;

/// How many times more passages a duplicate must have than the result it
/// repeats to count as a page that gathers others (a print-all page, a
/// concatenation, an export): such a page folds under the document it
/// repeats, whichever ranked first. mdBook's `print.html` has hundreds of
/// times a chapter's passages; a copy with an edit has about as many.
pub const GATHERING_FACTOR: usize = 3;

/// Fewest passages of a gathering page: it holds several documents, and
/// shorter pairs (SciFact's abstracts have 1 to 4) are never read for it.
pub const GATHERING_MIN_PASSAGES: usize = 12;

/// Share of the page's matched passage (its word 5-grams) found in the
/// document's text for the page to repeat it. Chunk boundaries differ
/// between a chapter and the page that holds it, so their passages'
/// vectors need not agree; their words do.
pub const CONTAINED: f32 = 0.8;

/// Words per shingle.
const SHINGLE: usize = 5;

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

/// The word-level test for a gathering page and a document it repeats,
/// with what it read kept for the rest of the walk.
#[derive(Default)]
struct Repeats {
    counts: HashMap<usize, usize>,
    documents: HashMap<usize, (DocEntry, String)>,
    /// Pages' texts as [`normalized`] words, for [`Repeats::includes`].
    normalized: HashMap<usize, String>,
}

impl Repeats {
    fn count(&mut self, b: &dyn Backend, doc: usize) -> Result<usize> {
        if let Some(&n) = self.counts.get(&doc) {
            return Ok(n);
        }
        let n = b.passage_counts(&[doc])?.get(&doc).copied().unwrap_or(0);
        self.counts.insert(doc, n);
        Ok(n)
    }

    fn document(&mut self, b: &dyn Backend, doc: usize) -> Result<Option<&(DocEntry, String)>> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.documents.entry(doc) {
            match b.documents(&[doc])?.remove(&doc) {
                Some(d) => slot.insert(d),
                None => return Ok(None),
            };
        }
        Ok(self.documents.get(&doc))
    }

    /// Whether `page`'s matched passage is in `doc`'s text.
    fn holds(&mut self, b: &dyn Backend, page: usize, at: PassageRef, doc: usize) -> Result<bool> {
        let passage = match self.document(b, page)? {
            Some((entry, text)) => match entry.passages.get(at.ordinal) {
                Some(p) => text.get(p.start..p.end).unwrap_or_default().to_string(),
                None => return Ok(false),
            },
            None => return Ok(false),
        };
        Ok(match self.document(b, doc)? {
            Some((_, text)) => contained(&passage, text) >= CONTAINED,
            None => false,
        })
    }

    /// Whether `page`'s text holds `doc`'s: two of three runs of
    /// [`WINDOW`] words taken across the document are in the page (words
    /// compared lowercased, punctuation and spacing aside).
    fn includes(&mut self, b: &dyn Backend, page: usize, doc: usize) -> Result<bool> {
        let w = match self.document(b, doc)? {
            Some((_, text)) => words(text),
            None => return Ok(false),
        };
        if w.len() < WINDOW {
            return Ok(false);
        }
        let runs: Vec<String> = [1, 2, 3]
            .iter()
            .map(|q| {
                let at = (w.len() - WINDOW) * q / 4;
                w[at..at + WINDOW].join(" ")
            })
            .collect();
        if !self.normalized.contains_key(&page) {
            let text = match self.document(b, page)? {
                Some((_, text)) => normalized(text),
                None => return Ok(false),
            };
            self.normalized.insert(page, text);
        }
        let text = &self.normalized[&page];
        Ok(runs.iter().filter(|r| text.contains(r.as_str())).count() >= 2)
    }

    /// The kept result that `f` and it are a gathering page and a document
    /// it repeats (either way round), by their words.
    fn find(
        &mut self,
        b: &dyn Backend,
        kept: &[(Fused, Signature, Vec<Duplicate>)],
        f: &Fused,
        best: &HashMap<usize, PassageRef>,
    ) -> Result<Option<(usize, f32)>> {
        let n = self.count(b, f.doc)?;
        for (i, (k, _, _)) in kept.iter().enumerate() {
            let m = self.count(b, k.doc)?;
            let (page, doc) = match () {
                _ if n >= GATHERING_MIN_PASSAGES && n >= GATHERING_FACTOR * m.max(1) => {
                    (f.doc, k.doc)
                }
                _ if m >= GATHERING_MIN_PASSAGES && m >= GATHERING_FACTOR * n.max(1) => {
                    (k.doc, f.doc)
                }
                _ => continue,
            };
            // The page's matched passage in the document, or (a page found
            // by its words alone, or by another chapter's passage) the
            // document's text inside the page's.
            let repeats = match best.get(&page) {
                Some(&at) => self.holds(b, page, at, doc)? || self.includes(b, page, doc)?,
                None => self.includes(b, page, doc)?,
            };
            if repeats {
                return Ok(Some((i, CONTAINED)));
            }
        }
        Ok(None)
    }
}

/// Words of a run looked for in a page that may hold the document.
const WINDOW: usize = 8;

/// A text's words, lowercased, punctuation and spacing aside.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A text's [`words`] joined by single spaces.
fn normalized(text: &str) -> String {
    words(text).join(" ")
}

/// Share of `passage`'s word shingles that occur in `text`.
fn contained(passage: &str, text: &str) -> f32 {
    let shingles = |t: &str| -> Vec<u64> {
        words(t)
            .windows(SHINGLE)
            .map(|w| {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                w.hash(&mut h);
                h.finish()
            })
            .collect()
    };
    let wanted = shingles(passage);
    if wanted.is_empty() {
        return 0.0;
    }
    let have: std::collections::HashSet<u64> = shingles(text).into_iter().collect();
    wanted.iter().filter(|h| have.contains(h)).count() as f32 / wanted.len() as f32
}

fn duplicate(f: &Fused, similarity: f32) -> Duplicate {
    Duplicate {
        doc: f.doc,
        id: String::new(),
        score: f.score,
        similarity,
    }
}

/// Whether `page` gathers `doc` with much else: [`GATHERING_FACTOR`] times
/// its passages or more.
fn gathers(b: &dyn Backend, page: usize, doc: usize) -> Result<bool> {
    let counts = b.passage_counts(&[page, doc])?;
    let (p, d) = (counts.get(&page), counts.get(&doc));
    Ok(matches!((p, d), (Some(&p), Some(&d)) if d > 0 && p >= GATHERING_FACTOR * d))
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
    let mut repeats = Repeats::default();
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
            let twin = match twin {
                Some(t) => Some(t),
                None => repeats.find(b, &kept, &f, best)?,
            };
            match twin {
                Some((i, similarity)) if gathers(b, kept[i].0.doc, f.doc)? => {
                    // The specific document takes the gathering page's
                    // place (what was folded under the page stays there).
                    let (page, _, _) = std::mem::replace(&mut kept[i], (f, sig, Vec::new()));
                    folded.push((i, duplicate(&page, similarity)));
                }
                Some((i, similarity)) => folded.push((i, duplicate(&f, similarity))),
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
