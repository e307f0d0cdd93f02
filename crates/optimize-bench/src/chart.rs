//! Charts of a [`Report`], each drawn by plotters twice: SVG (for the web, scalable) and PNG
//! (for Markdown viewers that do not show SVG).
//!
//! - `latency`: a box plot per run of the latency of one call: the box spans p25 to p75, the
//!   thick line is the median, the whiskers go from the fastest call to p99.
//! - `size`: a bar per model of its size on disk, with the ratio to the baseline.
//! - `accuracy-latency`: median latency against accuracy (top-1 on the evaluation data, or
//!   else fidelity to the reference model), one point per run; the Pareto front (runs that no
//!   other run beats on both) is joined and ringed. Drawn only when every run has the same
//!   kind of accuracy number.
//!
//! [`line_chart`] draws any other report's curves the same way: panels side by side, one line
//! per series (distillation's loss and accuracy per epoch).
//!
//! Text is drawn in DejaVu Sans, bundled with this crate (`assets/DejaVuSans.ttf`, licence
//! beside it) and registered with plotters at run time, so PNGs look the same on every
//! machine, with or without system fonts. Category labels are drawn by hand beside each box or
//! bar, so they line up exactly and never overlap.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use crate::bench::BenchResult;
use crate::report::{human_bytes, write_atomic, Report};
use crate::{Error, Result};

/// The bundled font; see the module doc.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// The family name the font is registered under and drawn with.
const FAMILY: &str = "sans-serif";

/// Colours of runs, in order (Okabe–Ito, distinguishable with colour-blindness).
const COLORS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(240, 228, 66),
];

const WIDTH: u32 = 1000;

type DrawResult = std::result::Result<(), Box<dyn StdError + Send + Sync>>;

/// The two files of one chart, with the words that go with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartFiles {
    /// The SVG file.
    pub svg: PathBuf,
    /// The PNG file.
    pub png: PathBuf,
    /// Short title, for alt text.
    pub title: String,
    /// One sentence on how to read it.
    pub caption: String,
}

/// Registers the bundled font with plotters (once per process).
pub fn register_font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok()
            && plotters::style::register_font(FAMILY, FontStyle::Bold, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Chart {
            path: PathBuf::from("assets/DejaVuSans.ttf"),
            message: "the bundled font does not parse".into(),
        })
    }
}

/// Draws every chart that applies to `report` into `dir`; returns the files.
pub fn render(report: &Report, dir: &Path) -> Result<Vec<ChartFiles>> {
    render_with(report, dir, accuracy_metric(report))
}

/// [`render`] with the scatter's metric given by the caller (a pipeline's own metric), or none.
pub fn render_with(
    report: &Report,
    dir: &Path,
    metric: Option<ChartMetric>,
) -> Result<Vec<ChartFiles>> {
    register_font()?;
    let mut files = Vec::new();
    if report.runs.is_empty() {
        return Ok(files);
    }
    let n = report.runs.len() as u32;
    let height = 130 + 46 * n;
    files.push(save(
        dir,
        "latency",
        (WIDTH, height.max(300)),
        |root| latency(root, report),
        |root| latency(root, report),
        "Latency per call".into(),
        "Box: p25 to p75; thick line: median; whiskers: fastest call to p99. Shorter is faster."
            .into(),
    )?);
    let models = unique_models(report);
    let height = 130 + 46 * models.len() as u32;
    files.push(save(
        dir,
        "size",
        (WIDTH, height.max(260)),
        |root| size(root, report),
        |root| size(root, report),
        "Model size on disk".into(),
        "Size of each model file, external data included, and its ratio to the baseline.".into(),
    )?);
    if let Some(metric) = metric.filter(|m| m.values.iter().any(|v| v.is_finite())) {
        files.push(save(
            dir,
            "accuracy-latency",
            (WIDTH, 560),
            |root| scatter(root, report, &metric),
            |root| scatter(root, report, &metric),
            format!("{} against median latency", metric.name),
            format!(
                "Each point is a run; up and left is better. The dashed line joins the Pareto front: the runs no other run beats on both latency and {}.",
                metric.name
            ),
        )?);
    }
    Ok(files)
}

/// Draws one chart as SVG and as PNG and writes both atomically.
fn save(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    svg: impl FnOnce(DrawingArea<SVGBackend, Shift>) -> DrawResult,
    png: impl FnOnce(DrawingArea<BitMapBackend, Shift>) -> DrawResult,
    title: String,
    caption: String,
) -> Result<ChartFiles> {
    let svg_path = dir.join(format!("{stem}.svg"));
    let png_path = dir.join(format!("{stem}.png"));
    let chart_err = |path: &Path, e: &dyn std::fmt::Display| Error::Chart {
        path: path.to_path_buf(),
        message: e.to_string(),
    };

    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        svg(root).map_err(|e| chart_err(&svg_path, &e))?;
    }
    write_atomic(&svg_path, text.as_bytes())?;

    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        png(root).map_err(|e| chart_err(&png_path, &e))?;
    }
    let mut encoded = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut encoded, size.0, size.1);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| chart_err(&png_path, &e))?;
        writer
            .write_image_data(&rgb)
            .map_err(|e| chart_err(&png_path, &e))?;
    }
    write_atomic(&png_path, &encoded)?;
    Ok(ChartFiles {
        svg: svg_path,
        png: png_path,
        title,
        caption,
    })
}

fn font(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Width in pixels of the widest of `labels` at `style`.
fn widest<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    labels: &[String],
    style: &TextStyle,
) -> u32 {
    labels
        .iter()
        .map(|l| {
            root.estimate_text_size(l, style)
                .map_or(8 * l.len() as u32, |(w, _)| w)
        })
        .max()
        .unwrap_or(0)
}

/// Upper end of an axis from 0 that leaves room above `max`.
fn headroom(max: f64, factor: f64) -> f64 {
    if max > 0.0 && max.is_finite() {
        max * factor
    } else {
        1.0
    }
}

/// Labels of a category axis drawn beside the plot, right-aligned, centred on each row.
fn row_labels<DB, X>(
    root: &DrawingArea<DB, Shift>,
    chart: &ChartContext<DB, Cartesian2d<X, RangedCoordf64>>,
    x0: X::ValueType,
    labels: &[String],
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    X: Ranged,
    X::ValueType: Clone,
{
    let style = font(15.0).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, label) in labels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(x0.clone(), i as f64));
        root.draw(&Text::new(label.clone(), (px - 10, py), style.clone()))?;
    }
    Ok(())
}

fn latency<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, report: &Report) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let runs = &report.runs;
    let labels: Vec<String> = runs.iter().map(BenchResult::label).collect();
    let max = runs.iter().map(|r| r.latency.p99_ms).fold(0.0, f64::max);
    let min = runs
        .iter()
        .map(|r| r.latency.min_ms)
        .fold(f64::INFINITY, f64::min);
    let batch = runs.first().map_or(1, |r| r.batch);
    let label_width = widest(&root, &labels, &font(15.0)) + 24;
    let n = runs.len() as f64;
    // A log axis when the runs (or one run's tail) span more than 10x, so that every box
    // stays readable.
    let log = min > 0.0 && max / min > 10.0;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(
            format!(
                "Latency per call (batch {batch}), lower is better{}",
                if log { ", log scale" } else { "" }
            ),
            font(22.0),
        )
        .margin(16)
        .margin_right(32)
        .x_label_area_size(50)
        .y_label_area_size(label_width);
    let desc = if log {
        "latency per call (ms, log scale)"
    } else {
        "latency per call (ms)"
    };
    if log {
        // Start at the decade below the fastest call, so the axis has a labelled tick there.
        let lo = 10f64.powf(min.log10().floor());
        let mut chart =
            builder.build_cartesian_2d((lo..max * 1.25).log_scale(), (n - 0.5)..-0.5)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc(desc)
            .axis_desc_style(font(16.0))
            .label_style(font(14.0))
            .draw()?;
        latency_boxes(&mut chart, report)?;
        row_labels(&root, &chart, lo, &labels)?;
    } else {
        let mut chart = builder.build_cartesian_2d(0.0..headroom(max, 1.12), (n - 0.5)..-0.5)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc(desc)
            .axis_desc_style(font(16.0))
            .label_style(font(14.0))
            .draw()?;
        latency_boxes(&mut chart, report)?;
        row_labels(&root, &chart, 0.0, &labels)?;
    }
    root.present()?;
    Ok(())
}

/// The boxes, whiskers and median labels of the latency chart, on either x axis.
fn latency_boxes<DB, X>(
    chart: &mut ChartContext<DB, Cartesian2d<X, RangedCoordf64>>,
    report: &Report,
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
{
    for (i, run) in report.runs.iter().enumerate() {
        let l = &run.latency;
        let y = i as f64;
        let c = color(i);
        let half = 0.28;
        chart.draw_series([
            Rectangle::new(
                [(l.p25_ms, y - half), (l.p75_ms, y + half)],
                c.mix(0.35).filled(),
            ),
            Rectangle::new(
                [(l.p25_ms, y - half), (l.p75_ms, y + half)],
                c.stroke_width(2),
            ),
        ])?;
        chart.draw_series([
            PathElement::new(vec![(l.min_ms, y), (l.p25_ms, y)], c.stroke_width(2)),
            PathElement::new(vec![(l.p75_ms, y), (l.p99_ms, y)], c.stroke_width(2)),
            PathElement::new(
                vec![(l.min_ms, y - half / 2.0), (l.min_ms, y + half / 2.0)],
                c.stroke_width(2),
            ),
            PathElement::new(
                vec![(l.p99_ms, y - half / 2.0), (l.p99_ms, y + half / 2.0)],
                c.stroke_width(2),
            ),
            PathElement::new(
                vec![(l.p50_ms, y - half), (l.p50_ms, y + half)],
                BLACK.stroke_width(3),
            ),
        ])?;
        let value = font(14.0).pos(Pos::new(HPos::Left, VPos::Bottom));
        chart.draw_series([Text::new(
            format!("median {}", short_ms(l.p50_ms)),
            (l.p50_ms, y - half - 0.06),
            value,
        )])?;
    }
    Ok(())
}

fn unique_models(report: &Report) -> Vec<&BenchResult> {
    let mut seen: Vec<&BenchResult> = Vec::new();
    for run in &report.runs {
        if !seen.iter().any(|s| s.model.path == run.model.path) {
            seen.push(run);
        }
    }
    seen
}

fn size<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, report: &Report) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let models = unique_models(report);
    let base = report.baseline_run().map_or(0, |b| b.model.bytes).max(1) as f64;
    let labels: Vec<String> = models.iter().map(|r| r.model.name.clone()).collect();
    let largest = models.iter().map(|r| r.model.bytes).max().unwrap_or(0);
    let (unit, div) = if largest < 1024 * 1024 {
        ("KiB", 1024.0)
    } else {
        ("MiB", 1024.0 * 1024.0)
    };
    let mib = |b: u64| b as f64 / div;
    let max = mib(largest);
    let label_width = widest(&root, &labels, &font(15.0)) + 24;
    let n = models.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption("Model size on disk, lower is smaller", font(22.0))
        .margin(16)
        .margin_right(32)
        .x_label_area_size(50)
        .y_label_area_size(label_width)
        .build_cartesian_2d(0.0..headroom(max, 1.3), (n - 0.5)..-0.5)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(format!("size on disk ({unit})"))
        .axis_desc_style(font(16.0))
        .label_style(font(14.0))
        .draw()?;
    for (i, run) in models.iter().enumerate() {
        let y = i as f64;
        let v = mib(run.model.bytes);
        let c = color(
            report
                .runs
                .iter()
                .position(|r| r.model.path == run.model.path)
                .unwrap_or(i),
        );
        chart.draw_series([Rectangle::new([(0.0, y - 0.3), (v, y + 0.3)], c.filled())])?;
        chart.draw_series([Text::new(
            format!(
                "{} ({:.2}×)",
                human_bytes(run.model.bytes),
                run.model.bytes as f64 / base
            ),
            (v, y),
            font(14.0).pos(Pos::new(HPos::Left, VPos::Center)),
        )])?;
    }
    row_labels(&root, &chart, 0.0, &labels)?;
    root.present()?;
    Ok(())
}

/// Which quality number the scatter plots against latency.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartMetric {
    /// Axis words, e.g. `top-1 accuracy`.
    pub name: String,
    /// Per run, in the report's order (0–1 for accuracy and cosine); NaN for a run without one.
    pub values: Vec<f64>,
    /// Shown as a percentage.
    pub percent: bool,
    /// Whether larger is better (the Pareto front follows it).
    pub higher_is_better: bool,
}

fn accuracy_metric(report: &Report) -> Option<ChartMetric> {
    let runs = &report.runs;
    if let Some(values) = runs
        .iter()
        .map(|r| r.accuracy.as_ref().map(|a| a.top1))
        .collect::<Option<Vec<f64>>>()
    {
        return Some(ChartMetric {
            name: "top-1 accuracy".into(),
            values,
            percent: true,
            higher_is_better: true,
        });
    }
    let headlines: Option<Vec<(f64, &'static str)>> = runs
        .iter()
        .map(|r| r.fidelity.as_ref().and_then(|f| f.headline()))
        .collect();
    let headlines = headlines?;
    let kind = headlines.first()?.1;
    if headlines.iter().any(|(_, k)| *k != kind) {
        return None;
    }
    Some(ChartMetric {
        name: format!("{kind} with the reference"),
        values: headlines.iter().map(|(v, _)| *v).collect(),
        percent: kind == "top-1 agreement",
        higher_is_better: true,
    })
}

/// Indices of the runs on the Pareto front (lower latency, higher accuracy), fastest first.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        points[a]
            .0
            .total_cmp(&points[b].0)
            .then(points[b].1.total_cmp(&points[a].1))
    });
    let mut front = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in order {
        if points[i].1 > best {
            best = points[i].1;
            front.push(i);
        }
    }
    front
}

fn scatter<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    report: &Report,
    metric: &ChartMetric,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let runs = &report.runs;
    let scale = if metric.percent { 100.0 } else { 1.0 };
    let points: Vec<(f64, f64)> = runs
        .iter()
        .zip(&metric.values)
        .map(|(r, v)| (r.latency.p50_ms, v * scale))
        .collect();
    let labels: Vec<String> = runs.iter().map(BenchResult::label).collect();
    let legend_width = (widest(&root, &labels, &font(14.0)) + 60).clamp(200, WIDTH / 2);
    let (plot, legend) = root.split_horizontally(WIDTH - legend_width);

    let xmax = points.iter().map(|p| p.0).fold(0.0, f64::max);
    let ymin = points
        .iter()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let ymax = points
        .iter()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = ((ymax - ymin) * 0.2).max(if metric.percent { 0.5 } else { 0.0005 });
    // Accuracy tops out at 100% and cosine at 1: little room above the highest point.
    let top = pad.min(if metric.percent { 2.0 } else { 0.02 });
    let unit = if metric.percent { " (%)" } else { "" };
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            format!("{} vs median latency", capitalize(&metric.name)),
            font(22.0),
        )
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..headroom(xmax, 1.15), (ymin - pad)..(ymax + top))?;
    chart
        .configure_mesh()
        .x_desc("median latency per call (ms)")
        .y_desc(format!("{}{unit}", metric.name))
        .axis_desc_style(font(16.0))
        .label_style(font(14.0))
        .draw()?;

    // The front is taken where up is better; a lower-is-better metric is flipped for it.
    let sign = if metric.higher_is_better { 1.0 } else { -1.0 };
    let front = pareto_front(
        &points
            .iter()
            .map(|&(x, y)| {
                (
                    x,
                    if y.is_finite() {
                        sign * y
                    } else {
                        f64::NEG_INFINITY
                    },
                )
            })
            .collect::<Vec<_>>(),
    );
    if front.len() > 1 {
        // A step line: from each front point, across to the next one's latency, then up.
        let mut path = Vec::new();
        for w in front.windows(2) {
            let (a, b) = (points[w[0]], points[w[1]]);
            path.push(a);
            path.push((b.0, a.1));
        }
        if let Some(&last) = front.last() {
            path.push(points[last]);
        }
        chart.draw_series(DashedLineSeries::new(path, 6, 4, BLACK.stroke_width(2)))?;
    }
    let front: Vec<usize> = front
        .into_iter()
        .filter(|&i| points[i].1.is_finite())
        .collect();
    for &i in &front {
        chart.draw_series([Circle::new(points[i], 11, BLACK.stroke_width(2))])?;
    }
    for (i, &p) in points.iter().enumerate().filter(|(_, p)| p.1.is_finite()) {
        chart.draw_series([Circle::new(p, 6, color(i).filled())])?;
    }

    // The legend, beside the plot so it never covers a point.
    legend.fill(&WHITE)?;
    let mut y = 60;
    legend.draw(&Text::new("runs", (10, y - 28), font(15.0)))?;
    for (i, label) in labels.iter().enumerate() {
        legend.draw(&Circle::new((20, y), 6, color(i).filled()))?;
        if front.contains(&i) {
            legend.draw(&Circle::new((20, y), 11, BLACK.stroke_width(2)))?;
        }
        legend.draw(&Text::new(
            label.clone(),
            (40, y),
            font(14.0).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        y += 30;
    }
    y += 10;
    legend.draw(&PathElement::new(
        vec![(8, y), (32, y)],
        BLACK.stroke_width(2),
    ))?;
    legend.draw(&Text::new(
        "Pareto front (ringed)",
        (40, y),
        font(14.0).pos(Pos::new(HPos::Left, VPos::Center)),
    ))?;
    root.present()?;
    Ok(())
}

/// One series of a [`LinePanel`]: its name in the legend and its `(x, y)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// The legend entry.
    pub name: &'a str,
    /// The points, in the order they are joined; non-finite `y` values are left out of the
    /// panel's range.
    pub points: Vec<(f64, f64)>,
}

/// One panel of a [`line_chart`]. `x` values are counts (epochs, steps): the axis is labelled
/// in whole numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePanel<'a> {
    /// Drawn above the panel.
    pub title: &'a str,
    /// The x axis' name.
    pub x_label: &'a str,
    /// The series, coloured in order like runs in the other charts.
    pub lines: Vec<Line<'a>>,
}

/// Draws `panels` side by side as line charts into `dir/{stem}.svg` and `dir/{stem}.png`.
pub fn line_chart(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    panels: &[LinePanel],
    title: String,
    caption: String,
) -> Result<ChartFiles> {
    register_font()?;
    save(
        dir,
        stem,
        size,
        |root| lines(root, panels),
        |root| lines(root, panels),
        title,
        caption,
    )
}

fn lines<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, panels: &[LinePanel]) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    let style = (FAMILY, 16);
    for (panel, area) in panels.iter().zip(areas) {
        let points = || panel.lines.iter().flat_map(|l| l.points.iter().copied());
        let range = |values: Vec<f64>, default: (f64, f64)| {
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if lo.is_finite() && hi > lo {
                (lo, hi)
            } else {
                default
            }
        };
        let xs: Vec<f64> = points().map(|p| p.0).filter(|v| v.is_finite()).collect();
        let x0 = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let x0 = if x0.is_finite() { x0 } else { 1.0 };
        let (x0, x1) = range(xs, (x0, x0 + 1.0));
        let (lo, hi) = range(
            points().map(|p| p.1).filter(|v| v.is_finite()).collect(),
            (0.0, 1.0),
        );
        let pad = (hi - lo) * 0.05;
        let mut chart = ChartBuilder::on(&area)
            .caption(panel.title, (FAMILY, 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, (lo - pad)..(hi + pad))?;
        chart
            .configure_mesh()
            .x_desc(panel.x_label)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .label_style(style)
            .axis_desc_style(style)
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (i, line) in panel.lines.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().copied(),
                    c.stroke_width(2),
                ))?
                .label(line.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .label_font(style)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn short_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 1.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.3} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_front_by_hand() {
        // (latency, accuracy): 0 fast & worst, 1 dominated by 0... see each comment.
        let pts = [
            (1.0, 90.0), // fastest: on the front
            (2.0, 89.0), // slower and worse than 0: off
            (3.0, 95.0), // better than everything faster: on
            (3.0, 94.0), // same latency as 2, worse: off
            (5.0, 95.0), // slower, no better: off
            (6.0, 97.0), // on
        ];
        assert_eq!(pareto_front(&pts), [0, 2, 5]);
        assert_eq!(pareto_front(&[]), Vec::<usize>::new());
    }

    #[test]
    fn line_chart_writes_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let line = |name, points| Line { name, points };
        let panels = [
            LinePanel {
                title: "loss",
                x_label: "epoch",
                lines: vec![
                    line("a", vec![(1.0, 2.0), (2.0, 1.0), (3.0, f64::NAN)]),
                    line("b", vec![(1.0, 1.5)]),
                ],
            },
            LinePanel {
                title: "empty",
                x_label: "epoch",
                lines: vec![],
            },
        ];
        let files =
            line_chart(dir.path(), "c", (400, 200), &panels, "t".into(), "c".into()).unwrap();
        let svg = std::fs::read_to_string(&files.svg).unwrap();
        assert!(svg.contains("loss") && svg.contains("empty"), "{svg}");
        let png = std::fs::read(&files.png).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn font_registers() {
        register_font().unwrap();
        register_font().unwrap();
    }
}
