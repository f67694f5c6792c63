//! A grid killed mid-run (SIGKILL, no chance to clean up) resumes: the rerun reuses the cells
//! saved before the kill, computes the rest, and ends with the same cells as a run that was
//! never interrupted.
#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn quality(out: &Path, config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recimpute"));
    cmd.args(["quality", "--config"]).arg(config).arg("--out").arg(out);
    cmd
}

/// Every saved cell, by file name, without its timings (the only values allowed to differ).
/// A temporary file (a write the kill interrupted) is skipped when `temps_allowed`, else an
/// error.
fn cells(out: &Path, temps_allowed: bool) -> Vec<(String, serde_json::Value)> {
    let mut cells: Vec<(String, serde_json::Value)> = std::fs::read_dir(out.join("cells"))
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".tmp") && temps_allowed {
                return None;
            }
            assert!(name.ends_with(".json") && !name.starts_with('.'), "a leftover file in cells/: {name}");
            let mut cell: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{name} is not a complete cell: {e}"));
            let object = cell.as_object_mut().unwrap();
            object.remove("fit_s");
            object.remove("impute_s");
            Some((name, cell))
        })
        .collect();
    cells.sort_by(|a, b| a.0.cmp(&b.0));
    cells
}

#[test]
fn a_killed_grid_resumes_to_the_same_cells() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("grid.json");
    let grid = serde_json::json!({
        "tables": ["synthetic-adclick"],
        "imputers": ["mean", "missforest"],
        "rates": [0.2],
        "seeds": [0, 1],
        "synthetic_rows": 3000
    });
    std::fs::write(&config, grid.to_string()).unwrap();

    // Kill the run as soon as its first cell is on disk (MissForest is then fitting).
    let killed = dir.path().join("killed");
    let mut child = quality(&killed, &config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    let saved = loop {
        let n = std::fs::read_dir(killed.join("cells"))
            .map(|d| d.filter(|e| e.as_ref().is_ok_and(|e| !e.file_name().to_string_lossy().ends_with(".tmp"))).count())
            .unwrap_or(0);
        if n > 0 {
            break n;
        }
        assert!(child.try_wait().unwrap().is_none(), "the grid ended before a cell was seen");
        assert!(start.elapsed() < Duration::from_secs(120), "no cell after two minutes");
        std::thread::sleep(Duration::from_millis(10));
    };
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run was killed, not finished");
    let before = cells(&killed, true).len();
    assert!((saved..4).contains(&before), "{before} of 4 cells saved at the kill");

    // The rerun reuses what was saved and computes the rest.
    let rerun = quality(&killed, &config).output().unwrap();
    let err = String::from_utf8_lossy(&rerun.stderr);
    assert!(rerun.status.success(), "{err}");
    assert_eq!(err.matches(" reused ").count(), before, "{err}");
    assert_eq!(err.matches(" running ").count(), 4 - before, "{err}");
    assert!(killed.join("quality.md").is_file());

    // Same cells as a run that was never interrupted.
    let fresh = dir.path().join("fresh");
    assert!(quality(&fresh, &config).output().unwrap().status.success());
    // No temporary file is left, and every cell is the uninterrupted run's.
    assert_eq!(cells(&killed, false), cells(&fresh, false));
}
