//! AVX2 + FMA kernel in f32: the AVX-512 design on 8-lane registers, 6
//! rows x 16 columns per micro-tile (12 accumulators, 2 weight registers
//! and a broadcast fit the 16 vector registers), panels 16 columns wide.

// As in avx512.rs: every line of these `unsafe fn`s is intrinsics and
// pointer arithmetic under the contract of their `# Safety` sections.
#![allow(unsafe_op_in_unsafe_fn)]

use std::arch::x86_64::*;

use super::{PackedLinear, Task};

/// Rows per micro-tile.
const MR: usize = 6;
/// Columns per panel (two 8-lane registers).
const NR: usize = 16;

/// The task's panels for its rows.
///
/// # Safety
/// `t.y` points to `t.rows` x `w.n` writable f32s that no other thread
/// writes in these panels' columns; `t.a` holds `t.rows * w.steps` f32
/// steps; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn rows_f32(w: &PackedLinear, t: Task) {
    debug_assert_eq!(w.nr, NR);
    let steps = w.steps;
    for j in t.panels.clone() {
        let panel = &w.data.as_slice()[j * steps * NR..(j + 1) * steps * NR];
        let mut r = 0;
        while r < t.rows {
            let mr = (t.rows - r).min(MR);
            let a = &t.a[r * steps..(r + mr) * steps];
            let y = t.y.add(r * w.n);
            let col = j * NR;
            match mr {
                6 => tile::<6>(w, panel, a, col, y),
                5 => tile::<5>(w, panel, a, col, y),
                4 => tile::<4>(w, panel, a, col, y),
                3 => tile::<3>(w, panel, a, col, y),
                2 => tile::<2>(w, panel, a, col, y),
                _ => tile::<1>(w, panel, a, col, y),
            }
            r += mr;
        }
    }
}

/// `R` rows x 16 columns starting at `col`.
///
/// # Safety
/// As [`rows_f32`]: `y` has `R` rows of `n` writable values, `a` `R` rows
/// of `steps` values, `panel` `steps` x 16 weights.
#[inline(always)]
unsafe fn tile<const R: usize>(
    w: &PackedLinear,
    panel: &[u32],
    a: &[u32],
    col: usize,
    y: *mut f32,
) {
    let (steps, n) = (w.steps, w.n);
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    let b = panel.as_ptr().cast::<f32>();
    let a = a.as_ptr().cast::<f32>();
    for t in 0..steps {
        let bp = b.add(t * NR);
        let (w0, w1) = (_mm256_loadu_ps(bp), _mm256_loadu_ps(bp.add(8)));
        for (r, acc) in acc.iter_mut().enumerate() {
            let x = _mm256_broadcast_ss(&*a.add(r * steps + t));
            acc[0] = _mm256_fmadd_ps(x, w0, acc[0]);
            acc[1] = _mm256_fmadd_ps(x, w1, acc[1]);
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (q, &v) in acc.iter().enumerate() {
            let c = col + 8 * q;
            if c >= n {
                break;
            }
            let dst = y.add(r * n + c);
            if n - c >= 8 {
                _mm256_storeu_ps(
                    dst,
                    _mm256_add_ps(v, _mm256_loadu_ps(w.bias.as_ptr().add(c))),
                );
            } else {
                let mut lanes = [0f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), v);
                for (l, &v) in lanes.iter().enumerate().take(n - c) {
                    *dst.add(l) = v + w.bias[c + l];
                }
            }
        }
    }
}
