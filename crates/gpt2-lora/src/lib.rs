//! Decoder-only language models on libtorch (through `tch`) with LoRA adapters, a trainer and a
//! generator: what `recimpute` uses to fine-tune a small causal LM to fill missing cells.
//!
//! * [`CausalLm`] is the model abstraction: a forward pass over token ids with an attention mask
//!   and an explicit [`KvCache`] value passed in and handed back, plus the linear layers
//!   adapters can target. [`Gpt2`] and [`Llama`] implement it. GPT-2 loads from HF
//!   `config.json` + `model.safetensors`; the Llama family (SmolLM2, TinyLlama, Llama 2/3
//!   without rope scaling: RMSNorm, rotary embeddings, grouped-query attention, SwiGLU, tied or
//!   untied head) loads from the same HF layout or from a llama.cpp GGUF file
//!   ([`Llama::from_gguf`], quantized weights dequantized by `gguf-file`). Every tensor is
//!   checked by name and shape.
//! * [`LoraModel`] attaches LoRA adapters (`W x + (alpha/r)·B A x`) to a frozen base, merges
//!   and unmerges them, and saves/loads them in PEFT's format so they move to and from Python.
//! * [`Trainer`] fine-tunes the adapters: AdamW, warm-up and decay, clipping, accumulation,
//!   length-bucketed batches, a per-token loss mask, evaluation, atomic checkpoints and exact
//!   resume, all seeded.
//! * [`generate()`] decodes greedily or by sampling (temperature, top-k, top-p, seeded) in
//!   batches with a cache, stop tokens and a [`LogitsProcessor`] hook;
//!   [`score_continuations`] returns log-likelihoods of candidates after a shared prefix.
//! * [`Tokenizer`] wraps the `tokenizers` crate (`tokenizer.json`, `vocab.json` +
//!   `merges.txt`, or the vocabulary embedded in a GGUF file).
//!
//! Errors are one [`Error`] enum; bad checkpoints, adapters for another model and prompts that
//! do not fit the context are errors, not panics.
//!
//! # Example
//!
//! ```no_run
//! use gpt2_lora::{
//!     generate, CausalLm, Example, GenerateConfig, Gpt2, LoadOptions, LoraConfig, LoraModel,
//!     Tokenizer, TrainConfig, Trainer,
//! };
//!
//! # fn main() -> gpt2_lora::Result<()> {
//! let tok = Tokenizer::from_dir("models/distilgpt2")?;
//! let base = Gpt2::from_pretrained("models/distilgpt2", LoadOptions::default())?;
//! let mut model = LoraModel::new(base, LoraConfig::default().with_r(8), 42)?;
//!
//! // Learn "prompt -> value"; the loss covers the value tokens only.
//! let prompt = tok.encode("genre of Heat (1995):")?;
//! let value = tok.encode(" Action")?;
//! let data = vec![Example::prompt_completion(&prompt, &value)];
//! let mut trainer = Trainer::new(TrainConfig { max_steps: Some(100), ..TrainConfig::default() })?;
//! trainer.train(&mut model, &data, None)?;
//! model.save_pretrained("adapters/genre")?;
//!
//! let out = generate(&model, &[prompt], &GenerateConfig::greedy(4), None)?;
//! println!("{}", tok.decode(&out[0].tokens, true)?);
//! # Ok(())
//! # }
//! ```
//!
//! # Llama from GGUF
//!
//! The same adapters, trainer and generator work on a Llama; its linear layers carry HF's
//! module names (`model.layers.{i}.self_attn.q_proj`, ..., `model.layers.{i}.mlp.down_proj`), so
//! saved adapters load in PEFT on top of `LlamaForCausalLM`.
//!
//! ```no_run
//! use gpt2_lora::{
//!     generate, CausalLm, GenerateConfig, Llama, LoadOptions, LoraConfig, LoraModel, Tokenizer,
//! };
//!
//! # fn main() -> gpt2_lora::Result<()> {
//! let gguf = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
//! let tok = Tokenizer::from_gguf(gguf)?; // EOS from the file: <|im_end|>
//! let base = Llama::from_gguf(gguf, LoadOptions::default())?;
//! let targets = base.info().default_lora_targets; // q_proj, v_proj, as PEFT
//! let model = LoraModel::new(base, LoraConfig::default().with_target_modules(targets), 0)?;
//!
//! let prompt = tok.encode("The capital of France is")?;
//! let stop = tok.eos_id().into_iter();
//! let config = GenerateConfig::greedy(8).with_stop_tokens(stop);
//! let out = generate(&model, &[prompt], &config, None)?;
//! println!("{}", tok.decode(&out[0].tokens, true)?);
//! # Ok(())
//! # }
//! ```
//!
//! # Build
//!
//! The crate links libtorch through `tch`; set `LIBTORCH_USE_PYTORCH=1` with a Python
//! environment holding the matching `torch`, or `LIBTORCH` to an unpacked libtorch. It has no
//! cargo features.

#![warn(missing_docs)]

mod batches;
pub mod cache;
pub mod config;
pub mod error;
pub mod generate;
pub mod gpt2;
mod io;
pub mod linear;
pub mod llama;
pub mod lora;
pub mod model;
pub mod optim;
mod peft;
pub mod score;
mod seed;
pub mod tokenizer;
pub mod trainer;
mod weights;

pub use cache::{KvCache, LayerKv};
pub use config::{Activation, Gpt2Config, HfGpt2Config};
pub use error::{Error, Result};
pub use generate::{
    generate, score_continuations, AllowedTokens, GenerateConfig, Generation, LogitsProcessor, Sampling,
    ScoredContinuation, StepContext, StopReason,
};
pub use gpt2::{Gpt2, LoadOptions};
pub use linear::Linear;
pub use llama::{HfLlamaConfig, Llama, LlamaConfig};
pub use lora::{LoraConfig, LoraLayer, LoraModel};
pub use model::{CausalLm, ForwardOptions, ForwardOutput, ModelInfo};
pub use optim::{AdamW, Schedule};
pub use score::{
    score_candidates, score_candidates_resumed, score_candidates_shared, widest_level, EndAfter, PromptCache,
    ResumeStats, ShareOptions,
};
pub use tokenizer::Tokenizer;
pub use trainer::{Example, Flow, TrainConfig, TrainReport, Trainer};
