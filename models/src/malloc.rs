//! glibc allocator tuning for candle.
//!
//! candle allocates a fresh buffer for every op output. glibc serves large
//! blocks with `mmap` and hands them back with `munmap`, so every op faults
//! its output pages in again; measured here, that halves BERT throughput
//! (`../shared/baselines.md`). Raising the mmap and trim thresholds keeps
//! freed blocks in the heap for reuse.

use std::sync::Once;

/// Raise glibc's mmap and trim thresholds once per process. A no-op on other
/// C libraries. Called by [`crate::Embedder::load`], so every user of the
/// library (binary, tests, benches) gets it.
pub fn tune_allocator() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes allocator parameters; it is safe to
        // call at any time and from any thread.
        unsafe {
            const ONE_GIB: libc::c_int = 1 << 30;
            libc::mallopt(libc::M_MMAP_THRESHOLD, ONE_GIB);
            libc::mallopt(libc::M_TRIM_THRESHOLD, ONE_GIB);
        }
    });
}
