//! Writing a run into the store: each checkpoint is one transaction.

use std::collections::HashMap;

use pgvector::Vector;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::Client;
use tantivy::tokenizer::TextAnalyzer;

use super::{schema, store_error};
use crate::error::{Error, Result};
use crate::manifest::{DocEntry, Manifest};
use crate::update::{Known, Writer};
use bit_set::BitSet;

/// A row of `semsearch_passages` waiting for its vector.
struct Pending {
    doc: i64,
    ordinal: i32,
    start: i64,
    end: i64,
    line: i32,
    page: Option<i32>,
}

/// A row of `semsearch_documents` waiting to be copied.
struct DocumentRow {
    doc: i64,
    id: String,
    path: Option<String>,
    title: String,
    body: String,
    hash: String,
    mtime: i64,
    length: i32,
    entry: serde_json::Value,
}

/// Document handles taken from the identity sequence at once. Sequences
/// are not transactional: a run killed before its commit leaves a gap
/// in the handles, as the `INSERT`s it replaced did.
const HANDLES_AT_ONCE: i64 = 1024;

/// An indexing run's writes to the primary, which holds the store's
/// advisory lock for as long as this lives.
pub(crate) struct PgWriter {
    client: Client,
    url: String,
    /// Inside a transaction (written since the last commit).
    open: bool,
    /// Drop and create the tables in the first transaction (`--rebuild`,
    /// or a store without them), with this vector width and analyser.
    create: Option<usize>,
    /// The index's analyser, for the term statistics (from the committed
    /// manifest, or the one a new store is created with).
    analyzer: Option<TextAnalyzer>,
    pending: HashMap<u64, Pending>,
    /// Rows of `semsearch_documents` not yet copied, each with the handle
    /// `add` answered (taken from `handles`).
    documents: Vec<DocumentRow>,
    /// Handles taken from the documents' identity sequence and not yet
    /// given, last first: one query per [`HANDLES_AT_ONCE`] documents
    /// instead of an `INSERT ... RETURNING` each.
    handles: Vec<i64>,
    /// Rows of `semsearch_terms` (term, doc, count, length) not yet
    /// copied: one `COPY` per batch instead of a statement per document.
    terms: Vec<(String, i64, i32, i32)>,
    /// How this transaction changed each term's document frequency, for
    /// `semsearch_df` at commit.
    df: HashMap<String, i32>,
    /// How this transaction changed the documents and their summed
    /// length, for `semsearch_totals` at commit.
    totals: (i64, i64),
    /// pgvector's `vector` type on this server (an extension's type has
    /// no fixed id), once asked.
    vector_type: Option<Type>,
    /// The search indexes wait for the run's last commit: the run made
    /// the tables, or a killed one left them without (its checkpoints
    /// are searched by scanning until then), or the store is from before
    /// `semsearch_df`.
    deferred: bool,
    /// The next commit is the run's last.
    last: bool,
}

/// Each distinct analysed term of `text` with its count, and the count of
/// all its tokens (BM25's document length).
fn term_counts(analyzer: &mut TextAnalyzer, text: &str) -> (Vec<(String, i32)>, i32) {
    let mut counts: HashMap<String, i32> = HashMap::new();
    let mut length = 0i32;
    let mut stream = analyzer.token_stream(text);
    while let Some(tok) = stream.next() {
        *counts.entry(tok.text.clone()).or_default() += 1;
        length = length.saturating_add(1);
    }
    let mut terms: Vec<(String, i32)> = counts.into_iter().collect();
    terms.sort_unstable();
    (terms, length)
}

/// The advisory lock key of `semsearch index` on a store (any number,
/// the same in every semsearch).
const LOCK_KEY: i64 = 0x5e35_ea2c;

/// How long a run waits for the store's lock before it is refused: a run
/// killed a moment ago holds it until its server process sees the closed
/// connection (at once when idle, within a second mid-statement).
const LOCK_WAIT: &str = "10s";

/// Take the store's write lock on `client`, waiting up to [`LOCK_WAIT`].
fn take_lock(client: &mut Client, url: &str) -> Result<()> {
    let sql = format!(
        "SET lock_timeout = '{LOCK_WAIT}'; SELECT pg_advisory_lock({LOCK_KEY}); RESET lock_timeout"
    );
    match client.batch_execute(&sql) {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
            Err(Error::Locked {
                path: super::redact(url).into(),
            })
        }
        Err(e) => Err(store_error(url, e)),
    }
}

impl PgWriter {
    /// Connect to the primary and take the store's write lock.
    pub fn open(url: &str) -> Result<PgWriter> {
        let mut client = super::connect(url)?;
        // A server process in the middle of a statement (an index build)
        // notices a killed client only at its next read: asked to look
        // every second, it ends, and the lock with it, soon after the run.
        // Servers before 14 or on systems without the kernel's event do
        // not know the setting; they keep the lock until that next read.
        let _ = client.batch_execute("SET client_connection_check_interval = '1s'");
        take_lock(&mut client, url)?;
        Ok(PgWriter {
            client,
            url: url.to_string(),
            open: false,
            create: None,
            analyzer: None,
            pending: HashMap::new(),
            documents: Vec::new(),
            handles: Vec::new(),
            terms: Vec::new(),
            df: HashMap::new(),
            totals: (0, 0),
            vector_type: None,
            deferred: false,
            last: false,
        })
    }

    /// The committed manifest with its documents' totals counted, `None`
    /// for a store without semsearch's tables.
    pub fn previous(&mut self) -> Result<Option<Manifest>> {
        schema::require_current(&mut self.client, &self.url)?;
        let m = super::read::manifest(&mut self.client, &self.url, true)?;
        if let Some(m) = &m {
            self.analyzer = Some(crate::schema::analyzer(&m.analyzer));
            // A store from before `semsearch_df` or `semsearch_totals`
            // gains them at this run's last commit, even one that finds
            // nothing to do.
            self.deferred = !schema::has_indexes(&mut self.client, &self.url)?
                || !schema::has_df(&mut self.client, &self.url)?
                || !schema::has_totals(&mut self.client, &self.url)?;
        }
        Ok(m)
    }

    /// Start over in the first transaction: drop any tables, create them.
    pub fn recreate(&mut self, dim: usize, analyzer: &str) {
        self.create = Some(dim);
        self.deferred = true;
        self.analyzer = Some(crate::schema::analyzer(analyzer));
    }

    fn begin(&mut self) -> Result<()> {
        if !self.open {
            self.exec("BEGIN")?;
            self.open = true;
            if let Some(dim) = self.create.take() {
                schema::drop_all(&mut self.client, &self.url)?;
                schema::create(&mut self.client, &self.url, dim)?;
            }
        }
        Ok(())
    }

    fn exec(&mut self, sql: &str) -> Result<()> {
        let url = &self.url;
        self.client
            .batch_execute(sql)
            .map_err(|e| store_error(url, e))
    }

    /// A handle for a new document, from the identity sequence.
    fn next_handle(&mut self) -> Result<i64> {
        if self.handles.is_empty() {
            let url = &self.url;
            let rows = self
                .client
                .query(
                    "SELECT nextval(pg_get_serial_sequence('semsearch_documents', 'doc'))
                     FROM generate_series(1, $1::bigint)",
                    &[&HANDLES_AT_ONCE],
                )
                .map_err(|e| store_error(url, e))?;
            self.handles = rows.iter().rev().map(|r| r.get(0)).collect();
        }
        Ok(self.handles.pop().expect("taken above"))
    }

    /// Copy the documents rows waiting.
    fn copy_documents(&mut self) -> Result<()> {
        if self.documents.is_empty() {
            return Ok(());
        }
        let url = &self.url;
        let sink = self
            .client
            .copy_in(
                "COPY semsearch_documents (doc, id, path, title, body, hash, mtime, length, entry)
                 FROM STDIN BINARY",
            )
            .map_err(|e| store_error(url, e))?;
        let types = [
            Type::INT8,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT8,
            Type::INT4,
            Type::JSONB,
        ];
        let mut rows = BinaryCopyInWriter::new(sink, &types);
        for d in self.documents.drain(..) {
            rows.write(&[
                &d.doc, &d.id, &d.path, &d.title, &d.body, &d.hash, &d.mtime, &d.length, &d.entry,
            ])
            .map_err(|e| store_error(url, e))?;
        }
        rows.finish().map_err(|e| store_error(url, e))?;
        Ok(())
    }

    /// Copy the rows waiting: the documents, then their terms.
    fn copy_rows(&mut self) -> Result<()> {
        self.copy_documents()?;
        if self.terms.is_empty() {
            return Ok(());
        }
        let url = &self.url;
        let sink = self
            .client
            .copy_in("COPY semsearch_terms (term, doc, tf, length) FROM STDIN BINARY")
            .map_err(|e| store_error(url, e))?;
        let types = [Type::TEXT, Type::INT8, Type::INT4, Type::INT4];
        let mut rows = BinaryCopyInWriter::new(sink, &types);
        for (term, doc, tf, length) in self.terms.drain(..) {
            rows.write(&[&term, &doc, &tf, &length])
                .map_err(|e| store_error(url, e))?;
        }
        rows.finish().map_err(|e| store_error(url, e))?;
        Ok(())
    }

    /// pgvector's `vector` type on this server.
    fn vector_type(&mut self) -> Result<Type> {
        if let Some(t) = &self.vector_type {
            return Ok(t.clone());
        }
        let url = &self.url;
        let statement = self
            .client
            .prepare("SELECT $1::vector")
            .map_err(|e| store_error(url, e))?;
        let t = statement.params()[0].clone();
        self.vector_type = Some(t.clone());
        Ok(t)
    }

    /// The documents whose `column` is one of `values` (an array), by id.
    fn documents_where(
        &mut self,
        column: &str,
        values: &(dyn ToSql + Sync),
    ) -> Result<Vec<(String, Known)>> {
        self.copy_documents()?;
        let url = &self.url;
        let sql =
            format!("SELECT id, doc, entry FROM semsearch_documents WHERE {column} = ANY($1)");
        let rows = self
            .client
            .query(&sql, &[values])
            .map_err(|e| store_error(url, e))?;
        let known = |row: &postgres::Row| {
            let id: String = row.get(0);
            let entry = super::read::entry(super::redact(url).into(), &id, row.get(2))?;
            let handle = row.get::<_, i64>(1) as u64;
            Ok((id, Known { handle, entry }))
        };
        rows.iter().map(known).collect()
    }

    fn entry_json(entry: &DocEntry) -> Result<serde_json::Value> {
        serde_json::to_value(entry).map_err(|e| Error::Corrupt {
            path: "document entry".into(),
            reason: e.to_string(),
        })
    }
}

/// Entries of documents not met asked for at once.
const LOOKUP_BATCH: usize = 1000;

impl Writer for PgWriter {
    // In the run's transaction, if one is open: what was written since
    // the last commit shows too (the run asks its own record first).
    fn committed(&mut self, ids: &[&str]) -> Result<Vec<Option<Known>>> {
        if self.create.is_some() {
            // Made anew by the first write: nothing is committed.
            return Ok(vec![None; ids.len()]);
        }
        let mut found: HashMap<String, Known> =
            self.documents_where("id", &ids)?.into_iter().collect();
        Ok(ids.iter().map(|id| found.remove(*id)).collect())
    }

    // The rows' hash column, not their entries: a no-op run reads no JSON.
    fn same_content(&mut self, ids: &[(&str, [u64; 2])]) -> Result<Vec<Option<u64>>> {
        if self.create.is_some() || ids.is_empty() {
            return Ok(vec![None; ids.len()]);
        }
        self.copy_documents()?;
        let url = &self.url;
        let names: Vec<&str> = ids.iter().map(|&(id, _)| id).collect();
        let rows = self
            .client
            .query(
                "SELECT id, doc, hash FROM semsearch_documents WHERE id = ANY($1)",
                &[&names],
            )
            .map_err(|e| store_error(url, e))?;
        let held: HashMap<String, (u64, String)> = rows
            .iter()
            .map(|r| (r.get(0), (r.get::<_, i64>(1) as u64, r.get(2))))
            .collect();
        Ok(ids
            .iter()
            .map(|&(id, words)| {
                let (doc, hash) = held.get(id)?;
                (crate::schema::hash_words(hash) == Some(words)).then_some(*doc)
            })
            .collect())
    }

    // The rows first (eight bytes each), then the entries of those unmet.
    fn unmet(&mut self, met: &BitSet) -> Result<Vec<(String, DocEntry)>> {
        if self.create.is_some() {
            return Ok(Vec::new());
        }
        self.copy_documents()?;
        let url = &self.url;
        let rows = self
            .client
            .query("SELECT doc FROM semsearch_documents", &[])
            .map_err(|e| store_error(url, e))?;
        let unmet: Vec<i64> = rows
            .iter()
            .map(|r| r.get::<_, i64>(0))
            .filter(|&doc| !met.contains(doc as usize))
            .collect();
        drop(rows);
        let mut out = Vec::with_capacity(unmet.len());
        for batch in unmet.chunks(LOOKUP_BATCH) {
            out.extend(
                self.documents_where("doc", &batch)?
                    .into_iter()
                    .map(|(id, k)| (id, k.entry)),
            );
        }
        Ok(out)
    }

    fn is_dirty(&self) -> bool {
        // A last commit builds the indexes a killed run left missing.
        self.open || (self.deferred && self.last)
    }

    fn remove(&mut self, id: &str, _entry: &DocEntry) -> Result<()> {
        self.begin()?;
        // Its terms go first, each taken off its df (the rest of the
        // document goes by cascade); none may wait to be copied.
        self.copy_rows()?;
        let url = &self.url;
        let gone = self
            .client
            .query(
                "DELETE FROM semsearch_terms
                 WHERE doc = (SELECT doc FROM semsearch_documents WHERE id = $1) RETURNING term",
                &[&id],
            )
            .map_err(|e| store_error(url, e))?;
        for row in gone {
            *self.df.entry(row.get(0)).or_default() -= 1;
        }
        // Passages go with their document (ON DELETE CASCADE).
        let gone = self
            .client
            .query_opt(
                "DELETE FROM semsearch_documents WHERE id = $1 RETURNING length",
                &[&id],
            )
            .map_err(|e| store_error(url, e))?;
        if let Some(row) = gone {
            self.totals.0 -= 1;
            self.totals.1 -= i64::from(row.get::<_, i32>(0));
        }
        Ok(())
    }

    fn add(&mut self, id: &str, entry: &DocEntry, text: &str) -> Result<u64> {
        self.begin()?;
        let path = entry
            .path
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        let mtime = i64::try_from(entry.mtime).unwrap_or(i64::MAX);
        let json = Self::entry_json(entry)?;
        let analyzer = self.analyzer.as_mut().ok_or_else(|| Error::Store {
            url: super::redact(&self.url),
            reason: "writing before the store's analyser is known".into(),
        })?;
        // What the folder index's tantivy field holds: title, then text.
        let (terms, length) = term_counts(analyzer, &format!("{}\n{text}", entry.title));
        let doc = self.next_handle()?;
        self.documents.push(DocumentRow {
            doc,
            id: id.to_string(),
            path,
            title: entry.title.clone(),
            body: text.to_string(),
            hash: entry.hash.clone(),
            mtime,
            length,
            entry: json,
        });
        for (t, _) in &terms {
            *self.df.entry(t.clone()).or_default() += 1;
        }
        self.totals.0 += 1;
        self.totals.1 += i64::from(length);
        let rows = terms.into_iter().map(|(t, c)| (t, doc, c, length));
        self.terms.extend(rows);
        for (ordinal, p) in entry.passages.iter().enumerate() {
            let page = entry.page_at(p.start).map(|(_, n)| n as i32);
            self.pending.insert(
                p.id,
                Pending {
                    doc,
                    ordinal: ordinal as i32,
                    start: p.start as i64,
                    end: p.end as i64,
                    line: p.line as i32,
                    page,
                },
            );
        }
        Ok(doc as u64)
    }

    fn add_vectors(&mut self, passages: Vec<(u64, Vec<f32>)>) -> Result<()> {
        self.begin()?;
        self.copy_rows()?;
        let types = [
            Type::INT8,
            Type::INT8,
            Type::INT4,
            Type::INT8,
            Type::INT8,
            Type::INT4,
            Type::INT4,
            self.vector_type()?,
        ];
        let url = self.url.clone();
        let sink = self
            .client
            .copy_in(
                "COPY semsearch_passages
                 (id, doc, ordinal, start_byte, end_byte, line, page, embedding)
                 FROM STDIN BINARY",
            )
            .map_err(|e| store_error(&url, e))?;
        let mut rows = BinaryCopyInWriter::new(sink, &types);
        for (key, v) in passages {
            let Some(p) = self.pending.remove(&key) else {
                continue;
            };
            let id = key as i64;
            let vector = Vector::from(v);
            rows.write(&[
                &id, &p.doc, &p.ordinal, &p.start, &p.end, &p.line, &p.page, &vector,
            ])
            .map_err(|e| store_error(&url, e))?;
        }
        rows.finish().map_err(|e| store_error(&url, e))?;
        Ok(())
    }

    fn update_entry(&mut self, id: &str, entry: &DocEntry) -> Result<u64> {
        self.begin()?;
        let mtime = i64::try_from(entry.mtime).unwrap_or(i64::MAX);
        let json = Self::entry_json(entry)?;
        self.copy_documents()?;
        let url = &self.url;
        let doc: i64 = self
            .client
            .query_one(
                "UPDATE semsearch_documents SET entry = $2, mtime = $3 WHERE id = $1 RETURNING doc",
                &[&id, &json, &mtime],
            )
            .map_err(|e| store_error(url, e))?
            .get(0);
        Ok(doc as u64)
    }

    fn commit(&mut self, manifest: &mut Manifest) -> Result<()> {
        self.begin()?;
        self.copy_rows()?;
        // A df table made by this commit counts every posting itself.
        let df = std::mem::take(&mut self.df);
        if !df.is_empty() && schema::has_df(&mut self.client, &self.url)? {
            let deltas: Vec<(String, i32)> = df.into_iter().filter(|d| d.1 != 0).collect();
            schema::update_df(&mut self.client, &self.url, &deltas)?;
        }
        // Likewise the totals.
        let totals = std::mem::take(&mut self.totals);
        if totals != (0, 0) && schema::has_totals(&mut self.client, &self.url)? {
            schema::update_totals(&mut self.client, &self.url, totals)?;
        }
        if !self.deferred || self.last {
            let (rows, dim) = (manifest.passage_count(), manifest.model.dim);
            schema::indexes(&mut self.client, &self.url, rows, dim)?;
            self.deferred = false;
        }
        manifest.generation += 1;
        manifest.updated = crate::update::now();
        // The documents are rows; the meta row is the rest.
        let meta = serde_json::to_value(&*manifest).map_err(|e| Error::Corrupt {
            path: super::redact(&self.url).into(),
            reason: e.to_string(),
        })?;
        let url = &self.url;
        self.client
            .execute(
                "INSERT INTO semsearch_meta (one, manifest) VALUES (true, $1)
                 ON CONFLICT (one) DO UPDATE SET manifest = EXCLUDED.manifest",
                &[&meta],
            )
            .map_err(|e| store_error(url, e))?;
        crate::update::failpoint("before-manifest");
        self.exec("COMMIT")?;
        self.open = false;
        Ok(())
    }

    fn finish(&mut self) {
        self.last = true;
    }

    fn touch(&mut self, manifest: &mut Manifest) -> Result<()> {
        self.commit(manifest)
    }
}
