//! Saving fitted imputers to a file and loading them back, in another process if need be.
//!
//! # The file format (version 1)
//!
//! One JSON object (UTF-8), written atomically:
//!
//! ```json
//! {
//!   "format": "recimpute.imputer",
//!   "version": 1,
//!   "imputer": { "method": "knn", "fitted": { … } },
//!   "domain": { "columns": [ … ] }
//! }
//! ```
//!
//! - `method` is one of `case_deletion`, `simple`, `knn`, `iterative`, `missforest`; `fitted`
//!   is that fitted imputer's state: the schema it was fitted on (names, kinds), the
//!   vocabulary of each categorical column, the numeric statistics, and what the method
//!   learnt (fills, donor rows, regression weights, trees). A numeric value that was missing
//!   (NaN) is written as `null`. Numbers are written so that they read back bit for bit, so a
//!   loaded imputer fills exactly as the one that was saved.
//! - `domain` (optional) is the [`FillDomain`] of the training table, which the CLI uses to
//!   make fills valid values; `null` or absent when none was saved.
//!
//! A file of a later version, or one that is not an imputer file, is refused with an error
//! that names it; the version is raised whenever a change would make old files read
//! differently.
//!
//! ```
//! use imputers_baseline::{FittedKnn, KnnImputer};
//! use rec_table::{read_csv_bytes, CsvOptions, FittedImputer, Imputer};
//!
//! let train = read_csv_bytes(b"age,city\n20,Paris\n30,\n,Rome\n40,Paris\n", "t.csv", &CsvOptions::default())?;
//! let fitted = KnnImputer::new(2).fit(&train)?;
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("knn.json");
//! fitted.save(&path)?;
//! let loaded = FittedKnn::load(&path)?;
//! assert_eq!(loaded.transform(&train)?, fitted.transform(&train)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::classical::FittedClassical;
use crate::deletion::FittedCaseDeletion;
use crate::domain::FillDomain;
use crate::error::{Error, Result};
use crate::iterative::FittedIterative;
use crate::knn::FittedKnn;
use crate::missforest::FittedMissForest;
use crate::simple::FittedSimple;

/// The `format` field of every imputer file.
pub const FORMAT: &str = "recimpute.imputer";
/// The version this build writes and the newest it reads.
pub const VERSION: u32 = 1;

/// The borrowed twin of [`FittedClassical`], so that saving one imputer copies nothing.
#[derive(Serialize)]
#[serde(tag = "method", content = "fitted", rename_all = "snake_case")]
enum FittedRef<'a> {
    CaseDeletion(&'a FittedCaseDeletion),
    Simple(&'a FittedSimple),
    Knn(&'a FittedKnn),
    Iterative(&'a FittedIterative),
    #[serde(rename = "missforest")]
    MissForest(&'a FittedMissForest),
}

impl Serialize for FittedClassical {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.as_ref().serialize(s)
    }
}

impl FittedClassical {
    fn as_ref(&self) -> FittedRef<'_> {
        match self {
            FittedClassical::CaseDeletion(f) => FittedRef::CaseDeletion(f),
            FittedClassical::Simple(f) => FittedRef::Simple(f),
            FittedClassical::Knn(f) => FittedRef::Knn(f),
            FittedClassical::Iterative(f) => FittedRef::Iterative(f),
            FittedClassical::MissForest(f) => FittedRef::MissForest(f),
        }
    }

    /// Saves to `path` (atomically), without a fill domain.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_file(path, self.as_ref(), None)
    }

    /// Loads any imputer file (its fill domain, if any, is dropped; see [`SavedImputer`]).
    pub fn load(path: &Path) -> Result<Self> {
        Ok(SavedImputer::load(path)?.imputer)
    }
}

/// The whole content of an imputer file: the fitted imputer and, optionally, the valid fills
/// of the table it was fitted on.
#[derive(Debug, Clone)]
pub struct SavedImputer {
    /// The fitted imputer.
    pub imputer: FittedClassical,
    /// The training table's [`FillDomain`], when it was saved with one.
    pub domain: Option<FillDomain>,
}

impl SavedImputer {
    /// Writes the file (atomically: a crash leaves the old file or none, never half of one).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_file(path, self.imputer.as_ref(), self.domain.as_ref())
    }

    /// Reads a file written by [`SavedImputer::save`] or any fitted imputer's `save`.
    pub fn load(path: &Path) -> Result<Self> {
        let file =
            File::open(path).map_err(|e| Error::file(&path.display().to_string(), format!("cannot open: {e}")))?;
        Self::from_reader(BufReader::new(file), &path.display().to_string())
    }

    /// Writes the file's JSON to `writer` (not atomic; [`SavedImputer::save`] is).
    pub fn to_writer(&self, writer: impl Write) -> Result<()> {
        serde_json::to_writer(writer, &Written::new(self.imputer.as_ref(), self.domain.as_ref()))
            .map_err(|e| Error::file("imputer file", e.to_string()))
    }

    /// Reads the JSON of an imputer file from `reader`; `source` names it in errors.
    pub fn from_reader(mut reader: impl Read, source: &str) -> Result<Self> {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map_err(|e| Error::file(source, e.to_string()))?;
        check_header(&bytes, source)?;
        let file: Loaded = serde_json::from_slice(&bytes).map_err(|e| Error::file(source, e.to_string()))?;
        Ok(SavedImputer { imputer: file.imputer, domain: file.domain })
    }
}

#[derive(Serialize)]
struct Written<'a> {
    format: &'static str,
    version: u32,
    imputer: FittedRef<'a>,
    domain: Option<&'a FillDomain>,
}

impl<'a> Written<'a> {
    fn new(imputer: FittedRef<'a>, domain: Option<&'a FillDomain>) -> Self {
        Written { format: FORMAT, version: VERSION, imputer, domain }
    }
}

#[derive(Deserialize)]
struct Loaded {
    imputer: FittedClassical,
    #[serde(default)]
    domain: Option<FillDomain>,
}

/// The two fields every version has, read first so that a foreign file or a newer version is
/// named as such rather than as a parse error deep inside.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u32>,
}

fn check_header(bytes: &[u8], source: &str) -> Result<()> {
    let header: Header = serde_json::from_slice(bytes).map_err(|e| {
        Error::file(source, format!("not an imputer file (expected JSON with \"format\": \"{FORMAT}\"): {e}"))
    })?;
    match (header.format.as_deref(), header.version) {
        (Some(FORMAT), Some(v)) if v <= VERSION => Ok(()),
        (Some(FORMAT), Some(v)) => Err(Error::file(
            source,
            format!("version {v} of the imputer file format; this build reads up to version {VERSION}"),
        )),
        (Some(FORMAT), None) => Err(Error::file(source, "the imputer file has no \"version\"")),
        (other, _) => {
            Err(Error::file(source, format!("not an imputer file: \"format\" is {other:?}, expected \"{FORMAT}\"")))
        }
    }
}

fn write_file(path: &Path, imputer: FittedRef<'_>, domain: Option<&FillDomain>) -> Result<()> {
    let file = Written::new(imputer, domain);
    rec_table::write_atomic(path, |w| Ok(serde_json::to_writer(w, &file)?)).map_err(Error::Table)
}

/// `save`/`load` on each fitted imputer; `load` refuses a file of another method.
macro_rules! persist {
    ($fitted:ident, $variant:ident, $method:literal) => {
        impl $fitted {
            #[doc = concat!("Saves this fitted imputer to `path` (atomically) as a `", $method, "` imputer file")]
            /// (format: [`crate::persist`]).
            pub fn save(&self, path: &Path) -> Result<()> {
                write_file(path, FittedRef::$variant(self), None)
            }

            #[doc = concat!("Loads a `", $method, "` imputer file; a file of another method is refused.")]
            pub fn load(path: &Path) -> Result<Self> {
                match FittedClassical::load(path)? {
                    FittedClassical::$variant(fitted) => Ok(fitted),
                    other => Err(Error::file(
                        &path.display().to_string(),
                        format!("holds a {} imputer, not {}", other.method(), $method),
                    )),
                }
            }
        }
    };
}

persist!(FittedCaseDeletion, CaseDeletion, "case_deletion");
persist!(FittedSimple, Simple, "simple");
persist!(FittedKnn, Knn, "knn");
persist!(FittedIterative, Iterative, "iterative");
persist!(FittedMissForest, MissForest, "missforest");
