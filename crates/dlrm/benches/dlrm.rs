//! Criterion benches: training (one epoch of 256-row mini-batches, encoding included) and
//! inference on generated tables with the default architecture.
//!
//! ```text
//! DLRM_BENCH_THREADS=1 cargo bench -p dlrm --bench dlrm
//! ```
#![allow(clippy::unwrap_used, reason = "a benchmark setup fails loudly on an unexpected error")]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dlrm::{Dlrm, DlrmConfig, TaskKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rec_table::{ColumnKind, ColumnSpec, FittedRecommender, Schema, Table, Value};

/// `rows` rows of 8 numeric and 8 categorical (≤ 1000 labels) columns, one set-valued column
/// and a 0/1 target.
fn generate(rows: usize, seed: u64) -> Table {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut specs: Vec<ColumnSpec> = (0..8).map(|i| ColumnSpec::new(format!("d{i}"), ColumnKind::Numeric)).collect();
    specs.extend((0..8).map(|j| ColumnSpec::new(format!("c{j}"), ColumnKind::Categorical)));
    specs.push(ColumnSpec::new("tags", ColumnKind::SetValued));
    specs.push(ColumnSpec::new("label", ColumnKind::Numeric));
    let schema = Schema::try_new(specs).unwrap();
    let data = (0..rows)
        .map(|_| {
            let mut row: Vec<Option<Value>> =
                (0..8).map(|_| Some(Value::Number(rng.random_range(-1.0..1.0)))).collect();
            row.extend((0..8).map(|_| Some(Value::Category(format!("v{}", rng.random_range(0..1000))))));
            let tags = (0..rng.random_range(0..4)).map(|_| format!("t{}", rng.random_range(0..20))).collect();
            row.push(Some(Value::Set(tags)));
            row.push(Some(Value::Number(f64::from(rng.random_bool(0.3)))));
            row
        })
        .collect();
    Table::from_rows(schema, data).unwrap()
}

fn config(epochs: usize) -> DlrmConfig {
    DlrmConfig::default()
        .with_epochs(epochs)
        .with_patience(0)
        .with_task(TaskKind::Binary)
        .with_progress(false)
        .with_device(dlrm::DeviceChoice::Cpu)
}

/// Intra-op threads: `DLRM_BENCH_THREADS`, default 1 (on a shared 2-core machine, libtorch's
/// OpenMP workers spin against other processes and make 2-thread timings erratic).
fn set_threads() {
    let n = std::env::var("DLRM_BENCH_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    tch::set_num_threads(n);
}

fn train(c: &mut Criterion) {
    set_threads();
    let mut group = c.benchmark_group("train");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    for rows in [4096usize, 16384] {
        let table = generate(rows, 1);
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(BenchmarkId::new("epoch_batch256", rows), &table, |b, t| {
            b.iter(|| Dlrm::new(config(1)).unwrap().fit_with_validation(t, None, "label").unwrap())
        });
    }
    group.finish();
}

fn inference(c: &mut Criterion) {
    set_threads();
    let mut group = c.benchmark_group("inference");
    group.sample_size(20);
    let model = Dlrm::new(config(1)).unwrap().fit_with_validation(&generate(2048, 2), None, "label").unwrap();
    for rows in [1024usize, 16384] {
        let table = generate(rows, 3);
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(BenchmarkId::new("predict", rows), &table, |b, t| b.iter(|| model.predict(t).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, train, inference);
criterion_main!(benches);
