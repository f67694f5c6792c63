//! The LLM imputer as a cell of the experiment grid, on the tiny random GPT-2 of
//! `llm_imputer::testing`.

#![cfg(all(feature = "llm", feature = "dlrm"))]

use llm_imputer::testing::tiny_gpt2_backbone;

/// The LLM imputer runs as a cell of the experiment grid and records its loss curve.
#[test]
fn llm_cells_run_in_the_grid() {
    use llm_imputer::Precision;
    use rec_experiments::{grid_dlrm, run_grid, ExperimentConfig, ImputerName, LlmImputerConfig, TaskName};
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_gpt2_backbone(&tmp.path().join("tiny-gpt2"));
    let mut llm = LlmImputerConfig::new(backbone)
        .with_max_steps(20)
        .with_max_train_rows(64)
        .with_learning_rate(1e-2)
        .with_precision(Precision::F32);
    llm.train.batch_size = 8;
    llm.examples.holdout_cells = 16;
    let config = ExperimentConfig {
        out_dir: tmp.path().join("grid"),
        tasks: vec![TaskName::SyntheticAdclick],
        imputers: vec![ImputerName::Mean, ImputerName::Llm],
        rates: vec![0.1],
        seeds: vec![1],
        synthetic_rows: 300,
        dlrm: grid_dlrm().with_epochs(2).with_batch_size(64),
        llm: llm.clone(),
        ..ExperimentConfig::default()
    };
    let outcome = run_grid(&config, |_, _, _, _| {}).unwrap();
    assert_eq!(outcome.computed, 2);
    let llm = outcome.results.iter().find(|r| r.spec.imputer == ImputerName::Llm).unwrap();
    assert_eq!(llm.loss_history.len(), 20);
    let quality = llm.imputation.as_ref().expect("masked cells are scored");
    assert!(!quality.columns.is_empty());
    assert!(config.out_dir.join("report.md").is_file());
    // The cell records the full settings behind its numbers: the overrides and the defaults.
    let settings = llm.llm_config.as_ref().expect("the LLM cell records its settings");
    assert_eq!(settings["train"]["learning_rate"], 1e-2);
    assert_eq!(settings["train"]["batch_size"], 8);
    assert_eq!(settings["lora"]["r"], 16, "a default the grid did not override");
    // config.json records the grid's whole LLM config, not only what was overridden.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config.out_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(saved["llm"]["train"]["learning_rate"], 1e-2);
    assert_eq!(saved["llm"]["lora"]["alpha"], 32.0);
    assert_eq!(serde_json::from_value::<LlmImputerConfig>(saved["llm"].clone()).unwrap(), config.llm);
    let mean = outcome.results.iter().find(|r| r.spec.imputer == ImputerName::Mean).unwrap();
    assert!(mean.llm_config.is_none());
}

/// A quality cell of the LLM records how many scored questions continued their row's cache
/// (rows with several hidden cells), and none when the fill goes column by column; the
/// precision its base ran in; and whether it retrieved.
#[test]
fn llm_quality_cells_count_the_questions_that_continue_a_cache() {
    use llm_imputer::Precision;
    use rec_experiments::QualityTable;
    use rec_experiments::{run_quality_cell, ImputerName, LlmImputerConfig, Pattern, QualityConfig, QualitySpec};
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_gpt2_backbone(&tmp.path().join("tiny-gpt2"));
    let mut llm = LlmImputerConfig::new(backbone).with_max_steps(4).with_precision(Precision::F32);
    llm.train.batch_size = 8;
    llm.examples.holdout_cells = 0;
    let spec = QualitySpec {
        table: QualityTable::SyntheticAdclick,
        imputer: ImputerName::Llm,
        pattern: Pattern::Mcar,
        rate: 0.3,
        seed: 2,
    };
    let mut config = QualityConfig { synthetic_rows: 120, llm, ..QualityConfig::default() };
    let blocks = run_quality_cell(&spec, tmp.path(), &config).unwrap().llm.unwrap();
    // 30% of 6 columns hidden: most rows have two or more hidden cells.
    assert!(blocks.questions_resumed > 0 && blocks.questions_fresh > 0, "{blocks:?}");
    assert_eq!(blocks.precision, Some(Precision::F32));
    // `auto` retrieval: too few category cells here to tell, so off, and recorded as such.
    let probe = blocks.retrieval.clone().unwrap();
    assert!(!probe.on && probe.cells < llm_imputer::PROBE_MIN_CELLS, "{probe:?}");
    assert_eq!(blocks.retrieval_on, Some(false));
    config.llm.fill.block_rows = 0;
    // The cell records the precision `auto` stands for here, not `auto`; retrieval forced on
    // is recorded without a probe.
    config.llm.precision = Precision::Auto;
    config.llm = config.llm.with_retrieval(2);
    let columns = run_quality_cell(&spec, tmp.path(), &config).unwrap().llm.unwrap();
    assert_eq!((columns.questions_resumed, columns.questions_fresh), (0, 0));
    assert_eq!(columns.precision, Some(Precision::Auto.resolve(false)));
    assert_eq!((columns.retrieval_on, columns.retrieval.is_none()), (Some(true), true));
}
