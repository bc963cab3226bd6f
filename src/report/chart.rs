//! `chart.png`: |difference| per day, stacked by class, one panel per currency.
//!
//! Drawn with plotters into an RGB buffer and encoded with `png`, no text: plotters has no
//! font feature here (fonts would make the bytes depend on the machine). The labels (currency,
//! scale, days, class colours) are in the HTML around the picture, see [`Legend`].

use super::{class_order, Finding, ReportError, ReportInput, ReportSettings};
use crate::domain::window::Window;
use chrono::NaiveDate;
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;

/// Width of the picture in pixels.
pub const WIDTH: u32 = 960;
/// Height of one currency panel in pixels; the picture is `panels × PANEL_HEIGHT` high.
pub const PANEL_HEIGHT: u32 = 200;
/// Panels at most (bounds the picture's size).
pub const MAX_PANELS: usize = 12;
/// Days drawn at most (the last ones); one bar is then still a pixel wide.
pub const MAX_DAYS: i64 = 366;
const MARGIN: i32 = 12;

/// Fixed colours, one per class of [`crate::reconcile::CLASSES`], then grey for any other.
const COLOURS: &[(u8, u8, u8)] = &[
    (214, 39, 40),   // missing_in_ledger
    (31, 119, 180),  // missing_in_provider
    (255, 127, 14),  // amount_mismatch
    (148, 103, 189), // currency_mismatch
    (140, 86, 75),   // status_mismatch
    (227, 119, 194), // duplicate_in_provider
    (188, 189, 34),  // duplicate_in_ledger
    (44, 160, 44),   // fee_mismatch
    (23, 190, 207),  // timing_difference
    (57, 59, 121),   // payout_mismatch
    (127, 127, 127), // breakdown_mismatch
];
const OTHER: (u8, u8, u8) = (60, 60, 60);

/// The colour of a class.
pub(crate) fn colour(class: &str) -> (u8, u8, u8) {
    crate::reconcile::CLASSES
        .iter()
        .position(|c| *c == class)
        .and_then(|i| COLOURS.get(i).copied())
        .unwrap_or(OTHER)
}

/// What the picture shows, for the labels around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Legend {
    /// First and last day on the x axis (one bar per day).
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Panels top to bottom: currency, total drawn, the tallest day's total (the panel's top).
    pub panels: Vec<(String, Decimal, Decimal)>,
    /// Classes drawn, in stacking order (bottom first), with their colours.
    pub classes: Vec<(String, (u8, u8, u8))>,
    /// Currencies left out (beyond `chart_max_currencies`).
    pub omitted: usize,
}

/// A drawn chart: the PNG, and what it shows for the labels around it (the picture has no
/// text; [`super::fragments::chart_legend`] writes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartImage {
    /// The `chart.png` bytes.
    pub png: Vec<u8>,
    pub(super) legend: Legend,
}

/// The chart when the settings ask for one and there is something to draw; errors name `path`.
pub(crate) fn draw_if_wanted(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    findings: &[Finding],
    path: &Path,
) -> Result<Option<ChartImage>, ReportError> {
    if !settings.chart || findings.is_empty() {
        return Ok(None);
    }
    draw(input, settings, findings)
        .map(Some)
        .map_err(|message| ReportError::Chart {
            path: path.to_path_buf(),
            message,
        })
}

/// Amounts per day and class of one currency.
type Days = BTreeMap<NaiveDate, BTreeMap<String, Decimal>>;

/// |difference| per currency, day and class, over the days drawn.
struct Daily {
    by_currency: BTreeMap<String, Days>,
    /// First day drawn: the window's first, or a finding's earlier day, but at most
    /// [`MAX_DAYS`] before `last`.
    first: NaiveDate,
    /// Last day drawn: the window's last, or a finding's later day.
    last: NaiveDate,
}

impl Daily {
    fn collect(findings: &[Finding], window: Window) -> Daily {
        let mut by_currency: BTreeMap<String, Days> = BTreeMap::new();
        let (mut first, mut last) = (window.from, window.to);
        for f in findings {
            let Some(day) = f.day() else { continue };
            first = first.min(day);
            last = last.max(day);
            *by_currency
                .entry(f.currency.clone())
                .or_default()
                .entry(day)
                .or_default()
                .entry(f.class.clone())
                .or_default() += f.difference.unwrap_or_default().abs();
        }
        if (last - first).num_days() >= MAX_DAYS {
            first = last - chrono::Duration::days(MAX_DAYS - 1);
        }
        Daily {
            by_currency,
            first,
            last,
        }
    }

    /// The days of a currency from `first` on (none for a currency without findings).
    fn days(
        &self,
        currency: &str,
    ) -> impl Iterator<Item = (&NaiveDate, &BTreeMap<String, Decimal>)> {
        self.by_currency
            .get(currency)
            .into_iter()
            .flat_map(move |days| days.range(self.first..))
    }

    /// The currencies drawn with their totals, largest first, and how many are left out.
    fn panel_currencies(&self, max: usize) -> (Vec<(String, Decimal)>, usize) {
        let mut currencies: Vec<(String, Decimal)> = self
            .by_currency
            .keys()
            .map(|c| (c.clone(), self.days(c).flat_map(|(_, m)| m.values()).sum()))
            .collect();
        // Largest total first; ties by code so the order never depends on hashing.
        currencies.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let keep = max.clamp(1, MAX_PANELS);
        let omitted = currencies.len().saturating_sub(keep);
        currencies.truncate(keep);
        if currencies.is_empty() {
            currencies.push((String::new(), Decimal::ZERO));
        }
        (currencies, omitted)
    }

    /// The tallest day's total of a currency: the top of its panel.
    fn peak(&self, currency: &str) -> Decimal {
        self.days(currency)
            .map(|(_, m)| m.values().sum::<Decimal>())
            .max()
            .unwrap_or_default()
    }
}

/// The PNG bytes and what they show.
fn draw(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    findings: &[Finding],
) -> Result<ChartImage, String> {
    let daily = Daily::collect(findings, input.window);
    let (currencies, omitted) = daily.panel_currencies(settings.chart_max_currencies);
    let classes = class_order(findings.iter().map(|f| f.class.as_str()));
    let legend = Legend {
        from: daily.first,
        to: daily.last,
        panels: currencies
            .into_iter()
            .map(|(cur, total)| {
                let peak = daily.peak(&cur);
                (cur, total, peak)
            })
            .collect(),
        classes: classes.iter().map(|c| (c.clone(), colour(c))).collect(),
        omitted,
    };
    let (w, h) = (WIDTH, PANEL_HEIGHT * legend.panels.len() as u32);
    let pixels = render(&daily, &legend, w, h)?;
    let png = encode(&pixels, w, h)?;
    Ok(ChartImage { png, legend })
}

/// Draws the legend's panels, top to bottom, into an RGB buffer of `w × h` pixels.
fn render(daily: &Daily, legend: &Legend, w: u32, h: u32) -> Result<Vec<u8>, String> {
    let n_days = (daily.last - daily.first).num_days() + 1;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| format!("draw: {e:?}"))?;
        let areas = root.split_evenly((legend.panels.len(), 1));
        for ((cur, _, peak), area) in legend.panels.iter().zip(areas.iter()) {
            let days = daily.days(cur);
            panel(area, days, &legend.classes, daily.first, n_days, *peak)?;
        }
        root.present().map_err(|e| format!("draw: {e:?}"))?;
    }
    Ok(buf)
}

/// The RGB buffer as PNG bytes.
fn encode(pixels: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().map_err(|e| format!("encode: {e}"))?;
    wr.write_image_data(pixels)
        .map_err(|e| format!("encode: {e}"))?;
    wr.finish().map_err(|e| format!("encode: {e}"))?;
    Ok(out)
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn rect(area: &Area<'_>, x0: i32, y0: i32, x1: i32, y1: i32, c: RGBColor) -> Result<(), String> {
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], c.filled()))
        .map_err(|e| format!("draw: {e:?}"))
}

/// One currency: a frame, quarter grid lines, a bar per day stacked bottom-up by class.
fn panel<'d>(
    area: &Area<'_>,
    days: impl Iterator<Item = (&'d NaiveDate, &'d BTreeMap<String, Decimal>)>,
    classes: &[(String, (u8, u8, u8))],
    first: NaiveDate,
    n_days: i64,
    peak: Decimal,
) -> Result<(), String> {
    let (pw, ph) = area.dim_in_pixel();
    let (left, right) = (MARGIN, pw as i32 - MARGIN);
    let (top, bottom) = (MARGIN, ph as i32 - MARGIN);
    let grey = RGBColor(215, 215, 215);
    rect(area, left, top, right, bottom, RGBColor(248, 248, 248))?;
    for q in 1..=4 {
        let y = bottom - (bottom - top) * q / 4;
        rect(area, left, y, right, y + 1, grey)?;
    }
    rect(area, left, bottom, right, bottom + 1, RGBColor(90, 90, 90))?;
    let peak = peak.to_f64().unwrap_or(0.0);
    if peak <= 0.0 {
        return Ok(());
    }
    let slot = f64::from(right - left) / n_days as f64;
    let gap = if slot >= 4.0 {
        (slot * 0.15).max(1.0)
    } else {
        0.0
    };
    let plot_h = f64::from(bottom - top);
    for (day, per_class) in days {
        let i = (*day - first).num_days() as f64;
        let x0 = left + (i * slot + gap).round() as i32;
        let x1 = (left + ((i + 1.0) * slot - gap).round() as i32 - 1).max(x0);
        let mut acc = 0.0f64;
        for (class, (r, g, b)) in classes {
            let Some(v) = per_class.get(class) else {
                continue;
            };
            // Pixels only: the exact amounts are in the HTML and the files.
            let v = v.to_f64().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let y_lo = bottom - (acc / peak * plot_h).round() as i32;
            acc += v;
            let y_hi = (bottom - (acc / peak * plot_h).round() as i32).min(y_lo - 1);
            rect(area, x0, y_hi.max(top), x1, y_lo - 1, RGBColor(*r, *g, *b))?;
        }
    }
    Ok(())
}
