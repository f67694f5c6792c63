//! The ceiling on the demo's generated table: the generator's own Bayes answer
//! (`rec_datasets::synthetic::adclick_like_bayes_fill`) for the very cells `recimpute quality
//! --tables synthetic-adclick` hides (same table, same masks), beside every imputer of a
//! quality run, with each imputer's distance to the ceiling paired by seed.
//!
//! ```text
//! recimpute quality --tables synthetic-adclick --imputers mean,knn,iterative,missforest,llm \
//!     --rates 0.05 --seeds 0,1,2 --out results/quality-demo-0.05
//! cargo run -p rec-experiments --example demo_bayes_ceiling -- \
//!     --rate 0.05 --seeds 0,1,2 --quality results/quality-demo-0.05
//! ```
//!
//! Without `--quality` it prints the ceiling alone. No imputer can beat the ceiling in
//! expectation; on one seed's few hundred cells one can, by luck, which is why the paired
//! difference comes with its standard error.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rec_datasets::missingness::Masked;
use rec_experiments::truth::{hide, SALT};
use rec_experiments::{mean_std, score_hidden, Pattern, QualityResult, QualityTable};
use rec_metrics::{ColumnMetrics, ImputationReport};

fn list<T: std::str::FromStr>(s: &str) -> Result<Vec<T>, String> {
    s.split(',').map(|x| x.trim().parse::<T>().map_err(|_| format!("cannot read '{x}'"))).collect()
}

/// `(column, metric) -> value`: accuracy for categories, RMSE for numbers.
type Headline = BTreeMap<(String, &'static str), f64>;
/// imputer -> seed -> its headline scores; the ceiling is the imputer "bayes".
type Scores = BTreeMap<String, BTreeMap<u64, Headline>>;

/// The headline scores of one report.
fn headline(report: &ImputationReport) -> Headline {
    report
        .columns
        .iter()
        .filter_map(|c| match &c.metrics {
            ColumnMetrics::Numeric(m) => Some(((c.column.clone(), "RMSE"), m.rmse)),
            ColumnMetrics::Categorical(m) => Some(((c.column.clone(), "accuracy"), m.accuracy)),
            _ => None,
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut rate, mut seeds, mut rows, mut quality) = (0.05, vec![0u64, 1, 2], 2000usize, None::<PathBuf>);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--rate" => rate = value()?.parse()?,
            "--seeds" => seeds = list(&value()?)?,
            "--rows" => rows = value()?.parse()?,
            "--quality" => quality = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument '{other}' (--rate, --seeds, --rows, --quality)").into()),
        }
    }
    let table = rec_datasets::synthetic::adclick_like(rows, 4242)?.drop_columns(&["click"])?;
    let mut scores = Scores::new();
    for &seed in &seeds {
        let Masked { table: masked, mask } = hide(&table, &Pattern::Mcar.holes(rate, seed, SALT))?;
        let filled = rec_datasets::synthetic::adclick_like_bayes_fill(&masked)?;
        let report = score_hidden(&table, &mask, &filled, Some)?;
        scores.entry("bayes".into()).or_default().insert(seed, headline(&report));
    }
    if let Some(dir) = &quality {
        let cells = dir.join("cells");
        let entries = std::fs::read_dir(&cells).map_err(|e| format!("{}: {e}", cells.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            let r: QualityResult = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let s = &r.spec;
            if s.table != QualityTable::SyntheticAdclick
                || s.pattern != Pattern::Mcar
                || (s.rate - rate).abs() > 1e-12
                || !seeds.contains(&s.seed)
            {
                continue;
            }
            if r.scored_cells.is_some() {
                return Err(
                    format!("{}: scored on a sample of the hidden cells, not all of them", path.display()).into()
                );
            }
            scores.entry(s.imputer.as_str().to_string()).or_default().insert(s.seed, headline(&r.report));
        }
    }
    println!("{}", markdown(&scores, &seeds));
    Ok(())
}

/// One row per column: the ceiling, then each imputer as mean ± std and its mean distance to
/// the ceiling paired by seed (± its standard error).
fn markdown(scores: &Scores, seeds: &[u64]) -> String {
    let bayes = &scores["bayes"];
    let others: Vec<&String> = scores.keys().filter(|k| *k != "bayes").collect();
    let mut s = format!(
        "| column | metric | bayes (ceiling) |{}\n|---|---|---|{}\n",
        others.iter().map(|k| format!(" {k} | {k} − bayes |")).collect::<String>(),
        "---|---|".repeat(others.len())
    );
    let keys: Vec<&(String, &'static str)> = bayes.values().next().map(|m| m.keys().collect()).unwrap_or_default();
    for key in keys {
        let ceiling: Vec<f64> = seeds.iter().filter_map(|sd| bayes.get(sd).and_then(|m| m.get(key))).copied().collect();
        let (m, sd, _) = mean_std(&ceiling);
        s.push_str(&format!("| {} | {} | {m:.4} ± {sd:.4} |", key.0, key.1));
        for k in &others {
            let (mut own, mut diff) = (Vec::new(), Vec::new());
            for seed in seeds {
                if let (Some(v), Some(b)) =
                    (scores[*k].get(seed).and_then(|m| m.get(key)), bayes.get(seed).and_then(|m| m.get(key)))
                {
                    own.push(*v);
                    diff.push(v - b);
                }
            }
            if own.len() < seeds.len() {
                s.push_str(" – | – |");
                continue;
            }
            let (m, sd, _) = mean_std(&own);
            let (dm, dsd, n) = mean_std(&diff);
            s.push_str(&format!(" {m:.4} ± {sd:.4} | {dm:+.4} ± {:.4} |", dsd / (n as f64).sqrt()));
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "\n(mean ± std over seeds {seeds:?}; the difference to the ceiling is paired by seed, ± its standard error; \
         an imputer whose seeds are not all in the results shows –)\n"
    ));
    s
}
