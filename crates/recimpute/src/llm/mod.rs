//! The LLM imputer: a causal language model, fine-tuned with LoRA on the complete rows of a
//! table written as sentences, fills each missing cell by continuing a prompt that ends at
//! that cell ("gender is F, occupation is writer, age is").
//!
//! * **fit** serializes the rows that have no gap (or at most
//!   [`max_gaps_in_train_rows`](LlmImputerConfig::max_gaps_in_train_rows)) with the column
//!   order shuffled per example, appends the end-of-sequence token and trains LoRA adapters on
//!   the frozen backbone with [`gpt2_lora::Trainer`].
//! * **transform** reads every missing cell off the model so that only valid values can come
//!   out: categorical columns with at most [`max_choices`](LlmImputerConfig::max_choices)
//!   values, and numeric columns with that few distinct observed values, are *scored* (the
//!   log-likelihood of every allowed value after the prompt, normalised into a probability per
//!   value; numbers take the probability-weighted mean); larger categorical columns, other
//!   numeric columns, set-valued and text columns are *generated* under a grammar (a token
//!   trie of the categories, or a character-level grammar of numbers in the seen range, of
//!   `[a, b]` lists of known elements, of quoted text). A row with several gaps fills them one
//!   round at a time, scored columns first, and later prompts include the values filled
//!   earlier. Identical prompts are computed once.
//! * **multiple imputation**: [`FittedLlmImputer::impute`] with `draws > 0` also samples that
//!   many values per cell (from the scored distribution, or by sampled generation);
//!   [`FittedLlmImputer::transform_multiple`] turns them into tables.
//! * **save / load**: one directory with `imputer.json` (config, codec, fit report) and the
//!   adapter in PEFT's format under `adapter/`; the backbone is referenced, not copied.
//!
//! Cells of id columns are never imputed (they stay missing); observed cells are never changed.
//!
//! ```no_run
//! use recimpute::llm::{Backbone, LlmImputer, LlmImputerConfig};
//! use recimpute::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let table = read_csv("users.csv", &CsvOptions::default())?;
//! let imputer = LlmImputer::new(LlmImputerConfig::new(Backbone::default_smollm2()));
//! let fitted = imputer.fit_llm(&table)?;
//! fitted.save("fitted-imputer")?;
//! let filled = fitted.transform(&table)?;
//! write_csv(&filled, "users-filled.csv", &CsvOptions::default())?;
//! # Ok(())
//! # }
//! ```

mod backbone;
mod decode;
mod error;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use gpt2_lora::{CausalLm, Example, GenerateConfig, LoraConfig, LoraModel, TrainConfig, Trainer};
use indicatif::{ProgressBar, ProgressStyle};
use prompt_codec::{CodecConfig, ColumnGrammar, RowCodec, TokenTrie};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rec_table::{Cell, ColumnKind, FittedImputer, Imputer, Schema, Table, Value};
use serde::{Deserialize, Serialize};
use tch::Device;

pub use backbone::{default_models_dir, Backbone, Precision, SMOLLM2_GGUF};
pub use error::{Error, Result};

use decode::{Acceptor, GenGrammar, TokenTexts};

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// The first CUDA device when libtorch sees one, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device 0.
    Cuda,
}

impl DeviceChoice {
    fn device(self) -> Device {
        match self {
            DeviceChoice::Auto => Device::cuda_if_available(),
            DeviceChoice::Cpu => Device::Cpu,
            DeviceChoice::Cuda => Device::Cuda(0),
        }
    }
}

/// Settings of the [`LlmImputer`]. Every field has a default; build one with
/// [`LlmImputerConfig::new`] and the `with_*` setters, or from JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmImputerConfig {
    /// The pretrained model to fine-tune (default: SmolLM2-135M-Instruct from the setup's cache).
    pub backbone: Backbone,
    /// Precision of the frozen base while fine-tuning.
    pub precision: Precision,
    /// Precision of the frozen base while imputing (and after loading a saved imputer). On
    /// CPUs with AVX-512 BF16, libtorch's bf16 kernels score prompts tens of times faster than
    /// f32 here, with the same choices; the adapters stay f32 either way.
    pub inference_precision: Precision,
    /// Where the model runs.
    pub device: DeviceChoice,
    /// LoRA rank.
    pub lora_r: usize,
    /// LoRA alpha (the update is scaled by `alpha / r`).
    pub lora_alpha: f64,
    /// Dropout on the adapters' input while training.
    pub lora_dropout: f64,
    /// Modules to adapt; `None` takes the backbone's default.
    pub lora_targets: Option<Vec<String>>,
    /// Passes over the training rows (each pass writes every row with a fresh column order).
    pub epochs: usize,
    /// Optimizer steps, overriding `epochs` when set.
    pub max_steps: Option<usize>,
    /// Peak learning rate (linear warm-up over the first 5% of steps, then linear decay).
    pub learning_rate: f64,
    /// Sentences per optimizer step.
    pub train_batch_size: usize,
    /// Most training rows (a seeded sample is taken from larger tables).
    pub max_train_rows: usize,
    /// Rows with at most this many missing (imputable) cells are training rows.
    pub max_gaps_in_train_rows: usize,
    /// Columns with at most this many allowed values are scored, larger ones generated.
    pub max_choices: usize,
    /// Scored numeric columns take the probability-weighted mean (best for squared error)
    /// instead of the most likely value.
    pub numeric_mean: bool,
    /// Prompts per forward pass at imputation.
    pub batch_size: usize,
    /// Most tokens generated for one value.
    pub max_new_tokens: usize,
    /// Seed of row sampling, column orders, adapter initialisation, data order and draws.
    pub seed: u64,
    /// Progress bars on standard error.
    pub progress: bool,
}

impl Default for LlmImputerConfig {
    fn default() -> Self {
        Self {
            backbone: Backbone::default_smollm2(),
            precision: Precision::F32,
            inference_precision: Precision::Bf16,
            device: DeviceChoice::Auto,
            lora_r: 8,
            lora_alpha: 16.0,
            lora_dropout: 0.05,
            lora_targets: None,
            epochs: 2,
            max_steps: None,
            learning_rate: 1e-3,
            train_batch_size: 16,
            max_train_rows: 2048,
            max_gaps_in_train_rows: 0,
            max_choices: 64,
            numeric_mean: true,
            batch_size: 16,
            max_new_tokens: 32,
            seed: 0,
            progress: true,
        }
    }
}

impl LlmImputerConfig {
    /// Defaults with the given backbone.
    pub fn new(backbone: Backbone) -> Self {
        Self { backbone, ..Self::default() }
    }

    /// Sets the passes over the training rows.
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets a fixed number of optimizer steps.
    pub fn with_max_steps(mut self, steps: usize) -> Self {
        self.max_steps = Some(steps);
        self
    }

    /// Sets the peak learning rate.
    pub fn with_learning_rate(mut self, lr: f64) -> Self {
        self.learning_rate = lr;
        self
    }

    /// Sets the most training rows.
    pub fn with_max_train_rows(mut self, rows: usize) -> Self {
        self.max_train_rows = rows;
        self
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Turns progress bars on or off.
    pub fn with_progress(mut self, progress: bool) -> Self {
        self.progress = progress;
        self
    }

    /// Sets the device.
    pub fn with_device(mut self, device: DeviceChoice) -> Self {
        self.device = device;
        self
    }

    /// Sets the precision of the frozen base.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        if self.lora_r == 0 {
            return bad("lora_r must be positive");
        }
        if self.max_steps.is_none() && self.epochs == 0 {
            return bad("set epochs > 0 or max_steps");
        }
        if self.max_steps == Some(0) {
            return bad("max_steps must be positive when set");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate must be positive");
        }
        if self.train_batch_size == 0 || self.batch_size == 0 {
            return bad("train_batch_size and batch_size must be positive");
        }
        if self.max_train_rows == 0 || self.max_choices == 0 || self.max_new_tokens == 0 {
            return bad("max_train_rows, max_choices and max_new_tokens must be positive");
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return bad("lora_dropout must be in [0, 1)");
        }
        Ok(())
    }
}

/// Fine-tunes a causal language model on a table's complete rows and imputes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmImputer {
    config: LlmImputerConfig,
}

/// What fitting did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Rows trained on.
    pub train_rows: usize,
    /// Training sentences (rows × epochs).
    pub examples: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// `(step, loss)` for every step.
    pub losses: Vec<(usize, f64)>,
    /// Training throughput, padding excluded.
    pub tokens_per_second: f64,
    /// Wall time of the fine-tune.
    pub seconds: f64,
}

/// How a column's cells are read off the model.
enum Plan {
    /// Every allowed value scored after the prompt.
    Score { values: Vec<Value>, seqs: Vec<Vec<i64>>, mean: bool, decimals: usize },
    /// Categories generated along their token trie.
    Trie { values: Vec<Value>, trie: TokenTrie },
    /// Characters generated under a grammar, among these candidate tokens.
    Chars { acceptor: Acceptor, candidates: Vec<i64> },
}

impl Plan {
    fn scored(&self) -> bool {
        matches!(self, Plan::Score { .. })
    }
}

/// The saved form of a fitted imputer (`imputer.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    format: u32,
    config: LlmImputerConfig,
    codec: RowCodec,
    /// Distinct observed numbers per column (`None` for other kinds or too many values).
    numeric_values: Vec<Option<Vec<f64>>>,
    /// The value used when generation cannot finish, as continuation text per column.
    fallback: Vec<Option<String>>,
    report: FitReport,
}

const SAVED_FILE: &str = "imputer.json";
const ADAPTER_DIR: &str = "adapter";
const FORMAT: u32 = 1;
/// Rows (prompts × widest candidate level) per scoring forward pass.
const ROW_BUDGET: usize = 256;

/// A fitted [`LlmImputer`].
pub struct FittedLlmImputer {
    saved: Saved,
    model: Mutex<LoraModel<Box<dyn CausalLm + Send>>>,
    tokenizer: tokenizers::Tokenizer,
    texts: TokenTexts,
    eos: i64,
    plans: Vec<Option<Plan>>,
    fallback: Vec<Option<Value>>,
}

impl std::fmt::Debug for FittedLlmImputer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FittedLlmImputer")
            .field("backbone", &self.saved.config.backbone)
            .field("report", &self.saved.report)
            .finish_non_exhaustive()
    }
}

/// One imputed cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellImputation {
    /// The cell.
    pub cell: Cell,
    /// The value written into the table.
    pub value: Value,
    /// The model's probability of the choice: of the chosen value among the scored ones, or
    /// of the generated token sequence under the grammar; `None` for a fallback.
    pub probability: Option<f64>,
    /// Extra sampled values (multiple imputation).
    pub draws: Vec<Value>,
    /// Generation could not finish a valid value and the column's fallback (mode or median of
    /// the training rows) was used.
    pub fallback: bool,
}

/// The result of [`FittedLlmImputer::impute`].
#[derive(Debug, Clone, PartialEq)]
pub struct Imputation {
    /// Every imputed cell.
    pub cells: Vec<CellImputation>,
    /// Wall time.
    pub seconds: f64,
    /// Cells that needed a fallback value.
    pub fallbacks: usize,
}

impl Imputation {
    /// Imputed cells per second.
    pub fn cells_per_second(&self) -> f64 {
        self.cells.len() as f64 / self.seconds.max(1e-9)
    }
}

/// Options of [`FittedLlmImputer::impute`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImputeOptions {
    /// Sampled values per cell besides the best one.
    pub draws: usize,
    /// Seed of the draws.
    pub seed: u64,
    /// Impute only these cells (others stay missing and are left out of the prompts); `None`
    /// imputes every missing cell.
    pub only: Option<std::collections::HashSet<Cell>>,
}

fn to_i64(ids: &[u32]) -> Vec<i64> {
    ids.iter().map(|&t| t as i64).collect()
}

fn encode(tok: &tokenizers::Tokenizer, text: &str) -> Result<Vec<i64>> {
    tok.encode(text, false).map(|e| to_i64(e.get_ids())).map_err(|e| Error::Tokenizer(e.to_string()))
}

fn progress(show: bool, len: u64, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{{spinner}} {what} {{bar:30}} {{pos}}/{{len}} [{{elapsed_precise}} < {{eta}}, {{per_sec}}]"
    )) {
        bar.set_style(style);
    }
    bar
}

/// Median of numbers, mode of everything else; as continuation text.
fn fallback_texts(codec: &RowCodec, table: &Table) -> Result<Vec<Option<String>>> {
    let mut out = Vec::with_capacity(codec.columns().len());
    for (j, c) in codec.columns().iter().enumerate() {
        if !c.imputable() {
            out.push(None);
            continue;
        }
        let values: Vec<Value> = table.column_values(j).into_iter().flatten().collect();
        let v = if c.kind == ColumnKind::Numeric {
            let mut xs: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
            xs.sort_by(f64::total_cmp);
            xs.get(xs.len() / 2).map(|&x| Value::Number(x))
        } else {
            let mut counts: HashMap<String, (usize, Value)> = HashMap::new();
            for v in values {
                counts.entry(v.to_string()).or_insert((0, v)).0 += 1;
            }
            counts
                .into_values()
                .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.to_string().cmp(&a.1.to_string())))
                .map(|(_, v)| v)
        };
        out.push(match v {
            Some(v) => Some(codec.continuation(j, &v)?),
            None => None,
        });
    }
    Ok(out)
}

fn distinct_numbers(codec: &RowCodec, table: &Table, max: usize) -> Vec<Option<Vec<f64>>> {
    codec
        .columns()
        .iter()
        .enumerate()
        .map(|(j, c)| {
            if c.kind != ColumnKind::Numeric {
                return None;
            }
            let scale = 10f64.powi(c.decimals as i32);
            let mut xs: Vec<f64> = table
                .column_values(j)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_f64())
                .map(|x| (x * scale).round() / scale)
                .collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            (xs.len() <= max).then_some(xs)
        })
        .collect()
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

    /// Fits on `train` and returns the concrete fitted type (with save, draws and reports);
    /// [`Imputer::fit`] does the same behind the trait.
    pub fn fit_llm(&self, train: &Table) -> Result<FittedLlmImputer> {
        let cfg = &self.config;
        cfg.validate()?;
        let codec = RowCodec::fit(train, CodecConfig::default())?;
        let imputable: Vec<usize> =
            codec.columns().iter().enumerate().filter(|(_, c)| c.imputable()).map(|(j, _)| j).collect();
        if imputable.is_empty() {
            return Err(Error::Config("the table has no column the LLM imputer can fill (all are id columns)".into()));
        }
        let mut rows: Vec<usize> = (0..train.num_rows())
            .filter(|&r| imputable.iter().filter(|&&j| train.is_missing(r, j)).count() <= cfg.max_gaps_in_train_rows)
            .collect();
        if rows.is_empty() {
            return Err(Error::NoCompleteRows { rows: train.num_rows(), allowed_gaps: cfg.max_gaps_in_train_rows });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        if rows.len() > cfg.max_train_rows {
            let mut picked: Vec<usize> = sample(&mut rng, rows.len(), cfg.max_train_rows).into_vec();
            picked.sort_unstable();
            rows = picked.into_iter().map(|i| rows[i]).collect();
        }
        let saved = Saved {
            format: FORMAT,
            config: cfg.clone(),
            numeric_values: distinct_numbers(&codec, train, cfg.max_choices),
            fallback: fallback_texts(&codec, train)?,
            codec,
            report: FitReport::default(),
        };
        let loaded = backbone::load(&cfg.backbone, cfg.device.device(), cfg.precision)?;
        // Build the grammars first: a value the tokenizer cannot spell fails before training.
        let mut fitted = FittedLlmImputer::assemble(saved, loaded, None)?;

        let mut examples = Vec::with_capacity(rows.len() * cfg.epochs.max(1));
        let passes = if cfg.max_steps.is_some() { cfg.epochs.max(1) } else { cfg.epochs };
        for _ in 0..passes {
            for &r in &rows {
                let text = fitted.saved.codec.training_text(train, r, &mut rng)?;
                let mut ids = encode(&fitted.tokenizer, &text)?;
                ids.push(fitted.eos);
                examples.push(Example::language_model(&ids));
            }
        }
        let steps_per_pass = rows.len().div_ceil(cfg.train_batch_size);
        let total_steps = cfg.max_steps.unwrap_or(steps_per_pass * passes);
        let train_cfg = TrainConfig {
            learning_rate: cfg.learning_rate,
            warmup_steps: total_steps / 20,
            epochs: 1,
            max_steps: cfg.max_steps,
            batch_size: cfg.train_batch_size,
            seed: cfg.seed,
            progress: cfg.progress,
            ..TrainConfig::default()
        };
        let start = Instant::now();
        let report = {
            let mut model = fitted.model.lock().map_err(|_| Error::Config("model lock poisoned".into()))?;
            Trainer::new(train_cfg)?.train(&mut model, &examples, None)?
        };
        if cfg.inference_precision != cfg.precision {
            // Reload the base in the inference precision with the trained adapter on top.
            let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
            let adapter = tmp.path().join(ADAPTER_DIR);
            fitted.model.lock().map_err(|_| Error::Config("model lock poisoned".into()))?.save_pretrained(&adapter)?;
            let base = backbone::load(&cfg.backbone, cfg.device.device(), cfg.inference_precision)?;
            fitted.model = Mutex::new(LoraModel::from_pretrained(base.model, &adapter)?);
        }
        fitted.saved.report = FitReport {
            train_rows: rows.len(),
            examples: examples.len(),
            steps: report.steps,
            losses: report.train_losses,
            tokens_per_second: report.tokens_per_second,
            seconds: start.elapsed().as_secs_f64(),
        };
        Ok(fitted)
    }

    /// Loads an imputer saved with [`FittedLlmImputer::save`], reading the backbone from the
    /// path recorded in it.
    pub fn load(dir: impl AsRef<Path>) -> Result<FittedLlmImputer> {
        Self::load_with_backbone(dir, None)
    }

    /// Like [`load`](Self::load), with the backbone read from another place (e.g. on another
    /// machine); it must be the same model the adapter was trained on.
    pub fn load_with_backbone(dir: impl AsRef<Path>, backbone: Option<Backbone>) -> Result<FittedLlmImputer> {
        let dir = dir.as_ref();
        let path = dir.join(SAVED_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut saved: Saved =
            serde_json::from_str(&text).map_err(|source| Error::Json { path: path.clone(), source })?;
        if saved.format != FORMAT {
            return Err(Error::load(&path, format!("format {} is not supported (expected {FORMAT})", saved.format)));
        }
        if let Some(b) = backbone {
            saved.config.backbone = b;
        }
        let cfg = &saved.config;
        let loaded = backbone::load(&cfg.backbone, cfg.device.device(), cfg.inference_precision)?;
        FittedLlmImputer::assemble(saved, loaded, Some(&dir.join(ADAPTER_DIR)))
    }
}

impl Imputer for LlmImputer {
    type Fitted = FittedLlmImputer;

    fn name(&self) -> String {
        format!("llm({})", self.config.backbone.name())
    }

    fn fit(&self, train: &Table) -> rec_table::Result<FittedLlmImputer> {
        Ok(self.fit_llm(train)?)
    }
}

impl FittedLlmImputer {
    fn assemble(saved: Saved, loaded: backbone::Loaded, adapter: Option<&Path>) -> Result<Self> {
        let cfg = &saved.config;
        let info = loaded.model.info();
        let model = match adapter {
            Some(dir) => LoraModel::from_pretrained(loaded.model, dir)?,
            None => {
                let targets = cfg.lora_targets.clone().unwrap_or(info.default_lora_targets.clone());
                let lora = LoraConfig::default()
                    .with_r(cfg.lora_r)
                    .with_alpha(cfg.lora_alpha)
                    .with_dropout(cfg.lora_dropout)
                    .with_target_modules(targets);
                LoraModel::new(loaded.model, lora, cfg.seed)?.with_base_model_name(cfg.backbone.name())
            }
        };
        let texts = TokenTexts::new(&loaded.tokenizer, info.vocab_size)?;
        let codec = &saved.codec;
        let mut plans = Vec::with_capacity(codec.columns().len());
        let mut fallback = Vec::with_capacity(codec.columns().len());
        for (j, c) in codec.columns().iter().enumerate() {
            let fb = match saved.fallback.get(j).cloned().flatten() {
                Some(text) => Some(codec.parse_value(j, &text)?),
                None => None,
            };
            fallback.push(fb);
            if !c.imputable() || c.kind == ColumnKind::Numeric && c.range.is_none() {
                plans.push(None);
                continue;
            }
            if c.kind == ColumnKind::Categorical && c.vocabulary.is_empty() {
                plans.push(None);
                continue;
            }
            let plan = match ColumnGrammar::build(codec, j, &loaded.tokenizer)? {
                ColumnGrammar::Choice { values, trie } => {
                    if values.len() <= cfg.max_choices {
                        let seqs =
                            (0..trie.len()).map(|i| trie.sequence(i).iter().map(|&t| t as i64).collect()).collect();
                        Plan::Score { values, seqs, mean: false, decimals: 0 }
                    } else {
                        Plan::Trie { values, trie }
                    }
                }
                ColumnGrammar::Number(g) => match saved.numeric_values.get(j).cloned().flatten() {
                    Some(xs) if !xs.is_empty() => {
                        let values: Vec<Value> = xs.into_iter().map(Value::Number).collect();
                        let seqs = values
                            .iter()
                            .map(|v| encode(&loaded.tokenizer, &codec.continuation(j, v)?))
                            .collect::<Result<Vec<_>>>()?;
                        Plan::Score { values, seqs, mean: cfg.numeric_mean, decimals: c.decimals }
                    }
                    _ => {
                        let chars = " -.0123456789".chars().collect();
                        Plan::Chars { acceptor: Acceptor::Number(g), candidates: texts.made_of(&chars) }
                    }
                },
                ColumnGrammar::Elements { elements } => {
                    let mut chars: std::collections::BTreeSet<char> = "[], ".chars().collect();
                    chars.extend(elements.iter().flat_map(|e| e.chars()));
                    Plan::Chars { acceptor: Acceptor::Set(elements), candidates: texts.made_of(&chars) }
                }
                ColumnGrammar::Text => Plan::Chars { acceptor: Acceptor::Text, candidates: texts.all_text() },
            };
            plans.push(Some(plan));
        }
        Ok(Self {
            saved,
            model: Mutex::new(model),
            tokenizer: loaded.tokenizer,
            texts,
            eos: loaded.eos,
            plans,
            fallback,
        })
    }

    /// What fitting did (loss history included).
    pub fn report(&self) -> &FitReport {
        &self.saved.report
    }

    /// The settings it was fitted with.
    pub fn config(&self) -> &LlmImputerConfig {
        &self.saved.config
    }

    /// The fitted row codec.
    pub fn codec(&self) -> &RowCodec {
        &self.saved.codec
    }

    /// Whether column `col` is scored (rather than generated).
    pub fn is_scored(&self, col: usize) -> bool {
        self.plans.get(col).and_then(Option::as_ref).is_some_and(Plan::scored)
    }

    /// Writes the imputer to `dir` (created or replaced atomically): `imputer.json` and the
    /// PEFT adapter under `adapter/`.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "imputer".into());
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let json = serde_json::to_vec_pretty(&self.saved)
            .map_err(|source| Error::Json { path: dir.join(SAVED_FILE), source })?;
        std::fs::write(tmp.join(SAVED_FILE), json).map_err(|e| Error::io(tmp.join(SAVED_FILE), e))?;
        self.model
            .lock()
            .map_err(|_| Error::Config("model lock poisoned".into()))?
            .save_pretrained(tmp.join(ADAPTER_DIR))?;
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        let had_old = dir.exists();
        if had_old {
            std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
        if had_old {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        Ok(())
    }

    /// Imputes every missing cell of `table` (ids excluded), with optional draws.
    pub fn impute(&self, table: &Table, options: &ImputeOptions) -> Result<Imputation> {
        let start = Instant::now();
        let codec = &self.saved.codec;
        codec.schema().ensure_same(table.schema(), "LLM imputer")?;
        let cfg = &self.saved.config;
        // Gaps per row: scored columns first, then generated, each in schema order.
        let mut gaps: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut total = 0;
        for r in 0..table.num_rows() {
            let mut cols: Vec<usize> = (0..table.num_columns())
                .filter(|&j| table.is_missing(r, j) && self.plans[j].is_some())
                .filter(|&j| options.only.as_ref().is_none_or(|o| o.contains(&Cell { row: r, col: j })))
                .collect();
            if cols.is_empty() {
                continue;
            }
            cols.sort_by_key(|&j| (!self.is_scored(j), j));
            total += cols.len();
            gaps.push((r, cols));
        }
        let bar = progress(cfg.progress, total as u64, "imputing cells");
        let mut filled: HashMap<usize, Vec<(usize, Value)>> = HashMap::new();
        let mut cells = Vec::with_capacity(total);
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let model = self.model.lock().map_err(|_| Error::Config("model lock poisoned".into()))?;
        let model: &dyn CausalLm = &*model;
        let rounds = gaps.iter().map(|g| g.1.len()).max().unwrap_or(0);
        for round in 0..rounds {
            let mut by_col: HashMap<usize, Vec<usize>> = HashMap::new();
            for (r, cols) in &gaps {
                if let Some(&j) = cols.get(round) {
                    by_col.entry(j).or_default().push(*r);
                }
            }
            let mut order: Vec<usize> = by_col.keys().copied().collect();
            order.sort_unstable();
            for j in order {
                let rows = &by_col[&j];
                // Unique prompts only.
                let mut prompt_of_row = Vec::with_capacity(rows.len());
                let mut unique: Vec<String> = Vec::new();
                let mut seen: HashMap<String, usize> = HashMap::new();
                for &r in rows {
                    let earlier = filled.get(&r).map(Vec::as_slice).unwrap_or(&[]);
                    let p = codec.prompt_with(table, r, j, earlier)?;
                    let k = *seen.entry(p.clone()).or_insert_with(|| {
                        unique.push(p);
                        unique.len() - 1
                    });
                    prompt_of_row.push(k);
                }
                let ids = unique.iter().map(|p| encode(&self.tokenizer, p)).collect::<Result<Vec<_>>>()?;
                let results = self.run_plan(model, j, &ids, options.draws, &mut rng)?;
                let mut count_per_prompt = vec![0usize; unique.len()];
                for &k in &prompt_of_row {
                    count_per_prompt[k] += 1;
                }
                for (&r, &k) in rows.iter().zip(&prompt_of_row) {
                    let res = &results[k];
                    filled.entry(r).or_default().push((j, res.value.clone()));
                    cells.push(CellImputation { cell: Cell { row: r, col: j }, ..res.clone() });
                }
                bar.inc(rows.len() as u64);
            }
        }
        bar.finish_and_clear();
        let fallbacks = cells.iter().filter(|c| c.fallback).count();
        Ok(Imputation { cells, seconds: start.elapsed().as_secs_f64(), fallbacks })
    }

    /// Imputes the prompts `ids` for column `j`.
    fn run_plan(
        &self,
        model: &dyn CausalLm,
        j: usize,
        ids: &[Vec<i64>],
        draws: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<CellImputation>> {
        let cfg = &self.saved.config;
        let codec = &self.saved.codec;
        let dummy = Cell { row: 0, col: j };
        let plan = self.plans[j].as_ref().ok_or_else(|| Error::Config(format!("column {j} has no plan")))?;
        let mut out = Vec::with_capacity(ids.len());
        match plan {
            Plan::Score { values, seqs, mean, decimals } => {
                let per = (ROW_BUDGET / decode::widest_level(seqs)).clamp(1, cfg.batch_size);
                for chunk in ids.chunks(per) {
                    let scores = decode::score_batch(model, chunk, seqs, self.eos)?;
                    for s in scores {
                        let probs = decode::normalise(&s);
                        let (value, p) = decode::pick(values, &probs, *mean, *decimals);
                        let draws = (0..draws).map(|_| values[sample_index(&probs, rng)].clone()).collect();
                        out.push(CellImputation { cell: dummy, value, probability: Some(p), draws, fallback: false });
                    }
                }
            }
            Plan::Trie { .. } | Plan::Chars { .. } => {
                let grammar = match plan {
                    Plan::Trie { trie, .. } => GenGrammar::Trie(trie),
                    Plan::Chars { acceptor, candidates } => GenGrammar::Chars(acceptor, candidates),
                    Plan::Score { .. } => unreachable!("handled above"),
                };
                let read = |g: &decode::Generated| -> Option<Value> {
                    if !g.finished {
                        // A list cut off by the token budget keeps its complete elements.
                        if let Plan::Chars { acceptor: Acceptor::Set(_), .. } = plan {
                            let cut = g.text.rfind(", ").map_or(g.text.as_str(), |at| &g.text[..at]);
                            let closed = format!("{cut}]");
                            if let Plan::Chars { acceptor, .. } = plan {
                                if acceptor.accepts(&closed) {
                                    return codec.parse_value(j, &closed).ok();
                                }
                            }
                        }
                        return None;
                    }
                    match plan {
                        Plan::Trie { values, trie } => {
                            let toks: Vec<u32> = g.tokens.iter().map(|&t| t as u32).collect();
                            trie.complete(&toks).map(|i| values[i].clone())
                        }
                        Plan::Chars { acceptor, .. } => {
                            if acceptor.accepts(&g.text) {
                                codec.parse_value(j, &g.text).ok()
                            } else {
                                None
                            }
                        }
                        Plan::Score { .. } => None,
                    }
                };
                for chunk in ids.chunks(cfg.batch_size) {
                    let greedy = GenerateConfig::greedy(cfg.max_new_tokens);
                    let best = decode::generate_batch(model, chunk, &grammar, &self.texts, self.eos, &greedy)?;
                    let mut sampled: Vec<Vec<Option<Value>>> = vec![Vec::new(); chunk.len()];
                    for _ in 0..draws {
                        let cfg_s = GenerateConfig::sample(cfg.max_new_tokens, 1.0, rng.random());
                        let gens = decode::generate_batch(model, chunk, &grammar, &self.texts, self.eos, &cfg_s)?;
                        for (k, g) in gens.iter().enumerate() {
                            sampled[k].push(read(g));
                        }
                    }
                    for (g, s) in best.iter().zip(sampled) {
                        let fb = self.fallback[j].clone();
                        let (value, probability, fallback) = match read(g) {
                            Some(v) if g.finished => (Some(v), Some(g.logprob.exp()), false),
                            Some(v) => (Some(v), None, false),
                            None => (fb.clone(), None, true),
                        };
                        let value = value.ok_or_else(|| {
                            Error::Config(format!("column '{}' has no value to fall back on", codec.columns()[j].name))
                        })?;
                        let draws = s.into_iter().map(|d| d.unwrap_or_else(|| value.clone())).collect();
                        out.push(CellImputation { cell: dummy, value, probability, draws, fallback });
                    }
                }
            }
        }
        Ok(out)
    }

    /// `k` imputed tables for multiple imputation: table `i` takes draw `i` of every cell.
    pub fn transform_multiple(&self, table: &Table, k: usize, seed: u64) -> Result<Vec<Table>> {
        let imp = self.impute(table, &ImputeOptions { draws: k, seed, only: None })?;
        (0..k).map(|i| Ok(table.with_filled(imp.cells.iter().map(|c| (c.cell, c.draws[i].clone())))?)).collect()
    }
}

fn sample_index(probs: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let mut u: f64 = rng.random();
    for (i, p) in probs.iter().enumerate() {
        if u < *p {
            return i;
        }
        u -= p;
    }
    probs.len().saturating_sub(1)
}

impl FittedImputer for FittedLlmImputer {
    fn schema(&self) -> &Schema {
        self.saved.codec.schema()
    }

    fn transform(&self, table: &Table) -> rec_table::Result<Table> {
        let imp = self.impute(table, &ImputeOptions::default())?;
        table.with_filled(imp.cells.into_iter().map(|c| (c.cell, c.value)))
    }
}

/// The directory a fitted imputer is saved in, for a table file: `users.csv` → `users.llm/`.
pub fn default_save_dir(table: &Path) -> PathBuf {
    table.with_extension("llm")
}
