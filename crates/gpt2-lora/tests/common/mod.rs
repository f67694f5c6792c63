//! Helpers shared by the integration tests: fixture paths, golden tensors, tiny models.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use gpt2_lora::{Activation, Gpt2, Gpt2Config, LoadOptions};
use tch::Tensor;

/// `tests/fixtures` of this crate.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

/// The tiny random HF GPT-2 written by `make_fixtures.py`.
pub fn tiny_dir() -> PathBuf {
    fixtures().join("tiny-gpt2")
}

/// The PEFT adapter written by `make_fixtures.py`.
pub fn tiny_lora_dir() -> PathBuf {
    fixtures().join("tiny-gpt2-lora")
}

/// The project's shared directory: `$RECIMPUTE_SHARED`, else `<workspace>/../shared`.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("RECIMPUTE_SHARED") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// Golden tensors recorded from HF transformers / PEFT.
pub fn golden() -> HashMap<String, Tensor> {
    let path = fixtures().join("golden.safetensors");
    Tensor::read_safetensors(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .into_iter()
        .collect()
}

/// Loads the tiny fixture model.
pub fn tiny() -> Gpt2 {
    Gpt2::from_pretrained(tiny_dir(), LoadOptions::default()).expect("load tiny fixture")
}

/// Largest |a - b| over positions where `mask` (`[b, t]`) is 1; logits `[b, t, v]`.
pub fn max_masked_diff(a: &Tensor, b: &Tensor, mask: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let m = mask.ne(0).unsqueeze(-1).expand_as(a);
    let d = (a - b).abs().masked_select(&m);
    d.max().double_value(&[])
}

/// A small randomly initialised GPT-2 for training tests.
pub fn small_config(vocab: usize, n_positions: usize) -> Gpt2Config {
    Gpt2Config {
        vocab_size: vocab,
        n_positions,
        n_embd: 32,
        n_layer: 2,
        n_head: 4,
        n_inner: 64,
        activation: Activation::GeluTanh,
        resid_pdrop: 0.0,
        embd_pdrop: 0.0,
        attn_pdrop: 0.0,
        layer_norm_epsilon: 1e-5,
        scale_attn_weights: true,
        scale_attn_by_inverse_layer_idx: false,
        bos_token_id: vocab as i64 - 1,
        eos_token_ids: vec![vocab as i64 - 1],
        pad_token_id: None,
    }
}

/// A fresh scratch directory under the target dir's test area.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gpt2-lora-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}
