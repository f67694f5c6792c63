//! Bad checkpoints, configs, adapters and inputs give errors that say what is wrong; nothing
//! panics.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use gpt2_lora::{
    generate, score_continuations, CausalLm, Error, Example, ForwardOptions, GenerateConfig, Gpt2, LoadOptions,
    LoraConfig, LoraModel, TrainConfig, Trainer,
};
use tch::{Kind, Tensor};

/// Copies the fixture model into `name` after passing its tensors and config through `edit`.
fn edited_checkpoint(
    name: &str,
    edit_tensors: impl FnOnce(&mut Vec<(String, Tensor)>),
    edit_config: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    let dir = scratch(name);
    let mut t = Tensor::read_safetensors(tiny_dir().join("model.safetensors")).unwrap();
    edit_tensors(&mut t);
    Tensor::write_safetensors(&t, dir.join("model.safetensors")).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tiny_dir().join("config.json")).unwrap()).unwrap();
    edit_config(&mut cfg);
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    dir
}

fn load(dir: &Path) -> gpt2_lora::Result<Gpt2> {
    Gpt2::from_pretrained(dir, LoadOptions::default())
}

#[test]
fn missing_tensor_is_named() {
    let dir = edited_checkpoint("missing", |t| t.retain(|(n, _)| n != "transformer.h.1.mlp.c_fc.bias"), |_| {});
    match load(&dir) {
        Err(Error::MissingTensor { name, .. }) => assert_eq!(name, "transformer.h.1.mlp.c_fc.bias"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn misshaped_tensor_is_named() {
    let dir = edited_checkpoint(
        "misshaped",
        |t| {
            for (n, x) in t.iter_mut() {
                if n == "transformer.h.0.attn.c_attn.weight" {
                    *x = x.narrow(1, 0, 95).contiguous();
                }
            }
        },
        |_| {},
    );
    let err = load(&dir).unwrap_err();
    assert!(matches!(&err, Error::ShapeMismatch { name, expected, actual, .. }
        if name == "transformer.h.0.attn.c_attn.weight" && expected == &[32, 96] && actual == &[32, 95]));
    assert!(err.to_string().contains("transformer.h.0.attn.c_attn.weight"), "{err}");
}

#[test]
fn config_disagreeing_with_weights() {
    let more_layers = edited_checkpoint("cfg-layers", |_| {}, |c| c["n_layer"] = 3.into());
    assert!(
        matches!(load(&more_layers), Err(Error::MissingTensor { name, .. }) if name.starts_with("transformer.h.2."))
    );

    let fewer_layers = edited_checkpoint("cfg-fewer", |_| {}, |c| c["n_layer"] = 1.into());
    assert!(
        matches!(load(&fewer_layers), Err(Error::UnexpectedTensor { name, .. }) if name.starts_with("transformer.h.1."))
    );

    let wider = edited_checkpoint("cfg-wider", |_| {}, |c| c["n_embd"] = 64.into());
    let err = load(&wider).unwrap_err();
    assert!(matches!(&err, Error::ShapeMismatch { name, .. } if name == "transformer.wte.weight"), "{err}");

    let vocab = edited_checkpoint("cfg-vocab", |_| {}, |c| c["vocab_size"] = 50257.into());
    assert!(matches!(load(&vocab), Err(Error::ShapeMismatch { name, .. }) if name == "transformer.wte.weight"));

    let heads = edited_checkpoint("cfg-heads", |_| {}, |c| c["n_head"] = 5.into());
    assert!(matches!(load(&heads), Err(Error::Config { path: Some(_), .. })));

    let other = edited_checkpoint("cfg-type", |_| {}, |c| c["model_type"] = "llama".into());
    assert!(load(&other).unwrap_err().to_string().contains("llama"));
}

#[test]
fn unexpected_and_tolerated_tensors() {
    let extra = edited_checkpoint(
        "extra",
        |t| t.push(("transformer.h.0.attn.q_proj.weight".into(), Tensor::zeros([2], (Kind::Float, tch::Device::Cpu)))),
        |_| {},
    );
    assert!(
        matches!(load(&extra), Err(Error::UnexpectedTensor { name, .. }) if name == "transformer.h.0.attn.q_proj.weight")
    );

    // Old checkpoints carry causal-mask buffers and a tied lm_head copy: accepted.
    let old = edited_checkpoint(
        "old-style",
        |t| {
            let wte = t.iter().find(|(n, _)| n == "transformer.wte.weight").map(|(_, x)| x.copy()).unwrap();
            t.push(("transformer.h.0.attn.bias".into(), Tensor::ones([1, 1, 32, 32], (Kind::Float, tch::Device::Cpu))));
            t.push(("lm_head.weight".into(), wte));
        },
        |_| {},
    );
    load(&old).unwrap();

    // An lm_head that differs from wte means an untied head: refused.
    let untied = edited_checkpoint(
        "untied",
        |t| t.push(("lm_head.weight".into(), Tensor::zeros([128, 32], (Kind::Float, tch::Device::Cpu)))),
        |_| {},
    );
    assert!(load(&untied).unwrap_err().to_string().contains("untied"));
}

#[test]
fn broken_files() {
    let dir = scratch("broken");
    std::fs::copy(tiny_dir().join("config.json"), dir.join("config.json")).unwrap();
    let bytes = std::fs::read(tiny_dir().join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(load(&dir), Err(Error::Safetensors { .. })));
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    assert!(matches!(load(&dir), Err(Error::Io { path, .. }) if path.ends_with("model.safetensors")));
    std::fs::write(dir.join("config.json"), "{ not json").unwrap();
    assert!(matches!(load(&dir), Err(Error::Json { .. })));
    assert!(gpt2_lora::Tokenizer::from_dir(&dir).is_err());
}

/// Copies the PEFT fixture adapter, editing its tensors and config.
fn edited_adapter(
    name: &str,
    edit_tensors: impl FnOnce(&mut Vec<(String, Tensor)>),
    edit_config: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    let dir = scratch(name);
    let mut t = Tensor::read_safetensors(tiny_lora_dir().join("adapter_model.safetensors")).unwrap();
    edit_tensors(&mut t);
    Tensor::write_safetensors(&t, dir.join("adapter_model.safetensors")).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tiny_lora_dir().join("adapter_config.json")).unwrap()).unwrap();
    edit_config(&mut cfg);
    std::fs::write(dir.join("adapter_config.json"), cfg.to_string()).unwrap();
    dir
}

#[test]
fn adapter_for_another_model() {
    // Llama-style module names.
    let llama = edited_adapter(
        "adapter-llama",
        |t| {
            for (n, _) in t.iter_mut() {
                *n = n.replace("transformer.h.", "model.layers.").replace("attn.c_attn", "self_attn.q_proj");
            }
        },
        |_| {},
    );
    let err = LoraModel::from_pretrained(tiny(), &llama).unwrap_err();
    assert!(err.to_string().contains("another model"), "{err}");

    // Right names, other sizes: a 64-wide GPT-2.
    let mut cfg = small_config(128, 32);
    cfg.n_embd = 64;
    cfg.n_inner = 128;
    let wide = Gpt2::random(cfg, LoadOptions::default(), 0).unwrap();
    let err = LoraModel::from_pretrained(wide, tiny_lora_dir()).unwrap_err();
    assert!(matches!(&err, Error::ShapeMismatch { name, .. } if name.contains("lora_")), "{err}");

    // Half an adapter.
    let half = edited_adapter(
        "adapter-half",
        |t| t.retain(|(n, _)| n != "base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight"),
        |_| {},
    );
    let err = LoraModel::from_pretrained(tiny(), &half).unwrap_err();
    assert!(matches!(&err, Error::MissingTensor { name, .. } if name.ends_with("h.1.mlp.c_fc.lora_B.weight")), "{err}");

    // A targeted layer with no weights at all.
    let gap = edited_adapter("adapter-gap", |t| t.retain(|(n, _)| !n.contains("h.1.mlp.c_fc")), |_| {});
    assert!(matches!(LoraModel::from_pretrained(tiny(), &gap), Err(Error::MissingTensor { .. })));

    // Rank in config and weights disagree.
    let rank = edited_adapter("adapter-rank", |_| {}, |c| c["r"] = 8.into());
    assert!(matches!(LoraModel::from_pretrained(tiny(), &rank), Err(Error::ShapeMismatch { .. })));

    // Features this crate does not implement are refused by name.
    for (field, value, word) in [
        ("use_dora", serde_json::json!(true), "DoRA"),
        ("peft_type", serde_json::json!("IA3"), "IA3"),
        ("bias", serde_json::json!("all"), "bias"),
        ("modules_to_save", serde_json::json!(["lm_head"]), "modules_to_save"),
    ] {
        let d = edited_adapter(&format!("adapter-{field}"), |_| {}, |c| c[field] = value.clone());
        let err = LoraModel::from_pretrained(tiny(), &d).unwrap_err();
        assert!(err.to_string().contains(word), "{field}: {err}");
    }

    // Missing directory.
    assert!(matches!(LoraModel::from_pretrained(tiny(), "does/not/exist"), Err(Error::Io { .. })));
    // Targets matching nothing.
    assert!(LoraModel::new(tiny(), LoraConfig::default().with_target_modules(["q_proj"]), 0).is_err());
    assert!(LoraModel::new(tiny(), LoraConfig::default().with_r(0), 0).is_err());
}

#[test]
fn sequences_longer_than_the_context() {
    let model = tiny(); // 32 positions
    let long: Vec<i64> = (0..40).collect();
    let err = generate(&model, &[vec![1, 2], long.clone()], &GenerateConfig::greedy(3), None).unwrap_err();
    assert!(matches!(err, Error::SequenceTooLong { index: 1, len: 41, max: 32 }), "{err}");
    assert!(err.to_string().contains("context"));

    let exact: Vec<i64> = (0..32).collect();
    assert!(generate(&model, &[exact], &GenerateConfig::greedy(1), None).is_err(), "no room for one token");

    let ids = Tensor::from_slice(&long).unsqueeze(0);
    assert!(matches!(
        model.forward(&ids, None, None, ForwardOptions::eval()),
        Err(Error::SequenceTooLong { index: 0, len: 40, max: 32 })
    ));
    // Through the cache: 30 + 5 > 32.
    let first = model.forward(&ids.narrow(1, 0, 30), None, None, ForwardOptions::eval()).unwrap();
    assert!(matches!(
        model.forward(&ids.narrow(1, 30, 5), None, Some(first.cache), ForwardOptions::eval()),
        Err(Error::SequenceTooLong { .. })
    ));

    assert!(matches!(
        score_continuations(&model, &long[..30], &[vec![1, 2, 3]], 4),
        Err(Error::SequenceTooLong { .. })
    ));

    let mut lora = LoraModel::new(tiny(), LoraConfig::default(), 0).unwrap();
    let mut trainer = Trainer::new(TrainConfig { progress: false, ..TrainConfig::default() }).unwrap();
    let data = vec![Example::language_model(&long)];
    assert!(matches!(trainer.train(&mut lora, &data, None), Err(Error::SequenceTooLong { .. })));
}

#[test]
fn other_bad_inputs() {
    let model = tiny();
    // Token ids outside the vocabulary.
    let ids = Tensor::from_slice(&[1i64, 128]).unsqueeze(0);
    assert!(matches!(
        model.forward(&ids, None, None, ForwardOptions::eval()),
        Err(Error::TokenOutOfRange { id: 128, .. })
    ));
    assert!(matches!(
        generate(&model, &[vec![-1]], &GenerateConfig::greedy(1), None),
        Err(Error::TokenOutOfRange { .. })
    ));
    assert!(score_continuations(&model, &[1], &[vec![500]], 1).is_err());
    // Float ids, wrong ranks, mismatched masks, empty batches.
    let f = Tensor::zeros([1, 3], (Kind::Float, tch::Device::Cpu));
    assert!(matches!(model.forward(&f, None, None, ForwardOptions::eval()), Err(Error::InvalidInput(_))));
    let flat = Tensor::from_slice(&[1i64, 2]);
    assert!(model.forward(&flat, None, None, ForwardOptions::eval()).is_err());
    let ids = Tensor::from_slice(&[1i64, 2, 3]).unsqueeze(0);
    let mask = Tensor::from_slice(&[1i64, 1]).unsqueeze(0);
    assert!(model.forward(&ids, Some(&mask), None, ForwardOptions::eval()).is_err());
    assert!(generate(&model, &[], &GenerateConfig::greedy(1), None).is_err());
    assert!(generate(&model, &[vec![]], &GenerateConfig::greedy(1), None).is_err());
    assert!(score_continuations(&model, &[], &[vec![1]], 1).is_err());
    // Cache from another batch size.
    let out = model.forward(&ids, None, None, ForwardOptions::eval()).unwrap();
    let two = Tensor::from_slice(&[1i64, 2]).view([2, 1]);
    assert!(model.forward(&two, None, Some(out.cache), ForwardOptions::eval()).is_err());
    // Bad sampling settings.
    assert!(generate(&model, &[vec![1]], &GenerateConfig::sample(2, 0.0, 0), None).is_err());
    assert!(generate(&model, &[vec![1]], &GenerateConfig::sample(2, 1.0, 0).with_top_p(1.5), None).is_err());
    // Bad trainer settings and examples.
    assert!(Trainer::new(TrainConfig { batch_size: 0, ..TrainConfig::default() }).is_err());
    assert!(Trainer::new(TrainConfig { checkpoint_every: Some(2), ..TrainConfig::default() }).is_err());
    assert!(Example::try_new(vec![1, 2], vec![true]).is_err());
    let mut lora = LoraModel::new(tiny(), LoraConfig::default(), 0).unwrap();
    let mut t = Trainer::new(TrainConfig { progress: false, ..TrainConfig::default() }).unwrap();
    assert!(t.train(&mut lora, &[], None).is_err());
    let bad = Example { input_ids: vec![1, 2, 3], loss_mask: vec![true] };
    assert!(t.train(&mut lora, &[bad], None).is_err());
    // Training a merged model is refused.
    lora.merge().unwrap();
    assert!(t.train(&mut lora, &[Example::language_model(&[1, 2, 3])], None).is_err());
}

/// GPT-2 drops blocks as Llama does (the pruned model equals the checkpoint written without
/// block 0), and refuses where the blocks' attention scale depends on their index.
#[test]
fn gpt2_keep_blocks_equals_a_checkpoint_without_them() {
    let by_hand = edited_checkpoint(
        "gpt2-without-block-0",
        |t| {
            t.retain(|(n, _)| !n.contains(".h.0."));
            for (n, _) in t.iter_mut() {
                *n = n.replace(".h.1.", ".h.0.");
            }
        },
        |c| c["n_layer"] = 1.into(),
    );
    let by_hand = Gpt2::from_pretrained(&by_hand, LoadOptions::default()).unwrap();
    let mut pruned = tiny();
    pruned.keep_blocks(&[1]).unwrap();
    assert_eq!(pruned.num_blocks(), 1);
    let g = golden();
    let run =
        |m: &Gpt2| m.forward(&g["right_ids"], Some(&g["right_mask"]), None, ForwardOptions::eval()).unwrap().logits;
    assert!(run(&pruned).equal(&run(&by_hand)));
    assert!(!run(&pruned).equal(&run(&tiny())));

    let mut cfg = small_config(64, 16);
    cfg.scale_attn_by_inverse_layer_idx = true;
    let mut scaled = Gpt2::random(cfg, LoadOptions::default(), 0).unwrap();
    let err = scaled.keep_blocks(&[1]).unwrap_err();
    assert!(err.to_string().contains("scale_attn_by_inverse_layer_idx"), "{err}");
    assert!(tiny().keep_blocks(&[2]).unwrap_err().to_string().contains("has 2 blocks"));
}
