//! Generation (greedy or sampled, batched, with a KV cache, stop tokens and a logits hook) and
//! scoring of candidate continuations after a shared prefix.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::model::{CausalLm, ForwardOptions};

/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampling {
    /// The most likely token.
    Greedy,
    /// A draw from the softmax of `logits / temperature`, optionally restricted to the `top_k`
    /// most likely tokens and then to the smallest set whose probability reaches `top_p`.
    Sample {
        /// Softmax temperature (> 0).
        temperature: f64,
        /// Keep only this many most likely tokens.
        top_k: Option<usize>,
        /// Nucleus threshold in (0, 1].
        top_p: Option<f64>,
    },
}

/// Generation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateConfig {
    /// Most tokens to generate per row (stop token included).
    pub max_new_tokens: usize,
    /// Greedy or sampled decoding.
    pub sampling: Sampling,
    /// Seed of the sampling RNG (ChaCha8); the same seed gives the same draws.
    pub seed: u64,
    /// Tokens that end a row (kept as the row's last token). Empty: the model's EOS ids.
    pub stop_tokens: Vec<i64>,
    /// Id used to pad prompts on the left (never attended to).
    pub pad_token_id: i64,
}

impl GenerateConfig {
    /// Greedy decoding of up to `max_new_tokens`.
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self { max_new_tokens, sampling: Sampling::Greedy, seed: 0, stop_tokens: Vec::new(), pad_token_id: 0 }
    }

    /// Sampling at `temperature` with a seed.
    pub fn sample(max_new_tokens: usize, temperature: f64, seed: u64) -> Self {
        Self {
            sampling: Sampling::Sample { temperature, top_k: None, top_p: None },
            seed,
            ..Self::greedy(max_new_tokens)
        }
    }

    /// Restricts sampling to the `k` most likely tokens (no effect when greedy).
    pub fn with_top_k(mut self, k: usize) -> Self {
        if let Sampling::Sample { top_k, .. } = &mut self.sampling {
            *top_k = Some(k);
        }
        self
    }

    /// Nucleus sampling with threshold `p` (no effect when greedy).
    pub fn with_top_p(mut self, p: f64) -> Self {
        if let Sampling::Sample { top_p, .. } = &mut self.sampling {
            *top_p = Some(p);
        }
        self
    }

    /// Sets the stop tokens.
    pub fn with_stop_tokens(mut self, stop: impl IntoIterator<Item = i64>) -> Self {
        self.stop_tokens = stop.into_iter().collect();
        self
    }

    fn validate(&self) -> Result<()> {
        if let Sampling::Sample { temperature, top_k, top_p } = &self.sampling {
            if !temperature.is_finite() || *temperature <= 0.0 {
                return Err(Error::invalid(format!("temperature must be positive, got {temperature}")));
            }
            if *top_k == Some(0) {
                return Err(Error::invalid("top_k must be at least 1"));
            }
            if let Some(p) = top_p {
                if !(*p > 0.0 && *p <= 1.0) {
                    return Err(Error::invalid(format!("top_p must be in (0, 1], got {p}")));
                }
            }
        }
        Ok(())
    }
}

/// Why a row stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// It produced a stop token.
    StopToken,
    /// It reached `max_new_tokens`.
    MaxTokens,
    /// It reached the model's context length.
    ContextFull,
}

/// One row's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Generated tokens (the prompt excluded, the stop token included).
    pub tokens: Vec<i64>,
    /// Why generation ended.
    pub stop_reason: StopReason,
}

/// What a [`LogitsProcessor`] sees at each step.
#[derive(Debug)]
pub struct StepContext<'a> {
    /// Step index (0 for the first generated token).
    pub step: usize,
    /// Original row index (into the prompts) of each row of the logits.
    pub rows: &'a [usize],
    /// The prompts, indexed by original row.
    pub prompts: &'a [Vec<i64>],
    /// Tokens generated so far, indexed by original row.
    pub generated: &'a [Vec<i64>],
}

/// A hook that rewrites next-token logits (e.g. to constrain output to valid values): given
/// `[rows, vocab]` float logits it returns logits of the same shape; `-inf` forbids a token.
pub trait LogitsProcessor {
    /// Rewrites the logits for one step.
    fn process(&mut self, ctx: &StepContext<'_>, logits: &Tensor) -> Result<Tensor>;
}

impl<F> LogitsProcessor for F
where
    F: FnMut(&StepContext<'_>, &Tensor) -> Result<Tensor>,
{
    fn process(&mut self, ctx: &StepContext<'_>, logits: &Tensor) -> Result<Tensor> {
        self(ctx, logits)
    }
}

/// A processor that allows only a fixed set of tokens (the same for every row and step).
#[derive(Debug, Clone)]
pub struct AllowedTokens {
    allowed: Vec<i64>,
}

impl AllowedTokens {
    /// Allows exactly `allowed`.
    pub fn new(allowed: impl IntoIterator<Item = i64>) -> Self {
        Self { allowed: allowed.into_iter().collect() }
    }
}

impl LogitsProcessor for AllowedTokens {
    fn process(&mut self, _ctx: &StepContext<'_>, logits: &Tensor) -> Result<Tensor> {
        let v = logits.size().last().copied().unwrap_or(0);
        if let Some(&bad) = self.allowed.iter().find(|&&t| t < 0 || t >= v) {
            return Err(Error::TokenOutOfRange { id: bad, vocab_size: v as usize });
        }
        let idx = Tensor::from_slice(&self.allowed).f_to_device(logits.device())?;
        let keep = Tensor::f_zeros([v], (Kind::Bool, logits.device()))?.f_index_fill(0, &idx, 1)?;
        Ok(logits.f_masked_fill(&keep.f_logical_not()?, f64::NEG_INFINITY)?)
    }
}

/// Checks a batch of token sequences against the model: non-empty, ids in range, lengths
/// within `context - reserve`.
fn check_sequences(seqs: &[Vec<i64>], vocab: usize, context: usize, reserve: usize) -> Result<()> {
    if seqs.is_empty() {
        return Err(Error::invalid("no sequences given"));
    }
    for (i, s) in seqs.iter().enumerate() {
        if s.is_empty() {
            return Err(Error::invalid(format!("sequence {i} is empty")));
        }
        if s.len() + reserve > context {
            return Err(Error::SequenceTooLong { index: i, len: s.len() + reserve, max: context });
        }
        if let Some(&id) = s.iter().find(|&&t| t < 0 || t as usize >= vocab) {
            return Err(Error::TokenOutOfRange { id, vocab_size: vocab });
        }
    }
    Ok(())
}

/// Pads `seqs` to a `[n, width]` id tensor and mask; `left` puts padding first.
pub(crate) fn pad_batch(seqs: &[&[i64]], pad: i64, left: bool, device: Device) -> Result<(Tensor, Tensor)> {
    let width = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(seqs.len() * width);
    let mut mask = Vec::with_capacity(seqs.len() * width);
    for s in seqs {
        let padding = width - s.len();
        if left {
            ids.extend(std::iter::repeat_n(pad, padding));
            mask.extend(std::iter::repeat_n(0i64, padding));
        }
        ids.extend_from_slice(s);
        mask.extend(std::iter::repeat_n(1i64, s.len()));
        if !left {
            ids.extend(std::iter::repeat_n(pad, padding));
            mask.extend(std::iter::repeat_n(0i64, padding));
        }
    }
    let shape = [seqs.len() as i64, width as i64];
    Ok((
        Tensor::from_slice(&ids).f_reshape(shape)?.f_to_device(device)?,
        Tensor::from_slice(&mask).f_reshape(shape)?.f_to_device(device)?,
    ))
}

/// Picks one token from a row of logits.
fn choose(row: &[f32], sampling: &Sampling, rng: &mut ChaCha8Rng) -> Option<i64> {
    let best = row
        .iter()
        .enumerate()
        .filter(|(_, x)| !x.is_nan())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .filter(|(_, x)| x.is_finite() || **x == f32::INFINITY)?;
    let (temperature, top_k, top_p) = match sampling {
        Sampling::Greedy => return Some(best.0 as i64),
        Sampling::Sample { temperature, top_k, top_p } => (*temperature, *top_k, *top_p),
    };
    let max = *best.1 as f64;
    let mut cand: Vec<(usize, f64)> = row
        .iter()
        .enumerate()
        .filter(|(_, x)| x.is_finite())
        .map(|(i, &x)| (i, ((x as f64 - max) / temperature).exp()))
        .collect();
    cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if let Some(k) = top_k {
        cand.truncate(k.max(1));
    }
    let total: f64 = cand.iter().map(|c| c.1).sum();
    if let Some(p) = top_p {
        let mut acc = 0.0;
        let mut keep = 0;
        for c in &cand {
            acc += c.1 / total;
            keep += 1;
            if acc >= p {
                break;
            }
        }
        cand.truncate(keep.max(1));
    }
    let total: f64 = cand.iter().map(|c| c.1).sum();
    let mut u = rng.random::<f64>() * total;
    for &(i, w) in &cand {
        if u < w {
            return Some(i as i64);
        }
        u -= w;
    }
    cand.last().map(|c| c.0 as i64)
}

/// Generates continuations of `prompts` in one batch.
///
/// Prompts are left-padded and run once; each step then feeds one token per unfinished row
/// through the KV cache, and finished rows are dropped from the batch. `processor` (if any)
/// rewrites the logits before each choice. A prompt that leaves no room in the context is an
/// error; a row that fills the context stops with [`StopReason::ContextFull`].
pub fn generate<M: CausalLm + ?Sized>(
    model: &M,
    prompts: &[Vec<i64>],
    config: &GenerateConfig,
    mut processor: Option<&mut dyn LogitsProcessor>,
) -> Result<Vec<Generation>> {
    config.validate()?;
    let info = model.info();
    check_sequences(prompts, info.vocab_size, info.context_len, 1)?;
    let stop: Vec<i64> =
        if config.stop_tokens.is_empty() { info.eos_token_ids.clone() } else { config.stop_tokens.clone() };
    let device = model.device();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let n = prompts.len();
    let mut generated: Vec<Vec<i64>> = vec![Vec::new(); n];
    let mut reasons: Vec<Option<StopReason>> = vec![None; n];
    if config.max_new_tokens == 0 {
        return Ok(generated
            .into_iter()
            .map(|tokens| Generation { tokens, stop_reason: StopReason::MaxTokens })
            .collect());
    }
    let refs: Vec<&[i64]> = prompts.iter().map(|p| p.as_slice()).collect();
    let (ids, mask) = pad_batch(&refs, config.pad_token_id, true, device)?;
    let _guard = tch::no_grad_guard();
    let mut out = model.forward(&ids, Some(&mask), None, ForwardOptions::eval().last_only())?;
    let mut rows: Vec<usize> = (0..n).collect();
    let mut lens: Vec<usize> = prompts.iter().map(|p| p.len()).collect();
    for step in 0..config.max_new_tokens {
        let mut logits = out.logits.f_select(1, -1)?.f_to_kind(Kind::Float)?;
        if let Some(p) = processor.as_deref_mut() {
            let ctx = StepContext { step, rows: &rows, prompts, generated: &generated };
            logits = p.process(&ctx, &logits)?;
            if logits.size() != [rows.len() as i64, info.vocab_size as i64] {
                return Err(Error::invalid(format!("logits processor returned shape {:?}", logits.size())));
            }
        }
        let host = Vec::<f32>::try_from(&logits.f_to_device(Device::Cpu)?.f_contiguous()?.f_view([-1])?)?;
        let v = info.vocab_size;
        let mut next = Vec::with_capacity(rows.len());
        let mut keep = Vec::with_capacity(rows.len());
        for (b, &r) in rows.iter().enumerate() {
            let tok = choose(&host[b * v..(b + 1) * v], &config.sampling, &mut rng)
                .ok_or_else(|| Error::invalid(format!("every token of row {r} is forbidden at step {step}")))?;
            generated[r].push(tok);
            lens[r] += 1;
            if stop.contains(&tok) {
                reasons[r] = Some(StopReason::StopToken);
            } else if step + 1 == config.max_new_tokens {
                reasons[r] = Some(StopReason::MaxTokens);
            } else if lens[r] >= info.context_len {
                reasons[r] = Some(StopReason::ContextFull);
            } else {
                keep.push(b as i64);
                next.push(tok);
            }
        }
        if keep.is_empty() {
            break;
        }
        let cache = if keep.len() == rows.len() { out.cache } else { out.cache.select_rows(&keep)? };
        rows = keep.iter().map(|&b| rows[b as usize]).collect();
        let ids = Tensor::from_slice(&next).f_view([-1, 1])?.f_to_device(device)?;
        out = model.forward(&ids, None, Some(cache), ForwardOptions::eval())?;
    }
    Ok(generated
        .into_iter()
        .zip(reasons)
        .map(|(tokens, r)| Generation { tokens, stop_reason: r.unwrap_or(StopReason::MaxTokens) })
        .collect())
}

/// Log-likelihood of one candidate continuation.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredContinuation {
    /// `log p(token | prefix, earlier candidate tokens)` for each candidate token.
    pub token_logprobs: Vec<f32>,
    /// Their sum (0 for an empty candidate).
    pub total: f64,
}

/// Scores `candidates` as continuations of `prefix`: the prefix runs once, then candidates run
/// in batches of `batch_size` on copies of its cache. Returns natural-log likelihoods in the
/// candidates' order.
pub fn score_continuations<M: CausalLm + ?Sized>(
    model: &M,
    prefix: &[i64],
    candidates: &[Vec<i64>],
    batch_size: usize,
) -> Result<Vec<ScoredContinuation>> {
    let info = model.info();
    let longest = candidates.iter().map(Vec::len).max().unwrap_or(0);
    check_sequences(&[prefix.to_vec()], info.vocab_size, info.context_len, longest)?;
    for c in candidates {
        if let Some(&id) = c.iter().find(|&&t| t < 0 || t as usize >= info.vocab_size) {
            return Err(Error::TokenOutOfRange { id, vocab_size: info.vocab_size });
        }
    }
    let device = model.device();
    let _guard = tch::no_grad_guard();
    let ids = Tensor::from_slice(prefix).f_view([1, -1])?.f_to_device(device)?;
    let out = model.forward(&ids, None, None, ForwardOptions::eval().last_only())?;
    let first = out.logits.f_to_kind(Kind::Float)?.f_log_softmax(-1, Kind::Float)?.f_view([-1])?;
    let first = Vec::<f32>::try_from(&first.f_to_device(Device::Cpu)?)?;
    let mut results = Vec::with_capacity(candidates.len());
    for chunk in candidates.chunks(batch_size.max(1)) {
        let nonempty: Vec<&[i64]> = chunk.iter().filter(|c| !c.is_empty()).map(|c| c.as_slice()).collect();
        let mut scored = Vec::new();
        if !nonempty.is_empty() {
            let (ids, mask) = pad_batch(&nonempty, 0, false, device)?;
            let cache = out.cache.select_rows(&vec![0; nonempty.len()])?;
            let o = model.forward(&ids, Some(&mask), Some(cache), ForwardOptions::eval())?;
            // Log-prob of token j+1 given everything before it sits at position j.
            let lp = o.logits.f_to_kind(Kind::Float)?.f_log_softmax(-1, Kind::Float)?;
            let w = ids.size()[1];
            let targets = if w > 1 {
                let next = ids.f_narrow(1, 1, w - 1)?.f_unsqueeze(-1)?;
                lp.f_narrow(1, 0, w - 1)?.f_gather(2, &next, false)?.f_squeeze_dim(-1)?
            } else {
                Tensor::f_zeros([nonempty.len() as i64, 0], (Kind::Float, device))?
            };
            let host = Vec::<f32>::try_from(&targets.f_to_device(Device::Cpu)?.f_contiguous()?.f_view([-1])?)?;
            let stride = (w - 1).max(0) as usize;
            for (i, c) in nonempty.iter().enumerate() {
                let mut lps = Vec::with_capacity(c.len());
                lps.push(first[c[0] as usize]);
                lps.extend_from_slice(&host[i * stride..i * stride + c.len() - 1]);
                scored.push(lps);
            }
        }
        let mut it = scored.into_iter();
        for c in chunk {
            let lps = if c.is_empty() { Vec::new() } else { it.next().unwrap_or_default() };
            let total = lps.iter().map(|&x| x as f64).sum();
            results.push(ScoredContinuation { token_logprobs: lps, total });
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_picks_argmax_and_rejects_all_forbidden() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(choose(&[0.0, 3.0, 1.0], &Sampling::Greedy, &mut rng), Some(1));
        assert_eq!(choose(&[f32::NEG_INFINITY; 3], &Sampling::Greedy, &mut rng), None);
    }

    #[test]
    fn top_k_one_is_greedy_and_sampling_is_seeded() {
        let row = [0.5f32, 2.0, 1.9, -1.0];
        let s = Sampling::Sample { temperature: 1.0, top_k: Some(1), top_p: None };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..20 {
            assert_eq!(choose(&row, &s, &mut rng), Some(1));
        }
        let s = Sampling::Sample { temperature: 1.0, top_k: None, top_p: Some(0.9) };
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..50).map(|_| choose(&row, &s, &mut rng).unwrap_or(-1)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert!(draw(7).iter().all(|&t| t == 1 || t == 2 || t == 0), "top-p drops the tail");
        assert!(!draw(7).contains(&3));
    }
}
