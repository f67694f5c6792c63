//! Fine-tuning the adapters of a [`LoraModel`]: AdamW with warm-up and decay, gradient
//! clipping and accumulation, seeded micro-batches (`batches`), a per-token loss mask, evaluation,
//! atomic checkpoints and exact resume, a progress bar with tokens/s. Everything random
//! (data order, dropout) derives from one seed and the step number, so a run resumed from a
//! checkpoint ends with the same adapters as one that was never interrupted.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rec_progress::Progress;
use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

use crate::batches::{plan_epoch, steps_for_epochs, StepPlan};
use crate::error::{Error, Result};
use crate::generate::pad_batch;
use crate::io::{read_json, write_json, write_safetensors, TensorFile};
use crate::lora::{LoraConfig, LoraModel};
use crate::model::{CausalLm, ForwardOptions};
use crate::optim::AdamW;
use crate::seed::SeededRng;

/// One training sequence. `loss_mask[t]` says whether token `t` is a target (predicted from the
/// tokens before it); `loss_mask[0]` is ignored since nothing predicts the first token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// Token ids.
    pub input_ids: Vec<i64>,
    /// Which tokens the loss covers; same length as `input_ids`.
    pub loss_mask: Vec<bool>,
}

impl Example {
    /// Checks that ids and mask have the same length and the sequence is not empty.
    pub fn try_new(input_ids: Vec<i64>, loss_mask: Vec<bool>) -> Result<Self> {
        if input_ids.len() != loss_mask.len() {
            return Err(Error::invalid(format!(
                "example has {} ids but {} mask entries",
                input_ids.len(),
                loss_mask.len()
            )));
        }
        if input_ids.is_empty() {
            return Err(Error::invalid("example is empty"));
        }
        Ok(Self { input_ids, loss_mask })
    }

    /// Prompt followed by completion; the loss covers the completion only.
    pub fn prompt_completion(prompt: &[i64], completion: &[i64]) -> Self {
        let mut input_ids = prompt.to_vec();
        input_ids.extend_from_slice(completion);
        let mut loss_mask = vec![false; prompt.len()];
        loss_mask.extend(std::iter::repeat_n(true, completion.len()));
        Self { input_ids, loss_mask }
    }

    /// Plain language modelling: every token after the first is a target.
    pub fn language_model(ids: &[i64]) -> Self {
        Self { input_ids: ids.to_vec(), loss_mask: ids.iter().enumerate().map(|(i, _)| i > 0).collect() }
    }

    fn targets(&self) -> usize {
        self.loss_mask.iter().skip(1).filter(|&&m| m).count()
    }
}

/// What a [`Trainer::train_with`] hook tells the trainer after a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Flow {
    /// Take the next step.
    Continue,
    /// End training now (early stopping).
    Stop,
    /// Go on under a time limit of this many seconds from the run's start, in place of
    /// [`TrainConfig::max_seconds`] (set or not): the schedule is laid out again over the steps
    /// that fit, and the run ends now if the time is already up. For a hook that learns during
    /// the run how much time the work after it will need.
    Limit(f64),
}

pub use llm_config::TrainConfig;

/// The settings a resumed run must share with the run that wrote the checkpoint.
fn determinism_key(c: &TrainConfig) -> serde_json::Value {
    serde_json::json!({
        "learning_rate": c.learning_rate, "weight_decay": c.weight_decay,
        "betas": c.betas, "eps": c.eps, "schedule": c.schedule,
        "warmup_steps": c.warmup_steps, "epochs": c.epochs, "max_steps": c.max_steps,
        "batch_size": c.batch_size, "max_batch_tokens": c.max_batch_tokens,
        "grad_accum_steps": c.grad_accum_steps, "max_grad_norm": c.max_grad_norm,
        "seed": c.seed, "bucket_by_length": c.bucket_by_length,
    })
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Optimizer steps completed (including those before a resume).
    pub steps: usize,
    /// `(step, mean loss over the step's target tokens)` for each step this run took.
    pub train_losses: Vec<(usize, f64)>,
    /// `(step, evaluation loss)`.
    pub eval_losses: Vec<(usize, f64)>,
    /// Tokens (padding excluded) processed by this run.
    pub tokens: u64,
    /// Positions run, padding included: each micro-batch's rows times its longest row.
    #[serde(default)]
    pub padded_tokens: u64,
    /// Throughput of this run, padding excluded.
    pub tokens_per_second: f64,
    /// The steps the learning-rate schedule was laid out over when the run ended: `max_steps`
    /// (or the epochs' steps), fewer when [`TrainConfig::max_seconds`] re-planned it to the
    /// steps the time allowed.
    #[serde(default)]
    pub planned_steps: usize,
    /// `max_seconds` ended the run before its step budget.
    #[serde(default)]
    pub time_limited: bool,
    /// The learning rate of the run's last step.
    #[serde(default)]
    pub last_learning_rate: f64,
    /// The last checkpoint written, if any.
    pub last_checkpoint: Option<PathBuf>,
}

/// Saved beside each checkpoint's adapter and optimizer state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainerState {
    step: usize,
    total_steps: usize,
    determinism: serde_json::Value,
    data_fingerprint: String,
    config: TrainConfig,
    lora: LoraConfig,
    train_losses: Vec<(usize, f64)>,
}

const STATE_FILE: &str = "trainer_state.json";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";

fn fingerprint(data: &[Example]) -> String {
    // FNV-1a over lengths, ids and masks: cheap, stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(data.len() as u64);
    for e in data {
        eat(e.input_ids.len() as u64);
        for (&t, &m) in e.input_ids.iter().zip(&e.loss_mask) {
            eat(t as u64 ^ ((m as u64) << 63));
        }
    }
    format!("{}:{h:016x}", data.len())
}

/// Summed cross-entropy over the target tokens of `batch` and their count.
///
/// Rows are right-padded and run without an attention mask: under causal attention a real
/// token only sees the tokens before it, which are all real, so its logits are those of the row
/// alone, and the model can use its fused causal kernel. The LM head runs only at the positions
/// that predict a target ([`CausalLm::logits_at`]).
fn batch_loss<M: CausalLm + ?Sized>(model: &M, batch: &[&Example], train: bool) -> Result<(Tensor, usize)> {
    let device = model.device();
    let ids: Vec<&[i64]> = batch.iter().map(|e| e.input_ids.as_slice()).collect();
    let (ids_t, _) = pad_batch(&ids, 0, false, device)?;
    let width = ids_t.size()[1] as usize;
    let mut targets = Vec::new();
    let mut positions = Vec::new();
    for (row, e) in batch.iter().enumerate() {
        for (t, (&id, &m)) in e.input_ids.iter().zip(&e.loss_mask).enumerate().skip(1) {
            if m {
                // The logits at position t - 1 predict token t.
                positions.push((row * width + t - 1) as i64);
                targets.push(id);
            }
        }
    }
    let count = targets.len();
    if count == 0 {
        return Ok((Tensor::f_zeros([], (Kind::Float, device))?, 0));
    }
    let options = if train { ForwardOptions::train() } else { ForwardOptions::eval() };
    let positions = Tensor::from_slice(&positions).f_to_device(device)?;
    let logits = model.logits_at(&ids_t, None, &positions, options)?.f_to_kind(Kind::Float)?;
    let targets = Tensor::from_slice(&targets).f_to_device(device)?;
    let loss = logits.f_cross_entropy_loss::<Tensor>(&targets, None, Reduction::Sum, -100, 0.0)?;
    Ok((loss, count))
}

/// Trains the adapters of a [`LoraModel`].
#[derive(Debug, Clone)]
pub struct Trainer {
    config: TrainConfig,
}

impl Trainer {
    /// A trainer with validated settings.
    pub fn new(config: TrainConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The micro-batches (indices into `data`) of epoch `epoch`, in the order training takes
    /// them: optimizer step `s` uses micro-batches `s * grad_accum_steps ..` of the
    /// concatenated epochs. Lets another implementation replay the same batches.
    pub fn batch_plan(&self, data: &[Example], epoch: usize) -> Vec<Vec<usize>> {
        let lengths: Vec<usize> = data.iter().map(|e| e.input_ids.len()).collect();
        plan_epoch(&lengths, &self.config, epoch)
    }

    /// Mean loss over the target tokens of `data` (evaluation mode, no gradients).
    pub fn evaluate<M: CausalLm + ?Sized>(&self, model: &M, data: &[Example]) -> Result<f64> {
        check_examples(model, data)?;
        let _guard = tch::no_grad_guard();
        let mut order: Vec<usize> = (0..data.len()).collect();
        order.sort_by_key(|&i| data[i].input_ids.len());
        let (mut sum, mut n) = (0.0, 0usize);
        for chunk in order.chunks(self.config.batch_size) {
            let batch: Vec<&Example> = chunk.iter().map(|&i| &data[i]).collect();
            let (loss, count) = batch_loss(model, &batch, false)?;
            sum += f64::try_from(&loss)?;
            n += count;
        }
        if n == 0 {
            return Err(Error::invalid("evaluation data has no target tokens"));
        }
        Ok(sum / n as f64)
    }

    /// Trains from the start.
    pub fn train<M: CausalLm>(
        &mut self,
        model: &mut LoraModel<M>,
        train: &[Example],
        eval: Option<&[Example]>,
    ) -> Result<TrainReport> {
        self.run(model, train, eval, None, &mut |_, _| Ok(Flow::Continue))
    }

    /// Trains from the start, calling `hook(step, model)` after every optimizer step (`step`
    /// counts from 1); the hook can evaluate the model, keep a copy of the adapters, and stop
    /// the run early with [`Flow::Stop`].
    pub fn train_with<M: CausalLm>(
        &mut self,
        model: &mut LoraModel<M>,
        train: &[Example],
        eval: Option<&[Example]>,
        hook: &mut dyn FnMut(usize, &LoraModel<M>) -> Result<Flow>,
    ) -> Result<TrainReport> {
        self.run(model, train, eval, None, hook)
    }

    /// Continues the run that wrote `checkpoint` (a `step-*` directory): restores adapters,
    /// optimizer state and step, and checks that settings and data are those of that run.
    pub fn resume<M: CausalLm>(
        &mut self,
        model: &mut LoraModel<M>,
        checkpoint: impl AsRef<Path>,
        train: &[Example],
        eval: Option<&[Example]>,
    ) -> Result<TrainReport> {
        self.run(model, train, eval, Some(checkpoint.as_ref()), &mut |_, _| Ok(Flow::Continue))
    }

    fn run<M: CausalLm>(
        &mut self,
        model: &mut LoraModel<M>,
        train: &[Example],
        eval: Option<&[Example]>,
        resume: Option<&Path>,
        hook: &mut dyn FnMut(usize, &LoraModel<M>) -> Result<Flow>,
    ) -> Result<TrainReport> {
        let cfg = self.config.clone();
        if model.is_merged() {
            return Err(Error::invalid("unmerge the adapters before training"));
        }
        check_examples(model, train)?;
        if let Some(e) = eval {
            check_examples(model, e)?;
        }
        let lengths: Vec<usize> = train.iter().map(|e| e.input_ids.len()).collect();
        let total_steps = cfg.max_steps.unwrap_or_else(|| steps_for_epochs(&lengths, &cfg));
        let mut opt = AdamW::new(model.trainable_variables(), cfg.betas, cfg.eps, cfg.weight_decay)?;
        let fp = fingerprint(train);
        let mut report = TrainReport::default();
        let mut history = Vec::new();
        let mut start = 0;
        if let Some(dir) = resume {
            (start, history) = restore(dir, &cfg, &fp, model, &mut opt)?;
        }

        let bar = Progress::new(
            cfg.progress,
            total_steps as u64,
            "fine-tuning steps",
            "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
        );
        bar.set_position(start as u64);
        let started = Instant::now();
        let mut plan = StepPlan::after(&lengths, &cfg, start * cfg.grad_accum_steps)?;
        // The steps the schedule runs over: the budget, or fewer once `max_seconds` says so.
        let mut planned = total_steps;
        let mut limit = cfg.max_seconds;
        for step in start..total_steps {
            opt.zero_grad();
            let micro: Vec<usize> = (step * cfg.grad_accum_steps..(step + 1) * cfg.grad_accum_steps).collect();
            let batches = micro.iter().map(|_| plan.next_batch()).collect::<Result<Vec<_>>>()?;
            let (step_loss, tokens, padded) = accumulate(model, train, &micro, &batches, cfg.seed)?;
            report.tokens += tokens;
            report.padded_tokens += padded;
            if let Some(max) = cfg.max_grad_norm {
                opt.clip_grad_norm(max)?;
            }
            let lr = cfg.learning_rate * cfg.schedule.factor(step, cfg.warmup_steps, planned);
            opt.step(lr)?;
            report.last_learning_rate = lr;
            let done = step + 1;
            report.train_losses.push((done, step_loss));
            history.push((done, step_loss));
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("loss {step_loss:.4} lr {lr:.2e} {:.0} tok/s", report.tokens as f64 / secs));
            bar.inc(1);
            let flow = hook(done, model)?;
            if let Flow::Limit(seconds) = flow {
                if seconds.is_nan() {
                    return Err(Error::invalid(format!("the hook's time limit after step {done} is not a number")));
                }
                limit = Some(seconds);
            }
            if let Some(limit) = limit {
                planned = steps_in_time(done, done - start, started.elapsed().as_secs_f64(), limit, total_steps);
                bar.set_length(planned as u64);
            }
            let out_of_time = done >= planned && planned < total_steps;
            report.time_limited = out_of_time;
            let stop = flow == Flow::Stop || out_of_time;
            let last = done == total_steps || stop;
            if let Some(e) = eval {
                if last || cfg.eval_every.is_some_and(|k| done % k == 0) {
                    let l = self.evaluate(model, e)?;
                    report.eval_losses.push((done, l));
                    bar.println(format!("step {done}: eval loss {l:.4}"));
                }
            }
            if let (Some(dir), Some(every)) = (&cfg.checkpoint_dir, cfg.checkpoint_every) {
                if done % every == 0 || last {
                    let state = TrainerState::new(&cfg, &fp, model, (done, planned), &history);
                    report.last_checkpoint = Some(write_checkpoint(dir, model, &opt, &state)?);
                }
            }
            if stop {
                break;
            }
        }
        bar.finish_and_clear();
        report.steps = report.train_losses.last().map_or(start, |l| l.0);
        report.planned_steps = planned;
        report.tokens_per_second = report.tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
        Ok(report)
    }
}

/// The steps a run with a time limit lays its schedule out over, after step `done` (of which
/// `taken` ran in this process, in `elapsed` seconds): the steps done plus as many more as the
/// time left allows at the mean pace so far (evaluations and hooks included), at least one
/// while time is left (a slow first step must not end the run), at most `budget`. When the
/// time is up, `done` itself: the schedule has reached its end and the run stops.
fn steps_in_time(done: usize, taken: usize, elapsed: f64, limit: f64, budget: usize) -> usize {
    if elapsed >= limit {
        return done.min(budget);
    }
    let per_step = elapsed / taken.max(1) as f64;
    let more = if per_step > 0.0 { ((limit - elapsed) / per_step).floor().max(1.0) } else { f64::INFINITY };
    if more >= budget.saturating_sub(done) as f64 {
        budget.max(done)
    } else {
        done + more as usize
    }
}

impl TrainerState {
    /// The state after step `done` of `total` steps.
    fn new<M: CausalLm>(
        cfg: &TrainConfig,
        fp: &str,
        model: &LoraModel<M>,
        (done, total_steps): (usize, usize),
        history: &[(usize, f64)],
    ) -> Self {
        TrainerState {
            step: done,
            total_steps,
            determinism: determinism_key(cfg),
            data_fingerprint: fp.to_string(),
            config: cfg.clone(),
            lora: model.config().clone(),
            train_losses: history.to_vec(),
        }
    }
}

/// Restores the run that wrote checkpoint `dir` into `model` and `opt`, after checking that
/// its settings, data and LoRA config are this run's; returns its step and loss history.
fn restore<M: CausalLm>(
    dir: &Path,
    cfg: &TrainConfig,
    fp: &str,
    model: &mut LoraModel<M>,
    opt: &mut AdamW,
) -> Result<(usize, Vec<(usize, f64)>)> {
    let state: TrainerState = read_json(&dir.join(STATE_FILE))?;
    let fail = |m: String| Error::Checkpoint { path: dir.to_path_buf(), message: m };
    if state.determinism != determinism_key(cfg) {
        return Err(fail(format!(
            "trainer settings differ from the checkpoint's: {} vs {}",
            determinism_key(cfg),
            state.determinism
        )));
    }
    if state.data_fingerprint != fp {
        return Err(fail("training data differs from the checkpoint's".into()));
    }
    if &state.lora != model.config() {
        return Err(fail("LoRA settings differ from the checkpoint's".into()));
    }
    model.load_adapter_weights(LoraModel::<M>::weights_path(dir))?;
    let opt_state = TensorFile::open(&dir.join(OPTIMIZER_FILE))?.tensors(model.device(), Kind::Float)?;
    opt.load_state(&opt_state, state.step as u64).map_err(|e| fail(e.to_string()))?;
    Ok((state.step, state.train_losses))
}

/// Runs the micro-batches `batches` (numbered `micro`) of one optimizer step forward and
/// backward, the loss divided by the step's target count so the gradients add up to the
/// step's mean; dropout is seeded per micro-batch. Returns the step's mean loss, the tokens it
/// read and the positions it ran (padding included).
fn accumulate<M: CausalLm>(
    model: &LoraModel<M>,
    train: &[Example],
    micro: &[usize],
    batches: &[Vec<usize>],
    seed: u64,
) -> Result<(f64, u64, u64)> {
    let targets: usize = batches.iter().flatten().map(|&i| train[i].targets()).sum();
    let (mut step_loss, mut tokens, mut padded) = (0.0, 0u64, 0u64);
    for (&mb, batch) in micro.iter().zip(batches) {
        // Dropout draws from libtorch's global generator: held for this micro-batch.
        let _rng = SeededRng::new(seed.wrapping_mul(1_000_003).wrapping_add(mb as u64));
        let refs: Vec<&Example> = batch.iter().map(|&i| &train[i]).collect();
        let (loss, count) = batch_loss(model, &refs, true)?;
        let width = refs.iter().map(|e| e.input_ids.len()).max().unwrap_or(0);
        tokens += refs.iter().map(|e| e.input_ids.len() as u64).sum::<u64>();
        padded += (refs.len() * width) as u64;
        if count > 0 {
            let scaled = loss.f_div_scalar(targets as f64)?;
            scaled.f_backward()?;
            step_loss += f64::try_from(&scaled.f_detach()?)?;
        }
    }
    Ok((step_loss, tokens, padded))
}

fn check_examples<M: CausalLm + ?Sized>(model: &M, data: &[Example]) -> Result<()> {
    if data.is_empty() {
        return Err(Error::invalid("no examples"));
    }
    let info = model.info();
    for (i, e) in data.iter().enumerate() {
        if e.input_ids.len() != e.loss_mask.len() || e.input_ids.is_empty() {
            return Err(Error::invalid(format!(
                "example {i}: {} ids, {} mask entries",
                e.input_ids.len(),
                e.loss_mask.len()
            )));
        }
        if e.input_ids.len() > info.context_len {
            return Err(Error::SequenceTooLong { index: i, len: e.input_ids.len(), max: info.context_len });
        }
        if let Some(&id) = e.input_ids.iter().find(|&&t| t < 0 || t as usize >= info.vocab_size) {
            return Err(Error::TokenOutOfRange { id, vocab_size: info.vocab_size });
        }
    }
    Ok(())
}

/// Writes `dir/step-XXXXXXXX/` atomically: everything goes into a temporary directory first,
/// which is renamed into place.
fn write_checkpoint<M: CausalLm>(
    dir: &Path,
    model: &LoraModel<M>,
    opt: &AdamW,
    state: &TrainerState,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = tempfile::Builder::new().prefix(".tmp-ckpt-").tempdir_in(dir).map_err(|e| Error::io(dir, e))?;
    model.save_pretrained(tmp.path())?;
    write_safetensors(&tmp.path().join(OPTIMIZER_FILE), &opt.state_tensors())?;
    write_json(&tmp.path().join(STATE_FILE), state)?;
    let fin = dir.join(format!("step-{:08}", state.step));
    if fin.exists() {
        std::fs::remove_dir_all(&fin).map_err(|e| Error::io(&fin, e))?;
    }
    let tmp_path = tmp.keep();
    std::fs::rename(&tmp_path, &fin).map_err(|e| Error::io(&fin, e))?;
    Ok(fin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_limit_plans_the_steps_left_at_the_pace_so_far() {
        // 10 steps in 5 s, 15 s left: 30 more at 0.5 s a step.
        assert_eq!(steps_in_time(10, 10, 5.0, 20.0, 1000), 40);
        // Plenty of time: the step budget.
        assert_eq!(steps_in_time(10, 10, 5.0, 2000.0, 400), 400);
        // Time is up: the schedule ends at the step just taken.
        assert_eq!(steps_in_time(37, 7, 21.0, 20.0, 400), 37);
        // Less time left than a step takes, but some: one more step.
        assert_eq!(steps_in_time(10, 10, 5.0, 5.1, 1000), 11);
        // A resumed run paces itself by the steps it took (7 in 7 s after step 30).
        assert_eq!(steps_in_time(37, 7, 7.0, 10.0, 400), 40);
    }

    #[test]
    fn prompt_completion_masks_prompt() {
        let e = Example::prompt_completion(&[1, 2, 3], &[4, 5]);
        assert_eq!(e.loss_mask, vec![false, false, false, true, true]);
        assert_eq!(e.targets(), 2);
    }
}
