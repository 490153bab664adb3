//! The engine's results are what every face shows: one call gives the
//! ranking, the passage, the snippet with its highlights and the score's
//! formula, consistent with the ranking-only API.

use std::path::Path;

use semsearch_indexer::{update, UpdateOptions};
use semsearch_models::testing::{write_tiny_bert, TinyBert};
use semsearch_models::{Embedder, ModelSpec};
use semsearch_searcher::{
    Explain, Feedback, Fusion, Lexical, Mode, SearchConfig, Searcher, Store, DUPLICATE_COSINE,
};

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
fn compare_ranks_five_ways_and_its_hybrid_column_is_the_search() {
    let tmp = tempfile::tempdir().unwrap();
    let s = searcher(tmp.path());
    let cfg = SearchConfig {
        k: 3,
        ..SearchConfig::default()
    };
    let c = s.compare("dough rise", &cfg).unwrap();
    let names: Vec<&str> = c.rankings.iter().map(|r| r.name).collect();
    assert_eq!(names, ["tfidf", "bm25", "lsa", "semantic", "hybrid"]);
    let hybrid: Vec<String> = s
        .search("dough rise", &cfg)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(c.rankings[4].ids, hybrid);
    assert_eq!(c.rankings[1].ids[0], "bread.txt");
    assert_eq!(c.agreement.len(), 10, "every pair of five");
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

/// A searcher over a folder of `files` (name, text), with the tiny model.
fn folder_searcher(root: &Path, files: &[(&str, &str)]) -> Searcher {
    let model = root.join("model");
    write_tiny_bert(&model, &TinyBert::default()).unwrap();
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    for (name, text) in files {
        std::fs::write(docs.join(name), text).unwrap();
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

/// Two documents alike but for one word each, and filler so that both words
/// have the same document frequency: only the query's repetition decides.
fn twin_searcher(root: &Path) -> Searcher {
    folder_searcher(
        root,
        &[
            ("one.txt", "apple fruit salad recipe"),
            ("two.txt", "banana fruit salad recipe"),
            ("filler0.txt", "notes on trains 0"),
            ("filler1.txt", "notes on trains 1"),
            ("filler2.txt", "notes on trains 2"),
            ("filler3.txt", "notes on trains 3"),
        ],
    )
}

#[test]
fn a_term_repeated_in_the_query_weighs_more_in_tfidf_and_in_bm25_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let s = twin_searcher(tmp.path());
    let lexical = |lexical, query_tf| SearchConfig {
        mode: Mode::Lexical,
        lexical,
        query_tf,
        // The first ranking's own scores are measured.
        feedback: None,
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

#[test]
fn feedback_finds_a_document_in_the_words_of_the_best_one_and_names_them() {
    let tmp = tempfile::tempdir().unwrap();
    let s = folder_searcher(
        tmp.path(),
        &[
            (
                "tunnel.txt",
                "Quantum tunneling lets electrons cross a potential barrier.",
            ),
            (
                "barrier.txt",
                "Electrons cross the potential barrier by wavefunction penetration.",
            ),
            ("pasta.txt", "Cooking pasta with tomato sauce and basil."),
            ("trains.txt", "Notes on trains and timetables."),
        ],
    );
    let cfg = |feedback| SearchConfig {
        mode: Mode::Lexical,
        feedback,
        ..SearchConfig::default()
    };
    let ids = |r: &[semsearch_searcher::SearchResult]| -> Vec<String> {
        r.iter().map(|r| r.hit.id.clone()).collect()
    };
    let plain = s.results("quantum tunneling", &cfg(None)).unwrap();
    assert_eq!(ids(&plain), ["tunnel.txt"]);
    assert!(plain[0].expansion.is_empty());
    let fed = s
        .results("quantum tunneling", &cfg(Some(Feedback::default())))
        .unwrap();
    assert_eq!(ids(&fed)[..2], ["tunnel.txt", "barrier.txt"], "{fed:?}");
    assert!(!ids(&fed).contains(&"pasta.txt".to_string()));
    let added: Vec<&str> = fed[0].expansion.iter().map(|(t, _)| t.as_str()).collect();
    for t in ["electron", "barrier", "potenti"] {
        assert!(added.contains(&t), "{t} not in {added:?}");
    }
    assert!(fed[0].expansion.iter().all(|(_, w)| *w > 0.0));
    // The query's own terms keep most of the weight: the best document
    // stays first, with a lower score than the query alone gave it.
    assert!(fed[0].hit.score < plain[0].hit.score);
}

#[test]
fn copies_fold_under_the_first_and_no_collapse_shows_them() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "The quarterly report on river levels and rainfall in the valley.";
    let s = folder_searcher(
        tmp.path(),
        &[
            ("report.txt", text),
            ("copy of report.txt", text),
            (
                "trains.txt",
                "Notes on trains and timetables for the valley line.",
            ),
        ],
    );
    for mode in [Mode::Lexical, Mode::Semantic, Mode::Hybrid] {
        let cfg = SearchConfig {
            mode,
            ..SearchConfig::default()
        };
        let hits = s.search("river levels in the valley", &cfg).unwrap();
        let copies: Vec<&semsearch_searcher::Hit> =
            hits.iter().filter(|h| h.id.contains("report")).collect();
        assert_eq!(copies.len(), 1, "{mode}: {hits:?}");
        let dups = &copies[0].duplicates;
        assert_eq!(dups.len(), 1, "{mode}");
        assert!(dups[0].id.contains("report") && dups[0].id != copies[0].id);
        // Not 1: each passage is embedded with its document's title.
        assert!(dups[0].similarity >= DUPLICATE_COSINE);
        assert_eq!(
            hits.iter().map(|h| h.rank).collect::<Vec<_>>(),
            (1..=hits.len()).collect::<Vec<_>>(),
            "ranks stay consecutive"
        );
        let all = s
            .search(
                "river levels in the valley",
                &SearchConfig {
                    collapse: false,
                    ..cfg
                },
            )
            .unwrap();
        assert_eq!(all.len(), hits.len() + 1, "{mode}");
        assert!(all.iter().all(|h| h.duplicates.is_empty()));
    }
}

#[test]
fn lsa_at_full_rank_ranks_as_tfidf_does_and_compare_shows_it_third() {
    let tmp = tempfile::tempdir().unwrap();
    // Fewer terms than LSA keeps dimensions: the basis spans every
    // document, so cosines in LSA space are TF-IDF's (up to rounding).
    let s = folder_searcher(
        tmp.path(),
        &[
            ("a.txt", "rivers flood the valley after rain"),
            ("b.txt", "rain and rain again over the valley"),
            ("c.txt", "trains leave the station in the valley"),
            ("d.txt", "bread rises in the oven"),
            ("e.txt", "the oven bakes bread and cakes"),
        ],
    );
    let cfg = |lexical| SearchConfig {
        mode: Mode::Lexical,
        lexical,
        feedback: None,
        ..SearchConfig::default()
    };
    for q in ["rain valley", "bread oven", "station"] {
        let lsa = s.search(q, &cfg(Lexical::Lsa)).unwrap();
        let tfidf = s.search(q, &cfg(Lexical::TfIdf)).unwrap();
        let ids =
            |h: &[semsearch_searcher::Hit]| h.iter().map(|h| h.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&lsa), ids(&tfidf), "{q}");
        // The query is folded into the documents' span: its length there
        // differs from its TF-IDF length, the same factor for every hit.
        let ratio = lsa[0].score / tfidf[0].score;
        for (a, b) in lsa.iter().zip(&tfidf) {
            let r = a.score / b.score;
            assert!((r - ratio).abs() < 0.02 * ratio, "{q}: {r} vs {ratio}");
        }
    }
    let c = s.compare("bread oven", &SearchConfig::default()).unwrap();
    let names: Vec<&str> = c.rankings.iter().map(|r| r.name).collect();
    assert_eq!(names, ["tfidf", "bm25", "lsa", "semantic", "hybrid"]);
}
