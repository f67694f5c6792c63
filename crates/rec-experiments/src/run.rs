//! Running one cell of the grid: mask → split → impute → train the DLRM → evaluate.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::{Context, Error, Result};
use dlrm::{Dlrm, DlrmConfig, FittedDlrm, TaskKind};
use imputers_baseline::CaseDeletion;
use rec_datasets::adclick::{adclick_path, load_adclick};
use rec_datasets::join::{lookup_join, Lookup};
use rec_datasets::missingness::{inject, Mask};
use rec_datasets::movielens::{load_ml100k, rating_features, MovieLensOptions};
use rec_datasets::split::{adclick_split, entity_split, ml100k_fold, random_split, Fractions, Ml100kFold, Split};
use rec_metrics::{ImputationReport, RankingConfig};
use rec_table::arrow::array::AsArray;
use rec_table::arrow::datatypes::Float64Type;
use rec_table::{ColumnKind, DynImputer, FittedRecommender, Recommender, Table, Task, Value};
use rec_table::{FittedImputer as _, Imputer as _};
use serde::{Deserialize, Serialize};

use crate::cell::{peak_rss_mib, CellResult, CellSpec, LossPoint, Timings};
use crate::config::{AttributeTable, ExperimentConfig, ImputerName, LlmImputerConfig, Pattern, TableTask, TaskName};
use crate::downstream::Downstream;
use crate::names::ImputerParams;
use crate::names::{MovielensSplit, MovielensTask};

/// Hides cells of `table` as the cell asks (a rate of 0 hides none: the missingness
/// calibration maps it to an intercept of minus infinity).
fn mask(table: &Table, spec: &CellSpec, exclude: &[&str], salt: u64) -> Result<(Table, Mask)> {
    let config = spec.pattern.holes(spec.rate, spec.seed, salt).with_exclude(exclude.iter().copied());
    let masked = inject(table, &config).with_context(|| format!("masking {} cells", spec.pattern.as_str()))?;
    Ok((masked.table, masked.mask))
}

/// Where each row of a table went: (part, row in that part).
type Placement = HashMap<usize, (usize, usize)>;

/// Scores the masked cells of `original` against the same cells in the imputed parts.
fn imputation_quality(
    original: &Table,
    mask: &Mask,
    parts: &[&Table],
    placement: Option<&Placement>,
) -> Result<Option<ImputationReport>> {
    let report = crate::hidden::score_hidden_in(original, mask, parts, |row| match placement {
        Some(p) => p.get(&row).copied(),
        None => Some((0, row)),
    })?;
    Ok((!report.columns.is_empty()).then_some(report))
}

/// Fits the imputer on `fit_on` and fills each table; deletion drops incomplete rows of the
/// first table only (the training rows) and leaves the others as they are.
fn impute_all(
    name: ImputerName,
    seed: u64,
    llm: &LlmImputerConfig,
    fit_on: &Table,
    tables: &[&Table],
) -> Result<Imputed> {
    if name == ImputerName::Llm {
        return impute_llm(llm, seed, fit_on, tables);
    }
    let fitted = name
        .build(ImputerParams::seeded(seed))?
        .fit(fit_on)
        .with_context(|| format!("fitting the {} imputer", name.as_str()))?;
    let tables = tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if name == ImputerName::Deletion && i > 0 {
                Ok((*t).clone())
            } else {
                fitted.transform(t).with_context(|| format!("imputing with {}", name.as_str()))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Imputed { tables, log: FillLog { notes: fitted.notes(), ..FillLog::default() } })
}

/// Filled tables and what filling them recorded.
struct Imputed {
    tables: Vec<Table>,
    log: FillLog,
}

/// What a fill recorded besides the filled tables (empty for imputers without a model of
/// their own); a cached MovieLens fill stores it under the same names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct FillLog {
    /// The training loss of the imputer's own model, if it has one.
    losses: Vec<LossPoint>,
    /// Cells filled by the column default because no valid value came out, per column (LLM).
    #[serde(default)]
    fallbacks: BTreeMap<String, usize>,
    /// Cells whose retrieval prompt lost rows to fit the model's context, per column (LLM).
    #[serde(default)]
    trimmed: BTreeMap<String, usize>,
    /// The imputer's resolved settings, for imputers that have many (the LLM).
    #[serde(default, rename = "llm_config")]
    config: Option<serde_json::Value>,
    /// What the fitted imputer said about its fit (`FittedClassical::notes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

impl FillLog {
    /// Prefixes the notes with the name of the table they are about.
    fn name_notes(&mut self, table: &str) {
        self.notes.iter_mut().for_each(|n| *n = format!("{table}: {n}"));
    }

    /// Appends what a later fill of the same cell recorded: its loss curve continues this
    /// one's steps (one curve: one table's fine-tune, then the next's), its counts add to
    /// these, and the settings recorded first stay.
    fn append(&mut self, next: &FillLog) {
        let offset = self.losses.last().map_or(0, |p| p.step);
        self.losses.extend(next.losses.iter().map(|p| LossPoint { step: p.step + offset, loss: p.loss }));
        for (counts, more) in [(&mut self.fallbacks, &next.fallbacks), (&mut self.trimmed, &next.trimmed)] {
            for (column, n) in more {
                *counts.entry(column.clone()).or_default() += n;
            }
        }
        if self.config.is_none() {
            self.config.clone_from(&next.config);
        }
        self.notes.extend(next.notes.iter().cloned());
    }
}

#[cfg(feature = "llm")]
fn impute_llm(settings: &LlmImputerConfig, seed: u64, fit_on: &Table, tables: &[&Table]) -> Result<Imputed> {
    let fitted = llm_imputer::LlmImputer::new(crate::llm_cell_config(settings, seed)?)
        .fit(fit_on)
        .context("fitting the llm imputer")?;
    let losses = fitted.report().losses.iter().map(|&(step, loss)| LossPoint { step, loss }).collect();
    let mut fallbacks = BTreeMap::new();
    let mut trimmed = BTreeMap::new();
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        let imp = fitted.impute(t, &llm_imputer::ImputeOptions::default()).context("imputing with llm")?;
        for (column, f) in &imp.columns {
            *fallbacks.entry(column.clone()).or_default() += f.fallbacks;
            if f.trimmed > 0 {
                *trimmed.entry(column.clone()).or_default() += f.trimmed;
            }
        }
        out.push(t.with_filled(imp.cells.into_iter().map(|c| (c.cell, c.value)))?);
    }
    let config = Some(serde_json::to_value(fitted.config())?);
    let fit = fitted.report();
    let probe = fit.retrieval.as_ref().map(llm_config::RetrievalProbe::summary);
    let depth = fit.depth_probe.as_ref().map(llm_config::DepthProbe::summary);
    let notes = depth.into_iter().chain(fit.blocks_note()).chain(fit.time_limit_note()).chain(probe).collect();
    Ok(Imputed { tables: out, log: FillLog { losses, fallbacks, trimmed, config, notes } })
}

#[cfg(not(feature = "llm"))]
fn impute_llm(_: &LlmImputerConfig, _: u64, _: &Table, _: &[&Table]) -> Result<Imputed> {
    Err(Error::NotBuilt { what: "LLM imputer", feature: "llm" })
}

fn dlrm_config(settings: &DlrmConfig, task: TaskKind, seed: u64) -> DlrmConfig {
    settings.clone().with_seed(seed).with_task(task).with_progress(false)
}

/// Where, under a grid's output directory, the MovieLens fills shared by the two MovieLens
/// tasks are kept.
pub const IMPUTED_DIR: &str = "imputed";

/// Runs one cell; `data_dir` holds `adclick/` and `ml-100k/`. A MovieLens cell reuses the
/// filled user and item tables that the other MovieLens task saved under
/// `config.out_dir/imputed/` for the same (imputer, pattern, rate, seed), and saves its own.
pub fn run_cell(spec: &CellSpec, data_dir: &Path, config: &ExperimentConfig) -> Result<CellResult> {
    let start = Instant::now();
    let mut result = if let Some(ml) = spec.task.movielens() {
        let dlrm = match ml.split {
            MovielensSplit::U1 => config.dlrm.clone(),
            MovielensSplit::ColdUsers | MovielensSplit::ColdItems => {
                config.dlrm.clone().with_id_dropout(config.cold_id_dropout)
            }
        };
        run_movielens(spec, ml, data_dir, &dlrm, &config.llm, &config.out_dir.join(IMPUTED_DIR))?
    } else if spec.task == TaskName::Table {
        let task = config.table.as_ref().ok_or_else(|| {
            Error::Config("the task 'table' needs a `table` section (file, target) in the config".into())
        })?;
        run_table_task(spec, task, config)?
    } else {
        run_row_task(spec, data_dir, config.synthetic_rows, &config.dlrm, &config.llm)?
    };
    result.timings.total_s = start.elapsed().as_secs_f64();
    result.peak_rss_mib = peak_rss_mib();
    Ok(result)
}

/// AdClick and its synthetic twin: one table, target `click`.
fn run_row_task(
    spec: &CellSpec,
    data_dir: &Path,
    synthetic_rows: usize,
    settings: &DlrmConfig,
    llm: &LlmImputerConfig,
) -> Result<CellResult> {
    let fractions = Fractions::train_test(0.8)?;
    let (table, split) = if spec.task == TaskName::Adclick {
        let ad = load_adclick(adclick_path(data_dir))?;
        let split = adclick_split(&ad, fractions, spec.seed);
        (ad.table, split)
    } else {
        let table = rec_datasets::synthetic::adclick_like(synthetic_rows, 1000 + spec.seed)?;
        let split = random_split(table.num_rows(), fractions, spec.seed);
        (table, split)
    };
    let task = FlatTask {
        target: "click",
        kind: TaskKind::Binary,
        never_hide: vec!["click".into()],
        rank: None,
        name: spec.task.as_str().into(),
        attributes: Vec::new(),
    };
    run_flat(spec, &task, &table, &split, settings, llm)
}

/// Your own table: read it, drop the rows without a target (counted), split it by the group
/// column or at random, fill its attribute tables, then run it like AdClick.
fn run_table_task(spec: &CellSpec, task: &TableTask, config: &ExperimentConfig) -> Result<CellResult> {
    let llm = &config.llm;
    let read = task.read.read(&task.path)?;
    let target =
        read.schema().index_of(&task.target).with_context(|| format!("{}: the target", task.path.display()))?;
    let labelled: Vec<usize> = (0..read.num_rows()).filter(|&r| !read.is_missing(r, target)).collect();
    let table = read.take_rows(&labelled)?;
    let fractions = Fractions::train_test(task.train_fraction)?;
    let split = match &task.group {
        Some(group) => entity_split(&table, group, fractions, spec.seed)?,
        None => random_split(table.num_rows(), fractions, spec.seed),
    };
    let mut never_hide: Vec<String> =
        [Some(&task.target), task.group.as_ref(), task.rank_by.as_ref()].into_iter().flatten().cloned().collect();
    never_hide.extend(task.attributes.iter().map(|a| a.on().to_string()));
    // Free text has no imputer and no score: it stays as it is.
    never_hide.extend(table.schema().columns().iter().filter(|c| c.kind == ColumnKind::Text).map(|c| c.name.clone()));
    let attributes = task
        .attributes
        .iter()
        .enumerate()
        .map(|(i, a)| fill_attributes(spec, a, 21 + i as u64, llm))
        .collect::<Result<Vec<_>>>()?;
    let name = file_name(&task.path);
    // Every row's keys are checked once, on the whole file, so an error names the file's row.
    let keys: Vec<&str> = task.attributes.iter().map(AttributeTable::on).collect();
    if !keys.is_empty() {
        let keys_only = read.select(&keys).with_context(|| format!("{name}: the join keys"))?;
        lookup_join(&keys_only, &name, &lookups(&attributes))?;
    }
    // Cold start: the test groups' ids are unknown to the recommender, so its unknown-id
    // embedding must be trained.
    let cold = task.group.as_ref().is_some_and(|g| table.schema().column(g).is_ok_and(|c| c.kind == ColumnKind::Id));
    let settings = if cold { config.dlrm.clone().with_id_dropout(config.cold_id_dropout) } else { config.dlrm.clone() };
    let flat = FlatTask {
        target: &task.target,
        kind: task.kind,
        never_hide,
        rank: task.rank_by.as_deref().map(|user| (user, task.relevant_at)),
        name,
        attributes,
    };
    let mut result = run_flat(spec, &flat, &table, &split, &settings, llm)?;
    result.unlabelled_rows = read.num_rows() - labelled.len();
    Ok(result)
}

/// One table with a target column: what to predict and how to score it.
struct FlatTask<'a> {
    /// The column the DLRM predicts (the imputer never sees it).
    target: &'a str,
    /// The DLRM's task.
    kind: TaskKind,
    /// Columns never hidden (the target among them).
    never_hide: Vec<String>,
    /// The user column and the relevance threshold of the ranking metrics, if any.
    rank: Option<(&'a str, f64)>,
    /// The table's name in errors.
    name: String,
    /// Attribute tables, filled, joined onto the rows before the recommender trains.
    attributes: Vec<FilledAttributes>,
}

impl FlatTask<'_> {
    /// `rows` with the attribute columns of each row's keys.
    fn join(&self, rows: Table) -> Result<Table> {
        if self.attributes.is_empty() {
            return Ok(rows);
        }
        Ok(lookup_join(&rows, &self.name, &lookups(&self.attributes))?)
    }
}

/// An attribute table of a `table` task with its cells hidden and filled by the cell's
/// imputer (left with its holes for deletion), and what filling it recorded.
struct FilledAttributes {
    /// Its file name, for errors.
    name: String,
    key: String,
    on: String,
    table: Table,
    masked_cells: usize,
    imputation: Option<ImputationReport>,
    impute_s: f64,
    log: FillLog,
}

fn lookups(attributes: &[FilledAttributes]) -> Vec<Lookup<'_>> {
    attributes.iter().map(|a| Lookup::new(&a.table, &a.name, &a.key).on(&a.on)).collect()
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Reads an attribute table, hides its cells (never the key or free text) with the cell's
/// pattern under `salt`, and fills them with the cell's imputer fitted on the table itself.
fn fill_attributes(
    spec: &CellSpec,
    attributes: &AttributeTable,
    salt: u64,
    llm: &LlmImputerConfig,
) -> Result<FilledAttributes> {
    let name = file_name(&attributes.path);
    let original = attributes.read.read(&attributes.path)?;
    if original.schema().index_of(&attributes.key).is_err() {
        return Err(Error::Config(format!(
            "{}: no key column '{}' (it has: {})",
            attributes.path.display(),
            attributes.key,
            original.schema().names().join(", ")
        )));
    }
    let mut exclude = vec![attributes.key.as_str()];
    exclude.extend(original.schema().columns().iter().filter(|c| c.kind == ColumnKind::Text).map(|c| c.name.as_str()));
    let (masked, mask) = mask(&original, spec, &exclude, salt).with_context(|| name.clone())?;
    let t0 = Instant::now();
    let mut filled = FilledAttributes {
        key: attributes.key.clone(),
        on: attributes.on().to_string(),
        table: masked.clone(),
        masked_cells: mask.len(),
        imputation: None,
        impute_s: 0.0,
        log: FillLog::default(),
        name,
    };
    if spec.imputer != ImputerName::Deletion {
        let imputed =
            impute_all(spec.imputer, spec.seed, llm, &masked, &[&masked]).with_context(|| filled.name.clone())?;
        filled.table = imputed.tables.into_iter().next().context("no filled attribute table")?;
        filled.imputation = imputation_quality(&original, &mask, &[&filled.table], None)?;
        filled.log = imputed.log;
        filled.log.name_notes(&filled.name);
    }
    filled.impute_s = t0.elapsed().as_secs_f64();
    Ok(filled)
}

/// Mask → split → impute (the target held out) → DLRM → evaluate, for one flat table.
fn run_flat(
    spec: &CellSpec,
    task: &FlatTask<'_>,
    table: &Table,
    split: &Split,
    settings: &DlrmConfig,
    llm: &LlmImputerConfig,
) -> Result<CellResult> {
    let target = task.target;
    let never_hide: Vec<&str> = task.never_hide.iter().map(String::as_str).collect();
    let maskable =
        table.schema().columns().iter().any(|c| c.kind != ColumnKind::Id && !never_hide.contains(&c.name.as_str()));
    // Interactions that are only keys and a target: the holes are in the attribute tables,
    // if anywhere (a rate of 0 hides nothing).
    let (masked, mask) = if maskable || (task.attributes.is_empty() && spec.rate > 0.0) {
        mask(table, spec, &never_hide, 1)?
    } else {
        (table.clone(), Mask::default())
    };
    let train = masked.take_rows(&split.train)?;
    let test = masked.take_rows(&split.test)?;
    let placement: Placement = split
        .train
        .iter()
        .enumerate()
        .map(|(i, &r)| (r, (0, i)))
        .chain(split.test.iter().enumerate().map(|(i, &r)| (r, (1, i))))
        .collect();

    let t0 = Instant::now();
    let mut log = FillLog::default();
    let (train_imp, test_imp) = if spec.imputer == ImputerName::Deletion {
        // Deletion drops training rows, below, once the attributes are joined; the target is
        // always observed, so it can stay.
        (train, test)
    } else {
        // The imputer never sees the target: it is unknown at prediction time.
        let train_x = train.drop_columns(&[target])?;
        let test_x = test.drop_columns(&[target])?;
        let imputed = impute_all(spec.imputer, spec.seed, llm, &train_x, &[&train_x, &test_x])?;
        log = imputed.log;
        let filled = imputed.tables;
        let target_spec = train.schema().column(target)?.clone();
        let attach = |x: &Table, full: &Table| -> Result<Table> {
            let col = full.schema().index_of(target)?;
            Ok(x.with_column(target_spec.clone(), &full.column_values(col))?)
        };
        (attach(&filled[0], &train)?, attach(&filled[1], &test)?)
    };
    let mut imputation = if spec.imputer == ImputerName::Deletion {
        None
    } else {
        imputation_quality(table, &mask, &[&train_imp, &test_imp], Some(&placement))?
    };
    let mut train_imp = task.join(train_imp)?;
    let test_imp = task.join(test_imp)?;
    if spec.imputer == ImputerName::Deletion {
        train_imp = CaseDeletion::new().fit_boxed(&train_imp)?.transform(&train_imp)?;
    }
    let mut masked_cells = mask.len();
    let mut impute_s = t0.elapsed().as_secs_f64();
    for a in &task.attributes {
        masked_cells += a.masked_cells;
        impute_s += a.impute_s;
        if let Some(report) = &a.imputation {
            imputation.get_or_insert_with(Default::default).columns.extend(report.columns.iter().cloned());
        }
        log.append(&a.log);
    }

    let t1 = Instant::now();
    let model = Dlrm::new(dlrm_config(settings, task.kind, spec.seed))?.fit(&train_imp, target)?;
    let train_s = t1.elapsed().as_secs_f64();
    let downstream = evaluate(&model, &test_imp, target, task.rank)?;
    Ok(CellResult {
        spec: *spec,
        masked_cells,
        train_rows: train_imp.num_rows(),
        test_rows: test_imp.num_rows(),
        imputation,
        downstream,
        timings: Timings { impute_s, train_s, total_s: 0.0 },
        peak_rss_mib: None,
        loss_history: log.losses,
        imputation_reused: false,
        fallbacks: log.fallbacks,
        trimmed: log.trimmed,
        llm_config: log.config,
        notes: log.notes,
        unlabelled_rows: 0,
    })
}

fn run_movielens(
    spec: &CellSpec,
    ml_task: MovielensTask,
    data_dir: &Path,
    settings: &DlrmConfig,
    llm: &LlmImputerConfig,
    cache_root: &Path,
) -> Result<CellResult> {
    const TARGET: &str = "rating";
    let dir = data_dir.join("ml-100k");
    let ml = load_ml100k(&dir, &MovieLensOptions::default())?;
    let (users_m, users_mask) = mask(&ml.users, spec, &["user_id"], 11)?;
    let (items_m, items_mask) = mask(&ml.items, spec, &["item_id", "title"], 13)?;

    let t0 = Instant::now();
    let fills = if spec.imputer == ImputerName::Deletion {
        MovieLensFills::unfilled(users_m.clone(), items_m.clone())
    } else {
        movielens_fills(spec, llm, cache_root, &users_m, &items_m, t0)?
    };
    let (users_i, items_i) = (&fills.users, &fills.items);
    let imputation = if spec.imputer == ImputerName::Deletion {
        None
    } else {
        let mut report = imputation_quality(&ml.users, &users_mask, &[users_i], None)?.unwrap_or_default();
        if let Some(items) = imputation_quality(&ml.items, &items_mask, &[items_i], None)? {
            report.columns.extend(items.columns);
        }
        (!report.columns.is_empty()).then_some(report)
    };

    let split = movielens_split(&dir, &ml.ratings, ml_task.split, spec.seed)?;
    let prepare = |rows: &[usize]| -> Result<Table> {
        let mut table = rating_features(&ml.ratings, rows, users_i, items_i)?;
        if ml_task.classes {
            let schema = table.schema().clone().with_kind(TARGET, ColumnKind::Categorical)?;
            table = table.cast(schema)?;
        }
        Ok(table)
    };
    let mut train = prepare(&split.train)?;
    let test = prepare(&split.test)?;
    if spec.imputer == ImputerName::Deletion {
        train = CaseDeletion::new().fit_boxed(&train)?.transform(&train)?;
    }
    // A reused fill reports what computing it cost, so the timings stay comparable.
    let impute_s = t0.elapsed().as_secs_f64() + fills.reused.unwrap_or(0.0);

    let kind = if ml_task.classes { TaskKind::MultiClass } else { TaskKind::Regression };
    let t1 = Instant::now();
    let model = Dlrm::new(dlrm_config(settings, kind, spec.seed))?.fit(&train, TARGET)?;
    let train_s = t1.elapsed().as_secs_f64();
    let downstream = evaluate(&model, &test, TARGET, Some(("user_id", 4.0)))?;
    Ok(CellResult {
        spec: *spec,
        masked_cells: users_mask.len() + items_mask.len(),
        train_rows: train.num_rows(),
        test_rows: test.num_rows(),
        imputation,
        downstream,
        timings: Timings { impute_s, train_s, total_s: 0.0 },
        peak_rss_mib: None,
        loss_history: fills.log.losses,
        imputation_reused: fills.reused.is_some(),
        fallbacks: fills.log.fallbacks,
        trimmed: fills.log.trimmed,
        llm_config: fills.log.config,
        notes: fills.log.notes,
        unlabelled_rows: 0,
    })
}

/// The filled user and item tables of a MovieLens cell and what filling them recorded.
struct MovieLensFills {
    users: Table,
    items: Table,
    log: FillLog,
    /// The seconds the fill cost when it was computed, if it was reused from the cache.
    reused: Option<f64>,
}

impl MovieLensFills {
    /// The masked tables as they are (case-wise deletion fills nothing).
    fn unfilled(users: Table, items: Table) -> Self {
        MovieLensFills { users, items, log: FillLog::default(), reused: None }
    }
}

/// Fills the masked user and item tables with the cell's imputer, or reuses the fill cached
/// under `cache_root` for the same key (tasks that share a mask share the fill).
fn movielens_fills(
    spec: &CellSpec,
    llm: &LlmImputerConfig,
    cache_root: &Path,
    users_m: &Table,
    items_m: &Table,
    t0: Instant,
) -> Result<MovieLensFills> {
    let cache = MovieLensImputed::dir(cache_root, spec);
    let key = MovieLensImputed::key(spec, llm);
    if let Some(hit) = MovieLensImputed::load(&cache, &key)? {
        return Ok(MovieLensFills {
            users: hit.users,
            items: hit.items,
            log: hit.meta.log,
            reused: Some(hit.meta.impute_s),
        });
    }
    let mut u = impute_all(spec.imputer, spec.seed, llm, users_m, &[users_m])?;
    let mut i = impute_all(spec.imputer, spec.seed, llm, items_m, &[items_m])?;
    u.log.name_notes("users");
    i.log.name_notes("items");
    // One curve: the users table's fine-tune, then the items table's, steps running on.
    let mut log = u.log;
    log.append(&i.log);
    let users = u.tables.into_iter().next().context("no users table")?;
    let items = i.tables.into_iter().next().context("no items table")?;
    let meta = CacheMeta { key, impute_s: t0.elapsed().as_secs_f64(), log };
    MovieLensImputed::save(&cache, &users, &items, &meta)?;
    Ok(MovieLensFills { users, items, log: meta.log, reused: None })
}

/// The training and test rows of `ratings` (ML-100K's `u.data`, in `dir`) for a split; the
/// cold splits are seeded.
pub fn movielens_split(dir: &Path, ratings: &Table, split: MovielensSplit, seed: u64) -> Result<Split> {
    Ok(match split {
        MovielensSplit::U1 => ml100k_fold(dir, Ml100kFold::U1, ratings)?,
        MovielensSplit::ColdUsers => entity_split(ratings, "user_id", Fractions::train_test(0.8)?, seed)?,
        MovielensSplit::ColdItems => entity_split(ratings, "item_id", Fractions::train_test(0.8)?, seed)?,
    })
}

/// The filled user and item tables of one MovieLens cell, kept on disk for the other
/// MovieLens task: both tasks hide the same cells for a given (imputer, pattern, rate, seed),
/// so the second reads the first's fill instead of fitting the imputer again (for the LLM
/// imputer, two LoRA fine-tunes, most of a cell's time).
struct MovieLensImputed {
    users: Table,
    items: Table,
    meta: CacheMeta,
}

/// What a cached fill was computed from and what computing it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CacheMeta {
    key: CacheKey,
    impute_s: f64,
    /// Its fields (`losses`, `fallbacks`, `trimmed`, `llm_config`) sit beside `key`.
    #[serde(flatten)]
    log: FillLog,
}

/// Everything the fill depends on; a cached fill whose key differs is recomputed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CacheKey {
    imputer: ImputerName,
    pattern: Pattern,
    rate: f64,
    seed: u64,
    llm: Option<LlmImputerConfig>,
}

impl MovieLensImputed {
    fn dir(root: &Path, spec: &CellSpec) -> PathBuf {
        root.join(format!(
            "ml100k__{}__{}-{:.3}__seed{}",
            spec.imputer.as_str(),
            spec.pattern.as_str(),
            spec.rate,
            spec.seed
        ))
    }

    fn key(spec: &CellSpec, llm: &LlmImputerConfig) -> CacheKey {
        CacheKey {
            imputer: spec.imputer,
            pattern: spec.pattern,
            rate: spec.rate,
            seed: spec.seed,
            llm: (spec.imputer == ImputerName::Llm).then(|| llm.clone().with_seed(spec.seed)),
        }
    }

    /// The cached fill, if one is complete (its `meta.json` is written last) and was made
    /// with `key`.
    fn load(dir: &Path, key: &CacheKey) -> Result<Option<MovieLensImputed>> {
        let meta_path = dir.join("meta.json");
        let meta: CacheMeta = match std::fs::read(&meta_path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(meta) => meta,
                // Written by another version: recompute rather than fail the cell.
                Err(_) => return Ok(None),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| meta_path.display().to_string()),
        };
        if &meta.key != key {
            return Ok(None);
        }
        let read = |name: &str| {
            let path = dir.join(name);
            rec_table::read_parquet(&path, &Default::default())
                .with_context(|| format!("reading the cached fill {}", path.display()))
        };
        Ok(Some(MovieLensImputed { users: read("users.parquet")?, items: read("items.parquet")?, meta }))
    }

    /// Writes the two tables, then `meta.json`, each atomically.
    fn save(dir: &Path, users: &Table, items: &Table, meta: &CacheMeta) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        rec_table::write_parquet(users, dir.join("users.parquet"))?;
        rec_table::write_parquet(items, dir.join("items.parquet"))?;
        rec_table::write_bytes_atomic(&dir.join("meta.json"), serde_json::to_string_pretty(meta)?.as_bytes())?;
        Ok(())
    }
}

/// Scores the DLRM on the test rows by the task it was trained for. `rank` = (user column,
/// relevance threshold) adds Recall@10, NDCG@10 and HR@10 per user for multi-class and
/// regression targets that are numbers (a class's number is its label read as one).
fn evaluate(model: &FittedDlrm, test: &Table, target: &str, rank: Option<(&str, f64)>) -> Result<Downstream> {
    let col = test.schema().index_of(target)?;
    let truth: Vec<Value> = (0..test.num_rows())
        .map(|r| test.value(r, col).ok_or_else(|| Error::Data(format!("test row {r} has no '{target}'"))))
        .collect::<Result<_>>()?;
    let as_number = |v: &Value| match v {
        Value::Number(x) => Some(*x),
        Value::Category(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let ranking = |scores: &[f64]| -> Result<Option<rec_metrics::RankingReport>> {
        let Some((user, threshold)) = rank else { return Ok(None) };
        let relevance: Vec<f64> = truth.iter().map(|v| as_number(v).unwrap_or(f64::NAN)).collect();
        let users: Vec<String> = test.strings(user)?.into_iter().map(|u| u.unwrap_or_default().to_string()).collect();
        let config = RankingConfig::new(10).with_relevance_threshold(threshold);
        Ok(Some(rec_metrics::ranking_report_by_user(&users, scores, &relevance, &config)?))
    };
    let labels = model.labels();
    match model.target_map().task() {
        Task::Binary => {
            let probs = model.predict(test)?;
            let probs: Vec<f64> = probs.as_primitive::<Float64Type>().values().to_vec();
            let positive = labels.get(1).context("a binary target with fewer than two labels")?;
            let actual: Vec<bool> = truth.iter().map(|v| v == positive).collect();
            Ok(Downstream::Binary(rec_metrics::binary_report(&probs, &actual, 0.5)?))
        }
        Task::MultiClass { .. } => {
            let proba = model.predict_proba(test)?;
            let pred: Vec<usize> = proba
                .iter()
                .map(|p| p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i))
                .collect();
            let y_true: Vec<usize> = truth
                .iter()
                .map(|t| labels.iter().position(|l| l == t).context("a test label unseen in training"))
                .collect::<Result<_>>()?;
            let values: Vec<f64> = labels.iter().map(|l| as_number(l).unwrap_or(f64::NAN)).collect();
            let expected: Vec<f64> = proba.iter().map(|p| p.iter().zip(&values).map(|(p, l)| p * l).sum()).collect();
            Ok(Downstream::MultiClass {
                report: rec_metrics::multiclass_report(&y_true, &pred, labels.len())?,
                ranking: ranking(&expected)?,
            })
        }
        Task::Regression => {
            let proba = model.predict_proba(test)?;
            let pred: Vec<f64> = proba.iter().map(|p| p[0]).collect();
            let actual: Vec<f64> = truth
                .iter()
                .map(|v| as_number(v).ok_or_else(|| Error::Data(format!("'{target}' value {v:?} is not a number"))))
                .collect::<Result<_>>()?;
            Ok(Downstream::Regression {
                report: rec_metrics::regression_report(&actual, &pred)?,
                ranking: ranking(&pred)?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_log_appends_its_curve_after_the_last_step_and_adds_its_counts() {
        let point = |step, loss| LossPoint { step, loss };
        let mut log = FillLog {
            losses: vec![point(10, 2.0), point(20, 1.5)],
            fallbacks: BTreeMap::from([("age".into(), 2)]),
            trimmed: BTreeMap::new(),
            config: None,
            notes: vec!["user table: a".into()],
        };
        let next = FillLog {
            losses: vec![point(10, 3.0)],
            fallbacks: BTreeMap::from([("age".into(), 1), ("year".into(), 4)]),
            trimmed: BTreeMap::from([("year".into(), 5)]),
            config: Some(serde_json::json!({"r": 16})),
            notes: vec!["item table: b".into()],
        };
        log.append(&next);
        assert_eq!(log.losses, [point(10, 2.0), point(20, 1.5), point(30, 3.0)]);
        assert_eq!(log.fallbacks, BTreeMap::from([("age".into(), 3), ("year".into(), 4)]));
        assert_eq!(log.trimmed, BTreeMap::from([("year".into(), 5)]));
        assert_eq!(log.config, next.config);
        assert_eq!(log.notes, ["user table: a", "item table: b"]);
        log.append(&FillLog { config: Some(serde_json::json!({"r": 8})), ..FillLog::default() });
        assert_eq!(log.config, next.config, "the first settings stay");
        // The cache's field names are kept.
        let json = serde_json::to_value(&log).unwrap();
        assert!(json.get("llm_config").is_some() && json.get("losses").is_some(), "{json}");
    }
}
