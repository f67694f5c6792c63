//! The `recimpute` command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use recimpute::experiment as exp;
use recimpute::prelude::*;
use recimpute::table::Delimiter;

mod grids;
mod holes;
mod impute;

#[cfg(feature = "dlrm")]
mod experiment;
#[cfg(not(feature = "dlrm"))]
#[path = "experiment_off.rs"]
mod experiment;
#[cfg(feature = "llm")]
mod llm;
#[cfg(not(feature = "llm"))]
#[path = "llm_off.rs"]
mod llm;

/// Fill missing cells of recommender tables and measure the effect on a recommender.
///
/// Tables are CSV (`.csv`, `.tsv`) or Parquet (`.parquet`) files; an empty cell (or NA, NaN,
/// null) is a missing cell. Column kinds (numeric, categorical, set_valued, text, id) are
/// inferred and can be forced with `--kind name=kind`.
#[derive(Parser)]
#[command(name = "recimpute", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a table's columns, their kinds and how many cells are missing.
    Inspect {
        /// The CSV or Parquet file.
        input: PathBuf,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Convert a table between CSV and Parquet (by the output's extension), keeping its holes.
    Convert {
        /// The input file.
        input: PathBuf,
        /// The output file; written atomically.
        output: PathBuf,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Fill the missing cells of a CSV or Parquet file with a classical imputer or the LLM.
    ///
    /// The imputer is fitted on `--fit-on` if given (e.g. a training file), else on the input
    /// itself; or `--imputer` names one saved by `fit` or `--save`, used as is (with
    /// `--batch-rows`, a Parquet or CSV file of any size streams through it; a saved LLM directory
    /// takes the fill-time `--llm-*` flags, and `--save` writes it back with them). Observed
    /// cells are never changed. The output's format follows its extension.
    Impute(impute::ImputeArgs),
    /// Fit an imputer on a table and save it (a JSON file for a classical imputer, a directory
    /// for the LLM), to fill other tables later with `impute --imputer`.
    Fit(impute::FitArgs),
    /// Fine-tune the LLM imputer on a table and save it (LoRA adapter in PEFT format + row
    /// codec) for `impute --imputer DIR`; the same as `fit --method llm`.
    FitAdapter {
        /// The training table (CSV or Parquet).
        input: PathBuf,
        /// The directory to write (replaced atomically).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        llm: LlmArgs,
        /// Seed of row sampling, column orders, adapter initialisation and data order.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Run a grid of experiments (task × imputer × pattern × rate × seed); resumable.
    ///
    /// Each finished cell is saved under OUT/cells/; rerunning the same command skips them.
    /// Flags override the config file; lists are comma-separated.
    Experiment(ExperimentArgs),
    /// Measure imputation quality alone: hide observed cells of a table, impute them with each
    /// imputer, score them per column (accuracy, macro-F1, RMSE, Jaccard); resumable.
    ///
    /// Results go to OUT/cells/*.json and OUT/quality.md (mean ± std over seeds).
    Quality(QualityArgs),
    /// Hide a fraction of a table's observed cells: write the masked table and the ground truth
    /// of the hidden cells (`row,column,value`), to fill with any tool and `score` afterwards.
    Mask(holes::MaskArgs),
    /// Score a filled table against the ground truth `mask` wrote, per column (RMSE and MAE,
    /// accuracy and macro-F1, Jaccard), with the count of hidden cells left empty.
    Score(holes::ScoreArgs),
    /// Rebuild report.md, its plots (plots/*.png and *.svg) and results.json from the saved
    /// cells of an experiment.
    Report {
        /// The experiment's output directory.
        #[arg(long, default_value = "results")]
        out: PathBuf,
    },
    /// Run the main job: a small end-to-end experiment on embedded (generated) data.
    Demo {
        /// Output directory.
        #[arg(long, default_value = "results/demo")]
        out: PathBuf,
        /// Run the full-size paper grid on this data directory instead (it must hold
        /// ml-100k/ and adclick/).
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

/// Settings of the LLM imputer (each overrides the imputer's default, or the config file's value).
#[derive(clap::Args, Clone, Default)]
struct LlmArgs {
    /// The pretrained model: a GGUF file or an HF model directory (default: SmolLM2-135M-Instruct
    /// fetched by `cargo xtask fetch-model`).
    #[arg(long = "llm-backbone", alias = "backbone")]
    llm_backbone: Option<PathBuf>,
    /// Passes over the training rows (instead of the default step budget).
    #[arg(long)]
    llm_epochs: Option<usize>,
    /// Optimizer steps.
    #[arg(long)]
    llm_steps: Option<usize>,
    /// Fine-tune for at most this many seconds, the learning-rate schedule fitted to the steps
    /// that fit (default: the step budget alone where the base runs in fast bf16; where it does
    /// not, what is left of 280 s for the fit and fill after the rest, `slow_cpu_seconds`, which
    /// `{"llm": {"slow_cpu_seconds": null}}` in `--config` lifts)
    #[arg(long)]
    llm_seconds: Option<f64>,
    /// Most training rows (a seeded sample of larger tables).
    #[arg(long)]
    llm_max_train_rows: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    llm_lr: Option<f64>,
    /// LoRA rank.
    #[arg(long)]
    llm_lora_r: Option<usize>,
    /// LoRA alpha (the update is scaled by alpha / r).
    #[arg(long)]
    llm_lora_alpha: Option<f64>,
    /// Layers that get adapters, comma-separated, as PEFT's `target_modules` (a name matches
    /// every layer whose path ends in it), e.g. `q_proj,v_proj` (default: every linear layer).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    llm_lora_targets: Option<Vec<String>>,
    /// Adapters only on the model's last N transformer blocks (0: every block); a training
    /// step then runs the backward pass through those blocks alone.
    #[arg(long, value_name = "N")]
    llm_lora_last_layers: Option<usize>,
    /// Run only N of the backbone's transformer blocks, the first N-1 and the last (0: every
    /// block); steps, checks and the fill get cheaper (a step through 6 of SmolLM2's 30 blocks
    /// costs about a third of one through all). Default:
    /// every block, but 6 where the base does not run in fast bf16, the 280 s budget holds and
    /// the table's columns predict each other (`slow_cpu_depth`; the fit says what it measured).
    #[arg(long, value_name = "N")]
    llm_depth: Option<usize>,
    /// Precision of the frozen base (auto: bf16 where the hardware has it, else f32).
    #[arg(long, value_parser = recimpute::llm_config::Precision::NAMES)]
    llm_precision: Option<String>,
    /// What the fine-tune's loss covers.
    #[arg(long, value_parser = recimpute::llm_config::Objective::NAMES)]
    llm_objective: Option<String>,
    /// Observed cells held out to check the fine-tune (0 turns the check off).
    #[arg(long)]
    llm_holdout: Option<usize>,
    /// Turn the per-column prior correction of scored candidates off.
    #[arg(long)]
    llm_no_prior_correction: bool,
    /// Weight of the encoder head (per-column models on the model's hidden state) against the
    /// scored candidates: 0 (default) trains none, 1 uses it alone.
    #[arg(long)]
    llm_head_weight: Option<f64>,
    /// Retrieval: the training rows that agree most with a question's row on its observed
    /// cells, written before its prompt as examples. `auto` (the default) lets the fit decide
    /// (on, with 3 rows, where rows repeat records; its `retrieval (auto)` line says why), a
    /// number K turns it on with K rows (0 turns it off), `on` / `off` likewise with 3 rows.
    #[arg(long, value_name = "auto|on|off|K")]
    llm_retrieval: Option<String>,
    /// Ask each scored cell with the row's known cells in N orders and average the
    /// candidates' scores (1, the default, asks once; costs N times the scoring).
    #[arg(long, value_name = "N")]
    llm_orders: Option<usize>,
    /// Threads that score the LLM's prompts side by side, one libtorch thread each (1, the
    /// default, scores on one thread with all of libtorch's; 0 picks one per libtorch thread
    /// on a CPU, 1 on a GPU).
    #[arg(long, value_name = "N")]
    llm_workers: Option<usize>,
    /// Rows whose LLM fills go together, each row's next question continuing the cache of its
    /// previous one (256 by default; 0 fills column by column over the whole table, each
    /// question from its first token).
    #[arg(long, value_name = "N")]
    llm_block_rows: Option<usize>,
    /// The order the LLM's questions write a row's known cells in: the columns with the fewest
    /// distinct values first (fewest_values, the default), whose sorted rows share longer
    /// prompt beginnings, or the table's (schema). An imputer saved without this setting
    /// keeps the schema order.
    #[arg(long, value_parser = recimpute::llm_config::KnownOrder::NAMES)]
    llm_known_order: Option<String>,
}

impl LlmArgs {
    /// Sets the fields of the imputer's config whose flags were given (unused in a build with
    /// neither the `dlrm` nor the `llm` feature, where no command takes LLM settings).
    #[cfg_attr(not(any(feature = "dlrm", feature = "llm")), allow(dead_code))]
    fn apply(self, c: &mut recimpute::llm_config::LlmImputerConfig) -> Result<()> {
        if let Some(path) = self.llm_backbone {
            c.backbone = recimpute::llm_config::Backbone::from_path(path);
        }
        if let Some(e) = self.llm_epochs {
            c.train.epochs = e;
            c.train.max_steps = None;
        }
        set(&mut c.train.max_steps, self.llm_steps.map(Some));
        set(&mut c.train.max_seconds, self.llm_seconds.map(Some));
        set(&mut c.examples.max_train_rows, self.llm_max_train_rows);
        set(&mut c.train.learning_rate, self.llm_lr);
        set(&mut c.lora.r, self.llm_lora_r);
        set(&mut c.lora.alpha, self.llm_lora_alpha);
        set(&mut c.lora.target_modules, self.llm_lora_targets);
        if let Some(n) = self.llm_lora_last_layers {
            c.lora.layers_to_transform = None;
            c.lora.last_layers = (n > 0).then_some(n);
        }
        if let Some(d) = self.llm_depth {
            c.depth = (d > 0).then_some(d);
            if d == 0 {
                c.slow_cpu_depth = None;
            }
        }
        if let Some(p) = self.llm_precision {
            *c = c.clone().with_precision(p.parse()?);
        }
        if let Some(o) = self.llm_objective {
            c.examples.objective = o.parse()?;
        }
        set(&mut c.examples.holdout_cells, self.llm_holdout);
        set(&mut c.head.weight, self.llm_head_weight);
        if let Some(r) = self.llm_retrieval {
            match r.parse::<usize>() {
                Ok(k) => *c = c.clone().with_retrieval(k),
                Err(_) => c.retrieval.mode = r.parse()?,
            }
        }
        set(&mut c.fill.orders, self.llm_orders);
        set(&mut c.fill.workers, self.llm_workers);
        set(&mut c.fill.block_rows, self.llm_block_rows);
        if let Some(o) = self.llm_known_order {
            c.fill.known_order = o.parse()?;
        }
        if self.llm_no_prior_correction {
            c.fill.prior_correction = false;
        }
        Ok(())
    }

    /// Every LLM flag: its name, whether it was given, and when it acts. One list, so that a
    /// new flag has to say which it is (a test checks that it names every flag clap knows).
    #[cfg_attr(not(feature = "llm"), allow(dead_code))]
    fn flags(&self) -> [(&'static str, bool, LlmStage); 21] {
        use LlmStage::{Fill, Fit};
        [
            ("--llm-backbone", self.llm_backbone.is_some(), Fill),
            ("--llm-epochs", self.llm_epochs.is_some(), Fit),
            ("--llm-steps", self.llm_steps.is_some(), Fit),
            ("--llm-seconds", self.llm_seconds.is_some(), Fit),
            ("--llm-max-train-rows", self.llm_max_train_rows.is_some(), Fit),
            ("--llm-lr", self.llm_lr.is_some(), Fit),
            ("--llm-lora-r", self.llm_lora_r.is_some(), Fit),
            ("--llm-lora-alpha", self.llm_lora_alpha.is_some(), Fit),
            ("--llm-lora-targets", self.llm_lora_targets.is_some(), Fit),
            ("--llm-lora-last-layers", self.llm_lora_last_layers.is_some(), Fit),
            ("--llm-depth", self.llm_depth.is_some(), Fit),
            ("--llm-precision", self.llm_precision.is_some(), Fit),
            ("--llm-objective", self.llm_objective.is_some(), Fit),
            ("--llm-holdout", self.llm_holdout.is_some(), Fit),
            ("--llm-no-prior-correction", self.llm_no_prior_correction, Fit),
            ("--llm-head-weight", self.llm_head_weight.is_some(), Fill),
            ("--llm-retrieval", self.llm_retrieval.is_some(), Fit),
            ("--llm-orders", self.llm_orders.is_some(), Fill),
            ("--llm-workers", self.llm_workers.is_some(), Fill),
            ("--llm-block-rows", self.llm_block_rows.is_some(), Fill),
            ("--llm-known-order", self.llm_known_order.is_some(), Fill),
        ]
    }

    /// The flags given that shape the fine-tune, by name: a saved imputer is already fitted,
    /// so with `--imputer DIR` they cannot apply.
    #[cfg_attr(not(feature = "llm"), allow(dead_code))]
    fn fit_flags(&self) -> Vec<&'static str> {
        self.flags().into_iter().filter(|&(_, given, stage)| given && stage == LlmStage::Fit).map(|f| f.0).collect()
    }

    /// The flags a saved imputer takes (`llm::load` sets each of them).
    #[cfg_attr(not(feature = "llm"), allow(dead_code))]
    fn fill_flag_names() -> Vec<&'static str> {
        LlmArgs::default().flags().into_iter().filter(|f| f.2 == LlmStage::Fill).map(|f| f.0).collect()
    }
}

/// When an LLM flag acts: on the fine-tune, or on the fill, which a saved imputer still takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LlmStage {
    Fit,
    Fill,
}

/// The flags every grid takes.
#[derive(clap::Args)]
struct GridArgs {
    /// A JSON config file (`ExperimentConfig` or `QualityConfig`); the flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output directory. Rerunning into it reuses the cells saved there, as long as they were
    /// computed with the same settings.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Data directory holding ml-100k/ and adclick/ (default: $RECIMPUTE_DATA or ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Imputers, comma-separated (deletion fills nothing: experiment only).
    #[arg(long, value_delimiter = ',', value_parser = imputer_names())]
    imputers: Option<Vec<exp::ImputerName>>,
    /// Missingness patterns, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = named::<exp::Pattern>(exp::Pattern::ALL.map(exp::Pattern::as_str)))]
    patterns: Option<Vec<exp::Pattern>>,
    /// Fractions of observed cells to hide, e.g. 0.05,0.25,0.5.
    #[arg(long, value_delimiter = ',')]
    rates: Option<Vec<f64>>,
    /// Seeds, e.g. 0,1,2.
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    #[command(flatten)]
    llm: LlmArgs,
}

#[derive(clap::Args)]
struct ExperimentArgs {
    #[command(flatten)]
    grid: GridArgs,
    /// Tasks, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = named::<exp::TaskName>(exp::TaskName::ALL.map(exp::TaskName::as_str)))]
    tasks: Option<Vec<exp::TaskName>>,
    /// DLRM training epochs.
    #[arg(long)]
    epochs: Option<usize>,
    #[command(flatten)]
    table: TableArgs,
}

/// Your own table as the experiment's task `table` (the same as the config file's `table`).
#[derive(clap::Args)]
struct TableArgs {
    /// Your own table (CSV or Parquet): the task `table`, where the recommender predicts
    /// `--target` from the other columns (with no `--tasks`, the only task).
    #[arg(long, requires = "target")]
    table: Option<PathBuf>,
    /// The column of `--table` to predict (rows where it is empty are left out, and counted).
    #[arg(long, requires = "table")]
    target: Option<String>,
    /// What the target is (auto: 0/1 or two labels is binary, other labels multi-class,
    /// other numbers regression).
    #[arg(long, requires = "table", value_parser = ["auto", "binary", "multi_class", "regression"])]
    target_kind: Option<String>,
    /// Keep the rows sharing a value of this column (e.g. user_id) on one side of the split
    /// (default: rows split at random).
    /// Grouping by an id column is a cold-start split: the test users (or items) are unseen
    /// in training, and the recommender trains its unknown-id embedding (`cold_id_dropout`).
    #[arg(long, requires = "table")]
    group: Option<String>,
    /// An attribute table joined onto `--table` by key, as FILE:KEY (the key column has the
    /// same name in both) or FILE:KEY=ON (ON is the column of `--table`); repeat it for
    /// users and items. Its cells are hidden and filled per table, then joined. It is read
    /// with the same flags as `--table`; each `--kind` goes to the files that have the column.
    #[arg(long = "attributes", requires = "table", value_name = "FILE:KEY[=ON]")]
    attributes: Vec<String>,
    /// Fraction of the rows (or groups) that train the recommender.
    #[arg(long, requires = "table")]
    train_fraction: Option<f64>,
    /// Recall@10 and NDCG@10 per value of this column (multi-class and regression targets).
    #[arg(long, requires = "table")]
    rank_by: Option<String>,
    /// A row is relevant for the ranking metrics when its target is at least this.
    #[arg(long, requires = "rank_by")]
    relevant_at: Option<f64>,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(clap::Args)]
struct QualityArgs {
    /// Your own tables (CSV or Parquet) to hide cells in; with none, the built-in `--tables`.
    files: Vec<PathBuf>,
    #[command(flatten)]
    grid: GridArgs,
    /// Built-in tables, comma-separated: ml100k-users, ml100k-items, adclick, synthetic-adclick
    /// (or paths of files).
    #[arg(long, value_delimiter = ',', value_parser = |s: &str| s.parse::<exp::QualityTable>())]
    tables: Option<Vec<exp::QualityTable>>,
    /// Hide only in these columns (default: every column but ids and free text).
    #[arg(long, value_delimiter = ',')]
    columns: Option<Vec<String>>,
    /// Score a seeded sample of N hidden cells per grid cell (every imputer the same sample;
    /// the LLM fills only those), to bound the LLM's fill time on large tables.
    #[arg(long, value_name = "N")]
    score_cells: Option<usize>,
    #[command(flatten)]
    read: ReadArgs,
}

/// A flag whose values are names (listed by `--help`) parsed into `T`.
fn named<T>(names: impl IntoIterator<Item = &'static str>) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).try_map(|s| s.parse::<T>())
}

/// The names of the imputer registry.
fn imputer_names() -> impl TypedValueParser<Value = exp::ImputerName> {
    named(exp::ImputerName::EVERY.map(exp::ImputerName::as_str))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("recimpute: error: {}", describe(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes, skipping a cause whose text the message already contains.
fn describe(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text = format!("{text}: {c}");
        }
    }
    text
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Prints to stdout, returning an error (not panicking) when the reader has gone away.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Overrides a setting with a command-line flag when the flag was given.
fn set<T>(setting: &mut T, flag: Option<T>) {
    if let Some(v) = flag {
        *setting = v;
    }
}

/// How to read the input tables (every command that reads one takes these).
#[derive(clap::Args, Clone, Default)]
struct ReadArgs {
    /// Force a column's kind, e.g. `--kind zip=categorical` (repeatable).
    #[arg(long = "kind", value_name = "NAME=KIND")]
    kinds: Vec<String>,
    /// Cell texts that mean missing, comma-separated (default: empty, NA, N/A, NaN, nan, null,
    /// NULL); `--na-values ''` makes only the empty cell missing.
    #[arg(long, value_delimiter = ',', value_name = "TEXTS")]
    na_values: Option<Vec<String>>,
    /// The field delimiter of CSV input, e.g. `;`, `tab` or `::` (default: sniffed among comma,
    /// semicolon, tab, pipe and `::`). Outputs use the input's.
    #[arg(long)]
    delimiter: Option<String>,
    /// The text encoding of CSV input (default: UTF-8 when the first 64 KiB are valid UTF-8,
    /// else Latin-1, with a note on stderr). Outputs are UTF-8.
    #[arg(long, value_parser = ["utf-8", "latin-1"])]
    encoding: Option<String>,
    /// The first line of CSV input is data, not column names (columns are called c0, c1, ...;
    /// outputs have no header either).
    #[arg(long)]
    no_header: bool,
}

impl ReadArgs {
    /// The library's reading settings these flags describe.
    fn settings(&self) -> Result<ReadSettings> {
        let mut settings =
            ReadSettings { na_values: self.na_values.clone(), no_header: self.no_header, ..ReadSettings::default() };
        for k in &self.kinds {
            let (name, kind) =
                k.split_once('=').with_context(|| format!("--kind {k}: expected NAME=KIND, e.g. zip=categorical"))?;
            settings.kinds.insert(name.to_string(), kind.parse::<ColumnKind>()?);
        }
        settings.delimiter = self.delimiter.as_deref().map(Delimiter::parse).transpose().context("--delimiter")?;
        settings.encoding = self.encoding.as_deref().map(str::parse).transpose().context("--encoding")?;
        Ok(settings)
    }

    /// The CSV options of reading (and writing beside) `path`.
    fn csv_options(&self, path: &std::path::Path) -> Result<CsvOptions> {
        csv_options_noted(&self.settings()?, path)
    }
}

/// Refuses an output path that is the input file (its holes are the only record of which
/// cells were missing), and removes what an earlier run killed while writing `output` left.
fn prepare_output(input: &std::path::Path, output: &std::path::Path) -> Result<()> {
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(input), std::fs::canonicalize(output)) {
        if a == b {
            anyhow::bail!(
                "{} is the input file: write to another path (the input's empty cells are the only record of what was missing)",
                output.display()
            );
        }
    }
    if let (Some(dir), Some(name)) = (output.parent(), output.file_name()) {
        let dir = if dir.as_os_str().is_empty() { std::path::Path::new(".") } else { dir };
        let removed = recimpute::table::remove_stale_temps(dir, Some(&name.to_string_lossy()))?;
        if removed > 0 {
            eprintln!("removed {removed} temporary file(s) an interrupted earlier write of {} left", output.display());
        }
    }
    Ok(())
}

/// The CSV options of reading `path` with `settings`, with a note on stderr when the file was
/// sniffed as Latin-1 (so a user who meant UTF-8 learns why `é` reads as `Ã©`).
pub(crate) fn csv_options_noted(settings: &ReadSettings, path: &std::path::Path) -> Result<CsvOptions> {
    let opts = settings.csv_options(path)?;
    if settings.encoding.is_none() && opts.encoding == recimpute::table::Encoding::Latin1 {
        eprintln!("note: {} is not valid UTF-8: read as Latin-1 (--encoding utf-8 refuses it instead)", path.display());
    }
    Ok(opts)
}

/// [`recimpute::table::write_like_input`], warning about the Parquet columns whose stored type
/// could not be kept.
fn write_output(
    input: &std::path::Path,
    opts: &CsvOptions,
    table: &Table,
    rows: Option<&[usize]>,
    replace: &dyn Fn(usize, usize) -> bool,
    output: &std::path::Path,
) -> Result<()> {
    let retyped = recimpute::table::write_like_input(input, opts, table, rows, replace, output)?;
    if !retyped.is_empty() {
        eprintln!(
            "recimpute: warning: {}: column(s) {} written in recimpute's own type (f64 for numbers): a fill does not \
             fit the input's Arrow type, e.g. a fraction in an integer column (drop --raw-fills to round it)",
            output.display(),
            retyped.join(", ")
        );
    }
    Ok(())
}

/// What `filled` still misses, per column with the reason, or `None` when it is complete.
fn unfilled_warning(train: &Table, filled: &Table) -> Option<String> {
    let missing_at_fit = train.missing_per_column();
    let missing = filled.missing_per_column();
    let parts: Vec<String> = filled
        .schema()
        .columns()
        .iter()
        .zip(missing.iter().copied())
        .enumerate()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(j, (spec, n))| {
            let why = match spec.kind {
                ColumnKind::Text => format!(
                    "free text, which no imputer fills (--kind {}=categorical fills it with a label seen elsewhere)",
                    spec.name
                ),
                ColumnKind::Id => "an id: keys are never imputed".to_string(),
                _ if missing_at_fit.get(j) == Some(&train.num_rows()) => "no observed value to learn from".to_string(),
                _ => "the imputer gave no value".to_string(),
            };
            format!("{} {n} ({why})", spec.name)
        })
        .collect();
    let total: usize = missing.iter().sum();
    (!parts.is_empty()).then(|| format!("{total} cells left empty: {}", parts.join("; ")))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect { input, read } => {
            use std::fmt::Write;
            let opts = read.csv_options(&input)?;
            let table = read_table(&input, &opts)?;
            let mut out = String::new();
            write!(out, "{}: {} rows, {} columns", input.display(), table.num_rows(), table.num_columns())?;
            if recimpute::table::Format::from_path(&input)? == recimpute::table::Format::Csv {
                let tsv = recimpute::table::is_tsv(&input);
                let d = if tsv { Delimiter::Byte(b'\t') } else { opts.delimiter.clone() };
                let how = if read.delimiter.is_some() || tsv { "" } else { ", sniffed" };
                let encoding = match (opts.encoding, read.encoding.is_some()) {
                    (recimpute::table::Encoding::Utf8, _) => "",
                    (recimpute::table::Encoding::Latin1, true) => ", Latin-1",
                    (recimpute::table::Encoding::Latin1, false) => ", Latin-1 (sniffed)",
                };
                write!(out, " (delimiter '{}'{how}{encoding})", d.to_string().escape_debug())?;
            }
            writeln!(out)?;
            writeln!(out, "{:<24} {:<12} {:>9} {:>8}", "column", "kind", "missing", "rate")?;
            for (spec, missing) in table.schema().columns().iter().zip(table.missing_per_column()) {
                let rate = if table.num_rows() == 0 { 0.0 } else { missing as f64 / table.num_rows() as f64 };
                writeln!(out, "{:<24} {:<12} {:>9} {:>7.1}%", spec.name, spec.kind.as_str(), missing, 100.0 * rate)?;
            }
            writeln!(out, "complete rows: {}", table.complete_rows().len())?;
            emit(&out)
        }
        Command::Convert { input, output, read } => {
            prepare_output(&input, &output)?;
            let opts = read.csv_options(&input)?;
            let table = read_table(&input, &opts)?;
            write_table(&table, &output, &opts)?;
            println!("wrote {} ({} rows)", output.display(), table.num_rows());
            Ok(())
        }
        Command::Impute(args) => impute::impute(args),
        Command::Fit(args) => impute::fit(args),
        Command::FitAdapter { input, out, llm, seed, read } => {
            let table = read_table(&input, &read.csv_options(&input)?)?;
            llm::fit_adapter(&table, &out, &llm, seed)
        }
        Command::Experiment(args) => experiment::run(args),
        Command::Report { out } => grids::report(out),
        Command::Quality(args) => grids::quality(args),
        Command::Mask(args) => holes::mask(args),
        Command::Score(args) => holes::score(args),
        Command::Demo { out, data } => experiment::demo(out, data),
    }
}

#[cfg(test)]
mod tests {
    use clap::{Args, Parser};

    use super::{LlmArgs, LlmStage};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        llm: LlmArgs,
    }

    #[test]
    fn every_llm_flag_says_when_it_acts() {
        let command = LlmArgs::augment_args(clap::Command::new("t"));
        let mut known: Vec<String> =
            command.get_arguments().filter_map(|a| a.get_long()).map(|l| format!("--{l}")).collect();
        let mut listed: Vec<String> = LlmArgs::default().flags().iter().map(|f| f.0.to_string()).collect();
        known.sort();
        listed.sort();
        assert_eq!(listed, known, "LlmArgs::flags must list every LLM flag once");
        assert!(LlmArgs::default().flags().iter().all(|f| !f.1), "nothing given by default");
    }

    #[test]
    fn given_flags_are_sorted_by_stage() {
        let cli = Cli::parse_from(["t", "--llm-steps", "3", "--llm-orders", "2", "--llm-no-prior-correction"]);
        assert_eq!(cli.llm.fit_flags(), ["--llm-steps", "--llm-no-prior-correction"]);
        let given: Vec<_> = cli.llm.flags().into_iter().filter(|f| f.1).map(|f| (f.0, f.2)).collect();
        assert_eq!(
            given,
            [
                ("--llm-steps", LlmStage::Fit),
                ("--llm-no-prior-correction", LlmStage::Fit),
                ("--llm-orders", LlmStage::Fill)
            ]
        );
        let fill = LlmArgs::fill_flag_names();
        assert!(fill.contains(&"--llm-backbone") && fill.contains(&"--llm-known-order") && !fill.contains(&"--llm-lr"));
    }

    #[test]
    fn retrieval_is_auto_on_off_or_a_number_of_rows() {
        use recimpute::llm_config::{LlmImputerConfig, RetrievalMode};
        let given = |v: &str| {
            let mut c = LlmImputerConfig::default();
            Cli::parse_from(["t", "--llm-retrieval", v]).llm.apply(&mut c).map(|()| (c.retrieval.mode, c.retrieval.k))
        };
        assert_eq!(given("5").unwrap(), (RetrievalMode::On, 5));
        assert_eq!(given("0").unwrap().0, RetrievalMode::Off);
        assert_eq!(given("off").unwrap(), (RetrievalMode::Off, 3));
        assert_eq!(given("on").unwrap(), (RetrievalMode::On, 3));
        assert_eq!(given("auto").unwrap(), (RetrievalMode::Auto, 3));
        let err = given("sometimes").unwrap_err().to_string();
        assert!(err.contains("off, on, auto"), "{err}");
    }
}
