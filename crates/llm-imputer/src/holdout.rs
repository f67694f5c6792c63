//! The held-out check: observed training cells kept out of the fine-tune and scored while it
//! runs, as imputation would score them. It tells whether the model learnt anything beyond the
//! column frequencies, picks the best adapter and when to stop, and chooses the prior
//! correction per column.

use std::collections::{HashMap, HashSet};

use gpt2_lora::CausalLm;
use rand::seq::SliceRandom;
use rand::Rng;
use rec_table::{Cell, Table, Value};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::plan::Core;

/// One column at one held-out check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutColumn {
    /// The column.
    pub column: String,
    /// Held-out cells of the column.
    pub cells: usize,
    /// Share of cells whose most likely value is the true one (categorical columns).
    pub accuracy: Option<f64>,
    /// Root mean squared error of the filled value (numeric columns).
    pub rmse: Option<f64>,
    /// Mean `log p(true value)` under the model minus under the column's frequencies: above 0
    /// when the model learnt more than how common each value is.
    pub gain: f64,
}

/// The held-out check after one optimizer step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutPoint {
    /// Optimizer steps taken.
    pub step: usize,
    /// Mean `log p(true value)` over the held-out cells.
    pub log_p: f64,
    /// The same under each column's value frequencies in the training table.
    pub log_prior: f64,
    /// Per column.
    pub columns: Vec<HoldoutColumn>,
    /// Wall time of the check (0 in reports written before it was kept).
    #[serde(default)]
    pub seconds: f64,
}

impl HoldoutPoint {
    /// `log_p - log_prior`: nats per cell learnt beyond the column frequencies.
    pub fn gain(&self) -> f64 {
        self.log_p - self.log_prior
    }

    /// One line for logs.
    pub fn summary(&self) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| match (c.accuracy, c.rmse) {
                (Some(a), _) => format!("{} {a:.2}", c.column),
                (_, Some(e)) => format!("{} rmse {e:.2}", c.column),
                _ => c.column.clone(),
            })
            .collect();
        format!(
            "held-out step {}: log p(true) {:.3} vs prior {:.3} ({:+.3} nats/cell); {} ({:.1} s)",
            self.step,
            self.log_p,
            self.log_prior,
            self.gain(),
            cols.join(", "),
            self.seconds
        )
    }
}

/// The held-out cells of a fit, grouped by column, with their true values.
pub(crate) struct Holdout {
    /// `(column, rows, true values)`.
    by_col: Vec<(usize, Vec<usize>, Vec<Value>)>,
    /// `log frequency` of each value per column (training cells), keyed by the text it is written as.
    log_freq: Vec<HashMap<String, f64>>,
}

impl Holdout {
    /// Picks up to `n` cells of scored columns, one per row, in rows with another observed cell.
    pub(crate) fn pick(
        fitted: &Core,
        table: &Table,
        rows: &[usize],
        n: usize,
        rng: &mut impl Rng,
    ) -> (Self, HashSet<Cell>) {
        let scored: Vec<usize> = (0..table.num_columns()).filter(|&j| fitted.is_scored(j)).collect();
        let imputable: Vec<usize> =
            fitted.saved.codec.columns().iter().enumerate().filter(|(_, c)| c.imputable()).map(|(j, _)| j).collect();
        let mut order = rows.to_vec();
        order.shuffle(rng);
        let mut held = HashSet::new();
        let mut by_col: HashMap<usize, (Vec<usize>, Vec<Value>)> = HashMap::new();
        for r in order {
            if held.len() == n {
                break;
            }
            let observed = imputable.iter().filter(|&&j| !table.is_missing(r, j)).count();
            let candidates: Vec<usize> = scored.iter().copied().filter(|&j| !table.is_missing(r, j)).collect();
            if observed < 2 || candidates.is_empty() {
                continue;
            }
            let j = candidates[rng.random_range(0..candidates.len())];
            let Some(v) = table.value(r, j) else { continue };
            held.insert(Cell { row: r, col: j });
            let e = by_col.entry(j).or_default();
            e.0.push(r);
            e.1.push(v);
        }
        let mut by_col: Vec<(usize, Vec<usize>, Vec<Value>)> =
            by_col.into_iter().map(|(j, (rows, vals))| (j, rows, vals)).collect();
        by_col.sort_by_key(|c| c.0);
        let mut log_freq = vec![HashMap::new(); table.num_columns()];
        for &(j, _, _) in &by_col {
            let mut counts: HashMap<String, usize> = HashMap::new();
            let mut total = 0;
            for v in table.column_values(j).into_iter().flatten() {
                *counts.entry(written(&fitted.saved.codec, j, &v)).or_default() += 1;
                total += 1;
            }
            log_freq[j] = counts.into_iter().map(|(k, c)| (k, (c as f64 / total as f64).ln())).collect();
        }
        (Holdout { by_col, log_freq }, held)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_col.is_empty()
    }

    /// Scores every held-out cell with `model` (λ = 0) at step `step`.
    pub(crate) fn evaluate(
        &self,
        fitted: &Core,
        model: &dyn CausalLm,
        table: &Table,
        step: usize,
    ) -> Result<HoldoutPoint> {
        let started = std::time::Instant::now();
        let (mut sum_lp, mut sum_prior, mut n) = (0.0, 0.0, 0usize);
        let mut columns = Vec::with_capacity(self.by_col.len());
        for (j, rows, truth) in &self.by_col {
            let scores = fitted.score_rows(model, table, *j, rows)?;
            let (values, numeric) = fitted.scored_values(*j);
            // Each candidate's text, once per column; a text two candidates share finds the first.
            let mut index: HashMap<String, usize> = HashMap::with_capacity(values.len());
            for (k, v) in values.iter().enumerate() {
                index.entry(written(&fitted.saved.codec, *j, v)).or_insert(k);
            }
            let (mut right, mut sq, mut gain) = (0usize, 0.0, 0.0);
            for (s, t) in scores.iter().zip(truth) {
                let probs = crate::decode::normalise(s);
                let text = written(&fitted.saved.codec, *j, t);
                let k = index.get(&text).copied().unwrap_or_else(|| nearest(values, t));
                let lp = probs[k].max(1e-12).ln();
                let prior = self.log_freq[*j].get(&text).copied().unwrap_or(-12.0);
                sum_lp += lp;
                sum_prior += prior;
                gain += lp - prior;
                let (v, _) = fitted.pick(*j, &probs);
                if numeric {
                    let d = v.as_f64().unwrap_or(0.0) - t.as_f64().unwrap_or(0.0);
                    sq += d * d;
                } else if &v == t {
                    right += 1;
                }
            }
            n += rows.len();
            let m = rows.len() as f64;
            columns.push(HoldoutColumn {
                column: fitted.saved.codec.columns()[*j].name.clone(),
                cells: rows.len(),
                accuracy: (!numeric).then(|| right as f64 / m),
                rmse: numeric.then(|| (sq / m).sqrt()),
                gain: gain / m,
            });
        }
        let m = n.max(1) as f64;
        let seconds = started.elapsed().as_secs_f64();
        Ok(HoldoutPoint { step, log_p: sum_lp / m, log_prior: sum_prior / m, columns, seconds })
    }

    /// The calibration per column that scores best on the held-out cells: the prior-correction
    /// weight `λ` (accuracy for categories, RMSE for numbers; ties keep the smaller weight) and,
    /// for numbers read as a probability-weighted mean, a temperature `T` that sharpens
    /// (`T < 1`) or flattens the distribution the mean is taken over. Columns without
    /// held-out cells get `(0, 1)`.
    pub(crate) fn choose_calibration(
        &self,
        fitted: &Core,
        model: &dyn CausalLm,
        table: &Table,
        lambdas: &[f64],
        temperatures: &[f64],
    ) -> Result<Vec<(f64, f64)>> {
        let mut out = vec![(0.0, 1.0); table.num_columns()];
        for (j, rows, truth) in &self.by_col {
            let scores = fitted.score_rows(model, table, *j, rows)?;
            let (_, numeric) = fitted.scored_values(*j);
            let prior = fitted.prior_scores(*j);
            let lambdas = if prior.is_some() { lambdas } else { &[0.0][..] };
            let temperatures = if numeric { temperatures } else { &[1.0][..] };
            let mut best = (f64::NEG_INFINITY, 0.0, 1.0);
            for &t_scale in temperatures {
                for &lambda in lambdas {
                    let mut score = 0.0;
                    for (s, t) in scores.iter().zip(truth) {
                        let corrected: Vec<f64> = match prior {
                            Some(q) => s.iter().zip(q).map(|(a, b)| (a - lambda * b) / t_scale).collect(),
                            None => s.iter().map(|a| a / t_scale).collect(),
                        };
                        let (v, _) = fitted.pick(*j, &crate::decode::normalise(&corrected));
                        score += if numeric {
                            let d = v.as_f64().unwrap_or(0.0) - t.as_f64().unwrap_or(0.0);
                            -d * d
                        } else {
                            f64::from(u8::from(&v == t))
                        };
                    }
                    // Prefer no correction and T = 1 unless another setting is strictly better.
                    if score > best.0 + 1e-9 {
                        best = (score, lambda, t_scale);
                    }
                }
            }
            out[*j] = (best.1, best.2);
        }
        Ok(out)
    }
}

/// The text `v` is written as in column `j` (a binned number as its bin's value), which is what
/// the model is asked to score and what the column frequencies count.
fn written(codec: &prompt_codec::RowCodec, j: usize, v: &Value) -> String {
    codec.format_value(j, v).unwrap_or_else(|_| v.to_string())
}

/// Index of the candidate equal to `t` (categories) or nearest to it (numbers).
fn nearest(values: &[Value], t: &Value) -> usize {
    if let Some(x) = t.as_f64() {
        let mut best = (f64::INFINITY, 0);
        for (i, v) in values.iter().enumerate() {
            let d = (v.as_f64().unwrap_or(f64::INFINITY) - x).abs();
            if d < best.0 {
                best = (d, i);
            }
        }
        return best.1;
    }
    values.iter().position(|v| v == t).unwrap_or(0)
}
