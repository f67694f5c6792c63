//! Column kinds and the schema of a [`Table`](crate::Table).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Key under which a column's kind is stored in the Arrow field metadata (and so in Parquet).
pub const KIND_METADATA_KEY: &str = "recimpute.kind";

/// What a column holds, which decides how it is stored, imputed and serialized.
///
/// | kind | Arrow type | examples |
/// |---|---|---|
/// | `Numeric` | `Float64` | age, release year |
/// | `Categorical` | `Utf8` | gender, occupation, device type |
/// | `SetValued` | `List<Utf8>` | a movie's genres |
/// | `Text` | `Utf8` | a title |
/// | `Id` | `Utf8` | user id, item id |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// A real number.
    Numeric,
    /// One label out of a finite set.
    Categorical,
    /// A set of labels out of a finite vocabulary.
    SetValued,
    /// Free text.
    Text,
    /// An identifier: a key, not a feature to impute.
    Id,
}

impl ColumnKind {
    /// The Arrow data type a column of this kind is stored as.
    pub fn data_type(self) -> DataType {
        match self {
            ColumnKind::Numeric => DataType::Float64,
            ColumnKind::Categorical | ColumnKind::Text | ColumnKind::Id => DataType::Utf8,
            ColumnKind::SetValued => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        }
    }

    /// The lower-case name used in metadata, configs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::Numeric => "numeric",
            ColumnKind::Categorical => "categorical",
            ColumnKind::SetValued => "set_valued",
            ColumnKind::Text => "text",
            ColumnKind::Id => "id",
        }
    }

    /// A phrase for error messages: "a number", "a set of labels", ...
    pub(crate) fn expectation(self) -> &'static str {
        match self {
            ColumnKind::Numeric => "a number",
            ColumnKind::Categorical => "a category label",
            ColumnKind::SetValued => "a set of labels",
            ColumnKind::Text => "text",
            ColumnKind::Id => "an identifier",
        }
    }
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ColumnKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "numeric" | "number" => Ok(ColumnKind::Numeric),
            "categorical" | "category" => Ok(ColumnKind::Categorical),
            "set_valued" | "set" => Ok(ColumnKind::SetValued),
            "text" => Ok(ColumnKind::Text),
            "id" => Ok(ColumnKind::Id),
            other => Err(Error::InvalidInput(format!(
                "unknown column kind '{other}' (expected numeric, categorical, set_valued, text or id)"
            ))),
        }
    }
}

/// A column's name and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnSpec {
    /// The column name, unique within a schema.
    pub name: String,
    /// What the column holds.
    pub kind: ColumnKind,
}

impl ColumnSpec {
    /// A column called `name` of kind `kind`.
    pub fn new(name: impl Into<String>, kind: ColumnKind) -> Self {
        ColumnSpec { name: name.into(), kind }
    }

    /// The Arrow field for this column (nullable, with the kind in its metadata).
    pub fn to_field(&self) -> Field {
        Field::new(&self.name, self.kind.data_type(), true)
            .with_metadata(HashMap::from([(KIND_METADATA_KEY.to_string(), self.kind.as_str().to_string())]))
    }
}

/// The ordered columns of a table, with unique names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Schema {
    columns: Vec<ColumnSpec>,
}

impl Schema {
    /// A schema from columns; fails on an empty or duplicated name.
    pub fn try_new(columns: Vec<ColumnSpec>) -> Result<Self> {
        let mut seen = std::collections::HashSet::new();
        for c in &columns {
            if c.name.is_empty() {
                return Err(Error::InvalidInput("a column has an empty name".into()));
            }
            if !seen.insert(c.name.as_str()) {
                return Err(Error::InvalidInput(format!("column '{}' appears twice", c.name)));
            }
        }
        Ok(Schema { columns })
    }

    /// The columns in order.
    pub fn columns(&self) -> &[ColumnSpec] {
        &self.columns
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the schema has no column.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The position of the column called `name`.
    pub fn index_of(&self, name: &str) -> Result<usize> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| Error::UnknownColumn { name: name.to_string(), available: self.names().join(", ") })
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Result<&ColumnSpec> {
        Ok(&self.columns[self.index_of(name)?])
    }

    /// Column names in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// Indices of the columns of one kind.
    pub fn indices_of_kind(&self, kind: ColumnKind) -> Vec<usize> {
        (0..self.columns.len()).filter(|&i| self.columns[i].kind == kind).collect()
    }

    /// The same schema with the kind of column `name` replaced.
    pub fn with_kind(mut self, name: &str, kind: ColumnKind) -> Result<Self> {
        let i = self.index_of(name)?;
        self.columns[i].kind = kind;
        Ok(self)
    }

    /// The Arrow schema, kinds kept in field metadata.
    pub fn to_arrow(&self) -> arrow::datatypes::SchemaRef {
        Arc::new(arrow::datatypes::Schema::new(self.columns.iter().map(ColumnSpec::to_field).collect::<Vec<_>>()))
    }

    /// Checks that `other` has the same columns, in the same order, with the same kinds, and
    /// says which column differs if not.
    pub fn ensure_same(&self, other: &Schema, what: &str) -> Result<()> {
        if self == other {
            return Ok(());
        }
        for (i, (a, b)) in self.columns.iter().zip(&other.columns).enumerate() {
            if a != b {
                return Err(Error::SchemaMismatch(format!(
                    "{what}: column {i} is '{}' ({}) but '{}' ({}) was expected",
                    b.name, b.kind, a.name, a.kind
                )));
            }
        }
        Err(Error::SchemaMismatch(format!(
            "{what}: {} columns ({}) but {} were expected ({})",
            other.len(),
            other.names().join(", "),
            self.len(),
            self.names().join(", ")
        )))
    }
}
