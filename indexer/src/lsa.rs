//! Latent semantic analysis: a truncated SVD of the TF-IDF
//! document-term matrix, computed at commit and stored as `lsa.bin` in the
//! generation.
//!
//! Only the term side is stored: `V`, the top right singular vectors, one
//! row of [`DIMS`] numbers per term of the vocabulary. A document's LSA
//! vector is its TF-IDF row times `V` (which is `U * Sigma`, the usual
//! document coordinates), and a query is folded in the same way, so the
//! searcher computes document vectors from the postings when first asked;
//! documents added later are folded in without a new SVD. Storing `V`
//! rather than document vectors keeps the file's size bounded by the
//! vocabulary cap, not the corpus.
//!
//! The SVD is randomized (Halko, Martinsson and Tropp, 2011): a random
//! projection of the matrix, two power iterations, then the singular
//! vectors of the small projected matrix from the eigenvectors of its
//! Gram matrix (nalgebra). It is recomputed only when the
//! number of documents changed by more than a quarter since the stored
//! basis was made; otherwise the previous generation's file is linked.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use nalgebra::DMatrix;
use tantivy::schema::{Field, IndexRecordOption};

use crate::error::{Error, IoContext, Result};

/// Dimensions kept. On SciFact's train split (nDCG@10, 8,192 terms):
/// 64 dims 0.326, 128 0.414, 256 0.491; with 4,096 terms, 256 dims 0.436
/// and 384 0.457. Dimensions buy more than terms for the same bytes; 256
/// with 8,192 terms is 2.2 MB, once per index (EVALUATION.md).
pub const DIMS: usize = 256;
/// Terms in the basis: the most frequent, by document frequency. Rarer
/// terms carry little co-occurrence for an SVD to use, and the cap bounds
/// `lsa.bin` at about 2.2 MB whatever the corpus.
pub const MAX_TERMS: usize = 8192;
/// Documents the SVD reads at most (every n-th when there are more): the
/// basis of a sample is the basis of the whole for the frequent terms, and
/// the build's memory stays bounded.
pub const MAX_DOCS: usize = 20_000;
/// Extra random directions beyond [`DIMS`] and power iterations of the
/// randomized SVD (Halko et al.'s recommended 10 and 2).
const OVERSAMPLE: usize = 10;
const POWER_ITERATIONS: usize = 2;
const MAGIC: &[u8; 8] = b"SSLSA01\n";

/// The stored term basis.
#[derive(Debug, Clone)]
pub struct Lsa {
    /// Dimensions of each term's row.
    pub dims: usize,
    /// Documents in the index when the basis was computed.
    pub built_docs: u64,
    /// Each term's row in [`Lsa::row`].
    pub terms: HashMap<String, usize>,
    scales: Vec<f32>,
    rows: Vec<i8>,
}

impl Lsa {
    /// Term `i`'s row of `V`, dequantised.
    pub fn row(&self, i: usize) -> impl Iterator<Item = f32> + '_ {
        let s = self.scales[i];
        self.rows[i * self.dims..(i + 1) * self.dims]
            .iter()
            .map(move |&q| q as f32 * s)
    }

    /// Read `lsa.bin`.
    pub fn load(path: &Path) -> Result<Lsa> {
        let bytes = std::fs::read(path).at(path)?;
        parse(&bytes).ok_or_else(|| Error::Corrupt {
            path: path.to_path_buf(),
            reason: "the LSA basis is truncated or not one (`semsearch index --rebuild` \
                     writes it anew)"
                .into(),
        })
    }

    fn save(&self, path: &Path) -> Result<()> {
        let mut names: Vec<(&String, &usize)> = self.terms.iter().collect();
        names.sort_by_key(|t| *t.1);
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).at(path)?);
        w.write_all(MAGIC).at(path)?;
        for n in [self.dims as u64, names.len() as u64, self.built_docs] {
            w.write_all(&n.to_le_bytes()).at(path)?;
        }
        for (t, _) in &names {
            w.write_all(&(t.len() as u32).to_le_bytes()).at(path)?;
            w.write_all(t.as_bytes()).at(path)?;
        }
        for s in &self.scales {
            w.write_all(&s.to_le_bytes()).at(path)?;
        }
        let rows: Vec<u8> = self.rows.iter().map(|&q| q as u8).collect();
        w.write_all(&rows).at(path)?;
        w.flush().at(path)
    }
}

fn parse(b: &[u8]) -> Option<Lsa> {
    let mut r = b.strip_prefix(MAGIC)?;
    let u64_ = |r: &mut &[u8]| -> Option<u64> {
        let mut x = [0u8; 8];
        r.read_exact(&mut x).ok()?;
        Some(u64::from_le_bytes(x))
    };
    let (dims, n, built_docs) = (
        u64_(&mut r)? as usize,
        u64_(&mut r)? as usize,
        u64_(&mut r)?,
    );
    // Sizes come from the file: checked against what it holds before any
    // allocation (a corrupt count must not ask for petabytes or overflow).
    // Each term takes at least 4 bytes of name length and 4 of scale.
    if n > r.len() / 8 || dims > r.len() {
        return None;
    }
    let rows_len = n.checked_mul(dims)?;
    let mut terms = HashMap::with_capacity(n);
    for i in 0..n {
        let len = u32::from_le_bytes(r.get(..4)?.try_into().ok()?) as usize;
        let t = std::str::from_utf8(r.get(4..4 + len)?).ok()?;
        terms.insert(t.to_string(), i);
        r = &r[4 + len..];
    }
    let scales = r
        .get(..4 * n)?
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    let rows: Vec<i8> = r
        .get(4 * n..(4 * n).checked_add(rows_len)?)?
        .iter()
        .map(|&x| x as i8)
        .collect();
    Some(Lsa {
        dims,
        built_docs,
        terms,
        scales,
        rows,
    })
}

/// TF-IDF's weight of a term seen `tf` times in a document of a corpus of
/// `n` documents, `df` of which hold it: (1 + ln tf) * ln(n / df). The
/// searcher's TF-IDF ranking uses the same parts.
pub fn tfidf_weight(tf: u32, n: f32, df: u64) -> f32 {
    tf_weight(tf) * idf(n, df)
}

/// TF-IDF's weight of a term seen `tf` times: 1 + ln tf.
pub fn tf_weight(tf: u32) -> f32 {
    1.0 + (tf as f32).ln()
}

/// TF-IDF's inverse document frequency: ln(n / df), `df` of `n` documents.
pub fn idf(n: f32, df: u64) -> f32 {
    (n / df.max(1) as f32).ln()
}

/// Write generation `gen_dir`'s basis to `out`: `prev`'s file linked when
/// it was made for about as many documents, else a new SVD of `searcher`.
pub fn refresh(
    searcher: &tantivy::Searcher,
    field: Field,
    prev: Option<&Path>,
    out: &Path,
) -> Result<()> {
    let docs = searcher.num_docs();
    if let Some(p) = prev.filter(|p| p.exists()) {
        if let Ok(old) = Lsa::load(p) {
            let drift =
                (docs as f64 - old.built_docs as f64).abs() / (old.built_docs.max(1) as f64);
            if drift <= 0.25 && std::fs::hard_link(p, out).is_ok() {
                return Ok(());
            }
        }
    }
    build(searcher, field, out)?.save(out)
}

/// The weighted, row-normalised document-term matrix of up to
/// [`MAX_DOCS`] documents, as (row, term, weight) triplets.
type Triplets = Vec<(u32, u32, f32)>;

fn matrix(
    searcher: &tantivy::Searcher,
    field: Field,
    dir: &Path,
) -> Result<(Vec<String>, usize, Triplets)> {
    let err = |e: tantivy::TantivyError| Error::Corrupt {
        path: dir.to_path_buf(),
        reason: format!("reading the lexical index for LSA: {e}"),
    };
    let n = searcher.num_docs();
    let mut df: HashMap<Vec<u8>, u64> = HashMap::new();
    for seg in searcher.segment_readers() {
        let inv = seg.inverted_index(field).map_err(err)?;
        let mut s = inv.terms().stream().map_err(|e| err(e.into()))?;
        while s.advance() {
            *df.entry(s.key().to_vec()).or_default() += s.value().doc_freq as u64;
        }
    }
    // Tiny folders keep every term; others only terms that co-occur.
    let min_df = if n >= 100 { 2 } else { 1 };
    let mut vocab: Vec<(Vec<u8>, u64)> = df.into_iter().filter(|(_, d)| *d >= min_df).collect();
    vocab.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    vocab.truncate(MAX_TERMS);
    let col: HashMap<&[u8], (u32, u64)> = vocab
        .iter()
        .enumerate()
        .map(|(i, (t, d))| (t.as_slice(), (i as u32, *d)))
        .collect();
    let stride = (n as usize).div_ceil(MAX_DOCS).max(1) as u32;
    let mut triplets = Triplets::new();
    let mut base = 0u32;
    let mut rows: HashMap<u32, u32> = HashMap::new();
    for seg in searcher.segment_readers() {
        let inv = seg.inverted_index(field).map_err(err)?;
        let alive = seg.alive_bitset();
        let mut s = inv.terms().stream().map_err(|e| err(e.into()))?;
        while s.advance() {
            let Some(&(c, d)) = col.get(s.key()) else {
                continue;
            };
            let mut postings = inv
                .read_postings_from_terminfo(s.value(), IndexRecordOption::WithFreqs)
                .map_err(|e| err(e.into()))?;
            use tantivy::postings::Postings;
            use tantivy::DocSet;
            let mut doc = postings.doc();
            while doc != tantivy::TERMINATED {
                let global = base + doc;
                if global.is_multiple_of(stride) && alive.is_none_or(|a| a.is_alive(doc)) {
                    let next = rows.len() as u32;
                    let r = *rows.entry(global).or_insert(next);
                    triplets.push((r, c, tfidf_weight(postings.term_freq(), n as f32, d)));
                }
                doc = postings.advance();
            }
        }
        base += seg.max_doc();
    }
    let mut norms = vec![0f32; rows.len()];
    for &(r, _, w) in &triplets {
        norms[r as usize] += w * w;
    }
    for t in &mut triplets {
        t.2 /= norms[t.0 as usize].sqrt().max(f32::MIN_POSITIVE);
    }
    let names = vocab
        .into_iter()
        .map(|(t, _)| String::from_utf8_lossy(&t).into_owned())
        .collect();
    Ok((names, rows.len(), triplets))
}

/// A deterministic uniform number in [-1, 1) for cell (i, j).
fn random(i: usize, j: usize) -> f64 {
    let h =
        xxhash_rust::xxh3::xxh3_64(&[(i as u64).to_le_bytes(), (j as u64).to_le_bytes()].concat());
    (h >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// `A * X` (rows x l) or `A^T * X` (terms x l) from the triplets: each
/// adds a scaled row of `X` to a row of the result, both kept row-major so
/// that the inner loop runs over contiguous numbers and vectorises (column-
/// major indexing there took 186 ms a product at 10,000 documents).
fn times(t: &Triplets, x: &DMatrix<f64>, rows: usize, transpose: bool) -> DMatrix<f64> {
    let l = x.ncols();
    let xt = x.transpose();
    let src = xt.as_slice();
    let mut out = vec![0f64; rows * l];
    for &(r, c, w) in t {
        let (to, from) = if transpose { (c, r) } else { (r, c) };
        let dst = &mut out[to as usize * l..][..l];
        let row = &src[from as usize * l..][..l];
        let w = f64::from(w);
        for (d, s) in dst.iter_mut().zip(row) {
            *d += w * s;
        }
    }
    DMatrix::from_row_slice(rows, l, &out)
}

/// An orthonormal basis of `m`'s columns by Cholesky QR, twice (Fukaya et
/// al.'s CholeskyQR2): `Q = M R^-1` with `R` the Cholesky factor of
/// `M^T M`, all matrix products, where Householder QR of a 10,000 x 266
/// matrix took half a second. Householder when `M^T M` is singular.
fn orthonormal(m: DMatrix<f64>) -> DMatrix<f64> {
    fn once(m: &DMatrix<f64>) -> Option<DMatrix<f64>> {
        let gram = m.transpose() * m;
        let r = gram.cholesky()?.l().transpose();
        Some(m * r.try_inverse()?)
    }
    match once(&m).and_then(|q| once(&q)) {
        Some(q) if q.iter().all(|x| x.is_finite()) => q,
        _ => m.qr().q(),
    }
}

/// The left singular vectors and singular values of a tall `B` (terms x
/// l) from the eigenvectors `W` of the small `B^T B = W S^2 W^T`: `U = B W
/// S^-1`. Two products and an l x l eigensolve, where the SVD of the tall
/// matrix took 0.65 s at l 266. A direction of a (near) zero singular
/// value gets a zero column: it carries nothing.
fn left_singular(b: DMatrix<f64>) -> (DMatrix<f64>, Vec<f64>) {
    let eig = (b.transpose() * &b).symmetric_eigen();
    let top = eig.eigenvalues.iter().fold(0f64, |m, &x| m.max(x));
    let sigma: Vec<f64> = eig.eigenvalues.iter().map(|&x| x.max(0.0).sqrt()).collect();
    let mut u = b * eig.eigenvectors;
    for (k, mut col) in u.column_iter_mut().enumerate() {
        let keep = eig.eigenvalues[k] > top * 1e-12;
        col *= if keep { 1.0 / sigma[k] } else { 0.0 };
    }
    (u, sigma)
}

fn build(searcher: &tantivy::Searcher, field: Field, out: &Path) -> Result<Lsa> {
    let (names, n_rows, a) = matrix(searcher, field, out)?;
    let n_terms = names.len();
    let l = (DIMS + OVERSAMPLE).min(n_terms).min(n_rows);
    let dims = DIMS.min(l);
    let mut rows = vec![0i8; n_terms * dims];
    let mut scales = vec![0f32; n_terms];
    if dims > 0 {
        let omega = DMatrix::from_fn(n_terms, l, random);
        let mut q = orthonormal(times(&a, &omega, n_rows, false));
        for _ in 0..POWER_ITERATIONS {
            let z = orthonormal(times(&a, &q, n_terms, true));
            q = orthonormal(times(&a, &z, n_rows, false));
        }
        // B^T = A^T Q (terms x l); its left singular vectors are A's right ones.
        let (u, sigma) = left_singular(times(&a, &q, n_terms, true));
        let mut order: Vec<usize> = (0..sigma.len()).collect();
        order.sort_by(|&i, &j| sigma[j].total_cmp(&sigma[i]));
        for t in 0..n_terms {
            let row: Vec<f64> = order[..dims].iter().map(|&k| u[(t, k)]).collect();
            let max = row.iter().fold(0f64, |m, x| m.max(x.abs()));
            let s = if max > 0.0 { max / 127.0 } else { 1.0 };
            scales[t] = s as f32;
            for (k, x) in row.iter().enumerate() {
                rows[t * dims + k] = (x / s).round() as i8;
            }
        }
    }
    Ok(Lsa {
        dims,
        built_docs: searcher.num_docs(),
        terms: names.into_iter().enumerate().map(|(i, t)| (t, i)).collect(),
        scales,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header whose counts promise more than the file holds.
    fn header(dims: u64, n: u64) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        for x in [dims, n, 1] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.extend_from_slice(&[0u8; 64]);
        b
    }

    #[test]
    fn a_corrupt_basis_is_named_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lsa.bin");
        for (dims, n) in [
            (1, u64::MAX),
            (u64::MAX, 1),
            (1 << 40, 4),
            (4, 1 << 62),
            (u64::MAX / 3, 3),
        ] {
            std::fs::write(&path, header(dims, n)).unwrap();
            match Lsa::load(&path) {
                Err(Error::Corrupt { path: p, reason }) => {
                    assert_eq!(p, path);
                    assert!(reason.contains("--rebuild"), "{reason}");
                }
                other => panic!("dims {dims} n {n}: {:?}", other.map(|l| l.dims)),
            }
        }
    }
}
