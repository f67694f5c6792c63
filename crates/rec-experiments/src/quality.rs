//! Imputation quality on its own: hide observed cells of a table, impute, score the hidden
//! cells per column (no recommender involved). Resumable like the main grid.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::{Error, Result};
use rec_datasets::adclick::{adclick_path, load_adclick};
use rec_datasets::missingness::{Mask, Masked};
use rec_datasets::movielens::{load_ml100k, MovieLensOptions};
use rec_metrics::{ColumnMetrics, ImputationReport};
use rec_table::{FittedImputer as _, Imputer as _};
use rec_table::{ReadSettings, Table};
use serde::{Deserialize, Serialize};

use crate::cell::{data_dir, is_zero, LossPoint};
use crate::llm::LlmImputerConfig;
use crate::names::{ImputerName, ImputerParams, Pattern};
use crate::report::mean_std;

/// A table whose observed cells are hidden and imputed: a built-in one, or any CSV/Parquet
/// file (written in configs and flags as its path).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum QualityTable {
    /// MovieLens 100K users: age, gender, occupation, region.
    Ml100kUsers,
    /// MovieLens 100K items: year and genres (titles stay observed and condition the rest).
    Ml100kItems,
    /// AdClick's observed feature cells (its natural gaps stay missing).
    Adclick,
    /// The generated AdClick-shaped table.
    SyntheticAdclick,
    /// A CSV or Parquet file: every column but ids and free text may be hidden (see
    /// [`QualityConfig::columns`]); read as [`QualityConfig::read`] says.
    File(PathBuf),
}

impl QualityTable {
    /// The name used in keys and reports: the built-in table's name, or the file's name.
    pub fn as_str(&self) -> &str {
        match self {
            QualityTable::Ml100kUsers => "ml100k-users",
            QualityTable::Ml100kItems => "ml100k-items",
            QualityTable::Adclick => "adclick",
            QualityTable::SyntheticAdclick => "synthetic-adclick",
            QualityTable::File(path) => path.file_name().and_then(|n| n.to_str()).unwrap_or("table"),
        }
    }

    /// The built-in tables.
    pub const ALL: [QualityTable; 4] =
        [QualityTable::Ml100kUsers, QualityTable::Ml100kItems, QualityTable::Adclick, QualityTable::SyntheticAdclick];

    /// Whether reading this table needs the shared data directory.
    fn needs_data(&self) -> bool {
        matches!(self, QualityTable::Ml100kUsers | QualityTable::Ml100kItems | QualityTable::Adclick)
    }

    /// The table and the columns that are never hidden.
    fn load(&self, data: &Path, config: &QualityConfig) -> Result<(Table, Vec<&'static str>)> {
        Ok(match self {
            QualityTable::Ml100kUsers => {
                (load_ml100k(data.join("ml-100k"), &MovieLensOptions::default())?.users, vec!["user_id"])
            }
            QualityTable::Ml100kItems => {
                (load_ml100k(data.join("ml-100k"), &MovieLensOptions::default())?.items, vec!["item_id", "title"])
            }
            // The loader keeps the user id out of the table (it becomes the split groups),
            // so every feature column may be hidden.
            QualityTable::Adclick => (load_adclick(adclick_path(data))?.table.drop_columns(&["click"])?, vec![]),
            QualityTable::SyntheticAdclick => {
                (rec_datasets::synthetic::adclick_like(config.synthetic_rows, 4242)?.drop_columns(&["click"])?, vec![])
            }
            QualityTable::File(path) => (config.read.read(path)?, vec![]),
        })
    }
}

impl std::str::FromStr for QualityTable {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(t) = QualityTable::ALL.into_iter().find(|t| t.as_str() == s) {
            return Ok(t);
        }
        if s.contains(['.', '/', '\\']) {
            return Ok(QualityTable::File(PathBuf::from(s)));
        }
        Err(format!(
            "unknown table '{s}' (expected a CSV or Parquet file, or one of: {})",
            QualityTable::ALL.map(|t| t.as_str().to_string()).join(", ")
        ))
    }
}

impl TryFrom<String> for QualityTable {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<QualityTable> for String {
    fn from(t: QualityTable) -> String {
        match t {
            QualityTable::File(path) => path.to_string_lossy().into_owned(),
            builtin => builtin.as_str().to_string(),
        }
    }
}

/// The grid of an imputation-quality run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QualityConfig {
    /// Where `cells/*.json`, `config.json` and `quality.md` go.
    pub out_dir: PathBuf,
    /// The shared data directory; `None` uses `RECIMPUTE_DATA` or `../shared/data`.
    pub data_dir: Option<PathBuf>,
    /// Tables to hide cells in.
    pub tables: Vec<QualityTable>,
    /// Imputers (deletion is refused: it fills nothing).
    pub imputers: Vec<ImputerName>,
    /// Missingness mechanisms.
    pub patterns: Vec<Pattern>,
    /// Fractions of observed cells to hide.
    pub rates: Vec<f64>,
    /// Seeds (each hides other cells and seeds the imputers).
    pub seeds: Vec<u64>,
    /// Rows of the generated table.
    pub synthetic_rows: usize,
    /// Hide only in these columns (every table must have them); empty: every column but ids
    /// and free text (and, in the built-in tables, their keys and titles).
    pub columns: Vec<String>,
    /// How the tables given as files are read (forced kinds, missing-value texts, delimiter).
    pub read: ReadSettings,
    /// The LLM imputer's settings, used when `imputers` has `llm` (a config file's `llm` object
    /// overrides the fields it names; `train.seed` is set per cell from `seeds`). Recorded
    /// whole in `config.json`.
    #[serde(deserialize_with = "llm_config::deserialize_llm_config")]
    pub llm: LlmImputerConfig,
    /// Score a seeded sample of this many hidden cells per grid cell instead of all of them:
    /// every imputer is fitted on the same masked table and scored on the same sample, and the
    /// LLM fills only the sampled cells (its fill time grows with the cells it fills).
    pub score_cells: Option<usize>,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            out_dir: PathBuf::from("results/quality"),
            data_dir: None,
            tables: vec![QualityTable::Ml100kUsers, QualityTable::Ml100kItems],
            imputers: vec![ImputerName::Mean, ImputerName::Knn, ImputerName::Iterative, ImputerName::Missforest],
            patterns: vec![Pattern::Mcar],
            rates: vec![0.05, 0.2],
            seeds: vec![0, 1, 2],
            synthetic_rows: 2000,
            columns: Vec::new(),
            read: ReadSettings::default(),
            llm: LlmImputerConfig::default(),
            score_cells: None,
        }
    }
}

impl crate::grid::GridConfig for QualityConfig {
    const FREE: &'static [&'static str] = &["out_dir", "data_dir", "tables", "imputers", "patterns", "rates", "seeds"];
}

/// One cell of the quality grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualitySpec {
    /// The table.
    pub table: QualityTable,
    /// The imputer.
    pub imputer: ImputerName,
    /// The mechanism.
    pub pattern: Pattern,
    /// The fraction hidden.
    pub rate: f64,
    /// The seed.
    pub seed: u64,
}

impl crate::grid::GridCell for QualitySpec {
    fn key(&self) -> String {
        QualitySpec::key(self)
    }
}

impl QualitySpec {
    /// A file-name-safe key.
    pub fn key(&self) -> String {
        let table: String = self
            .table
            .as_str()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
            .collect();
        format!(
            "{}__{}__{}__r{:04}__s{}",
            table,
            self.imputer.as_str(),
            self.pattern.as_str(),
            (self.rate * 1000.0).round() as u64,
            self.seed
        )
    }
}

/// What one quality cell measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityResult {
    /// The cell.
    pub spec: QualitySpec,
    /// Cells hidden.
    pub hidden_cells: usize,
    /// Hidden cells scored, when a sample of them was (`QualityConfig::score_cells`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scored_cells: Option<usize>,
    /// Per-column scores of the hidden cells.
    pub report: ImputationReport,
    /// Seconds to fit the imputer.
    pub fit_s: f64,
    /// Seconds to impute the hidden cells.
    pub impute_s: f64,
    /// The LLM's fine-tuning loss (empty for other imputers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loss_history: Vec<LossPoint>,
    /// What the LLM's fit and fill did (`None` for other imputers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmCellReport>,
    /// What the fitted imputer said about its fit (a solver stopped at its budget, a chain out
    /// of rounds; see `FittedClassical::notes`); empty when nothing, and in older results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The LLM imputer's side of a quality cell: its held-out check and what its fill fell back on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmCellReport {
    /// The precision the frozen base ran in (`auto` resolved for this machine); absent in
    /// results saved before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<llm_config::Precision>,
    /// `(blocks run, blocks of the backbone)` when the imputer's `depth` dropped some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<(usize, usize)>,
    /// Optimizer steps taken.
    pub steps: usize,
    /// The step whose adapter was kept.
    pub best_step: Option<usize>,
    /// Training stopped early (the held-out check stopped improving).
    pub stopped_early: bool,
    /// The fine-tune's time limit in seconds, if it had one (absent in older results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_s: Option<f64>,
    /// The time limit ended the fine-tune before its step budget.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub time_limited: bool,
    /// Seconds of `slow_cpu_seconds` kept back from the fine-tune for the calibration and fill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_s: Option<f64>,
    /// `(step, nats per held-out cell beyond the column frequencies)` at each check.
    pub holdout_gain: Vec<(usize, f64)>,
    /// Whether the kept adapter learnt beyond the column frequencies.
    pub learnt: Option<bool>,
    /// Cells filled with the column's mode/median because no valid value came out, per column.
    pub fallbacks: BTreeMap<String, usize>,
    /// Lists cut by the token budget and kept with their complete elements, per column.
    pub salvaged: BTreeMap<String, usize>,
    /// Cells whose retrieval prompt lost retrieved rows to fit the model's context, per column
    /// (empty when none did), and training examples that did.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trimmed: BTreeMap<String, usize>,
    /// Training examples whose retrieval prompt lost retrieved rows to fit the context.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub trimmed_examples: usize,
    /// Scored questions that continued the key/value cache of their row's previous question
    /// (`fill.block_rows`), and those run from their first token; both 0 when the fill went
    /// column by column.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub questions_resumed: usize,
    /// See `questions_resumed`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub questions_fresh: usize,
    /// Tokens the fine-tune read (padding excluded) and positions it ran (padding included);
    /// both 0 in results saved before they were recorded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub train_tokens: u64,
    /// See `train_tokens`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub padded_tokens: u64,
    /// The prior-correction weight per column.
    pub prior_lambda: Vec<(String, f64)>,
    /// Whether the prompts carried similar training rows (`None` in results saved before it
    /// was recorded).
    #[serde(default)]
    pub retrieval_on: Option<bool>,
    /// What `auto` retrieval measured and chose, when the mode was `auto`.
    #[serde(default)]
    pub retrieval: Option<llm_config::RetrievalProbe>,
    /// What the fit measured to decide whether a slow CPU's shallower backbone applied (absent
    /// where it did not come into question, and in results saved before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth_probe: Option<llm_config::DepthProbe>,
    /// The imputer's full settings behind these numbers (the grid's overrides resolved over
    /// the imputer's defaults); absent in results saved before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

impl LlmCellReport {
    /// Fallback cells over all columns.
    pub fn total_fallbacks(&self) -> usize {
        self.fallbacks.values().sum()
    }
}

/// Runs one quality cell.
pub fn run_quality_cell(spec: &QualitySpec, data: &Path, config: &QualityConfig) -> Result<QualityResult> {
    if spec.imputer == ImputerName::Deletion {
        return Err(Error::Config(
            "deletion fills no cell, so it has no imputation quality; leave it out of the imputers".into(),
        ));
    }
    let (table, exclude) = spec.table.load(data, config)?;
    let holes =
        spec.pattern.holes(spec.rate, spec.seed, crate::truth::SALT).with_columns(config.columns.iter().cloned());
    let holes = holes.with_exclude(exclude);
    let Masked { table: masked, mask } = crate::truth::hide(&table, &holes)?;
    let hidden_cells = mask.len();
    let (mask, scored_cells) = match config.score_cells {
        Some(n) if n < mask.len() => {
            let sample = sample_mask(&mask, n, spec.seed)?;
            let scored = sample.len();
            (sample, Some(scored))
        }
        _ => (mask, None),
    };
    let (filled, fit_s, impute_s, losses, llm, notes) = if spec.imputer == ImputerName::Llm {
        let (filled, fit_s, impute_s, losses, llm) = impute_llm(&masked, &mask, &config.llm, spec.seed)?;
        (filled, fit_s, impute_s, losses, llm, Vec::new())
    } else {
        let t0 = Instant::now();
        let fitted = spec.imputer.build(ImputerParams::seeded(spec.seed))?.fit(&masked)?;
        let fit_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let filled = fitted.transform(&masked)?;
        (filled, fit_s, t1.elapsed().as_secs_f64(), Vec::new(), None, fitted.notes())
    };
    let report = crate::hidden::score_hidden(&table, &mask, &filled, Some)?;
    Ok(QualityResult {
        spec: spec.clone(),
        hidden_cells,
        scored_cells,
        report,
        fit_s,
        impute_s,
        loss_history: losses,
        llm,
        notes,
    })
}

/// A seeded sample of `n` of the mask's cells (all of them when it has no more), in their
/// original order.
fn sample_mask(mask: &Mask, n: usize, seed: u64) -> Result<Mask> {
    let entries = mask.entries();
    let picked = rec_datasets::split::sample_rows(entries.len(), n, seed);
    Ok(Mask::from_entries(picked.into_iter().map(|i| entries[i].clone()).collect())?)
}

/// Filled table, fit and fill seconds, loss curve, and the LLM's report.
type LlmOutcome = (Table, f64, f64, Vec<LossPoint>, Option<LlmCellReport>);

#[cfg(feature = "llm")]
fn impute_llm(masked: &Table, mask: &Mask, settings: &LlmImputerConfig, seed: u64) -> Result<LlmOutcome> {
    use llm_imputer::{ImputeOptions, LlmImputer};
    let t0 = Instant::now();
    let fitted = LlmImputer::new(crate::llm_cell_config(settings, seed)?).fit(masked)?;
    let fit_s = t0.elapsed().as_secs_f64();
    // Only the hidden cells: a table's natural gaps are not scored, so they are not imputed.
    let only = mask.entries().iter().map(|(c, _)| *c).collect();
    let t1 = Instant::now();
    let imp = fitted.impute(masked, &ImputeOptions { only: Some(only), ..ImputeOptions::default() })?;
    let impute_s = t1.elapsed().as_secs_f64();
    let fit = fitted.report();
    let report = LlmCellReport {
        precision: Some(fit.precision),
        blocks: fit.blocks,
        steps: fit.steps,
        best_step: fit.best_step,
        stopped_early: fit.stopped_early,
        time_limit_s: fit.time_limit_s,
        time_limited: fit.time_limited,
        reserved_s: fit.reserved_s,
        holdout_gain: fit.holdout.iter().map(|p| (p.step, p.gain())).collect(),
        learnt: fit.learnt,
        fallbacks: imp.columns.iter().map(|(c, f)| (c.clone(), f.fallbacks)).collect(),
        salvaged: imp.columns.iter().map(|(c, f)| (c.clone(), f.salvaged)).collect(),
        trimmed: imp.columns.iter().filter(|(_, f)| f.trimmed > 0).map(|(c, f)| (c.clone(), f.trimmed)).collect(),
        trimmed_examples: fit.trimmed_examples,
        questions_resumed: imp.prompt_reuse.resumed,
        questions_fresh: imp.prompt_reuse.fresh,
        train_tokens: fit.tokens,
        padded_tokens: fit.padded_tokens,
        prior_lambda: fit.prior_lambda.clone(),
        retrieval_on: Some(fitted.retrieval_on()),
        retrieval: fit.retrieval.clone(),
        depth_probe: fit.depth_probe.clone(),
        config: Some(serde_json::to_value(fitted.config())?),
    };
    if imp.fallbacks > 0 {
        let names: Vec<String> =
            imp.columns.iter().filter(|(_, f)| f.fallbacks > 0).map(|(c, f)| format!("{c} {}", f.fallbacks)).collect();
        eprintln!(
            "llm: {} of {} cells fell back to the mode/median ({})",
            imp.fallbacks,
            imp.cells.len(),
            names.join(", ")
        );
    }
    let filled = masked.with_filled(imp.cells.into_iter().map(|c| (c.cell, c.value)))?;
    let losses = fit.losses.iter().map(|&(step, loss)| LossPoint { step, loss }).collect();
    Ok((filled, fit_s, impute_s, losses, Some(report)))
}

#[cfg(not(feature = "llm"))]
fn impute_llm(_: &Table, _: &Mask, _: &LlmImputerConfig, _: u64) -> Result<LlmOutcome> {
    Err(Error::NotBuilt { what: "LLM imputer", feature: "llm" })
}

/// Every cell of the quality grid, in a stable order.
pub fn quality_cells(config: &QualityConfig) -> Vec<QualitySpec> {
    crate::grid::axes(&config.tables, &config.patterns, &config.rates, &config.seeds, &config.imputers)
        .map(|(table, pattern, rate, seed, imputer)| QualitySpec { table, imputer, pattern, rate, seed })
        .collect()
}

/// Runs (or resumes) the quality grid, writing each cell as it finishes and `quality.md` at
/// the end; `on_cell(i, n, spec, reused)` is called before each cell.
pub fn run_quality(
    config: &QualityConfig,
    on_cell: impl FnMut(usize, usize, &QualitySpec, bool),
) -> Result<Vec<QualityResult>> {
    if config.rates.iter().any(|r| !(*r > 0.0 && *r < 1.0)) {
        return Err(Error::Config(format!("rates must be in (0, 1), got {:?}", config.rates)));
    }
    if config.tables.is_empty() || config.imputers.is_empty() || config.seeds.is_empty() {
        return Err(Error::Config("the quality grid needs at least one table, imputer and seed".into()));
    }
    if config.patterns.is_empty() {
        return Err(Error::Config("the quality grid needs at least one pattern".into()));
    }
    let mut names = BTreeMap::new();
    for t in &config.tables {
        if let Some(other) = names.insert(t.as_str(), t) {
            return Err(Error::Config(format!(
                "two tables are both called '{}' ({} and {}): their cells would share file names; rename one",
                t.as_str(),
                String::from(other.clone()),
                String::from(t.clone())
            )));
        }
    }
    // Files and the generated table need no data directory: only look for it when asked.
    let data = if config.tables.iter().any(QualityTable::needs_data) {
        data_dir(config.data_dir.as_deref())?
    } else {
        PathBuf::new()
    };
    let grid = quality_cells(config);
    let results =
        crate::grid::run_cells(&config.out_dir, config, &grid, |spec| run_quality_cell(spec, &data, config), on_cell)?
            .results;
    let mut md = quality_markdown(&results);
    if let Some(plot) = crate::plots::write_holdout_plot(&config.out_dir, &results)? {
        md.push_str(&format!("![{}]({})\n", plot.title, plot.png));
    }
    rec_table::write_bytes_atomic(&config.out_dir.join("quality.md"), md.as_bytes())?;
    Ok(results)
}

/// The per-column metrics of a column report: (name, value, higher is better).
pub(crate) fn metrics(m: &ColumnMetrics) -> Vec<(&'static str, f64)> {
    match m {
        ColumnMetrics::Numeric(n) => vec![("RMSE", n.rmse), ("MAE", n.mae)],
        ColumnMetrics::Categorical(c) => vec![("accuracy", c.accuracy), ("macro-F1", c.macro_f1)],
        ColumnMetrics::Set(s) => vec![("Jaccard", s.mean_jaccard)],
    }
}

/// Values of each metric of one column, per imputer.
type MetricValues = BTreeMap<&'static str, BTreeMap<ImputerName, Vec<f64>>>;

/// One table per (table, pattern, rate): rows are column × metric, columns are imputers,
/// cells are mean ± std over seeds; then fit and impute times.
pub fn quality_markdown(results: &[QualityResult]) -> String {
    type Key = (QualityTable, Pattern, u64);
    let mut groups: BTreeMap<Key, Vec<&QualityResult>> = BTreeMap::new();
    for r in results {
        groups
            .entry((r.spec.table.clone(), r.spec.pattern, (r.spec.rate * 1000.0).round() as u64))
            .or_default()
            .push(r);
    }
    let mut out = String::from("# Imputation quality on hidden cells\n\n");
    for ((table, pattern, rate), rs) in groups {
        let imputers: Vec<ImputerName> =
            rs.iter().map(|r| r.spec.imputer).collect::<BTreeSet<_>>().into_iter().collect();
        let seeds = rs.iter().map(|r| r.spec.seed).collect::<BTreeSet<_>>().len();
        let _ = writeln!(
            out,
            "## {} — {} {:.0}% ({} seed{})\n",
            table.as_str(),
            pattern.as_str().to_uppercase(),
            rate as f64 / 10.0,
            seeds,
            if seeds == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            out,
            "| column | metric | {} |",
            imputers.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(" | ")
        );
        let _ = writeln!(out, "|---|---|{}", "---|".repeat(imputers.len()));
        metric_rows(&mut out, &imputers, &rs);
        cost_and_llm_rows(&mut out, &imputers, &rs);
        out.push('\n');
    }
    out
}

/// The column × metric rows of one group: mean ± std over seeds per imputer.
fn metric_rows(out: &mut String, imputers: &[ImputerName], rs: &[&QualityResult]) {
    // column -> metric -> imputer -> values
    let mut cols: BTreeMap<(usize, String), MetricValues> = BTreeMap::new();
    for r in rs {
        for (pos, c) in r.report.columns.iter().enumerate() {
            for (name, v) in metrics(&c.metrics) {
                cols.entry((pos, c.column.clone()))
                    .or_default()
                    .entry(name)
                    .or_default()
                    .entry(r.spec.imputer)
                    .or_default()
                    .push(v);
            }
        }
    }
    let mut seen = BTreeSet::new();
    for ((_, column), ms) in &cols {
        if !seen.insert(column.clone()) {
            continue;
        }
        for (metric, per) in ms {
            let cells: Vec<String> = imputers
                .iter()
                .map(|i| match per.get(i).map(|v| mean_std(v)) {
                    Some((m, _, 1)) => format!("{m:.4}"),
                    Some((m, s, n)) if n > 1 => format!("{m:.4} ± {s:.4}"),
                    _ => "–".into(),
                })
                .collect();
            let _ = writeln!(out, "| {column} | {metric} | {} |", cells.join(" | "));
        }
    }
}

/// The fit + impute seconds, the LLM's fallbacks (and trimmed retrieval prompts, when any)
/// per seed, one line per fit that left notes, and one line per LLM fit with its held-out
/// curve.
/// ", N s kept for the calibration and fill" when a budget kept that back, else nothing.
fn kept(reserved_s: Option<f64>) -> String {
    reserved_s.map_or(String::new(), |r| format!(", {r:.0} s kept for the calibration and fill"))
}

fn cost_and_llm_rows(out: &mut String, imputers: &[ImputerName], rs: &[&QualityResult]) {
    let times: Vec<String> = imputers
        .iter()
        .map(|i| {
            let fit: Vec<f64> = rs.iter().filter(|r| r.spec.imputer == *i).map(|r| r.fit_s).collect();
            let imp: Vec<f64> = rs.iter().filter(|r| r.spec.imputer == *i).map(|r| r.impute_s).collect();
            format!("{:.1} + {:.1}", mean_std(&fit).0, mean_std(&imp).0)
        })
        .collect();
    let _ = writeln!(out, "| *fit + impute s* | | {} |", times.join(" | "));
    // Per imputer, one LLM figure per seed ("–" for imputers without an LLM report).
    let per_seed = |f: &dyn Fn(&LlmCellReport) -> String| -> Vec<String> {
        imputers
            .iter()
            .map(|i| {
                let per: Vec<String> =
                    rs.iter().filter(|r| r.spec.imputer == *i).filter_map(|r| r.llm.as_ref()).map(f).collect();
                if per.is_empty() {
                    "–".into()
                } else {
                    per.join(", ")
                }
            })
            .collect()
    };
    // Fallbacks are counted for the LLM (classical imputers always produce a value).
    let fallbacks = per_seed(&|l| l.total_fallbacks().to_string());
    let _ = writeln!(out, "| *fallback cells (per seed)* | | {} |", fallbacks.join(" | "));
    // Retrieval prompts cut to fit the context, shown only when any was.
    let trimmed = per_seed(&|l| format!("{}/{}", l.trimmed.values().sum::<usize>(), l.trimmed_examples));
    let any_trimmed = rs.iter().filter_map(|r| r.llm.as_ref()).any(|l| !l.trimmed.is_empty() || l.trimmed_examples > 0);
    if any_trimmed {
        let _ =
            writeln!(out, "| *retrieval prompts cut to fit (cells/examples per seed)* | | {} |", trimmed.join(" | "));
    }
    let _ = writeln!(out);
    for r in rs.iter().filter(|r| !r.notes.is_empty()) {
        let _ = writeln!(out, "- {} seed {}: {}", r.spec.imputer.as_str(), r.spec.seed, r.notes.join("; "));
    }
    for r in rs.iter().filter(|r| r.llm.is_some()) {
        if let Some(l) = &r.llm {
            let curve: Vec<String> = l.holdout_gain.iter().map(|(s, g)| format!("{s}: {g:+.3}")).collect();
            let _ = writeln!(
                out,
                "- llm seed {}: {}{}{}{} steps{}, kept step {}{}; held-out nats/cell beyond the column frequencies: {}",
                r.spec.seed,
                l.precision.map_or(String::new(), |p| match l.blocks {
                    Some((kept, of)) => format!("base in {p}, {kept} of {of} blocks, "),
                    None => format!("base in {p}, "),
                }),
                l.depth_probe.as_ref().map_or(String::new(), |p| format!("{}, ", p.summary())),
                retrieval_note(l),
                l.steps,
                match (l.time_limit_s, l.time_limited) {
                    (Some(s), true) => format!(" (cut by the {s:.0} s time limit{})", kept(l.reserved_s)),
                    (Some(s), false) => format!(" (within the {s:.0} s time limit{})", kept(l.reserved_s)),
                    (None, _) => String::new(),
                },
                l.best_step.map_or("(last)".into(), |s| s.to_string()),
                if l.stopped_early { ", stopped early" } else { "" },
                if curve.is_empty() { "(no check)".into() } else { curve.join(", ") }
            );
        }
    }
}

/// What a report's per-seed LLM line says of retrieval: the probe's line under `auto`,
/// "retrieval on (K rows)" when it was forced on, nothing when it was off by the settings or
/// not recorded.
fn retrieval_note(l: &LlmCellReport) -> String {
    match (&l.retrieval, l.retrieval_on) {
        (Some(p), _) => format!("{}, ", p.summary()),
        (None, Some(true)) => {
            let k = l.config.as_ref().and_then(|c| c.pointer("/retrieval/k")).and_then(serde_json::Value::as_u64);
            format!("retrieval on ({} rows), ", k.unwrap_or(0))
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rec_table::{Cell, Value};

    #[test]
    fn a_fits_notes_reach_the_report() {
        let result = |seed, notes: &[&str]| QualityResult {
            spec: QualitySpec {
                table: QualityTable::SyntheticAdclick,
                imputer: ImputerName::Iterative,
                pattern: Pattern::Mcar,
                rate: 0.2,
                seed,
            },
            hidden_cells: 10,
            scored_cells: None,
            report: ImputationReport::new(),
            fit_s: 0.1,
            impute_s: 0.0,
            loss_history: Vec::new(),
            llm: None,
            notes: notes.iter().map(|n| n.to_string()).collect(),
        };
        let md = quality_markdown(&[
            result(0, &[]),
            result(3, &["the chain ran all 10 rounds without meeting its tolerance"]),
        ]);
        assert!(md.contains("- iterative seed 3: the chain ran all 10 rounds"), "{md}");
        assert!(!md.contains("seed 0:"), "{md}");
    }

    #[test]
    fn a_sampled_mask_is_a_seeded_subset_in_order() {
        let entries: Vec<(Cell, Value)> =
            (0..100).map(|r| (Cell { row: r, col: r % 3 }, Value::Number(r as f64))).collect();
        let mask = Mask::from_entries(entries.clone()).unwrap();
        let a = sample_mask(&mask, 10, 1).unwrap();
        assert_eq!(a.len(), 10);
        assert!(a.entries().iter().all(|e| entries.contains(e)));
        assert!(a.entries().windows(2).all(|w| w[0].0.row < w[1].0.row), "original order kept");
        assert_eq!(sample_mask(&mask, 10, 1).unwrap(), a, "same seed, same sample");
        assert_ne!(sample_mask(&mask, 10, 2).unwrap(), a, "another seed, another sample");
        assert_eq!(sample_mask(&mask, 500, 1).unwrap().len(), 100);
    }
}
