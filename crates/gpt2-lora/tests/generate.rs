//! Generation and scoring on the tiny fixture model.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

mod common;

use common::*;
use gpt2_lora::{
    generate, score_continuations, AllowedTokens, CausalLm, ForwardOptions, GenerateConfig, Gpt2, StepContext,
    StopReason,
};
use tch::{Kind, Tensor};

fn prompts() -> Vec<Vec<i64>> {
    vec![vec![5, 17, 99, 3, 42], vec![8], vec![120, 7, 7]]
}

/// Greedy decoding without a cache: rerun the whole sequence each step.
fn naive_greedy(model: &Gpt2, prompt: &[i64], n: usize) -> Vec<i64> {
    let mut seq = prompt.to_vec();
    for _ in 0..n {
        let ids = Tensor::from_slice(&seq).unsqueeze(0);
        let logits = model.forward(&ids, None, None, ForwardOptions::eval()).unwrap().logits;
        seq.push(logits.get(0).get(-1).argmax(0, false).int64_value(&[]));
    }
    seq[prompt.len()..].to_vec()
}

#[test]
fn batched_greedy_equals_naive_per_row() {
    let model = tiny();
    let cfg = GenerateConfig::greedy(6).with_stop_tokens([]);
    // No stop tokens given: falls back to EOS (127), which the tiny model may emit; compare
    // against the naive run cut at the first EOS.
    let out = generate(&model, &prompts(), &cfg, None).unwrap();
    for (p, g) in prompts().iter().zip(&out) {
        let mut want = naive_greedy(&model, p, 6);
        if let Some(i) = want.iter().position(|&t| t == 127) {
            want.truncate(i + 1);
            assert_eq!(g.stop_reason, StopReason::StopToken);
        } else {
            assert_eq!(g.stop_reason, StopReason::MaxTokens);
        }
        assert_eq!(g.tokens, want, "prompt {p:?}");
    }
}

#[test]
fn stop_tokens_end_rows() {
    let model = tiny();
    let free = generate(&model, &prompts(), &GenerateConfig::greedy(5).with_stop_tokens([9999]), None).unwrap();
    // Stop on whatever row 0 produced second.
    let stop = free[0].tokens[1];
    let out = generate(&model, &prompts(), &GenerateConfig::greedy(5).with_stop_tokens([stop]), None).unwrap();
    assert_eq!(out[0].stop_reason, StopReason::StopToken);
    assert!(out[0].tokens.len() <= 2);
    for (o, f) in out.iter().zip(&free) {
        let cut = f.tokens.iter().position(|&t| t == stop).map_or(f.tokens.len(), |i| i + 1);
        assert_eq!(o.tokens, f.tokens[..cut].to_vec());
    }
}

#[test]
fn sampling_is_seeded() {
    let model = tiny();
    let cfg = GenerateConfig::sample(8, 1.5, 42).with_top_k(50).with_top_p(0.95).with_stop_tokens([9999]);
    let a = generate(&model, &prompts(), &cfg, None).unwrap();
    let b = generate(&model, &prompts(), &cfg, None).unwrap();
    assert_eq!(a, b);
    let c = generate(&model, &prompts(), &GenerateConfig { seed: 43, ..cfg.clone() }, None).unwrap();
    assert_ne!(a, c, "a different seed should give different draws");
    assert!(a.iter().all(|g| g.tokens.len() == 8));
}

#[test]
fn logits_processors_constrain_tokens() {
    let model = tiny();
    let mut allowed = AllowedTokens::new([10, 11, 12]);
    let cfg = GenerateConfig::sample(6, 1.0, 1).with_stop_tokens([9999]);
    let out = generate(&model, &prompts(), &cfg, Some(&mut allowed)).unwrap();
    assert!(out.iter().flat_map(|g| &g.tokens).all(|t| (10..=12).contains(t)));

    // A closure: force token 3 at step 0, then stop token 4 at step 1.
    let mut seen_steps = Vec::new();
    let mut force = |ctx: &StepContext<'_>, logits: &Tensor| -> gpt2_lora::Result<Tensor> {
        seen_steps.push((ctx.step, ctx.rows.to_vec()));
        let tok = if ctx.step == 0 { 3 } else { 4 };
        let l = Tensor::full(logits.size(), f64::NEG_INFINITY, (Kind::Float, logits.device()));
        let _ = l.narrow(1, tok, 1).fill_(0.0);
        Ok(l)
    };
    let out =
        generate(&model, &prompts(), &GenerateConfig::greedy(10).with_stop_tokens([4]), Some(&mut force)).unwrap();
    assert!(out.iter().all(|g| g.tokens == vec![3, 4] && g.stop_reason == StopReason::StopToken));
    assert_eq!(seen_steps, vec![(0, vec![0, 1, 2]), (1, vec![0, 1, 2])]);

    // Forbidding everything is an error, not a panic.
    let mut none = AllowedTokens::new([]);
    assert!(generate(&model, &prompts(), &cfg, Some(&mut none)).is_err());
}

#[test]
fn context_limit_stops_rows() {
    let model = tiny(); // 32 positions
    let long: Vec<i64> = (0..30).collect();
    let out = generate(&model, &[long, vec![1]], &GenerateConfig::greedy(10).with_stop_tokens([9999]), None).unwrap();
    assert_eq!(out[0].tokens.len(), 2);
    assert_eq!(out[0].stop_reason, StopReason::ContextFull);
    assert_eq!(out[1].tokens.len(), 10);
}

#[test]
fn scores_equal_full_sequence_log_probs() {
    let model = tiny();
    let prefix = vec![5i64, 17, 99, 3];
    let cands = vec![vec![42i64, 8, 1], vec![7], vec![], vec![100, 101]];
    let scored = score_continuations(&model, &prefix, &cands, 2).unwrap();
    assert_eq!(scored.len(), 4);
    assert!(scored[2].token_logprobs.is_empty() && scored[2].total == 0.0);
    for (c, s) in cands.iter().zip(&scored) {
        if c.is_empty() {
            continue;
        }
        let mut seq = prefix.clone();
        seq.extend(c);
        let ids = Tensor::from_slice(&seq).unsqueeze(0);
        let lp = model.forward(&ids, None, None, ForwardOptions::eval()).unwrap().logits.log_softmax(-1, Kind::Float);
        let mut want = 0.0;
        for (j, &tok) in c.iter().enumerate() {
            let pos = (prefix.len() + j - 1) as i64;
            let x = lp.get(0).get(pos).get(tok).double_value(&[]);
            assert!((x - s.token_logprobs[j] as f64).abs() < 1e-4, "{c:?} token {j}");
            want += x;
        }
        assert!((want - s.total).abs() < 1e-4);
    }
    // Chunking does not change results.
    let one = score_continuations(&model, &prefix, &cands, 1).unwrap();
    for (a, b) in one.iter().zip(&scored) {
        assert!((a.total - b.total).abs() < 1e-5);
    }
}
