//! Which kernel family this CPU runs, chosen once at run time.
//!
//! One binary serves every x86-64 CPU: the linear layers and the attention
//! products are compiled for each instruction set and picked here, from
//! CPUID and (for AMX) the kernel's permission to use the tile registers.
//! `SEMSEARCH_KERNELS=auto|portable|avx2|avx512|amx` forces a family, so
//! one machine can test and benchmark every path it can run side by side;
//! a family the CPU lacks is refused by name, never silently replaced.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A family of matrix kernels, from the most portable to the fastest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// candle's own CPU matmul (the gemm crate): any CPU.
    Portable,
    /// Our packed kernel in 8-lane AVX2 + FMA registers: f32, and int8
    /// with AVX-VNNI `vpdpbusd` where the CPU has it, else `vpmaddwd`.
    Avx2,
    /// Our packed kernel in 16-lane AVX-512 registers: f32 FMA, bf16
    /// `vdpbf16ps` (AVX-512 BF16), int8 `vpdpbusd` (AVX-512 VNNI).
    Avx512,
    /// Intel AMX tiles: bf16 `tdpbf16ps` and int8 `tdpbusd`; f32 runs the
    /// AVX-512 kernel (AMX has no f32 product).
    Amx,
}

/// Every family, most portable first.
pub const ALL_KERNELS: [Kernels; 4] = [
    Kernels::Portable,
    Kernels::Avx2,
    Kernels::Avx512,
    Kernels::Amx,
];

impl std::fmt::Display for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kernels::Portable => "portable",
            Kernels::Avx2 => "avx2",
            Kernels::Avx512 => "avx512",
            Kernels::Amx => "amx",
        })
    }
}

impl std::str::FromStr for Kernels {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        ALL_KERNELS
            .into_iter()
            .find(|k| k.to_string() == s)
            .ok_or_else(|| {
                format!("unknown kernels {s:?} (expected auto, portable, avx2, avx512 or amx)")
            })
    }
}

/// The instruction-set extensions the kernels use, as this CPU reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CpuFeatures {
    /// AVX2 and FMA3.
    pub avx2_fma: bool,
    /// AVX-VNNI (VEX-encoded `vpdpbusd` on 256-bit registers).
    pub avx_vnni: bool,
    /// AVX-512 F, BW, VL (the kernels' base).
    pub avx512: bool,
    /// AVX-512 BF16 (`vdpbf16ps`, `vcvtne2ps2bf16`).
    pub avx512_bf16: bool,
    /// AVX-512 VNNI (`vpdpbusd` on 512-bit registers).
    pub avx512_vnni: bool,
    /// AMX tiles with bf16 and int8 products, and the OS lets us use them.
    pub amx: bool,
}

impl CpuFeatures {
    /// What this CPU has (read once per process).
    pub fn get() -> CpuFeatures {
        static FEATURES: OnceLock<CpuFeatures> = OnceLock::new();
        *FEATURES.get_or_init(detect)
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> CpuFeatures {
    use std::is_x86_feature_detected as has;
    let avx512 = has!("avx512f") && has!("avx512bw") && has!("avx512vl");
    CpuFeatures {
        avx2_fma: has!("avx2") && has!("fma"),
        // SEMSEARCH_NO_VNNI holds AVX2's int8 to plain AVX2, as on a CPU
        // without AVX-VNNI, to test and benchmark that path anywhere.
        avx_vnni: has!("avxvnni")
            && has!("avx2")
            && std::env::var_os("SEMSEARCH_NO_VNNI").is_none(),
        avx512,
        avx512_bf16: avx512 && has!("avx512bf16"),
        avx512_vnni: avx512 && has!("avx512vnni"),
        amx: avx512 && has!("avx512bf16") && amx::cpu_has() && amx::request_permission(),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> CpuFeatures {
    CpuFeatures::default()
}

impl Kernels {
    /// Why this CPU cannot run the family, or `None` when it can.
    pub fn missing(self) -> Option<&'static str> {
        let f = CpuFeatures::get();
        match self {
            Kernels::Portable => None,
            Kernels::Avx2 if !f.avx2_fma => Some("AVX2 and FMA"),
            Kernels::Avx512 if !f.avx512 => Some("AVX-512 (F, BW, VL)"),
            Kernels::Amx if !f.amx => Some(amx::why_not()),
            _ => None,
        }
    }

    /// The fastest family this CPU runs.
    pub fn best() -> Kernels {
        *ALL_KERNELS
            .iter()
            .rev()
            .find(|k| k.missing().is_none())
            .unwrap_or(&Kernels::Portable)
    }

    /// The family to run: `SEMSEARCH_KERNELS` when set (and not `auto`),
    /// else [`Kernels::best`]. A family this CPU lacks is an error that
    /// names the missing instructions.
    pub fn selected() -> Result<Kernels> {
        Ok(Kernels::forced()?.unwrap_or_else(Kernels::best))
    }

    /// The family that computes `precision`: `SEMSEARCH_KERNELS` when set,
    /// else the best family for that precision ([`Kernels::auto_for`]).
    pub fn selected_for(precision: crate::Precision) -> Result<Kernels> {
        Ok(Kernels::forced()?.unwrap_or_else(|| Kernels::best().auto_for(precision)))
    }

    /// `SEMSEARCH_KERNELS` when it names a family (not unset, empty or
    /// `auto`), checked against this CPU.
    fn forced() -> Result<Option<Kernels>> {
        match std::env::var("SEMSEARCH_KERNELS") {
            Ok(v) if !v.is_empty() && v != "auto" => {
                let k: Kernels = v.parse().map_err(|reason| Error::Kernels {
                    requested: v.clone(),
                    reason,
                })?;
                k.check()?;
                Ok(Some(k))
            }
            _ => Ok(None),
        }
    }

    /// The family that computes `precision` fastest on a CPU whose best
    /// family is `self`. On AMX CPUs int8 runs on AVX-512 VNNI, not on the
    /// tiles: measured on a 16-core Emerald Rapids (BENCHMARKS.md,
    /// "Emerald Rapids", session 24), three rounds alternated, passages/s:
    /// 16 threads 302-319 against 190-202, 4 threads 135-145 against
    /// 128-141 (2 threads: 72-80 against 77-95, the one width where the
    /// tiles lead, and not the width of a machine with AMX). A forced
    /// family (`SEMSEARCH_KERNELS=amx`) still runs int8 on the tiles.
    pub fn auto_for(self, precision: crate::Precision) -> Kernels {
        let vnni = Kernels::Avx512.missing().is_none() && Kernels::Avx512.runs(precision);
        if self == Kernels::Amx && precision == crate::Precision::Int8 && vnni {
            Kernels::Avx512
        } else {
            self
        }
    }

    /// `Ok` where this CPU runs the family, else an error naming what is
    /// missing.
    pub fn check(self) -> Result<()> {
        match self.missing() {
            None => Ok(()),
            Some(what) => Err(Error::Kernels {
                requested: self.to_string(),
                reason: format!("this CPU lacks {what}"),
            }),
        }
    }

    /// The precisions this family computes natively (f32 always).
    pub fn runs(self, precision: crate::Precision) -> bool {
        use crate::Precision::*;
        let f = CpuFeatures::get();
        match (self, precision) {
            (_, F32) => true,
            (Kernels::Portable, _) => false,
            // No bf16 product in AVX2; int8 with AVX-VNNI's `vpdpbusd`, or
            // plain AVX2's `vpmaddubsw` on magnitudes (linear/avx2.rs).
            (Kernels::Avx2, Bf16) => false,
            (Kernels::Avx2, Int8) => f.avx2_fma,
            (Kernels::Avx512, Bf16) => f.avx512_bf16,
            (Kernels::Avx512, Int8) => f.avx512_vnni,
            (Kernels::Amx, _) => f.amx,
        }
    }

    /// The default precision of this family on this CPU: the fastest that
    /// passes the quality gate (cosine >= 0.99 to sentence-transformers on
    /// the reference inputs, nDCG@10 within 0.005 of f32 on SciFact and
    /// Cranfield; measured in BENCHMARKS.md and EVALUATION.md).
    /// - AMX: int8 (on AVX-512 VNNI by default, [`Kernels::auto_for`]).
    ///   Measured on a 16-core Emerald Rapids (session 24): int8 on the
    ///   tiles beat bf16 on the tiles at 2, 4 and 16 threads (77-95
    ///   against 71-75, 128-141 against 122-131, 190-202 against 159-165
    ///   passages/s), and the gate holds there (worst cosine 0.99079).
    /// - AVX-512 with VNNI, or AVX2 with AVX-VNNI: int8 (1.6x f32 on
    ///   AVX-512, 1.9x on AVX2; `vdpbf16ps` is no faster than f32 FMA on
    ///   Intel cores, one port against two).
    /// - Plain AVX2: int8 on 16-bit pairs (`vpmaddwd`; 1.21x f32 on the
    ///   whole model, a short query 1.9 ms against 2.8), the same numbers
    ///   as the VNNI kernel's, so the same quality.
    /// - AVX-512 without VNNI: f32.
    pub fn default_precision(self) -> crate::Precision {
        use crate::Precision::*;
        match self {
            Kernels::Amx | Kernels::Avx512 | Kernels::Avx2 if self.runs(Int8) => Int8,
            _ => F32,
        }
    }
}

/// f32 lanes of the element-wise kernels (GELU, softmax): 16 with
/// AVX-512, 8 with AVX2 + FMA, 1 otherwise, capped by the selected family
/// (read once per process).
pub(crate) fn vector_width() -> usize {
    static WIDTH: OnceLock<usize> = OnceLock::new();
    *WIDTH.get_or_init(|| match Kernels::selected().unwrap_or(Kernels::Portable) {
        Kernels::Amx | Kernels::Avx512 => 16,
        Kernels::Avx2 => 8,
        // Portable caps the matrix kernels only: candle's own element-wise
        // ops are not capped either.
        Kernels::Portable if CpuFeatures::get().avx2_fma => 8,
        Kernels::Portable => 1,
    })
}

/// AMX: CPUID bits and Linux's permission for the tile state.
pub(crate) mod amx {
    #[cfg(target_arch = "x86_64")]
    use std::sync::OnceLock;

    /// Linux `arch_prctl` codes (asm/prctl.h) and the tile-data state
    /// component (XFEATURE_XTILEDATA).
    #[cfg(target_arch = "x86_64")]
    const ARCH_REQ_XCOMP_PERM: libc::c_ulong = 0x1023;
    #[cfg(target_arch = "x86_64")]
    const XFEATURE_XTILEDATA: libc::c_ulong = 18;

    /// CPUID.(EAX=7, ECX=0):EDX bits 22 (AMX-BF16), 24 (AMX-TILE), 25
    /// (AMX-INT8); `is_x86_feature_detected!` has no stable AMX names.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn cpu_has() -> bool {
        use std::arch::x86_64::{__cpuid, __cpuid_count};
        // Leaf 7 is read only where leaf 0 says it exists.
        if __cpuid(0).eax < 7 {
            return false;
        }
        let edx = __cpuid_count(7, 0).edx;
        edx & (1 << 22) != 0 && edx & (1 << 24) != 0 && edx & (1 << 25) != 0
    }

    #[cfg(target_arch = "x86_64")]
    static PERMISSION: OnceLock<bool> = OnceLock::new();

    /// Ask Linux once per process for the tile state (the kernel refuses
    /// AMX instructions with SIGILL until a process asks). `false` when the
    /// kernel is too old or refuses.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn request_permission() -> bool {
        *PERMISSION.get_or_init(|| {
            #[cfg(target_os = "linux")]
            {
                // SAFETY: arch_prctl with these arguments only changes the
                // process's permitted xsave features; it reads no memory.
                let rc = unsafe {
                    libc::syscall(
                        libc::SYS_arch_prctl,
                        ARCH_REQ_XCOMP_PERM,
                        XFEATURE_XTILEDATA,
                    )
                };
                rc == 0
            }
            #[cfg(not(target_os = "linux"))]
            {
                false
            }
        })
    }

    /// Why AMX is not available, for the error that refuses it.
    pub(crate) fn why_not() -> &'static str {
        #[cfg(target_arch = "x86_64")]
        {
            if !cpu_has() {
                "AMX (AMX-TILE, AMX-BF16, AMX-INT8)"
            } else if !request_permission() {
                "the kernel's permission for AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM refused; Linux 5.16 or later is needed)"
            } else {
                "AVX-512 BF16 beside AMX"
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            "an x86-64 CPU with AMX"
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub(crate) fn cpu_has() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_refused() {
        for k in ALL_KERNELS {
            assert_eq!(k.to_string().parse::<Kernels>(), Ok(k));
        }
        assert!("avx1024".parse::<Kernels>().unwrap_err().contains("avx512"));
    }

    #[test]
    fn int8_on_amx_cpus_runs_on_vnni_and_the_rest_where_chosen() {
        use crate::Precision::*;
        let vnni = Kernels::Avx512.missing().is_none() && Kernels::Avx512.runs(Int8);
        let int8_family = if vnni { Kernels::Avx512 } else { Kernels::Amx };
        assert_eq!(Kernels::Amx.auto_for(Int8), int8_family);
        assert_eq!(Kernels::Amx.auto_for(Bf16), Kernels::Amx);
        assert_eq!(Kernels::Amx.auto_for(F32), Kernels::Amx);
        for k in [Kernels::Portable, Kernels::Avx2, Kernels::Avx512] {
            for p in [F32, Bf16, Int8] {
                assert_eq!(k.auto_for(p), k, "{k} {p}");
            }
        }
    }

    #[test]
    fn best_runs_and_portable_always_does() {
        assert_eq!(Kernels::Portable.missing(), None);
        assert_eq!(Kernels::best().missing(), None);
        // Families are ordered: everything below the best one runs too,
        // except that AVX2 machines need not have AVX-512 and so on up.
        for k in ALL_KERNELS {
            if k > Kernels::best() {
                let why = k.check().unwrap_err().to_string();
                assert!(why.contains(&k.to_string()), "{why}");
            }
        }
    }
}
