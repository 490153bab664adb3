//! `y = x W + b`: our packed-weight kernels, one per instruction-set family
//! ([`Kernels`]) and precision.
//!
//! Why not gemm for all: gemm is near the f32 peak on big products but pays
//! a fixed cost per call (packing, thread hand-off) that dominates a short
//! query's 8-row products, the bias needs a second pass, and it has no
//! bf16 dot-product, AMX or int8 path. Here the weights are packed once at
//! load into panels of columns, the bias (and for int8 the scales) applied
//! as results are stored, GELU fused per block of rows while it is in
//! cache, and rows split across threads only when there are enough.
//!
//! Precisions:
//! - f32: FMA on 8 (AVX2) or 16 (AVX-512) lanes.
//! - bf16: weights rounded once at load, activations per call, products
//!   summed in f32 (`vdpbf16ps`, or AMX `tdpbf16ps` on 16 x 32 tiles): the
//!   error is that of rounding the inputs (2^-9 relative).
//! - int8: weights quantised per output column at load, activations per
//!   row at run time (symmetric, 127 levels, stored as `q + 128` because
//!   `vpdpbusd`/`tdpbusd` multiply unsigned by signed bytes; the offset is
//!   taken back out with each column's weight sum), int32 accumulation.
//!
//! Layout: a panel holds `nr` columns; for each step `t` of the depth it
//! holds `nr` 32-bit lanes: one f32 `W[t][c]`, a bf16 pair `W[2t][c] |
//! W[2t+1][c] << 16`, or an int8 quad `W[4t..4t+4][c]`. That is the VNNI
//! layout AMX reads as B tiles too. Plain AVX2 int8 (`pairs`) holds a
//! step in `nr / 2` lanes: the bytes `W[2t][c], W[2t+1][c]` of each
//! column, widened to 16 bits as they are loaded. Columns past `n` and
//! depth past `k` are zero.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu::Kernels;
use crate::kernels::{contiguous_f32, gelu_in_place};
use crate::parallel;
use crate::Precision;

/// The loops every vector kernel shares: each panel of the task, its rows
/// in micro-tiles of up to `MR` (6), each run by `$tile::<$arith, R>`
/// (signature `(w, panel, a, row_scale, col, y)`), monomorphised per row
/// count so that the accumulators stay in registers.
#[cfg(target_arch = "x86_64")]
macro_rules! panels_in_row_tiles {
    ($w:expr, $t:expr, $nr:expr, $tile:ident::<$arith:ty>) => {{
        let (w, t) = ($w, $t);
        debug_assert_eq!(w.nr, $nr);
        let (steps, len) = (w.steps, w.panel_len());
        for j in t.panels.clone() {
            let panel = &w.data.as_slice()[j * len..(j + 1) * len];
            let mut r = 0;
            while r < t.rows {
                let mr = (t.rows - r).min(6);
                let a = &t.a[r * steps..(r + mr) * steps];
                let scales = t.row_scale.get(r..).unwrap_or(&[]);
                let y = t.y.add(r * w.n);
                let col = j * $nr;
                match mr {
                    6 => $tile::<$arith, 6>(w, panel, a, scales, col, y),
                    5 => $tile::<$arith, 5>(w, panel, a, scales, col, y),
                    4 => $tile::<$arith, 4>(w, panel, a, scales, col, y),
                    3 => $tile::<$arith, 3>(w, panel, a, scales, col, y),
                    2 => $tile::<$arith, 2>(w, panel, a, scales, col, y),
                    _ => $tile::<$arith, 1>(w, panel, a, scales, col, y),
                }
                r += mr;
            }
        }
    }};
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod amx;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod bytes;

#[cfg(test)]
use tests::plain_int8;
/// Only tests hold a VNNI CPU to the plain AVX2 int8 kernel.
#[cfg(not(test))]
fn plain_int8() -> bool {
    false
}

/// Rows of an AMX block: two 16-row tiles.
const AMX_ROWS: usize = 32;

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

/// Symmetric int8 scale of values whose largest magnitude is `max_abs`.
pub fn int8_scale(max_abs: f32) -> f32 {
    if max_abs > 0.0 && max_abs.is_finite() {
        max_abs / 127.0
    } else {
        1.0
    }
}

/// `x / scale` rounded to the nearest integer (ties to even) in [-127, 127].
#[inline(always)]
pub fn quantize(x: f32, scale: f32) -> i8 {
    (x / scale).round_ties_even().clamp(-127.0, 127.0) as i8
}

/// 64 bytes, on a 64-byte boundary.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([u32; 16]);

/// A buffer of u32s that starts on a cache line. AMX reads and writes
/// tile rows of 64 bytes: off a line boundary each row touches two lines
/// (measured: the B tile loads were then 40% of the AMX kernel's time).
#[derive(Default)]
pub(crate) struct Aligned {
    lines: Vec<Line>,
    len: usize,
}

impl Aligned {
    /// `len` zeros.
    pub(crate) fn zeroed(len: usize) -> Aligned {
        let mut a = Aligned::default();
        a.grow(len);
        a
    }

    /// The first `len` values, growing (with zeros) if needed; what was
    /// there stays.
    pub(crate) fn grow(&mut self, len: usize) -> &mut [u32] {
        if self.lines.len() * 16 < len {
            self.lines.resize(len.div_ceil(16), Line::default());
        }
        self.len = len;
        // SAFETY: `lines` holds at least `len` u32s, contiguous (Line is
        // repr(C) of u32s, no padding).
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast(), len) }
    }

    /// The values.
    pub(crate) fn as_slice(&self) -> &[u32] {
        // SAFETY: as in `grow`.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast(), self.len) }
    }
}

/// How a kernel family lays out `k` rows of weights at a precision.
struct Packing {
    /// Columns per panel: 16 (AVX2) or 64.
    nr: usize,
    /// int8 as 16-bit pairs (plain AVX2, no AVX-VNNI).
    pairs: bool,
    /// Depth steps of a panel.
    steps: usize,
    /// u32s per step of a panel: pairs of bytes put two columns in one.
    lanes: usize,
}

impl Packing {
    fn of(kernels: Kernels, precision: Precision, k: usize) -> Packing {
        let nr = if kernels == Kernels::Avx2 { 16 } else { 64 };
        let pairs = kernels == Kernels::Avx2
            && precision == Precision::Int8
            && (!crate::cpu::CpuFeatures::get().avx_vnni || plain_int8());
        let per = if pairs { 2 } else { per_step(precision) };
        let mut steps = k.div_ceil(per);
        if kernels == Kernels::Amx && precision != Precision::F32 {
            steps = steps.next_multiple_of(16);
        }
        let lanes = if pairs { nr / 2 } else { nr };
        Packing {
            nr,
            pairs,
            steps,
            lanes,
        }
    }
}

/// Weights `W` (k x n) packed for one kernel family and precision.
pub struct PackedLinear {
    kernels: Kernels,
    precision: Precision,
    k: usize,
    n: usize,
    /// Columns per panel: 16 (AVX2) or 64.
    nr: usize,
    /// Rows of a panel: depth steps of 1, 2 or 4 values; a multiple of 16
    /// on AMX (the depth of a tile).
    steps: usize,
    data: Aligned,
    bias: Vec<f32>,
    /// int8: each column's weight scale.
    col_scale: Vec<f32>,
    /// int8: 128 x each column's sum of quantised weights (the activation
    /// offset's contribution, taken back out).
    col_corr: Vec<i32>,
    /// int8: each input feature's factor before quantisation (1 / s_k of
    /// [`PackedLinear::new_smoothed`]); empty: none.
    in_scale: Vec<f32>,
    /// int8 values carried as 16-bit pairs, two per step (plain AVX2's
    /// `vpmaddwd`), not `q + 128` bytes four per step (`vpdpbusd`,
    /// `tdpbusd`): AVX2 int8 on a CPU without AVX-VNNI.
    pairs: bool,
}

/// Values per 32-bit step at `precision`.
fn per_step(precision: Precision) -> usize {
    match precision {
        Precision::F32 => 1,
        Precision::Bf16 => 2,
        Precision::Int8 => 4,
    }
}

impl PackedLinear {
    /// `w`: (k, n) row-major; `bias`: n. `None` where `kernels` has no
    /// kernel of its own at `precision` on this CPU (portable: candle).
    pub fn new(
        w: &[f32],
        (k, n): (usize, usize),
        bias: &[f32],
        kernels: Kernels,
        precision: Precision,
    ) -> Option<Self> {
        Self::new_smoothed(w, (k, n), bias, kernels, precision, &[])
    }

    /// [`PackedLinear::new`] where, for int8, input feature `k` (whose
    /// inputs reach `act_max[k]` in magnitude) is divided by
    /// `s_k = sqrt(act_max[k] / max_c |W[k][c]|)` before activations are
    /// quantised, and weight row `k` multiplied by it, so `x W` is
    /// unchanged (SmoothQuant, Xiao et al. 2023, alpha 0.5): a few features
    /// with a large range then no longer set every row's quantisation
    /// step. Ignored at other precisions, and where `act_max` is empty.
    pub fn new_smoothed(
        w: &[f32],
        (k, n): (usize, usize),
        bias: &[f32],
        kernels: Kernels,
        precision: Precision,
        act_max: &[f32],
    ) -> Option<Self> {
        assert_eq!(w.len(), k * n);
        let smooth: Vec<f32> = if precision == Precision::Int8 && act_max.len() == k {
            (0..k)
                .map(|t| {
                    let wmax = w[t * n..(t + 1) * n]
                        .iter()
                        .fold(0f32, |m, v| m.max(v.abs()));
                    let s = (act_max[t] / wmax).sqrt();
                    if s.is_finite() && s > 0.0 {
                        s.clamp(1e-3, 1e3)
                    } else {
                        1.0
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let smoothed: Vec<f32>;
        let w = if smooth.is_empty() {
            w
        } else {
            // Row by row: a division per value cost 0.1 s of a load.
            smoothed = w
                .chunks(n)
                .zip(&smooth)
                .flat_map(|(row, &f)| row.iter().map(move |&v| v * f))
                .collect();
            &smoothed
        };
        assert_eq!(w.len(), k * n);
        assert_eq!(bias.len(), n);
        if kernels == Kernels::Portable || !kernels.runs(precision) || kernels.missing().is_some() {
            return None;
        }
        let Packing {
            nr,
            pairs,
            steps,
            lanes,
        } = Packing::of(kernels, precision, k);
        let (col_scale, q) = match precision {
            Precision::Int8 => quantize_columns(w, k, n),
            _ => (Vec::new(), Vec::new()),
        };
        let mut col_corr = vec![0i32; n];
        for row in q.chunks(n) {
            col_corr
                .iter_mut()
                .zip(row)
                .for_each(|(s, &v)| *s += 128 * i32::from(v));
        }
        let panels = n.div_ceil(nr);
        let mut buffer = Aligned::zeroed(panels * steps * lanes);
        let data = buffer.grow(panels * steps * lanes);
        let layout = Tiled {
            tiles: kernels == Kernels::Amx && precision != Precision::F32,
            steps,
            nr: lanes,
        };
        let f = |r: usize, c: usize| if r < k && c < n { w[r * n + c] } else { 0.0 };
        let qv = |r: usize, c: usize| if r < k && c < n { q[r * n + c] } else { 0 };
        let qb = |r: usize, c: usize| qv(r, c) as u8;
        for j in 0..panels {
            for t in 0..steps {
                for l in 0..lanes {
                    let c = j * nr + l;
                    let pair = |c| [qb(2 * t, c), qb(2 * t + 1, c)];
                    data[layout.at(j, t, l)] = match precision {
                        Precision::F32 => f(t, c).to_bits(),
                        Precision::Bf16 => {
                            let (lo, hi) = (to_bf16(f(2 * t, c)), to_bf16(f(2 * t + 1, c)));
                            u32::from(lo) | (u32::from(hi) << 16)
                        }
                        Precision::Int8 if pairs => {
                            let (a, b) = (pair(j * nr + 2 * l), pair(j * nr + 2 * l + 1));
                            u32::from_le_bytes([a[0], a[1], b[0], b[1]])
                        }
                        Precision::Int8 => u32::from_le_bytes([
                            qb(4 * t, c),
                            qb(4 * t + 1, c),
                            qb(4 * t + 2, c),
                            qb(4 * t + 3, c),
                        ]),
                    };
                }
            }
        }
        Some(PackedLinear {
            kernels,
            precision,
            k,
            n,
            nr,
            steps,
            data: buffer,
            bias: bias.to_vec(),
            col_scale,
            col_corr,
            in_scale: smooth.iter().map(|s| 1.0 / s).collect(),
            pairs,
        })
    }

    /// u32s of one panel: `steps` steps of `nr` lanes (`nr / 2` for
    /// `pairs`).
    fn panel_len(&self) -> usize {
        self.steps * if self.pairs { self.nr / 2 } else { self.nr }
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

    /// Rows of one row-parallel task: the task's activations stay in L2
    /// while it walks every panel; a multiple of the kernel's row block.
    fn rows_per_task(&self) -> usize {
        match (self.kernels, self.precision) {
            (Kernels::Amx, Precision::Bf16 | Precision::Int8) => 4 * AMX_ROWS,
            _ => 48,
        }
    }

    /// Activation rows the kernel may read past `m` (AMX reads whole
    /// 32-row blocks; the extra rows are zero and never stored).
    fn row_padding(&self, m: usize) -> usize {
        match (self.kernels, self.precision) {
            (Kernels::Amx, Precision::Bf16 | Precision::Int8) => m.next_multiple_of(AMX_ROWS),
            _ => m,
        }
    }
}

/// Where step `t` of lane `l` of panel `j` lives. Row-major panels for
/// the vector kernels; for AMX each half panel (32 columns) is a run of
/// 2 KB blocks, one per 16 depth steps, holding its two B tiles (16 steps
/// x 16 columns, 64-byte rows) one after the other, so that every tile
/// load reads 1 KB in a row. (With the B tiles read out of 256-byte panel
/// rows, the loads were half the AMX kernel's time.)
struct Tiled {
    tiles: bool,
    steps: usize,
    nr: usize,
}

impl Tiled {
    fn at(&self, j: usize, t: usize, l: usize) -> usize {
        let panel = j * self.steps * self.nr;
        if !self.tiles {
            return panel + t * self.nr + l;
        }
        let (half, group, lane) = (l / 32, (l % 32) / 16, l % 16);
        panel + half * self.steps * 32 + (t / 16) * 512 + group * 256 + (t % 16) * 16 + lane
    }
}

// Per-column scales and the quantised weights, row-major like `w`;
// compiled for the CPU's vectors (rounding is an instruction there, a
// library call in the x86-64 baseline: 7% of an int8 load).
dispatch!(
    fn quantize_columns(w: &[f32], k: usize, n: usize) -> (Vec<f32>, Vec<i8>) {
        // Row by row: a column-strided walk missed the cache on every value
        // (0.3 s of a MiniLM load).
        let mut max = vec![0f32; n];
        for row in w.chunks(n).take(k) {
            max.iter_mut()
                .zip(row)
                .for_each(|(m, v)| *m = m.max(v.abs()));
        }
        let scales: Vec<f32> = max.into_iter().map(int8_scale).collect();
        let q = w
            .chunks(n)
            .flat_map(|row| row.iter().zip(&scales).map(|(&v, &s)| quantize(v, s)))
            .collect();
        (scales, q)
    }
);

/// Activations as the kernel reads them: `steps` 32-bit steps per row
/// (rows padded as the kernel needs), and for int8 each row's scale.
struct Acts<'a> {
    data: Packed<'a>,
    scales: Vec<f32>,
}

thread_local! {
    /// The last activation buffer this thread packed, for the next call.
    static SCRATCH: std::cell::RefCell<Aligned> = std::cell::RefCell::default();
}

impl Drop for Acts<'_> {
    fn drop(&mut self) {
        if let Packed::Owned(a) = &mut self.data {
            let a = std::mem::take(a);
            let _ = SCRATCH.with(|s| s.try_borrow_mut().map(|mut s| *s = a));
        }
    }
}

/// f32 activations in place, or rounded or quantised into a new buffer.
enum Packed<'a> {
    InPlace(&'a [u32]),
    Owned(Aligned),
}

impl std::ops::Deref for Packed<'_> {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        match self {
            Packed::InPlace(a) => a,
            Packed::Owned(a) => a.as_slice(),
        }
    }
}

impl PackedLinear {
    fn pack_acts<'a>(&self, x: &'a [f32], m: usize) -> Acts<'a> {
        let (k, steps) = (self.k, self.steps);
        if self.precision == Precision::F32 {
            // f32 activations are used in place, as bit patterns.
            return Acts {
                data: Packed::InPlace(bytemuck_u32(x)),
                scales: Vec::new(),
            };
        }
        let rows = self.row_padding(m);
        // A buffer this thread used before, when free: zeroing a fresh one
        // every call cost 5% of the AMX model's time. Rows are written
        // whole below, padding rows zeroed.
        let mut buffer = SCRATCH
            .with(|s| s.try_borrow_mut().map(|mut s| std::mem::take(&mut *s)))
            .unwrap_or_default();
        let data = buffer.grow(rows * steps);
        data[m * steps..].fill(0);
        let mut scales = vec![
            0f32;
            if self.precision == Precision::Int8 {
                m
            } else {
                0
            }
        ];
        const ROWS: usize = 16;
        let x_rows = x.par_chunks(k * ROWS);
        let dst_rows = data[..m * steps].par_chunks_mut(steps * ROWS);
        if self.precision == Precision::Int8 {
            dst_rows
                .zip(x_rows.zip(scales.par_chunks_mut(ROWS)))
                .with_min_len(parallel::min_len())
                .for_each(|(dst, (src, sc))| self.pack_rows(src, dst, sc));
        } else {
            dst_rows
                .zip(x_rows)
                .with_min_len(parallel::min_len())
                .for_each(|(dst, src)| self.pack_rows(src, dst, &mut []));
        }
        Acts {
            data: Packed::Owned(buffer),
            scales,
        }
    }
}

impl PackedLinear {
    /// Rows of `x` rounded (bf16) or quantised (int8, each row's scale
    /// into `scales`) into `dst`, `steps` per row.
    fn pack_rows(&self, x: &[f32], dst: &mut [u32], scales: &mut [f32]) {
        let rows = dst.chunks_mut(self.steps).zip(x.chunks(self.k));
        for (r, (dst, src)) in rows.enumerate() {
            match self.precision {
                Precision::Bf16 => pack_bf16_row(src, dst),
                _ => scales[r] = pack_int8_row(src, dst, &self.in_scale, self.pairs),
            }
        }
    }

    /// `pack_acts` on one thread, into buffers a task reuses: the rows of
    /// `x` (m of them) as this kernel reads them (f32: `x` itself).
    fn pack_block<'a>(
        &self,
        x: &'a [f32],
        m: usize,
        buffer: &'a mut Aligned,
        scales: &mut Vec<f32>,
    ) -> &'a [u32] {
        let steps = self.steps;
        if self.precision == Precision::F32 {
            return bytemuck_u32(x);
        }
        let rows = self.row_padding(m);
        let data = buffer.grow(rows * steps);
        data[m * steps..].fill(0);
        scales.resize(
            if self.precision == Precision::Int8 {
                m
            } else {
                0
            },
            0.0,
        );
        self.pack_rows(x, &mut data[..m * steps], scales);
        buffer.as_slice()
    }

    /// `gelu(x W1 + b1) W2 + b2` (`self` is W1, `second` W2): each block of
    /// rows goes through both layers while its inner activations (rows x
    /// 1,536 for MiniLM) are in cache, instead of writing the whole inner
    /// tensor out, reading it back to round it and reading it again.
    pub fn forward_ffn(&self, x: &Tensor, second: &PackedLinear) -> Result<Tensor> {
        let m = x.dim(0)?;
        if m <= self.rows_per_task() || second.k != self.n {
            return second.forward(&self.forward_gelu(x)?);
        }
        x.contiguous()?.apply_op1_no_bwd(&Ffn {
            first: self,
            second,
        })
    }
}

struct Ffn<'a> {
    first: &'a PackedLinear,
    second: &'a PackedLinear,
}

/// A task's buffers for [`Ffn`], reused across its blocks.
#[derive(Default)]
struct FfnBuffers {
    a1: Aligned,
    s1: Vec<f32>,
    inner: Vec<f32>,
    a2: Aligned,
    s2: Vec<f32>,
}

impl CustomOp1 for Ffn<'_> {
    fn name(&self) -> &'static str {
        "semsearch-ffn"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (w1, w2) = (self.first, self.second);
        let x = contiguous_f32(storage, layout, self.name())?;
        let (m, k) = layout.shape().dims2()?;
        if k != w1.k {
            candle_core::bail!("{}: input has {k} features, weights {}", self.name(), w1.k)
        }
        let (inner_n, n) = (w1.n, w2.n);
        let per_task = w1.rows_per_task().max(w2.rows_per_task());
        let mut y: Vec<f32> = Vec::with_capacity(m * n);
        let out = Out(y.as_mut_ptr());
        (0..m.div_ceil(per_task))
            .into_par_iter()
            .with_min_len(parallel::min_len())
            .for_each_init(FfnBuffers::default, |b, t| {
                let (r0, rows) = (t * per_task, per_task.min(m - t * per_task));
                let a1 = w1.pack_block(&x[r0 * k..(r0 + rows) * k], rows, &mut b.a1, &mut b.s1);
                if b.inner.len() < rows * inner_n {
                    b.inner.resize(rows * inner_n, 0.0);
                }
                let inner = &mut b.inner[..rows * inner_n];
                w1.run(Task {
                    a: a1,
                    row_scale: &b.s1,
                    y: inner.as_mut_ptr(),
                    rows,
                    panels: 0..inner_n.div_ceil(w1.nr),
                });
                gelu_in_place(inner);
                let a2 = w2.pack_block(inner, rows, &mut b.a2, &mut b.s2);
                w2.run(Task {
                    a: a2,
                    row_scale: &b.s2,
                    y: out.at(r0 * n),
                    rows,
                    panels: 0..n.div_ceil(w2.nr),
                });
            });
        // SAFETY: the tasks wrote all m x n elements, each its own rows.
        unsafe { y.set_len(m * n) };
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }
}

/// One row rounded to bf16 pairs; `dst` may be longer (zero padding).
pub(crate) fn pack_bf16_row(src: &[f32], dst: &mut [u32]) {
    // 32 values at a time with the rounding instruction.
    #[cfg(target_arch = "x86_64")]
    let done = if crate::cpu::CpuFeatures::get().avx512_bf16 {
        let full = src.len() / 32;
        // SAFETY: AVX-512 BF16 was just detected; `dst` holds a pair for
        // every two values of `src`.
        unsafe { avx512::pack_bf16(&src[..full * 32], &mut dst[..full * 16]) };
        full * 16
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    for (p, d) in dst.iter_mut().enumerate().skip(done) {
        let lo = src.get(2 * p).map_or(0, |&v| to_bf16(v));
        let hi = src.get(2 * p + 1).map_or(0, |&v| to_bf16(v));
        *d = u32::from(lo) | (u32::from(hi) << 16);
    }
}

// One row quantised to `q + 128` bytes in natural order (four to a
// step), or to 16-bit `q` (two to a step) for `pairs`; returns the row's
// scale. Compiled for the CPU's vectors: the rounding is one instruction
// from SSE4.1 up, a library call below, which made the packing cost more
// than the int8 products themselves.
dispatch!(
    fn pack_int8_row(src: &[f32], dst: &mut [u32], in_scale: &[f32], pairs: bool) -> f32 {
        let scale = if in_scale.is_empty() {
            int8_scale(abs_max(src, None))
        } else {
            int8_scale(abs_max(src, Some(in_scale)))
        };
        if pairs {
            // SAFETY: u32 has no invalid bit patterns and is 4-byte aligned,
            // so it can be written as i16 halves.
            let halves = unsafe {
                std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<i16>(), dst.len() * 2)
            };
            quantize_into(halves, src, in_scale, 1.0 / scale, |q| q as i16);
            halves[src.len()..].fill(0);
        } else {
            // SAFETY: as above, written byte by byte.
            let bytes = unsafe {
                std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<u8>(), dst.len() * 4)
            };
            quantize_into(bytes, src, in_scale, 1.0 / scale, |q| (q + 128) as u8);
            // Padding: the offset of a zero, so it adds nothing after
            // correction (the padded weights are zero anyway).
            bytes[src.len()..].fill(128);
        }
        scale
    }
);

/// `out[i] = put(q)`, `q` the integer nearest `src[i] x in_scale[i] x inv`
/// (no `in_scale`: factor 1) in [-127, 127]. Ties to even: one rounding
/// instruction, so the loops vectorise; `max`/`min` also map NaN into
/// range, so the unchecked conversion is sound (the checked `as` kept the
/// loop scalar).
#[inline(always)]
fn quantize_into<T>(
    out: &mut [T],
    src: &[f32],
    in_scale: &[f32],
    inv: f32,
    put: impl Fn(i32) -> T,
) {
    let q = |v: f32| {
        #[allow(clippy::manual_clamp)] // clamp keeps NaN: the point here
        let r = v.round_ties_even().max(-127.0).min(127.0);
        // SAFETY: r is finite and within [-127, 127].
        put(unsafe { r.to_int_unchecked::<i32>() })
    };
    if in_scale.is_empty() {
        for (o, &v) in out.iter_mut().zip(src) {
            *o = q(v * inv);
        }
    } else {
        for ((o, &v), &s) in out.iter_mut().zip(src).zip(in_scale) {
            *o = q(v * s * inv);
        }
    }
}

/// The largest `|v * scale|` over a row. Sixteen running maxima, not one
/// fold: a single chain of `max` stays scalar (it was half of an int8
/// query's time). The maxima are comparisons, not `f32::max`, whose NaN
/// rule kept even the sixteen chains scalar (8% of an AMX int8 query); a
/// NaN is skipped either way.
#[inline(always)]
fn abs_max(src: &[f32], scale: Option<&[f32]>) -> f32 {
    #[inline(always)]
    fn lanes(acc: &mut [f32; 16], c: &[f32], s: Option<&[f32]>) {
        for l in 0..16 {
            let v = match s {
                Some(s) => (c[l] * s[l]).abs(),
                None => c[l].abs(),
            };
            acc[l] = if v > acc[l] { v } else { acc[l] };
        }
    }
    let mut acc = [0f32; 16];
    let whole = src.len() / 16 * 16;
    match scale {
        Some(s) => {
            for (c, s) in src[..whole].chunks_exact(16).zip(s.chunks_exact(16)) {
                lanes(&mut acc, c, Some(s));
            }
        }
        None => {
            for c in src[..whole].chunks_exact(16) {
                lanes(&mut acc, c, None);
            }
        }
    }
    for (i, v) in src.iter().enumerate().skip(whole) {
        let v = (v * scale.map_or(1.0, |s| s[i])).abs();
        acc[0] = if v > acc[0] { v } else { acc[0] };
    }
    acc.into_iter().fold(0f32, f32::max)
}

struct Op<'a> {
    w: &'a PackedLinear,
    gelu: bool,
}

/// What a kernel call needs: the activations from the task's first row,
/// their int8 scales, and the output from that row.
pub(crate) struct Task<'a> {
    a: &'a [u32],
    row_scale: &'a [f32],
    y: *mut f32,
    rows: usize,
    panels: std::ops::Range<usize>,
}

impl PackedLinear {
    /// Run the kernel of this family and precision over one task.
    fn run(&self, t: Task) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `new` checked that the CPU runs this family at this
        // precision; callers hand each task disjoint rows or panels of
        // `y`, which has room for m x n, and `a` as `pack_acts` laid out.
        unsafe {
            match (self.kernels, self.precision) {
                (Kernels::Avx2, Precision::Int8) if self.pairs => avx2::rows_int8_pairs(self, t),
                (Kernels::Avx2, Precision::Int8) => avx2::rows_int8(self, t),
                (Kernels::Avx2, _) => avx2::rows_f32(self, t),
                (Kernels::Amx, Precision::Bf16) => amx::rows_bf16(self, t),
                (Kernels::Amx, Precision::Int8) => amx::rows_int8(self, t),
                (_, Precision::F32) => avx512::rows_f32(self, t),
                (_, Precision::Bf16) => avx512::rows_bf16(self, t),
                (_, Precision::Int8) => avx512::rows_int8(self, t),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = t;
    }
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
        let acts = w.pack_acts(x, m);
        let (a, scales) = (&acts.data[..], &acts.scales[..]);
        let (n, steps) = (w.n, w.steps);
        let panels = n.div_ceil(w.nr);
        // Every element is written by the kernel: no zeroing pass.
        let mut y: Vec<f32> = Vec::with_capacity(m * n);
        let out = Out(y.as_mut_ptr());
        let task = |r0: usize, rows: usize, panels| Task {
            a: &a[r0 * steps..],
            row_scale: scales.get(r0..).unwrap_or(&[]),
            y: out.at(r0 * n),
            rows,
            panels,
        };
        let per_task = w.rows_per_task();
        if m > per_task {
            // Many rows: threads take blocks of rows, each walks every panel.
            let blocks = (0..m.div_ceil(per_task)).into_par_iter();
            blocks.with_min_len(parallel::min_len()).for_each(|b| {
                let (r0, rows) = (b * per_task, per_task.min(m - b * per_task));
                w.run(task(r0, rows, 0..panels));
                if self.gelu {
                    // SAFETY: the block's rows were all written just above.
                    gelu_in_place(unsafe {
                        std::slice::from_raw_parts_mut(out.at(r0 * n), rows * n)
                    });
                }
            });
        } else {
            if m * k * n >= 1 << 20 {
                // A query's few rows: threads take panels (columns) instead.
                let threads = parallel::threads().clamp(1, panels);
                let per = panels.div_ceil(threads);
                (0..threads).into_par_iter().for_each(|t| {
                    w.run(task(0, m, t * per..((t + 1) * per).min(panels)));
                });
            } else {
                w.run(task(0, m, 0..panels));
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

// SAFETY: a task is handed to one thread, which alone writes its block.
unsafe impl Send for Task<'_> {}

/// f32 values as their bit patterns.
fn bytemuck_u32(x: &[f32]) -> &[u32] {
    // SAFETY: f32 and u32 have the same size and alignment, and every bit
    // pattern is a valid u32.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<u32>(), x.len()) }
}

/// Every (family, precision) this CPU runs with a kernel of our own.
pub fn paths_here() -> Vec<(Kernels, Precision)> {
    let mut v = Vec::new();
    for k in crate::ALL_KERNELS {
        for p in [Precision::F32, Precision::Bf16, Precision::Int8] {
            if k != Kernels::Portable && k.missing().is_none() && k.runs(p) {
                v.push((k, p));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    thread_local! {
        /// Set while a test runs the plain AVX2 int8 kernel on a CPU
        /// that also has AVX-VNNI.
        static PLAIN_INT8: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Whether layers packed on this thread now take plain AVX2 int8.
    pub(super) fn plain_int8() -> bool {
        PLAIN_INT8.with(|p| p.get())
    }

    /// Every (family, precision) pair, run or visibly skipped; AVX2 int8
    /// runs twice where the CPU has AVX-VNNI (with it and without).
    fn each_path(test: &str, mut f: impl FnMut(Kernels, Precision)) {
        for k in &crate::ALL_KERNELS[1..] {
            for p in [Precision::F32, Precision::Bf16, Precision::Int8] {
                let name = format!("{test} [{k} {p}]");
                if let Some(why) = k.missing() {
                    crate::testing::skip_without(&name, why, false);
                } else if k.runs(p) {
                    f(*k, p);
                    eprintln!("{name}: ok");
                    let vnni = crate::cpu::CpuFeatures::get().avx_vnni;
                    if (*k, p) == (Kernels::Avx2, Precision::Int8) && vnni {
                        PLAIN_INT8.with(|c| c.set(true));
                        f(*k, p);
                        PLAIN_INT8.with(|c| c.set(false));
                        eprintln!("{name} without AVX-VNNI: ok");
                    }
                } else if (*k, p) != (Kernels::Avx2, Precision::Bf16) {
                    // AVX2 has no bf16 product; anything else missing is a
                    // CPU without that extension (AVX-VNNI, AVX-512 BF16 or
                    // VNNI).
                    crate::testing::skip_without(&name, &format!("{p} products on {k}"), false);
                }
            }
        }
    }

    #[test]
    fn vector_rounding_matches_scalar() {
        let name = "vector_rounding_matches_scalar";
        let has = crate::cpu::CpuFeatures::get().avx512_bf16;
        if crate::testing::skip_without(name, "AVX-512 BF16", has) {
            return;
        }
        let src: Vec<f32> = (0..64)
            .map(|i| (i as f32 - 31.5) * 1.000_976_6 / 7.0)
            .collect();
        let mut dst = vec![0u32; 32];
        // SAFETY: checked just above.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            avx512::pack_bf16(&src, &mut dst)
        };
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

    #[test]
    fn int8_quantisation_is_symmetric_and_saturates() {
        let s = int8_scale(2.54);
        assert_eq!(quantize(2.54, s), 127);
        assert_eq!(quantize(-2.54, s), -127);
        assert_eq!(quantize(1.0, s), 50);
        assert_eq!(quantize(9.0, s), 127);
        assert_eq!(int8_scale(0.0), 1.0);
        let mut dst = [0u32; 2];
        let scale = pack_int8_row(&[-1.0, 0.5, 1.0, 0.0, 0.25], &mut dst, &[], false);
        assert_eq!(scale, 1.0 / 127.0);
        assert_eq!(dst[0].to_le_bytes(), [1, 192, 255, 128]);
        assert_eq!(dst[1].to_le_bytes(), [160, 128, 128, 128]);
        let mut dst = [0u32; 3];
        pack_int8_row(&[-1.0, 0.5, 1.0, 0.0, 0.25], &mut dst, &[], true);
        let halves = |d: u32| [d as u16 as i16, (d >> 16) as u16 as i16];
        assert_eq!(dst.map(halves), [[-127, 64], [127, 0], [32, 0]]);
    }

    /// The fused GELU equals GELU applied afterwards, on the row-block and
    /// the few-rows paths.
    #[test]
    fn fused_gelu_matches_gelu_after() {
        each_path("fused_gelu_matches_gelu_after", |kernels, precision| {
            for m in [3, 100] {
                let (k, n) = (64, 130);
                let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
                let w: Vec<f32> = (0..k * n)
                    .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
                    .collect();
                let bias: Vec<f32> = (0..n).map(|i| i as f32 / n as f32).collect();
                let p = PackedLinear::new(&w, (k, n), &bias, kernels, precision).unwrap();
                let fused = p.forward_gelu(&x).unwrap();
                let after = crate::kernels::gelu_erf(&p.forward(&x).unwrap()).unwrap();
                let diff = crate::kernels::tests::max_diff(&fused, &after);
                assert!(diff < 1e-6, "m {m}: {diff}");
            }
        });
    }

    /// The fused FFN equals its two layers run one after the other.
    #[test]
    fn fused_ffn_matches_two_layers() {
        each_path("fused_ffn_matches_two_layers", |kernels, precision| {
            let (m, k, inner, n) = (300, 64, 160, 48);
            let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
            let val = |i: usize, s: usize| (((i * s) % 997) as f32 / 498.0 - 1.0) / 4.0;
            let w1: Vec<f32> = (0..k * inner).map(|i| val(i, 7919)).collect();
            let w2: Vec<f32> = (0..inner * n).map(|i| val(i, 104_729)).collect();
            let (b1, b2): (Vec<f32>, Vec<f32>) = (
                (0..inner).map(|i| val(i, 31)).collect(),
                (0..n).map(|i| val(i, 37)).collect(),
            );
            let l1 = PackedLinear::new(&w1, (k, inner), &b1, kernels, precision).unwrap();
            let l2 = PackedLinear::new(&w2, (inner, n), &b2, kernels, precision).unwrap();
            let fused = l1.forward_ffn(&x, &l2).unwrap();
            let apart = l2.forward(&l1.forward_gelu(&x).unwrap()).unwrap();
            let diff = crate::kernels::tests::max_diff(&fused, &apart);
            assert!(diff < 1e-5, "{diff}");
        });
    }

    /// The exact result each precision promises: the f32 product of the
    /// inputs as rounded (bf16) or quantised (int8, scaled back), for
    /// shapes with row, column and depth tails and several row tasks.
    #[test]
    fn matches_f32_product_of_rounded_inputs() {
        each_path(
            "matches_f32_product_of_rounded_inputs",
            |kernels, precision| {
                for &(m, k, n) in &[
                    (1, 8, 16),
                    (7, 33, 70),
                    (13, 384, 128),
                    (50, 64, 1),
                    (100, 40, 65),
                    (70, 130, 200),
                    // A last AMX block of exactly 16 rows (the half block).
                    (48, 96, 40),
                    // Few rows, many columns: split by panels across threads.
                    (5, 384, 1152),
                ] {
                    check_product(kernels, precision, (m, k, n));
                }
            },
        );
    }

    fn check_product(kernels: Kernels, precision: Precision, (m, k, n): (usize, usize, usize)) {
        let val = |i: usize, s: usize| (((i * s) % 997) as f32 / 498.0) - 1.0;
        let x: Vec<f32> = (0..m * k).map(|i| val(i, 7919)).collect();
        let w: Vec<f32> = (0..k * n).map(|i| val(i, 104_729)).collect();
        let bias: Vec<f32> = (0..n).map(|i| val(i, 31)).collect();
        let xt = Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap();
        let packed = PackedLinear::new(&w, (k, n), &bias, kernels, precision).unwrap();
        let y: Vec<f32> = packed
            .forward(&xt)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // The inputs as the kernel sees them.
        let (xr, wr): (Vec<f32>, Vec<f32>) = match precision {
            Precision::F32 => (x.clone(), w.clone()),
            Precision::Bf16 => {
                let r = |v: &f32| from_bf16(to_bf16(*v));
                (x.iter().map(r).collect(), w.iter().map(r).collect())
            }
            Precision::Int8 => {
                let (ws, wq) = quantize_columns(&w, k, n);
                let wr = wq
                    .iter()
                    .enumerate()
                    .map(|(i, &q)| f32::from(q) * ws[i % n])
                    .collect();
                let xr = x
                    .chunks(k)
                    .flat_map(|row| {
                        let s = int8_scale(row.iter().fold(0f32, |a, v| a.max(v.abs())));
                        row.iter().map(move |&v| f32::from(quantize(v, s)) * s)
                    })
                    .collect();
                (xr, wr)
            }
        };
        for i in 0..m {
            for j in 0..n {
                let want: f32 =
                    (0..k).map(|t| xr[i * k + t] * wr[t * n + j]).sum::<f32>() + bias[j];
                let got = y[i * n + j];
                assert!(
                    (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "{kernels} {precision} ({m},{k},{n}) [{i},{j}]: {got} vs {want}"
                );
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
        crate::tune_allocator();
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
            for (kernels, p) in paths_here() {
                let packed = PackedLinear::new(&wv, (k, n), &b, kernels, p).unwrap();
                let t = time(&|| packed.forward(&x).unwrap());
                eprint!(", {kernels} {p} {:.2} ms ({:.0})", t * 1e3, gf / t);
            }
            eprintln!();
        }
    }
}
