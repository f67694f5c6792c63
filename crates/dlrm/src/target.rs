//! The target column: which task it serves and how its values map to model outputs.

use rec_table::arrow::array::{Array, AsArray};
use rec_table::arrow::datatypes::Float64Type;
use rec_table::{ColumnKind, Table, Task, Value};
use serde::{Deserialize, Serialize};

use crate::config::TaskKind;
use crate::error::{Error, Result};

/// How target values map to what the network predicts, learnt at fit and saved with the model.
///
/// - binary: `labels` holds two labels, sorted; the model predicts the probability of
///   `labels[1]` (for a numeric 0/1 target, of 1).
/// - multi-class: `labels` holds the distinct training labels, sorted (numbers numerically,
///   strings lexicographically); class `k` is `labels[k]`, so ratings 1..5 become classes
///   0..4.
/// - regression: the target is standardised with the training `mean` and `std` for the MSE
///   loss; predictions are mapped back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TargetMap {
    /// Two labels; class 1 is the positive one.
    Binary {
        /// The labels, sorted.
        labels: Vec<Value>,
    },
    /// `labels.len()` classes.
    MultiClass {
        /// The labels, sorted; class `k` is `labels[k]`.
        labels: Vec<Value>,
    },
    /// Standardisation of a real target.
    Regression {
        /// Training mean.
        mean: f64,
        /// Training standard deviation (1 when the target is constant).
        std: f64,
    },
}

impl TargetMap {
    /// The task this map serves.
    pub fn task(&self) -> Task {
        match self {
            TargetMap::Binary { .. } => Task::Binary,
            TargetMap::MultiClass { labels } => Task::MultiClass { classes: labels.len() },
            TargetMap::Regression { .. } => Task::Regression,
        }
    }

    /// The class labels (binary and multi-class), empty for regression.
    pub fn labels(&self) -> &[Value] {
        match self {
            TargetMap::Binary { labels } | TargetMap::MultiClass { labels } => labels,
            TargetMap::Regression { .. } => &[],
        }
    }

    /// The class index of a label, if it is one of the training labels.
    pub fn class_of(&self, label: &Value) -> Option<usize> {
        self.labels().iter().position(|l| l == label)
    }

    /// Width of the network's output layer.
    pub(crate) fn out_dim(&self) -> usize {
        match self {
            TargetMap::MultiClass { labels } => labels.len(),
            _ => 1,
        }
    }

    /// Learns the map from the observed target cells of `table`.
    pub(crate) fn fit(table: &Table, target: &str, task: TaskKind) -> Result<Self> {
        let col = index_of_target(table, target)?;
        let kind = table.schema().columns()[col].kind;
        let wrong = |task: &str, reason: String| Error::TargetKind {
            target: target.to_string(),
            kind,
            task: task.to_string(),
            reason,
        };
        if matches!(kind, ColumnKind::Text | ColumnKind::SetValued | ColumnKind::Id) {
            return Err(wrong("any task", "the target must be numeric or categorical".into()));
        }
        let labels = observed_labels(table, col);
        if labels.is_empty() {
            return Err(Error::EmptyTable(format!("target '{target}' has no observed value")));
        }
        let numbers: Vec<f64> = labels.iter().filter_map(Value::as_f64).collect();
        let mut distinct = labels.clone();
        sort_labels(&mut distinct);
        distinct.dedup();
        let is_01 = kind == ColumnKind::Numeric && numbers.iter().all(|&x| x == 0.0 || x == 1.0);
        let task = match task {
            TaskKind::Auto => match kind {
                ColumnKind::Numeric if is_01 => TaskKind::Binary,
                ColumnKind::Numeric => TaskKind::Regression,
                _ if distinct.len() == 2 => TaskKind::Binary,
                _ => TaskKind::MultiClass,
            },
            other => other,
        };
        match task {
            TaskKind::Binary => {
                if kind == ColumnKind::Numeric && !is_01 {
                    return Err(wrong("binary classification", "a numeric target must hold only 0 and 1".into()));
                }
                if kind == ColumnKind::Categorical && distinct.len() != 2 {
                    return Err(wrong(
                        "binary classification",
                        format!("it has {} distinct labels, not 2", distinct.len()),
                    ));
                }
                let labels =
                    if kind == ColumnKind::Numeric { vec![Value::Number(0.0), Value::Number(1.0)] } else { distinct };
                Ok(TargetMap::Binary { labels })
            }
            TaskKind::MultiClass => {
                if distinct.len() < 2 {
                    return Err(wrong("multi-class classification", "it has fewer than 2 distinct labels".into()));
                }
                Ok(TargetMap::MultiClass { labels: distinct })
            }
            TaskKind::Regression => {
                if kind != ColumnKind::Numeric {
                    return Err(wrong("regression", "regression needs a numeric target".into()));
                }
                let n = numbers.len() as f64;
                let mean = numbers.iter().sum::<f64>() / n;
                let var = numbers.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
                let std = if var > 0.0 { var.sqrt() } else { 1.0 };
                Ok(TargetMap::Regression { mean, std })
            }
            TaskKind::Auto => unreachable!("resolved above"),
        }
    }

    /// The training value of each row with an observed target: class indices (as `f64`) for
    /// classification, standardised values for regression. A label unseen at fit is an error.
    pub(crate) fn encode(&self, table: &Table, target: &str) -> Result<Vec<f64>> {
        let col = index_of_target(table, target)?;
        let values = observed_labels(table, col);
        values
            .iter()
            .map(|v| match self {
                TargetMap::Regression { mean, std } => match v.as_f64() {
                    Some(x) if x.is_finite() => Ok((x - mean) / std),
                    Some(x) => Err(Error::NonFinite { column: target.to_string(), row: 0, value: x }),
                    None => Err(Error::TargetKind {
                        target: target.to_string(),
                        kind: table.schema().columns()[col].kind,
                        task: "regression".into(),
                        reason: "regression needs a numeric target".into(),
                    }),
                },
                _ => self.class_of(v).map(|k| k as f64).ok_or_else(|| Error::TargetKind {
                    target: target.to_string(),
                    kind: table.schema().columns()[col].kind,
                    task: format!("{:?}", self.task()),
                    reason: format!("label {v} was not seen when the model was fitted"),
                }),
            })
            .collect()
    }
}

fn index_of_target(table: &Table, target: &str) -> Result<usize> {
    table
        .schema()
        .index_of(target)
        .map_err(|_| Error::MissingTarget { target: target.to_string(), available: table.schema().names().join(", ") })
}

/// The observed values of column `col` (numbers or labels), in row order, missing cells skipped.
fn observed_labels(table: &Table, col: usize) -> Vec<Value> {
    let array = table.column_at(col);
    match table.schema().columns()[col].kind {
        ColumnKind::Numeric => array.as_primitive::<Float64Type>().iter().flatten().map(Value::Number).collect(),
        _ => array.as_string::<i32>().iter().flatten().map(|s| Value::Category(s.to_string())).collect(),
    }
}

/// Rows whose target cell is observed.
pub(crate) fn rows_with_target(table: &Table, target: &str) -> Result<Vec<usize>> {
    let col = index_of_target(table, target)?;
    let array = table.column_at(col);
    Ok((0..table.num_rows()).filter(|&r| array.is_valid(r)).collect())
}

fn sort_labels(labels: &mut [Value]) {
    labels.sort_by(|a, b| match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.total_cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    });
}
