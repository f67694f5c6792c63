//! Scoring five candidates after 96 prompts written like table rows (six "cells" of a name
//! and one of a few values each, so that sorted prompts share long prefixes) with a small
//! random GPT-2 in f32: every prompt run whole in batches of 16 (`score_candidates`, the
//! imputer's path before prefix sharing) against `score_candidates_shared` with its defaults.
//!
//! ```text
//! GPT2_BENCH_THREADS=2 cargo bench -p gpt2-lora --bench score_shared
//! ```

mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gpt2_lora::{score_candidates, score_candidates_shared, EndAfter, ShareOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Kind;

/// `n` prompts of six cells (`name tokens, value, separator`), values drawn from 3-6 per cell.
fn table_prompts(n: usize) -> Vec<Vec<i64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let cards = [6, 3, 3, 3, 5, 4];
    (0..n)
        .map(|_| {
            let mut p = Vec::new();
            for (c, &card) in cards.iter().enumerate() {
                p.extend([100 + 3 * c as i64, 101 + 3 * c as i64, 7]);
                p.push(1000 + 10 * c as i64 + rng.random_range(0..card));
                p.push(11);
            }
            p.extend([200, 201, 7]);
            p
        })
        .collect()
}

fn score_shared(c: &mut Criterion) {
    common::set_threads();
    let model = common::small_gpt2(Kind::Float, 0);
    let prompts = table_prompts(96);
    let candidates: Vec<Vec<i64>> = vec![vec![500], vec![501], vec![502], vec![503, 504], vec![505]];
    let end = [11, 13];
    let mut group = c.benchmark_group("score_candidates");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(prompts.len() as u64));
    group.bench_function("whole_prompts_batch_16", |b| {
        b.iter(|| {
            for chunk in prompts.chunks(16) {
                score_candidates(&model, chunk, &candidates, &end, EndAfter::Prefixes, 0).expect("scores");
            }
        })
    });
    group.bench_function("shared_prefixes", |b| {
        b.iter(|| {
            let options = ShareOptions::default();
            score_candidates_shared(&model, &prompts, &candidates, &end, EndAfter::Prefixes, 0, options)
                .expect("scores")
        })
    });
    group.finish();
}

criterion_group!(benches, score_shared);
criterion_main!(benches);
