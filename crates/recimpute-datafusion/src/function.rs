//! `impute('model.json', 'events.parquet')`: the SQL table function.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;

use crate::model::ImputeModel;
use crate::table::{parquet_table, ImputeTable};

/// The SQL name [`register`] gives the table function.
pub const FUNCTION_NAME: &str = "impute";

/// The table function `impute(model, parquet)`: the rows of a Parquet file or directory with
/// their missing cells filled by the imputer saved at `model`. A third argument `'raw'` writes
/// the imputer's fills as it gives them, in recimpute's own types.
#[derive(Debug, Default)]
pub struct ImputeFunction;

fn text_arg(exprs: &[Expr], i: usize, what: &str) -> Result<Option<String>> {
    match exprs.get(i) {
        None => Ok(None),
        Some(Expr::Literal(
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)),
            _,
        )) => Ok(Some(s.clone())),
        Some(other) => Err(DataFusionError::Plan(format!(
            "{FUNCTION_NAME}(): argument {} ({what}) must be a string literal, got {other}",
            i + 1
        ))),
    }
}

impl TableFunctionImpl for ImputeFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let usage = || {
            DataFusionError::Plan(format!(
                "{FUNCTION_NAME}(): expected {FUNCTION_NAME}('model.json', 'table.parquet' or 'dir/'[, 'raw']), got {} \
                 arguments",
                exprs.len()
            ))
        };
        if exprs.len() > 3 {
            return Err(usage());
        }
        let model = text_arg(exprs, 0, "the imputer file")?.ok_or_else(usage)?;
        let source = text_arg(exprs, 1, "the Parquet file or directory")?.ok_or_else(usage)?;
        let raw = match text_arg(exprs, 2, "'raw'")?.as_deref() {
            None => false,
            Some("raw") => true,
            Some(other) => {
                return Err(DataFusionError::Plan(format!(
                    "{FUNCTION_NAME}(): the third argument may only be 'raw', got '{other}'"
                )))
            }
        };
        let model = Arc::new(ImputeModel::load(&model)?.raw_fills(raw));
        Ok(Arc::new(ImputeTable::try_new(parquet_table(&source)?, model)?))
    }
}

/// Registers [`ImputeFunction`] as `impute` in `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udtf(FUNCTION_NAME, Arc::new(ImputeFunction));
}
