//! Passage vectors in segments, as tantivy keeps postings: a run fills
//! new HNSW segments (`vectors/seg-NNNNNN.usearch` and the keys it holds
//! in `.keys`) up to [`SEGMENT_VECTORS`] vectors each; the one it is
//! filling stays in memory across the run's checkpoints, and each commit
//! saves it under a new name (the committed generation keeps the previous
//! save). Older segments are hard-linked into the new generation
//! untouched, and a removed passage whose vector sits in a committed
//! segment becomes a tombstone (`vectors/tombstones.bin`) that searches
//! skip until its segment is rewritten. So a commit writes this run's
//! segments, never the corpus (format 6 loaded and saved the whole graph
//! at each: 2.6 s to add one document to 300,000 passages).
//!
//! A vector is inserted into a graph once: full segments are never
//! merged. (Merging each segment into the one before it at a size ratio
//! of 4, a vector was inserted again about once more into ever larger
//! graphs, and indexing a million passages ran at a third of the speed of
//! a hundred thousand: BENCHMARKS.md.) Only small segments, left by runs
//! that added a few documents, gather: the newest into the one before it
//! while that one holds at most [`MERGE_RATIO`] times its vectors and the
//! two fit in one segment. A segment whose tombstones reach a quarter of
//! it is rewritten without them once they are a quarter of the index.
//! Merges write new files and unlink only the new generation's links, so
//! a killed merge leaves the committed generation whole.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::manifest::Quantization;
use crate::pages::{self, Viewed};
use crate::vectors;

/// A small segment is merged into the one before it while that one holds
/// at most this many times its vectors.
pub const MERGE_RATIO: usize = 4;

/// Vectors a run fills a segment to before it starts the next (see
/// ARCHITECTURE.md: a search asks every segment, side by side).
pub const SEGMENT_VECTORS: usize = 1 << 18;

/// One committed segment, as the manifest lists it (oldest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Names the files; unique over the index's history.
    pub id: u64,
    /// Vectors in the file, tombstoned ones included.
    pub vectors: usize,
    /// The search expansion [`vectors::calibrate`] measured when the
    /// segment was written; absent in segments written before it was
    /// (searched at [`vectors::search_expansion`] of their size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expansion: Option<usize>,
}

impl Segment {
    /// The search expansion to search it at.
    pub fn expansion(&self) -> usize {
        self.expansion
            .unwrap_or_else(|| vectors::search_expansion(self.vectors))
    }
}

/// The segments folder of a generation.
pub fn dir(gen_dir: &Path) -> PathBuf {
    gen_dir.join("vectors")
}

fn graph_path(gen_dir: &Path, id: u64) -> PathBuf {
    dir(gen_dir).join(format!("seg-{id:06}.usearch"))
}

fn keys_path(gen_dir: &Path, id: u64) -> PathBuf {
    dir(gen_dir).join(format!("seg-{id:06}.keys"))
}

fn tombstones_path(gen_dir: &Path) -> PathBuf {
    dir(gen_dir).join("tombstones.bin")
}

fn corrupt(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Vectors {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Little-endian u64s, written to a new file (temp and rename: the name
/// may be a hard link shared with an older generation).
fn write_keys(path: &Path, keys: impl IntoIterator<Item = u64>) -> Result<()> {
    let bytes: Vec<u8> = keys.into_iter().flat_map(u64::to_le_bytes).collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).at(&tmp)?;
    std::fs::rename(&tmp, path).at(path)
}

fn read_keys(path: &Path) -> Result<Vec<u64>> {
    let bytes = std::fs::read(path).at(path)?;
    if bytes.len() % 8 != 0 {
        return Err(corrupt(path, "key file is not whole u64s"));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect())
}

/// The segments of a committed generation, memory-mapped for searching.
pub struct Vectors {
    segments: Vec<Viewed>,
    /// Each segment's own search expansion (the manifest's).
    expansions: Vec<usize>,
    tombstones: HashSet<u64>,
    dim: usize,
    quantization: Quantization,
}

impl Vectors {
    /// View the segments `list` of the generation in `gen_dir`.
    pub fn open(gen_dir: &Path, list: &[Segment], dim: usize, q: Quantization) -> Result<Self> {
        // Side by side: viewing a segment walks all its nodes to rebuild
        // usearch's key table (about 90 ms for a million passages in four
        // segments, most of a one-shot search's opening there).
        let opened: Vec<(Viewed, usize)> = list
            .par_iter()
            .map(|s| open_one(gen_dir, s, dim, q))
            .collect::<Result<_>>()?;
        let (segments, expansions) = opened.into_iter().unzip();
        let tombstones = match tombstones_path(gen_dir) {
            p if p.is_file() => read_keys(&p)?.into_iter().collect(),
            _ => HashSet::new(),
        };
        Ok(Vectors {
            segments,
            expansions,
            tombstones,
            dim,
            quantization: q,
        })
    }

    /// Live vectors: every segment's, less the tombstones.
    pub fn len(&self) -> usize {
        let all: usize = self.segments.iter().map(|s| s.size()).sum();
        all - self.tombstones.len()
    }

    /// Whether no vector is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A vector by key.
    pub fn get(&self, key: u64) -> Option<Vec<f32>> {
        if self.tombstones.contains(&key) {
            return None;
        }
        if self.quantization == Quantization::F16 {
            return self.get_f16(key);
        }
        let mut v = vec![0f32; self.dim];
        self.segments
            .iter()
            .find_map(|s| matches!(s.get(key, &mut v), Ok(n) if n > 0).then_some(()))
            .map(|()| v)
    }

    /// [`Vectors::get`] of an f16 index: the stored halves copied out as
    /// they are, then widened by `half` (F16C where the CPU has it).
    fn get_f16(&self, key: u64) -> Option<Vec<f32>> {
        let mut bits = vec![0i16; self.dim];
        let halves = usearch::f16::from_mut_i16s(&mut bits);
        self.segments
            .iter()
            .find(|s| matches!(s.get(key, &mut *halves), Ok(n) if n > 0))?;
        let halves: Vec<half::f16> = bits
            .iter()
            .map(|&b| half::f16::from_bits(b as u16))
            .collect();
        let mut v = vec![0f32; self.dim];
        half::slice::HalfFloatSliceExt::convert_to_f32_slice(&halves[..], &mut v);
        Some(v)
    }

    /// The `k` nearest live vectors to `query` that `keep` accepts, as
    /// (key, cosine distance), nearest first: each segment's `k` best
    /// (HNSW, or a scan when `exact`; segments side by side), merged.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        exact: bool,
        keep: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> std::result::Result<Vec<(u64, f32)>, String> {
        let query = &*vectors::unit(query);
        let live = |key: u64| !self.tombstones.contains(&key) && keep.is_none_or(|f| f(key));
        let filtered = keep.is_some() || !self.tombstones.is_empty();
        let one = |s: &usearch::Index| -> std::result::Result<Vec<(u64, f32)>, String> {
            let m = match (exact, filtered) {
                (false, false) => s.search(query, k).map_err(|e| e.to_string())?,
                (false, true) => s
                    .filtered_search(query, k, live)
                    .map_err(|e| e.to_string())?,
                (true, true) => exact_filtered(s, query, k, k + self.tombstones.len(), &live)?,
                (true, false) => s.exact_search(query, k).map_err(|e| e.to_string())?,
            };
            let hits = m.keys.into_iter().zip(m.distances);
            Ok(hits.filter(|&(key, _)| !filtered || live(key)).collect())
        };
        // Side by side: a second segment of 12,000 beside 88,000 vectors
        // cost as much as the first at k 300 (one after the other, hybrid
        // p50 at 100,000 passages 7.3-7.6 ms; side by side 5.0-5.4).
        let parts: Vec<_> = if self.segments.len() > 1 {
            self.segments
                .par_iter()
                .map(|s| one(s))
                .collect::<std::result::Result<_, _>>()?
        } else {
            self.segments
                .iter()
                .map(|s| one(s))
                .collect::<std::result::Result<_, _>>()?
        };
        let mut all: Vec<(u64, f32)> = parts.into_iter().flatten().collect();
        all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        Ok(all)
    }

    /// Every segment's HNSW search expansion set to `e`; `None`: each
    /// segment's own (calibrated, or by its size).
    pub fn set_expansion(&self, e: Option<usize>) {
        for (s, own) in self.segments.iter().zip(&self.expansions) {
            s.change_expansion_search(e.unwrap_or(*own));
        }
    }

    /// The largest segment's search expansion.
    pub fn expansion(&self) -> usize {
        let largest = self.segments.iter().max_by_key(|s| s.size());
        largest.map_or(0, |s| s.expansion_search())
    }
}

/// usearch has no filtered exact search: the `want` nearest, filtered
/// after, asking for four times more until `k` pass or the segment is
/// scanned whole. (Asking for the whole segment at once kept a sorted
/// buffer of every vector: 45 s for one query at a million passages with
/// a single tombstone.)
fn exact_filtered(
    s: &usearch::Index,
    query: &[f32],
    k: usize,
    mut want: usize,
    live: &dyn Fn(u64) -> bool,
) -> std::result::Result<usearch::ffi::Matches, String> {
    loop {
        want = want.min(s.size());
        let m = s.exact_search(query, want).map_err(|e| e.to_string())?;
        let passed = m.keys.iter().filter(|&&key| live(key)).count();
        if passed >= k || want >= s.size() {
            return Ok(m);
        }
        want *= 4;
    }
}

/// Segments being written: the committed ones and, in memory, the ones
/// this run fills.
pub struct Writer {
    committed: Vec<Segment>,
    tombstones: HashSet<u64>,
    /// This run's segments in memory, oldest first: the last one open for
    /// new vectors, any before it full (at `cap`) and saved by the next
    /// commit, then dropped from memory.
    filling: Vec<Filling>,
    /// Vectors a segment is filled to.
    cap: usize,
    /// The run is ending: the next commit closes the open segment, which
    /// may then merge as any small one.
    closing: bool,
    /// The next segment's id: past every committed one, so that a new
    /// file never lands on a name linked from an older generation.
    next: u64,
    dim: usize,
    quantization: Quantization,
    /// The last batch's insertion, running while the next batch is
    /// embedded: the embedding threads wait at every layer's join, and the
    /// insertion (bound by memory latency) fills those gaps.
    inserting: Option<std::thread::JoinHandle<Result<()>>>,
}

/// A segment this run is filling.
struct Filling {
    index: Arc<usearch::Index>,
    /// What `index` holds: usearch lists no keys.
    keys: HashSet<u64>,
    /// The id of its last commit, listed in `Writer::committed`.
    saved: Option<u64>,
    /// Changed since that commit.
    dirty: bool,
}

/// Names the in-memory segment in errors.
const FRESH: &str = "(new vectors, in memory)";

impl Writer {
    /// Continue from `committed` segments (with their tombstones) of the
    /// generation in `prev_dir` (none: a new index), filling new segments
    /// to `cap` vectors.
    pub fn new(
        prev_dir: Option<&Path>,
        committed: &[Segment],
        dim: usize,
        quantization: Quantization,
        cap: usize,
    ) -> Result<Self> {
        let tombstones = match prev_dir.map(tombstones_path) {
            Some(p) if p.is_file() => read_keys(&p)?.into_iter().collect(),
            _ => HashSet::new(),
        };
        Ok(Writer {
            committed: committed.to_vec(),
            tombstones,
            filling: Vec::new(),
            cap: cap.max(1),
            closing: false,
            next: committed.iter().map(|s| s.id + 1).max().unwrap_or(1),
            dim,
            quantization,
            inserting: None,
        })
    }

    /// An empty segment to fill: with a dense graph when one full segment
    /// is already there (this run filled one, or a committed one is full),
    /// since this one will fill too unless the run ends first.
    fn new_segment(&self) -> Result<usearch::Index> {
        let after_full =
            !self.filling.is_empty() || self.committed.iter().any(|s| s.vectors >= self.cap);
        vectors::create(self.dim, self.quantization, after_full)
    }

    /// Add vectors to the open segment, starting a new one whenever it is
    /// full: inserted (in parallel) on another thread, which the next
    /// call, or any other, waits for.
    pub fn add(&mut self, mut added: Vec<(u64, Vec<f32>)>) -> Result<()> {
        self.settle()?;
        let mut parts = Vec::new();
        while !added.is_empty() {
            let room = match self.filling.last() {
                // Its keys, not its size: the parts before are not in yet.
                Some(f) if f.keys.len() < self.cap => self.cap - f.keys.len(),
                _ => {
                    self.filling.push(Filling {
                        index: Arc::new(self.new_segment()?),
                        keys: HashSet::new(),
                        saved: None,
                        dirty: false,
                    });
                    self.cap
                }
            };
            let rest = added.split_off(room.min(added.len()));
            let open = self.filling.last_mut().expect("pushed above");
            vectors::reserve(&open.index, Path::new(FRESH), &added)?;
            open.keys.extend(added.iter().map(|(k, _)| *k));
            open.dirty = true;
            parts.push((Arc::clone(&open.index), added));
            added = rest;
        }
        self.inserting = Some(std::thread::spawn(move || {
            parts
                .iter()
                .try_for_each(|(index, part)| vectors::insert(index, Path::new(FRESH), part))
        }));
        Ok(())
    }

    /// Wait for the insertion in flight (a panic in it goes on here).
    fn settle(&mut self) -> Result<()> {
        match self.inserting.take().map(|h| h.join()) {
            None => Ok(()),
            Some(Ok(inserted)) => inserted,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
        }
    }

    /// Remove passages: from a segment in memory, else as tombstones.
    pub fn remove(&mut self, keys: impl IntoIterator<Item = u64>) -> Result<()> {
        self.settle()?;
        for key in keys {
            match self.filling.iter_mut().find(|f| f.keys.contains(&key)) {
                Some(f) => {
                    f.keys.remove(&key);
                    f.dirty = true;
                    vectors::remove(&f.index, Path::new(FRESH), [key])?;
                }
                None => {
                    self.tombstones.insert(key);
                }
            }
        }
        Ok(())
    }

    /// Commit into the generation in `gen_dir`, which holds links to the
    /// previous generation's segments: the segments in memory that
    /// changed (each under a new name, replacing its previous commit),
    /// merges, the tombstones. Returns the segment list for the manifest.
    pub fn commit(&mut self, gen_dir: &Path) -> Result<Vec<Segment>> {
        self.settle()?;
        let folder = dir(gen_dir);
        std::fs::create_dir_all(&folder).at(&folder)?;
        let mut filling = std::mem::take(&mut self.filling);
        for f in filling.iter_mut().filter(|f| f.dirty) {
            self.save_filling(gen_dir, f)?;
        }
        self.calibrate_older(gen_dir)?;
        // Full ones are on disk now; the open one stays in memory unless
        // the run is ending.
        filling.retain(|f| !self.closing && f.index.size() < self.cap && f.saved.is_some());
        self.filling = filling;
        // The open segment is last and grows on: not merged.
        let open = self.filling.last().and_then(|f| f.saved);
        let open = match self.committed.last() {
            Some(s) if Some(s.id) == open => self.committed.pop(),
            _ => None,
        };
        self.merge_small(gen_dir)?;
        self.committed.extend(open);
        if self.tombstones.len() * 4 > self.len().max(1) {
            self.drop_tombstones(gen_dir)?;
        }
        write_keys(&tombstones_path(gen_dir), self.tombstones.iter().copied())?;
        Ok(self.committed.clone())
    }

    /// Measure the search expansion of committed segments written before
    /// segments were calibrated (once: the manifest keeps it; a million
    /// passages' four full segments, about 10 s).
    fn calibrate_older(&mut self, gen_dir: &Path) -> Result<()> {
        for s in self.committed.iter_mut().filter(|s| s.expansion.is_none()) {
            let path = graph_path(gen_dir, s.id);
            let view = view(&path, self.dim, self.quantization)?;
            let keys = read_keys(&keys_path(gen_dir, s.id))?;
            s.expansion = Some(vectors::calibrate(&view, &path, &keys)?);
        }
        Ok(())
    }

    /// The next commit is the run's last: the open segment is closed.
    pub fn close(&mut self) {
        self.closing = true;
    }

    /// Save a segment in memory under a new id, in its previous commit's
    /// place in the list (whose files this generation unlinks), else last.
    fn save_filling(&mut self, gen_dir: &Path, f: &mut Filling) -> Result<()> {
        let place = f
            .saved
            .and_then(|old| self.committed.iter().position(|s| s.id == old));
        if let Some(old) = f.saved.take() {
            unlink(gen_dir, old)?;
        }
        f.dirty = false;
        if f.keys.is_empty() {
            // Every vector removed: the segment goes.
            if let Some(i) = place {
                self.committed.remove(i);
            }
            return Ok(());
        }
        let id = self.next_id();
        save_new(&f.index, &graph_path(gen_dir, id))?;
        let mut keys: Vec<u64> = f.keys.iter().copied().collect();
        keys.sort_unstable();
        let expansion = Some(vectors::calibrate(&f.index, Path::new(FRESH), &keys)?);
        write_keys(&keys_path(gen_dir, id), keys)?;
        let seg = Segment {
            id,
            vectors: f.index.size(),
            expansion,
        };
        match place {
            Some(i) => self.committed[i] = seg,
            None => self.committed.push(seg),
        }
        f.saved = Some(id);
        Ok(())
    }

    /// Merge the newest committed segment into the one before it while
    /// that one holds at most [`MERGE_RATIO`] times its vectors and the
    /// two fit in one segment: small segments (of runs that added a few
    /// documents) gather, full ones are never inserted again.
    fn merge_small(&mut self, gen_dir: &Path) -> Result<()> {
        while let [.., older, newer] = self.committed[..] {
            if older.vectors > MERGE_RATIO * newer.vectors
                || older.vectors + newer.vectors > self.cap
            {
                break;
            }
            let merged = self.merge(gen_dir, &[older, newer])?;
            let n = self.committed.len();
            self.committed.splice(n - 2.., [merged]);
        }
        Ok(())
    }

    /// Mostly removed: rewrite each segment a quarter or more of whose
    /// vectors are tombstones, without them.
    fn drop_tombstones(&mut self, gen_dir: &Path) -> Result<()> {
        for i in 0..self.committed.len() {
            let s = self.committed[i];
            let keys = read_keys(&keys_path(gen_dir, s.id))?;
            let dead = keys.iter().filter(|k| self.tombstones.contains(k)).count();
            if dead == keys.len() {
                // Nothing left: the segment goes with its tombstones.
                for k in &keys {
                    self.tombstones.remove(k);
                }
                unlink(gen_dir, s.id)?;
                self.committed[i].vectors = 0;
            } else if dead * 4 >= keys.len() {
                self.committed[i] = self.merge(gen_dir, &[s])?;
            }
        }
        self.committed.retain(|s| s.vectors > 0);
        Ok(())
    }

    /// Live vectors committed.
    fn len(&self) -> usize {
        let all: usize = self.committed.iter().map(|s| s.vectors).sum();
        all.saturating_sub(self.tombstones.len())
    }

    fn next_id(&mut self) -> u64 {
        self.next += 1;
        self.next - 1
    }

    /// One segment of the live vectors of `parts`: the largest loaded,
    /// the others' vectors added to it, tombstones of all dropped; the
    /// parts' files unlinked from this generation (older ones keep theirs).
    fn merge(&mut self, gen_dir: &Path, parts: &[Segment]) -> Result<Segment> {
        let id = self.next_id();
        let largest = parts.iter().max_by_key(|s| s.vectors).expect("parts");
        let path = graph_path(gen_dir, largest.id);
        let index = vectors::load(Some(&path), self.dim, self.quantization)?;
        let mut keys = Vec::new();
        for k in read_keys(&keys_path(gen_dir, largest.id))? {
            if self.tombstones.remove(&k) {
                vectors::remove(&index, &path, [k])?;
            } else {
                keys.push(k);
            }
        }
        for part in parts.iter().filter(|s| s.id != largest.id) {
            let added = self.live_vectors(gen_dir, part)?;
            vectors::add(&index, &path, &added)?;
            keys.extend(added.into_iter().map(|(k, _)| k));
        }
        crate::update::failpoint("merge");
        keys.sort_unstable();
        let expansion = Some(vectors::calibrate(&index, &path, &keys)?);
        save_new(&index, &graph_path(gen_dir, id))?;
        write_keys(&keys_path(gen_dir, id), keys)?;
        for part in parts {
            unlink(gen_dir, part.id)?;
        }
        Ok(Segment {
            id,
            vectors: index.size(),
            expansion,
        })
    }

    /// A committed segment's vectors less its tombstones (which go).
    fn live_vectors(&mut self, gen_dir: &Path, part: &Segment) -> Result<Vec<(u64, Vec<f32>)>> {
        let path = graph_path(gen_dir, part.id);
        let view = view(&path, self.dim, self.quantization)?;
        let mut added = Vec::new();
        for k in read_keys(&keys_path(gen_dir, part.id))? {
            if self.tombstones.remove(&k) {
                continue;
            }
            let mut v = vec![0f32; self.dim];
            match view.get(k, &mut v) {
                Ok(n) if n > 0 => added.push((k, v)),
                _ => return Err(corrupt(&path, format!("lists key {k} it does not hold"))),
            }
        }
        Ok(added)
    }
}

/// One segment's file viewed, checked against the manifest's entry, with
/// its search expansion set: the index and that expansion.
fn open_one(gen_dir: &Path, s: &Segment, dim: usize, q: Quantization) -> Result<(Viewed, usize)> {
    let path = graph_path(gen_dir, s.id);
    if !path.is_file() {
        return Err(corrupt(&path, "is missing"));
    }
    let index = view(&path, dim, q)?;
    if index.size() != s.vectors || index.dimensions() != dim {
        return Err(corrupt(
            &path,
            format!(
                "holds {} {}-d vectors, the manifest lists {} {dim}-d",
                index.size(),
                index.dimensions(),
                s.vectors
            ),
        ));
    }
    let own = s.expansion();
    index.change_expansion_search(own);
    Ok((index, own))
}

/// View a segment's file in 2 MiB pages ([`crate::pages`]).
fn view(path: &Path, dim: usize, q: Quantization) -> Result<Viewed> {
    let index = usearch::Index::new(&vectors::options(dim, q)).map_err(|e| corrupt(path, e))?;
    match Viewed::new(index, path) {
        Ok(v) => Ok(v),
        Err(pages::ViewError::Io(e)) => Err(e).at(path),
        Err(pages::ViewError::Usearch(e)) => Err(corrupt(path, e)),
    }
}

/// Unlink a segment's files from this generation (older ones keep theirs).
fn unlink(gen_dir: &Path, id: u64) -> Result<()> {
    for p in [graph_path(gen_dir, id), keys_path(gen_dir, id)] {
        std::fs::remove_file(&p).at(&p)?;
    }
    Ok(())
}

/// Save to a new file: a name that exists may be a hard link into a
/// committed generation, and usearch would write into it.
fn save_new(index: &usearch::Index, path: &Path) -> Result<()> {
    if path.exists() {
        return Err(corrupt(path, "a new segment's file exists already"));
    }
    vectors::save(index, path)
}

/// Adopt a format 4-6 generation's one `vectors.usearch` (in `prev_dir`)
/// as segment 1 of the new generation in `gen_dir`, with its keys (the
/// manifest's passages): linked, nothing re-embedded.
pub fn adopt(prev_dir: &Path, gen_dir: &Path, keys: Vec<u64>) -> Result<Segment> {
    let old = prev_dir.join("vectors.usearch");
    let folder = dir(gen_dir);
    std::fs::create_dir_all(&folder).at(&folder)?;
    let to = graph_path(gen_dir, 1);
    std::fs::hard_link(&old, &to)
        .or_else(|_| std::fs::copy(&old, &to).map(|_| ()))
        .at(&to)?;
    let mut keys = keys;
    keys.sort_unstable();
    let seg = Segment {
        id: 1,
        vectors: keys.len(),
        expansion: None,
    };
    write_keys(&keys_path(gen_dir, 1), keys)?;
    Ok(seg)
}
