//! A BERT encoder in candle ops: pure and device-agnostic (kernels live in
//! [`crate::kernels`]). It differs from `candle_transformers`' BERT only
//! where that buys speed: Q, K and V are one matmul, weights are transposed
//! once at load, and the attention scale is folded into the query weights.

use candle_core::{Module, Result, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use rayon::prelude::*;
use serde::Deserialize;

use crate::linear::PackedLinear;
use crate::mapped::MappedRows;
use crate::packed::LayerPacks;
use crate::{attention, kernels, Kernels, Precision};

/// Where BERT checkpoints keep the word embeddings (with or without the
/// `bert.` prefix of a pretraining head's checkpoint).
pub(crate) const WORD_EMBEDDINGS: [&str; 2] = [
    "bert.embeddings.word_embeddings.weight",
    "embeddings.word_embeddings.weight",
];

/// Longest input (tokens) below which attention skips the AMX tiles.
const TILE_MIN_TOKENS: usize = 64;

/// The fields of `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    /// Size of the token vocabulary (rows of the word embeddings).
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer (they split `hidden_size`).
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer inside each transformer layer.
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer (`gelu` for BERT).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Longest input, in tokens, that has position embeddings.
    pub max_position_embeddings: usize,
    /// Token type (segment) embeddings; sentence encoders use type 0 only.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Epsilon of the layer norms.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

#[derive(Debug, Clone, Copy)]
enum Activation {
    GeluErf,
    GeluTanh,
    Relu,
}

impl Activation {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Activation::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }

    fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::GeluErf => kernels::gelu_erf(x),
            Activation::GeluTanh => x.gelu(),
            Activation::Relu => x.relu(),
        }
    }
}

/// `y = x W^T + b`, on 2-D inputs: our packed kernel of the selected
/// family and precision, else (portable) candle's matmul on `W^T` stored
/// contiguous. Only one form is kept: the packed weights hold their own
/// bias, and an unused f32 copy would be the model's size again resident.
enum Linear {
    Packed(PackedLinear),
    Candle { weight_t: Tensor, bias: Tensor },
}

impl Linear {
    #[cfg(test)]
    fn from_parts(weight: &Tensor, bias: Tensor, arith: Arith) -> Result<Self> {
        Self::smoothed(weight, bias, arith, &[])
    }

    /// With int8, smoothed by the inputs' largest magnitudes per feature
    /// ([`PackedLinear::new_smoothed`]).
    fn smoothed(weight: &Tensor, bias: Tensor, arith: Arith, act_max: &[f32]) -> Result<Self> {
        let weight_t = weight.t()?.contiguous()?;
        if weight.device().is_cpu() {
            let (k, n) = weight_t.dims2()?;
            let w = weight_t.flatten_all()?.to_vec1::<f32>()?;
            let (kernels, precision) = arith;
            let b = bias.to_vec1::<f32>()?;
            if let Some(p) = PackedLinear::new_smoothed(&w, (k, n), &b, kernels, precision, act_max)
            {
                return Ok(Linear::Packed(p));
            }
        }
        Ok(Linear::Candle { weight_t, bias })
    }

    fn load(
        vb: &VarBuilder,
        (inp, out): (usize, usize),
        arith: Arith,
        act: &[f32],
    ) -> Result<Self> {
        let (w, b) = (vb.get((out, inp), "weight")?, vb.get(out, "bias")?);
        Self::smoothed(&w, b, arith, act)
    }

    /// The packed kernel, if ours computes this layer.
    fn packed(&self) -> Option<&PackedLinear> {
        match self {
            Linear::Packed(p) => Some(p),
            Linear::Candle { .. } => None,
        }
    }

    /// `act(x W^T + b)`, fused where the kernel can.
    fn forward_act(&self, x: &Tensor, act: Activation) -> Result<Tensor> {
        match (self, act) {
            (Linear::Packed(packed), Activation::GeluErf) => packed.forward_gelu(x),
            _ => act.apply(&self.forward(x)?),
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Packed(packed) => packed.forward(x),
            Linear::Candle { weight_t, bias } => x.matmul(weight_t)?.broadcast_add(bias),
        }
    }
}

fn layer_norm(vb: VarBuilder, size: usize, eps: f64) -> Result<LayerNorm> {
    let (w, b) = if vb.contains_tensor("weight") {
        (vb.get(size, "weight")?, vb.get(size, "bias")?)
    } else {
        // Old TensorFlow-converted checkpoints name them gamma/beta.
        (vb.get(size, "gamma")?, vb.get(size, "beta")?)
    };
    Ok(LayerNorm::new(w, b, eps))
}

/// A residual add and LayerNorm: fused on the CPU in f32
/// ([`kernels::add_layer_norm`]), candle's ops elsewhere.
struct AddNorm {
    norm: LayerNorm,
    rows: Option<kernels::NormRows>,
}

impl AddNorm {
    fn load(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        let norm = layer_norm(vb, size, eps)?;
        let rows = match (norm.weight().device().is_cpu(), norm.bias()) {
            (true, Some(bias)) if norm.weight().dtype() == candle_core::DType::F32 => {
                Some(kernels::NormRows {
                    weight: norm.weight().to_vec1()?,
                    bias: bias.to_vec1()?,
                    eps: eps as f32,
                })
            }
            _ => None,
        };
        Ok(AddNorm { norm, rows })
    }

    /// `LayerNorm(a + b)`.
    fn forward(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        match &self.rows {
            Some(rows) if a.dtype() == candle_core::DType::F32 && a.device().is_cpu() => {
                kernels::add_layer_norm(a, b, rows)
            }
            _ => self.norm.forward(&(a + b)?),
        }
    }
}

/// Which keys are padding, in the two forms the kernels and the generic
/// path want.
pub(crate) struct Mask {
    /// Real tokens per batch item (right padding).
    pub(crate) lengths: Vec<usize>,
    /// (batch, 1, 1, seq): 0 where attended, the most negative float where
    /// padded, as in Hugging Face, so padded keys get exactly zero weight.
    pub(crate) bias: Tensor,
}

impl Mask {
    pub(crate) fn new(lengths: &[usize], seq: usize, device: &candle_core::Device) -> Result<Self> {
        let bias: Vec<f32> = lengths
            .iter()
            .flat_map(|&l| (0..seq).map(move |j| if j < l { 0.0 } else { f32::MIN }))
            .collect();
        Ok(Mask {
            lengths: lengths.to_vec(),
            bias: Tensor::from_vec(bias, (lengths.len(), 1, 1, seq), device)?,
        })
    }
}

/// Attention in plain candle ops, for devices without the fused kernel.
/// `qkv`: (batch * seq, 3 * hidden); returns (batch * seq, hidden).
pub(crate) fn generic_attention(qkv: &Tensor, mask: &Mask, heads: usize) -> Result<Tensor> {
    let (b, s) = (mask.lengths.len(), mask.bias.dim(3)?);
    let h = qkv.dim(1)? / 3;
    let d = h / heads;
    let qkv = qkv
        .reshape((b, s, 3, heads, d))?
        .permute((2, 0, 3, 1, 4))?
        .contiguous()?; // (3, b, heads, s, d)
    let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
    let scores = q.matmul(&k.t()?)?;
    let probs = kernels::masked_softmax(&scores, &mask.lengths, &mask.bias)?;
    probs
        .matmul(&v)? // (b, heads, s, d)
        .transpose(1, 2)?
        .contiguous()?
        .reshape((b * s, h))
}

/// The kernel family and precision of the products.
type Arith = (Kernels, Precision);

/// The largest |input| per feature of one layer's four products over a
/// calibration text, which int8's smoothing needs; empty: none.
#[derive(Default, Clone, Debug, PartialEq)]
pub(crate) struct InputRanges {
    pub(crate) qkv: Vec<f32>,
    pub(crate) attn_out: Vec<f32>,
    pub(crate) ffn_in: Vec<f32>,
    pub(crate) ffn_out: Vec<f32>,
}

/// Widen `slot` by the per-feature maxima of |x| (rows x features).
fn record(slot: &mut Vec<f32>, x: &Tensor) -> Result<()> {
    let m: Vec<f32> = x.abs()?.max_keepdim(0)?.flatten_all()?.to_vec1()?;
    if slot.is_empty() {
        *slot = m;
    } else {
        slot.iter_mut().zip(m).for_each(|(a, b)| *a = a.max(b));
    }
    Ok(())
}

struct Layer {
    qkv: Linear,
    attn_out: Linear,
    attn_norm: AddNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    ffn_norm: AddNorm,
    /// What runs attention's products (AMX tiles: from TILE_MIN_TOKENS).
    products: attention::Products,
}

impl Layer {
    /// `ranges`: the calibration's input maxima (int8 smoothing), if any;
    /// `packed`: the layer's products as packed before, if kept.
    fn load(
        vb: VarBuilder,
        c: &BertConfig,
        precision: Arith,
        ranges: &InputRanges,
        packed: Option<LayerPacks>,
    ) -> Result<Self> {
        let h = c.hidden_size;
        let head_dim = h / c.num_attention_heads;
        let [qkv, attn_out, ffn_in, ffn_out] = match packed {
            Some(products) => products.map(Linear::Packed),
            None => Self::products(&vb, c, precision, ranges)?,
        };
        Ok(Layer {
            qkv,
            attn_out,
            attn_norm: AddNorm::load(vb.pp("attention.output.LayerNorm"), h, c.layer_norm_eps)?,
            ffn_in,
            ffn_out,
            ffn_norm: AddNorm::load(vb.pp("output.LayerNorm"), h, c.layer_norm_eps)?,
            products: match precision {
                (Kernels::Amx, p) if p != Precision::F32 && head_dim.is_multiple_of(32) => {
                    attention::Products::Tiles
                }
                (Kernels::Avx2, _) if attention::Products::fits(head_dim) => {
                    attention::Products::Lanes8
                }
                _ => attention::Products::Gemm,
            },
        })
    }

    /// The layer's four products from the weights, packed for `precision`.
    fn products(
        vb: &VarBuilder,
        c: &BertConfig,
        precision: Arith,
        ranges: &InputRanges,
    ) -> Result<[Linear; 4]> {
        let h = c.hidden_size;
        let head_dim = h / c.num_attention_heads;
        let att = vb.pp("attention.self");
        let part = |name: &str| -> Result<(Tensor, Tensor)> {
            let p = att.pp(name);
            Ok((p.get((h, h), "weight")?, p.get(h, "bias")?))
        };
        let scale = 1.0 / (head_dim as f64).sqrt();
        let (wq, bq) = part("query")?;
        let (wk, bk) = part("key")?;
        let (wv, bv) = part("value")?;
        let (wq, bq) = ((wq * scale)?, (bq * scale)?);
        let qkv = Linear::smoothed(
            &Tensor::cat(&[wq, wk, wv], 0)?,
            Tensor::cat(&[bq, bk, bv], 0)?,
            precision,
            &ranges.qkv,
        )?;
        let inter = c.intermediate_size;
        let dense =
            |name: &str, shape, act: &[f32]| Linear::load(&vb.pp(name), shape, precision, act);
        Ok([
            qkv,
            dense("attention.output.dense", (h, h), &ranges.attn_out)?,
            dense("intermediate.dense", (h, inter), &ranges.ffn_in)?,
            dense("output.dense", (inter, h), &ranges.ffn_out)?,
        ])
    }

    /// `x`: (batch * seq, hidden). `trace`: record each product's input
    /// maxima (calibration: one unpadded item at a time).
    fn forward(
        &self,
        x: &Tensor,
        mask: &Mask,
        (heads, act): (usize, Activation),
        mut trace: Option<&mut InputRanges>,
    ) -> Result<Tensor> {
        if let Some(t) = &mut trace {
            record(&mut t.qkv, x)?;
        }
        let qkv = self.qkv.forward(x)?;
        let ctx = if attention::supported(&qkv) {
            {
                // Tiles pad keys to 16 and 32: below TILE_MIN_TOKENS (a
                // query) the f32 vector path is faster (bf16 short query
                // 1.88 -> 1.66 ms on the AMX VM).
                let longest = mask.lengths.iter().copied().max().unwrap_or(0);
                let products = match self.products {
                    attention::Products::Tiles if longest < TILE_MIN_TOKENS => {
                        attention::Products::Gemm
                    }
                    p => p,
                };
                attention::attention(&qkv, &mask.lengths, heads, products)?
            }
        } else {
            generic_attention(&qkv, mask, heads)?
        };
        if let Some(t) = &mut trace {
            record(&mut t.attn_out, &ctx)?;
        }
        let x = self.attn_norm.forward(&self.attn_out.forward(&ctx)?, x)?;
        let ffn = match (self.ffn_in.packed(), self.ffn_out.packed(), act, &mut trace) {
            (Some(first), Some(second), Activation::GeluErf, None) => {
                first.forward_ffn(&x, second)?
            }
            (.., trace) => {
                let inner = self.ffn_in.forward_act(&x, act)?;
                if let Some(t) = trace {
                    record(&mut t.ffn_in, &x)?;
                    record(&mut t.ffn_out, &inner)?;
                }
                self.ffn_out.forward(&inner)?
            }
        };
        self.ffn_norm.forward(&ffn, &x)
    }
}

/// The word embeddings, looked up by token id.
enum WordTable {
    /// On the model's device.
    Tensor(Tensor),
    /// Read by row from the weights' file (the CPU, f32 safetensors).
    Mapped(MappedRows),
}

impl WordTable {
    fn dim(&self) -> Result<usize> {
        match self {
            WordTable::Tensor(t) => t.dim(1),
            WordTable::Mapped(rows) => Ok(rows.dim()),
        }
    }

    /// The rows of `ids` (1-D, u32).
    fn lookup(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            WordTable::Tensor(t) => t.index_select(ids, 0),
            WordTable::Mapped(rows) => rows.gather(&ids.to_vec1::<u32>()?),
        }
    }
}

/// A BERT encoder: embeddings and transformer layers, mapping token ids to
/// contextual hidden states (pooling is done outside, by [`crate::Pooling`]).
pub struct BertEncoder {
    word: WordTable,
    position: Tensor,
    /// Row 0 of the token type embeddings; `None` for a model without
    /// them (`type_vocab_size` 0).
    token_type: Option<Tensor>,
    emb_norm: AddNorm,
    layers: Vec<Layer>,
    heads: usize,
    act: Activation,
}

impl BertEncoder {
    /// Whether `config.hidden_act` is one this encoder implements.
    pub fn supports_activation(name: &str) -> bool {
        Activation::parse(name).is_some()
    }

    /// Load the weights, the linear layers packed for `kernels` at
    /// `precision` (candle's matmul where that family has no kernel of its
    /// own at that precision).
    pub fn load(
        vb: VarBuilder,
        c: &BertConfig,
        kernels: Kernels,
        precision: Precision,
    ) -> Result<Self> {
        let ranges = vec![InputRanges::default(); c.num_hidden_layers];
        Self::build(vb, c, (kernels, precision), &ranges, None, None)
    }

    /// The product inputs' ranges over `calibration` (token-id rows), run
    /// in f32 on the portable kernels so that every CPU measures the same.
    pub(crate) fn calibrate(
        vb: VarBuilder,
        c: &BertConfig,
        calibration: &[Vec<u32>],
    ) -> Result<Vec<InputRanges>> {
        let mut ranges = vec![InputRanges::default(); c.num_hidden_layers];
        if calibration.is_empty() {
            return Ok(ranges);
        }
        let f32 = Self::build(
            vb,
            c,
            (Kernels::Portable, Precision::F32),
            &ranges,
            None,
            None,
        )?;
        let device = f32.position.device().clone();
        for ids in calibration.iter().filter(|r| !r.is_empty()) {
            let ids = Tensor::new(ids.as_slice(), &device)?.unsqueeze(0)?;
            f32.run(&ids, &[ids.dim(1)?], Some(&mut ranges))?;
        }
        Ok(ranges)
    }

    /// [`BertEncoder::load`]; an int8 layer is smoothed by the input ranges
    /// [`BertEncoder::calibrate`] measured ([`PackedLinear::new_smoothed`]),
    /// unless its products come packed already (`packed`, every layer's;
    /// `ranges` are then not read).
    pub(crate) fn load_with_ranges(
        vb: VarBuilder,
        c: &BertConfig,
        arith: (Kernels, Precision),
        ranges: &[InputRanges],
        words: Option<MappedRows>,
        packed: Option<Vec<LayerPacks>>,
    ) -> Result<Self> {
        Self::build(vb, c, arith, ranges, words, packed)
    }

    /// Every layer's products, if each is packed for our kernels.
    pub(crate) fn packed(&self) -> Option<Vec<[&PackedLinear; 4]>> {
        self.layers
            .iter()
            .map(|l| {
                let products = [&l.qkv, &l.attn_out, &l.ffn_in, &l.ffn_out];
                let [a, b, c, d] = products.map(Linear::packed);
                Some([a?, b?, c?, d?])
            })
            .collect()
    }

    /// `words`: the word embeddings read from the weights' file, else
    /// loaded from `vb`.
    fn build(
        vb: VarBuilder,
        c: &BertConfig,
        (kernels, precision): Arith,
        ranges: &[InputRanges],
        words: Option<MappedRows>,
        packed: Option<Vec<LayerPacks>>,
    ) -> Result<Self> {
        let vb = if vb.contains_tensor(WORD_EMBEDDINGS[0]) {
            vb.pp("bert")
        } else {
            vb
        };
        let act = Activation::parse(&c.hidden_act).ok_or_else(|| {
            candle_core::Error::Msg(format!("unsupported hidden_act {}", c.hidden_act))
        })?;
        let h = c.hidden_size;
        let e = vb.pp("embeddings");
        let emb_norm = AddNorm::load(e.pp("LayerNorm"), h, c.layer_norm_eps)?;
        // Packing a layer's weights for our kernels is most of a model's
        // load: the layers pack side by side.
        let mut packed: Vec<Option<LayerPacks>> = match packed {
            Some(layers) if layers.len() == c.num_hidden_layers => {
                layers.into_iter().map(Some).collect()
            }
            _ => (0..c.num_hidden_layers).map(|_| None).collect(),
        };
        let layers = packed
            .par_iter_mut()
            .enumerate()
            .map(|(i, products)| {
                let vb = vb.pp(format!("encoder.layer.{i}"));
                Layer::load(vb, c, (kernels, precision), &ranges[i], products.take())
            })
            .collect::<Result<_>>()?;
        Ok(BertEncoder {
            word: match words {
                Some(rows) => WordTable::Mapped(rows),
                None => WordTable::Tensor(e.get((c.vocab_size, h), "word_embeddings.weight")?),
            },
            position: e.get((c.max_position_embeddings, h), "position_embeddings.weight")?,
            token_type: match c.type_vocab_size {
                0 => None,
                n => Some(
                    e.get((n, h), "token_type_embeddings.weight")?
                        .narrow(0, 0, 1)?,
                ),
            },
            emb_norm,
            layers,
            heads: c.num_attention_heads,
            act,
        })
    }

    /// `ids`: (batch, seq) u32, right-padded; `lengths`: real tokens per
    /// row. Returns the last hidden states, (batch, seq, hidden). All token
    /// type ids are 0 (single sentences).
    pub fn forward(&self, ids: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        self.run(ids, lengths, None)
    }

    fn run(
        &self,
        ids: &Tensor,
        lengths: &[usize],
        mut trace: Option<&mut Vec<InputRanges>>,
    ) -> Result<Tensor> {
        let (b, s) = ids.dims2()?;
        let h = self.word.dim()?;
        let words = self.word.lookup(&ids.flatten_all()?)?;
        let pos = self.position.narrow(0, 0, s)?;
        let pos = match &self.token_type {
            Some(typ) => pos.broadcast_add(typ)?,
            None => pos,
        };
        // The fused add and norm: candle's LayerNorm hands even a query's
        // few rows to rayon's pool from the calling thread.
        let pos = pos.unsqueeze(0)?.broadcast_as((b, s, h))?.contiguous()?;
        let mut x = self.emb_norm.forward(&words, &pos.reshape((b * s, h))?)?;
        let mask = Mask::new(lengths, s, ids.device())?;
        for (i, layer) in self.layers.iter().enumerate() {
            let t = trace.as_mut().map(|t| &mut t[i]);
            x = layer.forward(&x, &mask, (self.heads, self.act), t)?;
        }
        x.reshape((b, s, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Every packed kernel this CPU runs, in f32, and the portable candle
    /// path give the same linear layer, with and without GELU.
    #[test]
    fn packed_linear_matches_candle_fallback() {
        let dev = Device::Cpu;
        let (m, k, n) = (70, 48, 96);
        let w = Tensor::randn(0f32, 0.5, (n, k), &dev).unwrap();
        let b = Tensor::randn(0f32, 0.5, n, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
        let plain = Linear::from_parts(&w, b.clone(), (Kernels::Portable, Precision::F32)).unwrap();
        assert!(plain.packed().is_none());
        for kernels in &crate::ALL_KERNELS[1..] {
            let name = format!("packed_linear_matches_candle_fallback [{kernels}]");
            if let Some(why) = kernels.missing() {
                crate::testing::skip_without(&name, why, false);
                continue;
            }
            let packed = Linear::from_parts(&w, b.clone(), (*kernels, Precision::F32)).unwrap();
            assert!(packed.packed().is_some(), "{name}");
            for act in [None, Some(Activation::GeluErf)] {
                let run = |l: &Linear| match act {
                    Some(a) => l.forward_act(&x, a).unwrap(),
                    None => l.forward(&x).unwrap(),
                };
                let diff = crate::kernels::tests::max_diff(&run(&packed), &run(&plain));
                assert!(diff < 1e-4, "{name} {act:?}: {diff}");
            }
            eprintln!("{name}: ok");
        }
    }

    /// The AMX attention (bf16 products, where this CPU has AMX) against
    /// the generic f32 one: within bf16 rounding of the inputs.
    #[test]
    fn tile_attention_matches_generic_on_real_tokens() {
        let name = "tile_attention_matches_generic_on_real_tokens";
        if let Some(why) = Kernels::Amx.missing() {
            crate::testing::skip_without(name, why, false);
            return;
        }
        // Lengths across tile edges: 1, 16, 17, 33 and the padded 40.
        let (b, s, heads, d) = (5, 40, 2, 64);
        let h = heads * d;
        // Unit-variance scores, as with the 1/sqrt(d) scale folded into q.
        let qkv = Tensor::randn(0f32, 0.35, (b * s, 3 * h), &Device::Cpu).unwrap();
        let lengths = vec![40, 17, 1, 16, 33];
        let tiles = attention::Products::Tiles;
        matches_generic(&qkv, &lengths, (b, s, heads), tiles, 1e-2, true);
        eprintln!("{name}: ok");
    }

    /// The AVX2 family's 8-lane products against the generic attention,
    /// on lengths across the 4-row and 16-column block edges and two head
    /// widths; padded rows stay zero.
    #[test]
    fn lanes8_attention_matches_generic_on_real_tokens() {
        let name = "lanes8_attention_matches_generic_on_real_tokens";
        if let Some(why) = Kernels::Avx2.missing() {
            crate::testing::skip_without(name, why, false);
            return;
        }
        for (heads, d) in [(3, 32), (2, 64)] {
            let (b, s) = (6, 40);
            let h = heads * d;
            let qkv = Tensor::randn(0f32, 0.35, (b * s, 3 * h), &Device::Cpu).unwrap();
            let lengths = vec![40, 17, 1, 16, 5, 33];
            let lanes = attention::Products::Lanes8;
            matches_generic(&qkv, &lengths, (b, s, heads), lanes, 1e-5, true);
        }
        eprintln!("{name}: ok");
    }

    #[test]
    fn fused_attention_matches_generic_on_real_tokens() {
        let (b, s, heads, d) = (3, 9, 4, 8);
        let h = heads * d;
        let v: Vec<f32> = (0..b * s * 3 * h)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let qkv = Tensor::from_vec(v, (b * s, 3 * h), &Device::Cpu).unwrap();
        let lengths = vec![9, 4, 1];
        let gemm = attention::Products::Gemm;
        matches_generic(&qkv, &lengths, (b, s, heads), gemm, 1e-5, false);
    }

    /// `products`' attention against the generic one on each item's real
    /// rows (within `tol`), and, with `pad`, zero on its padded rows.
    fn matches_generic(
        qkv: &Tensor,
        lengths: &[usize],
        (b, s, heads): (usize, usize, usize),
        products: attention::Products,
        tol: f32,
        pad: bool,
    ) {
        let h = qkv.dim(1).unwrap() / 3;
        let mask = Mask::new(lengths, s, &Device::Cpu).unwrap();
        let ours = attention::attention(qkv, lengths, heads, products).unwrap();
        let generic = generic_attention(qkv, &mask, heads).unwrap();
        let (ours, generic) = (
            ours.reshape((b, s, h)).unwrap(),
            generic.reshape((b, s, h)).unwrap(),
        );
        for (item, &len) in lengths.iter().enumerate() {
            let a = ours.get(item).unwrap().narrow(0, 0, len).unwrap();
            let g = generic.get(item).unwrap().narrow(0, 0, len).unwrap();
            let diff = crate::kernels::tests::max_diff(&a, &g);
            assert!(diff < tol, "{products:?} h {h} item {item}: {diff}");
            if pad && len < s {
                let rows = ours.get(item).unwrap().narrow(0, len, s - len).unwrap();
                let max: f32 = rows.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
                assert_eq!(
                    max, 0.0,
                    "{products:?} item {item}: padded rows must be zero"
                );
            }
        }
    }
}
