//! The `recimpute` binary: command-line flags override a config file, bad flags are clear errors.

use std::path::Path;
use std::process::{Command, Output};

fn recimpute(args: &[&str], extra: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recimpute")).args(args).args(extra).output().expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn quality_flags_override_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("quality.json");
    // The file asks for KNN on two seeds with 3 LLM epochs; the flags narrow the grid to the
    // mean on seed 7 and set the LLM's epochs, leaving the file's other LLM settings alone.
    let file = serde_json::json!({
        "data_dir": dir.path(),
        "tables": ["synthetic-adclick"],
        "imputers": ["knn"],
        "rates": [0.1],
        "seeds": [1, 2],
        "synthetic_rows": 300,
        "llm": { "train": { "epochs": 3 }, "examples": { "max_train_rows": 64 } }
    });
    std::fs::write(&config, file.to_string()).unwrap();
    let out_dir = dir.path().join("out");
    let out = recimpute(
        &[
            "quality",
            "--imputers",
            "mean",
            "--seeds",
            "7",
            "--llm-epochs",
            "5",
            "--llm-lora-targets",
            "q_proj,v_proj",
            "--config",
        ],
        &[&config, Path::new("--out"), &out_dir],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let cells: Vec<String> = std::fs::read_dir(out_dir.join("cells"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cells, ["synthetic-adclick__mean__mcar__r0100__s7.json"]);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(written["seeds"], serde_json::json!([7]));
    // config.json holds the imputer's whole config: the flag, the file, and the defaults.
    assert_eq!(written["llm"]["train"]["epochs"], 5, "the flag wins");
    assert_eq!(written["llm"]["train"]["max_steps"], serde_json::Value::Null, "epochs replace the step budget");
    assert_eq!(written["llm"]["examples"]["max_train_rows"], 64, "the file's value stays");
    assert_eq!(written["llm"]["lora"]["alpha"], 32.0, "a default the file did not name");
    assert_eq!(written["llm"]["lora"]["target_modules"], serde_json::json!(["q_proj", "v_proj"]));
    assert!(std::fs::read_to_string(out_dir.join("quality.md")).unwrap().contains("| mean |"));

    // A misspelt or old flat setting is refused, not silently ignored.
    let file = serde_json::json!({ "tables": ["synthetic-adclick"], "llm": { "epochs": 3 } });
    std::fs::write(&config, file.to_string()).unwrap();
    let out = recimpute(&["quality", "--config"], &[&config, Path::new("--out"), &out_dir]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown field `epochs`"), "{}", stderr(&out));
}

#[test]
fn bad_flags_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        recimpute(&["quality", "--tables", "synthetic-adclick", "--imputers", "mean,lmm", "--out"], &[dir.path()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("invalid value 'lmm'") && err.contains("possible values: deletion"), "{err}");
}

#[cfg(feature = "dlrm")]
#[test]
fn a_broken_experiment_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broken.json");
    std::fs::write(&config, "{ \"seeds\": [1, ").unwrap();
    let out = recimpute(&["experiment", "--config"], &[&config]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("broken.json") && err.contains("not a valid experiment config"), "{err}");
}
