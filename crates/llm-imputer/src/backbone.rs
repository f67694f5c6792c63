//! Which pretrained language model the imputer fine-tunes, and loading it with its tokenizer.

use std::path::{Path, PathBuf};

use gpt2_lora::{CausalLm, Gpt2, Llama, LoadOptions};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use crate::error::{Error, Result};

/// File name of the SmolLM2 checkpoint `cargo xtask fetch-model` unpacks.
pub const SMOLLM2_GGUF: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// A pretrained causal language model on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backbone {
    /// A Llama-family GGUF file (SmolLM2 by default); the tokenizer comes from its metadata.
    Gguf(PathBuf),
    /// A Hugging Face model directory: `config.json` (`model_type` `gpt2` or `llama`),
    /// `model.safetensors`, and `tokenizer.json` or `vocab.json` + `merges.txt`.
    HfDir(PathBuf),
}

impl Backbone {
    /// SmolLM2-135M-Instruct where the setup puts it: in [`default_models_dir`].
    pub fn default_smollm2() -> Self {
        Backbone::Gguf(default_models_dir().join(SMOLLM2_GGUF))
    }

    /// The backbone at `path`: a directory is read as a Hugging Face model directory, anything
    /// else as a GGUF file.
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        if path.is_dir() {
            Backbone::HfDir(path)
        } else {
            Backbone::Gguf(path)
        }
    }

    /// The path the backbone is read from.
    pub fn path(&self) -> &Path {
        match self {
            Backbone::Gguf(p) | Backbone::HfDir(p) => p,
        }
    }

    /// A short name for reports: the file or directory name.
    pub fn name(&self) -> String {
        self.path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path().display().to_string())
    }
}

/// Where `cargo xtask fetch-model` keeps models ([`rec_cache::models_dir`]:
/// `$RECIMPUTE_MODELS`, else `$RECIMPUTE_CACHE/models`, else `$XDG_CACHE_HOME/recimpute/models`,
/// else `$HOME/.cache/recimpute/models`); `.cache/recimpute/models` under the working
/// directory when none of these variables is set.
pub fn default_models_dir() -> PathBuf {
    rec_cache::models_dir().unwrap_or_else(|| PathBuf::from(".cache/recimpute/models"))
}

/// Floating-point kind of the frozen base weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// bf16 where the hardware computes it natively (CUDA, or a CPU with AVX-512 BF16 or AMX),
    /// f32 elsewhere: on a CPU with only AVX2, libtorch emulates bf16 and runs it several times
    /// slower than f32.
    #[default]
    Auto,
    /// 32-bit floats everywhere.
    F32,
    /// The frozen base in bfloat16 (adapters stay in f32).
    Bf16,
}

impl Precision {
    /// The precision `Auto` stands for on `device` (others are returned as they are).
    pub fn resolve(self, device: Device) -> Precision {
        match self {
            Precision::Auto if device.is_cuda() || cpu_has_native_bf16() => Precision::Bf16,
            Precision::Auto => Precision::F32,
            other => other,
        }
    }

    pub(crate) fn kind(self, device: Device) -> Kind {
        match self.resolve(device) {
            Precision::Bf16 => Kind::BFloat16,
            _ => Kind::Float,
        }
    }
}

/// Whether this CPU has bf16 arithmetic in hardware (x86 `avx512_bf16` or `amx_bf16` in
/// `/proc/cpuinfo`); `false` where that cannot be read.
pub fn cpu_has_native_bf16() -> bool {
    static NATIVE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *NATIVE.get_or_init(|| {
        std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
            info.lines()
                .filter(|l| l.starts_with("flags"))
                .take(1)
                .any(|l| l.split_whitespace().any(|f| f == "avx512_bf16" || f == "amx_bf16"))
        })
    })
}

/// A loaded backbone: the model, its tokenizer and the token that ends a sentence.
pub(crate) struct Loaded {
    pub model: Box<dyn CausalLm + Send>,
    pub tokenizer: tokenizers::Tokenizer,
    pub eos: i64,
}

fn model_type(config: &Path) -> Result<String> {
    let text = std::fs::read_to_string(config).map_err(|e| Error::io(config, e))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| Error::Json { path: config.to_path_buf(), source })?;
    json.get("model_type")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| Error::load(config, "no `model_type` field"))
}

pub(crate) fn load(backbone: &Backbone, device: Device, precision: Precision) -> Result<Loaded> {
    let options = LoadOptions { device, kind: precision.kind(device) };
    match backbone {
        Backbone::Gguf(path) => {
            if !path.is_file() {
                return Err(Error::load(
                    path,
                    "GGUF file not found; `cargo xtask fetch-model` downloads SmolLM2-135M-Instruct",
                ));
            }
            let file = gguf_file::GgufFile::open(path)?;
            let gtok = file.tokenizer()?;
            let eos =
                gtok.eos_id().ok_or_else(|| Error::load(path, "the GGUF tokenizer has no end-of-sequence token"))?
                    as i64;
            let tokenizer = gtok.into_tokenizer();
            let model = Llama::from_gguf(path, options)?;
            Ok(Loaded { model: Box::new(model), tokenizer, eos })
        }
        Backbone::HfDir(dir) => {
            let config = dir.join("config.json");
            let tok = gpt2_lora::Tokenizer::from_dir(dir)?;
            let model: Box<dyn CausalLm + Send> = match model_type(&config)?.as_str() {
                "gpt2" => Box::new(Gpt2::from_pretrained(dir, options)?),
                "llama" => Box::new(Llama::from_pretrained(dir, options)?),
                other => {
                    return Err(Error::load(&config, format!("model_type `{other}` is not supported (gpt2 or llama)")))
                }
            };
            let eos = tok
                .eos_id()
                .or_else(|| model.info().eos_token_ids.first().copied())
                .ok_or_else(|| Error::load(dir, "neither tokenizer nor config names an end-of-sequence token"))?;
            Ok(Loaded { model, tokenizer: tok.inner().clone(), eos })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_an_hf_model_and_anything_else_a_gguf_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Backbone::from_path(dir.path()), Backbone::HfDir(dir.path().to_path_buf()));
        let file = dir.path().join("model.gguf");
        assert_eq!(Backbone::from_path(&file), Backbone::Gguf(file.clone()));
        std::fs::write(&file, b"GGUF").unwrap();
        assert_eq!(Backbone::from_path(&file), Backbone::Gguf(file));
    }
}
