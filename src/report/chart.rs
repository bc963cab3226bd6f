//! `chart.png`: |difference| per day, stacked by class, one panel per currency.
//!
//! Drawn with plotters into an RGB buffer and encoded with `png`, no text: plotters has no
//! font feature here (fonts would make the bytes depend on the machine). The labels (currency,
//! scale, days, class colours) are in the HTML around the picture, see [`Legend`].

use super::{class_order, Finding, ReportInput, ReportSettings};
use chrono::NaiveDate;
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

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

/// The PNG bytes and what they show.
pub(crate) fn draw(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    findings: &[Finding],
) -> Result<(Vec<u8>, Legend), String> {
    // currency → day → class → amount
    type Days = BTreeMap<NaiveDate, BTreeMap<String, Decimal>>;
    let mut data: BTreeMap<String, Days> = BTreeMap::new();
    let mut first = input.window.from;
    let mut last = input.window.to;
    for f in findings {
        let Some(day) = f.day() else { continue };
        first = first.min(day);
        last = last.max(day);
        *data
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
    let total = |days: &Days| -> Decimal {
        days.iter()
            .filter(|(d, _)| **d >= first)
            .flat_map(|(_, m)| m.values())
            .sum()
    };
    let mut currencies: Vec<(String, Decimal)> =
        data.iter().map(|(c, d)| (c.clone(), total(d))).collect();
    // Largest total first; ties by code so the order never depends on hashing.
    currencies.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let keep = settings.chart_max_currencies.clamp(1, MAX_PANELS);
    let omitted = currencies.len().saturating_sub(keep);
    currencies.truncate(keep);
    if currencies.is_empty() {
        currencies.push((String::new(), Decimal::ZERO));
    }
    let classes = class_order(findings.iter().map(|f| f.class.as_str()));

    let panels = currencies.len() as u32;
    let (w, h) = (WIDTH, PANEL_HEIGHT * panels);
    let n_days = (last - first).num_days() + 1;
    let mut legend = Legend {
        from: first,
        to: last,
        panels: Vec::new(),
        classes: classes.iter().map(|c| (c.clone(), colour(c))).collect(),
        omitted,
    };
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| format!("draw: {e:?}"))?;
        let areas = root.split_evenly((panels as usize, 1));
        for ((cur, cur_total), area) in currencies.iter().zip(areas.iter()) {
            let empty = Days::new();
            let days = data.get(cur).unwrap_or(&empty);
            let peak = days
                .iter()
                .filter(|(d, _)| **d >= first)
                .map(|(_, m)| m.values().sum::<Decimal>())
                .max()
                .unwrap_or_default();
            legend.panels.push((cur.clone(), *cur_total, peak));
            panel(area, days, &classes, first, n_days, peak)?;
        }
        root.present().map_err(|e| format!("draw: {e:?}"))?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(|e| format!("encode: {e}"))?;
        wr.write_image_data(&buf)
            .map_err(|e| format!("encode: {e}"))?;
        wr.finish().map_err(|e| format!("encode: {e}"))?;
    }
    Ok((out, legend))
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn rect(area: &Area<'_>, x0: i32, y0: i32, x1: i32, y1: i32, c: RGBColor) -> Result<(), String> {
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], c.filled()))
        .map_err(|e| format!("draw: {e:?}"))
}

/// One currency: a frame, quarter grid lines, a bar per day stacked bottom-up by class.
fn panel(
    area: &Area<'_>,
    days: &BTreeMap<NaiveDate, BTreeMap<String, Decimal>>,
    classes: &[String],
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
    for (day, per_class) in days.range(first..) {
        let i = (*day - first).num_days() as f64;
        let x0 = left + (i * slot + gap).round() as i32;
        let x1 = (left + ((i + 1.0) * slot - gap).round() as i32 - 1).max(x0);
        let mut acc = 0.0f64;
        for class in classes {
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
            let (r, g, b) = colour(class);
            rect(area, x0, y_hi.max(top), x1, y_lo - 1, RGBColor(r, g, b))?;
        }
    }
    Ok(())
}
