//! DLRM baselines on complete data: ml-100k u1 split (regression RMSE, 5-class macro-F1) and
//! AdClick (binary precision/recall/F1/AUC, mode-imputed, seeded 80/20 split).
//!
//! ```text
//! cargo run --release -p dlrm --example dlrm_baselines -- --task all
//! ```
//!
//! The data directory is `$RECIMPUTE_DATA`, else `../shared/data` beside the workspace root;
//! it must hold `ml-100k/` (GroupLens files) and `adclick/ad_click_dataset.csv`. The loaders
//! here are deliberately minimal and self-contained.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use dlrm::{Dlrm, DlrmConfig, FittedDlrm, TaskKind};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rec_table::arrow::array::AsArray;
use rec_table::arrow::datatypes::{Float64Type, UInt32Type};
use rec_table::{Cell, ColumnKind, ColumnSpec, CsvOptions, FittedRecommender, Schema, Table, Value};

#[derive(Parser, Debug)]
#[command(about = "DLRM baselines on ml-100k (u1) and AdClick")]
struct Args {
    /// Which experiment: regression, multiclass, adclick or all.
    #[arg(long, default_value = "all")]
    task: String,
    /// Data directory (default: $RECIMPUTE_DATA or <workspace>/../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Maximum epochs (early stopping on a 10% hold-out of the training rows).
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// libtorch intra-op threads.
    #[arg(long, default_value_t = 2)]
    threads: i32,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 1e-3)]
    weight_decay: f64,
    /// Mini-batch size.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Force the CPU even when CUDA is available.
    #[arg(long)]
    cpu: bool,
}

fn data_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("RECIMPUTE_DATA").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

fn main() -> Result<()> {
    let args = Args::parse();
    tch::set_num_threads(args.threads);
    let dir = data_dir(args.data.clone());
    let mut config = DlrmConfig::default()
        .with_epochs(args.epochs)
        .with_patience(3)
        .with_validation_fraction(0.1)
        .with_lr(args.lr)
        .with_weight_decay(args.weight_decay)
        .with_batch_size(args.batch)
        .with_seed(args.seed);
    if args.cpu {
        config = config.with_device(tch::Device::Cpu);
    }
    let run = |name: &str| args.task == "all" || args.task == name;
    if run("regression") || run("multiclass") {
        let (train, test) = movielens_u1(&dir.join("ml-100k")).context("loading ml-100k")?;
        println!("ml-100k u1: {} train rows, {} test rows", train.num_rows(), test.num_rows());
        if run("regression") {
            let model = fit(config.clone().with_task(TaskKind::Regression), &train, "rating")?;
            let pred = model.predict(&test)?;
            let pred = pred.as_primitive::<Float64Type>().values();
            let truth: Vec<f64> = test.numeric("rating")?.into_iter().flatten().collect();
            let mse = pred.iter().zip(&truth).map(|(p, t)| (p - t).powi(2)).sum::<f64>() / truth.len() as f64;
            let mae = pred.iter().zip(&truth).map(|(p, t)| (p - t).abs()).sum::<f64>() / truth.len() as f64;
            // Ratings lie in [1, 5]; clipping the predictions is the usual post-processing.
            let clipped = pred.iter().zip(&truth).map(|(p, t)| (p.clamp(1.0, 5.0) - t).powi(2)).sum::<f64>();
            let clipped = (clipped / truth.len() as f64).sqrt();
            println!(
                "RESULT ml-100k u1 regression: RMSE {:.4}  MAE {mae:.4}  MSE {mse:.4}  (RMSE clipped to [1, 5]: {clipped:.4})",
                mse.sqrt()
            );
        }
        if run("multiclass") {
            let model = fit(config.clone().with_task(TaskKind::MultiClass), &train, "rating")?;
            let pred = model.predict(&test)?;
            let pred: Vec<usize> = pred.as_primitive::<UInt32Type>().values().iter().map(|&k| k as usize).collect();
            let truth: Vec<usize> = test
                .numeric("rating")?
                .into_iter()
                .map(|v| model.target_map().class_of(&Value::Number(v.unwrap_or(0.0))).unwrap_or(usize::MAX))
                .collect();
            let (macro_f1, accuracy) = macro_f1(&pred, &truth, model.labels().len());
            println!("RESULT ml-100k u1 5-class: macro-F1 {macro_f1:.4}  accuracy {accuracy:.4}");
        }
    }
    if run("adclick") {
        let (train, test) = adclick(&dir.join("adclick/ad_click_dataset.csv"), args.seed)?;
        println!("AdClick: {} train rows, {} test rows", train.num_rows(), test.num_rows());
        let model = fit(config.clone().with_task(TaskKind::Binary), &train, "click")?;
        let p = model.predict(&test)?;
        let p = p.as_primitive::<Float64Type>().values();
        let y: Vec<bool> = test.numeric("click")?.into_iter().map(|v| v == Some(1.0)).collect();
        let (tp, fp, fneg) = p.iter().zip(&y).fold((0.0, 0.0, 0.0), |(tp, fp, fnn), (&p, &y)| match (p >= 0.5, y) {
            (true, true) => (tp + 1.0, fp, fnn),
            (true, false) => (tp, fp + 1.0, fnn),
            (false, true) => (tp, fp, fnn + 1.0),
            _ => (tp, fp, fnn),
        });
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let recall = tp / (tp + fneg);
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        println!("RESULT AdClick: precision {precision:.4}  recall {recall:.4}  F1 {f1:.4}  AUC {:.4}", auc(p, &y));
    }
    Ok(())
}

fn fit(config: DlrmConfig, train: &Table, target: &str) -> Result<FittedDlrm> {
    let started = Instant::now();
    let model = Dlrm::new(config)?.fit_with_validation(train, None, target)?;
    let h = model.history();
    let best = h.iter().filter_map(|e| e.valid_loss).fold(f64::INFINITY, f64::min);
    let speed = h.iter().map(|e| e.samples_per_sec).sum::<f64>() / h.len().max(1) as f64;
    println!(
        "  trained {} epochs in {:.1}s on {:?} ({} parameters), best validation loss {best:.4}, {speed:.0} samples/s",
        h.len(),
        started.elapsed().as_secs_f64(),
        model.device(),
        model.num_parameters()
    );
    Ok(model)
}

/// Macro-averaged F1 over `k` classes, and accuracy.
fn macro_f1(pred: &[usize], truth: &[usize], k: usize) -> (f64, f64) {
    let mut f1 = 0.0;
    for c in 0..k {
        let tp = pred.iter().zip(truth).filter(|&(&p, &t)| p == c && t == c).count() as f64;
        let fp = pred.iter().zip(truth).filter(|&(&p, &t)| p == c && t != c).count() as f64;
        let fnn = pred.iter().zip(truth).filter(|&(&p, &t)| p != c && t == c).count() as f64;
        if tp > 0.0 {
            f1 += 2.0 * tp / (2.0 * tp + fp + fnn);
        }
    }
    let acc = pred.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / truth.len() as f64;
    (f1 / k as f64, acc)
}

/// ROC AUC as the Mann-Whitney statistic, ties counted half.
fn auc(score: &[f64], y: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let mut rank = vec![0.0; score.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && score[idx[j + 1]] == score[idx[i]] {
            j += 1;
        }
        for &r in &idx[i..=j] {
            rank[r] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    let pos = y.iter().filter(|&&b| b).count() as f64;
    let neg = y.len() as f64 - pos;
    let sum: f64 = rank.iter().zip(y).filter(|(_, &b)| b).map(|(r, _)| r).sum();
    (sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// ml-100k u1.base / u1.test joined with user and item attributes.
fn movielens_u1(dir: &Path) -> Result<(Table, Table)> {
    let read = |name: &str| -> Result<String> {
        let bytes = std::fs::read(dir.join(name)).with_context(|| format!("{}", dir.join(name).display()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned()) // u.item is Latin-1
    };
    let mut users: HashMap<String, (f64, String, String, String)> = HashMap::new();
    for line in read("u.user")?.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        let zip: String = f[4].chars().take(2).collect();
        users.insert(f[0].into(), (f[1].parse()?, f[2].into(), f[3].into(), zip));
    }
    let genres: Vec<String> = read("u.genre")?
        .lines()
        .filter_map(|l| l.split('|').next())
        .filter(|g| !g.is_empty())
        .map(String::from)
        .collect();
    let mut items: HashMap<String, (Option<f64>, Vec<String>)> = HashMap::new();
    for line in read("u.item")?.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        let year = f[2].rsplit('-').next().and_then(|y| y.parse().ok());
        let g = f[5..].iter().zip(&genres).filter(|(flag, _)| **flag == "1").map(|(_, g)| g.clone()).collect();
        items.insert(f[0].into(), (year, g));
    }
    let schema = Schema::try_new(vec![
        ColumnSpec::new("user_id", ColumnKind::Id),
        ColumnSpec::new("item_id", ColumnKind::Id),
        ColumnSpec::new("age", ColumnKind::Numeric),
        ColumnSpec::new("gender", ColumnKind::Categorical),
        ColumnSpec::new("occupation", ColumnKind::Categorical),
        ColumnSpec::new("zip_prefix", ColumnKind::Categorical),
        ColumnSpec::new("year", ColumnKind::Numeric),
        ColumnSpec::new("genres", ColumnKind::SetValued),
        ColumnSpec::new("rating", ColumnKind::Numeric),
    ])?;
    let load = |name: &str| -> Result<Table> {
        let mut rows = Vec::new();
        for line in read(name)?.lines().filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.split('\t').collect();
            let Some((age, gender, occ, zip)) = users.get(f[0]) else { bail!("{name}: unknown user {}", f[0]) };
            let Some((year, g)) = items.get(f[1]) else { bail!("{name}: unknown item {}", f[1]) };
            rows.push(vec![
                Some(Value::Category(f[0].into())),
                Some(Value::Category(f[1].into())),
                Some(Value::Number(*age)),
                Some(Value::Category(gender.clone())),
                Some(Value::Category(occ.clone())),
                Some(Value::Category(zip.clone())),
                year.map(Value::Number),
                Some(Value::Set(g.clone())),
                Some(Value::Number(f[2].parse()?)),
            ]);
        }
        Ok(Table::from_rows(schema.clone(), rows)?)
    };
    Ok((load("u1.base")?, load("u1.test")?))
}

/// AdClick without id/full_name, every gap filled with its column's mode (on the whole file,
/// as a plain preprocessing step), then a seeded 80/20 split.
fn adclick(path: &Path, seed: u64) -> Result<(Table, Table)> {
    let raw = rec_table::read_csv(path, &CsvOptions::default())?;
    let names: Vec<&str> = raw.schema().names().into_iter().filter(|n| *n != "id" && *n != "full_name").collect();
    let table = raw.select(&names)?;
    let mut fills = Vec::new();
    for col in 0..table.num_columns() {
        let mut counts: BTreeMap<String, (usize, Value)> = BTreeMap::new();
        for v in table.column_values(col).into_iter().flatten() {
            counts.entry(v.to_string()).or_insert((0, v)).0 += 1;
        }
        let Some((_, mode)) = counts.into_values().max_by_key(|(c, _)| *c) else {
            continue;
        };
        fills.extend(
            (0..table.num_rows()).filter(|&r| table.is_missing(r, col)).map(|row| (Cell { row, col }, mode.clone())),
        );
    }
    let table = table.with_filled(fills)?;
    let mut rows: Vec<usize> = (0..table.num_rows()).collect();
    rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let cut = rows.len() * 4 / 5;
    Ok((table.take_rows(&rows[..cut])?, table.take_rows(&rows[cut..])?))
}
