//! What one cell of the experiment grid is and what it measured (readable without the DLRM,
//! so reports can be rebuilt by any build), and the helpers both grids share.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rec_metrics::ImputationReport;
use serde::{Deserialize, Serialize};

use crate::downstream::Downstream;
use crate::names::{ImputerName, Pattern, TaskName};
use crate::Result;

/// One point of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CellSpec {
    /// The task.
    pub task: TaskName,
    /// The imputer.
    pub imputer: ImputerName,
    /// The mechanism of the injected holes.
    pub pattern: Pattern,
    /// The rate of injected holes.
    pub rate: f64,
    /// The seed.
    pub seed: u64,
}

impl crate::grid::GridCell for CellSpec {
    fn key(&self) -> String {
        CellSpec::key(self)
    }
}

impl CellSpec {
    /// A file-name-safe key, unique within a grid.
    pub fn key(&self) -> String {
        format!(
            "{}__{}__{}-{:.3}__seed{}",
            self.task.as_str(),
            self.imputer.as_str(),
            self.pattern.as_str(),
            self.rate,
            self.seed
        )
    }
}

/// Seconds spent in each stage of a cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Fitting the imputer and filling train and test.
    pub impute_s: f64,
    /// Training the DLRM.
    pub train_s: f64,
    /// The whole cell, data preparation included.
    pub total_s: f64,
}

/// One point of a training-loss curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossPoint {
    /// The optimizer step (counted from 1).
    pub step: usize,
    /// The training loss at that step.
    pub loss: f64,
}

/// What one cell measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// The grid point.
    pub spec: CellSpec,
    /// Cells hidden on purpose (their truth is known).
    pub masked_cells: usize,
    /// Rows the DLRM trained on (fewer than the split's with deletion).
    pub train_rows: usize,
    /// Rows it was evaluated on.
    pub test_rows: usize,
    /// Quality of the imputed masked cells per column (absent for deletion).
    pub imputation: Option<ImputationReport>,
    /// The downstream metrics.
    pub downstream: Downstream,
    /// Stage timings.
    pub timings: Timings,
    /// Peak resident memory of the process so far, in MiB (Linux `VmHWM`).
    pub peak_rss_mib: Option<f64>,
    /// Training loss of a model the imputer fitted on the way (the LLM imputer's LoRA
    /// fine-tuning); empty for imputers that train nothing, and in results saved before it
    /// existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loss_history: Vec<LossPoint>,
    /// The filled tables were read from the fill another task of the grid saved (same masked
    /// data, same imputer); `timings.impute_s` is then what computing that fill cost.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imputation_reused: bool,
    /// Cells the LLM imputer filled with the column's mode/median because no valid value came
    /// out, per column (empty for other imputers).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fallbacks: BTreeMap<String, usize>,
    /// Cells the LLM imputer filled from a retrieval prompt that lost retrieved rows to fit the
    /// model's context, per column (empty when none did).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trimmed: BTreeMap<String, usize>,
    /// The LLM imputer's full settings behind these numbers (the grid's overrides resolved
    /// over the imputer's defaults); `None` for other imputers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_config: Option<serde_json::Value>,
    /// Rows of your own table left out because their target was empty (0 for built-in tasks).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unlabelled_rows: usize,
    /// What the fitted imputer said about its fit (a solver stopped at its budget, a chain out
    /// of rounds; see `FittedClassical::notes`); empty when nothing, and in older results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Whether a count is zero: the `skip_serializing_if` of the optional counts in saved cells,
/// so results without them keep their old shape.
pub(crate) fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

/// Peak resident set size of this process in MiB, from `/proc/self/status` (Linux only).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The data directory: the configured one, else [`rec_datasets::shared_data_dir`]
/// (`RECIMPUTE_DATA`, else `../shared/data` beside the workspace), which fails with a message
/// saying how to point at the data.
pub fn data_dir(configured: Option<&Path>) -> Result<PathBuf> {
    match configured {
        Some(dir) => Ok(dir.to_path_buf()),
        None => Ok(rec_datasets::shared_data_dir()?),
    }
}
