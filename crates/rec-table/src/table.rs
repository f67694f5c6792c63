//! [`Table`]: an Arrow record batch whose nulls are the missing cells, with a kind per column.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, ListArray, ListBuilder, StringArray, StringBuilder, UInt32Array,
};
use arrow::datatypes::DataType;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::error::{Error, Result};
use crate::schema::{ColumnKind, ColumnSpec, Schema};
use crate::value::Value;

/// The position of one cell: a row index and a column index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    /// 0-based row index.
    pub row: usize,
    /// 0-based column index in the table's schema.
    pub col: usize,
}

/// A table of typed columns over an Arrow [`RecordBatch`]; a null is a missing cell.
///
/// Tables are immutable: operations that fill or select return a new table. The batch and the
/// schema always agree: every column has the Arrow type of its [`ColumnKind`].
///
/// ```
/// use rec_table::{ColumnKind, ColumnSpec, Schema, Table, Value};
///
/// let schema = Schema::try_new(vec![
///     ColumnSpec::new("age", ColumnKind::Numeric),
///     ColumnSpec::new("gender", ColumnKind::Categorical),
/// ])?;
/// let table = Table::from_rows(schema, vec![
///     vec![Some(Value::Number(24.0)), None],
///     vec![None, Some(Value::Category("F".into()))],
/// ])?;
/// assert_eq!(table.missing_cells().count(), 2);
/// let filled = table.with_filled([(rec_table::Cell { row: 0, col: 1 }, Value::Category("M".into()))])?;
/// assert_eq!(filled.value(0, 1), Some(Value::Category("M".into())));
/// # Ok::<(), rec_table::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    schema: Schema,
    batch: RecordBatch,
}

impl Table {
    /// Wraps a record batch, checking that each column has the Arrow type of its kind.
    pub fn try_new(schema: Schema, batch: RecordBatch) -> Result<Self> {
        if batch.num_columns() != schema.len() {
            return Err(Error::SchemaMismatch(format!(
                "the batch has {} columns but the schema {}",
                batch.num_columns(),
                schema.len()
            )));
        }
        for (spec, array) in schema.columns().iter().zip(batch.columns()) {
            if !same_type(array.data_type(), &spec.kind.data_type()) {
                return Err(Error::SchemaMismatch(format!(
                    "column '{}' is declared {} (Arrow {}) but holds Arrow {}",
                    spec.name,
                    spec.kind,
                    spec.kind.data_type(),
                    array.data_type()
                )));
            }
            if spec.kind == ColumnKind::Numeric {
                let values = array.as_primitive::<arrow::datatypes::Float64Type>();
                if let Some(row) = (0..values.len()).find(|&r| values.is_valid(r) && !values.value(r).is_finite()) {
                    return Err(Error::Kind {
                        location: format!("row {row}: "),
                        column: spec.name.clone(),
                        value: values.value(row).to_string(),
                        expected: "a finite number (use null for a missing cell)".into(),
                    });
                }
            }
        }
        // Re-attach the canonical fields (names, kinds in metadata) to the batch.
        let batch = RecordBatch::try_new_with_options(
            schema.to_arrow(),
            batch.columns().to_vec(),
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )?;
        Ok(Table { schema, batch })
    }

    /// A table from columns of values (`columns[j][i]` is row `i` of column `j`).
    pub fn from_columns(schema: Schema, columns: Vec<Vec<Option<Value>>>) -> Result<Self> {
        if columns.len() != schema.len() {
            return Err(Error::SchemaMismatch(format!(
                "{} columns of values for a schema of {}",
                columns.len(),
                schema.len()
            )));
        }
        let rows = columns.first().map_or(0, Vec::len);
        let mut arrays = Vec::with_capacity(columns.len());
        for (spec, values) in schema.columns().iter().zip(&columns) {
            if values.len() != rows {
                return Err(Error::InvalidInput(format!(
                    "column '{}' has {} values but the first column has {rows}",
                    spec.name,
                    values.len()
                )));
            }
            arrays.push(build_array(spec, values.iter().map(Option::as_ref))?);
        }
        Self::from_arrays(schema, arrays, rows)
    }

    /// A table from rows of values (`rows[i][j]` is column `j` of row `i`).
    pub fn from_rows(schema: Schema, rows: Vec<Vec<Option<Value>>>) -> Result<Self> {
        let mut columns = vec![Vec::with_capacity(rows.len()); schema.len()];
        for (i, row) in rows.into_iter().enumerate() {
            if row.len() != schema.len() {
                return Err(Error::InvalidInput(format!(
                    "row {i} has {} values but the schema has {} columns",
                    row.len(),
                    schema.len()
                )));
            }
            for (j, v) in row.into_iter().enumerate() {
                columns[j].push(v);
            }
        }
        Self::from_columns(schema, columns)
    }

    /// A table from Arrow arrays already of the right types.
    pub fn from_arrays(schema: Schema, arrays: Vec<ArrayRef>, rows: usize) -> Result<Self> {
        let batch = RecordBatch::try_new_with_options(
            schema.to_arrow(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        Self::try_new(schema, batch)
    }

    /// The schema (names and kinds).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The underlying Arrow batch; its fields carry the kinds in metadata.
    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Number of columns.
    pub fn num_columns(&self) -> usize {
        self.schema.len()
    }

    /// The Arrow array of column `name`.
    pub fn column(&self, name: &str) -> Result<&ArrayRef> {
        Ok(self.batch.column(self.schema.index_of(name)?))
    }

    /// The Arrow array of column `col`.
    pub fn column_at(&self, col: usize) -> &ArrayRef {
        self.batch.column(col)
    }

    /// Whether cell (`row`, `col`) is missing.
    pub fn is_missing(&self, row: usize, col: usize) -> bool {
        self.batch.column(col).is_null(row)
    }

    /// The value of cell (`row`, `col`), `None` when missing. Panics only if the indices are
    /// out of range, like slice indexing; use [`Table::num_rows`] to stay inside.
    pub fn value(&self, row: usize, col: usize) -> Option<Value> {
        let array = self.batch.column(col);
        if array.is_null(row) {
            return None;
        }
        Some(match self.schema.columns()[col].kind {
            ColumnKind::Numeric => Value::Number(array.as_primitive::<arrow::datatypes::Float64Type>().value(row)),
            ColumnKind::Categorical | ColumnKind::Id => {
                Value::Category(array.as_string::<i32>().value(row).to_string())
            }
            ColumnKind::Text => Value::Text(array.as_string::<i32>().value(row).to_string()),
            ColumnKind::SetValued => {
                let list = array.as_list::<i32>().value(row);
                let strings = list.as_string::<i32>();
                Value::Set(strings.iter().flatten().map(str::to_string).collect())
            }
        })
    }

    /// All values of column `col`, `None` for missing cells.
    pub fn column_values(&self, col: usize) -> Vec<Option<Value>> {
        (0..self.num_rows()).map(|r| self.value(r, col)).collect()
    }

    /// The numbers of a numeric column, `None` for missing cells.
    pub fn numeric(&self, name: &str) -> Result<Vec<Option<f64>>> {
        let col = self.schema.index_of(name)?;
        self.expect_kind(col, &[ColumnKind::Numeric])?;
        Ok(self.batch.column(col).as_primitive::<arrow::datatypes::Float64Type>().iter().collect())
    }

    /// The strings of a categorical, id or text column, `None` for missing cells.
    pub fn strings(&self, name: &str) -> Result<Vec<Option<&str>>> {
        let col = self.schema.index_of(name)?;
        self.expect_kind(col, &[ColumnKind::Categorical, ColumnKind::Id, ColumnKind::Text])?;
        Ok(self.batch.column(col).as_string::<i32>().iter().collect())
    }

    fn expect_kind(&self, col: usize, kinds: &[ColumnKind]) -> Result<()> {
        let spec = &self.schema.columns()[col];
        if kinds.contains(&spec.kind) {
            Ok(())
        } else {
            Err(Error::InvalidInput(format!(
                "column '{}' is {}, not {}",
                spec.name,
                spec.kind,
                kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" or ")
            )))
        }
    }

    /// Every missing cell, row by row.
    pub fn missing_cells(&self) -> impl Iterator<Item = Cell> + '_ {
        (0..self.num_rows()).flat_map(move |row| {
            (0..self.num_columns()).filter(move |&col| self.is_missing(row, col)).map(move |col| Cell { row, col })
        })
    }

    /// Number of missing cells in each column.
    pub fn missing_per_column(&self) -> Vec<usize> {
        self.batch.columns().iter().map(|a| a.null_count()).collect()
    }

    /// Indices of the rows with no missing cell.
    pub fn complete_rows(&self) -> Vec<usize> {
        (0..self.num_rows()).filter(|&r| (0..self.num_columns()).all(|c| !self.is_missing(r, c))).collect()
    }

    /// A new table with the given rows, in the given order (repeats allowed).
    pub fn take_rows(&self, rows: &[usize]) -> Result<Table> {
        let n = self.num_rows();
        if let Some(&bad) = rows.iter().find(|&&r| r >= n) {
            return Err(Error::RowOutOfRange { row: bad, rows: n });
        }
        let idx = UInt32Array::from(rows.iter().map(|&r| r as u32).collect::<Vec<_>>());
        let arrays = self
            .batch
            .columns()
            .iter()
            .map(|a| arrow::compute::take(a.as_ref(), &idx, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Self::from_arrays(self.schema.clone(), arrays, rows.len())
    }

    /// A new table with only the named columns, in the given order.
    pub fn select(&self, names: &[&str]) -> Result<Table> {
        let idx = names.iter().map(|n| self.schema.index_of(n)).collect::<Result<Vec<_>>>()?;
        let schema = Schema::try_new(idx.iter().map(|&i| self.schema.columns()[i].clone()).collect())?;
        let arrays = idx.iter().map(|&i| self.batch.column(i).clone()).collect();
        Self::from_arrays(schema, arrays, self.num_rows())
    }

    /// A new table without the named columns.
    pub fn drop_columns(&self, names: &[&str]) -> Result<Table> {
        for n in names {
            self.schema.index_of(n)?;
        }
        let keep: Vec<&str> = self.schema.names().into_iter().filter(|n| !names.contains(n)).collect();
        self.select(&keep)
    }

    /// A new table with one more column at the end.
    pub fn with_column(&self, spec: ColumnSpec, values: &[Option<Value>]) -> Result<Table> {
        if values.len() != self.num_rows() {
            return Err(Error::InvalidInput(format!(
                "column '{}' has {} values for a table of {} rows",
                spec.name,
                values.len(),
                self.num_rows()
            )));
        }
        let array = build_array(&spec, values.iter().map(Option::as_ref))?;
        let mut columns = self.schema.columns().to_vec();
        columns.push(spec);
        let mut arrays = self.batch.columns().to_vec();
        arrays.push(array);
        Self::from_arrays(Schema::try_new(columns)?, arrays, self.num_rows())
    }

    /// A new table with the schema's kinds replaced by `schema`'s (same names, same order),
    /// converting the stored values. Numbers become labels as their shortest text; labels
    /// become numbers only where they parse.
    pub fn cast(&self, schema: Schema) -> Result<Table> {
        if schema.names() != self.schema.names() {
            return Err(Error::SchemaMismatch(format!(
                "cannot cast columns ({}) to ({})",
                self.schema.names().join(", "),
                schema.names().join(", ")
            )));
        }
        let mut columns = Vec::with_capacity(schema.len());
        for (j, spec) in schema.columns().iter().enumerate() {
            let from = self.schema.columns()[j].kind;
            let values = self.column_values(j);
            if from == spec.kind {
                columns.push(values);
                continue;
            }
            let converted = values
                .into_iter()
                .enumerate()
                .map(|(row, v)| v.map(|v| convert_value(v, spec, row)).transpose())
                .collect::<Result<Vec<_>>>()?;
            columns.push(converted);
        }
        Self::from_columns(schema, columns)
    }

    /// A new table where the given missing cells hold the given values.
    ///
    /// This is how imputers write: it refuses to touch an observed cell
    /// ([`Error::ObservedCell`]) and checks each value against its column's kind, so an
    /// imputer built on it cannot change observed data.
    pub fn with_filled(&self, fills: impl IntoIterator<Item = (Cell, Value)>) -> Result<Table> {
        let mut by_col: HashMap<usize, Vec<(usize, Value)>> = HashMap::new();
        for (cell, value) in fills {
            if cell.col >= self.num_columns() {
                return Err(Error::InvalidInput(format!(
                    "column index {} is out of range (the table has {} columns)",
                    cell.col,
                    self.num_columns()
                )));
            }
            if cell.row >= self.num_rows() {
                return Err(Error::RowOutOfRange { row: cell.row, rows: self.num_rows() });
            }
            if !self.is_missing(cell.row, cell.col) {
                return Err(Error::ObservedCell {
                    row: cell.row,
                    column: self.schema.columns()[cell.col].name.clone(),
                });
            }
            by_col.entry(cell.col).or_default().push((cell.row, value));
        }
        let mut arrays = self.batch.columns().to_vec();
        for (col, fills) in by_col {
            let spec = &self.schema.columns()[col];
            let mut values = self.column_values(col);
            for (row, v) in fills {
                values[row] = Some(v);
            }
            arrays[col] = build_array(spec, values.iter().map(Option::as_ref))?;
        }
        Self::from_arrays(self.schema.clone(), arrays, self.num_rows())
    }

    /// Stacks tables of the same schema vertically.
    pub fn concat(tables: &[Table]) -> Result<Table> {
        let first = tables.first().ok_or_else(|| Error::InvalidInput("concat needs at least one table".into()))?;
        for (i, t) in tables.iter().enumerate().skip(1) {
            first.schema.ensure_same(&t.schema, &format!("concat, table {i}"))?;
        }
        let batches: Vec<&RecordBatch> = tables.iter().map(|t| &t.batch).collect();
        let batch = arrow::compute::concat_batches(&first.batch.schema(), batches)?;
        Self::try_new(first.schema.clone(), batch)
    }
}

fn convert_value(v: Value, spec: &ColumnSpec, row: usize) -> Result<Value> {
    let text = match &v {
        Value::Number(x) => format_number(*x),
        Value::Category(s) | Value::Text(s) => s.clone(),
        Value::Set(items) => items.join("|"),
    };
    crate::csv_io::parse_cell(&text, spec.kind, '|').ok_or_else(|| Error::Kind {
        location: format!("row {row}: "),
        column: spec.name.clone(),
        value: text,
        expected: spec.kind.expectation().into(),
    })
}

/// Shortest text for a number that reads back to the same `f64` (`24` rather than `24.0`).
pub fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn same_type(actual: &DataType, expected: &DataType) -> bool {
    match (actual, expected) {
        (DataType::List(a), DataType::List(b)) => a.data_type() == b.data_type(),
        _ => actual == expected,
    }
}

/// Builds the Arrow array of one column from values, checking each against the column's kind.
pub fn build_array<'a>(spec: &ColumnSpec, values: impl Iterator<Item = Option<&'a Value>>) -> Result<ArrayRef> {
    let mismatch = |row: usize, v: &Value| Error::Kind {
        location: format!("row {row}: "),
        column: spec.name.clone(),
        value: v.to_string(),
        expected: spec.kind.expectation().into(),
    };
    Ok(match spec.kind {
        ColumnKind::Numeric => {
            let mut out = Vec::new();
            for (row, v) in values.enumerate() {
                out.push(match v {
                    None => None,
                    Some(Value::Number(x)) if x.is_finite() => Some(*x),
                    Some(other) => return Err(mismatch(row, other)),
                });
            }
            Arc::new(Float64Array::from(out))
        }
        ColumnKind::Categorical | ColumnKind::Text | ColumnKind::Id => {
            let mut out: Vec<Option<&str>> = Vec::new();
            for (row, v) in values.enumerate() {
                out.push(match v {
                    None => None,
                    Some(Value::Category(s) | Value::Text(s)) => Some(s.as_str()),
                    Some(other) => return Err(mismatch(row, other)),
                });
            }
            Arc::new(StringArray::from(out))
        }
        ColumnKind::SetValued => {
            let mut builder = ListBuilder::new(StringBuilder::new());
            for (row, v) in values.enumerate() {
                match v {
                    None => builder.append(false),
                    Some(Value::Set(items)) => {
                        for item in items {
                            builder.values().append_value(item);
                        }
                        builder.append(true);
                    }
                    Some(other) => return Err(mismatch(row, other)),
                }
            }
            let list: ListArray = builder.finish();
            Arc::new(list)
        }
    })
}
