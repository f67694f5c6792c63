//! `impute --imputer DIR` with a saved LLM imputer (SmolLM2 from the model cache, a few
//! steps): the fill-time `--llm-*` flags reach the fill and are saved with `--save`; a flag that
//! shapes the fine-tune, or `--fit-on`, is an error naming it rather than silently ignored.
#![cfg(feature = "llm")]
#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

use std::path::Path;
use std::process::{Command, Output};

fn recimpute(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recimpute")).args(args).output().unwrap()
}

fn ok(out: Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

fn failed(out: Output) -> String {
    assert!(!out.status.success(), "succeeded: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The fill settings saved in `dir/imputer.json`.
fn fill_settings(dir: &Path) -> serde_json::Value {
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("imputer.json")).unwrap()).unwrap();
    saved["config"]["fill"].clone()
}

#[test]
fn a_saved_llm_imputer_takes_fill_flags_and_refuses_fit_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    // 48 rows: a device that follows the age, a plan that follows the device; every fourth row
    // misses its device, every fifth its plan.
    let mut text = String::from("age,device,plan\n");
    for i in 0..48 {
        let age = 20 + (i * 7) % 45;
        let device = if age < 40 { "Mobile" } else { "Desktop" };
        let plan = if device == "Mobile" { "basic" } else { "pro" };
        let device = if i % 4 == 1 { "" } else { device };
        let plan = if i % 5 == 2 { "" } else { plan };
        text.push_str(&format!("{age},{device},{plan}\n"));
    }
    std::fs::write(d("t.csv"), text).unwrap();
    ok(recimpute(&["fit-adapter", "--llm-steps", "2", "--llm-holdout", "0", "--out", &d("model"), &d("t.csv")]));
    let fitted = fill_settings(Path::new(&d("model")));
    assert_eq!(fitted["known_order"], "fewest_values");
    assert_eq!(fitted["block_rows"], 256);

    // Fill-time flags reach the loaded imputer: `--save` writes it back with them.
    let said = ok(recimpute(&[
        "impute",
        &d("t.csv"),
        &d("a.csv"),
        "--imputer",
        &d("model"),
        "--llm-known-order",
        "schema",
        "--llm-block-rows",
        "0",
        "--llm-orders",
        "2",
        "--save",
        &d("resaved"),
    ]));
    let resaved = fill_settings(Path::new(&d("resaved")));
    assert_eq!(resaved["known_order"], "schema", "{said}");
    assert_eq!(resaved["block_rows"], 0);
    assert_eq!(resaved["orders"], 2);
    // Column by column, no question continues another's cache (the summary says so when blocks
    // are used).
    assert!(!said.contains("continued the cache"), "{said}");
    let filled = std::fs::read_to_string(d("a.csv")).unwrap();
    assert_eq!(filled.lines().count(), 49);
    assert!(filled.lines().skip(1).all(|l| l.split(',').all(|c| !c.is_empty())), "every gap filled:\n{filled}");

    // Settings of the fine-tune cannot apply to a fitted imputer: each is named.
    let err = failed(recimpute(&[
        "impute",
        &d("t.csv"),
        &d("b.csv"),
        "--imputer",
        &d("model"),
        "--llm-steps",
        "5",
        "--llm-lr",
        "0.01",
    ]));
    assert!(err.contains("already fitted") && err.contains("--llm-steps, --llm-lr"), "{err}");
    let err =
        failed(recimpute(&["impute", &d("t.csv"), &d("c.csv"), "--imputer", &d("model"), "--fit-on", &d("t.csv")]));
    assert!(err.contains("already fitted") && err.contains("--fit-on"), "{err}");
    assert!(!Path::new(&d("b.csv")).exists() && !Path::new(&d("c.csv")).exists(), "no output on error");
}
