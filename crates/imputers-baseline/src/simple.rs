//! Constant, mean, median and mode imputation.

use rec_table::{Cell, FittedImputer, Imputer, Schema, Table, Value};
use serde::{Deserialize, Serialize};

use crate::common::{self, Column, ColumnStats, Encoder};
use crate::error::Result;

/// How [`SimpleImputer`] fills a missing cell.
///
/// | strategy | numeric | categorical | set-valued |
/// |---|---|---|---|
/// | `Mean` | mean | most frequent label | most frequent set |
/// | `Median` | median | most frequent label | most frequent set |
/// | `Mode` | most frequent value | most frequent label | most frequent set |
/// | `Constant` | `number` | `label` | `set` |
///
/// Ties go to the smallest value (or label, or set in lexicographic order), as in
/// scikit-learn's `SimpleImputer`. The set-valued mode is the most frequent *whole set*, an
/// observed value, rather than the elements present in more than half of the cells (which is
/// often the empty set for sparse tags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case")]
pub enum SimpleStrategy {
    /// The mean of the observed values.
    Mean,
    /// The median of the observed values.
    Median,
    /// The most frequent observed value.
    Mode,
    /// Fixed values, needing no data.
    Constant {
        /// Fill of numeric cells.
        number: f64,
        /// Fill of categorical cells.
        label: String,
        /// Fill of set-valued cells.
        set: Vec<String>,
    },
}

/// Fills every missing cell of a column with one value learned at fit (or given).
///
/// A column with no observed cell at fit is left missing by the learned strategies (there is
/// nothing to learn from); `Constant` fills it anyway. Id and text columns are never touched.
///
/// ```
/// use imputers_baseline::SimpleImputer;
/// use rec_table::{read_csv_bytes, CsvOptions, FittedImputer, Imputer, Value};
///
/// let table = read_csv_bytes(b"age,gender\n20,M\n,F\n40,F\n", "t.csv", &CsvOptions::default())?;
/// let filled = SimpleImputer::mean().fit(&table)?.transform(&table)?;
/// assert_eq!(filled.value(1, 0), Some(Value::Number(30.0)));
/// # Ok::<(), rec_table::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleImputer {
    /// The fill rule.
    pub strategy: SimpleStrategy,
}

impl SimpleImputer {
    /// An imputer with the given strategy.
    pub fn new(strategy: SimpleStrategy) -> Self {
        SimpleImputer { strategy }
    }

    /// Mean for numeric columns, mode for the others.
    pub fn mean() -> Self {
        Self::new(SimpleStrategy::Mean)
    }

    /// Median for numeric columns, mode for the others.
    pub fn median() -> Self {
        Self::new(SimpleStrategy::Median)
    }

    /// Mode for every column.
    pub fn mode() -> Self {
        Self::new(SimpleStrategy::Mode)
    }

    /// Zero for numeric cells, the label `"missing_value"` (scikit-learn's default constant for
    /// strings) for categorical ones and the empty set for set-valued ones.
    pub fn zero() -> Self {
        Self::constant(0.0, "missing_value", Vec::new())
    }

    /// Fixed fills for each kind of column.
    pub fn constant(number: f64, label: impl Into<String>, set: Vec<String>) -> Self {
        Self::new(SimpleStrategy::Constant { number, label: label.into(), set })
    }

    fn fill_of(&self, encoder: &Encoder, c: usize, stats: &ColumnStats, column: &Column) -> Option<Value> {
        if let SimpleStrategy::Constant { number, label, set } = &self.strategy {
            return match stats {
                ColumnStats::Numeric { .. } => Some(Value::Number(*number)),
                ColumnStats::Categorical { .. } => Some(Value::Category(label.clone())),
                ColumnStats::Set { .. } => Some(Value::Set(set.clone())),
                ColumnStats::Skip => None,
            };
        }
        match (stats, column) {
            (ColumnStats::Numeric { observed: 0, .. }, _) => None,
            (ColumnStats::Numeric { mean, .. }, Column::Numeric(xs)) => {
                let observed = || xs.iter().copied().filter(|x| !x.is_nan()).collect::<Vec<_>>();
                match self.strategy {
                    SimpleStrategy::Mean => Some(*mean),
                    SimpleStrategy::Median => common::median(observed()),
                    _ => common::mode_f64(&observed()),
                }
                .map(Value::Number)
            }
            (ColumnStats::Categorical { counts, .. }, _) => {
                common::mode_code(counts).and_then(|code| encoder.category(c, code))
            }
            (ColumnStats::Set { .. }, Column::Set(cells)) => common::mode_set(cells).and_then(|s| encoder.set(c, &s)),
            _ => None,
        }
    }
}

impl Imputer for SimpleImputer {
    type Fitted = FittedSimple;
    type Error = crate::Error;

    fn name(&self) -> String {
        match &self.strategy {
            SimpleStrategy::Mean => "mean".into(),
            SimpleStrategy::Median => "median".into(),
            SimpleStrategy::Mode => "mode".into(),
            SimpleStrategy::Constant { number, .. } if *number == 0.0 => "zero".into(),
            SimpleStrategy::Constant { number, .. } => format!("constant({number})"),
        }
    }

    fn validate(&self) -> Result<()> {
        if let SimpleStrategy::Constant { number, .. } = &self.strategy {
            if !number.is_finite() {
                return Err(crate::Error::param("number", format!("{number} is not finite")));
            }
        }
        Ok(())
    }

    fn fit(&self, train: &Table) -> Result<FittedSimple> {
        Imputer::validate(self)?;
        let encoder = Encoder::fit(train);
        let columns = encoder.encode(train)?;
        let fills =
            encoder.stats.iter().enumerate().map(|(c, stats)| self.fill_of(&encoder, c, stats, &columns[c])).collect();
        Ok(FittedSimple { schema: encoder.schema, fills })
    }
}

/// A fitted [`SimpleImputer`]: one fill per column (`None` where the column is left missing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedSimple {
    schema: Schema,
    fills: Vec<Option<Value>>,
}

impl FittedSimple {
    /// The fill of each column, `None` for columns left as they are.
    pub fn fills(&self) -> &[Option<Value>] {
        &self.fills
    }
}

impl FittedImputer for FittedSimple {
    type Error = crate::Error;

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn transform(&self, table: &Table) -> Result<Table> {
        self.schema.ensure_same(table.schema(), "simple imputer transform")?;
        let mut fills = Vec::new();
        for (col, fill) in self.fills.iter().enumerate() {
            let Some(fill) = fill else { continue };
            let array = table.column_at(col);
            for row in (0..table.num_rows()).filter(|&r| arrow::array::Array::is_null(array, r)) {
                fills.push((Cell { row, col }, fill.clone()));
            }
        }
        common::write_fills(table, fills)
    }
}
