//! searcher
