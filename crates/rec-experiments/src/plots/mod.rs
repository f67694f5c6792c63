//! Plots of an experiment's results, written as PNG and SVG into `plots/` beside the Markdown
//! report, which embeds them:
//!
//! - per task, the headline downstream metric of each imputer as bars with ± the sample
//!   standard deviation over seeds, one group of bars per setting (pattern and rate);
//! - per task and pattern, when the grid has several rates, the metric against the missing
//!   rate, one line per imputer;
//! - per task and setting, the imputation quality on the hidden cells per column and imputer
//!   (accuracy or Jaccard for labels and sets, RMSE over the truth's std for numbers);
//! - per cell whose imputer trained a model (the LLM imputer's LoRA fine-tuning), its loss.
//!
//! PNG text is drawn with an embedded subset of DejaVu Sans (`assets/fonts/`, with its
//! licence), so no system font is needed; SVG text names the generic `sans-serif` family.
//! Each file is written atomically (a temporary file, then a rename).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::{Context, Error, Result};
use plotters::prelude::*;
use plotters::style::register_font;
use rec_metrics::ColumnMetrics;

use crate::cell::CellResult;
use crate::names::{ImputerName, Pattern, TaskName};
use crate::report::{mean_std, primary_metric, rate_key};

mod draw;
use draw::render;

/// DejaVu Sans, cut down to Latin-1, Greek and a few symbols (see `assets/fonts/`).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");
/// Pixel size of every plot (the SVG's too).
const SIZE: (u32, u32) = (960, 540);
/// Width kept on the right for the legend.
const LEGEND_W: u32 = 150;
/// The folder, inside the output directory, that holds the plots.
pub const PLOTS_DIR: &str = "plots";

/// Where a plot belongs in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PlotPlace {
    /// After a task's tables: the task across its settings.
    Task(TaskName),
    /// After one setting's tables (the rate in thousandths, as the report groups them).
    Setting(TaskName, Pattern, u64),
    /// At the end of the report.
    End,
}

/// One plot, written in both formats.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// What it shows (the alt text of its link).
    pub title: String,
    /// The PNG's path relative to the output directory, `/`-separated (a Markdown link).
    pub png: String,
    /// The SVG's path relative to the output directory, `/`-separated.
    pub svg: String,
    /// Where the report shows it.
    pub place: PlotPlace,
}

/// A series of bars or a line: its name and colour.
#[derive(Debug, Clone)]
struct Series {
    name: String,
    color: RGBColor,
}

/// Grouped bars: `values[series][group]` is a mean and a std.
#[derive(Debug, Clone)]
struct Bars {
    title: String,
    y_desc: String,
    groups: Vec<String>,
    series: Vec<Series>,
    values: Vec<Vec<Option<(f64, f64)>>>,
}

/// Points of a line: (x, mean, std).
type Points = Vec<(f64, f64, f64)>;

/// Cells by task, then setting (pattern, rate in thousandths), then imputer.
type ByTask<'a> = BTreeMap<TaskName, BTreeMap<(Pattern, u64), BTreeMap<ImputerName, Vec<&'a CellResult>>>>;

/// Lines over a numeric x: `points[series]` holds (x, mean, std).
#[derive(Debug, Clone)]
struct Lines {
    title: String,
    x_desc: String,
    y_desc: String,
    /// Show x as a percentage of 1 (rates).
    x_percent: bool,
    series: Vec<(Series, Points)>,
}

/// What one file draws.
#[derive(Debug, Clone)]
enum Chart {
    Bars(Bars),
    Lines(Lines),
    /// Several bar charts side by side, with one legend.
    Panels(String, Vec<Bars>),
}

/// Colours in the order of the imputers (Tableau 10, readable on white).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn imputer_series(imputers: &[ImputerName]) -> Vec<Series> {
    imputers
        .iter()
        .enumerate()
        .map(|(i, imp)| Series { name: imp.as_str().to_string(), color: PALETTE[i % PALETTE.len()] })
        .collect()
}

fn setting_label(pattern: Pattern, rate: u64) -> String {
    format!("{} {}%", pattern.as_str().to_uppercase(), trim_float(rate as f64 / 10.0))
}

fn trim_float(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect()
}

/// Builds every plot the results allow (none for empty results).
fn charts(results: &[CellResult]) -> Vec<(String, Chart, PlotPlace)> {
    let imputers: Vec<ImputerName> =
        results.iter().map(|r| r.spec.imputer).collect::<BTreeSet<_>>().into_iter().collect();
    let colors = imputer_series(&imputers);
    let color_of = |imp: ImputerName| colors[imputers.iter().position(|i| *i == imp).unwrap_or(0)].clone();
    // task → (pattern, rate) → imputer → cells
    let mut by_task: ByTask = BTreeMap::new();
    for r in results {
        by_task
            .entry(r.spec.task)
            .or_default()
            .entry((r.spec.pattern, rate_key(r.spec.rate)))
            .or_default()
            .entry(r.spec.imputer)
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for (task, settings) in &by_task {
        let Some(metric) =
            settings.values().flat_map(|m| m.values()).flatten().next().map(|c| primary_metric(&c.downstream))
        else {
            continue;
        };
        let (metric_name, better) = (metric.0, if metric.2 { "higher is better" } else { "lower is better" });
        let task_imputers: Vec<ImputerName> =
            settings.values().flat_map(|m| m.keys().copied()).collect::<BTreeSet<_>>().into_iter().collect();
        // (a) the metric per imputer, grouped by setting.
        out.push((
            format!("{}-{}", slug(task.as_str()), "downstream"),
            Chart::Bars(Bars {
                title: format!("{}: DLRM test {metric_name} ({better}), mean ± std over seeds", task.as_str()),
                y_desc: metric_name.to_string(),
                groups: settings.keys().map(|&(p, r)| setting_label(p, r)).collect(),
                series: task_imputers.iter().map(|&i| color_of(i)).collect(),
                values: task_imputers.iter().map(|imp| settings.values().map(|m| stat(m.get(imp))).collect()).collect(),
            }),
            PlotPlace::Task(*task),
        ));
        // (b) the metric against the rate, per pattern, when there are several rates.
        out.extend(rate_charts(*task, settings, &task_imputers, &color_of, (metric_name, better)));
        // (c) imputation quality per column, per setting.
        for (&(pattern, rate), by_imputer) in settings {
            if let Some(chart) = imputation_chart(*task, pattern, rate, by_imputer, &color_of) {
                out.push((
                    format!(
                        "{}-imputation-{}-{}",
                        slug(task.as_str()),
                        pattern.as_str(),
                        trim_float(rate as f64 / 10.0)
                    ),
                    chart,
                    PlotPlace::Setting(*task, pattern, rate),
                ));
            }
        }
    }
    // (d) training-loss curves.
    for r in results.iter().filter(|r| !r.loss_history.is_empty()) {
        let points: Vec<(f64, f64, f64)> = r.loss_history.iter().map(|p| (p.step as f64, p.loss, 0.0)).collect();
        out.push((
            format!("loss-{}", slug(&r.spec.key())),
            Chart::Lines(Lines {
                title: format!("training loss: {}", r.spec.key()),
                x_desc: "step".into(),
                y_desc: "loss".into(),
                x_percent: false,
                series: vec![(color_of(r.spec.imputer), points)],
            }),
            PlotPlace::End,
        ));
    }
    out
}

/// The downstream metric's mean and std over the cells given (none without cells).
fn stat(cells: Option<&Vec<&CellResult>>) -> Option<(f64, f64)> {
    let v: Vec<f64> = cells?.iter().map(|c| primary_metric(&c.downstream).1).collect();
    match mean_std(&v) {
        (_, _, 0) => None,
        (m, s, _) => Some((m, s)),
    }
}

/// For each pattern with several rates: the metric against the rate per imputer, and the same
/// without deletion when deletion is one of several lines (it dwarfs the others).
fn rate_charts(
    task: TaskName,
    settings: &BTreeMap<(Pattern, u64), BTreeMap<ImputerName, Vec<&CellResult>>>,
    task_imputers: &[ImputerName],
    color_of: &dyn Fn(ImputerName) -> Series,
    (metric_name, better): (&str, &str),
) -> Vec<(String, Chart, PlotPlace)> {
    let mut out = Vec::new();
    let patterns: BTreeSet<Pattern> = settings.keys().map(|k| k.0).collect();
    for pattern in patterns {
        let rates: Vec<u64> = settings.keys().filter(|k| k.0 == pattern).map(|k| k.1).collect();
        if rates.len() < 2 {
            continue;
        }
        let series: Vec<(Series, Points)> = task_imputers
            .iter()
            .map(|&imp| {
                let points = rates
                    .iter()
                    .filter_map(|&rate| {
                        let (m, s) = stat(settings.get(&(pattern, rate)).and_then(|m| m.get(&imp)))?;
                        Some((rate as f64 / 1000.0, m, s))
                    })
                    .collect();
                (color_of(imp), points)
            })
            .collect();
        let title = format!(
            "{}: {metric_name} against the missing rate, {} ({better})",
            task.as_str(),
            pattern.as_str().to_uppercase()
        );
        let lines = |title: String, series| {
            Chart::Lines(Lines {
                title,
                x_desc: "rate of hidden feature cells".into(),
                y_desc: metric_name.to_string(),
                x_percent: true,
                series,
            })
        };
        // Deletion trains on ever fewer rows and usually dwarfs the differences between the
        // imputers that fill: show those again on their own scale.
        let filling: Vec<_> =
            series.iter().filter(|(s, _)| s.name != ImputerName::Deletion.as_str()).cloned().collect();
        let zoom = (filling.len() >= 2 && filling.len() < series.len())
            .then(|| lines(format!("{title}, without deletion"), filling));
        out.push((
            format!("{}-rate-{}", slug(task.as_str()), pattern.as_str()),
            lines(title, series),
            PlotPlace::Task(task),
        ));
        if let Some(zoom) = zoom {
            out.push((
                format!("{}-rate-{}-filled", slug(task.as_str()), pattern.as_str()),
                zoom,
                PlotPlace::Task(task),
            ));
        }
    }
    out
}

/// Two panels: scores in [0, 1] (accuracy, Jaccard) and numeric errors (RMSE / std of truth).
fn imputation_chart(
    task: TaskName,
    pattern: Pattern,
    rate: u64,
    by_imputer: &BTreeMap<ImputerName, Vec<&CellResult>>,
    color_of: &dyn Fn(ImputerName) -> Series,
) -> Option<Chart> {
    // (is score, column label) → imputer → per-seed values
    let mut table: BTreeMap<(bool, String), BTreeMap<ImputerName, Vec<f64>>> = BTreeMap::new();
    for (imp, cells) in by_imputer {
        for report in cells.iter().filter_map(|c| c.imputation.as_ref()) {
            for c in &report.columns {
                let (score, label, value) = match &c.metrics {
                    ColumnMetrics::Numeric(m) => (false, c.column.clone(), m.rmse_over_std.unwrap_or(f64::NAN)),
                    ColumnMetrics::Categorical(m) => (true, c.column.clone(), m.accuracy),
                    ColumnMetrics::Set(m) => (true, format!("{} (set)", c.column), m.mean_jaccard),
                };
                table.entry((score, label)).or_default().entry(*imp).or_default().push(value);
            }
        }
    }
    let imputers: Vec<ImputerName> =
        by_imputer.keys().copied().filter(|i| table.values().any(|m| m.contains_key(i))).collect();
    let panel = |score: bool, y_desc: &str| -> Option<Bars> {
        let cols: Vec<(&String, &BTreeMap<ImputerName, Vec<f64>>)> =
            table.iter().filter(|((s, _), _)| *s == score).map(|((_, l), m)| (l, m)).collect();
        if cols.is_empty() {
            return None;
        }
        Some(Bars {
            title: if score { "labels and sets (higher is better)".into() } else { "numbers (lower is better)".into() },
            y_desc: y_desc.into(),
            groups: cols.iter().map(|(l, _)| (*l).clone()).collect(),
            series: imputers.iter().map(|&i| color_of(i)).collect(),
            values: imputers
                .iter()
                .map(|imp| {
                    cols.iter()
                        .map(|(_, m)| match mean_std(m.get(imp).map_or(&[][..], |v| v.as_slice())) {
                            (_, _, 0) => None,
                            (mean, s, _) => Some((mean, s)),
                        })
                        .collect()
                })
                .collect(),
        })
    };
    let panels: Vec<Bars> = [panel(true, "accuracy (mean Jaccard for sets)"), panel(false, "RMSE / std of truth")]
        .into_iter()
        .flatten()
        .collect();
    (!panels.is_empty()).then(|| {
        Chart::Panels(
            format!("{}: imputation quality on the hidden cells, {}", task.as_str(), setting_label(pattern, rate)),
            panels,
        )
    })
}

/// Writes every plot of `results` under `out_dir/plots/` and says what it wrote.
pub fn write_plots(out_dir: &Path, results: &[CellResult]) -> Result<Vec<Plot>> {
    let charts = charts(results);
    if charts.is_empty() {
        return Ok(Vec::new());
    }
    ensure_font()?;
    let dir = out_dir.join(PLOTS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut plots = Vec::with_capacity(charts.len());
    for (stem, chart, place) in charts {
        let (png, svg) = (format!("{stem}.png"), format!("{stem}.svg"));
        write_svg(&chart, &dir.join(&svg)).with_context(|| format!("plotting {}", dir.join(&svg).display()))?;
        write_png(&chart, &dir.join(&png)).with_context(|| format!("plotting {}", dir.join(&png).display()))?;
        let title = match &chart {
            Chart::Bars(b) => b.title.clone(),
            Chart::Lines(l) => l.title.clone(),
            Chart::Panels(t, _) => t.clone(),
        };
        plots.push(Plot { title, png: format!("{PLOTS_DIR}/{png}"), svg: format!("{PLOTS_DIR}/{svg}"), place });
    }
    Ok(plots)
}

/// The LLM's held-out check against the training step, one line per quality cell (table, rate,
/// seed): nats per held-out cell beyond the column frequencies. `None` when no cell has a curve.
pub fn write_holdout_plot(out_dir: &Path, results: &[crate::QualityResult]) -> Result<Option<Plot>> {
    let tables: BTreeSet<&str> = results.iter().map(|r| r.spec.table.as_str()).collect();
    let series: Vec<(Series, Points)> = results
        .iter()
        .filter_map(|r| r.llm.as_ref().filter(|l| !l.holdout_gain.is_empty()).map(|l| (r, l)))
        .enumerate()
        .map(|(i, (r, l))| {
            let setting = format!("{:.0}% s{}", r.spec.rate * 100.0, r.spec.seed);
            let name = if tables.len() > 1 { format!("{} {setting}", r.spec.table.as_str()) } else { setting };
            let points = l.holdout_gain.iter().map(|&(step, gain)| (step as f64, gain, 0.0)).collect();
            (Series { name, color: PALETTE[i % PALETTE.len()] }, points)
        })
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let chart = Chart::Lines(Lines {
        title: "LLM fine-tune: held-out nats per cell beyond the column frequencies".into(),
        x_desc: "optimizer step".into(),
        y_desc: "log p(true) - log p(column frequency)".into(),
        x_percent: false,
        series,
    });
    ensure_font()?;
    let dir = out_dir.join(PLOTS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (png, svg) = ("llm-holdout.png", "llm-holdout.svg");
    write_svg(&chart, &dir.join(svg)).with_context(|| format!("plotting {}", dir.join(svg).display()))?;
    write_png(&chart, &dir.join(png)).with_context(|| format!("plotting {}", dir.join(png).display()))?;
    let title = match &chart {
        Chart::Lines(l) => l.title.clone(),
        _ => String::new(),
    };
    Ok(Some(Plot {
        title,
        png: format!("{PLOTS_DIR}/{png}"),
        svg: format!("{PLOTS_DIR}/{svg}"),
        place: PlotPlace::End,
    }))
}

fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    if *REGISTERED.get_or_init(|| register_font("sans-serif", FontStyle::Normal, FONT).is_ok()) {
        Ok(())
    } else {
        Err(Error::Plot("the embedded plot font could not be read".into()))
    }
}

fn temp_path(path: &Path) -> std::path::PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    // The image encoder picks the format by the extension, so keep it last.
    path.with_file_name(format!(".{name}.{}.{}.tmp.{ext}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)))
}

fn write_svg(chart: &Chart, path: &Path) -> Result<()> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        render(chart, &root)?;
        root.present().map_err(draw_err)?;
    }
    rec_table::write_bytes_atomic(path, text.as_bytes())?;
    Ok(())
}

fn write_png(chart: &Chart, path: &Path) -> Result<()> {
    let tmp = temp_path(path);
    let drawn = (|| -> Result<()> {
        let root = BitMapBackend::new(&tmp, SIZE).into_drawing_area();
        render(chart, &root)?;
        root.present().map_err(draw_err)
    })();
    let done = drawn.and_then(|()| std::fs::rename(&tmp, path).with_context(|| format!("renaming {}", tmp.display())));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

fn draw_err(e: impl std::fmt::Display) -> Error {
    Error::Plot(e.to_string())
}
