//! The [`CausalLm`] abstraction shared by GPT-2 and (later) the Llama family, so that adapters,
//! the trainer and the generator work with either.

use tch::{Device, Tensor};

use crate::cache::KvCache;
use crate::error::{Error, Result};
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

    /// The final normalised hidden states (`[batch, seq, hidden]`) of `input_ids`
    /// (`[batch, seq]`, i64) run after what `cache` holds (if any), and the extended cache:
    /// everything but the LM head. `train` turns dropout on.
    ///
    /// Errors (instead of panicking) on ids outside the vocabulary, shape mismatches and rows
    /// that would exceed [`ModelInfo::context_len`].
    fn hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<KvCache>,
        train: bool,
    ) -> Result<(Tensor, KvCache)>;

    /// The LM head: logits (`[rows, vocab]`) of hidden states (`[rows, hidden]`).
    fn head(&self, hidden: &Tensor) -> Result<Tensor>;

    /// Runs `input_ids` (`[batch, seq]`, i64) after what `cache` holds (if any) and returns the
    /// logits and the extended cache: [`hidden`](Self::hidden), then [`head`](Self::head).
    fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<KvCache>,
        options: ForwardOptions,
    ) -> Result<ForwardOutput> {
        let (mut h, cache) = self.hidden(input_ids, attention_mask, cache, options.train)?;
        if options.last_logits_only {
            h = h.f_select(1, -1)?.f_unsqueeze(1)?;
        }
        let (b, t, e) = h.size3()?;
        let logits = self.head(&h.f_reshape([b * t, e])?)?.f_reshape([b, t, -1])?;
        Ok(ForwardOutput { logits, cache })
    }

    /// Hidden states at chosen positions only: `positions` (`[n]`, i64) index the flattened
    /// `[batch * seq]` positions of `input_ids`, and the result is `[n, hidden]`. No cache.
    /// What a task head on top of the model (a classifier, a regressor) reads.
    fn hidden_at(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        positions: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let (h, _) = self.hidden(input_ids, attention_mask, None, train)?;
        let e = h.size().last().copied().unwrap_or(0);
        Ok(h.f_reshape([-1, e])?.f_index_select(0, positions)?)
    }

    /// Logits at chosen positions only (`[n, vocab]`, row `i` being what
    /// [`forward`](Self::forward) gives at flattened position `positions[i]`); the LM head runs
    /// at those positions only, which is how the trainer takes its loss. No cache;
    /// `options.last_logits_only` is ignored.
    fn logits_at(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        positions: &Tensor,
        options: ForwardOptions,
    ) -> Result<Tensor> {
        self.head(&self.hidden_at(input_ids, attention_mask, positions, options.train)?)
    }

    /// Keeps only the transformer blocks at `keep` (strictly increasing indices of the current
    /// blocks) and drops the rest: a shallower model, each pass through it cheaper (the
    /// embedding and LM head cost what they did). Gromov et al. (2024, "The Unreasonable
    /// Ineffectiveness of the Deeper Layers") found that LLMs lose little when deep blocks short
    /// of the last are dropped and the rest is fine-tuned with LoRA. Drop blocks before attaching adapters; the blocks are
    /// renumbered from 0 (adapter and weight names follow the new numbering). A model that
    /// cannot drop blocks says so.
    fn keep_blocks(&mut self, keep: &[usize]) -> Result<()> {
        let _ = keep;
        Err(Error::InvalidInput(format!("{} models cannot drop blocks", self.info().family)))
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

    /// Number of transformer blocks (one more than the highest block index of a linear layer's
    /// path, [`llm_config::block_index`]).
    fn num_blocks(&self) -> usize {
        self.linear_names().iter().filter_map(|n| llm_config::block_index(n)).max().map_or(0, |i| i + 1)
    }

    /// Another handle on the same weights, adapters and merge state included, without copying
    /// any (tch's `shallow_clone` of every tensor): how several threads run one model, since a
    /// tensor may move to another thread but not be shared by two. The handles see each
    /// other's in-place changes (a training step, a merge), so use them for inference only.
    fn shallow_clone(&self) -> Box<dyn CausalLm + Send>;
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

    fn hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<KvCache>,
        train: bool,
    ) -> Result<(Tensor, KvCache)> {
        (**self).hidden(input_ids, attention_mask, cache, train)
    }

    fn head(&self, hidden: &Tensor) -> Result<Tensor> {
        (**self).head(hidden)
    }

    fn keep_blocks(&mut self, keep: &[usize]) -> Result<()> {
        (**self).keep_blocks(keep)
    }

    fn linears(&self) -> Vec<(String, &Linear)> {
        (**self).linears()
    }

    fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        (**self).linears_mut()
    }

    fn shallow_clone(&self) -> Box<dyn CausalLm + Send> {
        (**self).shallow_clone()
    }
}

/// Checks the `keep` of [`CausalLm::keep_blocks`] against a model of `blocks` blocks: not
/// empty, strictly increasing, every index a block.
pub(crate) fn check_kept_blocks(keep: &[usize], blocks: usize) -> Result<()> {
    if keep.is_empty() {
        return Err(Error::InvalidInput("keep_blocks: keep at least one block".into()));
    }
    if let Some(w) = keep.windows(2).find(|w| w[0] >= w[1]) {
        return Err(Error::InvalidInput(format!(
            "keep_blocks: block indices must be strictly increasing, got {} then {}",
            w[0], w[1]
        )));
    }
    match keep.last() {
        Some(&last) if last >= blocks => Err(Error::InvalidInput(format!(
            "keep_blocks: the model has {blocks} blocks (0..{}), got index {last}",
            blocks.saturating_sub(1)
        ))),
        _ => Ok(()),
    }
}

/// `items` at the indices of `keep` (checked by [`check_kept_blocks`]), in order.
pub(crate) fn retain_indices<T>(items: &mut Vec<T>, keep: &[usize]) {
    let all = std::mem::take(items);
    items.extend(all.into_iter().enumerate().filter(|(i, _)| keep.binary_search(i).is_ok()).map(|(_, x)| x));
}
