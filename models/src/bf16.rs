//! `y = x W + b` with bf16 inputs and f32 accumulation on AVX-512 BF16.
//!
//! `vdpbf16ps` multiplies pairs of bf16 values and adds both products to an
//! f32 lane: twice the multiply-adds of an f32 FMA per instruction. The
//! weights are rounded to bf16 once, at load, and packed so that the
//! kernel's inner loop is one broadcast of an activation pair and four
//! full-width loads of weight pairs; activations are rounded per call.
//! Accumulation stays f32, so the error is that of rounding the inputs
//! (2^-9 relative), not of summing 1,536 products in 8 bits.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::kernels::contiguous_f32;

/// Output columns per panel: four 16-lane registers.
const NR: usize = 64;
/// Rows per micro-tile: 6 x 4 accumulators + 4 weight registers + 1
/// broadcast fit in the 32 vector registers.
const MR: usize = 6;
/// Rows per rayon task: the task's activations stay in L2 while it walks
/// every weight panel.
const ROWS_PER_TASK: usize = 8 * MR;

/// Whether this CPU runs the kernel (AVX-512 F and BF16).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Round to the nearest bf16, ties to even (as `vcvtne2ps2bf16` does).
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

pub fn from_bf16(x: u16) -> f32 {
    f32::from_bits(u32::from(x) << 16)
}

/// Weights `W` (k x n) rounded to bf16 and packed: for each panel of 64
/// columns, for each pair of rows `(2p, 2p + 1)`, 64 lanes of
/// `W[2p][c] | W[2p + 1][c] << 16`. Columns past `n` and a missing last row
/// are zero.
pub struct PackedBf16 {
    k: usize,
    n: usize,
    pairs: usize,
    data: Vec<u32>,
    bias: Vec<f32>,
}

impl PackedBf16 {
    /// `w`: (k, n) row-major; `bias`: n.
    pub fn new(w: &[f32], k: usize, n: usize, bias: &[f32]) -> Self {
        assert_eq!(w.len(), k * n);
        assert_eq!(bias.len(), n);
        let pairs = k.div_ceil(2);
        let panels = n.div_ceil(NR);
        let mut data = vec![0u32; panels * pairs * NR];
        let at = |r: usize, c: usize| {
            if r < k && c < n {
                u32::from(to_bf16(w[r * n + c]))
            } else {
                0
            }
        };
        for j in 0..panels {
            for p in 0..pairs {
                for l in 0..NR {
                    let c = j * NR + l;
                    data[(j * pairs + p) * NR + l] = at(2 * p, c) | (at(2 * p + 1, c) << 16);
                }
            }
        }
        PackedBf16 {
            k,
            n,
            pairs,
            data,
            bias: bias.to_vec(),
        }
    }

    /// `x W + b` for `x`: (m, k) f32.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.contiguous()?.apply_op1_no_bwd(self)
    }
}

/// Activations rounded to bf16 pairs, `pairs` u32 per row.
fn pack_rows(x: &[f32], k: usize, pairs: usize) -> Vec<u32> {
    let rows = x.len() / k;
    let mut out = vec![0u32; rows * pairs];
    out.par_chunks_mut(pairs)
        .zip(x.par_chunks(k))
        .for_each(|(dst, src)| {
            for (p, d) in dst.iter_mut().enumerate() {
                let lo = to_bf16(src[2 * p]);
                let hi = src.get(2 * p + 1).map_or(0, |&v| to_bf16(v));
                *d = u32::from(lo) | (u32::from(hi) << 16);
            }
        });
    out
}

impl CustomOp1 for PackedBf16 {
    fn name(&self) -> &'static str {
        "semsearch-bf16-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, self.name())?;
        let (m, k) = layout.shape().dims2()?;
        if k != self.k {
            candle_core::bail!(
                "{}: input has {k} features, weights {}",
                self.name(),
                self.k
            )
        }
        if !available() {
            candle_core::bail!("{}: this CPU lacks AVX-512 BF16", self.name())
        }
        let a = pack_rows(x, k, self.pairs);
        let n = self.n;
        let mut y = vec![0f32; m * n];
        y.par_chunks_mut(ROWS_PER_TASK * n)
            .zip(a.par_chunks(ROWS_PER_TASK * self.pairs))
            .for_each(|(y, a)| {
                // SAFETY: `available()` checked the CPU features above.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    x86::rows(self, a, y)
                }
            });
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{PackedBf16, MR, NR};

    /// All panels for a block of rows: `a` holds the rows' bf16 pairs,
    /// `y` their outputs.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn rows(w: &PackedBf16, a: &[u32], y: &mut [f32]) {
        let (n, pairs) = (w.n, w.pairs);
        let m = y.len() / n;
        for j in 0..n.div_ceil(NR) {
            let panel = &w.data[j * pairs * NR..(j + 1) * pairs * NR];
            let mut r = 0;
            while r < m {
                let mr = (m - r).min(MR);
                let a = &a[r * pairs..(r + mr) * pairs];
                let y = &mut y[r * n..(r + mr) * n];
                match mr {
                    6 => tile::<6>(panel, a, pairs, &w.bias, j * NR, n, y),
                    5 => tile::<5>(panel, a, pairs, &w.bias, j * NR, n, y),
                    4 => tile::<4>(panel, a, pairs, &w.bias, j * NR, n, y),
                    3 => tile::<3>(panel, a, pairs, &w.bias, j * NR, n, y),
                    2 => tile::<2>(panel, a, pairs, &w.bias, j * NR, n, y),
                    _ => tile::<1>(panel, a, pairs, &w.bias, j * NR, n, y),
                }
                r += mr;
            }
        }
    }

    /// `R` rows x 64 columns starting at `col`.
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize>(
        panel: &[u32],
        a: &[u32],
        pairs: usize,
        bias: &[f32],
        col: usize,
        n: usize,
        y: &mut [f32],
    ) {
        let mut acc = [[_mm512_setzero_ps(); 4]; R];
        let b = panel.as_ptr();
        let a = a.as_ptr();
        for p in 0..pairs {
            let bp = b.add(p * NR);
            let w: [__m512bh; 4] = [
                std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(bp as *const _)),
                std::mem::transmute::<__m512i, __m512bh>(
                    _mm512_loadu_si512(bp.add(16) as *const _),
                ),
                std::mem::transmute::<__m512i, __m512bh>(
                    _mm512_loadu_si512(bp.add(32) as *const _),
                ),
                std::mem::transmute::<__m512i, __m512bh>(
                    _mm512_loadu_si512(bp.add(48) as *const _),
                ),
            ];
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(
                    *a.add(r * pairs + p) as i32,
                ));
                for q in 0..4 {
                    acc[q] = _mm512_dpbf16_ps(acc[q], x, w[q]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (q, &v) in acc.iter().enumerate() {
                let c = col + 16 * q;
                if c >= n {
                    break;
                }
                let lanes = (n - c).min(16);
                let mask: __mmask16 = if lanes == 16 {
                    0xffff
                } else {
                    (1u16 << lanes) - 1
                };
                let b = _mm512_maskz_loadu_ps(mask, bias.as_ptr().add(c));
                _mm512_mask_storeu_ps(y.as_mut_ptr().add(r * n + c), mask, _mm512_add_ps(v, b));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        assert_eq!(from_bf16(to_bf16(1.0)), 1.0);
        // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: to even.
        assert_eq!(from_bf16(to_bf16(1.0 + 1.0 / 256.0)), 1.0);
        assert_eq!(from_bf16(to_bf16(1.0 + 3.0 / 256.0)), 1.0 + 4.0 / 256.0);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
    }

    /// Against an f32 product of the same bf16-rounded inputs, for shapes
    /// with row, column and depth tails.
    #[test]
    fn matches_f32_product_of_rounded_inputs() {
        if !available() {
            eprintln!("no AVX-512 BF16 on this CPU: kernel not exercised");
            return;
        }
        for &(m, k, n) in &[(1, 8, 16), (7, 33, 70), (13, 384, 128), (50, 64, 1)] {
            let val = |i: usize, s: usize| (((i * s) % 997) as f32 / 498.0) - 1.0;
            let x: Vec<f32> = (0..m * k).map(|i| val(i, 7919)).collect();
            let w: Vec<f32> = (0..k * n).map(|i| val(i, 104_729)).collect();
            let bias: Vec<f32> = (0..n).map(|i| val(i, 31)).collect();
            let packed = PackedBf16::new(&w, k, n, &bias);
            let xt = Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap();
            let y: Vec<f32> = packed
                .forward(&xt)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let r = |v: f32| from_bf16(to_bf16(v));
            for i in 0..m {
                for j in 0..n {
                    let want: f32 = (0..k)
                        .map(|t| r(x[i * k + t]) * r(w[t * n + j]))
                        .sum::<f32>()
                        + bias[j];
                    let got = y[i * n + j];
                    assert!(
                        (got - want).abs() < 1e-3 * (1.0 + want.abs()),
                        "({m},{k},{n}) [{i},{j}]: {got} vs {want}"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    use candle_core::Device;

    /// `cargo test --release -p semsearch-models --lib bf16::speed -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bf16_against_f32_gemm() {
        for &(m, k, n) in &[(4096, 384, 1152), (4096, 384, 1536), (4096, 1536, 384)] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
            let w = Tensor::randn(0f32, 1.0, (k, n), &Device::Cpu).unwrap();
            let b = vec![0f32; n];
            let packed = PackedBf16::new(&w.flatten_all().unwrap().to_vec1().unwrap(), k, n, &b);
            let time = |f: &dyn Fn() -> Tensor| {
                f();
                let t = std::time::Instant::now();
                for _ in 0..5 {
                    f();
                }
                t.elapsed().as_secs_f64() / 5.0
            };
            let tb = time(&|| packed.forward(&x).unwrap());
            let tf = time(&|| x.matmul(&w).unwrap());
            let gf = 2.0 * (m * k * n) as f64 / 1e9;
            eprintln!(
                "({m},{k},{n}): bf16 {:.1} ms ({:.0} GFLOP/s), f32 {:.1} ms ({:.0} GFLOP/s)",
                tb * 1e3,
                gf / tb,
                tf * 1e3,
                gf / tf
            );
        }
    }
}
