//! LoRA: zero-initialised B is a no-op, PEFT adapters load (logits equal PEFT's), ours save in
//! PEFT's format and reload, merge/unmerge, only adapters are trainable.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

mod common;

use common::*;
use gpt2_lora::{CausalLm, ForwardOptions, LoraConfig, LoraModel};
use tch::Tensor;

/// Gives every adapter matrix seeded random values of std 0.2, so that the adapters change the
/// outputs.
fn randomise_adapters<M: CausalLm>(model: &LoraModel<M>, seed: i64) {
    tch::manual_seed(seed);
    tch::no_grad(|| {
        for (_, mut t) in model.trainable_variables() {
            let noise = t.randn_like() * 0.2;
            t.copy_(&noise);
        }
    });
}

fn logits<M: CausalLm>(m: &M) -> Tensor {
    let g = golden();
    m.forward(&g["right_ids"], Some(&g["right_mask"]), None, ForwardOptions::eval()).unwrap().logits
}

#[test]
fn fresh_adapter_leaves_outputs_unchanged() {
    let g = golden();
    let cfg = LoraConfig::default().with_target_modules(["c_attn", "c_proj", "c_fc"]);
    let model = LoraModel::new(tiny(), cfg, 7).unwrap();
    assert_eq!(model.adapted_modules().len(), 8);
    let d = max_masked_diff(&logits(&model), &g["right_logits"], &g["right_mask"]);
    assert!(d < 1e-4, "{d}");
    // A is Kaiming-uniform (±1/sqrt(in)), B is zero.
    for (name, t) in model.trainable_variables() {
        let max = t.abs().max().double_value(&[]);
        if name.ends_with("lora_B.weight") {
            assert_eq!(max, 0.0, "{name}");
        } else {
            let fan_in = t.size()[1] as f64;
            assert!(max > 0.0 && max <= 1.0 / fan_in.sqrt(), "{name}: {max}");
        }
    }
}

#[test]
fn default_targets_are_c_attn_and_seeded() {
    let a = LoraModel::new(tiny(), LoraConfig::default(), 1).unwrap();
    let b = LoraModel::new(tiny(), LoraConfig::default(), 1).unwrap();
    let c = LoraModel::new(tiny(), LoraConfig::default(), 2).unwrap();
    assert_eq!(a.adapted_modules(), vec!["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"]);
    let first = |m: &LoraModel<gpt2_lora::Gpt2>| m.trainable_variables()[0].1.shallow_clone();
    assert!(first(&a).equal(&first(&b)));
    assert!(!first(&a).equal(&first(&c)));
}

#[test]
fn peft_adapter_gives_peft_logits() {
    let g = golden();
    let model = LoraModel::from_pretrained(tiny(), tiny_lora_dir()).unwrap();
    assert_eq!(model.config().r, 4);
    assert_eq!(model.config().alpha, 8.0);
    assert_eq!(model.adapted_modules().len(), 8);
    let d = max_masked_diff(&logits(&model), &g["right_lora_logits"], &g["right_mask"]);
    assert!(d < 1e-4, "{d}");
    // The adapter really changes the outputs.
    assert!(max_masked_diff(&g["right_lora_logits"], &g["right_logits"], &g["right_mask"]) > 1e-2);
}

#[test]
fn merge_and_unmerge() {
    let g = golden();
    let mut model = LoraModel::from_pretrained(tiny(), tiny_lora_dir()).unwrap();
    let before = logits(&model);
    model.merge().unwrap();
    assert!(model.is_merged());
    let merged = logits(&model);
    assert!(max_masked_diff(&before, &merged, &g["right_mask"]) < 1e-4);
    model.unmerge().unwrap();
    assert!(!model.is_merged());
    assert!(max_masked_diff(&before, &logits(&model), &g["right_mask"]) < 1e-4);
    // Merged and unloaded: a plain model with PEFT's logits.
    let plain = model.merge_and_unload().unwrap();
    assert!(plain.linears().iter().all(|(_, l)| l.lora().is_none()));
    assert!(max_masked_diff(&logits(&plain), &g["right_lora_logits"], &g["right_mask"]) < 1e-4);
    // Unload without merging gives the base back.
    let base = LoraModel::from_pretrained(tiny(), tiny_lora_dir()).unwrap().unload().unwrap();
    assert!(max_masked_diff(&logits(&base), &g["right_logits"], &g["right_mask"]) < 1e-4);
}

#[test]
fn only_adapters_are_trainable() {
    let model = LoraModel::new(tiny(), LoraConfig::default().with_target_modules(["c_proj"]), 0).unwrap();
    let vars = model.trainable_variables();
    assert_eq!(vars.len(), 2 * 4, "attn.c_proj and mlp.c_proj in 2 layers, A and B each");
    assert!(vars.iter().all(|(_, t)| t.requires_grad()));
    assert!(model.linears().iter().all(|(_, l)| !l.weight().requires_grad()));
    assert_eq!(model.num_trainable_parameters(), 2 * (8 * 32 + 32 * 8) + 2 * (8 * 128 + 32 * 8));
}

/// Saves an adapter with non-trivial weights and reloads it; also leaves it (and the logits we
/// compute with it) for `tests/fixtures/check_peft_load.py`, which loads it in Python PEFT.
#[test]
fn saved_adapter_is_peft_format_and_reloads() {
    let g = golden();
    let cfg = LoraConfig::default().with_r(2).with_alpha(6.0).with_target_modules(["c_attn", "c_fc"]);
    let model = LoraModel::new(tiny(), cfg, 11).unwrap();
    randomise_adapters(&model, 3);
    let want = logits(&model);
    assert!(max_masked_diff(&want, &g["right_logits"], &g["right_mask"]) > 1e-3);

    let dir = scratch("peft-export");
    model.save_pretrained(&dir).unwrap();
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["task_type"], "CAUSAL_LM");
    assert_eq!(cfg["fan_in_fan_out"], true);
    assert_eq!(cfg["r"], 2);
    assert_eq!(cfg["lora_alpha"], 6.0);
    let keys: Vec<String> =
        Tensor::read_safetensors(dir.join("adapter_model.safetensors")).unwrap().into_iter().map(|(k, _)| k).collect();
    assert!(keys.contains(&"base_model.model.transformer.h.0.attn.c_attn.lora_A.weight".to_string()));
    assert!(keys.contains(&"base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight".to_string()));
    assert_eq!(keys.len(), 8);

    let again = LoraModel::from_pretrained(tiny(), &dir).unwrap();
    assert_eq!(max_masked_diff(&logits(&again), &want, &g["right_mask"]), 0.0);

    // For the Python check: inputs and our logits.
    Tensor::write_safetensors(
        &[("ids", &g["right_ids"]), ("mask", &g["right_mask"]), ("logits", &want)],
        dir.join("expected_logits.safetensors"),
    )
    .unwrap();
}

/// `last_layers` puts adapters on the top blocks only, saves them as PEFT's
/// `layers_to_transform` (list or single number on read), and a reload insists on every
/// targeted layer of those blocks.
#[test]
fn last_layers_adapt_the_top_blocks_and_save_as_layers_to_transform() {
    let g = golden();
    let cfg = LoraConfig::default().with_target_modules(["c_attn", "c_fc"]).with_last_layers(1);
    let model = LoraModel::new(tiny(), cfg, 5).unwrap();
    assert_eq!(model.adapted_modules(), vec!["transformer.h.1.attn.c_attn", "transformer.h.1.mlp.c_fc"]);
    assert_eq!((model.config().layers_to_transform.clone(), model.config().last_layers), (Some(vec![1]), None));
    randomise_adapters(&model, 4);
    let want = logits(&model);
    let dir = scratch("peft-last-layers");
    model.save_pretrained(&dir).unwrap();
    let config_path = dir.join("adapter_config.json");
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    assert_eq!(cfg["layers_to_transform"], serde_json::json!([1]));
    let again = LoraModel::from_pretrained(tiny(), &dir).unwrap();
    assert_eq!(again.adapted_modules(), model.adapted_modules());
    assert_eq!(max_masked_diff(&logits(&again), &want, &g["right_mask"]), 0.0);
    // PEFT writes a single block as a number.
    cfg["layers_to_transform"] = serde_json::json!(1);
    std::fs::write(&config_path, cfg.to_string()).unwrap();
    assert_eq!(LoraModel::from_pretrained(tiny(), &dir).unwrap().config().layers_to_transform, Some(vec![1]));
    // A config that lists block 0 too needs its tensors.
    cfg["layers_to_transform"] = serde_json::json!([0, 1]);
    std::fs::write(&config_path, cfg.to_string()).unwrap();
    let e = LoraModel::from_pretrained(tiny(), &dir).unwrap_err().to_string();
    assert!(e.contains("transformer.h.0.attn.c_attn.lora_A.weight"), "{e}");
    cfg["layers_to_transform"] = serde_json::json!(["one"]);
    std::fs::write(&config_path, cfg.to_string()).unwrap();
    let e = LoraModel::from_pretrained(tiny(), &dir).unwrap_err().to_string();
    assert!(e.contains("not a block index"), "{e}");
}
