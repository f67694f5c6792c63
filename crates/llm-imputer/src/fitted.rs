//! The fitted imputer as users hold it: its public face, the imputation results, and
//! persistence (save and load).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use gpt2_lora::ResumeStats;
use prompt_codec::RowCodec;
use rec_table::{Cell, FittedImputer, Schema, Table, Value};
use serde::{Deserialize, Serialize};

use crate::backbone::{self, Backbone};
use crate::config::{KnownOrder, LlmImputerConfig};
use crate::error::{Error, Result};
use crate::head::{HeadMeta, Heads, HEADS_FILE};
use crate::plan::{Core, Model};
use crate::retrieval::Retriever;
use crate::FitReport;

/// The saved form of a fitted imputer (`imputer.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Saved {
    pub format: u32,
    pub config: LlmImputerConfig,
    pub codec: RowCodec,
    /// Distinct observed numbers per column (`None` for other kinds or too many values).
    pub numeric_values: Vec<Option<Vec<f64>>>,
    /// The value used when generation cannot finish, as continuation text per column.
    pub fallback: Vec<Option<String>>,
    /// Weight of the prior correction per column (0: none).
    pub prior_lambda: Vec<f64>,
    /// Temperature of the candidate scores per column (1: none).
    pub temperature: Vec<f64>,
    pub report: FitReport,
    /// The encoder heads (their tensors in `heads.safetensors`); empty without.
    #[serde(default)]
    pub heads: Vec<HeadMeta>,
    /// Row of the fit table each retrieval reference row (in `reference.parquet`) came from;
    /// empty without retrieval.
    #[serde(default)]
    pub reference_origin: Vec<usize>,
}

pub(crate) const SAVED_FILE: &str = "imputer.json";

pub(crate) const ADAPTER_DIR: &str = "adapter";

pub(crate) const REFERENCE_FILE: &str = "reference.parquet";

pub(crate) const FORMAT: u32 = 2;

/// A fitted [`LlmImputer`](crate::LlmImputer): the fine-tuned model and what reads it.
///
/// `Send`, not `Sync`: one fitted imputer fills one table at a time, with no lock around the
/// model.
pub struct FittedLlmImputer {
    pub(crate) core: Core,
    pub(crate) model: Model,
}

impl std::fmt::Debug for FittedLlmImputer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FittedLlmImputer")
            .field("backbone", &self.core.saved.config.backbone)
            .field("report", &self.core.saved.report)
            .finish_non_exhaustive()
    }
}

/// One imputed cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellImputation {
    /// The cell.
    pub cell: Cell,
    /// The value written into the table.
    pub value: Value,
    /// The model's probability of the choice: of the chosen value among the scored ones, or
    /// of the generated token sequence under the grammar; `None` for a fallback.
    pub probability: Option<f64>,
    /// Extra sampled values (multiple imputation).
    pub draws: Vec<Value>,
    /// Generation could not finish a valid value and the column's fallback (mode or median of
    /// the training rows) was used.
    pub fallback: bool,
    /// A list cut off by the token budget, kept with its complete elements.
    pub salvaged: bool,
    /// Sampled draws that did not finish a valid value and were replaced by `value`.
    pub failed_draws: usize,
}

/// What happened to one column's cells in [`FittedLlmImputer::impute`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnFill {
    /// Cells imputed.
    pub cells: usize,
    /// How: `scored` (every allowed value scored, the most likely taken), `scored (mean)` (a
    /// number: the probability-weighted mean of the scored values), `scored (mean over N
    /// bins)` (the same over the bins' values of a column written by bin,
    /// `examples.numeric_bins`), `trie` (categories generated along their token tree) or
    /// `grammar` (generated under a character grammar).
    pub method: String,
    /// Cells filled with the column's fallback value because no valid value came out.
    pub fallbacks: usize,
    /// Lists cut by the token budget and kept with their complete elements.
    pub salvaged: usize,
    /// Draws replaced by the cell's value because they did not finish.
    pub failed_draws: usize,
    /// Cells whose prompt lost retrieved rows (least similar first) to fit the model's context.
    #[serde(default)]
    pub trimmed: usize,
}

/// The result of [`FittedLlmImputer::impute`].
#[derive(Debug, Clone, PartialEq)]
pub struct Imputation {
    /// Every imputed cell.
    pub cells: Vec<CellImputation>,
    /// Wall time.
    pub seconds: f64,
    /// Cells that needed a fallback value.
    pub fallbacks: usize,
    /// Per column (by name): cells, method, fallbacks, salvaged lists, failed draws.
    pub columns: BTreeMap<String, ColumnFill>,
    /// Scored prompts that continued the cache of their row's previous question, prompts run
    /// from the start, and prompt tokens fed (all zero when `fill.block_rows` is 0 or the fill
    /// went column by column for another reason, see [`LlmImputerConfig`]'s `fill`).
    pub prompt_reuse: ResumeStats,
}

impl Imputation {
    /// Imputed cells per second.
    pub fn cells_per_second(&self) -> f64 {
        self.cells.len() as f64 / self.seconds.max(1e-9)
    }
}

/// Options of [`FittedLlmImputer::impute`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImputeOptions {
    /// Sampled values per cell besides the best one.
    pub draws: usize,
    /// Seed of the draws.
    pub seed: u64,
    /// Impute only these cells (others stay missing and are left out of the prompts); `None`
    /// imputes every missing cell.
    pub only: Option<HashSet<Cell>>,
}

impl FittedLlmImputer {
    /// What fitting did (loss history and held-out curve included).
    pub fn report(&self) -> &FitReport {
        &self.core.saved.report
    }

    /// Whether its prompts carry similar training rows (`retrieval.mode` on, or `auto` and the
    /// fit's probe said so: [`FitReport::retrieval`]).
    pub fn retrieval_on(&self) -> bool {
        self.core.retriever.is_some()
    }

    /// The settings it was fitted with.
    pub fn config(&self) -> &LlmImputerConfig {
        &self.core.saved.config
    }

    /// The fitted row codec.
    pub fn codec(&self) -> &RowCodec {
        &self.core.saved.codec
    }

    /// The prompt the model reads for cell `(row, col)` of `table` (without earlier fills of the
    /// row), e.g. to see which similar rows retrieval puts before it.
    pub fn prompt_text(&self, table: &Table, row: usize, col: usize) -> Result<String> {
        Ok(self.core.prompt(table, row, col, &[], None, 0)?.0)
    }

    /// Sets how many orders each scored cell is asked in by later fills (`fill.orders`), e.g.
    /// to compare one and several on one fit; the prior-correction weights and temperatures
    /// chosen at fit time stay as they were. Saved with the imputer.
    pub fn set_orders(&mut self, orders: usize) -> Result<()> {
        if orders == 0 {
            return Err(Error::Config("fill.orders must be positive".into()));
        }
        self.core.saved.config.fill.orders = orders;
        Ok(())
    }

    /// Sets whether later fills share prompt prefixes while scoring (`fill.share_prefixes`, on
    /// by default): off runs every prompt whole, as before the option existed, e.g. to time or
    /// check the shared path against it. Saved with the imputer.
    pub fn set_share_prefixes(&mut self, share: bool) {
        self.core.saved.config.fill.share_prefixes = share;
    }

    /// Sets how later fills split shared scoring: `chunk_tokens` prompt tokens run together
    /// (`fill.chunk_tokens`), scored by `workers` threads side by side (`fill.workers`; `0`
    /// picks one per libtorch thread on a CPU). Saved with the imputer.
    pub fn set_scoring_split(&mut self, chunk_tokens: usize, workers: usize) -> Result<()> {
        if chunk_tokens == 0 {
            return Err(Error::Config("fill.chunk_tokens must be positive".into()));
        }
        self.core.saved.config.fill.chunk_tokens = chunk_tokens;
        self.core.saved.config.fill.workers = workers;
        Ok(())
    }

    /// Sets how many rows later fills take together with their prompts' caches kept from gap
    /// to gap (`fill.block_rows`; `0` fills column by column over the whole table). Saved with
    /// the imputer.
    pub fn set_block_rows(&mut self, rows: usize) {
        self.core.saved.config.fill.block_rows = rows;
    }

    /// Sets the order later questions write a row's known cells in (`fill.known_order`).
    /// Saved with the imputer.
    pub fn set_known_order(&mut self, order: KnownOrder) {
        self.core.saved.config.fill.known_order = order;
    }

    /// Sets the encoder head's weight for later fills (`0`: the scored candidates alone, `1`:
    /// the head alone), e.g. to compare read-outs of one fit. A weight above 0 needs heads,
    /// which only a fit with `head.weight > 0` trains.
    pub fn set_head_weight(&mut self, weight: f64) -> Result<()> {
        self.core.set_head_weight(weight)
    }

    /// Whether column `col` is scored (rather than generated).
    pub fn is_scored(&self, col: usize) -> bool {
        self.core.is_scored(col)
    }

    /// Imputes every missing cell of `table` (ids excluded), with optional draws.
    pub fn impute(&self, table: &Table, options: &ImputeOptions) -> Result<Imputation> {
        self.core.impute(&self.model, table, options)
    }

    /// Writes the imputer to `dir` (created or replaced atomically): `imputer.json`, the
    /// PEFT adapter under `adapter/`, the encoder heads in `heads.safetensors` and the
    /// retrieval reference in `reference.parquet` (when there are any).
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "imputer".into());
        // What an earlier save of the same directory left when its process was killed.
        rec_table::remove_stale_temps(parent, Some(&name))?;
        let tmp = rec_table::temp_sibling(&parent.join(&name), None);
        if let Err(e) = self.write_parts(&tmp, dir) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let old = rec_table::temp_sibling(&parent.join(&name), Some("old"));
        let had_old = dir.exists();
        if had_old {
            std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
        if had_old {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        Ok(())
    }

    /// Writes every file of a saved imputer into the new directory `tmp` (errors name `dir`'s
    /// files where the user would look for them).
    fn write_parts(&self, tmp: &Path, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(tmp).map_err(|e| Error::io(tmp, e))?;
        let json = serde_json::to_vec_pretty(&self.core.saved)
            .map_err(|source| Error::Json { path: dir.join(SAVED_FILE), source })?;
        std::fs::write(tmp.join(SAVED_FILE), json).map_err(|e| Error::io(tmp.join(SAVED_FILE), e))?;
        if let Some(heads) = &self.core.heads {
            heads.save(&tmp.join(HEADS_FILE))?;
        }
        if let Some(retriever) = &self.core.retriever {
            rec_table::write_parquet(retriever.reference(), tmp.join(REFERENCE_FILE))?;
        }
        self.model.save_pretrained(tmp.join(ADAPTER_DIR))?;
        Ok(())
    }

    /// `k` imputed tables for multiple imputation: table `i` takes draw `i` of every cell.
    pub fn transform_multiple(&self, table: &Table, k: usize, seed: u64) -> Result<Vec<Table>> {
        let imp = self.impute(table, &ImputeOptions { draws: k, seed, only: None })?;
        (0..k).map(|i| Ok(table.with_filled(imp.cells.iter().map(|c| (c.cell, c.draws[i].clone())))?)).collect()
    }
}

impl FittedImputer for FittedLlmImputer {
    type Error = Error;

    fn schema(&self) -> &Schema {
        self.core.saved.codec.schema()
    }

    fn transform(&self, table: &Table) -> Result<Table> {
        let imp = self.impute(table, &ImputeOptions::default())?;
        Ok(table.with_filled(imp.cells.into_iter().map(|c| (c.cell, c.value)))?)
    }
}

impl FittedLlmImputer {
    /// Loads an imputer saved with [`FittedLlmImputer::save`], reading the backbone from the
    /// path recorded in it.
    pub fn load(dir: impl AsRef<Path>) -> Result<FittedLlmImputer> {
        Self::load_with_backbone(dir, None)
    }

    /// Like [`load`](Self::load), with the backbone read from another place (e.g. on another
    /// machine); it must be the same model the adapter was trained on.
    pub fn load_with_backbone(dir: impl AsRef<Path>, backbone: Option<Backbone>) -> Result<FittedLlmImputer> {
        let dir = dir.as_ref();
        let path = dir.join(SAVED_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let format = serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|source| Error::Json { path: path.clone(), source })?
            .get("format")
            .and_then(serde_json::Value::as_u64);
        if format != Some(u64::from(FORMAT)) {
            return Err(Error::load(
                &path,
                format!(
                    "format {} is not supported (expected {FORMAT}); fit the imputer again",
                    format.map_or("(none)".to_string(), |f| f.to_string())
                ),
            ));
        }
        let mut saved: Saved =
            serde_json::from_str(&text).map_err(|source| Error::Json { path: path.clone(), source })?;
        if let Some(b) = backbone {
            saved.config.backbone = b;
        }
        let cfg = &saved.config;
        let loaded =
            backbone::load(&cfg.backbone, cfg.depth, crate::config::device_of(cfg.device), cfg.inference_precision)?;
        let metas = saved.heads.clone();
        let (mut core, mut model) = Core::assemble(saved, loaded, Some(&dir.join(ADAPTER_DIR)))?;
        crate::plan::merge_for_fill(&mut model)?;
        if !metas.is_empty() {
            let columns = core.saved.codec.columns().len();
            core.heads = Some(Heads::load(&dir.join(HEADS_FILE), &metas, columns)?);
        }
        // A fit with retrieval saved its reference rows' origins (the mode of a file saved
        // before `retrieval.mode` existed may read `auto`).
        let k = core.saved.config.retrieval.k;
        if k > 0 && !core.saved.reference_origin.is_empty() {
            let path = dir.join(REFERENCE_FILE);
            let schema = core.saved.codec.schema();
            let opts = schema
                .columns()
                .iter()
                .fold(rec_table::ParquetOptions::default(), |o, c| o.with_kind(c.name.clone(), c.kind));
            let reference = rec_table::read_parquet(&path, &opts).map_err(|e| Error::load(&path, e.to_string()))?;
            let origin = core.saved.reference_origin.clone();
            let retriever = Retriever::from_reference(&core.saved.codec, reference, origin, k)
                .map_err(|e| Error::load(&path, e.to_string()))?;
            core.retriever = Some(retriever);
        }
        core.refresh_priors(&model)?;
        Ok(FittedLlmImputer { core, model })
    }
}
