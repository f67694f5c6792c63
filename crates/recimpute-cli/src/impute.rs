//! `impute` and `fit`: fit an imputer (or load a saved one), fill a table, save the fitted
//! imputer, and stream a Parquet or CSV file through a saved imputer in bounded memory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use recimpute::baseline::{ClassicalImputer, FillDomain, FittedClassical, Projected, SavedImputer};
use recimpute::table::{is_tsv, read_table_rows, Format};

use super::*;

/// Fill the missing cells of a CSV or Parquet file with a classical imputer or the LLM.
#[derive(clap::Args)]
pub struct ImputeArgs {
    /// The table with missing cells.
    input: PathBuf,
    /// Where to write the filled table (atomically).
    output: PathBuf,
    /// The imputer to fit (default knn; with `--imputer`, the saved imputer's method, and a
    /// different one given here is refused).
    #[arg(long, value_parser = imputer_names())]
    method: Option<exp::ImputerName>,
    /// A fitted imputer to use as is: a file written by `fit` or `--save` (classical
    /// imputers), or a directory (the LLM, from `fit --method llm` or `fit-adapter`).
    #[arg(long)]
    imputer: Option<PathBuf>,
    /// Save the fitted imputer: a JSON file for a classical imputer, a directory for the LLM.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Stream: read and write this many rows at a time, so memory stays bounded whatever the
    /// size of the table. Needs a saved imputer (`--imputer FILE`), and Parquet input and
    /// output or CSV input and output.
    #[arg(long)]
    batch_rows: Option<usize>,
    #[command(flatten)]
    llm: LlmArgs,
    #[command(flatten)]
    fit: FitSettings,
    /// Fit on this table instead of the input (same columns; the kinds are inferred from
    /// this table, and the input is read with them).
    #[arg(long)]
    fit_on: Option<PathBuf>,
    /// Keep the imputer's fills as they come (by default a fill is made a valid value of
    /// its column: whole numbers in columns of whole numbers, within the observed range,
    /// no empty set where none was observed; the summary counts the fills changed).
    #[arg(long)]
    raw_fills: bool,
    #[command(flatten)]
    read: ReadArgs,
}

/// Fit an imputer on a table and save it, to fill other tables later (`impute --imputer`).
///
/// A classical imputer is saved as one JSON file (its fitted state and the valid values of
/// every column; format documented in `imputers_baseline::persist`); the LLM as a directory
/// (LoRA adapter in PEFT format and the row codec).
#[derive(clap::Args)]
pub struct FitArgs {
    /// The training table (CSV or Parquet).
    input: PathBuf,
    /// The file (classical) or directory (llm) to write, atomically.
    #[arg(long)]
    out: PathBuf,
    /// The imputer.
    #[arg(long, default_value = "knn", value_parser = imputer_names())]
    method: exp::ImputerName,
    /// Fit on a seeded random sample of this many rows (for tables too large to fit on whole:
    /// only the sample is held in memory, and kinds not forced with `--kind` are inferred from
    /// it; KNN keeps its donors to the sample, so filling costs the same per row whatever the
    /// table's size).
    #[arg(long)]
    fit_sample: Option<usize>,
    #[command(flatten)]
    fit: FitSettings,
    #[command(flatten)]
    llm: LlmArgs,
    #[command(flatten)]
    read: ReadArgs,
}

/// What the registry leaves open when it builds a classical imputer.
#[derive(clap::Args, Clone, Copy)]
pub struct FitSettings {
    /// Neighbours for knn (distance-weighted).
    #[arg(long, alias = "k", default_value_t = 5)]
    knn_k: usize,
    /// Seed for iterative, missforest, the LLM and `--fit-sample`.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Most classes iterative and missforest predict for a categorical column: the rarer
    /// labels are pooled into one class (a pooled fill writes the most frequent of them), which
    /// bounds the cost of a column of thousands of labels as a target; 0 keeps every label.
    #[arg(long, default_value_t = 0)]
    max_labels: usize,
}

impl FitSettings {
    fn build(self, method: exp::ImputerName) -> Result<ClassicalImputer> {
        Ok(method.build(exp::ImputerParams { seed: self.seed, knn_k: self.knn_k, max_labels: self.max_labels })?)
    }
}

pub fn fit(args: FitArgs) -> Result<()> {
    let FitArgs { input, out, method, fit_sample, fit, llm, read } = args;
    let opts = read.csv_options(&input)?;
    let table = match fit_sample {
        Some(0) => anyhow::bail!("--fit-sample 0: the sample needs at least one row"),
        // Only the sampled rows are held: a first pass counts the rows (CSV; Parquet's footer
        // says), the second keeps the sample.
        Some(n) => {
            let sample = |count| recimpute::datasets::split::sample_rows(count, n, fit.seed);
            let (table, count) = read_table_rows(&input, &opts, sample)?;
            if n < count {
                let kinds: Vec<String> =
                    table.schema().columns().iter().map(|c| format!("{} {}", c.name, c.kind)).collect();
                eprintln!(
                    "fitting on a sample of {n} of {count} rows (seed {}); kinds from the sample: {} (force one \
                     with --kind NAME=KIND)",
                    fit.seed,
                    kinds.join(", ")
                );
            }
            table
        }
        None => read_table(&input, &opts)?,
    };
    if method == exp::ImputerName::Llm {
        return llm::fit_adapter(&table, &out, &llm, fit.seed);
    }
    let start = Instant::now();
    let imputer = fit.build(method)?;
    let fitted = imputer.fit(&table)?;
    say_notes(&fitted);
    let saved = SavedImputer { imputer: fitted, domain: Some(FillDomain::learn(&table)) };
    saved.save(&out)?;
    emit(&format!(
        "wrote {} ({} fitted on {} rows in {:.2}s); use it with `recimpute impute --imputer {} IN OUT`\n",
        out.display(),
        Imputer::name(&imputer),
        table.num_rows(),
        start.elapsed().as_secs_f64(),
        out.display()
    ))
}

pub fn impute(args: ImputeArgs) -> Result<()> {
    prepare_output(&args.input, &args.output)?;
    if args.batch_rows.is_some() && !args.imputer.as_deref().is_some_and(Path::is_file) {
        anyhow::bail!(
            "--batch-rows streams a table through a saved imputer: fit one first (`recimpute fit TABLE --out model.json`, \
             with --fit-sample N for a table too large to fit on whole), then pass --imputer model.json"
        );
    }
    match args.imputer.clone() {
        Some(path) if path.is_file() => impute_saved(&args, &path),
        Some(path) if !path.exists() => anyhow::bail!("--imputer {}: no such file or directory", path.display()),
        _ => impute_fitting(&args),
    }
}

/// Fits on the input (or `--fit-on`), or loads an LLM directory, then fills.
fn impute_fitting(args: &ImputeArgs) -> Result<()> {
    let ImputeArgs { input, imputer, save, llm, fit, fit_on, raw_fills, read, .. } = args;
    let method = match (args.method, imputer) {
        (None | Some(exp::ImputerName::Llm), Some(_)) => exp::ImputerName::Llm,
        (Some(m), Some(dir)) => anyhow::bail!(
            "--imputer {} is a directory, i.e. a saved LLM imputer; --method {} conflicts with it",
            dir.display(),
            m.as_str()
        ),
        (m, None) => m.unwrap_or(exp::ImputerName::Knn),
    };
    if let (Some(dir), Some(_)) = (imputer, fit_on) {
        anyhow::bail!("--imputer {} is already fitted: --fit-on does not apply", dir.display());
    }
    let opts = read.csv_options(input)?;
    // Kinds come from the table the imputer learns from: with --fit-on, the input is read with
    // the training table's schema (a value that does not fit is named).
    let (table, train) = match fit_on {
        Some(path) => {
            let train = read_table(path, &read.csv_options(path)?)?;
            (read_table(input, &with_schema(&opts, train.schema()))?, train)
        }
        None => {
            let table = read_table(input, &opts)?;
            (table.clone(), table)
        }
    };
    let start = Instant::now();
    if method == exp::ImputerName::Llm {
        let (name, filled) = llm::impute(&table, &train, imputer.as_deref(), save.as_deref(), llm, fit.seed)?;
        let domain = (!raw_fills).then(|| FillDomain::learn(&train));
        return finish(args, &opts, &table, &train, Applied::new(name, filled, None), domain.as_ref(), start);
    }
    let classical = fit.build(method)?;
    let fitted = classical.fit(&train)?;
    say_notes(&fitted);
    let domain = FillDomain::learn(&train);
    let applied = Applied::of(Imputer::name(&classical), &fitted, &table)?;
    if let Some(path) = save {
        let saved = SavedImputer { imputer: fitted, domain: Some(domain.clone()) };
        saved.save(path)?;
        eprintln!("saved the fitted imputer to {} (reuse it with --imputer {})", path.display(), path.display());
    }
    let domain = (!raw_fills).then_some(&domain);
    finish(args, &opts, &table, &train, applied, domain, start)
}

/// Prints what a classical fit reported (a solver stopped at its budget, a chain out of
/// rounds), one line each.
fn say_notes(fitted: &FittedClassical) {
    for note in fitted.notes() {
        eprintln!("{}: note: {note}", fitted.method());
    }
}

/// Fills with an imputer loaded from a file: the whole table, or batch by batch.
fn impute_saved(args: &ImputeArgs, path: &Path) -> Result<()> {
    let ImputeArgs { input, output, save, fit_on, raw_fills, read, batch_rows, .. } = args;
    if fit_on.is_some() || save.is_some() {
        anyhow::bail!("--imputer {} is already fitted: --fit-on and --save do not apply", path.display());
    }
    let start = Instant::now();
    let saved = SavedImputer::load(path)?;
    if let Some(m) = args.method {
        let wanted = if m == exp::ImputerName::Llm { "llm" } else { args.fit.build(m)?.method() };
        if wanted != saved.imputer.method() {
            anyhow::bail!(
                "--imputer {} holds a {} imputer; --method {} conflicts with it",
                path.display(),
                saved.imputer.method(),
                m.as_str()
            );
        }
    }
    let name = format!("{} from {}", saved.imputer.method(), path.display());
    let domain = if *raw_fills {
        None
    } else {
        if saved.domain.is_none() {
            eprintln!(
                "recimpute: note: {} has no fill domain: fills are written as the imputer gives them",
                path.display()
            );
        }
        saved.domain.as_ref()
    };
    if let Some(batch_rows) = batch_rows {
        let streamed = Streamed { fitted: &saved.imputer, domain, name: &name, input, output, batch_rows: *batch_rows };
        return match (Format::from_path(input).ok(), Format::from_path(output).ok()) {
            (Some(Format::Parquet), Some(Format::Parquet)) => streamed.parquet(start),
            (Some(Format::Csv), Some(Format::Csv)) if is_tsv(input) == is_tsv(output) => {
                let mut opts = with_schema(&read.csv_options(input)?, saved.imputer.schema());
                if is_tsv(input) {
                    opts.delimiter = recimpute::table::Delimiter::Byte(b'\t');
                }
                streamed.csv(&opts, start)
            }
            _ => anyhow::bail!(
                "--batch-rows streams Parquet to Parquet or CSV to CSV (of one delimiter); {} to {} mixes them \
                 (`recimpute convert` changes a file's format)",
                input.display(),
                output.display()
            ),
        };
    }
    let opts = with_schema(&read.csv_options(input)?, saved.imputer.schema());
    let table = read_table(input, &opts)?;
    let applied = Applied::of(name, &saved.imputer, &table)?;
    finish(args, &opts, &table, &table, applied, domain, start)
}

/// The CSV options of `base` reading every column with `schema`'s kinds.
fn with_schema(base: &CsvOptions, schema: &Schema) -> CsvOptions {
    let mut opts = base.clone().with_schema(schema.clone());
    opts.kinds = schema.columns().iter().map(|c| (c.name.clone(), c.kind)).collect();
    opts
}

/// A filled table and, for case-wise deletion, the input rows it kept.
struct Applied {
    name: String,
    filled: Table,
    kept: Option<Vec<usize>>,
}

impl Applied {
    fn new(name: String, filled: Table, kept: Option<Vec<usize>>) -> Self {
        Applied { name, filled, kept }
    }

    fn of(name: String, fitted: &FittedClassical, table: &Table) -> Result<Self> {
        let kept = match fitted {
            FittedClassical::CaseDeletion(f) => Some(f.complete_rows(table)?),
            _ => None,
        };
        Ok(Applied::new(name, fitted.transform(table)?, kept))
    }
}

/// Makes fills valid values (unless deletion, which fills nothing), writes the output like the
/// input, warns about cells left empty and prints the summary.
fn finish(
    args: &ImputeArgs,
    opts: &CsvOptions,
    table: &Table,
    train: &Table,
    applied: Applied,
    domain: Option<&FillDomain>,
    start: Instant,
) -> Result<()> {
    let Applied { name, mut filled, kept } = applied;
    let mut note = String::new();
    if let (Some(domain), None) = (domain, &kept) {
        let (valid, changed) = domain.project(table, &filled)?;
        note = projected_note(&changed);
        filled = valid;
    }
    write_output(&args.input, opts, &filled, kept.as_deref(), &|r, c| table.is_missing(r, c), &args.output)?;
    if let Some(warning) = unfilled_warning(train, &filled) {
        eprintln!("recimpute: warning: {warning}");
    }
    emit(&format!(
        "{}: {} missing cells before, {} after {} ({:.2}s, {} rows out){note}; wrote {}\n",
        args.input.display(),
        table.missing_cells().count(),
        filled.missing_cells().count(),
        name,
        start.elapsed().as_secs_f64(),
        filled.num_rows(),
        args.output.display()
    ))
}

fn projected_note(changed: &Projected) -> String {
    if changed.total() == 0 {
        return String::new();
    }
    format!(
        "; {} fills made valid values ({} clamped to the observed range, {} rounded, {} empty sets replaced)",
        changed.total(),
        changed.clamped,
        changed.rounded,
        changed.sets
    )
}

/// A saved imputer streaming `input` into `output`, `batch_rows` rows at a time: memory holds
/// one batch (and the imputer), never the table.
struct Streamed<'a> {
    fitted: &'a FittedClassical,
    domain: Option<&'a FillDomain>,
    name: &'a str,
    input: &'a Path,
    output: &'a Path,
    batch_rows: usize,
}

/// What a stream did: missing cells before and after, fills made valid, rows and batches out.
#[derive(Default)]
struct StreamCounts {
    before: usize,
    after: usize,
    changed: Projected,
    rows: usize,
    batches: usize,
}

impl StreamCounts {
    fn add_projected(&mut self, p: &Projected) {
        self.changed.clamped += p.clamped;
        self.changed.rounded += p.rounded;
        self.changed.sets += p.sets;
    }
}

impl Streamed<'_> {
    /// Warns about cells left empty and prints the summary line.
    fn report(&self, counts: &StreamCounts, start: Instant) -> Result<()> {
        let StreamCounts { before, after, rows, batches, .. } = counts;
        if *after > 0 {
            eprintln!("recimpute: warning: {after} cells left empty (`recimpute inspect` on the output shows where)");
        }
        emit(&format!(
            "{}: {before} missing cells before, {after} after {} ({:.2}s, {rows} rows out in {batches} batches of at \
             most {}){}; wrote {}\n",
            self.input.display(),
            self.name,
            start.elapsed().as_secs_f64(),
            self.batch_rows,
            projected_note(&counts.changed),
            self.output.display()
        ))
    }

    /// CSV to CSV: each batch read with the imputer's column kinds, filled (made valid values
    /// unless raw), and its rows appended with every cell it did not fill written as read.
    fn csv(&self, opts: &recimpute::table::CsvOptions, start: Instant) -> Result<()> {
        let Streamed { fitted, domain, input, output, batch_rows, .. } = *self;
        let mut batches = recimpute::table::CsvBatches::open(input, opts, fitted.schema().clone(), batch_rows)?;
        let size = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
        let progress = recimpute::progress::Progress::new(
            true,
            size,
            "imputing, bytes read",
            "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        );
        let (mut counts, mut shown) = (StreamCounts::default(), 0);
        recimpute::table::write_atomic(output, |w| {
            use std::io::Write;
            w.write_all(&batches.header_bytes()?)?;
            while let Some(batch) = batches.next() {
                let batch = batch?;
                let table = batch.table();
                let Applied { mut filled, kept, .. } = Applied::of(String::new(), fitted, table)?;
                if let (Some(domain), None) = (domain, &kept) {
                    let (valid, changed) = domain.project(table, &filled)?;
                    counts.add_projected(&changed);
                    filled = valid;
                }
                counts.before += table.missing_cells().count();
                counts.after += filled.missing_cells().count();
                let replace = |r: usize, c: usize| table.is_missing(r, c);
                w.write_all(&batch.patched_bytes(&filled, kept.as_deref(), &replace, opts, counts.rows)?)?;
                counts.rows += filled.num_rows();
                counts.batches += 1;
                let read = batches.position().min(size);
                progress.inc(read.saturating_sub(shown));
                shown = read;
            }
            Ok(())
        })?;
        progress.finish_and_clear();
        self.report(&counts, start)
    }

    /// Parquet to Parquet, batch by batch in the file's own Arrow types.
    fn parquet(&self, start: Instant) -> Result<()> {
        let Streamed { fitted, domain, input, output, batch_rows, .. } = *self;
        let mut batches = recimpute::table::read_parquet_batches(input, fitted.schema(), batch_rows)?;
        let progress = recimpute::progress::Progress::new(
            true,
            batches.total_rows() as u64,
            "imputing rows",
            "{bar:30} {pos}/{len} rows {per_sec} eta {eta}",
        );
        // Valid fills fit the file's own types (whole numbers in integer columns), so observed
        // cells are written as stored; raw fills are written in the table's types, as before.
        let schema = recimpute::baseline::stored_output_schema(fitted, domain, &batches.stored_schema(), input)?;
        let mut counts = StreamCounts::default();
        let filled = std::iter::from_fn(|| batches.next_stored()).map(|next| {
            let stored = next?;
            let fill = recimpute::baseline::fill_stored(fitted, domain, &stored, input)?;
            counts.before += fill.missing_before;
            counts.after += fill.missing_after;
            counts.add_projected(&fill.projected);
            counts.batches += 1;
            progress.inc(stored.num_rows() as u64);
            Ok(fill.batch)
        });
        counts.rows = recimpute::table::write_record_batches(output, schema, filled)?;
        progress.finish_and_clear();
        self.report(&counts, start)
    }
}
