//! A saved imputer as DataFusion uses it: loaded once, shared by every partition, filling
//! DataFusion's batches through the workspace's one batch path
//! ([`imputers_baseline::fill_stored`]).

use std::path::Path;

use datafusion::arrow::datatypes::{Schema as TheirSchema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use imputers_baseline::{fill_stored, stored_output_schema, FillDomain, Projected, SavedImputer};
use serde::{Deserialize, Serialize};

use crate::bridge::{batch_to_ours, batch_to_theirs, schema_to_ours, schema_to_theirs};

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// A fitted imputer (a file written by `recimpute fit` or any fitted imputer's `save`) and
/// how its fills are written.
///
/// With the default (valid fills), each fill is made a valid value of its column by the
/// training table's fill domain and written in the input's own Arrow types, so observed cells
/// come out exactly as they went in, as `recimpute impute --batch-rows` writes them. With
/// [`raw_fills`](Self::raw_fills), or a file saved without a domain, the output columns have
/// recimpute's own types (numbers as `Float64`).
#[derive(Debug, Clone)]
pub struct ImputeModel {
    saved: SavedImputer,
    name: String,
    raw: bool,
}

/// What an [`ImputeModel`] counts while filling one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FillCounts {
    /// Missing cells before filling.
    pub missing_before: usize,
    /// Missing cells left after filling (columns the imputer cannot fill).
    pub missing_after: usize,
    /// Fills the domain changed to make them valid (clamped, rounded or set-replaced).
    pub projected: usize,
}

/// The codec's payload: everything an executor needs to rebuild the model.
#[derive(Serialize, Deserialize)]
struct Payload {
    name: String,
    raw: bool,
    /// The imputer file's JSON text, as `SavedImputer::to_writer` writes it.
    model: String,
}

impl ImputeModel {
    /// Loads an imputer file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Ok(ImputeModel {
            saved: SavedImputer::load(path).map_err(external)?,
            name: path.display().to_string(),
            raw: false,
        })
    }

    /// A model from an imputer already in memory; `name` stands for it in plans and errors.
    pub fn from_saved(saved: SavedImputer, name: impl Into<String>) -> Self {
        ImputeModel { saved, name: name.into(), raw: false }
    }

    /// Writes the imputer's fills as it gives them, in recimpute's own column types, instead
    /// of valid values in the input's types.
    pub fn raw_fills(mut self, raw: bool) -> Self {
        self.raw = raw;
        self
    }

    /// Where the model came from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The imputer's method (`knn`, `iterative`, ...).
    pub fn method(&self) -> &'static str {
        self.saved.imputer.method()
    }

    fn domain(&self) -> Option<&FillDomain> {
        if self.raw {
            None
        } else {
            self.saved.domain.as_ref()
        }
    }

    /// The schema of the filled batches for an input of schema `input`: the columns the
    /// imputer was fitted on, in its order (an error names the first one `input` lacks, or
    /// the first extra one).
    pub fn output_schema(&self, input: &TheirSchema) -> Result<SchemaRef> {
        let ours = schema_to_ours(input)?;
        let out =
            stored_output_schema(&self.saved.imputer, self.domain(), &ours, Path::new(&self.name)).map_err(external)?;
        schema_to_theirs(&out)
    }

    /// Fills one batch.
    pub fn fill(&self, batch: &RecordBatch) -> Result<(RecordBatch, FillCounts)> {
        let ours = batch_to_ours(batch)?;
        let fill = fill_stored(&self.saved.imputer, self.domain(), &ours, Path::new(&self.name)).map_err(external)?;
        let Projected { clamped, rounded, sets } = fill.projected;
        let counts = FillCounts {
            missing_before: fill.missing_before,
            missing_after: fill.missing_after,
            projected: clamped + rounded + sets,
        };
        Ok((batch_to_theirs(&fill.batch)?, counts))
    }

    /// The model as bytes that [`from_bytes`](Self::from_bytes) reads back (the plan codec's
    /// payload: the whole imputer travels with the plan, no shared file system needed).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut model = Vec::new();
        self.saved.to_writer(&mut model).map_err(external)?;
        let model = String::from_utf8(model).map_err(external)?;
        let payload = Payload { name: self.name.clone(), raw: self.raw, model };
        serde_json::to_vec(&payload).map_err(external)
    }

    /// Reads what [`to_bytes`](Self::to_bytes) wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let payload: Payload = serde_json::from_slice(bytes).map_err(external)?;
        let saved = SavedImputer::from_reader(payload.model.as_bytes(), &payload.name).map_err(external)?;
        Ok(ImputeModel { saved, name: payload.name, raw: payload.raw })
    }
}
