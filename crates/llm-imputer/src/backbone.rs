//! Which pretrained language model the imputer fine-tunes, and loading it with its tokenizer.

use std::path::Path;

use gpt2_lora::{CausalLm, Gpt2, Llama, LoadOptions};
use tch::{Device, Kind};

use crate::error::{Error, Result};

pub use llm_config::{cpu_bf16_pays, cpu_has_native_bf16, default_models_dir, Backbone, Precision, SMOLLM2_GGUF};

/// The tensor kind of the frozen base for `precision` on `device` (`Auto` resolved).
pub(crate) fn kind(precision: Precision, device: Device) -> Kind {
    match precision.resolve(device.is_cuda()) {
        Precision::Bf16 => Kind::BFloat16,
        _ => Kind::Float,
    }
}

/// A loaded backbone: the model, its tokenizer and the token that ends a sentence.
pub(crate) struct Loaded {
    pub model: Box<dyn CausalLm + Send>,
    pub tokenizer: tokenizers::Tokenizer,
    pub eos: i64,
    /// `(blocks kept, blocks of the backbone)` when `depth` dropped some.
    pub blocks: Option<(usize, usize)>,
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

/// Loads `backbone` on `device` with its base in `precision`, keeping `depth` of its blocks
/// ([`kept_blocks`](llm_config::kept_blocks); `None`: every block).
pub(crate) fn load(backbone: &Backbone, depth: Option<usize>, device: Device, precision: Precision) -> Result<Loaded> {
    let mut loaded = load_whole(backbone, device, precision)?;
    if let Some(depth) = depth {
        let blocks = loaded.model.num_blocks();
        if depth < blocks {
            let keep = llm_config::kept_blocks(depth, blocks);
            loaded.model.keep_blocks(&keep)?;
            loaded.blocks = Some((keep.len(), blocks));
        }
    }
    Ok(loaded)
}

fn load_whole(backbone: &Backbone, device: Device, precision: Precision) -> Result<Loaded> {
    let options = LoadOptions { device, kind: kind(precision, device) };
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
            Ok(Loaded { model: Box::new(model), tokenizer, eos, blocks: None })
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
            Ok(Loaded { model, tokenizer: tok.inner().clone(), eos, blocks: None })
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
