//! The fine-tune's settings: optimizer, schedule, budget, batching, checkpoints.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Learning-rate multiplier over steps: linear warm-up from 0, then decay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// Warm-up, then constant.
    Constant,
    /// Warm-up, then linear decay to 0 at the last step (HF's `linear`).
    Linear,
    /// Warm-up, then half-cosine decay to 0 at the last step (HF's `cosine`).
    Cosine,
}

impl Schedule {
    /// The multiplier for optimizer step `step` (0-based) of `total`, with `warmup` warm-up steps.
    pub fn factor(&self, step: usize, warmup: usize, total: usize) -> f64 {
        if step < warmup {
            return (step + 1) as f64 / warmup as f64;
        }
        let decay_steps = total.saturating_sub(warmup).max(1) as f64;
        let progress = ((step - warmup) as f64 / decay_steps).min(1.0);
        match self {
            Schedule::Constant => 1.0,
            Schedule::Linear => 1.0 - progress,
            Schedule::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        }
    }
}

/// Trainer settings; saved in every checkpoint. Missing fields of a JSON config take the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// AdamW betas.
    pub betas: (f64, f64),
    /// AdamW epsilon.
    pub eps: f64,
    /// Decay after warm-up.
    pub schedule: Schedule,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// Passes over the data (ignored when `max_steps` is set).
    pub epochs: usize,
    /// Optimizer steps to take; overrides `epochs`.
    pub max_steps: Option<usize>,
    /// Most examples per micro-batch.
    pub batch_size: usize,
    /// Most padded tokens (`rows × longest row`) per micro-batch, if limited.
    pub max_batch_tokens: Option<usize>,
    /// Micro-batches per optimizer step.
    pub grad_accum_steps: usize,
    /// Clip the global gradient norm to this value.
    pub max_grad_norm: Option<f64>,
    /// Evaluate every this many optimizer steps (and at the end) when evaluation data is given.
    pub eval_every: Option<usize>,
    /// Write a checkpoint every this many optimizer steps (and at the end).
    pub checkpoint_every: Option<usize>,
    /// Where checkpoints go (`step-00000010/` etc.).
    pub checkpoint_dir: Option<PathBuf>,
    /// Seed of data order and dropout.
    pub seed: u64,
    /// Show a progress bar.
    pub progress: bool,
    /// Group examples of similar length into micro-batches (less padding). Off, micro-batches
    /// are drawn in random order: use that when length says something about the content (a
    /// short category name), so that no step sees a skewed batch.
    pub bucket_by_length: bool,
    /// A time limit for the run, in seconds (held-out checks and other hooks included): after
    /// every step the schedule is laid out again over the steps done plus as many as the time
    /// left allows at the pace so far (never more than `max_steps` / `epochs`), so the learning
    /// rate has decayed when the time is up, and the run stops there. Which step that is
    /// depends on the machine and its load, so a time-limited run is not repeatable step for
    /// step; the trainer's report (`time_limited`, `planned_steps`) says whether it was cut.
    pub max_seconds: Option<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            learning_rate: 2e-4,
            weight_decay: 0.0,
            betas: (0.9, 0.999),
            eps: 1e-8,
            schedule: Schedule::Linear,
            warmup_steps: 0,
            epochs: 1,
            max_steps: None,
            batch_size: 8,
            max_batch_tokens: None,
            grad_accum_steps: 1,
            max_grad_norm: Some(1.0),
            eval_every: None,
            checkpoint_every: None,
            checkpoint_dir: None,
            seed: 0,
            progress: true,
            bucket_by_length: true,
            max_seconds: None,
        }
    }
}

impl TrainConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::invalid(m.to_string()));
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate must be positive");
        }
        if self.batch_size == 0 || self.grad_accum_steps == 0 {
            return bad("batch_size and grad_accum_steps must be positive");
        }
        if self.max_steps.is_none() && self.epochs == 0 {
            return bad("set epochs > 0 or max_steps");
        }
        if self.max_steps == Some(0) || self.eval_every == Some(0) || self.checkpoint_every == Some(0) {
            return bad("max_steps, eval_every and checkpoint_every must be positive when set");
        }
        if self.checkpoint_every.is_some() && self.checkpoint_dir.is_none() {
            return bad("checkpoint_every needs checkpoint_dir");
        }
        if self.max_grad_norm.is_some_and(|n| n.is_nan() || n <= 0.0) {
            return bad("max_grad_norm must be positive");
        }
        if self.max_seconds.is_some_and(|s| s.is_nan() || s <= 0.0) {
            return bad("max_seconds must be positive when set");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_shapes() {
        let s = Schedule::Linear;
        assert!((s.factor(0, 4, 10) - 0.25).abs() < 1e-12);
        assert!((s.factor(3, 4, 10) - 1.0).abs() < 1e-12);
        assert!((s.factor(4, 4, 10) - 1.0).abs() < 1e-12);
        assert!(s.factor(9, 4, 10) > 0.0);
        assert!((Schedule::Cosine.factor(7, 4, 10) - 0.5).abs() < 1e-12);
        assert_eq!(Schedule::Constant.factor(9, 0, 10), 1.0);
    }
}
