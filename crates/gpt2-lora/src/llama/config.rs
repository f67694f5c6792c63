//! Llama configuration in two layers: [`HfLlamaConfig`], a serde mirror of HF `config.json`
//! with optional fields and HF's defaults, and [`LlamaConfig`], the validated plain config the
//! model is built from. [`LlamaConfig::from_gguf`] reads the same facts from GGUF metadata.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::TokenIds;
use crate::error::{Error, Result};

/// HF's rotary parameters as transformers 5 writes them (`rope_parameters`) or as older
/// versions write `rope_scaling`. Only the default (unscaled) rotary embedding is supported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HfRopeParameters {
    /// `rope_type` (or the older `type`): `"default"` when present.
    #[serde(alias = "type")]
    pub rope_type: Option<String>,
    /// Rotary base.
    pub rope_theta: Option<f64>,
}

/// A mirror of HF's Llama `config.json` (`LlamaConfig`). Absent fields take HF's defaults when
/// converted with [`HfLlamaConfig::into_config`]; fields this crate does not use are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HfLlamaConfig {
    /// `model_type`, `"llama"` when present.
    pub model_type: Option<String>,
    /// Vocabulary size (default 32000).
    pub vocab_size: Option<usize>,
    /// Hidden size (default 4096).
    pub hidden_size: Option<usize>,
    /// Feed-forward size (default 11008).
    pub intermediate_size: Option<usize>,
    /// Number of decoder layers (default 32).
    pub num_hidden_layers: Option<usize>,
    /// Number of query heads (default 32).
    pub num_attention_heads: Option<usize>,
    /// Number of key/value heads (default `num_attention_heads`).
    pub num_key_value_heads: Option<usize>,
    /// Size of one head (default `hidden_size / num_attention_heads`).
    pub head_dim: Option<usize>,
    /// Feed-forward activation; only `silu` is supported.
    pub hidden_act: Option<String>,
    /// RMSNorm epsilon (default 1e-6).
    pub rms_norm_eps: Option<f64>,
    /// Rotary base as transformers 4 writes it (default 10000).
    pub rope_theta: Option<f64>,
    /// Rotary parameters as transformers 5 writes them.
    pub rope_parameters: Option<HfRopeParameters>,
    /// Rotary scaling (transformers 4); must be absent, null or of type `default`.
    pub rope_scaling: Option<HfRopeParameters>,
    /// Context length (default 2048).
    pub max_position_embeddings: Option<usize>,
    /// Whether the LM head shares the token embedding (default false).
    pub tie_word_embeddings: Option<bool>,
    /// Biases on the attention projections; must be false.
    pub attention_bias: Option<bool>,
    /// Biases on the MLP projections; must be false.
    pub mlp_bias: Option<bool>,
    /// Dropout on attention weights (default 0).
    pub attention_dropout: Option<f64>,
    /// Beginning-of-sequence id (default 1).
    pub bos_token_id: Option<i64>,
    /// End-of-sequence id(s) (default 2).
    pub eos_token_id: Option<TokenIds>,
    /// Padding id, if any.
    pub pad_token_id: Option<i64>,
}

impl HfLlamaConfig {
    /// Reads a `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        crate::io::read_json(path.as_ref())
    }

    /// Fills HF's defaults and validates.
    pub fn into_config(self) -> Result<LlamaConfig> {
        if let Some(mt) = &self.model_type {
            if mt != "llama" {
                return Err(Error::config(format!("model_type is `{mt}`, expected `llama`")));
            }
        }
        if let Some(act) = &self.hidden_act {
            if act != "silu" {
                return Err(Error::config(format!("hidden_act `{act}` is not supported, only `silu`")));
            }
        }
        for (name, flag) in [("attention_bias", self.attention_bias), ("mlp_bias", self.mlp_bias)] {
            if flag == Some(true) {
                return Err(Error::config(format!("{name}: true is not supported")));
            }
        }
        let mut rope_theta = self.rope_theta;
        for (name, p) in [("rope_parameters", &self.rope_parameters), ("rope_scaling", &self.rope_scaling)] {
            let Some(p) = p else { continue };
            if let Some(t) = p.rope_type.as_deref() {
                if t != "default" {
                    return Err(Error::config(format!(
                        "{name} of type `{t}` is not supported, only unscaled rotary embeddings"
                    )));
                }
            }
            if let Some(theta) = p.rope_theta {
                if rope_theta.is_some_and(|t| t != theta) {
                    return Err(Error::config(format!(
                        "rope_theta ({}) and {name}.rope_theta ({theta}) disagree",
                        rope_theta.unwrap_or_default()
                    )));
                }
                rope_theta = Some(theta);
            }
        }
        let hidden_size = self.hidden_size.unwrap_or(4096);
        let heads = self.num_attention_heads.unwrap_or(32);
        let cfg = LlamaConfig {
            vocab_size: self.vocab_size.unwrap_or(32000),
            hidden_size,
            intermediate_size: self.intermediate_size.unwrap_or(11008),
            num_hidden_layers: self.num_hidden_layers.unwrap_or(32),
            num_attention_heads: heads,
            num_key_value_heads: self.num_key_value_heads.unwrap_or(heads),
            head_dim: self.head_dim.unwrap_or_else(|| hidden_size.checked_div(heads).unwrap_or(0)),
            rms_norm_eps: self.rms_norm_eps.unwrap_or(1e-6),
            rope_theta: rope_theta.unwrap_or(10000.0),
            max_position_embeddings: self.max_position_embeddings.unwrap_or(2048),
            tie_word_embeddings: self.tie_word_embeddings.unwrap_or(false),
            attention_dropout: self.attention_dropout.unwrap_or(0.0),
            bos_token_id: Some(self.bos_token_id.unwrap_or(1)),
            eos_token_ids: self.eos_token_id.map(|e| e.to_vec()).unwrap_or_else(|| vec![2]),
            pad_token_id: self.pad_token_id,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The plain Llama config the model is built from: no options, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Feed-forward (SwiGLU) size.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads; fewer than the query heads is grouped-query attention.
    pub num_key_value_heads: usize,
    /// Size of one head.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Rotary base (`rope_theta`).
    pub rope_theta: f64,
    /// Context length.
    pub max_position_embeddings: usize,
    /// Whether the LM head shares the token embedding.
    pub tie_word_embeddings: bool,
    /// Dropout on attention weights (training only).
    pub attention_dropout: f64,
    /// Beginning-of-sequence id, if known.
    pub bos_token_id: Option<i64>,
    /// End-of-sequence ids.
    pub eos_token_ids: Vec<i64>,
    /// Padding id, if the checkpoint defines one.
    pub pad_token_id: Option<i64>,
}

impl LlamaConfig {
    /// SmolLM2-135M's shape (30 layers, 576 wide, 9 query and 3 key/value heads, SwiGLU 1536,
    /// vocabulary 49152, tied embeddings, `rope_theta` 100000): handy for random initialisation
    /// in benchmarks.
    pub fn smollm2_135m() -> Self {
        Self {
            vocab_size: 49152,
            hidden_size: 576,
            intermediate_size: 1536,
            num_hidden_layers: 30,
            num_attention_heads: 9,
            num_key_value_heads: 3,
            head_dim: 64,
            rms_norm_eps: 1e-5,
            rope_theta: 100000.0,
            max_position_embeddings: 8192,
            tie_word_embeddings: true,
            attention_dropout: 0.0,
            bos_token_id: Some(1),
            eos_token_ids: vec![2],
            pad_token_id: Some(2),
        }
    }

    /// Reads and validates a HF `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        HfLlamaConfig::from_file(path)?.into_config().map_err(|e| match e {
            Error::Config { path: None, message } => Error::Config { path: Some(path.into()), message },
            e => e,
        })
    }

    /// Reads the hyperparameters llama.cpp stores under `llama.*` (and the special ids under
    /// `tokenizer.ggml.*`) in a GGUF file's metadata. `vocab_size` is used when the file has no
    /// `llama.vocab_size` (it is then the row count of `token_embd.weight`); `tied` says
    /// whether the file lacks `output.weight`.
    pub fn from_gguf(meta: &gguf_file::Metadata, vocab_size: usize, tied: bool) -> Result<Self> {
        let gg = |e: gguf_file::GgufError| Error::config(e.to_string());
        let usize_key = |k: &str| meta.get_usize(k).map_err(gg);
        let float_key = |k: &str| -> Result<f64> {
            match meta.require(k).map_err(gg)? {
                gguf_file::Value::F32(v) => Ok(f64::from(*v)),
                gguf_file::Value::F64(v) => Ok(*v),
                other => Err(Error::config(format!("GGUF key `{k}` is {}, expected a float", other.type_name()))),
            }
        };
        let optional = |k: &str| -> Result<Option<usize>> {
            if meta.contains_key(k) {
                usize_key(k).map(Some)
            } else {
                Ok(None)
            }
        };
        let hidden_size = usize_key("llama.embedding_length")?;
        let heads = usize_key("llama.attention.head_count")?;
        let head_dim = match optional("llama.attention.key_length")? {
            Some(d) => d,
            None => hidden_size.checked_div(heads).unwrap_or(0),
        };
        if let Some(rot) = optional("llama.rope.dimension_count")? {
            if rot != head_dim {
                return Err(Error::config(format!(
                    "llama.rope.dimension_count ({rot}) differs from the head size ({head_dim}); partial rotary embeddings are not supported"
                )));
            }
        }
        if meta.contains_key("llama.rope.scaling.type") {
            let t = meta.get_str("llama.rope.scaling.type").map_err(gg)?;
            if t != "none" {
                return Err(Error::config(format!("llama.rope.scaling.type `{t}` is not supported")));
            }
        }
        let rope_theta =
            if meta.contains_key("llama.rope.freq_base") { float_key("llama.rope.freq_base")? } else { 10000.0 };
        let mut eos = Vec::new();
        for key in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"] {
            if let Some(id) = optional(key)? {
                if !eos.contains(&(id as i64)) {
                    eos.push(id as i64);
                }
            }
        }
        let cfg = Self {
            vocab_size: optional("llama.vocab_size")?.unwrap_or(vocab_size),
            hidden_size,
            intermediate_size: usize_key("llama.feed_forward_length")?,
            num_hidden_layers: usize_key("llama.block_count")?,
            num_attention_heads: heads,
            num_key_value_heads: optional("llama.attention.head_count_kv")?.unwrap_or(heads),
            head_dim,
            rms_norm_eps: float_key("llama.attention.layer_norm_rms_epsilon")?,
            rope_theta,
            max_position_embeddings: usize_key("llama.context_length")?,
            tie_word_embeddings: tied,
            attention_dropout: 0.0,
            bos_token_id: optional("tokenizer.ggml.bos_token_id")?.map(|i| i as i64),
            eos_token_ids: eos,
            pad_token_id: optional("tokenizer.ggml.padding_token_id")?.map(|i| i as i64),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks that the sizes are positive and consistent.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v == 0 {
                return Err(Error::config(format!("{name} must be positive")));
            }
        }
        if !self.num_attention_heads.is_multiple_of(self.num_key_value_heads) {
            return Err(Error::config(format!(
                "num_attention_heads ({}) is not a multiple of num_key_value_heads ({})",
                self.num_attention_heads, self.num_key_value_heads
            )));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(Error::config(format!("head_dim ({}) must be even for rotary embeddings", self.head_dim)));
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.rms_norm_eps) || !positive(self.rope_theta) {
            return Err(Error::config(format!(
                "rms_norm_eps ({}) and rope_theta ({}) must be positive",
                self.rms_norm_eps, self.rope_theta
            )));
        }
        if !(0.0..1.0).contains(&self.attention_dropout) {
            return Err(Error::config(format!("attention_dropout must be in [0, 1), got {}", self.attention_dropout)));
        }
        Ok(())
    }

    /// The HF `config.json` this config corresponds to (rotary base written both as
    /// `rope_theta` and in `rope_parameters`, so transformers 4 and 5 read it).
    pub fn to_hf(&self) -> HfLlamaConfig {
        HfLlamaConfig {
            model_type: Some("llama".into()),
            vocab_size: Some(self.vocab_size),
            hidden_size: Some(self.hidden_size),
            intermediate_size: Some(self.intermediate_size),
            num_hidden_layers: Some(self.num_hidden_layers),
            num_attention_heads: Some(self.num_attention_heads),
            num_key_value_heads: Some(self.num_key_value_heads),
            head_dim: Some(self.head_dim),
            hidden_act: Some("silu".into()),
            rms_norm_eps: Some(self.rms_norm_eps),
            rope_theta: Some(self.rope_theta),
            rope_parameters: Some(HfRopeParameters {
                rope_type: Some("default".into()),
                rope_theta: Some(self.rope_theta),
            }),
            rope_scaling: None,
            max_position_embeddings: Some(self.max_position_embeddings),
            tie_word_embeddings: Some(self.tie_word_embeddings),
            attention_bias: Some(false),
            mlp_bias: Some(false),
            attention_dropout: Some(self.attention_dropout),
            bos_token_id: self.bos_token_id,
            eos_token_id: match self.eos_token_ids.as_slice() {
                [] => None,
                [one] => Some(TokenIds::One(*one)),
                many => Some(TokenIds::Many(many.to_vec())),
            },
            pad_token_id: self.pad_token_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_transformers_5_rope_parameters() {
        let hf: HfLlamaConfig = serde_json::from_str(
            r#"{"hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
                "rope_parameters": {"rope_theta": 500.0, "rope_type": "default"}}"#,
        )
        .unwrap();
        let cfg = hf.into_config().unwrap();
        assert_eq!(cfg.rope_theta, 500.0);
        assert_eq!(cfg.head_dim, 16);
        assert_eq!(cfg.num_key_value_heads, 2);
        assert!(!cfg.tie_word_embeddings);
    }

    #[test]
    fn rejects_scaled_rope_and_bad_heads() {
        let hf: HfLlamaConfig =
            serde_json::from_str(r#"{"rope_scaling": {"rope_type": "llama3", "factor": 8.0}}"#).unwrap();
        let err = hf.into_config().unwrap_err().to_string();
        assert!(err.contains("llama3"), "{err}");
        let hf: HfLlamaConfig =
            serde_json::from_str(r#"{"num_attention_heads": 6, "num_key_value_heads": 4}"#).unwrap();
        let err = hf.into_config().unwrap_err().to_string();
        assert!(err.contains("num_key_value_heads"), "{err}");
    }

    #[test]
    fn round_trips_through_hf() {
        let cfg = LlamaConfig::smollm2_135m();
        assert_eq!(cfg.to_hf().into_config().unwrap(), cfg);
    }
}
