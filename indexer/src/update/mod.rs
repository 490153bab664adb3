//! An indexing run, as a pipeline with bounded memory:
//!
//! 1. `scan`: walk the roots (or stream a corpus) and look at each file
//!    in parallel, a chunk at a time: unchanged, skipped, or changed (then
//!    extracted and cut into passages).
//! 2. embed: changed documents gather until [`UpdateOptions::embed_batch`]
//!    passages, then are embedded in one length-sorted stream.
//! 3. `generation`: each embedded batch goes straight into the
//!    generation being written (tantivy writer, HNSW indexes; the
//!    vectors are inserted while the next batch is embedded).
//! 4. commit: every [`UpdateOptions::checkpoint`] and at the end, the
//!    generation is committed through the atomic manifest swap, so a killed
//!    run loses at most the work since the last checkpoint and the rerun
//!    finds the checkpointed documents unchanged.
//!
//! So a run holds the vectors added since its last commit (a merge briefly
//! loads the segments it merges) and the entries of the documents written
//! since then, one chunk of looked-at files and one batch of passages (and
//! the batch before it while it goes into the graph), whatever the
//! folder's size. What the index held before is looked up by id, a chunk
//! at a time, in the committed generation's documents table; the
//! documents met are a bit per handle, and those not met are found by
//! reading the handle columns at the end.

mod generation;
mod options;
mod plan;
mod scan;

pub use options::{
    Event, Progress, Report, UpdateOptions, DEFAULT_CHECKPOINT, DEFAULT_EMBED_BATCH,
    DEFAULT_QUANTIZATION,
};

use std::collections::{HashMap, HashSet};

use bit_set::BitSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use semsearch_models::Embedder;

use crate::chrome::Chrome;
use crate::chunk::Chunker;
use crate::error::{Error, Result};
use crate::manifest::{ChunkSettings, DocEntry, Manifest, PassageEntry};
use crate::pg::PgWriter;
use crate::source::{jsonl_docs, walk, Found};
use crate::store::{self, WriteLock};
pub(crate) use generation::now;
use generation::Generation;
use scan::{NewDoc, Seen};

/// The id a file under `root` has in an index of these roots (`None`
/// when it is not under `root`).
pub(crate) fn doc_id_of(root: &Path, path: &Path, prefix_root: bool) -> Option<String> {
    path.starts_with(root)
        .then(|| scan::doc_id(root, path, prefix_root))
}

/// Files looked at (read, extracted, chunked) in parallel at a time.
const LOOK_CHUNK: usize = 256;

/// An index open for writing: holds the write lock (so a second `index` or
/// `watch` fails) while runs update it, as `watch` does again and again.
pub struct Indexer<'a> {
    embedder: &'a Embedder,
    opts: UpdateOptions,
    target: Target,
}

/// Where the runs write, with its write lock.
enum Target {
    /// A folder index; the lock file's lock.
    Folder { _lock: WriteLock },
    /// A shared store; the primary's connection holds its advisory lock.
    Store(Box<PgWriter>),
}

/// A document as the index holds it: its handle (a number never reused,
/// what the run marks as met) and its entry.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    pub handle: u64,
    pub entry: DocEntry,
}

/// Where a run writes: a folder index's generation, or a shared store.
/// The run decides what changed; the writer keeps it, and `commit` makes
/// it what searches see.
pub(crate) trait Writer {
    /// The committed documents with these ids, one answer per id (what was
    /// written since the last commit may be missing).
    fn committed(&mut self, ids: &[&str]) -> Result<Vec<Option<Known>>>;
    /// The handles of the committed documents with these ids whose content
    /// hash is the one given ([`crate::schema::hash_words`]), found without
    /// reading their entries; `None` where the id is absent, its content
    /// differs, or the writer cannot tell without the entry (the caller
    /// then asks [`Writer::committed`]).
    fn same_content(&mut self, ids: &[(&str, [u64; 2])]) -> Result<Vec<Option<u64>>> {
        Ok(vec![None; ids.len()])
    }
    /// The committed documents whose handles `met` lacks, by id.
    fn unmet(&mut self, met: &BitSet) -> Result<Vec<(String, DocEntry)>>;
    /// Whether anything was written since the last commit.
    fn is_dirty(&self) -> bool;
    /// Take a document out: its lexical entry and passage vectors.
    fn remove(&mut self, id: &str, entry: &DocEntry) -> Result<()>;
    /// Add a document (its passages' vectors follow in `add_vectors`);
    /// returns its handle.
    fn add(&mut self, id: &str, entry: &DocEntry, text: &str) -> Result<u64>;
    /// Add keyed passage vectors, one embedding batch at once.
    fn add_vectors(&mut self, passages: Vec<(u64, Vec<f32>)>) -> Result<()>;
    /// A document unchanged in content got a new entry (a touched file);
    /// returns its handle.
    fn update_entry(&mut self, id: &str, entry: &DocEntry) -> Result<u64>;
    /// Make what was written what searches see.
    fn commit(&mut self, manifest: &mut Manifest) -> Result<()>;
    /// The next commit is the run's last.
    fn finish(&mut self) {}
    /// Record a manifest whose entries changed but no document did.
    fn touch(&mut self, manifest: &mut Manifest) -> Result<()>;
}

impl<W: Writer + ?Sized> Writer for &mut W {
    fn committed(&mut self, ids: &[&str]) -> Result<Vec<Option<Known>>> {
        (**self).committed(ids)
    }
    fn same_content(&mut self, ids: &[(&str, [u64; 2])]) -> Result<Vec<Option<u64>>> {
        (**self).same_content(ids)
    }
    fn unmet(&mut self, met: &BitSet) -> Result<Vec<(String, DocEntry)>> {
        (**self).unmet(met)
    }
    fn is_dirty(&self) -> bool {
        (**self).is_dirty()
    }
    fn remove(&mut self, id: &str, entry: &DocEntry) -> Result<()> {
        (**self).remove(id, entry)
    }
    fn add(&mut self, id: &str, entry: &DocEntry, text: &str) -> Result<u64> {
        (**self).add(id, entry, text)
    }
    fn add_vectors(&mut self, passages: Vec<(u64, Vec<f32>)>) -> Result<()> {
        (**self).add_vectors(passages)
    }
    fn update_entry(&mut self, id: &str, entry: &DocEntry) -> Result<u64> {
        (**self).update_entry(id, entry)
    }
    fn commit(&mut self, manifest: &mut Manifest) -> Result<()> {
        (**self).commit(manifest)
    }
    fn finish(&mut self) {
        (**self).finish()
    }
    fn touch(&mut self, manifest: &mut Manifest) -> Result<()> {
        (**self).touch(manifest)
    }
}

impl<'a> Indexer<'a> {
    /// Take the index's write lock (the store's, with `opts.store`).
    pub fn open(embedder: &'a Embedder, opts: UpdateOptions) -> Result<Self> {
        let target = match &opts.store {
            Some(urls) => Target::Store(Box::new(PgWriter::open(&urls.primary)?)),
            None => Target::Folder {
                _lock: store::lock(&opts.index_dir)?,
            },
        };
        Ok(Indexer {
            embedder,
            opts,
            target,
        })
    }

    /// The folders and files the index is built from (after a run).
    pub fn roots(&mut self) -> Result<Vec<PathBuf>> {
        match &mut self.target {
            Target::Folder { .. } => Ok(Manifest::read_header(&self.opts.index_dir)?.roots),
            Target::Store(pg) => Ok(pg.previous()?.map(|m| m.roots).unwrap_or_default()),
        }
    }

    /// Index the sources into the index, re-embedding only what changed.
    pub fn update(&mut self, progress: &mut dyn FnMut(Event)) -> Result<Report> {
        let pg = match &mut self.target {
            Target::Folder { .. } => None,
            Target::Store(pg) => Some(&mut **pg),
        };
        let report = Run::start(self.embedder, &self.opts, progress, pg)?.run()?;
        // The next run continues this one's index, with its sources.
        self.opts.rebuild = false;
        Ok(report)
    }
}

/// Index `opts.roots` and `opts.jsonl` into `opts.index_dir` (or
/// `opts.store`), re-embedding only what changed.
pub fn update(
    embedder: &Embedder,
    opts: &UpdateOptions,
    progress: &mut dyn FnMut(Event),
) -> Result<Report> {
    Indexer::open(embedder, opts.clone())?.update(progress)
}

/// A chunk's lookups: see [`Run::look_up`].
type LookedUp = (Vec<Option<Known>>, Vec<Option<bool>>, Vec<Option<u64>>);

/// One run's state.
struct Run<'a, 'p, 'w> {
    embedder: &'a Embedder,
    opts: &'a UpdateOptions,
    progress: &'p mut dyn FnMut(Event),
    chunker: Chunker,
    started: Instant,
    /// The index's header as committed so far plus this run's changes
    /// (totals counted as documents are written and removed).
    manifest: Manifest,
    writer: Box<dyn Writer + 'w>,
    /// A new index: committed even when empty.
    fresh: bool,
    /// Entries refreshed without re-embedding (touched files).
    touched: bool,
    roots: Vec<PathBuf>,
    corpora: Vec<PathBuf>,
    /// Documents written since the last commit, by id: what the committed
    /// documents table does not show yet.
    written: HashMap<String, Known>,
    /// Handles of the documents met this run (committed ones found again,
    /// and those written): a committed document not met is gone.
    met: BitSet,
    pending: Vec<NewDoc>,
    pending_passages: usize,
    last_commit: Instant,
    counters: Progress,
    report: Report,
}

impl<'a, 'p, 'w> Run<'a, 'p, 'w> {
    fn start(
        embedder: &'a Embedder,
        opts: &'a UpdateOptions,
        progress: &'p mut dyn FnMut(Event),
        mut pg: Option<&'w mut PgWriter>,
    ) -> Result<Self> {
        let (prev, legacy) = match pg.as_deref_mut() {
            Some(pg) => (plan::previous_in_store(pg, opts, embedder)?, None),
            None => plan::previous(opts, embedder)?,
        };
        let chunking = ChunkSettings {
            max_tokens: embedder.info().max_seq_length,
            overlap: opts.overlap,
            max_title_tokens: 32,
        };
        let chunker = Chunker::new(embedder.tokenizer(), chunking)
            .map_err(|e| Error::Corrupt {
                path: opts.index_dir.clone(),
                reason: format!("tokenizer: {e}"),
            })?
            .with_prompt(embedder.info().document_prompt.as_deref());
        let (roots, corpora) = plan::sources(opts, prev.as_ref())?;
        let fresh = prev.is_none();
        let committed = prev.as_ref().map(|p| p.generation);
        let mut manifest = plan::start(prev, opts, embedder, chunking);
        let pre = opts.pre.as_ref().map(|p| p.settings().clone());
        let touched = manifest.roots != roots
            || manifest.corpora != corpora
            || manifest.pre != pre
            || manifest.keep_chrome != opts.keep_chrome;
        (manifest.roots, manifest.corpora) = (roots.clone(), corpora.clone());
        (manifest.pre, manifest.keep_chrome) = (pre, opts.keep_chrome);
        let upgrade = legacy.is_some();
        let mut writer: Box<dyn Writer + 'w> = match pg {
            Some(pg) => {
                if committed.is_none() {
                    pg.recreate(manifest.model.dim, &manifest.analyzer);
                }
                Box::new(pg)
            }
            None => Box::new(Generation::new(
                &opts.index_dir,
                committed,
                &manifest,
                legacy,
                opts.segment_vectors,
            )),
        };
        if upgrade {
            // An older format is committed anew first, as it is (its
            // documents into the documents table, nothing re-embedded), so
            // that the run looks documents up in the current format.
            writer.commit(&mut manifest)?;
        }
        Ok(Run {
            embedder,
            opts,
            progress,
            chunker,
            started: Instant::now(),
            writer,
            manifest,
            fresh,
            touched,
            roots,
            corpora,
            written: HashMap::new(),
            met: BitSet::new(),
            pending: Vec::new(),
            pending_passages: 0,
            last_commit: Instant::now(),
            counters: Progress::default(),
            report: Report::default(),
        })
    }

    fn run(mut self) -> Result<Report> {
        self.scan_roots()?;
        self.scan_corpora()?;
        if self.stopped() {
            // What is written is committed below; what waits for its
            // embedding is looked at again by the next run, and nothing is
            // gone: the walk did not finish.
            self.pending.clear();
            self.report.interrupted = true;
        } else {
            self.flush()?;
            self.remove_gone()?;
        }
        self.writer.finish();
        if self.writer.is_dirty() || self.fresh {
            self.commit()?;
        } else if self.touched {
            self.writer.touch(&mut self.manifest)?;
        }
        let mut report = self.report;
        let totals = self.manifest.totals();
        (report.documents, report.passages) = (totals.documents, totals.passages);
        report.seconds = self.started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// What the index holds for a chunk's ids (`None`: no document), with
    /// whether each was met before in the run, or `None` where a later
    /// copy of the id in the chunk supersedes it (a corpus may repeat an
    /// id: the last copy wins). Pending copies of these ids are dropped
    /// first, so that nothing written before the chunk is taken shares
    /// an id with it and what is looked up stays true. With content
    /// `hashes` (corpus records), the committed documents whose hash is
    /// the record's are settled first, their entries not read: their
    /// handles come third, and `None` in place of what the index holds.
    fn look_up(
        &mut self,
        ids: &[Option<String>],
        hashes: Option<&[Option<[u64; 2]>]>,
    ) -> Result<LookedUp> {
        let last: HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| Some((id.as_deref()?, i)))
            .collect();
        let repeated: Vec<Option<bool>> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| match id.as_deref() {
                Some(id) if last[id] != i => None,
                Some(id) => Some(self.drop_pending(id)),
                None => Some(false),
            })
            .collect();
        let mut wanted: Vec<Option<&str>> = ids
            .iter()
            .zip(&repeated)
            .map(|(id, r)| id.as_deref().filter(|_| r.is_some()))
            .collect();
        let same = match hashes {
            Some(hashes) => self.same_content(&wanted, hashes)?,
            None => vec![None; ids.len()],
        };
        for (id, same) in wanted.iter_mut().zip(&same) {
            if same.is_some() {
                *id = None;
            }
        }
        Ok((self.known(&wanted)?, repeated, same))
    }

    /// The committed handles of the `wanted` ids whose content hash the
    /// writer confirms without their entries. Not for ids written this run
    /// since the last commit: the committed copy is not theirs.
    fn same_content(
        &mut self,
        wanted: &[Option<&str>],
        hashes: &[Option<[u64; 2]>],
    ) -> Result<Vec<Option<u64>>> {
        let asked: Vec<(usize, (&str, [u64; 2]))> = (wanted.iter().zip(hashes).enumerate())
            .filter_map(|(i, (id, hash))| Some((i, ((*id)?, (*hash)?))))
            .filter(|(_, (id, _))| !self.written.contains_key(*id))
            .collect();
        let pairs: Vec<(&str, [u64; 2])> = asked.iter().map(|&(_, pair)| pair).collect();
        let found = self.writer.same_content(&pairs)?;
        let mut same = vec![None; wanted.len()];
        for (&(i, _), handle) in asked.iter().zip(found) {
            same[i] = handle;
        }
        Ok(same)
    }

    /// What the index holds for these ids now: written this run since the
    /// last commit, else committed.
    fn known(&mut self, ids: &[Option<&str>]) -> Result<Vec<Option<Known>>> {
        let written = &self.written;
        let committed: Vec<&str> = ids
            .iter()
            .flatten()
            .copied()
            .filter(|id| !written.contains_key(*id))
            .collect();
        let mut committed = match committed.is_empty() {
            // A store's round trip saved where every record was settled.
            true => Vec::new().into_iter(),
            false => self.writer.committed(&committed)?.into_iter(),
        };
        Ok(ids
            .iter()
            .map(|id| match id.map(|id| self.written.get(id)) {
                Some(Some(k)) => Some(k.clone()),
                Some(None) => committed.next().flatten(),
                None => None,
            })
            .collect())
    }

    fn scan_roots(&mut self) -> Result<()> {
        let mut walk_opts = self.opts.walk.clone();
        walk_opts.index_dir = Some(self.opts.index_dir.clone());
        let prefix = self.roots.len() > 1;
        let mut files = Vec::new();
        for (r, root) in self.roots.iter().enumerate() {
            files.extend(walk(root, &walk_opts)?.into_iter().map(|f| (r, f)));
        }
        let size = |p: &PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
        let bytes = files
            .iter()
            .map(|(_, f)| match f {
                Found::File { path, .. } => size(path),
                Found::Skipped(..) => 0,
            })
            .sum::<u64>()
            + self.corpora.iter().map(size).sum::<u64>();
        let count = files.len() + self.corpora.len();
        (self.progress)(Event::Found {
            files: count,
            bytes,
        });
        let chrome = self.learn_chrome(&files, prefix)?;
        for chunk in files.chunks(LOOK_CHUNK) {
            if self.stopped() {
                return Ok(());
            }
            let roots = &self.roots;
            let ids: Vec<Option<String>> = chunk
                .iter()
                .map(|(r, found)| match found {
                    Found::File { path, .. } => Some(scan::doc_id(&roots[*r], path, prefix)),
                    Found::Skipped(..) => None,
                })
                .collect();
            let (known, repeated, _) = self.look_up(&ids, None)?;
            let looker = scan::Looker {
                chunker: &self.chunker,
                max_size: self.opts.max_file_size,
                chrome: &chrome,
                pre: self.opts.pre.as_ref(),
            };
            let seen: Vec<(Option<Seen>, u64)> = (chunk, ids, &known, &repeated)
                .into_par_iter()
                .map(|((_, found), id, old, repeated)| match (found, id) {
                    (Found::File { path, selected }, Some(id)) if repeated.is_some() => {
                        let old = old.as_ref().map(|k| &k.entry);
                        let seen = scan::look_at_file(id, path, *selected, old, &looker);
                        (Some(seen), size(path))
                    }
                    // A later copy of the id supersedes it.
                    (Found::File { .. }, _) => (None, 0),
                    (Found::Skipped(path, reason), _) => {
                        (Some(Seen::Skipped(path.clone(), *reason)), 0)
                    }
                })
                .collect();
            for (((s, bytes), old), repeated) in seen.into_iter().zip(known).zip(repeated) {
                self.counters.files += 1;
                self.counters.bytes += bytes;
                if let Some(s) = s {
                    self.take(s, old, None, repeated)?;
                }
            }
            (self.progress)(Event::Progress(self.counters));
        }
        Ok(())
    }

    /// The chrome of the HTML sites among `files` that have a page to
    /// read again (none with `keep_chrome`).
    fn learn_chrome(&mut self, files: &[(usize, Found)], prefix: bool) -> Result<Chrome> {
        if self.opts.keep_chrome {
            return Ok(Chrome::default());
        }
        let pages: Vec<(&Path, String)> = files
            .iter()
            .filter_map(|(r, found)| match found {
                Found::File { path, .. } if crate::chrome::is_page(path) => {
                    Some((path.as_path(), scan::doc_id(&self.roots[*r], path, prefix)))
                }
                _ => None,
            })
            .collect();
        let mut wanted = HashSet::new();
        for chunk in pages.chunks(LOOK_CHUNK) {
            let ids: Vec<Option<&str>> = chunk.iter().map(|(_, id)| Some(id.as_str())).collect();
            for ((path, _), old) in chunk.iter().zip(self.known(&ids)?) {
                if scan::may_change(path, old.as_ref().map(|k| &k.entry)) {
                    wanted.insert(*path);
                }
            }
        }
        let paths: Vec<&Path> = pages.iter().map(|(p, _)| *p).collect();
        Ok(Chrome::learn(
            &paths,
            |p| wanted.contains(p),
            scan::page_text,
        ))
    }

    fn scan_corpora(&mut self) -> Result<()> {
        let done = self.counters.bytes;
        for file in self.corpora.clone() {
            let mut docs = jsonl_docs(&file)?.peekable();
            let mut read = 0;
            while docs.peek().is_some() {
                if self.stopped() {
                    return Ok(());
                }
                let chunk: Vec<_> = docs.by_ref().take(LOOK_CHUNK).collect::<Result<_>>()?;
                read = chunk.last().map_or(read, |(_, at)| *at);
                let ids: Vec<Option<String>> =
                    chunk.iter().map(|(d, _)| Some(d.id.clone())).collect();
                let hashes: Vec<String> = chunk
                    .par_iter()
                    .map(|(d, _)| scan::corpus_hash(d))
                    .collect();
                let words: Vec<_> = hashes
                    .iter()
                    .map(|h| crate::schema::hash_words(h))
                    .collect();
                let (known, repeated, same) = self.look_up(&ids, Some(&words))?;
                let chunker = &self.chunker;
                let seen: Vec<Option<Seen>> = (chunk, hashes, &known, &repeated, &same)
                    .into_par_iter()
                    .map(|((d, _), hash, old, repeated, same)| {
                        let old = old.as_ref().map(|k| &k.entry);
                        repeated.map(|_| match same {
                            Some(_) => Seen::Unchanged(d.id, None),
                            None => scan::look_at_corpus_doc(d, hash, old, chunker),
                        })
                    })
                    .collect();
                let looked = known.into_iter().zip(same).zip(repeated);
                for (s, ((old, same), repeated)) in seen.into_iter().zip(looked) {
                    if let Some(s) = s {
                        self.take(s, old, same, repeated)?;
                    }
                }
                self.counters.bytes = done + read;
                (self.progress)(Event::Progress(self.counters));
            }
            self.counters.files += 1;
        }
        Ok(())
    }

    /// Whether the run was asked to stop ([`UpdateOptions::stop`]).
    fn stopped(&self) -> bool {
        self.opts
            .stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Record one looked-at document, with what the index held for its id
    /// (`old`, or only its handle where its content was `same`) and
    /// whether its id was met before in the run (`repeated`), all as
    /// [`Run::look_up`] found them: nothing written since shares its id.
    fn take(
        &mut self,
        seen: Seen,
        old: Option<Known>,
        same: Option<u64>,
        repeated: Option<bool>,
    ) -> Result<()> {
        let held = old.as_ref().map(|k| k.handle).or(same);
        let met_before = |run: &Self| {
            let met = held.is_some_and(|h| run.met.contains(h as usize));
            repeated == Some(true) || met
        };
        match seen {
            Seen::Unchanged(id, entry) => {
                if !met_before(self) {
                    self.report.unchanged += 1;
                }
                self.met
                    .insert(held.expect("unchanged: the index holds it") as usize);
                let refreshed = entry.map(|e| (e, old.expect("refreshed from the entry read")));
                if let Some((entry, old)) = refreshed.filter(|(e, old)| *e != old.entry) {
                    self.touched = true;
                    let handle = self.writer.update_entry(&id, &entry)?;
                    self.met.insert(handle as usize);
                    self.manifest.totals.remove(&old.entry);
                    self.manifest.totals.add(&entry);
                    self.written.insert(id, Known { handle, entry });
                }
            }
            Seen::Changed(mut doc, lossy) => {
                if !met_before(self) {
                    self.report.lossy_utf8 += lossy as usize;
                    match old.is_some() {
                        true => self.report.updated += 1,
                        false => self.report.added += 1,
                    }
                }
                if let Some(k) = &old {
                    self.met.insert(k.handle as usize);
                }
                doc.old = old;
                self.pending_passages += doc.chunks.len();
                self.counters.found += doc.chunks.len();
                self.report.ocr_pages += doc.entry.ocr_pages;
                self.pending.push(*doc);
                if self.pending_passages >= self.opts.embed_batch {
                    self.flush()?;
                }
            }
            Seen::Skipped(path, reason) => {
                self.report.skipped += 1;
                *self
                    .report
                    .skipped_by_reason
                    .entry(reason.as_str().to_string())
                    .or_default() += 1;
                (self.progress)(Event::Skipped(path, reason.as_str()));
            }
        }
        Ok(())
    }

    /// Take a pending document out; whether there was one.
    fn drop_pending(&mut self, id: &str) -> bool {
        let Some(i) = self.pending.iter().position(|d| d.id == id) else {
            return false;
        };
        let d = self.pending.remove(i);
        self.pending_passages -= d.chunks.len();
        true
    }

    /// Embed the pending documents and write them; checkpoint when due.
    fn flush(&mut self) -> Result<()> {
        let docs = std::mem::take(&mut self.pending);
        self.pending_passages = 0;
        if !docs.is_empty() {
            let ids: Vec<Vec<u32>> = docs
                .iter()
                .flat_map(|d| d.chunks.iter().map(|c| c.ids.clone()))
                .collect();
            let t = Instant::now();
            let counters = &mut self.counters;
            let progress = &mut *self.progress;
            let vectors = self.embedder.embed_tokens_with_progress(&ids, &mut |n| {
                counters.passages += n;
                progress(Event::Progress(*counters));
            })?;
            self.report.embed_seconds += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut vectors = vectors.into_iter();
            let mut keyed = Vec::with_capacity(vectors.len());
            for doc in docs {
                let n = doc.chunks.len();
                self.write(doc, vectors.by_ref().take(n), &mut keyed)?;
            }
            self.writer.add_vectors(keyed)?;
            self.report.write_seconds += t.elapsed().as_secs_f64();
        }
        if self.last_commit.elapsed() >= self.opts.checkpoint && self.writer.is_dirty() {
            self.commit()?;
            self.last_commit = Instant::now();
            self.report.checkpoints += 1;
            (self.progress)(Event::Checkpoint {
                generation: self.manifest.generation,
                documents: self.manifest.totals().documents,
            });
            failpoint(&format!("checkpoint-{}", self.report.checkpoints));
        }
        Ok(())
    }

    /// Commit; the committed documents table then holds what was written.
    fn commit(&mut self) -> Result<()> {
        let t = Instant::now();
        self.writer.commit(&mut self.manifest)?;
        self.written.clear();
        self.report.commit_seconds += t.elapsed().as_secs_f64();
        Ok(())
    }

    /// Replace a document's old version (if any) with the embedded new one;
    /// its passages' vectors, numbered, go to `keyed`.
    fn write(
        &mut self,
        doc: NewDoc,
        passage_vectors: impl Iterator<Item = Vec<f32>>,
        keyed: &mut Vec<(u64, Vec<f32>)>,
    ) -> Result<()> {
        let NewDoc {
            id,
            mut entry,
            text,
            chunks,
            old,
        } = doc;
        if let Some(old) = old {
            self.writer.remove(&id, &old.entry)?;
            self.manifest.totals.remove(&old.entry);
        }
        for (c, v) in chunks.iter().zip(passage_vectors) {
            let key = self.manifest.next_passage_id;
            self.manifest.next_passage_id += 1;
            entry.passages.push(PassageEntry {
                id: key,
                start: c.start,
                end: c.end,
                line: c.line,
            });
            keyed.push((key, v));
        }
        let handle = self.writer.add(&id, &entry, &text)?;
        self.met.insert(handle as usize);
        self.manifest.totals.add(&entry);
        self.written.insert(id, Known { handle, entry });
        Ok(())
    }

    /// Take out the committed documents not met this run: no longer in
    /// the sources.
    fn remove_gone(&mut self) -> Result<()> {
        for (id, entry) in self.writer.unmet(&self.met)? {
            self.writer.remove(&id, &entry)?;
            self.manifest.totals.remove(&entry);
            self.report.removed += 1;
        }
        Ok(())
    }
}

/// Crash-test hook, compiled in only with the `failpoints` feature (on for
/// the workspace's tests, off in release builds): with
/// `SEMSEARCH_FAILPOINT=NAME`, pause at the named point (`before-manifest`,
/// `checkpoint-N`) so a test can kill or signal the process exactly there:
/// 30 s, or `SEMSEARCH_FAILPOINT_MS`.
#[cfg(feature = "failpoints")]
pub(crate) fn failpoint(name: &str) {
    if std::env::var("SEMSEARCH_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("semsearch: failpoint {name}");
        let ms = std::env::var("SEMSEARCH_FAILPOINT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30_000);
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

#[cfg(not(feature = "failpoints"))]
pub(crate) fn failpoint(_name: &str) {}

#[cfg(test)]
mod tests {
    use super::*;
    use semsearch_models::testing::{write_tiny_bert, TinyBert};
    use semsearch_models::ModelSpec;

    fn corpus(path: &Path, docs: &[(&str, &str)]) {
        let lines: Vec<String> = docs
            .iter()
            .map(|(id, text)| serde_json::json!({"_id": id, "title": "", "text": text}).to_string())
            .collect();
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    /// Each committed document's hash column holds its entry's hash, in
    /// order, and no other hash settles it; runs that settle unchanged
    /// records by it count what changed as before (a changed record, a
    /// repeated id whose last copy is the committed one, a record gone).
    #[test]
    fn unchanged_corpus_records_are_settled_by_the_hash_column() {
        let tmp = tempfile::tempdir().unwrap();
        let model = tmp.path().join("model");
        write_tiny_bert(&model, &TinyBert::default()).unwrap();
        let embedder = Embedder::load(&ModelSpec::Local(model)).unwrap();
        let dir = tmp.path().join("index");
        let jsonl = tmp.path().join("corpus.jsonl");
        let mut opts = UpdateOptions::new(dir.clone(), Vec::new());
        opts.jsonl = vec![jsonl.clone()];
        let run = |opts: &UpdateOptions| {
            let r = update(&embedder, opts, &mut |_| {}).unwrap();
            (r.added, r.updated, r.unchanged, r.removed)
        };
        corpus(
            &jsonl,
            &[("a", "cats purr"), ("b", "dogs bark"), ("c", "cows moo")],
        );
        assert_eq!(run(&opts), (3, 0, 0, 0));
        let generation = Manifest::read_header(&dir).unwrap().generation;
        let gen_dir = store::generation_dir(&dir, generation);
        let table = crate::index::Table::open(&dir, &gen_dir, 3).unwrap();
        for id in ["a", "b", "c"] {
            let (handle, doc) = table.get(id).unwrap().unwrap();
            let [hi, lo] = crate::schema::hash_words(&doc.entry.hash).unwrap();
            assert_eq!(table.handle_if_hash(id, [hi, lo]), Some(handle), "{id}");
            assert_eq!(table.handle_if_hash(id, [lo, hi]), None, "{id}");
            assert_eq!(table.handle_if_hash(id, [hi, lo ^ 1]), None, "{id}");
        }
        assert_eq!(table.handle_if_hash("z", [0, 0]), None);
        drop(table);
        assert_eq!(run(&opts), (0, 0, 3, 0));
        corpus(
            &jsonl,
            &[
                ("a", "cats purr loudly"),
                ("b", "dogs howl"),
                ("b", "dogs bark"),
            ],
        );
        assert_eq!(run(&opts), (0, 1, 1, 1));
    }
}
