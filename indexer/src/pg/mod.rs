//! The shared store: the same index in PostgreSQL with pgvector, for a
//! team that keeps one corpus on a server it already runs (`--store
//! postgres://...`). semsearch still walks, extracts, chunks and embeds;
//! Postgres keeps the documents (with a full-text `tsvector`) and the
//! passage vectors (an HNSW index), replicates them, and answers both legs
//! in SQL. The searcher fuses the legs as it does for a local index.
//!
//! Writes go to the primary inside transactions that end at each
//! checkpoint, so a killed run leaves the last committed state, as the
//! manifest swap does locally. Reads go to the replicas in turn (to the
//! primary when there are none).

mod import;
mod read;
mod schema;
mod writer;

use std::path::PathBuf;

use postgres::{Client, NoTls};

pub use import::import;
pub use read::{PgDocument, PgIndex, MAX_EF_SEARCH};
pub use schema::SCHEMA_VERSION;
pub(crate) use writer::PgWriter;

use crate::error::{Error, Result};

/// Where a shared store is: the primary (written) and its replicas (read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urls {
    /// Takes the writes; also the reads when there are no replicas.
    pub primary: String,
    /// Take the reads, in turn.
    pub replicas: Vec<String>,
}

impl Urls {
    /// Whether `s` names a Postgres store rather than a folder.
    pub fn is_store(s: &str) -> bool {
        s.starts_with("postgres://") || s.starts_with("postgresql://")
    }

    /// The primary first, then the replicas; each a `postgres://` URL.
    pub fn parse(urls: &[String]) -> Result<Urls> {
        let urls: Vec<String> = urls
            .iter()
            .flat_map(|u| u.split_whitespace())
            .map(str::to_string)
            .collect();
        if let Some(bad) = urls.iter().find(|u| !Urls::is_store(u)) {
            return Err(Error::Store {
                url: redact(bad),
                reason: "not a store URL: expected postgres://USER@HOST:PORT/DATABASE".into(),
            });
        }
        let mut it = urls.into_iter();
        let primary = it.next().ok_or_else(|| Error::Store {
            url: String::new(),
            reason: "no store URL given".into(),
        })?;
        Ok(Urls {
            primary,
            replicas: it.collect(),
        })
    }

    /// The primary without its password: how errors and reports name the
    /// store (where a folder index gives its path).
    pub fn label(&self) -> PathBuf {
        PathBuf::from(redact(&self.primary))
    }

    /// The URLs reads go to.
    pub fn readers(&self) -> Vec<&str> {
        if self.replicas.is_empty() {
            vec![&self.primary]
        } else {
            self.replicas.iter().map(String::as_str).collect()
        }
    }
}

/// The store's committed manifest without document entries (model,
/// settings, roots), `None` when it has no semsearch tables.
pub fn manifest(urls: &Urls) -> Result<Option<crate::Manifest>> {
    let mut client = connect(&urls.primary)?;
    read::manifest(&mut client, &urls.primary, false)
}

/// What `status` says of a store.
pub struct Status {
    /// The committed manifest with its documents' totals.
    pub manifest: crate::Manifest,
    /// Bytes its tables and indexes take.
    pub bytes: u64,
    /// Whether it has its search indexes (a first build builds them at
    /// its end; until then, searches scan).
    pub indexed: bool,
}

/// The store's status; `None` without semsearch's tables.
pub fn status(urls: &Urls) -> Result<Option<Status>> {
    let mut client = connect(&urls.primary)?;
    // The writer commits the manifest's totals exact; a store it has kept
    // since `semsearch_totals` is trusted, one from before is counted (a
    // scan of every entry: 0.2 s at a million documents).
    let count = !schema::has_totals(&mut client, &urls.primary)?;
    let Some(manifest) = read::manifest(&mut client, &urls.primary, count)? else {
        return Ok(None);
    };
    let bytes: i64 = client
        .query_one(
            "SELECT coalesce(sum(pg_total_relation_size(oid)), 0)::bigint FROM pg_class
             WHERE relkind = 'r' AND relname LIKE 'semsearch\\_%'",
            &[],
        )
        .map_err(|e| store_error(&urls.primary, e))?
        .get(0);
    let indexed = schema::has_indexes(&mut client, &urls.primary)?;
    Ok(Some(Status {
        manifest,
        bytes: bytes as u64,
        indexed,
    }))
}

/// `url` with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end],
                &rest[..colon],
                &rest[at..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Connect to one server (no TLS: loopback or a trusted network; a
/// remote server's TLS is for a proxy or tunnel in front of it).
pub(crate) fn connect(url: &str) -> Result<Client> {
    Client::connect(url, NoTls).map_err(|e| store_error(url, e))
}

/// A Postgres error, naming the server.
pub(crate) fn store_error(url: &str, e: postgres::Error) -> Error {
    let message = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    };
    Error::Postgres {
        url: redact(url),
        message,
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://me:secret@db:5432/x"),
            "postgres://me:***@db:5432/x"
        );
        assert_eq!(redact("postgres://me@db/x"), "postgres://me@db/x");
        assert_eq!(redact("postgres://db/x@y"), "postgres://db/x@y");
    }

    #[test]
    fn primary_first_then_replicas() {
        let u = Urls::parse(&[
            "postgres://a/x postgres://b/x".into(),
            "postgres://c/x".into(),
        ])
        .unwrap();
        assert_eq!(u.primary, "postgres://a/x");
        assert_eq!(u.replicas, ["postgres://b/x", "postgres://c/x"]);
        assert_eq!(u.readers(), ["postgres://b/x", "postgres://c/x"]);
        assert!(Urls::parse(&["/tmp/x".into()]).is_err());
        assert!(Urls::parse(&[]).is_err());
    }
}
