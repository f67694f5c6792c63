//! One optimizer step of LoRA training (forward, backward, clipping, AdamW) on a small random
//! GPT-2: 8 prompt-completion examples of 28-35 tokens, loss on the last 4, rank 8 on `c_attn`,
//! with the base in f32 and in bf16 (adapters and optimizer state f32 in both).
//!
//! ```text
//! GPT2_BENCH_THREADS=2 cargo bench -p gpt2-lora --bench train_step
//! ```

mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gpt2_lora::{Example, LoraConfig, LoraModel, Schedule, TrainConfig, Trainer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Kind;

/// `n` examples: a random prompt of 24-31 tokens, then 4 target tokens.
fn examples(n: usize, vocab: i64, seed: u64) -> Vec<Example> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let len = rng.random_range(24..32);
            let prompt: Vec<i64> = (0..len).map(|_| rng.random_range(0..vocab)).collect();
            let value: Vec<i64> = (0..4).map(|_| rng.random_range(0..vocab)).collect();
            Example::prompt_completion(&prompt, &value)
        })
        .collect()
}

fn train_step(c: &mut Criterion) {
    common::set_threads();
    let data = examples(8, 8192, 1);
    let tokens: usize = data.iter().map(|e| e.input_ids.len()).sum();
    let mut group = c.benchmark_group("train_step");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(tokens as u64));
    for (name, kind) in [("f32", Kind::Float), ("bf16_base", Kind::BFloat16)] {
        let lora = LoraConfig::default().with_dropout(0.0);
        let mut model = LoraModel::new(common::small_gpt2(kind, 0), lora, 0).expect("adapters");
        let cfg = TrainConfig {
            learning_rate: 1e-4,
            schedule: Schedule::Constant,
            max_steps: Some(1),
            batch_size: data.len(),
            progress: false,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(cfg).expect("config");
        group.bench_function(name, |b| b.iter(|| trainer.train(&mut model, &data, None).expect("step")));
    }
    group.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
