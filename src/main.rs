//! The `semsearch` command line: a thin layer over the models, indexer and
//! searcher crates.

mod cli;
mod commands;
mod output;
mod printer;
mod progress;
mod server;
mod signals;

use std::process::ExitCode;

use clap::Parser;

/// One malloc arena for the whole process. glibc gives threads their own
/// arenas and keeps what is freed in each; indexing starts new threads at
/// every checkpoint (tantivy's writer), so freed memory piled up: SciFact
/// with ten checkpoints peaked at 367 MB, with one arena 190 MB and two
/// 243 MB, in the same time (BENCHMARKS.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn one_malloc_arena() {
    // SAFETY: mallopt only sets an allocator parameter; called first thing
    // in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}

/// A document parser that panics has its file skipped as `corrupt` and
/// counted; the panic's own message would only be noise on stderr.
fn quiet_parser_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some(semsearch_indexer::extract::THREAD_NAME) {
            default(info);
        }
    }));
}

/// `semsearch __extract-worker PATH`: parse one document for the indexer
/// (semsearch_indexer::extract::serve), in an address space capped at
/// WORKER_MEMORY, and answer on stdout.
fn extract_worker(path: &std::ffi::OsStr) -> ExitCode {
    use semsearch_indexer::extract::{serve, WORKER_MEMORY};
    #[cfg(unix)]
    {
        // SEMSEARCH_WORKER_MEMORY (bytes) overrides the cap, for tests.
        let cap = std::env::var("SEMSEARCH_WORKER_MEMORY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(WORKER_MEMORY);
        let limit = libc::rlimit {
            rlim_cur: cap,
            rlim_max: cap,
        };
        // SAFETY: setrlimit reads the struct it is given and changes only
        // this process's limit.
        unsafe {
            libc::setrlimit(libc::RLIMIT_AS, &limit);
        }
    }
    match serve(std::path::Path::new(path), &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(2),
    }
}

fn main() -> ExitCode {
    one_malloc_arena();
    let args: Vec<std::ffi::OsString> = std::env::args_os().take(3).collect();
    if let [_, flag, path] = args.as_slice() {
        if flag == semsearch_indexer::extract::WORKER_ARG {
            return extract_worker(path);
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        semsearch_indexer::extract::use_worker(exe);
    }
    quiet_parser_panics();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code.into(),
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("semsearch: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
