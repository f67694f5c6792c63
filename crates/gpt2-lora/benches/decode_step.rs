//! One cached decode step (one new token per row after a 32-token prompt) of a small random
//! GPT-2 in f32, batch 1 and 8: the forward pass `generate` repeats per token.
//!
//! ```text
//! GPT2_BENCH_THREADS=2 cargo bench -p gpt2-lora --bench decode_step
//! ```

mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use gpt2_lora::{CausalLm, ForwardOptions};
use tch::{Kind, Tensor};

fn decode_step(c: &mut Criterion) {
    common::set_threads();
    let _guard = tch::no_grad_guard();
    let model = common::small_gpt2(Kind::Float, 0);
    let mut group = c.benchmark_group("decode_step");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for batch in [1i64, 8] {
        let prompt = Tensor::arange(batch * 32, (Kind::Int64, tch::Device::Cpu)).remainder(8191).view([batch, 32]);
        let prefill = model.forward(&prompt, None, None, ForwardOptions::eval().last_only()).expect("prefill");
        let rows: Vec<i64> = (0..batch).collect();
        let next = Tensor::full([batch, 1], 7, (Kind::Int64, tch::Device::Cpu));
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, _| {
            b.iter_batched(
                // A fresh copy of the prompt's cache each time (forward consumes it).
                || prefill.cache.select_rows(&rows).expect("cache copy"),
                |cache| model.forward(&next, None, Some(cache), ForwardOptions::eval()).expect("decode step"),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, decode_step);
criterion_main!(benches);
