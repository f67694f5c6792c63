//! Fill a multi-file Parquet dataset from SQL with a saved imputer.
//!
//! With no arguments: builds a small dataset of three Parquet files and a KNN imputer fitted on
//! part of it in a temporary directory, then runs
//! `SELECT * FROM impute('knn.json', 'events/')` at one and two partitions.
//!
//! With arguments, fills your own dataset (an imputer file from `recimpute fit`, a Parquet file
//! or directory) and reports rows/s and the process's peak memory:
//!
//! ```text
//! cargo run --release -p recimpute-datafusion --example impute_sql -- MODEL DATA [PARTITIONS] [OUT_DIR]
//! ```
//!
//! PARTITIONS defaults to 2; with OUT_DIR the filled rows are written there as Parquet,
//! without it they are counted and dropped.
#![allow(clippy::unwrap_used, reason = "an example fails loudly")]

use std::path::Path;
use std::time::Instant;

use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use imputers_baseline::{FillDomain, KnnImputer, SavedImputer};
use rec_datasets::missingness::{inject, MissingnessConfig};
use rec_table::Imputer;

/// Runs the fill with `partitions` partitions; returns (rows, seconds).
async fn fill(
    model: &str,
    data: &str,
    partitions: usize,
    out: Option<&str>,
) -> datafusion::error::Result<(usize, f64)> {
    // DATAFUSION_* environment variables set any other option (the Parquet writer's row group
    // size, say: DATAFUSION_EXECUTION_PARQUET_MAX_ROW_GROUP_SIZE).
    let ctx = SessionContext::new_with_config(SessionConfig::from_env()?.with_target_partitions(partitions));
    recimpute_datafusion::register(&ctx);
    let start = Instant::now();
    let df = ctx.sql(&format!("SELECT * FROM impute('{model}', '{data}')")).await?;
    let rows = match out {
        Some(dir) => {
            df.write_parquet(dir, DataFrameWriteOptions::new(), None).await?;
            count_written(&ctx, dir).await?
        }
        None => {
            let mut rows = 0;
            for mut stream in df.execute_stream_partitioned().await? {
                while let Some(batch) = stream.next().await {
                    rows += batch?.num_rows();
                }
            }
            rows
        }
    };
    Ok((rows, start.elapsed().as_secs_f64()))
}

/// Rows in the Parquet files written under `dir`.
async fn count_written(ctx: &SessionContext, dir: &str) -> datafusion::error::Result<usize> {
    ctx.read_parquet(dir, ParquetReadOptions::default()).await?.count().await
}

/// The process's peak resident memory in MiB (Linux), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Three Parquet files of 2,000 AdClick-shaped rows with 10% of their cells missing, and a
/// KNN imputer fitted on 1,000 of the rows.
fn demo_dataset(dir: &Path) -> (String, String) {
    let table = rec_datasets::synthetic::adclick_like(6000, 1).unwrap().drop_columns(&["click"]).unwrap();
    let masked = inject(&table, &MissingnessConfig::mcar(0.1, 2)).unwrap().table;
    let data = dir.join("events");
    std::fs::create_dir(&data).unwrap();
    for part in 0..3 {
        let rows: Vec<usize> = (part * 2000..(part + 1) * 2000).collect();
        rec_table::write_parquet(&masked.take_rows(&rows).unwrap(), data.join(format!("part-{part}.parquet"))).unwrap();
    }
    let sample = masked.take_rows(&(0..1000).collect::<Vec<_>>()).unwrap();
    let saved = SavedImputer {
        imputer: KnnImputer::new(5).fit(&sample).unwrap().into(),
        domain: Some(FillDomain::learn(&sample)),
    };
    let model = dir.join("knn.json");
    saved.save(&model).unwrap();
    (model.display().to_string(), data.display().to_string())
}

#[tokio::main]
async fn main() -> datafusion::error::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() >= 2 {
        let partitions = args.get(2).map_or(Ok(2), |p| p.parse()).expect("PARTITIONS is a number");
        let (rows, secs) = fill(&args[0], &args[1], partitions, args.get(3).map(String::as_str)).await?;
        println!(
            "{rows} rows in {secs:.2} s ({:.0} rows/s) at {partitions} partition(s); peak RSS {:.0} MiB",
            rows as f64 / secs,
            peak_rss_mib().unwrap_or(f64::NAN)
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (model, data) = demo_dataset(dir.path());
    for partitions in [1, 2] {
        let (rows, secs) = fill(&model, &data, partitions, None).await?;
        println!("{rows} rows filled in {secs:.3} s at {partitions} partition(s)");
    }
    let ctx = SessionContext::new();
    recimpute_datafusion::register(&ctx);
    let sql = format!(
        "SELECT device_type, count(*) AS n FROM impute('{model}', '{data}') GROUP BY device_type ORDER BY n DESC"
    );
    println!("{sql}");
    ctx.sql(&sql).await?.show().await?;
    Ok(())
}
