//! The experiments of recimpute, as a library: the grid runner of the paper's tasks, the
//! imputation-quality grid, their reports and plots, and the scorer of hidden cells. The
//! `recimpute` command line (crate `recimpute-cli`) is a thin shell over this crate.
//!
//! The experiment grid (feature `dlrm`, as it trains a DLRM): a grid of (task, imputer,
//! missingness pattern and rate, seed); for each cell, mask → split → fit the imputer on train → fill train and test → train a DLRM →
//! evaluate, recording imputation quality, downstream metrics, timings and peak memory.
//!
//! Cells are independent and each is saved as `cells/<key>.json` (atomically) as soon as it
//! finishes; a rerun skips the cells already saved, so an interrupted grid resumes where it
//! stopped. The resolved configuration is saved as `config.json`, the collected results as
//! `results.json`, the tables as `report.md` and its plots as PNG and SVG under `plots/`.
//!
//! How each task is built:
//! - `adclick` / `synthetic-adclick`: holes are injected into observed feature cells (never
//!   into `click`); rows are split 80/20 (AdClick by user id, so copies of a row stay
//!   together); the imputer is fitted on the training features only (never the target) and
//!   fills train and test; deletion drops incomplete training rows and leaves test rows as they
//!   are (the DLRM encodes a missing cell as its own value).
//! - `movielens-class` / `movielens-regression`: holes are injected into the user table (age,
//!   gender, occupation, region) and the item table (year, genres); the imputer fills those
//!   tables, which are then joined with the ratings of the standard u1 split. Deletion drops
//!   the training ratings whose user or item is incomplete. Both MovieLens tasks hide the same
//!   cells for a given (imputer, pattern, rate, seed), so the first saves its filled user and
//!   item tables under `imputed/` (Parquet, atomically) and the second reuses them: the LLM
//!   imputer fine-tunes once per table and seed, not once per task. A reused fill reports
//!   the time computing it took, and a fill saved with other settings is recomputed.
//! - `table`: your own file, as the config's `TableTask` says (target, split group, ranking
//!   column, attribute tables); built like AdClick. Rows without a target are left out and
//!   counted; the target, the group and ranking columns, the join keys, ids and free text are
//!   never hidden. Attribute tables (users, items) are masked and filled per table, like
//!   MovieLens' user and item tables, and joined onto the rows by key before the recommender
//!   trains; a split grouped by an id column is a cold-start split (the grid's
//!   `cold_id_dropout` trains the unknown-id embedding).
//!
//! The quality grid (no feature needed) hides observed cells of a table (a built-in one or any
//! CSV/Parquet file), imputes them and scores the hidden cells per column (`run_quality`).
//! Both grids run on one engine (`grid`): cells saved atomically as they finish, resumed on
//! rerun. [`truth`] does the same for any tool: it hides cells of a table, writes their ground
//! truth to a file, and scores a filled copy against it.
//!
//! One registry of imputers, [`ImputerName`]: a name (`knn`, `missforest`, ...) builds the same
//! model in the grids, the command line and the library ([`ImputerName::build`]).
//!
//! # Public API
//!
//! | item | what it is |
//! |---|---|
//! | [`ImputerName`], [`ImputerParams`] | the registry of imputers |
//! | [`score_hidden`] | per-column quality of an imputation on cells hidden on purpose |
//! | [`truth`] | hide cells of any table, write and read their ground truth, score any fill |
//! | [`QualityConfig`], [`run_quality`], [`quality_markdown`] | the imputation-quality grid |
//! | [`load_results`], [`write_report`] | an experiment's report and plots from its saved cells |
//! | [`LlmImputerConfig`], [`llm_cell_config`] | the LLM imputer's settings in a grid, and one cell's |
//! | [`Error`], [`Result`], [`Context`] | the crate's typed errors |
//! | `ExperimentConfig`, `run_grid`, `run_cell` (feature `dlrm`) | the downstream grid (trains a DLRM) |
//! | [`grid::run_cells`], [`grid::load_cells`] | the engine both grids run on |
//!
//! # Example
//!
//! Hide 10% of a generated table, fill it with the mean and score the hidden cells:
//!
//! ```
//! use rec_datasets::missingness::{inject, MissingnessConfig};
//! use rec_table::{FittedImputer, Imputer};
//!
//! let table = rec_datasets::synthetic::adclick_like(200, 1)?;
//! let hidden = inject(&table, &MissingnessConfig::mcar(0.1, 3))?;
//! let filled = imputers_baseline::SimpleImputer::mean().fit(&hidden.table)?.transform(&hidden.table)?;
//! let report = rec_experiments::score_hidden(&table, &hidden.mask, &filled, Some)?;
//! assert!(report.get("age").is_some());
//! # Ok::<(), rec_experiments::Error>(())
//! ```

mod cell;
mod downstream;
mod error;
pub mod grid;
mod hidden;
mod llm;
mod names;
mod paired;
mod plots;
mod quality;
mod report;
pub mod truth;

#[cfg(feature = "dlrm")]
mod config;
#[cfg(feature = "dlrm")]
mod run;

pub use cell::{data_dir, peak_rss_mib, CellResult, CellSpec, LossPoint, Timings};
pub use downstream::Downstream;
pub use error::{Context, Error, Result};
pub use grid::GridOutcome;
pub use hidden::score_hidden;
pub use llm::{llm_cell_config, LlmImputerConfig};
pub use names::{ImputerName, ImputerParams, MovielensSplit, MovielensTask, Pattern, TaskName};
pub use paired::{paired, Paired};
pub use plots::{write_plots, Plot, PlotPlace, PLOTS_DIR};
pub use quality::{
    quality_cells, quality_markdown, run_quality, run_quality_cell, LlmCellReport, QualityConfig, QualityResult,
    QualitySpec, QualityTable,
};
pub use report::{markdown, markdown_with_plots, mean_std, primary_metric};

#[cfg(feature = "dlrm")]
pub use config::{grid_dlrm, AttributeTable, ExperimentConfig, TableTask};
#[cfg(feature = "dlrm")]
pub use run::{movielens_split, run_cell};

#[cfg(feature = "dlrm")]
pub use experiment::{cells, run_grid};
pub use experiment::{load_results, write_report};

mod experiment {
    use std::path::Path;

    use crate::cell::CellResult;
    use crate::grid;
    #[cfg(feature = "dlrm")]
    use crate::{
        cell::{data_dir, CellSpec},
        config::ExperimentConfig,
        grid::GridOutcome,
        names::TaskName,
        run::run_cell,
    };
    use crate::{Error, Result};

    /// Every cell of the grid, in a stable order.
    #[cfg(feature = "dlrm")]
    pub fn cells(config: &ExperimentConfig) -> Vec<CellSpec> {
        grid::axes(&config.tasks, &config.patterns, &config.rates, &config.seeds, &config.imputers)
            .map(|(task, pattern, rate, seed, imputer)| CellSpec { task, imputer, pattern, rate, seed })
            .collect()
    }

    /// Runs (or resumes) a grid and writes its results and report into `config.out_dir`.
    ///
    /// `on_cell` is called before each cell with its index, the total, the cell and whether
    /// its result was found on disk.
    #[cfg(feature = "dlrm")]
    pub fn run_grid(
        config: &ExperimentConfig,
        on_cell: impl FnMut(usize, usize, &CellSpec, bool),
    ) -> Result<GridOutcome<CellResult>> {
        config.validate().map_err(Error::Config)?;
        // The generated task needs no files: only look for the data when a task reads it.
        let data = if config.tasks.iter().all(|t| matches!(t, TaskName::SyntheticAdclick | TaskName::Table)) {
            std::path::PathBuf::new()
        } else {
            data_dir(config.data_dir.as_deref())?
        };
        let outcome =
            grid::run_cells(&config.out_dir, config, &cells(config), |spec| run_cell(spec, &data, config), on_cell)?;
        write_report(&config.out_dir, &outcome.results)?;
        Ok(outcome)
    }

    /// Reads every `cells/*.json` under `out_dir`.
    pub fn load_results(out_dir: &Path) -> Result<Vec<CellResult>> {
        grid::load_cells(out_dir)
    }

    /// Writes `results.json`, the plots (PNG and SVG under `plots/`) and `report.md`, which
    /// embeds them, for `results` into `out_dir`.
    pub fn write_report(out_dir: &Path, results: &[CellResult]) -> Result<()> {
        grid::write_json(&out_dir.join("results.json"), &results)?;
        let plots = match crate::plots::write_plots(out_dir, results) {
            Ok(plots) => plots,
            Err(e) => {
                // Keep the tables even when a plot cannot be drawn.
                let md = out_dir.join("report.md");
                rec_table::write_bytes_atomic(&md, crate::report::markdown(results).as_bytes())?;
                return Err(Error::Context {
                    context: format!("{} has the tables but no plots", md.display()),
                    source: Box::new(e),
                });
            }
        };
        let md = crate::report::markdown_with_plots(results, &plots);
        rec_table::write_bytes_atomic(&out_dir.join("report.md"), md.as_bytes())?;
        Ok(())
    }
}
