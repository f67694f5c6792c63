//! Overrides of the LLM imputer's settings, as the grid configs and the CLI carry them: plain
//! serde, so configs that name them build without libtorch; applied to the imputer's own
//! defaults by [`llm_config`] (feature `llm`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Overrides of the LLM imputer's settings in a grid: `None` keeps the default of
/// `llm_imputer::LlmImputerConfig` (the one place the defaults live).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmSettings {
    /// A GGUF file or an HF model directory; `None` takes SmolLM2-135M-Instruct from the
    /// setup's cache (`cargo xtask fetch-model`).
    pub backbone: Option<PathBuf>,
    /// Passes over the training rows (replaces the default step budget).
    pub epochs: Option<usize>,
    /// Optimizer steps.
    pub max_steps: Option<usize>,
    /// Stop training after this many seconds.
    pub max_seconds: Option<f64>,
    /// Most training rows per fit.
    pub max_train_rows: Option<usize>,
    /// Peak learning rate.
    pub learning_rate: Option<f64>,
    /// LoRA rank.
    pub lora_r: Option<usize>,
    /// LoRA alpha (the update is scaled by alpha / r).
    pub lora_alpha: Option<f64>,
    /// LoRA target modules; empty or `None` adapts every linear layer.
    pub lora_targets: Option<Vec<String>>,
    /// Sequences per optimizer step.
    pub train_batch_size: Option<usize>,
    /// Precision of the frozen base: `auto`, `f32` or `bf16`.
    pub precision: Option<String>,
    /// Training objective: `values`, `target_last` or `full_row`.
    pub objective: Option<String>,
    /// Observed cells held out to check the fine-tune (0 turns the check off).
    pub holdout_cells: Option<usize>,
    /// Subtract a per-column weighted context-free score from each candidate's.
    pub prior_correction: Option<bool>,
    /// Weight of the encoder head against the scored candidates (0 trains none).
    pub head_weight: Option<f64>,
    /// Similar training rows written before each prompt (0 turns retrieval off).
    pub retrieval: Option<usize>,
}

#[cfg(feature = "llm")]
/// The LLM imputer's settings for one cell: the imputer's defaults with the grid's overrides.
pub fn llm_config(settings: &LlmSettings, seed: u64) -> crate::Result<llm_imputer::LlmImputerConfig> {
    use crate::Error;
    use llm_imputer::{Backbone, LlmImputerConfig};
    let backbone = settings.backbone.clone().map_or_else(Backbone::default_smollm2, Backbone::from_path);
    // Fine-tuning and filling take minutes: show their bars (drawn only on a terminal).
    let mut c = LlmImputerConfig::new(backbone).with_seed(seed).with_progress(true);
    if let Some(e) = settings.epochs {
        c = c.with_epochs(e);
    }
    if let Some(s) = settings.max_steps {
        c = c.with_max_steps(s);
    }
    c.train.max_seconds = settings.max_seconds.or(c.train.max_seconds);
    if let Some(r) = settings.max_train_rows {
        c = c.with_max_train_rows(r);
    }
    if let Some(lr) = settings.learning_rate {
        c = c.with_learning_rate(lr);
    }
    c.lora.r = settings.lora_r.unwrap_or(c.lora.r);
    c.lora.alpha = settings.lora_alpha.unwrap_or(c.lora.alpha);
    if let Some(t) = &settings.lora_targets {
        c.lora.target_modules = t.clone();
    }
    c.train.batch_size = settings.train_batch_size.unwrap_or(c.train.batch_size);
    if let Some(p) = &settings.precision {
        c = c.with_precision(
            serde_json::from_value(serde_json::Value::String(p.clone()))
                .map_err(|_| Error::Config(format!("llm precision '{p}' is not one of auto, f32, bf16")))?,
        );
    }
    if let Some(o) = &settings.objective {
        c.examples.objective = serde_json::from_value(serde_json::Value::String(o.clone()))
            .map_err(|_| Error::Config(format!("llm objective '{o}' is not one of values, target_last, full_row")))?;
    }
    c.examples.holdout_cells = settings.holdout_cells.unwrap_or(c.examples.holdout_cells);
    c.fill.prior_correction = settings.prior_correction.unwrap_or(c.fill.prior_correction);
    c.head.weight = settings.head_weight.unwrap_or(c.head.weight);
    c.retrieval.k = settings.retrieval.unwrap_or(c.retrieval.k);
    c.validate()?;
    Ok(c)
}
