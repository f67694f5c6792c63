//! `experiment` and `demo` in a build without the `dlrm` feature: a clear error.

use super::*;

const NEED: &str = "this command trains a DLRM and needs the `dlrm` feature (libtorch): \
    run it through `cargo xtask demo`, or build with `--features dlrm` after `eval \"$(cargo xtask env)\"`";

pub fn run(_: ExperimentArgs) -> Result<()> {
    anyhow::bail!(NEED)
}
pub fn demo(_: PathBuf, _: Option<PathBuf>) -> Result<()> {
    anyhow::bail!(NEED)
}
