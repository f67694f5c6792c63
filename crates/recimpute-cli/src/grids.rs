//! What every grid command shares (config file, flags over it, progress lines), and the
//! grid commands that need no libtorch: `quality` and `report`.

use super::*;
use recimpute::experiment::{self as exp};

/// The config file if given, else the defaults.
pub(crate) fn load_config<T: serde::de::DeserializeOwned + Default>(
    path: Option<&std::path::Path>,
    what: &str,
) -> Result<T> {
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
        $crate::grids::GridFields {
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
#[cfg_attr(not(feature = "dlrm"), allow(unused_imports))]
pub(crate) use grid_fields;

/// The fields of a grid's config that [`GridArgs`] overrides.
pub(crate) struct GridFields<'a> {
    pub(crate) out_dir: &'a mut PathBuf,
    pub(crate) data_dir: &'a mut Option<PathBuf>,
    pub(crate) imputers: &'a mut Vec<exp::ImputerName>,
    pub(crate) patterns: &'a mut Vec<exp::Pattern>,
    pub(crate) rates: &'a mut Vec<f64>,
    pub(crate) seeds: &'a mut Vec<u64>,
    pub(crate) llm: &'a mut exp::LlmImputerConfig,
}

impl GridArgs {
    /// Sets the fields whose flags were given.
    pub(crate) fn apply(self, c: GridFields<'_>) -> Result<()> {
        set(c.out_dir, self.out);
        set(c.data_dir, self.data.map(Some));
        set(c.imputers, self.imputers);
        set(c.patterns, self.patterns);
        set(c.rates, self.rates);
        set(c.seeds, self.seeds);
        self.llm.apply(c.llm)
    }
}

/// Prints a line before each cell of a grid.
pub(crate) fn announce<C: exp::grid::GridCell>(start: std::time::Instant) -> impl FnMut(usize, usize, &C, bool) {
    move |i, n, cell, reused| {
        let what = if reused { "reused" } else { "running" };
        eprintln!("[{:>3}/{n}] {what} {} ({:.0}s elapsed)", i + 1, cell.key(), start.elapsed().as_secs_f64());
    }
}

pub fn quality(args: QualityArgs) -> Result<()> {
    let mut config: exp::QualityConfig = load_config(args.grid.config.as_deref(), "quality")?;
    let given = !args.files.is_empty() || args.tables.is_some();
    let mut tables = args.tables.unwrap_or_default();
    tables.extend(args.files.into_iter().map(exp::QualityTable::File));
    if given {
        config.tables = tables;
    }
    set(&mut config.columns, args.columns);
    if args.score_cells.is_some() {
        config.score_cells = args.score_cells;
    }
    let read = args.read.settings()?;
    if read != ReadSettings::default() {
        config.read = read;
    }
    args.grid.apply(grid_fields!(config))?;
    for table in &config.tables {
        if let exp::QualityTable::File(path) = table {
            csv_options_noted(&config.read, path)?;
        }
    }
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
