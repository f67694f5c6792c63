//! Seeded train/validation/test splits: by row, by entity (a group key), the standard
//! ml-100k folds, and the duplicate-aware AdClick split.
//!
//! A [`Split`] holds row indices (each list ascending), so one split applies to every table
//! with the same rows: split a ratings table, then apply the split to its model table
//! ([`MovieLens::model_table`](crate::movielens::MovieLens::model_table) keeps the ratings'
//! row order).

use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rec_table::Table;

use crate::adclick::AdClick;
use crate::error::{Error, Result};
use crate::text::{fields, lines, read_text};

/// The fractions of rows in train, validation and test; they sum to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fractions {
    train: f64,
    validation: f64,
    test: f64,
}

impl Fractions {
    /// Checks that each fraction is in `[0, 1]` and that they sum to 1 (within 1e-9).
    pub fn try_new(train: f64, validation: f64, test: f64) -> Result<Self> {
        let ok = [train, validation, test].iter().all(|f| (0.0..=1.0).contains(f))
            && (train + validation + test - 1.0).abs() < 1e-9;
        if !ok {
            return Err(Error::InvalidArgument(format!(
                "split fractions train {train}, validation {validation}, test {test} must be in [0, 1] and sum to 1"
            )));
        }
        Ok(Fractions { train, validation, test })
    }

    /// Train and test only: `train` and `1 - train`.
    pub fn train_test(train: f64) -> Result<Self> {
        Self::try_new(train, 0.0, 1.0 - train)
    }

    /// The train fraction.
    pub fn train(&self) -> f64 {
        self.train
    }

    /// The validation fraction.
    pub fn validation(&self) -> f64 {
        self.validation
    }

    /// The test fraction.
    pub fn test(&self) -> f64 {
        self.test
    }
}

impl Default for Fractions {
    /// 80% train, 10% validation, 10% test.
    fn default() -> Self {
        Fractions { train: 0.8, validation: 0.1, test: 0.1 }
    }
}

/// Row indices of the three parts of a split, each ascending; no row is in two parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Split {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows (empty for a train/test split).
    pub validation: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

/// The tables of the three parts of a split.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitTables {
    /// Training rows.
    pub train: Table,
    /// Validation rows.
    pub validation: Table,
    /// Test rows.
    pub test: Table,
}

impl Split {
    /// Selects the rows of each part from `table`.
    pub fn apply(&self, table: &Table) -> Result<SplitTables> {
        Ok(SplitTables {
            train: table.take_rows(&self.train)?,
            validation: table.take_rows(&self.validation)?,
            test: table.take_rows(&self.test)?,
        })
    }

    /// Total number of rows in the three parts.
    pub fn len(&self) -> usize {
        self.train.len() + self.validation.len() + self.test.len()
    }

    /// Whether all three parts are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A random split of `n_rows` rows: `round(n·train)` rows to train, `round(n·validation)` to
/// validation, the rest to test.
///
/// ```
/// use rec_datasets::split::{random_split, Fractions};
/// let s = random_split(100, Fractions::default(), 42);
/// assert_eq!((s.train.len(), s.validation.len(), s.test.len()), (80, 10, 10));
/// assert_eq!(s, random_split(100, Fractions::default(), 42));
/// ```
pub fn random_split(n_rows: usize, fractions: Fractions, seed: u64) -> Split {
    let groups: Vec<usize> = (0..n_rows).collect();
    group_split(&groups, fractions, seed)
}

/// A seeded random sample of `n` of the rows `0..n_rows` (all of them when `n >= n_rows`),
/// in ascending order so that a sample keeps the file's order.
///
/// ```
/// use rec_datasets::split::sample_rows;
/// let rows = sample_rows(1000, 10, 7);
/// assert_eq!(rows.len(), 10);
/// assert!(rows.windows(2).all(|w| w[0] < w[1]));
/// assert_eq!(rows, sample_rows(1000, 10, 7));
/// assert_ne!(rows, sample_rows(1000, 10, 8));
/// assert_eq!(sample_rows(3, 10, 7), [0, 1, 2]);
/// ```
pub fn sample_rows(n_rows: usize, n: usize, seed: u64) -> Vec<usize> {
    if n >= n_rows {
        return (0..n_rows).collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = rand::seq::index::sample(&mut rng, n_rows, n).into_vec();
    rows.sort_unstable();
    rows
}

/// A split that keeps all rows of one group together (`groups[i]` is row `i`'s group).
///
/// The distinct groups are sorted, shuffled with `seed`, and taken in that order: a group
/// goes to train while train holds fewer than `round(n·train)` rows, then to validation while
/// train and validation together hold fewer than `round(n·(train + validation))`, then to
/// test. With large groups the realised fractions differ from the asked ones by up to a group.
pub fn group_split<K: Hash + Eq + Ord + Clone>(groups: &[K], fractions: Fractions, seed: u64) -> Split {
    let mut members: HashMap<&K, Vec<usize>> = HashMap::new();
    for (row, g) in groups.iter().enumerate() {
        members.entry(g).or_default().push(row);
    }
    let mut keys: Vec<&K> = members.keys().copied().collect();
    keys.sort();
    keys.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n = groups.len() as f64;
    let train_target = (n * fractions.train).round() as usize;
    let val_target = (n * (fractions.train + fractions.validation)).round() as usize;
    let mut split = Split::default();
    let mut taken = 0;
    for key in keys {
        let rows = &members[key];
        let part = if taken < train_target {
            &mut split.train
        } else if taken < val_target {
            &mut split.validation
        } else {
            &mut split.test
        };
        part.extend_from_slice(rows);
        taken += rows.len();
    }
    for part in [&mut split.train, &mut split.validation, &mut split.test] {
        part.sort_unstable();
    }
    split
}

/// A split by entity: all rows with the same value of column `key` (e.g. all ratings of one
/// user, `key = "user_id"`) land in the same part. Any column kind works; rows whose key is
/// missing are each their own group.
pub fn entity_split(table: &Table, key: &str, fractions: Fractions, seed: u64) -> Result<Split> {
    let col = table.schema().index_of(key)?;
    let keys: Vec<String> = table
        .column_values(col)
        .into_iter()
        .enumerate()
        .map(|(row, v)| match v {
            Some(v) => format!("v{v:?}"),
            None => format!("m{row}"),
        })
        .collect();
    Ok(group_split(&keys, fractions, seed))
}

/// The duplicate-aware AdClick split: groups by record id (see the
/// [AdClick docs](crate::adclick)), so that no row, nor a copy of it, is in two parts.
pub fn adclick_split(adclick: &AdClick, fractions: Fractions, seed: u64) -> Split {
    group_split(&adclick.groups, fractions, seed)
}

/// The standard ml-100k train/test folds shipped as `<fold>.base` / `<fold>.test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ml100kFold {
    /// `u1`: 80%/20% of the ratings; `u1`..`u5` have disjoint test sets (5-fold cross-validation).
    U1,
    /// `u2`.
    U2,
    /// `u3`.
    U3,
    /// `u4`.
    U4,
    /// `u5`.
    U5,
    /// `ua`: exactly 10 ratings per user in the test set.
    Ua,
    /// `ub`: another 10 ratings per user in the test set, disjoint from `ua`'s.
    Ub,
}

impl Ml100kFold {
    /// All seven folds.
    pub const ALL: [Ml100kFold; 7] = [
        Ml100kFold::U1,
        Ml100kFold::U2,
        Ml100kFold::U3,
        Ml100kFold::U4,
        Ml100kFold::U5,
        Ml100kFold::Ua,
        Ml100kFold::Ub,
    ];

    /// The file stem: `"u1"`, ..., `"ua"`, `"ub"`.
    pub fn stem(self) -> &'static str {
        match self {
            Ml100kFold::U1 => "u1",
            Ml100kFold::U2 => "u2",
            Ml100kFold::U3 => "u3",
            Ml100kFold::U4 => "u4",
            Ml100kFold::U5 => "u5",
            Ml100kFold::Ua => "ua",
            Ml100kFold::Ub => "ub",
        }
    }
}

/// The standard ml-100k fold as a [`Split`] of `ratings` (the ratings table of
/// [`load_ml100k`](crate::movielens::load_ml100k), or any table with `user_id` and `item_id`
/// columns holding each (user, item) pair once): the rows of `<fold>.base` go to train, those
/// of `<fold>.test` to test, validation stays empty.
pub fn ml100k_fold(dir: impl AsRef<Path>, fold: Ml100kFold, ratings: &Table) -> Result<Split> {
    let dir = dir.as_ref();
    let users = ratings.strings("user_id")?;
    let items = ratings.strings("item_id")?;
    let mut index: HashMap<(&str, &str), usize> = HashMap::with_capacity(users.len());
    for (row, (u, i)) in users.iter().zip(&items).enumerate() {
        let (Some(u), Some(i)) = (u, i) else {
            return Err(Error::InvalidArgument(format!("ratings row {row}: user_id or item_id is missing")));
        };
        if index.insert((u, i), row).is_some() {
            return Err(Error::InvalidArgument(format!("ratings: user {u} rated item {i} twice")));
        }
    }
    let rows_of = |ext: &str| -> Result<Vec<usize>> {
        let path = dir.join(format!("{}.{ext}", fold.stem()));
        let text = read_text(&path)?;
        let mut rows = Vec::new();
        for (no, line) in lines(&text) {
            let f = fields(line, "\t", 4, &path, no)?;
            let row = index.get(&(f[0].trim(), f[1].trim())).ok_or_else(|| {
                Error::parse(&path, no, format!("user {} / item {} is not in the ratings table", f[0], f[1]))
            })?;
            rows.push(*row);
        }
        rows.sort_unstable();
        Ok(rows)
    };
    let train = rows_of("base")?;
    let test = rows_of("test")?;
    Ok(Split { train, validation: Vec::new(), test })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_checked() {
        assert!(Fractions::try_new(0.5, 0.5, 0.5).is_err());
        assert!(Fractions::try_new(-0.1, 0.6, 0.5).is_err());
        assert!(Fractions::train_test(0.7).is_ok());
    }

    #[test]
    fn groups_stay_together() {
        let groups: Vec<u32> = (0..1000).map(|i| i / 7).collect();
        let s = group_split(&groups, Fractions::default(), 3);
        assert_eq!(s.len(), 1000);
        for (a, b) in [(&s.train, &s.test), (&s.train, &s.validation), (&s.validation, &s.test)] {
            let ga: std::collections::HashSet<u32> = a.iter().map(|&r| groups[r]).collect();
            assert!(b.iter().all(|&r| !ga.contains(&groups[r])));
        }
        assert!((s.train.len() as i64 - 800).abs() <= 7);
    }
}
