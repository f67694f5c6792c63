//! DLRM baselines on complete data: ml-100k u1 (rating regression and 5 classes) and AdClick
//! (binary click, user-grouped split), with hyper-parameters chosen on a validation slice.
//!
//! ```text
//! # one setting, three seeds
//! cargo run --release -p dlrm --example dlrm_baselines -- --task regression --seeds 0,1,2
//! # a sweep: every combination is trained on u1.base minus a seeded 10% validation slice;
//! # the one with the lowest validation loss is then scored on u1.test over the seeds
//! cargo run --release -p dlrm --example dlrm_baselines -- --task regression --seeds 0,1,2 \
//!     --weight-decay 0,1e-4 --id-l2 0.01,0.03 --dropout 0,0.3 --out results/dlrm-u1.json
//! # the u1 setting chosen that way, with history bags (SVD++'s implicit feedback), and the mean
//! # of three models per seed
//! cargo run --release -p dlrm --example dlrm_baselines -- --task regression --seeds 0,1,2 \
//!     --history on --weight-decay 3e-3 --embedding-dim 64 --ensemble 3
//! # five models per seed on one validation slice, the mean of the three it rates best
//! cargo run --release -p dlrm --example dlrm_baselines -- --task regression --seeds 0,1,2 \
//!     --history on --weight-decay 3e-3 --embedding-dim 64 --ensemble 5 --combine top:3 --valid-slice run
//! ```
//!
//! The data directory is `$RECIMPUTE_DATA`, else `../shared/data` beside the workspace root;
//! it must hold `ml-100k/` (GroupLens files) and `adclick/ad_click_dataset.csv`. Tables are
//! assembled by `rec-datasets` (the same features as the experiment grid's MovieLens tasks)
//! and scored by `rec-metrics`. Test rows never take part in a choice: the sweep reads only
//! the validation loss.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use dlrm::{validation_split, Dlrm, DlrmConfig, FittedDlrm, HistoryBag, LrSchedule, Optimizer, TaskKind};
use rec_datasets::adclick::load_adclick;
use rec_datasets::movielens::{load_ml100k, rating_features, MovieLensOptions};
use rec_datasets::split::{adclick_split, ml100k_fold, Fractions, Ml100kFold};
use rec_table::{Cell, ColumnKind, Table, Value};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(about = "DLRM baselines on ml-100k (u1) and AdClick, settings chosen on a validation slice")]
struct Args {
    /// Which experiment: regression, multiclass, adclick or all.
    #[arg(long, default_value = "all")]
    task: String,
    /// Data directory (default: $RECIMPUTE_DATA or <workspace>/../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Maximum epochs (early stopping on the validation slice).
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Epochs without a better validation loss before training stops.
    #[arg(long, default_value_t = 3)]
    patience: usize,
    /// libtorch intra-op threads.
    #[arg(long, default_value_t = 2)]
    threads: i32,
    /// Seeds of the test runs (initialisation, shuffling, validation slice); the sweep uses the
    /// first.
    #[arg(long, value_delimiter = ',', default_value = "42")]
    seeds: Vec<u64>,
    /// Learning rate (one value, or a list to sweep).
    #[arg(long, value_delimiter = ',', default_value = "1e-3")]
    lr: Vec<f64>,
    /// Mini-batch size.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Learning-rate schedule: `constant`, `cosine` (to 0 at the last epoch, 100 warm-up
    /// steps) or `step:EVERY:GAMMA` (one value, or a list to sweep).
    #[arg(long, value_delimiter = ',', default_value = "constant", value_parser = parse_schedule)]
    schedule: Vec<LrSchedule>,
    /// Optimizer: `adam` (weight decay as an L2 term) or `adamw` (decoupled weight decay); one
    /// value, or a list to sweep.
    #[arg(long, value_delimiter = ',', default_value = "adam", value_parser = parse_optimizer)]
    optimizer: Vec<Optimizer>,
    /// Weight decay of every weight (one value, or a list to sweep).
    #[arg(long, value_delimiter = ',', default_value = "1e-3")]
    weight_decay: Vec<f64>,
    /// L2 penalty on the looked-up id embeddings (one value, or a list to sweep).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    id_l2: Vec<f64>,
    /// Dropout after the top MLP's hidden layers (one value, or a list to sweep).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    dropout: Vec<f64>,
    /// Embedding width, also the bottom MLP's last layer (one value, or a list to sweep).
    #[arg(long, value_delimiter = ',', default_value = "16")]
    embedding_dim: Vec<usize>,
    /// History bags on MovieLens (`on`: the items of the row's user and the users of its item
    /// in the training rows, SVD++'s implicit feedback; `off`, or both to sweep).
    #[arg(long, value_delimiter = ',', default_value = "off")]
    history: Vec<OnOff>,
    /// Models per test run (seeds derived from the run's seed, distinct from every run's own),
    /// combined as `--combine` says.
    #[arg(long, default_value_t = 1)]
    ensemble: usize,
    /// How the `--ensemble` models make one prediction: `mean` (of their predicted values or
    /// class probabilities), `best` (the one model with the lowest validation loss) or `top:K`
    /// (the mean of the K models with the lowest validation loss; compare them on one slice,
    /// `--valid-slice run`).
    #[arg(long, default_value = "mean", value_parser = parse_combine)]
    combine: Combine,
    /// Which 10% validation slice a model holds out: `own` (drawn with the model's own seed),
    /// `run` (drawn with the test run's seed, shared by its `--ensemble` models, so that their
    /// validation losses compare) or a number (one slice for every model, so that seeds vary
    /// only the initialisation and the shuffling).
    #[arg(long, default_value = "own", value_parser = parse_slice)]
    valid_slice: ValidSlice,
    /// Write the sweep and the test results here as JSON.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Force the CPU even when CUDA is available.
    #[arg(long)]
    cpu: bool,
}

fn parse_optimizer(s: &str) -> std::result::Result<Optimizer, String> {
    match s {
        "adam" => Ok(Optimizer::Adam),
        "adamw" => Ok(Optimizer::AdamW),
        _ => Err(format!("'{s}' is not adam or adamw")),
    }
}

fn parse_schedule(s: &str) -> std::result::Result<LrSchedule, String> {
    let parts: Vec<&str> = s.split(':').collect();
    match parts[..] {
        ["constant"] => Ok(LrSchedule::Constant),
        ["cosine"] => Ok(LrSchedule::Cosine { warmup_steps: 100 }),
        ["step", every, gamma] => Ok(LrSchedule::Step {
            every: every.parse().map_err(|e| format!("step every '{every}': {e}"))?,
            gamma: gamma.parse().map_err(|e| format!("step gamma '{gamma}': {e}"))?,
        }),
        _ => Err(format!("'{s}' is not constant, cosine or step:EVERY:GAMMA")),
    }
}

/// How several models per test run are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combine {
    /// The mean of every model's prediction.
    Mean,
    /// The mean of the predictions of the K models with the lowest validation loss (`best` is
    /// `Top(1)`).
    Top(usize),
}

fn parse_combine(s: &str) -> std::result::Result<Combine, String> {
    match s.split_once(':') {
        None if s == "mean" => Ok(Combine::Mean),
        None if s == "best" => Ok(Combine::Top(1)),
        Some(("top", k)) => match k.parse() {
            Ok(0) | Err(_) => Err(format!("top:K needs K ≥ 1, got '{k}'")),
            Ok(k) => Ok(Combine::Top(k)),
        },
        _ => Err(format!("'{s}' is not mean, best or top:K")),
    }
}

/// Where a model's validation slice comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValidSlice {
    /// Drawn with the model's own seed (inside the fit).
    Own,
    /// Drawn with the test run's seed.
    Run,
    /// Drawn with this seed for every model.
    Fixed(u64),
}

fn parse_slice(s: &str) -> std::result::Result<ValidSlice, String> {
    match s {
        "own" => Ok(ValidSlice::Own),
        "run" => Ok(ValidSlice::Run),
        n => n.parse().map(ValidSlice::Fixed).map_err(|_| format!("'{s}' is not own, run or a seed")),
    }
}

/// The seed of model `k` of a test run's ensemble of `n`: the run's own seed for a single model,
/// else a SplitMix64 draw from (run, k), so that no ensemble model repeats another run's model.
fn model_seed(run: u64, k: usize, n: usize) -> u64 {
    if n == 1 {
        return run;
    }
    let mut z = run.wrapping_mul(1 << 20).wrapping_add(k as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A switch that can be swept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
enum OnOff {
    Off,
    On,
}

/// One setting of the sweep and what the validation slice said of it.
#[derive(Debug, Clone, Serialize)]
struct SweepRow {
    optimizer: String,
    schedule: String,
    lr: f64,
    weight_decay: f64,
    id_l2: f64,
    dropout: f64,
    embedding_dim: usize,
    history: bool,
    valid_loss: f64,
    best_epoch: usize,
    seconds: f64,
}

/// One test run of the chosen setting.
#[derive(Debug, Clone, Serialize)]
struct TestRun {
    seed: u64,
    metrics: Vec<(String, f64)>,
    /// Per model: its best validation loss and that epoch.
    valid: Vec<(f64, usize)>,
    epochs: usize,
    seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
struct TaskResult {
    task: String,
    sweep: Vec<SweepRow>,
    chosen: usize,
    test: Vec<TestRun>,
}

fn data_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("RECIMPUTE_DATA").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

/// The training and test tables of a task.
struct Data {
    train: Table,
    test: Table,
    target: &'static str,
    kind: TaskKind,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.seeds.is_empty() {
        bail!("--seeds needs at least one seed");
    }
    if args.ensemble == 0 {
        bail!("--ensemble needs at least one model");
    }
    tch::set_num_threads(args.threads);
    let dir = data_dir(args.data.clone());
    let tasks: Vec<&str> = match args.task.as_str() {
        "all" => vec!["regression", "multiclass", "adclick"],
        t @ ("regression" | "multiclass" | "adclick") => vec![t],
        other => bail!("unknown --task '{other}' (regression, multiclass, adclick, all)"),
    };
    let mut results = Vec::new();
    for task in tasks {
        let data = load(&dir, task, args.seeds[0])?;
        println!("{task}: {} train rows, {} test rows", data.train.num_rows(), data.test.num_rows());
        results.push(run_task(&args, task, &data, &dir)?);
    }
    if let Some(out) = &args.out {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
        }
        rec_table::write_atomic(out, |w| Ok(serde_json::to_writer_pretty(w, &results)?))?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

fn load(dir: &Path, task: &str, seed: u64) -> Result<Data> {
    if task == "adclick" {
        let path = dir.join("adclick/ad_click_dataset.csv");
        let ad = load_adclick(&path).with_context(|| path.display().to_string())?;
        let split = adclick_split(&ad, Fractions::train_test(0.8)?, seed);
        // Gaps filled with the training rows' mode per column, as plain preprocessing.
        let parts = split.apply(&ad.table)?;
        let (train, test) = mode_fill(&parts.train, &parts.test)?;
        return Ok(Data { train, test, target: "click", kind: TaskKind::Binary });
    }
    let ml_dir = dir.join("ml-100k");
    let ml = load_ml100k(&ml_dir, &MovieLensOptions::default()).with_context(|| ml_dir.display().to_string())?;
    let split = ml100k_fold(&ml_dir, Ml100kFold::U1, &ml.ratings)?;
    let mut train = rating_features(&ml.ratings, &split.train, &ml.users, &ml.items)?;
    let mut test = rating_features(&ml.ratings, &split.test, &ml.users, &ml.items)?;
    let kind = if task == "multiclass" {
        let schema = train.schema().clone().with_kind("rating", ColumnKind::Categorical)?;
        train = train.cast(schema.clone())?;
        test = test.cast(schema)?;
        TaskKind::MultiClass
    } else {
        TaskKind::Regression
    };
    Ok(Data { train, test, target: "rating", kind })
}

/// Every combination of the swept settings (one element when nothing is swept).
fn settings_grid(args: &Args, kind: TaskKind) -> Vec<DlrmConfig> {
    let base = DlrmConfig::default()
        .with_task(kind)
        .with_epochs(args.epochs)
        .with_patience(args.patience)
        .with_validation_fraction(0.1)
        .with_batch_size(args.batch);
    let base = if args.cpu { base.with_device(dlrm::DeviceChoice::Cpu) } else { base };
    // One option at a time: every setting so far times every value of the next option, so the
    // first option listed varies slowest.
    fn expand<T: Copy>(
        grid: Vec<DlrmConfig>,
        values: &[T],
        set: impl Fn(DlrmConfig, T) -> DlrmConfig,
    ) -> Vec<DlrmConfig> {
        grid.into_iter().flat_map(|c| values.iter().map(|&v| set(c.clone(), v)).collect::<Vec<_>>()).collect()
    }
    let history = |h: OnOff| match (h, kind) {
        (OnOff::On, TaskKind::Regression | TaskKind::MultiClass) => {
            vec![HistoryBag::new("user_id", "item_id"), HistoryBag::new("item_id", "user_id")]
        }
        _ => Vec::new(),
    };
    let grid = expand(vec![base], &args.optimizer, DlrmConfig::with_optimizer);
    let grid = expand(grid, &args.schedule, DlrmConfig::with_lr_schedule);
    let grid = expand(grid, &args.lr, DlrmConfig::with_lr);
    let grid = expand(grid, &args.weight_decay, DlrmConfig::with_weight_decay);
    let grid = expand(grid, &args.id_l2, DlrmConfig::with_id_embedding_l2);
    let grid = expand(grid, &args.dropout, DlrmConfig::with_dropout);
    let grid = expand(grid, &args.embedding_dim, |c, d| c.with_embedding_dim(d).with_bottom_mlp(vec![64, d]));
    expand(grid, &args.history, |c, h| c.with_history(history(h)))
}

fn run_task(args: &Args, task: &str, data: &Data, dir: &Path) -> Result<TaskResult> {
    let grid = settings_grid(args, data.kind);
    let mut sweep = Vec::new();
    let mut chosen = 0;
    // One setting needs no sweep.
    let swept = if grid.len() > 1 { &grid[..] } else { &[] };
    if !swept.is_empty() {
        println!("sweep on the validation slice (seed {}): {} settings", args.seeds[0], grid.len());
        println!(
            "| optimizer | schedule | lr | weight decay | id L2 | dropout | dim | history | valid loss | best epoch | s |\n|---|---|---|---|---|---|---|---|---|---|---|"
        );
    }
    for (i, config) in swept.iter().enumerate() {
        let started = Instant::now();
        let model = fit(args, config, args.seeds[0], args.seeds[0], data)?;
        let (valid_loss, best_epoch) = best_valid(&model);
        let row = SweepRow {
            optimizer: format!("{:?}", config.optimizer),
            schedule: format!("{:?}", config.lr_schedule),
            lr: config.lr,
            weight_decay: config.weight_decay,
            id_l2: config.id_embedding_l2,
            dropout: config.dropout,
            embedding_dim: config.embedding_dim,
            history: !config.history.is_empty(),
            valid_loss,
            best_epoch,
            seconds: started.elapsed().as_secs_f64(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.4} | {} | {:.0} |",
            row.optimizer,
            row.schedule,
            row.lr,
            row.weight_decay,
            row.id_l2,
            row.dropout,
            row.embedding_dim,
            if row.history { "on" } else { "off" },
            row.valid_loss,
            row.best_epoch,
            row.seconds
        );
        if sweep.iter().all(|r: &SweepRow| valid_loss < r.valid_loss) {
            chosen = i;
        }
        sweep.push(row);
    }
    let config = &grid[chosen];
    println!(
        "{task}: optimizer {:?}, schedule {:?}, lr {}, weight decay {}, id L2 {}, dropout {}, dim {}, history {}",
        config.optimizer,
        config.lr_schedule,
        config.lr,
        config.weight_decay,
        config.id_embedding_l2,
        config.dropout,
        config.embedding_dim,
        if config.history.is_empty() { "off" } else { "on" }
    );
    let mut test = Vec::new();
    for &seed in &args.seeds {
        // AdClick's user-grouped split is drawn per seed; u1 is one fixed split.
        let reloaded = if task == "adclick" && seed != args.seeds[0] { Some(load(dir, task, seed)?) } else { None };
        let data = reloaded.as_ref().unwrap_or(data);
        let started = Instant::now();
        let models = (0..args.ensemble)
            .map(|k| fit(args, config, model_seed(seed, k, args.ensemble), seed, data))
            .collect::<Result<Vec<_>>>()?;
        let valid: Vec<(f64, usize)> = models.iter().map(best_valid).collect();
        let scored: Vec<&FittedDlrm> = match args.combine {
            Combine::Mean => models.iter().collect(),
            Combine::Top(k) => {
                let mut order: Vec<usize> = (0..models.len()).collect();
                order.sort_by(|&a, &b| valid[a].0.total_cmp(&valid[b].0));
                order.iter().take(k).map(|&i| &models[i]).collect()
            }
        };
        let metrics = score(&scored, data)?;
        if scored.len() < models.len() {
            // For comparison: the same models, all of them, averaged.
            let all: Vec<&FittedDlrm> = models.iter().collect();
            let shown: Vec<String> = score(&all, data)?.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
            println!("seed {seed}, the mean of all {} models: {}", models.len(), shown.join("  "));
        }
        let epochs = models.iter().map(|m| m.history().len()).sum();
        let run = TestRun { seed, metrics, valid, epochs, seconds: started.elapsed().as_secs_f64() };
        let shown: Vec<String> = run.metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        let valid: Vec<String> = run.valid.iter().map(|(v, e)| format!("{v:.4} at epoch {e}")).collect();
        println!(
            "RESULT {task} seed {seed}: {} ({} epochs, {:.0} s; validation loss {})",
            shown.join("  "),
            run.epochs,
            run.seconds,
            valid.join(", ")
        );
        test.push(run);
    }
    if test.len() > 1 {
        for (k, name) in test[0].metrics.iter().map(|(k, _)| k).enumerate() {
            let xs: Vec<f64> = test.iter().map(|r| r.metrics[k].1).collect();
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt();
            println!("RESULT {task} {name}: {mean:.4} ± {sd:.4} over {} seeds", xs.len());
        }
    }
    Ok(TaskResult { task: task.to_string(), sweep, chosen, test })
}

/// Fits `config` with `seed` on the task's training rows less a 10% validation slice, drawn as
/// `--valid-slice` says (`run` is the seed of the test run the model belongs to).
fn fit(args: &Args, config: &DlrmConfig, seed: u64, run: u64, data: &Data) -> Result<FittedDlrm> {
    let model = Dlrm::new(config.clone().with_seed(seed))?;
    let slice_seed = match args.valid_slice {
        ValidSlice::Own => return Ok(model.fit_with_validation(&data.train, None, data.target)?),
        ValidSlice::Run => run,
        ValidSlice::Fixed(s) => s,
    };
    let (train, valid) = validation_split(&data.train, config.validation_fraction, slice_seed)?;
    Ok(model.fit_with_validation(&train, Some(&valid), data.target)?)
}

/// The lowest validation loss and its 1-based epoch.
fn best_valid(model: &FittedDlrm) -> (f64, usize) {
    model.history().iter().filter_map(|e| e.valid_loss.map(|v| (v, e.epoch))).fold((f64::INFINITY, 0), |best, x| {
        if x.0 < best.0 {
            x
        } else {
            best
        }
    })
}

/// Test metrics of fitted models (their mean prediction), computed by `rec-metrics`.
fn score(models: &[&FittedDlrm], data: &Data) -> Result<Vec<(String, f64)>> {
    let model = models[0];
    // Mean over the models of the predicted value (regression) or class probabilities.
    let mut mean = model.predict_proba(&data.test)?;
    for other in &models[1..] {
        for (m, o) in mean.iter_mut().zip(other.predict_proba(&data.test)?) {
            m.iter_mut().zip(o).for_each(|(a, b)| *a += b);
        }
    }
    let k = models.len() as f64;
    mean.iter_mut().for_each(|row| row.iter_mut().for_each(|x| *x /= k));
    Ok(match data.kind {
        TaskKind::Regression => {
            let p: Vec<f64> = mean.iter().map(|row| row[0]).collect();
            let p = &p[..];
            let truth: Vec<f64> = data.test.numeric(data.target)?.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect();
            let r = rec_metrics::regression_report(&truth, p)?;
            // Ratings lie in [1, 5]; clipping the predictions is the usual post-processing.
            let clipped: Vec<f64> = p.iter().map(|x| x.clamp(1.0, 5.0)).collect();
            let c = rec_metrics::regression_report(&truth, &clipped)?;
            vec![("RMSE".into(), r.rmse), ("MAE".into(), r.mae), ("RMSE clipped".into(), c.rmse)]
        }
        TaskKind::MultiClass => {
            let p: Vec<usize> = mean
                .iter()
                .map(|row| {
                    row.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0
                })
                .collect();
            let truth = data
                .test
                .column_values(data.test.schema().index_of(data.target)?)
                .into_iter()
                .enumerate()
                .map(|(row, v)| {
                    v.and_then(|v| model.target_map().class_of(&v))
                        .with_context(|| format!("test row {row}: rating not among the training classes"))
                })
                .collect::<Result<Vec<usize>>>()?;
            let r = rec_metrics::multiclass_report(&truth, &p, model.labels().len())?;
            vec![("macro-F1".into(), r.macro_avg.f1), ("accuracy".into(), r.accuracy)]
        }
        _ => {
            let p: Vec<f64> = mean.iter().map(|row| row[1]).collect();
            let p = &p[..];
            let y: Vec<bool> = data.test.numeric(data.target)?.into_iter().map(|v| v == Some(1.0)).collect();
            let r = rec_metrics::binary_report(p, &y, 0.5)?;
            vec![
                ("precision".into(), r.precision),
                ("recall".into(), r.recall),
                ("F1".into(), r.f1),
                ("AUC".into(), rec_metrics::roc_auc(p, &y)?),
            ]
        }
    })
}

/// Fills every gap of `train` and `test` with the column's most common value in `train`.
fn mode_fill(train: &Table, test: &Table) -> Result<(Table, Table)> {
    let mut modes: Vec<Option<Value>> = Vec::new();
    for col in 0..train.num_columns() {
        let mut counts: std::collections::BTreeMap<String, (usize, Value)> = Default::default();
        for v in train.column_values(col).into_iter().flatten() {
            counts.entry(v.to_string()).or_insert((0, v)).0 += 1;
        }
        modes.push(counts.into_values().max_by_key(|(c, _)| *c).map(|(_, v)| v));
    }
    let fill = |t: &Table| -> Result<Table> {
        let mut fills = Vec::new();
        for (col, mode) in modes.iter().enumerate() {
            if let Some(mode) = mode {
                fills.extend(
                    (0..t.num_rows()).filter(|&r| t.is_missing(r, col)).map(|row| (Cell { row, col }, mode.clone())),
                );
            }
        }
        Ok(t.with_filled(fills)?)
    };
    Ok((fill(train)?, fill(test)?))
}
