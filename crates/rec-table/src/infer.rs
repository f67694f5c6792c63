//! Inference of column kinds from the text of their cells.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::schema::ColumnKind;

/// Rules for inferring a column's kind from its observed values.
///
/// In order, a column is:
/// 1. `Id` if its name says so: `id`, or ending in `_id`, `-id`, ` id` (any case), `Id`, or `ID`
///    after a lower-case letter (`UserID`); keys are never features;
/// 2. `Numeric` if every observed value parses as a number (also when nothing is observed; a
///    non-finite one such as `inf` is then an error naming its cell, not a label);
/// 3. `SetValued` if at least `set_fraction` of the observed values contain the set separator
///    (or are the empty-set literal `[]`);
/// 4. `Categorical` if it has at most `max_categories` distinct values;
/// 5. `Id` if every value is distinct and none contains whitespace;
/// 6. `Categorical` if at most half of its observed values are distinct (labels that repeat,
///    however many: cities, hashed CTR features);
/// 7. `Text` otherwise (mostly distinct values with spaces: titles, descriptions).
///
/// Any inference can be overridden per column (see [`CsvOptions::with_kind`](crate::CsvOptions::with_kind)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferOptions {
    /// Most distinct values a categorical column may have.
    pub max_categories: usize,
    /// Fraction of observed values that must contain the separator for a set-valued column.
    pub set_fraction: f64,
}

impl Default for InferOptions {
    fn default() -> Self {
        InferOptions { max_categories: 100, set_fraction: 0.1 }
    }
}

/// Infers the kind of column `name` from its observed (non-missing) values.
pub fn infer_kind<'a>(
    name: &str,
    values: impl Iterator<Item = &'a str> + Clone,
    set_separator: char,
    opts: &InferOptions,
) -> ColumnKind {
    if is_id_name(name) {
        return ColumnKind::Id;
    }
    // `inf` or `1e309` among numbers keeps the column numeric (reading it is then an error
    // that names the cell), rather than turning the numbers into labels.
    if values.clone().all(|v| v.trim().parse::<f64>().is_ok()) {
        return ColumnKind::Numeric;
    }
    let (mut total, mut with_sep) = (0usize, 0usize);
    let mut distinct = HashSet::new();
    let mut any_space = false;
    for v in values {
        total += 1;
        if v.contains(set_separator) || v == crate::csv_io::EMPTY_SET {
            with_sep += 1;
        }
        any_space |= v.chars().any(char::is_whitespace);
        distinct.insert(v);
    }
    if total > 0 && with_sep as f64 >= opts.set_fraction * total as f64 {
        ColumnKind::SetValued
    } else if distinct.len() <= opts.max_categories {
        ColumnKind::Categorical
    } else if distinct.len() == total && !any_space {
        ColumnKind::Id
    } else if 2 * distinct.len() <= total {
        // Labels that repeat, however many there are (cities, hashed CTR categoricals).
        ColumnKind::Categorical
    } else {
        ColumnKind::Text
    }
}

/// Whether a column's name marks it as a key: `id`, or ending in `_id`, `-id`, ` id` (any
/// case), `Id`, or `ID` after a lower-case letter (`UserID`, `movieID`, but not `PAID`).
fn is_id_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower == "id" || ["_id", "-id", " id"].iter().any(|s| lower.ends_with(s)) || name.ends_with("Id") {
        return true;
    }
    name.strip_suffix("ID").and_then(|rest| rest.chars().last()).is_some_and(|c| c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str, values: &[&str]) -> ColumnKind {
        infer_kind(name, values.iter().copied(), '|', &InferOptions::default())
    }

    #[test]
    fn rules_in_order() {
        assert_eq!(kind("user_id", &["1", "2"]), ColumnKind::Id);
        assert_eq!(kind("age", &["22.0", "41", "-3e2"]), ColumnKind::Numeric);
        assert_eq!(kind("empty", &[]), ColumnKind::Numeric);
        assert_eq!(kind("price", &["1.5", "inf", "1e309"]), ColumnKind::Numeric);
        assert_eq!(kind("genres", &["Action|Comedy", "Drama"]), ColumnKind::SetValued);
        assert_eq!(kind("gender", &["Male", "Female", "Male"]), ColumnKind::Categorical);
        let names: Vec<String> = (0..200).map(|i| format!("User{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(kind("full_name", &refs), ColumnKind::Id);
        let titles: Vec<String> = (0..200).map(|i| format!("Movie number {}", i % 150)).collect();
        let refs: Vec<&str> = titles.iter().map(String::as_str).collect();
        assert_eq!(kind("title", &refs), ColumnKind::Text);
        // Many labels that repeat: a hashed CTR feature, a city with spaces.
        let hashes: Vec<String> = (0..400).map(|i| format!("{:08x}", (i % 150) * 2_654_435_761u64)).collect();
        let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
        assert_eq!(kind("C14", &refs), ColumnKind::Categorical);
        let cities: Vec<String> = (0..400).map(|i| format!("San Town {}", i % 180)).collect();
        let refs: Vec<&str> = cities.iter().map(String::as_str).collect();
        assert_eq!(kind("city", &refs), ColumnKind::Categorical);
    }

    #[test]
    fn key_names() {
        for name in ["id", "ID", "user_id", "User_ID", "movieId", "UserID", "MovieID", "item-id", "user id"] {
            assert_eq!(kind(name, &["a", "a"]), ColumnKind::Id, "{name}");
        }
        for name in ["PAID", "valid", "Android", "idle", "grid"] {
            assert_ne!(kind(name, &["a", "a"]), ColumnKind::Id, "{name}");
        }
    }
}
