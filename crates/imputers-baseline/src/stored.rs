//! Filling batches in the Arrow types they were stored in: a Parquet row group read by the
//! streaming `impute`, a batch flowing through a query engine. The one path both use, so
//! that a table filled in batches comes out the same whichever reads it.

use std::path::Path;

use rec_table::arrow::array::{RecordBatch, UInt64Array};
use rec_table::arrow::compute::take_record_batch;
use rec_table::arrow::datatypes::{Schema as ArrowSchema, SchemaRef};
use rec_table::{restore_stored_types, stored_schema_of, table_from_stored, FittedImputer};

use crate::classical::FittedClassical;
use crate::domain::{FillDomain, Projected};

/// One batch filled by [`fill_stored`], and what filling it did.
#[derive(Debug, Clone)]
pub struct StoredFill {
    /// The filled rows: in the stored types when a fill domain was given, else in the
    /// table's own types; deletion keeps only the complete rows.
    pub batch: RecordBatch,
    /// Missing cells in the batch before filling.
    pub missing_before: usize,
    /// Missing cells left after filling (columns the imputer cannot fill).
    pub missing_after: usize,
    /// Fills the domain changed to make them valid values.
    pub projected: Projected,
}

/// The Arrow schema [`fill_stored`] gives batches stored with the schema `stored`: the fitted
/// columns in the stored types when `domain` is given, else in the table's own types; an
/// error names `origin` and the column when the stored schema lacks one, or has one the
/// imputer was not fitted on.
pub fn stored_output_schema(
    fitted: &FittedClassical,
    domain: Option<&FillDomain>,
    stored: &ArrowSchema,
    origin: &Path,
) -> rec_table::Result<SchemaRef> {
    match domain {
        Some(_) => stored_schema_of(stored, fitted.schema(), origin),
        None => {
            rec_table::stored_positions(stored, fitted.schema(), origin)?;
            Ok(fitted.schema().to_arrow())
        }
    }
}

/// Fills one batch as it was stored: its columns matched to the fitted schema by name and read
/// as their kinds, filled by `fitted`, each fill made a valid value of its column when a
/// `domain` is given (and then written in the stored Arrow types, observed cells exactly as
/// stored), else written in the table's types. `origin` names the source in errors.
pub fn fill_stored(
    fitted: &FittedClassical,
    domain: Option<&FillDomain>,
    stored: &RecordBatch,
    origin: &Path,
) -> rec_table::Result<StoredFill> {
    let (stored, batch) = table_from_stored(stored, fitted.schema(), origin)?;
    let missing_before = batch.missing_cells().count();
    let mut filled = fitted.transform(&batch)?;
    let deletion = matches!(fitted, FittedClassical::CaseDeletion(_));
    let mut projected = Projected::default();
    if let (Some(domain), false) = (domain, deletion) {
        let (valid, changed) = domain.project(&batch, &filled)?;
        projected = changed;
        filled = valid;
    }
    let missing_after = filled.missing_cells().count();
    let batch_out = if domain.is_none() {
        filled.batch().clone()
    } else {
        let stored = match fitted {
            FittedClassical::CaseDeletion(f) => {
                let kept: Vec<u64> = f.complete_rows(&batch)?.into_iter().map(|r| r as u64).collect();
                take_record_batch(&stored, &UInt64Array::from(kept))?
            }
            _ => stored,
        };
        let (restored, retyped) = restore_stored_types(&stored, &filled, &|r, c| !deletion && batch.is_missing(r, c))?;
        if let Some(column) = retyped.first() {
            return Err(rec_table::Error::InvalidInput(format!(
                "{}: column '{column}': a fill does not fit the stored Arrow type (raw fills, without a fill \
                 domain, are written in recimpute's own types: `--raw-fills` on the command line)",
                origin.display()
            )));
        }
        restored
    };
    Ok(StoredFill { batch: batch_out, missing_before, missing_after, projected })
}
