//! recimpute: fill the missing cells of recommender data with a fine-tuned language model, and
//! measure what it does to a recommender trained on the filled table.
//!
//! This facade re-exports the workspace's crates as modules, so one dependency gives the
//! whole toolkit:
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`table`] | `rec-table` | `Table` over Arrow, column kinds, CSV/Parquet IO, the `Imputer` and `Recommender` traits |
//! | [`datasets`] | `rec-datasets` | MovieLens and AdClick loaders, missingness injection, splits, synthetic tables |
//! | [`metrics`] | `rec-metrics` | classification, regression, ranking and imputation-quality metrics |
//! | [`baseline`] | `imputers-baseline` | deletion, constant, mean/median/mode, KNN, iterative, random-forest imputers |
//! | [`codec`] | `prompt-codec` | rows as text prompts, value parsing, value grammars |
//! | `lm` (feature `llm`) | `gpt2-lora` | GPT-2 / Llama on libtorch with LoRA, trainer, generation |
//! | `recommender` (feature `dlrm`) | `dlrm` | the DLRM recommendation model on libtorch |
//! | [`llm_config`] | `llm-config` | the LoRA, trainer and LLM imputer settings as plain serde types (no libtorch): what grids, CLIs and config files hold |
//! | `llm` (feature `llm`) | `llm-imputer` | `LlmImputer`: LoRA fine-tune of a causal LM on the table's cells (value-only loss, held-out check), scored or grammar-constrained imputation |
//! | [`experiment`] | `rec-experiments` | the imputer registry, the quality grid on built-in tables or your own files, hidden-cell masks and scores, reports and plots; with `dlrm`, the experiment grid |
//!
//! The `recimpute` command line is the separate crate `recimpute-cli`, so a library user
//! compiles neither its argument parser nor its error reporting.
//!
//! # Features
//!
//! - `dlrm`: the DLRM recommender (needs libtorch at build time).
//! - `llm`: the language-model engine (needs libtorch at build time).
//! - `full`: both.
//!
//! Without features, everything that needs no libtorch builds and runs. `cargo xtask setup`
//! installs libtorch (PyPI `torch==2.13.0`) into a cache and `cargo xtask env` prints the
//! variables cargo needs to build with it.
//!
//! # Example
//!
//! Read a table with holes, fill it with KNN, and check that every hole is filled and no
//! observed cell changed:
//!
//! ```
//! use recimpute::prelude::*;
//!
//! let csv = b"age,device\n22,Desktop\n,Mobile\n41,\n23,Desktop\n40,Mobile\n";
//! let table = read_csv_bytes(csv, "ads.csv", &CsvOptions::default())?;
//! assert_eq!(table.missing_per_column(), [1, 1]);
//!
//! let filled = KnnImputer::new(2).fit(&table)?.transform(&table)?;
//! assert_eq!(filled.missing_per_column(), [0, 0]);
//! assert_eq!(filled.value(0, 0), Some(Value::Number(22.0)));
//! assert!(matches!(filled.value(2, 1), Some(Value::Category(_))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use imputers_baseline as baseline;
pub use llm_config;
pub use prompt_codec as codec;
pub use rec_datasets as datasets;
pub use rec_metrics as metrics;
pub use rec_progress as progress;
pub use rec_table as table;

#[cfg(feature = "dlrm")]
pub use dlrm as recommender;

#[cfg(feature = "llm")]
pub use gpt2_lora as lm;
#[cfg(feature = "llm")]
pub use llm_imputer as llm;
pub use rec_experiments as experiment;

/// The names most programs need, in one `use`: tables and their files, the estimator traits,
/// and the estimators.
pub mod prelude {
    #[cfg(feature = "dlrm")]
    pub use dlrm::{Dlrm, DlrmConfig, TaskKind};
    pub use imputers_baseline::{
        CaseDeletion, ClassicalImputer, FittedClassical, IterativeImputer, KnnImputer, KnnWeights, MissForestImputer,
        SavedImputer, SimpleImputer,
    };
    #[cfg(feature = "llm")]
    pub use llm_imputer::{Backbone, LlmImputer, LlmImputerConfig};
    pub use rec_table::{
        read_csv, read_csv_bytes, read_parquet, read_table, write_csv, write_parquet, write_table, Cell, ColumnKind,
        ColumnSpec, CsvOptions, DynImputer, FittedImputer, FittedRecommender, Imputer, ReadSettings, Recommender,
        Schema, Table, Task, Value,
    };
}
