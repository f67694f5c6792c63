//! The experiment grid and its settings, as a serde struct saved beside the results.

use std::path::PathBuf;

use dlrm::DlrmConfig;
use serde::{Deserialize, Serialize};

pub use crate::llm_settings::LlmSettings;
pub use crate::names::{ImputerName, Pattern, TaskName};

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
