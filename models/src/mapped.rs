//! Rows of a weight matrix read straight from its memory-mapped
//! safetensors file, for the word embeddings: a text reads one row per
//! token, so copying the whole table into memory at load is the model's
//! largest copy for nothing (MiniLM: 30,522 x 384 f32, 47 MB of its 90;
//! a multilingual vocabulary of 250,000 tokens at 384 dimensions: 384 MB)
//! and the slowest part of a one-shot search's load. The pages a text touches stay in the page
//! cache, shared by every process.

use std::path::Path;

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Result, Tensor};

/// An f32 matrix of a safetensors file, read by row.
pub(crate) struct MappedRows {
    file: MmapedSafetensors,
    name: String,
    rows: usize,
    dim: usize,
}

impl MappedRows {
    /// `name` in the safetensors file `path` when it is an f32 matrix of
    /// `rows` x `dim`; `None` for any other type or shape (the caller
    /// loads it as a tensor, which converts or names the mismatch).
    pub(crate) fn open(
        path: &Path,
        name: &str,
        (rows, dim): (usize, usize),
    ) -> Result<Option<Self>> {
        // SAFETY: read-only map; like every mmap user (candle's loader of
        // the same file included) we rely on nobody truncating it.
        let file = unsafe { MmapedSafetensors::new(path)? };
        let fits = {
            let view = file.get(name)?;
            matches!(DType::try_from(view.dtype()), Ok(DType::F32)) && view.shape() == [rows, dim]
        };
        Ok(fits.then(|| MappedRows {
            file,
            name: name.to_string(),
            rows,
            dim,
        }))
    }

    /// Width of a row.
    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    /// Rows `ids` as an (ids, dim) f32 tensor on the CPU.
    pub(crate) fn gather(&self, ids: &[u32]) -> Result<Tensor> {
        let view = self.file.get(&self.name)?;
        let data = view.data();
        let width = self.dim * 4;
        let mut out = Vec::with_capacity(ids.len() * self.dim);
        for &id in ids {
            let id = id as usize;
            if id >= self.rows {
                return Err(candle_core::Error::Msg(format!(
                    "token id {id} beyond {}'s {} rows",
                    self.name, self.rows
                )));
            }
            let row = &data[id * width..(id + 1) * width];
            // Little-endian by the format; the file's offset need not be
            // aligned for f32.
            out.extend(
                row.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
        Tensor::from_vec(out, (ids.len(), self.dim), &Device::Cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file holding `t` as "w".
    fn saved(dir: &Path, t: &Tensor) -> std::path::PathBuf {
        let path = dir.join("w.safetensors");
        t.save_safetensors("w", &path).unwrap();
        path
    }

    #[test]
    fn rows_read_from_the_file_are_the_tensors_rows() {
        let dir = tempfile::tempdir().unwrap();
        let table = Tensor::randn(0f32, 1.0, (50, 12), &Device::Cpu).unwrap();
        let path = saved(dir.path(), &table);
        let rows = MappedRows::open(&path, "w", (50, 12)).unwrap().unwrap();
        let ids = [7u32, 0, 49, 7, 3];
        let want = table
            .index_select(&Tensor::new(&ids, &Device::Cpu).unwrap(), 0)
            .unwrap();
        let got = rows.gather(&ids).unwrap();
        assert_eq!(got.dims(), want.dims());
        assert_eq!(
            got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            want.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
        let err = rows.gather(&[1, 50]).unwrap_err().to_string();
        assert!(err.contains("50") && err.contains("rows"), "{err}");
    }

    #[test]
    fn another_type_or_shape_is_left_to_the_tensor_loader() {
        let dir = tempfile::tempdir().unwrap();
        let table = Tensor::randn(0f32, 1.0, (50, 12), &Device::Cpu).unwrap();
        let path = saved(dir.path(), &table.to_dtype(DType::F16).unwrap());
        assert!(MappedRows::open(&path, "w", (50, 12)).unwrap().is_none());
        let path = saved(dir.path(), &table);
        assert!(MappedRows::open(&path, "w", (12, 50)).unwrap().is_none());
        assert!(MappedRows::open(&path, "missing", (50, 12)).is_err());
    }
}
