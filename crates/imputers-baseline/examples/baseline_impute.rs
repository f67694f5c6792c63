//! Imputes a CSV file with one of the crate's imputers and reports the median time of
//! fit + transform over several runs, and the process's peak resident memory.
//!
//! ```text
//! cargo run --release -p imputers-baseline --example baseline_impute -- \
//!     --method knn --k 5 --input masked.csv --output imputed.csv --repeats 3
//! ```
//!
//! Prints `median_fit_transform_s=<seconds>` and `peak_rss_kb=<kB>` (Linux) on stdout.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use imputers_baseline::{
    CaseDeletion, ClassicalImputer, ForestParams, IterativeImputer, KnnImputer, KnnWeights, LabelModel,
    MissForestImputer, NumericModel, SimpleImputer,
};
use rec_table::{read_csv, write_csv, ColumnKind, CsvOptions, FittedImputer, Imputer};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Method {
    Deletion,
    Zero,
    Mean,
    Median,
    Mode,
    Knn,
    Iterative,
    Missforest,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Estimator {
    BayesianRidge,
    Ridge,
}

#[derive(Debug, Parser)]
#[command(about = "Impute a CSV file with a baseline imputer and time it")]
struct Args {
    /// The imputer.
    #[arg(long, value_enum)]
    method: Method,
    /// Neighbours (knn).
    #[arg(long, default_value_t = 5)]
    k: usize,
    /// Weight donors by inverse distance (knn).
    #[arg(long)]
    distance_weights: bool,
    /// Do not standardise numeric columns (knn).
    #[arg(long)]
    no_standardize: bool,
    /// Numeric model (iterative).
    #[arg(long, value_enum, default_value_t = Estimator::BayesianRidge)]
    estimator: Estimator,
    /// Impute categorical columns by regressing their one-hot columns, as scikit-learn's
    /// IterativeImputer does on one-hot encoded data (iterative).
    #[arg(long)]
    onehot_regression: bool,
    /// Inverse L2 penalty of the logistic label model (iterative).
    #[arg(long, default_value_t = 1.0)]
    c: f64,
    /// Ridge penalty (iterative with --estimator ridge).
    #[arg(long, default_value_t = 1.0)]
    alpha: f64,
    /// Most rounds (iterative, missforest).
    #[arg(long, default_value_t = 10)]
    max_iter: usize,
    /// Tolerance (iterative).
    #[arg(long, default_value_t = 1e-3)]
    tol: f64,
    /// Trees per forest (missforest).
    #[arg(long, default_value_t = 100)]
    trees: usize,
    /// Seed (missforest).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Columns to read as categorical, comma-separated (others are inferred).
    #[arg(long, value_delimiter = ',')]
    categorical: Vec<String>,
    /// Input CSV; empty fields are missing cells.
    #[arg(long)]
    input: PathBuf,
    /// Output CSV.
    #[arg(long)]
    output: PathBuf,
    /// Timed runs of fit + transform; the median is reported.
    #[arg(long, default_value_t = 1)]
    repeats: usize,
}

fn imputer(args: &Args) -> ClassicalImputer {
    match args.method {
        Method::Deletion => CaseDeletion::new().into(),
        Method::Zero => SimpleImputer::zero().into(),
        Method::Mean => SimpleImputer::mean().into(),
        Method::Median => SimpleImputer::median().into(),
        Method::Mode => SimpleImputer::mode().into(),
        Method::Knn => KnnImputer::new(args.k)
            .with_weights(if args.distance_weights { KnnWeights::Distance } else { KnnWeights::Uniform })
            .with_standardize(!args.no_standardize)
            .into(),
        Method::Iterative => IterativeImputer::new()
            .with_numeric_model(match args.estimator {
                Estimator::BayesianRidge => NumericModel::BayesianRidge,
                Estimator::Ridge => NumericModel::Ridge { alpha: args.alpha },
            })
            .with_label_model(if args.onehot_regression {
                LabelModel::OneHotRegression
            } else {
                LabelModel::Logistic { c: args.c }
            })
            .with_max_iter(args.max_iter)
            .with_tol(args.tol)
            .into(),
        Method::Missforest => MissForestImputer::new()
            .with_forest(ForestParams { n_trees: args.trees, ..ForestParams::default() })
            .with_max_iter(args.max_iter)
            .with_seed(args.seed)
            .into(),
    }
}

/// Peak resident set size of this process in kB (`VmHWM`), where `/proc` has it.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut opts = CsvOptions::default();
    for c in &args.categorical {
        opts = opts.with_kind(c.clone(), ColumnKind::Categorical);
    }
    let table = read_csv(&args.input, &opts).with_context(|| format!("reading {}", args.input.display()))?;
    let imputer = imputer(&args);
    let mut times = Vec::new();
    let mut out = None;
    for _ in 0..args.repeats.max(1) {
        let start = Instant::now();
        let fitted = imputer.fit(&table)?;
        let filled = fitted.transform(&table)?;
        times.push(start.elapsed().as_secs_f64());
        out = Some(filled);
    }
    let out = out.context("no run")?;
    write_csv(&out, &args.output, &opts).with_context(|| format!("writing {}", args.output.display()))?;
    times.sort_by(f64::total_cmp);
    let n = times.len();
    let median = if n % 2 == 1 { times[n / 2] } else { 0.5 * (times[n / 2 - 1] + times[n / 2]) };
    println!("method={}", imputer.name());
    println!("median_fit_transform_s={median:.6}");
    if let Some(kb) = peak_rss_kb() {
        println!("peak_rss_kb={kb}");
    }
    Ok(())
}
