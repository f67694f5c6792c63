//! A tiny random GPT-2 with a byte-level tokenizer, for tests and examples that need a backbone
//! that fine-tunes in seconds. It knows no language: use a real checkpoint for real imputation.
//! Panics on I/O errors (it is test scaffolding).

#![allow(clippy::expect_used)]

use std::path::Path;

use gpt2_lora::{Gpt2, Gpt2Config, LoadOptions};

use crate::Backbone;

/// GPT-2's byte-to-character table: the 256 base symbols of byte-level BPE.
pub fn byte_chars() -> Vec<char> {
    let mut out = Vec::with_capacity(256);
    let mut extra = 0u32;
    for b in 0u32..256 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        out.push(if printable {
            char::from_u32(b).expect("tiny test model")
        } else {
            extra += 1;
            char::from_u32(255 + extra).expect("tiny test model")
        });
    }
    out
}

/// A random 2-layer GPT-2 with a byte-level tokenizer that has no merges (257 tokens: the 256
/// bytes and `<|endoftext|>`), written in HF format. Small enough to fine-tune in seconds,
/// and every string is spellable, as with the real GPT-2 tokenizer.
pub fn tiny_gpt2_backbone(dir: &Path) -> Backbone {
    let cfg = Gpt2Config {
        vocab_size: 257,
        n_positions: 256,
        n_embd: 64,
        n_layer: 2,
        n_head: 4,
        n_inner: 128,
        bos_token_id: 256,
        eos_token_ids: vec![256],
        // GELU (tanh), no dropout, HF's defaults otherwise.
        ..Gpt2Config::distilgpt2()
    };
    Gpt2::random(cfg, LoadOptions::default(), 7)
        .expect("tiny test model")
        .save_pretrained(dir)
        .expect("tiny test model");
    sharpen_head(&dir.join("model.safetensors"), 25.0);
    let mut vocab = serde_json::Map::new();
    for (i, c) in byte_chars().into_iter().enumerate() {
        vocab.insert(c.to_string(), serde_json::json!(i));
    }
    vocab.insert("<|endoftext|>".into(), serde_json::json!(256));
    std::fs::write(dir.join("vocab.json"), serde_json::to_vec(&vocab).expect("tiny test model"))
        .expect("tiny test model");
    std::fs::write(dir.join("merges.txt"), "#version: 0.2\n").expect("tiny test model");
    Backbone::HfDir(dir.to_path_buf())
}

/// Multiplies the final layer norm's gain. With HF's initialisation (weights of std 0.02, tied
/// head) a 64-wide random model's logits can differ by little more than 1 however the
/// adapters move, so a fine-tune can rank values but hardly learn them; a larger gain acts as
/// a lower softmax temperature and lets a few LoRA steps learn a real mapping.
fn sharpen_head(path: &Path, gain: f32) {
    use safetensors::tensor::{SafeTensors, TensorView};
    let bytes = std::fs::read(path).expect("tiny test model");
    let st = SafeTensors::deserialize(&bytes).expect("tiny test model");
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in st.tensors() {
        let mut data = view.data().to_vec();
        if name.ends_with("ln_f.weight") {
            for chunk in data.chunks_exact_mut(4) {
                let x = f32::from_le_bytes(chunk.try_into().expect("tiny test model")) * gain;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
        }
        owned.push((name, view.dtype(), view.shape().to_vec(), data));
    }
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).expect("tiny test model")))
        .collect();
    safetensors::serialize_to_file(views, None, path).expect("tiny test model");
}
