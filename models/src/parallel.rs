//! Whether this crate's parallel ops split work across rayon's threads or
//! run inline on the calling thread.
//!
//! A short query's forward pass runs on the thread that asks for it: handing
//! it to a pool thread and waiting for the answer cost 80-100 µs per query
//! on the 2-vCPU VM of BENCHMARKS.md (the worker sleeps between queries),
//! a tenth of the query. Rayon runs an indexed parallel iterator that may
//! not split on the calling thread without touching any pool, so inside
//! [`inline`] every parallel op asks for pieces no smaller than the whole.

use std::cell::Cell;

thread_local! {
    static INLINE: Cell<bool> = const { Cell::new(false) };
}

/// `f` with every parallel op of this crate run on this thread.
pub(crate) fn inline<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            INLINE.set(self.0);
        }
    }
    let _reset = Reset(INLINE.replace(true));
    f()
}

/// The smallest piece a parallel iterator may split into
/// (`with_min_len`): the whole inside [`inline`], else one item.
pub(crate) fn min_len() -> usize {
    if INLINE.get() {
        usize::MAX
    } else {
        1
    }
}

/// Threads a parallel op may use: one inside [`inline`].
pub(crate) fn threads() -> usize {
    if INLINE.get() {
        1
    } else {
        rayon::current_num_threads()
    }
}

#[cfg(test)]
mod tests {
    use rayon::prelude::*;
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::thread::ThreadId;

    fn threads_used() -> HashSet<ThreadId> {
        let seen = Mutex::new(HashSet::new());
        (0..4096)
            .into_par_iter()
            .with_min_len(super::min_len())
            .for_each(|_| {
                seen.lock().unwrap().insert(std::thread::current().id());
            });
        seen.into_inner().unwrap()
    }

    /// Inside `inline` every item runs on the caller; outside, on the pool
    /// (not the caller, which is no worker of it); nesting restores.
    #[test]
    fn inline_runs_parallel_ops_on_the_calling_thread() {
        let me = std::thread::current().id();
        let inside = super::inline(|| {
            assert_eq!(super::threads(), 1);
            super::inline(threads_used);
            threads_used()
        });
        assert_eq!(inside, HashSet::from([me]));
        assert!(!threads_used().contains(&me));
        assert!(super::min_len() == 1);
    }
}
