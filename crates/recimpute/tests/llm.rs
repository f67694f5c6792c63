//! The LLM imputer's whole path (fit → transform → save → load) on a tiny GPT-2 generated
//! here with a byte-level tokenizer. The SmolLM2
//! runs are opt-in (`--ignored`), see the end of this file.

#![cfg(feature = "llm")]

use std::path::Path;

use recimpute::llm::{Backbone, DeviceChoice, Error, ImputeOptions, LlmImputer, LlmImputerConfig};
use recimpute::lm::{Activation, Gpt2, Gpt2Config, LoadOptions};
use recimpute::prelude::*;

/// GPT-2's byte-to-character table: the 256 base symbols of byte-level BPE.
fn byte_chars() -> Vec<char> {
    let mut out = Vec::with_capacity(256);
    let mut extra = 0u32;
    for b in 0u32..256 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        out.push(if printable {
            char::from_u32(b).unwrap()
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap()
        });
    }
    out
}

/// A random 2-layer GPT-2 with a byte-level tokenizer that has no merges (257 tokens: the 256
/// bytes and `<|endoftext|>`), written in HF format. Small enough to fine-tune in seconds,
/// and every string is spellable, as with the real GPT-2 tokenizer.
fn tiny_backbone(dir: &Path) -> Backbone {
    let cfg = Gpt2Config {
        vocab_size: 257,
        n_positions: 256,
        n_embd: 64,
        n_layer: 2,
        n_head: 4,
        n_inner: 128,
        activation: Activation::GeluTanh,
        resid_pdrop: 0.0,
        embd_pdrop: 0.0,
        attn_pdrop: 0.0,
        layer_norm_epsilon: 1e-5,
        scale_attn_weights: true,
        scale_attn_by_inverse_layer_idx: false,
        bos_token_id: 256,
        eos_token_ids: vec![256],
        pad_token_id: None,
    };
    Gpt2::random(cfg, LoadOptions::default(), 7).unwrap().save_pretrained(dir).unwrap();
    sharpen_head(&dir.join("model.safetensors"), 25.0);
    let mut vocab = serde_json::Map::new();
    for (i, c) in byte_chars().into_iter().enumerate() {
        vocab.insert(c.to_string(), serde_json::json!(i));
    }
    vocab.insert("<|endoftext|>".into(), serde_json::json!(256));
    std::fs::write(dir.join("vocab.json"), serde_json::to_vec(&vocab).unwrap()).unwrap();
    std::fs::write(dir.join("merges.txt"), "#version: 0.2\n").unwrap();
    Backbone::HfDir(dir.to_path_buf())
}

/// Multiplies the final layer norm's gain. With HF's initialisation (weights of std 0.02, tied
/// head) a 64-wide random model's logits can differ by little more than 1 however the
/// adapters move, so a fine-tune can rank values but hardly learn them; a larger gain acts as
/// a lower softmax temperature and lets a few LoRA steps learn a real mapping.
fn sharpen_head(path: &Path, gain: f32) {
    use safetensors::tensor::{SafeTensors, TensorView};
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in st.tensors() {
        let mut data = view.data().to_vec();
        if name.ends_with("ln_f.weight") {
            for chunk in data.chunks_exact_mut(4) {
                let x = f32::from_le_bytes(chunk.try_into().unwrap()) * gain;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
        }
        owned.push((name, view.dtype(), view.shape().to_vec(), data));
    }
    let views: Vec<(String, TensorView<'_>)> =
        owned.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn config(backbone: Backbone) -> LlmImputerConfig {
    let mut c = LlmImputerConfig::new(backbone)
        .with_max_steps(400)
        .with_learning_rate(1e-2)
        .with_device(DeviceChoice::Cpu)
        .with_progress(false)
        .with_seed(3);
    c.lora_r = 16;
    c.train_batch_size = 8;
    c.lora_dropout = 0.0;
    c.lora_targets = Some(vec!["c_attn".into(), "c_proj".into(), "c_fc".into()]);
    c
}

/// `fruit` follows `colour`; `size` follows `fruit`; `tags` and `note` are free.
fn table(rows: usize) -> Table {
    let colours = ["red", "blue", "green"];
    let fruits = ["apple", "berry", "lime"];
    let sizes = [7.5, 1.0, 3.0];
    let mut csv = String::from("id,colour,fruit,size,tags,note\n");
    for r in 0..rows {
        let k = (r * 7 + r / 3) % 3;
        let tags = if r % 2 == 0 { "sweet|fresh" } else { "sour" };
        csv.push_str(&format!("u{r},{},{},{},{tags},batch {}\n", colours[k], fruits[k], sizes[k], r % 4));
    }
    let schema = Schema::try_new(vec![
        ColumnSpec::new("id", ColumnKind::Id),
        ColumnSpec::new("colour", ColumnKind::Categorical),
        ColumnSpec::new("fruit", ColumnKind::Categorical),
        ColumnSpec::new("size", ColumnKind::Numeric),
        ColumnSpec::new("tags", ColumnKind::SetValued),
        ColumnSpec::new("note", ColumnKind::Text),
    ])
    .unwrap();
    let opts = CsvOptions::default().with_schema(schema);
    read_csv_bytes(csv.as_bytes(), "fruit.csv", &opts).unwrap()
}

/// Hides the cells `(row, col)` of `t`.
fn hide(t: &Table, cells: &[(usize, usize)]) -> Table {
    let mut rows: Vec<Vec<Option<Value>>> =
        (0..t.num_rows()).map(|r| (0..t.num_columns()).map(|c| t.value(r, c)).collect()).collect();
    for &(r, c) in cells {
        rows[r][c] = None;
    }
    Table::from_rows(t.schema().clone(), rows).unwrap()
}

#[test]
fn fit_transform_save_load_on_a_tiny_gpt2() {
    // One intra-op thread makes the 400 training steps reproducible: with libtorch's thread
    // pool shared with the other tests of this binary, reduction order changes from run to run,
    // and at this learning rate that moved the fruit accuracy between 26 and 32 of 32.
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_backbone(&tmp.path().join("tiny-gpt2"));
    let full = table(96);
    let imputer = LlmImputer::new(config(backbone));
    let fitted = imputer.fit_llm(&full).unwrap();
    let report = fitted.report();
    assert_eq!(report.train_rows, 96);
    assert_eq!(report.steps, 400);
    let first = report.losses.first().unwrap().1;
    let last = report.losses.last().unwrap().1;
    assert!(last < 0.6 * first, "training loss {first} -> {last}");

    // Hide fruit in every third row (and several cells of row 1), keep the rest.
    let mut hidden: Vec<(usize, usize)> = (0..96).step_by(3).map(|r| (r, 2)).collect();
    hidden.extend([(1, 1), (1, 3), (1, 4), (1, 5), (4, 3), (7, 4), (10, 5)]);
    let masked = hide(&full, &hidden);
    let imp = fitted.impute(&masked, &ImputeOptions { draws: 3, seed: 1, only: None }).unwrap();
    assert_eq!(imp.cells.len(), hidden.len(), "every hidden cell is imputed once");
    let filled = fitted.transform(&masked).unwrap();
    assert_eq!(filled.missing_cells().count(), 0);

    // Observed cells are untouched.
    for r in 0..96 {
        for c in 0..6 {
            if !masked.is_missing(r, c) {
                assert_eq!(filled.value(r, c), masked.value(r, c), "cell ({r}, {c}) changed");
            }
        }
    }
    // Every imputed value lies in its column's grammar.
    let codec = fitted.codec();
    for cell in &imp.cells {
        let col = &codec.columns()[cell.cell.col];
        for v in std::iter::once(&cell.value).chain(&cell.draws) {
            match v {
                Value::Category(s) => assert!(col.vocabulary.contains(s), "{s} not in {}", col.name),
                Value::Number(x) => {
                    let (lo, hi) = col.range.unwrap();
                    assert!(*x >= lo && *x <= hi, "{x} outside [{lo}, {hi}]");
                }
                Value::Set(items) => {
                    assert!(items.iter().all(|i| col.vocabulary.contains(i)), "{items:?}");
                }
                Value::Text(s) => assert!(!s.contains('"')),
            }
            assert!(v.fits(col.kind), "{v:?} in {}", col.name);
        }
        if let Some(p) = cell.probability {
            assert!((0.0..=1.0 + 1e-9).contains(&p), "probability {p}");
        }
        assert_eq!(cell.draws.len(), 3);
    }
    // The planted dependency colour -> fruit is learnt.
    let fruit_cells: Vec<_> = imp.cells.iter().filter(|c| c.cell.col == 2 && c.cell.row != 1).collect();
    let right = fruit_cells.iter().filter(|c| Some(&c.value) == full.value(c.cell.row, 2).as_ref()).count();
    assert!(right as f64 >= 0.9 * fruit_cells.len() as f64, "fruit right in {right} of {}", fruit_cells.len());
    assert!(fitted.is_scored(2) && fitted.is_scored(3) && !fitted.is_scored(4));

    // Multiple imputation gives tables of the same shape, all complete.
    let tables = fitted.transform_multiple(&masked, 2, 9).unwrap();
    assert_eq!(tables.len(), 2);
    assert!(tables.iter().all(|t| t.missing_cells().count() == 0));

    // Save and load: same imputations.
    let dir = tmp.path().join("fitted");
    fitted.save(&dir).unwrap();
    fitted.save(&dir).unwrap(); // replacing an existing save works
    assert!(dir.join("imputer.json").is_file());
    assert!(dir.join("adapter/adapter_model.safetensors").is_file());
    let loaded = LlmImputer::load(&dir).unwrap();
    let again = loaded.transform(&masked).unwrap();
    for c in &imp.cells {
        assert_eq!(again.value(c.cell.row, c.cell.col), filled.value(c.cell.row, c.cell.col));
    }
    assert_eq!(loaded.report().steps, fitted.report().steps);
    assert_eq!(loaded.report().losses.len(), fitted.report().losses.len());
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_backbone(&tmp.path().join("tiny-gpt2"));
    let cfg = config(backbone.clone()).with_max_steps(1);

    // No complete row.
    let full = table(6);
    let holes: Vec<(usize, usize)> = (0..6).map(|r| (r, 1 + r % 5)).collect();
    let err = LlmImputer::new(cfg.clone()).fit_llm(&hide(&full, &holes)).unwrap_err();
    assert!(matches!(err, Error::NoCompleteRows { rows: 6, .. }), "{err}");
    assert!(err.to_string().contains("no complete row"), "{err}");

    // Only id columns: nothing to impute.
    let ids = full.select(&["id"]).unwrap();
    let err = LlmImputer::new(cfg.clone()).fit_llm(&ids).unwrap_err();
    assert!(err.to_string().contains("no column"), "{err}");

    // A missing backbone names the path.
    let gone = LlmImputerConfig { backbone: Backbone::Gguf(tmp.path().join("nope.gguf")), ..cfg.clone() };
    let err = LlmImputer::new(gone).fit_llm(&full).unwrap_err();
    assert!(err.to_string().contains("nope.gguf"), "{err}");

    // A bad setting.
    let err = LlmImputer::new(LlmImputerConfig { lora_r: 0, ..cfg.clone() }).fit_llm(&full).unwrap_err();
    assert!(err.to_string().contains("lora_r"), "{err}");

    // A table of another schema at transform time.
    let fitted = LlmImputer::new(cfg).fit_llm(&full).unwrap();
    let other = full.drop_columns(&["note"]).unwrap();
    assert!(fitted.transform(&other).is_err());

    // A saved imputer with a broken file.
    let dir = tmp.path().join("saved");
    fitted.save(&dir).unwrap();
    std::fs::write(dir.join("imputer.json"), b"{ not json").unwrap();
    let err = LlmImputer::load(&dir).unwrap_err();
    assert!(err.to_string().contains("imputer.json"), "{err}");
}

/// The LLM imputer runs as a cell of the experiment grid and records its loss curve.
#[cfg(feature = "dlrm")]
#[test]
fn llm_cells_run_in_the_grid() {
    use recimpute::experiment::{run_grid, DlrmSettings, ExperimentConfig, ImputerName, LlmSettings, TaskName};
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_backbone(&tmp.path().join("tiny-gpt2"));
    let config = ExperimentConfig {
        out_dir: tmp.path().join("grid"),
        tasks: vec![TaskName::SyntheticAdclick],
        imputers: vec![ImputerName::Mean, ImputerName::Llm],
        rates: vec![0.1],
        seeds: vec![1],
        synthetic_rows: 300,
        dlrm: DlrmSettings { epochs: 2, batch_size: 64, ..DlrmSettings::default() },
        llm: LlmSettings {
            backbone: Some(backbone.path().to_path_buf()),
            max_steps: Some(20),
            max_train_rows: 64,
            learning_rate: 1e-2,
            train_batch_size: 8,
            ..LlmSettings::default()
        },
        ..ExperimentConfig::default()
    };
    let outcome = run_grid(&config, |_, _, _, _| {}).unwrap();
    assert_eq!(outcome.computed, 2);
    let llm = outcome.results.iter().find(|r| r.spec.imputer == ImputerName::Llm).unwrap();
    assert_eq!(llm.loss_history.len(), 20);
    let quality = llm.imputation.as_ref().expect("masked cells are scored");
    assert!(!quality.columns.is_empty());
    assert!(config.out_dir.join("report.md").is_file());
}
