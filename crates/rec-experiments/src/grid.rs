//! The grid engine both grids run on: every cell is saved as `cells/<key>.json` (atomically)
//! as soon as it finishes, and a rerun reads the saved cells instead of computing them again,
//! so an interrupted grid resumes where it stopped. The settings are saved as `config.json`.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Context, Result};

/// The settings of a grid, saved as `config.json` beside its cells.
pub trait GridConfig: Serialize + DeserializeOwned {
    /// The fields that may change between runs into the same directory: the lists that span
    /// the grid (adding a seed adds cells) and where things are. Every other field can change
    /// the numbers, so cells saved under other values of it are never reused.
    const FREE: &'static [&'static str];
}

/// A cell of a grid: its key names its result file, so it must be unique within the grid
/// and stable across versions.
pub trait GridCell {
    /// E.g. `adclick__knn__mcar-0.050__seed0`.
    fn key(&self) -> String;
}

/// What [`run_cells`] did.
#[derive(Debug, Clone)]
pub struct GridOutcome<R> {
    /// Every result of the grid (new and reused), in the cells' order.
    pub results: Vec<R>,
    /// How many cells were computed in this run.
    pub computed: usize,
    /// How many were found on disk and skipped.
    pub reused: usize,
}

/// Runs the cells of a grid that `out_dir` does not hold yet, in order, with `run`, saving
/// each result as it finishes; `config` is saved as `config.json` first. `on_cell(i, n, cell,
/// reused)` is called before each cell.
///
/// A saved cell that cannot be read or parsed is an error naming the file (never silently
/// recomputed): delete it to recompute.
pub fn run_cells<C: GridCell, R: Serialize + DeserializeOwned>(
    out_dir: &Path,
    config: &impl GridConfig,
    cells: &[C],
    mut run: impl FnMut(&C) -> Result<R>,
    mut on_cell: impl FnMut(usize, usize, &C, bool),
) -> Result<GridOutcome<R>> {
    let cells_dir = out_dir.join("cells");
    check_settings(out_dir, config)?;
    std::fs::create_dir_all(&cells_dir).with_context(|| format!("creating {}", cells_dir.display()))?;
    // What an earlier run killed mid-write left behind.
    for dir in [out_dir, &cells_dir] {
        rec_table::remove_stale_temps(dir, None)?;
    }
    write_json(&out_dir.join("config.json"), config)?;
    let mut outcome = GridOutcome { results: Vec::with_capacity(cells.len()), computed: 0, reused: 0 };
    for (i, cell) in cells.iter().enumerate() {
        let key = cell.key();
        let path = cells_dir.join(format!("{key}.json"));
        if let Some(done) = read_cell(&path)? {
            on_cell(i, cells.len(), cell, true);
            outcome.results.push(done);
            outcome.reused += 1;
            continue;
        }
        on_cell(i, cells.len(), cell, false);
        let result = run(cell).with_context(|| format!("cell {key}"))?;
        write_json(&path, &result)?;
        outcome.results.push(result);
        outcome.computed += 1;
    }
    Ok(outcome)
}

/// Refuses to run `config` into `out_dir` when cells there were computed under other
/// settings (any field outside [`GridConfig::FREE`]): reusing them would report numbers under
/// settings they were not produced with.
fn check_settings<G: GridConfig>(out_dir: &Path, config: &G) -> Result<()> {
    let path = out_dir.join("config.json");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let has_cells = std::fs::read_dir(out_dir.join("cells"))
        .map(|mut d| d.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))))
        .unwrap_or(false);
    if !has_cells {
        return Ok(());
    }
    // Read through the typed config, so that fields added since (with their defaults) and
    // other spellings of the same value compare equal.
    let old: G = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a config of this grid; use another output directory", path.display()))?;
    let settings = |c: &G| -> Result<serde_json::Map<String, serde_json::Value>> {
        match serde_json::to_value(c)? {
            serde_json::Value::Object(mut m) => {
                m.retain(|k, _| !G::FREE.contains(&k.as_str()));
                Ok(m)
            }
            _ => Ok(serde_json::Map::new()),
        }
    };
    let (was, now) = (settings(&old)?, settings(config)?);
    // Sorted and each once: a field present on both sides comes from both key lists.
    let differ: std::collections::BTreeSet<&str> =
        was.keys().chain(now.keys()).filter(|k| was.get(*k) != now.get(*k)).map(String::as_str).collect();
    if differ.is_empty() {
        return Ok(());
    }
    Err(crate::Error::Config(format!(
        "{} holds cells computed with other settings ({} differ); use another output directory, or delete {} to recompute",
        out_dir.display(),
        differ.into_iter().collect::<Vec<_>>().join(", "),
        out_dir.join("cells").display()
    )))
}

/// Every combination of a grid's axes, the first outermost and the imputer innermost (so
/// the imputers of one setting run side by side).
pub(crate) fn axes<'a, T: Clone, P: Copy, I: Copy>(
    first: &'a [T],
    patterns: &'a [P],
    rates: &'a [f64],
    seeds: &'a [u64],
    imputers: &'a [I],
) -> impl Iterator<Item = (T, P, f64, u64, I)> + 'a {
    first.iter().flat_map(move |t| {
        patterns.iter().flat_map(move |&p| {
            rates.iter().flat_map(move |&r| {
                seeds.iter().flat_map(move |&s| imputers.iter().map(move |&i| (t.clone(), p, r, s, i)))
            })
        })
    })
}

/// Every saved cell under `out_dir/cells`, in file-name order.
pub fn load_cells<R: DeserializeOwned>(out_dir: &Path) -> Result<Vec<R>> {
    let dir = out_dir.join("cells");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("{}: no results here (run the grid first)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|p| read_cell(p)?.with_context(|| format!("{} disappeared while reading", p.display()))).collect()
}

/// A saved cell: `None` when there is no file.
fn read_cell<R: DeserializeOwned>(path: &Path) -> Result<Option<R>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not a result of this grid; delete it to recompute", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes `value` as pretty JSON to `path`, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).with_context(|| format!("serialising {}", path.display()))?;
    rec_table::write_bytes_atomic(path, text.as_bytes())?;
    Ok(())
}
