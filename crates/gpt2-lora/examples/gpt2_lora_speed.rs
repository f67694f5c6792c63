//! LoRA fine-tuning and generation throughput of a randomly initialised GPT-2, printed as one
//! JSON line. `benches/peers/gpt2_lora_peer.py` runs it beside HF transformers + PEFT on the
//! same checkpoint (this example saves it in HF format), the same initial adapters, the same
//! batches in the same order, and the same number of threads.
//!
//! ```text
//! # write the random model, the initial adapters and the batch plan, and train in f32
//! cargo run --release -p gpt2-lora --example gpt2_lora_speed -- --data data.json \
//!     --save-model out/model --save-adapters out/adapters --write-plan out/plan.json --steps 20
//! # the same checkpoint with a bf16 base (f32 adapters), then greedy generation
//! cargo run --release -p gpt2-lora --example gpt2_lora_speed -- --data data.json \
//!     --load-model out/model --kind bf16 --steps 20 --generate 1,8 --new-tokens 32
//! # SmolLM2 from its GGUF instead of a random GPT-2 (also written in HF format for the peer)
//! cargo run --release -p gpt2-lora --example gpt2_lora_speed -- --data data.json \
//!     --gguf SmolLM2-135M-Instruct.Q4_1.gguf --save-model out/smollm2 --targets q_proj,v_proj
//! # libtorch GEMM peak (large square matmuls, f32 and bf16)
//! cargo run --release -p gpt2-lora --example gpt2_lora_speed -- --gemm --steps 0
//! ```
//!
//! `data.json` is a list of `{"input_ids": [...], "loss_mask": [...]}` objects. The model is
//! distilgpt2-shaped unless `--n-layer`/`--n-embd`/`--n-head` say otherwise. Training runs
//! `--warmup` untimed steps, then `--steps` timed steps from a fresh optimizer over the same
//! batch plan (step `s` takes batch `s` of the plan in both runs).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use gpt2_lora::{
    generate, CausalLm, Example, GenerateConfig, Gpt2, Gpt2Config, Llama, LoadOptions, LoraConfig, LoraModel, Schedule,
    TrainConfig, Trainer,
};
use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};

#[derive(Parser, Debug)]
#[command(about = "GPT-2 LoRA training and generation tokens per second")]
struct Args {
    /// Training examples (JSON list of {input_ids, loss_mask}); needed when --steps > 0.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Write the random base model here in HF format (config.json + model.safetensors).
    #[arg(long)]
    save_model: Option<PathBuf>,
    /// Load the base model from this HF directory (GPT-2 or Llama, by `model_type`) instead of
    /// building a random one.
    #[arg(long)]
    load_model: Option<PathBuf>,
    /// Load the base model from a Llama-family GGUF (e.g. SmolLM2) instead; with
    /// --save-model it is also written in HF format for the peer to load.
    #[arg(long)]
    gguf: Option<PathBuf>,
    /// Write the freshly initialised adapters here (PEFT format) before training.
    #[arg(long)]
    save_adapters: Option<PathBuf>,
    /// Write the batch plan of the first max(warmup, steps) steps here (JSON list of index lists).
    #[arg(long)]
    write_plan: Option<PathBuf>,
    /// Precision of the frozen base: f32 or bf16 (adapters and optimizer state stay f32).
    #[arg(long, default_value = "f32")]
    kind: String,
    /// Timed optimizer steps (0: no training).
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
    /// Greedy generation batch sizes to time, comma-separated (e.g. `1,8`); none by default.
    #[arg(long)]
    generate: Option<String>,
    /// New tokens per row in the generation timing.
    #[arg(long, default_value_t = 32)]
    new_tokens: usize,
    /// Prompt length in the generation timing.
    #[arg(long, default_value_t = 32)]
    prompt_len: usize,
    /// Write the model, adapters and plan (--save-model, --save-adapters, --write-plan), then
    /// stop without training.
    #[arg(long)]
    prepare_only: bool,
    /// Also measure libtorch's matmul GFLOP/s on large square matrices (f32 and bf16).
    #[arg(long)]
    gemm: bool,
    /// libtorch intra-op threads.
    #[arg(long, default_value_t = 2)]
    threads: i32,
    /// Seed of the model, the adapters and the data order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// A GPT-2 or Llama HF directory, by its config's `model_type`.
fn load_dir(dir: &std::path::Path, options: LoadOptions) -> Result<Box<dyn CausalLm + Send>> {
    let path = dir.join("config.json");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?)?;
    Ok(match config["model_type"].as_str() {
        Some("llama") => Box::new(Llama::from_pretrained(dir, options)?),
        _ => Box::new(Gpt2::from_pretrained(dir, options)?),
    })
}

fn kind_of(name: &str) -> Result<Kind> {
    Ok(match name {
        "f32" => Kind::Float,
        "bf16" => Kind::BFloat16,
        k => bail!("--kind must be f32 or bf16, got {k}"),
    })
}

/// Best GFLOP/s of `n × n` matmuls in `kind` over a few sizes.
fn gemm_peak(kind: Kind) -> f64 {
    let mut best: f64 = 0.0;
    for n in [1024i64, 2048, 4096] {
        let a = Tensor::randn([n, n], (kind, Device::Cpu));
        let b = Tensor::randn([n, n], (kind, Device::Cpu));
        let _ = a.matmul(&b);
        let flop = 2.0 * (n as f64).powi(3);
        let reps = ((2e11 / flop) as usize).clamp(2, 50);
        for _ in 0..3 {
            let t = Instant::now();
            for _ in 0..reps {
                let _ = a.matmul(&b);
            }
            best = best.max(flop * reps as f64 / t.elapsed().as_secs_f64() / 1e9);
        }
    }
    best
}

/// Greedy generation of `new_tokens` after random `prompt_len`-token prompts, no stop token.
fn time_generation<M: CausalLm>(model: &M, batch: usize, args: &Args) -> Result<Value> {
    let vocab = model.info().vocab_size as i64;
    let prompts: Vec<Vec<i64>> = (0..batch as i64)
        .map(|r| (0..args.prompt_len as i64).map(|j| (r * 7919 + j * 104_729 + 17) % (vocab - 1)).collect())
        .collect();
    // -1 is never produced, so every row runs to `new_tokens`.
    let cfg = GenerateConfig::greedy(args.new_tokens).with_stop_tokens([-1]);
    generate(model, &prompts, &GenerateConfig::greedy(2).with_stop_tokens([-1]), None)?;
    let mut best = f64::INFINITY;
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let t = Instant::now();
        let out = generate(model, &prompts, &cfg, None)?;
        best = best.min(t.elapsed().as_secs_f64());
        tokens = out.into_iter().map(|g| g.tokens).collect();
    }
    Ok(json!({
        "batch": batch,
        "prompt_len": args.prompt_len,
        "new_tokens": args.new_tokens,
        "seconds": best,
        "tokens_per_s": (batch * args.new_tokens) as f64 / best,
        "tokens": tokens,
    }))
}

fn main() -> Result<()> {
    let args = Args::parse();
    tch::set_num_threads(args.threads);
    let kind = kind_of(&args.kind)?;
    let base = load_base(&args, kind)?;
    // Hidden width: the input size of the first targetable layer (GPT-2 c_attn, Llama q_proj).
    let e = base.linears().first().map(|(_, l)| l.in_features() as f64).context("the model has no linear layer")?;
    let v = base.info().vocab_size as f64;
    let linear_params: f64 = base.linears().iter().map(|(_, l)| l.weight().numel() as f64).sum();
    let mut out = json!({
        "impl": "gpt2-lora (tch)",
        "kind": args.kind,
        "threads": tch::get_num_threads(),
        "linear_params": linear_params,
    });

    if args.steps > 0 {
        let path = args.data.as_ref().context("--data is needed to train")?;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let data: Vec<Example> = serde_json::from_str(&text).context("parsing the examples")?;
        let lora = LoraConfig::default()
            .with_r(args.rank)
            .with_alpha(2.0 * args.rank as f64)
            .with_dropout(0.0)
            .with_target_modules(args.targets.split(',').map(str::trim));
        let mut model = LoraModel::new(base, lora, args.seed)?;
        if let Some(dir) = &args.save_adapters {
            model.save_pretrained(dir)?;
        }
        let plan = plan_steps(&Trainer::new(train_config(&args, 1))?, &data, args.warmup.max(args.steps));
        if let Some(p) = &args.write_plan {
            std::fs::write(p, serde_json::to_string(&plan)?)?;
        }
        if args.prepare_only {
            println!("{out}");
            return Ok(());
        }
        // Frozen base: forward 2·N·T plus activation gradients 2·N·T over the linear layers;
        // the tied LM head forward and backward (2·V·E each) at the loss positions only.
        let flop =
            |tokens: u64, loss_tokens: usize| 4.0 * linear_params * tokens as f64 + 4.0 * v * e * loss_tokens as f64;
        out["train"] = timed_training(&args, &mut model, &data, &plan, flop)?;
        if args.generate.is_some() {
            // Generation times the base model alone.
            let base = model.unload()?;
            out["generate"] = generation(&base, &args)?;
        }
    } else if args.generate.is_some() {
        out["generate"] = generation(&base, &args)?;
    }
    if args.gemm {
        out["gemm_gflop_per_s"] = json!({
            "f32": gemm_peak(Kind::Float),
            "bf16": gemm_peak(Kind::BFloat16),
        });
    }
    println!("{out}");
    Ok(())
}

/// The base model: a saved directory, a GGUF file (optionally saved as a directory), or a
/// random GPT-2 of the given shape; in `kind` (a bf16 random model is saved and reloaded).
fn load_base(args: &Args, kind: Kind) -> Result<Box<dyn CausalLm + Send>> {
    let options = LoadOptions { device: Device::Cpu, kind };
    Ok(match (&args.load_model, &args.gguf) {
        (Some(dir), _) => load_dir(dir, options)?,
        (None, Some(path)) => {
            let m = Llama::from_gguf(path, LoadOptions::default())?;
            if let Some(dir) = &args.save_model {
                m.save_pretrained(dir)?;
            }
            if kind == Kind::Float {
                Box::new(m)
            } else {
                Box::new(Llama::from_gguf(path, options)?)
            }
        }
        (None, None) => {
            let config = Gpt2Config {
                n_layer: args.n_layer,
                n_embd: args.n_embd,
                n_head: args.n_head,
                n_inner: 4 * args.n_embd,
                ..Gpt2Config::distilgpt2()
            };
            let m = Gpt2::random(config, LoadOptions::default(), args.seed)?;
            if let Some(dir) = &args.save_model {
                m.save_pretrained(dir)?;
            }
            if kind == Kind::Float {
                Box::new(m)
            } else {
                let dir = args.save_model.as_ref().context("--kind bf16 with a random model needs --save-model")?;
                Box::new(Gpt2::from_pretrained(dir, options)?)
            }
        }
    })
}

/// The trainer settings of a run of `steps` steps: constant lr, no accumulation.
fn train_config(args: &Args, steps: usize) -> TrainConfig {
    TrainConfig {
        learning_rate: 1e-4,
        schedule: Schedule::Constant,
        max_steps: Some(steps),
        batch_size: args.batch,
        max_grad_norm: Some(1.0),
        seed: args.seed,
        progress: false,
        ..TrainConfig::default()
    }
}

/// Trains `args.warmup` untimed steps, then `args.steps` timed ones; their figures as JSON.
/// `flop(tokens, loss_tokens)` counts the work of the timed steps.
fn timed_training(
    args: &Args,
    model: &mut LoraModel<Box<dyn CausalLm + Send>>,
    data: &[Example],
    plan: &[Vec<usize>],
    flop: impl Fn(u64, usize) -> f64,
) -> Result<serde_json::Value> {
    if args.warmup > 0 {
        Trainer::new(train_config(args, args.warmup))?.train(model, data, None)?;
    }
    let report = Trainer::new(train_config(args, args.steps))?.train(model, data, None)?;
    // Loss positions of the timed steps, for the FLOP count.
    let loss_tokens: usize =
        plan[..args.steps].iter().flatten().map(|&i| data[i].loss_mask.iter().skip(1).filter(|&&m| m).count()).sum();
    let secs = report.tokens as f64 / report.tokens_per_second;
    let flop = flop(report.tokens, loss_tokens);
    Ok(json!({
        "steps": args.steps,
        "batch": args.batch,
        "tokens": report.tokens,
        "loss_tokens": loss_tokens,
        "seconds": secs,
        "tokens_per_s": report.tokens_per_second,
        "final_loss": report.train_losses.last().map(|l| l.1),
        "losses": report.train_losses.iter().map(|l| l.1).collect::<Vec<_>>(),
        "trainable_params": model.num_trainable_parameters(),
        "gflop": flop / 1e9,
        "gflop_per_s": flop / secs / 1e9,
    }))
}

/// The batches of the first `n` optimizer steps (no accumulation), across epochs.
fn plan_steps(trainer: &Trainer, data: &[Example], n: usize) -> Vec<Vec<usize>> {
    let mut plan = Vec::new();
    let mut epoch = 0;
    while plan.len() < n {
        plan.extend(trainer.batch_plan(data, epoch));
        epoch += 1;
    }
    plan.truncate(n);
    plan
}

fn generation<M: CausalLm>(model: &M, args: &Args) -> Result<Value> {
    let mut rows = Vec::new();
    for b in args.generate.as_deref().unwrap_or("").split(',') {
        let b: usize = b.trim().parse().context("--generate takes batch sizes")?;
        rows.push(time_generation(model, b, args)?);
    }
    Ok(Value::Array(rows))
}
