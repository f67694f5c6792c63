//! File formats: safetensors in and out (with dtype checks), JSON, and atomic writes.
//!
//! Every write goes to a temporary file in the destination directory and is renamed into place,
//! so a crash never leaves a half-written checkpoint or adapter behind.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, View};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// A safetensors file read into memory: tensor names, shapes and data, nothing converted yet.
pub(crate) struct TensorFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl TensorFile {
    /// Reads the whole file.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        // Parse once up front so a corrupt file is reported here, with its path.
        SafeTensors::deserialize(&bytes).map_err(|source| Error::Safetensors { path: path.into(), source })?;
        Ok(Self { path: path.to_path_buf(), bytes })
    }

    /// The file this was read from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Converts every tensor, floats cast to `float_kind`, placed on `device`.
    pub(crate) fn tensors(&self, device: Device, float_kind: Kind) -> Result<Vec<(String, Tensor)>> {
        let st = SafeTensors::deserialize(&self.bytes)
            .map_err(|source| Error::Safetensors { path: self.path.clone(), source })?;
        let mut out = Vec::with_capacity(st.len());
        for (name, view) in st.iter() {
            let kind = match view.dtype() {
                Dtype::F32 => Kind::Float,
                Dtype::F16 => Kind::Half,
                Dtype::BF16 => Kind::BFloat16,
                Dtype::F64 => Kind::Double,
                Dtype::I64 => Kind::Int64,
                Dtype::I32 => Kind::Int,
                Dtype::I16 => Kind::Int16,
                Dtype::I8 => Kind::Int8,
                Dtype::U8 => Kind::Uint8,
                Dtype::BOOL => Kind::Bool,
                other => {
                    return Err(Error::UnsupportedDtype {
                        name: name.to_string(),
                        path: self.path.clone(),
                        dtype: format!("{other:?}"),
                    })
                }
            };
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let t = Tensor::f_from_data_size(view.data(), &shape, kind)?;
            let t = if t.is_floating_point() { t.f_to_kind(float_kind)? } else { t };
            out.push((name.to_string(), t.f_to_device(device)?));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// A tensor copied to host memory, ready to be serialised.
struct HostTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &HostTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn to_host(name: &str, t: &Tensor) -> Result<HostTensor> {
    let t = t.f_detach()?.f_to_device(Device::Cpu)?.f_contiguous()?;
    let kind = t.f_kind()?;
    let dtype = match kind {
        Kind::Float => Dtype::F32,
        Kind::Half => Dtype::F16,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Double => Dtype::F64,
        Kind::Int64 => Dtype::I64,
        Kind::Int => Dtype::I32,
        Kind::Int16 => Dtype::I16,
        Kind::Int8 => Dtype::I8,
        Kind::Uint8 => Dtype::U8,
        Kind::Bool => Dtype::BOOL,
        other => return Err(Error::invalid(format!("cannot save tensor `{name}` of kind {other:?}"))),
    };
    let numel = t.numel();
    let mut data = vec![0u8; numel * kind.elt_size_in_bytes()];
    t.f_copy_data_u8(&mut data, numel)?;
    let shape = t.size().iter().map(|&d| d as usize).collect();
    Ok(HostTensor { dtype, shape, data })
}

/// Writes named tensors as safetensors with `{"format": "pt"}` metadata (what PyTorch tools
/// expect), atomically.
pub(crate) fn write_safetensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let host = tensors.iter().map(|(n, t)| Ok((n.clone(), to_host(n, t)?))).collect::<Result<Vec<_>>>()?;
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes = safetensors::tensor::serialize(host.iter().map(|(n, t)| (n.as_str(), t)), Some(meta))
        .map_err(|source| Error::Safetensors { path: path.into(), source })?;
    write_atomic(path, &bytes)
}

/// Reads and parses a JSON file.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| Error::Json { path: path.into(), source })
}

/// Writes a value as pretty JSON, atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|source| Error::Json { path: path.into(), source })?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir).map_err(|e| Error::io(&dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
