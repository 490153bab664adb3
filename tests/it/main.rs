//! End-to-end tests of the `semsearch` binary on real folders, one test
//! binary (as ripgrep's `tests/integration`): the dependency graph is
//! linked once, not once per file. Each module is one area, by intent;
//! run one with `cargo test --test it search::`.

mod common;

mod browser;
mod documents;
mod embed;
mod eval;
mod faces;
mod folders;
mod index;
mod mcp;
mod models;
mod postgres;
mod search;
mod segments;
mod serve;
mod signals;
mod snapshots;
mod vectors;
mod watch;
