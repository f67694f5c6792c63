//! The experiment grid and its settings, as a serde struct saved beside the results.

use std::path::PathBuf;

use dlrm::DlrmConfig;
use serde::{Deserialize, Serialize};

pub use crate::llm_settings::LlmSettings;

/// A downstream task of the paper (plus the embedded synthetic one used by the demo).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskName {
    /// AdClick: predict `click` (binary); natural gaps plus injected ones.
    Adclick,
    /// MovieLens 100K, u1 split: the rating as 5 classes.
    MovielensClass,
    /// MovieLens 100K, u1 split: the rating as a number.
    MovielensRegression,
    /// A generated AdClick-shaped table with planted dependencies (no files needed).
    SyntheticAdclick,
}

impl TaskName {
    /// The name used in keys, flags and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskName::Adclick => "adclick",
            TaskName::MovielensClass => "movielens-class",
            TaskName::MovielensRegression => "movielens-regression",
            TaskName::SyntheticAdclick => "synthetic-adclick",
        }
    }

    /// Every task, in report order.
    pub const ALL: [TaskName; 4] =
        [TaskName::Adclick, TaskName::MovielensClass, TaskName::MovielensRegression, TaskName::SyntheticAdclick];
}

impl std::str::FromStr for TaskName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TaskName::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            format!("unknown task '{s}' (expected one of: {})", TaskName::ALL.map(|t| t.as_str()).join(", "))
        })
    }
}

/// An imputation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImputerName {
    /// Case-wise deletion of incomplete training rows (test rows keep their gaps).
    Deletion,
    /// Zero for numbers, a constant label for categories, the empty set for sets.
    Zero,
    /// Mean for numbers, mode for labels and sets.
    Mean,
    /// Median for numbers, mode for labels and sets.
    Median,
    /// K nearest neighbours (k = 5, distance-weighted).
    Knn,
    /// Iterative chained models (MICE-style).
    Iterative,
    /// Iterative random forests (MissForest-style).
    Missforest,
    /// The LLM imputer (LoRA fine-tune of a causal LM; needs the `llm` feature).
    Llm,
}

impl ImputerName {
    /// The name used in keys, flags and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ImputerName::Deletion => "deletion",
            ImputerName::Zero => "zero",
            ImputerName::Mean => "mean",
            ImputerName::Median => "median",
            ImputerName::Knn => "knn",
            ImputerName::Iterative => "iterative",
            ImputerName::Missforest => "missforest",
            ImputerName::Llm => "llm",
        }
    }

    /// Every classical imputer, in report order (the default grid; add [`ImputerName::Llm`]
    /// to compare the LLM imputer).
    pub const ALL: [ImputerName; 7] = [
        ImputerName::Deletion,
        ImputerName::Zero,
        ImputerName::Mean,
        ImputerName::Median,
        ImputerName::Knn,
        ImputerName::Iterative,
        ImputerName::Missforest,
    ];
}

impl std::str::FromStr for ImputerName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "llm" {
            return Ok(ImputerName::Llm);
        }
        ImputerName::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            format!("unknown imputer '{s}' (expected one of: {}, llm)", ImputerName::ALL.map(|t| t.as_str()).join(", "))
        })
    }
}

/// A missingness mechanism for the injected holes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// Missing completely at random.
    Mcar,
    /// Missing at random (depends on an observed column).
    Mar,
    /// Missing not at random (depends on the hidden value).
    Mnar,
}

impl Pattern {
    /// The name used in keys, flags and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Mcar => "mcar",
            Pattern::Mar => "mar",
            Pattern::Mnar => "mnar",
        }
    }
}

impl std::str::FromStr for Pattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mcar" => Ok(Pattern::Mcar),
            "mar" => Ok(Pattern::Mar),
            "mnar" => Ok(Pattern::Mnar),
            _ => Err(format!("unknown pattern '{s}' (expected mcar, mar or mnar)")),
        }
    }
}

/// The recommender of a grid: `dlrm`'s defaults with a budget of 5 epochs and no progress
/// bar (each cell sets the seed and the task). A config file's `dlrm` object overrides the
/// fields it names and keeps these for the rest.
pub fn grid_dlrm() -> DlrmConfig {
    DlrmConfig::default().with_epochs(5).with_progress(false)
}

/// Deserialises the fields given over [`grid_dlrm`] (plain `#[serde(default)]` would take
/// `DlrmConfig`'s own defaults for the fields a partial object leaves out).
fn overlay_grid_dlrm<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DlrmConfig, D::Error> {
    let given = serde_json::Value::deserialize(d)?;
    let mut merged = serde_json::to_value(grid_dlrm()).map_err(serde::de::Error::custom)?;
    match (&mut merged, given) {
        (serde_json::Value::Object(base), serde_json::Value::Object(fields)) => base.extend(fields),
        (_, other) => return Err(serde::de::Error::custom(format!("dlrm: expected an object, got {other}"))),
    }
    serde_json::from_value(merged).map_err(serde::de::Error::custom)
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
    /// The LLM imputer's settings (used when `imputers` has `llm`).
    pub llm: LlmSettings,
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
            llm: LlmSettings::default(),
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
            llm: LlmSettings::default(),
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
    }
}
