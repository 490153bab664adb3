//! How much two rankings agree: overlap@k and rank-biased overlap.

use std::collections::HashSet;

/// |top-k of a ∩ top-k of b| / k.
pub fn overlap_at<T: Eq + std::hash::Hash>(a: &[T], b: &[T], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    let sa: HashSet<&T> = a.iter().take(k).collect();
    let common = b.iter().take(k).filter(|x| sa.contains(x)).count();
    common as f64 / k as f64
}

/// Extrapolated rank-biased overlap (Webber, Moffat and Zobel, 2010) of two
/// rankings cut at depth `k`, with persistence `p` (0.9: the top ~10 ranks
/// carry most of the weight). 1 for identical lists, 0 for disjoint ones.
pub fn rbo<T: Eq + std::hash::Hash>(a: &[T], b: &[T], p: f64) -> f64 {
    let k = a.len().min(b.len());
    if k == 0 {
        return if a.is_empty() && b.is_empty() {
            1.0
        } else {
            0.0
        };
    }
    let (mut seen_a, mut seen_b) = (HashSet::new(), HashSet::new());
    let (mut x, mut sum) = (0usize, 0.0);
    for d in 1..=k {
        let (ia, ib) = (&a[d - 1], &b[d - 1]);
        if ia == ib {
            x += 1;
        } else {
            x += seen_b.contains(ia) as usize + seen_a.contains(ib) as usize;
        }
        seen_a.insert(ia);
        seen_b.insert(ib);
        sum += (x as f64 / d as f64) * p.powi(d as i32);
    }
    (x as f64 / k as f64) * p.powi(k as i32) + (1.0 - p) / p * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_disjoint_and_partial() {
        let a = [1, 2, 3, 4];
        assert!((rbo(&a, &a, 0.9) - 1.0).abs() < 1e-12);
        assert_eq!(rbo(&a, &[5, 6, 7, 8], 0.9), 0.0);
        assert_eq!(overlap_at(&a, &[4, 3, 9, 9], 4), 0.5);
        // Agreement at the top weighs more: a swap at the bottom costs less.
        let top = rbo(&a, &[2, 1, 3, 4], 0.9);
        let bottom = rbo(&a, &[1, 2, 4, 3], 0.9);
        assert!(bottom > top && top < 1.0);
    }
}
