//! Settings of the LLM imputer (`llm_imputer::LlmImputer`): nested, with the defaults in one place.
//!
//! The LoRA and trainer settings are the engine's own types ([`LoraConfig`], [`TrainConfig`]),
//! not copies; what only the imputer knows (which examples it trains on, the held-out check,
//! how cells are read off the model) has its own small struct.

use serde::{Deserialize, Deserializer, Serialize};

pub use rec_table::DeviceChoice;

use crate::backbone::{Backbone, Precision};
use crate::error::{Error, Result};
use crate::lora::LoraConfig;
use crate::train::{Schedule, TrainConfig};

/// What the fine-tune's loss is computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Every row with observed cells, its observed cells in a fresh random order each epoch;
    /// the loss covers each *value* and the token that ends it, never the column names or
    /// separators. The last value of a row is exactly the question imputation asks (the other
    /// cells as context, the target last); the earlier ones ask it with fewer cells known.
    #[default]
    Values,
    /// One example per row and epoch: the row's other observed cells in random order, then one
    /// randomly chosen target cell; the loss covers only the target value and its end token
    /// (TabuLa-8B's framing).
    TargetLast,
    /// GReaT's objective: the whole shuffled row, every token a target (complete rows only).
    FullRow,
}

impl Objective {
    /// The names [`FromStr`](std::str::FromStr) accepts.
    pub const NAMES: [&'static str; 3] = ["values", "target_last", "full_row"];
}

impl std::str::FromStr for Objective {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        crate::overlay::parse_name(s, "objective", &Self::NAMES)
    }
}

/// Which rows and cells the fine-tune sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExampleConfig {
    /// The loss.
    pub objective: Objective,
    /// Most training rows (a seeded sample is taken from larger tables).
    pub max_train_rows: usize,
    /// Observed cells held out of training and scored during it (at most one per row); `0`
    /// turns the check (and with it early stopping and the prior correction) off.
    pub holdout_cells: usize,
    /// Score the held-out cells every this many optimizer steps (and at the end).
    pub eval_every: usize,
    /// Stop when this many held-out checks in a row did not beat the best one; `0` never stops
    /// early. The best adapter is kept either way.
    pub patience: usize,
    /// Numbers written by quantile bin: a numeric column with more distinct observed values
    /// than this is cut into this many bins of about equal counts, and each of its numbers (in
    /// training, in prompts and among the scored answers) is written as its bin's median, so
    /// the model learns a choice among a few numbers instead of dozens. The filled number is
    /// still the probability-weighted mean over the bins (`fill.numeric_mean`). `0` (the
    /// default) writes numbers as they are; `1` is refused.
    pub numeric_bins: usize,
}

impl Default for ExampleConfig {
    fn default() -> Self {
        ExampleConfig {
            objective: Objective::Values,
            max_train_rows: 4096,
            holdout_cells: 200,
            eval_every: 100,
            patience: 3,
            numeric_bins: 0,
        }
    }
}

/// After which candidates of a scored column the token that ends a value (`,` or `.`) is
/// scored. Saved imputers written before this choice existed say `true` (every candidate) or
/// `false` (none) and keep their meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndToken {
    /// Never: a value that is a token-prefix of another (`7` of `70`) takes the longer one's
    /// mass.
    Off,
    /// After every candidate.
    Every,
    /// Only after a candidate that is a token-prefix of another, where the end is what tells
    /// them apart; the other candidates are read off the tokens before it, which spares a
    /// forward row each (ages 18-64 as two tokens: 1 of 47 candidates needs it, none does).
    #[default]
    Prefixes,
}

impl EndToken {
    /// The names it is written as.
    pub const NAMES: [&'static str; 3] = ["off", "every", "prefixes"];
}

impl std::str::FromStr for EndToken {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "off" => Ok(EndToken::Off),
            "every" => Ok(EndToken::Every),
            "prefixes" => Ok(EndToken::Prefixes),
            _ => Err(Error::invalid(format!("end token '{s}' is not one of {}", Self::NAMES.join(", ")))),
        }
    }
}

impl<'de> Deserialize<'de> for EndToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Flag(bool),
            Name(String),
        }
        match Repr::deserialize(d)? {
            Repr::Flag(true) => Ok(EndToken::Every),
            Repr::Flag(false) => Ok(EndToken::Off),
            Repr::Name(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The order a question writes its row's known cells in (its first view; other views are
/// shuffles). Training shows the cells in random orders, so every order is one the model has
/// learnt; the order decides how much of their beginnings sorted rows share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnownOrder {
    /// The table's column order: how every fill before this option existed asked.
    Schema,
    /// Columns that take the fewest distinct values first (prompt-codec's
    /// `RowCodec::fewest_values_first`; the default): sorted rows then share longer prompt
    /// beginnings, which the fill computes once. On AdClick the whole fill took 195 s against
    /// 232 s in the schema order, and the demo table's accuracies were the same within seed
    /// noise (docs/BENCHMARKS.md, docs/RESULTS.md).
    #[default]
    FewestValues,
}

impl KnownOrder {
    /// The names it is written as.
    pub const NAMES: [&'static str; 2] = ["schema", "fewest_values"];

    /// What a saved imputer that predates the option asked with.
    fn saved_before() -> Self {
        KnownOrder::Schema
    }
}

impl std::str::FromStr for KnownOrder {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        crate::overlay::parse_name(s, "known order", &Self::NAMES)
    }
}

/// How missing cells are read off the fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FillConfig {
    /// Columns with at most this many allowed values are scored, larger ones generated.
    pub max_choices: usize,
    /// Scored numeric columns take the probability-weighted mean (best for squared error)
    /// instead of the most likely value.
    pub numeric_mean: bool,
    /// After which candidates the token that ends a value is scored, so that a value that is a
    /// token-prefix of another (`7` of `70`) does not take its mass.
    pub end_token: EndToken,
    /// Subtract `λ ×` each candidate's log-probability under a context-free prompt, with `λ`
    /// per column chosen on the held-out cells (needs `examples.holdout_cells > 0`).
    pub prior_correction: bool,
    /// Prompts per forward pass of generation, of the encoder head, and of scoring when
    /// `share_prefixes` is off (shared scoring batches by tokens).
    pub batch_size: usize,
    /// Most tokens generated for one value.
    pub max_new_tokens: usize,
    /// Views of each scored cell: its question asked with the row's known cells in this many
    /// orders (the schema order, then shuffles seeded by row and column), the candidates'
    /// log-scores averaged over the views. Training shows cells in random orders, so each
    /// order is a question the model has learnt; `1` asks once, in the schema order. Costs
    /// this many times the scoring (generated columns are asked once).
    pub orders: usize,
    /// Score the prompts of a scored column together, sorted, computing each prompt prefix
    /// that several prompts share once (the default). `false` runs every prompt whole in
    /// batches of `batch_size`, as before this option existed: the same scores up to
    /// floating-point rounding, several times slower on tables whose rows start alike.
    pub share_prefixes: bool,
    /// Prompt tokens (counted before sharing) that shared scoring runs together: bounds the
    /// memory of the prompts' caches, and is the unit of work of the `workers`.
    pub chunk_tokens: usize,
    /// Threads that score a column's chunks of prompts side by side with shared scoring, each
    /// running its own handle on the model with one libtorch thread. `1` (the default) scores
    /// on the calling thread with all of libtorch's threads; `0` picks one worker per libtorch
    /// thread on a CPU and 1 on a GPU. The fills are the same either way; which is faster
    /// depends on the CPU (docs/BENCHMARKS.md). A column of one chunk is scored on the calling
    /// thread whatever the count.
    pub workers: usize,
    /// Rows whose gaps are filled together, a row's next question continuing the key/value
    /// cache of its previous one (the question after a gap is the previous question, the value
    /// filled and the new one), so a row's cells are read once however many gaps it has. The
    /// rows are sorted by their gaps, then their first question, before they are cut into
    /// blocks. Bounds the memory of the kept caches (a few MB per row on SmolLM2 in f32). `0`
    /// fills round by round over the whole table, column by column, each question run from
    /// its first token, as before this option existed; so does a fill with retrieval, without
    /// `share_prefixes`, or with `workers` other than 1 (the kept caches live on one thread).
    /// The fills agree up to floating-point rounding.
    pub block_rows: usize,
    /// The order a question writes the row's known cells in. A saved imputer without this
    /// field asks in the schema order, as it did when it was saved.
    #[serde(default = "KnownOrder::saved_before")]
    pub known_order: KnownOrder,
}

impl Default for FillConfig {
    fn default() -> Self {
        FillConfig {
            max_choices: 64,
            numeric_mean: true,
            end_token: EndToken::Prefixes,
            prior_correction: true,
            batch_size: 16,
            max_new_tokens: 32,
            orders: 1,
            share_prefixes: true,
            chunk_tokens: 4096,
            workers: 1,
            block_rows: 256,
            known_order: KnownOrder::FewestValues,
        }
    }
}

/// The encoder head: per-column models on the fine-tuned model's final hidden state at the end
/// of a cell's prompt, trained after the fine-tune on training cells and mixed with the scored
/// candidates (categorical and numeric columns that are scored; generated columns never use it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadConfig {
    /// Weight of the head's answer against the scored candidates' (log-probabilities for
    /// categories, values for numbers): `0` trains no head, `1` uses the head alone.
    pub weight: f64,
    /// Most prompts (one cell of one training row each) whose hidden states train the heads.
    pub max_examples: usize,
}

impl Default for HeadConfig {
    fn default() -> Self {
        HeadConfig { weight: 0.0, max_examples: 2048 }
    }
}

/// Whether prompts carry similar training rows ([`RetrievalConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetrievalMode {
    /// Never.
    Off,
    /// Always (with `k > 0`).
    On,
    /// Decided by the fit from the table: on when the `k` most similar rows answer a sample of
    /// the table's observed category cells clearly better than a model of each column given
    /// each other cell alone (naive Bayes), i.e. when rows repeat records (several rows of one
    /// user); off on tables too small to tell, and with the full-row objective. The fit
    /// report's `retrieval` says what it measured and chose.
    #[default]
    Auto,
}

impl RetrievalMode {
    /// The names [`FromStr`](std::str::FromStr) accepts.
    pub const NAMES: [&'static str; 3] = ["off", "on", "auto"];
}

impl std::str::FromStr for RetrievalMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        crate::overlay::parse_name(s, "retrieval mode", &Self::NAMES)
    }
}

impl std::fmt::Display for RetrievalMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Self::NAMES[*self as usize])
    }
}

/// The retrieval mode's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrievalConfig {
    /// Whether to retrieve (default [`RetrievalMode::Auto`]). A saved imputer's configuration
    /// holds what the fit chose (`on` or `off`). Until session 26 there was no mode and
    /// `k > 0` alone turned retrieval on; such a configuration now means `auto`.
    pub mode: RetrievalMode,
    /// Similar rows written before each prompt when retrieval is on; `0` turns retrieval off
    /// whatever `mode` says. With retrieval on, every training example is target-last (one
    /// target per row and pass, its neighbours chosen for it), whatever
    /// [`ExampleConfig::objective`](ExampleConfig::objective) says, except that the full-row
    /// objective is refused.
    pub k: usize,
    /// Most reference rows kept (a seeded sample of larger tables); the reference is saved
    /// with the imputer.
    pub max_reference_rows: usize,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        RetrievalConfig { mode: RetrievalMode::Auto, k: 3, max_reference_rows: 20_000 }
    }
}

impl RetrievalConfig {
    /// Whether retrieval is on for certain (`mode` on and `k > 0`); `auto` is decided by the fit.
    pub fn is_on(&self) -> bool {
        self.mode == RetrievalMode::On && self.k > 0
    }

    /// Whether the fit decides (`mode` auto and `k > 0`).
    pub fn is_auto(&self) -> bool {
        self.mode == RetrievalMode::Auto && self.k > 0
    }
}

/// Fewest observed category cells `auto` retrieval's probe needs to decide
/// ([`RetrievalProbe`]); with fewer, retrieval stays off.
pub const PROBE_MIN_CELLS: usize = 500;

/// How much larger a share of the probed cells the similar rows must answer right than naive
/// Bayes for `auto` to turn retrieval on ([`RetrievalProbe`]). On the tables measured (session
/// 26, docs/RESULTS.md, "Retrieval decided by the table") the difference is about +0.1 on
/// AdClick, where retrieval beats every other recipe, and below 0 on the demo table, where it
/// loses to the default; the sampling error of the difference on 2,000 cells is about 0.01.
pub const PROBE_MARGIN: f64 = 0.04;

/// What `retrieval.mode` `auto` measured on the fit table, and what it chose: whether a
/// cell is answered better by the rows most like its row (retrieval's neighbours) than by a
/// model of its column given each other cell of the row on its own (naive Bayes), which the
/// fine-tune learns at least as well. Where rows repeat records (several rows of one user,
/// each with other cells missing), the neighbours win clearly and retrieval pays; where the
/// columns follow a pattern shared by many rows, they do not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetrievalProbe {
    /// Observed category cells asked (a seeded sample of the training rows' cells, held-out
    /// cells excluded), each with its own row's value hidden.
    pub cells: usize,
    /// The similar rows asked per cell (`retrieval.k`); 0 when there were too few cells, and in
    /// probes saved before it was recorded.
    pub k: usize,
    /// Cells the majority of the `k` most similar other rows answered right (ties: the most
    /// similar row's value).
    pub neighbours_right: usize,
    /// Cells naive Bayes answered right (counts over the fit table without the asked cell's
    /// row; numbers in bins one standard deviation wide; sets and text not used).
    pub bayes_right: usize,
    /// Whether retrieval was turned on: at least [`PROBE_MIN_CELLS`] cells and the neighbours
    /// right on a larger share of them than naive Bayes, by more than [`PROBE_MARGIN`].
    pub on: bool,
    /// Seconds the probe took (building the retrieval reference included).
    pub seconds: f64,
}

impl RetrievalProbe {
    /// The neighbours' accuracy minus naive Bayes's.
    pub fn margin(&self) -> f64 {
        (self.neighbours_right as f64 - self.bayes_right as f64) / self.cells.max(1) as f64
    }

    /// One line for logs and reports.
    pub fn summary(&self) -> String {
        let state = if self.on { "on" } else { "off" };
        if self.cells < PROBE_MIN_CELLS {
            return format!(
                "retrieval (auto) off: {} observed category cells, fewer than the {PROBE_MIN_CELLS} needed to tell",
                self.cells
            );
        }
        let share = |n: usize| 100.0 * n as f64 / self.cells as f64;
        // Results saved before the time was recorded read 0 seconds: no time is shown for them.
        let time = if self.seconds > 0.0 { format!("; {:.1} s", self.seconds) } else { String::new() };
        // Likewise a probe saved before its `k` was recorded reads 0: no count is shown.
        let rows =
            if self.k > 0 { format!("the {} most similar rows", self.k) } else { "the most similar rows".into() };
        format!(
            "retrieval (auto) {state}: {rows} answer {:.1}% of {} observed category cells, naive \
             Bayes {:.1}% ({:+.1} points; on above {:+.1}{time})",
            share(self.neighbours_right),
            self.cells,
            share(self.bayes_right),
            100.0 * self.margin(),
            100.0 * PROBE_MARGIN,
        )
    }
}

/// How much larger a share of the probed cells naive Bayes must answer right than each
/// column's most frequent value for [`slow_cpu_depth`](LlmImputerConfig::slow_cpu_depth) to
/// apply ([`DepthProbe`]). Measured (session 32, docs/RESULTS.md, "The depth decided by the
/// table", 3 seeds each): +0.41 to +0.45 on the demo table, where 6 blocks beat every block on
/// a CPU without fast bf16, against +0.01 to +0.02 on the MovieLens user table, where they
/// cost age 2 RMSE, and +0.01 to +0.05 on AdClick; the sampling error of the difference on
/// 2,000 cells is about 0.01.
pub const DEPTH_PROBE_MARGIN: f64 = 0.10;

/// What a fit that [`slow_cpu_depth`](LlmImputerConfig::slow_cpu_depth) would make shallower
/// measured on its table first, and what it chose: whether the table's columns predict each
/// other, i.e. whether naive Bayes on a row's other cells answers a sample of the observed
/// category cells (each with its own row left out of the counts) clearly more often than the
/// column's most frequent value. Where they do, the answers are in the table and the fine-tune
/// learns them faster through fewer blocks; where they do not, what the pretrained model knew
/// is most of what the fit has (the MovieLens user table's ages by occupation), and every
/// block runs. With fewer than [`PROBE_MIN_CELLS`] category cells it cannot tell, and every
/// block runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DepthProbe {
    /// Observed category cells asked (a seeded sample of the training rows' cells).
    pub cells: usize,
    /// Cells naive Bayes answered right (counts over the fit table without the asked cell's
    /// row; numbers in bins one standard deviation wide; sets and text not used).
    pub bayes_right: usize,
    /// Cells the column's most frequent value (the asked row left out) answered right.
    pub mode_right: usize,
    /// Whether the shallower backbone ran: at least [`PROBE_MIN_CELLS`] cells and naive
    /// Bayes right on a larger share of them than the mode, by more than
    /// [`DEPTH_PROBE_MARGIN`].
    pub shallow: bool,
    /// Seconds the probe took.
    pub seconds: f64,
}

impl DepthProbe {
    /// Naive Bayes's accuracy minus the mode's.
    pub fn margin(&self) -> f64 {
        (self.bayes_right as f64 - self.mode_right as f64) / self.cells.max(1) as f64
    }

    /// One line for logs and reports.
    pub fn summary(&self) -> String {
        let state = if self.shallow { "fewer blocks" } else { "every block" };
        if self.cells < PROBE_MIN_CELLS {
            return format!(
                "depth (slow CPU) {state}: {} observed category cells, fewer than the {PROBE_MIN_CELLS} needed to \
                 tell whether the columns predict each other",
                self.cells
            );
        }
        let share = |n: usize| 100.0 * n as f64 / self.cells as f64;
        format!(
            "depth (slow CPU) {state}: naive Bayes on the other cells answers {:.1}% of {} observed category \
             cells, the column's mode {:.1}% ({:+.1} points; fewer blocks above {:+.1}; {:.1} s)",
            share(self.bayes_right),
            self.cells,
            share(self.mode_right),
            100.0 * self.margin(),
            100.0 * DEPTH_PROBE_MARGIN,
            self.seconds,
        )
    }
}

/// Settings of the LLM imputer (`llm_imputer::LlmImputer`). Every field has a default; build one with
/// [`LlmImputerConfig::new`] and the `with_*` setters, or from JSON (missing fields take the
/// defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmImputerConfig {
    /// The pretrained model to fine-tune (default: SmolLM2-135M-Instruct from the setup's cache).
    pub backbone: Backbone,
    /// Run a shallower backbone: only `depth` of its transformer blocks, the first `depth − 1`
    /// and the last (see [`kept_blocks`]); a number at least the backbone's keeps every block.
    /// Each step, held-out check and fill costs less (a step through 6 of SmolLM2's 30 blocks
    /// about a third of one through all), so a time budget buys more steps. `None` (the default): every block, except where
    /// [`slow_cpu_depth`](Self::slow_cpu_depth) applies. A fitted imputer saves the depth it
    /// ran here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
    /// Where the model runs.
    pub device: DeviceChoice,
    /// Precision of the frozen base while fine-tuning ([`Precision::Auto`]: bf16 where the
    /// hardware computes it natively, f32 elsewhere). Adapters and optimizer state are f32.
    pub precision: Precision,
    /// Precision of the frozen base while imputing (and after loading a saved imputer).
    pub inference_precision: Precision,
    /// The adapters. An empty `target_modules` adapts every linear layer of the backbone.
    #[serde(deserialize_with = "overlay_lora")]
    pub lora: LoraConfig,
    /// The fine-tune: budget (`epochs`, `max_steps`, `max_seconds`), learning rate and schedule,
    /// batch size, bucketing; `seed` also seeds row sampling, column orders, the held-out cells
    /// and draws; `progress` also shows the imputation's progress bar.
    #[serde(deserialize_with = "overlay_train")]
    pub train: TrainConfig,
    /// Which examples it trains on and the held-out check.
    pub examples: ExampleConfig,
    /// How cells are read off the model.
    pub fill: FillConfig,
    /// The encoder head mixed into the scored columns.
    pub head: HeadConfig,
    /// Similar training rows written before each prompt (off by default).
    pub retrieval: RetrievalConfig,
    /// Seconds for the whole fit and the fill of the table it is fitted on, on a CPU where the
    /// base does not run in fast bf16 (an f32 base, or bf16 that the CPU emulates or computes
    /// slowly; see [`cpu_bf16_pays`](crate::cpu_bf16_pays)), when `train.max_seconds` is not
    /// set: there a step costs about twice as much or more, and the default step budget would
    /// overrun the few minutes a demo-sized table should take. The fine-tune gets what is left
    /// after the time already spent and the estimated time of the work after it (the last
    /// held-out check, the calibration and the fill of the table's missing cells, at the pace
    /// the held-out checks scored their cells); its schedule is fitted to the steps that fit
    /// (see [`TrainConfig::max_seconds`]) and the fit says so on stderr and in its report. A
    /// table filled other than the one fitted on is not counted. `None` keeps the step budget
    /// whatever the CPU.
    pub slow_cpu_seconds: Option<f64>,
    /// The [`depth`](Self::depth) of a fit that `slow_cpu_seconds` holds (and that sets no
    /// `depth` of its own), on a table whose columns predict each other: there the budget buys
    /// SmolLM2 a hundred-odd steps through all 30 blocks, and 6 blocks take about three times
    /// as many in the same time and learn more from them (docs/RESULTS.md, "A shallower
    /// backbone where bf16 is slow"). On a table whose columns say little about each other the
    /// answers come from what the pretrained blocks know, and dropping them cost the MovieLens
    /// user table's age 2 RMSE; so the fit first asks its table ([`DepthProbe`]: naive Bayes
    /// against each column's mode on its observed category cells) and keeps every block unless
    /// the columns predict each other. The fit says what it measured and ran on stderr and in
    /// its report. `None` keeps every block there too.
    pub slow_cpu_depth: Option<usize>,
}

/// The imputer's adapters: rank 16, alpha 32, no dropout, every linear layer.
fn imputer_lora() -> LoraConfig {
    LoraConfig {
        r: 16,
        alpha: 32.0,
        dropout: 0.0,
        target_modules: Vec::new(),
        use_rslora: false,
        layers_to_transform: None,
        last_layers: None,
    }
}

/// The imputer's fine-tune: 400 steps of 8 examples at 2e-3, cosine after 16 warm-up steps,
/// batches drawn at random (not bucketed by length). Twice the updates of 16-example batches
/// for the same examples and about 10% more time: on the demo table the held-out check and
/// the hidden cells both come out better (docs/RESULTS.md, "Against the best possible answer").
fn imputer_train() -> TrainConfig {
    TrainConfig {
        learning_rate: 2e-3,
        schedule: Schedule::Cosine,
        warmup_steps: 16,
        epochs: 1,
        max_steps: Some(400),
        batch_size: 8,
        bucket_by_length: false,
        max_grad_norm: Some(1.0),
        ..TrainConfig::default()
    }
}

impl LlmImputerConfig {
    /// The settings objects inside the imputer's settings, each of which a config file may
    /// give in part.
    pub const SECTIONS: [&'static str; 6] = ["lora", "train", "examples", "fill", "head", "retrieval"];

    /// `self` with a config file's partial settings `given` (a JSON object) put over it: a
    /// top-level field replaces `self`'s, and a settings object ([`SECTIONS`](Self::SECTIONS))
    /// replaces only the fields it names, keeping `self`'s for the rest. (Deserialising a
    /// partial object directly gives each section's left-out fields the values a *saved*
    /// imputer without them had, e.g. `fill.known_order` in the schema order.)
    ///
    /// ```
    /// use llm_config::{KnownOrder, LlmImputerConfig};
    ///
    /// let c = LlmImputerConfig::default().overlay(serde_json::json!({"fill": {"orders": 3}}))?;
    /// assert_eq!((c.fill.orders, c.fill.known_order), (3, KnownOrder::FewestValues));
    /// # Ok::<(), llm_config::Error>(())
    /// ```
    pub fn overlay(&self, given: serde_json::Value) -> Result<Self> {
        let serde_json::Value::Object(mut given) = given else {
            return Err(Error::invalid(format!("expected an object of LLM imputer settings, got {given}")));
        };
        let base = serde_json::to_value(self).map_err(|e| Error::invalid(e.to_string()))?;
        for key in Self::SECTIONS {
            if let (Some(serde_json::Value::Object(over)), Some(serde_json::Value::Object(fields))) =
                (given.get(key), base.get(key))
            {
                let mut fields = fields.clone();
                fields.extend(over.clone());
                given.insert(key.to_string(), serde_json::Value::Object(fields));
            }
        }
        crate::overlay(self, serde_json::Value::Object(given))
    }
}

/// For `#[serde(deserialize_with = …)]` on a config file's `llm` object: the settings it
/// gives over the imputer's defaults ([`LlmImputerConfig::overlay`]).
pub fn deserialize_llm_config<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<LlmImputerConfig, D::Error> {
    use serde::de::Error as _;
    let given = serde_json::Value::deserialize(d)?;
    LlmImputerConfig::default().overlay(given).map_err(D::Error::custom)
}

/// A partial `lora` object keeps the imputer's values for the fields it leaves out (not
/// [`LoraConfig`]'s own defaults, which are PEFT's).
fn overlay_lora<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<LoraConfig, D::Error> {
    crate::overlay::deserialize_over(d, &imputer_lora())
}

/// A partial `train` object keeps the imputer's values for the fields it leaves out.
fn overlay_train<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<TrainConfig, D::Error> {
    crate::overlay::deserialize_over(d, &imputer_train())
}

impl Default for LlmImputerConfig {
    fn default() -> Self {
        LlmImputerConfig {
            backbone: Backbone::default_smollm2(),
            depth: None,
            device: DeviceChoice::Auto,
            precision: Precision::Auto,
            inference_precision: Precision::Auto,
            lora: imputer_lora(),
            train: imputer_train(),
            examples: ExampleConfig::default(),
            fill: FillConfig::default(),
            head: HeadConfig::default(),
            retrieval: RetrievalConfig::default(),
            slow_cpu_seconds: Some(SLOW_CPU_SECONDS),
            slow_cpu_depth: Some(SLOW_CPU_DEPTH),
        }
    }
}

/// The default [`LlmImputerConfig::slow_cpu_depth`].
pub const SLOW_CPU_DEPTH: usize = 6;

/// The blocks a backbone of `blocks` transformer blocks keeps at [`LlmImputerConfig::depth`]
/// `depth`: the first `depth − 1` and the last (every block when `depth ≥ blocks`). The last
/// block stays because it writes what the LM head reads; Gromov et al. (2024) found the deep
/// blocks short of the last the ones a model misses least.
///
/// ```
/// assert_eq!(llm_config::kept_blocks(4, 30), vec![0, 1, 2, 29]);
/// assert_eq!(llm_config::kept_blocks(40, 3), vec![0, 1, 2]);
/// ```
pub fn kept_blocks(depth: usize, blocks: usize) -> Vec<usize> {
    if depth >= blocks {
        return (0..blocks).collect();
    }
    (0..depth.saturating_sub(1)).chain(blocks.checked_sub(1)).collect()
}

/// The default [`LlmImputerConfig::slow_cpu_seconds`]: the fit and fill of a table inside
/// 5 minutes, with room for the error of the estimate.
pub const SLOW_CPU_SECONDS: f64 = 280.0;

impl LlmImputerConfig {
    /// Defaults with the given backbone.
    pub fn new(backbone: Backbone) -> Self {
        Self { backbone, ..Self::default() }
    }

    /// Sets the passes over the training rows and lets them decide the step count.
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.train.epochs = epochs;
        self.train.max_steps = None;
        self
    }

    /// Sets a fixed number of optimizer steps.
    pub fn with_max_steps(mut self, steps: usize) -> Self {
        self.train.max_steps = Some(steps);
        self
    }

    /// Sets the peak learning rate.
    pub fn with_learning_rate(mut self, lr: f64) -> Self {
        self.train.learning_rate = lr;
        self
    }

    /// Sets the most training rows.
    pub fn with_max_train_rows(mut self, rows: usize) -> Self {
        self.examples.max_train_rows = rows;
        self
    }

    /// Sets the seed of everything random.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.train.seed = seed;
        self
    }

    /// Turns progress bars on or off.
    pub fn with_progress(mut self, progress: bool) -> Self {
        self.train.progress = progress;
        self
    }

    /// Sets the device.
    pub fn with_device(mut self, device: DeviceChoice) -> Self {
        self.device = device;
        self
    }

    /// Sets the precision of the frozen base, while training and imputing.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self.inference_precision = precision;
        self
    }

    /// Sets the LoRA rank and alpha.
    pub fn with_lora(mut self, r: usize, alpha: f64) -> Self {
        self.lora.r = r;
        self.lora.alpha = alpha;
        self
    }

    /// Sets the encoder head's weight (0 trains none).
    pub fn with_head_weight(mut self, weight: f64) -> Self {
        self.head.weight = weight;
        self
    }

    /// Turns retrieval on with `k` similar training rows written before each prompt (`0`
    /// turns it off); [`RetrievalMode::Auto`] (the default) lets the fit decide.
    pub fn with_retrieval(mut self, k: usize) -> Self {
        self.retrieval.k = k;
        self.retrieval.mode = if k > 0 { RetrievalMode::On } else { RetrievalMode::Off };
        self
    }

    /// Sets the training objective.
    pub fn with_objective(mut self, objective: Objective) -> Self {
        self.examples.objective = objective;
        self
    }

    /// The seed of everything random.
    pub fn seed(&self) -> u64 {
        self.train.seed
    }

    /// The time limit on a CUDA device (`on_cuda`) or this CPU: `train.max_seconds` (the
    /// fine-tune's) when set, else [`slow_cpu_seconds`](Self::slow_cpu_seconds) (the fit's and
    /// the fill's) on a CPU where the base does not run in fast bf16, else none.
    pub fn time_limit(&self, on_cuda: bool) -> Option<f64> {
        self.time_limit_where(on_cuda, crate::cpu_bf16_pays())
    }

    /// [`time_limit`](Self::time_limit) on a CPU for which bf16 pays or not (`bf16_pays`).
    pub fn time_limit_where(&self, on_cuda: bool, bf16_pays: bool) -> Option<f64> {
        if self.train.max_seconds.is_some() {
            return self.train.max_seconds;
        }
        let fast = on_cuda || (self.precision.resolve_where(on_cuda, bf16_pays) == Precision::Bf16 && bf16_pays);
        if fast {
            None
        } else {
            self.slow_cpu_seconds
        }
    }

    /// The [`depth`](Self::depth) a fit runs on a CUDA device (`on_cuda`) or this CPU: `depth`
    /// when set, else [`slow_cpu_depth`](Self::slow_cpu_depth) where `slow_cpu_seconds` holds
    /// the fit (no `train.max_seconds` of its own), else every block (`None`). A
    /// `slow_cpu_depth` applies only where the fit's [`DepthProbe`] finds that the table's
    /// columns predict each other; the fit saves the depth it ran as `depth`.
    pub fn fit_depth(&self, on_cuda: bool) -> Option<usize> {
        self.fit_depth_where(on_cuda, crate::cpu_bf16_pays())
    }

    /// [`fit_depth`](Self::fit_depth) on a CPU for which bf16 pays or not (`bf16_pays`).
    pub fn fit_depth_where(&self, on_cuda: bool, bf16_pays: bool) -> Option<usize> {
        if self.depth.is_some() {
            return self.depth;
        }
        self.slow_cpu_depth.filter(|_| self.slow_cpu_budget_where(on_cuda, bf16_pays).is_some())
    }

    /// The seconds [`slow_cpu_seconds`](Self::slow_cpu_seconds) gives the whole fit and fill on
    /// a CUDA device (`on_cuda`) or this CPU: where the base does not run in fast bf16 and the
    /// settings give no `train.max_seconds` of their own (which limits the fine-tune alone).
    pub fn slow_cpu_budget(&self, on_cuda: bool) -> Option<f64> {
        self.slow_cpu_budget_where(on_cuda, crate::cpu_bf16_pays())
    }

    /// [`slow_cpu_budget`](Self::slow_cpu_budget) on a CPU for which bf16 pays or not.
    pub fn slow_cpu_budget_where(&self, on_cuda: bool, bf16_pays: bool) -> Option<f64> {
        self.time_limit_where(on_cuda, bf16_pays).filter(|_| self.train.max_seconds.is_none())
    }

    /// Checks the values (the nested LoRA and trainer settings included).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::invalid(m.to_string()));
        let mut lora = self.lora.clone();
        if lora.target_modules.is_empty() {
            lora.target_modules = vec!["(every linear layer)".into()];
        }
        lora.validate().map_err(|e| e.within("lora"))?;
        if self.depth == Some(0) || self.slow_cpu_depth == Some(0) {
            return bad("depth and slow_cpu_depth must be positive when set (null for every block)");
        }
        self.train.validate().map_err(|e| e.within("train"))?;
        if self.examples.max_train_rows == 0 {
            return bad("examples.max_train_rows must be positive");
        }
        if self.examples.numeric_bins == 1 {
            return bad("examples.numeric_bins must be 0 (numbers as they are) or at least 2");
        }
        if self.examples.holdout_cells > 0 && self.examples.eval_every == 0 {
            return bad("examples.eval_every must be positive when holdout_cells > 0");
        }
        if self.fill.batch_size == 0
            || self.fill.max_choices == 0
            || self.fill.max_new_tokens == 0
            || self.fill.orders == 0
            || self.fill.chunk_tokens == 0
        {
            return bad("fill.batch_size, fill.max_choices, fill.max_new_tokens, fill.orders and fill.chunk_tokens must be positive");
        }
        if !(0.0..=1.0).contains(&self.head.weight) {
            return bad("head.weight must be between 0 and 1");
        }
        if self.head.weight > 0.0 && self.head.max_examples == 0 {
            return bad("head.max_examples must be positive when head.weight > 0");
        }
        if self.slow_cpu_seconds.is_some_and(|s| s.is_nan() || s <= 0.0) {
            return bad("slow_cpu_seconds must be positive when set (null turns the limit off)");
        }
        if self.retrieval.is_on() && self.examples.objective == Objective::FullRow {
            return bad("retrieval (retrieval.mode on) asks one cell per prompt; it cannot train on full rows");
        }
        if (self.retrieval.is_on() || self.retrieval.is_auto()) && self.retrieval.max_reference_rows == 0 {
            return bad("retrieval.max_reference_rows must be positive unless retrieval is off");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_keeps_the_first_blocks_and_the_last() {
        assert_eq!(kept_blocks(1, 30), vec![29]);
        assert_eq!(kept_blocks(10, 30), [0, 1, 2, 3, 4, 5, 6, 7, 8, 29]);
        assert_eq!(kept_blocks(30, 30), (0..30).collect::<Vec<_>>());
        let c = LlmImputerConfig::default().overlay(serde_json::json!({"depth": 10})).unwrap();
        assert_eq!(c.depth, Some(10));
        c.validate().unwrap();
        let zero = LlmImputerConfig { depth: Some(0), ..LlmImputerConfig::default() };
        assert!(zero.validate().unwrap_err().to_string().contains("depth"));
        // Where the slow-CPU budget holds the fit, 6 blocks unless the settings say otherwise.
        let d = LlmImputerConfig::default();
        assert_eq!(d.fit_depth_where(false, false), Some(SLOW_CPU_DEPTH));
        assert_eq!((d.fit_depth_where(false, true), d.fit_depth_where(true, false)), (None, None));
        assert_eq!(c.fit_depth_where(false, true), Some(10), "a depth of its own applies everywhere");
        let mut own_limit = d.clone();
        own_limit.train.max_seconds = Some(60.0);
        assert_eq!(own_limit.fit_depth_where(false, false), None);
        let every: LlmImputerConfig = serde_json::from_str(r#"{"slow_cpu_depth": null}"#).unwrap();
        assert_eq!(every.fit_depth_where(false, false), None);
        // Settings that leave `depth` out are written without it and read back as every block.
        let text = serde_json::to_string(&LlmImputerConfig::default()).unwrap();
        assert!(!text.contains("\"depth\""), "{text}");
        assert_eq!(serde_json::from_str::<LlmImputerConfig>(&text).unwrap().depth, None);
    }

    #[test]
    fn the_time_limit_applies_where_the_base_is_slow() {
        let c = LlmImputerConfig::default();
        // bf16 that pays (AMX) or a GPU: the step budget alone.
        assert_eq!(c.time_limit_where(false, true), None);
        assert_eq!(c.time_limit_where(true, false), None);
        // A CPU where the base runs in f32 (auto on a CPU without fast bf16, or forced), or in
        // bf16 that does not pay.
        assert_eq!(c.time_limit_where(false, false), Some(SLOW_CPU_SECONDS));
        assert_eq!(c.clone().with_precision(Precision::F32).time_limit_where(false, true), Some(SLOW_CPU_SECONDS));
        assert_eq!(c.clone().with_precision(Precision::Bf16).time_limit_where(false, false), Some(SLOW_CPU_SECONDS));
        // The user's limit wins everywhere; `null` turns the slow-CPU limit off.
        let mut own = c.clone();
        own.train.max_seconds = Some(30.0);
        assert_eq!((own.time_limit_where(false, true), own.time_limit_where(false, false)), (Some(30.0), Some(30.0)));
        let off: LlmImputerConfig = serde_json::from_str(r#"{"slow_cpu_seconds": null}"#).unwrap();
        assert_eq!(off.time_limit_where(false, false), None);
        let mut bad = c;
        bad.slow_cpu_seconds = Some(0.0);
        assert!(bad.validate().unwrap_err().to_string().contains("slow_cpu_seconds"));
    }

    #[test]
    fn partial_json_takes_defaults_and_bad_values_are_named() {
        let c: LlmImputerConfig = serde_json::from_str(
            r#"{"lora": {"r": 4}, "train": {"max_steps": 7}, "examples": {"objective": "full_row"}}"#,
        )
        .unwrap();
        assert_eq!(c.lora.r, 4);
        assert_eq!(
            c.lora.alpha,
            LlmImputerConfig::default().lora.alpha,
            "a partial object keeps the imputer's defaults"
        );
        assert_eq!(c.train.learning_rate, LlmImputerConfig::default().train.learning_rate);
        assert_eq!(c.train.max_steps, Some(7));
        assert_eq!(c.examples.objective, Objective::FullRow);
        assert_eq!(c.fill, FillConfig::default());
        c.validate().unwrap();
        assert_eq!("target_last".parse::<Objective>().unwrap(), Objective::TargetLast);
        let err = "target-last".parse::<Objective>().unwrap_err().to_string();
        assert!(err.contains("values, target_last, full_row"), "{err}");
        assert_eq!("bf16".parse::<Precision>().unwrap(), Precision::Bf16);
        let err = LlmImputerConfig::default().with_lora(0, 8.0).validate().unwrap_err();
        assert!(err.to_string().contains("lora"), "{err}");
        let mut c = LlmImputerConfig::default();
        c.train.learning_rate = -1.0;
        assert!(c.validate().unwrap_err().to_string().contains("learning_rate"));
        let binned: LlmImputerConfig = serde_json::from_str(r#"{"examples": {"numeric_bins": 12}}"#).unwrap();
        assert_eq!((binned.examples.numeric_bins, binned.examples.holdout_cells), (12, 200));
        binned.validate().unwrap();
        let one: LlmImputerConfig = serde_json::from_str(r#"{"examples": {"numeric_bins": 1}}"#).unwrap();
        assert!(one.validate().unwrap_err().to_string().contains("numeric_bins"));
    }

    #[test]
    fn a_config_file_section_keeps_the_defaults_it_leaves_out() {
        let base = LlmImputerConfig::default();
        let json = serde_json::json!({"fill": {"orders": 3}, "retrieval": {"k": 5}, "lora": {"r": 4}});
        let c = base.overlay(json.clone()).unwrap();
        assert_eq!((c.fill.orders, c.retrieval.k, c.lora.r), (3, 5, 4));
        // What the section leaves out stays the imputer's default, not a saved file's.
        assert_eq!(c.fill.known_order, KnownOrder::FewestValues);
        assert_eq!(c.retrieval.mode, RetrievalMode::Auto);
        assert_eq!((c.lora.alpha, c.train.learning_rate), (base.lora.alpha, base.train.learning_rate));
        // Plain deserialisation reads the same object as a saved imputer would.
        let saved: LlmImputerConfig = serde_json::from_value(json).unwrap();
        assert_eq!(saved.fill.known_order, KnownOrder::Schema);
        // Over other settings, theirs are kept.
        let other = base.clone().with_retrieval(2);
        let c = other.overlay(serde_json::json!({"fill": {"orders": 2}})).unwrap();
        assert_eq!((c.retrieval.mode, c.retrieval.k), (RetrievalMode::On, 2));
        let err = base.overlay(serde_json::json!([1])).unwrap_err().to_string();
        assert!(err.contains("expected an object"), "{err}");
        let err = base.overlay(serde_json::json!({"fill": {"order": 3}})).unwrap_err().to_string();
        assert!(err.contains("order"), "{err}");
    }

    #[test]
    fn retrieval_modes_and_k() {
        let d = RetrievalConfig::default();
        assert_eq!((d.mode, d.k), (RetrievalMode::Auto, 3));
        assert!(d.is_auto() && !d.is_on());
        let on = LlmImputerConfig::default().with_retrieval(4).retrieval;
        assert!(on.is_on() && !on.is_auto());
        let off = LlmImputerConfig::default().with_retrieval(0).retrieval;
        assert_eq!(off.mode, RetrievalMode::Off);
        assert!(!off.is_on() && !off.is_auto());
        // k = 0 is off whatever the mode says.
        let zero = RetrievalConfig { mode: RetrievalMode::On, k: 0, ..d.clone() };
        assert!(!zero.is_on() && !zero.is_auto());
        for name in RetrievalMode::NAMES {
            assert_eq!(name.parse::<RetrievalMode>().unwrap().to_string(), name);
        }
        let err = "always".parse::<RetrievalMode>().unwrap_err().to_string();
        assert!(err.contains("off, on, auto"), "{err}");
        // On with the full-row objective is refused; auto is decided (off) by the fit.
        let full = LlmImputerConfig::default().with_objective(Objective::FullRow);
        full.validate().unwrap();
        let err = full.clone().with_retrieval(3).validate().unwrap_err().to_string();
        assert!(err.contains("full rows"), "{err}");
        let mut no_reference = LlmImputerConfig::default();
        no_reference.retrieval.max_reference_rows = 0;
        assert!(no_reference.validate().unwrap_err().to_string().contains("max_reference_rows"));
        no_reference.retrieval.mode = RetrievalMode::Off;
        no_reference.validate().unwrap();
    }

    #[test]
    fn end_token_reads_old_flags_and_new_names() {
        let fill = |json: &str| serde_json::from_str::<FillConfig>(json).map(|f| f.end_token);
        // Saved imputers from before the choice keep their meaning.
        assert_eq!(fill(r#"{"end_token": true}"#).unwrap(), EndToken::Every);
        assert_eq!(fill(r#"{"end_token": false}"#).unwrap(), EndToken::Off);
        assert_eq!(fill(r#"{"end_token": "prefixes"}"#).unwrap(), EndToken::Prefixes);
        assert_eq!(fill("{}").unwrap(), EndToken::Prefixes);
        let err = fill(r#"{"end_token": "all"}"#).unwrap_err().to_string();
        assert!(err.contains("off, every, prefixes"), "{err}");
        let written = serde_json::to_string(&FillConfig::default()).unwrap();
        assert!(written.contains(r#""end_token":"prefixes""#), "{written}");
        assert!(written.contains(r#""share_prefixes":true"#), "{written}");
    }

    #[test]
    fn a_saved_fill_without_known_order_asks_in_the_schema_order() {
        // A new config asks fewest values first; a file saved before the option existed keeps
        // the schema order it was fitted and checked with; overlays start from the defaults.
        assert_eq!(FillConfig::default().known_order, KnownOrder::FewestValues);
        let saved: FillConfig = serde_json::from_str(r#"{"block_rows": 256}"#).unwrap();
        assert_eq!(saved.known_order, KnownOrder::Schema);
        let given: FillConfig = crate::overlay(&FillConfig::default(), serde_json::json!({"block_rows": 8})).unwrap();
        assert_eq!(given.known_order, KnownOrder::FewestValues);
        assert_eq!("schema".parse::<KnownOrder>().unwrap(), KnownOrder::Schema);
        let err = "fewest".parse::<KnownOrder>().unwrap_err().to_string();
        assert!(err.contains("known order 'fewest' is not one of schema, fewest_values"), "{err}");
        let written = serde_json::to_string(&FillConfig::default()).unwrap();
        assert!(written.contains(r#""known_order":"fewest_values""#), "{written}");
    }

    #[test]
    fn a_depth_probe_line_says_what_it_measured_and_chose() {
        let p = DepthProbe { cells: 2000, bayes_right: 1580, mode_right: 760, shallow: true, seconds: 0.01 };
        assert_eq!(
            p.summary(),
            "depth (slow CPU) fewer blocks: naive Bayes on the other cells answers 79.0% of 2000 observed category \
             cells, the column's mode 38.0% (+41.0 points; fewer blocks above +10.0; 0.0 s)"
        );
        let flat = DepthProbe { bayes_right: 780, shallow: false, ..p };
        assert!((flat.margin() - 0.01).abs() < 1e-12);
        assert!(flat.summary().starts_with("depth (slow CPU) every block: naive Bayes"), "{}", flat.summary());
        let few = DepthProbe { cells: 0, ..DepthProbe::default() };
        assert_eq!(
            few.summary(),
            "depth (slow CPU) every block: 0 observed category cells, fewer than the 500 needed to tell whether \
             the columns predict each other"
        );
    }

    #[test]
    fn a_probe_line_shows_what_was_recorded() {
        let p = RetrievalProbe { cells: 2000, k: 3, neighbours_right: 1000, bayes_right: 700, on: true, seconds: 0.4 };
        assert_eq!(
            p.summary(),
            "retrieval (auto) on: the 3 most similar rows answer 50.0% of 2000 observed category cells, naive \
             Bayes 35.0% (+15.0 points; on above +4.0; 0.4 s)"
        );
        // A probe saved before its `k` and its time were recorded: neither is made up.
        let old: RetrievalProbe =
            serde_json::from_str(r#"{"cells": 2000, "neighbours_right": 1000, "bayes_right": 700, "on": true}"#)
                .unwrap();
        assert_eq!((old.k, old.seconds), (0, 0.0));
        assert_eq!(
            old.summary(),
            "retrieval (auto) on: the most similar rows answer 50.0% of 2000 observed category cells, naive Bayes \
             35.0% (+15.0 points; on above +4.0)"
        );
    }
}
