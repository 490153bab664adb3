//! The store's tables, created and checked by semsearch.
//!
//! - `semsearch_schema`: the schema version; a newer one than this
//!   semsearch knows is refused.
//! - `semsearch_meta`: one row, the manifest without its documents (model,
//!   chunking, roots, next passage id): what a folder index keeps in
//!   `manifest.json`.
//! - `semsearch_documents`: one row per document with its text, its
//!   length in analysed tokens (BM25's |d|) and its manifest entry as JSON.
//! - `semsearch_terms`: one row per (term, document) with the term's
//!   count and the document's length (so that BM25 reads one index, not
//!   a join: SciFact lexical p50 31 -> 9 ms): the folder index's analyser run at write time, so BM25 in SQL
//!   scores the same terms with the same formula as tantivy (schema 2;
//!   schema 1 ranked with Postgres's own text search, 0.03 nDCG@10 lower
//!   on Cranfield).
//! - `semsearch_df`: one row per term with the documents that hold it
//!   (BM25's df), kept by the writer in the transaction that changes the
//!   postings, so that a query reads one row per term rather than
//!   counting its postings (a common term at a million documents: 100,000
//!   index entries). Made with the search indexes, so a store from before
//!   it gains it at its next `index` run.
//! - `semsearch_totals`: one row, the documents and the sum of their
//!   lengths (BM25's N and average |d|), kept by the writer likewise, so
//!   that opening the store reads a row rather than scanning every
//!   document's (a million documents: 0.2 s of every one-shot search).
//!   Made and gained as `semsearch_df` is.
//! - `semsearch_passages`: one row per passage: byte range, line, page and
//!   the vector (HNSW index, cosine).

use postgres::Client;

use crate::error::{Error, Result};

/// The schema this semsearch writes and reads.
pub const SCHEMA_VERSION: i32 = 2;

/// The schema version of the store, `None` when it has no semsearch
/// tables; a version newer than [`SCHEMA_VERSION`] is an error.
pub(crate) fn version(client: &mut Client, url: &str) -> Result<Option<i32>> {
    if !exists(client, url, "semsearch_schema")? {
        return Ok(None);
    }
    let row = client
        .query_opt("SELECT max(version) FROM semsearch_schema", &[])
        .map_err(|e| super::store_error(url, e))?;
    let found: Option<i32> = row.and_then(|r| r.get(0));
    match found {
        Some(v) if v > SCHEMA_VERSION => Err(Error::Store {
            url: super::redact(url),
            reason: format!(
                "schema version {v} is newer than this semsearch's {SCHEMA_VERSION}: \
                 upgrade semsearch"
            ),
        }),
        v => Ok(v),
    }
}

/// Refuse a store of an older schema, naming the rebuild that upgrades
/// it (its manifest stays readable, so that the rebuild keeps the model).
pub(crate) fn require_current(client: &mut Client, url: &str) -> Result<()> {
    match version(client, url)? {
        Some(v) if v < SCHEMA_VERSION => Err(Error::Store {
            url: super::redact(url),
            reason: format!(
                "schema version {v} is older than this semsearch's {SCHEMA_VERSION} \
                 (it lacks the term statistics BM25 ranks with): rebuild it with \
                 `semsearch index --store URL --rebuild FOLDER...`"
            ),
        }),
        _ => Ok(()),
    }
}

/// Drop semsearch's tables (a `--rebuild`), inside the caller's
/// transaction so that a killed run keeps them.
pub(crate) fn drop_all(client: &mut Client, url: &str) -> Result<()> {
    client
        .batch_execute(
            "DROP TABLE IF EXISTS semsearch_terms, semsearch_df, semsearch_totals, \
             semsearch_passages, semsearch_documents, semsearch_meta, semsearch_schema",
        )
        .map_err(|e| super::store_error(url, e))
}

/// Create the tables for `dim`-dimensional vectors, inside the caller's
/// transaction; their search indexes come with the first commit
/// ([`indexes`]).
pub(crate) fn create(client: &mut Client, url: &str, dim: usize) -> Result<()> {
    let sql = format!(
        "CREATE EXTENSION IF NOT EXISTS vector;
         CREATE TABLE semsearch_schema (version integer NOT NULL);
         INSERT INTO semsearch_schema VALUES ({SCHEMA_VERSION});
         CREATE TABLE semsearch_meta (
             one boolean PRIMARY KEY DEFAULT true CHECK (one),
             manifest jsonb NOT NULL);
         CREATE TABLE semsearch_documents (
             doc bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             id text NOT NULL UNIQUE,
             path text,
             title text NOT NULL,
             body text NOT NULL,
             hash text NOT NULL,
             mtime bigint NOT NULL,
             length integer NOT NULL,
             entry jsonb NOT NULL);
         CREATE TABLE semsearch_terms (
             term text NOT NULL,
             doc bigint NOT NULL REFERENCES semsearch_documents (doc) ON DELETE CASCADE,
             tf integer NOT NULL,
             length integer NOT NULL);
         CREATE TABLE semsearch_passages (
             id bigint PRIMARY KEY,
             doc bigint NOT NULL REFERENCES semsearch_documents (doc) ON DELETE CASCADE,
             ordinal integer NOT NULL,
             start_byte bigint NOT NULL,
             end_byte bigint NOT NULL,
             line integer NOT NULL,
             page integer,
             embedding vector({dim}) NOT NULL);"
    );
    client
        .batch_execute(&sql)
        .map_err(|e| super::store_error(url, e))
}

/// Whether the store has its search indexes (the last one [`indexes`]
/// creates stands for all: they are made in one transaction).
pub(crate) fn has_indexes(client: &mut Client, url: &str) -> Result<bool> {
    exists(client, url, "semsearch_passages_embedding")
}

/// Whether the store has a table or index named `relation`.
fn exists(client: &mut Client, url: &str, relation: &str) -> Result<bool> {
    client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&relation])
        .map(|r| r.get(0))
        .map_err(|e| super::store_error(url, e))
}

/// The search indexes, created where missing: by the last commit of the
/// run that made the tables, so that each is built once over its rows
/// (sorted, and pgvector's HNSW build) instead of growing row by row
/// (10,000 short documents: writing 47 -> 13 s), and by every commit
/// after; on a store that has them, this is four catalog lookups. (The terms' unique
/// index is named as the primary key of stores made before it was.)
pub(crate) fn indexes(client: &mut Client, url: &str, rows: usize, dim: usize) -> Result<()> {
    if !has_indexes(client, url)? {
        build_memory(client, url, rows, dim)?;
    }
    for (table, made) in [
        ("semsearch_df", DF_TABLE),
        ("semsearch_totals", TOTALS_TABLE),
    ] {
        if !exists(client, url, table)? {
            client
                .batch_execute(made)
                .map_err(|e| super::store_error(url, e))?;
        }
    }
    client
        .batch_execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS semsearch_terms_pkey
                 ON semsearch_terms (term, doc) INCLUDE (tf, length);
             CREATE INDEX IF NOT EXISTS semsearch_terms_doc ON semsearch_terms (doc);
             CREATE INDEX IF NOT EXISTS semsearch_passages_doc ON semsearch_passages (doc);
             CREATE INDEX IF NOT EXISTS semsearch_passages_embedding ON semsearch_passages
                 USING hnsw (embedding vector_cosine_ops);",
        )
        .map_err(|e| super::store_error(url, e))
}

/// Whether the store keeps `semsearch_df`.
pub(crate) fn has_df(client: &mut Client, url: &str) -> Result<bool> {
    exists(client, url, "semsearch_df")
}

/// Whether the store keeps `semsearch_totals`.
pub(crate) fn has_totals(client: &mut Client, url: &str) -> Result<bool> {
    exists(client, url, "semsearch_totals")
}

/// `semsearch_totals` counted from the documents; the writer keeps it from
/// then on ([`update_totals`]).
const TOTALS_TABLE: &str = "
    CREATE TABLE semsearch_totals (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        documents bigint NOT NULL,
        length bigint NOT NULL);
    INSERT INTO semsearch_totals
        SELECT true, count(*), coalesce(sum(length), 0) FROM semsearch_documents;";

/// Add a transaction's change in documents and in their summed length to
/// `semsearch_totals`.
pub(crate) fn update_totals(
    client: &mut Client,
    url: &str,
    (documents, length): (i64, i64),
) -> Result<()> {
    client
        .execute(
            "UPDATE semsearch_totals SET documents = documents + $1, length = length + $2",
            &[&documents, &length],
        )
        .map(drop)
        .map_err(|e| super::store_error(url, e))
}

/// `semsearch_df` counted from the postings; the writer keeps it from
/// then on ([`update_df`]).
const DF_TABLE: &str = "
    CREATE TABLE semsearch_df (term text PRIMARY KEY, df integer NOT NULL);
    INSERT INTO semsearch_df SELECT term, count(*) FROM semsearch_terms GROUP BY term;";

/// Add `deltas` (term, change in df) to `semsearch_df`, terms in order: a
/// transaction's changes in one statement, so each term's row is written
/// once per commit. (Statement triggers on `semsearch_terms` kept it
/// first, but a removed document's postings go by a cascade, one
/// statement per document: 10,000 removals from a million wrote the
/// common terms' rows 10,000 times each in one transaction, 44-59 s
/// against 9 s without the table.) A term no document holds any more
/// keeps its row at 0, which ranks as a missing one.
pub(crate) fn update_df(client: &mut Client, url: &str, deltas: &[(String, i32)]) -> Result<()> {
    let (terms, counts): (Vec<&str>, Vec<i32>) =
        deltas.iter().map(|(t, n)| (t.as_str(), *n)).unzip();
    client
        .execute(
            "INSERT INTO semsearch_df AS d
                 SELECT * FROM unnest($1::text[], $2::int[]) AS c(term, df) ORDER BY term
             ON CONFLICT (term) DO UPDATE SET df = d.df + excluded.df",
            &[&terms, &counts],
        )
        .map(drop)
        .map_err(|e| super::store_error(url, e))
}

/// The most [`build_memory`] raises `maintenance_work_mem` to.
const BUILD_MEMORY_CAP: i64 = 2 << 30;

/// Raise `maintenance_work_mem` for this transaction to what pgvector's
/// HNSW build of `rows` `dim`-d vectors holds (about `4 dim + 1024`
/// bytes a vector), at most [`BUILD_MEMORY_CAP`], never lowering the
/// server's (or the URL's `options=-c maintenance_work_mem=...`). A graph
/// that outgrows it is built on disk, row by row: 100,000 passages
/// committed in 132 s at the default 64 MB, 45 s with room.
fn build_memory(client: &mut Client, url: &str, rows: usize, dim: usize) -> Result<()> {
    let want = (rows as i64).saturating_mul(4 * dim as i64 + 1024);
    client
        .execute(
            "SELECT set_config('maintenance_work_mem', (GREATEST(
                 pg_size_bytes(current_setting('maintenance_work_mem')), $1::bigint) / 1024)::text
                 || 'kB', true)",
            &[&want.min(BUILD_MEMORY_CAP)],
        )
        .map(drop)
        .map_err(|e| super::store_error(url, e))
}
