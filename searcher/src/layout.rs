//! The corpus map as data: every document's principal-component
//! coordinates and its group (top-level folder or k-means cluster). The
//! `map` command draws it; the server hands it to the web page.

use std::collections::{BTreeMap, HashMap};

use semsearch_indexer::Index;
use serde::Serialize;

use crate::error::{Result, SearchError};
use crate::labels::GroupTerms;
use crate::map;

/// Groups a map shows at most: the size of a palette that stays distinct
/// (Tableau 10); folders past the ninth share "other".
pub const MAX_GROUPS: usize = 10;

/// How documents are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// By folder when documents span several top-level folders, else by
    /// cluster.
    Auto,
    /// By top-level folder.
    Folder,
    /// By k-means cluster of the document vectors.
    Cluster,
}

/// Documents with coordinates, each in a group.
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    /// Document ids.
    pub ids: Vec<String>,
    /// Their titles.
    pub titles: Vec<String>,
    /// Their coordinates on the first principal components.
    pub coords: Vec<Vec<f32>>,
    /// Share of the variance each component explains.
    pub explained: Vec<f64>,
    /// Each document's group: an index into `groups`.
    pub group: Vec<usize>,
    /// The groups' names.
    pub groups: Vec<String>,
    /// The document vectors (for labelling the most central documents).
    #[serde(skip)]
    pub vectors: Vec<Vec<f32>>,
    /// The projection, to place queries on the same axes.
    #[serde(skip)]
    pub pca: map::Pca,
}

/// A query placed on a map, with its top hits.
#[derive(Debug, Clone, Serialize)]
pub struct Placed {
    /// The query's text.
    pub text: String,
    /// Its coordinates.
    pub coords: Vec<f32>,
    /// Its hits that are on the map, best first.
    pub hits: Vec<PlacedHit>,
}

/// A hit of a placed query.
#[derive(Debug, Clone, Serialize)]
pub struct PlacedHit {
    /// Its rank in the query's results.
    pub rank: usize,
    /// The document's id.
    pub id: String,
    /// The document's coordinates (as in [`Layout::coords`]).
    pub coords: Vec<f32>,
}

impl Layout {
    /// Place query `text` (embedded as `vector`) and its `hits` (ranked
    /// document ids) on this map.
    pub fn place(&self, text: &str, vector: &[f32], hits: &[(usize, String)]) -> Placed {
        let at: HashMap<&str, usize> = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        Placed {
            text: text.to_string(),
            coords: self.pca.project(vector),
            hits: hits
                .iter()
                .filter_map(|(rank, id)| {
                    let i = *at.get(id.as_str())?;
                    Some(PlacedHit {
                        rank: *rank,
                        id: id.clone(),
                        coords: self.coords[i].clone(),
                    })
                })
                .collect(),
        }
    }
}

fn top_folder(id: &str) -> &str {
    id.split_once('/').map_or("(top level)", |(top, _)| top)
}

/// Group by top-level folder: the biggest keep a group of their own, the
/// rest share "other".
fn by_folder(ids: &[String]) -> (Vec<usize>, Vec<String>) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in ids {
        *counts.entry(top_folder(id)).or_default() += 1;
    }
    let mut order: Vec<(&str, usize)> = counts.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let keep = if order.len() > MAX_GROUPS {
        MAX_GROUPS - 1
    } else {
        order.len()
    };
    let mut names: Vec<String> = order[..keep].iter().map(|(f, _)| f.to_string()).collect();
    let group = ids
        .iter()
        .map(|id| {
            names
                .iter()
                .position(|n| n == top_folder(id))
                .unwrap_or(keep)
        })
        .collect();
    if keep < order.len() {
        names.push("other".into());
    }
    (group, names)
}

/// Each cluster's name: its most distinctive words over its documents'
/// texts ([`crate::labels`]), else "cluster N".
fn cluster_names(index: &Index, handles: &[usize], group: &[usize]) -> Result<Vec<String>> {
    let n = group.iter().max().map_or(0, |m| m + 1);
    let mut terms = GroupTerms::new(n);
    let mut analyzer = index.analyzer();
    for (&doc, &g) in handles.iter().zip(group) {
        if let Some(d) = index.document(doc)? {
            terms.add(&mut analyzer, g, &d.text);
        }
    }
    Ok(terms
        .names()
        .into_iter()
        .enumerate()
        .map(|(c, name)| match name.is_empty() {
            true => format!("cluster {}", c + 1),
            false => name,
        })
        .collect())
}

/// Lay out `index`'s documents on `components` principal components, in
/// groups (`clusters` of them when grouped by cluster, at most
/// [`MAX_GROUPS`]).
pub fn layout(
    index: &Index,
    grouping: Grouping,
    clusters: usize,
    components: usize,
) -> Result<Layout> {
    // Every document with a vector, in id order.
    let mut rows = Vec::new();
    index.each_document(|doc, d| {
        let keys: Vec<u64> = d.entry.passages.iter().map(|p| p.id).collect();
        if let Some(v) = index.mean_vector(&keys) {
            rows.push((d.id, d.entry.title, doc, v));
        }
        Ok(())
    })?;
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut ids, mut titles, mut handles, mut vectors) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, title, doc, v) in rows {
        ids.push(id);
        titles.push(title);
        handles.push(doc);
        vectors.push(v);
    }
    if vectors.is_empty() {
        return Err(SearchError::EmptyIndex {
            index: index.dir().to_path_buf(),
        });
    }
    let pca = map::pca(&vectors, components);
    let folders = by_folder(&ids);
    let by_cluster = match grouping {
        Grouping::Folder => false,
        Grouping::Cluster => true,
        Grouping::Auto => folders.1.len() <= 1,
    };
    let (group, groups) = match by_cluster {
        false => folders,
        true => {
            let group = map::kmeans(&vectors, clusters.clamp(1, MAX_GROUPS));
            let names = cluster_names(index, &handles, &group)?;
            (group, names)
        }
    };
    Ok(Layout {
        ids,
        titles,
        coords: pca.coords.clone(),
        explained: pca.explained.clone(),
        group,
        groups,
        vectors,
        pca,
    })
}
