//! Tests on the real SmolLM2-135M-Instruct Q4_1 GGUF (about 95 MB), found in
//! the models directory (`$RECIMPUTE_MODELS`, else the cache's `models/`: see `rec-cache`). `cargo xtask test` fetches it and runs
//! the quick ones (seconds each); without the file they fail naming the command that fetches it.
//! The 3-minute fine-tune is opt-in:
//!
//! ```text
//! cargo test -p gpt2-lora --release --test smollm2 -- --ignored
//! ```
//!
//! Timings below are release builds on 2 CPU cores shared with other builds (load average
//! about 6), tests run one at a time; loading the GGUF (dequantizing 135M weights to f32)
//! takes 2 to 3 s of each. All four together: about 3 minutes.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

use std::path::PathBuf;
use std::time::Instant;

use gpt2_lora::{
    CausalLm, Example, ForwardOptions, Llama, LoadOptions, LoraConfig, LoraModel, Schedule, Tokenizer, TrainConfig,
    Trainer,
};
use tch::{Kind, Tensor};

/// Largest |ours - HF's| allowed on a logit, on a position's log-sum-exp, and between a
/// prompt run alone and inside a left-padded batch. Both sides dequantize the same Q4_1 values
/// to f32 and run the same libtorch f32 kernels, so they can differ only in summation order.
/// Measured: top-k logits 3.6e-15 (bit-identical up to the JSON round trip), log-sum-exp
/// 1.9e-6, padded batch vs alone 6.9e-5 (the masked attention kernel sums in another order than
/// the causal one), on logits of magnitude ~20. 1e-3 leaves a 15x margin for other CPUs and
/// thread counts, while any real mistake (Q/K permutation, epsilon, rotary base, GQA head
/// order) moves logits by far more than 0.1.
const LOGIT_TOL: f64 = 1e-3;

/// Directory holding the SmolLM2 GGUF, resolved as the setup and the library resolve it.
fn models_dir() -> PathBuf {
    rec_cache::models_dir().expect("RECIMPUTE_MODELS, RECIMPUTE_CACHE, XDG_CACHE_HOME or HOME locates the models")
}

fn smollm2_path() -> PathBuf {
    let path = models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(path.exists(), "{} not found: run `cargo xtask fetch-model` or set RECIMPUTE_MODELS", path.display());
    path
}

fn load() -> Llama {
    let start = Instant::now();
    let model = Llama::from_gguf(smollm2_path(), LoadOptions::default()).expect("load SmolLM2");
    eprintln!("loaded SmolLM2 in {:?}", start.elapsed());
    model
}

fn fixture(path: PathBuf) -> serde_json::Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn ids_of(v: &serde_json::Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

/// About 7 s.
#[test]
fn paris_is_the_top_next_token() {
    let model = load();
    let tok = Tokenizer::from_gguf(smollm2_path()).unwrap();
    assert_eq!(tok.eos_id(), Some(2));
    assert_eq!(model.info().eos_token_ids, vec![2]);
    let c = model.config();
    assert_eq!((c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads), (30, 9, 3));
    assert!(c.tie_word_embeddings);
    let ids = tok.encode("The capital of France is").unwrap();
    let logits = model
        .forward(&Tensor::from_slice(&ids).unsqueeze(0), None, None, ForwardOptions::eval().last_only())
        .unwrap()
        .logits
        .view([-1]);
    let probs = logits.softmax(-1, Kind::Float);
    let top = logits.argmax(0, false).int64_value(&[]);
    let p = probs.double_value(&[top]);
    let word = tok.decode(&[top], false).unwrap();
    eprintln!("top next token {top} {word:?} with probability {p:.3}");
    assert_eq!(word, " Paris");
}

/// About 5 s.
#[test]
fn logits_match_transformers() {
    let model = load();
    let fx = fixture(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2_reference.json"));
    let prompts = fx["prompts"].as_array().unwrap();
    let all_ids: Vec<Vec<i64>> = prompts.iter().map(|p| ids_of(&p["ids"])).collect();
    // Each prompt alone, then all of them as one left-padded batch.
    let width = all_ids.iter().map(Vec::len).max().unwrap();
    let mut padded = Vec::new();
    let mut mask = Vec::new();
    for ids in &all_ids {
        let pad = width - ids.len();
        padded.extend(std::iter::repeat_n(2i64, pad).chain(ids.iter().copied()));
        mask.extend(std::iter::repeat_n(0i64, pad).chain(std::iter::repeat_n(1, ids.len())));
    }
    let n = all_ids.len() as i64;
    let batch = model
        .forward(
            &Tensor::from_slice(&padded).view([n, width as i64]),
            Some(&Tensor::from_slice(&mask).view([n, width as i64])),
            None,
            ForwardOptions::eval(),
        )
        .unwrap()
        .logits;
    let (mut max_logit, mut max_lse, mut max_batch) = (0f64, 0f64, 0f64);
    for (i, (p, ids)) in prompts.iter().zip(&all_ids).enumerate() {
        let alone = model
            .forward(&Tensor::from_slice(ids).unsqueeze(0), None, None, ForwardOptions::eval())
            .unwrap()
            .logits
            .get(0);
        let from_batch = batch.get(i as i64).narrow(0, (width - ids.len()) as i64, ids.len() as i64);
        max_batch = max_batch.max((&alone - from_batch).abs().max().double_value(&[]));
        let lse = alone.logsumexp([-1], false);
        for (t, pos) in p["positions"].as_array().unwrap().iter().enumerate() {
            let want_lse = pos["logsumexp"].as_f64().unwrap();
            max_lse = max_lse.max((lse.double_value(&[t as i64]) - want_lse).abs());
            let top_ids = ids_of(&pos["top_ids"]);
            // Our top-1 is HF's (the top-2 gap is far above the tolerance here).
            assert_eq!(alone.get(t as i64).argmax(0, false).int64_value(&[]), top_ids[0], "prompt {i} position {t}");
            for (id, want) in top_ids.iter().zip(pos["top_logits"].as_array().unwrap()) {
                let got = alone.double_value(&[t as i64, *id]);
                max_logit = max_logit.max((got - want.as_f64().unwrap()).abs());
            }
        }
    }
    eprintln!(
        "max |ours - HF|: top-k logits {max_logit:.2e}, logsumexp {max_lse:.2e}; \
         padded batch vs alone {max_batch:.2e}"
    );
    assert!(max_logit < LOGIT_TOL, "{max_logit}");
    assert!(max_lse < LOGIT_TOL, "{max_lse}");
    assert!(max_batch < LOGIT_TOL, "{max_batch}");
}

/// Under 1 s. The corpus (accents, digits, whitespace runs, emoji, newlines, chat markup) and
/// the ids are the gguf-file crate's fixture, made by its `tests/reference/make_reference.py`
/// from HF's tokenizer for this GGUF with llama.cpp's `smollm` digit split.
#[test]
fn tokenizer_matches_hf() {
    let tok = Tokenizer::from_gguf(smollm2_path()).unwrap();
    let fx =
        fixture(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../gguf-file/tests/reference/smollm2_tokenizer.json"));
    let corpus = fx["corpus"].as_array().unwrap();
    assert!(corpus.len() >= 20);
    for (i, text) in corpus.iter().enumerate() {
        let text = text.as_str().unwrap();
        let ids = tok.encode(text).unwrap();
        assert_eq!(ids, ids_of(&fx["expected"][i]), "{text:?}");
        assert_eq!(tok.decode(&ids, false).unwrap(), fx["decoded"][i].as_str().unwrap());
    }
    // The logits fixture's prompts tokenize as transformers tokenized them.
    let logits_fx = fixture(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2_reference.json"));
    for p in logits_fx["prompts"].as_array().unwrap() {
        let text = p["text"].as_str().unwrap();
        assert_eq!(tok.encode(text).unwrap(), ids_of(&p["ids"]), "{text:?}");
    }
}

const OCCUPATIONS: [&str; 4] = ["student", "artist", "engineer", "doctor"];

/// 80 serialized user rows; the occupation follows from age and gender (under 30 and M:
/// student, under 30 and F: artist, 30 or over and M: engineer, else doctor). The loss covers
/// " occupation<|im_end|>".
fn table_rows(tok: &Tokenizer) -> Vec<Example> {
    (0..80u64)
        .map(|i| {
            let age = 18 + (i * 37) % 45;
            let gender = if (i * 7) % 3 == 0 { "F" } else { "M" };
            let occ = OCCUPATIONS[usize::from(age >= 30) * 2 + usize::from(gender == "F")];
            let prompt = tok.encode(&format!("age is {age}, gender is {gender}, occupation is")).unwrap();
            let mut value = tok.encode(&format!(" {occ}")).unwrap();
            value.push(2);
            Example::prompt_completion(&prompt, &value)
        })
        .collect()
}

/// About 3 minutes (2.5 of them the 24 training steps of batch 8, LoRA r=8 on all seven
/// projections), then the adapter is saved, reloaded onto a fresh base and compared. Measured:
/// held-out loss 8.88 -> 0.31. Loaded into Python PEFT on transformers' SmolLM2 (from the same
/// GGUF), the saved adapter answers 12 of the 16 held-out rows by the rule.
#[test]
#[ignore = "3 minutes on 2 cores; the imputer's SmolLM2 test covers fine-tuning in the default suite"]
fn lora_finetune_on_a_table_and_peft_round_trip() {
    let tok = Tokenizer::from_gguf(smollm2_path()).unwrap();
    let rows = table_rows(&tok);
    let (train, held_out) = rows.split_at(64);
    let lora = LoraConfig::default().with_r(8).with_alpha(16.0).with_dropout(0.0).with_target_modules([
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]);
    let mut model = LoraModel::new(load(), lora, 11).unwrap();
    let cfg = TrainConfig {
        learning_rate: 2e-3,
        schedule: Schedule::Cosine,
        warmup_steps: 4,
        max_steps: Some(24),
        batch_size: 8,
        max_grad_norm: Some(1.0),
        seed: 5,
        progress: false,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(cfg).unwrap();
    let before = trainer.evaluate(&model, held_out).unwrap();
    let start = Instant::now();
    trainer.train(&mut model, train, None).unwrap();
    let took = start.elapsed();
    let after = trainer.evaluate(&model, held_out).unwrap();
    eprintln!("held-out loss {before:.3} -> {after:.3}; 24 steps in {took:?}");
    assert!(after < 0.5 * before, "held-out loss {before} -> {after}");

    // Saved as PEFT and reloaded onto a fresh base: identical logits.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("smollm2-table-lora");
    let _ = std::fs::remove_dir_all(&dir);
    model.save_pretrained(&dir).unwrap();
    let reloaded = LoraModel::from_pretrained(load(), &dir).unwrap();
    let ids = Tensor::from_slice(&held_out[0].input_ids).unsqueeze(0);
    let run = |m: &dyn CausalLm| m.forward(&ids, None, None, ForwardOptions::eval()).unwrap().logits;
    let d = (run(&model) - run(&reloaded)).abs().max().double_value(&[]);
    eprintln!("reloaded adapter: max |diff| {d:e}");
    assert_eq!(d, 0.0);
}
