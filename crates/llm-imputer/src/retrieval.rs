//! Retrieval: the training rows most similar to a prompt's row, written before it as worked
//! examples, so that the model can read a cell off a similar row instead of answering from
//! the column frequencies (LLM-Forest's and kNN prompting's idea).
//!
//! The reference is the fit table (held-out cells blanked; a seeded sample when larger than
//! `RetrievalConfig::max_reference_rows`). For a cell `(row, target)` the candidates are the
//! reference rows whose `target` is observed (the row itself excluded when it is one of them);
//! each is scored over the columns observed in both rows, the target left out:
//!
//! * categories: `+1` when equal, `-1` when not;
//! * numbers: `1 - min(2, |a - b| / (σ / 4))`, so `+1` when equal, `0` a quarter of the
//!   column's standard deviation apart, `-1` from half of it on;
//! * sets: `2 × Jaccard - 1`.
//!
//! Missing cells on either side add nothing, so a row that agrees on more columns ranks higher.
//! Ties are broken by a hash of the pair of rows, not by row order. The `k` best are written
//! most similar last (closest to the question), each with the columns the question shows and
//! then the target:
//!
//! ```text
//! age is 41, device type is Mobile, gender is Female.
//! age is 41, device type is Mobile, gender is Male.
//! age is 41, device type is Mobile, gender is
//! ```
//!
//! Choosing is a scan of the reference per cell, `O(rows × columns)`; the reference is capped
//! at `max_reference_rows` so that the cost per cell does not grow with the table.
//!
//! Whether to retrieve at all, under `retrieval.mode` `auto`, is [`probe`]'s call: it asks a
//! sample of the fit table's observed category cells, each hidden from its own row, of the
//! `k` rows chosen as above (their vote) and of naive Bayes on the row's other cells, and
//! turns retrieval on when the rows are right clearly more often (`RetrievalProbe`).

use std::collections::{HashMap, HashSet};

use crate::bayes::{category_codes, mean_sd, numbers, probe_cells, NaiveBayes, NONE};
use crate::config::{RetrievalConfig, RetrievalProbe, PROBE_MARGIN, PROBE_MIN_CELLS};
use crate::error::{Error, Result};
use prompt_codec::RowCodec;
use rand::seq::index::sample;
use rand::Rng;
use rec_table::{Cell, ColumnKind, Table, Value};

/// A category the reference never saw: equal to nothing.
const UNSEEN: u32 = u32::MAX - 1;

/// How one column's cells are compared.
enum Compare {
    Category { codes: Vec<u32>, index: HashMap<String, u32> },
    Number { values: Vec<f64>, width: f64 },
    Set { sets: Vec<Option<Vec<u32>>>, index: HashMap<String, u32> },
}

/// One cell of a question row, encoded like the reference.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    Code(u32),
    Number(f64),
    Set(Vec<u32>),
}

/// The reference rows and what comparing them needs.
pub(crate) struct Retriever {
    reference: Table,
    /// Row of the fit table each reference row came from.
    origin: Vec<usize>,
    k: usize,
    compare: Vec<Option<Compare>>,
}

impl Retriever {
    /// The reference of a fit: the rows of `table` (the fit table with its held-out cells
    /// blanked, see [`blank`]), sampled down to `cfg.max_reference_rows`.
    pub(crate) fn build(codec: &RowCodec, table: &Table, cfg: &RetrievalConfig, rng: &mut impl Rng) -> Result<Self> {
        let mut origin: Vec<usize> = (0..table.num_rows()).collect();
        if origin.len() > cfg.max_reference_rows {
            origin = sample(rng, table.num_rows(), cfg.max_reference_rows).into_vec();
            origin.sort_unstable();
        }
        let reference = if origin.len() == table.num_rows() { table.clone() } else { table.take_rows(&origin)? };
        Self::from_reference(codec, reference, origin, cfg.k)
    }

    /// A retriever over a saved reference (`origin` maps its rows to the fit table's).
    pub(crate) fn from_reference(codec: &RowCodec, reference: Table, origin: Vec<usize>, k: usize) -> Result<Self> {
        codec.schema().ensure_same(reference.schema(), "retrieval reference")?;
        if origin.len() != reference.num_rows() {
            return Err(Error::Config(format!(
                "the retrieval reference has {} rows but {} origins",
                reference.num_rows(),
                origin.len()
            )));
        }
        let compare = codec.columns().iter().enumerate().map(|(j, c)| compare_column(&reference, j, c.kind)).collect();
        Ok(Retriever { reference, origin, k, compare })
    }

    /// The reference rows.
    pub(crate) fn reference(&self) -> &Table {
        &self.reference
    }

    /// Row of the fit table each reference row came from.
    pub(crate) fn origin(&self) -> &[usize] {
        &self.origin
    }

    /// Up to `k` reference rows most similar to row `row` of `table` for a question about
    /// `target`, least similar first. `exclude` is a row of the fit table that may not be used
    /// (the question's own row when `table` is the fit table).
    pub(crate) fn neighbours(&self, table: &Table, row: usize, target: usize, exclude: Option<usize>) -> Vec<usize> {
        let query: Vec<Option<Key>> = (0..table.num_columns())
            .map(|j| {
                if j == target {
                    return None;
                }
                let v = table.value(row, j)?;
                self.compare.get(j)?.as_ref().and_then(|c| key(c, &v))
            })
            .collect();
        let Some(target_cmp) = self.compare.get(target) else { return Vec::new() };
        let salt = mix((row as u64) << 20 ^ target as u64);
        let mut scored: Vec<(f64, u64, usize)> = Vec::new();
        for i in 0..self.reference.num_rows() {
            let observed = match target_cmp {
                Some(c) => is_observed(c, i),
                None => !self.reference.is_missing(i, target),
            };
            if !observed || exclude == Some(self.origin[i]) {
                continue;
            }
            let mut s = 0.0;
            for (q, c) in query.iter().zip(&self.compare) {
                if let (Some(q), Some(c)) = (q, c) {
                    s += similarity(c, i, q);
                }
            }
            scored.push((s, mix(salt ^ i as u64), i));
        }
        let by = |a: &(f64, u64, usize), b: &(f64, u64, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let k = self.k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        if scored.len() > k {
            scored.select_nth_unstable_by(k - 1, by);
            scored.truncate(k);
        }
        scored.sort_by(by);
        scored.into_iter().rev().map(|(_, _, i)| i).collect()
    }

    /// The examples written before the prompt for `(row, target)`: each neighbour's cells in
    /// the columns the question shows (schema order, `shown`), then its target, one line each.
    pub(crate) fn prefix(
        &self,
        codec: &RowCodec,
        neighbours: &[usize],
        shown: &[usize],
        target: usize,
    ) -> Result<String> {
        let mut order: Vec<usize> = shown.iter().copied().filter(|&j| j != target).collect();
        order.push(target);
        let mut out = String::new();
        for &n in neighbours {
            out.push_str(&codec.serialize_row(&self.reference, n, &order)?);
            out.push('\n');
        }
        Ok(out)
    }
}

/// Decides `auto` retrieval on `table` (the fit table with its held-out cells blanked) from
/// the cells of `rows` (the training rows), with the retriever `build` makes over `table`
/// (built only when there are enough cells to tell, and returned).
pub(crate) fn probe(
    table: &Table,
    rows: &[usize],
    seed: u64,
    build: impl FnOnce() -> Result<Retriever>,
) -> Result<(RetrievalProbe, Option<Retriever>)> {
    let kinds: Vec<ColumnKind> = table.schema().columns().iter().map(|c| c.kind).collect();
    let cells = probe_cells(table, &kinds, rows, seed);
    if cells.len() < PROBE_MIN_CELLS {
        return Ok((RetrievalProbe { cells: cells.len(), ..RetrievalProbe::default() }, None));
    }
    let retriever = build()?;
    let bayes = NaiveBayes::count(table, &kinds);
    let mut out = RetrievalProbe { cells: cells.len(), k: retriever.k, ..RetrievalProbe::default() };
    for &(row, j) in &cells {
        let truth = bayes.codes[j][row];
        // A reference row is a row of `table` (its origin), so the category codes are shared;
        // neighbours always have the target observed.
        let mut votes: HashMap<u32, (usize, usize)> = HashMap::new();
        for (rank, &n) in retriever.neighbours(table, row, j, Some(row)).iter().enumerate() {
            let e = votes.entry(bayes.codes[j][retriever.origin[n]]).or_insert((0, 0));
            *e = (e.0 + 1, rank);
        }
        // Most votes; among equals the one with the most similar row (listed last).
        let answer = votes.into_iter().max_by_key(|(_, (n, rank))| (*n, *rank)).map(|(code, _)| code);
        out.neighbours_right += usize::from(answer == Some(truth));
        out.bayes_right += usize::from(bayes.answer(row, j) == Some(truth));
    }
    out.on = out.margin() > PROBE_MARGIN;
    Ok((out, Some(retriever)))
}

/// `table` with the `cells` missing.
pub(crate) fn blank(table: &Table, cells: &HashSet<Cell>) -> Result<Table> {
    if cells.is_empty() {
        return Ok(table.clone());
    }
    let columns = (0..table.num_columns())
        .map(|j| {
            let mut values = table.column_values(j);
            for c in cells.iter().filter(|c| c.col == j) {
                if let Some(v) = values.get_mut(c.row) {
                    *v = None;
                }
            }
            values
        })
        .collect();
    Ok(Table::from_columns(table.schema().clone(), columns)?)
}

fn compare_column(table: &Table, j: usize, kind: ColumnKind) -> Option<Compare> {
    let values = table.column_values(j);
    match kind {
        ColumnKind::Categorical => {
            let (codes, index) = category_codes(&values);
            Some(Compare::Category { codes, index })
        }
        ColumnKind::Numeric => {
            let values = numbers(&values);
            let (_, sd) = mean_sd(&values);
            let width = if sd > 0.0 { sd / 4.0 } else { 1.0 };
            Some(Compare::Number { values, width })
        }
        ColumnKind::SetValued => {
            let mut index = HashMap::new();
            let sets = values
                .iter()
                .map(|v| match v {
                    Some(Value::Set(items)) => {
                        let mut codes: Vec<u32> = items
                            .iter()
                            .map(|s| {
                                let n = index.len() as u32;
                                *index.entry(s.clone()).or_insert(n)
                            })
                            .collect();
                        codes.sort_unstable();
                        codes.dedup();
                        Some(codes)
                    }
                    _ => None,
                })
                .collect();
            Some(Compare::Set { sets, index })
        }
        ColumnKind::Text | ColumnKind::Id => None,
    }
}

fn key(c: &Compare, v: &Value) -> Option<Key> {
    Some(match (c, v) {
        (Compare::Category { index, .. }, v) => Key::Code(index.get(&v.to_string()).copied().unwrap_or(UNSEEN)),
        (Compare::Number { .. }, v) => Key::Number(v.as_f64().filter(|x| x.is_finite())?),
        (Compare::Set { index, .. }, Value::Set(items)) => {
            let mut codes: Vec<u32> = items.iter().map(|s| index.get(s).copied().unwrap_or(UNSEEN)).collect();
            codes.sort_unstable();
            codes.dedup();
            Key::Set(codes)
        }
        (Compare::Set { .. }, _) => return None,
    })
}

fn is_observed(c: &Compare, i: usize) -> bool {
    match c {
        Compare::Category { codes, .. } => codes[i] != NONE,
        Compare::Number { values, .. } => values[i].is_finite(),
        Compare::Set { sets, .. } => sets[i].is_some(),
    }
}

/// Agreement of reference row `i` with a question cell, in `[-1, 1]`; `0` when the reference
/// cell is missing.
fn similarity(c: &Compare, i: usize, q: &Key) -> f64 {
    match (c, q) {
        (Compare::Category { codes, .. }, Key::Code(q)) => match codes[i] {
            NONE => 0.0,
            x if x == *q => 1.0,
            _ => -1.0,
        },
        (Compare::Number { values, width }, Key::Number(q)) => {
            let x = values[i];
            if x.is_finite() {
                1.0 - ((x - q).abs() / width).min(2.0)
            } else {
                0.0
            }
        }
        (Compare::Set { sets, .. }, Key::Set(q)) => match &sets[i] {
            None => 0.0,
            Some(s) => {
                let common = s.iter().filter(|x| q.binary_search(x).is_ok()).count();
                let union = s.len() + q.len() - common;
                if union == 0 {
                    1.0
                } else {
                    2.0 * common as f64 / union as f64 - 1.0
                }
            }
        },
        _ => 0.0,
    }
}

/// SplitMix64's finaliser: a well-spread hash of a number.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bayes::tests::masked;
    use crate::bayes::PROBE_CELLS;
    use prompt_codec::CodecConfig;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rec_table::{read_csv_bytes, CsvOptions};

    fn table() -> Table {
        read_csv_bytes(
            b"age,device,gender\n41,Mobile,Female\n41,Mobile,\n29,Desktop,Male\n41,Desktop,Male\n40,Mobile,Male\n,,Other\n",
            "t.csv",
            &CsvOptions::default(),
        )
        .unwrap()
    }

    fn retriever(t: &Table, k: usize, held: &HashSet<Cell>) -> (RowCodec, Retriever) {
        let codec = RowCodec::fit(t, CodecConfig::default()).unwrap();
        let cfg = RetrievalConfig { k, ..RetrievalConfig::default() };
        let r = Retriever::build(&codec, &blank(t, held).unwrap(), &cfg, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
        (codec, r)
    }

    #[test]
    fn the_most_similar_rows_with_the_target_come_last() {
        let t = table();
        let (codec, r) = retriever(&t, 2, &HashSet::new());
        // Row 1 (41, Mobile, ?): row 0 agrees on both (2), row 4 on device and nearly on age
        // (σ ≈ 4.7, so 1 + 1 - 1/1.18 ≈ 1.15), row 3 on age only (1 - 1 = 0), row 2 on neither
        // (-2); row 5 has no comparable cell (0). Row 1 has no gender: never a candidate.
        let n = r.neighbours(&t, 1, 2, None);
        assert_eq!(n, vec![4, 0]);
        let text = r.prefix(&codec, &n, &[0, 1], 2).unwrap();
        assert_eq!(
            text,
            "age is 40, device is Mobile, gender is Male.\nage is 41, device is Mobile, gender is Female.\n"
        );
        // Excluding a row of the fit table.
        let n = r.neighbours(&t, 1, 2, Some(0));
        assert_eq!(n[1], 4);
        assert!(n[0] == 3 || n[0] == 5, "rows 3 and 5 tie at 0: {n:?}");
    }

    #[test]
    fn held_cells_are_blanked_and_unknown_categories_match_nothing() {
        let t = table();
        let held = HashSet::from([Cell { row: 0, col: 2 }]);
        let (_, r) = retriever(&t, 5, &held);
        assert!(r.reference().is_missing(0, 2));
        // Row 0's gender is held out, so row 0 is no candidate for a gender question.
        assert!(!r.neighbours(&t, 1, 2, None).contains(&0));
        let cat = |s: &str| Some(Value::Category(s.into()));
        let other =
            Table::from_rows(t.schema().clone(), vec![vec![Some(Value::Number(41.0)), cat("Tablet"), cat("Female")]])
                .unwrap();
        // "Tablet" is unseen: it disagrees with every observed device (row 3: 1 - 1 = 0, row 4:
        // 0.15 - 1, row 2: -1 - 1, row 5: nothing to compare, 0).
        let n = r.neighbours(&other, 0, 2, None);
        assert_eq!(n.len(), 4);
        assert_eq!(&n[..2], &[2, 4], "{n:?}");
    }

    /// The probe's verdict on `t` with every row a training row.
    fn probe_of(t: &Table) -> RetrievalProbe {
        let rows: Vec<usize> = (0..t.num_rows()).collect();
        let (p, r) = probe(t, &rows, 0, || Ok(retriever(t, 3, &HashSet::new()).1)).unwrap();
        assert_eq!(r.is_some(), p.cells >= PROBE_MIN_CELLS, "the retriever is built only when it is needed");
        p
    }

    #[test]
    fn the_probe_turns_retrieval_on_where_rows_repeat_records() {
        // 300 users of 5 rows each, every row a copy of its user's record (four categories
        // drawn independently of each other, and an age) with 30% of its cells missing: a
        // cell is known only from another row of the same user.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let schema = rec_table::Schema::try_new(
            ["a", "b", "c", "d"]
                .iter()
                .map(|n| rec_table::ColumnSpec::new(*n, ColumnKind::Categorical))
                .chain([rec_table::ColumnSpec::new("age", ColumnKind::Numeric)])
                .collect(),
        )
        .unwrap();
        let mut rows = Vec::new();
        for _ in 0..300 {
            let mut record: Vec<Option<Value>> =
                (0..4).map(|_| Some(Value::Category(format!("v{}", rng.random_range(0..5))))).collect();
            record.push(Some(Value::Number(f64::from(rng.random_range(18..65)))));
            rows.extend(std::iter::repeat_n(record, 5));
        }
        let copies = masked(&Table::from_rows(schema, rows).unwrap(), 0.3, 1);
        let p = probe_of(&copies);
        assert_eq!(p.cells, PROBE_CELLS);
        assert!(p.on && p.margin() > 0.15, "{p:?}");
        assert!(p.summary().starts_with("retrieval (auto) on: the 3 most similar rows"), "{}", p.summary());

        // The demo table (a hidden persona drives every column, rows never repeat), 20%
        // hidden: naive Bayes does at least as well as the neighbours, so retrieval stays off.
        let demo = rec_datasets::synthetic::adclick_like(2000, 4242).unwrap().drop_columns(&["click"]).unwrap();
        let p = probe_of(&masked(&demo, 0.2, 0));
        assert!(!p.on && p.margin() < PROBE_MARGIN, "{p:?}");
        // Both answer far above chance (the columns predict each other).
        assert!(p.bayes_right as f64 > 0.6 * p.cells as f64, "{p:?}");

        // Too few category cells to tell: off, and said so.
        let small = probe_of(&table());
        assert!(!small.on && small.cells < PROBE_MIN_CELLS, "{small:?}");
        assert!(small.summary().contains("fewer than the 500 needed"), "{}", small.summary());
    }

    #[test]
    fn a_sampled_reference_keeps_its_origins() {
        let t = table();
        let codec = RowCodec::fit(&t, CodecConfig::default()).unwrap();
        let cfg = RetrievalConfig { k: 3, max_reference_rows: 3, ..RetrievalConfig::default() };
        let r = Retriever::build(&codec, &t, &cfg, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
        assert_eq!(r.reference().num_rows(), 3);
        for (i, &o) in r.origin().iter().enumerate() {
            assert_eq!(r.reference().value(i, 0), t.value(o, 0));
        }
        // Excluding by the fit table's row index removes that reference row.
        let o = r.origin()[0];
        let n = r.neighbours(&t, 1, 0, Some(o));
        assert!(!n.contains(&0), "{n:?}");
    }
}
