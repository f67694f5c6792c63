//! The LLM commands in a build without the `llm` feature: a clear error.

use std::path::Path;

use super::*;

const NEED: &str = "the LLM imputer needs the `llm` feature (libtorch): run \
    `cargo xtask cargo run --release -p recimpute-cli --features full -- ...`";

pub fn impute(
    _: &Table,
    _: &Table,
    _: Option<&Path>,
    _: Option<&Path>,
    _: &LlmArgs,
    _: u64,
) -> Result<(String, Table)> {
    anyhow::bail!(NEED)
}

pub fn fit_adapter(_: &Table, _: &Path, _: &LlmArgs, _: u64) -> Result<()> {
    anyhow::bail!(NEED)
}
