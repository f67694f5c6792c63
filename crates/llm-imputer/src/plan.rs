//! The fill plan: every column's [`Plan`] (built by `column`) on a loaded model, the prompts
//! that ask for a cell (with retrieved rows when retrieval is on), and the imputation of a
//! table with them.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use gpt2_lora::{
    score_candidates, score_candidates_resumed, score_candidates_shared, widest_level, CausalLm, EndAfter,
    GenerateConfig, LoraConfig, LoraModel, PromptCache, ResumeStats, ShareOptions,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rec_table::{Cell, ColumnKind, Table, Value};

use crate::backbone::Loaded;
use crate::column::{column_plan, end_tokens, longest_answer, read_generated, Plan};
use crate::config::{EndToken, KnownOrder};
use crate::decode::{self, GenGrammar, TokenTexts};
use crate::error::{Error, Result};
use crate::fitted::{CellImputation, ColumnFill, Imputation, ImputeOptions, Saved};
use crate::head::{self, Heads};
use crate::retrieval::Retriever;
use crate::{encode, progress};

/// Rows (prompts × widest candidate level) per scoring forward pass without shared prefixes.
const ROW_BUDGET: usize = 256;

pub(crate) type Model = LoraModel<Box<dyn CausalLm + Send>>;

/// Everything a fitted imputer holds besides its model: the saved settings and report, the
/// tokenizer, each column's fill plan, the prior-correction scores, the encoder heads and the
/// retrieval reference. Kept apart from the model so that the fit can read it (prompts,
/// held-out checks) while it trains the model.
pub(crate) struct Core {
    pub(crate) saved: Saved,
    pub(crate) tokenizer: tokenizers::Tokenizer,
    texts: TokenTexts,
    pub(crate) eos: i64,
    plans: Vec<Option<Plan>>,
    fallback: Vec<Option<Value>>,
    /// Tokens that end a value (`,` and `.`), scored after each candidate when enabled.
    end: Vec<i64>,
    /// Per scored column, each candidate's log-probability after the context-free prompt.
    priors: Vec<Option<Vec<f64>>>,
    /// The encoder heads, when trained.
    pub(crate) heads: Option<Heads>,
    /// The retrieval reference, when retrieval is on.
    pub(crate) retriever: Option<Retriever>,
    /// Most prompt tokens: the model's context less the longest answer any plan reads.
    prompt_budget: usize,
}

impl Core {
    /// Builds the fill plan of every column on a loaded backbone and puts the adapters on it:
    /// `adapter` loads trained ones, `None` adds fresh ones. The context-free scores of the
    /// prior correction are left empty: call [`refresh_priors`](Self::refresh_priors) once the
    /// adapter is final.
    pub(crate) fn assemble(saved: Saved, loaded: Loaded, adapter: Option<&Path>) -> Result<(Self, Model)> {
        let cfg = &saved.config;
        let model = match adapter {
            Some(dir) => LoraModel::from_pretrained(loaded.model, dir)?,
            None => {
                let mut lora: LoraConfig = cfg.lora.clone();
                if lora.target_modules.is_empty() {
                    lora.target_modules = every_linear(&*loaded.model);
                }
                LoraModel::new(loaded.model, lora, cfg.seed())?.with_base_model_name(cfg.backbone.name())
            }
        };
        let info = model.info();
        let texts = TokenTexts::new(&loaded.tokenizer, info.vocab_size)?;
        let codec = &saved.codec;
        let mut plans = Vec::with_capacity(codec.columns().len());
        let mut fallback = Vec::with_capacity(codec.columns().len());
        for j in 0..codec.columns().len() {
            fallback.push(match saved.fallback.get(j).cloned().flatten() {
                Some(text) => Some(codec.parse_value(j, &text)?),
                None => None,
            });
            plans.push(column_plan(&saved, j, &loaded.tokenizer, &texts)?);
        }
        let end = if cfg.fill.end_token == EndToken::Off { Vec::new() } else { end_tokens(codec, &loaded.tokenizer)? };
        let prompt_budget = info.context_len.saturating_sub(longest_answer(&plans, cfg.fill.max_new_tokens) + 1);
        let n = plans.len();
        let core = Self {
            saved,
            tokenizer: loaded.tokenizer,
            texts,
            eos: loaded.eos,
            plans,
            fallback,
            end,
            priors: vec![None; n],
            heads: None,
            retriever: None,
            prompt_budget,
        };
        Ok((core, model))
    }

    /// Scores every candidate of each scored column after its context-free prompt
    /// (`"age is"`), for the prior correction.
    pub(crate) fn refresh_priors(&mut self, model: &dyn CausalLm) -> Result<()> {
        let mut priors = vec![None; self.plans.len()];
        for (j, plan) in self.plans.iter().enumerate() {
            if let Some(Plan::Score { seqs, .. }) = plan {
                let c = &self.saved.codec.columns()[j];
                let prompt = format!("{}{}", c.phrase, self.saved.codec.config().connector.trim_end());
                let ids = encode(&self.tokenizer, &prompt)?;
                priors[j] = score_candidates(model, &[ids], seqs, &self.end, self.end_after(), self.eos)?.pop();
            }
        }
        self.priors = priors;
        Ok(())
    }

    /// The prompt that asks for cell `(row, target)` of `table`: the row's observed cells and
    /// `filled` (values imputed earlier in the row) as
    /// [`RowCodec::prompt_with`](prompt_codec::RowCodec::prompt_with) writes them,
    /// after the similar reference rows when retrieval is on. `exclude` is a row of the fit
    /// table that may not be retrieved: the question's own row when `table` is the fit table
    /// and the cell is observed there.
    ///
    /// Retrieved rows are dropped, least similar first, until the prompt and the longest answer
    /// fit the model's context; the flag says whether any was (callers count it).
    ///
    /// `view` 0 writes the known cells in the order `fill.known_order` says (the filled ones
    /// last, in the order they were filled); view `v > 0` in an order shuffled by a
    /// generator seeded with `(row, target, v)`, so that a cell's views are the same every time.
    pub(crate) fn prompt(
        &self,
        table: &Table,
        row: usize,
        target: usize,
        filled: &[(usize, Value)],
        exclude: Option<usize>,
        view: usize,
    ) -> Result<(String, bool)> {
        let codec = &self.saved.codec;
        let question = if view == 0 {
            match self.saved.config.fill.known_order {
                KnownOrder::Schema => codec.prompt_with(table, row, target, filled)?,
                KnownOrder::FewestValues => {
                    codec.prompt_ordered(table, row, target, filled, &codec.fewest_values_first())?
                }
            }
        } else {
            let seed = ((row as u64) << 24) ^ ((target as u64) << 8) ^ view as u64;
            codec.prompt_shuffled(table, row, target, filled, &mut ChaCha8Rng::seed_from_u64(seed))?
        };
        let Some(retriever) = &self.retriever else { return Ok((question, false)) };
        let neighbours = retriever.neighbours(table, row, target, exclude);
        let shown: Vec<usize> = (0..table.num_columns()).filter(|&j| !table.is_missing(row, j)).collect();
        for drop in 0..neighbours.len() {
            let text = format!("{}{question}", retriever.prefix(codec, &neighbours[drop..], &shown, target)?);
            if encode(&self.tokenizer, &text)?.len() <= self.prompt_budget {
                return Ok((text, drop > 0));
            }
        }
        // No retrieved row fits: the question alone (cut only when there was a row to cut).
        Ok((question, !neighbours.is_empty()))
    }

    /// Sets the encoder head's weight for later fills (`0`: the scored candidates alone, `1`:
    /// the head alone), e.g. to compare read-outs of one fit. A weight above 0 needs heads,
    /// which only a fit with `head.weight > 0` trains.
    pub(crate) fn set_head_weight(&mut self, weight: f64) -> Result<()> {
        if !(0.0..=1.0).contains(&weight) {
            return Err(Error::Config(format!("head weight {weight} is not between 0 and 1")));
        }
        if weight > 0.0 && self.heads.is_none() {
            return Err(Error::Config(
                "this imputer has no encoder heads: fit it with head.weight > 0 to train them".into(),
            ));
        }
        self.saved.config.head.weight = weight;
        Ok(())
    }

    /// Whether column `col`'s fills mix in an encoder head.
    pub(crate) fn uses_head(&self, col: usize) -> bool {
        self.saved.config.head.weight > 0.0 && self.heads.as_ref().is_some_and(|h| h.has(col))
    }

    /// Whether column `col` is scored (rather than generated).
    pub(crate) fn is_scored(&self, col: usize) -> bool {
        matches!(self.plans.get(col), Some(Some(Plan::Score { .. })))
    }

    /// The prior-correction weight of column `col` (0 when none).
    pub(crate) fn prior_lambda(&self, col: usize) -> f64 {
        self.saved.prior_lambda.get(col).copied().unwrap_or(0.0)
    }

    /// The temperature the candidate scores of column `col` are divided by (1 when none).
    pub(crate) fn temperature(&self, col: usize) -> f64 {
        self.saved.temperature.get(col).copied().filter(|t| *t > 0.0).unwrap_or(1.0)
    }

    /// The candidates of a scored column and whether they are numbers.
    pub(crate) fn scored_values(&self, col: usize) -> (&[Value], bool) {
        match self.plans.get(col) {
            Some(Some(Plan::Score { values, mean, .. })) => {
                (values, *mean || self.saved.codec.columns()[col].kind == ColumnKind::Numeric)
            }
            _ => (&[], false),
        }
    }

    pub(crate) fn prior_scores(&self, col: usize) -> Option<&[f64]> {
        self.priors.get(col).and_then(|p| p.as_deref())
    }

    /// The value a scored column takes for these candidate probabilities, and the probability
    /// of the most likely candidate.
    pub(crate) fn pick(&self, col: usize, probs: &[f64]) -> (Value, f64) {
        match self.plans.get(col) {
            Some(Some(Plan::Score { values, mean, decimals, .. })) => decode::pick(values, probs, *mean, *decimals),
            _ => (Value::Number(f64::NAN), 0.0),
        }
    }

    /// Raw candidate scores of scored column `col` for rows `rows` of the fit table `table`
    /// (prompts from the rows' other observed cells, averaged over `fill.orders` views; a row
    /// is never its own retrieved example), without the prior correction.
    pub(crate) fn score_rows(
        &self,
        model: &dyn CausalLm,
        table: &Table,
        col: usize,
        rows: &[usize],
    ) -> Result<Vec<Vec<f64>>> {
        let views = self.views(col);
        let mut prompts = Vec::with_capacity(rows.len() * views);
        for &r in rows {
            for p in self.view_prompts(table, r, col, &[], Some(r))?.0 {
                prompts.push(encode(&self.tokenizer, &p)?);
            }
        }
        let Some(Some(Plan::Score { seqs, .. })) = self.plans.get(col) else {
            return Err(Error::Config(format!("column {col} is not scored")));
        };
        let scores = self.score_prompts(model, &prompts, seqs)?;
        let groups: Vec<Vec<usize>> = (0..rows.len()).map(|i| (i * views..(i + 1) * views).collect()).collect();
        Ok(average_views(&scores, &groups))
    }

    /// The prompts of every view of cell `(row, target)` ([`prompt`](Self::prompt) for views
    /// `0..views(target)`), and whether any of them lost retrieved rows.
    fn view_prompts(
        &self,
        table: &Table,
        row: usize,
        target: usize,
        filled: &[(usize, Value)],
        exclude: Option<usize>,
    ) -> Result<(Vec<String>, bool)> {
        let mut trimmed_any = false;
        let prompts = (0..self.views(target))
            .map(|v| {
                let (p, trimmed) = self.prompt(table, row, target, filled, exclude, v)?;
                trimmed_any |= trimmed;
                Ok(p)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((prompts, trimmed_any))
    }

    /// How many views of a cell of column `col` are scored: `fill.orders` for scored columns,
    /// one for generated ones.
    fn views(&self, col: usize) -> usize {
        if self.is_scored(col) {
            self.saved.config.fill.orders.max(1)
        } else {
            1
        }
    }

    /// After which candidates the end tokens are scored (none when `self.end` is empty).
    fn end_after(&self) -> EndAfter {
        match self.saved.config.fill.end_token {
            EndToken::Prefixes => EndAfter::Prefixes,
            EndToken::Every | EndToken::Off => EndAfter::Every,
        }
    }

    /// Every candidate's score after each prompt: with `fill.share_prefixes`, each prompt prefix
    /// that several prompts share computed once; else every prompt run whole, in batches.
    fn score_prompts(&self, model: &dyn CausalLm, prompts: &[Vec<i64>], seqs: &[Vec<i64>]) -> Result<Vec<Vec<f64>>> {
        let fill = &self.saved.config.fill;
        if fill.share_prefixes {
            let options = self.share_options(model);
            return Ok(score_candidates_shared(model, prompts, seqs, &self.end, self.end_after(), self.eos, options)?);
        }
        let per = (ROW_BUDGET / widest_level(seqs, !self.end.is_empty())).clamp(1, fill.batch_size);
        let mut out = Vec::with_capacity(prompts.len());
        for chunk in prompts.chunks(per) {
            out.extend(score_candidates(model, chunk, seqs, &self.end, self.end_after(), self.eos)?);
        }
        Ok(out)
    }

    /// How shared scoring splits its work (`fill.chunk_tokens`, `fill.workers`).
    fn share_options(&self, model: &dyn CausalLm) -> ShareOptions {
        let fill = &self.saved.config.fill;
        ShareOptions {
            chunk_tokens: fill.chunk_tokens,
            workers: fill_workers(fill.workers, model),
            ..Default::default()
        }
    }

    /// See [`FittedLlmImputer::impute`].
    ///
    /// A row's gaps are filled one after the other, each prompt showing the values filled
    /// before it. With [`reuses_prompts`](Self::reuses_prompts) the rows go in blocks of
    /// `fill.block_rows` (sorted by their gaps, then their first question, so that neighbours
    /// share prefixes), and a row's next question continues the key/value cache of its previous
    /// one; otherwise each round of gaps runs over the whole table column by column. Both ask
    /// the same questions, so the fills agree up to floating-point rounding.
    pub(crate) fn impute(&self, model: &dyn CausalLm, table: &Table, options: &ImputeOptions) -> Result<Imputation> {
        let start = Instant::now();
        let codec = &self.saved.codec;
        codec.schema().ensure_same(table.schema(), "LLM imputer")?;
        let gaps = self.gaps(table, options);
        let total = gaps.iter().map(|g| g.1.len()).sum::<usize>();
        let bar = progress(self.saved.config.train.progress, total as u64, "imputing cells");
        let mut run = FillRun {
            table,
            filled: HashMap::new(),
            trimmed: HashMap::new(),
            cells: Vec::with_capacity(total),
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            draws: options.draws,
            reuse: ResumeStats::default(),
        };
        let reuse = self.reuses_prompts(model);
        let blocks: Vec<Vec<&(usize, Vec<usize>)>> = if reuse {
            // Rows with the same gaps ask the same questions in the same order and write their
            // known cells alike: sorted together, a block's calls are few and share prefixes.
            let mut keyed = gaps
                .iter()
                .map(|g| Ok((self.prompt(table, g.0, g.1[0], &[], None, 0)?.0, g)))
                .collect::<Result<Vec<_>>>()?;
            keyed.sort_by(|a, b| (&a.1 .1, &a.0).cmp(&(&b.1 .1, &b.0)));
            keyed.chunks(self.saved.config.fill.block_rows).map(|c| c.iter().map(|k| k.1).collect()).collect()
        } else {
            vec![gaps.iter().collect()]
        };
        for block in blocks {
            let gaps_of: HashMap<usize, usize> = block.iter().map(|g| (g.0, g.1.len())).collect();
            let mut kept: Option<HashMap<usize, Rc<PromptCache>>> = reuse.then(HashMap::new);
            let rounds = block.iter().map(|g| g.1.len()).max().unwrap_or(0);
            for round in 0..rounds {
                let mut by_col: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
                for (r, cols) in &block {
                    if let Some(&j) = cols.get(round) {
                        by_col.entry(j).or_default().push(*r);
                    }
                }
                for (j, rows) in by_col {
                    self.fill_round(model, &mut run, j, &rows, kept.as_mut())?;
                    bar.inc(rows.len() as u64);
                }
                // Rows without a later gap need their caches no more.
                if let Some(k) = kept.as_mut() {
                    k.retain(|r, _| gaps_of.get(r).is_some_and(|&n| n > round + 1));
                }
            }
        }
        bar.finish_and_clear();
        let FillRun { mut cells, trimmed, reuse, .. } = run;
        cells.sort_by_key(|c| (c.cell.row, c.cell.col));
        let columns = self.column_fills(&cells, trimmed);
        let fallbacks = cells.iter().filter(|c| c.fallback).count();
        Ok(Imputation { cells, seconds: start.elapsed().as_secs_f64(), fallbacks, columns, prompt_reuse: reuse })
    }

    /// Whether fills go by blocks of rows whose questions continue each other's caches:
    /// `fill.block_rows > 0` with shared scoring on one worker and no retrieval (retrieved rows
    /// change with the question, so no question would continue the previous one).
    pub(crate) fn reuses_prompts(&self, model: &dyn CausalLm) -> bool {
        let fill = &self.saved.config.fill;
        fill.block_rows > 0 && fill.share_prefixes && fill_workers(fill.workers, model) == 1 && self.retriever.is_none()
    }

    /// Fills gap `j` of each of `rows` (their next gap), given the values filled before in
    /// the rows; with `kept`, each question continues the kept cache of its row's previous one
    /// (when that holds a prefix of it) and leaves its own in its place.
    fn fill_round(
        &self,
        model: &dyn CausalLm,
        run: &mut FillRun<'_>,
        j: usize,
        rows: &[usize],
        kept: Option<&mut HashMap<usize, Rc<PromptCache>>>,
    ) -> Result<()> {
        // Unique prompts, and unique sets of views (a cell's prompts), only.
        let mut group_of_row = Vec::with_capacity(rows.len());
        let mut unique: Vec<String> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut seen_groups: HashMap<Vec<usize>, usize> = HashMap::new();
        for &r in rows {
            let earlier = run.filled.get(&r).map(Vec::as_slice).unwrap_or(&[]);
            let (prompts, trimmed) = self.view_prompts(run.table, r, j, earlier, None)?;
            *run.trimmed.entry(j).or_default() += usize::from(trimmed);
            let group: Vec<usize> = prompts
                .into_iter()
                .map(|p| {
                    *seen.entry(p.clone()).or_insert_with(|| {
                        unique.push(p);
                        unique.len() - 1
                    })
                })
                .collect();
            let g = *seen_groups.entry(group.clone()).or_insert_with(|| {
                groups.push(group);
                groups.len() - 1
            });
            group_of_row.push(g);
        }
        let ids = unique.iter().map(|p| encode(&self.tokenizer, p)).collect::<Result<Vec<_>>>()?;
        let results = match kept {
            Some(kept) => {
                // A row's previous question is offered to its cell's first view.
                let mut offer: Vec<Option<&PromptCache>> = vec![None; ids.len()];
                for (&r, &g) in rows.iter().zip(&group_of_row) {
                    let first = groups[g][0];
                    if offer[first].is_none() {
                        offer[first] = kept.get(&r).map(Rc::as_ref);
                    }
                }
                let mut resume = Resume { offer, kept: Vec::new(), stats: ResumeStats::default() };
                let results = self.run_plan(model, j, &ids, &groups, run.draws, &mut run.rng, Some(&mut resume))?;
                run.reuse += resume.stats;
                // Generated columns keep nothing: the row's older cache still holds a prefix.
                if !resume.kept.is_empty() {
                    let fresh: Vec<Rc<PromptCache>> = resume.kept.into_iter().map(Rc::new).collect();
                    for (&r, &g) in rows.iter().zip(&group_of_row) {
                        kept.insert(r, Rc::clone(&fresh[groups[g][0]]));
                    }
                }
                results
            }
            None => self.run_plan(model, j, &ids, &groups, run.draws, &mut run.rng, None)?,
        };
        for (&r, &k) in rows.iter().zip(&group_of_row) {
            let res = &results[k];
            run.filled.entry(r).or_default().push((j, res.value.clone()));
            run.cells.push(CellImputation { cell: Cell { row: r, col: j }, ..res.clone() });
        }
        Ok(())
    }

    /// The cells to fill, per row: scored columns first, then generated, each in schema order.
    fn gaps(&self, table: &Table, options: &ImputeOptions) -> Vec<(usize, Vec<usize>)> {
        let mut gaps = Vec::new();
        for r in 0..table.num_rows() {
            let mut cols: Vec<usize> = (0..table.num_columns())
                .filter(|&j| table.is_missing(r, j) && self.plans[j].is_some())
                .filter(|&j| options.only.as_ref().is_none_or(|o| o.contains(&Cell { row: r, col: j })))
                .collect();
            if cols.is_empty() {
                continue;
            }
            cols.sort_by_key(|&j| (!self.is_scored(j), j));
            gaps.push((r, cols));
        }
        gaps
    }

    /// Per column: how its cells were read, and the counts of fallbacks, salvaged lists,
    /// failed draws and trimmed prompts.
    fn column_fills(&self, cells: &[CellImputation], trimmed: HashMap<usize, usize>) -> BTreeMap<String, ColumnFill> {
        let names = self.saved.codec.columns();
        let mut columns: BTreeMap<String, ColumnFill> = BTreeMap::new();
        for c in cells {
            let j = c.cell.col;
            let e = columns.entry(names[j].name.clone()).or_insert_with(|| ColumnFill {
                method: match &self.plans[j] {
                    Some(Plan::Score { .. }) if self.uses_head(j) => "scored + head".into(),
                    Some(Plan::Score { mean: true, values, .. }) if names[j].bins.is_some() => {
                        format!("scored (mean over {} bins)", values.len())
                    }
                    Some(Plan::Score { mean: true, .. }) => "scored (mean)".into(),
                    Some(Plan::Score { .. }) => "scored".into(),
                    Some(Plan::Trie { .. }) => "trie".into(),
                    _ => "grammar".into(),
                },
                ..ColumnFill::default()
            });
            e.cells += 1;
            e.fallbacks += usize::from(c.fallback);
            e.salvaged += usize::from(c.salvaged);
            e.failed_draws += c.failed_draws;
        }
        for (j, n) in trimmed {
            if let Some(e) = columns.get_mut(&names[j].name) {
                e.trimmed = n;
            }
        }
        columns
    }

    /// Imputes one cell of column `j` per group: `groups[i]` are the indices in `ids` of
    /// cell `i`'s prompts (its views; generated columns have one). With `resume`, scored
    /// prompts continue the caches it offers and leave theirs in it.
    #[allow(clippy::too_many_arguments)]
    fn run_plan(
        &self,
        model: &dyn CausalLm,
        j: usize,
        ids: &[Vec<i64>],
        groups: &[Vec<usize>],
        draws: usize,
        rng: &mut ChaCha8Rng,
        resume: Option<&mut Resume<'_>>,
    ) -> Result<Vec<CellImputation>> {
        let plan = self.plans[j].as_ref().ok_or_else(|| Error::Config(format!("column {j} has no plan")))?;
        match plan {
            Plan::Score { values, seqs, mean, decimals } => {
                self.score_column(model, j, (values, seqs, *mean, *decimals), ids, groups, draws, rng, resume)
            }
            Plan::Trie { .. } | Plan::Chars { .. } => {
                self.generate_column(model, j, plan, &first_views(ids, groups), draws, rng)
            }
        }
    }

    /// A scored column: every candidate scored after each prompt (with the end token), the
    /// scores of a cell's views averaged, the prior correction and temperature applied, the
    /// encoder head (on the first view) mixed in where trained; the most likely value (or, for
    /// numbers, the probability-weighted mean) and `draws` samples.
    #[allow(clippy::too_many_arguments)]
    fn score_column(
        &self,
        model: &dyn CausalLm,
        j: usize,
        (values, seqs, mean, decimals): (&[Value], &[Vec<i64>], bool, usize),
        ids: &[Vec<i64>],
        groups: &[Vec<usize>],
        draws: usize,
        rng: &mut ChaCha8Rng,
        resume: Option<&mut Resume<'_>>,
    ) -> Result<Vec<CellImputation>> {
        let cfg = &self.saved.config;
        let codec = &self.saved.codec;
        let lambda = self.prior_lambda(j);
        let temperature = self.temperature(j);
        let prior = self.prior_scores(j).filter(|_| lambda != 0.0);
        let weight = cfg.head.weight;
        let numeric = codec.columns()[j].kind == ColumnKind::Numeric;
        let heads = match &self.heads {
            Some(h) if weight > 0.0 && h.has(j) => {
                Some(h.predict(model, j, &first_views(ids, groups), cfg.fill.batch_size)?)
            }
            _ => None,
        };
        let raw = match resume {
            Some(resume) => {
                let options = self.share_options(model);
                let (raw, kept, stats) = score_candidates_resumed(
                    model,
                    ids,
                    &resume.offer,
                    seqs,
                    &self.end,
                    self.end_after(),
                    self.eos,
                    options,
                )?;
                resume.kept = kept;
                resume.stats += stats;
                raw
            }
            None => self.score_prompts(model, ids, seqs)?,
        };
        let scores = average_views(&raw, groups);
        let mut out = Vec::with_capacity(groups.len());
        for (i, s) in scores.into_iter().enumerate() {
            let s: Vec<f64> = match prior {
                Some(q) => s.iter().zip(q).map(|(a, b)| (a - lambda * b) / temperature).collect(),
                None => s.iter().map(|a| a / temperature).collect(),
            };
            let mut probs = decode::normalise(&s);
            let head = heads.as_ref().and_then(|h| h.get(i));
            if let (Some(h), false) = (head, numeric) {
                probs = head::mix_probs(&probs, h, weight);
            }
            let (mut value, p) = decode::pick(values, &probs, mean, decimals);
            if let (Some(h), true) = (head, numeric) {
                let range = codec.columns()[j].range;
                value = head::mix_number(&value, h.first().copied().unwrap_or(f64::NAN), weight, decimals, range);
            }
            let draws = (0..draws).map(|_| values[sample_index(&probs, rng)].clone()).collect();
            out.push(CellImputation {
                cell: Cell { row: 0, col: j },
                value,
                probability: Some(p),
                draws,
                fallback: false,
                salvaged: false,
                failed_draws: 0,
            });
        }
        Ok(out)
    }

    /// A generated column: greedy decoding under `grammar` for the value, `draws` sampled
    /// decodings; a generation that ends nowhere valid falls back to the column's median or
    /// mode (counted), a set cut by the token budget keeps its complete elements (counted).
    fn generate_column(
        &self,
        model: &dyn CausalLm,
        j: usize,
        plan: &Plan,
        ids: &[Vec<i64>],
        draws: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<CellImputation>> {
        let grammar = &match plan {
            Plan::Trie { trie, .. } => GenGrammar::Trie(trie),
            Plan::Chars { acceptor, candidates } => GenGrammar::Chars(acceptor, candidates),
            Plan::Score { .. } => return Err(Error::Config(format!("column {j} is scored, not generated"))),
        };
        let cfg = &self.saved.config;
        let codec = &self.saved.codec;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(cfg.fill.batch_size) {
            let greedy = GenerateConfig::greedy(cfg.fill.max_new_tokens);
            let best = decode::generate_batch(model, chunk, grammar, &self.texts, self.eos, &greedy)?;
            let mut sampled: Vec<Vec<Option<Value>>> = vec![Vec::new(); chunk.len()];
            for _ in 0..draws {
                let cfg_s = GenerateConfig::sample(cfg.fill.max_new_tokens, 1.0, rng.random());
                let gens = decode::generate_batch(model, chunk, grammar, &self.texts, self.eos, &cfg_s)?;
                for (k, g) in gens.iter().enumerate() {
                    sampled[k].push(read_generated(plan, codec, j, g).map(|v| v.0));
                }
            }
            for (g, s) in best.iter().zip(sampled) {
                let (value, probability, fallback, salvaged) = match read_generated(plan, codec, j, g) {
                    Some((v, false)) if g.finished => (Some(v), Some(g.logprob.exp()), false, false),
                    Some((v, salvaged)) => (Some(v), None, false, salvaged),
                    None => (self.fallback[j].clone(), None, true, false),
                };
                let value = value.ok_or_else(|| {
                    Error::Config(format!("column '{}' has no value to fall back on", codec.columns()[j].name))
                })?;
                let failed_draws = s.iter().filter(|d| d.is_none()).count();
                let draws = s.into_iter().map(|d| d.unwrap_or_else(|| value.clone())).collect();
                out.push(CellImputation {
                    cell: Cell { row: 0, col: j },
                    value,
                    probability,
                    draws,
                    fallback,
                    salvaged,
                    failed_draws,
                });
            }
        }
        Ok(out)
    }
}

/// What one fill of a table carries from cell to cell.
struct FillRun<'t> {
    table: &'t Table,
    /// Per row, the values filled so far, in order.
    filled: HashMap<usize, Vec<(usize, Value)>>,
    /// Per column, cells whose prompt lost retrieved rows.
    trimmed: HashMap<usize, usize>,
    cells: Vec<CellImputation>,
    rng: ChaCha8Rng,
    draws: usize,
    /// What the kept prompt caches saved.
    reuse: ResumeStats,
}

/// The kept caches one scoring call may continue, and what it leaves.
struct Resume<'a> {
    /// Per prompt, the cache of the row's previous question, if any.
    offer: Vec<Option<&'a PromptCache>>,
    /// Per prompt, its own cache after scoring (empty when nothing was scored).
    kept: Vec<PromptCache>,
    stats: ResumeStats,
}

/// Per group (one cell's views), the prompt of its first view: what generation and the encoder
/// head read.
fn first_views(ids: &[Vec<i64>], groups: &[Vec<usize>]) -> Vec<Vec<i64>> {
    groups.iter().map(|g| ids[g[0]].clone()).collect()
}

/// Per group, the mean of the score vectors `scores[k]` of its members `k` (one cell's views).
fn average_views(scores: &[Vec<f64>], groups: &[Vec<usize>]) -> Vec<Vec<f64>> {
    groups
        .iter()
        .map(|g| {
            let mut sum = scores[g[0]].clone();
            for &k in &g[1..] {
                for (a, b) in sum.iter_mut().zip(&scores[k]) {
                    *a += b;
                }
            }
            let n = g.len() as f64;
            sum.iter().map(|a| a / n).collect()
        })
        .collect()
}

/// Folds the trained adapters into the base before filling, so a forward runs the base's
/// kernels alone. On two AVX-512 BF16 cores a SmolLM2 forward with adapters on every linear
/// layer ran at ~1,900-2,400 tokens/s, merged at ~2,700 (the base's speed); on an f32 base the
/// unmerged adapters' small products, scalings and additions took about 10% of a fill's
/// profile (docs/BENCHMARKS.md). The merged weight is rounded to the base's precision, as
/// PEFT's `merge_and_unload`. The adapter's own weights stay as trained (saving writes them
/// unchanged).
pub(crate) fn merge_for_fill(model: &mut Model) -> Result<()> {
    Ok(model.merge()?)
}

/// The scoring workers `fill.workers` asks for: `0` is libtorch's thread count on a CPU (one
/// worker of one thread per thread it would use) and 1 on a GPU.
fn fill_workers(workers: usize, model: &dyn CausalLm) -> usize {
    match workers {
        0 if model.device().is_cuda() => 1,
        0 => usize::try_from(tch::get_num_threads()).unwrap_or(1).max(1),
        n => n,
    }
}

/// The last path segment of every linear layer of `model`, each once (`q_proj`, ..., `down_proj`).
fn every_linear(model: &dyn CausalLm) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in model.linear_names() {
        let last = name.rsplit('.').next().unwrap_or(&name).to_string();
        if !out.contains(&last) {
            out.push(last);
        }
    }
    out
}

fn sample_index(probs: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let mut u: f64 = rng.random();
    for (i, p) in probs.iter().enumerate() {
        if u < *p {
            return i;
        }
        u -= p;
    }
    probs.len().saturating_sub(1)
}
