//! Where things live: the repository, the cache, the data.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// The workspace root (the parent of this crate's directory): the checkout that `cargo xtask`
/// runs from, as cargo says at run time, else the one it was compiled in (two clones that share
/// a target directory share this binary, and the other clone may be gone).
pub fn repo_root() -> Result<PathBuf> {
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest.parent().map(PathBuf::from).context("xtask has no parent directory")
}

/// The cache shared by every clone on this machine ([`rec_cache::cache_dir`]: the libraries
/// and tests resolve it the same way).
pub fn cache_dir() -> Result<PathBuf> {
    rec_cache::cache_dir().context("none of RECIMPUTE_CACHE, XDG_CACHE_HOME and HOME is set")
}

/// Where the pretrained models go ([`rec_cache::models_dir`]: `RECIMPUTE_MODELS`, else the
/// cache's `models/`), the directory the LLM imputer and the tests read.
pub fn models_dir() -> Result<PathBuf> {
    rec_cache::models_dir().context("none of RECIMPUTE_MODELS, RECIMPUTE_CACHE, XDG_CACHE_HOME and HOME is set")
}
