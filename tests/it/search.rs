//! End-to-end tests of `semsearch search` on a small real folder.
//! Semantic expectations need the real model (HF_HOME=../shared/hf).

use std::path::{Path, PathBuf};

use crate::common::{bin, stderr, stdout, tiny_model};
use serde_json::Value;

const DOCS: &[(&str, &str)] = &[
    (
        "cars.txt",
        "The automobile needs new tyres and an oil change before the long drive.",
    ),
    (
        "bread.md",
        "# Baking bread\n\nKnead the dough, let it rise for two hours, then bake at 220 degrees.",
    ),
    (
        "space.txt",
        "Astronauts aboard the orbiting station conducted experiments in microgravity.",
    ),
    (
        "errors/rare.txt",
        "Error code XK4471 appears when the flux capacitor overheats.",
    ),
    (
        "pets.md",
        "# Pets\n\nMy dog loves to chase the ball in the park every morning.",
    ),
    (
        "finance.txt",
        "Quarterly revenue grew twelve percent thanks to strong sales in Europe.",
    ),
];

fn folder(root: &Path) -> PathBuf {
    let dir = root.join("notes");
    for (name, text) in DOCS {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

/// The folder indexed with the tiny random model (for tests of everything
/// but semantic quality).
fn tiny_index(root: &Path) -> PathBuf {
    let model = tiny_model(root);
    index_with(&model, &folder(root))
}

/// Index `dir` with the model folder `model`; returns the index folder.
fn index_with(model: &Path, dir: &Path) -> PathBuf {
    let out = bin()
        .arg("index")
        .arg(dir)
        .arg("--model")
        .arg(model)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    dir.join(".semsearch")
}

/// Index with the real model (the default), once per test.
fn real_index(root: &Path) -> PathBuf {
    let dir = folder(root);
    let out = bin()
        .arg("index")
        .arg(&dir)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "indexing with the real model failed (run with HF_HOME=../shared/hf HF_HUB_OFFLINE=1): {}",
        stderr(&out)
    );
    dir.join(".semsearch")
}

fn search(index: &Path, query: &str, extra: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let out = bin()
        .arg("search")
        .arg(query)
        .arg("--index")
        .arg(index)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    let hits = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.code(), hits, stderr(&out))
}

fn ids(hits: &[Value]) -> Vec<&str> {
    hits.iter().map(|h| h["id"].as_str().unwrap()).collect()
}

#[test]
fn each_mode_finds_what_it_should() {
    let tmp = tempfile::tempdir().unwrap();
    let index = real_index(tmp.path());
    // A paraphrase sharing no word with the document: only meaning finds it.
    let q = "vehicle maintenance";
    let (_, sem, _) = search(&index, q, &["--mode", "semantic"]);
    assert_eq!(ids(&sem)[0], "cars.txt");
    let (code, lex, _) = search(&index, q, &["--mode", "lexical"]);
    assert!(!ids(&lex).contains(&"cars.txt"), "no shared words: {lex:?}");
    assert_eq!(code, Some(1), "no lexical results is exit code 1");
    let (_, hyb, _) = search(&index, q, &[]);
    assert_eq!(ids(&hyb)[0], "cars.txt");
    // An exact rare term: lexical finds it first, and so does hybrid.
    let (_, lex, _) = search(&index, "XK4471", &["--mode", "lexical"]);
    assert_eq!(ids(&lex), ["errors/rare.txt"]);
    let (_, hyb, _) = search(&index, "XK4471", &[]);
    assert_eq!(ids(&hyb)[0], "errors/rare.txt");
}

#[test]
fn json_schema_filters_and_explain() {
    let tmp = tempfile::tempdir().unwrap();
    let index = real_index(tmp.path());
    let (code, hits, _) = search(
        &index,
        "puppy playing outside",
        &["-k", "3", "--no-feedback"],
    );
    assert_eq!(code, Some(0));
    assert_eq!(hits.len(), 3);
    let h = &hits[0];
    assert_eq!(h["id"], "pets.md");
    assert_eq!(h["title"], "Pets");
    assert_eq!(h["line"], 1, "the passage starts at the heading");
    assert!(h["path"].as_str().unwrap().ends_with("notes/pets.md"));
    for key in ["rank", "score", "snippet"] {
        assert!(!h[key].is_null(), "{key}");
    }
    assert!(h["semantic"]["rank"].is_u64() && h["semantic"]["score"].is_f64());
    assert!(
        h["lexical"].is_null(),
        "no shared words with the lexical leg"
    );
    assert_eq!(h["duplicates"], serde_json::json!([]));
    // Feedback (the default) adds the best document's words to the
    // lexical query, which then finds it too.
    let (_, fed, _) = search(&index, "puppy playing outside", &["-k", "3"]);
    assert_eq!(fed[0]["id"], "pets.md");
    assert!(fed[0]["lexical"]["rank"].is_u64(), "{}", fed[0]);
    assert!(h["passage"]["end"].as_u64() > h["passage"]["start"].as_u64());
    // Filters apply inside the search: still k results when they exist.
    let (_, md, _) = search(
        &index,
        "puppy playing outside",
        &["-k", "2", "--path", "*.md"],
    );
    assert_eq!(ids(&md).len(), 2);
    assert!(ids(&md).iter().all(|id| id.ends_with(".md")));
    let (_, sub, _) = search(&index, "anything at all", &["--path", "errors/**"]);
    assert_eq!(ids(&sub), ["errors/rare.txt"]);
    // Highlights are byte ranges of the snippet's words matching a query
    // term, after analysis (stemming); --explain adds the formula as data.
    let (_, bread, _) = search(&index, "kneading DOUGH", &["-k", "1", "--explain"]);
    let b = &bread[0];
    let snippet = b["snippet"].as_str().unwrap();
    let marked: Vec<String> = b["highlights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            snippet[r[0].as_u64().unwrap() as usize..r[1].as_u64().unwrap() as usize].to_lowercase()
        })
        .collect();
    assert!(
        !marked.is_empty()
            && marked
                .iter()
                .all(|w| w.starts_with("knead") || w == "dough"),
        "{marked:?} in {snippet:?}"
    );
    let e = &b["explain"];
    assert_eq!(e["fusion"], "linear", "{e}");
    assert_eq!(e["norm"], "z-score", "{e}");
    assert!(
        e["text"].as_str().unwrap().contains("linear (z-score)"),
        "{e}"
    );
    // The words feedback added, as [term, weight], and in the text.
    let added = e["expansion"].as_array().unwrap();
    assert!(!added.is_empty() && added.iter().all(|t| t[1].as_f64().unwrap() > 0.0));
    assert!(
        e["text"].as_str().unwrap().contains("feedback added"),
        "{e}"
    );
    let (_, plain, _) = search(&index, "kneading DOUGH", &["-k", "1"]);
    assert!(plain[0].get("explain").is_none(), "explain only when asked");
    // Explain shows both legs and the arithmetic.
    let out = bin()
        .args(["search", "dough rising", "--explain", "-k", "1", "--index"])
        .arg(&index)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("bread.md:1")
            && text.contains("semantic rank 1")
            && text.contains("linear (z-score)"),
        "{text}"
    );
}

/// A folder where TF-IDF (cosine-normalised) and BM25 (saturating,
/// length-normalised) must disagree: one short document repeats one query
/// term; a longer one holds both terms once.
#[test]
fn tfidf_and_bm25_rank_differently() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let dir = tmp.path().join("lex");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("repeat.txt"),
        "cat cat cat cat cat cat cat cat cat cat",
    )
    .unwrap();
    std::fs::write(
        dir.join("both.txt"),
        "cat dog alpha beta gamma delta epsilon zeta eta theta iota kappa",
    )
    .unwrap();
    for (i, w) in ["cat lion", "tiger", "bear", "wolf", "fox", "owl"]
        .iter()
        .enumerate()
    {
        std::fs::write(dir.join(format!("other{i}.txt")), format!("{w} lives here")).unwrap();
    }
    let index = index_with(&model, &dir);
    let (_, bm25, _) = search(
        &index,
        "cat dog",
        &["--mode", "lexical", "--lexical", "bm25"],
    );
    let (_, tfidf, _) = search(
        &index,
        "cat dog",
        &["--mode", "lexical", "--lexical", "tfidf"],
    );
    assert_eq!(
        ids(&bm25)[0],
        "both.txt",
        "BM25: two terms beat a saturated one"
    );
    assert_eq!(
        ids(&tfidf)[0],
        "repeat.txt",
        "TF-IDF: the short focused vector has the higher cosine"
    );
    assert!(
        tfidf
            .iter()
            .all(|h| h["score"].as_f64().unwrap() <= 1.0 + 1e-6),
        "cosine scores"
    );
}

#[test]
fn any_query_text_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tiny_index(tmp.path());
    let long = "word ".repeat(2000);
    for q in [
        "\"unbalanced",
        "a AND (b OR c",
        "title:foo body:[1 TO 2]",
        "\u{7}\u{1b}[31m",
        "🍕🔥",
        "東京の天気",
        &long,
        "-",
        "*",
    ] {
        let (code, _, err) = search(&index, q, &["--mode", "hybrid"]);
        assert!(code == Some(0) || code == Some(1), "{q:?}: {err}");
    }
    let (code, _, err) = search(&index, " \t ", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn out_of_range_settings_are_refused_by_flag_as_the_server_refuses_them() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tiny_index(tmp.path());
    for (args, named) in [
        (&["-k", "0"][..], "-k 0: expected 1 to 1000"),
        (&["-k", "5000"][..], "-k 5000: expected 1 to 1000"),
        (
            &["--candidates", "0"][..],
            "--candidates 0: expected 1 to 1000",
        ),
        (&["--candidates", "100000"][..], "--candidates 100000"),
        (&["--fusion", "rrf", "--rrf-k=-1"][..], "--rrf-k -1"),
    ] {
        let out = bin()
            .args(["search", "cars", "--index"])
            .arg(&index)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(named), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn missing_or_corrupt_index_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let none = tmp.path().join("nothing");
    let (code, _, err) = search(&none, "x", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("nothing") && err.contains("semsearch index"),
        "{err}"
    );
    let index = tiny_index(tmp.path());
    let gen = std::fs::read_dir(&index)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("gen-"))
        .unwrap();
    let segment = gen.path().join("vectors/seg-000001.usearch");
    let vectors = std::fs::read(&segment).unwrap();
    std::fs::write(&segment, b"garbage").unwrap();
    let (code, _, err) = search(&index, "cat", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("corrupt") && err.contains(".semsearch"),
        "{err}"
    );
    // The documents table (the lexical index's store) cut short: named.
    std::fs::write(&segment, vectors).unwrap();
    for f in std::fs::read_dir(gen.path().join("tantivy"))
        .unwrap()
        .flatten()
    {
        if f.path().extension().is_some_and(|e| e == "store") {
            let text = std::fs::read(f.path()).unwrap();
            std::fs::write(f.path(), &text[..text.len() / 2]).unwrap();
        }
    }
    let (code, _, err) = search(&index, "cat", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("corrupt") && err.contains("lexical"), "{err}");
}

/// A lexical search, `similar` and a prompt started in lexical mode open
/// the index without its model: they answer with the model's folder gone,
/// while the modes that embed the query name the model they cannot load.
#[test]
fn lexical_search_and_similar_need_no_model_files() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tiny_index(tmp.path());
    let (code, before, err) = search(&index, "XK4471", &["--mode", "lexical"]);
    assert_eq!(code, Some(0), "{err}");
    let model = tmp.path().join("model");
    std::fs::rename(&model, tmp.path().join("moved")).unwrap();
    let (code, after, err) = search(&index, "XK4471", &["--mode", "lexical"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(after, before);
    assert_eq!(ids(&after), ["errors/rare.txt"]);
    let out = bin()
        .args(["similar", "pets.md", "--json", "--index"])
        .arg(&index)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let similar: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(similar.len(), DOCS.len() - 1, "{similar:?}");
    assert!(!ids(&similar).contains(&"pets.md"));
    // A prompt started in lexical mode answers too, and names the model
    // when asked for a semantic ranking.
    let mut cmd = bin();
    cmd.args(["repl", "--mode", "lexical", "--index"])
        .arg(&index);
    let out = crate::common::prompt(cmd, "XK4471\n:mode semantic\nXK4471\n:quit\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("errors/rare.txt"), "{text}");
    assert!(
        text.contains("error:") && text.contains(&*model.to_string_lossy()),
        "{text}"
    );
    for mode in ["hybrid", "semantic"] {
        let (code, _, err) = search(&index, "XK4471", &["--mode", mode]);
        assert_eq!(code, Some(2), "{mode}");
        assert!(err.contains(&*model.to_string_lossy()), "{mode}: {err}");
    }
}

#[test]
fn prompt_driven_through_stdin_and_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tiny_index(tmp.path());
    let script = ":mode lexical\n:k 1\nflux capacitor\n:open 1\n:explain\n:lexical tfidf\nflux\n:feedback\n:collapse\n:lexical lsa\nflux\n:bogus\n:compare flux capacitor\n:quit\n";
    let mut cmd = bin();
    cmd.arg("repl").arg("--index").arg(&index);
    let out = crate::common::prompt(cmd, script);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("errors/rare.txt:1"), "{text}");
    // The tiny model reads 24 tokens, so passages are short.
    assert!(
        text.contains("errors/rare.txt (line 1)\nappears when the flux"),
        ":open prints the passage: {text}"
    );
    assert!(text.contains("lexical rank 1"), ":explain: {text}");
    assert!(text.contains("unknown command :bogus"), "{text}");
    assert!(
        text.contains("feedback off") && text.contains("collapse off"),
        "{text}"
    );
    assert!(
        text.contains("tfidf vs bm25") && text.contains("bm25 vs lsa") && text.contains("rbo"),
        ":compare: {text}"
    );

    let out = bin()
        .args(["compare", "flux capacitor", "--json", "-k", "3", "--index"])
        .arg(&index)
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["lists"]["bm25"][0], "errors/rare.txt");
    assert_eq!(v["ranks"]["errors/rare.txt"]["tfidf"], 1);
    assert_eq!(
        v["overlap"].as_array().unwrap().len(),
        10,
        "every pair of the five lists"
    );
}

#[test]
fn search_with_a_folder_indexes_it_first_then_only_updates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = folder(tmp.path());
    let run = |q: &str| {
        bin()
            .arg("search")
            .arg(q)
            .arg(&dir)
            .arg("--json")
            .output()
            .unwrap()
    };
    let first = run("vehicle maintenance");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(stderr(&first).contains("6 added"), "{}", stderr(&first));
    assert!(dir.join(".semsearch/manifest.json").is_file());
    let top: Value = serde_json::from_str(stdout(&first).lines().next().unwrap()).unwrap();
    assert_eq!(top["id"], "cars.txt");
    std::fs::write(
        dir.join("new.txt"),
        "Comets are icy bodies orbiting the sun.",
    )
    .unwrap();
    let second = run("comet");
    assert!(stderr(&second).contains("1 added"), "{}", stderr(&second));
    let third = run("comet");
    assert!(
        stderr(&third).is_empty(),
        "nothing to update: {}",
        stderr(&third)
    );
}

#[test]
fn search_with_a_folder_keeps_the_language_and_overlap_the_index_was_built_with() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let dir = folder(tmp.path());
    let built = bin()
        .arg("index")
        .arg(&dir)
        .arg("--model")
        .arg(&model)
        .args(["--language", "fr", "--overlap", "16"])
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", stderr(&built));
    std::fs::write(dir.join("new.txt"), "Les comètes sont glacées.").unwrap();
    // The folder changed, so `search QUERY FOLDER` updates the index: with
    // the index's settings, not the defaults (it used to demand flags that
    // `search` does not have).
    let out = bin()
        .arg("search")
        .arg("comètes")
        .arg(&dir)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 added"), "{}", stderr(&out));
    // `index` without the flags keeps them as well; `french` is `fr`.
    let again = bin()
        .arg("index")
        .arg(&dir)
        .args(["--language", "french"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join(".semsearch/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["chunking"]["overlap"], 16, "{manifest}");
}

#[test]
fn weak_matches_are_marked_and_the_relative_min_score_cuts_them() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = real_index(tmp.path());
    let (code, hits, err) = search(&idx, "baking bread dough", &["-k", "6", "--no-collapse"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(ids(&hits)[0], "bread.md");
    assert!(hits[0].get("weak").is_none(), "the best is never weak");
    let weak: Vec<&str> = hits
        .iter()
        .filter(|h| h["weak"] == true)
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert!(
        !weak.is_empty(),
        "unrelated notes are weak matches: {hits:?}"
    );
    // Weak ones come last: they score lowest.
    let first_weak = hits.iter().position(|h| h["weak"] == true).unwrap();
    assert!(hits[first_weak..].iter().all(|h| h["weak"] == true));
    // The relative --min-score at the same share drops exactly those.
    let (_, strong, _) = search(
        &idx,
        "baking bread dough",
        &["-k", "6", "--no-collapse", "--min-score", "20%"],
    );
    assert_eq!(ids(&strong), ids(&hits[..first_weak]));
    // The text output says so too.
    let out = bin()
        .args([
            "search",
            "baking bread dough",
            "-k",
            "6",
            "--no-collapse",
            "--index",
        ])
        .arg(&idx)
        .output()
        .unwrap();
    assert_eq!(stdout(&out).matches("(weak match)").count(), weak.len());
    // Shares are percentages of the way from the candidates' mean to the best.
    for bad in ["150%", "abc", "-5%"] {
        let (code, _, err) = search(&idx, "bread", &["--min-score", bad]);
        assert_eq!(code, Some(2), "--min-score {bad}: {err}");
        assert!(err.contains("min-score"), "{err}");
    }
}

#[test]
fn a_print_all_page_folds_under_the_chapter_it_repeats() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("book");
    std::fs::create_dir_all(&dir).unwrap();
    let topics = [
        (
            "walrus",
            "Walruses haul out on sea ice and dive for clams along the shallow shelf",
        ),
        (
            "zebra",
            "Zebras graze the open savanna grass and migrate with the rains each year",
        ),
        (
            "comet",
            "Comets loop around the sun on long orbits and grow tails of dust and gas",
        ),
        (
            "glacier",
            "Glaciers carve valleys as they creep downhill under their own great weight",
        ),
    ];
    let mut all = String::new();
    for (name, sentence) in topics {
        // Chapters of several sentences, each chapter its own words.
        let text: String = (0..40).map(|i| format!("{sentence}, part {i}. ")).collect();
        std::fs::write(
            dir.join(format!("{name}.md")),
            format!("# {name}\n\n{text}"),
        )
        .unwrap();
        all.push_str(&format!("## {name}\n\n{text}\n\n"));
    }
    // The print-all page: every chapter again, longer than any.
    std::fs::write(dir.join("print.md"), format!("# The whole book\n\n{all}")).unwrap();
    // The real model: collapse compares meaning, which a random one lacks.
    let out = bin()
        .arg("index")
        .arg(&dir)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let idx = dir.join(".semsearch");
    let (code, hits, err) = search(&idx, "zebras graze savanna grass migrate", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(ids(&hits)[0], "zebra.md", "{hits:?}");
    assert!(
        !ids(&hits).contains(&"print.md"),
        "the print page is folded, not listed: {:?}",
        ids(&hits)
    );
    let folded: Vec<&str> = hits[0]["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(folded, ["print.md"]);
    // --no-collapse lists it in its own place.
    let (_, all_hits, _) = search(
        &idx,
        "zebras graze savanna grass migrate",
        &["--no-collapse"],
    );
    assert!(ids(&all_hits).contains(&"print.md"));
    // Ranked above the chapter (its title matches too), the page still
    // gives way: the chapter takes its place.
    let query = "the whole book on zebras grazing savanna grass";
    let (_, raw, _) = search(&idx, query, &["--no-collapse"]);
    assert_eq!(
        ids(&raw)[0],
        "print.md",
        "the page ranks first: {:?}",
        ids(&raw)
    );
    let (_, hits, _) = search(&idx, query, &[]);
    assert_eq!(ids(&hits)[0], "zebra.md", "{:?}", ids(&hits));
    assert_eq!(hits[0]["duplicates"][0]["id"], "print.md");
}
