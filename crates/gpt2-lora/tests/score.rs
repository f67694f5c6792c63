//! Batched, cached candidate scoring against the naive way: one full forward per
//! (prompt, candidate) sequence, summing the log-softmax of each candidate token.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

mod common;

use gpt2_lora::{score_candidates, CausalLm, ForwardOptions, Gpt2, LoadOptions, LoraConfig, LoraModel};
use tch::{Kind, Tensor};

/// `log p(candidate | prompt)` (plus `log Σ p(end)`) from one unpadded full-sequence forward.
fn naive(model: &dyn CausalLm, prompt: &[i64], cand: &[i64], end: &[i64]) -> f64 {
    let mut ids = prompt.to_vec();
    ids.extend_from_slice(cand);
    let t = Tensor::from_slice(&ids).view([1, -1]);
    let logits = model.forward(&t, None, None, ForwardOptions::eval()).unwrap().logits;
    let lp = logits.to_kind(Kind::Double).log_softmax(-1, Kind::Double);
    let mut s = 0.0;
    for (k, &tok) in cand.iter().enumerate() {
        s += lp.double_value(&[0, (prompt.len() + k - 1) as i64, tok]);
    }
    if !end.is_empty() {
        let last = (ids.len() - 1) as i64;
        let p: f64 = end.iter().map(|&e| lp.double_value(&[0, last, e]).exp()).sum();
        s += p.ln();
    }
    s
}

fn check(model: &dyn CausalLm, vocab: i64) {
    let prompts: Vec<Vec<i64>> = vec![vec![3, 17, 5, 9], vec![8, 2], vec![11, 4, 4, 1, 30, 7]];
    // Shared prefixes, a candidate that is a prefix of another, single tokens.
    let candidates: Vec<Vec<i64>> = vec![vec![5], vec![5, 6], vec![5, 6, 12], vec![7, 1], vec![9]];
    assert!(candidates.iter().flatten().all(|&t| t < vocab));
    for end in [vec![], vec![2, 13]] {
        let got = score_candidates(model, &prompts, &candidates, &end, 0).unwrap();
        for (i, p) in prompts.iter().enumerate() {
            for (c, cand) in candidates.iter().enumerate() {
                let want = naive(model, p, cand, &end);
                let diff = (got[i][c] - want).abs();
                assert!(diff < 1e-4, "prompt {i} candidate {c} end {end:?}: {} vs {want}", got[i][c]);
            }
        }
    }
}

#[test]
fn cached_tree_scoring_equals_full_sequence_scoring() {
    let model = common::tiny();
    let vocab = model.info().vocab_size as i64;
    check(&model, vocab);
}

#[test]
fn scoring_with_trained_adapters_equals_full_sequence_scoring() {
    // Non-zero B so the adapters change the logits.
    let base = Gpt2::from_pretrained(common::tiny_dir(), LoadOptions::default()).unwrap();
    let lora = LoraConfig::default().with_r(4).with_alpha(8.0).with_target_modules(["c_attn", "c_proj", "c_fc"]);
    let model = LoraModel::new(base, lora, 3).unwrap();
    let _g = tch::no_grad_guard();
    for (_, t) in model.trainable_variables() {
        let _ = t.shallow_clone().normal_(0.0, 0.05);
    }
    let vocab = model.info().vocab_size as i64;
    check(&model, vocab);
}

#[test]
fn a_prefix_candidate_loses_mass_to_its_extension_only_through_the_end_token() {
    let model = common::tiny();
    let prompts = vec![vec![3, 17, 5]];
    let c = vec![vec![5], vec![5, 6]];
    let without = score_candidates(&model, &prompts, &c, &[], 0).unwrap();
    let with = score_candidates(&model, &prompts, &c, &[2], 0).unwrap();
    // Without end tokens `[5]` scores at least as high as `[5, 6]` (a prefix's probability
    // bounds its extensions'); with them it pays p(end | 5), which the extension does not
    // share.
    assert!(without[0][0] >= without[0][1]);
    assert!(with[0][0] < without[0][0]);
    assert!(score_candidates(&model, &[vec![]], &c, &[], 0).is_err());
}
