//! Reading and writing tables as Parquet; column kinds travel in the Arrow field metadata.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

use crate::error::{Error, Result};
use crate::infer::{infer_kind, InferOptions};
use crate::schema::{ColumnKind, ColumnSpec, Schema, KIND_METADATA_KEY};
use crate::table::Table;

/// How to read a Parquet file that recimpute did not write (files it wrote carry their kinds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParquetOptions {
    /// Kinds forced for some columns, overriding metadata and inference.
    pub kinds: BTreeMap<String, ColumnKind>,
    /// Rules for string columns without a stored kind.
    pub infer: InferOptions,
}

impl ParquetOptions {
    /// Forces the kind of one column.
    pub fn with_kind(mut self, column: impl Into<String>, kind: ColumnKind) -> Self {
        self.kinds.insert(column.into(), kind);
        self
    }
}

/// Writes a table as Parquet (Snappy-compressed), atomically.
pub fn write_parquet(table: &Table, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let perr = |source| Error::Parquet { path: path.to_path_buf(), source };
    crate::atomic::write_atomic(path, |w| {
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build();
        let mut writer = ArrowWriter::try_new(w, table.batch().schema(), Some(props)).map_err(perr)?;
        writer.write(table.batch()).map_err(perr)?;
        writer.close().map_err(perr)?;
        Ok(())
    })
}

/// Reads a Parquet file into a table.
///
/// A column's kind comes from, in order: `opts.kinds`, the `recimpute.kind` field metadata,
/// its Arrow type (integers and floats are numeric, lists of strings set-valued, booleans
/// categorical), and for string columns the inference rules of [`InferOptions`].
pub fn read_parquet(path: impl AsRef<Path>, opts: &ParquetOptions) -> Result<Table> {
    let path = path.as_ref();
    let perr = |source| Error::Parquet { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?;
    let arrow_schema = builder.schema().clone();
    let reader = builder.build().map_err(perr)?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    let batch = arrow::compute::concat_batches(&arrow_schema, &batches)?;
    for forced in opts.kinds.keys() {
        if arrow_schema.index_of(forced).is_err() {
            let names: Vec<&str> = arrow_schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(Error::UnknownColumn { name: forced.clone(), available: names.join(", ") });
        }
    }
    let mut specs = Vec::new();
    let mut arrays = Vec::new();
    for (field, array) in arrow_schema.fields().iter().zip(batch.columns()) {
        let name = field.name();
        let stored = field.metadata().get(KIND_METADATA_KEY).map(|k| k.parse::<ColumnKind>()).transpose()?;
        let kind = match opts.kinds.get(name).copied().or(stored) {
            Some(k) => k,
            None => kind_from_arrow(name, array, &opts.infer).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{}: column '{name}' has Arrow type {} which recimpute cannot hold; force a kind for it",
                    path.display(),
                    array.data_type()
                ))
            })?,
        };
        arrays.push(convert(array, kind, name, path)?);
        specs.push(ColumnSpec::new(name.clone(), kind));
    }
    Table::from_arrays(Schema::try_new(specs)?, arrays, batch.num_rows())
}

fn kind_from_arrow(name: &str, array: &ArrayRef, infer: &InferOptions) -> Option<ColumnKind> {
    let dt = array.data_type();
    if dt.is_numeric() {
        return Some(if infer_kind(name, std::iter::empty(), '|', infer) == ColumnKind::Id {
            ColumnKind::Id
        } else {
            ColumnKind::Numeric
        });
    }
    match dt {
        DataType::Boolean => Some(ColumnKind::Categorical),
        DataType::List(f) | DataType::LargeList(f) if matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8) => {
            Some(ColumnKind::SetValued)
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
            let strings = arrow::compute::cast(array, &DataType::Utf8).ok()?;
            let strings = strings.as_string::<i32>();
            Some(infer_kind(name, strings.iter().flatten(), '\u{1f}', infer))
        }
        _ => None,
    }
}

fn convert(array: &ArrayRef, kind: ColumnKind, name: &str, path: &Path) -> Result<ArrayRef> {
    let target = kind.data_type();
    if let (DataType::List(_) | DataType::LargeList(_), ColumnKind::SetValued) = (array.data_type(), kind) {
        let cast = arrow::compute::cast(array, &target)?;
        return Ok(cast);
    }
    let cast = arrow::compute::cast(array, &target).map_err(|e| {
        Error::InvalidInput(format!(
            "{}: column '{name}' of Arrow type {} cannot be read as {kind}: {e}",
            path.display(),
            array.data_type()
        ))
    })?;
    if cast.null_count() > array.null_count() {
        return Err(Error::InvalidInput(format!(
            "{}: column '{name}' has values that are not {}",
            path.display(),
            kind.expectation()
        )));
    }
    Ok(cast)
}
