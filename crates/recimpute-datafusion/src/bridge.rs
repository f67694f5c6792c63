//! Batches and schemas between DataFusion's Arrow (59) and the workspace's Arrow (60).
//!
//! Both sides speak the Arrow IPC stream format, which is stable across Arrow versions: a
//! batch is written by one version's writer and read by the other's reader. That costs a copy
//! each way (measured in docs/BENCHMARKS.md) and needs no `unsafe`.

use std::io::Cursor;

use datafusion::arrow::datatypes::{Schema as TheirSchema, SchemaRef as TheirSchemaRef};
use datafusion::arrow::ipc::reader::StreamReader as TheirReader;
use datafusion::arrow::ipc::writer::StreamWriter as TheirWriter;
use datafusion::arrow::record_batch::RecordBatch as TheirBatch;
use datafusion::error::{DataFusionError, Result};
use rec_table::arrow::array::RecordBatch as OurBatch;
use rec_table::arrow::datatypes::{Schema as OurSchema, SchemaRef as OurSchemaRef};

fn ours_err(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// DataFusion's batch as the workspace's.
pub fn batch_to_ours(batch: &TheirBatch) -> Result<OurBatch> {
    let mut bytes = Vec::new();
    let mut writer = TheirWriter::try_new(&mut bytes, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    let mut reader = arrow_ipc::reader::StreamReader::try_new(Cursor::new(bytes), None).map_err(ours_err)?;
    reader
        .next()
        .transpose()
        .map_err(ours_err)?
        .ok_or_else(|| DataFusionError::Internal("an IPC stream of one batch read back empty".into()))
}

/// The workspace's batch as DataFusion's.
pub fn batch_to_theirs(batch: &OurBatch) -> Result<TheirBatch> {
    let mut bytes = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &batch.schema()).map_err(ours_err)?;
    writer.write(batch).map_err(ours_err)?;
    writer.finish().map_err(ours_err)?;
    drop(writer);
    let mut reader = TheirReader::try_new(Cursor::new(bytes), None)?;
    reader
        .next()
        .transpose()?
        .ok_or_else(|| DataFusionError::Internal("an IPC stream of one batch read back empty".into()))
}

/// DataFusion's schema as the workspace's (field names, types, nullability and metadata).
pub fn schema_to_ours(schema: &TheirSchema) -> Result<OurSchemaRef> {
    let mut bytes = Vec::new();
    TheirWriter::try_new(&mut bytes, schema)?.finish()?;
    Ok(arrow_ipc::reader::StreamReader::try_new(Cursor::new(bytes), None).map_err(ours_err)?.schema())
}

/// The workspace's schema as DataFusion's.
pub fn schema_to_theirs(schema: &OurSchema) -> Result<TheirSchemaRef> {
    let mut bytes = Vec::new();
    arrow_ipc::writer::StreamWriter::try_new(&mut bytes, schema).map_err(ours_err)?.finish().map_err(ours_err)?;
    Ok(TheirReader::try_new(Cursor::new(bytes), None)?.schema())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn batches_and_schemas_cross_both_ways_unchanged() {
        use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
        use datafusion::arrow::datatypes::{DataType, Field};
        let schema = Arc::new(
            TheirSchema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("age", DataType::Float64, true),
                Field::new("city", DataType::Utf8, true)
                    .with_metadata([("recimpute.kind".to_string(), "categorical".to_string())].into()),
            ])
            .with_metadata([("origin".to_string(), "test".to_string())].into()),
        );
        let batch = TheirBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1_700_000_000_123_456_789, 2])),
                Arc::new(Float64Array::from(vec![Some(20.5), None])),
                Arc::new(StringArray::from(vec![None, Some("Paris")])),
            ],
        )
        .unwrap();
        let ours = batch_to_ours(&batch).unwrap();
        assert_eq!(ours.num_rows(), 2);
        assert_eq!(ours.schema().field(2).metadata().get("recimpute.kind").map(String::as_str), Some("categorical"));
        let back = batch_to_theirs(&ours).unwrap();
        assert_eq!(back, batch);
        let empty = batch.slice(0, 0);
        assert_eq!(batch_to_theirs(&batch_to_ours(&empty).unwrap()).unwrap(), empty);
        assert_eq!(schema_to_theirs(&schema_to_ours(&schema).unwrap()).unwrap(), schema);
    }
}
