//! The [`CausalLm`] abstraction shared by GPT-2 and (later) the Llama family, so that adapters,
//! the trainer and the generator work with either.

use tch::{Device, Tensor};

use crate::cache::KvCache;
use crate::error::Result;
use crate::linear::Linear;

/// Static facts about a model that adapters, trainer and generator need.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Family name, e.g. `"gpt2"`; recorded in adapter configs.
    pub family: String,
    /// Vocabulary size (rows of the logits).
    pub vocab_size: usize,
    /// Longest sequence the model accepts (positions), cache included.
    pub context_len: usize,
    /// End-of-sequence token ids.
    pub eos_token_ids: Vec<i64>,
    /// Whether the family stores linear weights as `[in, out]` (HF `Conv1D`); PEFT records this
    /// as `fan_in_fan_out`.
    pub fan_in_fan_out: bool,
    /// Modules LoRA targets by default (`["c_attn"]` for GPT-2).
    pub default_lora_targets: Vec<String>,
}

/// How a forward pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForwardOptions {
    /// Training mode: dropout on. Evaluation otherwise.
    pub train: bool,
    /// Only compute logits for the last position of each row (generation prefill).
    pub last_logits_only: bool,
}

impl ForwardOptions {
    /// Evaluation, logits for every position.
    pub fn eval() -> Self {
        Self::default()
    }

    /// Training (dropout on), logits for every position.
    pub fn train() -> Self {
        Self { train: true, last_logits_only: false }
    }

    /// Only the last position's logits.
    pub fn last_only(mut self) -> Self {
        self.last_logits_only = true;
        self
    }
}

/// The result of a forward pass.
#[derive(Debug)]
pub struct ForwardOutput {
    /// `[batch, seq, vocab]` logits, or `[batch, 1, vocab]` with
    /// [`ForwardOptions::last_logits_only`].
    pub logits: Tensor,
    /// The cache extended with this call's keys and values.
    pub cache: KvCache,
}

/// A decoder-only language model: token ids in, next-token logits out, with an explicit cache.
///
/// Batches may be padded on either side: `attention_mask` (`[batch, seq]`, 1 = token,
/// 0 = padding) keeps padding out of attention, and position ids count real tokens only, so a
/// padded row gives the same logits as the row alone. Logits at padding positions are
/// meaningless.
pub trait CausalLm {
    /// Static facts about the model.
    fn info(&self) -> ModelInfo;

    /// The device the weights live on.
    fn device(&self) -> Device;

    /// Runs `input_ids` (`[batch, seq]`, i64) after what `cache` holds (if any) and returns the
    /// logits and the extended cache.
    ///
    /// Errors (instead of panicking) on ids outside the vocabulary, shape mismatches and rows
    /// that would exceed [`ModelInfo::context_len`].
    fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<KvCache>,
        options: ForwardOptions,
    ) -> Result<ForwardOutput>;

    /// Logits at chosen positions only: `positions` (`[n]`, i64) index the flattened
    /// `[batch * seq]` positions of `input_ids`, and the result is `[n, vocab]`, row `i` being
    /// the logits at `positions[i]` (what [`forward`](Self::forward) gives there). No cache.
    ///
    /// The trainer takes its loss this way, so a model that applies its LM head only at these
    /// positions (GPT-2 does) skips the head's cost everywhere else. The default runs
    /// [`forward`](Self::forward) and selects rows; `options.last_logits_only` is ignored.
    fn logits_at(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        positions: &Tensor,
        options: ForwardOptions,
    ) -> Result<Tensor> {
        let options = ForwardOptions { last_logits_only: false, ..options };
        let out = self.forward(input_ids, attention_mask, None, options)?;
        let v = out.logits.size().last().copied().unwrap_or(0);
        Ok(out.logits.f_reshape([-1, v])?.f_index_select(0, positions)?)
    }

    /// Every linear layer adapters can target, by its HF module path
    /// (e.g. `transformer.h.0.attn.c_attn`), in a fixed order.
    fn linears(&self) -> Vec<(String, &Linear)>;

    /// Mutable access to the same layers, in the same order.
    fn linears_mut(&mut self) -> Vec<(String, &mut Linear)>;

    /// Names of the targetable linear layers.
    fn linear_names(&self) -> Vec<String> {
        self.linears().into_iter().map(|(n, _)| n).collect()
    }
}

/// A boxed model is a model, so callers can pick the family at run time
/// (`LoraModel<Box<dyn CausalLm + Send>>`).
impl<M: CausalLm + ?Sized> CausalLm for Box<M> {
    fn info(&self) -> ModelInfo {
        (**self).info()
    }

    fn device(&self) -> Device {
        (**self).device()
    }

    fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<KvCache>,
        options: ForwardOptions,
    ) -> Result<ForwardOutput> {
        (**self).forward(input_ids, attention_mask, cache, options)
    }

    fn logits_at(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        positions: &Tensor,
        options: ForwardOptions,
    ) -> Result<Tensor> {
        (**self).logits_at(input_ids, attention_mask, positions, options)
    }

    fn linears(&self) -> Vec<(String, &Linear)> {
        (**self).linears()
    }

    fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        (**self).linears_mut()
    }
}
