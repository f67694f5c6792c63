//! Joining attribute tables (users, items, ads, ...) onto an interactions table by key.
//!
//! Each interaction row looks up one row of each attribute table, the one whose key equals
//! the interaction's key, and takes that row's columns (the key itself once). Keys are
//! compared as text, a number written the way [`rec_table::format_number`] writes it, so a
//! key read as a number in one file and as an id in the other still matches.
//!
//! ```
//! use rec_datasets::join::{lookup_join, Lookup};
//! use rec_table::{ColumnKind, ColumnSpec, Schema, Table, Value};
//!
//! let id = |s: &str| Some(Value::Category(s.into()));
//! let clicks = Table::from_rows(
//!     Schema::try_new(vec![ColumnSpec::new("user", ColumnKind::Id), ColumnSpec::new("clicked", ColumnKind::Numeric)])?,
//!     vec![vec![id("u2"), Some(Value::Number(1.0))], vec![id("u1"), Some(Value::Number(0.0))]],
//! )?;
//! let users = Table::from_rows(
//!     Schema::try_new(vec![ColumnSpec::new("user", ColumnKind::Id), ColumnSpec::new("age", ColumnKind::Numeric)])?,
//!     vec![vec![id("u1"), Some(Value::Number(31.0))], vec![id("u2"), None]],
//! )?;
//! let joined = lookup_join(&clicks, "clicks", &[Lookup::new(&users, "users", "user")])?;
//! assert_eq!(joined.schema().names(), ["user", "clicked", "age"]);
//! assert_eq!(joined.value(1, 2), Some(Value::Number(31.0)));
//! assert_eq!(joined.value(0, 2), None, "a gap in the attribute table stays a gap");
//! # Ok::<(), rec_datasets::Error>(())
//! ```

use std::collections::HashMap;

use rec_table::{format_number, Schema, Table, Value};

use crate::error::{Error, Result};

/// One attribute table to join: its rows are found by `key`, matched against the
/// interactions' column `on`.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    /// The attribute table (one row per key).
    pub table: &'a Table,
    /// What to call it in errors (its file name, say).
    pub name: &'a str,
    /// The key column of `table`.
    pub key: &'a str,
    /// The column of the interactions holding the key (often the same name as `key`).
    pub on: &'a str,
}

impl<'a> Lookup<'a> {
    /// A lookup whose key has the same name in both tables.
    pub fn new(table: &'a Table, name: &'a str, key: &'a str) -> Self {
        Lookup { table, name, key, on: key }
    }

    /// The interactions' key column, when it is named differently.
    pub fn on(mut self, column: &'a str) -> Self {
        self.on = column;
        self
    }
}

/// The text a key cell is matched by, `None` for a missing cell.
fn key_text(value: Option<Value>) -> Option<String> {
    match value? {
        Value::Number(x) => Some(format_number(x)),
        Value::Category(s) | Value::Text(s) => Some(s),
        Value::Set(items) => Some(items.join("|")),
    }
}

/// The row of each key in `lookup.table`; a missing or repeated key is an error naming the
/// table, row and key.
fn index_keys(lookup: &Lookup<'_>) -> Result<HashMap<String, usize>> {
    let col = lookup
        .table
        .schema()
        .index_of(lookup.key)
        .map_err(|_| missing_column(lookup.name, lookup.key, lookup.table))?;
    let mut index = HashMap::with_capacity(lookup.table.num_rows());
    for row in 0..lookup.table.num_rows() {
        let key = key_text(lookup.table.value(row, col)).ok_or_else(|| {
            Error::InvalidArgument(format!("{}: row {}: the key '{}' is empty", lookup.name, row + 1, lookup.key))
        })?;
        if let Some(first) = index.insert(key.clone(), row) {
            return Err(Error::InvalidArgument(format!(
                "{}: rows {} and {} have the same key '{}' = {key:?}; an attribute table needs one row per key",
                lookup.name,
                first + 1,
                row + 1,
                lookup.key
            )));
        }
    }
    Ok(index)
}

fn missing_column(name: &str, column: &str, table: &Table) -> Error {
    Error::InvalidArgument(format!("{name}: no column '{column}' (it has: {})", table.schema().names().join(", ")))
}

/// `base`'s columns, then each lookup's columns except its key, one row per row of `base` in
/// order. Every base row's key must be present in every attribute table (an error names the
/// first row whose key is missing or unknown, 1-based among the data rows), attribute keys
/// must be unique, and no column name may occur twice in the result.
pub fn lookup_join(base: &Table, base_name: &str, lookups: &[Lookup<'_>]) -> Result<Table> {
    let mut specs = base.schema().columns().to_vec();
    let mut arrays = base.batch().columns().to_vec();
    for lookup in lookups {
        let index = index_keys(lookup)?;
        let on = base.schema().index_of(lookup.on).map_err(|_| missing_column(base_name, lookup.on, base))?;
        let rows: Vec<usize> = (0..base.num_rows())
            .map(|row| {
                let key = key_text(base.value(row, on));
                key.as_ref().and_then(|k| index.get(k).copied()).ok_or_else(|| {
                    Error::InvalidArgument(match key {
                        None => format!("{base_name}: row {}: the key '{}' is empty", row + 1, lookup.on),
                        Some(k) => format!(
                            "{base_name}: row {}: '{}' = {k:?} is not in {} (column '{}')",
                            row + 1,
                            lookup.on,
                            lookup.name,
                            lookup.key
                        ),
                    })
                })
            })
            .collect::<Result<_>>()?;
        let part = lookup.table.take_rows(&rows)?.drop_columns(&[lookup.key])?;
        for spec in part.schema().columns() {
            if specs.iter().any(|s| s.name == spec.name) {
                return Err(Error::InvalidArgument(format!(
                    "{}: column '{}' is also a column of {base_name} or of an earlier attribute table; rename one",
                    lookup.name, spec.name
                )));
            }
        }
        specs.extend(part.schema().columns().iter().cloned());
        arrays.extend(part.batch().columns().iter().cloned());
    }
    Ok(Table::from_arrays(Schema::try_new(specs)?, arrays, base.num_rows())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rec_table::{ColumnKind, ColumnSpec};

    fn table(columns: &[(&str, ColumnKind)], rows: Vec<Vec<Option<Value>>>) -> Table {
        let schema = Schema::try_new(columns.iter().map(|(n, k)| ColumnSpec::new(*n, *k)).collect()).unwrap();
        Table::from_rows(schema, rows).unwrap()
    }

    fn cat(s: &str) -> Option<Value> {
        Some(Value::Category(s.into()))
    }

    fn num(x: f64) -> Option<Value> {
        Some(Value::Number(x))
    }

    #[test]
    fn numeric_and_id_keys_match_and_each_row_finds_its_own() {
        // The interactions hold the item as an id, the item table as a number.
        let base = table(
            &[("user", ColumnKind::Id), ("item", ColumnKind::Id)],
            vec![vec![cat("a"), cat("7")], vec![cat("b"), cat("3")], vec![cat("a"), cat("3")]],
        );
        let users = table(
            &[("user", ColumnKind::Id), ("age", ColumnKind::Numeric)],
            vec![vec![cat("b"), num(40.0)], vec![cat("a"), num(20.0)]],
        );
        let items = table(
            &[("item_no", ColumnKind::Numeric), ("genre", ColumnKind::Categorical)],
            vec![vec![num(3.0), cat("drama")], vec![num(7.0), cat("comedy")]],
        );
        let joined = lookup_join(
            &base,
            "base",
            &[Lookup::new(&users, "users", "user"), Lookup::new(&items, "items", "item_no").on("item")],
        )
        .unwrap();
        assert_eq!(joined.schema().names(), ["user", "item", "age", "genre"]);
        let ages: Vec<_> = (0..3).map(|r| joined.value(r, 2)).collect();
        assert_eq!(ages, [num(20.0), num(40.0), num(20.0)]);
        let genres: Vec<_> = (0..3).map(|r| joined.value(r, 3)).collect();
        assert_eq!(genres, [cat("comedy"), cat("drama"), cat("drama")]);
    }

    #[test]
    fn bad_keys_are_named() {
        let base = table(&[("user", ColumnKind::Id)], vec![vec![cat("a")], vec![cat("z")]]);
        let users = table(&[("user", ColumnKind::Id), ("age", ColumnKind::Numeric)], vec![vec![cat("a"), num(1.0)]]);
        let err =
            lookup_join(&base, "clicks.csv", &[Lookup::new(&users, "users.csv", "user")]).unwrap_err().to_string();
        assert_eq!(err, r#"clicks.csv: row 2: 'user' = "z" is not in users.csv (column 'user')"#);

        let twice = table(&[("user", ColumnKind::Id)], vec![vec![cat("a")], vec![cat("a")]]);
        let err =
            lookup_join(&base, "clicks.csv", &[Lookup::new(&twice, "users.csv", "user")]).unwrap_err().to_string();
        assert!(err.contains("users.csv: rows 1 and 2 have the same key"), "{err}");

        let err = lookup_join(&base, "clicks.csv", &[Lookup::new(&users, "users.csv", "uid")]).unwrap_err().to_string();
        assert!(err.contains("users.csv: no column 'uid'"), "{err}");

        let gap = table(&[("user", ColumnKind::Id)], vec![vec![None]]);
        let err = lookup_join(&gap, "clicks.csv", &[Lookup::new(&users, "users.csv", "user")]).unwrap_err().to_string();
        assert!(err.contains("clicks.csv: row 1: the key 'user' is empty"), "{err}");

        let clash = table(&[("user", ColumnKind::Id), ("user_x", ColumnKind::Numeric)], vec![vec![cat("a"), num(1.0)]]);
        let same = table(&[("user", ColumnKind::Id), ("user_x", ColumnKind::Numeric)], vec![vec![cat("a"), num(2.0)]]);
        let err =
            lookup_join(&clash, "clicks.csv", &[Lookup::new(&same, "users.csv", "user")]).unwrap_err().to_string();
        assert!(err.contains("column 'user_x' is also a column"), "{err}");
    }
}
