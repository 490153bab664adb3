//! AMX tile kernels (Intel Sapphire Rapids and later): bf16 `tdpbf16ps`
//! and int8 `tdpbusd` on 16-row tiles, from the Intel 64 and IA-32
//! Architectures Software Developer's Manual (vol. 2, "TDPBF16PS",
//! "TDPBUSD", "LDTILECFG") and the Optimization Reference Manual's AMX
//! chapter.
//!
//! `std::arch` has no stable AMX intrinsics, so the micro-kernel is
//! `asm!`. Eight tile registers: four accumulators (C) for a 32 x 32
//! output block, two activation tiles (A: 16 rows x 64 bytes of depth)
//! and two weight tiles (B: 16 depth steps x 16 columns, the VNNI layout
//! our panels already use, read with the panel's 256-byte row stride).
//! Each depth step of 16 loads 4 tiles for 4 tile products. C is stored
//! to a 32 x 32 buffer and finished (bias, int8 scales) with AVX-512.
//! Linux grants the tile state per process ([`crate::cpu`]); the tile
//! configuration is per thread, loaded at the start of each task and
//! released at its end.

// As in avx512.rs: every line of these `unsafe fn`s is intrinsics, asm and
// pointer arithmetic under the contract of their `# Safety` sections.
#![allow(unsafe_op_in_unsafe_fn)]

use std::arch::asm;
use std::arch::x86_64::*;

use super::avx512::{finish_int8, lane_mask};
use super::{PackedLinear, Task, AMX_ROWS};

/// Columns per panel (four 16-column tiles, two per block).
const NR: usize = 64;

/// The tile configuration (palette 1): all eight tiles 16 rows x 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    const fn full() -> TileConfig {
        let mut c = [0u8; 64];
        c[0] = 1; // palette
        let mut t = 0;
        while t < 8 {
            c[16 + 2 * t] = 64; // bytes per row (u16, little-endian)
            c[48 + t] = 16; // rows
            t += 1;
        }
        TileConfig(c)
    }
}

static CONFIG: TileConfig = TileConfig::full();

/// Load the configuration on this thread; [`release`] undoes it.
///
/// # Safety
/// The CPU has AMX and the process holds the tile permission.
#[inline(always)]
unsafe fn configure() {
    asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly));
}

/// # Safety
/// As [`configure`].
#[inline(always)]
unsafe fn release() {
    asm!("tilerelease", options(nostack, nomem));
}

/// One 32 x 32 block: `C = A . B` over `chunks` depth steps of 16 with the
/// tile product `$op`, stored to `c` (32 rows of 32 lanes).
macro_rules! block {
    ($name:ident, $op:literal) => {
        /// # Safety
        /// Tiles configured by [`configure`]; `a` has 32 rows of `sa` bytes
        /// holding `chunks * 64` bytes each, `b` `chunks * 16` panel steps
        /// blocks of 2 KB (two B tiles), `c` room for 32 x 32 lanes.
        #[inline(always)]
        unsafe fn $name(a: *const u32, sa: usize, b: *const u32, chunks: usize, c: *mut u32) {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                "2:",
                "tileloadd tmm4, [{a} + {sa}*1]",
                "tileloadd tmm6, [{b} + {sb}*1]",
                "tileloadd tmm7, [{b} + {sb}*1 + 1024]",
                concat!($op, " tmm0, tmm4, tmm6"),
                concat!($op, " tmm1, tmm4, tmm7"),
                "tileloadd tmm5, [{a2} + {sa}*1]",
                concat!($op, " tmm2, tmm5, tmm6"),
                concat!($op, " tmm3, tmm5, tmm7"),
                "add {a}, 64",
                "add {a2}, 64",
                "add {b}, {bstep}",
                "dec {n}",
                "jnz 2b",
                "tilestored [{c} + {sc}*1], tmm0",
                "tilestored [{c} + {sc}*1 + 64], tmm1",
                "tilestored [{c2} + {sc}*1], tmm2",
                "tilestored [{c2} + {sc}*1 + 64], tmm3",
                a = inout(reg) a => _,
                a2 = inout(reg) a.byte_add(16 * sa) => _,
                b = inout(reg) b => _,
                n = inout(reg) chunks => _,
                sa = in(reg) sa,
                sb = in(reg) 64usize,
                bstep = in(reg) 2048usize,
                c = in(reg) c,
                c2 = in(reg) c.byte_add(16 * 128),
                sc = in(reg) 128usize,
                options(nostack),
            );
        }
    };
}

block!(block_bf16, "tdpbf16ps");
block!(block_int8, "tdpbusd");

/// [`block!`] for a last block of at most 16 live rows: one activation
/// tile, half the tile products (a query's whole matrix is such a block).
macro_rules! half_block {
    ($name:ident, $op:literal) => {
        /// # Safety
        /// As the full block, for 16 rows of `a`; rows 16..32 of `c` are
        /// left as they were.
        #[inline(always)]
        unsafe fn $name(a: *const u32, sa: usize, b: *const u32, chunks: usize, c: *mut u32) {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "2:",
                "tileloadd tmm4, [{a} + {sa}*1]",
                "tileloadd tmm6, [{b} + {sb}*1]",
                "tileloadd tmm7, [{b} + {sb}*1 + 1024]",
                concat!($op, " tmm0, tmm4, tmm6"),
                concat!($op, " tmm1, tmm4, tmm7"),
                "add {a}, 64",
                "add {b}, {bstep}",
                "dec {n}",
                "jnz 2b",
                "tilestored [{c} + {sc}*1], tmm0",
                "tilestored [{c} + {sc}*1 + 64], tmm1",
                a = inout(reg) a => _,
                b = inout(reg) b => _,
                n = inout(reg) chunks => _,
                sa = in(reg) sa,
                sb = in(reg) 64usize,
                bstep = in(reg) 2048usize,
                c = in(reg) c,
                sc = in(reg) 128usize,
                options(nostack),
            );
        }
    };
}

half_block!(half_block_bf16, "tdpbf16ps");
half_block!(half_block_int8, "tdpbusd");

/// # Safety
/// As [`rows`]; the CPU has AMX (and AVX-512) and the tile permission.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn rows_bf16(w: &PackedLinear, t: Task) {
    rows(w, t, false)
}

/// # Safety
/// As [`rows_bf16`].
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn rows_int8(w: &PackedLinear, t: Task) {
    rows(w, t, true)
}

/// The task's panels for its rows, in 32-row blocks.
///
/// # Safety
/// `t.y` points to `t.rows` x `w.n` writable f32s that no other thread
/// writes in these panels' columns; `t.a` holds `t.rows` rounded up to 32
/// rows of `w.steps` steps (a multiple of 16), and `t.row_scale` a scale
/// per row for int8.
#[inline(always)]
unsafe fn rows(w: &PackedLinear, t: Task, int8: bool) {
    debug_assert!(w.nr == NR && w.steps.is_multiple_of(16));
    debug_assert!(t.a.len() >= t.rows.next_multiple_of(AMX_ROWS) * w.steps);
    let (steps, n) = (w.steps, w.n);
    let mut c = Block([0u32; AMX_ROWS * 32]);
    configure();
    // Panels outer, row blocks inner: a half panel's weights (32 columns x
    // depth: 24 KB at depth 384) stay in L1 while the task's rows stream
    // past; the other order reads every weight from L2 once per 32 rows,
    // which bounded the kernel at L2 bandwidth.
    for j in t.panels.clone() {
        for half in 0..2 {
            let col = j * NR + half * 32;
            if col >= n {
                break;
            }
            // The half panel's tile blocks (`Tiled` in mod.rs).
            let b = w
                .data
                .as_slice()
                .as_ptr()
                .add(j * steps * NR + half * steps * 32);
            for r0 in (0..t.rows).step_by(AMX_ROWS) {
                let a = t.a.as_ptr().add(r0 * steps);
                let live = (t.rows - r0).min(AMX_ROWS);
                let (sa, chunks, out) = (steps * 4, steps / 16, c.0.as_mut_ptr());
                match (int8, live <= AMX_ROWS / 2) {
                    (true, true) => half_block_int8(a, sa, b, chunks, out),
                    (true, false) => block_int8(a, sa, b, chunks, out),
                    (false, true) => half_block_bf16(a, sa, b, chunks, out),
                    (false, false) => block_bf16(a, sa, b, chunks, out),
                }
                let scales = t.row_scale.get(r0..).unwrap_or(&[]);
                finish(w, &c, live, scales, col, t.y.add(r0 * n), int8);
            }
        }
    }
    release();
}

/// A 32 x 32 output block as the tiles store it.
#[repr(C, align(64))]
struct Block([u32; AMX_ROWS * 32]);

/// Bias (and int8 scales) added, the block's `live` rows stored.
///
/// # Safety
/// AVX-512F; `y` has `live` rows of `w.n` writable values.
#[inline(always)]
unsafe fn finish(
    w: &PackedLinear,
    c: &Block,
    live: usize,
    scales: &[f32],
    col: usize,
    y: *mut f32,
    int8: bool,
) {
    let n = w.n;
    #[allow(clippy::needless_range_loop)] // `r` also indexes the block and `y`
    for r in 0..live {
        for q in 0..2 {
            let cc = col + 16 * q;
            if cc >= n {
                break;
            }
            let mask = lane_mask(n - cc);
            let lanes = c.0.as_ptr().add(r * 32 + 16 * q);
            let v = if int8 {
                finish_int8(_mm512_loadu_si512(lanes.cast()), w, scales[r], cc, mask)
            } else {
                let bias = _mm512_maskz_loadu_ps(mask, w.bias.as_ptr().add(cc));
                _mm512_add_ps(_mm512_loadu_ps(lanes.cast()), bias)
            };
            _mm512_mask_storeu_ps(y.add(r * n + cc), mask, v);
        }
    }
}

/// Tiles for a task outside the linear layers (attention); released when
/// dropped.
pub(crate) struct Tiles(());

impl Tiles {
    /// # Safety
    /// The CPU has AMX and the process holds the tile permission
    /// ([`crate::cpu::CpuFeatures::amx`]).
    pub(crate) unsafe fn configure() -> Tiles {
        configure();
        Tiles(())
    }

    /// One 16 x 16 f32 tile `C = sum_i A_i . B_i` over `chunks` bf16 tile
    /// pairs: `A_i` 16 rows of 64 bytes at `a + i * 64` (row stride `sa`
    /// bytes), `B_i` 1 KB in a row at `b + i * b_step`. C is stored at `c`
    /// with row stride `sc` bytes.
    ///
    /// # Safety
    /// Every address named above is readable (A, B) or writable (C).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn dot_bf16(
        &self,
        a: *const u8,
        sa: usize,
        b: *const u8,
        b_step: usize,
        chunks: usize,
        c: *mut f32,
        sc: usize,
    ) {
        asm!(
            "tilezero tmm0",
            "2:",
            "tileloadd tmm4, [{a} + {sa}*1]",
            "tileloadd tmm6, [{b} + {sb}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "add {a}, 64",
            "add {b}, {bstep}",
            "dec {n}",
            "jnz 2b",
            "tilestored [{c} + {sc}*1], tmm0",
            a = inout(reg) a => _,
            b = inout(reg) b => _,
            n = inout(reg) chunks => _,
            sa = in(reg) sa,
            sb = in(reg) 64usize,
            bstep = in(reg) b_step,
            c = in(reg) c,
            sc = in(reg) sc,
            options(nostack),
        );
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: a `Tiles` exists only after `configure` succeeded.
        unsafe { release() }
    }
}
