//! `experiment` and `demo`: thin shells over the experiment grid of `rec-experiments`.

use super::grids::{announce, grid_fields, load_config};
use super::*;
use recimpute::experiment::{self as exp, ExperimentConfig};

pub fn run(args: ExperimentArgs) -> Result<()> {
    let mut config: ExperimentConfig = load_config(args.grid.config.as_deref(), "experiment")?;
    let tasks_given = args.tasks.is_some();
    set(&mut config.tasks, args.tasks);
    set(&mut config.dlrm.epochs, args.epochs);
    if let Some(task) = table_task(args.table)? {
        config.table = Some(task);
        if !tasks_given {
            config.tasks = vec![exp::TaskName::Table];
        }
    }
    args.grid.apply(grid_fields!(config))?;
    execute(&config)
}

/// The task `table` the flags describe, if `--table` was given.
fn table_task(args: TableArgs) -> Result<Option<exp::TableTask>> {
    let (Some(path), Some(target)) = (args.table, args.target) else { return Ok(None) };
    let mut task = exp::TableTask::new(path, target);
    if let Some(kind) = args.target_kind {
        task.kind = serde_json::from_value(serde_json::Value::String(kind))?;
    }
    task.group = args.group;
    set(&mut task.train_fraction, args.train_fraction);
    task.rank_by = args.rank_by;
    set(&mut task.relevant_at, args.relevant_at);
    task.read = args.read.settings()?;
    task.attributes = args.attributes.iter().map(|a| attribute_table(a, &task.read)).collect::<Result<_>>()?;
    if !task.attributes.is_empty() {
        share_kinds(&mut task)?;
    }
    Ok(Some(task))
}

/// `--attributes FILE:KEY[=ON]`, read with the table's settings.
fn attribute_table(arg: &str, read: &recimpute::table::ReadSettings) -> Result<exp::AttributeTable> {
    let (path, key) = arg
        .rsplit_once(':')
        .filter(|(p, k)| !p.is_empty() && !k.is_empty())
        .with_context(|| format!("--attributes {arg}: expected FILE:KEY or FILE:KEY=ON, e.g. users.csv:user_id"))?;
    let mut table = exp::AttributeTable::new(path, key);
    if let Some((key, on)) = key.split_once('=') {
        table.key = key.to_string();
        table.on = Some(on.to_string());
    }
    table.read = read.clone();
    Ok(table)
}

/// Gives each `--kind NAME=KIND` to the files whose header has NAME (the table and its
/// attribute tables share the flags); a name no file has is an error naming the files.
fn share_kinds(task: &mut exp::TableTask) -> Result<()> {
    let kinds = std::mem::take(&mut task.read.kinds);
    let mut files: Vec<(&std::path::Path, &mut recimpute::table::ReadSettings)> = vec![(&task.path, &mut task.read)];
    files.extend(task.attributes.iter_mut().map(|a| (a.path.as_path(), &mut a.read)));
    let mut headers = Vec::with_capacity(files.len());
    for (path, read) in &mut files {
        read.kinds.clear();
        let opts = read.csv_options(path)?;
        headers.push(recimpute::datasets::general::read_header(path, &opts)?);
    }
    for (name, kind) in kinds {
        let mut found = false;
        for ((_, read), header) in files.iter_mut().zip(&headers) {
            if header.contains(&name) {
                read.kinds.insert(name.clone(), kind);
                found = true;
            }
        }
        if !found {
            let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
            anyhow::bail!("--kind {name}: no column '{name}' in {}", names.join(" or "));
        }
    }
    Ok(())
}

fn execute(config: &ExperimentConfig) -> Result<()> {
    if let Some(task) = config.table.as_ref().filter(|_| config.tasks.contains(&exp::TaskName::Table)) {
        csv_options_noted(&task.read, &task.path)?;
        for a in &task.attributes {
            csv_options_noted(&a.read, &a.path)?;
        }
    }
    let start = std::time::Instant::now();
    let outcome = exp::run_grid(config, announce(start))?;
    emit(&format!(
        "{} cells ({} computed, {} reused) in {:.1}s\nreport: {}\n",
        outcome.results.len(),
        outcome.computed,
        outcome.reused,
        start.elapsed().as_secs_f64(),
        config.out_dir.join("report.md").display()
    ))
}

pub fn demo(out: PathBuf, data: Option<PathBuf>) -> Result<()> {
    let mut config = match data {
        None => ExperimentConfig { out_dir: out, ..ExperimentConfig::demo() },
        Some(dir) => ExperimentConfig { out_dir: out, data_dir: Some(dir), ..ExperimentConfig::default() },
    };
    let llm_note = llm_in_demo(&mut config);
    eprintln!(
        "recimpute demo: tasks {:?}, imputers {:?}, {:?} at {:?}, seeds {:?}. {llm_note}",
        config.tasks.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        config.imputers.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        config.patterns.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        config.rates,
        config.seeds
    );
    execute(&config)
}

/// Adds the LLM imputer to the demo grid when this build has it and the model is there.
#[cfg(feature = "llm")]
fn llm_in_demo(config: &mut ExperimentConfig) -> String {
    let model = config.llm.backbone.clone();
    if !model.path().exists() {
        return format!(
            "The LLM imputer is left out: {} is missing (`cargo xtask fetch-model` downloads it).",
            model.path().display()
        );
    }
    config.imputers.push(exp::ImputerName::Llm);
    format!("The LLM imputer fine-tunes {} (LoRA, every linear layer) on the table's cells.", model.name())
}

#[cfg(not(feature = "llm"))]
fn llm_in_demo(_: &mut ExperimentConfig) -> String {
    "This build has no LLM imputer (feature `llm`): only the classical imputers run.".into()
}
