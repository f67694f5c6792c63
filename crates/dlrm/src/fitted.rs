//! [`FittedDlrm`]: a trained model and its predictions.

use std::sync::Arc;

use rec_table::arrow::array::{ArrayRef, Float64Array, UInt32Array};
use rec_table::{FittedRecommender, Table, Task, Value};
use tch::{nn, Device, Kind, Tensor};

use crate::config::DlrmConfig;
use crate::error::{Error, Result};
use crate::features::FeatureMap;
use crate::model::DlrmNet;
use crate::target::TargetMap;
use crate::train::{EpochStats, EVAL_BATCH};

/// A trained DLRM: configuration, feature mapping, weights and training history.
///
/// Predictions (see [`FittedRecommender::predict`]) follow [`Task`]: probabilities of the
/// positive label (`Float64`) for binary, class indices into [`labels`](Self::labels)
/// (`UInt32`) for multi-class, values in the target's units (`Float64`) for regression.
#[derive(Debug)]
pub struct FittedDlrm {
    pub(crate) config: DlrmConfig,
    pub(crate) features: FeatureMap,
    pub(crate) vs: nn::VarStore,
    pub(crate) net: DlrmNet,
    history: Vec<EpochStats>,
}

impl FittedDlrm {
    pub(crate) fn from_parts(
        config: DlrmConfig,
        features: FeatureMap,
        vs: nn::VarStore,
        net: DlrmNet,
        history: Vec<EpochStats>,
    ) -> Self {
        FittedDlrm { config, features, vs, net, history }
    }

    /// The hyperparameters it was trained with.
    pub fn config(&self) -> &DlrmConfig {
        &self.config
    }

    /// The feature mapping learnt at fit (vocabularies, scaling, target map).
    pub fn features(&self) -> &FeatureMap {
        &self.features
    }

    /// How target values map to outputs.
    pub fn target_map(&self) -> &TargetMap {
        &self.features.target_map
    }

    /// The class labels, sorted: class `k` of a multi-class prediction is `labels()[k]`; for
    /// binary, the probability is that of `labels()[1]`. Empty for regression.
    pub fn labels(&self) -> &[Value] {
        self.features.target_map.labels()
    }

    /// Per-epoch statistics of training (empty for a loaded model).
    pub fn history(&self) -> &[EpochStats] {
        &self.history
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Number of trainable parameters.
    pub fn num_parameters(&self) -> i64 {
        self.vs.trainable_variables().iter().map(Tensor::numel).map(|n| n as i64).sum()
    }

    /// Network outputs on the CPU, `[rows, out]` f32: logits.
    fn logits(&self, table: &Table) -> Result<Tensor> {
        let enc = self.features.encode(table)?;
        let n = enc.n as i64;
        let out = self.features.target_map.out_dim() as i64;
        if n == 0 {
            return Ok(Tensor::f_zeros([0, out], (Kind::Float, Device::Cpu))?);
        }
        let device = self.vs.device();
        let dense = enc.dense.map(|t| t.f_to_device(device)).transpose()?;
        let chunks = tch::no_grad(|| -> Result<Vec<Tensor>> {
            let mut chunks = Vec::new();
            let mut start = 0;
            while start < n {
                let len = EVAL_BATCH.min(n - start);
                let d = dense.as_ref().map(|d| d.f_narrow(0, start, len)).transpose()?;
                let rows = start as usize..(start + len) as usize;
                let s = enc.sparse.iter().map(|b| b.gather(rows.clone(), device)).collect::<Result<Vec<_>>>()?;
                chunks.push(self.net.forward(d.as_ref(), &s)?.f_to_device(Device::Cpu)?);
                start += len;
            }
            Ok(chunks)
        })?;
        Ok(Tensor::f_cat(&chunks, 0)?)
    }

    /// Class probabilities per row for classification: `[1 − p, p]` for binary, the softmax
    /// over [`labels`](Self::labels) for multi-class. For regression, the predicted values
    /// (one per row).
    pub fn predict_proba(&self, table: &Table) -> Result<Vec<Vec<f64>>> {
        let logits = self.logits(table)?.f_to_kind(Kind::Double)?;
        let rows = logits.size()[0];
        let probs = match &self.features.target_map {
            TargetMap::Binary { .. } => {
                let p = logits.f_view([-1])?.f_sigmoid()?;
                Tensor::f_stack(&[&p.f_neg()?.f_add_scalar(1.0)?, &p], 1)?
            }
            TargetMap::MultiClass { .. } => logits.f_softmax(1, Kind::Double)?,
            TargetMap::Regression { mean, std } => logits.f_mul_scalar(*std)?.f_add_scalar(*mean)?,
        };
        let width = probs.size()[1];
        let flat: Vec<f64> = Vec::try_from(probs.f_contiguous()?.f_view([-1])?)?;
        Ok((0..rows as usize).map(|r| flat[r * width as usize..(r + 1) * width as usize].to_vec()).collect())
    }
}

impl FittedRecommender for FittedDlrm {
    type Error = Error;

    fn task(&self) -> Task {
        self.features.target_map.task()
    }

    fn target(&self) -> &str {
        &self.features.target
    }

    /// Predictions as an Arrow array (see the type docs).
    fn predict(&self, table: &Table) -> Result<ArrayRef> {
        let logits = self.logits(table)?;
        Ok(match &self.features.target_map {
            TargetMap::Binary { .. } => {
                let p: Vec<f64> = Vec::try_from(logits.f_view([-1])?.f_to_kind(Kind::Double)?.f_sigmoid()?)?;
                Arc::new(Float64Array::from(p))
            }
            TargetMap::MultiClass { .. } => {
                let k: Vec<i64> = Vec::try_from(logits.f_argmax(1, false)?)?;
                Arc::new(UInt32Array::from(k.into_iter().map(|k| k as u32).collect::<Vec<_>>()))
            }
            TargetMap::Regression { mean, std } => {
                let v: Vec<f64> = Vec::try_from(logits.f_view([-1])?.f_to_kind(Kind::Double)?)?;
                Arc::new(Float64Array::from(v.into_iter().map(|x| x * std + mean).collect::<Vec<_>>()))
            }
        })
    }
}
