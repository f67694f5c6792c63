//! GPT-2 configuration in two layers: [`HfGpt2Config`], a serde mirror of HF `config.json` with
//! optional fields and HF's defaults, and [`Gpt2Config`], the validated plain config the model
//! is built from.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The activation of the feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// GELU with the tanh approximation (`gelu_new`, `gelu_pytorch_tanh`; GPT-2's default).
    GeluTanh,
    /// Exact GELU (`gelu`).
    Gelu,
    /// ReLU (`relu`).
    Relu,
}

impl Activation {
    fn from_hf(name: &str) -> Result<Self> {
        match name {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            "gelu" => Ok(Self::Gelu),
            "relu" => Ok(Self::Relu),
            other => Err(Error::config(format!("unsupported activation_function `{other}`"))),
        }
    }
}

/// One or several token ids, as HF configs allow for `eos_token_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// A single id.
    One(i64),
    /// Several ids.
    Many(Vec<i64>),
}

impl TokenIds {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<i64> {
        match self {
            TokenIds::One(i) => vec![*i],
            TokenIds::Many(v) => v.clone(),
        }
    }
}

/// A mirror of HF's GPT-2 `config.json`. Absent fields take HF's defaults when converted with
/// [`HfGpt2Config::into_config`]; fields this crate does not use are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HfGpt2Config {
    /// `model_type`, `"gpt2"` when present.
    pub model_type: Option<String>,
    /// Vocabulary size (default 50257).
    pub vocab_size: Option<usize>,
    /// Context length (default 1024).
    pub n_positions: Option<usize>,
    /// Hidden size (default 768).
    pub n_embd: Option<usize>,
    /// Number of blocks (default 12).
    pub n_layer: Option<usize>,
    /// Number of attention heads (default 12).
    pub n_head: Option<usize>,
    /// Feed-forward size (default `4 * n_embd`).
    pub n_inner: Option<usize>,
    /// Activation name (default `gelu_new`).
    pub activation_function: Option<String>,
    /// Dropout on residual branches (default 0.1).
    pub resid_pdrop: Option<f64>,
    /// Dropout on embeddings (default 0.1).
    pub embd_pdrop: Option<f64>,
    /// Dropout on attention weights (default 0.1).
    pub attn_pdrop: Option<f64>,
    /// Layer-norm epsilon (default 1e-5).
    pub layer_norm_epsilon: Option<f64>,
    /// Divide attention scores by `sqrt(head_dim)` (default true).
    pub scale_attn_weights: Option<bool>,
    /// Further divide attention scores by `layer_idx + 1` (default false).
    pub scale_attn_by_inverse_layer_idx: Option<bool>,
    /// Whether the LM head is tied to `wte` (default true; untied heads are not supported).
    pub tie_word_embeddings: Option<bool>,
    /// Beginning-of-sequence id (default 50256).
    pub bos_token_id: Option<i64>,
    /// End-of-sequence id(s) (default 50256).
    pub eos_token_id: Option<TokenIds>,
    /// Padding id, often absent for GPT-2.
    pub pad_token_id: Option<i64>,
    /// Cross-attention (encoder-decoder use); must be false.
    pub add_cross_attention: Option<bool>,
}

impl HfGpt2Config {
    /// Reads a `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        crate::io::read_json(path)
    }

    /// Fills HF's defaults and validates.
    pub fn into_config(self) -> Result<Gpt2Config> {
        if let Some(mt) = &self.model_type {
            if mt != "gpt2" {
                return Err(Error::config(format!("model_type is `{mt}`, expected `gpt2`")));
            }
        }
        if self.tie_word_embeddings == Some(false) {
            return Err(Error::config("untied LM heads (tie_word_embeddings: false) are not supported"));
        }
        if self.add_cross_attention == Some(true) {
            return Err(Error::config("add_cross_attention: true is not supported"));
        }
        let n_embd = self.n_embd.unwrap_or(768);
        let cfg = Gpt2Config {
            vocab_size: self.vocab_size.unwrap_or(50257),
            n_positions: self.n_positions.unwrap_or(1024),
            n_embd,
            n_layer: self.n_layer.unwrap_or(12),
            n_head: self.n_head.unwrap_or(12),
            n_inner: self.n_inner.unwrap_or(4 * n_embd),
            activation: Activation::from_hf(self.activation_function.as_deref().unwrap_or("gelu_new"))?,
            resid_pdrop: self.resid_pdrop.unwrap_or(0.1),
            embd_pdrop: self.embd_pdrop.unwrap_or(0.1),
            attn_pdrop: self.attn_pdrop.unwrap_or(0.1),
            layer_norm_epsilon: self.layer_norm_epsilon.unwrap_or(1e-5),
            scale_attn_weights: self.scale_attn_weights.unwrap_or(true),
            scale_attn_by_inverse_layer_idx: self.scale_attn_by_inverse_layer_idx.unwrap_or(false),
            bos_token_id: self.bos_token_id.unwrap_or(50256),
            eos_token_ids: self.eos_token_id.map(|e| e.to_vec()).unwrap_or_else(|| vec![50256]),
            pad_token_id: self.pad_token_id,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The plain GPT-2 config the model is built from: no options, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpt2Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Context length (number of learned positions).
    pub n_positions: usize,
    /// Hidden size.
    pub n_embd: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// Number of attention heads.
    pub n_head: usize,
    /// Feed-forward size.
    pub n_inner: usize,
    /// Feed-forward activation.
    pub activation: Activation,
    /// Dropout on residual branches (training only).
    pub resid_pdrop: f64,
    /// Dropout on embeddings (training only).
    pub embd_pdrop: f64,
    /// Dropout on attention weights (training only).
    pub attn_pdrop: f64,
    /// Layer-norm epsilon.
    pub layer_norm_epsilon: f64,
    /// Divide attention scores by `sqrt(head_dim)`.
    pub scale_attn_weights: bool,
    /// Further divide attention scores by `layer_idx + 1`.
    pub scale_attn_by_inverse_layer_idx: bool,
    /// Beginning-of-sequence id.
    pub bos_token_id: i64,
    /// End-of-sequence ids.
    pub eos_token_ids: Vec<i64>,
    /// Padding id, if the checkpoint defines one.
    pub pad_token_id: Option<i64>,
}

impl Gpt2Config {
    /// distilgpt2's shape (6 blocks, 768 wide, 12 heads) with dropout off: handy for random
    /// initialisation in benchmarks.
    pub fn distilgpt2() -> Self {
        Self {
            vocab_size: 50257,
            n_positions: 1024,
            n_embd: 768,
            n_layer: 6,
            n_head: 12,
            n_inner: 3072,
            activation: Activation::GeluTanh,
            resid_pdrop: 0.0,
            embd_pdrop: 0.0,
            attn_pdrop: 0.0,
            layer_norm_epsilon: 1e-5,
            scale_attn_weights: true,
            scale_attn_by_inverse_layer_idx: false,
            bos_token_id: 50256,
            eos_token_ids: vec![50256],
            pad_token_id: None,
        }
    }

    /// Reads and validates a HF `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        HfGpt2Config::from_file(path)?.into_config().map_err(|e| match e {
            Error::Config { path: None, message } => Error::Config { path: Some(path.into()), message },
            e => e,
        })
    }

    /// Checks that the sizes are positive and consistent.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("n_positions", self.n_positions),
            ("n_embd", self.n_embd),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_inner", self.n_inner),
        ] {
            if v == 0 {
                return Err(Error::config(format!("{name} must be positive")));
            }
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(Error::config(format!(
                "n_embd ({}) is not divisible by n_head ({})",
                self.n_embd, self.n_head
            )));
        }
        for (name, p) in
            [("resid_pdrop", self.resid_pdrop), ("embd_pdrop", self.embd_pdrop), ("attn_pdrop", self.attn_pdrop)]
        {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::config(format!("{name} must be in [0, 1), got {p}")));
            }
        }
        Ok(())
    }

    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    /// The HF `config.json` this config corresponds to.
    pub fn to_hf(&self) -> HfGpt2Config {
        HfGpt2Config {
            model_type: Some("gpt2".into()),
            vocab_size: Some(self.vocab_size),
            n_positions: Some(self.n_positions),
            n_embd: Some(self.n_embd),
            n_layer: Some(self.n_layer),
            n_head: Some(self.n_head),
            n_inner: Some(self.n_inner),
            activation_function: Some(
                match self.activation {
                    Activation::GeluTanh => "gelu_new",
                    Activation::Gelu => "gelu",
                    Activation::Relu => "relu",
                }
                .into(),
            ),
            resid_pdrop: Some(self.resid_pdrop),
            embd_pdrop: Some(self.embd_pdrop),
            attn_pdrop: Some(self.attn_pdrop),
            layer_norm_epsilon: Some(self.layer_norm_epsilon),
            scale_attn_weights: Some(self.scale_attn_weights),
            scale_attn_by_inverse_layer_idx: Some(self.scale_attn_by_inverse_layer_idx),
            tie_word_embeddings: Some(true),
            bos_token_id: Some(self.bos_token_id),
            eos_token_id: Some(match self.eos_token_ids.as_slice() {
                [one] => TokenIds::One(*one),
                many => TokenIds::Many(many.to_vec()),
            }),
            pad_token_id: self.pad_token_id,
            add_cross_attention: Some(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in() {
        let hf: HfGpt2Config = serde_json::from_str(r#"{"n_layer": 2, "eos_token_id": [1, 2]}"#).unwrap();
        let cfg = hf.into_config().unwrap();
        assert_eq!(cfg.n_layer, 2);
        assert_eq!(cfg.n_embd, 768);
        assert_eq!(cfg.n_inner, 3072);
        assert_eq!(cfg.eos_token_ids, vec![1, 2]);
        assert_eq!(cfg.activation, Activation::GeluTanh);
    }

    #[test]
    fn rejects_bad_heads() {
        let hf: HfGpt2Config = serde_json::from_str(r#"{"n_embd": 30, "n_head": 4}"#).unwrap();
        let err = hf.into_config().unwrap_err();
        assert!(err.to_string().contains("not divisible"), "{err}");
    }

    #[test]
    fn round_trips_through_hf() {
        let cfg = Gpt2Config::distilgpt2();
        assert_eq!(cfg.to_hf().into_config().unwrap(), cfg);
    }
}
