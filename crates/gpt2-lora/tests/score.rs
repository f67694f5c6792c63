//! Batched, cached candidate scoring against the naive way: one full forward per
//! (prompt, candidate) sequence, summing the log-softmax of each candidate token.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

mod common;

use gpt2_lora::{
    score_candidates, score_candidates_resumed, score_candidates_shared, CausalLm, EndAfter, ForwardOptions, Gpt2,
    Llama, LoadOptions, LoraConfig, LoraModel, PromptCache, ResumeStats, ShareOptions,
};
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
        let got = score_candidates(model, &prompts, &candidates, &end, EndAfter::Every, 0).unwrap();
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
    // Worker threads score through handles on the same adapters: the same scores as the
    // calling thread, whichever worker took which chunk.
    let prompts: Vec<Vec<i64>> = (0..9).map(|i| vec![3, 17, 5, 9 + i, 21, (i * 7) % 30]).collect();
    let candidates: Vec<Vec<i64>> = vec![vec![5], vec![5, 6], vec![7, 1]];
    let one = ShareOptions { chunk_tokens: 12, ..ShareOptions::default() };
    let alone = score_candidates_shared(&model, &prompts, &candidates, &[2], EndAfter::Prefixes, 0, one).unwrap();
    let split = ShareOptions { workers: 2, ..one };
    let together = score_candidates_shared(&model, &prompts, &candidates, &[2], EndAfter::Prefixes, 0, split).unwrap();
    assert_eq!(alone.len(), 9);
    for (a, b) in alone.iter().zip(&together) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "one worker {x} vs two {y}");
        }
    }
}

#[test]
fn a_prefix_candidate_loses_mass_to_its_extension_only_through_the_end_token() {
    let model = common::tiny();
    let prompts = vec![vec![3, 17, 5]];
    let c = vec![vec![5], vec![5, 6]];
    let without = score_candidates(&model, &prompts, &c, &[], EndAfter::Every, 0).unwrap();
    let with = score_candidates(&model, &prompts, &c, &[2], EndAfter::Every, 0).unwrap();
    // Without end tokens `[5]` scores at least as high as `[5, 6]` (a prefix's probability
    // bounds its extensions'); with them it pays p(end | 5), which the extension does not
    // share.
    assert!(without[0][0] >= without[0][1]);
    assert!(with[0][0] < without[0][0]);
    assert!(score_candidates(&model, &[vec![]], &c, &[], EndAfter::Every, 0).is_err());
}

#[test]
fn prefix_shared_scoring_equals_full_sequence_scoring() {
    let model = common::tiny();
    // Prompts sharing prefixes of several lengths, one a prefix of another, a duplicate, and
    // one sharing nothing; candidates with shared prefixes and a prefix of another.
    let prompts: Vec<Vec<i64>> = vec![
        vec![3, 17, 5, 9, 21, 4, 8],
        vec![3, 17, 5, 9, 21, 4, 6, 2, 2],
        vec![3, 17, 5],
        vec![3, 17, 5, 9, 30],
        vec![8, 2],
        vec![3, 17, 5, 9, 21, 4, 8],
        vec![11, 4, 4, 1, 30, 7, 19, 23, 5, 1, 1],
    ];
    let candidates: Vec<Vec<i64>> = vec![vec![5], vec![5, 6], vec![5, 6, 12], vec![7, 1], vec![9]];
    // With end tokens after prefixes only, `[5]` and `[5, 6]` (prefixes of others) pay the end.
    let prefix = [true, true, false, false, false];
    for (end, after) in [(vec![], EndAfter::Every), (vec![2, 13], EndAfter::Every), (vec![2, 13], EndAfter::Prefixes)] {
        let want: Vec<Vec<f64>> = prompts
            .iter()
            .map(|p| {
                let with = |c: usize| after == EndAfter::Every || prefix[c];
                (0..candidates.len())
                    .map(|c| naive(&model, p, &candidates[c], if with(c) { &end } else { &[] }))
                    .collect()
            })
            .collect();
        let slow = score_candidates(&model, &prompts, &candidates, &end, after, 0).unwrap();
        // Chunks of one prompt each, scored by 1 and by 3 worker threads, and a few chunks
        // shared by 2 workers.
        let cases = [(1, 4096, 256, 1), (3, 4096, 256, 1), (4, 12, 7, 1), (8, 1, 1, 1), (8, 1, 1, 3), (4, 12, 7, 2)];
        for (block, chunk_tokens, tree_rows, workers) in cases {
            let options = ShareOptions { block, chunk_tokens, tree_rows, workers };
            let got = score_candidates_shared(&model, &prompts, &candidates, &end, after, 0, options).unwrap();
            assert_eq!(got.len(), slow.len());
            assert_eq!(got.len(), prompts.len());
            for (i, row) in got.iter().enumerate() {
                for (c, &g) in row.iter().enumerate() {
                    let diff = (g - want[i][c]).abs();
                    assert!(
                        diff < 1e-4,
                        "{options:?} end {end:?} {after:?} prompt {i} candidate {c}: {g} vs {}",
                        want[i][c]
                    );
                    assert!((g - slow[i][c]).abs() < 1e-4, "shared vs whole prompts, prompt {i} candidate {c}");
                }
            }
        }
    }
    // Single-token candidates (a tree of one level, read off the prompts' logits without their
    // cache), with end tokens after prefixes only, of which there are none.
    let singles: Vec<Vec<i64>> = vec![vec![5], vec![9], vec![30]];
    let got =
        score_candidates_shared(&model, &prompts, &singles, &[2, 13], EndAfter::Prefixes, 0, ShareOptions::default())
            .unwrap();
    for (i, p) in prompts.iter().enumerate() {
        for (c, cand) in singles.iter().enumerate() {
            let want = naive(&model, p, cand, &[]);
            assert!((got[i][c] - want).abs() < 1e-4, "single-token prompt {i} candidate {c}: {} vs {want}", got[i][c]);
        }
    }
    let options = ShareOptions::default();
    let every = EndAfter::Every;
    assert!(score_candidates_shared(&model, &[vec![1], vec![]], &candidates, &[], every, 0, options).is_err());
    let zero = ShareOptions { block: 0, ..options };
    assert!(score_candidates_shared(&model, &prompts, &candidates, &[], every, 0, zero).is_err());
    let idle = ShareOptions { workers: 0, ..options };
    assert!(score_candidates_shared(&model, &prompts, &candidates, &[], every, 0, idle).is_err());
    assert!(score_candidates_shared(&model, &[], &candidates, &[], every, 0, options).unwrap().is_empty());
}

/// Three rounds of prompts that extend the previous round's (as a table row asked gap after
/// gap), each round scored on the previous round's kept caches: the scores equal the naive
/// full-sequence ones, a cache that does not hold a prefix of its prompt is not used, and the
/// counts say which prompts continued a cache.
fn check_resumed(model: &dyn CausalLm) {
    let candidates: Vec<Vec<i64>> = vec![vec![5], vec![5, 6], vec![7, 1], vec![9]];
    let end = [2, 13];
    let rounds: Vec<Vec<Vec<i64>>> = vec![
        vec![vec![3, 17, 5, 9], vec![3, 17, 5, 9, 21, 4], vec![8, 2], vec![11, 4, 4, 1, 30, 7, 19]],
        // Rows 0-2 extend round 1 by rests of different lengths; row 3 changed in the middle.
        vec![vec![3, 17, 5, 9, 6, 1], vec![3, 17, 5, 9, 21, 4, 7, 7, 7, 1], vec![8, 2, 30], vec![11, 4, 9, 1]],
        // Row 0 again (its cache now holds padding between its two parts), row 1 the same
        // prompt as before (not a proper prefix: runs afresh), rows 2-3 extended.
        vec![
            vec![3, 17, 5, 9, 6, 1, 12, 3],
            vec![3, 17, 5, 9, 21, 4, 7, 7, 7, 1],
            vec![8, 2, 30, 4],
            vec![11, 4, 9, 1, 5],
        ],
    ];
    let options = ShareOptions { block: 2, tree_rows: 3, ..ShareOptions::default() };
    let mut kept: Vec<PromptCache> = Vec::new();
    let mut seen = Vec::new();
    for (r, prompts) in rounds.iter().enumerate() {
        let offer: Vec<Option<&PromptCache>> = (0..prompts.len()).map(|i| kept.get(i)).collect();
        let (got, next, stats) =
            score_candidates_resumed(model, prompts, &offer, &candidates, &end, EndAfter::Prefixes, 0, options)
                .unwrap();
        assert_eq!(next.len(), prompts.len());
        for (i, p) in prompts.iter().enumerate() {
            assert_eq!(next[i].tokens(), p.as_slice());
            for (c, cand) in candidates.iter().enumerate() {
                let with_end = c < 1; // `[5]` is the only prefix of another candidate
                let want = naive(model, p, cand, if with_end { &end } else { &[] });
                assert!((got[i][c] - want).abs() < 1e-4, "round {r} prompt {i} candidate {c}: {} vs {want}", got[i][c]);
            }
        }
        seen.push(stats);
        kept = next;
    }
    assert_eq!((seen[0].resumed, seen[0].fresh), (0, 4));
    assert_eq!((seen[1].resumed, seen[1].fresh), (3, 1));
    assert_eq!((seen[2].resumed, seen[2].fresh), (3, 1));
    // Resuming feeds fewer tokens than running the round afresh.
    let offer = vec![None; 4];
    let (_, _, afresh) =
        score_candidates_resumed(model, &rounds[2], &offer, &candidates, &end, EndAfter::Prefixes, 0, options).unwrap();
    assert!(seen[2].tokens_run < afresh.tokens_run, "{:?} vs {afresh:?}", seen[2]);
    let mut total = ResumeStats::default();
    for s in &seen {
        total += *s;
    }
    assert_eq!(total.resumed + total.fresh, 12);
    // Bad input: a cache count that does not match the prompts, an empty prompt.
    let one: Vec<Option<&PromptCache>> = vec![None];
    assert!(score_candidates_resumed(model, &rounds[0], &one, &candidates, &end, EndAfter::Every, 0, options).is_err());
    assert!(score_candidates_resumed(model, &[vec![]], &one, &candidates, &end, EndAfter::Every, 0, options).is_err());
}

#[test]
fn resumed_scoring_equals_full_sequence_scoring() {
    check_resumed(&common::tiny());
    let llama = Llama::from_pretrained(common::fixtures().join("tiny-llama"), LoadOptions::default()).unwrap();
    check_resumed(&llama);
}
