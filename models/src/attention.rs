//! Fused multi-head self-attention for the CPU.
//!
//! candle's generic path permutes Q/K/V into head-major copies, runs one
//! small gemm per (item, head) with gemm's own threading, materialises the
//! full (batch, heads, seq, seq) score tensor, adds the mask in a separate
//! pass, then transposes the context back. Here each (item, head) pair is
//! one task on the rayon pool: two single-threaded gemms read Q, K and V in
//! place from the packed QKV rows, the scores live in a per-thread buffer
//! that fits in L2, and padded positions are skipped altogether.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use crate::kernels::{contiguous_f32, masked_softmax_row};

/// Whether the fused kernel can run on this tensor.
pub fn supported(qkv: &Tensor) -> bool {
    qkv.device().is_cpu() && qkv.dtype() == candle_core::DType::F32
}

/// `qkv`: (batch * seq, 3 * hidden), rows `[q | k | v]` with the 1/sqrt(d)
/// scale already in q; `lengths`: real tokens per item (right padding).
/// Returns the attention context, (batch * seq, hidden); rows of padded
/// tokens are zero (they are never pooled).
pub fn attention(qkv: &Tensor, lengths: &[usize], heads: usize) -> Result<Tensor> {
    qkv.contiguous()?
        .apply_op1_no_bwd(&Attention { lengths, heads })
}

struct Attention<'a> {
    lengths: &'a [usize],
    heads: usize,
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
        let mut out = vec![0f32; rows * h];
        let out_ptr = Out(out.as_mut_ptr());
        (0..b * heads)
            .into_par_iter()
            .for_each_init(Vec::<f32>::new, |scores, job| {
                let (item, head) = (job / heads, job % heads);
                let len = self.lengths[item];
                scores.clear();
                scores.resize(len * len, 0.0);
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
        Ok((CpuStorage::F32(out), Shape::from((rows, h))))
    }
}
