//! GPT-2 forward pass against HF transformers' logits, padding, the KV cache, checkpoint
//! layouts and the tokenizer.

mod common;

use common::*;
use gpt2_lora::{CausalLm, ForwardOptions, Gpt2, LoadOptions, Tokenizer};
use tch::{Kind, Tensor};

#[test]
fn right_padded_logits_match_hf() {
    let g = golden();
    let model = tiny();
    let out = model.forward(&g["right_ids"], Some(&g["right_mask"]), None, ForwardOptions::eval()).unwrap();
    let d = max_masked_diff(&out.logits, &g["right_logits"], &g["right_mask"]);
    assert!(d < 1e-4, "max |diff| = {d}");
    // The fixture logits are far from trivial.
    assert!(g["right_logits"].abs().max().double_value(&[]) > 1.0);
}

#[test]
fn left_padded_logits_match_hf() {
    let g = golden();
    let model = tiny();
    let out = model.forward(&g["left_ids"], Some(&g["left_mask"]), None, ForwardOptions::eval()).unwrap();
    let d = max_masked_diff(&out.logits, &g["left_logits"], &g["left_mask"]);
    assert!(d < 1e-4, "max |diff| = {d}");
}

#[test]
fn padded_rows_equal_rows_alone() {
    let g = golden();
    let model = tiny();
    let batch = model.forward(&g["left_ids"], Some(&g["left_mask"]), None, ForwardOptions::eval()).unwrap();
    let mask = Vec::<i64>::try_from(&g["left_mask"].get(1)).unwrap();
    let start = mask.iter().position(|&m| m == 1).unwrap() as i64;
    let row = g["left_ids"].get(1).narrow(0, start, 7 - start).unsqueeze(0);
    let alone = model.forward(&row, None, None, ForwardOptions::eval()).unwrap();
    let from_batch = batch.logits.get(1).narrow(0, start, 7 - start).unsqueeze(0);
    let d = (alone.logits - from_batch).abs().max().double_value(&[]);
    assert!(d < 1e-5, "{d}");
}

#[test]
fn kv_cache_steps_equal_full_forward() {
    let g = golden();
    let model = tiny();
    let ids = g["right_ids"].narrow(0, 0, 1); // 7 real tokens
    let full = model.forward(&ids, None, None, ForwardOptions::eval()).unwrap().logits;
    let mut out = model.forward(&ids.narrow(1, 0, 3), None, None, ForwardOptions::eval()).unwrap();
    let mut pieces = vec![out.logits.shallow_clone()];
    for t in 3..7 {
        out = model.forward(&ids.narrow(1, t, 1), None, Some(out.cache), ForwardOptions::eval()).unwrap();
        pieces.push(out.logits.shallow_clone());
    }
    assert_eq!(out.cache.seq_len(), 7);
    assert_eq!(out.cache.seen().unwrap(), vec![7]);
    let stepped = Tensor::cat(&pieces, 1);
    let d = (full - stepped).abs().max().double_value(&[]);
    assert!(d < 1e-5, "{d}");
}

#[test]
fn last_only_logits_equal_last_column() {
    let g = golden();
    let model = tiny();
    let all = model.forward(&g["left_ids"], Some(&g["left_mask"]), None, ForwardOptions::eval()).unwrap().logits;
    let last =
        model.forward(&g["left_ids"], Some(&g["left_mask"]), None, ForwardOptions::eval().last_only()).unwrap().logits;
    assert_eq!(last.size(), vec![3, 1, 128]);
    let d = (all.narrow(1, 6, 1) - last).abs().max().double_value(&[]);
    assert!(d < 1e-6);
}

#[test]
fn checkpoint_without_transformer_prefix_loads() {
    let dir = scratch("no-prefix");
    let src = Tensor::read_safetensors(tiny_dir().join("model.safetensors")).unwrap();
    let stripped: Vec<(String, Tensor)> =
        src.into_iter().map(|(n, t)| (n.trim_start_matches("transformer.").to_string(), t)).collect();
    Tensor::write_safetensors(&stripped, dir.join("model.safetensors")).unwrap();
    std::fs::copy(tiny_dir().join("config.json"), dir.join("config.json")).unwrap();
    let a = Gpt2::from_pretrained(&dir, LoadOptions::default()).unwrap();
    let g = golden();
    let out = a.forward(&g["right_ids"], Some(&g["right_mask"]), None, ForwardOptions::eval()).unwrap();
    assert!(max_masked_diff(&out.logits, &g["right_logits"], &g["right_mask"]) < 1e-4);
}

#[test]
fn save_pretrained_round_trips_and_bf16_loads() {
    let dir = scratch("save-pretrained");
    let model = tiny();
    model.save_pretrained(&dir).unwrap();
    let again = Gpt2::from_pretrained(&dir, LoadOptions::default()).unwrap();
    assert_eq!(again.config(), model.config());
    let g = golden();
    let a = model.forward(&g["right_ids"], Some(&g["right_mask"]), None, ForwardOptions::eval()).unwrap();
    let b = again.forward(&g["right_ids"], Some(&g["right_mask"]), None, ForwardOptions::eval()).unwrap();
    assert_eq!(max_masked_diff(&a.logits, &b.logits, &g["right_mask"]), 0.0);

    let half = Gpt2::from_pretrained(&dir, LoadOptions { kind: Kind::BFloat16, ..LoadOptions::default() }).unwrap();
    let c = half.forward(&g["right_ids"], Some(&g["right_mask"]), None, ForwardOptions::eval()).unwrap();
    assert_eq!(c.logits.kind(), Kind::BFloat16);
    let d = max_masked_diff(&a.logits, &c.logits.to_kind(Kind::Float), &g["right_mask"]);
    // bf16 keeps 8 bits of mantissa (relative step 2^-8 = 0.4%); through two blocks the
    // measured drift was 0.054 on a largest logit of 4.15 (1.3%). The bound is 4% of the largest
    // logit: three times the measured drift, relative so it holds for any weights, and far below
    // what a wrong weight or a missed cast does (errors the size of the logits themselves).
    let scale = a.logits.abs().max().double_value(&[]);
    assert!(scale > 1.0, "largest logit {scale}: too small to measure drift against");
    assert!(d < 0.04 * scale, "bf16 drift {d} against the largest logit {scale}");
    assert_eq!(
        model.num_parameters(),
        128 * 32 + 32 * 32 + 2 * 32 + 2 * (4 * 32 + 32 * 96 + 96 + 32 * 32 + 32 + 32 * 128 + 128 + 128 * 32 + 32)
    );
}

#[test]
fn tokenizer_matches_gpt2() {
    let dir = shared_dir().join("models").join("gpt2-tokenizer");
    assert!(
        dir.join("vocab.json").is_file(),
        "GPT-2 tokenizer files not found in {} (set RECIMPUTE_SHARED)",
        dir.display()
    );
    let tok = Tokenizer::from_dir(&dir).unwrap();
    assert_eq!(tok.encode("Hello world").unwrap(), vec![15496, 995]);
    assert_eq!(tok.eos_id(), Some(50256));
    assert_eq!(tok.vocab_size(), 50257);
    let text = "genre: Comedy|Drama <|endoftext|> naïve café 1995";
    let ids = tok.encode(text).unwrap();
    assert!(ids.contains(&50256), "special token kept whole: {ids:?}");
    assert_eq!(tok.decode(&ids, false).unwrap(), text);
    assert_eq!(tok.decode(&ids, true).unwrap(), "genre: Comedy|Drama  naïve café 1995");

    // The same tokenizer through tokenizer.json.
    let out = scratch("tokenizer-json");
    tok.inner().save(out.join("tokenizer.json"), false).unwrap();
    let again = Tokenizer::from_dir(&out).unwrap();
    assert_eq!(again.encode(text).unwrap(), ids);
    assert_eq!(again.eos_id(), Some(50256));
}
