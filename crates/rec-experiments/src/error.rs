//! The crate's error type: the errors of the crates it drives, its own failures, and a
//! context layer naming what was being done (the cell, the file) when something failed.

use std::fmt::Display;

/// Everything that can go wrong while running a grid, scoring hidden cells or writing reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting of a grid is out of range or names something unknown.
    #[error("invalid setting: {0}")]
    Config(String),
    /// The data did not have the shape a task needs (a row without a target, say).
    #[error("{0}")]
    Data(String),
    /// The build lacks a feature the settings ask for.
    #[error("this build of recimpute has no {what}: rebuild with `--features {feature}` (or `full`)")]
    NotBuilt {
        /// What is missing, e.g. "LLM imputer".
        what: &'static str,
        /// The cargo feature that brings it.
        feature: &'static str,
    },
    /// Drawing a plot failed.
    #[error("drawing failed: {0}")]
    Plot(String),
    /// Reading or writing a file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A JSON file or value.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Tables, their files and the estimator traits.
    #[error(transparent)]
    Table(#[from] rec_table::Error),
    /// Loaders, missingness injection, splits.
    #[error(transparent)]
    Dataset(#[from] rec_datasets::Error),
    /// Metrics.
    #[error(transparent)]
    Metrics(#[from] rec_metrics::Error),
    /// The classical imputers.
    #[error(transparent)]
    Imputer(#[from] imputers_baseline::Error),
    /// The DLRM recommender.
    #[cfg(feature = "dlrm")]
    #[error(transparent)]
    Dlrm(#[from] dlrm::Error),
    /// The LLM imputer.
    #[cfg(feature = "llm")]
    #[error(transparent)]
    Llm(#[from] llm_imputer::Error),
    /// What was being done when `source` happened; its text is only the context, the cause
    /// comes through [`std::error::Error::source`].
    #[error("{context}")]
    Context {
        /// E.g. "cell adclick__knn__mcar__r0050__s0".
        context: String,
        /// The failure.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// The message and every cause, joined by ": ", skipping a cause the text already holds.
    pub fn chain_text(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let s = c.to_string();
            if !text.contains(&s) {
                text = format!("{text}: {s}");
            }
            cause = c.source();
        }
        text
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds what was being done to an error (as `anyhow::Context` does, but typed).
pub trait Context<T> {
    /// Wraps the error with `context`.
    fn context(self, context: impl Display) -> Result<T>;
    /// Wraps the error with the context `f` builds (only on failure).
    fn with_context<D: Display>(self, f: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Display) -> Result<T> {
        self.map_err(|e| Error::Context { context: context.to_string(), source: Box::new(e.into()) })
    }
    fn with_context<D: Display>(self, f: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| Error::Context { context: f().to_string(), source: Box::new(e.into()) })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Display) -> Result<T> {
        self.ok_or_else(|| Error::Data(context.to_string()))
    }
    fn with_context<D: Display>(self, f: impl FnOnce() -> D) -> Result<T> {
        self.ok_or_else(|| Error::Data(f().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_cause_as_source() {
        let io: std::result::Result<(), _> = Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
        let e = io.context("reading cells/a.json").unwrap_err();
        assert_eq!(e.to_string(), "reading cells/a.json");
        assert_eq!(e.chain_text(), "reading cells/a.json: gone");
        assert!(matches!(None::<u8>.context("no train table"), Err(Error::Data(m)) if m == "no train table"));
    }
}
