//! Fitting: rows to examples, the fine-tune with its held-out check.

use std::collections::HashSet;
use std::time::Instant;

use gpt2_lora::{CausalLm, Example, Flow, LoraModel, TrainConfig, Trainer};
use prompt_codec::{CodecConfig, RowCodec};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rec_table::{Cell, ColumnKind, Imputer, Table, Value};
use tch::Tensor;

use crate::backbone;
use crate::config::{LlmImputerConfig, Objective};
use crate::examples;
use crate::fitted::{FittedLlmImputer, Saved, ADAPTER_DIR, FORMAT};
use crate::head::Heads;
use crate::holdout::{Holdout, HoldoutPoint};
use crate::plan::{Core, Model};
use crate::retrieval::{self, Retriever};
use crate::{Error, FitReport, LlmImputer, Result};

/// Prior-correction weights tried per column.
const LAMBDAS: [f64; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
/// Temperatures tried for numbers read as a probability-weighted mean (1 first: kept on ties).
const TEMPERATURES: [f64; 5] = [1.0, 0.8, 0.6, 0.4, 0.25];
/// A held-out check must beat the best by this many nats per cell to count as better.
const MIN_GAIN: f64 = 1e-3;

impl Imputer for LlmImputer {
    type Fitted = FittedLlmImputer;
    type Error = Error;

    fn name(&self) -> String {
        format!("llm({})", self.config.backbone.name())
    }

    fn validate(&self) -> Result<()> {
        Ok(self.config.validate()?)
    }

    /// Fine-tunes the backbone on `train` (see the crate docs for the recipe) and builds the
    /// fill plan of every column.
    fn fit(&self, train: &Table) -> Result<FittedLlmImputer> {
        Imputer::validate(self)?;
        let cfg = &self.config;
        let codec = RowCodec::fit(train, CodecConfig::default())?;
        let imputable: Vec<usize> =
            codec.columns().iter().enumerate().filter(|(_, c)| c.imputable()).map(|(j, _)| j).collect();
        if imputable.is_empty() {
            return Err(Error::Config("the table has no column the LLM imputer can fill (all are id columns)".into()));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed());
        let mut rows = training_rows(cfg, train, &imputable, &mut rng)?;
        let device = crate::config::device_of(cfg.device);
        let saved = Saved {
            format: FORMAT,
            config: cfg.clone(),
            numeric_values: distinct_numbers(&codec, train, cfg.fill.max_choices),
            fallback: fallback_texts(&codec, train)?,
            prior_lambda: vec![0.0; codec.columns().len()],
            temperature: vec![1.0; codec.columns().len()],
            codec,
            report: FitReport::default(),
            heads: Vec::new(),
            reference_origin: Vec::new(),
        };
        let loaded = backbone::load(&cfg.backbone, device, cfg.precision)?;
        // Build the grammars first: a value the tokenizer cannot spell fails before training.
        let (mut core, mut model) = Core::assemble(saved, loaded, None)?;

        let (holdout, held) = Holdout::pick(&core, train, &rows, cfg.examples.holdout_cells, &mut rng);
        if cfg.examples.objective == Objective::FullRow {
            // Full rows: the held-out cells' rows are left out of training whole.
            let held_rows: HashSet<usize> = held.iter().map(|c| c.row).collect();
            rows.retain(|r| !held_rows.contains(r));
        }
        let built = build_examples(&mut core, train, &rows, &imputable, &held, &mut rng)?;

        let start = Instant::now();
        let tuned = fine_tune(&core, &mut model, train, &holdout, &built.examples)?;
        if cfg.inference_precision.resolve(device.is_cuda()) != cfg.precision.resolve(device.is_cuda()) {
            // Reload the base in the inference precision with the trained adapter on top.
            let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
            let adapter = tmp.path().join(ADAPTER_DIR);
            model.save_pretrained(&adapter)?;
            let base = backbone::load(&cfg.backbone, device, cfg.inference_precision)?;
            model = LoraModel::from_pretrained(base.model, &adapter)?;
        }
        crate::plan::merge_for_fill(&mut model)?;
        core.refresh_priors(&model)?;
        if cfg.fill.prior_correction && !holdout.is_empty() {
            let chosen = holdout.choose_calibration(&core, &model, train, &LAMBDAS, &TEMPERATURES)?;
            core.saved.prior_lambda = chosen.iter().map(|c| c.0).collect();
            core.saved.temperature = chosen.iter().map(|c| c.1).collect();
        }
        let (mut heads, mut head_seconds) = (Vec::new(), 0.0);
        if cfg.head.weight > 0.0 {
            let t0 = Instant::now();
            let (trained, reports) = Heads::train(&core, &model, train, &rows, &held, &cfg.head, &mut rng)?;
            core.saved.heads = trained.metas();
            core.heads = Some(trained);
            heads = reports;
            head_seconds = t0.elapsed().as_secs_f64();
        }
        let mut report = fit_report(&core, built, tuned, held.len());
        report.precision = cfg.precision.resolve(device.is_cuda());
        (report.heads, report.head_seconds) = (heads, head_seconds);
        report.seconds = start.elapsed().as_secs_f64();
        core.saved.report = report;
        Ok(FittedLlmImputer { core, model })
    }
}

/// The rows the fine-tune may learn from (enough observed cells for the objective), a seeded
/// sample of them when there are more than `examples.max_train_rows`.
fn training_rows(
    cfg: &LlmImputerConfig,
    train: &Table,
    imputable: &[usize],
    rng: &mut ChaCha8Rng,
) -> Result<Vec<usize>> {
    let objective = cfg.examples.objective;
    let least = if objective == Objective::Values { 1 } else { 2 };
    let rows: Vec<usize> = (0..train.num_rows())
        .filter(|&r| {
            let observed = imputable.iter().filter(|&&j| !train.is_missing(r, j)).count();
            observed >= least && (objective != Objective::FullRow || observed == imputable.len())
        })
        .collect();
    if rows.is_empty() {
        return Err(Error::NoTrainingRows { rows: train.num_rows(), objective });
    }
    if rows.len() <= cfg.examples.max_train_rows {
        return Ok(rows);
    }
    let mut picked: Vec<usize> = sample(rng, rows.len(), cfg.examples.max_train_rows).into_vec();
    picked.sort_unstable();
    Ok(picked.into_iter().map(|i| rows[i]).collect())
}

/// The training examples of every pass.
struct Built {
    examples: Vec<Example>,
    /// The last pass's counts.
    stats: examples::PassStats,
    /// Examples (all passes) whose retrieved rows were cut to fit the context.
    trimmed: usize,
}

/// Writes the examples of every pass over `rows` (with retrieval, after building the reference
/// into `core`). A step budget gets enough passes that it never repeats a pass's column orders.
fn build_examples(
    core: &mut Core,
    train: &Table,
    rows: &[usize],
    imputable: &[usize],
    held: &HashSet<Cell>,
    rng: &mut ChaCha8Rng,
) -> Result<Built> {
    let cfg = core.saved.config.clone();
    let passes = match cfg.train.max_steps {
        Some(steps) => (steps * cfg.train.batch_size).div_ceil(rows.len().max(1)).clamp(1, 64),
        None => cfg.train.epochs,
    };
    // Retrieval: the reference is the fit table without its held-out cells, and the examples
    // are written from the same blanked table, so no held-out value is shown.
    let blanked = if cfg.retrieval.k > 0 {
        let blanked = retrieval::blank(train, held)?;
        let retriever = Retriever::build(&core.saved.codec, &blanked, &cfg.retrieval, rng)?;
        core.saved.reference_origin = retriever.origin().to_vec();
        core.retriever = Some(retriever);
        Some(blanked)
    } else {
        None
    };
    let mut built = Built { examples: Vec::new(), stats: examples::PassStats::default(), trimmed: 0 };
    for _ in 0..passes {
        let (mut ex, s) = match &blanked {
            Some(blanked) => examples::retrieval_pass(core, blanked, rows, imputable, rng)?,
            None => examples::one_pass(
                &core.saved.codec,
                &core.tokenizer,
                core.eos,
                train,
                rows,
                imputable,
                held,
                cfg.examples.objective,
                rng,
            )?,
        };
        built.examples.append(&mut ex);
        built.trimmed += s.trimmed;
        built.stats = s;
    }
    if built.examples.is_empty() {
        return Err(Error::NoTrainingRows { rows: train.num_rows(), objective: cfg.examples.objective });
    }
    if built.trimmed > 0 {
        eprintln!(
            "note: {} of {} training prompts lost retrieved rows to fit the model's context",
            built.trimmed,
            built.examples.len()
        );
    }
    Ok(built)
}

/// What the fine-tune did.
struct Tuned {
    report: gpt2_lora::TrainReport,
    curve: Vec<HoldoutPoint>,
    best_step: Option<usize>,
    stopped_early: bool,
    /// The time limit the fine-tune ran under.
    max_seconds: Option<f64>,
}

/// Trains the adapters on `examples` (one pass over them), checking the held-out cells every
/// `examples.eval_every` steps; stops early after `examples.patience` checks without a better
/// one, and leaves the best adapter in `model`.
fn fine_tune(core: &Core, model: &mut Model, train: &Table, holdout: &Holdout, examples: &[Example]) -> Result<Tuned> {
    let cfg = &core.saved.config;
    let every = cfg.examples.eval_every.max(1);
    let patience = cfg.examples.patience;
    let mut track = Tracker { progress: cfg.train.progress, curve: Vec::new(), best: None, since_best: 0 };
    let mut stopped_early = false;
    let mut hook = |step: usize, m: &Model| -> gpt2_lora::Result<Flow> {
        if holdout.is_empty() || !step.is_multiple_of(every) {
            return Ok(Flow::Continue);
        }
        let point = holdout.evaluate(core, m, train, step).map_err(|e| gpt2_lora::Error::Hook(Box::new(e)))?;
        if !track.record(point, m)? && patience > 0 && track.since_best >= patience {
            stopped_early = true;
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    };
    let max_seconds = cfg.time_limit(model.device().is_cuda());
    if let Some(limit) = max_seconds.filter(|_| cfg.train.max_seconds.is_none()) {
        eprintln!(
            "note: the fine-tune's base does not run in fast bf16 on this CPU, so it is limited to {limit:.0} s \
             (`slow_cpu_seconds`; set `train.max_seconds` instead, or `slow_cpu_seconds: null` for the whole \
             step budget), its schedule fitted to the steps that fit"
        );
    }
    let train_cfg = TrainConfig { epochs: 1, max_seconds, ..cfg.train.clone() };
    let report = Trainer::new(train_cfg)?.train_with(model, examples, None, &mut hook)?;
    // The last step's check when it was not on the schedule, then the best adapter back.
    if !holdout.is_empty() && track.curve.last().is_none_or(|p| p.step != report.steps) {
        track.record(holdout.evaluate(core, &*model, train, report.steps)?, model)?;
    }
    if let Some((_, _, weights)) = &track.best {
        restore(model, weights)?;
    }
    let best_step = track.best.as_ref().map(|b| b.1);
    Ok(Tuned { report, curve: track.curve, best_step, stopped_early, max_seconds })
}

/// The fit's report from its parts (precision, heads and wall time are set by the caller);
/// warns on stderr when the kept adapter learnt nothing beyond the column frequencies.
fn fit_report(core: &Core, built: Built, tuned: Tuned, holdout_cells: usize) -> FitReport {
    let best_point = tuned.curve.iter().find(|p| Some(p.step) == tuned.best_step).cloned();
    let learnt = best_point.as_ref().map(|p| p.gain() > 0.01);
    if learnt == Some(false) {
        eprintln!(
            "warning: the LLM imputer learnt nothing beyond the column frequencies on its held-out cells \
             ({:+.3} nats/cell); its fills will be close to the mode",
            best_point.as_ref().map_or(0.0, HoldoutPoint::gain)
        );
    }
    let columns = core.saved.codec.columns();
    FitReport {
        objective: core.saved.config.examples.objective,
        train_rows: built.stats.rows,
        skipped_rows: built.stats.skipped,
        examples: built.examples.len(),
        targets_per_pass: built.stats.targets,
        trimmed_examples: built.trimmed,
        steps: tuned.report.steps,
        time_limit_s: tuned.max_seconds,
        time_limited: tuned.report.time_limited,
        losses: tuned.report.train_losses,
        tokens_per_second: tuned.report.tokens_per_second,
        tokens: tuned.report.tokens,
        padded_tokens: tuned.report.padded_tokens,
        holdout_cells,
        holdout: tuned.curve,
        best_step: tuned.best_step,
        stopped_early: tuned.stopped_early,
        learnt,
        prior_lambda: columns
            .iter()
            .zip(&core.saved.prior_lambda)
            .filter(|(c, _)| c.imputable())
            .map(|(c, l)| (c.name.clone(), *l))
            .collect(),
        temperature: columns
            .iter()
            .zip(&core.saved.temperature)
            .filter(|(c, _)| c.imputable() && c.kind == ColumnKind::Numeric)
            .map(|(c, t)| (c.name.clone(), *t))
            .collect(),
        ..FitReport::default()
    }
}

/// The held-out curve of a fit, and the best adapter so far.
struct Tracker {
    progress: bool,
    curve: Vec<HoldoutPoint>,
    /// `(log p, step, adapter weights)` of the best check.
    best: Option<(f64, usize, Vec<Tensor>)>,
    /// Checks since the best one.
    since_best: usize,
}

impl Tracker {
    /// Logs and keeps a check; snapshots the adapter when it beats the best by `MIN_GAIN`.
    /// Returns whether it did.
    fn record<M: CausalLm>(&mut self, point: HoldoutPoint, model: &LoraModel<M>) -> gpt2_lora::Result<bool> {
        if self.progress {
            eprintln!("{}", point.summary());
        }
        let improved = self.best.as_ref().is_none_or(|b| point.log_p > b.0 + MIN_GAIN);
        if improved {
            self.best = Some((point.log_p, point.step, snapshot(model)?));
            self.since_best = 0;
        } else {
            self.since_best += 1;
        }
        self.curve.push(point);
        Ok(improved)
    }
}

/// A copy of the adapter weights.
fn snapshot<M: CausalLm>(model: &LoraModel<M>) -> gpt2_lora::Result<Vec<Tensor>> {
    let _guard = tch::no_grad_guard();
    model.trainable_variables().iter().map(|(_, t)| Ok(t.f_detach_copy()?)).collect()
}

/// Writes a [`snapshot`] back into the adapters.
fn restore<M: CausalLm>(model: &mut LoraModel<M>, weights: &[Tensor]) -> Result<()> {
    let _guard = tch::no_grad_guard();
    for ((_, mut t), w) in model.trainable_variables().into_iter().zip(weights) {
        t.f_copy_(w)?;
    }
    Ok(())
}

/// Median of numbers, mode of everything else; as continuation text.
fn fallback_texts(codec: &RowCodec, table: &Table) -> Result<Vec<Option<String>>> {
    let mut out = Vec::with_capacity(codec.columns().len());
    for (j, c) in codec.columns().iter().enumerate() {
        if !c.imputable() {
            out.push(None);
            continue;
        }
        let values: Vec<Value> = table.column_values(j).into_iter().flatten().collect();
        let v = if c.kind == ColumnKind::Numeric {
            let mut xs: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
            xs.sort_by(f64::total_cmp);
            xs.get(xs.len() / 2).map(|&x| Value::Number(x))
        } else {
            let mut counts: std::collections::HashMap<String, (usize, Value)> = std::collections::HashMap::new();
            for v in values {
                counts.entry(v.to_string()).or_insert((0, v)).0 += 1;
            }
            counts
                .into_values()
                .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.to_string().cmp(&a.1.to_string())))
                .map(|(_, v)| v)
        };
        out.push(match v {
            Some(v) => Some(codec.continuation(j, &v)?),
            None => None,
        });
    }
    Ok(out)
}

fn distinct_numbers(codec: &RowCodec, table: &Table, max: usize) -> Vec<Option<Vec<f64>>> {
    codec
        .columns()
        .iter()
        .enumerate()
        .map(|(j, c)| {
            if c.kind != ColumnKind::Numeric {
                return None;
            }
            let scale = 10f64.powi(c.decimals as i32);
            let mut xs: Vec<f64> = table
                .column_values(j)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_f64())
                .map(|x| (x * scale).round() / scale)
                .collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            (xs.len() <= max).then_some(xs)
        })
        .collect()
}
