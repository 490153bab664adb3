//! The encoder's products packed for this CPU's kernels, kept between
//! processes. Packing (the weights transposed, smoothed and quantised for
//! int8, laid out in panels) was two thirds of loading MiniLM for a
//! one-shot search; read back, the packed products skip the weights'
//! tensors altogether. The file holds every layer's four products in
//! order and a checksum; its name is a key of the weights file (path,
//! size, modification time), what int8's calibration read, the kernel
//! family and the precision. A file that does not fit is packed again
//! (and rewritten).

use std::path::Path;

use crate::bert::BertConfig;
use crate::linear::PackedLinear;
use crate::{Kernels, Precision};

/// Bumped when a product's layout or the file's changes.
const VERSION: &[u8] = b"semsearch packed products 1";
/// The file's first bytes.
const MAGIC: &[u8; 4] = b"SSP1";
/// Bytes of packed products kept, the least recently used removed first:
/// MiniLM takes 11-42 MB, a large model in f32 more than a gigabyte, and
/// a model or precision no longer used should not hold its space forever.
const KEPT_BYTES: u64 = 2 << 30;

/// One encoder layer's products: query-key-value, attention output,
/// feed-forward in and out.
pub(crate) type LayerPacks = [PackedLinear; 4];

/// The key of the products packed from the files `files_key` names (see
/// [`crate::calibration::key`]) for `kernels` at `precision`.
pub(crate) fn key(files_key: u64, kernels: Kernels, precision: Precision) -> u64 {
    let mut bytes = VERSION.to_vec();
    bytes.extend_from_slice(&files_key.to_le_bytes());
    bytes.extend_from_slice(format!("{kernels} {precision}").as_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

fn name(key: u64) -> String {
    format!("packed-{key:016x}.bin")
}

/// The products kept in `dir` under `key`, if they fit `c` on `kernels`
/// at `precision`.
pub(crate) fn read(
    dir: Option<&Path>,
    key: u64,
    c: &BertConfig,
    (kernels, precision): (Kernels, Precision),
) -> Option<Vec<LayerPacks>> {
    let bytes = crate::cache::read(dir, &name(key))?;
    crate::cache::touch(dir, &name(key));
    let body = bytes.strip_prefix(MAGIC)?;
    let (sum, mut rest) = body.split_first_chunk::<8>()?;
    if u64::from_le_bytes(*sum) != xxhash_rust::xxh3::xxh3_64(rest) {
        return None;
    }
    let layers = (0..c.num_hidden_layers)
        .map(|_| {
            let shapes = shapes(c);
            let mut next = |s| PackedLinear::decode(&mut rest, s, kernels, precision);
            Some([
                next(shapes[0])?,
                next(shapes[1])?,
                next(shapes[2])?,
                next(shapes[3])?,
            ])
        })
        .collect::<Option<Vec<_>>>()?;
    rest.is_empty().then_some(layers)
}

/// Keep `layers`' products in `dir` under `key`.
pub(crate) fn write(dir: Option<&Path>, key: u64, layers: &[[&PackedLinear; 4]]) {
    let mut body = Vec::new();
    layers.iter().flatten().for_each(|p| p.encode(&mut body));
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    crate::cache::write(dir, &name(key), &bytes);
    crate::cache::bound(dir, ("packed-", ".bin"), KEPT_BYTES);
}

/// Inputs x outputs of a layer's four products.
fn shapes(c: &BertConfig) -> [(usize, usize); 4] {
    let (h, i) = (c.hidden_size, c.intermediate_size);
    [(h, 3 * h), (h, h), (h, i), (i, h)]
}
