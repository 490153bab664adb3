//! AVX2 kernels: the AVX-512 design on 8-lane registers, 6 rows x 16
//! columns per micro-tile (12 accumulators, 2 weight registers and a
//! broadcast fit the 16 vector registers), panels 16 columns wide. f32 with
//! FMA; int8 with AVX-VNNI's `vpdpbusd` (Intel since Alder Lake, AMD since
//! Zen 5), four multiply-adds per lane per instruction, and without it
//! with plain AVX2's `vpmaddwd` on 16-bit pairs of the same values.

// As in avx512.rs: every line of these `unsafe fn`s is intrinsics and
// pointer arithmetic under the contract of their `# Safety` sections.
#![allow(unsafe_op_in_unsafe_fn)]

use std::arch::x86_64::*;

use super::{PackedLinear, Task};

// Rows per micro-tile: 6, in `panels_in_row_tiles!` (mod.rs).
/// Columns per panel (two 8-lane registers).
const NR: usize = 16;

/// One multiply-add step and the finish of 8 lanes.
trait Arith {
    /// The 16 columns' weights of step `t` as two 8-lane registers.
    ///
    /// # Safety
    /// The CPU has AVX2; the panel holds step `t`.
    #[inline(always)]
    unsafe fn weights(panel: *const u32, t: usize) -> [__m256i; 2] {
        let bp = panel.add(t * NR);
        [
            _mm256_loadu_si256(bp.cast()),
            _mm256_loadu_si256(bp.add(8).cast()),
        ]
    }

    /// `acc += a * b` lane-wise, `a` a broadcast activation step.
    ///
    /// # Safety
    /// The CPU has the instructions of the implementation.
    unsafe fn madd(acc: __m256, a: __m256i, b: __m256i) -> __m256;

    /// 8 outputs from their accumulator: bias added (int8: offset and
    /// scales applied); `mask` selects the columns that exist.
    ///
    /// # Safety
    /// The CPU has AVX2; columns `c..c + 8` are readable where `mask` is set.
    unsafe fn finish(
        acc: __m256,
        w: &PackedLinear,
        row_scale: f32,
        c: usize,
        mask: __m256i,
    ) -> __m256;
}

struct F32;
struct Int8;
/// int8 on plain AVX2 (Haswell to Comet Lake, AMD Zen 1 to 4 without
/// AVX-512). Its byte product `vpmaddubsw` adds pairs into saturating 16
/// bits: on the `q + 128` bytes a pair reaches 255 x 127 x 2 and
/// saturates, and undoing the offset on the fly (magnitude times the
/// sign moved onto the weight, `vpsignb`) cost three port-0/1 operations
/// per 32 products (1.13x f32, measured). So here the values are 16-bit
/// pairs (`PackedLinear::pairs`) and `vpmaddwd` multiplies and adds
/// them into 32 bits: 16 products per operation, exact, no correction.
/// The weights stay bytes in memory (`vpmovsxbw` widens them as they are
/// loaded): 16-bit weights were 44 MB for MiniLM, past the L3 of a Zen 4
/// CCD, and a short query read them from memory (3 ms against 0.7 on
/// the same CPU's AVX-512 int8, measured).
struct Int8Pairs;

impl Arith for F32 {
    #[inline(always)]
    unsafe fn madd(acc: __m256, a: __m256i, b: __m256i) -> __m256 {
        _mm256_fmadd_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), acc)
    }

    #[inline(always)]
    unsafe fn finish(acc: __m256, w: &PackedLinear, _: f32, c: usize, mask: __m256i) -> __m256 {
        _mm256_add_ps(acc, _mm256_maskload_ps(w.bias.as_ptr().add(c), mask))
    }
}

impl Arith for Int8 {
    /// The accumulator's bits are int32 lanes.
    #[inline(always)]
    unsafe fn madd(acc: __m256, a: __m256i, b: __m256i) -> __m256 {
        _mm256_castsi256_ps(_mm256_dpbusd_avx_epi32(_mm256_castps_si256(acc), a, b))
    }

    #[inline(always)]
    unsafe fn finish(
        acc: __m256,
        w: &PackedLinear,
        row_scale: f32,
        c: usize,
        mask: __m256i,
    ) -> __m256 {
        let corr = _mm256_maskload_epi32(w.col_corr.as_ptr().add(c), mask);
        let exact = _mm256_sub_epi32(_mm256_castps_si256(acc), corr);
        dequantize(exact, w, row_scale, c, mask)
    }
}

impl Arith for Int8Pairs {
    /// A step is 16 columns' byte pairs (`NR / 2` lanes), widened here.
    #[inline(always)]
    unsafe fn weights(panel: *const u32, t: usize) -> [__m256i; 2] {
        let bp = panel.add(t * NR / 2);
        [
            _mm256_cvtepi8_epi16(_mm_loadu_si128(bp.cast())),
            _mm256_cvtepi8_epi16(_mm_loadu_si128(bp.add(4).cast())),
        ]
    }

    #[inline(always)]
    unsafe fn madd(acc: __m256, a: __m256i, b: __m256i) -> __m256 {
        let pairs = _mm256_madd_epi16(a, b);
        _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(acc), pairs))
    }

    #[inline(always)]
    unsafe fn finish(
        acc: __m256,
        w: &PackedLinear,
        row_scale: f32,
        c: usize,
        mask: __m256i,
    ) -> __m256 {
        dequantize(_mm256_castps_si256(acc), w, row_scale, c, mask)
    }
}

/// Exact int32 sums of 8 columns back to f32: times the row's and each
/// column's scale, plus the bias.
///
/// # Safety
/// The CPU has AVX2 and FMA; columns `c..c + 8` are readable where `mask`
/// is set.
#[inline(always)]
unsafe fn dequantize(
    exact: __m256i,
    w: &PackedLinear,
    row_scale: f32,
    c: usize,
    mask: __m256i,
) -> __m256 {
    let scale = _mm256_mul_ps(
        _mm256_set1_ps(row_scale),
        _mm256_maskload_ps(w.col_scale.as_ptr().add(c), mask),
    );
    _mm256_fmadd_ps(
        _mm256_cvtepi32_ps(exact),
        scale,
        _mm256_maskload_ps(w.bias.as_ptr().add(c), mask),
    )
}

/// # Safety
/// As [`rows`], on a CPU with AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn rows_f32(w: &PackedLinear, t: Task) {
    rows::<F32>(w, t)
}

/// # Safety
/// As [`rows`], on a CPU with AVX2, FMA and AVX-VNNI.
#[target_feature(enable = "avx2,fma,avxvnni")]
pub(super) unsafe fn rows_int8(w: &PackedLinear, t: Task) {
    rows::<Int8>(w, t)
}

/// # Safety
/// As [`rows`], on a CPU with AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn rows_int8_pairs(w: &PackedLinear, t: Task) {
    rows::<Int8Pairs>(w, t)
}

/// The task's panels for its rows.
///
/// # Safety
/// `t.y` points to `t.rows` x `w.n` writable f32s that no other thread
/// writes in these panels' columns; `t.a` holds `t.rows * w.steps` steps
/// (and `t.row_scale` a scale per row for int8); the CPU has `A`'s
/// instructions.
#[inline(always)]
unsafe fn rows<A: Arith>(w: &PackedLinear, t: Task) {
    panels_in_row_tiles!(w, t, NR, tile::<A>)
}

/// `R` rows x 16 columns starting at `col`.
///
/// # Safety
/// As [`rows`]: `y` has `R` rows of `n` writable values, `a` `R` rows of
/// `steps` steps, `panel` `steps` x 16 weights.
#[inline(always)]
unsafe fn tile<A: Arith, const R: usize>(
    w: &PackedLinear,
    panel: &[u32],
    a: &[u32],
    row_scale: &[f32],
    col: usize,
    y: *mut f32,
) {
    let (steps, n) = (w.steps, w.n);
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    let b = panel.as_ptr();
    let a = a.as_ptr();
    for t in 0..steps {
        let [w0, w1] = A::weights(b, t);
        for (r, acc) in acc.iter_mut().enumerate() {
            let x = _mm256_set1_epi32(*a.add(r * steps + t) as i32);
            acc[0] = A::madd(acc[0], x, w0);
            acc[1] = A::madd(acc[1], x, w1);
        }
    }
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (r, acc) in acc.iter().enumerate() {
        let scale = row_scale.get(r).copied().unwrap_or(1.0);
        for (q, &v) in acc.iter().enumerate() {
            let c = col + 8 * q;
            if c >= n {
                break;
            }
            // Lanes below the columns left (all 8 from 8 up).
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((n - c).min(8) as i32), lane);
            _mm256_maskstore_ps(y.add(r * n + c), mask, A::finish(v, w, scale, c, mask));
        }
    }
}
