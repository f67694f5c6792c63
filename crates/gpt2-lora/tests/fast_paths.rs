//! The training fast paths change speed, not results: the LM head applied only where the loss
//! is taken (and batches run without an attention mask) gives the loss of full logits with a
//! mask, and a bf16 base trains f32 adapters whose output matches an f32 run.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

mod common;

use common::*;
use gpt2_lora::{
    CausalLm, Example, ForwardOptions, Gpt2, LoadOptions, LoraConfig, LoraModel, Schedule, TrainConfig, Trainer,
};
use tch::{Kind, Reduction, Tensor};

/// Gives every adapter's `B` non-zero values so the adapters change the output.
fn perturb_adapters<M: CausalLm>(model: &LoraModel<M>, seed: i64) {
    tch::manual_seed(seed);
    let _guard = tch::no_grad_guard();
    for (name, mut t) in model.trainable_variables() {
        if name.ends_with("lora_B.weight") {
            let r = Tensor::randn(t.size(), (t.kind(), t.device())) * 0.5;
            t.copy_(&r);
        }
    }
}

/// Examples of different lengths, so batches are padded.
fn ragged_data() -> Vec<Example> {
    (0..7i64)
        .map(|i| {
            let prompt: Vec<i64> = (0..3 + i % 4).map(|j| (i * 11 + j * 5) % 120).collect();
            let value: Vec<i64> = (0..1 + i % 3).map(|j| (i * 7 + j * 13 + 1) % 120).collect();
            Example::prompt_completion(&prompt, &value)
        })
        .collect()
}

/// Mean loss over target tokens from full logits, right padding and an attention mask: what
/// the trainer computed before the fast paths.
fn reference_loss<M: CausalLm>(model: &M, data: &[Example]) -> f64 {
    let _guard = tch::no_grad_guard();
    let width = data.iter().map(|e| e.input_ids.len()).max().unwrap();
    let (mut ids, mut mask, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for e in data {
        let n = e.input_ids.len();
        ids.extend(e.input_ids.iter().copied().chain(std::iter::repeat_n(0, width - n)));
        mask.extend(std::iter::repeat_n(1i64, n).chain(std::iter::repeat_n(0, width - n)));
        for t in 1..width {
            labels.push(match (e.input_ids.get(t), e.loss_mask.get(t)) {
                (Some(&id), Some(true)) => id,
                _ => -100,
            });
        }
    }
    let shape = [data.len() as i64, width as i64];
    let out = model
        .forward(
            &Tensor::from_slice(&ids).reshape(shape),
            Some(&Tensor::from_slice(&mask).reshape(shape)),
            None,
            ForwardOptions::eval(),
        )
        .unwrap();
    let v = out.logits.size()[2];
    let logits = out.logits.narrow(1, 0, width as i64 - 1).reshape([-1, v]).to_kind(Kind::Float);
    let n = labels.iter().filter(|&&l| l >= 0).count();
    let loss = logits.cross_entropy_loss::<Tensor>(&Tensor::from_slice(&labels), None, Reduction::Sum, -100, 0.0);
    loss.double_value(&[]) / n as f64
}

#[test]
fn logits_at_selects_rows_of_forward() {
    let model = LoraModel::new(tiny(), LoraConfig::default().with_dropout(0.0), 1).unwrap();
    perturb_adapters(&model, 2);
    let _guard = tch::no_grad_guard();
    let ids = Tensor::from_slice(&[5i64, 9, 17, 3, 44, 2, 8, 1]).reshape([2, 4]);
    let full = model.forward(&ids, None, None, ForwardOptions::eval()).unwrap().logits.reshape([8, -1]);
    let at = Tensor::from_slice(&[6i64, 0, 3]);
    let picked = model.logits_at(&ids, None, &at, ForwardOptions::eval()).unwrap();
    assert_eq!(picked.size(), [3, 128]);
    let d = (picked - full.index_select(0, &at)).abs().max().double_value(&[]);
    assert!(d < 1e-5, "logits_at differs from forward by {d}");
}

#[test]
fn hidden_at_feeds_the_head_and_picks_the_right_rows() {
    let model = LoraModel::new(tiny(), LoraConfig::default().with_dropout(0.0), 5).unwrap();
    perturb_adapters(&model, 6);
    let _guard = tch::no_grad_guard();
    let ids = Tensor::from_slice(&[5i64, 9, 17, 3, 44, 2, 8, 1]).reshape([2, 4]);
    let (all, _) = model.hidden(&ids, None, None, false).unwrap();
    let e = all.size()[2];
    let at = Tensor::from_slice(&[7i64, 1, 4]);
    let h = model.hidden_at(&ids, None, &at, false).unwrap();
    assert_eq!(h.size(), [3, e]);
    let d = (&h - all.reshape([-1, e]).index_select(0, &at)).abs().max().double_value(&[]);
    assert!(d < 1e-6, "hidden_at differs from hidden by {d}");
    // Rows of different positions differ (the selection is not a broadcast of one row).
    let spread = (h.get(0) - h.get(1)).abs().max().double_value(&[]);
    assert!(spread > 1e-3, "{spread}");
    let full = model.forward(&ids, None, None, ForwardOptions::eval()).unwrap().logits.reshape([8, -1]);
    let d = (model.head(&h).unwrap() - full.index_select(0, &at)).abs().max().double_value(&[]);
    assert!(d < 1e-5, "head(hidden_at) differs from forward by {d}");
}

#[test]
fn loss_at_target_positions_equals_full_logits_loss() {
    let model = LoraModel::new(tiny(), LoraConfig::default().with_dropout(0.0), 3).unwrap();
    perturb_adapters(&model, 4);
    let data = ragged_data();
    let trainer = Trainer::new(TrainConfig { batch_size: 16, progress: false, ..TrainConfig::default() }).unwrap();
    // One padded batch of all seven examples.
    let ours = trainer.evaluate(&model, &data).unwrap();
    let want = reference_loss(&model, &data);
    assert!((ours - want).abs() < 1e-5 * want.abs().max(1.0), "trainer loss {ours} vs full-logits loss {want}");
}

fn load(kind: Kind) -> Gpt2 {
    Gpt2::from_pretrained(tiny_dir(), LoadOptions { kind, ..LoadOptions::default() }).unwrap()
}

#[test]
fn bf16_base_trains_f32_adapters_matching_f32() {
    let lora = LoraConfig::default().with_dropout(0.0).with_target_modules(["c_attn", "c_fc"]);
    let full = LoraModel::new(load(Kind::Float), lora.clone(), 5).unwrap();
    let half = LoraModel::new(load(Kind::BFloat16), lora, 5).unwrap();
    perturb_adapters(&full, 6);
    perturb_adapters(&half, 6);
    for (name, t) in half.trainable_variables() {
        assert_eq!(t.kind(), Kind::Float, "{name} on a bf16 base");
    }
    for (_, l) in half.linears() {
        assert_eq!(l.weight().kind(), Kind::BFloat16);
    }

    // Forward: the adapted layers' contribution agrees within bf16 precision.
    let ids = Tensor::from_slice(&[5i64, 9, 17, 3, 44, 2, 8, 1]).reshape([2, 4]);
    let logits =
        |m: &LoraModel<Gpt2>| m.forward(&ids, None, None, ForwardOptions::eval()).unwrap().logits.to_kind(Kind::Float);
    let (a, b) = (logits(&full), logits(&half));
    let scale = a.abs().max().double_value(&[]);
    let d = (&a - &b).abs().max().double_value(&[]);
    assert!(d < 0.03 * scale, "bf16 logits drift {d} (scale {scale})");

    // Backward: f32 gradients close to the f32 run's.
    let target = Tensor::from_slice(&[3i64, 1]);
    for m in [&full, &half] {
        let at = Tensor::from_slice(&[2i64, 6]);
        let l = m
            .logits_at(&ids, None, &at, ForwardOptions::train())
            .unwrap()
            .to_kind(Kind::Float)
            .cross_entropy_for_logits(&target);
        l.backward();
    }
    for ((name, ga), (_, gb)) in full.trainable_variables().iter().zip(half.trainable_variables().iter()) {
        let (ga, gb) = (ga.grad(), gb.grad());
        assert_eq!(gb.kind(), Kind::Float, "{name} gradient");
        let rel = (&ga - &gb).norm().double_value(&[]) / ga.norm().double_value(&[]).max(1e-12);
        assert!(rel < 0.1, "{name}: gradient relative error {rel}");
    }
}

#[test]
fn bf16_base_training_reduces_loss_and_merges() {
    let lora = LoraConfig::default().with_dropout(0.0).with_r(4);
    let mut model = LoraModel::new(load(Kind::BFloat16), lora, 7).unwrap();
    let data = ragged_data();
    let mut trainer = Trainer::new(TrainConfig {
        learning_rate: 2e-2,
        schedule: Schedule::Constant,
        max_steps: Some(30),
        batch_size: 4,
        progress: false,
        ..TrainConfig::default()
    })
    .unwrap();
    let before = trainer.evaluate(&model, &data).unwrap();
    trainer.train(&mut model, &data, None).unwrap();
    let after = trainer.evaluate(&model, &data).unwrap();
    assert!(after < before - 0.1, "loss {before} -> {after}");
    for (name, t) in model.trainable_variables() {
        assert_eq!(t.kind(), Kind::Float, "{name} after training");
    }
    // Merging folds the f32 update into the bf16 weights; the output stays close.
    let ids = Tensor::from_slice(&[5i64, 9, 17, 3]).reshape([1, 4]);
    let _guard = tch::no_grad_guard();
    let run =
        |m: &LoraModel<Gpt2>| m.forward(&ids, None, None, ForwardOptions::eval()).unwrap().logits.to_kind(Kind::Float);
    let unmerged = run(&model);
    model.merge().unwrap();
    let merged = run(&model);
    let scale = unmerged.abs().max().double_value(&[]);
    let d = (&unmerged - &merged).abs().max().double_value(&[]);
    assert!(d < 0.05 * scale, "merged bf16 drift {d} (scale {scale})");
}
