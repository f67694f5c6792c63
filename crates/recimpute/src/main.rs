//! The `recimpute` command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use recimpute::prelude::*;

/// Fill missing cells of recommender tables and measure the effect on a recommender.
///
/// Tables are CSV (`.csv`, `.tsv`) or Parquet (`.parquet`) files; an empty cell (or NA, NaN,
/// null) is a missing cell. Column kinds (numeric, categorical, set_valued, text, id) are
/// inferred and can be forced with `--kind name=kind`.
#[derive(Parser)]
#[command(name = "recimpute", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a table's columns, their kinds and how many cells are missing.
    Inspect {
        /// The CSV or Parquet file.
        input: PathBuf,
        /// Force a column's kind, e.g. `--kind zip=categorical` (repeatable).
        #[arg(long = "kind", value_name = "NAME=KIND")]
        kinds: Vec<String>,
    },
    /// Convert a table between CSV and Parquet (by the output's extension), keeping its holes.
    Convert {
        /// The input file.
        input: PathBuf,
        /// The output file; written atomically.
        output: PathBuf,
        /// Force a column's kind, e.g. `--kind zip=categorical` (repeatable).
        #[arg(long = "kind", value_name = "NAME=KIND")]
        kinds: Vec<String>,
    },
    /// Run the main job: a small end-to-end experiment on embedded data.
    Demo,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("recimpute: error: {}", describe(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes, skipping a cause whose text the message already contains.
fn describe(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text = format!("{text}: {c}");
        }
    }
    text
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Prints to stdout, returning an error (not panicking) when the reader has gone away.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn csv_options(kinds: &[String]) -> Result<CsvOptions> {
    let mut opts = CsvOptions::default();
    for k in kinds {
        let (name, kind) = k
            .split_once('=')
            .with_context(|| format!("--kind {k}: expected NAME=KIND, e.g. zip=categorical"))?;
        opts = opts.with_kind(name, kind.parse::<ColumnKind>()?);
    }
    Ok(opts)
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect { input, kinds } => {
            use std::fmt::Write;
            let table = read_table(&input, &csv_options(&kinds)?)?;
            let mut out = String::new();
            writeln!(out, "{}: {} rows, {} columns", input.display(), table.num_rows(), table.num_columns())?;
            writeln!(out, "{:<24} {:<12} {:>9} {:>8}", "column", "kind", "missing", "rate")?;
            for (spec, missing) in table.schema().columns().iter().zip(table.missing_per_column()) {
                let rate = if table.num_rows() == 0 { 0.0 } else { missing as f64 / table.num_rows() as f64 };
                writeln!(out, "{:<24} {:<12} {:>9} {:>7.1}%", spec.name, spec.kind.as_str(), missing, 100.0 * rate)?;
            }
            writeln!(out, "complete rows: {}", table.complete_rows().len())?;
            emit(&out)
        }
        Command::Convert { input, output, kinds } => {
            let opts = csv_options(&kinds)?;
            let table = read_table(&input, &opts)?;
            write_table(&table, &output, &opts)?;
            println!("wrote {} ({} rows)", output.display(), table.num_rows());
            Ok(())
        }
        Command::Demo => {
            emit(
                "recimpute demo: NOT IMPLEMENTED YET (tracked by issue #9).\n\
                 When the pipeline exists this command will: generate an AdClick-shaped table with \
                 planted dependencies, mask 5% of its cells (MCAR), fill them with the classical \
                 imputers and a LoRA-tuned SmolLM2, train a DLRM on each filled table, and write a \
                 Markdown/JSON report. Today nothing is run.\n",
            )
        }
    }
}
