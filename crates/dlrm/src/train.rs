//! Training: [`Dlrm`] (the unfitted model) and its mini-batch loop.

use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rec_progress::Progress;
use rec_table::{ColumnKind, Recommender, Table};
use serde::{Deserialize, Serialize};
use tch::nn::OptimizerConfig;
use tch::{nn, Device, Kind, Reduction, Tensor};

use crate::config::{DlrmConfig, Optimizer};
use crate::error::{Error, Result};
use crate::features::{target_tensor, BagBatch, Bags, Encoded, FeatureMap, OOV};
use crate::fitted::FittedDlrm;
use crate::model::DlrmNet;
use crate::target::{rows_with_target, TargetMap};

/// Rows per forward pass at evaluation and prediction time.
pub(crate) const EVAL_BATCH: i64 = 8192;

/// A DLRM with its hyperparameters, not trained yet. [`Recommender::fit`] trains it.
#[derive(Debug, Clone)]
pub struct Dlrm {
    config: DlrmConfig,
}

/// What happened in one training epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's mini-batches (weighted by batch size).
    pub train_loss: f64,
    /// Validation loss after the epoch, when there is a validation set.
    pub valid_loss: Option<f64>,
    /// Training throughput (rows per second, validation excluded).
    pub samples_per_sec: f64,
    /// Learning rate of the epoch's last mini-batch.
    pub lr: f64,
}

impl Dlrm {
    /// A model with `config`, validated once here.
    pub fn new(config: DlrmConfig) -> Result<Self> {
        config.validate()?;
        Ok(Dlrm { config })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &DlrmConfig {
        &self.config
    }

    /// Trains on `train` to predict `target` ([`Recommender::fit`] is this without a validation
    /// table), with an optional validation table for early
    /// stopping (the weights of the epoch with the best validation loss are kept). Without one,
    /// `validation_fraction` of the training rows (seeded) are held out instead, if set.
    ///
    /// Rows whose target is missing are skipped. Text columns are ignored.
    pub fn fit_with_validation(&self, train: &Table, valid: Option<&Table>, target: &str) -> Result<FittedDlrm> {
        Recommender::validate(self)?;
        let config = &self.config;
        if train.num_rows() == 0 {
            return Err(Error::EmptyTable("training table".into()));
        }
        let train = drop_missing_target(train, target)?;
        let (train, held_out) = match valid {
            None if config.validation_fraction > 0.0 => {
                let (a, b) = validation_split(&train, config.validation_fraction, config.seed)?;
                (a, Some(b))
            }
            _ => (train, None),
        };
        let valid = match valid {
            Some(v) => Some(drop_missing_target(v, target)?),
            None => held_out,
        };
        let target_map = TargetMap::fit(&train, target, config.task)?;
        let features = FeatureMap::fit(&train, target, target_map, config.min_count, &config.history)?;

        let device = crate::config::device_of(config.device);
        // Initialisation and dropout draw from libtorch's global generator: held for the whole
        // fit, so a fine-tune on another thread cannot reseed or draw in between.
        let _rng = rec_table::hold_global_rng();
        tch::manual_seed(config.seed as i64);
        let vs = nn::VarStore::new(device);
        let net = DlrmNet::new(&vs.root(), &features, config)?;
        let train_data = DeviceData::new(&features, &train, device)?;
        let valid_data =
            valid.as_ref().filter(|v| v.num_rows() > 0).map(|v| DeviceData::new(&features, v, device)).transpose()?;

        let ids: Vec<bool> = features.sparse.iter().map(|f| f.kind == ColumnKind::Id).collect();
        let history = run(config, &vs, &net, &features.target_map, &ids, &train_data, valid_data.as_ref())?;
        Ok(FittedDlrm::from_parts(config.clone(), features, vs, net, history))
    }
}

impl Recommender for Dlrm {
    type Fitted = FittedDlrm;
    type Error = Error;

    fn validate(&self) -> Result<()> {
        self.config.validate()
    }

    fn fit(&self, train: &Table, target: &str) -> Result<FittedDlrm> {
        self.fit_with_validation(train, None, target)
    }
}

fn drop_missing_target(table: &Table, target: &str) -> Result<Table> {
    let rows = rows_with_target(table, target)?;
    if rows.is_empty() {
        return Err(Error::EmptyTable(format!("no row has an observed target '{target}'")));
    }
    Ok(if rows.len() == table.num_rows() { table.clone() } else { table.take_rows(&rows)? })
}

/// The seeded split into (train, validation) that [`Dlrm::fit_with_validation`] makes when it is
/// given no validation table: `fraction` of the rows, drawn with `seed`, go to validation (the
/// fit splits the rows whose target is observed, so the slices agree when every target is).
/// Public so that a caller can hold the slice fixed while the model's seed varies (pass the
/// second table as `valid`).
pub fn validation_split(table: &Table, fraction: f64, seed: u64) -> Result<(Table, Table)> {
    let mut rows: Vec<usize> = (0..table.num_rows()).collect();
    rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x76_616c_6964));
    let k = ((rows.len() as f64 * fraction).round() as usize).clamp(1, rows.len().saturating_sub(1).max(1));
    let (v, t) = rows.split_at(k);
    if t.is_empty() {
        return Err(Error::EmptyTable("training table after the validation hold-out".into()));
    }
    Ok((table.take_rows(t)?, table.take_rows(v)?))
}

/// An encoded table with its targets: dense inputs and targets on the training device, the
/// embedding bags on the CPU (gathered per mini-batch).
pub(crate) struct DeviceData {
    pub n: i64,
    pub dense: Option<Tensor>,
    pub sparse: Vec<Bags>,
    pub y: Tensor,
}

/// One mini-batch: dense inputs, each embedded feature's bags, targets.
type Batch = (Option<Tensor>, Vec<BagBatch>, Tensor);

impl DeviceData {
    fn new(features: &FeatureMap, table: &Table, device: Device) -> Result<Self> {
        let Encoded { n, dense, sparse } = features.encode(table)?;
        let y = target_tensor(&features.target_map, &features.target_map.encode(table, &features.target)?);
        Ok(DeviceData {
            n: n as i64,
            dense: dense.map(|t| t.f_to_device(device)).transpose()?,
            sparse,
            y: y.f_to_device(device)?,
        })
    }

    /// The rows `rows` (indices into the table), in that order.
    fn rows(&self, rows: &[i64]) -> Result<Batch> {
        let device = self.y.device();
        let idx = Tensor::from_slice(rows).f_to_device(device)?;
        Ok((
            self.dense.as_ref().map(|d| d.f_index_select(0, &idx)).transpose()?,
            self.sparse.iter().map(|s| s.gather(rows.iter().map(|&r| r as usize), device)).collect::<Result<_>>()?,
            self.y.f_index_select(0, &idx)?,
        ))
    }

    /// The rows `start..start + len`.
    fn range(&self, start: i64, len: i64) -> Result<Batch> {
        let device = self.y.device();
        let rows = start as usize..(start + len) as usize;
        Ok((
            self.dense.as_ref().map(|d| d.f_narrow(0, start, len)).transpose()?,
            self.sparse.iter().map(|s| s.gather(rows.clone(), device)).collect::<Result<_>>()?,
            self.y.f_narrow(0, start, len)?,
        ))
    }
}

/// The mean loss of the task over a batch of logits.
pub(crate) fn loss(map: &TargetMap, logits: &Tensor, y: &Tensor) -> Result<Tensor> {
    Ok(match map {
        TargetMap::Binary { .. } => logits.f_view([-1])?.f_binary_cross_entropy_with_logits(
            y,
            None::<Tensor>,
            None::<Tensor>,
            Reduction::Mean,
        )?,
        TargetMap::MultiClass { .. } => {
            logits.f_log_softmax(-1, Kind::Float)?.f_nll_loss(y, None::<Tensor>, Reduction::Mean, -100)?
        }
        TargetMap::Regression { .. } => logits.f_view([-1])?.f_mse_loss(y, Reduction::Mean)?,
    })
}

/// Adagrad as in `torch.optim.Adagrad` (initial accumulator 0, ε 1e-10); tch has none.
struct Adagrad {
    params: Vec<Tensor>,
    sums: Vec<Tensor>,
    lr: f64,
    wd: f64,
}

enum Opt {
    Torch(nn::Optimizer),
    Adagrad(Adagrad),
}

impl Opt {
    fn new(config: &DlrmConfig, vs: &nn::VarStore) -> Result<Self> {
        let (lr, wd) = (config.lr, config.weight_decay);
        Ok(match config.optimizer {
            Optimizer::Adam => Opt::Torch(nn::Adam::default().wd(wd).build(vs, lr)?),
            Optimizer::AdamW => Opt::Torch(nn::AdamW::default().wd(wd).build(vs, lr)?),
            Optimizer::Sgd { momentum } => {
                Opt::Torch(nn::Sgd { momentum, dampening: 0.0, wd, nesterov: false }.build(vs, lr)?)
            }
            Optimizer::Adagrad => {
                let params = vs.trainable_variables();
                let sums = params.iter().map(Tensor::zeros_like).collect();
                Opt::Adagrad(Adagrad { params, sums, lr, wd })
            }
        })
    }

    fn set_lr(&mut self, lr: f64) {
        match self {
            Opt::Torch(o) => o.set_lr(lr),
            Opt::Adagrad(a) => a.lr = lr,
        }
    }

    /// Gradients of `loss`, then one update. The backward pass and the Adagrad update are
    /// checked; tch's own optimizers (Adam, SGD) check nothing of their zeroing and step.
    fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        match self {
            Opt::Torch(o) => {
                o.zero_grad();
                loss.f_backward()?;
                o.step();
            }
            Opt::Adagrad(a) => {
                for p in a.params.iter_mut() {
                    p.zero_grad();
                }
                loss.f_backward()?;
                let _guard = tch::no_grad_guard();
                for (p, s) in a.params.iter_mut().zip(a.sums.iter_mut()) {
                    let g = p.grad();
                    if !g.defined() {
                        continue;
                    }
                    let g = if a.wd > 0.0 { g.f_add(&p.f_mul_scalar(a.wd)?)? } else { g };
                    // In-place updates; the returned handles alias `s` and `p`.
                    let _ = s.f_addcmul_(&g, &g)?;
                    let _ = p.f_addcdiv_(&g.f_mul_scalar(-a.lr)?, &s.f_sqrt()?.f_add_scalar(1e-10)?)?;
                }
            }
        }
        Ok(())
    }
}

/// Mean loss over all rows of `data`, without gradients.
pub(crate) fn evaluate(net: &DlrmNet, map: &TargetMap, data: &DeviceData) -> Result<f64> {
    tch::no_grad(|| {
        let mut total = 0.0;
        let mut start = 0;
        while start < data.n {
            let len = EVAL_BATCH.min(data.n - start);
            let (dense, sparse, y) = data.range(start, len)?;
            let logits = net.forward(dense.as_ref(), &sparse)?;
            total += loss(map, &logits, &y)?.f_double_value(&[])? * len as f64;
            start += len;
        }
        Ok(total / data.n.max(1) as f64)
    })
}

fn progress_bar(config: &DlrmConfig, n: i64, epoch: usize) -> Progress {
    let bar = Progress::new(config.progress, n as u64, "DLRM rows", "{prefix} [{bar:30}] {pos}/{len} {per_sec} {msg}");
    bar.set_prefix(format!("epoch {}/{}", epoch + 1, config.epochs));
    bar
}

/// Replaces each id of a mini-batch (the sparse features flagged in `ids`) by the
/// out-of-vocabulary index with probability `p`, drawing from `rng` (one draw per row and id
/// column), so that the unknown-id embedding is trained.
fn drop_ids(sparse: Vec<BagBatch>, ids: &[bool], p: f64, rng: &mut ChaCha8Rng) -> Result<Vec<BagBatch>> {
    sparse
        .into_iter()
        .zip(ids)
        .map(|(s, &is_id)| {
            if !is_id {
                return Ok(s);
            }
            // An id column has one index per row: `values` is `[B]`.
            let rows = s.values.size()[0];
            let drop: Vec<bool> = (0..rows).map(|_| rng.random::<f64>() < p).collect();
            let mask = Tensor::from_slice(&drop).f_to_device(s.values.device())?;
            Ok(BagBatch { values: s.values.f_masked_fill(&mask, OOV)?, offsets: s.offsets })
        })
        .collect()
}

/// The training loop: seeded shuffling, mini-batches, schedule, validation, early stopping.
#[allow(clippy::too_many_arguments, reason = "one private loop, called once")]
/// What an epoch's mini-batches read: the model, the task and the training rows.
struct Epochs<'a> {
    config: &'a DlrmConfig,
    net: &'a DlrmNet,
    map: &'a TargetMap,
    /// Which sparse features are ids (for id dropout).
    ids: &'a [bool],
    train: &'a DeviceData,
    total_steps: usize,
}

impl Epochs<'_> {
    /// One pass over the training rows in a fresh shuffle of `order`, mini-batch by
    /// mini-batch; `step` counts the optimizer steps of the run. Returns the mean training loss
    /// and the last learning rate.
    fn train(
        &self,
        epoch: usize,
        (opt, rng): (&mut Opt, &mut ChaCha8Rng),
        order: &mut [i64],
        step: &mut usize,
        bar: &Progress,
    ) -> Result<(f64, f64)> {
        let (config, train) = (self.config, self.train);
        let device = train.y.device();
        let bs = config.batch_size as i64;
        order.shuffle(rng);
        let mut loss_sum = Tensor::f_zeros([], (Kind::Float, device))?;
        let mut lr = config.lr;
        let mut start = 0;
        while start < train.n {
            let len = bs.min(train.n - start);
            lr = config.lr_schedule.rate(config.lr, epoch, *step, self.total_steps);
            opt.set_lr(lr);
            let (dense, mut sparse, y) = train.rows(&order[start as usize..(start + len) as usize])?;
            if config.id_dropout > 0.0 {
                sparse = drop_ids(sparse, self.ids, config.id_dropout, rng)?;
            }
            let pass = self.net.pass(dense.as_ref(), &sparse, config.dropout, config.id_embedding_l2 > 0.0)?;
            let l = loss(self.map, &pass.logits, &y)?;
            let objective = match pass.id_sq_norm {
                Some(norm) => l.f_add(&norm.f_mul_scalar(config.id_embedding_l2)?)?,
                None => l.shallow_clone(),
            };
            opt.backward_step(&objective)?;
            loss_sum = loss_sum.f_add(&l.f_detach()?.f_mul_scalar(len as f64)?)?;
            bar.inc(len as u64);
            start += len;
            *step += 1;
        }
        Ok((loss_sum.f_double_value(&[])? / train.n as f64, lr))
    }
}

fn run(
    config: &DlrmConfig,
    vs: &nn::VarStore,
    net: &DlrmNet,
    map: &TargetMap,
    ids: &[bool],
    train: &DeviceData,
    valid: Option<&DeviceData>,
) -> Result<Vec<EpochStats>> {
    let mut opt = Opt::new(config, vs)?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed.wrapping_add(1));
    let bs = config.batch_size as i64;
    let steps_per_epoch = (train.n + bs - 1) / bs;
    let epochs = Epochs { config, net, map, ids, train, total_steps: steps_per_epoch as usize * config.epochs };
    let mut history = Vec::new();
    let mut best: Option<(f64, Vec<(String, Tensor)>)> = None;
    let mut since_best = 0;
    let mut order: Vec<i64> = (0..train.n).collect();
    let mut step = 0usize;
    for epoch in 0..config.epochs {
        let bar = progress_bar(config, train.n, epoch);
        let started = Instant::now();
        let (train_loss, lr) = epochs.train(epoch, (&mut opt, &mut rng), &mut order, &mut step, &bar)?;
        let secs = started.elapsed().as_secs_f64();
        if !train_loss.is_finite() {
            bar.abandon();
            return Err(Error::Diverged { epoch: epoch + 1, loss: train_loss });
        }
        let valid_loss = valid.map(|v| evaluate(net, map, v)).transpose()?;
        bar.finish_with_message(match valid_loss {
            Some(v) => format!("loss {train_loss:.4} valid {v:.4}"),
            None => format!("loss {train_loss:.4}"),
        });
        history.push(EpochStats {
            epoch: epoch + 1,
            train_loss,
            valid_loss,
            samples_per_sec: train.n as f64 / secs.max(1e-9),
            lr,
        });
        if let Some(v) = valid_loss {
            if best.as_ref().is_none_or(|(b, _)| v < *b) {
                best = Some((v, snapshot(vs)));
                since_best = 0;
            } else {
                since_best += 1;
                if config.patience > 0 && since_best >= config.patience {
                    break;
                }
            }
        }
    }
    if let Some((_, weights)) = best {
        restore(vs, &weights);
    }
    Ok(history)
}

fn snapshot(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    vs.variables().into_iter().map(|(k, v)| (k, v.detach().copy())).collect()
}

fn restore(vs: &nn::VarStore, weights: &[(String, Tensor)]) {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (name, w) in weights {
            if let Some(v) = vars.get(name) {
                v.shallow_clone().copy_(w);
            }
        }
    });
}
