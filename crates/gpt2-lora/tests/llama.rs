//! The Llama family against HF transformers and PEFT on the tiny random `LlamaForCausalLM`
//! written by `fixtures/make_llama_fixtures.py` (grouped-query attention, untied head):
//! logits for padded batches, GGUF loading, the cache, LoRA (PEFT adapters, saving, training),
//! generation, and errors on bad checkpoints.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{fixtures, max_masked_diff, scratch};
use gpt2_lora::{
    generate, score_continuations, CausalLm, Error, Example, ForwardOptions, GenerateConfig, Llama, LlamaConfig,
    LoadOptions, LoraConfig, LoraModel, Schedule, Tokenizer, TrainConfig, Trainer,
};
use tch::{Kind, Tensor};

const ALL_LINEARS: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

fn tiny_dir() -> PathBuf {
    fixtures().join("tiny-llama")
}

fn tiny_gguf() -> PathBuf {
    fixtures().join("tiny-llama.gguf")
}

fn tiny() -> Llama {
    Llama::from_pretrained(tiny_dir(), LoadOptions::default()).expect("load tiny-llama")
}

fn golden() -> HashMap<String, Tensor> {
    let path = fixtures().join("llama_golden.safetensors");
    Tensor::read_safetensors(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .into_iter()
        .collect()
}

fn logits<M: CausalLm>(m: &M, ids: &str, mask: &str) -> Tensor {
    let g = golden();
    m.forward(&g[ids], Some(&g[mask]), None, ForwardOptions::eval()).unwrap().logits
}

#[test]
fn config_reads_transformers_5_layout() {
    let m = tiny();
    let c = m.config();
    assert_eq!((c.num_attention_heads, c.num_key_value_heads, c.head_dim), (4, 2, 8));
    assert_eq!(c.rope_theta, 500.0);
    assert!(!c.tie_word_embeddings);
    let info = m.info();
    assert_eq!(info.family, "llama");
    assert_eq!(info.eos_token_ids, vec![2]);
    assert!(!info.fan_in_fan_out);
    assert_eq!(info.context_len, 32);
    assert_eq!(m.linears().len(), 14);
    assert_eq!(m.linears()[0].0, "model.layers.0.self_attn.q_proj");
    assert_eq!(m.linears()[13].0, "model.layers.1.mlp.down_proj");
    // embed 128x32, head 128x32, norms 5x32, per layer q 32x32, k/v 16x32, o 32x32, MLP 3x48x32.
    let per_layer = 32 * 32 * 2 + 16 * 32 * 2 + 3 * 48 * 32;
    assert_eq!(m.num_parameters(), 2 * 128 * 32 + 5 * 32 + 2 * per_layer);
}

#[test]
fn right_padded_logits_match_hf() {
    let g = golden();
    let out = logits(&tiny(), "right_ids", "right_mask");
    let d = max_masked_diff(&out, &g["right_logits"], &g["right_mask"]);
    eprintln!("max |ours - HF| = {d:.2e}");
    assert!(d < 1e-4, "max |diff| = {d}");
    assert!(g["right_logits"].abs().max().double_value(&[]) > 1.0);
}

#[test]
fn left_padded_logits_match_hf() {
    let g = golden();
    let out = logits(&tiny(), "left_ids", "left_mask");
    let d = max_masked_diff(&out, &g["left_logits"], &g["left_mask"]);
    eprintln!("max |ours - HF| = {d:.2e}");
    assert!(d < 1e-4, "max |diff| = {d}");
}

#[test]
fn gguf_gives_the_same_model() {
    let g = golden();
    let from_gguf = Llama::from_gguf(tiny_gguf(), LoadOptions::default()).unwrap();
    let (a, b) = (from_gguf.config(), tiny().config().clone());
    assert_eq!((a.vocab_size, a.hidden_size, a.intermediate_size), (b.vocab_size, b.hidden_size, b.intermediate_size));
    assert_eq!((a.num_hidden_layers, a.num_attention_heads, a.num_key_value_heads), (2, 4, 2));
    assert_eq!((a.head_dim, a.rope_theta, a.max_position_embeddings), (8, 500.0, 32));
    assert!((a.rms_norm_eps - 1e-5).abs() < 1e-10); // stored as f32
    assert!(!a.tie_word_embeddings);
    assert_eq!((a.bos_token_id, a.eos_token_ids.clone()), (Some(1), vec![2]));
    // The weights are F32 in both files, so the logits agree to rounding.
    for (ids, mask, want) in [("right_ids", "right_mask", "right_logits"), ("left_ids", "left_mask", "left_logits")] {
        let d = max_masked_diff(&logits(&from_gguf, ids, mask), &g[want], &g[mask]);
        eprintln!("max |ours - HF| = {d:.2e}");
        assert!(d < 1e-4, "{ids}: max |diff| = {d}");
    }
}

#[test]
fn padded_rows_equal_rows_alone() {
    let g = golden();
    let model = tiny();
    let batch = logits(&model, "left_ids", "left_mask");
    for row in 0..3 {
        let mask = Vec::<i64>::try_from(&g["left_mask"].get(row)).unwrap();
        let start = mask.iter().position(|&m| m == 1).unwrap() as i64;
        let ids = g["left_ids"].get(row).narrow(0, start, 7 - start).unsqueeze(0);
        let alone = model.forward(&ids, None, None, ForwardOptions::eval()).unwrap().logits;
        let from_batch = batch.get(row).narrow(0, start, 7 - start).unsqueeze(0);
        let d = (alone - from_batch).abs().max().double_value(&[]);
        assert!(d < 1e-5, "row {row}: {d}");
    }
}

#[test]
fn kv_cache_steps_equal_full_forward() {
    let g = golden();
    let model = tiny();
    // A left-padded batch: prefill 3 columns, then one token per step.
    let (ids, mask) = (&g["left_ids"], &g["left_mask"]);
    let full = model.forward(ids, Some(mask), None, ForwardOptions::eval()).unwrap().logits;
    let mut out =
        model.forward(&ids.narrow(1, 0, 5), Some(&mask.narrow(1, 0, 5)), None, ForwardOptions::eval()).unwrap();
    let mut pieces = vec![out.logits.shallow_clone()];
    for t in 5..7 {
        out = model
            .forward(&ids.narrow(1, t, 1), Some(&mask.narrow(1, t, 1)), Some(out.cache), ForwardOptions::eval())
            .unwrap();
        pieces.push(out.logits.shallow_clone());
    }
    assert_eq!(out.cache.seq_len(), 7);
    assert_eq!(out.cache.seen().unwrap(), vec![7, 5, 3]);
    // The cache holds the key/value heads only (2 of them, not 4).
    assert_eq!(out.cache.layers()[0].k.size(), vec![3, 2, 7, 8]);
    let d = max_masked_diff(&full, &Tensor::cat(&pieces, 1), mask);
    assert!(d < 1e-5, "{d}");
}

#[test]
fn last_only_logits_equal_last_column() {
    let g = golden();
    let model = tiny();
    let all = logits(&model, "left_ids", "left_mask");
    let last =
        model.forward(&g["left_ids"], Some(&g["left_mask"]), None, ForwardOptions::eval().last_only()).unwrap().logits;
    assert_eq!(last.size(), vec![3, 1, 128]);
    let d = (all.narrow(1, 6, 1) - last).abs().max().double_value(&[]);
    assert!(d < 1e-6, "{d}");
}

#[test]
fn logits_at_selects_rows_of_forward() {
    let g = golden();
    let model = tiny();
    let all = logits(&model, "right_ids", "right_mask");
    let v = all.size()[2];
    let at = Tensor::from_slice(&[0i64, 3, 8, 13]);
    let picked = model.logits_at(&g["right_ids"], Some(&g["right_mask"]), &at, ForwardOptions::eval()).unwrap();
    let want = all.reshape([-1, v]).index_select(0, &at);
    let d = (picked - want).abs().max().double_value(&[]);
    assert!(d < 1e-5, "logits_at differs from forward by {d}");
}

#[test]
fn peft_adapter_gives_peft_logits() {
    let g = golden();
    let model = LoraModel::from_pretrained(tiny(), fixtures().join("tiny-llama-lora")).unwrap();
    assert_eq!(model.adapted_modules().len(), 14);
    let d = max_masked_diff(&logits(&model, "right_ids", "right_mask"), &g["right_lora_logits"], &g["right_mask"]);
    eprintln!("max |ours - PEFT| = {d:.2e}");
    assert!(d < 1e-4, "{d}");
    assert!(max_masked_diff(&g["right_lora_logits"], &g["right_logits"], &g["right_mask"]) > 1e-2);
    // The adapter loads onto the GGUF model just the same, and merges.
    let mut merged = LoraModel::from_pretrained(
        Llama::from_gguf(tiny_gguf(), LoadOptions::default()).unwrap(),
        fixtures().join("tiny-llama-lora"),
    )
    .unwrap();
    merged.merge().unwrap();
    let d = max_masked_diff(&logits(&merged, "right_ids", "right_mask"), &g["right_lora_logits"], &g["right_mask"]);
    eprintln!("merged adapter on the GGUF model: max |ours - PEFT| = {d:.2e}");
    assert!(d < 1e-4, "merged on GGUF: {d}");
}

#[test]
fn a_shallow_clone_shares_the_weights_and_runs_on_another_thread() {
    let model = LoraModel::from_pretrained(tiny(), fixtures().join("tiny-llama-lora")).unwrap();
    let want = logits(&model, "right_ids", "right_mask");
    let handle = model.shallow_clone();
    // No copy: the handle's layers point at the model's weights and adapters.
    for ((name, a), (_, b)) in model.linears().into_iter().zip(handle.linears()) {
        assert_eq!(a.weight().data_ptr(), b.weight().data_ptr(), "{name}");
        assert_eq!(a.lora().map(|l| l.a().data_ptr()), b.lora().map(|l| l.a().data_ptr()), "{name}");
    }
    let got = std::thread::spawn(move || logits(&handle, "right_ids", "right_mask")).join().unwrap();
    assert!(got.equal(&want), "the handle's logits differ from the model's");
}

#[test]
fn saved_adapter_uses_hf_names_and_reloads() {
    let cfg = LoraConfig::default().with_r(2).with_target_modules(ALL_LINEARS);
    let model = LoraModel::new(tiny(), cfg, 5).unwrap();
    // Give B a value so the reload is a real check.
    tch::no_grad(|| {
        for (_, t) in model.trainable_variables() {
            let mut t = t;
            let _ = t.f_add_(&(Tensor::randn_like(&t) * 0.1)).unwrap();
        }
    });
    let dir = scratch("llama-adapter");
    model.save_pretrained(&dir).unwrap();
    let saved = Tensor::read_safetensors(dir.join("adapter_model.safetensors")).unwrap();
    let names: Vec<&str> = saved.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 28);
    for want in [
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
        "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight",
        "base_model.model.model.layers.1.mlp.down_proj.lora_A.weight",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    let k_b = saved.iter().find(|(n, _)| n.ends_with("layers.0.self_attn.k_proj.lora_B.weight")).unwrap();
    assert_eq!(k_b.1.size(), vec![16, 2]); // [kv heads * head_dim, r]
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(cfg["fan_in_fan_out"], false);
    let reloaded = LoraModel::from_pretrained(tiny(), &dir).unwrap();
    let d = (logits(&model, "right_ids", "right_mask") - logits(&reloaded, "right_ids", "right_mask"))
        .abs()
        .max()
        .double_value(&[]);
    assert_eq!(d, 0.0);
}

#[test]
fn fresh_adapter_leaves_outputs_unchanged() {
    let g = golden();
    let model = LoraModel::new(tiny(), LoraConfig::default().with_target_modules(ALL_LINEARS), 7).unwrap();
    let d = max_masked_diff(&logits(&model, "right_ids", "right_mask"), &g["right_logits"], &g["right_mask"]);
    assert!(d < 1e-4, "{d}");
    // The family's default targets are PEFT's for Llama.
    let default_targets = tiny().info().default_lora_targets;
    let m = LoraModel::new(tiny(), LoraConfig::default().with_target_modules(default_targets), 7).unwrap();
    assert_eq!(
        m.adapted_modules(),
        vec![
            "model.layers.0.self_attn.q_proj",
            "model.layers.0.self_attn.v_proj",
            "model.layers.1.self_attn.q_proj",
            "model.layers.1.self_attn.v_proj"
        ]
    );
}

#[test]
fn save_pretrained_round_trips() {
    // The untied fixture.
    let dir = scratch("llama-save-untied");
    let m = tiny();
    m.save_pretrained(&dir).unwrap();
    let back = Llama::from_pretrained(&dir, LoadOptions::default()).unwrap();
    let d = (logits(&m, "right_ids", "right_mask") - logits(&back, "right_ids", "right_mask"))
        .abs()
        .max()
        .double_value(&[]);
    assert_eq!(d, 0.0);
    // A random tied model with GQA.
    let cfg = LlamaConfig { tie_word_embeddings: true, ..tiny().config().clone() };
    let a = Llama::random(cfg.clone(), LoadOptions::default(), 1).unwrap();
    let b = Llama::random(cfg, LoadOptions::default(), 1).unwrap();
    let dir = scratch("llama-save-tied");
    a.save_pretrained(&dir).unwrap();
    let names: Vec<String> =
        Tensor::read_safetensors(dir.join("model.safetensors")).unwrap().into_iter().map(|(n, _)| n).collect();
    assert!(!names.iter().any(|n| n == "lm_head.weight"));
    let back = Llama::from_pretrained(&dir, LoadOptions::default()).unwrap();
    assert_eq!(back.config(), a.config());
    let la = logits(&a, "left_ids", "left_mask");
    assert!(la.equal(&logits(&back, "left_ids", "left_mask")));
    assert!(la.equal(&logits(&b, "left_ids", "left_mask")), "seeded");
}

#[test]
fn generate_and_score_with_a_cache() {
    let g = golden();
    let model = tiny();
    let prompts: Vec<Vec<i64>> = (0..3)
        .map(|r| {
            let ids = Vec::<i64>::try_from(&g["right_ids"].get(r)).unwrap();
            let n = Vec::<i64>::try_from(&g["right_mask"].get(r)).unwrap().iter().sum::<i64>() as usize;
            ids[..n].to_vec()
        })
        .collect();
    let cfg = GenerateConfig::greedy(6);
    let batched = generate(&model, &prompts, &cfg, None).unwrap();
    for (p, b) in prompts.iter().zip(&batched) {
        // Greedy decoding of a row alone, by full forward passes.
        let mut seq = p.clone();
        for _ in 0..6 {
            let ids = Tensor::from_slice(&seq).unsqueeze(0);
            let l = model.forward(&ids, None, None, ForwardOptions::eval().last_only()).unwrap().logits;
            let next = l.argmax(-1, false).int64_value(&[0, 0]);
            seq.push(next);
            if next == 2 {
                break; // the model's EOS stops generation
            }
        }
        assert_eq!(b.tokens, seq[p.len()..].to_vec());
    }
    let scored = score_continuations(&model, &prompts[0], &[vec![5, 6], vec![7]], 2).unwrap();
    let full = Tensor::from_slice(&[prompts[0].clone(), vec![5, 6]].concat()).unsqueeze(0);
    let lp = model.forward(&full, None, None, ForwardOptions::eval()).unwrap().logits.log_softmax(-1, Kind::Float);
    let n = prompts[0].len() as i64;
    let want = lp.double_value(&[0, n - 1, 5]) + lp.double_value(&[0, n, 6]);
    assert!((scored[0].total - want).abs() < 1e-4, "{} vs {want}", scored[0].total);
}

/// "a b SEP value EOS" with value = f(a, b); the loss covers "value EOS".
fn toy_data() -> Vec<Example> {
    const SEP: i64 = 60;
    (0..20i64)
        .map(|a| Example::prompt_completion(&[10 + a, 10 + (a * 3) % 20, SEP], &[70 + (a * 7 + 3) % 20, 2]))
        .collect()
}

#[test]
fn lora_training_lowers_loss() {
    let base = tiny();
    let before_w: Vec<Tensor> = base.linears().iter().map(|(_, l)| l.weight().copy()).collect();
    let lora = LoraConfig::default().with_r(8).with_alpha(16.0).with_dropout(0.0).with_target_modules(ALL_LINEARS);
    let mut model = LoraModel::new(base, lora, 2).unwrap();
    let data = toy_data();
    let cfg = TrainConfig {
        learning_rate: 2e-2,
        schedule: Schedule::Cosine,
        warmup_steps: 10,
        max_steps: Some(120),
        batch_size: 10,
        max_grad_norm: Some(1.0),
        seed: 3,
        progress: false,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(cfg).unwrap();
    let before = trainer.evaluate(&model, &data).unwrap();
    trainer.train(&mut model, &data, None).unwrap();
    let after = trainer.evaluate(&model, &data).unwrap();
    eprintln!("toy loss {before:.3} -> {after:.3}");
    assert!(after < 0.25 * before, "loss {before} -> {after}");
    for ((_, l), w) in model.linears().iter().zip(&before_w) {
        assert!(l.weight().equal(w), "the base moved");
    }
}

// ---- bad input ----

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

fn load(dir: &Path) -> gpt2_lora::Result<Llama> {
    Llama::from_pretrained(dir, LoadOptions::default())
}

#[test]
fn missing_tensor_is_named() {
    let dir =
        edited_checkpoint("llama-missing", |t| t.retain(|(n, _)| n != "model.layers.1.mlp.up_proj.weight"), |_| {});
    match load(&dir) {
        Err(Error::MissingTensor { name, .. }) => {
            assert_eq!(name, "model.layers.1.mlp.up_proj.weight")
        }
        other => panic!("{other:?}"),
    }
    let dir = edited_checkpoint("llama-no-head", |t| t.retain(|(n, _)| n != "lm_head.weight"), |_| {});
    let err = load(&dir).unwrap_err().to_string();
    assert!(err.contains("lm_head.weight"), "{err}");
}

#[test]
fn misshaped_tensor_is_named() {
    let dir = edited_checkpoint(
        "llama-misshaped",
        |t| {
            for (n, x) in t.iter_mut() {
                if n == "model.layers.0.self_attn.v_proj.weight" {
                    *x = x.narrow(0, 0, 8).contiguous();
                }
            }
        },
        |_| {},
    );
    match load(&dir) {
        Err(Error::ShapeMismatch { name, expected, actual, .. }) => {
            assert_eq!(name, "model.layers.0.self_attn.v_proj.weight");
            assert_eq!((expected, actual), (vec![16, 32], vec![8, 32]));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_disagreeing_with_weights_is_an_error() {
    // Key/value heads: the k_proj shape says 2, the config 4.
    let dir = edited_checkpoint("llama-kv", |_| {}, |c| c["num_key_value_heads"] = 4.into());
    let err = load(&dir).unwrap_err().to_string();
    assert!(err.contains("model.layers.0.self_attn.k_proj.weight"), "{err}");
    // One layer fewer than the weights hold.
    let dir = edited_checkpoint("llama-layers", |_| {}, |c| c["num_hidden_layers"] = 1.into());
    match load(&dir) {
        Err(Error::UnexpectedTensor { name, .. }) => assert!(name.starts_with("model.layers.1.")),
        other => panic!("{other:?}"),
    }
    // Tied embeddings claimed while the head differs.
    let dir = edited_checkpoint("llama-tied", |_| {}, |c| c["tie_word_embeddings"] = true.into());
    let err = load(&dir).unwrap_err().to_string();
    assert!(err.contains("lm_head.weight"), "{err}");
    // Unsupported features are refused, not ignored.
    let dir = edited_checkpoint("llama-scaled-rope", |_| {}, |c| c["rope_parameters"]["rope_type"] = "llama3".into());
    let err = load(&dir).unwrap_err().to_string();
    assert!(err.contains("llama3") && err.contains("config.json"), "{err}");
}

#[test]
fn truncated_gguf_names_file_and_tensor() {
    let bytes = std::fs::read(tiny_gguf()).unwrap();
    let dir = scratch("llama-gguf-truncated");
    let path = dir.join("cut.gguf");
    std::fs::write(&path, &bytes[..bytes.len() - 1000]).unwrap();
    let err = Llama::from_gguf(&path, LoadOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Gguf { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("cut.gguf") && msg.contains("output.weight"), "{msg}");
    // Cut inside the header: still an error naming the file.
    std::fs::write(&path, &bytes[..100]).unwrap();
    let msg = Llama::from_gguf(&path, LoadOptions::default()).unwrap_err().to_string();
    assert!(msg.contains("cut.gguf"), "{msg}");
    let msg = Llama::from_gguf(dir.join("absent.gguf"), LoadOptions::default()).unwrap_err().to_string();
    assert!(msg.contains("absent.gguf"), "{msg}");
}

#[test]
fn bad_ids_and_long_inputs_are_errors() {
    let model = tiny();
    let ids = Tensor::from_slice(&[1i64, 128]).unsqueeze(0);
    assert!(matches!(
        model.forward(&ids, None, None, ForwardOptions::eval()),
        Err(Error::TokenOutOfRange { id: 128, .. })
    ));
    let long = Tensor::zeros([1, 33], (Kind::Int64, tch::Device::Cpu));
    assert!(matches!(
        model.forward(&long, None, None, ForwardOptions::eval()),
        Err(Error::SequenceTooLong { len: 33, max: 32, .. })
    ));
    // An adapter for GPT-2 does not load onto a Llama.
    let err = LoraModel::from_pretrained(tiny(), fixtures().join("tiny-gpt2-lora")).unwrap_err().to_string();
    assert!(err.contains("c_attn"), "{err}");
}

#[test]
fn tokenizer_from_gguf_takes_the_files_eos() {
    // gguf-file's fixture: the first 1,500 SmolLM2 tokens, EOS <|im_end|> (id 2).
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../gguf-file/tests/reference/tiny_tokenizer.gguf");
    let tok = Tokenizer::from_gguf(&path).unwrap();
    assert_eq!(tok.eos_id(), Some(2));
    assert_eq!(tok.id_to_token(2).as_deref(), Some("<|im_end|>"));
    let ids = tok.encode("<|im_start|>user\nhi<|im_end|>").unwrap();
    assert_eq!((ids.first(), ids.last()), (Some(&1), Some(&2)));
    assert_eq!(tok.decode(&ids, false).unwrap(), "<|im_start|>user\nhi<|im_end|>");
    // The tiny model's GGUF has no vocabulary: the error names the file and the key.
    let msg = Tokenizer::from_gguf(tiny_gguf()).unwrap_err().to_string();
    assert!(msg.contains("tiny-llama.gguf") && msg.contains("tokenizer.ggml.model"), "{msg}");
}

/// Dropping a block equals a model written without it: the pruned model's logits match a
/// checkpoint whose block 1 was removed by hand (block 2 renamed to 1, the config's layer
/// count lowered), and its weights are the kept blocks' own.
#[test]
fn keep_blocks_equals_a_checkpoint_without_them() {
    let cfg = LlamaConfig { num_hidden_layers: 3, ..tiny().config().clone() };
    let whole = Llama::random(cfg.clone(), LoadOptions::default(), 5).unwrap();
    let mut pruned = Llama::random(cfg, LoadOptions::default(), 5).unwrap();
    pruned.keep_blocks(&[0, 2]).unwrap();
    assert_eq!((pruned.num_blocks(), pruned.config().num_hidden_layers), (2, 2));
    let weight = |m: &Llama, name: &str| m.linears().into_iter().find(|(n, _)| n == name).unwrap().1.weight().copy();
    assert!(weight(&pruned, "model.layers.1.mlp.up_proj").equal(&weight(&whole, "model.layers.2.mlp.up_proj")));

    // The same model by hand: the whole checkpoint less block 1, block 2 renamed.
    let dir = scratch("llama-keep-blocks-whole");
    whole.save_pretrained(&dir).unwrap();
    let tensors: Vec<(String, Tensor)> = Tensor::read_safetensors(dir.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("model.layers.1."))
        .map(|(n, t)| (n.replace("model.layers.2.", "model.layers.1."), t))
        .collect();
    let by_hand = scratch("llama-keep-blocks-by-hand");
    std::fs::create_dir_all(&by_hand).unwrap();
    Tensor::write_safetensors(&tensors, by_hand.join("model.safetensors")).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    config["num_hidden_layers"] = 2.into();
    std::fs::write(by_hand.join("config.json"), config.to_string()).unwrap();
    let by_hand = Llama::from_pretrained(&by_hand, LoadOptions::default()).unwrap();
    let lp = logits(&pruned, "left_ids", "left_mask");
    assert!(lp.equal(&logits(&by_hand, "left_ids", "left_mask")));
    assert!(!lp.equal(&logits(&whole, "left_ids", "left_mask")), "block 1 did something");

    // Keeping every block changes nothing; bad lists are errors, and so is pruning under adapters.
    let mut same = tiny();
    same.keep_blocks(&[0, 1]).unwrap();
    assert!(logits(&same, "right_ids", "right_mask").equal(&logits(&tiny(), "right_ids", "right_mask")));
    for bad in [&[][..], &[1, 0], &[0, 0], &[0, 2]] {
        let e = tiny().keep_blocks(bad).unwrap_err();
        assert!(matches!(e, Error::InvalidInput(ref m) if m.starts_with("keep_blocks")), "{bad:?}: {e}");
    }
    let mut adapted = LoraModel::new(tiny(), LoraConfig::default().with_target_modules(["q_proj"]), 0).unwrap();
    assert!(adapted.keep_blocks(&[1]).unwrap_err().to_string().contains("before attaching adapters"));
}
