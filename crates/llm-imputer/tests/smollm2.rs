//! The LLM imputer on the real SmolLM2-135M-Instruct (the GGUF that `cargo xtask fetch-model`
//! puts in the cache; `cargo xtask test` fetches it first). Without the file the test fails
//! with the command that fetches it: it never passes by skipping.
//!
//! The table is the demo's generator (`rec_datasets::synthetic::adclick_like`): a hidden persona
//! drives every column, so `device_type` is predictable from the others (the best possible
//! accuracy is about 0.85) while its most common value covers well under half of the rows.

use std::collections::HashMap;

use llm_imputer::{default_models_dir, Backbone, ImputeOptions, LlmImputer, LlmImputerConfig, SMOLLM2_GGUF};
use rec_datasets::missingness::{inject, Mechanism, MissingnessConfig};
use rec_datasets::synthetic::adclick_like;
use rec_table::{Imputer, Value};

fn smollm2() -> Backbone {
    let path = default_models_dir().join(SMOLLM2_GGUF);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask fetch-model` (or `cargo xtask test`, which fetches it)",
        path.display()
    );
    Backbone::Gguf(path)
}

#[test]
fn smollm2_learns_a_planted_dependency_beyond_the_mode() {
    let full = adclick_like(600, 11).unwrap();
    let device = full.schema().index_of("device_type").unwrap();
    let config = MissingnessConfig::new(Mechanism::Mcar, 0.1, 5);
    let masked = inject(&full, &config).unwrap();
    let mut cfg = LlmImputerConfig::new(smollm2()).with_max_steps(48).with_seed(1).with_progress(false);
    // The batch and warm-up this margin was measured with (the default batch is now 8; 48
    // steps of 8 would see half the examples).
    cfg.train.batch_size = 16;
    cfg.train.warmup_steps = 8;
    cfg.examples.holdout_cells = 96;
    cfg.examples.eval_every = 24;
    // Every block, on every CPU: the margin below was measured with the whole model, and a
    // shallower one (the default where bf16 is slow) starts far off and needs a hundred-odd
    // steps to recover (docs/RESULTS.md, "A shallower backbone where bf16 is slow").
    cfg.slow_cpu_depth = None;
    let fitted = LlmImputer::new(cfg).fit(&masked.table).unwrap();
    let report = fitted.report();
    assert!(report.steps > 0 && report.steps <= 48);
    assert_eq!(report.holdout_cells, 96);
    assert_eq!(report.learnt, Some(true), "held-out curve: {:?}", report.holdout);

    let hidden: Vec<_> = masked.mask.entries().iter().filter(|(c, _)| c.col == device).collect();
    assert!(hidden.len() >= 40, "{} hidden device cells", hidden.len());
    let only = hidden.iter().map(|(c, _)| *c).collect();
    let imp = fitted.impute(&masked.table, &ImputeOptions { only: Some(only), ..ImputeOptions::default() }).unwrap();
    assert_eq!(imp.cells.len(), hidden.len());
    assert_eq!(imp.fallbacks, 0, "scored columns never fall back");
    assert_eq!(imp.columns["device_type"].method, "scored");

    // The mode of the observed device cells, and how often it is right on the hidden ones.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for r in 0..masked.table.num_rows() {
        if let Some(v) = masked.table.value(r, device) {
            *counts.entry(v.to_string()).or_default() += 1;
        }
    }
    let mode = counts.into_iter().max_by_key(|(_, n)| *n).map(|(v, _)| v).unwrap();
    let truth: HashMap<_, _> = hidden.iter().map(|(c, v)| (*c, v.clone())).collect();
    let n = hidden.len() as f64;
    let mode_acc = hidden.iter().filter(|(_, v)| v.to_string() == mode).count() as f64 / n;
    let llm_acc = imp.cells.iter().filter(|c| Some(&c.value) == truth.get(&c.cell)).count() as f64 / n;
    eprintln!("device_type on {n} hidden cells: llm {llm_acc:.3}, mode {mode_acc:.3}");
    // Measured on the development machine (2 cores, bf16): 0.740 against the mode's 0.364 on
    // the 77 hidden device cells. A margin of 0.15 over the mode leaves room for other CPUs,
    // precisions and thread counts and still fails for a model that answers the mode.
    assert!(llm_acc >= mode_acc + 0.15, "llm {llm_acc:.3} vs mode {mode_acc:.3} on {n} cells");
    assert!(imp.cells.iter().all(|c| matches!(c.value, Value::Category(_))));
}
