//! Shared by the benches: a small random GPT-2 and the thread count.

use gpt2_lora::{Activation, Gpt2, Gpt2Config, LoadOptions};
use tch::Kind;

/// `GPT2_BENCH_THREADS` (default 2) libtorch intra-op threads.
pub fn set_threads() {
    let n = std::env::var("GPT2_BENCH_THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    tch::set_num_threads(n);
}

/// A small GPT-2 (4 blocks, 256 wide, 8192-token vocabulary), randomly initialised, no dropout.
pub fn small_gpt2(kind: Kind, seed: u64) -> Gpt2 {
    let config = Gpt2Config {
        vocab_size: 8192,
        n_positions: 256,
        n_embd: 256,
        n_layer: 4,
        n_head: 4,
        n_inner: 1024,
        activation: Activation::GeluTanh,
        resid_pdrop: 0.0,
        embd_pdrop: 0.0,
        attn_pdrop: 0.0,
        ..Gpt2Config::distilgpt2()
    };
    let options = LoadOptions { kind, ..LoadOptions::default() };
    Gpt2::random(config, options, seed).expect("random GPT-2")
}
