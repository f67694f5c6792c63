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
use crate::config::{LlmImputerConfig, Objective, RetrievalMode, RetrievalProbe};
use crate::examples;
use crate::fitted::{FittedLlmImputer, ImputeOptions, Saved, ADAPTER_DIR, FORMAT};
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
        let fit_started = Instant::now();
        Imputer::validate(self)?;
        let device = crate::config::device_of(self.config.device);
        let codec = RowCodec::fit(
            train,
            CodecConfig { numeric_bins: self.config.examples.numeric_bins, ..CodecConfig::default() },
        )?;
        let imputable: Vec<usize> =
            codec.columns().iter().enumerate().filter(|(_, c)| c.imputable()).map(|(j, _)| j).collect();
        if imputable.is_empty() {
            return Err(Error::Config("the table has no column the LLM imputer can fill (all are id columns)".into()));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed());
        let mut rows = training_rows(&self.config, train, &imputable, &mut rng)?;
        // The blocks this fit runs, saved with it so that a reload runs the same: a shallower
        // backbone on a slow CPU only where the table's columns predict each other.
        let (depth, depth_probe) = match (self.config.depth, self.config.fit_depth(device.is_cuda())) {
            (None, Some(shallow)) => {
                let probe = crate::bayes::depth_probe(train, &rows, self.config.seed());
                eprintln!("{}", probe.summary());
                (Some(shallow).filter(|_| probe.shallow), Some(probe))
            }
            (_, depth) => (depth, None),
        };
        let cfg = &LlmImputerConfig { depth, ..self.config.clone() };
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
        let loaded = backbone::load(&cfg.backbone, cfg.depth, device, cfg.precision)?;
        let blocks = loaded.blocks;
        if let (Some((kept, of)), None) = (blocks, self.config.depth) {
            eprintln!(
                "note: the fine-tune's base does not run in fast bf16 on this CPU, so it runs {kept} of the \
                 backbone's {of} blocks (`slow_cpu_depth`; set `depth` for another number, or \
                 `slow_cpu_depth: null` for every block)"
            );
        }
        // Build the grammars first: a value the tokenizer cannot spell fails before training.
        let (mut core, mut model) = Core::assemble(saved, loaded, None)?;

        let (holdout, held) = Holdout::pick(&core, train, &rows, cfg.examples.holdout_cells, &mut rng);
        if cfg.examples.objective == Objective::FullRow {
            // Full rows: the held-out cells' rows are left out of training whole.
            let held_rows: HashSet<usize> = held.iter().map(|c| c.row).collect();
            rows.retain(|r| !held_rows.contains(r));
        }
        let (blanked, probe) = set_up_retrieval(&mut core, train, &rows, &held, &mut rng)?;
        let built = build_examples(&mut core, train, blanked.as_ref(), &rows, &imputable, &held, &mut rng)?;

        let to_fill =
            imputable.iter().map(|&j| (0..train.num_rows()).filter(|&r| train.is_missing(r, j)).count()).sum();
        let budget = Budget::of(cfg, model.device().is_cuda(), fit_started, held.len(), to_fill);
        let start = Instant::now();
        let tuned = fine_tune(&core, &mut model, train, &holdout, &built.examples, budget)?;
        if cfg.inference_precision.resolve(device.is_cuda()) != cfg.precision.resolve(device.is_cuda()) {
            // Reload the base in the inference precision with the trained adapter on top.
            let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
            let adapter = tmp.path().join(ADAPTER_DIR);
            model.save_pretrained(&adapter)?;
            let base = backbone::load(&cfg.backbone, cfg.depth, device, cfg.inference_precision)?;
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
        report.retrieval = probe;
        report.precision = cfg.precision.resolve(device.is_cuda());
        report.blocks = blocks;
        report.depth_probe = depth_probe;
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

/// Retrieval's reference, built into `core` when retrieval is on (or `auto` and [`retrieval::probe`]
/// says so): returns the fit table with its held-out cells blanked, which the examples are
/// then written from so that no held-out value is shown, and what `auto` measured. The mode
/// the fit ran with (`on` or `off`) is written into the saved configuration.
fn set_up_retrieval(
    core: &mut Core,
    train: &Table,
    rows: &[usize],
    held: &HashSet<Cell>,
    rng: &mut ChaCha8Rng,
) -> Result<(Option<Table>, Option<RetrievalProbe>)> {
    let cfg = core.saved.config.clone();
    let auto = cfg.retrieval.is_auto() && cfg.examples.objective != Objective::FullRow;
    if !(cfg.retrieval.is_on() || auto) {
        core.saved.config.retrieval.mode = RetrievalMode::Off;
        return Ok((None, None));
    }
    let blanked = retrieval::blank(train, held)?;
    let mut build = || Retriever::build(&core.saved.codec, &blanked, &cfg.retrieval, rng);
    let (retriever, probe) = if auto {
        let started = Instant::now();
        let (mut probe, retriever) = retrieval::probe(&blanked, rows, cfg.seed(), build)?;
        probe.seconds = started.elapsed().as_secs_f64();
        eprintln!("{}", probe.summary());
        (retriever.filter(|_| probe.on), Some(probe))
    } else {
        (Some(build()?), None)
    };
    let Some(retriever) = retriever else {
        core.saved.config.retrieval.mode = RetrievalMode::Off;
        return Ok((None, probe));
    };
    core.saved.config.retrieval.mode = RetrievalMode::On;
    core.saved.reference_origin = retriever.origin().to_vec();
    core.retriever = Some(retriever);
    Ok((Some(blanked), probe))
}

/// Writes the examples of every pass over `rows`: with retrieval (`blanked`, from
/// [`set_up_retrieval`]) one target per row and pass with its neighbours, else by the
/// objective. A step budget gets enough passes that it never repeats a pass's column orders.
fn build_examples(
    core: &mut Core,
    train: &Table,
    blanked: Option<&Table>,
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
    let mut built = Built { examples: Vec::new(), stats: examples::PassStats::default(), trimmed: 0 };
    for _ in 0..passes {
        let (mut ex, s) = match blanked {
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
    /// The time limit the fine-tune ran under (the last one, when a [`Budget`] moved it).
    max_seconds: Option<f64>,
    /// The seconds a [`Budget`] last kept back for the work after the fine-tune.
    reserved_s: Option<f64>,
}

/// The first held-out check under a [`Budget`], well before `examples.eval_every`: it times
/// the scoring that the work after the fine-tune repeats.
const BUDGET_FIRST_CHECK: usize = 10;

/// What the fill spends on a cell, as a share of what a held-out check spends on one: the
/// fill runs merged adapters and shares the prompts of a row's cells, the check does neither.
/// Measured on the demo table at 20% with an f32 base (14-16 ms against 31-35 ms a cell, session
/// 24, docs/RESULTS.md), rounded up.
const FILL_PER_CHECK_CELL: f64 = 0.5;

/// What the work after the fine-tune costs besides scoring cells (merging the adapters, the
/// context-free priors, the fill's plans), in held-out checks: at 5% of the demo table's
/// cells the fill took 1.3-2.9 checks where its 600 cells at [`FILL_PER_CHECK_CELL`] make
/// 1.5 (session 24, docs/RESULTS.md).
const AFTER_FIXED_CHECKS: f64 = 1.0;

/// `slow_cpu_seconds` as a budget for the whole fit and the fill of the table it is fitted
/// on. The fine-tune gets what is left of it after the time already spent and the time the
/// work after it will take: the last held-out check and the calibration (each scores every
/// held-out cell), the fill's fixed cost and its missing cells, at the pace of the latest
/// held-out check.
#[derive(Debug, Clone, PartialEq)]
struct Budget {
    /// Seconds for the fit and the fill.
    total: f64,
    /// Seconds the fit had spent when the fine-tune began.
    spent: f64,
    /// The work after the fine-tune in held-out checks: two, the fill's fixed cost and its
    /// cells' share.
    after: f64,
    /// The fitted table's missing cells, which the fill will ask.
    to_fill: usize,
}

impl Budget {
    /// The budget of a fit with `holdout` held-out cells of a table with `to_fill` missing
    /// cells to fill: `None` unless `slow_cpu_seconds` applies (a `train.max_seconds` is the
    /// fine-tune's own limit and stays so).
    fn of(cfg: &LlmImputerConfig, on_cuda: bool, fit_started: Instant, holdout: usize, to_fill: usize) -> Option<Self> {
        let total = cfg.slow_cpu_budget(on_cuda)?;
        // A check asks each cell in as many orders as the fill does: its pace covers them.
        let fill = to_fill as f64 * FILL_PER_CHECK_CELL / holdout.max(1) as f64;
        let spent = fit_started.elapsed().as_secs_f64();
        Some(Budget { total, spent, after: 2.0 + AFTER_FIXED_CHECKS + fill, to_fill })
    }

    /// The fine-tune's time limit, counted from its start, when a held-out check takes
    /// `check_s` seconds (unknown before the first); and the seconds kept back for after.
    fn limit(&self, check_s: Option<f64>) -> (f64, f64) {
        let reserved = check_s.map_or(0.0, |c| c * self.after);
        ((self.total - self.spent - reserved).max(0.0), reserved)
    }

    /// The same where no held-out check times the work after the fine-tune (no scored column,
    /// or no held-out cells), from a rehearsal that filled `cells` of the table's gaps in
    /// `seconds`: the fill of every gap at that pace, plus one rehearsal's time for the fill's
    /// fixed cost. The rehearsal runs with the adapters unmerged and shares few prompts, so its
    /// pace errs slow.
    fn limit_by_rehearsal(&self, seconds: f64, cells: usize) -> (f64, f64) {
        let reserved = seconds * (1.0 + self.to_fill as f64 / cells.max(1) as f64);
        ((self.total - self.spent - reserved).max(0.0), reserved)
    }
}

/// Fills up to `fill.batch_size` gaps of each column of `table` (a full batch, as the fill
/// asks them; spread over the rows) with `model` as it stands, and returns the seconds it took
/// and the cells it filled (none when the table has no gap the imputer fills). The fills are
/// thrown away: only their pace is kept. (Fewer cells per column would time batches that are
/// not full: 8 cells over two columns took 3.5 times the fill's time per cell on the MovieLens
/// item table.)
fn rehearse_fill(core: &Core, model: &dyn CausalLm, table: &Table) -> Result<(f64, usize)> {
    let columns = core.saved.codec.columns();
    let per_column = core.saved.config.fill.batch_size.max(1);
    let mut only = HashSet::new();
    for col in (0..columns.len()).filter(|&j| columns[j].imputable()) {
        let gaps: Vec<usize> = (0..table.num_rows()).filter(|&r| table.is_missing(r, col)).collect();
        let stride = gaps.len().div_ceil(per_column).max(1);
        only.extend(gaps.into_iter().step_by(stride).map(|row| Cell { row, col }));
    }
    if only.is_empty() {
        return Ok((0.0, 0));
    }
    let filled = core.impute(model, table, &ImputeOptions { only: Some(only), ..ImputeOptions::default() })?;
    Ok((filled.seconds, filled.cells.len()))
}

/// Trains the adapters on `examples` (one pass over them), checking the held-out cells every
/// `examples.eval_every` steps; stops early after `examples.patience` checks without a better
/// one, and leaves the best adapter in `model`. Under a [`Budget`] the held-out checks also
/// time the scoring of a cell, and the fine-tune's time limit follows from it; without
/// held-out cells a rehearsal of the fill ([`rehearse_fill`]) times it instead.
fn fine_tune(
    core: &Core,
    model: &mut Model,
    train: &Table,
    holdout: &Holdout,
    examples: &[Example],
    budget: Option<Budget>,
) -> Result<Tuned> {
    let cfg = &core.saved.config;
    let every = cfg.examples.eval_every.max(1);
    let patience = cfg.examples.patience;
    let mut track = Tracker { progress: cfg.train.progress, curve: Vec::new(), best: None, since_best: 0 };
    let mut stopped_early = false;
    let mut max_seconds = match &budget {
        Some(b) => Some(b.limit(None).0),
        None => cfg.time_limit(model.device().is_cuda()),
    };
    let mut reserved_s = None;
    let train_cfg = TrainConfig { epochs: 1, max_seconds, ..cfg.train.clone() };
    if let Some(b) = &budget {
        eprintln!(
            "note: the fine-tune's base does not run in fast bf16 on this CPU, so the fit and the fill of this \
             table are held to about {:.0} s (`slow_cpu_seconds`; set `train.max_seconds` for the fine-tune \
             alone, or `slow_cpu_seconds: null` for the whole step budget): the fine-tune gets what the held-out \
             checks (without any, a rehearsal of the fill) say the rest leaves, its schedule fitted to the steps \
             that fit",
            b.total
        );
    }
    let (tune_started, mut rehearsed) = (Instant::now(), false);
    let mut hook = |step: usize, m: &Model| -> gpt2_lora::Result<Flow> {
        let first = budget.is_some() && step == BUDGET_FIRST_CHECK;
        if holdout.is_empty() {
            // Nothing to check, and no check to time the work after the fine-tune: under a
            // budget the fill is rehearsed once, when a third of the budget is spent (a model
            // fresh from a few steps writes values too long to time the fill by).
            let due = |b: &Budget| !rehearsed && b.spent + tune_started.elapsed().as_secs_f64() >= b.total / 3.0;
            let Some(b) = budget.as_ref().filter(|b| due(b)) else { return Ok(Flow::Continue) };
            rehearsed = true;
            let (seconds, cells) = rehearse_fill(core, m, train).map_err(|e| gpt2_lora::Error::Hook(Box::new(e)))?;
            if cells == 0 {
                return Ok(Flow::Continue);
            }
            let (limit, reserved) = b.limit_by_rehearsal(seconds, cells);
            (max_seconds, reserved_s) = (Some(limit), Some(reserved));
            return Ok(Flow::Limit(limit));
        }
        if !(step.is_multiple_of(every) || first) {
            return Ok(Flow::Continue);
        }
        let point = holdout.evaluate(core, m, train, step).map_err(|e| gpt2_lora::Error::Hook(Box::new(e)))?;
        let check_s = point.seconds;
        if !track.record(point, m)? && patience > 0 && track.since_best >= patience {
            stopped_early = true;
            return Ok(Flow::Stop);
        }
        Ok(match &budget {
            Some(b) => {
                let (limit, reserved) = b.limit(Some(check_s));
                (max_seconds, reserved_s) = (Some(limit), Some(reserved));
                Flow::Limit(limit)
            }
            None => Flow::Continue,
        })
    };
    let report = Trainer::new(train_cfg)?.train_with(model, examples, None, &mut hook)?;
    // The last step's check when it was not on the schedule, then the best adapter back.
    if !holdout.is_empty() && track.curve.last().is_none_or(|p| p.step != report.steps) {
        track.record(holdout.evaluate(core, &*model, train, report.steps)?, model)?;
    }
    if let Some((_, _, weights)) = &track.best {
        restore(model, weights)?;
    }
    let best_step = track.best.as_ref().map(|b| b.1);
    Ok(Tuned { report, curve: track.curve, best_step, stopped_early, max_seconds, reserved_s })
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
        reserved_s: tuned.reserved_s,
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

/// The numbers each numeric column's cells are scored among: its bins' values when the codec
/// bins it, else its distinct observed values as written; `None` for other columns and for
/// numeric ones with more than `max` (those are generated).
fn distinct_numbers(codec: &RowCodec, table: &Table, max: usize) -> Vec<Option<Vec<f64>>> {
    codec
        .columns()
        .iter()
        .enumerate()
        .map(|(j, c)| {
            if c.kind != ColumnKind::Numeric {
                return None;
            }
            if let Some(bins) = &c.bins {
                return (bins.values.len() <= max).then(|| bins.values.clone());
            }
            let mut xs: Vec<f64> =
                table.column_values(j).into_iter().flatten().filter_map(|v| v.as_f64()).map(|x| c.rounded(x)).collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            (xs.len() <= max).then_some(xs)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_config::{Precision, SLOW_CPU_SECONDS};

    #[test]
    fn binned_columns_are_scored_among_their_bins() {
        let mut csv = String::from("age,device\n");
        for a in 18..70 {
            csv.push_str(&format!("{a},{}\n", if a % 2 == 0 { "Mobile" } else { "Desktop" }));
        }
        let t = rec_table::read_csv_bytes(csv.as_bytes(), "ages.csv", &rec_table::CsvOptions::default()).unwrap();
        let plain = RowCodec::fit(&t, CodecConfig::default()).unwrap();
        let numbers = distinct_numbers(&plain, &t, 64);
        assert_eq!(numbers[0].as_ref().map(Vec::len), Some(52));
        assert_eq!(numbers[1], None);
        assert_eq!(distinct_numbers(&plain, &t, 40)[0], None, "52 ages over 40 choices are generated");
        let binned = RowCodec::fit(&t, CodecConfig { numeric_bins: 8, ..CodecConfig::default() }).unwrap();
        let values = distinct_numbers(&binned, &t, 64)[0].clone().unwrap();
        assert_eq!(values.len(), 8);
        assert_eq!(Some(&values), binned.columns()[0].bins.as_ref().map(|b| &b.values));
    }

    #[test]
    fn a_budget_leaves_the_fine_tune_what_the_rest_will_not_take() {
        let b = Budget { total: 280.0, spent: 10.0, after: 5.0, to_fill: 160 };
        // Before the first held-out check nothing is known of the rest.
        assert_eq!(b.limit(None), (270.0, 0.0));
        // Checks of 4 s: 20 s kept for after the fine-tune.
        let (limit, kept) = b.limit(Some(4.0));
        assert!((limit - 250.0).abs() < 1e-9 && (kept - 20.0).abs() < 1e-9, "{limit} {kept}");
        // More than the budget: no time left, not a negative limit.
        assert_eq!(b.limit(Some(100.0)).0, 0.0);
        // No check: a rehearsal filled 8 cells in 2 s, so the 160 gaps take 40 s and the fixed
        // cost one more rehearsal's 2 s.
        let (limit, kept) = b.limit_by_rehearsal(2.0, 8);
        assert!((kept - 42.0).abs() < 1e-9 && (limit - 228.0).abs() < 1e-9, "{limit} {kept}");
        assert_eq!(b.limit_by_rehearsal(50.0, 1).0, 0.0);

        // The work after: the last check and the calibration score the held-out cells, the
        // fill costs one check and every missing cell its share of a check's pace per cell.
        let mut cfg = LlmImputerConfig::default().with_precision(Precision::F32);
        let b = Budget::of(&cfg, false, Instant::now(), 200, 600).unwrap();
        assert_eq!(b.total, SLOW_CPU_SECONDS);
        assert!((b.after - (3.0 + 600.0 * FILL_PER_CHECK_CELL / 200.0)).abs() < 1e-9, "{}", b.after);
        // The user's own limit is the fine-tune's alone; none on CUDA or with the limit off.
        let mut own = cfg.clone();
        own.train.max_seconds = Some(60.0);
        assert_eq!(Budget::of(&own, false, Instant::now(), 200, 600), None);
        assert_eq!(Budget::of(&cfg, true, Instant::now(), 200, 600), None);
        cfg.slow_cpu_seconds = None;
        assert_eq!(Budget::of(&cfg, false, Instant::now(), 200, 600), None);
    }
}
