//! The trainer learns a toy mapping with LoRA on a frozen random base; loss covers the value
//! tokens only; evaluation and checkpoints.

mod common;

use common::*;
use gpt2_lora::{
    generate, CausalLm, Example, Flow, GenerateConfig, Gpt2, LoadOptions, LoraConfig, LoraModel, Schedule, TrainConfig,
    Trainer,
};

const SEP: i64 = 60;
const EOS: i64 = 127;

/// "key key' SEP value EOS" with value = f(key); the loss covers "value EOS".
pub fn toy_data() -> Vec<Example> {
    (0..20i64).map(|a| Example::prompt_completion(&[a, (a * 3) % 20, SEP], &[30 + (a * 7 + 3) % 20, EOS])).collect()
}

#[test]
fn lora_learns_a_toy_mapping() {
    // The fixture model: its embeddings are large enough for a frozen tied head to express
    // confident predictions (a 0.02-std random init cannot, whatever the adapters learn).
    let base = tiny();
    let base_params: Vec<tch::Tensor> = base.linears().iter().map(|(_, l)| l.weight().copy()).collect();
    let lora = LoraConfig::default()
        .with_r(8)
        .with_alpha(16.0)
        .with_dropout(0.0)
        .with_target_modules(["c_attn", "c_proj", "c_fc"]);
    let mut model = LoraModel::new(base, lora, 2).unwrap();
    let data = toy_data();
    let cfg = TrainConfig {
        learning_rate: 3e-2,
        schedule: Schedule::Cosine,
        warmup_steps: 10,
        max_steps: Some(200),
        batch_size: 10,
        max_grad_norm: Some(1.0),
        eval_every: Some(50),
        seed: 3,
        progress: false,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(cfg).unwrap();
    let before = trainer.evaluate(&model, &data).unwrap();
    let report = trainer.train(&mut model, &data, Some(&data)).unwrap();
    let after = trainer.evaluate(&model, &data).unwrap();
    eprintln!("loss {before:.3} -> {after:.3}; {:.0} tok/s", report.tokens_per_second);
    assert!(before > 2.5, "untrained loss {before}");
    assert!(after < 0.6, "trained loss {after}");
    assert_eq!(report.steps, 200);
    assert_eq!((report.planned_steps, report.time_limited), (200, false));
    assert_eq!(report.train_losses.len(), 200);
    assert_eq!(report.eval_losses.iter().map(|e| e.0).collect::<Vec<_>>(), vec![50, 100, 150, 200]);
    assert!(report.tokens_per_second > 0.0);
    // The base never moved.
    for ((_, l), w) in model.linears().iter().zip(&base_params) {
        assert!(l.weight().equal(w));
    }
    // Greedy decoding now answers from the mapping.
    let prompts: Vec<Vec<i64>> = (0..20i64).map(|a| vec![a, (a * 3) % 20, SEP]).collect();
    let out = generate(&model, &prompts, &GenerateConfig::greedy(3).with_stop_tokens([EOS]), None).unwrap();
    let right = (0..20i64).filter(|&a| out[a as usize].tokens == vec![30 + (a * 7 + 3) % 20, EOS]).count();
    assert!(right >= 18, "{right}/20 right");
}

#[test]
fn a_time_limit_ends_the_run_with_its_schedule_run_out() {
    let lora = LoraConfig::default().with_r(4).with_alpha(8.0).with_target_modules(["c_attn"]);
    let mut model = LoraModel::new(tiny(), lora, 2).unwrap();
    let cfg = TrainConfig {
        learning_rate: 1e-2,
        schedule: Schedule::Cosine,
        warmup_steps: 2,
        max_steps: Some(1_000_000),
        batch_size: 4,
        max_seconds: Some(2.0),
        progress: false,
        ..TrainConfig::default()
    };
    let report = Trainer::new(cfg.clone()).unwrap().train(&mut model, &toy_data(), None).unwrap();
    eprintln!("{} steps in 2 s, the last at {:.2e}", report.steps, report.last_learning_rate);
    assert!(report.time_limited, "{} steps in 2 s of a million", report.steps);
    assert!(report.steps >= 1 && report.steps < 1_000_000);
    // The schedule was laid out over the steps the time allowed: the run ended where it did,
    // at a learning rate near 0, not a millionth of the way down a million-step cosine.
    assert_eq!(report.planned_steps, report.steps);
    let last = report.last_learning_rate / cfg.learning_rate;
    assert!(report.steps > 10, "{} steps: too few to see the schedule", report.steps);
    assert!(last < 0.2, "the last step ran at {last} of the peak rate");
}

#[test]
fn a_hook_can_set_the_time_limit_during_the_run() {
    let lora = LoraConfig::default().with_r(4).with_alpha(8.0).with_target_modules(["c_attn"]);
    let cfg = TrainConfig { max_steps: Some(1000), batch_size: 4, progress: false, ..TrainConfig::default() };
    // A limit already spent, set after step 5 of a run that had none: it ends there.
    let mut model = LoraModel::new(tiny(), lora.clone(), 2).unwrap();
    let mut at_five = |step: usize, _: &LoraModel<Gpt2>| Ok(if step == 5 { Flow::Limit(0.0) } else { Flow::Continue });
    let r = Trainer::new(cfg.clone()).unwrap().train_with(&mut model, &toy_data(), None, &mut at_five).unwrap();
    assert_eq!((r.steps, r.planned_steps, r.time_limited), (5, 5, true));
    // A generous limit replaces a tight configured one: the whole step budget runs.
    let tight = TrainConfig { max_steps: Some(12), max_seconds: Some(1e-9), ..cfg };
    let mut model = LoraModel::new(tiny(), lora, 2).unwrap();
    let mut lift = |_: usize, _: &LoraModel<Gpt2>| Ok(Flow::Limit(1e9));
    let r = Trainer::new(tight.clone()).unwrap().train_with(&mut model, &toy_data(), None, &mut lift).unwrap();
    assert_eq!((r.steps, r.planned_steps, r.time_limited), (12, 12, false));
    // Not a number: an error naming the step, not a run that never ends.
    let mut nan = |_: usize, _: &LoraModel<Gpt2>| Ok(Flow::Limit(f64::NAN));
    let err = Trainer::new(tight).unwrap().train_with(&mut model, &toy_data(), None, &mut nan).unwrap_err();
    assert!(err.to_string().contains("after step 1"), "{err}");
}

#[test]
fn loss_mask_selects_tokens() {
    // With nothing to learn on the prompt, the evaluation loss only sees completions: two data
    // sets with the same completions but different prompts-as-targets differ.
    let model = LoraModel::new(
        Gpt2::random(small_config(64, 16), LoadOptions::default(), 4).unwrap(),
        LoraConfig::default(),
        0,
    )
    .unwrap();
    let t = Trainer::new(TrainConfig { progress: false, ..TrainConfig::default() }).unwrap();
    let only_value = vec![Example::prompt_completion(&[1, 2, 3], &[4])];
    let all = vec![Example::language_model(&[1, 2, 3, 4])];
    let a = t.evaluate(&model, &only_value).unwrap();
    let b = t.evaluate(&model, &all).unwrap();
    assert!((a - b).abs() > 1e-6);
    let none = vec![Example::prompt_completion(&[1, 2, 3], &[])];
    assert!(t.evaluate(&model, &none).is_err(), "no target tokens is an error");
}

#[test]
fn checkpoints_are_written_and_loadable() {
    let dir = scratch("train-ckpt");
    let mut model = LoraModel::new(
        Gpt2::random(small_config(128, 16), LoadOptions::default(), 1).unwrap(),
        LoraConfig::default(),
        0,
    )
    .unwrap();
    let cfg = TrainConfig {
        max_steps: Some(4),
        batch_size: 5,
        checkpoint_every: Some(2),
        checkpoint_dir: Some(dir.clone()),
        progress: false,
        ..TrainConfig::default()
    };
    let report = Trainer::new(cfg).unwrap().train(&mut model, &toy_data(), None).unwrap();
    assert_eq!(report.last_checkpoint.as_deref(), Some(dir.join("step-00000004").as_path()));
    for step in ["step-00000002", "step-00000004"] {
        for f in ["adapter_config.json", "adapter_model.safetensors", "optimizer.safetensors", "trainer_state.json"] {
            assert!(dir.join(step).join(f).is_file(), "{step}/{f}");
        }
    }
    // No temporary directories are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    // A checkpoint is a PEFT adapter.
    let base = Gpt2::random(small_config(128, 16), LoadOptions::default(), 1).unwrap();
    let loaded = LoraModel::from_pretrained(base, dir.join("step-00000004")).unwrap();
    for ((_, a), (_, b)) in loaded.trainable_variables().iter().zip(model.trainable_variables()) {
        assert!(a.equal(&b));
    }
}

#[test]
fn padding_is_counted() {
    // Examples of 4 to 13 tokens in batches of 10, drawn at random: each micro-batch pads its
    // rows to its longest.
    let data: Vec<Example> = (0..20i64)
        .map(|a| {
            let prompt: Vec<i64> = (0..(1 + a % 10)).map(|k| (a + k) % 20).chain([SEP]).collect();
            Example::prompt_completion(&prompt, &[30 + (a * 7 + 3) % 20, EOS])
        })
        .collect();
    let mut model = LoraModel::new(tiny(), LoraConfig::default().with_dropout(0.0), 2).unwrap();
    let cfg = TrainConfig {
        max_steps: Some(3),
        batch_size: 10,
        bucket_by_length: false,
        seed: 4,
        progress: false,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(cfg).unwrap();
    let plan: Vec<Vec<usize>> = (0..2).flat_map(|e| trainer.batch_plan(&data, e)).take(3).collect();
    let len = |i: &usize| data[*i].input_ids.len() as u64;
    let tokens: u64 = plan.iter().flatten().map(len).sum();
    let padded: u64 = plan.iter().map(|b| b.len() as u64 * b.iter().map(len).max().unwrap()).sum();
    let report = trainer.train(&mut model, &data, None).unwrap();
    assert_eq!((report.tokens, report.padded_tokens), (tokens, padded));
    assert!(padded > tokens, "mixed lengths pad");
}
