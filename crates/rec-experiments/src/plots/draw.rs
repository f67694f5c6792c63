//! Drawing the charts with plotters: bars with error whiskers, lines, legends, axes whose
//! ticks sit where the data is.

use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{draw_err, trim_float, Bars, Chart, Lines, Series, LEGEND_W};
use crate::Result;

/// A linear x axis whose ticks sit where we say (group centres, the swept rates), which
/// plotters' own key-point combinator cannot label.
#[derive(Debug, Clone)]
struct TickAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for TickAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = if self.hi > self.lo { (value - self.lo) / (self.hi - self.lo) } else { 0.5 };
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for TickAxis {
    fn format(value: &f64) -> String {
        trim_float(*value)
    }
}

pub(super) fn render<DB: DrawingBackend>(chart: &Chart, root: &DrawingArea<DB, Shift>) -> Result<()> {
    root.fill(&WHITE).map_err(draw_err)?;
    let (w, _) = root.dim_in_pixel();
    let (main, legend) = root.split_horizontally(w.saturating_sub(LEGEND_W));
    match chart {
        Chart::Bars(b) => {
            draw_legend(&legend, &b.series)?;
            draw_bars(&main, b, 18)
        }
        Chart::Lines(l) => {
            draw_legend(&legend, &l.series.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>())?;
            draw_lines(&main, l)
        }
        Chart::Panels(title, panels) => {
            if let Some(first) = panels.first() {
                draw_legend(&legend, &first.series)?;
            }
            let main = main.titled(title, ("sans-serif", 18)).map_err(draw_err)?;
            let parts = main.split_evenly((1, panels.len().max(1)));
            for (area, bars) in parts.iter().zip(panels) {
                draw_bars(area, bars, 15)?;
            }
            Ok(())
        }
    }
}

fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, series: &[Series]) -> Result<()> {
    for (i, s) in series.iter().enumerate() {
        let y = 50 + 24 * i as i32;
        area.draw(&Rectangle::new([(8, y), (22, y + 14)], s.color.filled())).map_err(draw_err)?;
        area.draw(&Text::new(s.name.clone(), (28, y), ("sans-serif", 15).into_font())).map_err(draw_err)?;
    }
    Ok(())
}

/// A y range around `values` (finite ones only), padded, and (for bars) starting at 0 when
/// that is near.
fn y_range(values: impl Iterator<Item = f64>, bars: bool) -> Option<(f64, f64)> {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() || !hi.is_finite() {
        return None;
    }
    let span = hi - lo;
    let pad = if span > 0.0 { span * 0.15 } else { (hi.abs() * 0.05).max(1e-6) };
    let mut lo = lo - pad;
    if bars && ((lo < 0.0 && lo + pad >= 0.0) || (lo > 0.0 && lo < span)) {
        lo = 0.0;
    }
    Some((lo, hi + pad))
}

fn y_formatter(lo: f64, hi: f64) -> impl Fn(&f64) -> String {
    let digits = (1.0 - (hi - lo).abs().max(1e-12).log10().floor()).clamp(0.0, 6.0) as usize;
    move |v: &f64| format!("{v:.digits$}")
}

/// Caps the y axis of bars when one value dwarfs the others (zero-filling a year gives an
/// RMSE a hundred times the others'); the capped bars are labelled with their value.
fn cap(means: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = means.iter().copied().filter(|x| x.is_finite() && *x > 0.0).collect();
    if v.len() < 3 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    let max = v[v.len() - 1];
    (max > 6.0 * median).then_some(3.0 * median)
}

fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, size: u32) -> Result<()> {
    let area = area.titled(title, ("sans-serif", size)).map_err(draw_err)?;
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        "no finite values to plot",
        (w as i32 / 2 - 80, h as i32 / 2),
        ("sans-serif", 16).into_font(),
    ))
    .map_err(draw_err)?;
    Ok(())
}

fn draw_bars<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, b: &Bars, title_size: u32) -> Result<()> {
    let means: Vec<f64> = b.values.iter().flatten().flatten().map(|v| v.0).collect();
    let cap = cap(&means);
    let clip = |v: f64| cap.map_or(v, |c| v.min(c));
    let bounds = b.values.iter().flatten().flatten().flat_map(|&(m, s)| {
        let s = if s.is_finite() { s } else { 0.0 };
        [clip(m - s), clip(m + s), clip(m)]
    });
    let (Some((lo, hi)), false) = (y_range(bounds, true), b.groups.is_empty() || b.series.is_empty()) else {
        return no_data(area, &b.title, title_size);
    };
    let n = b.groups.len();
    let centres: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
    // Stagger the group labels on two rows when they would run into each other.
    let longest = b.groups.iter().map(|g| g.chars().count()).max().unwrap_or(0) as u32;
    let per_group = area.dim_in_pixel().0.saturating_sub(90) / n as u32;
    let stagger = longest * 8 > per_group;
    let mut chart = ChartBuilder::on(area)
        .caption(&b.title, ("sans-serif", title_size))
        .margin(10)
        .x_label_area_size(if stagger { 50 } else { 40 })
        .y_label_area_size(70)
        .build_cartesian_2d(TickAxis { lo: 0.0, hi: n as f64, ticks: centres.clone() }, lo..hi)
        .map_err(draw_err)?;
    let groups = b.groups.clone();
    let fmt_y = y_formatter(lo, hi);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_style(("sans-serif", 14))
        .x_label_formatter(&|x| {
            if stagger {
                String::new()
            } else {
                groups.get(x.floor().max(0.0) as usize).cloned().unwrap_or_default()
            }
        })
        .y_desc(b.y_desc.as_str())
        .y_label_formatter(&fmt_y)
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(draw_err)?;
    if stagger {
        let style = TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        let labels = centres.iter().zip(&b.groups).enumerate().map(|(i, (&x, g))| {
            EmptyElement::at((x, lo)) + Text::new(g.clone(), (0, 8 + 16 * (i as i32 % 2)), style.clone())
        });
        chart.draw_series(labels).map_err(draw_err)?;
    }
    let k = b.series.len() as f64;
    let width = 0.8 / k;
    for (si, (series, values)) in b.series.iter().zip(&b.values).enumerate() {
        for (gi, v) in values.iter().enumerate() {
            let Some((m, s)) = *v else { continue };
            if m.is_finite() {
                let x0 = gi as f64 + 0.1 + si as f64 * width;
                draw_bar(&mut chart, (x0, width), (m, s), series.color, &clip, (lo, hi))?;
            }
        }
    }
    Ok(())
}

/// One bar from `x0`, `width` wide (its series' share of a group), for mean `m` with standard
/// deviation `s`, clipped by `clip` to the axis `(lo, hi)`: a capped bar is labelled with its
/// true value, the others carry a ±s whisker.
fn draw_bar<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<TickAxis, RangedCoordf64>>,
    (x0, width): (f64, f64),
    (m, s): (f64, f64),
    color: RGBColor,
    clip: &dyn Fn(f64) -> f64,
    (lo, hi): (f64, f64),
) -> Result<()> {
    let x1 = x0 + width * 0.9;
    let top = clip(m);
    chart.draw_series(std::iter::once(Rectangle::new([(x0, lo), (x1, top)], color.filled()))).map_err(draw_err)?;
    let xc = (x0 + x1) / 2.0;
    if top < m {
        // Capped: say the true value above the bar.
        let label = EmptyElement::at((x0, top)) + Text::new(format!("↑{}", fmt_value(m)), (0, -14), ("sans-serif", 11));
        chart.draw_series(std::iter::once(label)).map_err(draw_err)?;
    } else if s.is_finite() && s > 0.0 {
        let (e0, e1) = (clip(m - s).max(lo), clip(m + s).min(hi));
        let cap_w = width * 0.25;
        let path = vec![(xc, e0), (xc, e1)];
        chart.draw_series(std::iter::once(PathElement::new(path, BLACK.stroke_width(1)))).map_err(draw_err)?;
        for e in [e0, e1] {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(xc - cap_w, e), (xc + cap_w, e)],
                    BLACK.stroke_width(1),
                )))
                .map_err(draw_err)?;
        }
    }
    Ok(())
}

fn fmt_value(v: f64) -> String {
    if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn draw_lines<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, l: &Lines) -> Result<()> {
    let xs = || l.series.iter().flat_map(|(_, p)| p.iter()).filter(|p| p.0.is_finite() && p.1.is_finite());
    let bounds = xs().flat_map(|&(_, m, s)| {
        let s = if s.is_finite() { s } else { 0.0 };
        [m - s, m + s]
    });
    let (x_lo, x_hi) = xs().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let Some((lo, hi)) = y_range(bounds, false) else {
        return no_data(area, &l.title, 18);
    };
    let (x_lo, x_hi) = if x_hi > x_lo { (x_lo, x_hi) } else { (x_lo - 1.0, x_lo + 1.0) };
    let pad = (x_hi - x_lo) * 0.04;
    // Ticks: the rates themselves for a sweep, round steps otherwise.
    let ticks: Vec<f64> = if l.x_percent {
        xs().map(|p| p.0).collect::<Vec<_>>().into_iter().fold(Vec::new(), |mut acc, x| {
            if !acc.iter().any(|a: &f64| (a - x).abs() < 1e-12) {
                acc.push(x);
            }
            acc
        })
    } else {
        nice_ticks(x_lo, x_hi, 8)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&l.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(TickAxis { lo: x_lo - pad, hi: x_hi + pad, ticks }, lo..hi)
        .map_err(draw_err)?;
    let fmt_y = y_formatter(lo, hi);
    let percent = l.x_percent;
    chart
        .configure_mesh()
        .x_desc(l.x_desc.as_str())
        .y_desc(l.y_desc.as_str())
        .x_label_formatter(&|x| if percent { format!("{}%", trim_float(x * 100.0)) } else { trim_float(*x) })
        .y_label_formatter(&fmt_y)
        .axis_desc_style(("sans-serif", 15))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(draw_err)?;
    for (series, points) in &l.series {
        let pts: Vec<(f64, f64, f64)> = points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
        let color = series.color;
        chart.draw_series(LineSeries::new(pts.iter().map(|p| (p.0, p.1)), color.stroke_width(2))).map_err(draw_err)?;
        if pts.len() <= 30 {
            chart.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 3, color.filled()))).map_err(draw_err)?;
        }
        for &(x, m, s) in pts.iter().filter(|p| p.2.is_finite() && p.2 > 0.0) {
            let path = vec![(x, (m - s).max(lo)), (x, (m + s).min(hi))];
            chart.draw_series(std::iter::once(PathElement::new(path, color.stroke_width(1)))).map_err(draw_err)?;
        }
    }
    Ok(())
}

/// About `n` round ticks over [lo, hi].
fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let raw = (hi - lo) / n.max(1) as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return vec![lo];
    }
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_ticks_survive_odd_values() {
        assert_eq!(y_range([f64::NAN, f64::INFINITY].into_iter(), true), None);
        let (lo, hi) = y_range([0.95, 0.95].into_iter(), true).unwrap();
        assert!(lo < 0.95 && hi > 0.95);
        let (lo, hi) = y_range([0.2, 0.9].into_iter(), true).unwrap();
        assert_eq!(lo, 0.0);
        assert!(hi > 0.9);
        let (lo, _) = y_range([0.2, 0.9].into_iter(), false).unwrap();
        assert!(lo > 0.0);
        assert_eq!(nice_ticks(0.0, 100.0, 5), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(nice_ticks(1.0, 1.0, 5), vec![1.0]);
        assert_eq!(cap(&[1.0, 1.1, 0.9, 120.0]), Some(3.0 * 1.1));
        assert_eq!(cap(&[1.0, 1.1, 0.9]), None);
        assert_eq!(trim_float(5.0), "5");
        assert_eq!(trim_float(2.5), "2.5");
    }
}
