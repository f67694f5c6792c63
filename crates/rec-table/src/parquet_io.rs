//! Reading and writing tables as Parquet; column kinds travel in the Arrow field metadata.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
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

/// The writer settings of every Parquet file written here: Snappy compression.
fn snappy() -> parquet::file::properties::WriterProperties {
    parquet::file::properties::WriterProperties::builder().set_compression(parquet::basic::Compression::SNAPPY).build()
}

/// Writes a table as Parquet (Snappy-compressed), atomically.
pub fn write_parquet(table: &Table, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let perr = |source| Error::Parquet { path: path.to_path_buf(), source };
    crate::atomic::write_atomic(path, |w| {
        let mut writer = ArrowWriter::try_new(w, table.batch().schema(), Some(snappy())).map_err(perr)?;
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

/// A Parquet file read as tables of at most `batch_rows` rows each, with a schema fixed in
/// advance (say, the one an imputer was fitted on): [`read_parquet_batches`].
///
/// Memory stays bounded by a batch and the reader's buffers (about one row group's pages),
/// whatever the size of the file.
pub struct ParquetBatches {
    reader: ParquetRecordBatchReader,
    schema: Schema,
    /// Position of each schema column in the file.
    positions: Vec<usize>,
    path: PathBuf,
    total_rows: usize,
}

impl ParquetBatches {
    /// Rows in the whole file (from its footer).
    pub fn total_rows(&self) -> usize {
        self.total_rows
    }

    /// The schema every batch has.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}

impl Iterator for ParquetBatches {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Result<Table>> {
        let batch = match self.reader.next()? {
            Ok(batch) => batch,
            Err(e) => return Some(Err(e.into())),
        };
        let arrays: Result<Vec<ArrayRef>> = self
            .schema
            .columns()
            .iter()
            .zip(&self.positions)
            .map(|(spec, &pos)| convert(batch.column(pos), spec.kind, &spec.name, &self.path))
            .collect();
        Some(arrays.and_then(|arrays| Table::from_arrays(self.schema.clone(), arrays, batch.num_rows())))
    }
}

/// Opens a Parquet file to read it in batches of at most `batch_rows` rows, each a [`Table`]
/// of `schema`. Columns are matched by name (the file's order may differ); a column of the
/// schema missing from the file, or a column of the file not in the schema, is an error that
/// names it, as is a value that does not fit its column's kind (at the batch that holds it).
///
/// ```
/// use rec_table::{read_csv_bytes, read_parquet_batches, write_parquet_batches, CsvOptions};
///
/// let table = read_csv_bytes(b"age,city\n20,Paris\n,Rome\n40,\n", "t.csv", &CsvOptions::default())?;
/// let dir = tempfile::tempdir()?;
/// let (input, output) = (dir.path().join("in.parquet"), dir.path().join("out.parquet"));
/// rec_table::write_parquet(&table, &input)?;
/// let batches = read_parquet_batches(&input, table.schema(), 2)?;
/// assert_eq!(batches.total_rows(), 3);
/// let rows = write_parquet_batches(&output, table.schema(), batches)?;
/// assert_eq!(rows, 3);
/// assert_eq!(rec_table::read_parquet(&output, &Default::default())?, table);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_parquet_batches(path: impl AsRef<Path>, schema: &Schema, batch_rows: usize) -> Result<ParquetBatches> {
    let path = path.as_ref();
    if batch_rows == 0 {
        return Err(Error::InvalidInput("batch_rows must be at least 1".into()));
    }
    let perr = |source| Error::Parquet { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?;
    let total_rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let arrow_schema = builder.schema().clone();
    let names: Vec<&str> = arrow_schema.fields().iter().map(|f| f.name().as_str()).collect();
    let positions = schema
        .columns()
        .iter()
        .map(|spec| {
            names.iter().position(|&n| n == spec.name).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{}: no column '{}' (the file has: {})",
                    path.display(),
                    spec.name,
                    names.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(extra) = names.iter().find(|&&n| schema.columns().iter().all(|c| c.name != n)) {
        return Err(Error::InvalidInput(format!(
            "{}: column '{extra}' is not one of the expected columns ({})",
            path.display(),
            schema.columns().iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    let reader = builder.with_batch_size(batch_rows).build().map_err(perr)?;
    Ok(ParquetBatches { reader, schema: schema.clone(), positions, path: path.to_path_buf(), total_rows })
}

/// Writes tables of `schema`, one after another, as one Parquet file (Snappy), atomically:
/// the file appears complete or not at all, and an error from `tables` (or a table of another
/// schema) leaves `path` as it was. Returns the number of rows written. Only one table is held
/// at a time.
pub fn write_parquet_batches(
    path: impl AsRef<Path>,
    schema: &Schema,
    tables: impl IntoIterator<Item = Result<Table>>,
) -> Result<usize> {
    let path = path.as_ref();
    let perr = |source| Error::Parquet { path: path.to_path_buf(), source };
    let mut rows = 0;
    crate::atomic::write_atomic(path, |w| {
        let empty = Table::from_rows(schema.clone(), Vec::new())?;
        let mut writer = ArrowWriter::try_new(w, empty.batch().schema(), Some(snappy())).map_err(perr)?;
        for table in tables {
            let table = table?;
            schema.ensure_same(table.schema(), "write_parquet_batches")?;
            writer.write(table.batch()).map_err(perr)?;
            rows += table.num_rows();
        }
        writer.close().map_err(perr)?;
        Ok(())
    })?;
    Ok(rows)
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
