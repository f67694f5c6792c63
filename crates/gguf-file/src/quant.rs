//! Dequantization of F32, F16, BF16, Q8_0, Q4_0 and Q4_1 data to `f32`, `f16` or `bf16`.
//!
//! Block layouts follow ggml (`ggml-common.h`), all little-endian:
//!
//! | type | elements | bytes | layout | value |
//! |------|----------|-------|--------|-------|
//! | Q8_0 | 32 | 34 | `f16 d`, `i8 qs[32]` | `qs[i] · d` |
//! | Q4_0 | 32 | 18 | `f16 d`, `u8 qs[16]` | `(q − 8) · d` |
//! | Q4_1 | 32 | 20 | `f16 d`, `f16 m`, `u8 qs[16]` | `q · d + m` |
//!
//! In the 4-bit types element `j < 16` is the low nibble of `qs[j]` and element `j + 16` its
//! high nibble. Work is split across threads with rayon in chunks of whole blocks.

use half::{bf16, f16};
use rayon::prelude::*;

use crate::error::{GgufError, Result};
use crate::tensor::GgmlType;

/// Blocks handed to one rayon task.
const BLOCKS_PER_TASK: usize = 2048;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
}

/// A float type dequantized values can be written as: `f32`, [`half::f16`] or [`half::bf16`].
///
/// Values are computed in `f32` and rounded to nearest-even for the 16-bit outputs.
pub trait OutputFloat: sealed::Sealed + Copy + Send + Sync + Default + 'static {
    /// Rounds an `f32` to this type.
    fn from_f32(x: f32) -> Self;
}

impl OutputFloat for f32 {
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x
    }
}

impl OutputFloat for f16 {
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        f16::from_f32(x)
    }
}

impl OutputFloat for bf16 {
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        bf16::from_f32(x)
    }
}

#[inline(always)]
fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

fn plain<T: OutputFloat>(ty: GgmlType, bytes: &[u8], out: &mut [T]) {
    match ty {
        GgmlType::F32 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = T::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            }
        }
        GgmlType::F16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = T::from_f32(f16::from_le_bytes([b[0], b[1]]).to_f32());
            }
        }
        GgmlType::BF16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = T::from_f32(bf16::from_le_bytes([b[0], b[1]]).to_f32());
            }
        }
        _ => unreachable!("plain() is only called for F32, F16, BF16"),
    }
}

fn q8_0<T: OutputFloat>(block: &[u8], out: &mut [T]) {
    let d = f16_at(block, 0);
    for (o, &q) in out.iter_mut().zip(&block[2..34]) {
        *o = T::from_f32(f32::from(q as i8) * d);
    }
}

fn q4_0<T: OutputFloat>(block: &[u8], out: &mut [T]) {
    let d = f16_at(block, 0);
    let (lo, hi) = out.split_at_mut(16);
    for (j, &q) in block[2..18].iter().enumerate() {
        lo[j] = T::from_f32(d * f32::from((q & 0x0f) as i8 - 8));
        hi[j] = T::from_f32(d * f32::from((q >> 4) as i8 - 8));
    }
}

fn q4_1<T: OutputFloat>(block: &[u8], out: &mut [T]) {
    let d = f16_at(block, 0);
    let m = f16_at(block, 2);
    let (lo, hi) = out.split_at_mut(16);
    for (j, &q) in block[4..20].iter().enumerate() {
        lo[j] = T::from_f32(d * f32::from(q & 0x0f) + m);
        hi[j] = T::from_f32(d * f32::from(q >> 4) + m);
    }
}

/// Dequantizes `bytes` of type `ty` into `out`, which must hold exactly the number of
/// elements the bytes encode. `tensor` only names the data in errors.
///
/// # Errors
/// [`GgufError::UnsupportedTensorType`] for a type other than the six this module reads,
/// [`GgufError::OutputLength`] if `out` and `bytes` disagree on the element count.
pub fn dequantize_into<T: OutputFloat>(tensor: &str, ty: GgmlType, bytes: &[u8], out: &mut [T]) -> Result<()> {
    if !ty.is_dequantizable() {
        return Err(GgufError::UnsupportedTensorType { tensor: tensor.to_string(), ggml_type: ty.name().to_string() });
    }
    let block = ty.block_size() as usize;
    let size = ty.type_size() as usize;
    let expected = bytes.len() / size * block;
    if !bytes.len().is_multiple_of(size) || out.len() != expected {
        return Err(GgufError::OutputLength { tensor: tensor.to_string(), expected, got: out.len() });
    }
    let kernel: fn(&[u8], &mut [T]) = match ty {
        GgmlType::Q8_0 => q8_0::<T>,
        GgmlType::Q4_0 => q4_0::<T>,
        GgmlType::Q4_1 => q4_1::<T>,
        _ => {
            // Plain types: one "block" per element; hand out runs of elements.
            let per_task = BLOCKS_PER_TASK * 32;
            out.par_chunks_mut(per_task).zip(bytes.par_chunks(per_task * size)).for_each(|(o, b)| plain(ty, b, o));
            return Ok(());
        }
    };
    out.par_chunks_mut(BLOCKS_PER_TASK * block).zip(bytes.par_chunks(BLOCKS_PER_TASK * size)).for_each(|(o, b)| {
        for (ob, bb) in o.chunks_exact_mut(block).zip(b.chunks_exact(size)) {
            kernel(bb, ob);
        }
    });
    Ok(())
}

/// Like [`dequantize_into`], allocating the output.
pub fn dequantize<T: OutputFloat>(tensor: &str, ty: GgmlType, bytes: &[u8]) -> Result<Vec<T>> {
    let n = bytes.len() / ty.type_size() as usize * ty.block_size() as usize;
    let mut out = vec![T::default(); n];
    dequantize_into(tensor, ty, bytes, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn q4_0_nibble_order_and_offset() {
        let mut block = f16_bytes(0.5).to_vec();
        // qs[j] = low nibble j % 16, high nibble 15 - j % 16.
        block.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let out: Vec<f32> = dequantize("t", GgmlType::Q4_0, &block).unwrap();
        for j in 0..16 {
            assert_eq!(out[j], (j as f32 - 8.0) * 0.5);
            assert_eq!(out[j + 16], (15.0 - j as f32 - 8.0) * 0.5);
        }
    }

    #[test]
    fn q4_1_adds_the_min() {
        let mut block = f16_bytes(2.0).to_vec();
        block.extend(f16_bytes(-1.0));
        block.extend([0x10u8; 16]);
        let out: Vec<f32> = dequantize("t", GgmlType::Q4_1, &block).unwrap();
        assert!(out[..16].iter().all(|&x| x == -1.0));
        assert!(out[16..].iter().all(|&x| x == 1.0));
    }

    #[test]
    fn q8_0_is_signed() {
        let mut block = f16_bytes(0.25).to_vec();
        block.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let out: Vec<bf16> = dequantize("t", GgmlType::Q8_0, &block).unwrap();
        assert_eq!(out[0].to_f32(), -4.0);
        assert_eq!(out[31].to_f32(), 3.75);
    }

    #[test]
    fn errors_name_tensor_and_type() {
        let err = dequantize::<f32>("blk.0.w", GgmlType::Q4_K, &[0; 144]).unwrap_err().to_string();
        assert!(err.contains("blk.0.w") && err.contains("Q4_K"), "{err}");
        let mut out = [0f32; 3];
        assert!(dequantize_into("t", GgmlType::F32, &[0; 8], &mut out).is_err());
    }

    #[test]
    fn large_inputs_split_into_tasks_identically() {
        let n_blocks = BLOCKS_PER_TASK * 3 + 5;
        let bytes: Vec<u8> = (0..n_blocks * 20).map(|i| (i * 7 % 251) as u8 & 0x3f).collect();
        let par: Vec<f32> = dequantize("t", GgmlType::Q4_1, &bytes).unwrap();
        let mut seq = vec![0f32; n_blocks * 32];
        for (o, b) in seq.chunks_exact_mut(32).zip(bytes.chunks_exact(20)) {
            q4_1(b, o);
        }
        assert_eq!(
            par.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            seq.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }
}
