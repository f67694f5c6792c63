//! The DataFusion operator on a multi-file Parquet dataset: the same fills as the streaming
//! `impute` path, at one and two partitions, from SQL and through the plan codec.
#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::bytes::{
    physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
};
use imputers_baseline::{fill_stored, FillDomain, KnnImputer, SavedImputer};
use rec_datasets::missingness::{inject, MissingnessConfig};
use rec_table::{ColumnKind, ColumnSpec, FittedImputer, Imputer, Table, Value, KIND_METADATA_KEY};
use recimpute_datafusion::{batch_to_ours, register, ImputeCodec};

/// 900 AdClick-shaped rows with a `row` id and 15% of the feature cells hidden, written as
/// three Parquet files of 300 rows; a KNN imputer fitted on the first 600 rows, saved with its
/// fill domain. Returns (data directory, model file, the masked table).
fn dataset(dir: &Path) -> (PathBuf, PathBuf, Table) {
    let table = rec_datasets::synthetic::adclick_like(900, 3).unwrap();
    let ids: Vec<Option<Value>> = (0..900).map(|i| Some(Value::Category(format!("r{i:04}")))).collect();
    let table = table.with_column(ColumnSpec::new("row", ColumnKind::Id), &ids).unwrap();
    let masked = inject(&table, &MissingnessConfig::mcar(0.15, 5).with_exclude(["row"])).unwrap().table;
    let data = dir.join("events");
    std::fs::create_dir(&data).unwrap();
    for part in 0..3 {
        let rows: Vec<usize> = (part * 300..(part + 1) * 300).collect();
        rec_table::write_parquet(&masked.take_rows(&rows).unwrap(), data.join(format!("part-{part}.parquet"))).unwrap();
    }
    let train = masked.take_rows(&(0..600).collect::<Vec<_>>()).unwrap();
    let saved = SavedImputer {
        imputer: KnnImputer::new(5).fit(&train).unwrap().into(),
        domain: Some(FillDomain::learn(&train)),
    };
    let model = dir.join("knn.json");
    saved.save(&model).unwrap();
    (data, model, masked)
}

/// What the streaming `impute` path writes for the dataset: each file read in batches and
/// filled by `fill_stored`, in file order.
fn streamed(data: &Path, model: &Path) -> Table {
    let saved = SavedImputer::load(model).unwrap();
    let mut parts = Vec::new();
    for part in 0..3 {
        let path = data.join(format!("part-{part}.parquet"));
        let mut batches = rec_table::read_parquet_batches(&path, saved.imputer.schema(), 128).unwrap();
        while let Some(stored) = batches.next_stored() {
            let fill = fill_stored(&saved.imputer, saved.domain.as_ref(), &stored.unwrap(), &path).unwrap();
            parts.push(as_table(&fill.batch));
        }
    }
    Table::concat(&parts).unwrap()
}

/// A filled batch as a table, its kinds read from the field metadata the fill wrote.
fn as_table(batch: &rec_table::arrow::array::RecordBatch) -> Table {
    let specs = batch
        .schema()
        .fields()
        .iter()
        .map(|f| ColumnSpec::new(f.name(), f.metadata()[KIND_METADATA_KEY].parse::<ColumnKind>().unwrap()))
        .collect();
    Table::try_new(rec_table::Schema::try_new(specs).unwrap(), batch.clone()).unwrap()
}

/// The rows a DataFusion plan returns, as one table.
async fn run(plan: Arc<dyn ExecutionPlan>, ctx: &SessionContext) -> Table {
    let batches = collect(plan, ctx.task_ctx()).await.unwrap();
    Table::concat(&batches.iter().map(|b| as_table(&batch_to_ours(b).unwrap())).collect::<Vec<_>>()).unwrap()
}

fn context(partitions: usize) -> SessionContext {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    register(&ctx);
    ctx
}

#[tokio::test]
async fn sql_fills_as_the_streaming_path_at_one_and_two_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model, masked) = dataset(dir.path());
    let expected = streamed(&data, &model);
    assert_eq!(expected.missing_cells().count(), 0, "KNN fills every feature cell");
    // Observed cells are kept.
    for (r, c) in (0..900).flat_map(|r| (0..masked.num_columns()).map(move |c| (r, c))) {
        if !masked.is_missing(r, c) {
            assert_eq!(expected.value(r, c), masked.value(r, c), "row {r} column {c}");
        }
    }
    let sql = format!("SELECT * FROM impute('{}', '{}') ORDER BY \"row\"", model.display(), data.display());
    for partitions in [1, 2] {
        let ctx = context(partitions);
        let plan = ctx.sql(&sql).await.unwrap().create_physical_plan().await.unwrap();
        let shown = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
        assert!(shown.contains("ImputeExec: model=") && shown.contains("method=knn"), "{shown}");
        let got = run(plan.clone(), &ctx).await;
        assert_eq!(got, expected, "{partitions} partition(s)");
        let metrics = plan_metrics(&plan);
        assert_eq!(metrics, (masked.missing_cells().count(), 0), "missing before and after, {partitions} partition(s)");
    }
}

/// (missing_before, missing_after) summed over the ImputeExec in `plan`.
fn plan_metrics(plan: &Arc<dyn ExecutionPlan>) -> (usize, usize) {
    if plan.name() == "ImputeExec" {
        let m = plan.metrics().unwrap();
        let sum = |name: &str| m.sum_by_name(name).map_or(0, |v| v.as_usize());
        return (sum("missing_before"), sum("missing_after"));
    }
    plan.children().into_iter().map(plan_metrics).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

#[tokio::test]
async fn a_plan_round_trips_through_the_codec_with_the_model_inside() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model, _) = dataset(dir.path());
    let ctx = context(2);
    // A projection and a filter above the fill.
    let sql = format!(
        "SELECT \"row\", age, device_type FROM impute('{}', '{}') WHERE age > 30 ORDER BY \"row\"",
        model.display(),
        data.display()
    );
    let plan = ctx.sql(&sql).await.unwrap().create_physical_plan().await.unwrap();
    let expected = run(plan.clone(), &ctx).await;
    assert!(expected.num_rows() > 100 && expected.num_columns() == 3, "{} rows", expected.num_rows());
    let bytes = physical_plan_to_bytes_with_extension_codec(plan, &ImputeCodec).unwrap();
    // The executor has no model file: the imputer travels in the plan.
    std::fs::remove_file(&model).unwrap();
    let decoded = physical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &ImputeCodec).unwrap();
    assert_eq!(run(decoded, &ctx).await, expected);
}

#[tokio::test]
async fn bad_calls_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model, _) = dataset(dir.path());
    let ctx = context(1);
    let err = |sql: String| async move { ctx_err(&context(1), &sql).await };
    let e = err(format!("SELECT * FROM impute('{}')", model.display())).await;
    assert!(e.contains("expected impute('model.json'"), "{e}");
    let e = err(format!("SELECT * FROM impute('{}', 42)", model.display())).await;
    assert!(e.contains("argument 2 (the Parquet file or directory) must be a string literal"), "{e}");
    let e = err(format!("SELECT * FROM impute('{}', '{}', 'fast')", model.display(), data.display())).await;
    assert!(e.contains("may only be 'raw'"), "{e}");
    let e =
        err(format!("SELECT * FROM impute('{}', '{}')", dir.path().join("none.json").display(), data.display())).await;
    assert!(e.contains("none.json"), "{e}");
    // A dataset without a column the imputer was fitted on.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let table = rec_datasets::synthetic::adclick_like(20, 1).unwrap();
    rec_table::write_parquet(&table, other.join("a.parquet")).unwrap();
    let e = err(format!("SELECT * FROM impute('{}', '{}')", model.display(), other.display())).await;
    assert!(e.contains("no column 'row'"), "{e}");
    drop(ctx);
}

async fn ctx_err(ctx: &SessionContext, sql: &str) -> String {
    match ctx.sql(sql).await {
        Err(e) => e.to_string(),
        Ok(df) => df.collect().await.err().map(|e| e.to_string()).unwrap_or_else(|| panic!("{sql} succeeded")),
    }
}
