//! The experiment grid and its settings, as a serde struct saved beside the results.

use std::path::PathBuf;

use dlrm::{DlrmConfig, TaskKind};
use rec_table::ReadSettings;
use serde::{Deserialize, Serialize};

pub use crate::llm::LlmImputerConfig;
pub use crate::names::{ImputerName, Pattern, TaskName};

/// The recommender of a grid: `dlrm`'s defaults with a budget of 5 epochs and no progress
/// bar (each cell sets the seed and the task). A config file's `dlrm` object overrides the
/// fields it names and keeps these for the rest.
pub fn grid_dlrm() -> DlrmConfig {
    DlrmConfig::default().with_epochs(5).with_progress(false)
}

fn default_cold_id_dropout() -> f64 {
    0.2
}

/// Deserialises the fields given over [`grid_dlrm`] (plain `#[serde(default)]` would take
/// `DlrmConfig`'s own defaults for the fields a partial object leaves out).
fn overlay_grid_dlrm<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DlrmConfig, D::Error> {
    llm_config::deserialize_over(d, &grid_dlrm())
}

/// An experiment on your own table (the task `table`): one row per example, with a target
/// column for the recommender to predict.
///
/// ```
/// let task: rec_experiments::TableTask =
///     serde_json::from_str(r#"{"path": "clicks.csv", "target": "clicked", "group": "user_id"}"#)?;
/// assert_eq!(task.train_fraction, 0.8);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableTask {
    /// The table, CSV or Parquet.
    pub path: PathBuf,
    /// The column to predict: never hidden, never shown to the imputer; rows where it is
    /// empty are left out (and counted in each cell's `unlabelled_rows`).
    pub target: String,
    /// What the target is: `auto` (0/1 or two labels: binary; other labels: multi-class;
    /// other numbers: regression), `binary`, `multi_class` or `regression`.
    #[serde(default)]
    pub kind: TaskKind,
    /// Rows sharing a value of this column (a user id, say) stay on one side of the split;
    /// `None` splits rows at random. Grouping by an id column is a cold-start split (the test
    /// users, or items, are unseen in training): the recommender then trains its unknown-id
    /// embedding with the grid's `cold_id_dropout` in place of `dlrm.id_dropout`.
    #[serde(default)]
    pub group: Option<String>,
    /// Attribute tables (users, items, ...) joined onto the rows by key, after imputation:
    /// their cells are hidden and filled per table (one row per user or item, not once per
    /// interaction), then each row takes its user's and item's attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeTable>,
    /// Fraction of the rows (or groups) that train the recommender; the rest test it.
    #[serde(default = "default_train_fraction")]
    pub train_fraction: f64,
    /// For multi-class and regression targets that are numbers: Recall@10, NDCG@10 and HR@10
    /// per value of this column (the user), a row relevant when its target is at least
    /// `relevant_at`.
    #[serde(default)]
    pub rank_by: Option<String>,
    /// The relevance threshold of the ranking metrics.
    #[serde(default = "default_relevant_at")]
    pub relevant_at: f64,
    /// How the file is read (forced kinds, missing-value texts, delimiter).
    #[serde(default)]
    pub read: ReadSettings,
}

/// An attribute table of a [`TableTask`]: one row per key, joined onto the task's rows.
///
/// ```
/// let users: rec_experiments::AttributeTable =
///     serde_json::from_str(r#"{"path": "users.csv", "key": "user_id"}"#)?;
/// assert_eq!(users.on(), "user_id");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeTable {
    /// The table, CSV or Parquet.
    pub path: PathBuf,
    /// Its key column; each key appears once.
    pub key: String,
    /// The column of the task's table that holds the key, when it is named differently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    /// How the file is read.
    #[serde(default)]
    pub read: ReadSettings,
}

impl AttributeTable {
    /// The attribute table at `path`, keyed by `key` (the same name in the task's table).
    pub fn new(path: impl Into<PathBuf>, key: impl Into<String>) -> Self {
        AttributeTable { path: path.into(), key: key.into(), on: None, read: ReadSettings::default() }
    }

    /// The column of the task's table that holds the key.
    pub fn on(&self) -> &str {
        self.on.as_deref().unwrap_or(&self.key)
    }
}

fn default_train_fraction() -> f64 {
    0.8
}

fn default_relevant_at() -> f64 {
    4.0
}

impl TableTask {
    /// A task predicting `target` from the other columns of `path`, split at random.
    pub fn new(path: impl Into<PathBuf>, target: impl Into<String>) -> Self {
        TableTask {
            path: path.into(),
            target: target.into(),
            kind: TaskKind::Auto,
            group: None,
            attributes: Vec::new(),
            train_fraction: default_train_fraction(),
            rank_by: None,
            relevant_at: default_relevant_at(),
            read: ReadSettings::default(),
        }
    }

    /// Checks the settings that need no file.
    pub fn validate(&self) -> Result<(), String> {
        if self.target.is_empty() {
            return Err("table: the target column is not named".into());
        }
        if !(self.train_fraction > 0.0 && self.train_fraction < 1.0) {
            return Err(format!("table: train_fraction {} is outside (0, 1)", self.train_fraction));
        }
        if self.group.as_deref() == Some(self.target.as_str()) {
            return Err("table: the group column cannot be the target".into());
        }
        for a in &self.attributes {
            if a.key.is_empty() {
                return Err(format!("table: the attribute table {} names no key", a.path.display()));
            }
            if a.on() == self.target {
                return Err(format!("table: the target '{}' cannot be the key of {}", self.target, a.path.display()));
            }
        }
        Ok(())
    }
}

/// A grid of experiments: every combination of task, imputer, pattern, rate and seed is one
/// cell, run independently and saved as one JSON file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExperimentConfig {
    /// Where results go: `config.json`, `cells/*.json`, `report.md`, `results.json`.
    pub out_dir: PathBuf,
    /// The shared data directory (MovieLens under `ml-100k/`, AdClick under `adclick/`);
    /// `None` uses `RECIMPUTE_DATA` or `../shared/data`.
    pub data_dir: Option<PathBuf>,
    /// Tasks to run.
    pub tasks: Vec<TaskName>,
    /// Imputers to compare.
    pub imputers: Vec<ImputerName>,
    /// Missingness mechanisms of the injected holes.
    pub patterns: Vec<Pattern>,
    /// Rates of injected holes (fraction of observed feature cells).
    pub rates: Vec<f64>,
    /// Seeds: each changes the holes, the split (where random) and the model's initialisation.
    pub seeds: Vec<u64>,
    /// Rows of the synthetic table.
    pub synthetic_rows: usize,
    /// The recommender's settings (seed and task are set per cell).
    #[serde(deserialize_with = "overlay_grid_dlrm")]
    pub dlrm: DlrmConfig,
    /// The recommender's id dropout on the cold-start tasks, in place of `dlrm.id_dropout`:
    /// their test users (or items) are unknown, so the unknown-id embedding must be trained
    /// (0.2).
    #[serde(default = "default_cold_id_dropout")]
    pub cold_id_dropout: f64,
    /// The LLM imputer's settings, used when `imputers` has `llm` (a config file's `llm` object
    /// overrides the fields it names; `train.seed` is set per cell from `seeds`). Recorded
    /// whole in `config.json`.
    #[serde(deserialize_with = "llm_config::deserialize_llm_config")]
    pub llm: LlmImputerConfig,
    /// Your own table, for the task `table`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<TableTask>,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        ExperimentConfig {
            out_dir: PathBuf::from("results"),
            data_dir: None,
            tasks: vec![TaskName::Adclick, TaskName::MovielensClass, TaskName::MovielensRegression],
            imputers: ImputerName::ALL.to_vec(),
            patterns: vec![Pattern::Mcar],
            rates: vec![0.05],
            seeds: vec![0, 1, 2],
            synthetic_rows: 4000,
            dlrm: grid_dlrm(),
            cold_id_dropout: default_cold_id_dropout(),
            llm: LlmImputerConfig::default(),
            table: None,
        }
    }
}

impl crate::grid::GridConfig for ExperimentConfig {
    const FREE: &'static [&'static str] = &["out_dir", "data_dir", "tasks", "imputers", "patterns", "rates", "seeds"];
}

impl ExperimentConfig {
    /// The embedded default of `recimpute demo`: the synthetic AdClick-shaped task, every
    /// classical imputer, 5% MCAR, one seed, sized for a few minutes on two cores.
    pub fn demo() -> Self {
        ExperimentConfig {
            out_dir: PathBuf::from("results/demo"),
            tasks: vec![TaskName::SyntheticAdclick],
            seeds: vec![0],
            synthetic_rows: 3000,
            llm: LlmImputerConfig::default(),
            ..ExperimentConfig::default()
        }
    }

    /// Checks rates, and that nothing is empty.
    pub fn validate(&self) -> Result<(), String> {
        if self.tasks.is_empty() || self.imputers.is_empty() || self.patterns.is_empty() {
            return Err("the grid needs at least one task, imputer and pattern".into());
        }
        if self.rates.is_empty() || self.seeds.is_empty() {
            return Err("the grid needs at least one rate and one seed".into());
        }
        if let Some(r) = self.rates.iter().find(|r| !(0.0..1.0).contains(*r)) {
            return Err(format!("rate {r} is outside [0, 1)"));
        }
        self.dlrm.validate().map_err(|e| format!("dlrm: {e}"))?;
        if !(0.0..1.0).contains(&self.cold_id_dropout) {
            return Err(format!("cold_id_dropout must be in [0, 1), got {}", self.cold_id_dropout));
        }
        match (&self.table, self.tasks.contains(&TaskName::Table)) {
            (Some(table), true) => table.validate()?,
            (None, true) => return Err("the task 'table' needs a `table` section (path, target)".into()),
            (Some(_), false) => return Err("a `table` section is given but the tasks do not include 'table'".into()),
            (None, false) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_dlrm_object_overrides_only_its_fields() {
        let c: ExperimentConfig = serde_json::from_str(r#"{"dlrm": {"lr": 0.01}}"#).unwrap();
        assert_eq!(c.dlrm.lr, 0.01);
        assert_eq!(c.dlrm.epochs, 5, "the grid's budget, not DlrmConfig's 10");
        assert!(!c.dlrm.progress);
        let absent: ExperimentConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.dlrm, grid_dlrm());
        // What config.json records reads back the same.
        let again: ExperimentConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
        assert!(serde_json::from_str::<ExperimentConfig>(r#"{"dlrm": 3}"#).is_err());
        let bad = ExperimentConfig { dlrm: grid_dlrm().with_batch_size(0), ..ExperimentConfig::default() };
        assert!(bad.validate().unwrap_err().contains("batch_size"), "{:?}", bad.validate());
        // History bags as docs/RESULTS-dlrm.md writes them.
        let c: ExperimentConfig =
            serde_json::from_str(r#"{"dlrm": {"history": [{"key": "user_id", "of": "item_id"}]}}"#).unwrap();
        assert_eq!(c.dlrm.history, [dlrm::HistoryBag::new("user_id", "item_id")]);
        assert_eq!(c.dlrm.epochs, 5);
    }
}
