//! Case-wise (listwise) deletion.

use rec_table::{FittedImputer, Imputer, Schema, Table};
use serde::{Deserialize, Serialize};

/// What [`FittedCaseDeletion::transform`] does with a row that has a gap.
///
/// Deleting training rows is harmless, but a test row with a gap cannot be dropped without
/// losing its prediction. `DropRows` drops it anyway (the experiment layer must then score
/// only the rows kept; [`FittedCaseDeletion::complete_rows`] says which); `KeepRows` returns
/// the table unchanged, gaps included, for a model that copes with missing inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionMode {
    /// Drop every row with a missing cell.
    #[default]
    DropRows,
    /// Keep every row as it is.
    KeepRows,
}

/// Drops the rows with a missing cell in any column: case-wise deletion in its plain sense,
/// so a gap in a title or an id makes a row incomplete too.
///
/// Nothing is learned at fit beyond the schema; the same rule applies to every table.
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
    type Error = crate::Error;

    fn name(&self) -> String {
        match self.mode {
            DeletionMode::DropRows => "case_deletion".into(),
            DeletionMode::KeepRows => "case_deletion(keep_rows)".into(),
        }
    }

    fn validate(&self) -> crate::Result<()> {
        Ok(())
    }

    fn fit(&self, train: &Table) -> crate::Result<FittedCaseDeletion> {
        Ok(FittedCaseDeletion { schema: train.schema().clone(), mode: self.mode })
    }
}

/// A fitted [`CaseDeletion`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedCaseDeletion {
    schema: Schema,
    mode: DeletionMode,
}

impl FittedCaseDeletion {
    /// Indices of the rows of `table` without a missing cell (those `DropRows` keeps).
    pub fn complete_rows(&self, table: &Table) -> rec_table::Result<Vec<usize>> {
        self.schema.ensure_same(table.schema(), "case deletion")?;
        Ok(table.complete_rows())
    }
}

impl FittedImputer for FittedCaseDeletion {
    type Error = crate::Error;

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn transform(&self, table: &Table) -> crate::Result<Table> {
        let rows = self.complete_rows(table)?;
        Ok(match self.mode {
            DeletionMode::KeepRows => table.clone(),
            DeletionMode::DropRows if rows.len() == table.num_rows() => table.clone(),
            DeletionMode::DropRows => table.take_rows(&rows)?,
        })
    }
}
