//! Saving and loading a [`FittedDlrm`] as a directory:
//!
//! | file | content |
//! |---|---|
//! | `model.safetensors` | the weights, f32, named as in [`FittedDlrm`]'s variable store |
//! | `features.json` | the [`FeatureMap`]: target map, scaling, vocabularies |
//! | `config.json` | the [`DlrmConfig`], seed included |
//!
//! Each file is written atomically (temporary file, sync, rename), weights first and config
//! last, so a reader never sees a half-written file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use serde::de::DeserializeOwned;
use tch::{nn, Device, Kind, Tensor};

use crate::config::DlrmConfig;
use crate::error::{Error, Result};
use crate::features::FeatureMap;
use crate::fitted::FittedDlrm;
use crate::model::DlrmNet;

/// File name of the weights.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File name of the feature map.
pub const FEATURES_FILE: &str = "features.json";
/// File name of the configuration.
pub const CONFIG_FILE: &str = "config.json";

impl FittedDlrm {
    /// Writes the model into directory `dir` (created if needed; files in it replaced).
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        let vars: BTreeMap<String, Tensor> = self.vs.variables().into_iter().collect();
        let mut bytes: BTreeMap<&str, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
        for (name, t) in &vars {
            let t = t.f_detach()?.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?.f_contiguous()?;
            let shape: Vec<usize> = t.size().iter().map(|&s| s as usize).collect();
            let values: Vec<f32> = Vec::try_from(t.f_view([-1])?)?;
            bytes.insert(name, (shape, values.iter().flat_map(|v| v.to_le_bytes()).collect()));
        }
        let path = dir.join(WEIGHTS_FILE);
        let views = bytes
            .iter()
            .map(|(name, (shape, data))| {
                TensorView::new(Dtype::F32, shape.clone(), data)
                    .map(|v| (*name, v))
                    .map_err(|source| Error::Safetensors { path: path.clone(), source })
            })
            .collect::<Result<Vec<_>>>()?;
        let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
        let blob = safetensors::serialize(views, Some(metadata))
            .map_err(|source| Error::Safetensors { path: path.clone(), source })?;
        rec_table::write_bytes_atomic(&path, &blob)?;
        write_json(&dir.join(FEATURES_FILE), &self.features)?;
        write_json(&dir.join(CONFIG_FILE), &self.config)?;
        Ok(())
    }

    /// Reads a model saved by [`save`](Self::save) onto `device` (the config's device when
    /// `None`). Every tensor the model needs must be in the file with its shape, and no other.
    pub fn load(dir: impl AsRef<Path>, device: Option<Device>) -> Result<Self> {
        let dir = dir.as_ref();
        let config: DlrmConfig = read_json(&dir.join(CONFIG_FILE))?;
        config.validate()?;
        let features: FeatureMap = read_json(&dir.join(FEATURES_FILE))?;
        let device = device.unwrap_or_else(|| crate::config::device_of(config.device));
        let vs = nn::VarStore::new(device);
        let net = DlrmNet::new(&vs.root(), &features, &config)?;

        let path = dir.join(WEIGHTS_FILE);
        let blob = std::fs::read(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let file = safetensors::SafeTensors::deserialize(&blob)
            .map_err(|source| Error::Safetensors { path: path.clone(), source })?;
        let bad = |name: &str, reason: String| Error::Weights { path: path.clone(), name: name.to_string(), reason };
        let vars = vs.variables();
        for name in file.names() {
            if !vars.contains_key(name) {
                return Err(bad(name, "not a tensor of this model (config and weights disagree)".into()));
            }
        }
        for (name, var) in &vars {
            let view = file.tensor(name).map_err(|_| bad(name, "absent from the file".into()))?;
            if view.dtype() != Dtype::F32 {
                return Err(bad(name, format!("dtype {:?}, expected F32", view.dtype())));
            }
            let expected: Vec<usize> = var.size().iter().map(|&s| s as usize).collect();
            if view.shape() != expected.as_slice() {
                return Err(bad(name, format!("shape {:?}, expected {expected:?}", view.shape())));
            }
            let values: Vec<f32> =
                view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            let t = Tensor::from_slice(&values).f_view(var.size().as_slice())?.f_to_device(device)?;
            tch::no_grad(|| var.shallow_clone().f_copy_(&t))?;
        }
        Ok(FittedDlrm::from_parts(config, features, vs, net, Vec::new()))
    }
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|source| Error::Json { path: path.to_path_buf(), source })?;
    Ok(rec_table::write_bytes_atomic(path, &text)?)
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    serde_json::from_slice(&text).map_err(|source| Error::Json { path: path.to_path_buf(), source })
}
