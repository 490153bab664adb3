//! PDF, Word, OpenDocument, EPUB and PowerPoint files, made by real
//! producers (tests/fixtures/make.sh: Chromium, pandoc, qpdf): each found
//! by a phrase of its own on the right page or slide, with a clean snippet;
//! damaged ones skipped with their reason while the rest is indexed. With
//! the real model (its tokenizer keeps words whole, where the tiny test
//! model's letter pieces cut passages mid-word) and lexical ranking, so the
//! top hit is decided by the phrase.

use std::path::{Path, PathBuf};

use crate::common::{bin, stderr, stdout};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/documents")
}

/// The fixtures copied into `dir/docs` (the index goes beside them).
fn docs(dir: &Path) -> PathBuf {
    let docs = dir.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, docs.join(path.file_name().unwrap())).unwrap();
    }
    docs
}

fn index(docs: &Path) -> Value {
    let out = bin().args(["index", "--json"]).arg(docs).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn top_hit(docs: &Path, query: &str) -> Value {
    let out = bin()
        .args([
            "search", query, "--json", "--mode", "lexical", "-k", "1", "--index",
        ])
        .arg(docs.join(".semsearch"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    serde_json::from_str(line.lines().next().expect("a hit")).unwrap()
}

#[test]
fn every_format_is_found_on_its_page_with_a_clean_snippet() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = docs(tmp.path());
    let r = index(&docs);
    assert_eq!(r["added"], 8, "{r}");
    assert_eq!(r["documents"], 8, "{r}");
    // minutes.png (a picture of a page), scanned.pdf (that picture as a
    // PDF page) and page 2 of mixed.pdf (typed page 1 read as text): read
    // by Tesseract.
    assert_eq!(r["ocr_pages"], 3, "{r}");
    let mixed = top_hit(&docs, "guild treasurer orchard lease");
    assert_eq!(
        (mixed["id"].as_str(), mixed["page"].as_u64()),
        (Some("mixed.pdf"), Some(1))
    );
    for file in ["minutes.png", "scanned.pdf", "mixed.pdf"] {
        let out = bin()
            .args([
                "search",
                "beekeepers guild hive inspection",
                "--json",
                "--mode",
                "lexical",
            ])
            .args(["--no-collapse", "--index"])
            .arg(docs.join(".semsearch"))
            .output()
            .unwrap();
        let ids: Vec<String> = stdout(&out)
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(ids.iter().take(3).any(|i| i == file), "{file} in {ids:?}");
    }
    // The scan is found on its page.
    let scan = top_hit(&docs, "calm queens healthy brood");
    if scan["id"] == "scanned.pdf" {
        assert_eq!(scan["page"], 1, "{scan}");
    }

    // (phrase, file, "page" or "slide", number, title from the metadata)
    let cases = [
        (
            "marmalade logistics",
            "report.pdf",
            "page",
            1,
            "Quarterly Report on Orchards",
        ),
        (
            "copper sprinkler valves",
            "report.pdf",
            "page",
            2,
            "Quarterly Report on Orchards",
        ),
        (
            "zeppelin insurance premium",
            "report.pdf",
            "page",
            3,
            "Quarterly Report on Orchards",
        ),
        (
            "quince-scented smoker",
            "notes.docx",
            "",
            0,
            "Field Notes on Beekeeping",
        ),
        (
            "heather blooms",
            "notes.odt",
            "",
            0,
            "Field Notes on Beekeeping",
        ),
        (
            "centrifuge hums",
            "notes.epub",
            "",
            0,
            "Field Notes on Beekeeping",
        ),
        (
            "Fresnel prisms",
            "deck.pptx",
            "slide",
            3,
            "Lighthouse Maintenance",
        ),
        (
            "limewash after a storm",
            "deck.pptx",
            "slide",
            4,
            "Lighthouse Maintenance",
        ),
    ];
    for (phrase, file, unit, n, title) in cases {
        // The three notes files say the same: search within one at a time.
        let out = bin()
            .args(["search", phrase, "--json", "--mode", "lexical", "-k", "1"])
            .args(["--path", file, "--index"])
            .arg(docs.join(".semsearch"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let hit: Value = serde_json::from_str(stdout(&out).lines().next().expect("a hit")).unwrap();
        assert_eq!(hit["id"], file, "{phrase}: {hit}");
        assert_eq!(hit["title"], title, "{hit}");
        if unit.is_empty() {
            assert!(
                hit.get("page").is_none() && hit.get("slide").is_none(),
                "{hit}"
            );
        } else {
            assert_eq!(hit[unit], n, "{phrase} is on {unit} {n}: {hit}");
        }
        let snippet = hit["snippet"].as_str().unwrap();
        assert!(
            snippet.to_lowercase().contains(&phrase.to_lowercase()),
            "{phrase} in {snippet:?}"
        );
        assert!(
            !snippet
                .chars()
                .any(|c| c.is_control() || ('\u{FB00}'..='\u{FB06}').contains(&c)),
            "no control or ligature characters: {snippet:?}"
        );
    }

    // Human output names the page.
    let out = bin()
        .args([
            "search", "zeppelin", "--mode", "lexical", "-k", "1", "--color", "never",
        ])
        .args(["--index"])
        .arg(docs.join(".semsearch"))
        .output()
        .unwrap();
    assert!(stdout(&out).contains("report.pdf:p3"), "{}", stdout(&out));

    // Chromium's running header (date, title) and footer (file URL, "1/3")
    // are on every page of report.pdf, and indexed on none.
    let out = bin()
        .args(["search", "html", "--json", "--mode", "lexical", "--index"])
        .arg(docs.join(".semsearch"))
        .output()
        .unwrap();
    assert!(stdout(&out).trim().is_empty(), "{}", stdout(&out));
}

#[test]
fn damaged_documents_are_skipped_with_their_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = docs(tmp.path());
    let r = index(&docs);
    let reasons = &r["skipped_by_reason"];
    // truncated.pdf and fake.docx (a zip with no Word document in it).
    assert_eq!(reasons["corrupt"], 2, "{r}");
    assert_eq!(reasons["encrypted"], 1, "locked.pdf: {r}");
    assert_eq!(
        reasons["no_text"], 1,
        "scan.pdf, a drawing: OCR reads nothing: {r}"
    );
    assert_eq!(r["skipped"], 4, "{r}");

    // Unchanged documents are not read again.
    let again = index(&docs);
    assert_eq!(
        (again["added"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(8)),
        "{again}"
    );

    // Touched, same bytes: the hash matches, nothing is extracted again.
    let report = docs.join("report.pdf");
    let bytes = std::fs::read(&report).unwrap();
    std::fs::write(&report, &bytes).unwrap();
    let touched = index(&docs);
    assert_eq!(touched["unchanged"], 8, "{touched}");
    // Changed bytes: extracted again, still found on its page.
    std::fs::write(&report, [bytes.as_slice(), b"\n%appended\n"].concat()).unwrap();
    let changed = index(&docs);
    assert_eq!(changed["updated"], 1, "{changed}");
    assert_eq!(top_hit(&docs, "zeppelin")["page"], 3);
}

#[test]
fn the_prompt_opens_a_hit_on_its_page() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = docs(tmp.path());
    index(&docs);
    let mut cmd = bin();
    cmd.arg("repl").arg("--index").arg(docs.join(".semsearch"));
    let out = crate::common::prompt(
        cmd,
        ":mode lexical\n:k 1\ncopper sprinkler valves\n:open 1\n:quit\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("report.pdf (page 2)\n"), "{text}");
    assert!(text.contains("Copper sprinkler valves"), "{text}");
}

/// A one-page PDF whose content stream inflates to `inflated` bytes.
fn pdf_bomb(inflated: usize) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..inflated >> 20 {
        z.write_all(&chunk).unwrap();
    }
    let stream = z.finish().unwrap();
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>".to_vec(),
        [
            format!(
                "<< /Length {} /Filter /FlateDecode >>\nstream\n",
                stream.len()
            )
            .as_bytes(),
            &stream,
            b"\nendstream",
        ]
        .concat(),
    ];
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        pdf.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

#[test]
fn a_pdf_that_inflates_past_the_memory_cap_is_too_large_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = docs(tmp.path());
    // 512 MB of spaces in a 0.5 MB file, against a 256 MB worker cap.
    std::fs::write(docs.join("bomb.pdf"), pdf_bomb(512 << 20)).unwrap();
    let out = bin()
        .env("SEMSEARCH_WORKER_MEMORY", (256u64 << 20).to_string())
        .args(["index", "--json"])
        .arg(&docs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["skipped_by_reason"]["too_large"], 1, "{r}");
    assert_eq!(r["added"], 8, "the other documents: {r}");
}

#[test]
fn without_tesseract_images_and_scans_are_skipped_naming_the_package() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = docs(tmp.path());
    // A PATH without tesseract or pdftoppm.
    let bare = tmp.path().join("bin");
    std::fs::create_dir_all(&bare).unwrap();
    let out = bin()
        .env("PATH", &bare)
        .arg("index")
        .arg(&docs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    // minutes.png, scanned.pdf and scan.pdf: no OCR to read them.
    assert!(text.contains("3 no_ocr"), "{text}");
    assert!(text.contains("install tesseract-ocr"), "{text}");
}
