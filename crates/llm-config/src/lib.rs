//! Settings of recimpute's LoRA fine-tune and LLM imputer, as plain serde types.
//!
//! The engines that use them need libtorch (`gpt2-lora` trains the adapters, `llm-imputer`
//! fits and fills); these types do not, so an experiment grid, a CLI or a config file can hold,
//! check and record the *real* settings without building libtorch. Both engine crates
//! re-export them: `gpt2_lora::LoraConfig` and `llm_imputer::LlmImputerConfig` are these.
//!
//! | item | what it sets |
//! |---|---|
//! | [`LoraConfig`] | the adapters: rank, alpha, dropout, target modules and blocks |
//! | [`TrainConfig`], [`Schedule`] | the fine-tune: optimizer, schedule, budget, batches, checkpoints |
//! | [`LlmImputerConfig`] | the imputer: backbone, device, precision, and nested [`LoraConfig`], [`TrainConfig`], [`ExampleConfig`], [`FillConfig`], [`HeadConfig`], [`RetrievalConfig`] |
//! | [`Backbone`], [`Precision`], [`DeviceChoice`], [`Objective`] | the choices inside it |
//! | [`overlay`] | partial settings over chosen defaults (what config files use) |
//!
//! Every config has one `Default` and `validate()`; JSON that leaves fields out keeps the
//! defaults of the config it is read into, nested objects included:
//!
//! ```
//! use llm_config::{LlmImputerConfig, Objective};
//!
//! let c: LlmImputerConfig = serde_json::from_str(r#"{"lora": {"r": 8}, "examples": {"objective": "target_last"}}"#)?;
//! assert_eq!(c.lora.r, 8);
//! assert_eq!(c.lora.alpha, LlmImputerConfig::default().lora.alpha); // the imputer's 32, not PEFT's 16
//! assert_eq!(c.examples.objective, Objective::TargetLast);
//! c.validate()?;
//! assert!(LlmImputerConfig::default().with_lora(0, 8.0).validate().is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod backbone;
mod error;
mod imputer;
mod lora;
mod overlay;
mod train;

pub use backbone::{cpu_bf16_pays, cpu_has_native_bf16, default_models_dir, Backbone, Precision, SMOLLM2_GGUF};
pub use error::{Error, Result};
pub use imputer::{
    deserialize_llm_config, kept_blocks, DepthProbe, DeviceChoice, EndToken, ExampleConfig, FillConfig, HeadConfig,
    KnownOrder, LlmImputerConfig, Objective, RetrievalConfig, RetrievalMode, RetrievalProbe, DEPTH_PROBE_MARGIN,
    PROBE_MARGIN, PROBE_MIN_CELLS, SLOW_CPU_DEPTH, SLOW_CPU_SECONDS,
};
pub use lora::{block_index, LoraConfig};
pub use overlay::{deserialize_over, overlay};
pub use train::{Schedule, TrainConfig};
