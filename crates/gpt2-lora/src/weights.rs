//! Where a model's weights come from, behind one trait: a safetensors checkpoint ([`Weights`]),
//! a llama.cpp GGUF file (`llama::gguf`) or a seeded random initialisation ([`RandomInit`]).
//! A model builds itself once, asking its [`WeightSource`] for every tensor by its HF name and
//! shape in one fixed order. File sources check the loading: every tensor a model asks for must
//! exist with the expected shape, and every tensor in the file must be asked for (or be on a
//! list of known extras).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::io::TensorFile;
use crate::seed::SeededRng;

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
}

/// How a tensor starts in a randomly initialised model (HF's `_init_weights`); file sources
/// ignore it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Init {
    /// Normal(0, std).
    Normal(f64),
    /// All zeros (biases).
    Zeros,
    /// All ones (norm weights).
    Ones,
}

/// Where a model's weights come from (see the module docs).
pub(crate) trait WeightSource {
    /// Tensor `name` (its HF name without the checkpoint's prefix) of shape `shape`.
    fn tensor(&mut self, name: &str, shape: &[i64], init: Init) -> Result<Tensor>;

    /// For a model whose LM head is tied to its token embedding: a copy of the head the source
    /// holds under `name` must equal `embedding` (HF checkpoints of tied models may carry one).
    fn tied_copy(&mut self, _name: &str, _embedding: &Tensor) -> Result<()> {
        Ok(())
    }
}

impl WeightSource for Weights {
    fn tensor(&mut self, name: &str, shape: &[i64], _: Init) -> Result<Tensor> {
        // HF keeps the LM head outside the model's prefix: `lm_head.weight`, not `model.lm_head.weight`.
        if name.starts_with("lm_head.") {
            self.take_exact(name, shape)
        } else {
            self.take(name, shape)
        }
    }

    fn tied_copy(&mut self, name: &str, embedding: &Tensor) -> Result<()> {
        if let Some(copy) = self.take_raw(name) {
            if copy.size() != embedding.size() || !copy.f_equal(embedding)? {
                return Err(Error::Config {
                    path: Some(self.path.clone()),
                    message: format!(
                        "{name} differs from the token embedding, but the config ties them; untied LM heads \
                         need a config that says so (Llama: tie_word_embeddings false; GPT-2 has none)"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// A seeded random initialisation, as HF makes one. Holds libtorch's generator while it lives,
/// so two models built from one seed are equal even while other threads train.
pub(crate) struct RandomInit {
    options: (Kind, Device),
    _rng: SeededRng,
}

impl RandomInit {
    /// Seeds libtorch's generator with `seed`; tensors are made in `kind` on `device`.
    pub(crate) fn new(kind: Kind, device: Device, seed: u64) -> Self {
        Self { options: (kind, device), _rng: SeededRng::new(seed) }
    }
}

impl WeightSource for RandomInit {
    fn tensor(&mut self, _: &str, shape: &[i64], init: Init) -> Result<Tensor> {
        Ok(match init {
            Init::Normal(std) => Tensor::f_randn(shape, self.options)?.f_mul_scalar(std)?,
            Init::Zeros => Tensor::f_zeros(shape, self.options)?,
            Init::Ones => Tensor::f_ones(shape, self.options)?,
        })
    }
}
