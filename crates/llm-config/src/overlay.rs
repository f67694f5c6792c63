//! Partial settings over chosen defaults: a config file names the fields it changes and keeps
//! the rest of *these* defaults (a grid's, or the imputer's), not the type's own.

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `base` with the fields of the JSON object `given` put over it (one level deep: a field that
/// is itself an object is replaced whole, so enums and maps stay what they were given as).
///
/// ```
/// use llm_config::{overlay, LoraConfig};
///
/// let base = LoraConfig::default().with_r(16).with_alpha(32.0);
/// let c: LoraConfig = overlay(&base, serde_json::json!({"r": 4}))?;
/// assert_eq!((c.r, c.alpha), (4, 32.0));
/// # Ok::<(), llm_config::Error>(())
/// ```
pub fn overlay<T: Serialize + DeserializeOwned>(base: &T, given: serde_json::Value) -> Result<T> {
    let mut merged = serde_json::to_value(base).map_err(|e| Error::invalid(e.to_string()))?;
    match (&mut merged, given) {
        (serde_json::Value::Object(fields), serde_json::Value::Object(over)) => fields.extend(over),
        (_, other) => return Err(Error::invalid(format!("expected an object, got {other}"))),
    }
    serde_json::from_value(merged).map_err(|e| Error::invalid(e.to_string()))
}

/// For `#[serde(deserialize_with = …)]`: reads an object and puts it over `base` ([`overlay`]).
pub fn deserialize_over<'de, D: Deserializer<'de>, T: Serialize + DeserializeOwned>(
    d: D,
    base: &T,
) -> std::result::Result<T, D::Error> {
    let given = serde_json::Value::deserialize(d)?;
    overlay(base, given).map_err(D::Error::custom)
}

/// A unit variant of a snake_case serde enum from its name, or an error listing `names`.
pub(crate) fn parse_name<T: DeserializeOwned>(text: &str, what: &str, names: &[&str]) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| Error::invalid(format!("{what} '{text}' is not one of {}", names.join(", "))))
}
