//! Iterative (chained-equations, MICE-style) imputation with linear models.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rec_table::{FittedImputer, Imputer, Schema, Table};
use serde::{Deserialize, Serialize};

use crate::chain::{decision, targets, Block, BlockKind, Classes, Plan, State};
use crate::common::{ColumnStats, Encoder};
use crate::error::{Error, Result};
use crate::linear::{bayesian_ridge, ridge, Gram, Linear, Link, Logistic};

/// The regression model of numeric columns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum NumericModel {
    /// scikit-learn's `BayesianRidge()` with its defaults (the default of `IterativeImputer`).
    BayesianRidge,
    /// scikit-learn's `Ridge(alpha)`.
    Ridge {
        /// L2 penalty.
        alpha: f64,
    },
}

/// The model of categorical and set-valued columns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum LabelModel {
    /// Multinomial logistic regression for categorical columns, one sigmoid output per element
    /// for set-valued ones; L2 penalty with scikit-learn's meaning of `c` (default 1).
    Logistic {
        /// Inverse penalty strength.
        c: f64,
    },
    /// The numeric model fitted to each one-hot (multi-hot) column, arg-max (above 1/2) of
    /// the predictions: what `IterativeImputer` does to one-hot encoded labels.
    OneHotRegression,
}

/// The order in which columns are visited in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitOrder {
    /// Fewest missing cells first (scikit-learn's default `"ascending"`), stable on ties.
    #[default]
    Ascending,
    /// Table order (scikit-learn's `"roman"`).
    Table,
    /// A fresh seeded shuffle every round (scikit-learn's `"random"`).
    Random,
}

/// Iterative imputation by chained per-column models, designed to match scikit-learn's
/// `IterativeImputer(estimator=BayesianRidge() or Ridge(alpha), sample_posterior=False,
/// initial_strategy="mean", imputation_order="ascending", skip_complete=False)` on numeric
/// data.
///
/// 1. Missing cells start with the training mean (or median) for numeric columns and the most
///    frequent label or set for the others.
/// 2. Each round visits every usable column in [`VisitOrder`]: a model is fitted on the rows
///    where the column is observed, with every other column as input (categorical one-hot,
///    set-valued multi-hot, current imputations included), and predicts the missing cells.
///    Numeric columns use [`NumericModel`]; categorical and set-valued ones use [`LabelModel`]:
///    by default a multinomial logistic regression (L2, `C = 1`, on standardised inputs), one
///    sigmoid output per element for sets (an element is imputed when its probability exceeds
///    1/2). Imputed labels stay *soft* in the inputs of the other models (class probabilities
///    in the one-hot block, starting from the label frequencies), as scikit-learn's one-hot
///    columns do; the written value is the arg-max.
/// 3. Rounds stop after `max_iter`, or once the largest row-wise sum of absolute numeric
///    changes falls below `tol × max |observed numeric value|` (scikit-learn's criterion) and
///    at most a fraction `tol` of the missing categorical and set-valued cells changed label.
///
/// On mixed tables, [`LabelModel::OneHotRegression`] reproduces what `IterativeImputer` does
/// with one-hot encoded labels (each one-hot column regressed on all the others, siblings
/// included). Since a one-hot column is then almost determined by its siblings, that model
/// leaves imputed labels near their initial frequencies and the chain stalls after a round or
/// two. The logistic default does learn labels from the other columns, but on tables where
/// most cells of several weakly related columns are missing the chain can feed on its own
/// imputations (labels imputed from age make age look predictable from labels): on the
/// AdClick table (over half the age, gender and browsing cells missing) age RMSE grows from
/// 13.1 after one round to 14.6 after ten. Use fewer rounds there, or the one-hot regression
/// model; see `docs/BENCHMARKS-imputers.md`.
///
/// The fitted imputer keeps every round's models and replays them on new tables, as
/// scikit-learn's `transform` does; transforming the training table gives the fit-time result.
/// Columns with no observed cell at fit are left missing and are not inputs.
///
/// ```
/// use imputers_baseline::IterativeImputer;
/// use rec_table::{read_csv_bytes, CsvOptions, FittedImputer, Imputer, Value};
///
/// let table = read_csv_bytes(b"x,y\n1,2\n2,4\n3,6\n4,\n", "t.csv", &CsvOptions::default())?;
/// let fitted = IterativeImputer::new().with_max_iter(5).fit(&table)?;
/// let y = fitted.transform(&table)?.value(3, 1).and_then(|v| v.as_f64()).unwrap();
/// assert!((y - 8.0).abs() < 0.2);
/// # Ok::<(), rec_table::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterativeImputer {
    /// Model of numeric columns (default Bayesian ridge).
    pub numeric_model: NumericModel,
    /// Model of categorical and set-valued columns (default logistic, `c = 1`).
    pub label_model: LabelModel,
    /// Most rounds (default 10).
    pub max_iter: usize,
    /// Convergence tolerance, relative to the largest observed |value| (default 1e-3).
    pub tol: f64,
    /// Start numeric columns from the median instead of the mean.
    pub initial_median: bool,
    /// Order of visiting columns.
    pub order: VisitOrder,
    /// Seed of the random visiting order.
    pub seed: u64,
    /// Most classes the label model of a categorical column predicts: a column of more labels
    /// keeps its most frequent ones apart and pools the rest into one class, written as the
    /// most frequent pooled label, so that a column of thousands of labels (hashes) costs what
    /// one of `max_labels` does as a target. The column still enters the other columns' models
    /// with every label; the one-hot regression model never pools. Default `None` (every
    /// label): pooling cost accuracy on rare labels and did not make MissForest faster
    /// (`docs/BENCHMARKS-imputers.md`).
    #[serde(default)]
    pub max_labels: Option<usize>,
}

impl Default for IterativeImputer {
    fn default() -> Self {
        IterativeImputer {
            numeric_model: NumericModel::BayesianRidge,
            label_model: LabelModel::Logistic { c: 1.0 },
            max_iter: 10,
            tol: 1e-3,
            initial_median: false,
            order: VisitOrder::Ascending,
            seed: 0,
            max_labels: None,
        }
    }
}

impl IterativeImputer {
    /// scikit-learn's defaults: Bayesian ridge, 10 rounds, `tol = 1e-3`, ascending order.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the numeric model.
    pub fn with_numeric_model(mut self, model: NumericModel) -> Self {
        self.numeric_model = model;
        self
    }

    /// Sets the model of categorical and set-valued columns.
    pub fn with_label_model(mut self, model: LabelModel) -> Self {
        self.label_model = model;
        self
    }

    /// Sets the most rounds.
    pub fn with_max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }

    /// Sets the tolerance.
    pub fn with_tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }

    /// Sets the visiting order.
    pub fn with_order(mut self, order: VisitOrder) -> Self {
        self.order = order;
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

    /// Starts numeric columns from the median.
    pub fn with_initial_median(mut self, median: bool) -> Self {
        self.initial_median = median;
        self
    }

    fn round_order(&self, plan: &Plan, rng: &mut ChaCha8Rng) -> Vec<usize> {
        match self.order {
            VisitOrder::Ascending => plan.order.clone(),
            VisitOrder::Table => (0..plan.blocks.len()).collect(),
            VisitOrder::Random => {
                let mut order: Vec<usize> = (0..plan.blocks.len()).collect();
                order.shuffle(rng);
                order
            }
        }
    }

    fn fit_linear(&self, x: &[f64], p: usize, y: &[f64]) -> Linear {
        let gram = Gram::new(x, p, y);
        match self.numeric_model {
            NumericModel::BayesianRidge => bayesian_ridge(&gram),
            NumericModel::Ridge { alpha } => ridge(&gram, alpha),
        }
    }

    fn fit_model(
        &self,
        block: &Block,
        classes: Option<&Classes>,
        x: &[f64],
        p: usize,
        y: &[f64],
        warm: Option<&Model>,
    ) -> Model {
        match (block.kind, self.label_model) {
            (BlockKind::OneHot(k) | BlockKind::MultiHot(k), LabelModel::Logistic { c }) => {
                let k = classes.map_or(k, Classes::len);
                let link = if matches!(block.kind, BlockKind::OneHot(_)) { Link::Softmax } else { Link::Sigmoid };
                let warm = match warm {
                    Some(Model::Logistic(m)) => Some(m),
                    _ => None,
                };
                Model::Logistic(Logistic::fit(x, p, y, k, link, c, warm, crate::linear::MAX_EVALUATIONS))
            }
            _ => Model::Linear(self.fit_linear(x, p, y)),
        }
    }
}

/// One column's fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Model {
    Linear(Linear),
    Logistic(Logistic),
    /// One regression per one-hot (multi-hot) column.
    PerOutput(Vec<Linear>),
}

/// Predicts the missing cells of block `b` and writes them into `state`; adds each row's
/// absolute numeric change into `row_change` and returns the number of changed labels.
fn apply(
    model: &Model,
    block: &Block,
    classes: Option<&Classes>,
    preds: &[usize],
    b: usize,
    state: &mut State,
    row_change: &mut [f64],
) -> usize {
    if let Model::PerOutput(models) = model {
        let before = decisions(block, b, state);
        for (c, m) in models.iter().enumerate() {
            let preds: Vec<usize> = (0..state.width).filter(|&j| j != block.start + c).collect();
            write_output(m, block, c, &preds, b, state);
        }
        return changed_since(&before, block, b, state);
    }
    let missing = std::mem::take(&mut state.missing[b]);
    let x = state.gather(&missing, preds);
    let p = preds.len();
    let mut labels = 0;
    let mut probs = vec![0.0; block.width()];
    let mut class_probs = vec![0.0; classes.map_or(0, Classes::len)];
    for (i, &row) in missing.iter().enumerate() {
        let xi = &x[i * p..(i + 1) * p];
        match model {
            Model::Linear(m) => {
                let change = state.set_number(block, row, m.predict(xi));
                row_change[row] += change;
            }
            Model::PerOutput(_) => {}
            Model::Logistic(m) => {
                match classes {
                    Some(c) => {
                        m.predict(xi, &mut class_probs);
                        c.expand(&class_probs, &mut probs);
                    }
                    None => m.predict(xi, &mut probs),
                }
                let changed = state.set_probs(block, row, &probs);
                labels += changed as usize;
            }
        }
    }
    state.missing[b] = missing;
    labels
}

/// Predicts output `c` of a one-hot (multi-hot) block for its missing rows, in place.
fn write_output(model: &Linear, block: &Block, c: usize, preds: &[usize], b: usize, state: &mut State) {
    let x = state.gather(&state.missing[b], preds);
    let p = preds.len();
    for (i, &row) in state.missing[b].clone().iter().enumerate() {
        state.design[row * state.width + block.start + c] = model.predict(&x[i * p..(i + 1) * p]);
    }
}

/// The labels currently imputed in the missing cells of block `b`.
fn decisions(block: &Block, b: usize, state: &State) -> Vec<Vec<u32>> {
    let k = block.width();
    state.missing[b]
        .iter()
        .map(|&r| decision(block.kind, &state.design[r * state.width + block.start..r * state.width + block.start + k]))
        .collect()
}

/// How many missing cells of block `b` changed label since `before`.
fn changed_since(before: &[Vec<u32>], block: &Block, b: usize, state: &State) -> usize {
    decisions(block, b, state).iter().zip(before).filter(|(a, b)| a != b).count()
}

/// Refuses a label cap below 2 (a pool and one label).
pub(crate) fn check_max_labels(max_labels: Option<usize>) -> Result<()> {
    match max_labels {
        Some(k) if k < 2 => Err(Error::param("max_labels", format!("{k} is below 2"))),
        _ => Ok(()),
    }
}

/// A fitted [`IterativeImputer`]: the initial fills and every round's models.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FittedIterative {
    schema: Schema,
    encoder: Encoder,
    plan: Plan,
    rounds: Vec<Vec<(usize, Model)>>,
    converged: bool,
}

impl FittedIterative {
    /// Rounds run at fit (scikit-learn's `n_iter_`).
    pub fn n_iter(&self) -> usize {
        self.rounds.len()
    }

    /// Whether fit stopped on the tolerance rather than on `max_iter`.
    pub fn converged(&self) -> bool {
        self.converged
    }

    /// Of the label models fitted (logistic, every round), how many stopped at their budget of
    /// objective evaluations before converging, and how many there are.
    pub fn label_fits_at_cap(&self) -> (usize, usize) {
        let logistic = self.rounds.iter().flatten().filter_map(|(_, m)| match m {
            Model::Logistic(l) => Some(l.stopped_at_cap),
            _ => None,
        });
        logistic.fold((0, 0), |(capped, all), at_cap| (capped + usize::from(at_cap), all + 1))
    }

    /// What a user should know about this fit: the chain ran out of rounds, label models
    /// stopped at their budget (empty when neither happened).
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.converged {
            notes.push(format!("the chain ran all {} rounds without meeting its tolerance", self.n_iter()));
        }
        let (capped, all) = self.label_fits_at_cap();
        if capped > 0 {
            notes.push(format!(
                "{capped} of {all} label-model fits stopped at {} evaluations before converging",
                crate::linear::MAX_EVALUATIONS
            ));
        }
        notes
    }
}

impl Imputer for IterativeImputer {
    type Fitted = FittedIterative;
    type Error = crate::Error;

    fn name(&self) -> String {
        let numeric = match self.numeric_model {
            NumericModel::BayesianRidge => "bayesian_ridge".to_string(),
            NumericModel::Ridge { alpha } => format!("ridge,alpha={alpha}"),
        };
        match self.label_model {
            LabelModel::Logistic { .. } => format!("iterative({numeric})"),
            LabelModel::OneHotRegression => format!("iterative({numeric},onehot_regression)"),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.max_iter == 0 {
            return Err(Error::param("max_iter", "must be at least 1"));
        }
        check_max_labels(self.max_labels)?;
        if self.tol.is_nan() || self.tol < 0.0 {
            return Err(Error::param("tol", format!("{} is not a non-negative number", self.tol)));
        }
        if let LabelModel::Logistic { c } = self.label_model {
            if !(c > 0.0 && c.is_finite()) {
                return Err(Error::param("c", format!("{c} is not a positive number")));
            }
        }
        if let NumericModel::Ridge { alpha } = self.numeric_model {
            if !(alpha >= 0.0 && alpha.is_finite()) {
                return Err(Error::param("alpha", format!("{alpha} is not a non-negative number")));
            }
        }
        Ok(())
    }

    fn fit(&self, train: &Table) -> Result<FittedIterative> {
        Imputer::validate(self)?;
        let encoder = Encoder::fit(train);
        let columns = encoder.encode(train)?;
        // Only the logistic model pools its outputs; the one-hot regressions keep every label.
        let cap = if matches!(self.label_model, LabelModel::Logistic { .. }) { self.max_labels } else { None };
        let plan = Plan::new(&encoder, &columns, self.initial_median, true).with_label_cap(&encoder, cap);
        let mut state = State::new(&plan, &columns, train.num_rows());
        let max_abs = plan
            .blocks
            .iter()
            .filter_map(|b| match encoder.stats[b.col] {
                ColumnStats::Numeric { max_abs, .. } => Some(max_abs),
                _ => None,
            })
            .fold(0.0f64, f64::max);
        let threshold = self.tol * max_abs;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut rounds: Vec<Vec<(usize, Model)>> = Vec::new();
        let mut converged = false;
        let label_cells: usize = (0..plan.blocks.len())
            .filter(|&b| plan.blocks[b].kind != BlockKind::Numeric)
            .map(|b| state.missing[b].len())
            .sum();
        for _ in 0..self.max_iter {
            let order = self.round_order(&plan, &mut rng);
            let mut row_change = vec![0.0; state.rows];
            let mut label_changes = 0usize;
            let mut models = Vec::with_capacity(order.len());
            for b in order {
                let block = plan.blocks[b];
                let preds = plan.predictors(b);
                let obs = &state.observed[b].clone();
                let x = state.gather(obs, &preds);
                let classes = plan.classes(b);
                let y = targets(&block, &columns[block.col], obs, classes);
                let model = if block.kind != BlockKind::Numeric && self.label_model == LabelModel::OneHotRegression {
                    // Column by column, each one-hot column predicted from all the others
                    // (its siblings included), as IterativeImputer does on one-hot data.
                    let k = block.width();
                    let mut models = Vec::with_capacity(k);
                    let before = decisions(&block, b, &state);
                    for c in 0..k {
                        let preds: Vec<usize> = (0..plan.width).filter(|&j| j != block.start + c).collect();
                        let x = state.gather(obs, &preds);
                        let yc: Vec<f64> = (0..obs.len()).map(|i| y[i * k + c]).collect();
                        let model = self.fit_linear(&x, preds.len(), &yc);
                        write_output(&model, &block, c, &preds, b, &mut state);
                        models.push(model);
                    }
                    label_changes += changed_since(&before, &block, b, &state);
                    Model::PerOutput(models)
                } else {
                    let warm = rounds.last().and_then(|r| r.iter().find(|(i, _)| *i == b)).map(|(_, m)| m);
                    let model = self.fit_model(&block, classes, &x, preds.len(), &y, warm);
                    label_changes += apply(&model, &block, classes, &preds, b, &mut state, &mut row_change);
                    model
                };
                models.push((b, model));
            }
            rounds.push(models);
            let inf_norm = row_change.iter().copied().fold(0.0f64, f64::max);
            if inf_norm < threshold && label_changes as f64 <= self.tol * label_cells as f64 {
                converged = true;
                break;
            }
        }
        Ok(FittedIterative { schema: encoder.schema.clone(), encoder, plan, rounds, converged })
    }
}

impl FittedImputer for FittedIterative {
    type Error = crate::Error;

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn transform(&self, table: &Table) -> Result<Table> {
        let columns = self.encoder.encode(table)?;
        let mut state = State::new(&self.plan, &columns, table.num_rows());
        let mut row_change = vec![0.0; state.rows];
        for round in &self.rounds {
            for (b, model) in round {
                if state.missing[*b].is_empty() {
                    continue;
                }
                let preds = self.plan.predictors(*b);
                apply(model, &self.plan.blocks[*b], self.plan.classes(*b), &preds, *b, &mut state, &mut row_change);
            }
        }
        crate::common::write_fills(table, state.fills(&self.plan, &self.encoder))
    }
}
