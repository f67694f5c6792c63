//! GPT-2 on libtorch, loaded from HF `config.json` + `model.safetensors`.
//!
//! The layout is HF's: `wte`, `wpe`, blocks `h.{i}` with `ln_1`, `attn.c_attn`, `attn.c_proj`,
//! `ln_2`, `mlp.c_fc`, `mlp.c_proj`, then `ln_f`; `Conv1D` weights are `[in, out]`; the LM head
//! is tied to `wte`. Names may carry a `transformer.` prefix (as `GPT2LMHeadModel` saves them)
//! or not (as `GPT2Model` does). Attention runs through libtorch's fused
//! `scaled_dot_product_attention`.

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::cache::{per_layer, AttentionPlan, KvCache, LayerKv};
use crate::config::{Activation, Gpt2Config};
use crate::error::{Error, Result};
use crate::linear::Linear;
use crate::model::{CausalLm, ModelInfo};
use crate::weights::{Init, RandomInit, WeightSource, Weights};

/// Where and in which precision to load a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadOptions {
    /// Target device.
    pub device: Device,
    /// Floating-point kind of the weights (checkpoints in f16/bf16/f32 are cast).
    pub kind: Kind,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { device: Device::Cpu, kind: Kind::Float }
    }
}

#[derive(Debug)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    fn build(w: &mut impl WeightSource, prefix: &str, n: i64, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: w.tensor(&format!("{prefix}.weight"), &[n], Init::Ones)?,
            bias: w.tensor(&format!("{prefix}.bias"), &[n], Init::Zeros)?,
            eps,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let n = self.weight.size()[0];
        Ok(x.f_layer_norm([n], Some(&self.weight), Some(&self.bias), self.eps, true)?)
    }

    fn tensors(&self, prefix: &str, out: &mut Vec<(String, Tensor)>) {
        out.push((format!("{prefix}.weight"), self.weight.shallow_clone()));
        out.push((format!("{prefix}.bias"), self.bias.shallow_clone()));
    }
}

/// A `Conv1D` (`[in, out]` weight, bias), initialised normal(0, `std`) with a zero bias.
fn conv1d(w: &mut impl WeightSource, prefix: &str, n_in: i64, n_out: i64, std: f64) -> Result<Linear> {
    let weight = w.tensor(&format!("{prefix}.weight"), &[n_in, n_out], Init::Normal(std))?;
    let bias = w.tensor(&format!("{prefix}.bias"), &[n_out], Init::Zeros)?;
    Ok(Linear::from_in_out(weight, Some(bias)))
}

fn conv1d_tensors(l: &Linear, prefix: &str, out: &mut Vec<(String, Tensor)>) {
    out.push((format!("{prefix}.weight"), l.weight().shallow_clone()));
    if let Some(b) = l.bias() {
        out.push((format!("{prefix}.bias"), b.shallow_clone()));
    }
}

#[derive(Debug)]
struct Block {
    ln_1: LayerNorm,
    c_attn: Linear,
    attn_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
}

impl Block {
    /// Block `i`; a random source initialises as HF does (normal(0, 0.02), the output
    /// projections scaled by `1/sqrt(2 n_layer)`).
    fn build(w: &mut impl WeightSource, i: usize, cfg: &Gpt2Config) -> Result<Self> {
        let e = cfg.n_embd as i64;
        let inner = cfg.n_inner as i64;
        let proj_std = INIT_STD / (2.0 * cfg.n_layer as f64).sqrt();
        let p = format!("h.{i}");
        Ok(Self {
            ln_1: LayerNorm::build(w, &format!("{p}.ln_1"), e, cfg.layer_norm_epsilon)?,
            c_attn: conv1d(w, &format!("{p}.attn.c_attn"), e, 3 * e, INIT_STD)?,
            attn_proj: conv1d(w, &format!("{p}.attn.c_proj"), e, e, proj_std)?,
            ln_2: LayerNorm::build(w, &format!("{p}.ln_2"), e, cfg.layer_norm_epsilon)?,
            c_fc: conv1d(w, &format!("{p}.mlp.c_fc"), e, inner, INIT_STD)?,
            mlp_proj: conv1d(w, &format!("{p}.mlp.c_proj"), inner, e, proj_std)?,
        })
    }
}

/// Standard deviation of HF's normal initialisation.
const INIT_STD: f64 = 0.02;

/// A GPT-2 language model (tied LM head).
#[derive(Debug)]
pub struct Gpt2 {
    config: Gpt2Config,
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    device: Device,
}

/// Tensors an HF GPT-2 checkpoint may hold that the model does not need: the causal-mask
/// buffers of old checkpoints and a (tied) `lm_head.weight`.
fn ignorable(name: &str) -> bool {
    name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias")
}

impl Gpt2 {
    /// Loads `config.json` and `model.safetensors` from an HF model directory.
    pub fn from_pretrained(dir: impl AsRef<Path>, options: LoadOptions) -> Result<Self> {
        let dir = dir.as_ref();
        let config = Gpt2Config::from_file(dir.join("config.json"))?;
        Self::load(config, dir.join("model.safetensors"), options)
    }

    /// Loads weights from a safetensors file for the given config, checking every name and
    /// shape: a missing, misshaped or unexpected tensor is an error that names it.
    pub fn load(config: Gpt2Config, weights: impl AsRef<Path>, options: LoadOptions) -> Result<Self> {
        config.validate()?;
        let mut w = Weights::from_file(weights.as_ref(), options.device, options.kind, "transformer.")?;
        let model = Self::build(config, &mut w, options.device)?;
        w.finish(ignorable)?;
        Ok(model)
    }

    /// A randomly initialised model as HF initialises one (normal(0, 0.02) weights, output
    /// projections scaled by `1/sqrt(2 n_layer)`, zero biases, unit layer norms), seeded.
    pub fn random(config: Gpt2Config, options: LoadOptions, seed: u64) -> Result<Self> {
        config.validate()?;
        Self::build(config, &mut RandomInit::new(options.kind, options.device, seed), options.device)
    }

    /// The model from `w`, asking for every tensor once in HF's order.
    fn build(config: Gpt2Config, w: &mut impl WeightSource, device: Device) -> Result<Self> {
        let e = config.n_embd as i64;
        let wte = w.tensor("wte.weight", &[config.vocab_size as i64, e], Init::Normal(INIT_STD))?;
        let wpe = w.tensor("wpe.weight", &[config.n_positions as i64, e], Init::Normal(INIT_STD))?;
        let blocks = (0..config.n_layer).map(|i| Block::build(w, i, &config)).collect::<Result<Vec<_>>>()?;
        let ln_f = LayerNorm::build(w, "ln_f", e, config.layer_norm_epsilon)?;
        w.tied_copy("lm_head.weight", &wte)?;
        Ok(Self { config, wte, wpe, blocks, ln_f, device })
    }

    /// Writes `config.json` and `model.safetensors` (names with the `transformer.` prefix, as
    /// `GPT2LMHeadModel.save_pretrained` does) so HF transformers can load the model. Merged
    /// adapters are saved as part of the weights; unmerged ones are not saved here.
    pub fn save_pretrained(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut hf = serde_json::to_value(self.config.to_hf())
            .map_err(|source| Error::Json { path: dir.join("config.json"), source })?;
        if let Some(obj) = hf.as_object_mut() {
            obj.insert("architectures".into(), serde_json::json!(["GPT2LMHeadModel"]));
            obj.retain(|_, v| !v.is_null());
        }
        crate::io::write_json(&dir.join("config.json"), &hf)?;
        let mut t = Vec::new();
        t.push(("wte.weight".to_string(), self.wte.shallow_clone()));
        t.push(("wpe.weight".to_string(), self.wpe.shallow_clone()));
        for (i, b) in self.blocks.iter().enumerate() {
            let p = format!("h.{i}");
            b.ln_1.tensors(&format!("{p}.ln_1"), &mut t);
            conv1d_tensors(&b.c_attn, &format!("{p}.attn.c_attn"), &mut t);
            conv1d_tensors(&b.attn_proj, &format!("{p}.attn.c_proj"), &mut t);
            b.ln_2.tensors(&format!("{p}.ln_2"), &mut t);
            conv1d_tensors(&b.c_fc, &format!("{p}.mlp.c_fc"), &mut t);
            conv1d_tensors(&b.mlp_proj, &format!("{p}.mlp.c_proj"), &mut t);
        }
        self.ln_f.tensors("ln_f", &mut t);
        let t: Vec<(String, Tensor)> = t.into_iter().map(|(n, x)| (format!("transformer.{n}"), x)).collect();
        crate::io::write_safetensors(&dir.join("model.safetensors"), &t)
    }

    /// The model's config.
    pub fn config(&self) -> &Gpt2Config {
        &self.config
    }

    /// Number of base parameters.
    pub fn num_parameters(&self) -> i64 {
        let lin = |l: &Linear| l.weight().numel() as i64 + l.bias().map_or(0, |b| b.numel() as i64);
        let ln = |l: &LayerNorm| 2 * l.weight.numel() as i64;
        self.wte.numel() as i64
            + self.wpe.numel() as i64
            + ln(&self.ln_f)
            + self
                .blocks
                .iter()
                .map(|b| {
                    ln(&b.ln_1) + ln(&b.ln_2) + lin(&b.c_attn) + lin(&b.attn_proj) + lin(&b.c_fc) + lin(&b.mlp_proj)
                })
                .sum::<i64>()
    }

    fn attention(
        &self,
        b: &Block,
        layer: usize,
        x: &Tensor,
        past: Option<LayerKv>,
        plan: &AttentionPlan,
        train: bool,
    ) -> Result<(Tensor, LayerKv)> {
        let cfg = &self.config;
        let (bsz, t) = (x.size()[0], x.size()[1]);
        let (nh, hd, e) = (cfg.n_head as i64, cfg.head_dim() as i64, cfg.n_embd as i64);
        let qkv = b.c_attn.forward(x, train)?;
        let heads = |z: &Tensor| -> Result<Tensor> { Ok(z.f_view([bsz, t, nh, hd])?.f_transpose(1, 2)?) };
        let parts = qkv.f_split(e, 2)?;
        let [q, k, v] = &parts[..] else {
            return Err(Error::invalid(format!("c_attn gave {} parts, expected 3", parts.len())));
        };
        let (q, k, v) = (heads(q)?, heads(k)?, heads(v)?);
        let (k, v) = match past {
            Some(p) => (Tensor::f_cat(&[&p.k, &k], 2)?, Tensor::f_cat(&[&p.v, &v], 2)?),
            None => (k, v),
        };
        let mut scale = if cfg.scale_attn_weights { 1.0 / (hd as f64).sqrt() } else { 1.0 };
        if cfg.scale_attn_by_inverse_layer_idx {
            scale /= (layer + 1) as f64;
        }
        let dropout = if train { cfg.attn_pdrop } else { 0.0 };
        let y = plan.attend(&q, &k, &v, dropout, scale)?;
        let y = b.attn_proj.forward(&y, train)?.f_dropout(cfg.resid_pdrop, train)?;
        Ok((y, LayerKv { k, v }))
    }

    fn mlp(&self, b: &Block, x: &Tensor, train: bool) -> Result<Tensor> {
        let h = b.c_fc.forward(x, train)?;
        let h = match self.config.activation {
            Activation::GeluTanh => h.f_gelu("tanh")?,
            Activation::Gelu => h.f_gelu("none")?,
            Activation::Relu => h.f_relu()?,
        };
        Ok(b.mlp_proj.forward(&h, train)?.f_dropout(self.config.resid_pdrop, train)?)
    }
}

/// Checks dtype and range of token ids; returns them as i64 on `device`.
pub(crate) fn check_ids(ids: &Tensor, vocab_size: usize, device: Device) -> Result<Tensor> {
    let ids = match ids.kind() {
        Kind::Int64 => ids.f_to_device(device)?,
        Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8 => ids.f_to_kind(Kind::Int64)?.f_to_device(device)?,
        k => return Err(Error::invalid(format!("input_ids must be integers, got {k:?}"))),
    };
    if ids.numel() > 0 {
        let lo = i64::try_from(&ids.f_min()?)?;
        let hi = i64::try_from(&ids.f_max()?)?;
        for id in [lo, hi] {
            if id < 0 || id >= vocab_size as i64 {
                return Err(Error::TokenOutOfRange { id, vocab_size });
            }
        }
    }
    Ok(ids)
}

impl CausalLm for Gpt2 {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            family: "gpt2".into(),
            vocab_size: self.config.vocab_size,
            context_len: self.config.n_positions,
            eos_token_ids: self.config.eos_token_ids.clone(),
            fan_in_fan_out: true,
            default_lora_targets: vec!["c_attn".into()],
        }
    }

    fn device(&self) -> Device {
        self.device
    }

    /// The final hidden states (after `ln_f`, `[batch, seq, n_embd]`) and the extended cache:
    /// everything but the LM head.
    fn hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<KvCache>,
        train: bool,
    ) -> Result<(Tensor, KvCache)> {
        let ids = check_ids(input_ids, self.config.vocab_size, self.device)?;
        let plan = AttentionPlan::new(&ids, attention_mask, cache.as_ref(), self.config.n_positions)?;
        let mut past = per_layer(cache, self.blocks.len())?;
        let tok = Tensor::f_embedding(&self.wte, &ids, -1, false, false)?;
        let pos = Tensor::f_embedding(&self.wpe, &plan.positions, -1, false, false)?;
        let mut h = tok.f_add(&pos)?.f_dropout(self.config.embd_pdrop, train)?;
        let mut layers = Vec::with_capacity(self.blocks.len());
        for (i, b) in self.blocks.iter().enumerate() {
            let (a, kv) = self.attention(b, i, &b.ln_1.forward(&h)?, past[i].take(), &plan, train)?;
            // Not `+=`: that is an in-place add, which would break autograd (ln_1 saved `h`).
            h = h.f_add(&a)?;
            h = h.f_add(&self.mlp(b, &b.ln_2.forward(&h)?, train)?)?;
            layers.push(kv);
        }
        Ok((self.ln_f.forward(&h)?, KvCache::from_parts(layers, plan.key_mask, plan.seen)))
    }

    /// The tied LM head on hidden states `[..., n_embd]`, as `[rows, vocab]`. Flattened to a
    /// contiguous 2-D product with `wte` as stored: a strided 3-D `matmul` with `wteᵀ` makes
    /// libtorch expand and copy the whole embedding per row (seconds in bf16).
    fn head(&self, h: &Tensor) -> Result<Tensor> {
        let h = h.f_reshape([-1, self.config.n_embd as i64])?;
        Ok(h.f_linear::<&Tensor>(&self.wte, None)?)
    }

    /// Errors for a model that scales attention by the block's index
    /// (`scale_attn_by_inverse_layer_idx`): the renumbered blocks would change their scale.
    fn keep_blocks(&mut self, keep: &[usize]) -> Result<()> {
        if self.config.scale_attn_by_inverse_layer_idx {
            return Err(Error::InvalidInput(
                "keep_blocks: this GPT-2 scales attention by the block's index (scale_attn_by_inverse_layer_idx), \
                 which dropping blocks would change"
                    .into(),
            ));
        }
        crate::model::check_kept_blocks(keep, self.blocks.len())?;
        crate::model::retain_indices(&mut self.blocks, keep);
        self.config.n_layer = self.blocks.len();
        Ok(())
    }

    fn linears(&self) -> Vec<(String, &Linear)> {
        let mut out = Vec::with_capacity(4 * self.blocks.len());
        for (i, b) in self.blocks.iter().enumerate() {
            let p = format!("transformer.h.{i}");
            out.push((format!("{p}.attn.c_attn"), &b.c_attn));
            out.push((format!("{p}.attn.c_proj"), &b.attn_proj));
            out.push((format!("{p}.mlp.c_fc"), &b.c_fc));
            out.push((format!("{p}.mlp.c_proj"), &b.mlp_proj));
        }
        out
    }

    fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        let mut out = Vec::with_capacity(4 * self.blocks.len());
        for (i, b) in self.blocks.iter_mut().enumerate() {
            let p = format!("transformer.h.{i}");
            out.push((format!("{p}.attn.c_attn"), &mut b.c_attn));
            out.push((format!("{p}.attn.c_proj"), &mut b.attn_proj));
            out.push((format!("{p}.mlp.c_fc"), &mut b.c_fc));
            out.push((format!("{p}.mlp.c_proj"), &mut b.mlp_proj));
        }
        out
    }

    fn shallow_clone(&self) -> Box<dyn CausalLm + Send> {
        let norm =
            |n: &LayerNorm| LayerNorm { weight: n.weight.shallow_clone(), bias: n.bias.shallow_clone(), eps: n.eps };
        let blocks = self
            .blocks
            .iter()
            .map(|b| Block {
                ln_1: norm(&b.ln_1),
                c_attn: b.c_attn.shallow_clone(),
                attn_proj: b.attn_proj.shallow_clone(),
                ln_2: norm(&b.ln_2),
                c_fc: b.c_fc.shallow_clone(),
                mlp_proj: b.mlp_proj.shallow_clone(),
            })
            .collect();
        Box::new(Gpt2 {
            config: self.config.clone(),
            wte: self.wte.shallow_clone(),
            wpe: self.wpe.shallow_clone(),
            blocks,
            ln_f: norm(&self.ln_f),
            device: self.device,
        })
    }
}
