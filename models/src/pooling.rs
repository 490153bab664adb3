//! Pooling token states into one sentence vector, over real tokens only.

use candle_core::{DType, Result, Tensor, D};

/// How token states become one vector (`1_Pooling/config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Mean of the token states (MiniLM, E5, most sentence-transformers).
    Mean,
    /// The `[CLS]` state (BGE).
    Cls,
    /// Element-wise maximum over tokens.
    Max,
    /// Sum divided by the square root of the token count.
    MeanSqrtLen,
}

impl std::fmt::Display for Pooling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Max => "max",
            Pooling::MeanSqrtLen => "mean_sqrt_len",
        })
    }
}

impl Pooling {
    /// `hidden`: (batch, seq, dim); `mask`: (batch, seq) of 0/1 in the same
    /// dtype. Returns (batch, dim).
    pub fn pool(self, hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let mask3 = mask.unsqueeze(2)?; // (b, s, 1)
        match self {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1),
            Pooling::Mean | Pooling::MeanSqrtLen => {
                let sum = hidden.broadcast_mul(&mask3)?.sum(1)?;
                // At least [CLS] and [SEP] are real, but guard like
                // sentence-transformers does (clamp at 1e-9).
                let count = mask.sum_keepdim(1)?.clamp(1e-9, f64::MAX)?;
                let denom = if self == Pooling::Mean {
                    count
                } else {
                    count.sqrt()?
                };
                sum.broadcast_div(&denom)
            }
            Pooling::Max => {
                // Padded positions get a large negative offset so they never win.
                let offset = ((mask3.ones_like()? - &mask3)? * -1e9)?;
                hidden.broadcast_add(&offset)?.max(1)
            }
        }
    }
}

/// L2-normalise rows of a (batch, dim) tensor, as `torch.nn.functional.normalize`.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&norm)
}

/// The attention mask as a float tensor for pooling.
pub(crate) fn float_mask(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    mask.to_dtype(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn pool(p: Pooling) -> Vec<Vec<f32>> {
        // One row of 3 tokens (the last padded) of dimension 2.
        let h = Tensor::new(&[[[1f32, -2.], [3., 4.], [100., 100.]]], &Device::Cpu).unwrap();
        let m = Tensor::new(&[[1f32, 1., 0.]], &Device::Cpu).unwrap();
        p.pool(&h, &m).unwrap().to_vec2().unwrap()
    }

    #[test]
    fn pooling_ignores_padding() {
        assert_eq!(pool(Pooling::Mean), vec![vec![2., 1.]]);
        assert_eq!(pool(Pooling::Cls), vec![vec![1., -2.]]);
        assert_eq!(pool(Pooling::Max), vec![vec![3., 4.]]);
        let s = 2f32.sqrt();
        let got = pool(Pooling::MeanSqrtLen);
        assert!((got[0][0] - 4. / s).abs() < 1e-6 && (got[0][1] - 2. / s).abs() < 1e-6);
    }

    #[test]
    fn normalize_gives_unit_rows_and_keeps_zero() {
        let x = Tensor::new(&[[3f32, 4.], [0., 0.]], &Device::Cpu).unwrap();
        let n = l2_normalize(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(n, vec![vec![0.6, 0.8], vec![0., 0.]]);
    }
}
