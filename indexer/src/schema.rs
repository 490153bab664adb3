//! The tantivy schema: one record per document, for BM25 and TF-IDF at
//! document level (as the IR benchmarks and their peers rank), with the
//! extracted text stored for snippets.

use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST,
    INDEXED, STORED, STRING,
};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::IndexSettings;

/// Name of the default analyser: lowercase, English stop words, Snowball
/// English stemmer (what the strongest BM25 peer uses).
pub const DEFAULT_ANALYZER: &str = "en_stem_stop";

/// English stop words without stemming (`--language english-unstemmed`),
/// to measure what stemming does.
const UNSTEMMED: &str = "en_stop";

/// The languages `--language` accepts: full name, ISO 639-1 code.
const LANGUAGES: [(&str, &str, Language); 12] = [
    ("english", "en", Language::English),
    ("french", "fr", Language::French),
    ("german", "de", Language::German),
    ("spanish", "es", Language::Spanish),
    ("italian", "it", Language::Italian),
    ("portuguese", "pt", Language::Portuguese),
    ("dutch", "nl", Language::Dutch),
    ("swedish", "sv", Language::Swedish),
    ("danish", "da", Language::Danish),
    ("norwegian", "no", Language::Norwegian),
    ("finnish", "fi", Language::Finnish),
    ("russian", "ru", Language::Russian),
];

/// The analyser name for a `--language` value (full name or code, any
/// case): one name per language, so `fr` and `french` build and accept
/// the same index.
pub fn analyzer_for(language: &str) -> Option<(String, Language)> {
    let asked = language.to_ascii_lowercase();
    if asked == "english-unstemmed" {
        return Some((UNSTEMMED.to_string(), Language::English));
    }
    let &(name, _, lang) = LANGUAGES
        .iter()
        .find(|(name, code, _)| asked == *name || asked == *code)?;
    let analyzer = if lang == Language::English {
        DEFAULT_ANALYZER.to_string()
    } else {
        format!("{name}_stem_stop")
    };
    Some((analyzer, lang))
}

/// The `--language` value that names analyser `analyzer`: the full name
/// (indexes from before one name per language say `fr_stem_stop`).
pub fn language_name(analyzer: &str) -> String {
    match analyzer {
        DEFAULT_ANALYZER => "english".into(),
        UNSTEMMED => "english-unstemmed".into(),
        other => {
            let lang = other.trim_end_matches("_stem_stop");
            LANGUAGES
                .iter()
                .find(|(name, code, _)| lang == *name || lang == *code)
                .map_or(lang, |(name, _, _)| name)
                .into()
        }
    }
}

fn language_of(analyzer: &str) -> Language {
    let lang = analyzer.trim_end_matches("_stem_stop");
    analyzer_for(if lang == "en" { "english" } else { lang })
        .map(|(_, l)| l)
        .unwrap_or(Language::English)
}

/// Build the analyser named in a manifest.
pub fn analyzer(name: &str) -> TextAnalyzer {
    let lang = language_of(name);
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser);
    match StopWordFilter::new(lang) {
        Some(stop) if name == UNSTEMMED => builder.filter(stop).build(),
        Some(stop) => builder.filter(stop).filter(Stemmer::new(lang)).build(),
        None => builder.filter(Stemmer::new(lang)).build(),
    }
}

/// Fields of the lexical index.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Document id (relative path or corpus `_id`): exact match, and a
    /// fast column that names a hit.
    pub id: Field,
    /// The document's handle: a number given when it was added, never
    /// reused (format 8). Indexed (handle to document) and a fast column
    /// (hit to handle).
    pub seq: Field,
    /// The vector keys of the document's passages, in text order: indexed
    /// (a semantic hit's key to its document) and a fast column (the
    /// key's ordinal in the document).
    pub keys: Field,
    /// The document's entry ([`crate::DocEntry`] as JSON), stored beside
    /// its text: the documents table (format 8).
    pub entry: Field,
    /// Extracted text, stored for snippets (not indexed on its own).
    pub body: Field,
    /// Title and text, analysed: what BM25 and TF-IDF score.
    pub text: Field,
    /// The entry's content hash as two numbers (high and low 64 bits), a
    /// fast column: an update settles an unchanged corpus record by this
    /// column instead of reading the stored entry (most of a run with
    /// nothing to do). `None` in an index made before it; a document
    /// without values (written by a binary from before) is read whole.
    pub hash: Option<Field>,
}

/// A content hash ([`crate::DocEntry::hash`], 32 hex digits) as the two
/// numbers of the [`Fields::hash`] column; `None` for another form.
pub fn hash_words(hex: &str) -> Option<[u64; 2]> {
    if hex.len() != 32 {
        return None;
    }
    let word = |part: &str| u64::from_str_radix(part, 16).ok();
    Some([word(hex.get(..16)?)?, word(hex.get(16..)?)?])
}

/// The lexical schema, its text field analysed by `analyzer`.
pub fn schema(analyzer: &str) -> (Schema, Fields) {
    let mut b = Schema::builder();
    let id = b.add_text_field("id", STRING | FAST);
    let seq = b.add_u64_field("seq", INDEXED | FAST);
    let keys = b.add_u64_field("keys", NumericOptions::default().set_indexed().set_fast());
    let entry = b.add_bytes_field("entry", STORED);
    let body = b.add_text_field("body", STORED);
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(analyzer)
        // Frequencies, no positions: BM25 and TF-IDF need only term and
        // document frequencies and lengths, and nothing queries phrases.
        // Positions were 13% of SciFact's lexical index (about 100 bytes a
        // passage).
        .set_index_option(IndexRecordOption::WithFreqs)
        .set_fieldnorms(true);
    let text = b.add_text_field(
        "text",
        TextOptions::default().set_indexing_options(indexing),
    );
    let hash = b.add_u64_field("hash", FAST);
    (
        b.build(),
        Fields {
            id,
            seq,
            keys,
            entry,
            body,
            text,
            hash: Some(hash),
        },
    )
}

/// How the lexical index stores documents: zstd level 9 in 32 KB blocks.
/// The stored text is most of the lexical index. SciFact's 7.8 MB of text
/// in tantivy's default (lz4, 16 KB blocks): 4.73 MB; zstd 3 at 16 KB:
/// 3.21 MB; zstd 9 at 32 KB: 2.92 MB; zstd 9 at 64 KB: 2.78 MB. A hit's
/// snippet decompresses one block (about 30 us at 32 KB), so the larger
/// block would cost more per query than the 14 bytes a passage it saves.
pub fn settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Zstd(ZstdCompressor {
            compression_level: Some(9),
        }),
        docstore_blocksize: 32 << 10,
        ..IndexSettings::default()
    }
}

/// Look the fields up in an opened index's schema (`None`: another
/// schema, such as a format 7 index's, which had no documents table).
pub fn fields(schema: &Schema) -> Option<Fields> {
    Some(Fields {
        id: schema.get_field("id").ok()?,
        seq: schema.get_field("seq").ok()?,
        keys: schema.get_field("keys").ok()?,
        entry: schema.get_field("entry").ok()?,
        body: schema.get_field("body").ok()?,
        text: schema.get_field("text").ok()?,
        hash: schema.get_field("hash").ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_language_has_one_analyser_whatever_it_is_called() {
        let fr = analyzer_for("fr").unwrap().0;
        assert_eq!(fr, analyzer_for("French").unwrap().0);
        assert_eq!(fr, "french_stem_stop");
        assert_eq!(analyzer_for("en").unwrap().0, DEFAULT_ANALYZER);
        assert!(analyzer_for("klingon").is_none());
        // Indexes built before one name per language keep being accepted.
        assert_eq!(language_name("fr_stem_stop"), "french");
        assert_eq!(language_name("french_stem_stop"), "french");
        assert_eq!(language_name(DEFAULT_ANALYZER), "english");
    }

    #[test]
    fn a_content_hash_is_two_words_and_other_forms_none() {
        let hex = "0123456789abcdef00000000000000ff";
        assert_eq!(hash_words(hex), Some([0x0123_4567_89ab_cdef, 0xff]));
        assert_eq!(hash_words("abc"), None);
        assert_eq!(hash_words(&"g".repeat(32)), None);
        assert_eq!(hash_words(&"é".repeat(16)), None);
    }
}
