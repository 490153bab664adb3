//! A query analysed once: the same terms rank the lexical leg and mark the
//! snippets.

use std::collections::HashSet;

use semsearch_indexer::Index;
use tantivy::tokenizer::TextAnalyzer;

use crate::lexical::Lexical;

/// A query's text and its analysed terms (the index's analyser: lower
/// case, stop words out, stemmed), each with its count in the query.
#[derive(Debug, Clone)]
pub struct Query {
    text: String,
    terms: Vec<(String, u32)>,
}

impl Query {
    /// Analyse `text` with `index`'s analyser.
    pub fn new(index: &Index, text: &str) -> Query {
        Query::analysed(&mut index.analyzer(), text)
    }

    /// Analyse `text` with `analyzer`.
    pub fn analysed(analyzer: &mut TextAnalyzer, text: &str) -> Query {
        let mut stream = analyzer.token_stream(text);
        let mut terms: Vec<(String, u32)> = Vec::new();
        while let Some(tok) = stream.next() {
            match terms.iter_mut().find(|(t, _)| *t == tok.text) {
                Some((_, n)) => *n += 1,
                None => terms.push((tok.text.clone(), 1)),
            }
        }
        Query {
            text: text.to_string(),
            terms,
        }
    }

    /// A query with no text (documents like a document): nothing to mark.
    pub fn none() -> Query {
        Query {
            text: String::new(),
            terms: Vec::new(),
        }
    }

    /// The text as typed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Distinct analysed terms with their counts, in first-seen order.
    pub fn terms(&self) -> &[(String, u32)] {
        &self.terms
    }

    /// The lexical leg's weighted terms: for BM25 each distinct term
    /// weighs 1, or its count with `query_tf` (as in Lucene,
    /// Elasticsearch, Pyserini and bm25s, where each occurrence is its own
    /// clause); for TF-IDF and LSA, 1 + ln count.
    pub fn weighted(&self, lexical: Lexical, query_tf: bool) -> Vec<(String, f32)> {
        self.terms
            .iter()
            .map(|(t, n)| {
                let w = match lexical {
                    Lexical::Bm25 if query_tf => *n as f32,
                    Lexical::Bm25 => 1.0,
                    Lexical::TfIdf | Lexical::Lsa => semsearch_indexer::lsa::tf_weight(*n),
                };
                (t.clone(), w)
            })
            .collect()
    }

    /// The distinct terms, for matching tokens of passages.
    pub fn term_set(&self) -> HashSet<&str> {
        self.terms.iter().map(|(t, _)| t.as_str()).collect()
    }
}
