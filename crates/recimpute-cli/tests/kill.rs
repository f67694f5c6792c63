//! `impute` killed (SIGKILL, no chance to clean up) at points spread over its run never leaves
//! a partial output: the output is absent or complete, and a rerun into the same path ends with
//! exactly the bytes of a run that was never interrupted and no temporary file beside them.
//! Covers the whole-table path (CSV in and out) and the streaming one (a saved imputer applied
//! to a Parquet file batch by batch). The grid commands have theirs in `resume.rs`.
#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where in a run the kills land, as fractions of an uninterrupted run's wall time.
const KILL_AT: [f64; 4] = [0.1, 0.4, 0.7, 0.95];
/// The same for the fine-tune, fewer because each rerun loads the model and trains again: one
/// kill in loading or training, one near the end (training or saving).
#[cfg(feature = "llm")]
const KILL_FIT_AT: [f64; 2] = [0.4, 0.97];

fn recimpute(args: &[&std::ffi::OsStr]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recimpute"));
    cmd.args(args);
    cmd
}

fn refs(args: &[std::ffi::OsString]) -> Vec<&std::ffi::OsStr> {
    args.iter().map(|s| s.as_os_str()).collect()
}

fn run_ok(args: &[&std::ffi::OsStr]) -> Duration {
    let start = Instant::now();
    let out = recimpute(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    start.elapsed()
}

/// A table of `rows` rows whose columns depend on each other, with about 15% of the cells of
/// four columns missing (a fixed linear congruential sequence, so every run sees the same).
fn write_table(path: &Path, rows: usize) {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut text = String::from("id,age,income,device,segment,score\n");
    for i in 0..rows {
        let age = 18.0 + (next() * 50.0).floor();
        let income = (age * 900.0 + next() * 8000.0).round();
        let device = ["Mobile", "Desktop", "Tablet"][usize::from(age > 35.0) + usize::from(next() > 0.8)];
        let segment = ["a", "b", "c", "d"][((income / 20_000.0) as usize).min(3)];
        let score = format!("{:.2}", income / 1000.0 + next());
        let cell = |s: String, next: &mut dyn FnMut() -> f64| if next() < 0.15 { String::new() } else { s };
        let line = [
            format!("u{i}"),
            cell(age.to_string(), &mut next),
            cell(income.to_string(), &mut next),
            cell(device.to_string(), &mut next),
            cell(segment.to_string(), &mut next),
            score,
        ]
        .join(",");
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// Calls `kill_at(fraction)` for each of `fractions` (of a reference run's time); `kill_at`
/// says whether its run was still going when killed. The reference time varies with the
/// machine's load, so a kill that came after its run had finished is tried again at half the
/// time (at most four times), and some kill lands in a running command however fast this one
/// ran. Returns how many kills did.
fn kills_in_running_commands(fractions: &[f64], mut kill_at: impl FnMut(f64) -> bool) -> usize {
    let mut partial_runs = 0;
    for &first in fractions {
        let mut at = first;
        for _ in 0..4 {
            if kill_at(at) {
                partial_runs += 1;
                break;
            }
            at /= 2.0;
        }
    }
    partial_runs
}

/// Kills `args` (which write `output`) at each of [`KILL_AT`] of `full` and checks the output
/// after each kill and after a rerun against `want`.
fn kill_and_rerun(args: &[&std::ffi::OsStr], output: &Path, full: Duration, want: &[u8]) {
    let dir = output.parent().unwrap();
    let name = output.file_name().unwrap().to_string_lossy().into_owned();
    let partial_runs = kills_in_running_commands(&KILL_AT, |at| {
        let _ = std::fs::remove_file(output);
        let mut child = recimpute(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(full.mul_f64(at));
        let running = child.try_wait().unwrap().is_none();
        child.kill().unwrap();
        child.wait().unwrap();
        if output.exists() {
            assert_eq!(std::fs::read(output).unwrap(), want, "killed at {at}: the output is partial or different");
        }
        run_ok(args);
        assert_eq!(std::fs::read(output).unwrap(), want, "rerun after a kill at {at}");
        let leftovers: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!(".{name}.")))
            .collect();
        assert!(leftovers.is_empty(), "killed at {at}: temporary files left beside the output: {leftovers:?}");
        running
    });
    assert!(partial_runs > 0, "every run finished before its kill: the table is too small to test anything");
}

#[test]
fn a_killed_whole_table_impute_never_leaves_a_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("users.csv");
    write_table(&input, 3000);
    let reference = dir.path().join("reference.csv");
    let args = |out: &Path| -> Vec<std::ffi::OsString> {
        vec!["impute".into(), input.clone().into(), out.into(), "--method".into(), "missforest".into()]
    };
    let full = run_ok(&refs(&args(&reference)));
    let want = std::fs::read(&reference).unwrap();
    assert!(!want.is_empty());
    let output = dir.path().join("filled.csv");
    kill_and_rerun(&refs(&args(&output)), &output, full, &want);
}

#[test]
fn a_killed_streaming_impute_never_leaves_a_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("events.csv");
    write_table(&csv, 20_000);
    let input = dir.path().join("events.parquet");
    run_ok(&[std::ffi::OsStr::new("convert"), csv.as_os_str(), input.as_os_str()]);
    // A KNN imputer fitted on a sample, applied batch by batch.
    let model = dir.path().join("knn.json");
    run_ok(&[
        "fit".as_ref(),
        csv.as_os_str(),
        "--out".as_ref(),
        model.as_os_str(),
        "--method".as_ref(),
        "knn".as_ref(),
        "--fit-sample".as_ref(),
        "4000".as_ref(),
    ]);
    let args = |out: &Path| -> Vec<std::ffi::OsString> {
        vec![
            "impute".into(),
            input.clone().into(),
            out.into(),
            "--imputer".into(),
            model.clone().into(),
            "--batch-rows".into(),
            "1000".into(),
        ]
    };
    let reference = dir.path().join("reference.parquet");
    let full = run_ok(&refs(&args(&reference)));
    let want = std::fs::read(&reference).unwrap();
    let output = dir.path().join("filled.parquet");
    kill_and_rerun(&refs(&args(&output)), &output, full, &want);
}

/// `imputer.json` without what differs between two identical fits: wall times and speeds, and
/// on a CPU without fast bf16 the slow-CPU budget's limit and reserve, read off the clock.
#[cfg(feature = "llm")]
fn saved_imputer(dir: &Path) -> serde_json::Value {
    let text = std::fs::read(dir.join("imputer.json")).unwrap();
    let mut saved: serde_json::Value =
        serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: not a complete imputer.json: {e}", dir.display()));
    let report = saved["report"].as_object_mut().unwrap();
    for timing in ["seconds", "tokens_per_second", "head_seconds", "time_limit_s", "reserved_s"] {
        report.remove(timing);
    }
    // The probes' own times.
    for name in ["retrieval", "depth_probe"] {
        if let Some(probe) = report.get_mut(name).and_then(serde_json::Value::as_object_mut) {
            probe.remove("seconds");
        }
    }
    saved
}

/// `fit-adapter` (SmolLM2 from the model cache, a few steps) killed while loading, training or
/// saving leaves either no model directory or a complete one equal to an uninterrupted fit's;
/// the rerun writes the same model and removes what the killed save left beside it.
#[cfg(feature = "llm")]
#[test]
fn a_killed_fit_adapter_never_leaves_a_partial_model() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("users.csv");
    write_table(&input, 80);
    let args = |out: &Path| -> Vec<std::ffi::OsString> {
        ["fit-adapter", "--llm-steps", "3", "--llm-holdout", "0", "--seed", "5", "--out"]
            .iter()
            .map(|s| s.into())
            .chain([out.as_os_str().to_owned(), input.as_os_str().to_owned()])
            .collect()
    };
    // The first run also pays for cold caches (the model file, the measured precision choice),
    // so the kills are timed on the second, which must write the same model.
    let reference = dir.path().join("reference");
    run_ok(&refs(&args(&reference)));
    let want = saved_imputer(&reference);
    let again = dir.path().join("again");
    let full = run_ok(&refs(&args(&again)));
    assert_eq!(saved_imputer(&again), want, "two uninterrupted fits differ");
    let want_adapter = std::fs::read(reference.join("adapter").join("adapter_model.safetensors")).unwrap();

    let output = dir.path().join("model");
    // A save killed between its writes, as a process that no longer runs would have left it.
    let stale = dir.path().join(".model.0.1.tmp");
    std::fs::create_dir_all(stale.join("adapter")).unwrap();
    // Kills the fit at `at` of the reference time; says whether it was still running.
    let kill_at = |at: f64| -> bool {
        let _ = std::fs::remove_dir_all(&output);
        let mut child = recimpute(&refs(&args(&output))).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(full.mul_f64(at));
        let running = child.try_wait().unwrap().is_none();
        child.kill().unwrap();
        child.wait().unwrap();
        if output.exists() {
            assert_eq!(saved_imputer(&output), want, "killed at {at}: a different imputer.json");
        }
        run_ok(&refs(&args(&output)));
        assert_eq!(saved_imputer(&output), want, "rerun after a kill at {at}");
        let adapter = std::fs::read(output.join("adapter").join("adapter_model.safetensors")).unwrap();
        assert!(adapter == want_adapter, "rerun after a kill at {at}: other adapter weights");
        let leftovers: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".model."))
            .collect();
        assert!(leftovers.is_empty(), "killed at {at}: left beside the model: {leftovers:?}");
        running
    };
    let partial_runs = kills_in_running_commands(&KILL_FIT_AT, kill_at);
    assert!(partial_runs > 0, "every fit finished before its kill");
}
