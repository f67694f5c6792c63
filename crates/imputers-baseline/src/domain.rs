//! Fills that are valid values of their column: what the observed cells of a training table
//! allow, and the projection of any imputer's fills onto it.

use std::collections::HashMap;

use rec_table::{Cell, ColumnKind, Table, Value};
use serde::{Deserialize, Serialize};

/// What the fills of one column may be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ColumnDomain {
    /// A number within the observed range; a whole number when every observed value is one
    /// (counts, years, 0/1 flags).
    Numeric {
        /// Smallest observed value.
        min: f64,
        /// Largest observed value.
        max: f64,
        /// Every observed value is a whole number.
        integer: bool,
    },
    /// A set; an empty one only if an empty set was observed, else the most frequent
    /// observed set takes its place.
    Set {
        /// An empty set was observed.
        empty_seen: bool,
        /// The most frequent non-empty observed set.
        mode: Option<Vec<String>>,
    },
    /// No constraint (labels, text, ids, or a column with nothing observed).
    Any,
}

/// How many fills [`FillDomain::project`] changed, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projected {
    /// Numbers brought into the observed range.
    pub clamped: usize,
    /// Numbers rounded to a whole number in an integer column.
    pub rounded: usize,
    /// Empty sets replaced by the most frequent observed set.
    pub sets: usize,
}

impl Projected {
    /// Fills changed for any reason (a clamped number that is then rounded counts once).
    pub fn total(&self) -> usize {
        self.clamped + self.rounded + self.sets
    }
}

/// The valid fills of every column of a table, learnt from its observed cells.
///
/// Mean, KNN and the regressions of iterative imputation produce numbers no column holds
/// (`36.0089` years, a 0/1 flag of `0.4878`, a count of `-8394`) and empty genre sets;
/// [`FillDomain::project`] maps such fills to the nearest valid value and counts them.
///
/// ```
/// use imputers_baseline::{FillDomain, SimpleImputer};
/// use rec_table::{read_csv_bytes, CsvOptions, FittedImputer, Imputer, Value};
///
/// let table = read_csv_bytes(b"age,clicked\n20,0\n31,1\n,1\n40,\n", "t.csv", &CsvOptions::default())?;
/// let filled = SimpleImputer::mean().fit(&table)?.transform(&table)?; // age 30.33, clicked 0.67
/// let (valid, changed) = FillDomain::learn(&table).project(&table, &filled)?;
/// assert_eq!(valid.value(2, 0), Some(Value::Number(30.0)));
/// assert_eq!(valid.value(3, 1), Some(Value::Number(1.0)));
/// assert_eq!(changed.rounded, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillDomain {
    /// Column names and their domains, in schema order.
    pub columns: Vec<(String, ColumnDomain)>,
}

impl FillDomain {
    /// Learns the domain of each column from the observed cells of `train`.
    pub fn learn(train: &Table) -> Self {
        let columns = train
            .schema()
            .columns()
            .iter()
            .enumerate()
            .map(|(j, spec)| {
                let observed = train.column_values(j).into_iter().flatten();
                let domain = match spec.kind {
                    ColumnKind::Numeric => numeric_domain(observed.filter_map(|v| v.as_f64())),
                    ColumnKind::SetValued => set_domain(observed),
                    _ => ColumnDomain::Any,
                };
                (spec.name.clone(), domain)
            })
            .collect();
        FillDomain { columns }
    }

    /// The cells missing in `before` that `filled` (the same rows, filled by any imputer)
    /// holds, each mapped onto its column's domain and written into `before`; cells still
    /// missing in `filled` stay missing. Errors when the two tables differ in shape.
    pub fn project(&self, before: &Table, filled: &Table) -> rec_table::Result<(Table, Projected)> {
        if before.num_rows() != filled.num_rows() || before.num_columns() != filled.num_columns() {
            return Err(rec_table::Error::InvalidInput(format!(
                "projecting fills: the filled table is {}x{}, the table before {}x{}",
                filled.num_rows(),
                filled.num_columns(),
                before.num_rows(),
                before.num_columns()
            )));
        }
        let mut changed = Projected::default();
        let mut fills = Vec::new();
        for cell in before.missing_cells() {
            let Some(value) = filled.value(cell.row, cell.col) else { continue };
            let domain = self.columns.get(cell.col).map_or(&ColumnDomain::Any, |(_, d)| d);
            fills.push((Cell { row: cell.row, col: cell.col }, project(domain, value, &mut changed)));
        }
        Ok((before.with_filled(fills)?, changed))
    }
}

fn numeric_domain(values: impl Iterator<Item = f64>) -> ColumnDomain {
    let (mut min, mut max, mut integer, mut any) = (f64::INFINITY, f64::NEG_INFINITY, true, false);
    for x in values.filter(|x| x.is_finite()) {
        min = min.min(x);
        max = max.max(x);
        integer &= x.fract() == 0.0;
        any = true;
    }
    if any {
        ColumnDomain::Numeric { min, max, integer }
    } else {
        ColumnDomain::Any
    }
}

fn set_domain(values: impl Iterator<Item = Value>) -> ColumnDomain {
    let mut empty_seen = false;
    let mut counts: HashMap<Vec<String>, usize> = HashMap::new();
    for v in values {
        match v.as_set() {
            Some([]) => empty_seen = true,
            Some(items) => *counts.entry(items.to_vec()).or_default() += 1,
            None => {}
        }
    }
    // Ties go to the smallest set in sorted order, so the choice does not depend on hashing.
    let mode = counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0))).map(|(set, _)| set);
    ColumnDomain::Set { empty_seen, mode }
}

fn project(domain: &ColumnDomain, value: Value, changed: &mut Projected) -> Value {
    match (domain, value) {
        (ColumnDomain::Numeric { min, max, integer }, Value::Number(x)) if x.is_finite() => {
            let inside = x.clamp(*min, *max);
            let y = if *integer { inside.round() } else { inside };
            if inside != x {
                changed.clamped += 1;
            } else if y != x {
                changed.rounded += 1;
            }
            Value::Number(y)
        }
        (ColumnDomain::Set { empty_seen: false, mode: Some(mode) }, Value::Set(items)) if items.is_empty() => {
            changed.sets += 1;
            Value::Set(mode.clone())
        }
        (_, value) => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rec_table::{read_csv_bytes, CsvOptions};

    #[test]
    fn fills_are_projected_onto_what_was_observed() {
        let csv = b"count,price,genres\n0,1.5,A|B\n3,2.5,A|B\n,,\n7,9.25,C\n";
        let table = read_csv_bytes(csv, "t.csv", &CsvOptions::default()).unwrap();
        let domain = FillDomain::learn(&table);
        assert_eq!(domain.columns[0].1, ColumnDomain::Numeric { min: 0.0, max: 7.0, integer: true });
        assert_eq!(domain.columns[1].1, ColumnDomain::Numeric { min: 1.5, max: 9.25, integer: false });
        let fill = |v: Vec<Value>| {
            let cells = (0..3).map(|c| (Cell { row: 2, col: c }, v[c].clone()));
            table.with_filled(cells).unwrap()
        };
        // A negative count, an in-range price, an empty set.
        let wild = fill(vec![Value::Number(-8394.0), Value::Number(3.3), Value::Set(vec![])]);
        let (valid, changed) = domain.project(&table, &wild).unwrap();
        assert_eq!(valid.value(2, 0), Some(Value::Number(0.0)));
        assert_eq!(valid.value(2, 1), Some(Value::Number(3.3)), "in range, not integer: untouched");
        assert_eq!(valid.value(2, 2), Some(Value::Set(vec!["A".into(), "B".into()])), "the most frequent set");
        assert_eq!(changed, Projected { clamped: 1, rounded: 0, sets: 1 });
        // Observed cells are never touched, and valid fills are left alone.
        let tame = fill(vec![Value::Number(4.0), Value::Number(9.0), Value::Set(vec!["C".into()])]);
        let (same, changed) = domain.project(&table, &tame).unwrap();
        assert_eq!(same, tame);
        assert_eq!(changed.total(), 0);
        // A table of another shape is an error.
        assert!(domain.project(&table, &table.take_rows(&[0]).unwrap()).is_err());
    }
}
