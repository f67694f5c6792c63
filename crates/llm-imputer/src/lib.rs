//! The LLM imputer of recimpute: a causal language model (SmolLM2, GPT-2, any Llama-family
//! GGUF or Hugging Face checkpoint), fine-tuned with LoRA on a table's own cells written as
//! sentences, fills each missing cell by scoring or generating the text after a prompt that ends
//! at that cell ("gender is F, occupation is writer, age is").
//!
//! * **fit** ([`Imputer::fit`](rec_table::Imputer::fit)) turns every row with observed cells into examples
//!   ([`Objective::Values`] by default: the row's cells in a fresh random order, the loss on each
//!   value and the token that ends it, never on column names), holds out a slice of observed
//!   cells, and fine-tunes LoRA adapters on every linear layer of the frozen base. Every
//!   [`eval_every`](ExampleConfig::eval_every) steps the held-out cells are scored as imputation
//!   would score them; the curve goes into the [`FitReport`], the best adapter is kept, training
//!   stops when it stops improving, and a fit that learnt nothing beyond the column frequencies
//!   says so. The budget is a number of steps (400 of 8 examples); on a CPU where the base does
//!   not run in fast bf16 the fit and the fill of the fitted table are also held to
//!   [`slow_cpu_seconds`](LlmImputerConfig::slow_cpu_seconds) (280 s): the fine-tune gets what
//!   the rest leaves at the pace the held-out checks score cells, its learning-rate schedule
//!   fitted to the steps that fit, and the fit says so on stderr and in
//!   [`FitReport::time_limited`] and [`FitReport::reserved_s`]. There the base also runs only
//!   6 of its blocks ([`slow_cpu_depth`](LlmImputerConfig::slow_cpu_depth), the first five and
//!   the last; [`depth`](LlmImputerConfig::depth) sets it anywhere), which buys about three
//!   times the steps, when the table's columns predict each other ([`DepthProbe`], recorded
//!   in [`FitReport::depth_probe`]); [`FitReport::blocks`] records the blocks that ran.
//! * **fill** ([`FittedLlmImputer::impute`]) reads every missing cell off the model so that only
//!   valid values can come out: categorical columns with at most
//!   [`max_choices`](FillConfig::max_choices) values, and numeric columns with that few distinct
//!   observed values, are *scored* (every allowed value and the token that ends it, in one walk
//!   of their token tree with a shared cache, minus `λ ×` its score under a context-free prompt
//!   with `λ` per column chosen on the held-out cells; numbers take the probability-weighted
//!   mean; with [`numeric_bins`](ExampleConfig::numeric_bins) a number is written, learnt and
//!   scored as its quantile bin's median, off by default); larger categorical columns, other
//!   numeric columns, set-valued and text columns are *generated* under a grammar. A row with
//!   several gaps fills them one after the other, scored columns first, and later prompts
//!   include the values filled earlier. A prompt writes the row's known cells with the columns
//!   of fewest distinct values first
//!   ([`known_order`](FillConfig::known_order)), so that rows sorted by their prompts share
//!   long beginnings, computed once; a row's next question continues the cache of its
//!   previous one ([`block_rows`](FillConfig::block_rows)). Fallbacks,
//!   salvaged lists and failed draws are counted per column ([`Imputation::columns`]).
//!   With [`orders`](FillConfig::orders) above 1 a scored cell is asked in that many orders of
//!   its row's known cells and the candidates' scores are averaged (the held-out calibration
//!   sees the same views); [`FittedLlmImputer::set_orders`] changes it on a fitted imputer.
//! * **encoder head** (optional, [`HeadConfig`]): with `head.weight > 0` the fit also reads the
//!   fine-tuned model's final hidden state at the end of one prompt per training row and trains a
//!   softmax classifier (categories) or a ridge regression (numbers) per scored column on it,
//!   the L2 weight chosen by cross-validation ([`FitReport::heads`]); fills mix its answer with
//!   the scored candidates' by that weight, and [`FittedLlmImputer::set_head_weight`] changes
//!   the mix on a fitted imputer.
//! * **retrieval** ([`RetrievalConfig`], by default `auto`): when on, every prompt starts
//!   with the `k` (3) rows of the fit table that agree most with the question's row on its
//!   observed cells, each showing the target's value, so the model can read a cell off a
//!   similar row (a table with copies of one record, say) instead of answering from the column
//!   frequencies; training examples are then target-last prompts built the same way. `auto`
//!   turns it on when those rows answer a sample of the table's observed category cells
//!   clearly better than naive Bayes on the row's other cells ([`RetrievalProbe`], in
//!   [`FitReport::retrieval`] and on stderr): rows that repeat records; off on tables whose
//!   columns follow patterns shared by many rows, which the fine-tune learns without it at a
//!   fraction of the cost. The reference rows are saved with the imputer; prompts that would
//!   not fit the model's context lose their least similar rows, counted in
//!   [`FitReport::trimmed_examples`] and [`ColumnFill::trimmed`].
//! * **multiple imputation**: [`FittedLlmImputer::impute`] with `draws > 0` also samples that
//!   many values per cell; [`FittedLlmImputer::transform_multiple`] turns them into tables.
//! * **save / load** ([`FittedLlmImputer::save`], [`FittedLlmImputer::load`]): one directory with `imputer.json` (config, codec, fit report), the
//!   adapter in PEFT's format under `adapter/`, the encoder heads (if any) in
//!   `heads.safetensors` and the retrieval reference (if any) in `reference.parquet`; the
//!   backbone is referenced, not copied.
//!
//! Cells of id columns are never imputed (they stay missing); observed cells are never changed.
//!
//! ```no_run
//! use llm_imputer::{Backbone, LlmImputer, LlmImputerConfig};
//! use rec_table::{read_csv, write_csv, CsvOptions, FittedImputer, Imputer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let table = read_csv("users.csv", &CsvOptions::default())?;
//! let config = LlmImputerConfig::new(Backbone::default_smollm2()).with_max_steps(200).with_seed(7);
//! let fitted = LlmImputer::new(config).fit(&table)?;
//! eprintln!("best held-out step: {:?}", fitted.report().best_step);
//! fitted.save("fitted-imputer")?;
//! let filled = fitted.transform(&table)?;
//! write_csv(&filled, "users-filled.csv", &CsvOptions::default())?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod backbone;
mod bayes;
mod column;
mod config;
mod decode;
mod error;
mod examples;
mod fit;
mod fitted;
mod head;
mod holdout;
mod plan;
mod retrieval;
pub mod testing;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use backbone::{cpu_bf16_pays, cpu_has_native_bf16, default_models_dir, Backbone, Precision, SMOLLM2_GGUF};
pub use config::{
    DepthProbe, DeviceChoice, EndToken, ExampleConfig, FillConfig, HeadConfig, KnownOrder, LlmImputerConfig, Objective,
    RetrievalConfig, RetrievalMode, RetrievalProbe, DEPTH_PROBE_MARGIN, PROBE_MARGIN, PROBE_MIN_CELLS,
};
pub use error::{Error, Result};
pub use fitted::{CellImputation, ColumnFill, FittedLlmImputer, Imputation, ImputeOptions};
pub use gpt2_lora::{LoraConfig, ResumeStats, Schedule, TrainConfig};
pub use head::HeadReport;
pub use holdout::{HoldoutColumn, HoldoutPoint};

/// Fine-tunes a causal language model on a table's cells and imputes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmImputer {
    config: LlmImputerConfig,
}

impl LlmImputer {
    /// An imputer with these settings.
    pub fn new(config: LlmImputerConfig) -> Self {
        Self { config }
    }

    /// The settings.
    pub fn config(&self) -> &LlmImputerConfig {
        &self.config
    }
}

/// What fitting did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FitReport {
    /// The training objective.
    pub objective: Objective,
    /// The precision the base was trained in (`Auto` resolved).
    pub precision: Precision,
    /// `(blocks run, blocks of the backbone)` when `depth` dropped some; `None` when every
    /// block ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<(usize, usize)>,
    /// What the fit measured to decide whether `slow_cpu_depth` applies to its table (`None`
    /// where it did not come into question: a fast base, a `depth` of the settings' own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth_probe: Option<DepthProbe>,
    /// Rows trained on.
    pub train_rows: usize,
    /// Rows left out (too few observed cells for the objective).
    pub skipped_rows: usize,
    /// Training sequences (rows × passes).
    pub examples: usize,
    /// Values the loss covers in one pass.
    pub targets_per_pass: usize,
    /// Training examples (all passes) whose retrieved rows were cut, least similar first, to
    /// fit the model's context (retrieval only; held-out and head prompts are cut the same way).
    pub trimmed_examples: usize,
    /// Optimizer steps taken.
    pub steps: usize,
    /// The fine-tune's time limit, in seconds, if it had one: `train.max_seconds`, or on a CPU
    /// without fast bf16 what `slow_cpu_seconds` left it after the rest of the fit and the
    /// fill (the last value, as the held-out checks timed the scoring).
    pub time_limit_s: Option<f64>,
    /// The time limit ended the fine-tune before its step budget (the schedule was fitted to
    /// the steps that fit).
    pub time_limited: bool,
    /// Under `slow_cpu_seconds`: the seconds kept back from the fine-tune for the work after
    /// it (the last held-out check, the calibration, and the fill's fixed cost and the fitted
    /// table's missing cells), estimated from the latest held-out check's time.
    pub reserved_s: Option<f64>,
    /// `(step, loss)` for every step.
    pub losses: Vec<(usize, f64)>,
    /// Training throughput, padding excluded.
    pub tokens_per_second: f64,
    /// Tokens the fine-tune read, padding excluded.
    pub tokens: u64,
    /// Positions the fine-tune ran, padding included (each micro-batch's rows times its
    /// longest row).
    pub padded_tokens: u64,
    /// Wall time of the fine-tune (held-out checks included).
    pub seconds: f64,
    /// Observed cells held out of training.
    pub holdout_cells: usize,
    /// The held-out check at each evaluation.
    pub holdout: Vec<HoldoutPoint>,
    /// The step whose adapter was kept (the best held-out log-likelihood).
    pub best_step: Option<usize>,
    /// Training stopped because the held-out check stopped improving.
    pub stopped_early: bool,
    /// Whether the kept adapter beats the column frequencies on the held-out cells by more than
    /// 0.01 nats per cell (`None` without held-out cells).
    pub learnt: Option<bool>,
    /// The prior-correction weight chosen per imputable column.
    pub prior_lambda: Vec<(String, f64)>,
    /// The temperature chosen per numeric column (its scored values' distribution is divided
    /// by it before the mean is taken).
    pub temperature: Vec<(String, f64)>,
    /// What `retrieval.mode` `auto` measured and chose (`None` when the mode was given as
    /// `on` or `off`, or with the full-row objective). Whether retrieval ran is in the saved
    /// configuration's `retrieval.mode`, [`FittedLlmImputer::retrieval_on`].
    pub retrieval: Option<RetrievalProbe>,
    /// The encoder heads trained (empty when `head.weight` is 0).
    pub heads: Vec<HeadReport>,
    /// Seconds spent reading hidden states and training the heads (within `seconds`).
    pub head_seconds: f64,
}

impl FitReport {
    /// The base as logs name it: its precision, and its blocks when `depth` dropped some
    /// (`"f32"`, `"f32, 10 of 30 blocks"`).
    pub fn base_summary(&self) -> String {
        match self.blocks {
            Some((kept, of)) => format!("{}, {kept} of {of} blocks", self.precision),
            None => self.precision.to_string(),
        }
    }

    /// One line for logs and reports when `depth` dropped blocks of the backbone.
    pub fn blocks_note(&self) -> Option<String> {
        let (kept, of) = self.blocks?;
        Some(format!("the LLM's base ran {kept} of its {of} blocks (`depth`, or `slow_cpu_depth` where bf16 is slow)"))
    }

    /// One line for logs and reports when the time limit ended the fine-tune: the limit, what
    /// it kept back for after, and the steps taken.
    pub fn time_limit_note(&self) -> Option<String> {
        let limit = self.time_limit_s.filter(|_| self.time_limited)?;
        let kept = self
            .reserved_s
            .map_or(String::new(), |r| format!("; {r:.0} s of the budget kept for the calibration and fill"));
        Some(format!(
            "the LLM fine-tune's {limit:.0} s time limit ended it after {} steps (its learning-rate schedule fitted \
             to them{kept})",
            self.steps
        ))
    }
}

fn to_i64(ids: &[u32]) -> Vec<i64> {
    ids.iter().map(|&t| t as i64).collect()
}

fn encode(tok: &tokenizers::Tokenizer, text: &str) -> Result<Vec<i64>> {
    tok.encode(text, false).map(|e| to_i64(e.get_ids())).map_err(|e| Error::Tokenizer(e.to_string()))
}

fn progress(show: bool, len: u64, what: &str) -> rec_progress::Progress {
    let template =
        format!("{{spinner}} {what} {{bar:30}} {{pos}}/{{len}} [{{elapsed_precise}} < {{eta}}, {{per_sec}}]");
    rec_progress::Progress::new(show, len, what, &template)
}

/// The directory a fitted imputer is saved in, for a table file: `users.csv` → `users.llm/`.
pub fn default_save_dir(table: &Path) -> PathBuf {
    table.with_extension("llm")
}
