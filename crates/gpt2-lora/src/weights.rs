//! Checked weight loading: every tensor a model asks for must exist with the expected shape, and
//! every tensor in the file must be asked for (or be on a list of known extras).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::io::TensorFile;

/// The tensors of one checkpoint file, handed out by name with shape checks.
pub(crate) struct Weights {
    path: PathBuf,
    prefix: String,
    tensors: BTreeMap<String, Tensor>,
}

impl Weights {
    /// Reads `path`, casting floats to `kind` on `device`. `prefix` (e.g. `"transformer."`) is
    /// stripped from names when every model tensor carries it.
    pub(crate) fn from_file(path: &Path, device: Device, kind: Kind, optional_prefix: &str) -> Result<Self> {
        let file = TensorFile::open(path)?;
        let tensors: BTreeMap<String, Tensor> = file.tensors(device, kind)?.into_iter().collect();
        let prefix = if !optional_prefix.is_empty() && tensors.keys().any(|k| k.starts_with(optional_prefix)) {
            optional_prefix.to_string()
        } else {
            String::new()
        };
        Ok(Self { path: file.path().to_path_buf(), prefix, tensors })
    }

    /// The name a tensor has in the file.
    fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Removes and returns tensor `name` (without prefix), checking its shape.
    pub(crate) fn take(&mut self, name: &str, shape: &[i64]) -> Result<Tensor> {
        let full = self.full(name);
        self.take_exact(&full, shape)
    }

    /// Removes and returns tensor `full` (its name in the file, no prefix added), checking its
    /// shape.
    pub(crate) fn take_exact(&mut self, full: &str, shape: &[i64]) -> Result<Tensor> {
        let full = full.to_string();
        let t = self
            .tensors
            .remove(&full)
            .ok_or_else(|| Error::MissingTensor { name: full.clone(), path: self.path.clone() })?;
        if t.size() != shape {
            return Err(Error::ShapeMismatch {
                name: full,
                path: self.path.clone(),
                expected: shape.to_vec(),
                actual: t.size(),
            });
        }
        Ok(t)
    }

    /// Removes and returns tensor `name` (full name, no prefix added) if present.
    pub(crate) fn take_raw(&mut self, full_name: &str) -> Option<Tensor> {
        self.tensors.remove(full_name)
    }

    /// Errors on the first tensor left over that `ignore` does not accept.
    pub(crate) fn finish(self, ignore: impl Fn(&str) -> bool) -> Result<()> {
        match self.tensors.keys().find(|k| !ignore(k)) {
            Some(name) => Err(Error::UnexpectedTensor { name: name.clone(), path: self.path }),
            None => Ok(()),
        }
    }

    /// The file the weights came from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
