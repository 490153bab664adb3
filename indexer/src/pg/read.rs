//! Reading the store: the manifest, both legs in SQL, and documents.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use pgvector::Vector;
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Row};
use semsearch_models::ModelInfo;

use super::{schema, store_error, Urls};
use crate::error::{Error, Result};
use crate::manifest::{DocEntry, Manifest, Totals};

/// The committed manifest, `None` for a store without semsearch's
/// tables; with `totals`, its documents' totals counted in the table (a
/// scan of every row's entry).
pub(crate) fn manifest(client: &mut Client, url: &str, totals: bool) -> Result<Option<Manifest>> {
    if schema::version(client, url)?.is_none() {
        return Ok(None);
    }
    let Some(row) = client
        .query_opt("SELECT manifest FROM semsearch_meta", &[])
        .map_err(|e| store_error(url, e))?
    else {
        return Ok(None);
    };
    let mut m: Manifest = serde_json::from_value(row.get(0)).map_err(|e| Error::Corrupt {
        path: super::redact(url).into(),
        reason: format!("semsearch_meta: {e}"),
    })?;
    if totals {
        let row = client
            .query_one(
                "SELECT count(*),
                        coalesce(sum(jsonb_array_length(entry->'passages')), 0)::bigint,
                        coalesce(sum((entry->>'ocr_pages')::bigint), 0)::bigint
                 FROM semsearch_documents",
                &[],
            )
            .map_err(|e| store_error(url, e))?;
        let count = |i| row.get::<_, i64>(i) as usize;
        m.totals = Totals {
            documents: count(0),
            passages: count(1),
            ocr_pages: count(2),
        };
    }
    Ok(Some(m))
}

/// Document `id`'s entry, from its row's JSON (`store`: how errors name
/// the store).
pub(crate) fn entry(store: PathBuf, id: &str, json: serde_json::Value) -> Result<DocEntry> {
    serde_json::from_value(json).map_err(|e| Error::Corrupt {
        path: store,
        reason: format!("document {id}: {e}"),
    })
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
    documents: usize,
    /// Mean document length in analysed tokens (BM25's avgdl).
    avg_length: f64,
    /// Whether the store keeps `semsearch_df` (from before it, BM25
    /// counts each query term's postings).
    has_df: bool,
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
pub const MAX_EF_SEARCH: usize = 1000;

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
        schema::require_current(&mut first.client, &first.url)?;
        let manifest = manifest(&mut first.client, &first.url, false)?
            .ok_or(Error::NoIndex { path: urls.label() })?;
        // The kept totals: one row; a store from before them is scanned.
        let totals = match schema::has_totals(&mut first.client, &first.url)? {
            true => {
                "SELECT documents, length::float8 / GREATEST(documents, 1) FROM semsearch_totals"
            }
            false => "SELECT count(*), coalesce(avg(length), 0)::float8 FROM semsearch_documents",
        };
        let row = first
            .client
            .query_one(totals, &[])
            .map_err(|e| store_error(&first.url, e))?;
        let (documents, avg_length): (i64, f64) = (row.get(0), row.get(1));
        let has_df = schema::has_df(&mut first.client, &first.url)?;
        Ok(PgIndex {
            urls: urls.clone(),
            manifest,
            documents: documents as usize,
            avg_length,
            has_df,
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

    /// Whether the store keeps each term's document frequency in
    /// `semsearch_df` (a store written before it gains it at its next
    /// `index` run).
    pub fn has_df(&self) -> bool {
        self.has_df
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

    /// Run a read-only statement on the next reader (a replica when
    /// there are), with pgvector's `hnsw.ef_search` set first when given
    /// (clamped to pgvector's 1 to 1,000). The searcher ranks through this:
    /// the ranking SQL is the searcher's, the tables the indexer's.
    pub fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        ef_search: Option<usize>,
    ) -> Result<Vec<Row>> {
        self.read(|r| {
            if let Some(ef) = ef_search.map(|e| e.clamp(1, MAX_EF_SEARCH)) {
                if r.ef_search != ef {
                    r.client
                        .batch_execute(&format!("SET hnsw.ef_search = {ef}"))?;
                    r.ef_search = ef;
                }
            }
            r.client.query(sql, params)
        })
    }

    /// Mean document length in analysed tokens when the store was opened
    /// (BM25's avgdl).
    pub fn avg_length(&self) -> f64 {
        self.avg_length
    }

    /// Every document's row, id and path (for `--path` globs).
    pub fn paths(&self) -> Result<Vec<(i64, String, Option<String>)>> {
        let rows = self.read(|r| {
            r.client
                .query("SELECT doc, id, path FROM semsearch_documents", &[])
        })?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect())
    }

    /// The vectors of passages (document row, ordinal) that exist.
    pub fn passage_vectors(
        &self,
        passages: &[(i64, i32)],
    ) -> Result<HashMap<(i64, i32), Vec<f32>>> {
        let (docs, ords): (Vec<i64>, Vec<i32>) = passages.iter().copied().unzip();
        let rows = self.read(|r| {
            r.client.query(
                "SELECT p.doc, p.ordinal, p.embedding FROM semsearch_passages p
                 JOIN unnest($1::bigint[], $2::int[]) AS w(doc, ordinal)
                   ON p.doc = w.doc AND p.ordinal = w.ordinal",
                &[&docs, &ords],
            )
        })?;
        Ok(rows
            .iter()
            .map(|row| {
                let v: Vector = row.get(2);
                ((row.get(0), row.get(1)), v.to_vec())
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
                let entry = entry(self.label(), &id, row.get(2))?;
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
        Ok(self.doc_vectors(&[doc])?.remove(&doc))
    }

    /// [`PgIndex::doc_vector`] of several documents in one statement
    /// (those without passages left out).
    pub fn doc_vectors(&self, docs: &[i64]) -> Result<HashMap<i64, Vec<f32>>> {
        let rows = self.read(|r| {
            r.client.query(
                "SELECT doc, avg(embedding) FROM semsearch_passages
                 WHERE doc = ANY($1) GROUP BY doc",
                &[&docs],
            )
        })?;
        Ok(rows
            .iter()
            .map(|row| {
                let v: Vector = row.get(1);
                let mut v = v.to_vec();
                let norm = v
                    .iter()
                    .map(|x| x * x)
                    .sum::<f32>()
                    .sqrt()
                    .max(f32::EPSILON);
                v.iter_mut().for_each(|x| *x /= norm);
                (row.get(0), v)
            })
            .collect())
    }
}
