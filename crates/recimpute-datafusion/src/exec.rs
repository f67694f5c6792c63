//! The physical operator: fills every batch of its input, partition by partition.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::EmissionType;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning, PlanProperties,
};
use futures::StreamExt;

use crate::model::ImputeModel;

/// Fills the missing cells of every batch of `input` with a fitted imputer.
///
/// Each partition is filled on its own, so the operator runs as many partitions in parallel as
/// its input has (a multi-file Parquet scan has up to `target_partitions`). Its output has the
/// columns the imputer was fitted on, in the imputer's order, then `projection` if one is
/// given. The metrics (`EXPLAIN ANALYZE`) count the missing cells before and after and the
/// fills made valid, beside the usual output rows and compute time.
#[derive(Debug)]
pub struct ImputeExec {
    input: Arc<dyn ExecutionPlan>,
    model: Arc<ImputeModel>,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl ImputeExec {
    /// The operator over `input`; an error names the column when `input` lacks one the
    /// imputer was fitted on (or has one it was not).
    pub fn try_new(
        input: Arc<dyn ExecutionPlan>,
        model: Arc<ImputeModel>,
        projection: Option<Vec<usize>>,
    ) -> Result<Self> {
        let full = model.output_schema(&input.schema())?;
        let schema = match &projection {
            Some(p) => Arc::new(full.project(p)?),
            None => full,
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(input.output_partitioning().partition_count()),
            EmissionType::Incremental,
            input.boundedness(),
        );
        Ok(ImputeExec {
            input,
            model,
            projection,
            schema,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// The imputer.
    pub fn model(&self) -> &Arc<ImputeModel> {
        &self.model
    }

    /// The columns kept of the filled batches, if not all.
    pub fn projection(&self) -> Option<&[usize]> {
        self.projection.as_deref()
    }

    /// The input plan.
    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }
}

impl DisplayAs for ImputeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImputeExec: model={}, method={}", self.model.name(), self.model.method())?;
        if let Some(p) = &self.projection {
            write!(f, ", projection={p:?}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for ImputeExec {
    fn name(&self) -> &str {
        "ImputeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(format!("ImputeExec has one input, got {}", children.len())));
        }
        Ok(Arc::new(ImputeExec::try_new(children.swap_remove(0), self.model.clone(), self.projection.clone())?))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let model = self.model.clone();
        let projection = self.projection.clone();
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let before = MetricBuilder::new(&self.metrics).counter("missing_before", partition);
        let after = MetricBuilder::new(&self.metrics).counter("missing_after", partition);
        let projected = MetricBuilder::new(&self.metrics).counter("fills_made_valid", partition);
        let stream = input.map(move |batch| {
            let batch = batch?;
            let timer = baseline.elapsed_compute().timer();
            let (filled, counts) = model.fill(&batch)?;
            let filled = match &projection {
                Some(p) => filled.project(p)?,
                None => filled,
            };
            timer.done();
            before.add(counts.missing_before);
            after.add(counts.missing_after);
            projected.add(counts.projected);
            baseline.record_output(filled.num_rows());
            Ok(filled)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
