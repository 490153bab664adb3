//! Cutting documents into passages that fit the model.
//!
//! A document is tokenised once, with byte offsets. Passages are runs of
//! its tokens, at most `max_tokens` with the special tokens and the title,
//! cut preferably at a paragraph break, then at a sentence end, then between
//! words, in the second half of the window so passages are not tiny. For
//! WordPiece, the tokens of a slice equal the tokens of its text, so the
//! passage's ids go to the model without a second tokenisation.

use tokenizers::Tokenizer;

use crate::manifest::ChunkSettings;

/// One passage, ready to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Byte range in the text.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
    /// Model input: special tokens, title, passage tokens.
    pub ids: Vec<u32>,
}

/// Cuts texts into passages with the model's tokenizer (see the module docs).
pub struct Chunker {
    tokenizer: Tokenizer,
    settings: ChunkSettings,
    /// Special tokens, then the document prompt's tokens.
    prefix: Vec<u32>,
    suffix: Vec<u32>,
}

/// Bytes of text tokenised at once (about 16,000 tokens of English).
const SEGMENT: usize = 64 * 1024;

/// Where the segment starting at `from` ends: after the last blank line,
/// else line break, else space before `from + SEGMENT` (past its first
/// half), else at a character boundary.
fn segment_end(text: &str, from: usize) -> usize {
    let mut limit = (from + SEGMENT).min(text.len());
    if limit == text.len() {
        return limit;
    }
    while !text.is_char_boundary(limit) {
        limit -= 1;
    }
    let window = &text[from + SEGMENT / 2..limit];
    let at = |pat: &str| {
        window
            .rfind(pat)
            .map(|i| from + SEGMENT / 2 + i + pat.len())
    };
    at("\n\n")
        .or_else(|| at("\n"))
        .or_else(|| at(" "))
        .unwrap_or(limit)
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Boundary {
    InsideWord,
    Word,
    Sentence,
    Paragraph,
}

impl Chunker {
    /// `tokenizer` is the model's; truncation is turned off here, since whole
    /// documents are tokenised.
    pub fn new(tokenizer: &Tokenizer, settings: ChunkSettings) -> Result<Self, String> {
        let mut tokenizer = tokenizer.clone();
        tokenizer.with_truncation(None).map_err(|e| e.to_string())?;
        tokenizer.with_padding(None);
        // Find which special tokens go before and after the content.
        let probe = tokenizer.encode("a", true).map_err(|e| e.to_string())?;
        let mask = probe.get_special_tokens_mask();
        let first = mask.iter().position(|&m| m == 0).unwrap_or(mask.len());
        let last = mask.iter().rposition(|&m| m == 0).map_or(first, |p| p + 1);
        let ids = probe.get_ids();
        Ok(Chunker {
            prefix: ids[..first].to_vec(),
            suffix: ids[last..].to_vec(),
            tokenizer,
            settings,
        })
    }

    /// Put `prompt`'s tokens in front of every passage, after the special
    /// tokens (the model's document prompt, e5's `passage: `); they count
    /// against the window.
    pub fn with_prompt(mut self, prompt: Option<&str>) -> Self {
        if let Some(p) = prompt.filter(|p| !p.is_empty()) {
            let ids = self.encode(p).get_ids().to_vec();
            self.prefix.extend(ids);
        }
        self
    }

    fn encode(&self, text: &str) -> tokenizers::Encoding {
        self.tokenizer
            .encode(text, false)
            .unwrap_or_else(|_| tokenizers::Encoding::default())
    }

    /// Cut a text into passages, each starting with `title`'s tokens.
    pub fn chunk(&self, title: &str, text: &str) -> Vec<Chunk> {
        self.chunk_sections(title, text, &[])
    }

    /// Cut a text whose sections (pages, slides, chapters) start at the
    /// byte offsets `sections`: no passage spans two sections.
    pub fn chunk_sections(&self, title: &str, text: &str, sections: &[usize]) -> Vec<Chunk> {
        let s = &self.settings;
        let mut title_ids = self.encode(title).get_ids().to_vec();
        title_ids.truncate(s.max_title_tokens);
        let fixed = self.prefix.len() + self.suffix.len();
        // Keep at least half the window for the passage itself.
        title_ids.truncate(s.max_tokens.saturating_sub(fixed) / 2);
        let build = |ids: &[u32]| -> Vec<u32> {
            [&self.prefix[..], &title_ids, ids, &self.suffix].concat()
        };
        let mut ends: Vec<usize> = sections
            .iter()
            .copied()
            .filter(|&at| at > 0 && at < text.len() && text.is_char_boundary(at))
            .collect();
        if ends.is_empty() && text.len() <= SEGMENT {
            return self.cut(text, &build);
        }
        ends.push(text.len());
        // A huge text is tokenised a segment at a time: tokenizers keeps
        // about 100 bytes per token (offsets, strings, masks), so a 5 MB
        // one-line file cost about 1 GB at once. Segments end at the
        // strongest break before SEGMENT bytes, and at every section; no
        // passage spans two.
        let mut chunks = Vec::new();
        let (mut from, mut line) = (0, 1);
        for end in ends {
            while from < end {
                let to = segment_end(&text[..end], from);
                for mut c in self.cut(&text[from..to], &build) {
                    (c.start, c.end, c.line) = (c.start + from, c.end + from, c.line + line - 1);
                    if c.end > c.start {
                        chunks.push(c);
                    }
                }
                line += text[from..to].matches('\n').count();
                from = to;
            }
        }
        if chunks.is_empty() {
            return self.cut("", &build);
        }
        chunks
    }

    /// Cut one text (or segment) into passages built by `build`.
    fn cut(&self, text: &str, build: &dyn Fn(&[u32]) -> Vec<u32>) -> Vec<Chunk> {
        let s = &self.settings;
        let budget = s.max_tokens.saturating_sub(build(&[]).len()).max(1);
        let enc = self.encode(text);
        let (ids, offsets) = (enc.get_ids(), enc.get_offsets());
        let n = ids.len();
        if n == 0 {
            return vec![Chunk {
                start: 0,
                end: 0,
                line: 1,
                ids: build(&[]),
            }];
        }
        let boundary = |i: usize| -> Boundary {
            if i == 0 || i >= n {
                return Boundary::Paragraph;
            }
            let gap = &text[offsets[i - 1].1.min(offsets[i].0)..offsets[i].0];
            let prev = &text[offsets[i - 1].0..offsets[i - 1].1];
            if gap.matches('\n').count() >= 2 {
                Boundary::Paragraph
            } else if gap.is_empty() {
                Boundary::InsideWord
            } else if matches!(prev, "." | "!" | "?" | "。" | "！" | "？") || gap.contains('\n')
            {
                Boundary::Sentence
            } else {
                Boundary::Word
            }
        };

        let mut chunks = Vec::new();
        let (mut t0, mut line, mut line_pos) = (0usize, 1usize, 0usize);
        loop {
            let end = if n - t0 <= budget {
                n
            } else {
                let (lo, hi) = (t0 + budget / 2 + 1, t0 + budget);
                // The latest cut of the strongest kind in the second half.
                (lo..=hi)
                    .rev()
                    .max_by_key(|&i| (boundary(i), i))
                    .unwrap_or(hi)
            };
            let (start_b, end_b) = (offsets[t0].0, offsets[end - 1].1);
            line += text[line_pos..start_b].matches('\n').count();
            line_pos = start_b;
            chunks.push(Chunk {
                start: start_b,
                end: end_b,
                line,
                ids: build(&ids[t0..end]),
            });
            if end == n {
                return chunks;
            }
            // Step back by the overlap, forward to the next word start.
            let mut next = end.saturating_sub(s.overlap).max(t0 + 1);
            while next < end && boundary(next) == Boundary::InsideWord {
                next += 1;
            }
            t0 = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use semsearch_models::testing::{write_tiny_bert, TinyBert};

    fn chunker(max_tokens: usize, overlap: usize) -> (tempfile::TempDir, Chunker) {
        let dir = tempfile::tempdir().unwrap();
        write_tiny_bert(dir.path(), &TinyBert::default()).unwrap();
        let tok = Tokenizer::from_file(dir.path().join("tokenizer.json")).unwrap();
        let settings = ChunkSettings {
            max_tokens,
            overlap,
            max_title_tokens: 4,
        };
        (dir, Chunker::new(&tok, settings).unwrap())
    }

    #[test]
    fn the_document_prompt_opens_every_passage_within_the_window() {
        let (_d, plain) = chunker(16, 0);
        let (_d2, prompted) = chunker(16, 0);
        let prompted = prompted.with_prompt(Some("passage:"));
        let text = "one two three four five six seven eight nine ten eleven twelve thirteen";
        let (a, b) = (plain.chunk("", text), prompted.chunk("", text));
        let prompt = prompted.encode("passage:").get_ids().to_vec();
        assert!(!prompt.is_empty());
        for c in &b {
            assert!(c.ids.len() <= 16);
            assert_eq!(&c.ids[1..1 + prompt.len()], &prompt[..], "after [CLS]");
        }
        // The prompt's tokens take room: more passages for the same text.
        assert!(b.len() > a.len(), "{} {}", a.len(), b.len());
    }

    #[test]
    fn passages_fit_cut_at_paragraphs_and_track_lines() {
        let (_d, c) = chunker(12, 0);
        let text = "the cat is in the car.\n\nthe dog is on the engine.\n\nrust index query.";
        let chunks = c.chunk("pizza", text);
        assert!(chunks.len() >= 3);
        for ch in &chunks {
            assert!(ch.ids.len() <= 12, "{}", ch.ids.len());
            assert_eq!(
                (ch.ids[0], *ch.ids.last().unwrap()),
                (2, 3),
                "[CLS] ... [SEP]"
            );
        }
        assert_eq!(
            &text[chunks[0].start..chunks[0].end],
            "the cat is in the car."
        );
        assert_eq!(
            &text[chunks[1].start..chunks[1].end],
            "the dog is on the engine."
        );
        assert_eq!((chunks[0].line, chunks[1].line, chunks[2].line), (1, 3, 5));
        // Every token of the text is in some passage.
        assert_eq!(chunks.last().unwrap().end, text.len());
    }

    #[test]
    fn no_passage_spans_two_sections() {
        let (_d, c) = chunker(64, 0);
        // Page two starts mid-paragraph, as a PDF page can.
        let text = "the cat sat on the mat and the dog ran on";
        let page2 = text.find("the dog").unwrap();
        let chunks = c.chunk_sections("t", text, &[0, page2]);
        let ranges: Vec<&str> = chunks.iter().map(|ch| &text[ch.start..ch.end]).collect();
        assert_eq!(ranges, ["the cat sat on the mat and", "the dog ran on"]);
        // Without sections the short text is one passage.
        assert_eq!(c.chunk("t", text).len(), 1);
    }

    #[test]
    fn overlap_repeats_words_and_short_text_is_one_passage() {
        let (_d, c) = chunker(10, 3);
        let text = "a b c d e f g h i j k l m n o p";
        let chunks = c.chunk("", text);
        assert!(chunks.len() > 2);
        assert!(
            chunks[1].start < chunks[0].end,
            "consecutive passages overlap"
        );
        assert_eq!(c.chunk("t", "the cat").len(), 1);
        let empty = c.chunk("the title", "");
        assert_eq!(empty.len(), 1);
        assert!(empty[0].ids.len() > 2, "the title alone is embedded");
    }

    #[test]
    fn a_huge_text_is_cut_by_segments_with_true_ranges_and_lines() {
        let (_d, c) = chunker(12, 0);
        // Over three segments; lines of one sentence each, one blank line
        // in ten.
        let mut text = String::new();
        for i in 0..12_000 {
            text.push_str(if i % 10 == 9 {
                "the dog ran.\n\n"
            } else {
                "the cat sat.\n"
            });
        }
        assert!(text.len() > 2 * SEGMENT);
        let chunks = c.chunk("t", &text);
        let (mut prev_end, mut line) = (0, 1);
        for ch in &chunks {
            assert!(
                ch.start >= prev_end && ch.end > ch.start,
                "in order, not empty"
            );
            assert!(ch.ids.len() <= 12);
            line += text[prev_end..ch.start].matches('\n').count();
            assert_eq!(ch.line, line);
            line += text[ch.start..ch.end].matches('\n').count();
            prev_end = ch.end;
        }
        assert_eq!(chunks.last().unwrap().end, text.trim_end().len());
        // No newline at all: cut at spaces.
        let line = "word ".repeat(30_000);
        let one = c.chunk("t", &line);
        assert!(one
            .iter()
            .all(|ch| ch.line == 1 && !line[ch.start..ch.end].contains("  ")));
        assert_eq!(one.last().unwrap().end, line.trim_end().len());
    }
}
