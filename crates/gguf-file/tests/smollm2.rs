//! Tests on the real SmolLM2-135M-Instruct Q4_1 GGUF (about 90 MB), found in the models
//! directory (`$RECIMPUTE_MODELS`, else the cache's `models/`: see `rec-cache`). Ignored by a
//! plain `cargo test`, which has no model; `cargo xtask test` fetches the model and runs them
//! (`cargo test -p gguf-file --test smollm2 -- --ignored` by hand).
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

mod common;

use std::time::Instant;

use gguf_file::{GgmlType, GgufFile};

fn open() -> GgufFile {
    GgufFile::open(common::smollm2_path()).expect("SmolLM2 GGUF parses")
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn assert_bits(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}[{i}]: {g} vs {w}");
    }
}

#[test]
#[ignore = "needs the SmolLM2 GGUF: cargo xtask fetch-model"]
fn hyperparameters() {
    let file = open();
    let m = file.metadata();
    assert_eq!(file.version(), 3);
    assert_eq!(file.architecture().unwrap(), "llama");
    assert_eq!(m.get_u32("llama.block_count").unwrap(), 30);
    assert_eq!(m.get_u32("llama.embedding_length").unwrap(), 576);
    assert_eq!(m.get_u32("llama.attention.head_count").unwrap(), 9);
    assert_eq!(m.get_u32("llama.attention.head_count_kv").unwrap(), 3);
    assert_eq!(m.get_u32("llama.feed_forward_length").unwrap(), 1536);
    assert_eq!(m.get_u32("llama.vocab_size").unwrap(), 49152);
    assert_eq!(m.get_f32("llama.rope.freq_base").unwrap(), 1e5);
    assert_eq!(file.tensor_info("token_embd.weight").unwrap().shape(), vec![49152, 576]);
    assert!(file.tensor("output.weight").is_err(), "embeddings are tied");
}

#[test]
#[ignore = "needs the SmolLM2 GGUF: cargo xtask fetch-model"]
fn tensors_match_gguf_py() {
    let file = open();
    let fx = common::fixture("smollm2_tensors.json");
    assert_eq!(file.tensors().len() as u64, fx["tensor_count"].as_u64().unwrap());
    assert_eq!(file.metadata().len() as u64, fx["kv_count"].as_u64().unwrap());
    assert_eq!(file.data_offset() as u64, fx["data_offset"].as_u64().unwrap());
    for (ty, count) in fx["type_counts"].as_object().unwrap() {
        let n = file.tensors().iter().filter(|t| t.ggml_type.name() == ty).count();
        assert_eq!(n as u64, count.as_u64().unwrap(), "{ty}");
    }
    let mut types = std::collections::HashSet::new();
    for t in fx["tensors"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let view = file.tensor(name).unwrap();
        types.insert(view.ggml_type());
        assert_eq!(view.ggml_type().name(), t["type"].as_str().unwrap());
        let dims: Vec<u64> = t["dims"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
        assert_eq!(view.info().dims, dims, "{name}");
        let x = view.to_f32().unwrap();
        assert_eq!(x.len() as u64, t["n_elements"].as_u64().unwrap());
        assert_bits(&x[..64], &floats(&t["first"]), name);
        let w = t["window_start"].as_u64().unwrap() as usize;
        assert_bits(&x[w..w + 64], &floats(&t["window"]), name);
        assert_bits(&x[x.len() - 32..], &floats(&t["last"]), name);
        let sum: f64 = x.iter().map(|&v| f64::from(v)).sum();
        let abs: f64 = x.iter().map(|&v| f64::from(v).abs()).sum();
        let (want_sum, want_abs) = (t["sum"].as_f64().unwrap(), t["abs_sum"].as_f64().unwrap());
        assert!((sum - want_sum).abs() <= 1e-6 * want_abs.max(1.0), "{name}: sum {sum} vs {want_sum}");
        assert!((abs - want_abs).abs() <= 1e-9 * want_abs.max(1.0), "{name}: abs sum {abs} vs {want_abs}");
    }
    for ty in [GgmlType::F32, GgmlType::Q8_0, GgmlType::Q4_1] {
        assert!(types.contains(&ty), "{ty} not covered");
    }
}

#[test]
#[ignore = "needs the SmolLM2 GGUF: cargo xtask fetch-model"]
fn whole_file_dequantizes_to_finite_values() {
    let file = open();
    let start = Instant::now();
    let mut total = 0usize;
    for view in file.tensor_views() {
        let x = view.to_f32().unwrap();
        assert!(x.iter().all(|v| v.is_finite()), "{}", view.name());
        total += x.len();
    }
    let elapsed = start.elapsed();
    let fx = common::fixture("smollm2_tensors.json");
    assert_eq!(total as u64, fx["total_elements"].as_u64().unwrap());
    // The time is printed, not asserted (it depends on the machine and its load); the figure
    // with its command is in docs/BENCHMARKS.md ("GGUF dequantization").
    eprintln!("dequantized {total} values in {elapsed:?}");
}

#[test]
#[ignore = "needs the SmolLM2 GGUF: cargo xtask fetch-model"]
fn tokenizer_matches_reference() {
    let tok = open().tokenizer().unwrap();
    let fx = common::fixture("smollm2_tokenizer.json");
    assert_eq!(tok.pre(), Some("smollm"));
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!((tok.bos_id(), tok.eos_id(), tok.pad_id()), (Some(1), Some(2), Some(2)));
    let corpus = fx["corpus"].as_array().unwrap();
    for (i, text) in corpus.iter().enumerate() {
        let text = text.as_str().unwrap();
        let want: Vec<u32> = fx["expected"][i].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text, true).unwrap();
        assert_eq!(got, want, "{text:?}");
        assert_eq!(tok.decode(&got, false).unwrap(), fx["decoded"][i].as_str().unwrap(), "{text:?}");
    }
    assert_eq!(tok.encode("The capital of France is", false).unwrap(), vec![504, 3575, 282, 4649, 314]);
}
