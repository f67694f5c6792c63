//! Naive Bayes over a table's category columns: the yardstick of the fit's probes, which
//! decide from the table itself whether retrieval pays (`retrieval.mode` `auto`, against the
//! most similar rows, [`crate::retrieval::probe`]) and whether a slow CPU's shallower
//! backbone does ([`depth_probe`], against each column's most frequent value).
//!
//! Both ask the observed category cells of the training rows (a seeded sample of
//! [`PROBE_CELLS`] when there are more), each answered with its own row left out of the
//! counts; the depth probe asks before the held-out cells are chosen, the retrieval probe
//! after, on the table with them blanked.

use std::collections::HashMap;
use std::time::Instant;

use crate::config::{DepthProbe, DEPTH_PROBE_MARGIN, PROBE_MIN_CELLS};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rec_table::{ColumnKind, Table, Value};

/// A missing code.
pub(crate) const NONE: u32 = u32::MAX;

/// Most observed category cells a probe asks.
pub(crate) const PROBE_CELLS: usize = 2000;

/// The observed category cells of `rows` that a probe asks: all of them, or a sample of
/// [`PROBE_CELLS`] seeded by `seed` when there are more.
pub(crate) fn probe_cells(table: &Table, kinds: &[ColumnKind], rows: &[usize], seed: u64) -> Vec<(usize, usize)> {
    let cells: Vec<(usize, usize)> = rows
        .iter()
        .flat_map(|&r| (0..kinds.len()).map(move |j| (r, j)))
        .filter(|&(r, j)| kinds[j] == ColumnKind::Categorical && !table.is_missing(r, j))
        .collect();
    if cells.len() <= PROBE_CELLS {
        return cells;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7265_7472_6965_7665);
    sample(&mut rng, cells.len(), PROBE_CELLS).into_iter().map(|i| cells[i]).collect()
}

/// Decides whether a fit that `slow_cpu_depth` would make shallower runs fewer blocks on
/// `table` (the fit table), from the observed category cells of `rows` (its training rows):
/// only when naive Bayes answers them more often than the column's mode by more than
/// [`DEPTH_PROBE_MARGIN`] ([`DepthProbe`]).
pub(crate) fn depth_probe(table: &Table, rows: &[usize], seed: u64) -> DepthProbe {
    let started = Instant::now();
    let kinds: Vec<ColumnKind> = table.schema().columns().iter().map(|c| c.kind).collect();
    let cells = probe_cells(table, &kinds, rows, seed);
    let mut out = DepthProbe { cells: cells.len(), ..DepthProbe::default() };
    if cells.len() >= PROBE_MIN_CELLS {
        let bayes = NaiveBayes::count(table, &kinds);
        for &(row, j) in &cells {
            let truth = Some(bayes.codes[j][row]);
            out.bayes_right += usize::from(bayes.answer(row, j) == truth);
            out.mode_right += usize::from(bayes.mode(row, j) == truth);
        }
        out.shallow = out.margin() > DEPTH_PROBE_MARGIN;
    }
    out.seconds = started.elapsed().as_secs_f64();
    out
}

/// Naive Bayes over a table's category columns, each other category or binned number of a
/// row counted as separate evidence.
pub(crate) struct NaiveBayes {
    /// Per column: each row's code (categories: value index; numbers: bin), [`NONE`] missing;
    /// empty for columns that are not used.
    pub(crate) codes: Vec<Vec<u32>>,
    /// Per column: how many codes it has.
    sizes: Vec<usize>,
    /// Per category column `j`: rows of each class.
    class: Vec<Vec<u32>>,
    /// Per pair `(j, c)`: rows with class `y` of `j` and code `b` of `c`, at `y * sizes[c] + b`.
    pair: HashMap<(usize, usize), Vec<u32>>,
}

/// Bins a number falls in: one standard deviation wide, from −3 to +3 around the mean.
const BINS: u32 = 7;

impl NaiveBayes {
    pub(crate) fn count(table: &Table, kinds: &[ColumnKind]) -> Self {
        let (n, m) = (table.num_rows(), kinds.len());
        let mut codes = vec![Vec::new(); m];
        let mut sizes = vec![0; m];
        for (j, kind) in kinds.iter().enumerate() {
            match kind {
                ColumnKind::Categorical => {
                    let (column, index) = category_codes(&table.column_values(j));
                    (codes[j], sizes[j]) = (column, index.len());
                }
                ColumnKind::Numeric => {
                    let xs = numbers(&table.column_values(j));
                    let (mean, sd) = mean_sd(&xs);
                    let half = f64::from(BINS / 2);
                    codes[j] = xs
                        .iter()
                        .map(|&x| match x {
                            x if !x.is_finite() => NONE,
                            x if sd > 0.0 => (((x - mean) / sd).round().clamp(-half, half) + half) as u32,
                            _ => 0,
                        })
                        .collect();
                    sizes[j] = BINS as usize;
                }
                ColumnKind::SetValued | ColumnKind::Text | ColumnKind::Id => {}
            }
        }
        let mut class = vec![Vec::new(); m];
        let mut pair = HashMap::new();
        for j in (0..m).filter(|&j| kinds[j] == ColumnKind::Categorical) {
            class[j] = vec![0; sizes[j]];
            for c in (0..m).filter(|&c| c != j && !codes[c].is_empty()) {
                pair.insert((j, c), vec![0u32; sizes[j] * sizes[c]]);
            }
            for r in 0..n {
                let y = codes[j][r];
                if y == NONE {
                    continue;
                }
                class[j][y as usize] += 1;
                for c in (0..m).filter(|&c| c != j && !codes[c].is_empty()) {
                    let b = codes[c][r];
                    if b != NONE {
                        if let Some(p) = pair.get_mut(&(j, c)) {
                            p[y as usize * sizes[c] + b as usize] += 1;
                        }
                    }
                }
            }
        }
        NaiveBayes { codes, sizes, class, pair }
    }

    /// The most probable class of `(row, j)` from the row's other cells, with the row itself
    /// taken out of the counts (ties: the lower code).
    pub(crate) fn answer(&self, row: usize, j: usize) -> Option<u32> {
        let own = self.codes[j][row];
        let mut best: Option<(f64, u32)> = None;
        for (y, &count) in self.class[j].iter().enumerate() {
            let y = y as u32;
            let mine = u32::from(y == own);
            let ny = count - mine;
            if ny == 0 {
                continue;
            }
            let mut lp = f64::from(ny).ln();
            for (c, codes) in self.codes.iter().enumerate() {
                let b = codes.get(row).copied().unwrap_or(NONE);
                if c == j || b == NONE {
                    continue;
                }
                let Some(p) = self.pair.get(&(j, c)) else { continue };
                let together = p[y as usize * self.sizes[c] + b as usize] - mine;
                lp += (f64::from(together) + 1.0).ln() - (f64::from(ny) + self.sizes[c] as f64).ln();
            }
            if best.is_none_or(|(b, _)| lp > b) {
                best = Some((lp, y));
            }
        }
        best.map(|(_, y)| y)
    }

    /// The most frequent class of column `j` with row `row` left out of the counts (ties: the
    /// lower code).
    pub(crate) fn mode(&self, row: usize, j: usize) -> Option<u32> {
        let own = self.codes[j][row];
        let counts = self.class[j].iter().enumerate().map(|(y, &n)| (n - u32::from(y as u32 == own), y as u32));
        counts.filter(|&(n, _)| n > 0).max_by_key(|&(n, y)| (n, std::cmp::Reverse(y))).map(|(_, y)| y)
    }
}

/// Each cell's code (its value's index in order of first appearance; [`NONE`] when missing)
/// and the index.
pub(crate) fn category_codes(values: &[Option<Value>]) -> (Vec<u32>, HashMap<String, u32>) {
    let mut index = HashMap::new();
    let codes = values
        .iter()
        .map(|v| match v {
            Some(v) => {
                let n = index.len() as u32;
                *index.entry(v.to_string()).or_insert(n)
            }
            None => NONE,
        })
        .collect();
    (codes, index)
}

/// A numeric column's cells as numbers, NaN where missing or not a number.
pub(crate) fn numbers(values: &[Option<Value>]) -> Vec<f64> {
    values.iter().map(|v| v.as_ref().and_then(Value::as_f64).unwrap_or(f64::NAN)).collect()
}

/// Mean and (population) standard deviation of the finite `values`; `(0, 0)` without any.
pub(crate) fn mean_sd(values: &[f64]) -> (f64, f64) {
    let seen: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let n = (seen.len() as f64).max(1.0);
    let mean = seen.iter().sum::<f64>() / n;
    (mean, (seen.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::Rng;
    use rec_table::{Cell, ColumnSpec, Schema};

    /// `t` with each cell hidden with probability `rate`.
    pub(crate) fn masked(t: &Table, rate: f64, seed: u64) -> Table {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let cells = (0..t.num_rows())
            .flat_map(|r| (0..t.num_columns()).map(move |c| Cell { row: r, col: c }))
            .filter(|_| rng.random::<f64>() < rate)
            .collect();
        crate::retrieval::blank(t, &cells).unwrap()
    }

    fn probe_of(t: &Table) -> DepthProbe {
        depth_probe(t, &(0..t.num_rows()).collect::<Vec<_>>(), 0)
    }

    #[test]
    fn the_mode_leaves_the_asked_row_out() {
        let schema = Schema::try_new(vec![ColumnSpec::new("c", ColumnKind::Categorical)]).unwrap();
        let cat = |s: &str| vec![Some(Value::Category(s.into()))];
        let t = Table::from_rows(schema, vec![cat("a"), cat("a"), cat("b"), cat("b"), cat("b"), vec![None]]).unwrap();
        let nb = NaiveBayes::count(&t, &[ColumnKind::Categorical]);
        let (a, b) = (nb.codes[0][0], nb.codes[0][2]);
        // Three b's against two a's; a b row left out leaves a tie, broken towards the lower
        // code (a, seen first).
        assert_eq!(nb.mode(0, 0), Some(b));
        assert_eq!(nb.mode(2, 0), Some(a));
        assert_eq!(nb.mode(5, 0), Some(b), "a missing cell takes nothing out");
    }

    #[test]
    fn the_depth_probe_goes_shallow_only_where_the_columns_predict_each_other() {
        // The demo table, 20% hidden: a hidden persona drives every column.
        let demo = rec_datasets::synthetic::adclick_like(2000, 4242).unwrap().drop_columns(&["click"]).unwrap();
        let p = probe_of(&masked(&demo, 0.2, 0));
        assert_eq!(p.cells, PROBE_CELLS);
        assert!(p.shallow && p.margin() > 0.25, "{p:?}");
        assert!(p.summary().starts_with("depth (slow CPU) fewer blocks: naive Bayes"), "{}", p.summary());

        // The same shape with every column drawn on its own (skewed, so the mode is right
        // often): naive Bayes has nothing to add to the mode.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let schema = Schema::try_new(
            ["a", "b", "c", "d"]
                .iter()
                .map(|n| ColumnSpec::new(*n, ColumnKind::Categorical))
                .chain([ColumnSpec::new("age", ColumnKind::Numeric)])
                .collect(),
        )
        .unwrap();
        let rows = (0..2000)
            .map(|_| {
                let mut row: Vec<Option<Value>> = (0..4)
                    .map(|_| {
                        let v = if rng.random::<f64>() < 0.5 { 0 } else { rng.random_range(1..5) };
                        Some(Value::Category(format!("v{v}")))
                    })
                    .collect();
                row.push(Some(Value::Number(f64::from(rng.random_range(18..65)))));
                row
            })
            .collect();
        let p = probe_of(&masked(&Table::from_rows(schema, rows).unwrap(), 0.05, 1));
        assert!(!p.shallow && p.margin().abs() < 0.05, "{p:?}");
        assert!(p.mode_right as f64 > 0.4 * p.cells as f64, "the mode is right about half the time: {p:?}");
        assert!(p.summary().starts_with("depth (slow CPU) every block: naive Bayes"), "{}", p.summary());

        // No category column (the MovieLens item table's shape): it cannot tell, every block.
        let schema = Schema::try_new(vec![ColumnSpec::new("year", ColumnKind::Numeric)]).unwrap();
        let years = Table::from_rows(schema, (0..900).map(|i| vec![Some(Value::Number(f64::from(i % 70)))]).collect());
        let p = probe_of(&years.unwrap());
        assert!(!p.shallow && p.cells == 0, "{p:?}");
        assert!(p.summary().contains("fewer than the 500 needed"), "{}", p.summary());
    }
}
