//! A weighted OR of one field's terms, BM25-scored exactly as a
//! `BooleanQuery` of boosted `TermQuery`s is, whose top-k search prunes
//! with MaxScore (Turtle and Flood, 1995) instead of tantivy's block-WAND.
//!
//! Feedback's second ranking is the query's terms plus ten added ones of
//! small weight. Block-WAND keeps every term's cursor in document order
//! and re-sorts them at each pivot, so each added term costs on every
//! candidate; a million passages, 13-22 terms: 8.3-9.4 ms of one core per
//! query however high the bound started (7.0 ms with the final k-th score
//! given). MaxScore splits the terms, least weighty first, into those whose
//! maxima together cannot beat the bound (non-essential: only looked up in
//! documents another term found, and only while the document can still
//! make it) and the rest (essential: their postings are walked). As the
//! bound rises nearly every added term becomes non-essential. The
//! essential postings are walked term at a time over windows of 4,096
//! documents, added into an array, rather than document at a time (a
//! million passages, lexical p50 5.7-6.5 -> 4.0-4.8 ms beside
//! block-WAND's 7.5-9.5 in the same runs). The same documents reach the
//! collector as with tantivy's `TopDocs` (tested), their scores summed in
//! f64 and rounded: they differ from tantivy's f32 sums in the last bit
//! at most, and a document scores the same however the bound stood when
//! it was met.

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::Weight;
use tantivy::query::{
    Bm25StatisticsProvider, Bm25Weight, BooleanQuery, EnableScoring, Explanation, Query, Scorer,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, SegmentReader, Term, TERMINATED};

/// Weighted terms of one field, any one of which matches.
#[derive(Clone, Debug)]
pub(crate) struct Disjunction {
    terms: Vec<(Term, Score)>,
    /// The same query as tantivy builds it: what scores documents outside
    /// a top-k search (under a filter, or for an explanation).
    boolean: BooleanQuery,
}

impl Disjunction {
    /// `terms` with their weights; `boolean` is the equal tantivy query.
    pub(crate) fn new(terms: Vec<(Term, Score)>, boolean: BooleanQuery) -> Self {
        Disjunction { terms, boolean }
    }
}

impl Query for Disjunction {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let inner = self.boolean.weight(scoring)?;
        let EnableScoring::Enabled {
            statistics_provider,
            ..
        } = scoring
        else {
            return Ok(inner);
        };
        let terms = weights(statistics_provider, &self.terms)?;
        Ok(Box::new(DisjunctionWeight { terms, inner }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.boolean.query_terms(visitor);
    }
}

struct DisjunctionWeight {
    terms: Vec<(Term, Bm25Weight)>,
    inner: Box<dyn Weight>,
}

/// Each term's BM25 weight from the whole index's statistics, times its
/// boost: what `TermQuery` in a `BoostQuery` scores with.
fn weights(
    statistics: &dyn Bm25StatisticsProvider,
    terms: &[(Term, Score)],
) -> tantivy::Result<Vec<(Term, Bm25Weight)>> {
    terms
        .iter()
        .map(|(term, boost)| {
            let bm25 = Bm25Weight::for_terms(statistics, std::slice::from_ref(term))?;
            Ok((term.clone(), bm25.boost_by(*boost)))
        })
        .collect()
}

/// A scorer per term present in the segment.
fn scorers(
    terms: &[(Term, Bm25Weight)],
    reader: &SegmentReader,
) -> tantivy::Result<Vec<TermScorer>> {
    let mut out = Vec::with_capacity(terms.len());
    for (term, bm25) in terms {
        let inverted = reader.inverted_index(term.field())?;
        let Some(postings) = inverted.read_postings(term, IndexRecordOption::WithFreqs)? else {
            continue;
        };
        let norms = reader.get_fieldnorms_reader(term.field())?;
        out.push(TermScorer {
            postings,
            norms,
            bm25: bm25.clone(),
        });
    }
    Ok(out)
}

/// The scores [`Disjunction`] gives the live documents `docs` (any order)
/// for weighted `terms`, each term's postings sought to them rather than
/// walked: a few hundred documents cost a few hundred seeks per term
/// however long the postings are. Documents without any of the terms are
/// left out; the rest come in address order.
pub(crate) fn score_documents(
    searcher: &Searcher,
    terms: &[(Term, Score)],
    mut docs: Vec<DocAddress>,
) -> tantivy::Result<Vec<(DocAddress, Score)>> {
    let weighted = weights(searcher, terms)?;
    docs.sort_unstable();
    docs.dedup();
    let mut out = Vec::with_capacity(docs.len());
    for segment in docs.chunk_by(|a, b| a.segment_ord == b.segment_ord) {
        let reader = searcher.segment_reader(segment[0].segment_ord);
        let mut scorers = scorers(&weighted, reader)?;
        for &addr in segment {
            let mut score: Option<Sum> = None;
            for s in &mut scorers {
                if s.doc() < addr.doc_id {
                    s.seek(addr.doc_id);
                }
                if s.doc() == addr.doc_id {
                    *score.get_or_insert(0.0) += Sum::from(s.score());
                }
            }
            out.extend(score.map(|sum| (addr, sum as Score)));
        }
    }
    Ok(out)
}

impl Weight for DisjunctionWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        self.inner.scorer(reader, boost)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.inner.explain(reader, doc)
    }

    fn for_each_pruning(
        &self,
        threshold: Score,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score) -> Score,
    ) -> tantivy::Result<()> {
        max_score(scorers(&self.terms, reader)?, threshold, callback);
        Ok(())
    }
}

/// Every document that may score above `threshold`, with its score, to
/// `callback`, which answers the threshold from then on (never lower).
fn max_score(
    mut scorers: Vec<TermScorer>,
    mut threshold: Score,
    callback: &mut dyn FnMut(DocId, Score) -> Score,
) {
    scorers.retain(|s| s.doc() != TERMINATED);
    scorers.sort_by(|a, b| a.max_score().total_cmp(&b.max_score()));
    // bound[i]: the most the first i terms can add to a document.
    let mut bound: Vec<Sum> = Vec::with_capacity(scorers.len() + 1);
    bound.push(0.0);
    for s in &scorers {
        bound.push(bound[bound.len() - 1] + Sum::from(s.max_score()));
    }
    // scorers[..essential] cannot beat the threshold on their own.
    let split = |threshold: Score| {
        bound
            .iter()
            .skip(1)
            .take_while(|&&b| b <= Sum::from(threshold))
            .count()
    };
    let mut essential = split(threshold);
    let mut window = Window::default();
    let mut found = Vec::with_capacity(WINDOW);
    while essential < scorers.len() {
        let Some(start) = scorers[essential..].iter().map(TermScorer::doc).min() else {
            return;
        };
        if start == TERMINATED {
            return;
        }
        window.fill(&mut scorers[essential..], start, &mut found);
        for &(offset, partial) in &found {
            let doc = start + offset;
            // A term that turned non-essential inside the window has added
            // its score already and is past `end`: its bound stays in
            // `bound` (loose, never unsafe).
            let nonessential = &mut scorers[..essential];
            if let Some(score) = complete(nonessential, &bound, doc, partial, threshold) {
                threshold = callback(doc, score as Score);
                essential = essential.max(split(threshold));
            }
        }
    }
}

/// Documents one pass of the essential terms covers.
const WINDOW: usize = 4096;

/// A document's score as it is summed: in f64, so that the order its terms
/// are added in (which terms are essential depends on the bound when the
/// document is met) leaves no trace once it is rounded to f32, and equal
/// documents score alike wherever they are met.
type Sum = f64;

/// Partial scores of one window's documents, and which were found.
struct Window {
    scores: Vec<Sum>,
    found: Vec<u64>,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            scores: vec![0.0; WINDOW],
            found: vec![0; WINDOW / 64],
        }
    }
}

impl Window {
    /// The documents from `start` that the essential terms `scorers` find
    /// in the window, with their partial scores, into `out` in order; the
    /// scorers end past the window. Term at a time: each term's postings
    /// there are added up in one tight loop.
    fn fill(&mut self, scorers: &mut [TermScorer], start: DocId, out: &mut Vec<(DocId, Sum)>) {
        let end = start.saturating_add(WINDOW as DocId).min(TERMINATED);
        for s in scorers {
            while s.doc() < end {
                let i = (s.doc() - start) as usize;
                self.scores[i] += Sum::from(s.score());
                self.found[i / 64] |= 1 << (i % 64);
                s.advance();
            }
        }
        self.drain_into(out);
    }

    /// The found documents' (offset, partial score) into `out`, in order;
    /// the window is left empty.
    fn drain_into(&mut self, out: &mut Vec<(DocId, Sum)>) {
        out.clear();
        for (w, bits) in self.found.iter_mut().enumerate() {
            let mut word = std::mem::take(bits);
            while word != 0 {
                let i = w * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                out.push((i as DocId, std::mem::take(&mut self.scores[i])));
            }
        }
    }
}

/// `doc`'s score with the non-essential terms `scorers` added to the
/// essential ones' `partial`, weightiest first; `None` as soon as it
/// cannot rise above `threshold`.
fn complete(
    scorers: &mut [TermScorer],
    bound: &[Sum],
    doc: DocId,
    mut score: Sum,
    threshold: Score,
) -> Option<Sum> {
    let threshold = Sum::from(threshold);
    for i in (0..scorers.len()).rev() {
        if score + bound[i + 1] <= threshold {
            return None;
        }
        let s = &mut scorers[i];
        if s.doc() < doc {
            s.seek(doc);
        }
        if s.doc() == doc {
            score += Sum::from(s.score());
        }
    }
    (score > threshold).then_some(score)
}

/// One term's postings in a segment, scored by BM25 (tantivy keeps its own
/// term scorer private).
struct TermScorer {
    postings: SegmentPostings,
    norms: FieldNormReader,
    bm25: Bm25Weight,
}

impl TermScorer {
    fn doc(&self) -> DocId {
        self.postings.doc()
    }

    fn advance(&mut self) -> DocId {
        self.postings.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.postings.seek(target)
    }

    /// The current document's score.
    fn score(&self) -> Score {
        let norm = self.norms.fieldnorm_id(self.doc());
        self.bm25.score(norm, self.postings.term_freq())
    }

    /// The most the term scores in any document.
    fn max_score(&self) -> Score {
        self.bm25.max_score()
    }
}
