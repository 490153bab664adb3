//! `y = x W + b` on AVX-512: our own packed-weight kernel, in f32 (FMA) or
//! bf16 (`vdpbf16ps`).
//!
//! Why not gemm for both: gemm is near the f32 peak on big products but
//! pays a fixed cost per call (packing, thread hand-off) that dominates a
//! short query's 8-row products, and the bias needs a second pass. Here the
//! weights are packed once at load into 64-column panels, the bias is added
//! as results are stored, and rows are split across threads only when
//! there are enough of them.
//!
//! bf16: `vdpbf16ps` multiplies pairs of bf16 values and adds both products
//! to an f32 lane, twice the multiply-adds of an f32 FMA per instruction.
//! The weights are rounded to bf16 once, at load, activations per call;
//! accumulation stays f32, so the error is that of rounding the inputs
//! (2^-9 relative), not of summing 1,536 products in 8 bits.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::kernels::{contiguous_f32, gelu_in_place};
use crate::Precision;

/// Output columns per panel: four 16-lane registers.
const NR: usize = 64;
/// Rows per micro-tile: 6 x 4 accumulators + 4 weight registers + 1
/// broadcast fit in the 32 vector registers.
const MR: usize = 6;
/// Rows per rayon task: the task's activations stay in L2 while it walks
/// every weight panel.
const ROWS_PER_TASK: usize = 8 * MR;

/// Whether this CPU runs the kernel at `precision` (AVX-512 F, and BF16
/// for bf16).
pub fn available(precision: Precision) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && (precision == Precision::F32 || std::is_x86_feature_detected!("avx512bf16"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = precision;
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

/// A bf16 value (upper 16 bits of an f32) widened back to f32.
pub fn from_bf16(x: u16) -> f32 {
    f32::from_bits(u32::from(x) << 16)
}

/// Weights `W` (k x n) packed in panels of 64 columns. f32: for each row
/// `t`, 64 lanes of `W[t][c]`. bf16: for each pair of rows `(2t, 2t + 1)`,
/// 64 lanes of `W[2t][c] | W[2t + 1][c] << 16`, rounded to bf16. Columns
/// past `n` and a missing last row are zero.
pub struct PackedLinear {
    precision: Precision,
    k: usize,
    n: usize,
    /// Rows of a panel: k (f32) or k / 2 rounded up (bf16).
    steps: usize,
    data: Vec<u32>,
    bias: Vec<f32>,
}

impl PackedLinear {
    /// `w`: (k, n) row-major; `bias`: n. `None` where the CPU cannot run
    /// the kernel at `precision`.
    pub fn new(w: &[f32], k: usize, n: usize, bias: &[f32], precision: Precision) -> Option<Self> {
        assert_eq!(w.len(), k * n);
        assert_eq!(bias.len(), n);
        if !available(precision) {
            return None;
        }
        let steps = match precision {
            Precision::F32 => k,
            Precision::Bf16 => k.div_ceil(2),
        };
        let panels = n.div_ceil(NR);
        let mut data = vec![0u32; panels * steps * NR];
        let at = |r: usize, c: usize| if r < k && c < n { w[r * n + c] } else { 0.0 };
        for j in 0..panels {
            for t in 0..steps {
                for l in 0..NR {
                    let c = j * NR + l;
                    data[(j * steps + t) * NR + l] = match precision {
                        Precision::F32 => at(t, c).to_bits(),
                        Precision::Bf16 => {
                            let (lo, hi) = (to_bf16(at(2 * t, c)), to_bf16(at(2 * t + 1, c)));
                            u32::from(lo) | (u32::from(hi) << 16)
                        }
                    };
                }
            }
        }
        Some(PackedLinear {
            precision,
            k,
            n,
            steps,
            data,
            bias: bias.to_vec(),
        })
    }

    /// `x W + b` for `x`: (m, k) f32.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.contiguous()?.apply_op1_no_bwd(&Op {
            w: self,
            gelu: false,
        })
    }

    /// `gelu(x W + b)` (erf form), applied to each block of rows while it
    /// is still in cache instead of in a pass of its own.
    pub fn forward_gelu(&self, x: &Tensor) -> Result<Tensor> {
        x.contiguous()?.apply_op1_no_bwd(&Op {
            w: self,
            gelu: true,
        })
    }
}

struct Op<'a> {
    w: &'a PackedLinear,
    gelu: bool,
}

/// Activations rounded to bf16 pairs, `pairs` u32 per row.
fn pack_rows(x: &[f32], k: usize, pairs: usize) -> Vec<u32> {
    let rows = x.len() / k;
    let mut out = vec![0u32; rows * pairs];
    out.par_chunks_mut(pairs.max(1) * 16)
        .zip(x.par_chunks(k * 16))
        .for_each(|(dst, src)| {
            for (dst, src) in dst.chunks_mut(pairs).zip(src.chunks(k)) {
                // 32 values at a time with the rounding instruction.
                #[cfg(target_arch = "x86_64")]
                let done = {
                    let full = k / 32;
                    // SAFETY: bf16 packing only exists where `available`
                    // found AVX-512 BF16.
                    unsafe { x86::pack_bf16(&src[..full * 32], &mut dst[..full * 16]) };
                    full * 16
                };
                #[cfg(not(target_arch = "x86_64"))]
                let done = 0;
                for (p, d) in dst.iter_mut().enumerate().skip(done) {
                    let lo = to_bf16(src[2 * p]);
                    let hi = src.get(2 * p + 1).map_or(0, |&v| to_bf16(v));
                    *d = u32::from(lo) | (u32::from(hi) << 16);
                }
            }
        });
    out
}

impl CustomOp1 for Op<'_> {
    fn name(&self) -> &'static str {
        "semsearch-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let w = self.w;
        let x = contiguous_f32(storage, layout, self.name())?;
        let (m, k) = layout.shape().dims2()?;
        if k != w.k {
            candle_core::bail!("{}: input has {k} features, weights {}", self.name(), w.k)
        }
        let packed;
        let a: &[u32] = match w.precision {
            Precision::Bf16 => {
                packed = pack_rows(x, k, w.steps);
                &packed
            }
            // f32 activations are used in place, as bit patterns.
            Precision::F32 => bytemuck_u32(x),
        };
        let (n, steps) = (w.n, w.steps);
        let panels = n.div_ceil(NR);
        // Every element is written by the kernel: no zeroing pass.
        let mut y: Vec<f32> = Vec::with_capacity(m * n);
        let out = Out(y.as_mut_ptr());
        let run = |a: &[u32], y: *mut f32, rows: usize, cols: std::ops::Range<usize>| {
            // SAFETY: `new` checked the CPU features; callers hand each task
            // disjoint rows or panels of `y`, which has room for m x n.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                match w.precision {
                    Precision::F32 => x86::rows_f32(w, a, y, rows, cols),
                    Precision::Bf16 => x86::rows_bf16(w, a, y, rows, cols),
                }
            }
        };
        if m > ROWS_PER_TASK {
            // Many rows: threads take blocks of rows, each walks every panel.
            (0..m.div_ceil(ROWS_PER_TASK))
                .into_par_iter()
                .for_each(|b| {
                    let (r0, rows) = (b * ROWS_PER_TASK, ROWS_PER_TASK.min(m - b * ROWS_PER_TASK));
                    let (a, y) = (&a[r0 * steps..], out.at(r0 * n));
                    run(a, y, rows, 0..panels);
                    if self.gelu {
                        // SAFETY: the block's rows were all written just above.
                        gelu_in_place(unsafe { std::slice::from_raw_parts_mut(y, rows * n) });
                    }
                });
        } else {
            if m * k * n >= 1 << 20 {
                // A query's few rows: threads take panels (columns) instead.
                let threads = rayon::current_num_threads().clamp(1, panels);
                let per = panels.div_ceil(threads);
                (0..threads).into_par_iter().for_each(|t| {
                    run(a, out.at(0), m, t * per..((t + 1) * per).min(panels));
                });
            } else {
                run(a, out.at(0), m, 0..panels);
            }
            if self.gelu {
                // SAFETY: all m x n elements were written above.
                gelu_in_place(unsafe { std::slice::from_raw_parts_mut(out.at(0), m * n) });
            }
        }
        // SAFETY: the kernel wrote all m x n elements.
        unsafe { y.set_len(m * n) };
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }
}

/// Output rows that tasks write through, each to its own block.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: every task writes a disjoint block of rows or panels.
unsafe impl Send for Out {}
// SAFETY: as above: shared only to hand out disjoint blocks.
unsafe impl Sync for Out {}

impl Out {
    fn at(self, offset: usize) -> *mut f32 {
        // SAFETY (of callers): offsets stay inside the m x n allocation.
        self.0.wrapping_add(offset)
    }
}

/// f32 values as their bit patterns.
fn bytemuck_u32(x: &[f32]) -> &[u32] {
    // SAFETY: f32 and u32 have the same size and alignment, and every bit
    // pattern is a valid u32.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<u32>(), x.len()) }
}

// The kernels are `unsafe fn`s whose every line is intrinsics and pointer
// arithmetic under the contract their `# Safety` sections state; an
// `unsafe {}` around each whole body would say nothing more.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_op_in_unsafe_fn)]
mod x86 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{PackedLinear, MR, NR};

    /// One multiply-add step: `acc += a * b` lane-wise, where `a` is a
    /// broadcast activation step and `b` a weight step.
    trait Arith {
        /// # Safety
        /// The CPU has the instruction set of the implementation (AVX-512F;
        /// for bf16 also AVX-512 BF16).
        unsafe fn madd(acc: __m512, a: __m512i, b: __m512i) -> __m512;
    }

    struct F32;
    struct Bf16;

    impl Arith for F32 {
        #[inline(always)]
        unsafe fn madd(acc: __m512, a: __m512i, b: __m512i) -> __m512 {
            _mm512_fmadd_ps(_mm512_castsi512_ps(a), _mm512_castsi512_ps(b), acc)
        }
    }

    impl Arith for Bf16 {
        #[inline(always)]
        unsafe fn madd(acc: __m512, a: __m512i, b: __m512i) -> __m512 {
            _mm512_dpbf16_ps(
                acc,
                std::mem::transmute::<__m512i, __m512bh>(a),
                std::mem::transmute::<__m512i, __m512bh>(b),
            )
        }
    }

    /// Round `src` (a multiple of 32 values) to bf16 pairs, as `to_bf16`
    /// does (nearest, ties to even).
    ///
    /// # Safety
    /// The CPU has AVX-512F and AVX-512 BF16; `dst` holds at least half as
    /// many values as `src`.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn pack_bf16(src: &[f32], dst: &mut [u32]) {
        for (s, d) in src.chunks_exact(32).zip(dst.chunks_exact_mut(16)) {
            let lo = _mm512_loadu_ps(s.as_ptr());
            let hi = _mm512_loadu_ps(s.as_ptr().add(16));
            let v = _mm512_cvtne2ps_pbh(hi, lo);
            _mm512_storeu_si512(
                d.as_mut_ptr().cast(),
                std::mem::transmute::<__m512bh, __m512i>(v),
            );
        }
    }

    // The generic body is inlined into one entry point per instruction set,
    // so each copy is compiled with exactly the features it may use.
    /// # Safety
    /// As [`rows`], on a CPU with AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn rows_f32(
        w: &PackedLinear,
        a: &[u32],
        y: *mut f32,
        m: usize,
        panels: Range<usize>,
    ) {
        rows::<F32>(w, a, y, m, panels)
    }

    /// # Safety
    /// As [`rows`], on a CPU with AVX-512F and AVX-512 BF16.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn rows_bf16(
        w: &PackedLinear,
        a: &[u32],
        y: *mut f32,
        m: usize,
        panels: Range<usize>,
    ) {
        rows::<Bf16>(w, a, y, m, panels)
    }

    /// Panels `panels` for `m` rows: `a` holds the rows' steps, `y` their
    /// outputs (m x n).
    ///
    /// # Safety
    /// `y` points to m x `w.n` writable f32s that no other thread writes in
    /// these panels' columns; `a` holds `m * w.steps` steps; the CPU has
    /// `A`'s instructions.
    #[inline(always)]
    unsafe fn rows<A: Arith>(
        w: &PackedLinear,
        a: &[u32],
        y: *mut f32,
        m: usize,
        panels: Range<usize>,
    ) {
        let (n, steps) = (w.n, w.steps);
        for j in panels {
            let panel = &w.data[j * steps * NR..(j + 1) * steps * NR];
            let mut r = 0;
            while r < m {
                let mr = (m - r).min(MR);
                let a = &a[r * steps..(r + mr) * steps];
                let y = y.add(r * n);
                let (bias, col) = (&w.bias[..], j * NR);
                match mr {
                    6 => tile::<A, 6>(panel, a, steps, bias, col, n, y),
                    5 => tile::<A, 5>(panel, a, steps, bias, col, n, y),
                    4 => tile::<A, 4>(panel, a, steps, bias, col, n, y),
                    3 => tile::<A, 3>(panel, a, steps, bias, col, n, y),
                    2 => tile::<A, 2>(panel, a, steps, bias, col, n, y),
                    _ => tile::<A, 1>(panel, a, steps, bias, col, n, y),
                }
                r += mr;
            }
        }
    }

    /// `R` rows x 64 columns starting at `col`.
    ///
    /// # Safety
    /// As [`rows`]: `y` has `R` rows of `n` writable values, `a` `R` rows of
    /// `steps` steps, `panel` `steps` x 64 weights.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<A: Arith, const R: usize>(
        panel: &[u32],
        a: &[u32],
        steps: usize,
        bias: &[f32],
        col: usize,
        n: usize,
        y: *mut f32,
    ) {
        let mut acc = [[_mm512_setzero_ps(); 4]; R];
        let b = panel.as_ptr();
        let a = a.as_ptr();
        for t in 0..steps {
            let bp = b.add(t * NR);
            let w = [
                _mm512_loadu_si512(bp as *const _),
                _mm512_loadu_si512(bp.add(16) as *const _),
                _mm512_loadu_si512(bp.add(32) as *const _),
                _mm512_loadu_si512(bp.add(48) as *const _),
            ];
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_epi32(*a.add(r * steps + t) as i32);
                for q in 0..4 {
                    acc[q] = A::madd(acc[q], x, w[q]);
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
                _mm512_mask_storeu_ps(y.add(r * n + c), mask, _mm512_add_ps(v, b));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn vector_rounding_matches_scalar() {
        let name = "vector_rounding_matches_scalar";
        if crate::testing::skip_without(name, "AVX-512 BF16", available(Precision::Bf16)) {
            return;
        }
        let src: Vec<f32> = (0..64)
            .map(|i| (i as f32 - 31.5) * 1.000_976_6 / 7.0)
            .collect();
        let mut dst = vec![0u32; 32];
        // SAFETY: checked just above.
        unsafe { x86::pack_bf16(&src, &mut dst) };
        for (p, &d) in dst.iter().enumerate() {
            let want = u32::from(to_bf16(src[2 * p])) | (u32::from(to_bf16(src[2 * p + 1])) << 16);
            assert_eq!(d, want, "pair {p}");
        }
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        assert_eq!(from_bf16(to_bf16(1.0)), 1.0);
        // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: to even.
        assert_eq!(from_bf16(to_bf16(1.0 + 1.0 / 256.0)), 1.0);
        assert_eq!(from_bf16(to_bf16(1.0 + 3.0 / 256.0)), 1.0 + 4.0 / 256.0);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
    }

    /// The fused GELU equals GELU applied afterwards, on the row-block and
    /// the few-rows paths.
    #[test]
    fn fused_gelu_matches_gelu_after() {
        for m in [3, 100] {
            let (k, n) = (64, 130);
            let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
            let w: Vec<f32> = (0..k * n)
                .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
                .collect();
            let bias: Vec<f32> = (0..n).map(|i| i as f32 / n as f32).collect();
            let p = PackedLinear::new(&w, k, n, &bias, Precision::F32);
            let name = "fused_gelu_matches_gelu_after";
            let Some(p) = p else {
                crate::testing::skip_without(name, "AVX-512", false);
                return;
            };
            let fused = p.forward_gelu(&x).unwrap();
            let after = crate::kernels::gelu_erf(&p.forward(&x).unwrap()).unwrap();
            let diff = crate::kernels::tests::max_diff(&fused, &after);
            assert!(diff < 1e-6, "m {m}: {diff}");
        }
    }

    /// Against a plain f32 product (of the bf16-rounded inputs for bf16),
    /// for shapes with row, column and depth tails and several row tasks.
    #[test]
    fn matches_f32_product_of_rounded_inputs() {
        for &(m, k, n) in &[
            (1, 8, 16),
            (7, 33, 70),
            (13, 384, 128),
            (50, 64, 1),
            (100, 40, 65),
            // Few rows, many columns: split by panels across threads.
            (5, 384, 1152),
        ] {
            let val = |i: usize, s: usize| (((i * s) % 997) as f32 / 498.0) - 1.0;
            let x: Vec<f32> = (0..m * k).map(|i| val(i, 7919)).collect();
            let w: Vec<f32> = (0..k * n).map(|i| val(i, 104_729)).collect();
            let bias: Vec<f32> = (0..n).map(|i| val(i, 31)).collect();
            let xt = Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap();
            for precision in [Precision::F32, Precision::Bf16] {
                let Some(packed) = PackedLinear::new(&w, k, n, &bias, precision) else {
                    eprintln!("{precision}: this CPU lacks the instructions, kernel not exercised");
                    continue;
                };
                let y: Vec<f32> = packed
                    .forward(&xt)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let r = |v: f32| match precision {
                    Precision::F32 => v,
                    Precision::Bf16 => from_bf16(to_bf16(v)),
                };
                for i in 0..m {
                    for j in 0..n {
                        let want: f32 = (0..k)
                            .map(|t| r(x[i * k + t]) * r(w[t * n + j]))
                            .sum::<f32>()
                            + bias[j];
                        let got = y[i * n + j];
                        assert!(
                            (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                            "{precision} ({m},{k},{n}) [{i},{j}]: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    use candle_core::Device;

    /// `cargo test --release -p semsearch-models --lib linear::speed -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn own_kernels_against_gemm() {
        for &(m, k, n) in &[
            (8, 384, 1536),
            (4096, 384, 1152),
            (4096, 384, 1536),
            (4096, 1536, 384),
        ] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
            let w = Tensor::randn(0f32, 1.0, (k, n), &Device::Cpu).unwrap();
            let b = vec![0f32; n];
            let wv: Vec<f32> = w.flatten_all().unwrap().to_vec1().unwrap();
            let time = |f: &dyn Fn() -> Tensor| {
                f();
                let t = std::time::Instant::now();
                for _ in 0..5 {
                    f();
                }
                t.elapsed().as_secs_f64() / 5.0
            };
            let gf = 2.0 * (m * k * n) as f64 / 1e9;
            let tg = time(&|| x.matmul(&w).unwrap());
            eprint!(
                "({m},{k},{n}): gemm f32 {:.2} ms ({:.0} GFLOP/s)",
                tg * 1e3,
                gf / tg
            );
            for p in [Precision::F32, Precision::Bf16] {
                if let Some(packed) = PackedLinear::new(&wv, k, n, &b, p) {
                    let t = time(&|| packed.forward(&x).unwrap());
                    eprint!(", own {p} {:.2} ms ({:.0} GFLOP/s)", t * 1e3, gf / t);
                }
            }
            eprintln!();
        }
    }
}
