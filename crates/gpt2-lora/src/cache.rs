//! The key/value cache: a value handed to [`CausalLm::forward`](crate::CausalLm::forward) and
//! handed back, extended, so a caller decides when to keep, copy or drop it.
//!
//! Besides per-layer keys and values, the cache remembers which cached positions were padding
//! and how many real tokens each row has seen (its next position id), so batched left- or
//! right-padded decoding gives each row the same result as running it alone.

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// Cached keys and values of one attention layer, `[batch, kv_heads, seq, head_dim]` each.
#[derive(Debug)]
pub struct LayerKv {
    /// Keys.
    pub k: Tensor,
    /// Values.
    pub v: Tensor,
}

/// The key/value cache of a whole model.
#[derive(Debug)]
pub struct KvCache {
    layers: Vec<LayerKv>,
    /// `[batch, seq]` bool: which cached positions are real tokens.
    key_mask: Tensor,
    /// `[batch]` i64: real tokens seen per row, i.e. the next position id.
    seen: Tensor,
}

impl KvCache {
    /// Assembles a cache; used by model implementations.
    pub fn from_parts(layers: Vec<LayerKv>, key_mask: Tensor, seen: Tensor) -> Self {
        Self { layers, key_mask, seen }
    }

    /// The per-layer keys and values.
    pub fn layers(&self) -> &[LayerKv] {
        &self.layers
    }

    /// Splits the cache into its parts (layers, key mask, seen counts); used by model
    /// implementations.
    pub fn into_parts(self) -> (Vec<LayerKv>, Tensor, Tensor) {
        (self.layers, self.key_mask, self.seen)
    }

    /// Number of cached positions (padding included).
    pub fn seq_len(&self) -> usize {
        self.key_mask.size().get(1).copied().unwrap_or(0) as usize
    }

    /// Number of rows.
    pub fn batch_size(&self) -> usize {
        self.key_mask.size().first().copied().unwrap_or(0) as usize
    }

    /// Real tokens seen by each row (the next position id of each row).
    pub fn seen(&self) -> Result<Vec<i64>> {
        Ok(Vec::<i64>::try_from(&self.seen.to_device(Device::Cpu))?)
    }

    /// Another handle on the same tensors (no copy).
    pub(crate) fn share(&self) -> KvCache {
        KvCache {
            layers: self.layers.iter().map(|l| LayerKv { k: l.k.shallow_clone(), v: l.v.shallow_clone() }).collect(),
            key_mask: self.key_mask.shallow_clone(),
            seen: self.seen.shallow_clone(),
        }
    }

    /// A cache with the given rows, in the given order (rows may repeat): how a shared prefix is
    /// fanned out to several candidates, or finished rows are dropped.
    pub fn select_rows(&self, rows: &[i64]) -> Result<KvCache> {
        let n = self.batch_size() as i64;
        if let Some(&bad) = rows.iter().find(|&&r| r < 0 || r >= n) {
            return Err(Error::invalid(format!("cache row {bad} out of range for batch of {n}")));
        }
        let idx = Tensor::from_slice(rows).f_to_device(self.key_mask.device())?;
        let layers = self
            .layers
            .iter()
            .map(|l| Ok(LayerKv { k: l.k.f_index_select(0, &idx)?, v: l.v.f_index_select(0, &idx)? }))
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache {
            layers,
            key_mask: self.key_mask.f_index_select(0, &idx)?,
            seen: self.seen.f_index_select(0, &idx)?,
        })
    }
}

impl KvCache {
    /// Stacks caches row-wise, in order: each is padded on the right to the widest one with
    /// masked positions (keys and values zero, key mask false), which attention never reads and
    /// position ids do not count. How prompts that ended at different lengths share one cache.
    pub fn cat_rows(parts: &[KvCache]) -> Result<KvCache> {
        let first = parts.first().ok_or_else(|| Error::invalid("no caches to stack"))?;
        let n_layers = first.layers.len();
        if let Some(bad) = parts.iter().find(|p| p.layers.len() != n_layers) {
            return Err(Error::invalid(format!(
                "caches of {} and {n_layers} layers cannot be stacked",
                bad.layers.len()
            )));
        }
        let width = parts.iter().map(KvCache::seq_len).max().unwrap_or(0) as i64;
        let pad = |t: &Tensor, dim: i64| -> Result<Tensor> {
            let mut size = t.size();
            let missing = width - size[dim as usize];
            if missing == 0 {
                return Ok(t.shallow_clone());
            }
            size[dim as usize] = missing;
            let zeros = Tensor::f_zeros(size.as_slice(), (t.kind(), t.device()))?;
            Ok(Tensor::f_cat(&[t, &zeros], dim)?)
        };
        let mut layers = Vec::with_capacity(n_layers);
        for l in 0..n_layers {
            let ks = parts.iter().map(|p| pad(&p.layers[l].k, 2)).collect::<Result<Vec<_>>>()?;
            let vs = parts.iter().map(|p| pad(&p.layers[l].v, 2)).collect::<Result<Vec<_>>>()?;
            layers.push(LayerKv { k: Tensor::f_cat(&ks, 0)?, v: Tensor::f_cat(&vs, 0)? });
        }
        let masks = parts.iter().map(|p| pad(&p.key_mask, 1)).collect::<Result<Vec<_>>>()?;
        let seen: Vec<&Tensor> = parts.iter().map(|p| &p.seen).collect();
        Ok(KvCache { layers, key_mask: Tensor::f_cat(&masks, 0)?, seen: Tensor::f_cat(&seen, 0)? })
    }
}

/// Splits a cache into one optional entry per layer (all `None` without a cache), checking it
/// was made by a model with `n_layers` layers.
pub(crate) fn per_layer(cache: Option<KvCache>, n_layers: usize) -> Result<Vec<Option<LayerKv>>> {
    match cache {
        Some(c) => {
            let (layers, _, _) = c.into_parts();
            if layers.len() != n_layers {
                return Err(Error::invalid(format!("cache has {} layers, model has {n_layers}", layers.len())));
            }
            Ok(layers.into_iter().map(Some).collect())
        }
        None => Ok((0..n_layers).map(|_| None).collect()),
    }
}

/// What an attention layer needs for one forward call: position ids of the new tokens, the mask
/// over all keys, and the updated bookkeeping for the returned cache.
pub(crate) struct AttentionPlan {
    /// `[batch, new]` i64 position ids of the new tokens.
    pub positions: Tensor,
    /// `[batch, 1, new, past + new]` bool (true = may attend), or `None` when plain causal
    /// attention applies (no past, no padding) and the fused causal kernel can be used.
    pub mask: Option<Tensor>,
    /// `[batch, past + new]` bool key mask for the returned cache.
    pub key_mask: Tensor,
    /// `[batch]` seen counts for the returned cache.
    pub seen: Tensor,
}

impl AttentionPlan {
    /// Scaled dot-product attention of `q` (`[batch, heads, new, head_dim]`) over `k`, `v`
    /// (`[batch, kv_heads, keys, head_dim]`, grouped when `kv_heads < heads`) under this plan's
    /// mask (or the fused causal kernel), as `[batch, new, heads * head_dim]` in `q`'s kind.
    /// libtorch's CPU attention (backward especially) is several times slower in bf16/f16 than
    /// in f32, and attention is a small share of the FLOPs: it runs in f32.
    pub(crate) fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, dropout: f64, scale: f64) -> Result<Tensor> {
        let kind = q.kind();
        let half = matches!(kind, Kind::BFloat16 | Kind::Half);
        let up =
            |z: &Tensor| -> Result<Tensor> { Ok(if half { z.f_to_kind(Kind::Float)? } else { z.shallow_clone() }) };
        let (qs, ks) = (q.size(), k.size());
        let [bsz, heads, t, hd] = qs[..] else {
            return Err(Error::invalid(format!("attention queries must be [batch, heads, new, head_dim], got {qs:?}")));
        };
        let y = Tensor::f_scaled_dot_product_attention(
            &up(q)?,
            &up(k)?,
            &up(v)?,
            self.mask.as_ref(),
            dropout,
            self.mask.is_none() && t > 1,
            scale,
            ks.get(1).is_some_and(|&kv_heads| kv_heads != heads),
        )?;
        let y = if half { y.f_to_kind(kind)? } else { y };
        Ok(y.f_transpose(1, 2)?.f_contiguous()?.f_view([bsz, t, heads * hd])?)
    }

    /// Plans attention for `input_ids` `[batch, new]` with an optional `[batch, new]` mask
    /// (1 = token, 0 = padding) after `cache`. Checks shapes and that every row stays within
    /// `context` positions.
    pub(crate) fn new(
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<&KvCache>,
        context: usize,
    ) -> Result<Self> {
        let size = input_ids.size();
        let [b, t] = size[..] else {
            return Err(Error::invalid(format!("input_ids must be [batch, seq], got {size:?}")));
        };
        if b == 0 || t == 0 {
            return Err(Error::invalid(format!("input_ids is empty ({size:?})")));
        }
        let device = input_ids.device();
        let mask = match attention_mask {
            Some(m) => {
                if m.size() != size {
                    return Err(Error::invalid(format!("attention_mask has shape {:?}, input_ids {size:?}", m.size())));
                }
                m.f_to_device(device)?.f_ne(0)?
            }
            None => Tensor::f_ones([b, t], (Kind::Bool, device))?,
        };
        let (past_mask, past_seen) = match cache {
            Some(c) => {
                if c.batch_size() as i64 != b {
                    return Err(Error::invalid(format!("cache holds {} rows, input has {b}", c.batch_size())));
                }
                (Some(&c.key_mask), c.seen.shallow_clone())
            }
            None => (None, Tensor::f_zeros([b], (Kind::Int64, device))?),
        };
        let past = past_mask.map(|m| m.size()[1]).unwrap_or(0);
        let counts = mask.f_sum_dim_intlist(1, false, Kind::Int64)?;
        let seen = past_seen.f_add(&counts)?;
        let seen_host = Vec::<i64>::try_from(&seen.f_to_device(Device::Cpu)?)?;
        if let Some((index, &len)) = seen_host.iter().enumerate().find(|(_, &s)| s as usize > context) {
            return Err(Error::SequenceTooLong { index, len: len as usize, max: context });
        }
        let positions =
            past_seen.f_unsqueeze(1)?.f_add(&mask.f_cumsum(1, Kind::Int64)?)?.f_sub_scalar(1)?.f_clamp_min(0)?;
        let key_mask = match past_mask {
            Some(pm) => Tensor::f_cat(&[pm, &mask], 1)?,
            None => mask.shallow_clone(),
        };
        let all_real = bool::try_from(&mask.f_all()?)?;
        let attn_mask = if past == 0 && all_real {
            None
        } else {
            // Query i sits at absolute index past + i and may see keys j <= past + i that are
            // real tokens. It may always see itself, so that padding queries never have an empty
            // row (which would give NaN and leak into later layers).
            let s = past + t;
            let q_idx = Tensor::f_arange_start(past, past + t, (Kind::Int64, device))?.f_unsqueeze(1)?;
            let k_idx = Tensor::f_arange(s, (Kind::Int64, device))?.f_unsqueeze(0)?;
            let causal = k_idx.f_le_tensor(&q_idx)?; // [t, s]
            let diag = k_idx.f_eq_tensor(&q_idx)?; // [t, s]
            let allowed =
                causal.f_unsqueeze(0)?.f_logical_and(&key_mask.f_unsqueeze(1)?)?.f_logical_or(&diag.f_unsqueeze(0)?)?;
            Some(allowed.f_unsqueeze(1)?)
        };
        Ok(Self { positions, mask: attn_mask, key_mask, seen })
    }
}
