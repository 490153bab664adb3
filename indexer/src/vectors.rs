//! The usearch HNSW indexes of passage and document vectors.

use std::path::Path;

use usearch::{IndexOptions, MetricKind, ScalarKind};

use crate::error::{Error, Result};
use crate::manifest::Quantization;

fn err(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Vectors {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// usearch options for `dim`-d cosine vectors stored as `q`.
///
/// f32 and f16 vectors are added at unit length ([`add`]) and compared by
/// inner product, whose distance `1 - a.b` is the cosine distance then: the
/// cosine kernel sums `a.b`, `a.a` and `b.b` and was a quarter of a 100,000
/// passage indexing run's CPU (issue 25). i8 keeps usearch's cosine, since
/// its inner product is an unscaled integer sum. A segment saved with
/// another metric keeps it: usearch reads the metric from the file.
pub fn options(dim: usize, q: Quantization) -> IndexOptions {
    IndexOptions {
        dimensions: dim,
        metric: match q {
            Quantization::F32 | Quantization::F16 => MetricKind::IP,
            Quantization::I8 => MetricKind::Cos,
        },
        quantization: match q {
            Quantization::F32 => ScalarKind::F32,
            Quantization::F16 => ScalarKind::F16,
            Quantization::I8 => ScalarKind::I8,
        },
        // usearch's defaults (connectivity 16, expansion 128 add / 64 search).
        connectivity: 0,
        expansion_add: 0,
        expansion_search: 0,
        multi: false,
    }
}

/// Graph edges per node (twice that on the base layer) of a segment begun
/// after a full one, against usearch's 16 for the others. A denser graph
/// reaches the same recall at a smaller search expansion, which pays only
/// where the 16-edge graph needs more than the 300 passages a search asks
/// for anyway: crowded full segments. A million passages' last three
/// segments rebuilt at 32 measured expansions 96-256 instead of 384-768:
/// semantic p50 -20 to -30%, hybrid -17%, recall@10 0.980 -> 0.982. A
/// lone segment of 100,000 is searched at 300 either way, and 32 edges
/// cost it 30-50% more per search, so the first segment, begun before
/// anyone knows it will fill, keeps 16 (BENCHMARKS.md, session 27).
pub const DENSE_CONNECTIVITY: usize = 32;

/// An empty HNSW index of a new segment; `dense`: with
/// [`DENSE_CONNECTIVITY`] edges per node.
pub fn create(dim: usize, q: Quantization, dense: bool) -> Result<usearch::Index> {
    let mut opts = options(dim, q);
    if dense {
        opts.connectivity = DENSE_CONNECTIVITY;
    }
    usearch::Index::new(&opts).map_err(|e| err(Path::new(""), e))
}

/// Vectors up to which usearch's default search expansion (64) holds
/// recall@10 at 0.98 or more on the scale corpus (`bench/scale.sh`).
const EXPANSION_FLAT_UP_TO: f64 = 100_000.0;

/// The HNSW search expansion (ef) for a segment of `size` vectors that
/// [`calibrate`] has not measured (written before it was): the
/// default up to 100,000, then growing with the logarithm of the size, as
/// the greedy descent's hops do: 383 at a million. (Fixed, recall@10 fell
/// from 0.999 at 10 k to 0.983 at 100 k and 0.974 at 1 M on the slim
/// model's vectors; at 1 M it is 0.986 at ef 300, 0.997 at 1,000.)
pub fn search_expansion(size: usize) -> usize {
    let doublings = (size as f64 / EXPANSION_FLAT_UP_TO).log2().max(0.0);
    let grown = 64.0 * (1.0 + 1.5 * doublings);
    grown.round() as usize
}

/// Search expansions [`calibrate`] tries, smallest first.
const EXPANSIONS: [usize; 9] = [64, 96, 128, 192, 256, 384, 512, 768, 1024];

/// Recall@10 of a segment's own vectors as queries that [`calibrate`]
/// asks of an expansion.
pub const CALIBRATION_RECALL: f64 = 0.98;

/// Vectors of a segment taken as queries by [`calibrate`]: at a recall
/// near 0.98 over 1,000 neighbours, a standard error of about 0.004.
const CALIBRATION_QUERIES: usize = 100;

/// The smallest search expansion of 64, 96, 128, 192, 256, 384, 512, 768
/// and 1,024 at which `index` finds, for 100 of its own vectors spread
/// over `keys`, at least [`CALIBRATION_RECALL`] of the ten nearest other
/// vectors an exact scan finds (the largest tried if none does). How
/// hard a graph is to search depends on how crowded its vectors are, not
/// only on its size: at 262,144 vectors of the scale corpus's million
/// (each sentence in about 14 documents, a passage's 1st and 10th
/// neighbours 0.02 apart in cosine) this recall is 0.966 at expansion
/// 300, while 100,000 vectors of its hundred thousand reach 0.993; real
/// models' vectors are spread wider still. So the expansion is measured
/// per segment rather than guessed from its size, and crowded segments
/// pay for their recall while spread ones stay fast.
pub fn calibrate(index: &usearch::Index, path: &Path, keys: &[u64]) -> Result<usize> {
    calibrate_to(index, path, keys, CALIBRATION_RECALL)
}

/// [`calibrate`] to the recall `target`.
fn calibrate_to(index: &usearch::Index, path: &Path, keys: &[u64], target: f64) -> Result<usize> {
    let probes = probes(index, path, keys)?;
    let before = index.expansion_search();
    let chosen = smallest_reaching(index, path, &probes, target);
    index.change_expansion_search(before);
    chosen
}

/// The first of [`EXPANSIONS`] whose recall reaches `target`, else the
/// last.
fn smallest_reaching(
    index: &usearch::Index,
    path: &Path,
    probes: &[Probe],
    target: f64,
) -> Result<usize> {
    for e in EXPANSIONS {
        if recall_at(index, path, probes, e)? >= target {
            return Ok(e);
        }
    }
    Ok(EXPANSIONS[EXPANSIONS.len() - 1])
}

/// A vector of the index as a query, with the ten nearest others.
struct Probe {
    key: u64,
    vector: Vec<f32>,
    truth: Vec<u64>,
}

/// [`CALIBRATION_QUERIES`] of the vectors of `keys`, evenly spread, with
/// their exact neighbours.
fn probes(index: &usearch::Index, path: &Path, keys: &[u64]) -> Result<Vec<Probe>> {
    let n = CALIBRATION_QUERIES.min(keys.len());
    let step = keys.len() as f64 / n.max(1) as f64;
    let mut probes = Vec::with_capacity(n);
    for i in 0..n {
        let key = keys[(i as f64 * step) as usize];
        let mut vector = vec![0f32; index.dimensions()];
        if matches!(index.get(key, &mut vector), Ok(got) if got > 0) {
            let exact = index.exact_search(&vector, 11).map_err(|e| err(path, e))?;
            let truth = others(key, &exact.keys);
            probes.push(Probe { key, vector, truth });
        }
    }
    Ok(probes)
}

/// Share of the probes' exact neighbours the graph finds at expansion `e`
/// (1 when there are none).
fn recall_at(index: &usearch::Index, path: &Path, probes: &[Probe], e: usize) -> Result<f64> {
    index.change_expansion_search(e);
    let (mut found, mut total) = (0usize, 0usize);
    for p in probes {
        let got = index.search(&p.vector, 11).map_err(|e| err(path, e))?;
        let got = others(p.key, &got.keys);
        found += p.truth.iter().filter(|t| got.contains(t)).count();
        total += p.truth.len();
    }
    Ok(if total == 0 {
        1.0
    } else {
        found as f64 / total as f64
    })
}

/// The first ten of `keys` other than `key`.
fn others(key: u64, keys: &[u64]) -> Vec<u64> {
    keys.iter()
        .copied()
        .filter(|&k| k != key)
        .take(10)
        .collect()
}

/// An HNSW index to add to: the one saved at `prev`, else a new one.
pub fn load(prev: Option<&Path>, dim: usize, q: Quantization) -> Result<usearch::Index> {
    let index = create(dim, q, false)?;
    let Some(prev) = prev else {
        return Ok(index);
    };
    index
        .load(&prev.to_string_lossy())
        .map_err(|e| err(prev, e))?;
    if index.dimensions() != dim {
        return Err(err(
            prev,
            format!(
                "holds {}-d vectors, the model makes {dim}-d",
                index.dimensions()
            ),
        ));
    }
    Ok(index)
}

/// Add keyed vectors (on as many threads as rayon's pool has), growing
/// the capacity geometrically so that adding in batches costs no more than
/// adding at once.
pub fn add(index: &usearch::Index, path: &Path, added: &[(u64, Vec<f32>)]) -> Result<()> {
    reserve(index, path, added)?;
    insert(index, path, added)
}

/// Check that `added` fits `index` and make room for it, so that
/// [`insert`] can run on another thread.
pub fn reserve(index: &usearch::Index, path: &Path, added: &[(u64, Vec<f32>)]) -> Result<()> {
    let dim = index.dimensions();
    if let Some((key, v)) = added.iter().find(|(_, v)| v.len() != dim) {
        return Err(err(
            path,
            format!("passage {key} has a {}-d vector, expected {dim}", v.len()),
        ));
    }
    let needed = index.size() + added.len();
    if needed > index.capacity() {
        let capacity = needed.max(index.capacity() + index.capacity() / 2);
        index
            .reserve_capacity_and_threads(capacity, threads())
            .map_err(|e| err(path, e))?;
    }
    Ok(())
}

/// How many threads insert at once: as many as rayon's pool has (the
/// cores), and never more than [`reserve`] gave usearch slots for, since
/// an insertion finding no free slot fails.
fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// Insert vectors [`reserve`]d room for, at unit length, on as many
/// threads of their own as rayon's pool has (usearch was given that many
/// slots), outside the pool: a pool thread waiting inside the embedder's
/// `join` would steal a long insertion task and stall the embedding.
pub fn insert(index: &usearch::Index, path: &Path, added: &[(u64, Vec<f32>)]) -> Result<()> {
    let per = added.len().div_ceil(threads()).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = added
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .try_for_each(|(k, v)| insert_one(index, path, *k, v))
                })
            })
            .collect();
        parts
            .into_iter()
            .try_for_each(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    })
}

fn insert_one(index: &usearch::Index, path: &Path, key: u64, v: &[f32]) -> Result<()> {
    let unit = unit(v);
    index.add(key, &unit).map(|_| ()).map_err(|e| err(path, e))
}

/// `v` at unit length (zero stays zero), borrowed when it is already: a
/// model without a normalising layer gives longer vectors, and the inner
/// product of [`options`] is the cosine only between unit vectors.
pub fn unit(v: &[f32]) -> std::borrow::Cow<'_, [f32]> {
    let norm = dot(v, v).sqrt();
    if norm == 0.0 || (norm - 1.0).abs() < 1e-4 {
        std::borrow::Cow::Borrowed(v)
    } else {
        std::borrow::Cow::Owned(v.iter().map(|x| x / norm).collect())
    }
}

/// Remove keys (absent ones are no error).
pub fn remove(
    index: &usearch::Index,
    path: &Path,
    keys: impl IntoIterator<Item = u64>,
) -> Result<()> {
    for key in keys {
        index.remove(key).map_err(|e| err(path, e))?;
    }
    Ok(())
}

/// Save to `path` (a new file), in 2 MiB pages (`pages.rs` says why).
pub fn save(index: &usearch::Index, path: &Path) -> Result<()> {
    crate::pages::write(path, |part| {
        index
            .save(&part.to_string_lossy())
            .map_err(std::io::Error::other)
    })
    .map_err(|e| err(path, e))
}

/// Dot product (cosine similarity of unit vectors), in sixteen running
/// sums so that it vectorises: one chain of adds stays scalar (the LSA
/// ranking of a million documents spent 583 ms in it).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 16;
    let (ac, bc) = (a.chunks_exact(L), b.chunks_exact(L));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0f32; L];
    for (x, y) in ac.zip(bc) {
        for l in 0..L {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The mean of `vectors`, scaled to unit length: a document's vector from
/// its passages'. Zero vectors (no passages) stay zero.
pub fn mean<'a>(vectors: impl IntoIterator<Item = &'a [f32]>, dim: usize) -> Vec<f32> {
    let mut sum = vec![0f64; dim];
    for v in vectors {
        for (s, x) in sum.iter_mut().zip(v) {
            *s += f64::from(*x);
        }
    }
    let norm = sum.iter().map(|x| x * x).sum::<f64>().sqrt();
    let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
    sum.iter().map(|x| (x * scale) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::{
        add, calibrate, calibrate_to, insert, insert_one, load, mean, probes, recall_at, reserve,
        search_expansion, unit, CALIBRATION_QUERIES, EXPANSIONS,
    };
    use crate::manifest::Quantization;
    use std::path::Path;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        super::dot(a, b) / (super::dot(a, a) * super::dot(b, b)).sqrt()
    }

    #[test]
    fn vectors_of_any_length_are_ranked_by_cosine() {
        // A model without a normalising layer: lengths differ, and the
        // nearer by inner product (the long one) is the farther by cosine.
        let q = [1.0f32, 0.0, 0.0, 0.0];
        let near = [2.0f32, 0.3, 0.0, 0.0];
        let far = [9.0f32, 9.0, 0.0, 0.0];
        for quantization in [Quantization::F32, Quantization::F16, Quantization::I8] {
            let index = load(None, 4, quantization).unwrap();
            add(
                &index,
                Path::new("t"),
                &[(1, near.to_vec()), (2, far.to_vec())],
            )
            .unwrap();
            let m = index.search(&unit(&q), 2).unwrap();
            assert_eq!(m.keys, vec![1, 2], "{quantization:?}");
            for (key, d) in m.keys.iter().zip(&m.distances) {
                let v = if *key == 1 { &near } else { &far };
                let want = 1.0 - cosine(&q, v);
                assert!(
                    (d - want).abs() < 0.02,
                    "{quantization:?} key {key}: {d} vs {want}"
                );
            }
        }
    }

    #[test]
    fn insertion_on_threads_of_its_own_adds_every_vector() {
        let index = load(None, 8, Quantization::F16).unwrap();
        let added: Vec<(u64, Vec<f32>)> = (0..100u64)
            .map(|k| (k, (0..8).map(|i| ((k * 8 + i) as f32).sin()).collect()))
            .collect();
        reserve(&index, Path::new("t"), &added).unwrap();
        insert(&index, Path::new("t"), &added).unwrap();
        assert_eq!(index.size(), 100);
        // Every key is there with its vector. (Not asked of the graph
        // search: built in parallel, a graph of 100 sines in 8 dimensions
        // sometimes leaves one out of a vector's own top 10.)
        for (k, v) in &added {
            let mut got = vec![0f32; 8];
            assert_eq!(index.get(*k, &mut got).unwrap(), 1, "{k}");
            let want = unit(v);
            let close = got
                .iter()
                .zip(want.iter())
                .all(|(a, b)| (a - b).abs() < 1e-2);
            assert!(close, "{k}: {got:?} against {want:?}");
        }
    }

    /// 4,000 pseudo-random unit vectors of 128 dimensions, inserted one
    /// at a time (so the graph is the same on every run).
    fn random_graph() -> (usearch::Index, Vec<u64>) {
        let index = load(None, 128, Quantization::F16).unwrap();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let added: Vec<(u64, Vec<f32>)> = (0..4_000u64)
            .map(|k| (k, (0..128).map(|_| next()).collect()))
            .collect();
        reserve(&index, Path::new("t"), &added).unwrap();
        for (k, v) in &added {
            insert_one(&index, Path::new("t"), *k, v).unwrap();
        }
        (index, added.into_iter().map(|(k, _)| k).collect())
    }

    #[test]
    fn calibration_picks_the_smallest_expansion_reaching_the_recall() {
        let (index, keys) = random_graph();
        let t = Path::new("t");
        index.change_expansion_search(77);
        // Spread vectors: usearch's default expansion finds 98%.
        assert_eq!(calibrate(&index, t, &keys).unwrap(), EXPANSIONS[0]);
        // Every exact neighbour: a larger expansion, the first that does.
        let e = calibrate_to(&index, t, &keys, 1.0).unwrap();
        let probes = probes(&index, t, &keys).unwrap();
        assert_eq!(probes.len(), CALIBRATION_QUERIES);
        let rung = EXPANSIONS.iter().position(|&x| x == e).unwrap();
        assert!(rung > 0, "the default found every neighbour: no test");
        assert_eq!(recall_at(&index, t, &probes, e).unwrap(), 1.0);
        let below = recall_at(&index, t, &probes, EXPANSIONS[rung - 1]).unwrap();
        assert!(below < 1.0, "{below} at the rung below {e}");
        // The index's own setting is left as it was.
        index.change_expansion_search(77);
        calibrate(&index, t, &keys).unwrap();
        assert_eq!(index.expansion_search(), 77);
    }

    #[test]
    fn unit_scales_to_length_one_and_keeps_zero() {
        let v = unit(&[3.0, 4.0]);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert!(matches!(unit(&[0.6, 0.8]), std::borrow::Cow::Borrowed(_)));
        assert_eq!(&*unit(&[0.0, 0.0]), &[0.0, 0.0]);
    }

    #[test]
    fn search_expansion_grows_with_the_log_of_the_size() {
        assert_eq!(search_expansion(0), 64);
        assert_eq!(search_expansion(100_000), 64);
        assert_eq!(search_expansion(200_000), 160);
        assert_eq!(search_expansion(1_000_000), 383);
        assert!(search_expansion(10_000_000) < 1_000);
    }

    #[test]
    fn mean_of_one_unit_vector_is_itself() {
        let v = [0.6f32, 0.0, -0.8];
        assert_eq!(mean([&v[..]], 3), v.to_vec());
    }

    #[test]
    fn mean_is_renormalised() {
        let (a, b) = ([1.0f32, 0.0], [0.0f32, 1.0]);
        let m = mean([&a[..], &b[..]], 2);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((m[0] - h).abs() < 1e-6 && (m[1] - h).abs() < 1e-6, "{m:?}");
        assert_eq!(mean([], 2), vec![0.0, 0.0]);
    }
}
