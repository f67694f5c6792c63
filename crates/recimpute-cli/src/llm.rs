//! `impute --method llm` and `fit-adapter`: the LLM imputer of `llm-imputer`.

use std::path::Path;

use super::*;
use recimpute::llm::{Backbone, FittedLlmImputer, LlmImputer, LlmImputerConfig};

fn config(args: &LlmArgs, seed: u64) -> Result<LlmImputerConfig> {
    let mut settings = LlmImputerConfig::default();
    args.clone().apply(&mut settings)?;
    Ok(recimpute::experiment::llm_cell_config(&settings, seed)?)
}

fn fit(table: &Table, args: &LlmArgs, seed: u64) -> Result<FittedLlmImputer> {
    let fitted = LlmImputer::new(config(args, seed)?).fit(table)?;
    let r = fitted.report();
    eprintln!(
        "fine-tuned on {} rows, base in {}: {} steps, loss {:.3} -> {:.3}, {:.0} tokens/s ({:.0}% of the positions run were padding), {:.1}s",
        r.train_rows,
        r.base_summary(),
        r.steps,
        r.losses.first().map_or(f64::NAN, |l| l.1),
        r.losses.last().map_or(f64::NAN, |l| l.1),
        r.tokens_per_second,
        100.0 * r.padded_tokens.saturating_sub(r.tokens) as f64 / r.padded_tokens.max(1) as f64,
        r.seconds
    );
    if let Some(note) = r.time_limit_note() {
        eprintln!("{note}");
    }
    if let Some(best) = r.holdout.iter().find(|p| Some(p.step) == r.best_step) {
        eprintln!("kept the adapter of {}", best.summary());
    }
    for h in &r.heads {
        eprintln!(
            "encoder head {}: {} on {} prompts ({} skipped), l2 {}, cross-validated {} {:.3}",
            h.column,
            if h.regression { "ridge" } else { "softmax" },
            h.examples,
            h.skipped,
            h.l2,
            if h.regression { "RMSE" } else { "accuracy" },
            h.cv_score
        );
    }
    Ok(fitted)
}

pub fn impute(
    table: &Table,
    train: &Table,
    saved: Option<&Path>,
    save: Option<&Path>,
    args: &LlmArgs,
    seed: u64,
) -> Result<(String, Table)> {
    let fitted = match saved {
        Some(dir) => load(dir, args)?,
        None => fit(train, args, seed)?,
    };
    if let Some(dir) = save {
        fitted.save(dir)?;
        eprintln!("saved the fitted imputer to {}", dir.display());
    }
    let imp = fitted.impute(table, &recimpute::llm::ImputeOptions::default())?;
    eprintln!(
        "imputed {} cells at {:.1} cells/s ({} fell back to the column's mode/median)",
        imp.cells.len(),
        imp.cells_per_second(),
        imp.fallbacks
    );
    let reuse = imp.prompt_reuse;
    if reuse.resumed + reuse.fresh > 0 {
        eprintln!(
            "  {} scored questions continued the cache of their row's previous one, {} ran from their first token; \
             {} prompt token positions run",
            reuse.resumed, reuse.fresh, reuse.tokens_run
        );
    }
    for (column, f) in &imp.columns {
        let trimmed =
            if f.trimmed > 0 { format!(", {} prompts cut to fit the context", f.trimmed) } else { String::new() };
        eprintln!(
            "  {column}: {} cells {}, {} fallbacks, {} salvaged lists{trimmed}",
            f.cells, f.method, f.fallbacks, f.salvaged
        );
    }
    let filled = table.with_filled(imp.cells.into_iter().map(|c| (c.cell, c.value)))?;
    Ok((format!("llm({})", fitted.config().backbone.name()), filled))
}

/// Loads a saved imputer and sets the fill-time flags given (those of
/// `LlmArgs::fill_flag_names`); a flag that shapes the fine-tune is an error naming it, since
/// the imputer is already fitted.
fn load(dir: &Path, args: &LlmArgs) -> Result<FittedLlmImputer> {
    let fit_only = args.fit_flags();
    if !fit_only.is_empty() {
        anyhow::bail!(
            "--imputer {} is already fitted: {} set the fine-tune and do not apply (a saved imputer takes {})",
            dir.display(),
            fit_only.join(", "),
            LlmArgs::fill_flag_names().join(", ")
        );
    }
    let mut fitted = FittedLlmImputer::load_with_backbone(dir, args.llm_backbone.clone().map(Backbone::from_path))?;
    if let Some(orders) = args.llm_orders {
        fitted.set_orders(orders)?;
    }
    if let Some(workers) = args.llm_workers {
        fitted.set_scoring_split(fitted.config().fill.chunk_tokens, workers)?;
    }
    if let Some(rows) = args.llm_block_rows {
        fitted.set_block_rows(rows);
    }
    if let Some(order) = &args.llm_known_order {
        fitted.set_known_order(order.parse()?);
    }
    if let Some(weight) = args.llm_head_weight {
        fitted.set_head_weight(weight)?;
    }
    Ok(fitted)
}

pub fn fit_adapter(table: &Table, out: &Path, args: &LlmArgs, seed: u64) -> Result<()> {
    let fitted = fit(table, args, seed)?;
    fitted.save(out)?;
    emit(&format!(
        "wrote {} (adapter/ in PEFT format, imputer.json); use it with `recimpute impute --method llm --imputer {}`\n",
        out.display(),
        out.display()
    ))
}
