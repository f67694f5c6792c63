//! The feature mapping learnt at fit: scaling statistics for numeric columns, vocabularies for
//! categorical, id and set-valued columns, and the encoding of a table: dense inputs as a tensor,
//! each embedded feature as ragged bags of indices gathered per mini-batch.
//!
//! # Missing cells and unseen labels
//!
//! A missing cell that reaches the model (for example when an imputer left it, or a test row
//! lacks it) is encoded, never refused:
//!
//! - numeric: the training mean, which is 0 after standardisation; when the column had missing
//!   cells at fit, a 0/1 missing-indicator input is added for it. (A column complete at fit gets
//!   no indicator: its weight could never have been trained.)
//! - categorical and id: the dedicated index [`MISSING`]; labels unseen at fit (or seen fewer
//!   than `min_count` times) go to [`OOV`].
//! - set-valued: a missing cell is the bag `[MISSING]`, an empty set the bag `[EMPTY]`, unseen
//!   elements [`OOV`].
//!
//! Text columns are ignored. Vocabulary indices after the reserved ones follow the sorted
//! labels, so a map is deterministic given the training table.
//!
//! History bags ([`HistoryBag`]) follow the table's columns as set-valued features: their bags
//! are learnt from the training rows and stored here ([`HistoryBags`]).

use std::collections::{BTreeMap, HashMap};

use rec_table::arrow::array::{Array, AsArray};
use rec_table::arrow::datatypes::Float64Type;
use rec_table::{ColumnKind, Table};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::config::HistoryBag;
use crate::error::{Error, Result};
use crate::target::TargetMap;

/// Vocabulary index of a missing cell.
pub const MISSING: i64 = 0;
/// Vocabulary index of a label not in the vocabulary.
pub const OOV: i64 = 1;
/// Vocabulary index of an empty set (set-valued columns only).
pub const EMPTY: i64 = 2;

/// Scaling of one numeric column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericFeature {
    /// Column name.
    pub name: String,
    /// Training mean of the observed cells.
    pub mean: f64,
    /// Training standard deviation (1 when constant or unobserved).
    pub std: f64,
    /// Whether a missing-indicator input follows the dense values.
    pub indicator: bool,
}

/// Vocabulary of one categorical, id or set-valued column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparseFeature {
    /// Column name.
    pub name: String,
    /// Column kind: categorical, id or set-valued.
    pub kind: ColumnKind,
    /// Labels in index order; label `vocab[i]` has index `i + reserved()`.
    pub vocab: Vec<String>,
    /// For a history bag, its source columns and bags (the feature is then set-valued and its
    /// vocabulary is the `of` column's labels); `None` for a column of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryBags>,
}

/// The bags of a [`HistoryBag`] as learnt from the training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryBags {
    /// The column whose value picks the bag.
    pub key: String,
    /// The column whose values fill the bags.
    pub of: String,
    /// Per key label, the positions in the feature's `vocab` of the `of` labels seen with it in
    /// training (sorted, repeats kept).
    pub bags: BTreeMap<String, Vec<u32>>,
}

impl SparseFeature {
    /// Number of reserved leading indices: missing and OOV, plus empty for sets.
    pub fn reserved(&self) -> i64 {
        if self.kind == ColumnKind::SetValued {
            3
        } else {
            2
        }
    }

    /// Rows of the embedding table (for sets, one more: the padding row, which stays zero; bags
    /// are ragged, so it is never looked up, and it stays so that saved models keep their shape).
    pub fn table_rows(&self) -> i64 {
        self.reserved() + self.vocab.len() as i64 + i64::from(self.kind == ColumnKind::SetValued)
    }

    /// The padding index of set-valued columns (the last row).
    pub fn padding_idx(&self) -> Option<i64> {
        (self.kind == ColumnKind::SetValued).then(|| self.table_rows() - 1)
    }

    fn lookup(&self) -> HashMap<&str, i64> {
        let r = self.reserved();
        self.vocab.iter().enumerate().map(|(i, s)| (s.as_str(), i as i64 + r)).collect()
    }
}

/// Everything learnt from the training table besides the weights; saved as `features.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureMap {
    /// The target column.
    pub target: String,
    /// The mapping of target values.
    pub target_map: TargetMap,
    /// Numeric features, in table order.
    pub numeric: Vec<NumericFeature>,
    /// Embedded features, in table order.
    pub sparse: Vec<SparseFeature>,
    /// Text columns, ignored.
    pub ignored: Vec<String>,
}

/// A table encoded for the network, all on the CPU.
pub(crate) struct Encoded {
    /// Rows.
    pub n: usize,
    /// Dense inputs `[n, dense_width]` (f32), if any numeric feature.
    pub dense: Option<Tensor>,
    /// Per sparse feature, each row's bag of indices (one index except for sets).
    pub sparse: Vec<Bags>,
}

/// The embedding indices of one feature for every row of a table, ragged: row `r`'s bag is
/// `values[offsets[r]..offsets[r + 1]]`, one index for a categorical or id cell, `[MISSING]`
/// for a missing cell, `[EMPTY]` for an empty set. Kept on the CPU; a mini-batch gathers its
/// rows into a [`BagBatch`], so memory and work follow the bags' total length rather than the
/// row count times the longest bag (on ml-100k the history bag of a user who rated 737 movies
/// would otherwise pad every row to 737).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bags {
    values: Vec<i32>,
    offsets: Vec<usize>,
}

/// One mini-batch of a feature as libtorch's `embedding_bag` reads it: the batch's bags end to
/// end in `values` (i64) and where each starts in `offsets` (`[B]`).
pub(crate) struct BagBatch {
    pub values: Tensor,
    pub offsets: Tensor,
}

impl Bags {
    /// One bag per row; an empty bag is stored as `[EMPTY]`.
    fn new(bags: impl Iterator<Item = Vec<i64>>, feature: &str) -> Result<Bags> {
        let mut values = Vec::new();
        let mut offsets = vec![0];
        for bag in bags {
            if bag.is_empty() {
                values.push(EMPTY as i32);
            }
            for i in bag {
                values.push(i32::try_from(i).map_err(|_| Error::FeatureMismatch {
                    column: feature.to_string(),
                    reason: format!("embedding index {i} does not fit 32 bits"),
                })?);
            }
            offsets.push(values.len());
        }
        Ok(Bags { values, offsets })
    }

    /// The bags of `rows`, in that order, on `device`.
    pub(crate) fn gather(&self, rows: impl Iterator<Item = usize>, device: tch::Device) -> Result<BagBatch> {
        let mut values: Vec<i64> = Vec::new();
        let mut offsets: Vec<i64> = Vec::new();
        for r in rows {
            offsets.push(values.len() as i64);
            values.extend(self.values[self.offsets[r]..self.offsets[r + 1]].iter().map(|&v| i64::from(v)));
        }
        Ok(BagBatch {
            values: Tensor::from_slice(&values).f_to_device(device)?,
            offsets: Tensor::from_slice(&offsets).f_to_device(device)?,
        })
    }

    /// Every index, row after row (what tests compare).
    #[cfg(test)]
    pub(crate) fn flat(&self) -> Vec<i64> {
        self.values.iter().map(|&v| i64::from(v)).collect()
    }

    /// Each row's bag length.
    #[cfg(test)]
    pub(crate) fn lengths(&self) -> Vec<usize> {
        self.offsets.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

impl FeatureMap {
    /// Learns scaling and vocabularies from every column of `table` except `target`, and the
    /// bags of each of `history`.
    pub(crate) fn fit(
        table: &Table,
        target: &str,
        target_map: TargetMap,
        min_count: usize,
        history: &[HistoryBag],
    ) -> Result<Self> {
        let mut numeric = Vec::new();
        let mut sparse = Vec::new();
        let mut ignored = Vec::new();
        for (col, spec) in table.schema().columns().iter().enumerate() {
            if spec.name == target {
                continue;
            }
            let array = table.column_at(col);
            match spec.kind {
                ColumnKind::Numeric => {
                    let values = array.as_primitive::<Float64Type>();
                    let mut sum = 0.0;
                    let mut n = 0usize;
                    for (row, v) in values.iter().enumerate() {
                        if let Some(x) = v {
                            check_finite(&spec.name, row, x)?;
                            sum += x;
                            n += 1;
                        }
                    }
                    let mean = if n > 0 { sum / n as f64 } else { 0.0 };
                    let var = values.iter().flatten().map(|x| (x - mean).powi(2)).sum::<f64>() / n.max(1) as f64;
                    let std = if var > 0.0 { var.sqrt() } else { 1.0 };
                    numeric.push(NumericFeature { name: spec.name.clone(), mean, std, indicator: n < values.len() });
                }
                ColumnKind::Categorical | ColumnKind::Id => {
                    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                    for s in array.as_string::<i32>().iter().flatten() {
                        *counts.entry(s).or_default() += 1;
                    }
                    sparse.push(SparseFeature {
                        name: spec.name.clone(),
                        kind: spec.kind,
                        vocab: keep(counts, min_count),
                        history: None,
                    });
                }
                ColumnKind::SetValued => {
                    let list = array.as_list::<i32>();
                    let items = list.values().as_string::<i32>();
                    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                    for row in 0..list.len() {
                        if list.is_valid(row) {
                            let (a, b) = (list.value_offsets()[row] as usize, list.value_offsets()[row + 1] as usize);
                            for i in a..b {
                                if items.is_valid(i) {
                                    *counts.entry(items.value(i)).or_default() += 1;
                                }
                            }
                        }
                    }
                    sparse.push(SparseFeature {
                        name: spec.name.clone(),
                        kind: spec.kind,
                        vocab: keep(counts, min_count),
                        history: None,
                    });
                }
                ColumnKind::Text => ignored.push(spec.name.clone()),
            }
        }
        for h in history {
            sparse.push(fit_history(table, target, h)?);
        }
        if numeric.is_empty() && sparse.is_empty() {
            return Err(Error::NoFeatures(target.to_string()));
        }
        Ok(FeatureMap { target: target.to_string(), target_map, numeric, sparse, ignored })
    }

    /// Width of the dense input: one value per numeric feature plus the indicators.
    pub fn dense_width(&self) -> usize {
        self.numeric.len() + self.numeric.iter().filter(|f| f.indicator).count()
    }

    /// Encodes the feature columns of `table` (found by name, kinds checked); other columns,
    /// the target included, are ignored.
    pub(crate) fn encode(&self, table: &Table) -> Result<Encoded> {
        let n = table.num_rows();
        let column = |name: &str, kinds: &[ColumnKind]| -> Result<usize> {
            let col = table.schema().index_of(name).map_err(|_| Error::FeatureMismatch {
                column: name.to_string(),
                reason: "the table lacks this column, which the model was fitted on".into(),
            })?;
            let kind = table.schema().columns()[col].kind;
            if !kinds.contains(&kind) {
                return Err(Error::FeatureMismatch {
                    column: name.to_string(),
                    reason: format!("it is {kind} here but was {} at fit", kinds[0]),
                });
            }
            Ok(col)
        };
        let dense = if self.numeric.is_empty() {
            None
        } else {
            let width = self.dense_width();
            let mut data = vec![0f32; n * width];
            let mut ind_col = self.numeric.len();
            for (j, f) in self.numeric.iter().enumerate() {
                let values = table.column_at(column(&f.name, &[ColumnKind::Numeric])?).as_primitive::<Float64Type>();
                for row in 0..n {
                    if values.is_valid(row) {
                        let x = values.value(row);
                        check_finite(&f.name, row, x)?;
                        data[row * width + j] = ((x - f.mean) / f.std) as f32;
                    } else if f.indicator {
                        data[row * width + ind_col] = 1.0;
                    }
                }
                if f.indicator {
                    ind_col += 1;
                }
            }
            Some(Tensor::from_slice(&data).f_view([n as i64, width as i64])?)
        };
        let mut sparse = Vec::with_capacity(self.sparse.len());
        for f in &self.sparse {
            let lookup = f.lookup();
            let index = |s: &str| lookup.get(s).copied().unwrap_or(OOV);
            if let Some(h) = &f.history {
                let keys =
                    table.column_at(column(&h.key, &[ColumnKind::Id, ColumnKind::Categorical])?).as_string::<i32>();
                let ofs =
                    table.column_at(column(&h.of, &[ColumnKind::Id, ColumnKind::Categorical])?).as_string::<i32>();
                let r = f.reserved();
                let bags = (0..n).map(|row| {
                    if keys.is_null(row) {
                        return vec![MISSING];
                    }
                    let mut bag: Vec<i64> = h
                        .bags
                        .get(keys.value(row))
                        .map(|b| b.iter().map(|&p| i64::from(p) + r).collect())
                        .unwrap_or_default();
                    // The row's own value leaves its bag: the rest of the history.
                    if let Some(own) = ofs.is_valid(row).then(|| lookup.get(ofs.value(row))).flatten() {
                        if let Some(pos) = bag.iter().position(|x| x == own) {
                            bag.remove(pos);
                        }
                    }
                    bag
                });
                sparse.push(Bags::new(bags, &f.name)?);
            } else if f.kind == ColumnKind::SetValued {
                let list = table.column_at(column(&f.name, &[ColumnKind::SetValued])?).as_list::<i32>();
                let items = list.values().as_string::<i32>();
                let bags = (0..n).map(|row| {
                    if list.is_null(row) {
                        return vec![MISSING];
                    }
                    let (a, b) = (list.value_offsets()[row] as usize, list.value_offsets()[row + 1] as usize);
                    (a..b).map(|i| if items.is_valid(i) { index(items.value(i)) } else { MISSING }).collect()
                });
                sparse.push(Bags::new(bags, &f.name)?);
            } else {
                let col = column(&f.name, &[f.kind])?;
                let strings = table.column_at(col).as_string::<i32>();
                sparse.push(Bags::new(strings.iter().map(|s| vec![s.map_or(MISSING, index)]), &f.name)?);
            }
        }
        Ok(Encoded { n, dense, sparse })
    }
}

/// The bags of `h` from the rows of `table` where both its columns are present.
fn fit_history(table: &Table, target: &str, h: &HistoryBag) -> Result<SparseFeature> {
    let strings = |name: &str| -> Result<_> {
        let bad = |reason: String| Error::FeatureMismatch { column: name.to_string(), reason };
        if name == target {
            return Err(bad(format!("history bag {} → {} cannot use the target column", h.key, h.of)));
        }
        let col = table
            .schema()
            .index_of(name)
            .map_err(|_| bad(format!("history bag {} → {}: the training table has no such column", h.key, h.of)))?;
        let kind = table.schema().columns()[col].kind;
        if !matches!(kind, ColumnKind::Id | ColumnKind::Categorical) {
            return Err(bad(format!(
                "history bag {} → {} needs an id or categorical column, it is {kind}",
                h.key, h.of
            )));
        }
        Ok(table.column_at(col).as_string::<i32>())
    };
    let (keys, ofs) = (strings(&h.key)?, strings(&h.of)?);
    let vocab: Vec<String> =
        ofs.iter().flatten().collect::<std::collections::BTreeSet<_>>().into_iter().map(String::from).collect();
    let position: HashMap<&str, u32> = vocab.iter().enumerate().map(|(i, s)| (s.as_str(), i as u32)).collect();
    let mut bags: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (key, of) in keys.iter().zip(ofs.iter()) {
        if let (Some(key), Some(of)) = (key, of) {
            bags.entry(key.to_string()).or_default().push(position[of]);
        }
    }
    for bag in bags.values_mut() {
        bag.sort_unstable();
    }
    Ok(SparseFeature {
        name: format!("{} → {}", h.key, h.of),
        kind: ColumnKind::SetValued,
        vocab,
        history: Some(HistoryBags { key: h.key.clone(), of: h.of.clone(), bags }),
    })
}

/// Keeps the labels seen at least `min_count` times, sorted.
fn keep(counts: BTreeMap<&str, usize>, min_count: usize) -> Vec<String> {
    counts.into_iter().filter(|&(_, c)| c >= min_count).map(|(s, _)| s.to_string()).collect()
}

fn check_finite(column: &str, row: usize, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite { column: column.to_string(), row, value })
    }
}

/// The target values as a tensor of the kind the loss wants: class indices (i64) for
/// multi-class, floats for binary and regression.
pub(crate) fn target_tensor(map: &TargetMap, values: &[f64]) -> Tensor {
    match map {
        TargetMap::MultiClass { .. } => Tensor::from_slice(&values.iter().map(|&v| v as i64).collect::<Vec<_>>()),
        _ => Tensor::from_slice(&values.iter().map(|&v| v as f32).collect::<Vec<_>>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rec_table::{ColumnSpec, Schema, Value};

    fn table() -> Table {
        let schema = Schema::try_new(vec![
            ColumnSpec::new("age", ColumnKind::Numeric),
            ColumnSpec::new("g", ColumnKind::Categorical),
            ColumnSpec::new("s", ColumnKind::SetValued),
            ColumnSpec::new("t", ColumnKind::Text),
            ColumnSpec::new("y", ColumnKind::Numeric),
        ])
        .unwrap();
        let set = |v: &[&str]| Some(Value::Set(v.iter().map(|s| s.to_string()).collect()));
        Table::from_rows(
            schema,
            vec![
                vec![
                    Some(Value::Number(10.0)),
                    Some(Value::Category("a".into())),
                    set(&["x", "y"]),
                    None,
                    Some(Value::Number(1.0)),
                ],
                vec![None, None, set(&[]), None, Some(Value::Number(0.0))],
                vec![
                    Some(Value::Number(30.0)),
                    Some(Value::Category("b".into())),
                    None,
                    None,
                    Some(Value::Number(1.0)),
                ],
            ],
        )
        .unwrap()
    }

    #[test]
    fn missing_cells_have_defined_encodings() {
        let t = table();
        let map = FeatureMap::fit(&t, "y", TargetMap::Binary { labels: vec![] }, 1, &[]).unwrap();
        assert_eq!(map.ignored, ["t"]);
        assert_eq!(map.numeric[0].mean, 20.0);
        assert!(map.numeric[0].indicator);
        assert_eq!(map.dense_width(), 2);
        let enc = map.encode(&t).unwrap();
        let dense: Vec<f32> = Vec::try_from(enc.dense.unwrap().view(-1)).unwrap();
        assert_eq!(dense, [-1.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
        assert_eq!(enc.sparse[0].flat(), [2, MISSING, 3]);
        // Set vocab: x → 3, y → 4 (the padding row 5 is never looked up).
        assert_eq!(enc.sparse[1].flat(), [3, 4, EMPTY, MISSING]);
        assert_eq!(enc.sparse[1].lengths(), [2, 1, 1]);
        assert_eq!(map.sparse[1].table_rows(), 6);
    }

    #[test]
    fn history_bags_leave_out_the_rows_own_value() {
        let schema = Schema::try_new(vec![
            ColumnSpec::new("user", ColumnKind::Id),
            ColumnSpec::new("item", ColumnKind::Id),
            ColumnSpec::new("y", ColumnKind::Numeric),
        ])
        .unwrap();
        let id = |s: &str| Some(Value::Category(s.into()));
        let row = |u: &str, i: &str| vec![id(u), id(i), Some(Value::Number(1.0))];
        let train = Table::from_rows(
            schema.clone(),
            vec![row("u1", "a"), row("u1", "b"), row("u1", "c"), row("u2", "b"), row("u3", "c")],
        )
        .unwrap();
        let map =
            FeatureMap::fit(&train, "y", TargetMap::Binary { labels: vec![] }, 1, &[HistoryBag::new("user", "item")])
                .unwrap();
        let h = &map.sparse[2];
        assert_eq!(h.name, "user → item");
        assert_eq!((h.kind, h.vocab.clone()), (ColumnKind::SetValued, vec!["a".to_string(), "b".into(), "c".into()]));
        let bags = &h.history.as_ref().unwrap().bags;
        assert_eq!(bags["u1"], [0, 1, 2]);
        assert_eq!(bags["u2"], [1]);
        // a → 3, b → 4, c → 5 (the padding row 6 is never looked up).
        let enc = map.encode(&train).unwrap();
        assert_eq!(enc.sparse[2].flat(), [4, 5, 3, 5, 3, 4, EMPTY, EMPTY]);
        assert_eq!(enc.sparse[2].lengths(), [2, 2, 2, 1, 1]);
        // A test row: the whole bag of a known user (its item is not in it), the empty bag for
        // an unseen user, the missing index for a missing user.
        let test = Table::from_rows(
            schema,
            vec![row("u2", "c"), row("u9", "a"), vec![None, id("a"), Some(Value::Number(0.0))]],
        )
        .unwrap();
        assert_eq!(map.encode(&test).unwrap().sparse[2].flat(), [4, EMPTY, MISSING]);
        // The map round-trips through JSON with its bags.
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(serde_json::from_str::<FeatureMap>(&json).unwrap(), map);
        // A bad column is named.
        let e = FeatureMap::fit(&train, "y", TargetMap::Binary { labels: vec![] }, 1, &[HistoryBag::new("user", "y")])
            .unwrap_err();
        assert!(e.to_string().contains("target"), "{e}");
        let e = FeatureMap::fit(&train, "y", TargetMap::Binary { labels: vec![] }, 1, &[HistoryBag::new("user", "zz")])
            .unwrap_err();
        assert!(e.to_string().contains("zz"), "{e}");
    }
}
