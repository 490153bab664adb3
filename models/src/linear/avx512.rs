//! AVX-512 kernels: 6 rows x 64 columns per micro-tile (24 accumulators,
//! 4 weight registers and a broadcast fit the 32 vector registers), in f32
//! (FMA), bf16 (`vdpbf16ps`) or int8 (`vpdpbusd`, AVX-512 VNNI).

// The kernels are `unsafe fn`s whose every line is intrinsics and pointer
// arithmetic under the contract their `# Safety` sections state; an
// `unsafe {}` around each whole body would say nothing more.
#![allow(unsafe_op_in_unsafe_fn)]

use std::arch::x86_64::*;

use super::{PackedLinear, Task};

// Rows per micro-tile: 6, in `panels_in_row_tiles!` (mod.rs).
/// Columns per panel (four 16-lane registers).
const NR: usize = 64;

/// One multiply-add step and the store of a finished accumulator.
trait Arith {
    /// `acc += a * b` lane-wise, `a` a broadcast activation step and `b`
    /// a weight step.
    ///
    /// # Safety
    /// The CPU has the instructions of the implementation.
    unsafe fn madd(acc: __m512, a: __m512i, b: __m512i) -> __m512;

    /// The output of 16 lanes from their accumulator: bias added, and for
    /// int8 the offset and both scales applied.
    ///
    /// # Safety
    /// `c + 16` columns are readable where `mask` is set.
    #[inline(always)]
    unsafe fn finish(
        acc: __m512,
        w: &PackedLinear,
        _row_scale: f32,
        c: usize,
        mask: __mmask16,
    ) -> __m512 {
        _mm512_add_ps(acc, _mm512_maskz_loadu_ps(mask, w.bias.as_ptr().add(c)))
    }
}

struct F32;
struct Bf16;
struct Int8;

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

impl Arith for Int8 {
    /// The accumulator's bits are int32 lanes.
    #[inline(always)]
    unsafe fn madd(acc: __m512, a: __m512i, b: __m512i) -> __m512 {
        _mm512_castsi512_ps(_mm512_dpbusd_epi32(_mm512_castps_si512(acc), a, b))
    }

    #[inline(always)]
    unsafe fn finish(
        acc: __m512,
        w: &PackedLinear,
        row_scale: f32,
        c: usize,
        mask: __mmask16,
    ) -> __m512 {
        finish_int8(_mm512_castps_si512(acc), w, row_scale, c, mask)
    }
}

/// `row_scale * col_scale * (acc - corr) + bias` for 16 int32 lanes.
///
/// # Safety
/// AVX-512F; `c + 16` columns readable where `mask` is set.
#[inline(always)]
pub(super) unsafe fn finish_int8(
    acc: __m512i,
    w: &PackedLinear,
    row_scale: f32,
    c: usize,
    mask: __mmask16,
) -> __m512 {
    let corr = _mm512_maskz_loadu_epi32(mask, w.col_corr.as_ptr().add(c));
    let exact = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, corr));
    let scale = _mm512_mul_ps(
        _mm512_set1_ps(row_scale),
        _mm512_maskz_loadu_ps(mask, w.col_scale.as_ptr().add(c)),
    );
    let bias = _mm512_maskz_loadu_ps(mask, w.bias.as_ptr().add(c));
    _mm512_fmadd_ps(exact, scale, bias)
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
pub(super) unsafe fn rows_f32(w: &PackedLinear, t: Task) {
    rows::<F32>(w, t)
}

/// # Safety
/// As [`rows`], on a CPU with AVX-512F and AVX-512 BF16.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn rows_bf16(w: &PackedLinear, t: Task) {
    rows::<Bf16>(w, t)
}

/// # Safety
/// As [`rows`], on a CPU with AVX-512F and AVX-512 VNNI.
#[target_feature(enable = "avx512f,avx512vnni")]
pub(super) unsafe fn rows_int8(w: &PackedLinear, t: Task) {
    rows::<Int8>(w, t)
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

/// `R` rows x 64 columns starting at `col`.
///
/// # Safety
/// As [`rows`]: `y` has `R` rows of `n` writable values, `a` `R` rows of
/// `steps` steps, `panel` `steps` x 64 weights.
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
    let mut acc = [[_mm512_setzero_ps(); 4]; R];
    let b = panel.as_ptr();
    let a = a.as_ptr();
    for t in 0..steps {
        let bp = b.add(t * NR);
        let wv = [
            _mm512_loadu_si512(bp as *const _),
            _mm512_loadu_si512(bp.add(16) as *const _),
            _mm512_loadu_si512(bp.add(32) as *const _),
            _mm512_loadu_si512(bp.add(48) as *const _),
        ];
        for (r, acc) in acc.iter_mut().enumerate() {
            let x = _mm512_set1_epi32(*a.add(r * steps + t) as i32);
            for q in 0..4 {
                acc[q] = A::madd(acc[q], x, wv[q]);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let scale = row_scale.get(r).copied().unwrap_or(1.0);
        for (q, &v) in acc.iter().enumerate() {
            let c = col + 16 * q;
            if c >= n {
                break;
            }
            let mask = lane_mask(n - c);
            _mm512_mask_storeu_ps(y.add(r * n + c), mask, A::finish(v, w, scale, c, mask));
        }
    }
}

/// The first `lanes` of 16 (all of them from 16 up).
#[inline(always)]
pub(super) fn lane_mask(lanes: usize) -> __mmask16 {
    if lanes >= 16 {
        0xffff
    } else {
        (1u16 << lanes) - 1
    }
}
