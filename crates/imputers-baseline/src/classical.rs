//! Any classical imputer, chosen at run time: [`ClassicalImputer`] (the parameters) and
//! [`FittedClassical`] (the fitted state, which is also what an imputer file holds).

use rec_table::{FittedImputer, Imputer, Schema, Table};
use serde::{Deserialize, Serialize};

use crate::deletion::{CaseDeletion, FittedCaseDeletion};
use crate::iterative::{FittedIterative, IterativeImputer};
use crate::knn::{FittedKnn, KnnImputer};
use crate::missforest::{FittedMissForest, MissForestImputer};
use crate::simple::{FittedSimple, SimpleImputer};

/// One of this crate's imputers with its parameters, for code that picks the method at run
/// time (a registry, a config file, a CLI flag) but still wants a concrete fitted type that can
/// be saved.
///
/// ```
/// use imputers_baseline::{ClassicalImputer, KnnImputer};
/// use rec_table::{read_csv_bytes, CsvOptions, FittedImputer, Imputer};
///
/// let table = read_csv_bytes(b"age,city\n20,Paris\n30,\n,Rome\n40,Paris\n", "t.csv", &CsvOptions::default())?;
/// let imputer = ClassicalImputer::from(KnnImputer::new(2));
/// let fitted = imputer.fit(&table)?; // a FittedClassical
/// assert_eq!(fitted.method(), "knn");
/// assert_eq!(fitted.transform(&table)?.missing_cells().count(), 0);
/// # Ok::<(), imputers_baseline::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum ClassicalImputer {
    /// Case-wise deletion.
    CaseDeletion(CaseDeletion),
    /// Constant, mean, median or mode.
    Simple(SimpleImputer),
    /// K nearest neighbours.
    Knn(KnnImputer),
    /// Iterative (MICE) imputation.
    Iterative(IterativeImputer),
    /// MissForest.
    #[serde(rename = "missforest")]
    MissForest(MissForestImputer),
}

impl ClassicalImputer {
    /// The method's name, as in an imputer file (the [`FittedClassical::method`] of what
    /// [`Imputer::fit`] returns).
    pub fn method(&self) -> &'static str {
        match self {
            ClassicalImputer::CaseDeletion(_) => "case_deletion",
            ClassicalImputer::Simple(_) => "simple",
            ClassicalImputer::Knn(_) => "knn",
            ClassicalImputer::Iterative(_) => "iterative",
            ClassicalImputer::MissForest(_) => "missforest",
        }
    }
}

impl Imputer for ClassicalImputer {
    type Fitted = FittedClassical;
    type Error = crate::Error;

    fn name(&self) -> String {
        match self {
            ClassicalImputer::CaseDeletion(i) => i.name(),
            ClassicalImputer::Simple(i) => i.name(),
            ClassicalImputer::Knn(i) => i.name(),
            ClassicalImputer::Iterative(i) => i.name(),
            ClassicalImputer::MissForest(i) => i.name(),
        }
    }

    fn validate(&self) -> crate::Result<()> {
        match self {
            ClassicalImputer::CaseDeletion(i) => i.validate(),
            ClassicalImputer::Simple(i) => i.validate(),
            ClassicalImputer::Knn(i) => i.validate(),
            ClassicalImputer::Iterative(i) => i.validate(),
            ClassicalImputer::MissForest(i) => i.validate(),
        }
    }

    fn fit(&self, train: &Table) -> crate::Result<FittedClassical> {
        Ok(match self {
            ClassicalImputer::CaseDeletion(i) => i.fit(train)?.into(),
            ClassicalImputer::Simple(i) => i.fit(train)?.into(),
            ClassicalImputer::Knn(i) => i.fit(train)?.into(),
            ClassicalImputer::Iterative(i) => i.fit(train)?.into(),
            ClassicalImputer::MissForest(i) => i.fit(train)?.into(),
        })
    }
}

/// Any fitted classical imputer; what an imputer file holds (see [`crate::persist`]).
///
/// It is itself a [`FittedImputer`], so code that loads a file need not know the method.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "method", content = "fitted", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant, reason = "one per fitted imputer, never held in bulk")]
pub enum FittedClassical {
    /// Case-wise deletion.
    CaseDeletion(FittedCaseDeletion),
    /// Constant, mean, median or mode.
    Simple(FittedSimple),
    /// K nearest neighbours.
    Knn(FittedKnn),
    /// Iterative (MICE) imputation.
    Iterative(FittedIterative),
    /// MissForest.
    #[serde(rename = "missforest")]
    MissForest(FittedMissForest),
}

impl FittedClassical {
    /// The method's name, as in an imputer file: `case_deletion`, `simple`, `knn`,
    /// `iterative` or `missforest`.
    pub fn method(&self) -> &'static str {
        match self {
            FittedClassical::CaseDeletion(_) => "case_deletion",
            FittedClassical::Simple(_) => "simple",
            FittedClassical::Knn(_) => "knn",
            FittedClassical::Iterative(_) => "iterative",
            FittedClassical::MissForest(_) => "missforest",
        }
    }

    /// What a user should know about the fit (a solver that stopped at its budget, a chain that
    /// ran out of rounds); empty for methods that have nothing to report.
    pub fn notes(&self) -> Vec<String> {
        match self {
            FittedClassical::Iterative(f) => f.notes(),
            _ => Vec::new(),
        }
    }

    fn inner(&self) -> &dyn FittedImputer<Error = crate::Error> {
        match self {
            FittedClassical::CaseDeletion(f) => f,
            FittedClassical::Simple(f) => f,
            FittedClassical::Knn(f) => f,
            FittedClassical::Iterative(f) => f,
            FittedClassical::MissForest(f) => f,
        }
    }
}

impl FittedImputer for FittedClassical {
    type Error = crate::Error;

    fn schema(&self) -> &Schema {
        self.inner().schema()
    }

    fn transform(&self, table: &Table) -> crate::Result<Table> {
        self.inner().transform(table)
    }
}

macro_rules! classical {
    ($params:ident, $fitted:ident, $variant:ident) => {
        impl From<$params> for ClassicalImputer {
            fn from(params: $params) -> Self {
                ClassicalImputer::$variant(params)
            }
        }

        impl From<$fitted> for FittedClassical {
            fn from(fitted: $fitted) -> Self {
                FittedClassical::$variant(fitted)
            }
        }
    };
}

classical!(CaseDeletion, FittedCaseDeletion, CaseDeletion);
classical!(SimpleImputer, FittedSimple, Simple);
classical!(KnnImputer, FittedKnn, Knn);
classical!(IterativeImputer, FittedIterative, Iterative);
classical!(MissForestImputer, FittedMissForest, MissForest);
