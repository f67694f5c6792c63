//! LoRA hyperparameters (PEFT's names and meaning).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// LoRA hyperparameters. Missing fields of a JSON config take the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank `r` of the update.
    pub r: usize,
    /// Scale numerator: the update is multiplied by `alpha / r` (or `alpha / sqrt(r)` with
    /// `use_rslora`).
    pub alpha: f64,
    /// Dropout on the adapter's input during training.
    pub dropout: f64,
    /// Module names to adapt; a layer matches when its path equals a name or ends with
    /// `.name` (PEFT's rule). GPT-2: `c_attn` (default), `c_proj` (both attention and MLP
    /// output projections), `c_fc`.
    pub target_modules: Vec<String>,
    /// Rank-stabilised scaling `alpha / sqrt(r)`.
    pub use_rslora: bool,
}

impl Default for LoraConfig {
    /// r = 8, alpha = 16, dropout 0.05, targets `c_attn`.
    fn default() -> Self {
        Self { r: 8, alpha: 16.0, dropout: 0.05, target_modules: vec!["c_attn".into()], use_rslora: false }
    }
}

impl LoraConfig {
    /// Sets the rank.
    pub fn with_r(mut self, r: usize) -> Self {
        self.r = r;
        self
    }

    /// Sets alpha.
    pub fn with_alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets the adapter dropout.
    pub fn with_dropout(mut self, dropout: f64) -> Self {
        self.dropout = dropout;
        self
    }

    /// Sets the target modules.
    pub fn with_target_modules<S: Into<String>>(mut self, targets: impl IntoIterator<Item = S>) -> Self {
        self.target_modules = targets.into_iter().map(Into::into).collect();
        self
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        if self.r == 0 {
            return Err(Error::invalid("LoRA rank r must be positive"));
        }
        if !self.alpha.is_finite() || self.alpha <= 0.0 {
            return Err(Error::invalid(format!("LoRA alpha must be positive, got {}", self.alpha)));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid(format!("LoRA dropout must be in [0, 1), got {}", self.dropout)));
        }
        if self.target_modules.is_empty() {
            return Err(Error::invalid("LoRA target_modules is empty"));
        }
        Ok(())
    }

    /// The factor the update `B A x` is multiplied by.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.r as f64).sqrt()
        } else {
            self.alpha / self.r as f64
        }
    }

    /// Whether module path `name` is targeted (PEFT's suffix rule).
    pub fn targets(&self, name: &str) -> bool {
        self.target_modules.iter().any(|t| name == t || name.ends_with(&format!(".{t}")))
    }
}
