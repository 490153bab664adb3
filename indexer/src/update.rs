//! An indexing run: find what changed, embed only that, commit a new
//! generation atomically.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use semsearch_models::Embedder;
use serde::Serialize;
use tantivy::{doc, Term};

use crate::chunk::{Chunk, Chunker};
use crate::error::{Error, IoContext, Result};
use crate::extract::{extract, SkipReason};
use crate::manifest::{
    ChunkSettings, DocEntry, Manifest, PassageEntry, Quantization, FORMAT_VERSION,
};
use crate::schema::{self, DEFAULT_ANALYZER};
use crate::source::{read_jsonl, walk, Found, WalkOptions};
use crate::store;
use crate::vectors;

/// What to index and how.
#[derive(Debug, Clone)]
pub struct UpdateOptions {
    pub index_dir: PathBuf,
    /// Folders to walk. Empty with no `jsonl`: the roots recorded in the index.
    pub roots: Vec<PathBuf>,
    /// BEIR-style corpora.
    pub jsonl: Vec<PathBuf>,
    pub walk: WalkOptions,
    pub max_file_size: u64,
    pub overlap: usize,
    pub quantization: Quantization,
    pub analyzer: String,
    /// Discard an existing index (another model or format) and start over.
    pub rebuild: bool,
}

impl UpdateOptions {
    pub fn new(index_dir: PathBuf, roots: Vec<PathBuf>) -> Self {
        UpdateOptions {
            index_dir,
            roots,
            jsonl: Vec::new(),
            walk: WalkOptions::default(),
            max_file_size: 10 * 1024 * 1024,
            overlap: 0,
            quantization: Quantization::F32,
            analyzer: DEFAULT_ANALYZER.to_string(),
            rebuild: false,
        }
    }
}

/// Progress, for a bar.
pub enum Event {
    /// Documents found to (re-)embed, with their passage count.
    Embedding { documents: usize, passages: usize },
    /// Passages embedded so far.
    Embedded(usize),
}

/// What a run did. Serialised as the `index --json` output.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub skipped_by_reason: BTreeMap<String, usize>,
    /// Files decoded lossily (invalid UTF-8), indexed anyway.
    pub lossy_utf8: usize,
    /// Totals in the index after the run.
    pub documents: usize,
    pub passages: usize,
    pub seconds: f64,
    /// Of `seconds`, the time spent in the model.
    pub embed_seconds: f64,
    #[serde(skip)]
    pub skipped_files: Vec<(PathBuf, &'static str)>,
}

/// A document to (re-)embed.
struct NewDoc {
    id: String,
    entry: DocEntry,
    text: String,
    chunks: Vec<Chunk>,
}

fn hash(parts: &[&[u8]]) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for p in parts {
        h.update(p);
        h.update(&[0]);
    }
    format!("{:032x}", h.digest128())
}

fn mtime_nanos(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// Outcome of looking at one file.
enum Seen {
    Unchanged(String, Option<DocEntry>),
    Changed(NewDoc, bool),
    Skipped(PathBuf, SkipReason),
}

fn doc_id(root: &Path, path: &Path, prefix_root: bool) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let rel = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    match (prefix_root, root.file_name()) {
        (true, Some(name)) => format!("{}/{rel}", name.to_string_lossy()),
        _ => rel,
    }
}

fn look_at_file(
    id: String,
    path: &Path,
    old: Option<&DocEntry>,
    chunker: &Chunker,
    max_size: u64,
) -> Seen {
    let skip = |r| Seen::Skipped(path.to_path_buf(), r);
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return skip(SkipReason::BrokenLink),
        Err(_) => return skip(SkipReason::Unreadable),
    };
    let (size, mtime) = (meta.len(), mtime_nanos(&meta));
    if size > max_size {
        return skip(SkipReason::TooLarge);
    }
    if let Some(old) = old.filter(|o| o.size == size && o.mtime == mtime) {
        return Seen::Unchanged(id, Some(old.clone()));
    }
    let Ok(bytes) = std::fs::read(path) else {
        return skip(SkipReason::Unreadable);
    };
    let h = hash(&[&bytes]);
    if let Some(old) = old.filter(|o| o.hash == h) {
        // Touched but not changed: keep the passages, refresh size and mtime.
        let entry = DocEntry {
            size,
            mtime,
            ..old.clone()
        };
        return Seen::Unchanged(id, Some(entry));
    }
    let extracted = match extract(path, &bytes) {
        Ok(e) => e,
        Err(r) => return skip(r),
    };
    let chunks = chunker.chunk(&extracted.title, &extracted.text);
    let entry = DocEntry {
        path: Some(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())),
        title: extracted.title,
        size,
        mtime,
        hash: h,
        passages: Vec::new(),
    };
    Seen::Changed(
        NewDoc {
            id,
            entry,
            text: extracted.text,
            chunks,
        },
        extracted.lossy,
    )
}

fn look_at_corpus_doc(
    d: crate::source::CorpusDoc,
    old: Option<&DocEntry>,
    chunker: &Chunker,
) -> Seen {
    let h = hash(&[d.title.as_bytes(), d.text.as_bytes()]);
    if let Some(old) = old.filter(|o| o.hash == h) {
        return Seen::Unchanged(d.id, Some(old.clone()));
    }
    let chunks = chunker.chunk(&d.title, &d.text);
    let entry = DocEntry {
        path: None,
        title: d.title,
        size: d.text.len() as u64,
        mtime: 0,
        hash: h,
        passages: Vec::new(),
    };
    Seen::Changed(
        NewDoc {
            id: d.id,
            entry,
            text: d.text,
            chunks,
        },
        false,
    )
}

/// Open the previous manifest, unless it must be discarded.
fn previous(opts: &UpdateOptions, embedder: &Embedder) -> Result<Option<Manifest>> {
    match Manifest::read(&opts.index_dir) {
        Ok(m) => {
            let compatible = m.check_model(&opts.index_dir, embedder.info()).and_then(|_| {
                let precision = embedder.info().precision;
                if m.quantization != opts.quantization || m.analyzer != opts.analyzer || m.chunking.overlap != opts.overlap || m.model.precision != precision {
                    return Err(Error::Corrupt {
                        path: opts.index_dir.clone(),
                        reason: format!(
                            "it was built with quantization {}, analyser {}, overlap {}, precision {}; pass --rebuild to change them",
                            m.quantization, m.analyzer, m.chunking.overlap, m.model.precision
                        ),
                    });
                }
                Ok(())
            });
            match compatible {
                Ok(()) if !opts.rebuild => Ok(Some(m)),
                Err(e) if !opts.rebuild => Err(e),
                _ => Ok(None),
            }
        }
        Err(Error::NoIndex { .. }) => Ok(None),
        Err(e @ (Error::FormatVersion { .. } | Error::Corrupt { .. })) if !opts.rebuild => Err(e),
        Err(Error::FormatVersion { .. } | Error::Corrupt { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Index `opts.roots` and `opts.jsonl` into `opts.index_dir`, re-embedding
/// only what changed.
pub fn update(
    embedder: &Embedder,
    opts: &UpdateOptions,
    progress: &mut dyn FnMut(Event),
) -> Result<Report> {
    let started = Instant::now();
    let dir = &opts.index_dir;
    let _lock = store::lock(dir)?;
    let prev = previous(opts, embedder)?;
    let info = embedder.info().clone();
    let settings = ChunkSettings {
        max_tokens: info.max_seq_length,
        overlap: opts.overlap,
        max_title_tokens: 32,
    };
    let chunker = Chunker::new(embedder.tokenizer(), settings).map_err(|e| Error::Corrupt {
        path: dir.clone(),
        reason: format!("tokenizer: {e}"),
    })?;
    let (mut roots, mut jsonl) = (opts.roots.clone(), opts.jsonl.clone());
    if roots.is_empty() && jsonl.is_empty() {
        if let Some(p) = &prev {
            for r in &p.roots {
                if r.is_file() {
                    jsonl.push(r.clone())
                } else {
                    roots.push(r.clone())
                }
            }
        }
    }
    let canon = |p: &PathBuf| std::fs::canonicalize(p).at(p);
    let roots: Vec<PathBuf> = roots.iter().map(canon).collect::<Result<_>>()?;
    let jsonl: Vec<PathBuf> = jsonl.iter().map(canon).collect::<Result<_>>()?;
    let empty = BTreeMap::new();
    let old_docs = prev.as_ref().map_or(&empty, |p| &p.documents);

    let mut walk_opts = opts.walk.clone();
    walk_opts.index_dir = Some(dir.clone());
    let mut seen: Vec<Seen> = Vec::new();
    for root in &roots {
        let files = walk(root, &walk_opts)?;
        let prefix = roots.len() > 1;
        seen.par_extend(files.into_par_iter().map(|f| match f {
            Found::File(path) => {
                let id = doc_id(root, &path, prefix);
                let old = old_docs.get(&id);
                look_at_file(id, &path, old, &chunker, opts.max_file_size)
            }
            Found::Skipped(path, reason) => Seen::Skipped(path, reason),
        }));
    }
    for file in &jsonl {
        let docs = read_jsonl(file)?;
        seen.par_extend(docs.into_par_iter().map(|d| {
            let old = old_docs.get(&d.id);
            look_at_corpus_doc(d, old, &chunker)
        }));
    }

    let mut report = Report::default();
    let mut documents: BTreeMap<String, DocEntry> = BTreeMap::new();
    let mut new_docs: Vec<NewDoc> = Vec::new();
    let mut touched = false;
    for s in seen {
        match s {
            Seen::Unchanged(id, entry) => {
                let entry = entry.expect("unchanged documents carry their entry");
                touched |= old_docs.get(&id) != Some(&entry);
                report.unchanged += 1;
                documents.insert(id, entry);
            }
            Seen::Changed(doc, lossy) => {
                report.lossy_utf8 += lossy as usize;
                if old_docs.contains_key(&doc.id) {
                    report.updated += 1
                } else {
                    report.added += 1
                }
                new_docs.push(doc);
            }
            Seen::Skipped(path, reason) => {
                report.skipped += 1;
                *report
                    .skipped_by_reason
                    .entry(reason.as_str().to_string())
                    .or_default() += 1;
                report.skipped_files.push((path, reason.as_str()));
            }
        }
    }
    // Duplicate ids (the same `_id` twice): the last one wins.
    let mut seen_ids = HashSet::new();
    new_docs.reverse();
    new_docs.retain(|d| seen_ids.insert(d.id.clone()) && !documents.contains_key(&d.id));
    new_docs.reverse();
    let gone: Vec<String> = old_docs
        .keys()
        .filter(|id| !documents.contains_key(*id) && !seen_ids.contains(*id))
        .cloned()
        .collect();
    report.removed = gone.len();

    let changed = !new_docs.is_empty() || !gone.is_empty() || prev.is_none();
    let mut manifest = prev.clone().unwrap_or_else(|| Manifest {
        format_version: FORMAT_VERSION,
        model: info.clone(),
        chunking: settings,
        analyzer: opts.analyzer.clone(),
        quantization: opts.quantization,
        roots: Vec::new(),
        generation: 0,
        next_passage_id: 1,
        updated: 0,
        documents: BTreeMap::new(),
    });
    manifest.roots = roots.iter().chain(&jsonl).cloned().collect();

    if changed {
        // Embed every new passage in one length-sorted stream.
        let ids: Vec<Vec<u32>> = new_docs
            .iter()
            .flat_map(|d| d.chunks.iter().map(|c| c.ids.clone()))
            .collect();
        progress(Event::Embedding {
            documents: new_docs.len(),
            passages: ids.len(),
        });
        let t = Instant::now();
        let vectors =
            embedder.embed_tokens_with_progress(&ids, &mut |n| progress(Event::Embedded(n)))?;
        report.embed_seconds = t.elapsed().as_secs_f64();
        let mut next_id = manifest.next_passage_id;
        let mut keyed: Vec<(u64, Vec<f32>)> = Vec::with_capacity(vectors.len());
        let mut doc_keyed: Vec<(u64, Vec<f32>)> = Vec::with_capacity(new_docs.len());
        let mut vectors = vectors.into_iter();
        for d in &mut new_docs {
            let first = keyed.len();
            for c in &d.chunks {
                d.entry.passages.push(PassageEntry {
                    id: next_id,
                    start: c.start,
                    end: c.end,
                    line: c.line,
                });
                keyed.push((next_id, vectors.next().expect("one vector per passage")));
                next_id += 1;
            }
            if let Some(key) = d.entry.vector_key() {
                let passages = keyed[first..].iter().map(|(_, v)| v.as_slice());
                doc_keyed.push((key, vectors::mean(passages, info.dim)));
            }
        }
        manifest.next_passage_id = next_id;

        let prev_gen = prev.as_ref().map(|p| p.generation);
        // Past every generation on disk, even one of a discarded (--rebuild)
        // index: the committed one must survive until the new manifest lands.
        let generation = store::next_generation(dir);
        let gen_dir = store::start_generation(dir, prev_gen, generation)?;
        let removed_ids: Vec<&String> = gone
            .iter()
            .chain(
                new_docs
                    .iter()
                    .map(|d| &d.id)
                    .filter(|id| old_docs.contains_key(*id)),
            )
            .collect();
        write_lexical(
            &gen_dir,
            &opts.analyzer,
            prev_gen.is_some(),
            &removed_ids,
            &new_docs,
        )?;
        let stale: Vec<u64> = removed_ids
            .iter()
            .flat_map(|id| old_docs[*id].passages.iter().map(|p| p.id))
            .collect();
        let stale_docs: Vec<u64> = removed_ids
            .iter()
            .filter_map(|id| old_docs[*id].vector_key())
            .collect();
        let prev_dir = prev_gen.map(|g| store::generation_dir(dir, g));
        for (path, stale, added) in [
            (store::vectors_path as fn(&Path) -> PathBuf, &stale, &keyed),
            (store::doc_vectors_path, &stale_docs, &doc_keyed),
        ] {
            let prev = prev_dir.as_deref().map(path);
            vectors::write(
                &path(&gen_dir),
                prev.as_deref(),
                info.dim,
                opts.quantization,
                stale,
                added,
            )?;
        }
        manifest.generation = generation;
        for d in new_docs {
            documents.insert(d.id, d.entry);
        }
    }
    manifest.documents = documents;
    failpoint("before-manifest");
    if changed || touched {
        manifest.updated = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        manifest.write(dir)?;
    }
    let previous = prev
        .as_ref()
        .map(|p| p.generation)
        .filter(|&g| g != manifest.generation);
    store::remove_old_generations(dir, manifest.generation, previous);
    report.documents = manifest.documents.len();
    report.passages = manifest.passage_count();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn write_lexical(
    gen_dir: &Path,
    analyzer: &str,
    existing: bool,
    removed: &[&String],
    docs: &[NewDoc],
) -> Result<()> {
    let tdir = store::tantivy_dir(gen_dir);
    let (schema, fields) = schema::schema(analyzer);
    let index = if existing {
        tantivy::Index::open_in_dir(&tdir).at(&tdir)?
    } else {
        tantivy::Index::create_in_dir(&tdir, schema).at(&tdir)?
    };
    index
        .tokenizers()
        .register(analyzer, schema::analyzer(analyzer));
    let mut writer: tantivy::IndexWriter = index.writer(64 << 20).at(&tdir)?;
    for id in removed {
        writer.delete_term(Term::from_field_text(fields.id, id));
    }
    for d in docs {
        let text = format!("{}\n{}", d.entry.title, d.text);
        writer
            .add_document(doc!(fields.id => d.id.as_str(), fields.title => d.entry.title.as_str(), fields.body => d.text.as_str(), fields.text => text))
            .at(&tdir)?;
    }
    writer.commit().at(&tdir)?;
    writer.wait_merging_threads().at(&tdir)?;
    Ok(())
}

/// Crash-test hook: with `SEMSEARCH_FAILPOINT=NAME`, pause 30 s at the named
/// point so a test can kill the process exactly there.
fn failpoint(name: &str) {
    if std::env::var("SEMSEARCH_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("semsearch: failpoint {name}");
        std::thread::sleep(std::time::Duration::from_secs(30));
    }
}
