//! A [`PackedLinear`] as bytes, for the packed weights kept between
//! processes ([`crate::packed`]): its sizes, then each buffer as a length
//! and little-endian values. Reading checks every length against the
//! layout this CPU's kernels would pack (`Packing::of`), so a file from
//! another layout is refused rather than read past.

use super::{Aligned, PackedLinear, Packing};
use crate::{Kernels, Precision};

impl PackedLinear {
    /// Append this product's bytes to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        for v in [self.k, self.n, usize::from(self.pairs)] {
            out.extend_from_slice(&(v as u64).to_le_bytes());
        }
        words(out, self.data.as_slice().iter().copied());
        words(out, self.bias.iter().map(|v| v.to_bits()));
        words(out, self.col_scale.iter().map(|v| v.to_bits()));
        words(out, self.col_corr.iter().map(|&v| v as u32));
        words(out, self.in_scale.iter().map(|v| v.to_bits()));
    }

    /// The product `encode` wrote at the front of `bytes` (which is moved
    /// past it), a `k` x `n` one for `kernels` at `precision`; `None` when
    /// the bytes are cut short or hold another shape or layout.
    pub(crate) fn decode(
        bytes: &mut &[u8],
        (k, n): (usize, usize),
        kernels: Kernels,
        precision: Precision,
    ) -> Option<PackedLinear> {
        if kernels == Kernels::Portable || !kernels.runs(precision) || kernels.missing().is_some() {
            return None;
        }
        let shape = Packing::of(kernels, precision, k);
        let mut size = || Some(u64::from_le_bytes(*take::<8>(bytes)?) as usize);
        // Plain AVX2's byte pairs take as many words as VNNI's quads.
        if (size()?, size()?, size()? == 1) != (k, n, shape.pairs) {
            return None;
        }
        let int8 = precision == Precision::Int8;
        let mut data = Aligned::default();
        let packed = n.div_ceil(shape.nr) * shape.steps * shape.lanes;
        read(bytes, packed, data.grow(packed))?;
        let floats = |bytes: &mut &[u8], len| -> Option<Vec<f32>> {
            let mut v = vec![0u32; len];
            read(bytes, len, &mut v)?;
            Some(v.into_iter().map(f32::from_bits).collect())
        };
        let bias = floats(bytes, n)?;
        let col_scale = floats(bytes, if int8 { n } else { 0 })?;
        let mut corr = vec![0u32; if int8 { n } else { 0 }];
        read(bytes, corr.len(), &mut corr)?;
        // A smoothed int8 product has a factor per input; others none.
        let smoothed = int8 && peek_len(bytes)? == k;
        let in_scale = floats(bytes, if smoothed { k } else { 0 })?;
        Some(PackedLinear {
            kernels,
            precision,
            k,
            n,
            nr: shape.nr,
            steps: shape.steps,
            data,
            bias,
            col_scale,
            col_corr: corr.into_iter().map(|v| v as i32).collect(),
            in_scale,
            pairs: shape.pairs,
        })
    }
}

/// A length, then the values.
fn words(out: &mut Vec<u8>, values: impl ExactSizeIterator<Item = u32>) {
    out.extend_from_slice(&(values.len() as u64).to_le_bytes());
    values.for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
}

/// The length at the front of `bytes`, which stay as they are.
fn peek_len(bytes: &[u8]) -> Option<usize> {
    let (len, _) = bytes.split_first_chunk::<8>()?;
    usize::try_from(u64::from_le_bytes(*len)).ok()
}

/// `len` values into `out`, if `bytes` starts with that length and them.
fn read(bytes: &mut &[u8], len: usize, out: &mut [u32]) -> Option<()> {
    if peek_len(bytes)? != len || bytes.len() < 8 + len * 4 {
        return None;
    }
    let (head, tail) = bytes[8..].split_at(len * 4);
    for (o, c) in out.iter_mut().zip(head.chunks_exact(4)) {
        *o = u32::from_le_bytes(c.try_into().expect("4 bytes"));
    }
    *bytes = tail;
    Some(())
}

fn take<'a, const N: usize>(bytes: &mut &'a [u8]) -> Option<&'a [u8; N]> {
    let (head, tail) = bytes.split_first_chunk::<N>()?;
    *bytes = tail;
    Some(head)
}
