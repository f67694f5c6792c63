//! Seconds of one LoRA training step and of one forward pass of a Llama-family GGUF model
//! (SmolLM2-135M by default) with only `depth` of its blocks kept (the first `depth − 1` and
//! the last, as the LLM imputer's `depth` keeps them): how the cost of a step follows the
//! depth. 8 rows of 30 random tokens, the loss on 12 positions per row (about what a row of
//! the demo table gives the imputer's `values` objective), rank 16 on every linear layer, f32.
//!
//! ```text
//! OMP_WAIT_POLICY=PASSIVE cargo xtask cargo run -p gpt2-lora --example depth_speed -- \
//!     ~/.cache/recimpute/models/SmolLM2-135M-Instruct.Q4_1.gguf 30,16,10,6,2
//! ```

use std::time::Instant;

use gpt2_lora::{CausalLm, Example, Llama, LoadOptions, LoraConfig, LoraModel, Schedule, TrainConfig, Trainer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

const REPEATS: u32 = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: depth_speed MODEL.gguf [DEPTHS, e.g. 30,16,8]")?;
    let depths: Vec<usize> =
        args.next().unwrap_or_else(|| "30,16,8".into()).split(',').map(str::parse).collect::<Result<_, _>>()?;
    let threads = std::env::var("OMP_NUM_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(2);
    tch::set_num_threads(threads);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let data: Vec<Example> = (0..8)
        .map(|_| {
            let ids: Vec<i64> = (0..30).map(|_| rng.random_range(100..40_000)).collect();
            let mut e = Example::language_model(&ids);
            for (i, m) in e.loss_mask.iter_mut().enumerate() {
                *m = i % 5 >= 3;
            }
            e
        })
        .collect();
    let ids = Tensor::from_slice2(&data.iter().map(|e| e.input_ids.clone()).collect::<Vec<_>>());
    let targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    println!("threads {threads}, 8 rows of 30 tokens, best of {REPEATS} after one warm-up");
    for depth in depths {
        let mut base = Llama::from_gguf(&path, LoadOptions { device: Device::Cpu, kind: Kind::Float })?;
        let blocks = base.num_blocks();
        base.keep_blocks(&llm_config::kept_blocks(depth, blocks))?;
        let lora =
            LoraConfig { r: 16, alpha: 32.0, dropout: 0.0, ..LoraConfig::default() }.with_target_modules(targets);
        let mut model = LoraModel::new(base, lora, 0)?;
        let cfg = TrainConfig {
            schedule: Schedule::Constant,
            max_steps: Some(1),
            batch_size: data.len(),
            progress: false,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(cfg)?;
        let best = |f: &mut dyn FnMut() -> Result<(), Box<dyn std::error::Error>>| {
            f()?;
            let mut best = f64::INFINITY;
            for _ in 0..REPEATS {
                let t = Instant::now();
                f()?;
                best = best.min(t.elapsed().as_secs_f64());
            }
            Ok::<f64, Box<dyn std::error::Error>>(best)
        };
        let step = best(&mut || Ok(trainer.train(&mut model, &data, None).map(|_| ())?))?;
        let forward = best(&mut || {
            let _g = tch::no_grad_guard();
            Ok(model.forward(&ids, None, None, gpt2_lora::ForwardOptions::eval()).map(|_| ())?)
        })?;
        println!("depth {depth:>2} of {blocks}: training step {step:.3} s, forward {forward:.3} s");
    }
    Ok(())
}
