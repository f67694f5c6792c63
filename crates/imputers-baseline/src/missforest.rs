//! MissForest: iterative imputation with random forests.

use rec_table::{FittedImputer, Imputer, Schema, Table};
use serde::{Deserialize, Serialize};

use crate::chain::{targets, BlockKind, Plan, State};
use crate::common::Encoder;
use crate::error::{Error, Result};
use crate::forest::{Binner, Forest, ForestParams, Problem, Task};

/// MissForest (Stekhoven & Bühlmann, 2012): chained imputation where each column is predicted
/// from all the others by a random forest (regression for numeric columns, Gini
/// classification for categorical ones, a multi-label forest for set-valued ones).
///
/// Fit starts from the mean / most frequent fill, visits columns by ascending number of
/// missing cells and refits every round; as in R's `missForest`, it stops when the change of
/// the imputed cells from one round to the next grows for every kind of column present
/// (numeric: `sum (new - old)^2 / sum new^2`; categorical and set-valued: the fraction of
/// cells that changed) and then keeps the previous round, or after `max_iter` rounds.
///
/// Unlike the R package, the fitted imputer applies to new tables without refitting: it keeps
/// one forest per column (the last kept round's; columns complete at fit get one forest fitted
/// on the final imputed table) and, on a new table, runs `transform_rounds` sweeps of those
/// forests over its missing cells starting from the training mean / mode. Keeping every
/// round's forests, as the iterative imputer does with its linear models, would cost rounds ×
/// columns × trees in memory.
///
/// Features are binned once at fit (quantile edges of the observed values, see
/// [`ForestParams::max_bins`]); trees split on bins. Everything is seeded: the same seed gives
/// the same imputation whatever the number of threads.
///
/// ```
/// use imputers_baseline::{ForestParams, MissForestImputer};
/// use rec_table::{read_csv_bytes, CsvOptions, FittedImputer, Imputer};
///
/// let table = read_csv_bytes(b"x,y,c\n1,2,a\n2,4,a\n3,,b\n4,8,\n5,10,b\n", "t.csv", &CsvOptions::default())?;
/// let imputer = MissForestImputer::new().with_forest(ForestParams { n_trees: 10, ..Default::default() });
/// let filled = imputer.fit(&table)?.transform(&table)?;
/// assert_eq!(filled.missing_cells().count(), 0);
/// # Ok::<(), rec_table::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissForestImputer {
    /// The forests' hyperparameters.
    pub forest: ForestParams,
    /// Most rounds at fit (default 10, as `missForest`).
    pub max_iter: usize,
    /// Sweeps of the fitted forests over a new table (default 2).
    pub transform_rounds: usize,
    /// Seed of bootstrap samples and feature subsets.
    pub seed: u64,
    /// Most classes the forest of a categorical column predicts (default `None`), as
    /// [`IterativeImputer::max_labels`](crate::IterativeImputer::max_labels).
    #[serde(default)]
    pub max_labels: Option<usize>,
}

impl Default for MissForestImputer {
    fn default() -> Self {
        MissForestImputer {
            forest: ForestParams::default(),
            max_iter: 10,
            transform_rounds: 2,
            seed: 0,
            max_labels: None,
        }
    }
}

impl MissForestImputer {
    /// 100 trees, square-root feature subsampling, 10 rounds at most, seed 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the forests' hyperparameters.
    pub fn with_forest(mut self, forest: ForestParams) -> Self {
        self.forest = forest;
        self
    }

    /// Sets the most rounds at fit.
    pub fn with_max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }

    /// Sets the sweeps over a new table.
    pub fn with_transform_rounds(mut self, rounds: usize) -> Self {
        self.transform_rounds = rounds;
        self
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the most labels a categorical column keeps apart (`None`: all).
    pub fn with_max_labels(mut self, max_labels: Option<usize>) -> Self {
        self.max_labels = max_labels;
        self
    }

    #[allow(clippy::too_many_arguments)]
    fn fit_forest(
        &self,
        plan: &Plan,
        state: &State,
        bins: &[Vec<u8>],
        binner: &Binner,
        columns: &[crate::common::Column],
        b: usize,
        round: usize,
    ) -> Forest {
        let block = plan.blocks[b];
        let preds = plan.predictors(b);
        let rows = &state.observed[b];
        let classes = plan.classes(b);
        let y = targets(&block, &columns[block.col], rows, classes);
        let task = match block.kind {
            BlockKind::Numeric => Task::Regression,
            BlockKind::OneHot(k) => Task::Classes(classes.map_or(k, crate::chain::Classes::len)),
            BlockKind::MultiHot(k) => Task::Labels(k),
        };
        let problem = Problem { bins, n_bins: binner.all_bins(), features: &preds, rows, y: &y, task };
        let seed = self.seed ^ ((round as u64) << 32 | b as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
        Forest::fit(&problem, &self.forest, seed)
    }
}

/// Bin edges: quantiles of each numeric column's observed values; 0/1 for one- and multi-hot
/// columns.
fn fit_binner(plan: &Plan, state: &State, max_bins: usize) -> Binner {
    let mut columns = vec![vec![0.0, 1.0]; plan.width];
    for (b, block) in plan.blocks.iter().enumerate() {
        if block.kind == BlockKind::Numeric {
            columns[block.start] =
                state.observed[b].iter().map(|&r| state.design[r * state.width + block.start]).collect();
        }
    }
    Binner::fit(&columns, max_bins)
}

fn bin_all(binner: &Binner, state: &State) -> Vec<Vec<u8>> {
    (0..state.width)
        .map(|j| (0..state.rows).map(|r| binner.bin(j, state.design[r * state.width + j])).collect())
        .collect()
}

/// Predicts the missing cells of block `b`, updating the state and the bins.
fn predict_block(forest: &Forest, plan: &Plan, b: usize, state: &mut State, bins: &mut [Vec<u8>], binner: &Binner) {
    let block = &plan.blocks[b];
    let classes = plan.classes(b);
    let missing = std::mem::take(&mut state.missing[b]);
    let mut out = vec![0.0; classes.map_or(block.width(), crate::chain::Classes::len)];
    let preds: Vec<(usize, Vec<f64>)> = missing
        .iter()
        .map(|&row| {
            forest.predict(bins, row, &mut out);
            (row, out.clone())
        })
        .collect();
    for (row, out) in preds {
        match block.kind {
            BlockKind::Numeric => {
                state.set_number(block, row, out[0]);
            }
            BlockKind::OneHot(_) => {
                let best = out
                    .iter()
                    .enumerate()
                    .fold((0, f64::NEG_INFINITY), |a, (c, &v)| if v > a.1 { (c, v) } else { a })
                    .0;
                state.set_code(block, row, classes.map_or(best as u32, |c| c.code(best)));
            }
            BlockKind::MultiHot(_) => {
                let codes: Vec<u32> = (0..out.len()).filter(|&c| out[c] > 0.5).map(|c| c as u32).collect();
                state.set_elements(block, row, &codes);
            }
        }
        for (j, col) in bins.iter_mut().enumerate().skip(block.start).take(block.width()) {
            col[row] = binner.bin(j, state.design[row * state.width + j]);
        }
    }
    state.missing[b] = missing;
}

/// missForest's change between rounds: numeric `sum (new - old)^2 / sum new^2` and the
/// fraction of changed categorical or set-valued cells; NaN for a kind with no missing cell.
fn change(plan: &Plan, old: &State, new: &State) -> (f64, f64) {
    let (mut num, mut den, mut changed, mut total) = (0.0, 0.0, 0usize, 0usize);
    for (b, block) in plan.blocks.iter().enumerate() {
        for &r in &new.missing[b] {
            let at = r * new.width + block.start;
            let (o, n) = (&old.design[at..at + block.width()], &new.design[at..at + block.width()]);
            if block.kind == BlockKind::Numeric {
                num += (n[0] - o[0]).powi(2);
                den += n[0] * n[0];
            } else {
                total += 1;
                changed += (o != n) as usize;
            }
        }
    }
    let has_num =
        plan.blocks.iter().enumerate().any(|(b, bl)| bl.kind == BlockKind::Numeric && !new.missing[b].is_empty());
    let numeric = if !has_num {
        f64::NAN
    } else if den > 0.0 {
        num / den
    } else {
        num
    };
    let labels = if total == 0 { f64::NAN } else { changed as f64 / total as f64 };
    (numeric, labels)
}

/// A fitted [`MissForestImputer`]: bin edges and one forest per usable column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FittedMissForest {
    schema: Schema,
    encoder: Encoder,
    plan: Plan,
    binner: Binner,
    forests: Vec<Forest>,
    transform_rounds: usize,
    n_iter: usize,
}

impl FittedMissForest {
    /// Rounds whose imputation fit kept.
    pub fn n_iter(&self) -> usize {
        self.n_iter
    }
}

impl Imputer for MissForestImputer {
    type Fitted = FittedMissForest;
    type Error = crate::Error;

    fn name(&self) -> String {
        format!("missforest(trees={})", self.forest.n_trees)
    }

    fn validate(&self) -> Result<()> {
        if self.max_iter == 0 {
            return Err(Error::param("max_iter", "must be at least 1"));
        }
        crate::iterative::check_max_labels(self.max_labels)?;
        if self.transform_rounds == 0 {
            return Err(Error::param("transform_rounds", "must be at least 1"));
        }
        if self.forest.n_trees == 0 {
            return Err(Error::param("n_trees", "must be at least 1"));
        }
        if !(2..=256).contains(&self.forest.max_bins) {
            return Err(Error::param("max_bins", format!("{} is not in 2..=256", self.forest.max_bins)));
        }
        if let crate::MaxFeatures::Fraction(f) = self.forest.max_features {
            if !(f > 0.0 && f <= 1.0) {
                return Err(Error::param("max_features", format!("fraction {f} is not in (0, 1]")));
            }
        }
        Ok(())
    }

    fn fit(&self, train: &Table) -> Result<FittedMissForest> {
        Imputer::validate(self)?;
        let encoder = Encoder::fit(train);
        let columns = encoder.encode(train)?;
        let plan = Plan::new(&encoder, &columns, false, false).with_label_cap(&encoder, self.max_labels);
        let mut state = State::new(&plan, &columns, train.num_rows());
        let binner = fit_binner(&plan, &state, self.forest.max_bins);
        let mut bins = bin_all(&binner, &state);
        let mut forests: Vec<Option<Forest>> = vec![None; plan.blocks.len()];
        let mut prev_diff: Option<(f64, f64)> = None;
        let mut kept: Option<(State, Vec<Option<Forest>>)> = None;
        let mut n_iter = 0;
        for round in 0..self.max_iter {
            let before = state.clone();
            let saved = forests.clone();
            let todo: Vec<usize> = plan.order.iter().copied().filter(|&b| !state.missing[b].is_empty()).collect();
            for b in todo {
                let forest = self.fit_forest(&plan, &state, &bins, &binner, &columns, b, round);
                predict_block(&forest, &plan, b, &mut state, &mut bins, &binner);
                forests[b] = Some(forest);
            }
            n_iter = round + 1;
            let diff = change(&plan, &before, &state);
            if let Some(prev) = prev_diff {
                let has_num = diff.0.is_finite();
                let has_lab = diff.1.is_finite();
                let grew = (!has_num || diff.0 >= prev.0) && (!has_lab || diff.1 >= prev.1);
                if grew {
                    kept = Some((before, saved));
                    n_iter = round;
                    break;
                }
            }
            prev_diff = Some(diff);
        }
        if let Some((before, saved)) = kept {
            state = before;
            forests = saved;
            bins = bin_all(&binner, &state);
        }
        for (b, forest) in forests.iter_mut().enumerate() {
            if forest.is_none() {
                *forest = Some(self.fit_forest(&plan, &state, &bins, &binner, &columns, b, self.max_iter));
            }
        }
        let forests = forests.into_iter().flatten().collect();
        Ok(FittedMissForest {
            schema: encoder.schema.clone(),
            encoder,
            plan,
            binner,
            forests,
            transform_rounds: self.transform_rounds,
            n_iter,
        })
    }
}

impl FittedImputer for FittedMissForest {
    type Error = crate::Error;

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn transform(&self, table: &Table) -> Result<Table> {
        let columns = self.encoder.encode(table)?;
        let mut state = State::new(&self.plan, &columns, table.num_rows());
        let mut bins = bin_all(&self.binner, &state);
        for _ in 0..self.transform_rounds {
            for &b in &self.plan.order {
                if !state.missing[b].is_empty() {
                    predict_block(&self.forests[b], &self.plan, b, &mut state, &mut bins, &self.binner);
                }
            }
        }
        crate::common::write_fills(table, state.fills(&self.plan, &self.encoder))
    }
}
