//! Owned cell values, used to read and fill single cells.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::schema::ColumnKind;

/// The value of one observed cell.
///
/// `Category` serves both categorical and id columns; `Text` serves text columns. Missing cells
/// are `None` wherever an `Option<Value>` is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A numeric cell.
    Number(f64),
    /// A categorical or id cell.
    Category(String),
    /// A set-valued cell (elements in stored order).
    Set(Vec<String>),
    /// A text cell.
    Text(String),
}

impl Value {
    /// Whether this value may be stored in a column of `kind`.
    pub fn fits(&self, kind: ColumnKind) -> bool {
        matches!(
            (self, kind),
            (Value::Number(x), ColumnKind::Numeric) if x.is_finite()
        ) || matches!(
            (self, kind),
            (Value::Category(_), ColumnKind::Categorical | ColumnKind::Id | ColumnKind::Text)
                | (Value::Text(_), ColumnKind::Text | ColumnKind::Categorical | ColumnKind::Id)
                | (Value::Set(_), ColumnKind::SetValued)
        )
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(x) => Some(*x),
            _ => None,
        }
    }

    /// The label or text, if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Category(s) | Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is a set.
    pub fn as_set(&self) -> Option<&[String]> {
        match self {
            Value::Set(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(x) => write!(f, "{x}"),
            Value::Category(s) | Value::Text(s) => f.write_str(s),
            Value::Set(v) => write!(f, "{{{}}}", v.join(", ")),
        }
    }
}
