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
    documents: usize,
    /// Mean document length in analysed tokens (BM25's avgdl).
    avg_length: f64,
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
        schema::require_current(&mut first.client, &first.url)?;
        let manifest = manifest(&mut first.client, &first.url, false)?
            .ok_or(Error::NoIndex { path: urls.label() })?;
        let row = first
            .client
            .query_one(
                "SELECT count(*), coalesce(avg(length), 0)::float8 FROM semsearch_documents",
                &[],
            )
            .map_err(|e| store_error(&first.url, e))?;
        let (documents, avg_length): (i64, f64) = (row.get(0), row.get(1));
        Ok(PgIndex {
            urls: urls.clone(),
            manifest,
            documents: documents as usize,
            avg_length,
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

    /// The lexical leg: Okapi BM25 over weighted analysed terms (each
    /// term's score times its weight), as tantivy scores a folder index:
    /// `idf * (k1 + 1) * tf / (tf + k1 * (1 - b + b * |d| / avgdl))`,
    /// idf = `ln(1 + (N - df + 0.5) / (df + 0.5))`, k1 1.2, b 0.75.
    /// `allowed` restricts the documents (rows). Best first.
    pub fn lexical(
        &self,
        terms: &[(String, f32)],
        n: usize,
        allowed: Option<&[i64]>,
    ) -> Result<Vec<(i64, f32)>> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let (names, weights): (Vec<&str>, Vec<f32>) =
            terms.iter().map(|(t, w)| (t.as_str(), *w)).unzip();
        // df per term in one MATERIALIZED pass over the primary key, then
        // the scores from the same index (it includes tf and |d|).
        let sql = "WITH q AS MATERIALIZED (
                 SELECT q.term, q.weight,
                        ln(1 + ($3::float8 - df + 0.5) / (df + 0.5)) * 2.2 AS idf
                 FROM unnest($1::text[], $2::real[]) AS q(term, weight),
                      LATERAL (SELECT count(*) AS df FROM semsearch_terms t
                               WHERE t.term = q.term) c)
             SELECT t.doc, sum(q.weight * q.idf * t.tf
                        / (t.tf + 1.2 * (0.25 + 0.75 * t.length / $4::float8)))::real AS score
             FROM q JOIN semsearch_terms t ON t.term = q.term
             WHERE $6::bigint[] IS NULL OR t.doc = ANY($6)
             GROUP BY t.doc ORDER BY score DESC, t.doc LIMIT $5";
        let docs = self.documents as f64;
        let avg = self.avg_length.max(1.0);
        let allowed = allowed.map(<[i64]>::to_vec);
        let rows = self.read(|r| {
            r.client
                .query(sql, &[&names, &weights, &docs, &avg, &(n as i64), &allowed])
        })?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
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

    /// The `n` passages nearest `vector` by cosine (pgvector's HNSW with
    /// `hnsw.ef_search` at least `ef_search`, or a scan of every passage
    /// when `exact`), nearest first.
    pub fn nearest(
        &self,
        vector: &[f32],
        n: usize,
        ef_search: usize,
        exact: bool,
        allowed: Option<&[i64]>,
    ) -> Result<Vec<PgPassage>> {
        let n = n.min(MAX_EF_SEARCH);
        let ef = ef_search.max(n).min(MAX_EF_SEARCH);
        let v = Vector::from(vector.to_vec());
        // The HNSW index serves `ORDER BY embedding <=> $1` only: `+ 0`
        // makes the planner scan. A filter scans too: HNSW filters after
        // its `ef_search` candidates, which can leave too few.
        let order = if exact || allowed.is_some() {
            "(embedding <=> $1) + 0"
        } else {
            "embedding <=> $1"
        };
        let sql = format!(
            "SELECT doc, ordinal, (1 - (embedding <=> $1))::real FROM semsearch_passages
             WHERE $3::bigint[] IS NULL OR doc = ANY($3)
             ORDER BY {order} LIMIT $2"
        );
        let allowed = allowed.map(<[i64]>::to_vec);
        let rows = self.read(|r| {
            if r.ef_search != ef {
                r.client
                    .batch_execute(&format!("SET hnsw.ef_search = {ef}"))?;
                r.ef_search = ef;
            }
            r.client.query(&sql, &[&v, &(n as i64), &allowed])
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
