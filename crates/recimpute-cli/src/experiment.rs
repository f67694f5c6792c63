//! `experiment`, `report`, `quality` and `demo`: thin shells over the grids of `rec-experiments`.

use super::*;
use recimpute::experiment::{self as exp, ExperimentConfig};

/// A comma-separated list flag, parsed when given.
fn parsed<T: std::str::FromStr<Err = String>>(flag: Option<Vec<String>>) -> Result<Option<Vec<T>>> {
    flag.as_deref().map(parse_all).transpose()
}

fn parse_all<T: std::str::FromStr<Err = String>>(items: &[String]) -> Result<Vec<T>> {
    items.iter().map(|s| s.trim().parse::<T>().map_err(anyhow::Error::msg)).collect()
}

/// The config file if given, else the defaults.
fn load_config<T: serde::de::DeserializeOwned + Default>(path: Option<&std::path::Path>, what: &str) -> Result<T> {
    match path {
        Some(path) => {
            serde_json::from_slice::<T>(&std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
                .with_context(|| format!("{}: not a valid {what} config", path.display()))
        }
        None => Ok(T::default()),
    }
}

/// The [`GridFields`] of an `ExperimentConfig` or a `QualityConfig` (same field names).
macro_rules! grid_fields {
    ($c:expr) => {
        GridFields {
            out_dir: &mut $c.out_dir,
            data_dir: &mut $c.data_dir,
            imputers: &mut $c.imputers,
            patterns: &mut $c.patterns,
            rates: &mut $c.rates,
            seeds: &mut $c.seeds,
            llm: &mut $c.llm,
        }
    };
}

/// The fields of a grid's config that [`GridArgs`] overrides.
struct GridFields<'a> {
    out_dir: &'a mut PathBuf,
    data_dir: &'a mut Option<PathBuf>,
    imputers: &'a mut Vec<exp::ImputerName>,
    patterns: &'a mut Vec<exp::Pattern>,
    rates: &'a mut Vec<f64>,
    seeds: &'a mut Vec<u64>,
    llm: &'a mut exp::LlmSettings,
}

impl GridArgs {
    /// Sets the fields whose flags were given.
    fn apply(self, c: GridFields<'_>) -> Result<()> {
        set(c.out_dir, self.out);
        set(c.data_dir, self.data.map(Some));
        set(c.imputers, parsed(self.imputers)?);
        set(c.patterns, parsed(self.patterns)?);
        set(c.rates, self.rates);
        set(c.seeds, self.seeds);
        self.llm.apply(c.llm);
        Ok(())
    }
}

/// Prints a line before each cell of a grid.
fn announce<C: exp::grid::GridCell>(start: std::time::Instant) -> impl FnMut(usize, usize, &C, bool) {
    move |i, n, cell, reused| {
        let what = if reused { "reused" } else { "running" };
        eprintln!("[{:>3}/{n}] {what} {} ({:.0}s elapsed)", i + 1, cell.key(), start.elapsed().as_secs_f64());
    }
}

pub fn run(args: ExperimentArgs) -> Result<()> {
    let mut config: ExperimentConfig = load_config(args.grid.config.as_deref(), "experiment")?;
    set(&mut config.tasks, parsed(args.tasks)?);
    set(&mut config.dlrm.epochs, args.epochs);
    args.grid.apply(grid_fields!(config))?;
    execute(&config)
}

fn execute(config: &ExperimentConfig) -> Result<()> {
    let start = std::time::Instant::now();
    let outcome = exp::run_grid(config, announce(start))?;
    emit(&format!(
        "{} cells ({} computed, {} reused) in {:.1}s\nreport: {}\n",
        outcome.results.len(),
        outcome.computed,
        outcome.reused,
        start.elapsed().as_secs_f64(),
        config.out_dir.join("report.md").display()
    ))
}

pub fn quality(args: QualityArgs) -> Result<()> {
    let mut config: exp::QualityConfig = load_config(args.grid.config.as_deref(), "quality")?;
    set(&mut config.tables, parsed(args.tables)?);
    args.grid.apply(grid_fields!(config))?;
    let start = std::time::Instant::now();
    let results = exp::run_quality(&config, announce(start))?;
    emit(&format!(
        "{} cells in {:.1}s\nreport: {}\n",
        results.len(),
        start.elapsed().as_secs_f64(),
        config.out_dir.join("quality.md").display()
    ))
}

pub fn report(out: PathBuf) -> Result<()> {
    let results = exp::load_results(&out)?;
    exp::write_report(&out, &results)?;
    emit(&format!("{} cells; report: {}\n", results.len(), out.join("report.md").display()))
}

pub fn demo(out: PathBuf, data: Option<PathBuf>) -> Result<()> {
    let mut config = match data {
        None => ExperimentConfig { out_dir: out, ..ExperimentConfig::demo() },
        Some(dir) => ExperimentConfig { out_dir: out, data_dir: Some(dir), ..ExperimentConfig::default() },
    };
    let llm_note = llm_in_demo(&mut config);
    eprintln!(
        "recimpute demo: tasks {:?}, imputers {:?}, {:?} at {:?}, seeds {:?}. {llm_note}",
        config.tasks.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        config.imputers.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        config.patterns.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        config.rates,
        config.seeds
    );
    execute(&config)
}

/// Adds the LLM imputer to the demo grid when this build has it and the model is there.
#[cfg(feature = "llm")]
fn llm_in_demo(config: &mut ExperimentConfig) -> String {
    let model = recimpute::llm::Backbone::default_smollm2();
    if !model.path().is_file() {
        return format!(
            "The LLM imputer is left out: {} is missing (`cargo xtask fetch-model` downloads it).",
            model.path().display()
        );
    }
    config.imputers.push(exp::ImputerName::Llm);
    format!("The LLM imputer fine-tunes {} (LoRA, every linear layer) on the table's cells.", model.name())
}

#[cfg(not(feature = "llm"))]
fn llm_in_demo(_: &mut ExperimentConfig) -> String {
    "This build has no LLM imputer (feature `llm`): only the classical imputers run.".into()
}
