//! The extension codec a distributed DataFusion (Ballista) needs to ship an [`ImputeExec`]
//! to its executors: the node is written with the whole imputer inside, so an executor
//! needs no access to the model file.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};

use crate::exec::ImputeExec;
use crate::model::ImputeModel;

/// Encodes and decodes [`ImputeExec`] nodes; any other node is refused (compose it with
/// your engine's own codec).
#[derive(Debug, Default, Clone, Copy)]
pub struct ImputeCodec;

/// The encoded node: a tag, the projection and the model.
#[derive(Serialize, Deserialize)]
struct Node {
    node: String,
    projection: Option<Vec<usize>>,
    /// [`ImputeModel::to_bytes`].
    model: String,
}

const TAG: &str = "recimpute.ImputeExec/1";

impl PhysicalExtensionCodec for ImputeCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let node: Node = serde_json::from_slice(buf)
            .map_err(|e| DataFusionError::Internal(format!("not an encoded ImputeExec: {e}")))?;
        if node.node != TAG {
            return Err(DataFusionError::Internal(format!("unknown extension node '{}' (expected {TAG})", node.node)));
        }
        let [input] = inputs else {
            return Err(DataFusionError::Internal(format!("ImputeExec has one input, got {}", inputs.len())));
        };
        let model = ImputeModel::from_bytes(node.model.as_bytes())?;
        Ok(Arc::new(ImputeExec::try_new(input.clone(), Arc::new(model), node.projection)?))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let Some(exec) = node.downcast_ref::<ImputeExec>() else {
            return Err(DataFusionError::Internal(format!("ImputeCodec cannot encode {}", node.name())));
        };
        let model = String::from_utf8(exec.model().to_bytes()?).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let encoded = Node { node: TAG.into(), projection: exec.projection().map(<[usize]>::to_vec), model };
        serde_json::to_writer(buf, &encoded).map_err(|e| DataFusionError::External(Box::new(e)))
    }
}
