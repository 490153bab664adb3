//! Copying a folder index into a store as it is: documents, texts and
//! passage vectors, nothing re-embedded (moving an index to a server, or
//! measuring the store on an index already built).

use super::{PgWriter, Urls};
use crate::error::{Error, Result};
use crate::index::Index;
use crate::update::Writer;

/// Documents written between progress calls.
const BATCH: usize = 256;

/// Replace the store's contents with `index`'s, in one transaction (a
/// killed import leaves the store as it was). `progress` gets the
/// documents copied so far. Returns documents and passages copied.
pub fn import(
    index: &Index,
    urls: &Urls,
    progress: &mut dyn FnMut(usize),
) -> Result<(usize, usize)> {
    let mut writer = PgWriter::open(&urls.primary)?;
    let mut manifest = index.manifest().clone();
    writer.recreate(manifest.model.dim, &manifest.analyzer);
    let mut passages = 0;
    let mut keyed = Vec::new();
    let mut copied = 0;
    index.each_document(|_, doc| {
        let (id, entry) = (&doc.id, &doc.entry);
        writer.add(id, entry, &doc.text)?;
        for p in &entry.passages {
            let v = index.passage_vector(p.id).ok_or_else(|| Error::Corrupt {
                path: index.dir().to_path_buf(),
                reason: format!("passage {} of {id} has no vector", p.id),
            })?;
            keyed.push((p.id, v));
        }
        copied += 1;
        if copied % BATCH == 0 || copied == index.len() {
            passages += keyed.len();
            writer.add_vectors(std::mem::take(&mut keyed))?;
            progress(copied);
        }
        Ok(())
    })?;
    passages += keyed.len();
    writer.add_vectors(keyed)?;
    writer.finish();
    writer.commit(&mut manifest)?;
    Ok((index.len(), passages))
}
