//! A run resumed from a checkpoint ends exactly where the uninterrupted run ends. Kept in its
//! own test binary: dropout draws from libtorch's global RNG, which other tests would disturb.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

mod common;

use common::*;
use gpt2_lora::{Example, Gpt2, LoadOptions, LoraConfig, LoraModel, Schedule, TrainConfig, Trainer};

fn data() -> Vec<Example> {
    (0..13i64).map(|a| Example::prompt_completion(&vec![a; 2 + (a as usize % 4)], &[30 + a % 7, 63])).collect()
}

fn fresh() -> LoraModel<Gpt2> {
    let base = Gpt2::random(small_config(64, 16), LoadOptions::default(), 9).unwrap();
    let lora = LoraConfig::default().with_dropout(0.2).with_target_modules(["c_attn", "c_fc"]);
    LoraModel::new(base, lora, 5).unwrap()
}

#[test]
fn resume_equals_uninterrupted() {
    let dir = scratch("resume");
    let cfg = TrainConfig {
        learning_rate: 5e-3,
        weight_decay: 0.01,
        schedule: Schedule::Linear,
        warmup_steps: 2,
        max_steps: Some(8),
        batch_size: 3,
        grad_accum_steps: 2,
        checkpoint_every: Some(3),
        checkpoint_dir: Some(dir.clone()),
        seed: 17,
        progress: false,
        ..TrainConfig::default()
    };
    let mut full = fresh();
    let report = Trainer::new(cfg.clone()).unwrap().train(&mut full, &data(), None).unwrap();
    assert_eq!(report.steps, 8);

    let mut resumed = fresh();
    let ckpt = dir.join("step-00000003");
    let cfg2 = TrainConfig { checkpoint_dir: Some(scratch("resume-2")), ..cfg.clone() };
    let r2 = Trainer::new(cfg2).unwrap().resume(&mut resumed, &ckpt, &data(), None).unwrap();
    assert_eq!(r2.train_losses.first().map(|l| l.0), Some(4));
    assert_eq!(r2.train_losses, report.train_losses[3..].to_vec());
    for ((name, a), (_, b)) in full.trainable_variables().iter().zip(resumed.trainable_variables()) {
        let d = (a - &b).abs().max().double_value(&[]);
        assert!(d == 0.0, "{name} differs by {d}");
    }
    // Training did move the adapters.
    let start = fresh();
    let moved = full.trainable_variables()[1].1.abs().max().double_value(&[]);
    assert!(moved > 0.0 && start.trainable_variables()[1].1.abs().max().double_value(&[]) == 0.0);

    // Resuming with other settings or data is refused.
    let other = TrainConfig { seed: 18, ..cfg.clone() };
    let err = Trainer::new(other).unwrap().resume(&mut fresh(), &ckpt, &data(), None).unwrap_err();
    assert!(err.to_string().contains("settings differ"), "{err}");
    let err = Trainer::new(cfg).unwrap().resume(&mut fresh(), &ckpt, &data()[1..], None).unwrap_err();
    assert!(err.to_string().contains("data differs"), "{err}");
}
