//! The names a grid is made of: tasks, imputers (and the one registry that builds them) and
//! missingness patterns. Each parses from and prints as the name used in flags, configs,
//! cell keys and reports.

use imputers_baseline::ClassicalImputer;
use rec_datasets::missingness::{Mechanism, MissingnessConfig, DEFAULT_STRENGTH};
use serde::{Deserialize, Serialize};

/// A downstream task of the paper (plus the embedded synthetic one used by the demo).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskName {
    /// AdClick: predict `click` (binary); natural gaps plus injected ones.
    Adclick,
    /// MovieLens 100K, u1 split: the rating as 5 classes.
    MovielensClass,
    /// MovieLens 100K, u1 split: the rating as a number.
    MovielensRegression,
    /// MovieLens 100K, cold users: all the ratings of a seeded set of users (about 20% of the
    /// ratings) are the test set, so their ids are unknown to the recommender; the rating as
    /// 5 classes.
    MovielensClassColdUsers,
    /// As [`TaskName::MovielensClassColdUsers`], the rating as a number.
    MovielensRegressionColdUsers,
    /// MovieLens 100K, cold items: all the ratings of a seeded set of movies (about 20% of
    /// the ratings) are the test set; the rating as 5 classes.
    MovielensClassColdItems,
    /// As [`TaskName::MovielensClassColdItems`], the rating as a number.
    MovielensRegressionColdItems,
    /// A generated AdClick-shaped table with planted dependencies (no files needed).
    SyntheticAdclick,
    /// Your own table: the experiment config's `table` says which file, target and split.
    Table,
}

impl TaskName {
    /// The name used in keys, flags and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskName::Adclick => "adclick",
            TaskName::MovielensClass => "movielens-class",
            TaskName::MovielensRegression => "movielens-regression",
            TaskName::MovielensClassColdUsers => "movielens-class-cold-users",
            TaskName::MovielensRegressionColdUsers => "movielens-regression-cold-users",
            TaskName::MovielensClassColdItems => "movielens-class-cold-items",
            TaskName::MovielensRegressionColdItems => "movielens-regression-cold-items",
            TaskName::SyntheticAdclick => "synthetic-adclick",
            TaskName::Table => "table",
        }
    }

    /// Every task, in report order.
    pub const ALL: [TaskName; 9] = [
        TaskName::Adclick,
        TaskName::MovielensClass,
        TaskName::MovielensRegression,
        TaskName::MovielensClassColdUsers,
        TaskName::MovielensRegressionColdUsers,
        TaskName::MovielensClassColdItems,
        TaskName::MovielensRegressionColdItems,
        TaskName::SyntheticAdclick,
        TaskName::Table,
    ];
}

/// How a MovieLens task splits the ratings into training and test rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovielensSplit {
    /// The fixed `u1.base` / `u1.test` files of ML-100K (users and items on both sides).
    U1,
    /// Users in a seeded order until about 80% of the ratings are training rows; the other
    /// users, with all their ratings, are the test set.
    ColdUsers,
    /// The same by movie.
    ColdItems,
}

/// What a MovieLens task predicts and how it splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MovielensTask {
    /// The rating as 5 classes (else as a number).
    pub classes: bool,
    /// The split.
    pub split: MovielensSplit,
}

impl TaskName {
    /// The MovieLens task this name stands for, `None` for the others.
    ///
    /// ```
    /// use rec_experiments::{MovielensSplit, TaskName};
    /// let task: TaskName = "movielens-regression-cold-users".parse()?;
    /// let ml = task.movielens().unwrap();
    /// assert!(!ml.classes);
    /// assert_eq!(ml.split, MovielensSplit::ColdUsers);
    /// assert!(TaskName::Adclick.movielens().is_none());
    /// # Ok::<(), String>(())
    /// ```
    pub fn movielens(self) -> Option<MovielensTask> {
        use MovielensSplit::*;
        let (classes, split) = match self {
            TaskName::MovielensClass => (true, U1),
            TaskName::MovielensRegression => (false, U1),
            TaskName::MovielensClassColdUsers => (true, ColdUsers),
            TaskName::MovielensRegressionColdUsers => (false, ColdUsers),
            TaskName::MovielensClassColdItems => (true, ColdItems),
            TaskName::MovielensRegressionColdItems => (false, ColdItems),
            TaskName::Adclick | TaskName::SyntheticAdclick | TaskName::Table => return None,
        };
        Some(MovielensTask { classes, split })
    }
}

impl std::str::FromStr for TaskName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TaskName::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            format!("unknown task '{s}' (expected one of: {})", TaskName::ALL.map(|t| t.as_str()).join(", "))
        })
    }
}

/// An imputation method: the one registry of imputers, so a name means the same model in the
/// `recimpute` command line, the grids and the library ([`ImputerName::build`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImputerName {
    /// Case-wise deletion of incomplete training rows (test rows keep their gaps).
    Deletion,
    /// Zero for numbers, a constant label for categories, the empty set for sets.
    Zero,
    /// Mean for numbers, mode for labels and sets.
    Mean,
    /// Median for numbers, mode for labels and sets.
    Median,
    /// The most frequent value of every column, numbers included.
    Mode,
    /// K nearest neighbours (k = [`ImputerParams::knn_k`], 5 by default; distance-weighted).
    Knn,
    /// Iterative chained models (MICE-style).
    Iterative,
    /// Iterative random forests (MissForest-style).
    Missforest,
    /// The LLM imputer (LoRA fine-tune of a causal LM; needs the `llm` feature; built from
    /// its own settings, not by [`ImputerName::build`]).
    Llm,
}

/// What a classical imputer's name leaves open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImputerParams {
    /// Seed of the imputers that draw random numbers (iterative, MissForest).
    pub seed: u64,
    /// Neighbours of the KNN imputer.
    pub knn_k: usize,
    /// Most labels a categorical column keeps apart in iterative and MissForest (64 by
    /// default; the rest are pooled into one class); 0 keeps every label.
    pub max_labels: usize,
}

impl Default for ImputerParams {
    fn default() -> Self {
        ImputerParams { seed: 0, knn_k: 5, max_labels: 0 }
    }
}

impl ImputerParams {
    /// The defaults with this seed.
    pub fn seeded(seed: u64) -> Self {
        ImputerParams { seed, ..ImputerParams::default() }
    }
}

impl ImputerName {
    /// The name used in keys, flags and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ImputerName::Deletion => "deletion",
            ImputerName::Zero => "zero",
            ImputerName::Mean => "mean",
            ImputerName::Median => "median",
            ImputerName::Mode => "mode",
            ImputerName::Knn => "knn",
            ImputerName::Iterative => "iterative",
            ImputerName::Missforest => "missforest",
            ImputerName::Llm => "llm",
        }
    }

    /// The classical imputers of the default grid, in report order (add [`ImputerName::Llm`]
    /// to compare the LLM imputer; [`ImputerName::Mode`] is left out as it equals `mean` on
    /// every categorical column).
    pub const ALL: [ImputerName; 7] = [
        ImputerName::Deletion,
        ImputerName::Zero,
        ImputerName::Mean,
        ImputerName::Median,
        ImputerName::Knn,
        ImputerName::Iterative,
        ImputerName::Missforest,
    ];

    /// Every name, in report order.
    pub const EVERY: [ImputerName; 9] = [
        ImputerName::Deletion,
        ImputerName::Zero,
        ImputerName::Mean,
        ImputerName::Median,
        ImputerName::Mode,
        ImputerName::Knn,
        ImputerName::Iterative,
        ImputerName::Missforest,
        ImputerName::Llm,
    ];

    /// Builds the classical imputer this name stands for.
    ///
    /// Errors for [`ImputerName::Llm`], which is configured by its own settings
    /// (`LlmImputerConfig`), and for `knn_k == 0`.
    ///
    /// ```
    /// use rec_experiments::{ImputerName, ImputerParams};
    ///
    /// let table = rec_datasets::synthetic::adclick_like(100, 1)?;
    /// let hidden = rec_datasets::missingness::inject(&table, &rec_datasets::missingness::MissingnessConfig::mcar(0.1, 2))?;
    /// let knn = "knn".parse::<ImputerName>()?.build(ImputerParams::default())?;
    /// let fitted = rec_table::Imputer::fit(&knn, &hidden.table)?; // a FittedClassical, which can be saved
    /// let filled = rec_table::FittedImputer::transform(&fitted, &hidden.table)?;
    /// assert_eq!(filled.missing_cells().count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self, params: ImputerParams) -> crate::Result<ClassicalImputer> {
        use imputers_baseline::*;
        if params.knn_k == 0 {
            return Err(crate::Error::Config("knn_k must be at least 1".into()));
        }
        if params.max_labels == 1 {
            return Err(crate::Error::Config("max_labels must be 0 (no cap) or at least 2".into()));
        }
        let max_labels = (params.max_labels > 0).then_some(params.max_labels);
        Ok(match self {
            ImputerName::Deletion => CaseDeletion::new().into(),
            ImputerName::Zero => SimpleImputer::zero().into(),
            ImputerName::Mean => SimpleImputer::mean().into(),
            ImputerName::Median => SimpleImputer::median().into(),
            ImputerName::Mode => SimpleImputer::mode().into(),
            ImputerName::Knn => KnnImputer::new(params.knn_k).with_weights(KnnWeights::Distance).into(),
            ImputerName::Iterative => IterativeImputer::new().with_seed(params.seed).with_max_labels(max_labels).into(),
            ImputerName::Missforest => {
                MissForestImputer::new().with_seed(params.seed).with_max_labels(max_labels).into()
            }
            ImputerName::Llm => {
                return Err(crate::Error::Config(
                    "the LLM imputer is built from its own settings (`LlmImputerConfig`), not the registry".into(),
                ))
            }
        })
    }
}

impl std::str::FromStr for ImputerName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ImputerName::EVERY.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            format!("unknown imputer '{s}' (expected one of: {})", ImputerName::EVERY.map(|t| t.as_str()).join(", "))
        })
    }
}

/// A missingness mechanism for the injected holes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// Missing completely at random.
    Mcar,
    /// Missing at random (depends on an observed column).
    Mar,
    /// Missing not at random (depends on the hidden value).
    Mnar,
}

impl Pattern {
    /// The name used in keys, flags and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Mcar => "mcar",
            Pattern::Mar => "mar",
            Pattern::Mnar => "mnar",
        }
    }

    /// Every pattern.
    pub const ALL: [Pattern; 3] = [Pattern::Mcar, Pattern::Mar, Pattern::Mnar];
}

impl std::str::FromStr for Pattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Pattern::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown pattern '{s}' (expected mcar, mar or mnar)"))
    }
}

impl Pattern {
    /// The holes a grid's `seed` stands for: this pattern's mechanism at the default strength,
    /// every eligible column at `rate`, the generator seeded with `seed · 7919 + salt`. Each
    /// table of the experiment grid has its own salt; the quality grid and `recimpute mask`
    /// share [`truth::SALT`](crate::truth::SALT), so that `mask --seed S` hides the cells the
    /// quality grid scores for its seed `S`.
    ///
    /// ```
    /// use rec_experiments::{truth, Pattern};
    ///
    /// let holes = Pattern::Mnar.holes(0.2, 3, truth::SALT).with_columns(["age"]);
    /// assert_eq!((holes.rate, holes.seed), (0.2, 3 * 7919 + 29));
    /// ```
    pub fn holes(self, rate: f64, seed: u64, salt: u64) -> MissingnessConfig {
        let mechanism = match self {
            Pattern::Mcar => Mechanism::Mcar,
            Pattern::Mar => Mechanism::Mar { driver: None, strength: DEFAULT_STRENGTH },
            Pattern::Mnar => Mechanism::Mnar { strength: DEFAULT_STRENGTH },
        };
        MissingnessConfig::new(mechanism, rate, seed.wrapping_mul(7919).wrapping_add(salt))
    }
}
