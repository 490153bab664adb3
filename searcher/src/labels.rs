//! Names for groups of documents: each group's most distinctive terms by
//! class-based TF-IDF (c-TF-IDF, as BERTopic names its topics): a term's
//! count in the group times `ln(1 + A / f)`, where `A` is the average
//! number of terms per group and `f` the term's count in all groups. A
//! term frequent in one group and rare in the others names it; one frequent
//! everywhere does not.

use std::collections::HashMap;

use tantivy::tokenizer::TextAnalyzer;

/// Terms in a group's name.
pub const TERMS: usize = 3;

/// Shortest word shown in a name (shorter ones are mostly noise).
const MIN_LEN: usize = 3;

/// Term counts per group, by analysed term, and the word shown for each.
#[derive(Debug, Default)]
pub struct GroupTerms {
    counts: Vec<HashMap<String, u32>>,
    /// For each analysed term, its surface forms (lowercased) by count.
    words: HashMap<String, HashMap<String, u32>>,
}

impl GroupTerms {
    /// Counts for `groups` groups.
    pub fn new(groups: usize) -> Self {
        GroupTerms {
            counts: vec![HashMap::new(); groups],
            words: HashMap::new(),
        }
    }

    /// Count the terms of `text` in `group`, through the index's analyser
    /// (stop words out, stems together), keeping the words they came from.
    pub fn add(&mut self, analyzer: &mut TextAnalyzer, group: usize, text: &str) {
        let mut stream = analyzer.token_stream(text);
        while let Some(t) = stream.next() {
            let word = &text[t.offset_from..t.offset_to];
            if word.chars().count() < MIN_LEN || !word.chars().all(char::is_alphabetic) {
                continue;
            }
            *self.counts[group].entry(t.text.clone()).or_default() += 1;
            *self
                .words
                .entry(t.text.clone())
                .or_default()
                .entry(word.to_lowercase())
                .or_default() += 1;
        }
    }

    /// Each group's name: its [`TERMS`] most distinctive words, best first
    /// ("" for a group without terms).
    pub fn names(&self) -> Vec<String> {
        let mut total: HashMap<&str, u32> = HashMap::new();
        for c in &self.counts {
            for (t, n) in c {
                *total.entry(t).or_default() += n;
            }
        }
        let words: u64 = total.values().map(|&n| u64::from(n)).sum();
        let average = words as f64 / self.counts.len().max(1) as f64;
        self.counts
            .iter()
            .map(|c| {
                let mut scored: Vec<(&str, f64)> = c
                    .iter()
                    .map(|(t, &n)| {
                        let idf = (1.0 + average / f64::from(total[t.as_str()])).ln();
                        (t.as_str(), f64::from(n) * idf)
                    })
                    .collect();
                scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
                scored
                    .iter()
                    .take(TERMS)
                    .map(|(t, _)| self.word(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect()
    }

    /// The commonest word behind analysed term `t`.
    fn word(&self, t: &str) -> String {
        self.words[t]
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map_or_else(|| t.to_string(), |(w, _)| w.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_group_is_named_by_its_own_frequent_words() {
        let mut analyzer = semsearch_indexer::schema::analyzer("en_stem_stop");
        let mut g = GroupTerms::new(2);
        for text in [
            "Walruses live on the ice. The walrus eats clams on the ice.",
            "A walrus herd on sea ice; the species is studied often.",
        ] {
            g.add(&mut analyzer, 0, text);
        }
        for text in [
            "Zebras graze the savanna. The zebra herd is studied often.",
            "Zebra stripes on the savanna grass.",
        ] {
            g.add(&mut analyzer, 1, text);
        }
        let names = g.names();
        // "herd" and "studied" are in both groups: not distinctive; equal
        // weights in term order.
        assert_eq!(names[0], "ice, walrus, clams");
        assert_eq!(names[1], "zebra, savanna, grass");
    }
}
