//! The engine's results are what every face shows: one call gives the
//! ranking, the passage, the snippet with its highlights and the score's
//! formula, consistent with the ranking-only API.

use std::path::Path;

use semsearch_indexer::{update, UpdateOptions};
use semsearch_models::testing::{write_tiny_bert, TinyBert};
use semsearch_models::{Embedder, ModelSpec};
use semsearch_searcher::{Explain, Fusion, Lexical, Mode, SearchConfig, Searcher};

fn searcher(root: &Path) -> Searcher {
    let model = root.join("model");
    write_tiny_bert(&model, &TinyBert::default()).unwrap();
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("dogs.md"),
        "# Dogs\n\nA long first paragraph about nothing in particular, cats and weather.\n\n\
         Later: the dogs were running in the park while their owners talked.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("rust.txt"),
        "Install Rust on Linux with rustup.\n",
    )
    .unwrap();
    std::fs::write(docs.join("bread.txt"), "Knead the dough, let it rise.\n").unwrap();
    let embedder = Embedder::load(&ModelSpec::Local(model)).unwrap();
    let index = docs.join(".semsearch");
    let opts = UpdateOptions::new(index.clone(), vec![docs]);
    update(&embedder, &opts, &mut |_| {}).unwrap();
    Searcher::open(&index).unwrap()
}

#[test]
fn lexical_results_carry_passage_snippet_highlights_and_formula() {
    let tmp = tempfile::tempdir().unwrap();
    let s = searcher(tmp.path());
    let cfg = SearchConfig {
        mode: Mode::Lexical,
        ..SearchConfig::default()
    };
    let results = s.results("Running DOG", &cfg).unwrap();
    let top = &results[0];
    assert_eq!(top.hit.id, "dogs.md");
    assert_eq!(top.title, "Dogs");
    assert!(top.path.as_ref().unwrap().ends_with("docs/dogs.md"));
    assert!(top.place.is_none(), "a text file has no pages");
    // Highlights are the analysed query terms (stemmed, any case) as they
    // appear in the snippet.
    let marked: Vec<&str> = top
        .snippet
        .highlights
        .iter()
        .map(|&(a, b)| &top.snippet.text[a..b])
        .collect();
    assert_eq!(marked, ["dogs", "running"], "{:?}", top.snippet.text);
    // The passage shown is the one holding the terms, and its span and
    // line point into the document.
    let passage = s.passage_text(top).unwrap();
    assert!(passage.contains("dogs were running"), "{passage}");
    assert!(top.line > 1, "the matching passage is not the first line");
    assert_eq!(
        top.explain,
        Some(Explain::Single {
            mode: Mode::Lexical
        })
    );
    // Same ranking as the ranking-only call.
    let ids: Vec<String> = s
        .search("Running DOG", &cfg)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    let shown: Vec<String> = results.iter().map(|r| r.hit.id.clone()).collect();
    assert_eq!(ids, shown);
}

#[test]
fn hybrid_results_explain_their_fusion_and_similar_results_have_none() {
    let tmp = tempfile::tempdir().unwrap();
    let s = searcher(tmp.path());
    let linear = s.results("rustup linux", &SearchConfig::default()).unwrap();
    assert_eq!(
        linear[0].explain,
        Some(Explain::Linear {
            alpha: SearchConfig::DEFAULT_ALPHA,
            norm: SearchConfig::DEFAULT_NORM
        })
    );
    let rrf = SearchConfig {
        fusion: Fusion::default_rrf(),
        ..SearchConfig::default()
    };
    let r = s.results("rustup linux", &rrf).unwrap();
    assert_eq!(r[0].explain, Some(Explain::Rrf { k: 60.0 }));
    let doc = s.index().position("rust.txt").unwrap();
    let similar = s.similar_results(doc, 2).unwrap();
    assert!(!similar.is_empty());
    assert!(similar
        .iter()
        .all(|r| r.explain.is_none() && r.hit.id != "rust.txt"));
    assert!(similar.iter().all(|r| r.snippet.highlights.is_empty()));
}

#[test]
fn compare_ranks_four_ways_and_its_hybrid_column_is_the_search() {
    let tmp = tempfile::tempdir().unwrap();
    let s = searcher(tmp.path());
    let cfg = SearchConfig {
        k: 3,
        ..SearchConfig::default()
    };
    let c = s.compare("dough rise", &cfg).unwrap();
    let names: Vec<&str> = c.rankings.iter().map(|r| r.name).collect();
    assert_eq!(names, ["tfidf", "bm25", "semantic", "hybrid"]);
    let hybrid: Vec<String> = s
        .search("dough rise", &cfg)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(c.rankings[3].ids, hybrid);
    assert_eq!(c.rankings[1].ids[0], "bread.txt");
    assert_eq!(c.agreement.len(), 6, "every pair of four");
    let tfidf = SearchConfig {
        mode: Mode::Lexical,
        lexical: Lexical::TfIdf,
        ..cfg.clone()
    };
    let t: Vec<String> = s
        .search("dough rise", &tfidf)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(c.rankings[0].ids, t);
}

#[test]
fn defaults_parse_back_from_their_names() {
    let d = SearchConfig::default();
    assert_eq!(d.mode.as_str().parse::<Mode>().unwrap(), d.mode);
    assert_eq!(d.lexical.to_string().parse::<Lexical>().unwrap(), d.lexical);
    assert!("bogus"
        .parse::<Mode>()
        .unwrap_err()
        .contains("lexical, semantic or hybrid"));
}

/// Two documents alike but for one word each, and filler so that both words
/// have the same document frequency: only the query's repetition decides.
fn twin_searcher(root: &Path) -> Searcher {
    let model = root.join("model");
    write_tiny_bert(&model, &TinyBert::default()).unwrap();
    let docs = root.join("twins");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("one.txt"), "apple fruit salad recipe").unwrap();
    std::fs::write(docs.join("two.txt"), "banana fruit salad recipe").unwrap();
    for i in 0..4 {
        std::fs::write(
            docs.join(format!("filler{i}.txt")),
            format!("notes on trains {i}"),
        )
        .unwrap();
    }
    let embedder = Embedder::load(&ModelSpec::Local(model)).unwrap();
    let index = docs.join(".semsearch");
    update(
        &embedder,
        &UpdateOptions::new(index.clone(), vec![docs]),
        &mut |_| {},
    )
    .unwrap();
    Searcher::open(&index).unwrap()
}

#[test]
fn a_term_repeated_in_the_query_weighs_more_in_tfidf_and_in_bm25_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let s = twin_searcher(tmp.path());
    let lexical = |lexical, query_tf| SearchConfig {
        mode: Mode::Lexical,
        lexical,
        query_tf,
        ..SearchConfig::default()
    };
    for cfg in [
        lexical(Lexical::Bm25, false),
        lexical(Lexical::TfIdf, false),
    ] {
        let once = s.search("apple banana", &cfg).unwrap();
        assert!(
            (once[0].score - once[1].score).abs() < 1e-5,
            "{cfg:?}: a tie"
        );
    }
    // BM25 by default counts each distinct term once: still a tie.
    let plain = s
        .search("apple banana banana", &lexical(Lexical::Bm25, false))
        .unwrap();
    assert!((plain[0].score - plain[1].score).abs() < 1e-5);
    // With query_tf, linear in the count, as Lucene's BM25.
    let tf = s
        .search("apple banana banana", &lexical(Lexical::Bm25, true))
        .unwrap();
    assert_eq!(
        (tf[0].id.as_str(), tf[1].id.as_str()),
        ("two.txt", "one.txt")
    );
    let ratio = tf[0].score / tf[1].score;
    assert!((ratio - 2.0).abs() < 1e-4, "bm25 ratio {ratio}");
    // TF-IDF weighs the query's terms by 1 + ln(count) always.
    let t = s
        .search("apple banana banana", &lexical(Lexical::TfIdf, false))
        .unwrap();
    assert_eq!(t[0].id, "two.txt");
}
