//! The report's plots: written for a small results set, valid PNG and SVG, linked from the
//! Markdown, and no panic on empty results or NaN metrics; its paired comparisons.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

use std::path::Path;

use rec_experiments::{
    write_report, CellResult, CellSpec, Downstream, ImputerName, LossPoint, Pattern, TaskName, Timings,
};
use rec_metrics::{ranking_report_by_user, regression_report, ImputationReport, RankingConfig};

/// A made-up regression cell whose RMSE grows with the rate and differs by imputer and seed.
fn cell(imputer: ImputerName, pattern: Pattern, rate: f64, seed: u64) -> CellResult {
    let bias = 0.1 + rate + 0.05 * imputer as u8 as f64 + 0.01 * seed as f64;
    let truth: Vec<f64> = (0..40).map(|i| f64::from(1 + i % 5)).collect();
    let predicted: Vec<f64> =
        truth.iter().enumerate().map(|(i, t)| t + if i % 2 == 0 { bias } else { -bias }).collect();
    let users: Vec<u32> = (0..40).map(|i| i / 8).collect();
    let ranking =
        ranking_report_by_user(&users, &predicted, &truth, &RankingConfig::new(10).with_relevance_threshold(4.0))
            .unwrap();
    let mut imputation = ImputationReport::new();
    imputation.add_numeric("age", &[20.0, 30.0, 40.0, 50.0], &[25.0, 30.0 + bias * 10.0, 41.0, 45.0]).unwrap();
    imputation.add_numeric("year", &[1990.0, 1995.0, 2000.0], &[0.0, 0.0, 0.0]).unwrap();
    imputation.add_categorical("gender", &["M", "F", "M", "F"], &["M", "M", "M", "F"]).unwrap();
    imputation.add_set("genres", &[vec!["Drama"], vec!["Comedy", "Drama"]], &[vec!["Drama"], vec!["Comedy"]]).unwrap();
    CellResult {
        spec: CellSpec { task: TaskName::MovielensRegression, imputer, pattern, rate, seed },
        masked_cells: 12,
        train_rows: 32,
        test_rows: 40,
        imputation: (imputer != ImputerName::Deletion).then_some(imputation),
        downstream: Downstream::Regression {
            report: regression_report(&truth, &predicted).unwrap(),
            ranking: Some(ranking),
        },
        timings: Timings { impute_s: 0.1, train_s: 1.0, total_s: 1.2 },
        peak_rss_mib: None,
        loss_history: Vec::new(),
        imputation_reused: false,
        fallbacks: Default::default(),
        trimmed: Default::default(),
        llm_config: None,
        unlabelled_rows: 0,
        notes: Vec::new(),
    }
}

fn grid() -> Vec<CellResult> {
    let mut out = Vec::new();
    for pattern in [Pattern::Mcar, Pattern::Mnar] {
        for rate in [0.1, 0.5] {
            for seed in [0, 1] {
                for imputer in [ImputerName::Deletion, ImputerName::Mean, ImputerName::Knn] {
                    out.push(cell(imputer, pattern, rate, seed));
                }
            }
        }
    }
    out[4].loss_history = (1..=50).map(|step| LossPoint { step, loss: 3.0 / step as f64 }).collect();
    out
}

/// The PNG signature, an IHDR chunk with the expected size, and an IEND chunk at the end.
fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}: not a PNG", path.display());
    assert_eq!(&bytes[12..16], b"IHDR", "{}", path.display());
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (960, 540), "{}", path.display());
    assert_eq!(&bytes[bytes.len() - 8..bytes.len() - 4], b"IEND", "{}: truncated", path.display());
}

/// A small well-formedness check: tags nest and close, attributes are quoted, entities are
/// known. Returns the element names seen.
fn check_xml(text: &str) -> Result<Vec<String>, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open])?;
        rest = &rest[open..];
        if let Some(after) = rest.strip_prefix("<?") {
            rest = &after[after.find("?>").ok_or("unclosed <?")? + 2..];
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = &after[after.find("-->").ok_or("unclosed comment")? + 3..];
        } else if let Some(after) = rest.strip_prefix("</") {
            let close = after.find('>').ok_or("unclosed end tag")?;
            let name = after[..close].trim();
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            rest = &after[close + 1..];
        } else {
            let close = tag_end(rest).ok_or("unclosed tag")?;
            let tag = &rest[1..close];
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name: String = tag.chars().take_while(|c| !c.is_whitespace()).collect();
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || "-_:.".contains(c)) {
                return Err(format!("bad element name {name:?}"));
            }
            check_attributes(&tag[name.len()..])?;
            seen.push(name.clone());
            if !self_closing {
                stack.push(name);
            }
            rest = &rest[close + 1..];
        }
    }
    check_text(rest)?;
    if !stack.is_empty() {
        return Err(format!("unclosed elements {stack:?}"));
    }
    Ok(seen)
}

/// The index of the `>` that ends the tag at the start of `s`, skipping quoted values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn check_attributes(mut s: &str) -> Result<(), String> {
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(());
        }
        let eq = s.find('=').ok_or_else(|| format!("attribute without value in {s:?}"))?;
        let value = s[eq + 1..].trim_start();
        let q = value.chars().next().filter(|c| *c == '"' || *c == '\'').ok_or("unquoted attribute")?;
        let end = value[1..].find(q).ok_or("unclosed attribute")?;
        check_text(&value[1..1 + end])?;
        s = &value[end + 2..];
    }
}

fn check_text(s: &str) -> Result<(), String> {
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        let semi = rest[amp..].find(';').ok_or("bare &")?;
        let entity = &rest[amp + 1..amp + semi];
        let known = matches!(entity, "amp" | "lt" | "gt" | "quot" | "apos")
            || entity.strip_prefix('#').is_some_and(|n| {
                n.strip_prefix('x').map_or(n.parse::<u32>().is_ok(), |h| u32::from_str_radix(h, 16).is_ok())
            });
        if !known {
            return Err(format!("unknown entity &{entity};"));
        }
        rest = &rest[amp + semi + 1..];
    }
    if s.contains('<') {
        return Err("< in text".into());
    }
    Ok(())
}

fn assert_svg(path: &Path, must_name: &[&str]) {
    let text = std::fs::read_to_string(path).unwrap();
    let elements = check_xml(&text).unwrap_or_else(|e| panic!("{}: not well-formed XML: {e}", path.display()));
    assert!(elements.first().is_some_and(|e| e == "svg"), "{}: root is not <svg>", path.display());
    let texts: Vec<&str> = text.split('>').filter_map(|s| s.split('<').next()).map(str::trim).collect();
    for name in must_name {
        assert!(texts.contains(name), "{}: no text {name:?}", path.display());
    }
}

#[test]
fn plots_are_written_linked_and_valid() {
    let dir = tempfile::tempdir().unwrap();
    write_report(dir.path(), &grid()).unwrap();
    let plots = dir.path().join("plots");
    let stems = [
        "movielens-regression-downstream",
        "movielens-regression-rate-mcar",
        "movielens-regression-rate-mnar",
        "movielens-regression-imputation-mcar-10",
        "movielens-regression-imputation-mnar-50",
        "loss-movielens-regression__mean__mcar-0.100__seed1",
    ];
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for stem in stems {
        assert_png(&plots.join(format!("{stem}.png")));
        assert!(report.contains(&format!("(plots/{stem}.png)")), "report.md does not embed {stem}.png");
        assert!(report.contains(&format!("(plots/{stem}.svg)")), "report.md does not link {stem}.svg");
    }
    for stem in &stems[..5] {
        assert_svg(
            &plots.join(format!("{stem}.svg")),
            &["deletion", "mean", "knn"][usize::from(stem.contains("imputation"))..],
        );
    }
    assert!(report.contains("RMSE by pattern and rate"), "no summary table:\n{report}");
    // Without deletion, on the filling imputers' own scale.
    let filled = plots.join("movielens-regression-rate-mcar-filled.svg");
    assert_svg(&filled, &["mean", "knn"]);
    let text = std::fs::read_to_string(&filled).unwrap();
    assert!(
        !text.split('>').filter_map(|s| s.split('<').next()).any(|t| t.trim() == "deletion"),
        "deletion in the legend"
    );
    // Every file the report links exists, and no temporary file is left behind.
    let linked: Vec<&str> = report.split("](").skip(1).filter_map(|s| s.split(')').next()).collect();
    assert_eq!(linked.len(), 2 * 10, "1 downstream, 4 rate, 4 imputation plots, 1 loss curve: {linked:?}");
    for link in linked {
        assert!(dir.path().join(link).is_file(), "report.md links {link}, which is not there");
    }
    for entry in std::fs::read_dir(&plots).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "temporary file {name} left behind");
    }
}

#[test]
fn empty_results_write_a_report_and_no_plots() {
    let dir = tempfile::tempdir().unwrap();
    write_report(dir.path(), &[]).unwrap();
    assert!(dir.path().join("report.md").is_file());
    assert!(
        !dir.path().join("plots").exists() || std::fs::read_dir(dir.path().join("plots")).unwrap().next().is_none()
    );
}

#[test]
fn nan_metrics_do_not_panic() {
    let mut results = grid();
    for r in &mut results {
        if let Downstream::Regression { report, .. } = &mut r.downstream {
            report.rmse = f64::NAN;
        }
        for c in r.imputation.iter_mut().flat_map(|i| i.columns.iter_mut()) {
            match &mut c.metrics {
                rec_metrics::ColumnMetrics::Numeric(m) => m.rmse_over_std = None,
                rec_metrics::ColumnMetrics::Categorical(m) => m.accuracy = f64::NAN,
                rec_metrics::ColumnMetrics::Set(m) => m.mean_jaccard = f64::INFINITY,
            }
        }
        for p in &mut r.loss_history {
            p.loss = f64::NAN;
        }
    }
    // One seed's metric only is finite in one setting: a partly-NaN chart still draws.
    if let Downstream::Regression { report, .. } = &mut results[0].downstream {
        report.rmse = 0.9;
    }
    let dir = tempfile::tempdir().unwrap();
    write_report(dir.path(), &results).unwrap();
    assert_png(&dir.path().join("plots/movielens-regression-downstream.png"));
    assert_svg(&dir.path().join("plots/movielens-regression-rate-mcar.svg"), &[]);
    assert_png(&dir.path().join("plots/loss-movielens-regression__mean__mcar-0.100__seed1.png"));
}

#[test]
fn results_saved_before_the_loss_history_still_load() {
    let mut with = cell(ImputerName::Mean, Pattern::Mcar, 0.05, 0);
    let old = serde_json::to_string(&with).unwrap();
    assert!(!old.contains("loss_history"), "an empty history is not written");
    let back: CellResult = serde_json::from_str(&old).unwrap();
    assert!(back.loss_history.is_empty());
    with.loss_history = vec![LossPoint { step: 1, loss: 2.5 }, LossPoint { step: 2, loss: 2.0 }];
    let json = serde_json::to_string(&with).unwrap();
    assert!(json.contains(r#""loss_history":[{"step":1,"loss":2.5}"#), "{json}");
    assert_eq!(serde_json::from_str::<CellResult>(&json).unwrap().loss_history, with.loss_history);
}

#[test]
fn the_report_pairs_the_llm_and_the_best_imputer_by_seed() {
    let cells: Vec<CellResult> = [0, 1, 2]
        .into_iter()
        .flat_map(|seed| {
            [ImputerName::Deletion, ImputerName::Mean, ImputerName::Llm]
                .map(|imputer| cell(imputer, Pattern::Mcar, 0.1, seed))
        })
        .collect();
    let md = rec_experiments::markdown(&cells);
    // The helper's RMSE is 0.05 per step of the imputer's rank plus the seed's share: the LLM
    // is 0.4 behind deletion, deletion 0.1 ahead of the mean, on every seed.
    assert!(md.contains("Paired by seed"), "{md}");
    assert!(md.contains("- llm vs deletion (the best other imputer), RMSE: deletion better by 0.4000"), "{md}");
    assert!(md.contains("- deletion vs mean (mean/mode filling), RMSE: deletion better by 0.1000"), "{md}");
    assert!(md.contains("- llm vs mean (mean/mode filling), RMSE: mean better by 0.3000"), "{md}");
    assert!(md.contains("**beyond seed noise**"), "{md}");
    // One seed: nothing to pair.
    let one: Vec<CellResult> = cells.into_iter().filter(|c| c.spec.seed == 0).collect();
    assert!(!rec_experiments::markdown(&one).contains("Paired by seed"));
}

#[test]
fn a_fits_notes_reach_the_report() {
    let mut with = cell(ImputerName::Iterative, Pattern::Mcar, 0.25, 2);
    with.notes = vec!["users: 1 of 24 label-model fits stopped at 100 evaluations before converging".into()];
    let md = rec_experiments::markdown(&[cell(ImputerName::Iterative, Pattern::Mcar, 0.25, 1), with]);
    assert!(md.contains("iterative seed 2: users: 1 of 24 label-model fits stopped"), "{md}");
    assert!(!md.contains("iterative seed 1:"), "{md}");
}
