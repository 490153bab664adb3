//! The best `k` documents by score across a lexical index's segments, with
//! pruning (the query's own: block-WAND, or [`Disjunction`]'s MaxScore)
//! that shares its bound between segments.
//!
//! tantivy's `TopDocs` starts every segment's pruning from no bound at
//! all, so each segment scores documents until its own k-th best rises; a
//! million short documents are a dozen segments, and the feedback pass's
//! 13-22 terms made that the lexical leg's whole cost. Here each segment
//! also prunes below the best k-th score any segment has reached (one
//! atomic, segments searched one after another or on several threads):
//! no document that could be in the top `k` is skipped, and equal scores
//! still pass, so the result is the one `TopDocs` returns. A caller that
//! knows `k` documents reaching some score (feedback's second ranking,
//! from the first's) starts the bound there.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::Weight;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

#[cfg(doc)]
use crate::disjunction::Disjunction;

/// The top `k` (score, address) pairs, best first (ties: lower address).
pub(crate) struct SharedTopDocs {
    k: usize,
    /// Bits of the best k-th score reached by any segment (scores are
    /// positive, so their bits order as the scores do); 0 for none yet.
    bound: AtomicU32,
}

impl SharedTopDocs {
    /// The top `k`; when at least `k` documents are known to score `floor`
    /// or more: pruning starts from it instead of from nothing.
    pub(crate) fn above(k: usize, floor: Score) -> Self {
        SharedTopDocs {
            k: k.max(1),
            bound: AtomicU32::new(if floor > 0.0 { floor.to_bits() } else { 0 }),
        }
    }

    /// The threshold to prune below: under the shared bound by one float,
    /// so a document scoring exactly the bound still ties in.
    fn shared(&self) -> Score {
        match self.bound.load(AtomicOrdering::Relaxed) {
            0 => Score::MIN,
            bits => f32::from_bits(bits - 1),
        }
    }

    fn raise(&self, kth: Score) {
        if kth > 0.0 {
            self.bound.fetch_max(kth.to_bits(), AtomicOrdering::Relaxed);
        }
    }
}

/// A heap entry: greater is better (higher score, then lower document).
#[derive(Clone, Copy)]
struct Entry(Score, DocId);

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .partial_cmp(&other.0)
            .unwrap_or(Ordering::Equal)
            .then_with(|| other.1.cmp(&self.1))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}

/// One segment's best `k`, worst on top.
pub(crate) struct SegmentTop {
    k: usize,
    segment: SegmentOrdinal,
    heap: BinaryHeap<Reverse<Entry>>,
}

impl SegmentTop {
    /// Keep `(doc, score)` if it is among the best `k`; the k-th score once
    /// there are `k`.
    fn push(&mut self, doc: DocId, score: Score) -> Option<Score> {
        let entry = Entry(score, doc);
        if self.heap.len() < self.k {
            self.heap.push(Reverse(entry));
        } else if self.heap.peek().is_some_and(|w| entry > w.0) {
            self.heap.pop();
            self.heap.push(Reverse(entry));
        }
        (self.heap.len() == self.k).then(|| self.heap.peek().map_or(Score::MIN, |w| w.0 .0))
    }
}

impl SegmentCollector for SegmentTop {
    type Fruit = Vec<(Score, DocAddress)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        self.push(doc, score);
    }

    fn harvest(self) -> Self::Fruit {
        let segment = self.segment;
        self.heap
            .into_iter()
            .map(|Reverse(Entry(score, doc))| (score, DocAddress::new(segment, doc)))
            .collect()
    }
}

impl Collector for SharedTopDocs {
    type Fruit = Vec<(Score, DocAddress)>;
    type Child = SegmentTop;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        _: &SegmentReader,
    ) -> tantivy::Result<SegmentTop> {
        Ok(SegmentTop {
            k: self.k,
            segment,
            heap: BinaryHeap::with_capacity(self.k + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        let mut all: Vec<(Score, DocAddress)> = fruits.into_iter().flatten().collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        all.truncate(self.k);
        Ok(all)
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Fruit> {
        let mut top = self.for_segment(segment, reader)?;
        let alive = reader.alive_bitset();
        let mut threshold = self.shared();
        weight.for_each_pruning(threshold, reader, &mut |doc, score| {
            if alive.is_some_and(|a| a.is_deleted(doc)) {
                return threshold;
            }
            if let Some(kth) = top.push(doc, score) {
                self.raise(kth);
                threshold = kth.max(self.shared());
            } else {
                threshold = self.shared();
            }
            threshold
        })?;
        Ok(top.harvest())
    }
}

#[cfg(test)]
mod tests {
    use super::SharedTopDocs;
    use crate::disjunction::Disjunction;
    use tantivy::collector::TopDocs;
    use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
    use tantivy::schema::{IndexRecordOption, Schema, STRING, TEXT};
    use tantivy::{doc, DocAddress, Index, IndexWriter, Term};

    /// The same scores place by place (pruning sums a document's terms
    /// in an order that depends on its bound: the last bit may differ),
    /// and the same documents above the last place's score (at it, ties).
    fn same_ranking(ours: &[(f32, DocAddress)], theirs: &[(f32, DocAddress)], what: &str) {
        assert_eq!(ours.len(), theirs.len(), "{what}");
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * a.abs().max(1.0);
        for (o, t) in ours.iter().zip(theirs) {
            assert!(close(o.0, t.0), "{what}: {ours:?} against {theirs:?}");
        }
        let Some(&(last, _)) = theirs.last() else {
            return;
        };
        let above = |list: &[(f32, DocAddress)]| {
            let mut docs: Vec<DocAddress> = list
                .iter()
                .filter(|(s, _)| !close(*s, last))
                .map(|&(_, d)| d)
                .collect();
            docs.sort();
            docs
        };
        assert_eq!(above(ours), above(theirs), "{what}");
    }

    /// A few segments of documents drawn from a small vocabulary (many
    /// equal scores), some deleted: every weighted query gives exactly the
    /// list `TopDocs` gives, one thread or several, by block-WAND and by
    /// [`Disjunction`]'s MaxScore.
    #[test]
    fn equals_top_docs_across_segments_ties_and_deletes() {
        let mut schema = Schema::builder();
        let text = schema.add_text_field("text", TEXT);
        let id = schema.add_text_field("id", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) % n
        };
        for segment in 0..6 {
            for d in 0..400 + 150 * segment {
                let words: Vec<String> = (0..1 + next(12))
                    .map(|_| format!("w{}", next(40)))
                    .collect();
                let key = format!("{segment}-{d}");
                writer
                    .add_document(doc!(text => words.join(" "), id => key))
                    .unwrap();
            }
            writer.commit().unwrap();
        }
        for d in (0..400).step_by(7) {
            writer.delete_term(Term::from_field_text(id, &format!("0-{d}")));
        }
        writer.commit().unwrap();
        for threads in [false, true] {
            let mut index = index.clone();
            if threads {
                index.set_default_multithread_executor().unwrap();
            }
            let searcher = index.reader().unwrap().searcher();
            assert!(searcher.segment_readers().len() >= 6);
            for _ in 0..60 {
                // Up to 22 terms, as feedback's second ranking has.
                let weighted: Vec<(Term, f32)> = (0..1 + next(22))
                    .map(|_| {
                        let term = Term::from_field_text(text, &format!("w{}", next(40)));
                        (term, 0.1 + next(100) as f32 / 40.0)
                    })
                    .collect();
                let clauses: Vec<(Occur, Box<dyn Query>)> = weighted
                    .iter()
                    .map(|(term, weight)| {
                        let q = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
                        (
                            Occur::Should,
                            Box::new(BoostQuery::new(Box::new(q), *weight)) as _,
                        )
                    })
                    .collect();
                let query = BooleanQuery::new(clauses);
                let disjunction = Disjunction::new(weighted, query.clone());
                for k in [1, 10, 100] {
                    let theirs = searcher
                        .search(&query, &TopDocs::with_limit(k).order_by_score())
                        .unwrap();
                    for (name, q) in [("wand", &query as &dyn Query), ("maxscore", &disjunction)] {
                        let ours = searcher.search(q, &SharedTopDocs::above(k, 0.0)).unwrap();
                        let what = format!("{name}, k {k}, threads {threads}");
                        same_ranking(&ours, &theirs, &what);
                        // Started from the k-th score (less its last bits,
                        // which depend on the order terms are summed): the
                        // same list.
                        if let Some(&(kth, _)) = theirs.get(k - 1) {
                            let floor = kth * (1.0 - 1e-5);
                            let floored = searcher.search(q, &SharedTopDocs::above(k, floor));
                            let what = format!("{what}, from its k-th score");
                            same_ranking(&floored.unwrap(), &theirs, &what);
                        }
                    }
                }
            }
        }
    }
}
