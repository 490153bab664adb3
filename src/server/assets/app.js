// semsearch's web page. Every text that comes from a document is put in
// the page with textContent or createTextNode, never parsed as HTML, so a
// document holding <script> or <img onerror=...> shows as text and runs
// nothing (and the server's Content-Security-Policy allows only this file).
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("form");
const fields = ["q", "mode", "lexical", "fusion", "k"];
const DEBOUNCE_MS = 200;
let view = "results";
let timer = null;
let generation = 0; // drops answers to queries typed over

// A token given as #token=... is kept for this tab and sent as a bearer.
(function keepToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("semsearch-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
})();

async function api(path, params) {
  const url = path + "?" + new URLSearchParams(params).toString();
  const headers = {};
  const token = sessionStorage.getItem("semsearch-token");
  if (token) headers.Authorization = "Bearer " + token;
  const res = await fetch(url, { headers });
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function params() {
  const p = {};
  for (const f of fields) {
    const v = $(f).value.trim();
    if (v) p[f] = v;
  }
  if ($("explain").checked) p.explain = "true";
  return p;
}

// The address carries the state, so a search can be linked and reloaded.
function saveState(push) {
  const p = params();
  if (view !== "results") p.view = view;
  const url = "/?" + new URLSearchParams(p).toString();
  if (url !== location.pathname + location.search) {
    (push ? history.pushState : history.replaceState).call(history, null, "", url);
  }
}

function loadState() {
  const p = new URLSearchParams(location.search);
  for (const f of fields) {
    if (p.has(f)) $(f).value = p.get(f);
  }
  $("explain").checked = p.get("explain") === "true";
  setView(p.get("view") || "results", false);
}

function setStatus(text) {
  $("status").textContent = text;
}

// Highlights are byte ranges of the UTF-8 snippet: cut the bytes, decode
// each piece, and wrap the marked ones in <mark>.
function snippet(text, ranges) {
  const bytes = new TextEncoder().encode(text);
  const dec = new TextDecoder();
  const out = el("p", { class: "snippet" });
  let at = 0;
  for (const [s, e] of ranges || []) {
    if (s < at || e > bytes.length) continue;
    out.append(dec.decode(bytes.slice(at, s)));
    out.append(el("mark", {}, dec.decode(bytes.slice(s, e))));
    at = e;
  }
  out.append(dec.decode(bytes.slice(at)));
  return out;
}

function where(r) {
  const place = r.page ? "p" + r.page : r.slide ? "slide" + r.slide : r.line;
  return r.path ? r.path + ":" + place : r.id;
}

function result(r) {
  // A weak match (far below the best, as the CLI and the JSON say) is
  // dimmed and says so.
  const item = el(
    "li",
    { class: r.weak ? "result weak" : "result" },
    el(
      "div",
      { class: "head" },
      el("span", { class: "score" }, r.score.toFixed(4)),
      el("button", { type: "button", class: "title", onclick: () => openDoc(r.id) }, r.title || r.id),
      r.weak ? el("span", { class: "weak-label" }, "weak match") : null,
      el("span", { class: "where" }, where(r))
    ),
    snippet(r.snippet, r.highlights)
  );
  if (r.explain) item.append(el("p", { class: "explain" }, r.explain.text));
  item.append(
    el("button", { type: "button", class: "more", onclick: () => similar(r.id, r.title || r.id) }, "More like this")
  );
  return item;
}

function showResults(list, heading) {
  const box = $("results");
  box.replaceChildren();
  if (heading) box.append(el("h2", {}, heading));
  const ol = el("ol", { class: "results" });
  list.forEach((r) => ol.append(result(r)));
  box.append(ol);
}

async function search() {
  const p = params();
  saveState(false);
  if (view === "map") {
    await loadMap(++generation);
    return;
  }
  if (!p.q) {
    $("results").replaceChildren();
    $("compare").replaceChildren();
    setStatus("");
    return;
  }
  const mine = ++generation;
  try {
    if (view === "compare") {
      const c = await api("/api/compare", p);
      if (mine === generation) showCompare(c);
    } else {
      const r = await api("/api/search", p);
      if (mine !== generation) return;
      showResults(r.results);
      setStatus(r.results.length + " results in " + r.took_ms + " ms");
    }
  } catch (e) {
    if (mine === generation) setStatus("Error: " + e.message);
  }
}

async function similar(id, title) {
  const mine = ++generation;
  try {
    const r = await api("/api/similar", { id, k: $("k").value || "10" });
    if (mine !== generation) return;
    setView("results", true);
    showResults(r.results, "Documents like " + title);
    setStatus(r.results.length + " similar documents in " + r.took_ms + " ms");
  } catch (e) {
    setStatus("Error: " + e.message);
  }
}

// Five columns, in the order the representations came (TF-IDF, BM25,
// LSA, BERT, fused); the same document is linked across them: pointing at it
// in one column marks it in all.
function showCompare(c) {
  const box = $("compare");
  box.replaceChildren();
  const cols = el("div", { class: "columns" });
  const names = { tfidf: "TF-IDF", bm25: "BM25", lsa: "LSA", semantic: "Semantic", hybrid: "Hybrid" };
  for (const name of ["tfidf", "bm25", "lsa", "semantic", "hybrid"]) {
    const ol = el("ol", {});
    (c.lists[name] || []).forEach((id, i) => {
      // The number is an element beside the title, level with its first
      // line (an <ol> marker sits on the baseline of a button's last line).
      const li = el(
        "li",
        { "data-doc": id, tabindex: "0", title: id },
        el("span", { class: "rank" }, i + 1 + "."),
        el("button", { type: "button", onclick: () => openDoc(id) }, c.titles[id] || id)
      );
      const mark = (on) =>
        box.querySelectorAll("li").forEach((x) => x.classList.toggle("same", on && x.dataset.doc === id));
      li.addEventListener("mouseenter", () => mark(true));
      li.addEventListener("mouseleave", () => mark(false));
      li.addEventListener("focusin", () => mark(true));
      li.addEventListener("focusout", () => mark(false));
      ol.append(li);
    });
    cols.append(el("div", { class: "column" }, el("h3", {}, names[name]), ol));
  }
  box.append(cols);
  const table = el("table", { class: "agreement" });
  table.append(el("tr", {}, el("th", {}, "pair"), el("th", {}, "overlap@" + c.k), el("th", {}, "RBO")));
  for (const o of c.overlap) {
    table.append(
      el(
        "tr",
        {},
        el("td", {}, names[o.a] + " vs " + names[o.b]),
        el("td", {}, o["overlap@" + c.k].toFixed(2)),
        el("td", {}, o.rbo.toFixed(3))
      )
    );
  }
  box.append(el("h3", {}, "Agreement (rank-biased overlap, p = " + c.rbo_p + ")"), table);
  setStatus("Five rankings in " + c.took_ms + " ms");
}

// The map: an SVG scatter of the documents; the wheel, drag and the
// buttons zoom and pan by moving the viewBox.
const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
let box0 = null;
let mapLoaded = false; // the parameters of the map drawn, once drawn

function setBox(b) {
  $("map-svg").setAttribute("viewBox", [b.x, b.y, b.w, b.h].join(" "));
  $("map-svg").dataset.box = JSON.stringify(b);
}

function zoom(f, cx, cy) {
  const b = JSON.parse($("map-svg").dataset.box);
  const x = cx === undefined ? b.x + b.w / 2 : cx;
  const y = cy === undefined ? b.y + b.h / 2 : cy;
  setBox({ x: x - (x - b.x) * f, y: y - (y - b.y) * f, w: b.w * f, h: b.h * f });
}

// The map, with the query and its top hits when there is a query.
async function loadMap(mine) {
  const p = params();
  const key = JSON.stringify(p);
  if (mapLoaded === key) return;
  setStatus("Drawing the map…");
  let m;
  try {
    m = await api("/api/map", p.q ? p : {});
  } catch (e) {
    setStatus("Error: " + e.message);
    return;
  }
  if (mine !== undefined && mine !== generation) return;
  const keepBox = mapLoaded !== false;
  mapLoaded = key;
  const svg = $("map-svg");
  svg.replaceChildren();
  const xs = m.coords.map((c) => c[0]);
  const ys = m.coords.map((c) => -(c[1] || 0));
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const pad = 0.05 * Math.max(x1 - x0, y1 - y0, 1e-6);
  box0 = { x: x0 - pad, y: y0 - pad, w: x1 - x0 + 2 * pad, h: y1 - y0 + 2 * pad };
  const r = Math.max(box0.w, box0.h) / Math.max(120, 8 * Math.sqrt(m.ids.length));
  if (!keepBox || !svg.dataset.box) setBox(box0);
  m.ids.forEach((id, i) => {
    const c = document.createElementNS(SVG, "circle");
    c.setAttribute("cx", xs[i]);
    c.setAttribute("cy", ys[i]);
    c.setAttribute("r", r);
    c.setAttribute("fill", COLORS[m.group[i] % COLORS.length]);
    c.setAttribute("tabindex", "0");
    c.dataset.doc = id;
    const t = document.createElementNS(SVG, "title");
    t.textContent = m.titles[i] || id;
    c.append(t);
    c.addEventListener("mouseenter", () => ($("map-hover").textContent = m.titles[i] || id));
    c.addEventListener("click", () => openDoc(id));
    c.addEventListener("keydown", (e) => e.key === "Enter" && openDoc(id));
    svg.append(c);
  });
  if (m.query) drawQuery(svg, m.query, r);
  const legend = $("legend");
  legend.replaceChildren();
  m.groups.forEach((g, i) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = COLORS[i % COLORS.length];
    legend.append(el("li", {}, swatch, g));
  });
  if (m.query) {
    legend.append(el("li", {}, el("span", { class: "swatch query" }), "the query, its top hits ringed and numbered"));
  }
  const where = m.query ? "; the query and its " + m.query.hits.length + " top hits marked" : "";
  setStatus(m.ids.length + " documents; PC1 " + (m.explained[0] * 100).toFixed(1) + "% of the variance" + where);
}

// The query as a cross, its hits ringed with their rank beside them.
function drawQuery(svg, q, r) {
  const shape = (tag, attrs, text) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  for (const h of q.hits) {
    const [x, y] = [h.coords[0], -(h.coords[1] || 0)];
    shape("line", { x1: q.coords[0], y1: -(q.coords[1] || 0), x2: x, y2: y, class: "hit-line", "stroke-width": r / 4 });
    const ring = shape("circle", { cx: x, cy: y, r: r * 2, class: "hit-ring", "stroke-width": r / 2 });
    ring.append(Object.assign(document.createElementNS(SVG, "title"), { textContent: h.rank + ". " + h.id }));
    shape("text", { x: x + r * 2.5, y: y + r, class: "hit-rank", "font-size": r * 4 }, String(h.rank));
  }
  const [qx, qy, s] = [q.coords[0], -(q.coords[1] || 0), r * 3];
  for (const [dx, dy] of [[s, s], [s, -s]]) {
    shape("line", { x1: qx - dx, y1: qy - dy, x2: qx + dx, y2: qy + dy, class: "query-mark", "stroke-width": r });
  }
  shape("text", { x: qx + s * 1.3, y: qy - s, class: "query-label", "font-size": r * 4.5 }, "query");
}

(function mapControls() {
  const svg = $("map-svg");
  $("zoom-in").addEventListener("click", () => zoom(0.7));
  $("zoom-out").addEventListener("click", () => zoom(1 / 0.7));
  $("zoom-reset").addEventListener("click", () => box0 && setBox(box0));
  const point = (e) => {
    const p = svg.createSVGPoint();
    p.x = e.clientX;
    p.y = e.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  };
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const p = point(e);
    zoom(e.deltaY < 0 ? 0.85 : 1 / 0.85, p.x, p.y);
  });
  let drag = null;
  svg.addEventListener("pointerdown", (e) => (drag = point(e)));
  svg.addEventListener("pointerup", () => (drag = null));
  svg.addEventListener("pointerleave", () => (drag = null));
  svg.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const p = point(e);
    const b = JSON.parse(svg.dataset.box);
    setBox({ x: b.x - (p.x - drag.x), y: b.y - (p.y - drag.y), w: b.w, h: b.h });
  });
})();

async function openDoc(id) {
  try {
    const d = await api("/api/document", { id });
    $("doc-title").textContent = d.title || d.id;
    $("doc-path").textContent = d.path || d.id;
    $("doc-text").textContent = d.text;
    $("doc").hidden = false;
    $("doc-close").focus();
  } catch (e) {
    setStatus("Error: " + e.message);
  }
}

function setView(v, push) {
  view = ["results", "compare", "map"].includes(v) ? v : "results";
  for (const b of document.querySelectorAll("#views button")) {
    b.setAttribute("aria-pressed", String(b.dataset.view === view));
  }
  for (const s of ["results", "compare", "map"]) $(s).hidden = s !== view;
  if (push !== false) saveState(true);
}

document.querySelectorAll("#views button").forEach((b) =>
  b.addEventListener("click", () => {
    setView(b.dataset.view, true);
    search();
  })
);
form.addEventListener("submit", (e) => {
  e.preventDefault();
  search();
});
$("q").addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(search, DEBOUNCE_MS);
});
for (const f of ["mode", "lexical", "fusion", "k", "explain"]) $(f).addEventListener("change", search);
$("doc-close").addEventListener("click", () => ($("doc").hidden = true));
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !$("doc").hidden) $("doc").hidden = true;
  else if (e.key === "/" && document.activeElement !== $("q")) {
    e.preventDefault();
    $("q").focus();
  }
});
window.addEventListener("popstate", () => {
  loadState();
  search();
});

loadState();
search();
