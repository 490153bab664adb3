//! CPU kernels for ops where candle's generic CPU path is slow. Each one is
//! a candle custom op with the same result as the candle expression it
//! replaces (unit tests compare them); other devices use that expression.
//!
//! Why (perf, all-MiniLM-L6-v2, 2 cores): candle runs GELU on one thread with
//! a scalar `erf`, and softmax with a scalar `expf` after a separate
//! mask-add pass; together ~30% of BERT time. The kernels below use
//! branch-free polynomial approximations that the compiler vectorises, run
//! in parallel, and fold the padding mask into the softmax.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::parallel;

/// Elements per parallel task: big enough to amortise scheduling.
const CHUNK: usize = 8192;

/// erf for f32 as a rational function of x (Eigen's `generic_fast_erf`
/// coefficients), accurate to a few ulp; exactly ±1 beyond |x| = 4.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = p * x2 + -2.101_024e-6;
    p = p * x2 + -5.692_506_4e-5;
    p = p * x2 + -7.349_906_3e-4;
    p = p * x2 + -2.954_6e-3;
    p = p * x2 + -1.609_603_3e-2;
    p *= x;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = q * x2 + -1.682_827e-3;
    q = q * x2 + -7.373_329e-3;
    q = q * x2 + -1.426_474e-2;
    p / q
}

/// e^x for x <= 0 (softmax after subtracting the max): Cody-Waite range
/// reduction and a degree-6 polynomial, ~1 ulp; 0 below -87.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Round to nearest with the 1.5 * 2^23 trick: plain adds, so it vectorises
    // without SSE4.1's roundps.
    const MAGIC: f32 = 12_582_912.0;
    let tiny = x < -87.0;
    let x = x.max(-87.0);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_66;
    p = p * r + 0.5;
    p = p * r * r + r + 1.0;
    // 2^n from t's bits: t = MAGIC + n with n in [-126, 0] shares MAGIC's
    // exponent, so the bit patterns differ by exactly n. (`n as i32` would
    // be a saturating conversion that keeps the loop scalar.)
    let n_int = t.to_bits().wrapping_sub(MAGIC.to_bits());
    let y = p * f32::from_bits(n_int.wrapping_add(127) << 23);
    // A select, not a branch: the loop still vectorises.
    if tiny {
        0.0
    } else {
        y
    }
}

/// Run `f` compiled for AVX-512 (16 lanes) or AVX2+FMA (8 lanes) when the
/// CPU has them, else for the baseline; `SEMSEARCH_KERNELS` caps the
/// choice like it caps the matrix kernels.
macro_rules! dispatch {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        dispatch!($(#[$attr])* $vis $name($($arg: $ty),*) $(-> $ret)? $body);
    };
    ($(#[$attr:meta])* $vis:vis $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        $(#[$attr])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
                unsafe fn wide($($arg: $ty),*) $(-> $ret)? $body
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast($($arg: $ty),*) $(-> $ret)? $body
                match crate::cpu::vector_width() {
                    // SAFETY: `vector_width` only reports what the CPU has.
                    16 => return unsafe { wide($($arg),*) },
                    // SAFETY: as above.
                    8 => return unsafe { fast($($arg),*) },
                    _ => {}
                }
            }
            $body
        }
    };
}

dispatch!(
    /// `q . v` for byte vectors, in sixteen running integer sums so that
    /// it vectorises into 16-bit multiply-adds; compiled for the CPU's
    /// vectors (the search's byte vectors, e.g. LSA's: widened to f32 on
    /// the x86-64 baseline, a million-document ranking took 150 ms).
    pub fn dot_i8(q: &[i8], v: &[i8]) -> i32 {
        const L: usize = 16;
        let (qc, vc) = (q.chunks_exact(L), v.chunks_exact(L));
        let tail: i32 = qc
            .remainder()
            .iter()
            .zip(vc.remainder())
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum();
        let mut acc = [0i32; L];
        for (a, b) in qc.zip(vc) {
            for l in 0..L {
                acc[l] += i32::from(a[l]) * i32::from(b[l]);
            }
        }
        acc.iter().sum::<i32>() + tail
    }
);

#[inline(always)]
fn gelu(v: f32) -> f32 {
    0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2))
}

dispatch!(gelu_slice(src: &[f32], dst: &mut [f32]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        *d = gelu(v);
    }
});

dispatch!(pub(crate) gelu_in_place(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = gelu(*v);
    }
});

/// The largest value of a row, in LANES partial maxima (a single running
/// max would keep the loop scalar: see below).
#[inline(always)]
fn row_max(live: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut maxes = [f32::NEG_INFINITY; LANES];
    let chunks = live.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for c in chunks {
        for (m, &v) in maxes.iter_mut().zip(c) {
            *m = if v > *m { v } else { *m };
        }
    }
    maxes.iter().fold(tail, |m, &v| m.max(v))
}

// Softmax of `row[..len]` in place; `row[len..]` (padded keys) becomes 0.
// The reductions keep LANES partial results: floating-point adds may not be
// reordered, so a single running sum (or max) would keep the loops scalar.
dispatch!(pub(crate) masked_softmax_row(row: &mut [f32], len: usize) {
    const LANES: usize = 16;
    let (live, dead) = row.split_at_mut(len);
    let max = row_max(live);
    for v in live.iter_mut() {
        *v = exp_nonpositive(*v - max);
    }
    let mut sums = [0f32; LANES];
    let chunks = live.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (s, &v) in sums.iter_mut().zip(c) {
            *s += v;
        }
    }
    let sum = sums.iter().sum::<f32>() + tail;
    let inv = 1.0 / sum;
    for v in live.iter_mut() {
        *v *= inv;
    }
    dead.fill(0.0);
});

/// e^x for x <= 0 to about 1e-4 relative: the range reduction of
/// [`exp_nonpositive`] with a degree-4 Taylor polynomial, for results that
/// are rounded to bf16 (2^-9) anyway.
#[inline(always)]
fn exp_nonpositive_bf16(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2: f32 = std::f32::consts::LN_2;
    const MAGIC: f32 = 12_582_912.0;
    let tiny = x < -87.0;
    let x = x.max(-87.0);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * LN2;
    let p = (((r * (1.0 / 24.0) + 1.0 / 6.0) * r + 0.5) * r + 1.0) * r + 1.0;
    let n_int = t.to_bits().wrapping_sub(MAGIC.to_bits());
    let y = p * f32::from_bits(n_int.wrapping_add(127) << 23);
    if tiny {
        0.0
    } else {
        y
    }
}

// Softmax of `row[..len]` in place for a bf16 product next (attention on
// AMX): the cheaper exponential, and the sum taken in the same pass;
// `row[len..]` becomes 0.
dispatch!(pub(crate) softmax_row_for_bf16(row: &mut [f32], len: usize) {
    const LANES: usize = 16;
    let (live, dead) = row.split_at_mut(len);
    let max = row_max(live);
    let mut sums = [0f32; LANES];
    let mut chunks = live.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for (s, v) in sums.iter_mut().zip(c.iter_mut()) {
            *v = exp_nonpositive_bf16(*v - max);
            *s += *v;
        }
    }
    let mut tail = 0.0;
    for v in chunks.into_remainder() {
        *v = exp_nonpositive_bf16(*v - max);
        tail += *v;
    }
    let inv = 1.0 / (sums.iter().sum::<f32>() + tail);
    for v in live.iter_mut() {
        *v *= inv;
    }
    dead.fill(0.0);
});

pub(crate) fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op}: expected f32")
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{op}: expected a contiguous tensor")
    };
    Ok(&data[start..end])
}

/// A LayerNorm's parameters, kept as plain rows for the fused op.
#[derive(Debug, Clone)]
pub struct NormRows {
    /// Scale (gamma), one per feature.
    pub weight: Vec<f32>,
    /// Shift (beta), one per feature.
    pub bias: Vec<f32>,
    /// Added to the variance.
    pub eps: f32,
}

/// `LayerNorm(a + b)` over the last dimension: BERT's residual add and
/// norm in one pass over each row. Candle's add ran on its own spinning
/// thread pool beside rayon's (10% of an AMX passage run was its barrier
/// wait on 2 vCPUs) and the norm read the sum back from memory.
pub fn add_layer_norm(a: &Tensor, b: &Tensor, norm: &NormRows) -> Result<Tensor> {
    a.contiguous()?
        .apply_op2_no_bwd(&b.contiguous()?, &AddLayerNorm { norm })
}

struct AddLayerNorm<'a> {
    norm: &'a NormRows,
}

/// Rows per rayon task: a few KB each, enough to amortise the hand-off.
const NORM_ROWS: usize = 16;

impl candle_core::CustomOp2 for AddLayerNorm<'_> {
    fn name(&self) -> &'static str {
        "semsearch-add-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (a, b) = (
            contiguous_f32(s1, l1, self.name())?,
            contiguous_f32(s2, l2, self.name())?,
        );
        let h = self.norm.weight.len();
        if l1.shape() != l2.shape() || h == 0 || a.len() % h != 0 {
            candle_core::bail!(
                "{}: shapes {:?} and {:?} for {h} features",
                self.name(),
                l1.shape(),
                l2.shape()
            )
        }
        let mut out = vec![0f32; a.len()];
        let n = self.norm;
        out.par_chunks_mut(h * NORM_ROWS)
            .zip(a.par_chunks(h * NORM_ROWS).zip(b.par_chunks(h * NORM_ROWS)))
            .with_min_len(parallel::min_len())
            .for_each(|(o, (a, b))| {
                for ((o, a), b) in o.chunks_mut(h).zip(a.chunks(h)).zip(b.chunks(h)) {
                    add_norm_row(a, b, o, &n.weight, &n.bias, n.eps);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

// Sixteen running sums, not one chain, so the reductions vectorise; mean
// and variance in two passes over the row in cache (as candle's own norm:
// the one-pass form loses digits on rows with a large mean).
dispatch!(add_norm_row(a: &[f32], b: &[f32], out: &mut [f32], w: &[f32], beta: &[f32], eps: f32) {
    const L: usize = 16;
    // Fixed-size lanes (arrays, not indexing): no bounds checks in the
    // loops, so they compile to vector adds.
    let lanes = |x: &[f32]| -> [f32; L] { x.try_into().expect("L lanes") };
    let h = out.len();
    let whole = h / L * L;
    let mut acc = [0f32; L];
    for ((o, x), y) in out[..whole]
        .chunks_exact_mut(L)
        .zip(a.chunks_exact(L))
        .zip(b.chunks_exact(L))
    {
        let (x, y) = (lanes(x), lanes(y));
        for l in 0..L {
            let v = x[l] + y[l];
            o[l] = v;
            acc[l] += v;
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in whole..h {
        out[i] = a[i] + b[i];
        sum += out[i];
    }
    let mean = sum / h as f32;
    let mut acc = [0f32; L];
    for o in out[..whole].chunks_exact(L) {
        let o = lanes(o);
        for l in 0..L {
            let d = o[l] - mean;
            acc[l] += d * d;
        }
    }
    let tail: f32 = out[whole..].iter().map(|v| (v - mean) * (v - mean)).sum();
    let inv = 1.0 / ((acc.iter().sum::<f32>() + tail) / h as f32 + eps).sqrt();
    for ((o, g), bb) in out.iter_mut().zip(w).zip(beta) {
        *o = (*o - mean) * inv * g + bb;
    }
});

/// GELU with the exact erf form, `0.5 x (1 + erf(x / sqrt 2))`, as BERT uses.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        x.contiguous()?.apply_op1_no_bwd(&GeluErf)
    } else {
        x.gelu_erf()
    }
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "semsearch-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(storage, layout, self.name())?;
        let mut dst = vec![0f32; src.len()];
        dst.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .with_min_len(parallel::min_len())
            .for_each(|(d, s)| gelu_slice(s, d));
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}

/// Softmax over the last dimension of attention scores (batch, heads, q, k),
/// where keys at or beyond `lengths[batch]` are padding and get weight 0.
/// Equivalent to adding a `-inf` mask bias and calling softmax.
pub fn masked_softmax(scores: &Tensor, lengths: &[usize], mask_bias: &Tensor) -> Result<Tensor> {
    if scores.device().is_cpu() && scores.dtype() == candle_core::DType::F32 {
        scores
            .contiguous()?
            .apply_op1_no_bwd(&MaskedSoftmax { lengths })
    } else {
        candle_nn::ops::softmax_last_dim(&scores.broadcast_add(mask_bias)?)
    }
}

struct MaskedSoftmax<'a> {
    lengths: &'a [usize],
}

impl CustomOp1 for MaskedSoftmax<'_> {
    fn name(&self) -> &'static str {
        "semsearch-masked-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(storage, layout, self.name())?;
        let (b, _, _, k) = layout.shape().dims4()?;
        if self.lengths.len() != b || self.lengths.iter().any(|&l| l == 0 || l > k) {
            candle_core::bail!(
                "{}: lengths {:?} do not fit {:?}",
                self.name(),
                self.lengths,
                layout.shape()
            )
        }
        let per_batch = src.len() / b;
        let mut dst = src.to_vec();
        dst.par_chunks_mut(per_batch)
            .zip(self.lengths)
            .with_min_len(parallel::min_len())
            .for_each(|(batch, &len)| {
                batch
                    .par_chunks_mut(k)
                    .with_min_len(parallel::min_len())
                    .for_each(|row| masked_softmax_row(row, len));
            });
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::{Device, D};

    pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn erf_and_exp_are_accurate() {
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            let want = candle_core::cpu::erf::erf_f32(x);
            assert!(
                (erf(x) - want).abs() < 5e-7,
                "erf({x}) = {} want {want}",
                erf(x)
            );
            if x <= 0.0 {
                let want = (x * 15.0).exp();
                let fast = exp_nonpositive_bf16(x * 15.0);
                assert!(
                    (fast - want).abs() <= want * 1e-4 + 1e-37,
                    "fast exp({})",
                    x * 15.0
                );
                let (got, want) = (exp_nonpositive(x * 15.0), want);
                assert!(
                    (got - want).abs() <= want * 3e-7 + 1e-37,
                    "exp({})",
                    x * 15.0
                );
            }
        }
    }

    #[test]
    fn gelu_kernel_matches_candle() {
        let v: Vec<f32> = (0..20_000)
            .map(|i| (i as f32 - 10_000.0) / 1400.0)
            .collect();
        let x = Tensor::from_vec(v, (200, 100), &Device::Cpu).unwrap();
        assert!(max_diff(&gelu_erf(&x).unwrap(), &x.gelu_erf().unwrap()) < 1e-6);
    }

    #[test]
    fn masked_softmax_matches_mask_then_softmax() {
        let (b, h, s) = (3, 2, 7);
        let v: Vec<f32> = (0..b * h * s * s)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let scores = Tensor::from_vec(v, (b, h, s, s), &Device::Cpu).unwrap();
        let lengths = [7, 3, 1];
        let bias = crate::bert::Mask::new(&lengths, s, &Device::Cpu)
            .unwrap()
            .bias;
        let ours = masked_softmax(&scores, &lengths, &bias).unwrap();
        let theirs =
            candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&bias).unwrap()).unwrap();
        assert!(max_diff(&ours, &theirs) < 1e-6);
        let sums = ours
            .sum(D::Minus1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5));
    }
}
