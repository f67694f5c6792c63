//! The encoder head: per-column models on the fine-tuned LLM's hidden state at the end of a
//! cell's prompt (`"…, age is"`), the position whose next token starts the value.
//!
//! After the fine-tune, a sample of training rows (rows with a held-out cell excluded) each
//! give one prompt for one of their observed scored cells; the model's final hidden state there
//! is the cell's feature vector. A categorical column gets a softmax classifier over its
//! candidate values, a numeric one a ridge regression; both on standardised features, with the
//! L2 weight chosen by cross-validation on the column's own examples. At fill time the head's
//! answer is mixed with the scored candidates by [`HeadConfig::weight`]: log-probabilities for
//! categories, values for numbers.

use std::collections::HashSet;
use std::path::Path;

use gpt2_lora::CausalLm;
use rand::seq::SliceRandom;
use rand::Rng;
use rec_table::{Cell, Table, Value};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::config::HeadConfig;
use crate::error::{Error, Result};
use crate::plan::Core;

/// L2 weights tried per column (the penalty is `l2 × ‖W‖²` on standardised features, added to
/// the mean cross-entropy; for ridge, `l2 × n × ‖w‖²` added to the summed squared error).
const L2_GRID: [f64; 5] = [1e-4, 1e-3, 1e-2, 1e-1, 1.0];
/// Folds of the L2 choice.
const FOLDS: usize = 4;
/// Full-batch Adam steps of a softmax head.
const SOFTMAX_STEPS: usize = 300;
/// Fewest examples a column needs for a head.
const MIN_EXAMPLES: usize = 8;

/// What training one column's head did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeadReport {
    /// The column.
    pub column: String,
    /// Training examples (prompts) of the column.
    pub examples: usize,
    /// Examples left out because their value is not among the column's candidates.
    pub skipped: usize,
    /// A ridge regression (numbers) rather than a softmax classifier (categories).
    pub regression: bool,
    /// The L2 weight chosen by cross-validation.
    pub l2: f64,
    /// The cross-validated score at that weight: accuracy (categories) or RMSE (numbers).
    pub cv_score: f64,
}

/// One column's head, kept as plain numbers (tensors are not `Sync`).
pub(crate) struct ColumnHead {
    /// Feature means and scales (standardisation), `d` each.
    mean: Vec<f32>,
    scale: Vec<f32>,
    /// `[d, K]` row-major (softmax over the column's K candidates) or `[d, 1]` (ridge).
    w: Vec<f32>,
    /// `K` or `1`.
    b: Vec<f32>,
    /// Ridge: the target's mean and scale (`None` for a classifier).
    target: Option<(f64, f64)>,
}

/// The saved description of one head (its tensors live in `heads.safetensors`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct HeadMeta {
    pub col: usize,
    pub target: Option<(f64, f64)>,
}

/// Every column's head (`None` for columns without one).
pub(crate) struct Heads {
    pub by_col: Vec<Option<ColumnHead>>,
}

pub(crate) const HEADS_FILE: &str = "heads.safetensors";

impl Heads {
    /// Trains the heads on `model`'s hidden states for prompts of `rows` of `table`.
    pub(crate) fn train(
        fitted: &Core,
        model: &dyn CausalLm,
        table: &Table,
        rows: &[usize],
        held: &HashSet<Cell>,
        cfg: &HeadConfig,
        rng: &mut impl Rng,
    ) -> Result<(Heads, Vec<HeadReport>)> {
        let held_rows: HashSet<usize> = held.iter().map(|c| c.row).collect();
        let mut order: Vec<usize> = rows.iter().copied().filter(|r| !held_rows.contains(r)).collect();
        order.shuffle(rng);
        let scored: Vec<usize> = (0..table.num_columns()).filter(|&j| fitted.is_scored(j)).collect();
        let mut targets: Vec<(usize, usize)> = Vec::new();
        for r in order {
            if targets.len() == cfg.max_examples {
                break;
            }
            let observed: Vec<usize> = scored.iter().copied().filter(|&j| !table.is_missing(r, j)).collect();
            let others = (0..table.num_columns()).filter(|&j| !table.is_missing(r, j)).count();
            if observed.is_empty() || others < 2 {
                continue;
            }
            targets.push((r, observed[rng.random_range(0..observed.len())]));
        }
        let prompts = targets
            .iter()
            .map(|&(r, j)| crate::encode(&fitted.tokenizer, &fitted.prompt(table, r, j, &[], Some(r), 0)?.0))
            .collect::<Result<Vec<_>>>()?;
        let feats = last_hidden(model, &prompts, fitted.saved.config.fill.batch_size)?;
        let mut by_col: Vec<Option<ColumnHead>> = (0..table.num_columns()).map(|_| None).collect();
        let mut reports = Vec::new();
        for &j in &scored {
            let (values, numeric) = fitted.scored_values(j);
            let mut idx = Vec::new();
            let mut ys = Vec::new();
            let mut skipped = 0;
            for (k, &(r, jj)) in targets.iter().enumerate() {
                if jj != j {
                    continue;
                }
                let Some(v) = table.value(r, j) else { continue };
                let y = if numeric { v.as_f64() } else { values.iter().position(|c| c == &v).map(|p| p as f64) };
                match y {
                    Some(y) => {
                        idx.push(k as i64);
                        ys.push(y);
                    }
                    None => skipped += 1,
                }
            }
            let name = fitted.saved.codec.columns()[j].name.clone();
            if idx.len() < MIN_EXAMPLES {
                continue;
            }
            let x = feats.f_index_select(0, &Tensor::from_slice(&idx))?;
            let (head, l2, cv_score) = if numeric { fit_ridge(&x, &ys)? } else { fit_softmax(&x, &ys, values.len())? };
            reports.push(HeadReport { column: name, examples: idx.len(), skipped, regression: numeric, l2, cv_score });
            by_col[j] = Some(head);
        }
        Ok((Heads { by_col }, reports))
    }

    /// Whether column `col` has a head.
    pub(crate) fn has(&self, col: usize) -> bool {
        matches!(self.by_col.get(col), Some(Some(_)))
    }

    /// The head's answer for `prompts` of column `col`: per prompt, log-probabilities over the
    /// candidates (classifier) or a one-element vector holding the predicted number (ridge).
    pub(crate) fn predict(
        &self,
        model: &dyn CausalLm,
        col: usize,
        prompts: &[Vec<i64>],
        batch: usize,
    ) -> Result<Vec<Vec<f64>>> {
        let Some(Some(head)) = self.by_col.get(col) else {
            return Err(Error::Config(format!("column {col} has no encoder head")));
        };
        let x = last_hidden(model, prompts, batch)?;
        let out = head.forward(&x)?;
        let out = match head.target {
            Some((m, s)) => out.f_mul_scalar(s)?.f_add_scalar(m)?,
            None => out.f_log_softmax(-1, Kind::Double)?,
        };
        let out = out.f_to_kind(Kind::Double)?;
        let rows = out.size()[0];
        (0..rows).map(|i| Ok(Vec::<f64>::try_from(out.f_get(i)?)?)).collect()
    }

    /// What `imputer.json` records of the heads (their tensors go to [`HEADS_FILE`]).
    pub(crate) fn metas(&self) -> Vec<HeadMeta> {
        self.by_col
            .iter()
            .enumerate()
            .filter_map(|(j, h)| h.as_ref().map(|h| HeadMeta { col: j, target: h.target }))
            .collect()
    }

    /// Writes the heads' tensors to `path`.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (j, h) in self.by_col.iter().enumerate() {
            let Some(h) = h else { continue };
            for (part, t) in [("mean", &h.mean), ("scale", &h.scale), ("w", &h.w), ("b", &h.b)] {
                tensors.push((format!("{j}.{part}"), Tensor::from_slice(t)));
            }
        }
        Tensor::write_safetensors(&tensors, path)?;
        Ok(())
    }

    /// Reads heads saved by [`save`](Self::save).
    pub(crate) fn load(path: &Path, metas: &[HeadMeta], columns: usize) -> Result<Heads> {
        let tensors = Tensor::read_safetensors(path).map_err(|e| Error::load(path, e.to_string()))?;
        let get = |name: String| -> Result<Tensor> {
            tensors
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.shallow_clone())
                .ok_or_else(|| Error::load(path, format!("tensor '{name}' is missing")))
        };
        let mut by_col: Vec<Option<ColumnHead>> = (0..columns).map(|_| None).collect();
        for m in metas {
            let slot =
                by_col.get_mut(m.col).ok_or_else(|| Error::load(path, format!("column {} out of range", m.col)))?;
            let part = |p: &str| get(format!("{}.{p}", m.col));
            let head = ColumnHead::from_tensors(&part("mean")?, &part("scale")?, &part("w")?, &part("b")?, m.target)
                .map_err(|e| Error::load(path, e.to_string()))?;
            *slot = Some(head);
        }
        Ok(Heads { by_col })
    }
}

impl ColumnHead {
    fn new(mean: &Tensor, scale: &Tensor, w: &Tensor, b: &Tensor, target: Option<(f64, f64)>) -> Result<Self> {
        let flat =
            |t: &Tensor| -> Result<Vec<f32>> { Ok(Vec::<f32>::try_from(t.f_flatten(0, -1)?.f_to_kind(Kind::Float)?)?) };
        Ok(ColumnHead { mean: flat(mean)?, scale: flat(scale)?, w: flat(w)?, b: flat(b)?, target })
    }

    /// Rebuilds a head from its saved tensors, checking their shapes.
    fn from_tensors(mean: &Tensor, scale: &Tensor, w: &Tensor, b: &Tensor, target: Option<(f64, f64)>) -> Result<Self> {
        let head = Self::new(mean, scale, w, b, target)?;
        let d = head.mean.len();
        if d == 0 || head.scale.len() != d || head.b.is_empty() || head.w.len() != d * head.b.len() {
            return Err(Error::Config(format!(
                "encoder head tensors disagree: mean {}, scale {}, w {}, b {}",
                head.mean.len(),
                head.scale.len(),
                head.w.len(),
                head.b.len()
            )));
        }
        Ok(head)
    }

    /// Head outputs (`[n, K]` logits or `[n, 1]` standardised numbers) of features `[n, d]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let d = self.mean.len() as i64;
        if x.size().last().copied() != Some(d) {
            return Err(Error::Config(format!(
                "encoder head expects {d} features, the model gives {:?}",
                x.size().last()
            )));
        }
        let k = self.b.len() as i64;
        let x = x.f_to_kind(Kind::Float)?;
        let z = x.f_sub(&Tensor::from_slice(&self.mean))?.f_div(&Tensor::from_slice(&self.scale))?;
        let w = Tensor::from_slice(&self.w).f_reshape([d, k])?;
        let b = Tensor::from_slice(&self.b);
        Ok(z.f_mm(&w)?.f_add(&b)?)
    }
}

/// The model's final hidden state at the last token of each prompt, `[n, hidden]` in f32 on the
/// CPU.
pub(crate) fn last_hidden(model: &dyn CausalLm, prompts: &[Vec<i64>], batch: usize) -> Result<Tensor> {
    let _guard = tch::no_grad_guard();
    let mut parts = Vec::new();
    for chunk in prompts.chunks(batch.max(1)) {
        let width = chunk.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(chunk.len() * width);
        let mut mask = Vec::with_capacity(chunk.len() * width);
        let mut at = Vec::with_capacity(chunk.len());
        for (i, p) in chunk.iter().enumerate() {
            if p.is_empty() {
                return Err(Error::Config("an encoder-head prompt is empty".into()));
            }
            ids.extend_from_slice(p);
            ids.extend(std::iter::repeat_n(0, width - p.len()));
            mask.extend(std::iter::repeat_n(1i64, p.len()));
            mask.extend(std::iter::repeat_n(0i64, width - p.len()));
            at.push((i * width + p.len() - 1) as i64);
        }
        let shape = [chunk.len() as i64, width as i64];
        let dev = model.device();
        let ids = Tensor::from_slice(&ids).f_reshape(shape)?.f_to_device(dev)?;
        let mask = Tensor::from_slice(&mask).f_reshape(shape)?.f_to_device(dev)?;
        let at = Tensor::from_slice(&at).f_to_device(dev)?;
        let h = model.hidden_at(&ids, Some(&mask), &at, false)?;
        parts.push(h.f_to_kind(Kind::Float)?.f_to_device(Device::Cpu)?);
    }
    if parts.is_empty() {
        return Ok(Tensor::f_zeros([0, 0], (Kind::Float, Device::Cpu))?);
    }
    Ok(Tensor::f_cat(&parts, 0)?)
}

/// Feature means and scales of `x` (`[n, d]`).
fn standardise(x: &Tensor) -> Result<(Tensor, Tensor)> {
    let mean = x.f_mean_dim(0, false, Kind::Float)?;
    let scale = x.f_std_dim(0, false, false)?.f_clamp_min(1e-6)?;
    Ok((mean, scale))
}

/// Fold of each of `n` examples (deterministic: every `FOLDS`-th).
fn folds(n: usize) -> Vec<usize> {
    (0..n).map(|i| i % FOLDS).collect()
}

/// The training and validation rows of fold `f`, `None` when either side is empty.
fn fold_rows(fold: &[usize], f: usize) -> Option<(Vec<i64>, Vec<i64>)> {
    let (va, tr): (Vec<i64>, Vec<i64>) = (0..fold.len() as i64).partition(|&i| fold[i as usize] == f);
    (!tr.is_empty() && !va.is_empty()).then_some((tr, va))
}

fn select(x: &Tensor, rows: &[i64]) -> Result<Tensor> {
    Ok(x.f_index_select(0, &Tensor::from_slice(rows))?)
}

/// A softmax classifier over `k` classes: `(head, chosen l2, cross-validated accuracy)`.
fn fit_softmax(x: &Tensor, labels: &[f64], k: usize) -> Result<(ColumnHead, f64, f64)> {
    let y: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let fold = folds(y.len());
    let mut best = (f64::INFINITY, L2_GRID[0], 0.0);
    for &l2 in &L2_GRID {
        let (mut nll, mut right) = (0.0, 0usize);
        for f in 0..FOLDS {
            let Some((tr, va)) = fold_rows(&fold, f) else { continue };
            let ytr: Vec<i64> = tr.iter().map(|&i| y[i as usize]).collect();
            let head = train_softmax(&select(x, &tr)?, &ytr, k, l2)?;
            let logp = head.forward(&select(x, &va)?)?.f_log_softmax(-1, Kind::Double)?;
            for (row, &i) in va.iter().enumerate() {
                let lp = Vec::<f64>::try_from(logp.f_get(row as i64)?)?;
                let t = y[i as usize] as usize;
                nll -= lp[t];
                let argmax = lp.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |m| m.0);
                right += usize::from(argmax == t);
            }
        }
        if nll < best.0 {
            best = (nll, l2, right as f64 / y.len() as f64);
        }
    }
    Ok((train_softmax(x, &y, k, best.1)?, best.1, best.2))
}

fn train_softmax(x: &Tensor, y: &[i64], k: usize, l2: f64) -> Result<ColumnHead> {
    let (mean, scale) = standardise(x)?;
    let z = x.f_sub(&mean)?.f_div(&scale)?;
    let (n, d) = (x.size()[0], x.size()[1]);
    let onehot = Tensor::from_slice(y).f_one_hot(k as i64)?.f_to_kind(Kind::Float)?;
    let opts = (Kind::Float, Device::Cpu);
    // Full-batch Adam on the convex objective, gradients in closed form.
    let (mut w, mut b) = (Tensor::f_zeros([d, k as i64], opts)?, Tensor::f_zeros([k as i64], opts)?);
    let (mut mw, mut vw) = (w.f_zeros_like()?, w.f_zeros_like()?);
    let (mut mb, mut vb) = (b.f_zeros_like()?, b.f_zeros_like()?);
    let (lr, b1, b2, eps): (f64, f64, f64, f64) = (0.05, 0.9, 0.999, 1e-8);
    for t in 1..=SOFTMAX_STEPS as i32 {
        let p = z.f_mm(&w)?.f_add(&b)?.f_softmax(-1, Kind::Float)?;
        let r = p.f_sub(&onehot)?.f_div_scalar(n as f64)?;
        let gw = z.f_tr()?.f_mm(&r)?.f_add(&w.f_mul_scalar(2.0 * l2)?)?;
        let gb = r.f_sum_dim_intlist(0, false, Kind::Float)?;
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        for (param, m, v, g) in [(&mut w, &mut mw, &mut vw, gw), (&mut b, &mut mb, &mut vb, gb)] {
            *m = m.f_mul_scalar(b1)?.f_add(&g.f_mul_scalar(1.0 - b1)?)?;
            *v = v.f_mul_scalar(b2)?.f_add(&g.f_square()?.f_mul_scalar(1.0 - b2)?)?;
            let step = m.f_div_scalar(c1)?.f_div(&v.f_div_scalar(c2)?.f_sqrt()?.f_add_scalar(eps)?)?;
            *param = param.f_sub(&step.f_mul_scalar(lr)?)?;
        }
    }
    ColumnHead::new(&mean, &scale, &w, &b, None)
}

/// A ridge regression: `(head, chosen l2, cross-validated RMSE)`.
fn fit_ridge(x: &Tensor, ys: &[f64]) -> Result<(ColumnHead, f64, f64)> {
    let fold = folds(ys.len());
    let mut best = (f64::INFINITY, L2_GRID[0]);
    for &l2 in &L2_GRID {
        let mut sq = 0.0;
        for f in 0..FOLDS {
            let Some((tr, va)) = fold_rows(&fold, f) else { continue };
            let ytr: Vec<f64> = tr.iter().map(|&i| ys[i as usize]).collect();
            let head = train_ridge(&select(x, &tr)?, &ytr, l2)?;
            let (m, s) = head.target.unwrap_or((0.0, 1.0));
            let pred = Vec::<f64>::try_from(
                head.forward(&select(x, &va)?)?
                    .f_squeeze_dim(-1)?
                    .f_to_kind(Kind::Double)?
                    .f_mul_scalar(s)?
                    .f_add_scalar(m)?,
            )?;
            for (p, &i) in pred.iter().zip(&va) {
                let d = p - ys[i as usize];
                sq += d * d;
            }
        }
        if sq < best.0 {
            best = (sq, l2);
        }
    }
    Ok((train_ridge(x, ys, best.1)?, best.1, (best.0 / ys.len() as f64).sqrt()))
}

fn train_ridge(x: &Tensor, ys: &[f64], l2: f64) -> Result<ColumnHead> {
    let (mean, scale) = standardise(x)?;
    let z = x.f_sub(&mean)?.f_div(&scale)?.f_to_kind(Kind::Double)?;
    let n = ys.len() as f64;
    let ym = ys.iter().sum::<f64>() / n;
    let ys_sd = (ys.iter().map(|y| (y - ym) * (y - ym)).sum::<f64>() / n).sqrt().max(1e-9);
    let y = Tensor::from_slice(&ys.iter().map(|y| (y - ym) / ys_sd).collect::<Vec<f64>>()).f_unsqueeze(-1)?;
    let d = z.size()[1];
    let gram = z.f_tr()?.f_mm(&z)?.f_add(&Tensor::f_eye(d, (Kind::Double, Device::Cpu))?.f_mul_scalar(l2 * n)?)?;
    let w = Tensor::f_linalg_solve(&gram, &z.f_tr()?.f_mm(&y)?, true)?;
    ColumnHead::new(
        &mean,
        &scale,
        &w.f_to_kind(Kind::Float)?,
        &Tensor::f_zeros([1], (Kind::Float, Device::Cpu))?,
        Some((ym, ys_sd)),
    )
}

/// Mixes the scored candidates' probabilities with a classifier head's log-probabilities:
/// `(1 − w) log p_lm + w log p_head`, renormalised.
pub(crate) fn mix_probs(lm: &[f64], head: &[f64], weight: f64) -> Vec<f64> {
    let s: Vec<f64> = lm.iter().zip(head).map(|(p, h)| (1.0 - weight) * p.max(1e-300).ln() + weight * h).collect();
    crate::decode::normalise(&s)
}

/// Mixes a number read off the scored candidates with a ridge head's prediction, kept inside
/// the column's observed `range` (a regression can extrapolate; the candidates cannot).
pub(crate) fn mix_number(lm: &Value, head: f64, weight: f64, decimals: usize, range: Option<(f64, f64)>) -> Value {
    let mut x = lm.as_f64().map_or(head, |v| (1.0 - weight) * v + weight * head);
    if let Some((lo, hi)) = range {
        x = x.clamp(lo, hi);
    }
    let scale = 10f64.powi(decimals as i32);
    Value::Number((x * scale).round() / scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_head_learns_a_separable_rule_and_ridge_a_line() {
        // Feature 0 decides the class; feature 1 is noise.
        let n = 64;
        let mut xs = Vec::new();
        let mut labels = Vec::new();
        let mut ys = Vec::new();
        for i in 0..n {
            let a = if i % 2 == 0 { 1.0f32 } else { -1.0 };
            let noise = ((i * 37 % 11) as f32 - 5.0) / 5.0;
            xs.extend([a + 0.1 * noise, noise]);
            labels.push(f64::from(u8::from(a > 0.0)));
            ys.push(3.0 * f64::from(a) + 10.0);
        }
        let x = Tensor::from_slice(&xs).reshape([n as i64, 2]);
        let (head, _, acc) = fit_softmax(&x, &labels, 2).unwrap();
        assert!(acc > 0.95, "cross-validated accuracy {acc}");
        let logp = head.forward(&x).unwrap().log_softmax(-1, Kind::Double);
        let first = Vec::<f64>::try_from(logp.get(0)).unwrap();
        assert!(first[1] > first[0], "{first:?}");
        let (head, _, rmse) = fit_ridge(&x, &ys).unwrap();
        assert!(rmse < 1.0, "cross-validated RMSE {rmse}");
        let (m, s) = head.target.unwrap();
        let p = head.forward(&x).unwrap().squeeze_dim(-1).double_value(&[1]) * s + m;
        assert!((p - 7.0).abs() < 0.7, "{p}");
        // A mix of weight 0 keeps the LM's answer; weight 1 takes the head's.
        let lm = [0.9, 0.1];
        let h = [0.1f64.ln(), 0.9f64.ln()];
        assert!(mix_probs(&lm, &h, 0.0)[0] > 0.89);
        assert!(mix_probs(&lm, &h, 1.0)[1] > 0.89);
        assert_eq!(mix_number(&Value::Number(4.0), 8.0, 0.5, 0, None), Value::Number(6.0));
        assert_eq!(mix_number(&Value::Number(4.0), 80.0, 1.0, 0, Some((0.0, 10.0))), Value::Number(10.0));
    }
}
