//! Property test: any string is a valid query (no panic, no error other
//! than "empty query", highlights on character boundaries), in every mode.

use semsearch_indexer::{update, UpdateOptions};
use semsearch_models::testing::{write_tiny_bert, TinyBert};
use semsearch_models::{Embedder, ModelSpec};
use semsearch_searcher::{Fusion, Lexical, Mode, Norm, SearchConfig, SearchError, Searcher};

/// Characters that stress analysers and query parsers.
const PALETTE: &[char] = &[
    'a', 'z', 'Q', '0', '9', ' ', '\t', '\n', '"', '\'', '(', ')', '[', ']', '{', '}', ':', '*',
    '?', '~', '^', '+', '-', '!', '\\', '/', '&', '|', '<', '>', '\0', '\u{7}', '\u{1b}', 'é', 'ß',
    '東', '京', '🍕', '\u{200b}', '\u{fe0f}', '\u{301}', 'Ω',
];

fn random_query(seed: &mut u64) -> String {
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    };
    let len = (next() % 60) as usize;
    let mut q: String = (0..len)
        .map(|_| PALETTE[(next() % PALETTE.len() as u64) as usize])
        .collect();
    if next() % 10 == 0 {
        q.push_str(" AND OR NOT title:x body:[a TO b] ");
    }
    q
}

#[test]
fn random_queries_never_panic_or_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    write_tiny_bert(&model, &TinyBert::default()).unwrap();
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let texts = [
        "the cat and the dog",
        "rust install linux",
        "东京 pizza 🍕",
        "a b c d e f g",
    ];
    for (i, text) in texts.iter().enumerate() {
        std::fs::write(docs.join(format!("{i}.txt")), text).unwrap();
    }
    let embedder = Embedder::load(&ModelSpec::Local(model)).unwrap();
    let index = docs.join(".semsearch");
    update(
        &embedder,
        &UpdateOptions::new(index.clone(), vec![docs.clone()]),
        &mut |_| {},
    )
    .unwrap();
    let searcher = Searcher::open(&index).unwrap();
    let base = SearchConfig::default;
    let configs = [
        SearchConfig {
            mode: Mode::Lexical,
            lexical: Lexical::Bm25,
            ..base()
        },
        SearchConfig {
            mode: Mode::Lexical,
            lexical: Lexical::TfIdf,
            ..base()
        },
        SearchConfig {
            mode: Mode::Semantic,
            exact: true,
            ..base()
        },
        SearchConfig {
            fusion: Fusion::Rrf { k: 60.0 },
            ..base()
        },
        SearchConfig {
            fusion: Fusion::Linear {
                alpha: 0.3,
                norm: Norm::MinMax,
            },
            ..base()
        },
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..300 {
        let q = random_query(&mut seed);
        for cfg in &configs {
            match searcher.results(&q, cfg) {
                Ok(results) => {
                    assert!(results.len() <= cfg.k);
                    for r in &results {
                        for &(s, e) in &r.snippet.highlights {
                            assert!(r.snippet.text.get(s..e).is_some(), "{q:?}: {s}..{e}");
                        }
                    }
                }
                Err(SearchError::EmptyQuery) => assert!(q.trim().is_empty(), "{q:?}"),
                Err(e) => panic!("{q:?} in {:?}: {e}", cfg.mode),
            }
        }
    }
}
