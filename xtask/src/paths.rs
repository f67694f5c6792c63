//! Where things live: the repository, the cache, the data.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// The workspace root (the parent of this crate's directory).
pub fn repo_root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).context("xtask has no parent directory")
}

/// The cache shared by every clone on this machine: `RECIMPUTE_CACHE`, else
/// `$XDG_CACHE_HOME/recimpute`, else `~/.cache/recimpute`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("RECIMPUTE_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("recimpute"));
    }
    let home = std::env::var_os("HOME").context("neither RECIMPUTE_CACHE nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache").join("recimpute"))
}
