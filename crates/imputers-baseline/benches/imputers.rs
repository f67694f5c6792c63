//! Criterion benches of every imputer (fit + transform) on generated tables: a correlated
//! numeric table and a mixed table (numeric, categorical, set-valued), small enough that
//! `cargo bench -p imputers-baseline` finishes in a few minutes; and the streaming path
//! (`fill_stored`: one stored batch read as a table, filled, made valid and written back in
//! its stored types) with imputers fitted on a sample, as `impute --batch-rows` and the
//! DataFusion operator run it.
#![allow(clippy::unwrap_used, reason = "a benchmark setup fails loudly on an unexpected error")]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use imputers_baseline::{
    fill_stored, CaseDeletion, FillDomain, FittedClassical, ForestParams, IterativeImputer, KnnImputer,
    MissForestImputer, SimpleImputer,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rec_table::{ColumnKind, ColumnSpec, DynImputer, Imputer, Schema, Table, Value};

/// `rows × 6` numeric columns driven by one latent factor, `rate` of the cells missing.
fn numeric_table(rows: usize, rate: f64, seed: u64) -> Table {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let schema =
        Schema::try_new((0..6).map(|j| ColumnSpec::new(format!("x{j}"), ColumnKind::Numeric)).collect()).unwrap();
    let data = (0..rows)
        .map(|_| {
            let z: f64 = rng.random::<f64>() * 2.0 - 1.0;
            (0..6)
                .map(|j| {
                    let v = z * (j + 1) as f64 + rng.random::<f64>();
                    (rng.random::<f64>() >= rate).then_some(Value::Number(v))
                })
                .collect()
        })
        .collect();
    Table::from_rows(schema, data).unwrap()
}

/// `rows` rows of two numeric, two categorical and one set-valued column, `rate` missing.
fn mixed_table(rows: usize, rate: f64, seed: u64) -> Table {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let schema = Schema::try_new(vec![
        ColumnSpec::new("age", ColumnKind::Numeric),
        ColumnSpec::new("income", ColumnKind::Numeric),
        ColumnSpec::new("device", ColumnKind::Categorical),
        ColumnSpec::new("region", ColumnKind::Categorical),
        ColumnSpec::new("genres", ColumnKind::SetValued),
    ])
    .unwrap();
    let genres = ["action", "comedy", "drama", "horror", "romance"];
    let data = (0..rows)
        .map(|_| {
            let g = rng.random_range(0..4usize);
            let age = 20.0 + 10.0 * g as f64 + 5.0 * rng.random::<f64>();
            let mut hole = || rng.random::<f64>() < rate;
            let cells = [hole(), hole(), hole(), hole(), hole()];
            vec![
                (!cells[0]).then_some(Value::Number(age)),
                (!cells[1]).then_some(Value::Number(age * 1000.0 + 500.0 * g as f64)),
                (!cells[2]).then(|| Value::Category(["mobile", "desktop", "tablet", "tv"][g].into())),
                (!cells[3]).then(|| Value::Category(format!("r{}", (g * 7) % 5))),
                (!cells[4]).then(|| Value::Set(vec![genres[g].into(), genres[(g + 1) % 5].into()])),
            ]
        })
        .collect();
    Table::from_rows(schema, data).unwrap()
}

fn imputers() -> Vec<Box<dyn DynImputer>> {
    vec![
        Box::new(CaseDeletion::new()),
        Box::new(SimpleImputer::mean()),
        Box::new(SimpleImputer::median()),
        Box::new(KnnImputer::new(5)),
        Box::new(IterativeImputer::new()),
        Box::new(
            MissForestImputer::new()
                .with_forest(ForestParams { n_trees: 20, ..ForestParams::default() })
                .with_max_iter(3),
        ),
    ]
}

fn bench_tables(c: &mut Criterion, group_name: &str, tables: &[(usize, Table)]) {
    let mut group = c.benchmark_group(group_name);
    group.sample_size(10);
    for imputer in imputers() {
        for (rows, table) in tables {
            group.bench_with_input(BenchmarkId::new(imputer.name(), rows), table, |b, t| {
                b.iter(|| imputer.fit_boxed(t).unwrap().transform(t).unwrap())
            });
        }
    }
    group.finish();
}

fn numeric(c: &mut Criterion) {
    let tables: Vec<(usize, Table)> = [500, 2_000].iter().map(|&n| (n, numeric_table(n, 0.2, n as u64))).collect();
    bench_tables(c, "numeric", &tables);
}

fn mixed(c: &mut Criterion) {
    let tables: Vec<(usize, Table)> = [500, 2_000].iter().map(|&n| (n, mixed_table(n, 0.2, n as u64))).collect();
    bench_tables(c, "mixed", &tables);
}

/// One 65,536-row stored batch of the mixed table (the CLI's default `--batch-rows`) through
/// `fill_stored`, for imputers fitted on a 5,000-row sample with its fill domain.
fn streaming(c: &mut Criterion) {
    let sample = mixed_table(5_000, 0.2, 1);
    let batch = mixed_table(65_536, 0.1, 2).batch().clone();
    let domain = FillDomain::learn(&sample);
    let fitted: Vec<(&str, FittedClassical)> = vec![
        ("mean", SimpleImputer::mean().fit(&sample).unwrap().into()),
        ("knn", KnnImputer::new(5).fit(&sample).unwrap().into()),
        ("iterative", IterativeImputer::new().fit(&sample).unwrap().into()),
    ];
    let mut group = c.benchmark_group("fill_stored");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(batch.num_rows() as u64));
    for (name, imputer) in &fitted {
        group.bench_function(BenchmarkId::new(*name, batch.num_rows()), |b| {
            b.iter(|| fill_stored(imputer, Some(&domain), &batch, std::path::Path::new("bench")).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, numeric, mixed, streaming);
criterion_main!(benches);
