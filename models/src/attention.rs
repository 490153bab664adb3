//! Fused multi-head self-attention for the CPU.
//!
//! candle's generic path permutes Q/K/V into head-major copies, runs one
//! small gemm per (item, head) with gemm's own threading, materialises the
//! full (batch, heads, seq, seq) score tensor, adds the mask in a separate
//! pass, then transposes the context back. Here each (item, head) pair is
//! one task on the rayon pool: two single-threaded gemms read Q, K and V in
//! place from the packed QKV rows, the scores live in a per-thread buffer
//! that fits in L2, and padded positions are skipped altogether.
//!
//! On AMX (bf16 or int8 models) the two products run on tiles in bf16
//! instead ([`amx_head`]): Q, K and V are rounded to bf16 and laid out as
//! tiles once per (item, head), the scores are summed in f32, softmaxed in
//! f32, rounded to bf16 and multiplied by V on tiles again: the error of
//! rounding the inputs, as in the linear layers.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use crate::kernels::{contiguous_f32, masked_softmax_row};
use crate::parallel;

/// Whether the fused kernel can run on this tensor.
pub fn supported(qkv: &Tensor) -> bool {
    qkv.device().is_cpu() && qkv.dtype() == candle_core::DType::F32
}

/// `qkv`: (batch * seq, 3 * hidden), rows `[q | k | v]` with the 1/sqrt(d)
/// scale already in q; `lengths`: real tokens per item (right padding).
/// Returns the attention context, (batch * seq, hidden); rows of padded
/// tokens are zero (they are never pooled).
/// `products`: what runs each head's two products.
pub fn attention(
    qkv: &Tensor,
    lengths: &[usize],
    heads: usize,
    products: Products,
) -> Result<Tensor> {
    qkv.contiguous()?.apply_op1_no_bwd(&Attention {
        lengths,
        heads,
        products,
    })
}

/// What runs a head's two products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Products {
    /// The gemm crate in f32, on the best kernels the CPU has.
    Gemm,
    /// 8-lane AVX2 + FMA in f32 (the AVX2 family; the caller checked the
    /// CPU and [`Products::fits`]).
    Lanes8,
    /// AMX tiles in bf16 (the caller checked that the CPU has AMX and that
    /// the head width is a multiple of 32).
    Tiles,
}

impl Products {
    /// Whether [`Products::Lanes8`] takes heads of width `d`.
    pub fn fits(d: usize) -> bool {
        #[cfg(target_arch = "x86_64")]
        return lanes8::fits(d);
        #[cfg(not(target_arch = "x86_64"))]
        return false;
    }
}

struct Attention<'a> {
    lengths: &'a [usize],
    heads: usize,
    products: Products,
}

/// A pointer that tasks write through, each to its own rows and columns.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: every task writes a disjoint (rows, head columns) block.
unsafe impl Send for Out {}
// SAFETY: as above: shared only to hand out disjoint blocks.
unsafe impl Sync for Out {}

impl CustomOp1 for Attention<'_> {
    fn name(&self) -> &'static str {
        "semsearch-attention"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(storage, layout, self.name())?;
        let (rows, three_h) = layout.shape().dims2()?;
        let b = self.lengths.len();
        let (h, heads) = (three_h / 3, self.heads);
        let d = h / heads;
        if b == 0 || rows % b != 0 || three_h % 3 != 0 || h % heads != 0 {
            candle_core::bail!(
                "{}: shape {:?} does not fit {b} items x {heads} heads",
                self.name(),
                layout.shape()
            )
        }
        let s = rows / b;
        if self.lengths.iter().any(|&l| l == 0 || l > s) {
            candle_core::bail!(
                "{}: lengths {:?} do not fit seq {s}",
                self.name(),
                self.lengths
            )
        }
        // Every real row is written by the tasks below and every padded row
        // zeroed after them: no zeroing pass over the whole output.
        let mut out: Vec<f32> = Vec::with_capacity(rows * h);
        let out_ptr = Out(out.as_mut_ptr());
        #[cfg(target_arch = "x86_64")]
        if self.products == Products::Tiles {
            (0..b * heads)
                .into_par_iter()
                .with_min_len(parallel::min_len())
                .for_each_init(amx_head::Buffers::default, |bufs, job| {
                    let (item, head) = (job / heads, job % heads);
                    let first = item * s * three_h + head * d;
                    let dst = out_ptr;
                    let geometry = amx_head::Geometry {
                        len: self.lengths[item],
                        d,
                        row_stride: three_h,
                        h,
                    };
                    // SAFETY: `tiles` is only set where the CPU has AMX;
                    // this task writes only its block of `out` (rows
                    // item*s..item*s+len, columns head*d..+d).
                    unsafe {
                        amx_head::run(
                            bufs,
                            &src[first..],
                            geometry,
                            dst.0.add(item * s * h + head * d),
                        )
                    };
                });
        }
        #[cfg(target_arch = "x86_64")]
        if self.products == Products::Lanes8 && lanes8::fits(d) {
            (0..b * heads)
                .into_par_iter()
                .with_min_len(parallel::min_len())
                .for_each_init(
                    || (Vec::new(), Vec::new()),
                    |(kt, scores), job| {
                        let (item, head) = (job / heads, job % heads);
                        let first = item * s * three_h + head * d;
                        let (q, k, v) = (&src[first..], &src[first + h..], &src[first + 2 * h..]);
                        let dst = out_ptr;
                        // SAFETY: the family was checked to run here; the
                        // rows stay inside `src`, and this task writes only
                        // its block of `out` (rows item*s.., columns head*d..).
                        unsafe {
                            lanes8::head(
                                (q, k, v),
                                (three_h, d, self.lengths[item], h),
                                kt,
                                scores,
                                dst.0.add(item * s * h + head * d),
                            )
                        };
                    },
                );
        }
        let gemm_runs = match self.products {
            Products::Gemm => true,
            Products::Lanes8 => !cfg!(target_arch = "x86_64") || !Products::fits(d),
            Products::Tiles => !cfg!(target_arch = "x86_64"),
        };
        if gemm_runs {
            (0..b * heads)
                .into_par_iter()
                .with_min_len(parallel::min_len())
                .for_each_init(Vec::<f32>::new, |scores, job| {
                    let (item, head) = (job / heads, job % heads);
                    let len = self.lengths[item];
                    // Grown, never cleared: the product overwrites it.
                    if scores.len() < len * len {
                        scores.resize(len * len, 0.0);
                    }
                    let scores = &mut scores[..len * len];
                    let first = item * s * three_h + head * d;
                    let (q, k, v) = (&src[first..], &src[first + h..], &src[first + 2 * h..]);
                    let rs = three_h as isize;
                    // SAFETY: the strides and sizes stay inside `src`, `scores` and
                    // this task's block of `out` (rows item*s.., columns head*d..).
                    unsafe {
                        // scores (len x len) = q (len x d) . k^T (d x len)
                        gemm(
                            len,
                            len,
                            d,
                            scores.as_mut_ptr(),
                            1,
                            len as isize,
                            false,
                            q.as_ptr(),
                            1,
                            rs,
                            k.as_ptr(),
                            rs,
                            1,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            Parallelism::None,
                        );
                    }
                    for row in scores.chunks_mut(len) {
                        masked_softmax_row(row, len);
                    }
                    let dst = out_ptr;
                    // SAFETY: as for the scores above: the strides and sizes stay
                    // inside `scores`, `v` and this task's block of `out`.
                    unsafe {
                        // ctx (len x d) = probs (len x len) . v (len x d)
                        gemm(
                            len,
                            d,
                            len,
                            dst.0.add(item * s * h + head * d),
                            1,
                            h as isize,
                            false,
                            scores.as_ptr(),
                            1,
                            len as isize,
                            v.as_ptr(),
                            1,
                            rs,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            Parallelism::None,
                        );
                    }
                });
        }
        for (item, &len) in self.lengths.iter().enumerate() {
            let pad = (item * s + len) * h..(item + 1) * s * h;
            // SAFETY: inside the allocation of rows x h; no task writes
            // padded rows.
            unsafe { std::ptr::write_bytes(out_ptr.0.add(pad.start), 0, pad.len()) };
        }
        // SAFETY: every element was written: real rows by the tasks (each
        // head's columns), padded rows just above.
        unsafe { out.set_len(rows * h) };
        Ok((CpuStorage::F32(out), Shape::from((rows, h))))
    }
}

/// One (item, head) of attention on AMX tiles, in bf16.
#[cfg(target_arch = "x86_64")]
// As in the linear kernels: `run` is tile instructions and pointer
// arithmetic under the contract of its `# Safety` section.
#[allow(unsafe_op_in_unsafe_fn)]
mod amx_head {
    use crate::kernels::softmax_row_for_bf16;
    use crate::linear::amx::Tiles;
    use crate::linear::{pack_bf16_row, Aligned};

    /// Per-thread buffers, grown as needed and reused across tasks.
    #[derive(Default)]
    pub(super) struct Buffers {
        /// Q rows in bf16 pairs (A tiles of the scores). All buffers
        /// start on a cache line, as tile rows must not straddle two.
        q: Aligned,
        /// K transposed into B tiles: per 16 keys and 32 dimensions, 16
        /// dimension pairs x 16 keys.
        kt: Aligned,
        /// V in B tiles: per 32 keys and 16 dimensions, 16 key pairs x 16
        /// dimensions.
        vt: Aligned,
        /// K's then V's rows in bf16 pairs.
        rounded: Aligned,
        /// f32 bit patterns.
        scores: Aligned,
        /// Softmaxed scores in bf16 pairs (A tiles of the context).
        probs: Aligned,
    }

    /// Where one head's inputs are and how big they are.
    pub(super) struct Geometry {
        /// Real tokens of the item.
        pub(super) len: usize,
        /// Head width (a multiple of 32).
        pub(super) d: usize,
        /// f32s between two tokens' QKV rows.
        pub(super) row_stride: usize,
        /// Hidden width: Q at 0, K at h, V at 2h of each row; also the
        /// output's row stride.
        pub(super) h: usize,
    }

    /// One stored C tile.
    #[repr(C, align(64))]
    struct TileOut([f32; 256]);

    /// # Safety
    /// The CPU has AMX with the tile permission; `src` holds `len` rows of
    /// `row_stride` from this head's Q column; `out` has `len` rows of `h`
    /// writable f32s from this head's first column, written by no one else.
    pub(super) unsafe fn run(b: &mut Buffers, src: &[f32], g: Geometry, out: *mut f32) {
        let Geometry {
            len,
            d,
            row_stride: rs,
            h,
        } = g;
        let lp = len.next_multiple_of(32);
        let (chunks, blocks) = (d / 32, d / 16);
        let rows = len.div_ceil(16) * 16;
        let q = b.q.grow(lp * d / 2);
        for (r, q) in q.chunks_mut(d / 2).enumerate() {
            match r < len {
                true => pack_bf16_row(&src[r * rs..r * rs + d], q),
                false => q.fill(0),
            }
        }
        // K and V rows rounded with the vector instruction first, then only
        // moved into tiles (rounding element by element was 40% of this
        // function).
        let rounded = b.rounded.grow(2 * lp * d / 2);
        let (kr, vr) = rounded.split_at_mut(lp * d / 2);
        for (j, (k, v)) in kr.chunks_mut(d / 2).zip(vr.chunks_mut(d / 2)).enumerate() {
            if j < len {
                pack_bf16_row(&src[j * rs + h..j * rs + h + d], k);
                pack_bf16_row(&src[j * rs + 2 * h..j * rs + 2 * h + d], v);
            } else {
                k.fill(0);
                v.fill(0);
            }
        }
        let kt = b.kt.grow(lp * d / 2);
        for (j, k) in kr.chunks(d / 2).enumerate() {
            for (p, &v) in k.iter().enumerate() {
                kt[(((j / 16) * chunks + p / 16) * 16 + p % 16) * 16 + j % 16] = v;
            }
        }
        let vt = b.vt.grow(lp * d / 2);
        // V's bf16 values, row by row: (key t, dimension c) at t * d + c.
        let vh = |t: usize, c: usize| {
            let pair = vr[t * d / 2 + c / 2];
            (if c.is_multiple_of(2) {
                pair
            } else {
                pair >> 16
            }) & 0xffff
        };
        for p in 0..lp / 2 {
            for c in 0..d {
                vt[(((p / 16) * blocks + c / 16) * 16 + p % 16) * 16 + c % 16] =
                    vh(2 * p, c) | (vh(2 * p + 1, c) << 16);
            }
        }
        let scores = b.scores.grow(rows * lp);
        // SAFETY: f32 and u32 have the same size and alignment, and every
        // bit pattern is a valid f32.
        let scores: &mut [f32] =
            std::slice::from_raw_parts_mut(scores.as_mut_ptr().cast(), scores.len());
        let tiles = Tiles::configure();
        for qb in 0..rows / 16 {
            for kb in 0..lp / 16 {
                tiles.dot_bf16(
                    q.as_ptr().add(qb * 16 * d / 2).cast(),
                    d * 2,
                    kt.as_ptr().add(kb * chunks * 256).cast(),
                    1024,
                    chunks,
                    scores.as_mut_ptr().add(qb * 16 * lp + kb * 16),
                    lp * 4,
                );
            }
        }
        let probs = b.probs.grow(rows * lp / 2);
        for (r, (row, p)) in scores
            .chunks_mut(lp)
            .zip(probs.chunks_mut(lp / 2))
            .enumerate()
        {
            if r < len {
                softmax_row_for_bf16(row, len);
                pack_bf16_row(row, p);
            } else {
                p.fill(0);
            }
        }
        let mut tile = TileOut([0f32; 256]);
        for qb in 0..rows / 16 {
            for cb in 0..blocks {
                tiles.dot_bf16(
                    probs.as_ptr().add(qb * 16 * lp / 2).cast(),
                    lp * 2,
                    vt.as_ptr().add(cb * 256).cast(),
                    blocks * 1024,
                    lp / 32,
                    tile.0.as_mut_ptr(),
                    64,
                );
                for (r, t) in tile.0.chunks(16).enumerate().take(len - qb * 16) {
                    let dst = out.add((qb * 16 + r) * h + cb * 16);
                    std::ptr::copy_nonoverlapping(t.as_ptr(), dst, 16);
                }
            }
        }
        drop(tiles);
    }
}

/// One (item, head)'s two products on AVX2 + FMA, 8-lane registers, for
/// the AVX2 family: gemm picks its kernels by what the CPU has, so held
/// to AVX2 on an AVX-512 machine it still ran AVX-512 (10% of an AVX2
/// run's time), and an AVX2-only CPU gets these instead of gemm's packing
/// for products this small. Blocks of 4 rows x 16 columns: per depth step
/// two loads, four broadcasts and eight FMAs, in 8 accumulators.
#[cfg(target_arch = "x86_64")]
mod lanes8 {
    // Intrinsics and pointer arithmetic under the `# Safety` contracts.
    #![allow(unsafe_op_in_unsafe_fn)]
    use std::arch::x86_64::*;

    /// Rows per block.
    const R: usize = 4;

    /// Head widths these products take (16-column blocks).
    pub(super) fn fits(d: usize) -> bool {
        d > 0 && d.is_multiple_of(16)
    }

    /// `scores` (len x len) = q . k^T and `out` (len rows at stride `h`)
    /// = softmax(scores) . v, for q, k, v rows at stride `rs` of width `d`.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `fits(d)`; q, k and v hold `len` rows at
    /// stride `rs`; `out` has `len` rows of `d` writable values at stride
    /// `h`; no one else writes them.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn head(
        (q, k, v): (&[f32], &[f32], &[f32]),
        (rs, d, len, h): (usize, usize, usize, usize),
        kt: &mut Vec<f32>,
        scores: &mut Vec<f32>,
        out: *mut f32,
    ) {
        // K^T, columns padded to 16 with zeros, so score blocks need no tail.
        let lp = len.next_multiple_of(16);
        kt.clear();
        kt.resize(d * lp, 0.0);
        for j in 0..len {
            for t in 0..d {
                kt[t * lp + j] = k[j * rs + t];
            }
        }
        scores.clear();
        scores.resize(len * lp, 0.0);
        let (q, v) = (q.as_ptr(), v.as_ptr());
        product(
            (q, rs),
            (kt.as_ptr(), lp),
            d,
            (len, lp),
            (scores.as_mut_ptr(), lp),
        );
        for row in scores.chunks_mut(lp) {
            super::masked_softmax_row(row, len);
        }
        product((scores.as_ptr(), lp), (v, rs), len, (len, d), (out, h));
    }

    /// `dst` (`rows` x `cols`) = `a` (`rows` x `depth`) . `b` (`depth` x
    /// `cols`), each a pointer and its row stride; `cols` a multiple of 16.
    #[inline(always)]
    unsafe fn product(
        (a, sa): (*const f32, usize),
        (b, sb): (*const f32, usize),
        depth: usize,
        (rows, cols): (usize, usize),
        (dst, sd): (*mut f32, usize),
    ) {
        let mut i = 0;
        while i < rows {
            let r = (rows - i).min(R);
            for j in (0..cols).step_by(16) {
                let (a, b) = ((a.add(i * sa), sa), (b.add(j), sb));
                let block = match r {
                    4 => block::<4>(a, b, depth),
                    3 => block::<3>(a, b, depth),
                    2 => block::<2>(a, b, depth),
                    _ => block::<1>(a, b, depth),
                };
                block.store(dst.add(i * sd + j), sd, r);
            }
            i += r;
        }
    }

    /// Up to R rows x 16 columns of sums.
    struct Block([[__m256; 2]; R]);

    impl Block {
        /// Store the first `r` rows at `dst`, rows `stride` apart.
        #[inline(always)]
        unsafe fn store(&self, dst: *mut f32, stride: usize, r: usize) {
            for (row, acc) in self.0.iter().enumerate().take(r) {
                _mm256_storeu_ps(dst.add(row * stride), acc[0]);
                _mm256_storeu_ps(dst.add(row * stride + 8), acc[1]);
            }
        }
    }

    /// `N` rows of `a` times 16 columns of `b` over `depth` (pointers
    /// with their row strides).
    #[inline(always)]
    unsafe fn block<const N: usize>(
        (a, sa): (*const f32, usize),
        (b, sb): (*const f32, usize),
        depth: usize,
    ) -> Block {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for t in 0..depth {
            let b0 = _mm256_loadu_ps(b.add(t * sb));
            let b1 = _mm256_loadu_ps(b.add(t * sb + 8));
            for (row, acc) in acc.iter_mut().enumerate().take(N) {
                let x = _mm256_broadcast_ss(&*a.add(row * sa + t));
                acc[0] = _mm256_fmadd_ps(x, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(x, b1, acc[1]);
            }
        }
        Block(acc)
    }
}
