//! Shared machinery: encoding of feature columns into codes and numbers, standardisation
//! statistics, mode/median helpers, and writing fills through [`Table::with_filled`].

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Float64Type;
use rec_table::{Cell, ColumnKind, Schema, Table, Value};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Code of a missing categorical cell.
pub(crate) const MISSING: u32 = u32::MAX;
/// Code of an observed categorical label that was not seen at fit time.
pub(crate) const UNSEEN: u32 = u32::MAX - 1;

/// The labels of a categorical column, or the elements of a set-valued one, sorted; a label's
/// code is its position.
///
/// Saved as the list of labels; the index is rebuilt on load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub(crate) struct Vocab {
    labels: Vec<String>,
    index: HashMap<String, u32>,
}

impl Vocab {
    fn from_labels<'a>(labels: impl Iterator<Item = &'a str>) -> Self {
        let mut labels: Vec<String> = labels.map(str::to_string).collect();
        labels.sort();
        labels.dedup();
        let index = labels.iter().enumerate().map(|(i, l)| (l.clone(), i as u32)).collect();
        Vocab { labels, index }
    }

    /// The code of `label`, [`UNSEEN`] if it was not seen at fit time.
    pub(crate) fn code(&self, label: &str) -> u32 {
        self.index.get(label).copied().unwrap_or(UNSEEN)
    }

    /// The label of a code below [`Vocab::len`].
    pub(crate) fn label(&self, code: u32) -> &str {
        &self.labels[code as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.labels.len()
    }
}

impl From<Vec<String>> for Vocab {
    fn from(labels: Vec<String>) -> Self {
        let index = labels.iter().enumerate().map(|(i, l)| (l.clone(), i as u32)).collect();
        Vocab { labels, index }
    }
}

impl From<Vocab> for Vec<String> {
    fn from(vocab: Vocab) -> Self {
        vocab.labels
    }
}

/// Serde for numbers with NaN for a missing value: JSON has no NaN, so it is written as `null`.
pub(crate) mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer>(xs: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let as_options: Vec<Option<f64>> = xs.iter().map(|&x| (!x.is_nan()).then_some(x)).collect();
        as_options.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let as_options = Vec::<Option<f64>>::deserialize(d)?;
        Ok(as_options.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
    }
}

/// What fit learned about one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum ColumnStats {
    /// Observed count, mean, population standard deviation (1 when zero) and largest |value|.
    Numeric { observed: usize, mean: f64, std: f64, max_abs: f64 },
    /// Vocabulary and the count of each label.
    Categorical { vocab: Vocab, counts: Vec<usize> },
    /// Vocabulary of elements and the number of observed cells.
    Set { vocab: Vocab, observed: usize },
    /// An id or text column: left as it is.
    Skip,
}

impl ColumnStats {
    /// Number of observed cells at fit (0 for skipped columns).
    pub(crate) fn observed(&self) -> usize {
        match self {
            ColumnStats::Numeric { observed, .. } | ColumnStats::Set { observed, .. } => *observed,
            ColumnStats::Categorical { counts, .. } => counts.iter().sum(),
            ColumnStats::Skip => 0,
        }
    }

    pub(crate) fn vocab(&self) -> Option<&Vocab> {
        match self {
            ColumnStats::Categorical { vocab, .. } | ColumnStats::Set { vocab, .. } => Some(vocab),
            _ => None,
        }
    }
}

/// One encoded column of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Column {
    /// Values, NaN for missing cells (saved as `null`).
    Numeric(#[serde(with = "nan_as_null")] Vec<f64>),
    /// Codes, [`MISSING`] for missing cells, [`UNSEEN`] for labels unknown at fit.
    Categorical(Vec<u32>),
    /// Sorted, deduplicated element codes; elements unknown at fit get codes from
    /// `vocab.len()` up, distinct per element.
    Set(Vec<Option<Vec<u32>>>),
    /// Not a feature.
    Skip,
}

impl Column {
    pub(crate) fn is_missing(&self, row: usize) -> bool {
        match self {
            Column::Numeric(v) => v[row].is_nan(),
            Column::Categorical(v) => v[row] == MISSING,
            Column::Set(v) => v[row].is_none(),
            Column::Skip => false,
        }
    }
}

/// Fit-time statistics of every column, and the encoding of tables of the same schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Encoder {
    pub(crate) schema: Schema,
    pub(crate) stats: Vec<ColumnStats>,
}

impl Encoder {
    /// Learns vocabularies and numeric statistics from the observed cells of `table`.
    pub(crate) fn fit(table: &Table) -> Encoder {
        let stats = table
            .schema()
            .columns()
            .iter()
            .enumerate()
            .map(|(c, spec)| {
                let array = table.column_at(c);
                match spec.kind {
                    ColumnKind::Numeric => {
                        let xs: Vec<f64> = array.as_primitive::<Float64Type>().iter().flatten().collect();
                        let (mean, std) = mean_std(&xs);
                        let max_abs = xs.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                        ColumnStats::Numeric { observed: xs.len(), mean, std, max_abs }
                    }
                    ColumnKind::Categorical => {
                        let strings = array.as_string::<i32>();
                        let vocab = Vocab::from_labels(strings.iter().flatten());
                        let mut counts = vec![0; vocab.len()];
                        for s in strings.iter().flatten() {
                            counts[vocab.code(s) as usize] += 1;
                        }
                        ColumnStats::Categorical { vocab, counts }
                    }
                    ColumnKind::SetValued => {
                        let list = array.as_list::<i32>();
                        let elements = list.values().as_string::<i32>();
                        let vocab = Vocab::from_labels(elements.iter().flatten());
                        ColumnStats::Set { vocab, observed: list.len() - list.null_count() }
                    }
                    ColumnKind::Text | ColumnKind::Id => ColumnStats::Skip,
                }
            })
            .collect();
        Encoder { schema: table.schema().clone(), stats }
    }

    /// Indices of the feature columns (numeric, categorical, set-valued).
    pub(crate) fn features(&self) -> Vec<usize> {
        (0..self.stats.len()).filter(|&c| !matches!(self.stats[c], ColumnStats::Skip)).collect()
    }

    /// Encodes `table`, which must have the fit schema.
    pub(crate) fn encode(&self, table: &Table) -> Result<Vec<Column>> {
        self.schema.ensure_same(table.schema(), "transform")?;
        Ok(self.stats.iter().enumerate().map(|(c, stats)| encode_column(table, c, stats)).collect())
    }

    /// The value to write for `code` in categorical column `col`.
    pub(crate) fn category(&self, col: usize, code: u32) -> Option<Value> {
        let vocab = self.stats[col].vocab()?;
        ((code as usize) < vocab.len()).then(|| Value::Category(vocab.label(code).to_string()))
    }

    /// The value to write for the element codes of a set in column `col` (codes unknown at
    /// fit are dropped).
    pub(crate) fn set(&self, col: usize, codes: &[u32]) -> Option<Value> {
        let vocab = self.stats[col].vocab()?;
        Some(Value::Set(
            codes.iter().filter(|&&c| (c as usize) < vocab.len()).map(|&c| vocab.label(c).to_string()).collect(),
        ))
    }
}

fn encode_column(table: &Table, c: usize, stats: &ColumnStats) -> Column {
    let array = table.column_at(c);
    match stats {
        ColumnStats::Numeric { .. } => {
            Column::Numeric(array.as_primitive::<Float64Type>().iter().map(|x| x.unwrap_or(f64::NAN)).collect())
        }
        ColumnStats::Categorical { vocab, .. } => {
            Column::Categorical(array.as_string::<i32>().iter().map(|s| s.map_or(MISSING, |s| vocab.code(s))).collect())
        }
        ColumnStats::Set { vocab, .. } => {
            let list = array.as_list::<i32>();
            let mut extra: HashMap<String, u32> = HashMap::new();
            let cells = (0..list.len())
                .map(|r| {
                    if list.is_null(r) {
                        return None;
                    }
                    let items = list.value(r);
                    let mut codes: Vec<u32> = items
                        .as_string::<i32>()
                        .iter()
                        .flatten()
                        .map(|s| match vocab.code(s) {
                            UNSEEN => {
                                let next = (vocab.len() + extra.len()) as u32;
                                *extra.entry(s.to_string()).or_insert(next)
                            }
                            code => code,
                        })
                        .collect();
                    codes.sort_unstable();
                    codes.dedup();
                    Some(codes)
                })
                .collect();
            Column::Set(cells)
        }
        ColumnStats::Skip => Column::Skip,
    }
}

/// Mean and population standard deviation; the deviation is 1 when it is zero or undefined, so
/// that standardising a constant column divides by one (like scikit-learn's `StandardScaler`).
pub(crate) fn mean_std(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 1.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let std = var.sqrt();
    (mean, if std > 1e-12 * mean.abs().max(1.0) && std.is_finite() { std } else { 1.0 })
}

/// Median of the observed values (mean of the two middle ones for an even count).
pub(crate) fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_unstable_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 { xs[n / 2] } else { 0.5 * (xs[n / 2 - 1] + xs[n / 2]) })
}

/// The most frequent value; ties go to the smallest.
pub(crate) fn mode_f64(xs: &[f64]) -> Option<f64> {
    let mut counts: HashMap<u64, (f64, usize)> = HashMap::new();
    for &x in xs {
        let x = if x == 0.0 { 0.0 } else { x };
        counts.entry(x.to_bits()).or_insert((x, 0)).1 += 1;
    }
    counts.into_values().max_by(|a, b| a.1.cmp(&b.1).then(b.0.total_cmp(&a.0))).map(|(x, _)| x)
}

/// The most frequent label code from per-code counts; ties go to the smallest label.
pub(crate) fn mode_code(counts: &[usize]) -> Option<u32> {
    let best = counts.iter().copied().max().filter(|&m| m > 0)?;
    counts.iter().position(|&c| c == best).map(|i| i as u32)
}

/// The most frequent set among observed cells (compared as sorted element codes); ties go to
/// the lexicographically smallest.
pub(crate) fn mode_set(cells: &[Option<Vec<u32>>]) -> Option<Vec<u32>> {
    let mut counts: HashMap<&[u32], usize> = HashMap::new();
    for cell in cells.iter().flatten() {
        *counts.entry(cell.as_slice()).or_insert(0) += 1;
    }
    counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0))).map(|(s, _)| s.to_vec())
}

/// Writes `fills` into the missing cells of `table` (never an observed one).
pub(crate) fn write_fills(table: &Table, fills: Vec<(Cell, Value)>) -> Result<Table> {
    if fills.is_empty() {
        return Ok(table.clone());
    }
    Ok(table.with_filled(fills)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(median(vec![3.0, 1.0, 2.0, 10.0]), Some(2.5));
        assert_eq!(mode_f64(&[2.0, 1.0, 2.0, 1.0, 5.0]), Some(1.0));
        assert_eq!(mode_code(&[0, 3, 3]), Some(1));
        assert_eq!(mode_code(&[0, 0]), None);
        let sets = vec![Some(vec![1, 2]), None, Some(vec![0]), Some(vec![1, 2])];
        assert_eq!(mode_set(&sets), Some(vec![1, 2]));
        assert_eq!(mean_std(&[4.0, 4.0]), (4.0, 1.0));
    }
}
