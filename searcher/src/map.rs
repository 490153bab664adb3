//! A map of the corpus: principal components of the document vectors,
//! k-means clusters, and the documents most central to a group.

use nalgebra::{DMatrix, SymmetricEigen};
use semsearch_indexer::vectors::{dot, mean};

/// Document vectors projected onto their first principal components.
#[derive(Debug, Clone)]
pub struct Pca {
    /// One row per input vector, `components` columns.
    pub coords: Vec<Vec<f32>>,
    /// Share of the total variance each component explains, decreasing.
    pub explained: Vec<f64>,
    /// The mean vector the inputs were centred on.
    pub mean: Vec<f32>,
    /// The components, one unit vector each, in order.
    pub axes: Vec<Vec<f32>>,
}

impl Pca {
    /// Coordinates of another vector (a query) on the same components.
    pub fn project(&self, v: &[f32]) -> Vec<f32> {
        self.axes
            .iter()
            .map(|a| {
                a.iter()
                    .zip(v.iter().zip(&self.mean))
                    .map(|(a, (x, m))| a * (x - m))
                    .sum()
            })
            .collect()
    }
}

/// Project `vectors` (all of one length) onto their first `components`
/// principal components: eigenvectors of the covariance matrix, largest
/// eigenvalue first. Each axis is oriented so its largest loading is
/// positive, making maps reproducible.
pub fn pca(vectors: &[Vec<f32>], components: usize) -> Pca {
    let n = vectors.len();
    let d = vectors.first().map_or(0, Vec::len);
    if n == 0 || d == 0 {
        return Pca {
            coords: vec![vec![0.0; components]; n],
            explained: vec![0.0; components],
            mean: vec![0.0; d],
            axes: Vec::new(),
        };
    }
    let mut mean = vec![0f64; d];
    for v in vectors {
        for (m, x) in mean.iter_mut().zip(v) {
            *m += f64::from(*x) / n as f64;
        }
    }
    let centred = DMatrix::from_fn(n, d, |i, j| f64::from(vectors[i][j]) - mean[j]);
    let cov = centred.tr_mul(&centred) / (n.max(2) - 1) as f64;
    let eigen = SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let total: f64 = eigen.eigenvalues.iter().map(|&l| l.max(0.0)).sum();
    let c = components.min(d);
    let mut axes = DMatrix::zeros(d, c);
    let mut explained = Vec::with_capacity(c);
    for (k, &i) in order.iter().take(c).enumerate() {
        let mut axis = eigen.eigenvectors.column(i).into_owned();
        let biggest = axis
            .iter()
            .copied()
            .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        if biggest < 0.0 {
            axis = -axis;
        }
        axes.set_column(k, &axis);
        let share = if total > 0.0 {
            eigen.eigenvalues[i].max(0.0) / total
        } else {
            0.0
        };
        explained.push(share);
    }
    let projected = centred * &axes;
    let coords = (0..n)
        .map(|i| (0..c).map(|k| projected[(i, k)] as f32).collect())
        .collect();
    Pca {
        coords,
        explained,
        mean: mean.iter().map(|&m| m as f32).collect(),
        axes: (0..c)
            .map(|k| axes.column(k).iter().map(|&x| x as f32).collect())
            .collect(),
    }
}

/// Deterministic pseudo-random numbers (splitmix64): the same corpus gives
/// the same clusters on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Spherical k-means (cosine similarity; unit-length centroids) with
/// k-means++ seeding. Returns each vector's cluster, clusters numbered by
/// size, largest first.
///
/// Written here rather than taken from linfa: on unit vectors it is a few
/// dot products, and linfa would bring the whole ndarray stack for it.
pub fn kmeans(vectors: &[Vec<f32>], k: usize) -> Vec<usize> {
    let n = vectors.len();
    let k = k.min(n);
    if k <= 1 {
        return vec![0; n];
    }
    let d = vectors[0].len();
    let mut rng = SplitMix(n as u64);
    // k-means++: each next seed drawn with probability ~ its distance to the
    // nearest seed so far (1 - cosine).
    let mut centroids = vec![vectors[(rng.next() % n as u64) as usize].clone()];
    let mut nearest: Vec<f64> = vectors
        .iter()
        .map(|v| f64::from(1.0 - dot(v, &centroids[0])).max(0.0))
        .collect();
    while centroids.len() < k {
        let total: f64 = nearest.iter().sum();
        let mut r = rng.unit() * total;
        let pick = nearest
            .iter()
            .position(|&w| {
                r -= w;
                r <= 0.0
            })
            .unwrap_or(n - 1);
        centroids.push(vectors[pick].clone());
        let c = centroids.last().expect("just pushed");
        for (w, v) in nearest.iter_mut().zip(vectors) {
            *w = w.min(f64::from(1.0 - dot(v, c)).max(0.0));
        }
    }
    let mut assign = vec![usize::MAX; n];
    for _ in 0..100 {
        let mut changed = false;
        for (a, v) in assign.iter_mut().zip(vectors) {
            let sims: Vec<f32> = centroids.iter().map(|c| dot(v, c)).collect();
            let best = (0..k)
                .max_by(|&x, &y| sims[x].total_cmp(&sims[y]))
                .expect("k > 1");
            changed |= *a != best;
            *a = best;
        }
        if !changed {
            break;
        }
        for (c, centroid) in centroids.iter_mut().enumerate() {
            let members = vectors.iter().zip(&assign).filter(|(_, &a)| a == c);
            let m = mean(members.map(|(v, _)| v.as_slice()), d);
            // An emptied cluster keeps its old centroid.
            if m.iter().any(|&x| x != 0.0) {
                *centroid = m;
            }
        }
    }
    let mut sizes: Vec<(usize, usize)> = (0..k)
        .map(|c| (c, assign.iter().filter(|&&a| a == c).count()))
        .collect();
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut renumber = vec![0; k];
    for (new, (old, _)) in sizes.iter().enumerate() {
        renumber[*old] = new;
    }
    assign.into_iter().map(|a| renumber[a]).collect()
}

/// Of `members` (indices into `vectors`), the `n` nearest to the group's
/// mean direction, most central first.
pub fn central(vectors: &[Vec<f32>], members: &[usize], n: usize) -> Vec<usize> {
    let d = vectors.first().map_or(0, Vec::len);
    let m = mean(members.iter().map(|&i| vectors[i].as_slice()), d);
    let mut ranked: Vec<(usize, f32)> =
        members.iter().map(|&i| (i, dot(&vectors[i], &m))).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.into_iter().take(n).map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = dot(&v, &v).sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    /// Points spread widely along one axis, less along a second, barely on
    /// a third.
    fn cloud() -> Vec<Vec<f32>> {
        let mut rng = SplitMix(1);
        (0..200)
            .map(|_| {
                let mut r = || rng.unit() as f32 - 0.5;
                vec![10.0 * r(), 3.0 * r(), 0.5 * r(), 0.1 * r()]
            })
            .collect()
    }

    #[test]
    fn explained_variance_decreases_and_sums_to_at_most_one() {
        let p = pca(&cloud(), 3);
        assert_eq!(p.explained.len(), 3);
        assert!(
            p.explained.windows(2).all(|w| w[0] >= w[1]),
            "{:?}",
            p.explained
        );
        let sum: f64 = p.explained.iter().sum();
        assert!(sum <= 1.0 + 1e-9 && sum > 0.99, "{sum}");
        // The first axis is the wide one.
        assert!(p.explained[0] > 0.85, "{:?}", p.explained);
    }

    #[test]
    fn projection_is_centred_and_keeps_the_spread() {
        let data = cloud();
        let p = pca(&data, 2);
        assert_eq!(p.coords.len(), data.len());
        let mean: f32 = p.coords.iter().map(|c| c[0]).sum::<f32>() / data.len() as f32;
        assert!(mean.abs() < 1e-3, "{mean}");
        let var = |k: usize| p.coords.iter().map(|c| c[k] * c[k]).sum::<f32>();
        assert!(var(0) > var(1));
    }

    #[test]
    fn a_projected_input_lands_on_its_own_coordinates() {
        let data = cloud();
        let p = pca(&data, 2);
        for (v, c) in data.iter().zip(&p.coords) {
            let q = p.project(v);
            assert!((q[0] - c[0]).abs() < 1e-4 && (q[1] - c[1]).abs() < 1e-4);
        }
    }

    #[test]
    fn kmeans_separates_two_directions() {
        let mut rng = SplitMix(3);
        let mut data = Vec::new();
        for i in 0..60 {
            let jitter = (rng.unit() as f32 - 0.5) * 0.2;
            data.push(if i % 3 == 0 {
                unit(vec![1.0, jitter, 0.0])
            } else {
                unit(vec![jitter, 0.0, 1.0])
            });
        }
        let a = kmeans(&data, 2);
        for (i, &c) in a.iter().enumerate() {
            // The bigger group (2 of 3 points) is cluster 0.
            assert_eq!(c, usize::from(i % 3 == 0), "point {i}");
        }
        let members: Vec<usize> = (0..60).filter(|i| i % 3 == 0).collect();
        let top = central(&data, &members, 2);
        assert_eq!(top.len(), 2);
        assert!(top.iter().all(|i| i % 3 == 0));
    }
}
