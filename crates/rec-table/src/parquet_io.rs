//! Reading and writing tables as Parquet; column kinds travel in the Arrow field metadata.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, UInt32Array, UInt64Array};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
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
    write_record_batches(path, table.batch().schema(), [Ok(table.batch().clone())]).map(|_| ())
}

/// Runs `read` (a step of the Parquet reader on `path`), turning a panic inside the `parquet`
/// crate into an error naming the file. Some damaged files (a column chunk with a negative
/// offset in the footer, say) make that crate panic instead of returning an error; the panic
/// message still reaches stderr through the panic hook.
fn guarded<T>(path: &Path, read: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(Error::InvalidInput(format!("{}: the Parquet reader failed on damaged data: {message}", path.display())))
    })
}

/// The whole of a Parquet file as one Arrow batch, as stored (no kinds, no casts).
fn read_raw(path: &Path) -> Result<RecordBatch> {
    let perr = |source| Error::Parquet { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let (schema, batches) = guarded(path, || {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?;
        let schema = builder.schema().clone();
        let batches = builder
            .build()
            .map_err(perr)?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|source| Error::ParquetData { path: path.to_path_buf(), source })?;
        Ok((schema, batches))
    })?;
    join_batches(&schema, &batches, path)
}

/// The batches read from Parquet file `path` as one.
fn join_batches(schema: &arrow::datatypes::SchemaRef, batches: &[RecordBatch], path: &Path) -> Result<RecordBatch> {
    arrow::compute::concat_batches(schema, batches)
        .map_err(|e| Error::InvalidInput(format!("{}: the file's row groups do not join: {e}", path.display())))
}

/// `table`'s columns in the Arrow types of `raw`, the stored batch it was read from (columns
/// matched by name, rows in order): cells that `replace(row, column)` picks come from `table`,
/// every other cell from `raw` as stored, so an `Int64` column keeps every digit of its observed
/// values (a table holds numbers as f64) and a dictionary or boolean column keeps its type. A
/// column whose replaced values do not fit the stored type (a fractional fill in an integer
/// column) is written in the table's type instead, and named in the second return value.
pub fn restore_stored_types(
    raw: &RecordBatch,
    table: &Table,
    replace: &dyn Fn(usize, usize) -> bool,
) -> Result<(RecordBatch, Vec<String>)> {
    if raw.num_rows() != table.num_rows() {
        return Err(Error::InvalidInput(format!(
            "the stored batch has {} rows but the table has {}",
            raw.num_rows(),
            table.num_rows()
        )));
    }
    let mut fields = Vec::with_capacity(table.num_columns());
    let mut columns = Vec::with_capacity(table.num_columns());
    let mut retyped = Vec::new();
    let ours = table.batch().schema();
    for (c, field) in ours.fields().iter().enumerate() {
        let filled = table.batch().column(c);
        let stored = raw.column_by_name(field.name()).ok_or_else(|| Error::UnknownColumn {
            name: field.name().clone(),
            available: raw.schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
        })?;
        let mask = BooleanArray::from((0..table.num_rows()).map(|r| replace(r, c)).collect::<Vec<bool>>());
        let column = match in_stored_type(stored, filled, &mask) {
            Some(column) => column,
            None => {
                retyped.push(field.name().clone());
                filled.clone()
            }
        };
        fields.push(field.as_ref().clone().with_data_type(column.data_type().clone()));
        columns.push(column);
    }
    let schema = Arc::new(arrow::datatypes::Schema::new(fields));
    Ok((RecordBatch::try_new(schema, columns)?, retyped))
}

/// `stored` with the cells of `mask` taken from `filled` cast to `stored`'s type; `None` when a
/// masked value does not survive the cast (it would come back changed). Into a narrower float
/// type (`Float32`, `Float16`) a fill is rounded to the column's own precision, as any value
/// written there is; every other cast must be exact.
fn in_stored_type(stored: &ArrayRef, filled: &ArrayRef, mask: &BooleanArray) -> Option<ArrayRef> {
    let cast = if stored.data_type() == filled.data_type() {
        filled.clone()
    } else {
        let cast = arrow::compute::cast(filled, stored.data_type()).ok()?;
        let exact = !matches!(stored.data_type(), DataType::Float16 | DataType::Float32);
        let lost = |i: usize| filled.is_valid(i) && cast.is_null(i);
        if exact {
            let back = arrow::compute::cast(&cast, filled.data_type()).ok()?;
            let same = arrow::compute::kernels::cmp::not_distinct(&back, filled).ok()?;
            if (0..mask.len()).any(|i| mask.value(i) && !same.value(i)) {
                return None;
            }
        } else if (0..mask.len()).any(|i| mask.value(i) && lost(i)) {
            return None;
        }
        cast
    };
    arrow::compute::kernels::zip::zip(mask, &cast, stored).ok()
}

/// Writes `table`, read from the Parquet file `input`, to the Parquet file `output`
/// (atomically) in the input's Arrow types: the cells `replace(row, column)` picks come from
/// `table`, the others from `input` as stored (see [`restore_stored_types`]). `rows` lists the
/// rows of `input` that `table` holds (`None`: all). Returns the columns written in the
/// table's type because a replaced value did not fit the stored one.
///
/// ```
/// use arrow::array::{Float64Array, Int64Array};
/// use rec_table::{read_parquet, write_parquet_patched, Cell, Value};
///
/// let dir = tempfile::tempdir()?;
/// let (input, output) = (dir.path().join("in.parquet"), dir.path().join("out.parquet"));
/// // A nanosecond timestamp beyond 2^53 and a gap, stored as Int64.
/// let ts = Int64Array::from(vec![Some(1_700_000_000_123_456_789), None]);
/// let batch = arrow::record_batch::RecordBatch::try_from_iter([("ts", std::sync::Arc::new(ts) as _)])?;
/// let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&input)?, batch.schema(), None)?;
/// w.write(&batch)?;
/// w.close()?;
/// let table = read_parquet(&input, &Default::default())?; // numbers are f64 in a table
/// let filled = table.with_filled([(Cell { row: 1, col: 0 }, Value::Number(7.0))])?;
/// let retyped = write_parquet_patched(&input, &filled, None, &|r, c| table.is_missing(r, c), &output)?;
/// assert!(retyped.is_empty());
/// let file = std::fs::File::open(&output)?;
/// let back = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?.build()?.next().unwrap()?;
/// let ts = back.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
/// assert_eq!((ts.value(0), ts.value(1)), (1_700_000_000_123_456_789, 7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_parquet_patched(
    input: &Path,
    table: &Table,
    rows: Option<&[usize]>,
    replace: &dyn Fn(usize, usize) -> bool,
    output: &Path,
) -> Result<Vec<String>> {
    let mut raw = read_raw(input)?;
    if let Some(rows) = rows {
        if let Some(&row) = rows.iter().find(|&&r| r >= raw.num_rows()) {
            return Err(Error::RowOutOfRange { row, rows: raw.num_rows() });
        }
        let indices = UInt64Array::from(rows.iter().map(|&r| r as u64).collect::<Vec<_>>());
        raw = arrow::compute::take_record_batch(&raw, &indices)?;
    }
    // `replace` speaks of the input's rows.
    let input_row = |r: usize| rows.map_or(r, |rows| rows[r]);
    let (batch, retyped) = restore_stored_types(&raw, table, &|r, c| replace(input_row(r), c))
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", input.display())))?;
    write_record_batches(output, batch.schema(), [Ok(batch)])?;
    Ok(retyped)
}

/// The column names of a Parquet file, in stored order, read from its footer alone (no row
/// group is decoded, whatever the file's size).
///
/// ```
/// use rec_table::{parquet_column_names, ColumnKind, ColumnSpec, Schema, Table, Value};
/// let schema = Schema::try_new(vec![ColumnSpec::new("age", ColumnKind::Numeric), ColumnSpec::new("city", ColumnKind::Categorical)])?;
/// let table = Table::from_rows(schema, vec![vec![Some(Value::Number(30.0)), Some(Value::Category("Oslo".into()))]])?;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("t.parquet");
/// rec_table::write_parquet(&table, &path)?;
/// assert_eq!(parquet_column_names(&path)?, ["age", "city"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parquet_column_names(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = guarded(path, || {
        ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|source| Error::Parquet { path: path.to_path_buf(), source })
    })?;
    Ok(builder.schema().fields().iter().map(|f| f.name().clone()).collect())
}

/// Reads a Parquet file into a table.
///
/// A column's kind comes from, in order: `opts.kinds`, the `recimpute.kind` field metadata,
/// its Arrow type (integers and floats are numeric, lists of strings set-valued, booleans
/// categorical), and for string columns the inference rules of [`InferOptions`].
pub fn read_parquet(path: impl AsRef<Path>, opts: &ParquetOptions) -> Result<Table> {
    let path = path.as_ref();
    table_of_raw(&read_raw(path)?, opts, path)
}

/// Some rows of a Parquet file, read a batch at a time in memory bounded by the rows kept and
/// one batch: `pick(count)` gets the file's row count (from its footer) and says which rows to
/// keep (ascending, each below the count; numbered from 0). Returns the table of the kept rows
/// and the count.
///
/// Kinds come as for [`read_parquet`], string columns without a stored kind inferred from the
/// kept rows alone: with the kinds of the whole file the table is exactly
/// `read_parquet(path, opts)?.take_rows(&rows)`.
///
/// ```
/// use rec_table::{read_csv, read_parquet, read_parquet_rows, write_parquet, CsvOptions};
///
/// let dir = tempfile::tempdir()?;
/// let (csv, path) = (dir.path().join("t.csv"), dir.path().join("t.parquet"));
/// std::fs::write(&csv, "age,city\n30,Paris\n,Lyon\n41,Paris\n52,\n")?;
/// write_parquet(&read_csv(&csv, &CsvOptions::default())?, &path)?;
/// let (table, rows) = read_parquet_rows(&path, &Default::default(), |n| vec![0, n - 2])?;
/// assert_eq!(rows, 4);
/// assert_eq!(table, read_parquet(&path, &Default::default())?.take_rows(&[0, 2])?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_parquet_rows(
    path: impl AsRef<Path>,
    opts: &ParquetOptions,
    pick: impl FnOnce(usize) -> Vec<usize>,
) -> Result<(Table, usize)> {
    let path = path.as_ref();
    let perr = |source| Error::Parquet { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = guarded(path, || ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr))?;
    let count = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let rows = pick(count);
    crate::io::check_picked(&rows, count, path)?;
    let schema = builder.schema().clone();
    let kept =
        guarded(path, || {
            let reader = builder.with_batch_size(1 << 16).build().map_err(perr)?;
            let (mut kept, mut offset, mut next) = (Vec::new(), 0, 0);
            for batch in reader {
                if next == rows.len() {
                    break;
                }
                let batch = batch.map_err(|source| Error::ParquetData { path: path.to_path_buf(), source })?;
                let end = offset + batch.num_rows();
                let mut local = Vec::new();
                while next < rows.len() && rows[next] < end {
                    local.push(u32::try_from(rows[next] - offset).map_err(|_| {
                        Error::InvalidInput(format!("{}: a batch of more than 2^32 rows", path.display()))
                    })?);
                    next += 1;
                }
                if !local.is_empty() {
                    kept.push(arrow::compute::take_record_batch(&batch, &UInt32Array::from(local))?);
                }
                offset = end;
            }
            if next < rows.len() {
                return Err(Error::InvalidInput(format!(
                    "{}: the footer says {count} rows but the row groups hold {offset}",
                    path.display()
                )));
            }
            Ok(kept)
        })?;
    Ok((table_of_raw(&join_batches(&schema, &kept, path)?, opts, path)?, count))
}

/// The table of `batch`, all of Parquet file `path` or some of its rows, with each column's
/// kind as [`read_parquet`] says.
fn table_of_raw(batch: &RecordBatch, opts: &ParquetOptions, path: &Path) -> Result<Table> {
    let arrow_schema = batch.schema();
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
        let stored =
            field.metadata().get(KIND_METADATA_KEY).map(|k| k.parse::<ColumnKind>()).transpose().map_err(|e| {
                Error::InvalidInput(format!("{}: column '{name}': {KIND_METADATA_KEY} metadata: {e}", path.display()))
            })?;
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
    Schema::try_new(specs)
        .and_then(|schema| Table::from_arrays(schema, arrays, batch.num_rows()))
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))
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
    /// The file's own Arrow schema.
    file_schema: arrow::datatypes::SchemaRef,
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

impl ParquetBatches {
    /// The next batch both as stored in the file (the schema's columns, the file's Arrow types)
    /// and as a table; what [`restore_stored_types`] needs to write fills beside the stored
    /// cells.
    pub fn next_with_stored(&mut self) -> Option<Result<(RecordBatch, Table)>> {
        Some(self.next_stored()?.and_then(|stored| {
            let table = table_of_projected(&stored, &self.schema, &self.path)?;
            Ok((stored, table))
        }))
    }

    /// The next batch as stored in the file: the schema's columns in the file's Arrow types
    /// ([`stored_schema`](Self::stored_schema)), not yet read as a table.
    pub fn next_stored(&mut self) -> Option<Result<RecordBatch>> {
        let next = match guarded(&self.path, || Ok(self.reader.next())) {
            Ok(next) => next?,
            Err(e) => return Some(Err(e)),
        };
        Some(match next {
            Ok(batch) => batch.project(&self.positions).map_err(Error::from),
            Err(source) => Err(Error::ParquetData { path: self.path.clone(), source }),
        })
    }

    /// The Arrow schema of the file's columns in the schema's order, with the schema's kinds in
    /// their metadata: the schema of every batch [`restore_stored_types`] makes from this file
    /// when each fill fits its stored type.
    pub fn stored_schema(&self) -> arrow::datatypes::SchemaRef {
        projected_schema(&self.file_schema, &self.schema, &self.positions)
    }
}

/// The columns of `schema` found by name in `stored` (an Arrow schema from a file or a query
/// engine): their positions in `stored`, or an error naming `origin` and the first column
/// missing, or the first column of `stored` that `schema` lacks.
pub fn stored_positions(stored: &arrow::datatypes::Schema, schema: &Schema, origin: &Path) -> Result<Vec<usize>> {
    let names: Vec<&str> = stored.fields().iter().map(|f| f.name().as_str()).collect();
    let positions = schema
        .columns()
        .iter()
        .map(|spec| {
            names.iter().position(|&n| n == spec.name).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{}: no column '{}' (the file has: {})",
                    origin.display(),
                    spec.name,
                    names.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(extra) = names.iter().find(|&&n| schema.columns().iter().all(|c| c.name != n)) {
        return Err(Error::InvalidInput(format!(
            "{}: column '{extra}' is not one of the expected columns ({})",
            origin.display(),
            schema.columns().iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(positions)
}

/// The Arrow schema of batches stored with the Arrow schema `stored` once projected onto
/// `schema`'s columns (in its order): the stored types, with `schema`'s kinds in the field
/// metadata. What [`restore_stored_types`] makes when each fill fits its stored type.
pub fn stored_schema_of(
    stored: &arrow::datatypes::Schema,
    schema: &Schema,
    origin: &Path,
) -> Result<arrow::datatypes::SchemaRef> {
    Ok(projected_schema(stored, schema, &stored_positions(stored, schema, origin)?))
}

/// `schema`'s fields (kinds in their metadata) in the types of `stored` at `positions`.
fn projected_schema(
    stored: &arrow::datatypes::Schema,
    schema: &Schema,
    positions: &[usize],
) -> arrow::datatypes::SchemaRef {
    let fields = schema
        .columns()
        .iter()
        .zip(positions)
        .map(|(spec, &pos)| spec.to_field().with_data_type(stored.field(pos).data_type().clone()))
        .collect::<Vec<_>>();
    Arc::new(arrow::datatypes::Schema::new(fields))
}

/// A batch in its stored Arrow types (a Parquet row group, a query engine's batch) as a
/// [`Table`] of `schema`: columns matched by name as [`stored_positions`] says, each read as
/// its kind (an error naming `origin` and the column when a value does not fit). Returns the
/// stored batch projected onto `schema`'s columns, and the table.
pub fn table_from_stored(stored: &RecordBatch, schema: &Schema, origin: &Path) -> Result<(RecordBatch, Table)> {
    let positions = stored_positions(&stored.schema(), schema, origin)?;
    let projected = stored.project(&positions)?;
    let table = table_of_projected(&projected, schema, origin)?;
    Ok((projected, table))
}

/// `projected` (the columns of `schema`, in order, in their stored types) as a table.
fn table_of_projected(projected: &RecordBatch, schema: &Schema, origin: &Path) -> Result<Table> {
    let arrays = schema
        .columns()
        .iter()
        .zip(projected.columns())
        .map(|(spec, array)| convert(array, spec.kind, &spec.name, origin))
        .collect::<Result<Vec<ArrayRef>>>()?;
    Table::from_arrays(schema.clone(), arrays, projected.num_rows())
}

impl Iterator for ParquetBatches {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Result<Table>> {
        self.next_with_stored().map(|r| r.map(|(_, table)| table))
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
    let builder = guarded(path, || ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr))?;
    let total_rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let arrow_schema = builder.schema().clone();
    let positions = stored_positions(&arrow_schema, schema, path)?;
    let reader = guarded(path, || builder.with_batch_size(batch_rows).build().map_err(perr))?;
    Ok(ParquetBatches {
        reader,
        schema: schema.clone(),
        positions,
        file_schema: arrow_schema,
        path: path.to_path_buf(),
        total_rows,
    })
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
    let batches = tables.into_iter().map(|table| {
        let table = table?;
        schema.ensure_same(table.schema(), "write_parquet_batches")?;
        Ok(table.batch().clone())
    });
    write_record_batches(path, schema.to_arrow(), batches)
}

/// Writes Arrow batches of `schema`, one after another, as one Parquet file (Snappy),
/// atomically, as [`write_parquet_batches`] does for tables; a batch of another schema is an
/// error naming both. Returns the number of rows written.
pub fn write_record_batches(
    path: impl AsRef<Path>,
    schema: arrow::datatypes::SchemaRef,
    batches: impl IntoIterator<Item = Result<RecordBatch>>,
) -> Result<usize> {
    let path = path.as_ref();
    let perr = |source| Error::Parquet { path: path.to_path_buf(), source };
    let mut rows = 0;
    crate::atomic::write_atomic(path, |w| {
        let mut writer = ArrowWriter::try_new(w, schema.clone(), Some(snappy())).map_err(perr)?;
        for batch in batches {
            let batch = batch?;
            if batch.schema() != schema {
                return Err(Error::SchemaMismatch(format!(
                    "{}: a batch of schema {} after batches of schema {}",
                    path.display(),
                    batch.schema(),
                    schema
                ))
                .into());
            }
            writer.write(&batch).map_err(perr)?;
            rows += batch.num_rows();
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
