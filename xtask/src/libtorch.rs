//! Finding or installing libtorch.
//!
//! Order: `LIBTORCH` if set; else a Python that already has `torch==2.13.0` (the active
//! virtualenv, then `python3`, then the cached virtualenv); else the cached virtualenv is created
//! and `pip install torch==2.13.0` runs in it. Cargo then builds with `LIBTORCH_USE_PYTORCH=1`
//! (tch's build script asks that Python where torch is), and torch's `lib/` goes on the loader
//! path.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::paths;

/// The torch version `tch 0.26` is written against.
pub const TORCH_VERSION: &str = "2.13.0";

/// A usable libtorch and how to point cargo and the loader at it.
pub struct Torch {
    /// Python executable that has torch (None when `LIBTORCH` is used).
    pub python: Option<PathBuf>,
    /// The virtualenv it lives in, if any.
    pub venv: Option<PathBuf>,
    /// Directory holding `libtorch*.so`.
    pub lib_dir: PathBuf,
}

impl Torch {
    /// Environment variables for cargo and for running binaries.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        let path = std::env::var("PATH").unwrap_or_default();
        if let Some(venv) = &self.venv {
            env.push(("VIRTUAL_ENV".into(), venv.display().to_string()));
            env.push(("PATH".into(), format!("{}:{path}", venv.join("bin").display())));
        }
        if self.python.is_some() {
            env.push(("LIBTORCH_USE_PYTORCH".into(), "1".into()));
        }
        let ld = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
        let lib = self.lib_dir.display().to_string();
        let ld = if ld.split(':').any(|p| p == lib) {
            ld
        } else if ld.is_empty() {
            lib
        } else {
            format!("{lib}:{ld}")
        };
        env.push(("LD_LIBRARY_PATH".into(), ld));
        env
    }
}

/// Finds libtorch, installing it into the cache if no usable one exists.
pub fn ensure() -> Result<Torch> {
    if let Some(dir) = std::env::var_os("LIBTORCH") {
        let dir = PathBuf::from(dir);
        let lib_dir = dir.join("lib");
        if !lib_dir.is_dir() {
            bail!("LIBTORCH={} has no lib/ directory", dir.display());
        }
        return Ok(Torch { python: None, venv: None, lib_dir });
    }
    let cached = venv_dir()?;
    let mut candidates: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
    if let Some(active) = std::env::var_os("VIRTUAL_ENV") {
        let active = PathBuf::from(active);
        candidates.push((active.join("bin/python"), Some(active)));
    }
    candidates.push((PathBuf::from("python3"), None));
    candidates.push((cached.join("bin/python"), Some(cached.clone())));
    for (python, venv) in &candidates {
        if let Some(lib_dir) = torch_lib(python) {
            return Ok(Torch { python: Some(python.clone()), venv: venv.clone(), lib_dir });
        }
    }
    install(&cached)
}

fn venv_dir() -> Result<PathBuf> {
    Ok(paths::cache_dir()?.join("torch-venv"))
}

/// The `lib/` of torch as installed for `python`, if it is the right version.
fn torch_lib(python: &Path) -> Option<PathBuf> {
    let out = Command::new(python)
        .args(["-c", "import torch, os; print(torch.__version__); print(os.path.dirname(torch.__file__))"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let version = lines.next()?.trim();
    let dir = PathBuf::from(lines.next()?.trim());
    if version.split('+').next() != Some(TORCH_VERSION) {
        eprintln!("xtask: {} has torch {version}, not {TORCH_VERSION}; not using it", python.display());
        return None;
    }
    Some(dir.join("lib"))
}

fn install(venv: &Path) -> Result<Torch> {
    let python3 = which_python()?;
    let start = Instant::now();
    if !venv.join("bin/python").exists() {
        eprintln!("xtask: creating virtualenv {}", venv.display());
        std::fs::create_dir_all(venv.parent().context("venv has no parent")?)?;
        let status = Command::new(&python3).args(["-m", "venv"]).arg(venv).stdout(std::io::stderr()).status()?;
        if !status.success() {
            bail!(
                "`{} -m venv` failed; install Python's venv module (Debian: apt-get install python3-venv)",
                python3.display()
            );
        }
    }
    let torch =
        Torch { python: Some(venv.join("bin/python")), venv: Some(venv.to_path_buf()), lib_dir: PathBuf::new() };
    eprintln!("xtask: installing torch=={TORCH_VERSION} from PyPI (about 1-3 minutes and ~5 GB the first time)");
    pip_install(&torch, &[&format!("torch=={TORCH_VERSION}")])?;
    let lib_dir = torch_lib(&venv.join("bin/python"))
        .context("torch was installed but cannot be imported from the cached virtualenv")?;
    eprintln!("xtask: libtorch installed in {:.0?}", start.elapsed());
    Ok(Torch { lib_dir, ..torch })
}

fn which_python() -> Result<PathBuf> {
    for candidate in ["python3", "python"] {
        if Command::new(candidate).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return Ok(PathBuf::from(candidate));
        }
    }
    bail!("no Python found: recimpute needs Python 3 with pip to install libtorch (PyPI torch=={TORCH_VERSION}), or set LIBTORCH to an unpacked libtorch")
}

/// `pip install` into the virtualenv of `torch`.
pub fn pip_install(torch: &Torch, args: &[&str]) -> Result<()> {
    let python = torch.python.as_ref().context("pip needs the Python libtorch came from (LIBTORCH is set)")?;
    let status = Command::new(python)
        .args(["-m", "pip", "install", "--progress-bar", "on", "--disable-pip-version-check"])
        .args(args)
        // Progress goes to stderr: `cargo xtask env` prints shell code on stdout.
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("cannot run {} -m pip", python.display()))?;
    if !status.success() {
        bail!("pip install {} failed (is pip installed? Debian: apt-get install python3-pip)", args.join(" "));
    }
    Ok(())
}
