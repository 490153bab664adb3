//! The web page in a real browser: Debian's Chromium, headless, driven
//! through ChromeDriver's W3C WebDriver protocol. Needs `chromium` and
//! `chromium-driver` (tests/setup.sh installs them; .ci/run calls it);
//! fails with that message when they are missing.
//!
//! Set SEMSEARCH_SCREENSHOTS=DIR to keep the screenshots (docs/ holds the
//! ones README shows); they are written to a temp folder otherwise.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, stderr, Server};
use base64::Engine;
use serde_json::{json, Value};

const DOCS: &[(&str, &str)] = &[
    ("kitchen/bread.md", "# Baking bread\n\nKnead the dough for ten minutes, let it rise for two hours, then bake at 220 degrees until the crust is brown."),
    ("kitchen/tea.md", "# Green tea\n\nSteep green tea leaves for three minutes in water just below boiling."),
    ("garden/roses.md", "# Pruning roses\n\nCut rose canes in late winter, just above an outward-facing bud."),
    ("garden/compost.md", "# Compost\n\nMix green kitchen scraps with brown leaves and keep the heap moist."),
    ("travel/trains.md", "# Night trains\n\nSleeper trains cross Europe overnight: Vienna to Rome, Paris to Berlin."),
    ("travel/packing.md", "# Packing light\n\nOne bag, three shirts, a rain jacket and a good book."),
    // A title that wraps in the compare view's narrow columns.
    ("kitchen/oven.md", "# Keeping a wood-fired oven at an even temperature through a long winter afternoon\n\nFeed small logs often and close the damper halfway."),
    ("evil.txt", "Mallory's note <script>window.__pwned = 1</script> and <img src=x onerror=\"window.__pwned = 2\"> about sourdough starters."),
];

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A ChromeDriver process and one headless Chromium session.
struct Browser {
    driver: Child,
    base: String,
}

fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "{name} is not installed: run `bash tests/setup.sh` (apt-get install -y chromium \
             chromium-driver) before the browser tests"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    fn start() -> Browser {
        let chromium = tool("chromium");
        let port = free_port();
        let driver = Command::new(tool("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        wait(
            || ureq::get(&format!("{url}/status")).call().is_ok(),
            "chromedriver to listen",
        );
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900"]
            }
        }}});
        let session: Value = ureq::post(&format!("{url}/session"))
            .send_json(caps)
            .expect("a Chromium session")
            .into_json()
            .unwrap();
        let id = session["value"]["sessionId"].as_str().unwrap();
        Browser {
            driver,
            base: format!("{url}/session/{id}"),
        }
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let res = match method {
            "GET" => ureq::get(&url).call(),
            _ => ureq::post(&url).send_json(body),
        };
        match res {
            Ok(r) => r.into_json::<Value>().unwrap()["value"].take(),
            Err(ureq::Error::Status(code, r)) => {
                panic!(
                    "{method} {path}: {code} {}",
                    r.into_string().unwrap_or_default()
                )
            }
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{e}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            json!({ "text": text }),
        );
    }

    /// Wait until `script` returns true.
    fn until(&self, script: &str, what: &str) {
        wait(|| self.js(script) == json!(true), what);
    }

    fn screenshot(&self, path: &Path) {
        let b64 = self.call("GET", "/screenshot", json!({}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.base).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn wait(mut ok: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited 30 s for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The folder indexed with the real model, and a server on it.
fn served(root: &Path) -> Server {
    let dir = crate::common::write_notes(root, DOCS);
    let out = bin().arg("index").arg(&dir).arg("-q").output().unwrap();
    assert!(
        out.status.success(),
        "indexing with the real model failed (HF_HOME=../shared/hf HF_HUB_OFFLINE=1): {}",
        stderr(&out)
    );
    let idx = dir.join(".semsearch");
    Server::start(&[OsStr::new("--index"), idx.as_os_str()])
}

#[test]
fn search_compare_and_map_in_chromium_and_documents_stay_inert() {
    let tmp = tempfile::tempdir().unwrap();
    let shots = std::env::var_os("SEMSEARCH_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&shots).unwrap();
    let server = served(tmp.path());
    let b = Browser::start();

    // Type a query: results come as you type, terms highlighted, and the
    // address carries the state.
    b.go(&format!("{}/", server.url));
    b.type_into("#q", "how long should dough rise");
    b.until(
        "return document.querySelectorAll('#results .result').length > 0",
        "results",
    );
    let top = b.js("return document.querySelector('#results .result .title').textContent");
    assert_eq!(top, "Baking bread");
    let marked = b.js("return [...document.querySelectorAll('#results mark')].map(m => m.textContent.toLowerCase())");
    assert!(
        marked.as_array().unwrap().iter().any(|m| m == "dough"),
        "{marked}"
    );
    let url = b.js("return location.search").as_str().unwrap().to_string();
    assert!(url.contains("q=how+long+should+dough+rise"), "{url}");
    b.click("#explain");
    b.until(
        "return document.querySelectorAll('#results .explain').length > 0",
        "the score breakdown",
    );
    b.screenshot(&shots.join("search.png"));

    // Reloading the address shows the same search.
    b.go(&format!("{}/{url}", server.url));
    b.until(
        "return document.querySelector('#results .result .title')?.textContent === 'Baking bread'",
        "the same results after a reload",
    );

    // Compare: five columns, one document linked across them.
    b.click("button[data-view=compare]");
    b.until(
        "return document.querySelectorAll('#compare .column').length === 5",
        "five columns",
    );
    let heads =
        b.js("return [...document.querySelectorAll('#compare h3')].map(h => h.textContent)");
    assert_eq!(heads[0], "TF-IDF");
    assert_eq!(heads[2], "LSA");
    assert_eq!(heads[4], "Hybrid");
    let same = b.js(
        "const li = document.querySelector('#compare li[data-doc=\"kitchen/bread.md\"]');
         li.dispatchEvent(new Event('mouseenter'));
         return document.querySelectorAll('#compare li.same').length",
    );
    assert!(
        same.as_u64().unwrap() >= 2,
        "bread.md marked in several columns: {same}"
    );
    assert!(b.js("return location.search.includes('view=compare')") == json!(true));
    b.screenshot(&shots.join("compare.png"));

    // Compare numbers each title on its first line, however it wraps.
    let levels = b.js(
        "return [...document.querySelectorAll('#compare li')].map(li => {
           const number = li.querySelector('.rank').getBoundingClientRect();
           const title = li.querySelector('button');
           return [Math.abs(number.top - title.getClientRects()[0].top),
                   title.getBoundingClientRect().height / number.height];
         })",
    );
    let levels = levels.as_array().unwrap();
    assert!(
        levels.iter().all(|l| l[0].as_f64().unwrap() < 2.0),
        "each number level with its title's first line: {levels:?}"
    );
    assert!(
        levels.iter().any(|l| l[1].as_f64().unwrap() > 2.0),
        "a title wraps (the case that went wrong): {levels:?}"
    );

    // Map: a point per document, the query and its hits marked; clicking
    // a point opens it.
    b.click("button[data-view=map]");
    b.until(
        &format!(
            "return document.querySelectorAll('#map-svg circle[data-doc]').length === {}",
            DOCS.len()
        ),
        "a point per document",
    );
    b.until(
        "return document.querySelectorAll('#map-svg .query-mark').length === 2
           && document.querySelectorAll('#map-svg .hit-ring').length > 0",
        "the query and its hits on the map",
    );
    let first = b.js(
        "return [...document.querySelectorAll('#map-svg .hit-rank')].map(t => t.textContent)[0]",
    );
    assert_eq!(first, "1");
    b.js("document.querySelector('#map-svg circle[data-doc=\"kitchen/bread.md\"]').dispatchEvent(new MouseEvent('mouseenter'))");
    let hover = b.js("return document.getElementById('map-hover').textContent");
    assert_eq!(hover, "Baking bread", "hovering names the document");
    b.screenshot(&shots.join("map.png"));
    let view_box = "return document.getElementById('map-svg').getAttribute('viewBox')";
    let before = b.js(view_box);
    b.click("#zoom-in");
    assert_ne!(b.js(view_box), before, "zooming moves the view");
    b.js("document.querySelector('#map-svg circle[data-doc=\"garden/roses.md\"]').dispatchEvent(new MouseEvent('click'))");
    b.until(
        "return !document.getElementById('doc').hidden",
        "the document panel",
    );
    let title = b.js("return document.getElementById('doc-title').textContent");
    assert_eq!(title, "Pruning roses");

    // A document holding <script> and <img onerror> shows as text and
    // runs nothing, in a snippet and opened whole.
    b.go(&format!("{}/?q=sourdough+starters", server.url));
    b.until(
        "return document.querySelectorAll('#results .result').length > 0",
        "results for the hostile document",
    );
    b.click("#results .result .title");
    b.until(
        "return !document.getElementById('doc').hidden",
        "the hostile document",
    );
    std::thread::sleep(Duration::from_millis(500));
    let verdict = b.js(
        "return {
           pwned: window.__pwned === undefined ? null : window.__pwned,
           elements: document.querySelectorAll('#results img, #results script, #doc img, #doc script').length,
           snippet: document.querySelector('#results .snippet').textContent,
           text: document.getElementById('doc-text').textContent
         }",
    );
    assert_eq!(verdict["pwned"], Value::Null, "{verdict}");
    assert_eq!(verdict["elements"], 0, "{verdict}");
    assert!(
        verdict["snippet"].as_str().unwrap().contains("<img src=x"),
        "{verdict}"
    );
    assert!(
        verdict["text"].as_str().unwrap().contains("<script>"),
        "{verdict}"
    );
}
