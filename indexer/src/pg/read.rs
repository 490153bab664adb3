//! Reading the store: the manifest, both legs in SQL, and documents.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use pgvector::Vector;
use postgres::error::SqlState;
use postgres::Client;
use semsearch_models::ModelInfo;

use super::{schema, store_error, Urls};
use crate::error::{Error, Result};
use crate::manifest::{DocEntry, Manifest};

/// The committed manifest (with every document's entry when
/// `documents`), `None` for a store without semsearch's tables.
pub(crate) fn manifest(
    client: &mut Client,
    url: &str,
    documents: bool,
) -> Result<Option<Manifest>> {
    if schema::version(client, url)?.is_none() {
        return Ok(None);
    }
    let corrupt = |what: &str, e: serde_json::Error| Error::Corrupt {
        path: super::redact(url).into(),
        reason: format!("{what}: {e}"),
    };
    let Some(row) = client
        .query_opt("SELECT manifest FROM semsearch_meta", &[])
        .map_err(|e| store_error(url, e))?
    else {
        return Ok(None);
    };
    let mut m: Manifest =
        serde_json::from_value(row.get(0)).map_err(|e| corrupt("semsearch_meta", e))?;
    if documents {
        let rows = client
            .query("SELECT id, entry FROM semsearch_documents", &[])
            .map_err(|e| store_error(url, e))?;
        for row in rows {
            let id: String = row.get(0);
            let entry: DocEntry = serde_json::from_value(row.get(1))
                .map_err(|e| corrupt(&format!("document {id}"), e))?;
            m.documents.insert(id, entry);
        }
    }
    Ok(Some(m))
}

/// One passage found by the semantic leg.
#[derive(Debug, Clone, Copy)]
pub struct PgPassage {
    /// Its document's row.
    pub doc: i64,
    /// Its ordinal in the document.
    pub ordinal: usize,
    /// Cosine similarity to the query.
    pub similarity: f32,
}

/// A document read back: row, id, manifest entry and text.
#[derive(Debug, Clone)]
pub struct PgDocument {
    /// The row (`semsearch_documents.doc`).
    pub doc: i64,
    /// Its id (path under its root, or corpus `_id`).
    pub id: String,
    /// Its manifest entry.
    pub entry: DocEntry,
    /// Its extracted text.
    pub text: String,
}

struct Reader {
    url: String,
    client: Client,
    ef_search: usize,
}

/// A store opened for searching: one connection per reader, used in turn.
pub struct PgIndex {
    urls: Urls,
    manifest: Manifest,
    config: &'static str,
    documents: usize,
    readers: Vec<Mutex<Reader>>,
    next: AtomicUsize,
}

impl Drop for PgIndex {
    /// The sync client's drop blocks on its own runtime, which panics on
    /// a tokio thread (a server or MCP session ending drops the store
    /// there): the connections close on a plain thread instead.
    fn drop(&mut self) {
        let readers = std::mem::take(&mut self.readers);
        let _ = std::thread::spawn(move || drop(readers)).join();
    }
}

/// Connections opened to each reader.
const CONNECTIONS_PER_READER: usize = 2;

/// Most rows pgvector's HNSW scan returns is `hnsw.ef_search`, at most 1000.
const MAX_EF_SEARCH: usize = 1000;

impl PgIndex {
    /// Connect to the readers and read the committed manifest.
    pub fn open(urls: &Urls) -> Result<PgIndex> {
        let mut readers = Vec::new();
        // Two connections per reader: a hybrid search's legs run side by
        // side; in turn across readers first.
        for _ in 0..CONNECTIONS_PER_READER {
            for url in urls.readers() {
                readers.push(Reader {
                    url: url.to_string(),
                    client: super::connect(url)?,
                    ef_search: 40,
                });
            }
        }
        let first = &mut readers[0];
        let manifest = manifest(&mut first.client, &first.url, false)?
            .ok_or(Error::NoIndex { path: urls.label() })?;
        let documents: i64 = first
            .client
            .query_one("SELECT count(*) FROM semsearch_documents", &[])
            .map_err(|e| store_error(&first.url, e))?
            .get(0);
        Ok(PgIndex {
            urls: urls.clone(),
            config: schema::text_config(&manifest.analyzer),
            manifest,
            documents: documents as usize,
            readers: readers.into_iter().map(Mutex::new).collect(),
            next: AtomicUsize::new(0),
        })
    }

    /// How errors name the store.
    pub fn label(&self) -> PathBuf {
        self.urls.label()
    }

    /// The manifest without document entries (model, chunking, roots).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The model that made the vectors.
    pub fn model(&self) -> &ModelInfo {
        &self.manifest.model
    }

    /// Documents in the store when it was opened.
    pub fn len(&self) -> usize {
        self.documents
    }

    /// Whether the store held no documents when opened.
    pub fn is_empty(&self) -> bool {
        self.documents == 0
    }

    /// The next reader in turn (replicas round-robin), or the next free
    /// connection after it when that one is busy.
    fn reader(&self) -> MutexGuard<'_, Reader> {
        let n = self.readers.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in (first..first + n).map(|i| i % n) {
            if let Ok(r) = self.readers[i].try_lock() {
                return r;
            }
        }
        self.readers[first]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The URL each search went to, in turn: for tests of replica reads.
    pub fn reader_url(&self) -> String {
        super::redact(&self.reader().url)
    }

    /// Run `f` on the next reader. A statement a replica cancelled for a
    /// conflict with the replay of the primary's changes (SQLSTATE 40001,
    /// hot standby) runs once more, on the next reader.
    fn read<T>(
        &self,
        mut f: impl FnMut(&mut Reader) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let mut r = self.reader();
        match f(&mut r) {
            Err(e) if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE) => {
                drop(r);
                let mut r = self.reader();
                f(&mut r).map_err(|e| store_error(&r.url, e))
            }
            other => other.map_err(|e| store_error(&r.url, e)),
        }
    }

    /// The lexical leg: documents matching any of the query's lexemes,
    /// best first, scored by the sum over the query's lexemes of BM25's
    /// inverse document frequency times `ts_rank` of that lexeme alone
    /// with `normalization` (Postgres's bit mask).
    pub fn lexical(&self, query: &str, n: usize, normalization: i32) -> Result<Vec<(i64, f32)>> {
        // plainto_tsquery ANDs the lexemes; a ranking wants any of them.
        // ts_rank alone weighs every lexeme the same, however common: the
        // idf (Lucene's BM25 form, document frequencies counted with the
        // GIN index) took SciFact train from 0.6166 to 0.6885 nDCG@10.
        // The CTEs are MATERIALIZED so that the counts run once per query,
        // not once per row; `|| ''` detoasts each matched tsvector once
        // (behind the OFFSET 0 fence) rather than once per lexeme: 144 ->
        // 65 ms for a 17-word SciFact claim (EXPLAIN ANALYZE).
        let sql = format!(
            "WITH terms AS MATERIALIZED (
                 SELECT quote_literal(lexeme)::tsquery AS tq
                 FROM unnest(to_tsvector('{c}', $1))),
             weights AS MATERIALIZED (
                 SELECT tq, ln(1 + ($4::float8 - df + 0.5) / (df + 0.5)) AS idf
                 FROM (SELECT tq, (SELECT count(*) FROM semsearch_documents d
                                   WHERE d.tsv @@ tq) AS df
                       FROM terms) counted)
             SELECT doc, (SELECT sum(idf * ts_rank(v, tq, $3)) FROM weights)::real AS score
             FROM (SELECT doc, tsv || ''::tsvector AS v
                   FROM semsearch_documents,
                        (SELECT replace(plainto_tsquery('{c}', $1)::text, '&', '|')::tsquery AS q) AS query
                   WHERE tsv @@ q OFFSET 0) matched
             ORDER BY score DESC, doc LIMIT $2",
            c = self.config
        );
        let docs = self.documents as f64;
        let rows = self.read(|r| {
            r.client
                .query(&sql, &[&query, &(n as i64), &normalization, &docs])
        })?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The `n` passages nearest `vector` by cosine (pgvector's HNSW with
    /// `hnsw.ef_search` at least `ef_search`, or a scan of every passage
    /// when `exact`), nearest first.
    pub fn nearest(
        &self,
        vector: &[f32],
        n: usize,
        ef_search: usize,
        exact: bool,
    ) -> Result<Vec<PgPassage>> {
        let n = n.min(MAX_EF_SEARCH);
        let ef = ef_search.max(n).min(MAX_EF_SEARCH);
        let v = Vector::from(vector.to_vec());
        // The HNSW index serves `ORDER BY embedding <=> $1` only: `+ 0`
        // makes the planner scan.
        let order = if exact {
            "(embedding <=> $1) + 0"
        } else {
            "embedding <=> $1"
        };
        let sql = format!(
            "SELECT doc, ordinal, (1 - (embedding <=> $1))::real FROM semsearch_passages
             ORDER BY {order} LIMIT $2"
        );
        let rows = self.read(|r| {
            if r.ef_search != ef {
                r.client
                    .batch_execute(&format!("SET hnsw.ef_search = {ef}"))?;
                r.ef_search = ef;
            }
            r.client.query(&sql, &[&v, &(n as i64)])
        })?;
        Ok(rows
            .iter()
            .map(|row| PgPassage {
                doc: row.get(0),
                ordinal: row.get::<_, i32>(1) as usize,
                similarity: row.get(2),
            })
            .collect())
    }

    /// The ids of documents `docs`.
    pub fn ids(&self, docs: &[i64]) -> Result<HashMap<i64, String>> {
        let rows = self.read(|r| {
            r.client.query(
                "SELECT doc, id FROM semsearch_documents WHERE doc = ANY($1)",
                &[&docs],
            )
        })?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// Documents `docs` with their entries and texts (missing ones left out).
    pub fn documents(&self, docs: &[i64]) -> Result<Vec<PgDocument>> {
        let rows = self.read(|r| {
            r.client.query(
                "SELECT doc, id, entry, body FROM semsearch_documents WHERE doc = ANY($1)",
                &[&docs],
            )
        })?;
        rows.iter()
            .map(|row| {
                let id: String = row.get(1);
                let entry = serde_json::from_value(row.get(2)).map_err(|e| Error::Corrupt {
                    path: self.label(),
                    reason: format!("document {id}: {e}"),
                })?;
                Ok(PgDocument {
                    doc: row.get(0),
                    id,
                    entry,
                    text: row.get(3),
                })
            })
            .collect()
    }

    /// The document with this id.
    pub fn position(&self, id: &str) -> Result<Option<i64>> {
        let row = self.read(|r| {
            r.client
                .query_opt("SELECT doc FROM semsearch_documents WHERE id = $1", &[&id])
        })?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The document with this id or path.
    pub fn find_document(&self, path_or_id: &str) -> Result<Option<i64>> {
        let row = self.read(|r| {
            r.client.query_opt(
                "SELECT doc FROM semsearch_documents WHERE id = $1 OR path = $1 LIMIT 1",
                &[&path_or_id],
            )
        })?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The mean of a document's passage vectors, normalised.
    pub fn doc_vector(&self, doc: i64) -> Result<Option<Vec<f32>>> {
        let row = self.read(|r| {
            r.client.query_one(
                "SELECT avg(embedding) FROM semsearch_passages WHERE doc = $1",
                &[&doc],
            )
        })?;
        let v: Option<Vector> = row.get(0);
        Ok(v.map(|v| {
            let mut v = v.to_vec();
            let norm = v
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
                .sqrt()
                .max(f32::EPSILON);
            v.iter_mut().for_each(|x| *x /= norm);
            v
        }))
    }
}
