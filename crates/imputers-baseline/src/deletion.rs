//! Case-wise (listwise) deletion.

use rec_table::{FittedImputer, Imputer, Schema, Table};
use serde::{Deserialize, Serialize};

use crate::common::is_feature;

/// What [`FittedCaseDeletion::transform`] does with a row that has a gap.
///
/// Deleting training rows is harmless, but a test row with a gap cannot be dropped without
/// losing its prediction. `DropRows` drops it anyway (the experiment layer must then score
/// only the rows kept; [`FittedCaseDeletion::complete_rows`] says which); `KeepRows` returns
/// the table unchanged, gaps included, for a model that copes with missing inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionMode {
    /// Drop every row with a missing feature cell.
    #[default]
    DropRows,
    /// Keep every row as it is.
    KeepRows,
}

/// Drops the rows with a missing cell in a numeric, categorical or set-valued column.
///
/// Missing id and text cells do not make a row incomplete: they are not features. Nothing is
/// learned at fit beyond the schema; the same rule applies to every table.
///
/// ```
/// use imputers_baseline::CaseDeletion;
/// use rec_table::{read_csv_bytes, CsvOptions, FittedImputer, Imputer};
///
/// let table = read_csv_bytes(b"age,gender\n20,M\n,F\n40,\n30,F\n", "t.csv", &CsvOptions::default())?;
/// let kept = CaseDeletion::new().fit(&table)?.transform(&table)?;
/// assert_eq!(kept.num_rows(), 2);
/// # Ok::<(), rec_table::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaseDeletion {
    /// What transform does with incomplete rows.
    pub mode: DeletionMode,
}

impl CaseDeletion {
    /// Case-wise deletion that drops incomplete rows everywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what transform does with incomplete rows.
    pub fn with_mode(mut self, mode: DeletionMode) -> Self {
        self.mode = mode;
        self
    }
}

impl Imputer for CaseDeletion {
    type Fitted = FittedCaseDeletion;

    fn name(&self) -> String {
        match self.mode {
            DeletionMode::DropRows => "case_deletion".into(),
            DeletionMode::KeepRows => "case_deletion(keep_rows)".into(),
        }
    }

    fn fit(&self, train: &Table) -> rec_table::Result<FittedCaseDeletion> {
        Ok(FittedCaseDeletion { schema: train.schema().clone(), mode: self.mode })
    }
}

/// A fitted [`CaseDeletion`].
#[derive(Debug, Clone, PartialEq)]
pub struct FittedCaseDeletion {
    schema: Schema,
    mode: DeletionMode,
}

impl FittedCaseDeletion {
    /// Indices of the rows of `table` without a missing feature cell (those `DropRows` keeps).
    pub fn complete_rows(&self, table: &Table) -> rec_table::Result<Vec<usize>> {
        self.schema.ensure_same(table.schema(), "case deletion")?;
        let features: Vec<usize> =
            (0..self.schema.len()).filter(|&c| is_feature(self.schema.columns()[c].kind)).collect();
        Ok((0..table.num_rows()).filter(|&r| features.iter().all(|&c| !table.is_missing(r, c))).collect())
    }
}

impl FittedImputer for FittedCaseDeletion {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn transform(&self, table: &Table) -> rec_table::Result<Table> {
        let rows = self.complete_rows(table)?;
        match self.mode {
            DeletionMode::KeepRows => Ok(table.clone()),
            DeletionMode::DropRows if rows.len() == table.num_rows() => Ok(table.clone()),
            DeletionMode::DropRows => table.take_rows(&rows),
        }
    }
}
