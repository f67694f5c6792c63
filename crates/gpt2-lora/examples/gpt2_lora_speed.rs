//! LoRA fine-tuning throughput of a randomly initialised GPT-2, printed as one JSON line.
//! `benches/peers/gpt2_lora_peer.py` runs it beside HF transformers + PEFT on the same model
//! (this example saves it in HF format) and the same data.
//!
//! ```text
//! cargo run --release -p gpt2-lora --example gpt2_lora_speed -- \
//!     --data data.json --save-model /tmp/gpt2-random --steps 20 --batch 8
//! ```
//!
//! `data.json` is a list of `{"input_ids": [...], "loss_mask": [...]}` objects. The model is
//! distilgpt2-shaped unless `--n-layer`/`--n-embd`/`--n-head` say otherwise.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use gpt2_lora::{
    Example, Gpt2, Gpt2Config, LoadOptions, LoraConfig, LoraModel, Schedule, TrainConfig, Trainer,
};

#[derive(Parser, Debug)]
#[command(about = "GPT-2 LoRA training tokens per second")]
struct Args {
    /// Training examples (JSON list of {input_ids, loss_mask}).
    #[arg(long)]
    data: PathBuf,
    /// Write the random base model here in HF format (config.json + model.safetensors).
    #[arg(long)]
    save_model: Option<PathBuf>,
    /// Timed optimizer steps.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Examples per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// LoRA rank.
    #[arg(long, default_value_t = 8)]
    rank: usize,
    /// LoRA target modules, comma-separated.
    #[arg(long, default_value = "c_attn")]
    targets: String,
    /// Blocks (distilgpt2: 6).
    #[arg(long, default_value_t = 6)]
    n_layer: usize,
    /// Width (distilgpt2: 768).
    #[arg(long, default_value_t = 768)]
    n_embd: usize,
    /// Heads (distilgpt2: 12).
    #[arg(long, default_value_t = 12)]
    n_head: usize,
    /// libtorch intra-op threads.
    #[arg(long, default_value_t = 2)]
    threads: i32,
    /// Device: cpu or cuda.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Seed of the model, the adapters and the data order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    tch::set_num_threads(args.threads);
    let device = if args.device == "cuda" {
        tch::Device::Cuda(0)
    } else {
        tch::Device::Cpu
    };
    let text = std::fs::read_to_string(&args.data)
        .with_context(|| format!("reading {}", args.data.display()))?;
    let data: Vec<Example> = serde_json::from_str(&text).context("parsing the examples")?;
    let config = Gpt2Config {
        n_layer: args.n_layer,
        n_embd: args.n_embd,
        n_head: args.n_head,
        n_inner: 4 * args.n_embd,
        ..Gpt2Config::distilgpt2()
    };
    let base = Gpt2::random(
        config,
        LoadOptions {
            device,
            ..LoadOptions::default()
        },
        args.seed,
    )?;
    if let Some(dir) = &args.save_model {
        base.save_pretrained(dir)?;
    }
    let lora = LoraConfig::default()
        .with_r(args.rank)
        .with_alpha(2.0 * args.rank as f64)
        .with_dropout(0.0);
    let lora = lora.with_target_modules(args.targets.split(',').map(str::trim));
    let mut model = LoraModel::new(base, lora, args.seed)?;
    let train = |steps: usize, model: &mut LoraModel<Gpt2>| {
        let cfg = TrainConfig {
            learning_rate: 1e-4,
            schedule: Schedule::Constant,
            max_steps: Some(steps),
            batch_size: args.batch,
            max_grad_norm: Some(1.0),
            seed: args.seed,
            progress: false,
            ..TrainConfig::default()
        };
        Trainer::new(cfg)?.train(model, &data, None)
    };
    if args.warmup > 0 {
        train(args.warmup, &mut model)?;
    }
    let report = train(args.steps, &mut model)?;
    let out = serde_json::json!({
        "impl": "gpt2-lora (tch)",
        "steps": args.steps,
        "batch": args.batch,
        "tokens": report.tokens,
        "tokens_per_s": report.tokens_per_second,
        "final_loss": report.train_losses.last().map(|l| l.1),
        "trainable_params": model.num_trainable_parameters(),
        "threads": tch::get_num_threads(),
        "device": args.device,
    });
    println!("{out}");
    Ok(())
}
