//! The usearch HNSW indexes of passage and document vectors.

use std::path::Path;

use rayon::prelude::*;
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
pub fn options(dim: usize, q: Quantization) -> IndexOptions {
    IndexOptions {
        dimensions: dim,
        metric: MetricKind::Cos,
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

/// Vectors up to which usearch's default search expansion (64) holds
/// recall@10 at 0.98 or more on the scale corpus (`bench/scale.sh`).
const EXPANSION_FLAT_UP_TO: f64 = 100_000.0;

/// The HNSW search expansion (ef) for an index of `size` vectors: the
/// default up to 100,000, then growing with the logarithm of the size, as
/// the greedy descent's hops do: 383 at a million. (Fixed, recall@10 fell
/// from 0.999 at 10 k to 0.983 at 100 k and 0.974 at 1 M on the slim
/// model's vectors; at 1 M it is 0.986 at ef 300, 0.997 at 1,000.)
pub fn search_expansion(size: usize) -> usize {
    let doublings = (size as f64 / EXPANSION_FLAT_UP_TO).log2().max(0.0);
    let grown = 64.0 * (1.0 + 1.5 * doublings);
    grown.round() as usize
}

/// An HNSW index to add to: the one saved at `prev`, else a new one.
pub fn load(prev: Option<&Path>, dim: usize, q: Quantization) -> Result<usearch::Index> {
    let index =
        usearch::Index::new(&options(dim, q)).map_err(|e| err(prev.unwrap_or(Path::new("")), e))?;
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

/// Add keyed vectors (in parallel), growing the capacity geometrically so
/// that adding in batches costs no more than adding at once.
pub fn add(index: &usearch::Index, path: &Path, added: &[(u64, Vec<f32>)]) -> Result<()> {
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
            .reserve_capacity_and_threads(capacity, rayon::current_num_threads())
            .map_err(|e| err(path, e))?;
    }
    added
        .par_iter()
        .try_for_each(|(key, v)| index.add(*key, v).map(|_| ()).map_err(|e| err(path, e)))
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

/// Save to `path`.
pub fn save(index: &usearch::Index, path: &Path) -> Result<()> {
    index
        .save(&path.to_string_lossy())
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
    use super::{mean, search_expansion};

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
