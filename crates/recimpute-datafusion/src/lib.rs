//! Fitted recimpute imputers inside [DataFusion](https://datafusion.apache.org): fill the
//! missing cells of any table a query reads, partition by partition, from SQL or from the
//! DataFusion API, with the imputer a `recimpute fit` saved.
//!
//! | item | what |
//! |---|---|
//! | [`register`] | the SQL table function `impute('model.json', 'events/')` |
//! | [`ImputeTable`] | any `TableProvider` with its rows filled |
//! | [`ImputeExec`] | the physical operator (one fill per batch, partitions in parallel) |
//! | [`ImputeCodec`] | the extension codec that ships an `ImputeExec` to remote executors |
//! | [`ImputeModel`] | a loaded imputer file and how its fills are written |
//! | [`bridge`] | batches and schemas between DataFusion's Arrow and the workspace's |
//!
//! Each batch is filled by the same function as `recimpute impute --batch-rows`
//! ([`imputers_baseline::fill_stored`]): the same fills, observed cells exactly as stored, each
//! fill a valid value of its column (unless raw fills are asked for).
//!
//! ```no_run
//! # async fn demo() -> datafusion::error::Result<()> {
//! use datafusion::prelude::{SessionConfig, SessionContext};
//!
//! // Two partitions: two files of the directory are filled at once.
//! let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
//! recimpute_datafusion::register(&ctx);
//! let filled = ctx.sql("SELECT * FROM impute('model.json', 'events/')").await?;
//! filled.write_parquet("filled/", Default::default(), None).await?;
//! # Ok(()) }
//! ```
//!
//! DataFusion 55 is built on Arrow 59 and the rest of the workspace on Arrow 60; batches cross
//! between the two as Arrow IPC streams (a copy each way, no `unsafe`). This crate is not a
//! default member of the workspace: `cargo build -p recimpute-datafusion` builds it.

pub mod bridge;
mod codec;
mod exec;
mod function;
mod model;
mod table;

pub use bridge::{batch_to_ours, batch_to_theirs, schema_to_ours, schema_to_theirs};
pub use codec::ImputeCodec;
pub use exec::ImputeExec;
pub use function::{register, ImputeFunction, FUNCTION_NAME};
pub use model::{FillCounts, ImputeModel};
pub use table::{parquet_table, ImputeTable};

/// DataFusion, as this crate uses it (its Arrow is `datafusion::arrow`).
pub use datafusion;
