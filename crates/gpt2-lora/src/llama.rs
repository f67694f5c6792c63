//! The Llama family (Llama 2/3 without rope scaling, SmolLM, TinyLlama, ...) on libtorch,
//! loaded from HF `config.json` + `model.safetensors` or from a llama.cpp GGUF file.
//!
//! The layout is HF's `LlamaForCausalLM`: `model.embed_tokens`, layers `model.layers.{i}` with
//! `input_layernorm` (RMSNorm), `self_attn.{q,k,v,o}_proj`, `post_attention_layernorm` and a
//! SwiGLU MLP `mlp.{gate,up,down}_proj`, then `model.norm` and `lm_head` (absent when tied to
//! the embedding). Linear weights are `nn.Linear`'s `[out, in]`, without biases. Rotary
//! embeddings follow HF's `rotate_half` convention (the two halves of a head are the pairs) with
//! base `rope_theta`; grouped-query attention (fewer key/value heads than query heads) runs
//! through libtorch's fused `scaled_dot_product_attention` with `enable_gqa`, and the cache
//! stores the key/value heads only.
//!
//! GGUF files ([`Llama::from_gguf`]) use llama.cpp's names and a permuted row order for the
//! query and key projections; loading maps both back to HF's (see the `gguf` submodule).

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::cache::{per_layer, AttentionPlan, KvCache, LayerKv};
use crate::error::{Error, Result};
use crate::gpt2::{check_ids, LoadOptions};
use crate::linear::Linear;
use crate::model::{CausalLm, ModelInfo};
use crate::weights::{Init, RandomInit, WeightSource, Weights};

pub mod config;
mod gguf;

pub use config::{HfLlamaConfig, HfRopeParameters, LlamaConfig};

/// Root-mean-square layer norm, computed in f32 as HF's `LlamaRMSNorm` does.
#[derive(Debug)]
struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let kind = x.kind();
        let xf = x.f_to_kind(Kind::Float)?;
        let var = xf.f_square()?.f_mean_dim(-1, true, Kind::Float)?.f_add_scalar(self.eps)?;
        let y = xf.f_mul(&var.f_rsqrt()?)?.f_to_kind(kind)?;
        Ok(self.weight.f_mul(&y)?)
    }
}

/// One decoder layer.
#[derive(Debug)]
struct Layer {
    input_layernorm: RmsNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    post_attention_layernorm: RmsNorm,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

/// The linear layers of a decoder layer with their HF module names (relative to the layer).
const LINEAR_NAMES: [&str; 7] = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
];

impl Layer {
    fn linears(&self) -> [&Linear; 7] {
        [&self.q_proj, &self.k_proj, &self.v_proj, &self.o_proj, &self.gate_proj, &self.up_proj, &self.down_proj]
    }

    fn linears_mut(&mut self) -> [&mut Linear; 7] {
        [
            &mut self.q_proj,
            &mut self.k_proj,
            &mut self.v_proj,
            &mut self.o_proj,
            &mut self.gate_proj,
            &mut self.up_proj,
            &mut self.down_proj,
        ]
    }
}

/// `[out, in]` shapes of a layer's linear layers, in [`LINEAR_NAMES`] order.
fn linear_shapes(cfg: &LlamaConfig) -> [[i64; 2]; 7] {
    let e = cfg.hidden_size as i64;
    let q = (cfg.num_attention_heads * cfg.head_dim) as i64;
    let kv = (cfg.num_key_value_heads * cfg.head_dim) as i64;
    let ff = cfg.intermediate_size as i64;
    [[q, e], [kv, e], [kv, e], [e, q], [ff, e], [ff, e], [e, ff]]
}

/// Assembles a layer from its two norm weights and seven `[out, in]` linear weights (in
/// [`LINEAR_NAMES`] order).
fn layer_from_parts(cfg: &LlamaConfig, norms: [Tensor; 2], lin: Vec<Tensor>) -> Result<Layer> {
    let [n1, n2] = norms;
    let mut lin = lin.into_iter().map(|w| Linear::from_out_in(w, None));
    let mut next = || lin.next().ok_or_else(|| Error::invalid("a Llama layer needs seven linear weights"));
    let rms = |weight: Tensor| RmsNorm { weight: weight.set_requires_grad(false), eps: cfg.rms_norm_eps };
    Ok(Layer {
        input_layernorm: rms(n1),
        q_proj: next()?,
        k_proj: next()?,
        v_proj: next()?,
        o_proj: next()?,
        post_attention_layernorm: rms(n2),
        gate_proj: next()?,
        up_proj: next()?,
        down_proj: next()?,
    })
}

/// A Llama-family language model (optionally untied LM head).
#[derive(Debug)]
pub struct Llama {
    config: LlamaConfig,
    embed_tokens: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    /// `[vocab, hidden]`, or `None` when tied to `embed_tokens`.
    lm_head: Option<Tensor>,
    /// `[head_dim / 2]` f32 rotary frequencies.
    inv_freq: Tensor,
    device: Device,
}

/// Tensors an HF Llama checkpoint may hold that the model does not need: the rotary frequency
/// buffers of old checkpoints.
fn ignorable(name: &str) -> bool {
    name.ends_with(".rotary_emb.inv_freq")
}

impl Llama {
    /// Builds the model from checked parts; computes the rotary frequencies.
    fn assemble(
        config: LlamaConfig,
        embed_tokens: Tensor,
        layers: Vec<Layer>,
        norm: Tensor,
        lm_head: Option<Tensor>,
        device: Device,
    ) -> Result<Self> {
        // HF: 1 / base^(arange(0, dim, 2) / dim), in f32.
        let hd = config.head_dim as i64;
        let exponent =
            Tensor::f_arange_start_step(0, hd, 2, (Kind::Int64, device))?.f_to_kind(Kind::Float)?.f_div_scalar(hd)?;
        let inv_freq = Tensor::f_pow_scalar(config.rope_theta, &exponent)?.f_reciprocal()?;
        Ok(Self {
            norm: RmsNorm { weight: norm.set_requires_grad(false), eps: config.rms_norm_eps },
            config,
            embed_tokens: embed_tokens.set_requires_grad(false),
            layers,
            lm_head: lm_head.map(|h| h.set_requires_grad(false)),
            inv_freq,
            device,
        })
    }

    /// Loads `config.json` and `model.safetensors` from an HF model directory.
    pub fn from_pretrained(dir: impl AsRef<Path>, options: LoadOptions) -> Result<Self> {
        let dir = dir.as_ref();
        let config = LlamaConfig::from_file(dir.join("config.json"))?;
        Self::load(config, dir.join("model.safetensors"), options)
    }

    /// Loads weights from a safetensors file for the given config, checking every name and
    /// shape: a missing, misshaped or unexpected tensor is an error that names it, so a config
    /// that disagrees with the weights (sizes, layer count, head counts, tying) is an error.
    pub fn load(config: LlamaConfig, weights: impl AsRef<Path>, options: LoadOptions) -> Result<Self> {
        config.validate()?;
        let mut w = Weights::from_file(weights.as_ref(), options.device, options.kind, "model.")?;
        let model = Self::build(config, &mut w, options.device)?;
        w.finish(ignorable)?;
        Ok(model)
    }

    /// Loads a llama.cpp GGUF file (architecture `llama`): hyperparameters from the `llama.*`
    /// metadata, end-of-sequence ids from `tokenizer.ggml.*`, weights dequantized to f32 (F32,
    /// F16, BF16, Q8_0, Q4_0 and Q4_1 are read) and cast to `options.kind`. The query and key
    /// rows llama.cpp permutes are put back in HF's order; every tensor's name and shape is
    /// checked, and errors name the tensor and the file.
    pub fn from_gguf(path: impl AsRef<Path>, options: LoadOptions) -> Result<Self> {
        gguf::load(path.as_ref(), options)
    }

    /// A randomly initialised model as HF initialises one (normal(0, 0.02) weights, unit
    /// norms), seeded.
    pub fn random(config: LlamaConfig, options: LoadOptions, seed: u64) -> Result<Self> {
        config.validate()?;
        Self::build(config, &mut RandomInit::new(options.kind, options.device, seed), options.device)
    }

    /// The model from `w`, asking for every tensor once in HF's order (the LM head only when
    /// it is not tied to the embedding).
    fn build(config: LlamaConfig, w: &mut impl WeightSource, device: Device) -> Result<Self> {
        const STD: Init = Init::Normal(0.02);
        let (v, e) = (config.vocab_size as i64, config.hidden_size as i64);
        let embed_tokens = w.tensor("embed_tokens.weight", &[v, e], STD)?;
        let shapes = linear_shapes(&config);
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("layers.{i}");
                let norms = [
                    w.tensor(&format!("{p}.input_layernorm.weight"), &[e], Init::Ones)?,
                    w.tensor(&format!("{p}.post_attention_layernorm.weight"), &[e], Init::Ones)?,
                ];
                let lin = LINEAR_NAMES
                    .iter()
                    .zip(&shapes)
                    .map(|(n, s)| w.tensor(&format!("{p}.{n}.weight"), s, STD))
                    .collect::<Result<Vec<_>>>()?;
                layer_from_parts(&config, norms, lin)
            })
            .collect::<Result<Vec<_>>>()?;
        let norm = w.tensor("norm.weight", &[e], Init::Ones)?;
        let lm_head = if config.tie_word_embeddings {
            w.tied_copy("lm_head.weight", &embed_tokens)?;
            None
        } else {
            Some(w.tensor("lm_head.weight", &[v, e], STD)?)
        };
        Self::assemble(config, embed_tokens, layers, norm, lm_head, device)
    }

    /// Writes `config.json` and `model.safetensors` as `LlamaForCausalLM.save_pretrained` does
    /// (`model.` prefix, `[out, in]` linear weights, `lm_head.weight` only when untied), so HF
    /// transformers can load the model. Merged adapters are saved as part of the weights;
    /// unmerged ones are not saved here.
    pub fn save_pretrained(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut hf = serde_json::to_value(self.config.to_hf())
            .map_err(|source| Error::Json { path: dir.join("config.json"), source })?;
        if let Some(obj) = hf.as_object_mut() {
            obj.insert("architectures".into(), serde_json::json!(["LlamaForCausalLM"]));
            obj.retain(|_, v| !v.is_null());
        }
        crate::io::write_json(&dir.join("config.json"), &hf)?;
        let mut t = vec![("model.embed_tokens.weight".to_string(), self.embed_tokens.shallow_clone())];
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            t.push((format!("{p}.input_layernorm.weight"), l.input_layernorm.weight.shallow_clone()));
            t.push((format!("{p}.post_attention_layernorm.weight"), l.post_attention_layernorm.weight.shallow_clone()));
            for (name, lin) in LINEAR_NAMES.iter().zip(l.linears()) {
                t.push((format!("{p}.{name}.weight"), lin.weight().f_tr()?));
            }
        }
        t.push(("model.norm.weight".into(), self.norm.weight.shallow_clone()));
        if let Some(h) = &self.lm_head {
            t.push(("lm_head.weight".into(), h.shallow_clone()));
        }
        crate::io::write_safetensors(&dir.join("model.safetensors"), &t)
    }

    /// The model's config.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Number of base parameters (a tied head counted once).
    pub fn num_parameters(&self) -> i64 {
        let n = |t: &Tensor| t.numel() as i64;
        n(&self.embed_tokens)
            + n(&self.norm.weight)
            + self.lm_head.as_ref().map_or(0, n)
            + self
                .layers
                .iter()
                .map(|l| {
                    n(&l.input_layernorm.weight)
                        + n(&l.post_attention_layernorm.weight)
                        + l.linears().iter().map(|x| n(x.weight())).sum::<i64>()
                })
                .sum::<i64>()
    }

    /// `cos` and `sin` of the rotary angles for `positions` (`[batch, seq]`), each
    /// `[batch, 1, seq, head_dim]` in the model's float kind (computed in f32, as HF does).
    fn rotary(&self, positions: &Tensor, kind: Kind) -> Result<(Tensor, Tensor)> {
        let freqs = positions.f_to_kind(Kind::Float)?.f_unsqueeze(-1)?.f_mul(&self.inv_freq)?;
        let emb = Tensor::f_cat(&[&freqs, &freqs], -1)?.f_unsqueeze(1)?;
        Ok((emb.f_cos()?.f_to_kind(kind)?, emb.f_sin()?.f_to_kind(kind)?))
    }

    fn attention(
        &self,
        l: &Layer,
        x: &Tensor,
        past: Option<LayerKv>,
        plan: &AttentionPlan,
        rope: &(Tensor, Tensor),
        train: bool,
    ) -> Result<(Tensor, LayerKv)> {
        let cfg = &self.config;
        let (bsz, t) = (x.size()[0], x.size()[1]);
        let (nh, nkv, hd) = (cfg.num_attention_heads as i64, cfg.num_key_value_heads as i64, cfg.head_dim as i64);
        let heads = |z: Tensor, n: i64| -> Result<Tensor> { Ok(z.f_view([bsz, t, n, hd])?.f_transpose(1, 2)?) };
        let q = heads(l.q_proj.forward(x, train)?, nh)?;
        let k = heads(l.k_proj.forward(x, train)?, nkv)?;
        let v = heads(l.v_proj.forward(x, train)?, nkv)?;
        let (q, k) = (apply_rotary(&q, rope)?, apply_rotary(&k, rope)?);
        let (k, v) = match past {
            Some(p) => (Tensor::f_cat(&[&p.k, &k], 2)?, Tensor::f_cat(&[&p.v, &v], 2)?),
            None => (k, v),
        };
        let dropout = if train { cfg.attention_dropout } else { 0.0 };
        let y = plan.attend(&q, &k, &v, dropout, 1.0 / (hd as f64).sqrt())?;
        Ok((l.o_proj.forward(&y, train)?, LayerKv { k, v }))
    }

    fn mlp(&self, l: &Layer, x: &Tensor, train: bool) -> Result<Tensor> {
        let gate = l.gate_proj.forward(x, train)?.f_silu()?;
        let h = gate.f_mul(&l.up_proj.forward(x, train)?)?;
        l.down_proj.forward(&h, train)
    }
}

/// HF's `apply_rotary_pos_emb` for one tensor: `x cos + rotate_half(x) sin`, where
/// `rotate_half` maps halves `(a, b)` to `(-b, a)`.
fn apply_rotary(x: &Tensor, (cos, sin): &(Tensor, Tensor)) -> Result<Tensor> {
    let half = x.size().last().copied().unwrap_or(0) / 2;
    let parts = x.f_split(half, -1)?;
    let rotated = Tensor::f_cat(&[&parts[1].f_neg()?, &parts[0]], -1)?;
    Ok(x.f_mul(cos)?.f_add(&rotated.f_mul(sin)?)?)
}

impl CausalLm for Llama {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            family: "llama".into(),
            vocab_size: self.config.vocab_size,
            context_len: self.config.max_position_embeddings,
            eos_token_ids: self.config.eos_token_ids.clone(),
            fan_in_fan_out: false,
            // PEFT's default for Llama (its TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING).
            default_lora_targets: vec!["q_proj".into(), "v_proj".into()],
        }
    }

    fn device(&self) -> Device {
        self.device
    }

    /// The final normalised hidden states (`[batch, seq, hidden]`) and the extended cache:
    /// everything but the LM head.
    fn hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<KvCache>,
        train: bool,
    ) -> Result<(Tensor, KvCache)> {
        let ids = check_ids(input_ids, self.config.vocab_size, self.device)?;
        let plan = AttentionPlan::new(&ids, attention_mask, cache.as_ref(), self.config.max_position_embeddings)?;
        let mut past = per_layer(cache, self.layers.len())?;
        let mut h = Tensor::f_embedding(&self.embed_tokens, &ids, -1, false, false)?;
        let rope = self.rotary(&plan.positions, h.kind())?;
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            let x = l.input_layernorm.forward(&h)?;
            let (a, kv) = self.attention(l, &x, past[i].take(), &plan, &rope, train)?;
            // Not `+=`: an in-place add would break autograd (the norm saved `h`).
            h = h.f_add(&a)?;
            let x = l.post_attention_layernorm.forward(&h)?;
            h = h.f_add(&self.mlp(l, &x, train)?)?;
            layers.push(kv);
        }
        let h = self.norm.forward(&h)?;
        Ok((h, KvCache::from_parts(layers, plan.key_mask, plan.seen)))
    }

    /// Logits of `[rows, hidden]` states: one `[rows, hidden] x [hidden, vocab]` GEMM (a 3-D
    /// `matmul` against the transposed head can fall back to one matrix-vector product per
    /// row, reading the whole head, 113 MB for SmolLM2, once per row).
    fn head(&self, h: &Tensor) -> Result<Tensor> {
        let head = self.lm_head.as_ref().unwrap_or(&self.embed_tokens);
        Ok(h.f_mm(&head.f_tr()?)?)
    }

    fn keep_blocks(&mut self, keep: &[usize]) -> Result<()> {
        crate::model::check_kept_blocks(keep, self.layers.len())?;
        crate::model::retain_indices(&mut self.layers, keep);
        self.config.num_hidden_layers = self.layers.len();
        Ok(())
    }

    fn linears(&self) -> Vec<(String, &Linear)> {
        let mut out = Vec::with_capacity(LINEAR_NAMES.len() * self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            for (name, lin) in LINEAR_NAMES.iter().zip(l.linears()) {
                out.push((format!("model.layers.{i}.{name}"), lin));
            }
        }
        out
    }

    fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        let mut out = Vec::with_capacity(LINEAR_NAMES.len() * self.layers.len());
        for (i, l) in self.layers.iter_mut().enumerate() {
            for (name, lin) in LINEAR_NAMES.iter().zip(l.linears_mut()) {
                out.push((format!("model.layers.{i}.{name}"), lin));
            }
        }
        out
    }

    fn shallow_clone(&self) -> Box<dyn CausalLm + Send> {
        let norm = |n: &RmsNorm| RmsNorm { weight: n.weight.shallow_clone(), eps: n.eps };
        let layers = self
            .layers
            .iter()
            .map(|l| Layer {
                input_layernorm: norm(&l.input_layernorm),
                q_proj: l.q_proj.shallow_clone(),
                k_proj: l.k_proj.shallow_clone(),
                v_proj: l.v_proj.shallow_clone(),
                o_proj: l.o_proj.shallow_clone(),
                post_attention_layernorm: norm(&l.post_attention_layernorm),
                gate_proj: l.gate_proj.shallow_clone(),
                up_proj: l.up_proj.shallow_clone(),
                down_proj: l.down_proj.shallow_clone(),
            })
            .collect();
        Box::new(Llama {
            config: self.config.clone(),
            embed_tokens: self.embed_tokens.shallow_clone(),
            layers,
            norm: norm(&self.norm),
            lm_head: self.lm_head.as_ref().map(Tensor::shallow_clone),
            inv_freq: self.inv_freq.shallow_clone(),
            device: self.device,
        })
    }
}
