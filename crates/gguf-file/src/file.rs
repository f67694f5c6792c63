//! [`GgufFile`]: an opened (memory-mapped or owned) GGUF file.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use half::{bf16, f16};

use crate::error::{GgufError, Result};
use crate::header::{Cursor, Header};
use crate::metadata::{Metadata, Value};
use crate::quant::{self, OutputFloat};
use crate::tensor::{GgmlType, TensorInfo};
use crate::tokenizer::GgufTokenizer;

/// Alignment of the data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// The metadata key that overrides [`DEFAULT_ALIGNMENT`].
pub const ALIGNMENT_KEY: &str = "general.alignment";

enum Storage {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// A parsed GGUF file: header, metadata, tensor infos, and the bytes behind them.
///
/// Parsing checks every count against the input size before allocating, and every tensor's
/// extent against the data section, so any accessor that returns tensor bytes cannot go out
/// of bounds.
pub struct GgufFile {
    storage: Storage,
    header: Header,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    alignment: u64,
    data_offset: usize,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.header.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("alignment", &self.alignment)
            .field("data_offset", &self.data_offset)
            .finish()
    }
}

impl GgufFile {
    /// Memory-maps and parses the file at `path`.
    ///
    /// The file must not be modified while the returned value is alive (the usual
    /// memory-mapping caveat); tensor bytes are read from the mapping on demand.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io = |source| GgufError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        // SAFETY: the mapping is read-only and private to this value; as documented above, the
        // caller keeps the file unchanged while it is mapped.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::parse(Storage::Mapped(map))
    }

    /// Parses a GGUF image held in memory (copied if given a slice).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self> {
        Self::parse(Storage::Owned(bytes.into()))
    }

    fn parse(storage: Storage) -> Result<Self> {
        let bytes = storage.bytes();
        let mut cur = Cursor::new(bytes);
        let header = Header::read(&mut cur)?;
        let metadata = Metadata::read(&mut cur, header.kv_count)?;
        let alignment = match metadata.get(ALIGNMENT_KEY) {
            None => DEFAULT_ALIGNMENT,
            Some(Value::U32(a)) if a.is_power_of_two() => u64::from(*a),
            Some(Value::U32(a)) => {
                return Err(GgufError::InvalidValue {
                    key: ALIGNMENT_KEY.into(),
                    reason: format!("{a} is not a power of two"),
                })
            }
            Some(other) => {
                return Err(GgufError::WrongType {
                    key: ALIGNMENT_KEY.into(),
                    expected: "UINT32".into(),
                    found: other.type_name(),
                })
            }
        };
        // A tensor info is at least a name length (8), a dim count (4), a type (4), an offset (8).
        let n_tensors = cur.check_count(header.tensor_count, 24, "tensor count")?;
        let mut tensors = Vec::with_capacity(n_tensors);
        let mut by_name = HashMap::with_capacity(n_tensors);
        for i in 0..n_tensors {
            let info = TensorInfo::read(&mut cur, i)?;
            if by_name.insert(info.name.clone(), i).is_some() {
                return Err(GgufError::DuplicateTensor(info.name));
            }
            tensors.push(info);
        }
        let data_offset = (cur.pos() as u64).div_ceil(alignment) * alignment;
        let data_len = (bytes.len() as u64).saturating_sub(data_offset);
        for t in &tensors {
            if !t.offset.is_multiple_of(alignment) {
                return Err(GgufError::InvalidTensor {
                    tensor: t.name.clone(),
                    reason: format!("offset {} is not a multiple of the alignment {alignment}", t.offset),
                });
            }
            let n_bytes = t.checked_n_bytes()?;
            let end = t.offset.checked_add(n_bytes).filter(|&end| end <= data_len);
            if end.is_none() {
                return Err(GgufError::TensorOutOfBounds {
                    tensor: t.name.clone(),
                    start: t.offset,
                    end: t.offset.saturating_add(n_bytes),
                    data_len,
                });
            }
        }
        // Every tensor lies inside the input, so data_offset fits usize unless there are none.
        let data_offset = usize::try_from(data_offset).unwrap_or(usize::MAX);
        Ok(Self { storage, header, metadata, tensors, by_name, alignment, data_offset })
    }

    /// The fixed header (version and counts).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.header.version
    }

    /// All metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// `general.architecture`, e.g. `"llama"`.
    pub fn architecture(&self) -> Result<&str> {
        self.metadata.get_str("general.architecture")
    }

    /// Alignment of the data section and of every tensor offset in it.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Offset of the data section from the start of the file.
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    /// The whole file image.
    pub fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// Tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The info of the tensor called `name`, or [`GgufError::TensorNotFound`].
    pub fn tensor_info(&self, name: &str) -> Result<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i]).ok_or_else(|| GgufError::TensorNotFound(name.to_string()))
    }

    /// The tensor called `name` with its bytes.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        self.tensor_info(name).map(|info| self.view(info))
    }

    /// Every tensor with its bytes, in file order.
    pub fn tensor_views(&self) -> impl Iterator<Item = TensorView<'_>> {
        self.tensors.iter().map(|info| self.view(info))
    }

    fn view<'a>(&'a self, info: &'a TensorInfo) -> TensorView<'a> {
        // Parsing checked data_offset + offset + n_bytes <= file length.
        // `get` keeps even a zero-sized tensor past the end of a padding-less file safe.
        let start = self.data_offset.saturating_add(info.offset as usize);
        let data = self.bytes().get(start..start.saturating_add(info.n_bytes())).unwrap_or(&[]);
        TensorView { info, data }
    }

    /// The dequantized values of tensor `name` as `f32`, in ggml element order (which is
    /// row-major for [`TensorInfo::shape`]).
    pub fn dequantize_f32(&self, name: &str) -> Result<Vec<f32>> {
        self.tensor(name)?.to_vec()
    }

    /// Builds the tokenizer stored in the metadata; see [`GgufTokenizer::from_metadata`].
    pub fn tokenizer(&self) -> Result<GgufTokenizer> {
        GgufTokenizer::from_metadata(&self.metadata)
    }
}

/// A tensor's info together with its raw bytes in the file.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    info: &'a TensorInfo,
    data: &'a [u8],
}

impl<'a> TensorView<'a> {
    /// The tensor's info.
    pub fn info(&self) -> &'a TensorInfo {
        self.info
    }

    /// The tensor's name.
    pub fn name(&self) -> &'a str {
        &self.info.name
    }

    /// The element type.
    pub fn ggml_type(&self) -> GgmlType {
        self.info.ggml_type
    }

    /// The raw (possibly quantized) bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Dequantizes into `out`, which must hold [`TensorInfo::n_elements`] values.
    pub fn dequantize_into<T: OutputFloat>(&self, out: &mut [T]) -> Result<()> {
        quant::dequantize_into(&self.info.name, self.info.ggml_type, self.data, out)
    }

    /// Dequantizes to a new vector of `f32`, `f16` or `bf16`.
    pub fn to_vec<T: OutputFloat>(&self) -> Result<Vec<T>> {
        quant::dequantize(&self.info.name, self.info.ggml_type, self.data)
    }

    /// Dequantizes to `f32`.
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        self.to_vec()
    }

    /// Dequantizes to `f16` (values computed in `f32`, then rounded).
    pub fn to_f16(&self) -> Result<Vec<f16>> {
        self.to_vec()
    }

    /// Dequantizes to `bf16` (values computed in `f32`, then rounded).
    pub fn to_bf16(&self) -> Result<Vec<bf16>> {
        self.to_vec()
    }
}
