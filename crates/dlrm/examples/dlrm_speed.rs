//! Training and inference throughput of the DLRM on a CSV file, printed as one JSON line.
//! `benches/peers/dlrm_peer.py` runs it beside an equivalent PyTorch model.
//!
//! ```text
//! cargo run --release -p dlrm --example dlrm_speed -- --csv data.csv --target label --epochs 3
//! ```
//!
//! Columns are read with the kinds `rec_table` infers (numbers → numeric, other strings →
//! categorical, however many labels); the target must be 0/1 (binary task).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use dlrm::{DeviceChoice, Dlrm, DlrmConfig, TaskKind};
use rec_table::{ColumnKind, CsvOptions, FittedRecommender};

#[derive(Parser, Debug)]
#[command(about = "DLRM training/inference samples per second on a CSV file")]
struct Args {
    /// The CSV file.
    #[arg(long)]
    csv: PathBuf,
    /// The 0/1 target column.
    #[arg(long, default_value = "label")]
    target: String,
    /// Epochs; the first is a warm-up and is not counted when there are more.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Embedding dimension (also the last bottom layer).
    #[arg(long, default_value_t = 16)]
    dim: usize,
    /// libtorch intra-op threads.
    #[arg(long, default_value_t = 2)]
    threads: i32,
    /// Device: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

fn main() -> Result<()> {
    let args = Args::parse();
    tch::set_num_threads(args.threads);
    // Label columns with more than 100 distinct values are inferred as text: read them as
    // categorical.
    let mut options = CsvOptions::default();
    for spec in rec_table::read_csv(&args.csv, &options)?.schema().columns() {
        if spec.kind == ColumnKind::Text {
            options = options.with_kind(spec.name.clone(), ColumnKind::Categorical);
        }
    }
    let table = rec_table::read_csv(&args.csv, &options)?;
    let config = DlrmConfig::default()
        .with_embedding_dim(args.dim)
        .with_bottom_mlp(vec![64, args.dim])
        .with_top_mlp(vec![64, 32])
        .with_batch_size(args.batch)
        .with_epochs(args.epochs)
        .with_patience(0)
        .with_task(TaskKind::Binary)
        .with_progress(false)
        .with_device(args.device);
    let started = Instant::now();
    eprintln!("read {} rows", table.num_rows());
    let model = Dlrm::new(config)?.fit_with_validation(&table, None, &args.target)?;
    let fit_secs = started.elapsed().as_secs_f64();
    let h = model.history();
    let counted = if h.len() > 1 { &h[1..] } else { h };
    let train_sps = counted.iter().map(|e| e.samples_per_sec).sum::<f64>() / counted.len() as f64;
    // Inference including the encoding of the table; the first call is a warm-up.
    let mut predict_sps = 0.0;
    for _ in 0..2 {
        let started = Instant::now();
        let p = model.predict(&table)?;
        predict_sps = p.len() as f64 / started.elapsed().as_secs_f64();
        eprintln!("predict: {predict_sps:.0} rows/s");
    }
    println!(
        "{}",
        serde_json::json!({
            "impl": "dlrm (Rust, tch)",
            "rows": table.num_rows(),
            "epochs": h.len(),
            "threads": args.threads,
            "device": format!("{:?}", model.device()),
            "parameters": model.num_parameters(),
            "train_samples_per_sec": train_sps,
            "predict_samples_per_sec": predict_sps,
            "final_train_loss": h.last().map(|e| e.train_loss),
            "fit_seconds_incl_encoding": fit_secs,
            "epoch_samples_per_sec": h.iter().map(|e| e.samples_per_sec).collect::<Vec<_>>(),
        })
    );
    Ok(())
}
