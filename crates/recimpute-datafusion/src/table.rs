//! A table whose rows come filled: any DataFusion table with a fitted imputer on top.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::exec::ImputeExec;
use crate::model::ImputeModel;

/// `input`'s rows with their missing cells filled by `model`: register it in a
/// `SessionContext` and query it like any table. Filters and limits run above the fill (a
/// filter on a filled column sees the filled values).
#[derive(Debug)]
pub struct ImputeTable {
    input: Arc<dyn TableProvider>,
    model: Arc<ImputeModel>,
    schema: SchemaRef,
}

impl ImputeTable {
    /// `input` filled by `model`; an error names the column when `input` lacks one the
    /// imputer was fitted on, or has one it was not.
    pub fn try_new(input: Arc<dyn TableProvider>, model: Arc<ImputeModel>) -> Result<Self> {
        let schema = model.output_schema(&input.schema())?;
        Ok(ImputeTable { input, model, schema })
    }
}

#[async_trait]
impl TableProvider for ImputeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The imputer needs every column of a row to fill it, so the input is read whole and
        // the projection applied after the fill.
        let input = self.input.scan(state, None, &[], None).await?;
        Ok(Arc::new(ImputeExec::try_new(input, self.model.clone(), projection.cloned())?))
    }
}

/// A Parquet table over a local file or a directory of files (every `*.parquet` in it); its
/// schema is read now, from the file or the first file of the directory (in name order), so
/// that no async call is needed. Every file of a directory must have that schema.
pub fn parquet_table(location: &str) -> Result<Arc<dyn TableProvider>> {
    let path = Path::new(location);
    let first = if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| DataFusionError::Plan(format!("{location}: {e}")))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        files.sort();
        files.into_iter().next().ok_or_else(|| DataFusionError::Plan(format!("{location}: no .parquet file in it")))?
    } else {
        path.to_path_buf()
    };
    let file = std::fs::File::open(&first).map_err(|e| DataFusionError::Plan(format!("{}: {e}", first.display())))?;
    let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| DataFusionError::Plan(format!("{}: {e}", first.display())))?;
    let schema = reader.schema().clone();
    let mut url = location.to_string();
    if path.is_dir() && !url.ends_with('/') {
        url.push('/');
    }
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config =
        ListingTableConfig::new(ListingTableUrl::parse(&url)?).with_listing_options(options).with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}
