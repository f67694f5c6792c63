//! Tensor infos and the ggml tensor types.

use std::fmt;

use crate::error::{GgufError, Result};
use crate::header::Cursor;

/// Most dimensions a ggml tensor can have.
pub const MAX_DIMS: usize = 4;

/// A ggml tensor type, numbered as ggml numbers them.
///
/// The reader knows the block layout (elements per block, bytes per block) of all of these, so
/// it can check every tensor's extent; [`GgmlType::is_dequantizable`] says which ones this
/// crate turns into floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types, missing_docs)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
}

/// `(type, code, name, elements per block, bytes per block)`, from ggml's type traits.
const TYPES: &[(GgmlType, u32, &str, u64, u64)] = {
    use GgmlType::*;
    &[
        (F32, 0, "F32", 1, 4),
        (F16, 1, "F16", 1, 2),
        (Q4_0, 2, "Q4_0", 32, 18),
        (Q4_1, 3, "Q4_1", 32, 20),
        (Q5_0, 6, "Q5_0", 32, 22),
        (Q5_1, 7, "Q5_1", 32, 24),
        (Q8_0, 8, "Q8_0", 32, 34),
        (Q8_1, 9, "Q8_1", 32, 36),
        (Q2_K, 10, "Q2_K", 256, 84),
        (Q3_K, 11, "Q3_K", 256, 110),
        (Q4_K, 12, "Q4_K", 256, 144),
        (Q5_K, 13, "Q5_K", 256, 176),
        (Q6_K, 14, "Q6_K", 256, 210),
        (Q8_K, 15, "Q8_K", 256, 292),
        (IQ2_XXS, 16, "IQ2_XXS", 256, 66),
        (IQ2_XS, 17, "IQ2_XS", 256, 74),
        (IQ3_XXS, 18, "IQ3_XXS", 256, 98),
        (IQ1_S, 19, "IQ1_S", 256, 50),
        (IQ4_NL, 20, "IQ4_NL", 32, 18),
        (IQ3_S, 21, "IQ3_S", 256, 110),
        (IQ2_S, 22, "IQ2_S", 256, 82),
        (IQ4_XS, 23, "IQ4_XS", 256, 136),
        (I8, 24, "I8", 1, 1),
        (I16, 25, "I16", 1, 2),
        (I32, 26, "I32", 1, 4),
        (I64, 27, "I64", 1, 8),
        (F64, 28, "F64", 1, 8),
        (IQ1_M, 29, "IQ1_M", 256, 56),
        (BF16, 30, "BF16", 1, 2),
        (TQ1_0, 34, "TQ1_0", 256, 54),
        (TQ2_0, 35, "TQ2_0", 256, 66),
        (MXFP4, 39, "MXFP4", 32, 17),
    ]
};

impl GgmlType {
    fn entry(self) -> &'static (GgmlType, u32, &'static str, u64, u64) {
        // Every variant has exactly one row; the table test checks it.
        TYPES.iter().find(|t| t.0 == self).unwrap_or(&TYPES[0])
    }

    /// The type for a ggml type code, if this crate knows it.
    pub fn from_code(code: u32) -> Option<Self> {
        TYPES.iter().find(|t| t.1 == code).map(|t| t.0)
    }

    /// The ggml type code.
    pub fn code(self) -> u32 {
        self.entry().1
    }

    /// The name ggml uses (`Q4_1`, `BF16`, ...).
    pub fn name(self) -> &'static str {
        self.entry().2
    }

    /// Elements per block (1 for the plain types).
    pub fn block_size(self) -> u64 {
        self.entry().3
    }

    /// Bytes per block.
    pub fn type_size(self) -> u64 {
        self.entry().4
    }

    /// Whether [`crate::quant`] can turn this type into floats.
    pub fn is_dequantizable(self) -> bool {
        matches!(self, Self::F32 | Self::F16 | Self::BF16 | Self::Q8_0 | Self::Q4_0 | Self::Q4_1)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a tensor lives and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in ggml order: `dims[0]` varies fastest. The row-major (PyTorch) shape is
    /// this reversed; see [`TensorInfo::shape`].
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Offset of the first byte from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Reads one tensor info and checks what can be checked without the data section:
    /// dimension count, element count overflow, whole blocks per row.
    pub(crate) fn read(cur: &mut Cursor<'_>, index: usize) -> Result<Self> {
        let name = cur.string(&format!("name of tensor #{index}"))?;
        let n_dims = cur.u32(&name)?;
        if n_dims as usize > MAX_DIMS {
            return Err(invalid(&name, format!("{n_dims} dimensions (at most {MAX_DIMS})")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(cur.u64(&name)?);
        }
        let code = cur.u32(&name)?;
        let ggml_type =
            GgmlType::from_code(code).ok_or_else(|| GgufError::UnknownTensorType { tensor: name.clone(), code })?;
        let offset = cur.u64(&name)?;
        let info = Self { name, dims, ggml_type, offset };
        info.checked_n_bytes()?;
        Ok(info)
    }

    /// The row-major shape (ggml dims reversed), as PyTorch and safetensors write it:
    /// `token_embd.weight` with dims `[576, 49152]` has shape `[49152, 576]`.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }

    /// Number of elements. Fits `usize` for every tensor of an opened file.
    pub fn n_elements(&self) -> usize {
        self.dims.iter().product::<u64>() as usize
    }

    /// Number of bytes the tensor takes in the data section.
    pub fn n_bytes(&self) -> usize {
        (self.n_elements() as u64 / self.ggml_type.block_size() * self.ggml_type.type_size()) as usize
    }

    /// Size in bytes, checking for overflow and partial blocks.
    pub(crate) fn checked_n_bytes(&self) -> Result<u64> {
        let mut n: u64 = 1;
        for &d in &self.dims {
            n = n
                .checked_mul(d)
                .filter(|&n| usize::try_from(n).is_ok() && n < (1u64 << 62))
                .ok_or_else(|| invalid(&self.name, format!("dimensions {:?} overflow", self.dims)))?;
        }
        let block = self.ggml_type.block_size();
        let row = self.dims.first().copied().unwrap_or(1);
        if !row.is_multiple_of(block) {
            return Err(invalid(
                &self.name,
                format!("first dimension {row} is not a multiple of the {} block size {block}", self.ggml_type),
            ));
        }
        Ok(n / block * self.ggml_type.type_size())
    }
}

fn invalid(tensor: &str, reason: String) -> GgufError {
    GgufError::InvalidTensor { tensor: tensor.to_string(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_table_is_consistent() {
        for (i, row) in TYPES.iter().enumerate() {
            assert_eq!(GgmlType::from_code(row.1), Some(row.0));
            assert_eq!(row.0.entry().1, row.1);
            assert!(TYPES[i + 1..].iter().all(|other| other.0 != row.0 && other.1 != row.1));
        }
        assert_eq!(GgmlType::from_code(4), None);
        assert_eq!(GgmlType::Q4_1.type_size(), 20);
    }

    #[test]
    fn sizes_and_shapes() {
        let t = TensorInfo { name: "w".into(), dims: vec![64, 3], ggml_type: GgmlType::Q8_0, offset: 0 };
        assert_eq!(t.shape(), vec![3, 64]);
        assert_eq!(t.n_elements(), 192);
        assert_eq!(t.checked_n_bytes().unwrap(), 6 * 34);
        assert_eq!(t.n_bytes(), 6 * 34);
        let bad = TensorInfo { dims: vec![40, 3], ..t.clone() };
        assert!(bad.checked_n_bytes().unwrap_err().to_string().contains("block size"));
        let huge = TensorInfo { dims: vec![1 << 40, 1 << 40], ..t };
        assert!(huge.checked_n_bytes().unwrap_err().to_string().contains("overflow"));
    }
}
