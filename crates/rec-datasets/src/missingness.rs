//! Missingness injection ("amputation"): punch holes into a table with a known mechanism and
//! rate, keeping the ground truth of every cell removed.
//!
//! The three mechanisms follow Rubin's classification (Rubin 1976, "Inference and missing
//! data", *Biometrika* 63(3)) and the logistic amputation schemes of Muzellec et al. 2020
//! ("Missing data imputation using optimal transport", ICML; the masks HyperImpute reuses,
//! Jarrett et al. 2022) and of R `mice::ampute` (Schouten, Lugtig & Vink 2018, "Generating
//! missing values for simulation purposes: a multivariate amputation procedure", *J. Stat.
//! Comput. Simul.* 88(15)):
//!
//! - **MCAR** (missing completely at random): every eligible cell is removed independently
//!   with probability `rate`, whatever the data.
//! - **MAR** (missing at random): the probability that a cell of row *i* is removed is
//!   `σ(s·zᵢ + b)` where `zᵢ` is row *i*'s standardized value of an observed *driver* column,
//!   `s` the strength and `b` an intercept found by bisection so that the mean probability
//!   over the eligible cells equals `rate` (as `fit_intercepts` in Muzellec et al. and the
//!   shift of `ampute`). The driver is never masked, so missingness depends only on observed
//!   data.
//! - **MNAR** (missing not at random), self-masking: the probability that cell (*i*, *j*) is
//!   removed is `σ(s·zᵢⱼ + bⱼ)` where `zᵢⱼ` is the standardized value of the cell itself
//!   (Muzellec et al.'s `MNAR_self_mask_logistic`), `bⱼ` calibrated to the rate as above:
//!   with `s > 0` high values are hidden more.
//!
//! Standardized scores by kind: numeric, the z-score of the value; categorical and id, the
//! z-score of the category's rank in label order (so later labels are hidden more under
//! MNAR with `s > 0`); set-valued, the z-score of the set's size; text, the z-score of its
//! length in characters. A missing driver cell scores 0 (the mean).
//!
//! Columns of kind id and the columns in [`MissingnessConfig::exclude`] (put the target there)
//! are never masked. Cells already missing are neither eligible nor counted: `rate` is the
//! fraction of the *observed* eligible cells to remove, per column ([`Scope::PerColumn`], the
//! default: each column loses about `rate` of its observed cells) or pooled over the table
//! ([`Scope::TableWide`]: one intercept for all cells, so under MNAR/MAR some columns may lose
//! more than others). Draws are Bernoulli, so the realised rate is within sampling error of
//! `rate`; the same seed gives the same holes.

use arrow::array::BooleanArray;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rec_table::{Cell, ColumnKind, Table, Value};

use crate::error::{Error, Result};

/// Which mechanism decides the probability that a cell goes missing.
#[derive(Debug, Clone, PartialEq)]
pub enum Mechanism {
    /// Missing completely at random.
    Mcar,
    /// Missing at random given an observed driver column.
    Mar {
        /// The driver column; `None` picks the first eligible numeric column (else the first
        /// eligible column) that is not among the masked columns when those are given.
        driver: Option<String>,
        /// Slope `s` of the logistic in the standardized driver (log-odds per standard deviation).
        strength: f64,
    },
    /// Missing not at random: self-masking logistic in the cell's own value.
    Mnar {
        /// Slope `s` of the logistic in the standardized value.
        strength: f64,
    },
}

/// Default logistic slope of [`Mechanism::Mar`] and [`Mechanism::Mnar`]: each standard
/// deviation multiplies the odds of missingness by e² ≈ 7.4.
pub const DEFAULT_STRENGTH: f64 = 2.0;

/// Over what the rate is calibrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Each masked column loses about `rate` of its observed cells.
    #[default]
    PerColumn,
    /// About `rate` of all observed eligible cells are removed, pooled over the columns.
    TableWide,
}

/// What to mask, how much and with which seed.
///
/// ```
/// use rec_datasets::missingness::{inject, MissingnessConfig, Scope};
/// use rec_datasets::synthetic::adclick_like;
///
/// let table = adclick_like(500, 1)?;
/// let config = MissingnessConfig::mnar(0.2, 7).with_exclude(["click"]).with_scope(Scope::TableWide);
/// let masked = inject(&table, &config)?;
/// assert_eq!(masked.table.missing_cells().count(), masked.mask.len());
/// assert!(masked.mask.cells().all(|c| c.col != 6)); // click is column 6
/// # Ok::<(), rec_datasets::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MissingnessConfig {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// Fraction of the observed eligible cells to remove, in `[0, 1]`.
    pub rate: f64,
    /// Per column or pooled calibration of the rate.
    pub scope: Scope,
    /// The columns to mask; empty means every column that is not excluded, not an id and not
    /// the MAR driver.
    pub columns: Vec<String>,
    /// Columns never masked (the target, keys); id columns are never masked anyway.
    pub exclude: Vec<String>,
    /// Seed of the ChaCha8 generator that draws the holes.
    pub seed: u64,
}

impl MissingnessConfig {
    /// MCAR at `rate`.
    pub fn mcar(rate: f64, seed: u64) -> Self {
        Self::new(Mechanism::Mcar, rate, seed)
    }

    /// MAR at `rate` with the default driver and [`DEFAULT_STRENGTH`].
    pub fn mar(rate: f64, seed: u64) -> Self {
        Self::new(Mechanism::Mar { driver: None, strength: DEFAULT_STRENGTH }, rate, seed)
    }

    /// Self-masking MNAR at `rate` with [`DEFAULT_STRENGTH`].
    pub fn mnar(rate: f64, seed: u64) -> Self {
        Self::new(Mechanism::Mnar { strength: DEFAULT_STRENGTH }, rate, seed)
    }

    /// Any mechanism at `rate`, per column, every eligible column.
    pub fn new(mechanism: Mechanism, rate: f64, seed: u64) -> Self {
        MissingnessConfig { mechanism, rate, scope: Scope::PerColumn, columns: Vec::new(), exclude: Vec::new(), seed }
    }

    /// Masks only these columns.
    pub fn with_columns<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.columns = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Never masks these columns.
    pub fn with_exclude<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.exclude = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the scope of the rate.
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// Sets the MAR driver column (turns an MCAR/MNAR config into MAR with the default strength).
    pub fn with_driver(mut self, driver: impl Into<String>) -> Self {
        let strength = match self.mechanism {
            Mechanism::Mar { strength, .. } => strength,
            _ => DEFAULT_STRENGTH,
        };
        self.mechanism = Mechanism::Mar { driver: Some(driver.into()), strength };
        self
    }
}

/// The cells removed by an injection and their true values, sorted by row then column.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mask {
    entries: Vec<(Cell, Value)>,
}

impl Mask {
    /// A mask of these cells and true values (any order), e.g. read back from a ground-truth
    /// file; a cell listed twice is an error.
    pub fn from_entries(mut entries: Vec<(Cell, Value)>) -> Result<Mask> {
        entries.sort_by_key(|e| e.0);
        if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::InvalidArgument(format!(
                "cell (row {}, column {}) is listed twice",
                w[0].0.row, w[0].0.col
            )));
        }
        Ok(Mask { entries })
    }

    /// The removed cells with their true values.
    pub fn entries(&self) -> &[(Cell, Value)] {
        &self.entries
    }

    /// The removed cells.
    pub fn cells(&self) -> impl Iterator<Item = Cell> + '_ {
        self.entries.iter().map(|(c, _)| *c)
    }

    /// The true value of a removed cell, `None` if the cell was not removed.
    pub fn truth(&self, cell: Cell) -> Option<&Value> {
        self.entries.binary_search_by(|(c, _)| c.cmp(&cell)).ok().map(|i| &self.entries[i].1)
    }

    /// Number of removed cells.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was removed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of removed cells in each of `n_columns` columns.
    pub fn per_column(&self, n_columns: usize) -> Vec<usize> {
        let mut counts = vec![0; n_columns];
        for (c, _) in &self.entries {
            if let Some(n) = counts.get_mut(c.col) {
                *n += 1;
            }
        }
        counts
    }

    /// Consumes the mask into its entries.
    pub fn into_entries(self) -> Vec<(Cell, Value)> {
        self.entries
    }
}

/// A table with injected holes and the ground truth of each hole.
#[derive(Debug, Clone, PartialEq)]
pub struct Masked {
    /// The input table with the masked cells set missing; every other cell unchanged.
    pub table: Table,
    /// What was removed.
    pub mask: Mask,
}

/// Removes cells of `table` as `config` says (see the [module docs](self) for the mechanisms).
///
/// Errors: a rate outside `[0, 1]`, a non-finite strength, an unknown column name, a MAR
/// driver that is also to be masked, or no column left to mask.
pub fn inject(table: &Table, config: &MissingnessConfig) -> Result<Masked> {
    if !(0.0..=1.0).contains(&config.rate) {
        return Err(Error::InvalidArgument(format!("missingness rate {} is outside [0, 1]", config.rate)));
    }
    let schema = table.schema();
    for name in config.columns.iter().chain(&config.exclude) {
        schema.index_of(name)?;
    }
    let excluded = |j: usize| {
        let spec = &schema.columns()[j];
        spec.kind == ColumnKind::Id || config.exclude.contains(&spec.name)
    };
    let driver = match &config.mechanism {
        Mechanism::Mar { driver, strength } => {
            check_strength(*strength)?;
            Some(pick_driver(table, driver.as_deref(), &config.columns, &excluded)?)
        }
        Mechanism::Mnar { strength } => {
            check_strength(*strength)?;
            None
        }
        Mechanism::Mcar => None,
    };
    let targets = mask_targets(table, config, &excluded, driver)?;
    let plans = removal_plans(table, config, &targets, driver)?;

    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut entries = Vec::new();
    let mut arrays = table.batch().columns().to_vec();
    for (j, rows, p) in plans {
        let mut hole = vec![false; table.num_rows()];
        for (&r, &p) in rows.iter().zip(&p) {
            // Draw for every eligible cell, so the stream does not depend on the outcomes.
            let u: f64 = rng.random();
            if u < p {
                hole[r] = true;
                if let Some(v) = table.value(r, j) {
                    entries.push((Cell { row: r, col: j }, v));
                }
            }
        }
        arrays[j] =
            arrow::compute::nullif(arrays[j].as_ref(), &BooleanArray::from(hole)).map_err(rec_table::Error::from)?;
    }
    entries.sort_by_key(|e| e.0);
    let holed = Table::from_arrays(schema.clone(), arrays, table.num_rows())?;
    Ok(Masked { table: holed, mask: Mask { entries } })
}

/// The columns to mask: those named, or every column that is not an id, excluded or the MAR
/// driver.
fn mask_targets(
    table: &Table,
    config: &MissingnessConfig,
    excluded: &dyn Fn(usize) -> bool,
    driver: Option<usize>,
) -> Result<Vec<usize>> {
    let schema = table.schema();
    let targets: Vec<usize> = if config.columns.is_empty() {
        (0..schema.len()).filter(|&j| !excluded(j) && Some(j) != driver).collect()
    } else {
        let mut t = Vec::new();
        for name in &config.columns {
            let j = schema.index_of(name)?;
            if excluded(j) {
                return Err(Error::InvalidArgument(format!(
                    "column '{name}' is an id or excluded and cannot be masked"
                )));
            }
            if Some(j) == driver {
                return Err(Error::InvalidArgument(format!("column '{name}' is the MAR driver and cannot be masked")));
            }
            t.push(j);
        }
        t
    };
    if targets.is_empty() {
        return Err(Error::InvalidArgument("no column is left to mask (all are ids, excluded or the driver)".into()));
    }
    Ok(targets)
}

/// One column's removal plan: the column, its observed rows, and each row's probability of
/// losing its cell.
type RemovalPlan = (usize, Vec<usize>, Vec<f64>);

/// Per target column: its removal plan, the logistic intercept calibrated to `config.rate`
/// per column or over the table.
fn removal_plans(
    table: &Table,
    config: &MissingnessConfig,
    targets: &[usize],
    driver: Option<usize>,
) -> Result<Vec<RemovalPlan>> {
    let driver_scores = driver.map(|d| scores(table, d));
    let mut plans: Vec<RemovalPlan> = Vec::with_capacity(targets.len());
    for &j in targets {
        let rows: Vec<usize> = (0..table.num_rows()).filter(|&r| !table.is_missing(r, j)).collect();
        let z: Vec<f64> = match (&config.mechanism, &driver_scores) {
            (Mechanism::Mcar, _) => vec![0.0; rows.len()],
            (Mechanism::Mar { strength, .. }, Some(d)) => rows.iter().map(|&r| strength * d[r]).collect(),
            (Mechanism::Mnar { strength }, _) => {
                let own = scores(table, j);
                rows.iter().map(|&r| strength * own[r]).collect()
            }
            (Mechanism::Mar { .. }, None) => {
                return Err(Error::InvalidArgument("a MAR config needs a driver column".into()))
            }
        };
        plans.push((j, rows, z));
    }
    match config.scope {
        Scope::PerColumn => {
            for (_, _, z) in &mut plans {
                let b = intercept(z, config.rate);
                z.iter_mut().for_each(|v| *v = sigmoid(*v + b));
            }
        }
        Scope::TableWide => {
            let all: Vec<f64> = plans.iter().flat_map(|(_, _, z)| z.iter().copied()).collect();
            let b = intercept(&all, config.rate);
            for (_, _, z) in &mut plans {
                z.iter_mut().for_each(|v| *v = sigmoid(*v + b));
            }
        }
    }
    Ok(plans)
}

fn check_strength(strength: f64) -> Result<()> {
    if strength.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!("missingness strength {strength} is not finite")))
    }
}

fn pick_driver(
    table: &Table,
    driver: Option<&str>,
    columns: &[String],
    excluded: &dyn Fn(usize) -> bool,
) -> Result<usize> {
    let schema = table.schema();
    if let Some(name) = driver {
        return Ok(schema.index_of(name)?);
    }
    let candidates: Vec<usize> =
        (0..schema.len()).filter(|&j| !excluded(j) && !columns.contains(&schema.columns()[j].name)).collect();
    candidates
        .iter()
        .copied()
        .find(|&j| schema.columns()[j].kind == ColumnKind::Numeric)
        .or_else(|| candidates.first().copied())
        .ok_or_else(|| Error::InvalidArgument("MAR needs a driver column but no eligible column is left".into()))
}

/// Standardized score of each row of column `col` (0 for a missing cell).
fn scores(table: &Table, col: usize) -> Vec<f64> {
    let kind = table.schema().columns()[col].kind;
    let raw: Vec<Option<f64>> = match kind {
        ColumnKind::Numeric => table.column_values(col).iter().map(|v| v.as_ref().and_then(Value::as_f64)).collect(),
        ColumnKind::Categorical | ColumnKind::Id => {
            let values = table.column_values(col);
            let mut labels: Vec<&str> = values.iter().flatten().filter_map(Value::as_str).collect();
            labels.sort_unstable();
            labels.dedup();
            values
                .iter()
                .map(|v| {
                    v.as_ref().and_then(Value::as_str).and_then(|s| labels.binary_search(&s).ok()).map(|i| i as f64)
                })
                .collect()
        }
        ColumnKind::Text => table
            .column_values(col)
            .iter()
            .map(|v| v.as_ref().and_then(Value::as_str).map(|s| s.chars().count() as f64))
            .collect(),
        ColumnKind::SetValued => table
            .column_values(col)
            .iter()
            .map(|v| v.as_ref().and_then(Value::as_set).map(|s| s.len() as f64))
            .collect(),
    };
    standardize(&raw)
}

fn standardize(raw: &[Option<f64>]) -> Vec<f64> {
    let observed: Vec<f64> = raw.iter().flatten().copied().collect();
    if observed.is_empty() {
        return vec![0.0; raw.len()];
    }
    let n = observed.len() as f64;
    let mean = observed.iter().sum::<f64>() / n;
    let sd = (observed.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    raw.iter()
        .map(|x| match x {
            Some(x) if sd > 0.0 => (x - mean) / sd,
            _ => 0.0,
        })
        .collect()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The intercept `b` with `mean(σ(z + b)) = rate`, by bisection (the mean is increasing in `b`).
fn intercept(z: &[f64], rate: f64) -> f64 {
    if rate <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if rate >= 1.0 {
        return f64::INFINITY;
    }
    if z.is_empty() {
        return 0.0;
    }
    let mean = |b: f64| z.iter().map(|&v| sigmoid(v + b)).sum::<f64>() / z.len() as f64;
    let (mut lo, mut hi) = (-60.0, 60.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if mean(mid) < rate {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intercept_matches_the_rate() {
        let z: Vec<f64> = (0..1000).map(|i| (i as f64 - 500.0) / 100.0).collect();
        for rate in [0.01, 0.1, 0.5, 0.9] {
            let b = intercept(&z, rate);
            let mean = z.iter().map(|&v| sigmoid(v + b)).sum::<f64>() / z.len() as f64;
            assert!((mean - rate).abs() < 1e-9, "{rate} {mean}");
        }
        assert_eq!(sigmoid(0.0 + intercept(&z, 0.0)), 0.0);
        assert_eq!(sigmoid(0.0 + intercept(&z, 1.0)), 1.0);
    }

    #[test]
    fn standardize_handles_constants_and_gaps() {
        assert_eq!(standardize(&[Some(3.0), None, Some(3.0)]), vec![0.0, 0.0, 0.0]);
        let s = standardize(&[Some(1.0), Some(3.0), None]);
        assert_eq!(s, vec![-1.0, 1.0, 0.0]);
    }
}
