//! `age.png`: the open items per age bucket (0–7, 8–30, over 30 days) as of each of the last
//! runs, one panel per currency: a bar per run, its height the items' sum of |difference|,
//! stacked by bucket, with the number of items written on each part and above the bar.
//!
//! Why a picture of its own next to `chart.png`: that one shows what this run found, day by
//! day; this one shows whether the backlog is growing old, run by run. The series comes from
//! the open-items state ([`crate::reconcile::ages`]), passed in by the job as
//! [`ReportInput::ages`]; the HTML lists the same numbers as a table
//! ([`super::fragments::age_table`]).

use super::amount_display;
use super::plot::{self, Picture, PlotBox, LABEL_PX};
use super::{ReportError, ReportInput, ReportSettings};
use crate::reconcile::ages::{AgeBucket, AgeSnapshot, AgeTotals};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::path::Path;

/// Width of the picture in pixels (as `chart.png`).
pub const WIDTH: u32 = super::chart::WIDTH;
/// Height of one currency panel in pixels.
pub const PANEL_HEIGHT: u32 = 200;

/// Bucket colours, youngest first: green, orange, red (older is worse).
const COLOURS: [(u8, u8, u8); 3] = [(44, 160, 44), (255, 127, 14), (214, 39, 40)];

/// Height in pixels of an age chart with `panels` panels.
pub fn height(panels: usize) -> u32 {
    plot::header_height(AgeBucket::ALL.len()) + PANEL_HEIGHT * panels as u32
}

/// A drawn age chart: the PNG and the currencies it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeChartImage {
    /// The `age.png` bytes.
    pub png: Vec<u8>,
    /// Currencies drawn, top to bottom.
    pub currencies: Vec<String>,
    /// Currencies left out (beyond `chart_max_currencies`).
    pub omitted: usize,
}

/// The age chart when the settings ask for one and some run had open items; errors name
/// `path`.
pub(crate) fn draw_if_wanted(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    path: &Path,
) -> Result<Option<AgeChartImage>, ReportError> {
    let any_open = input.ages.iter().any(|s| !s.by_currency.is_empty());
    if !settings.chart || settings.age_chart_runs == 0 || !any_open {
        return Ok(None);
    }
    draw(input.ages, settings.chart_max_currencies)
        .map(Some)
        .map_err(|message| ReportError::Chart {
            path: path.to_path_buf(),
            message,
        })
}

/// The currencies to draw: largest amount open in the latest run first (then by code), and
/// how many are left out.
fn currencies(ages: &[AgeSnapshot], max: usize) -> (Vec<String>, usize) {
    let latest = |c: &str| -> Decimal {
        ages.last()
            .and_then(|s| s.by_currency.get(c))
            .map(|t| t.iter().map(|b| b.amount).sum())
            .unwrap_or_default()
    };
    let mut all: Vec<(String, Decimal)> = ages
        .iter()
        .flat_map(|s| s.by_currency.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|c| (c.clone(), latest(c)))
        .collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let keep = max.clamp(1, super::chart::MAX_PANELS);
    let omitted = all.len().saturating_sub(keep);
    (
        all.into_iter().take(keep).map(|(c, _)| c).collect(),
        omitted,
    )
}

/// A currency's buckets in a run (zeros when it had none open).
fn totals(s: &AgeSnapshot, currency: &str) -> AgeTotals {
    s.by_currency.get(currency).copied().unwrap_or_default()
}

/// The PNG and what it shows.
fn draw(ages: &[AgeSnapshot], max_currencies: usize) -> Result<AgeChartImage, String> {
    let (shown, omitted) = currencies(ages, max_currencies);
    let entries: Vec<(String, (u8, u8, u8))> = AgeBucket::ALL
        .iter()
        .zip(COLOURS)
        .map(|(b, c)| (b.label().to_owned(), c))
        .collect();
    let mut pic = Picture::new(WIDTH, height(shown.len()));
    let runs = match ages.len() {
        1 => "the latest run".to_owned(),
        n => format!("each of the last {n} runs"),
    };
    let mut title = format!(
        "Open items by age, as of {runs}: bars are the sum of |difference|, numbers count items"
    );
    if omitted > 0 {
        let what = if omitted == 1 {
            "currency"
        } else {
            "currencies"
        };
        title.push_str(&format!(" ({omitted} more {what} not drawn)"));
    }
    plot::header(&mut pic, &title, &entries);
    // The scale's top is a quarter above the largest bar: room for the count above it.
    let peaks: Vec<Decimal> = shown
        .iter()
        .map(|c| {
            let largest = ages
                .iter()
                .map(|s| totals(s, c).iter().map(|b| b.amount).sum::<Decimal>())
                .max()
                .unwrap_or_default();
            largest * Decimal::from(5u32) / Decimal::from(4u32)
        })
        .collect();
    let scales: Vec<[String; 5]> = shown
        .iter()
        .zip(&peaks)
        .map(|(c, p)| plot::scale_labels(*p, c))
        .collect();
    let axis = plot::axis_width(scales.iter().flatten());
    let head = plot::header_height(entries.len());
    for (i, cur) in shown.iter().enumerate() {
        let top = (head + PANEL_HEIGHT * i as u32) as i32;
        let now = ages.last().map(|s| totals(s, cur)).unwrap_or_default();
        let count = now.iter().map(|b| b.count).sum::<u64>();
        let note = format!(
            "open in the latest run: {count} {}, {}",
            if count == 1 { "item" } else { "items" },
            amount_display(now.iter().map(|b| b.amount).sum(), cur)
        );
        plot::panel_heading(&mut pic, top, cur, &note);
        let b = PlotBox::of_panel(top, PANEL_HEIGHT as i32, axis, WIDTH);
        plot::frame(&mut pic, &b, &scales[i]);
        for (run, s) in ages.iter().enumerate() {
            bar(
                &mut pic,
                &b,
                b.slot(run, ages.len()),
                &totals(s, cur),
                peaks[i],
            );
        }
        plot::slot_labels(&mut pic, &b, ages.len(), |r| ages[r].run_date.to_string());
    }
    Ok(AgeChartImage {
        png: pic.png()?,
        currencies: shown,
        omitted,
    })
}

/// Widest bar in pixels (a few runs would otherwise fill the panel).
const MAX_BAR: i32 = 72;

/// One run's bar: the buckets stacked youngest first, each part's item count on it when it
/// fits and there are several parts, the total count above the bar.
fn bar(pic: &mut Picture, b: &PlotBox, (x0, x1): (i32, i32), t: &AgeTotals, peak: Decimal) {
    let spare = (x1 - x0 + 1 - MAX_BAR).max(0);
    let (x0, x1) = (x0 + spare / 2, x1 - (spare - spare / 2));
    // Pixels only: the exact amounts are in the HTML table.
    let peak = peak.to_f64().unwrap_or(0.0);
    let line = super::text::line_height(LABEL_PX);
    let parts = t
        .iter()
        .filter(|p| p.count > 0 && !p.amount.is_zero())
        .count();
    let mut acc = 0.0f64;
    let mut y_top = b.bottom;
    for (bucket, (r, g, bl)) in t.iter().zip(COLOURS) {
        let v = bucket.amount.to_f64().unwrap_or(0.0);
        if bucket.count == 0 || v <= 0.0 || peak <= 0.0 {
            continue;
        }
        let y_lo = b.y_of(acc, peak);
        acc += v;
        let y_hi = b.y_of(acc, peak).min(y_lo - 1).max(b.top);
        pic.fill(x0, y_hi, x1, y_lo - 1, [r, g, bl]);
        y_top = y_hi;
        let n = bucket.count.to_string();
        let w = super::text::width(&n, LABEL_PX);
        if parts > 1 && y_lo - y_hi >= line + 2 && x1 - x0 >= w + 4 {
            let y = (y_hi + y_lo) / 2 - line / 2;
            pic.text((x0 + x1 - w) / 2, y, LABEL_PX, &n, [255, 255, 255]);
        }
    }
    let count: u64 = t.iter().map(|b| b.count).sum();
    if count > 0 {
        let n = count.to_string();
        let w = super::text::width(&n, LABEL_PX);
        // Above the bar (the scale leaves room for it).
        let y = (y_top - line - 1).max(b.top);
        pic.text((x0 + x1 - w) / 2, y, LABEL_PX, &n, plot::TEXT_RGB);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::ages::BucketTotal;
    use crate::report::plot::{decoded, HEADING_PX, TEXT_RGB};
    use crate::report::text::{label_pixels, picture_contains};
    use std::collections::BTreeMap;

    fn snapshot(day: &str, usd: [(u64, &str); 3]) -> AgeSnapshot {
        let t = usd.map(|(count, amount)| BucketTotal {
            count,
            amount: amount.parse().unwrap(),
        });
        AgeSnapshot {
            run_date: day.parse().unwrap(),
            by_currency: BTreeMap::from([("USD".to_owned(), t)]),
        }
    }

    #[test]
    fn the_picture_names_currency_buckets_runs_and_counts() {
        let ages = [
            snapshot("2026-10-01", [(2, "30.00"), (0, "0"), (0, "0")]),
            snapshot("2026-10-15", [(1, "5.00"), (2, "30.00"), (0, "0")]),
            snapshot("2026-11-10", [(0, "0"), (1, "5.00"), (2, "30.00")]),
        ];
        let chart = draw(&ages, 4).unwrap();
        let (w, h, rgb) = decoded(&chart.png);
        assert_eq!((w, h), (WIDTH, height(1)));
        let white = [255, 255, 255];
        let find = |text: &str, px: f32| {
            picture_contains(&rgb, w, &label_pixels(text, px, TEXT_RGB, white))
        };
        assert!(find("USD", HEADING_PX));
        // The scale's top is a quarter above the largest bar (35.00).
        for text in [
            "2026-10-01",
            "2026-10-15",
            "2026-11-10",
            "0–7 days",
            "8–30 days",
            "over 30 days",
            "43.75",
        ] {
            assert!(find(text, LABEL_PX), "{text} drawn");
        }
        let on_plot = |text: &str| {
            picture_contains(&rgb, w, &label_pixels(text, LABEL_PX, TEXT_RGB, [248; 3]))
        };
        assert!(
            on_plot("3"),
            "the latest run's 3 items are counted above its bar"
        );
        assert!(
            !find("2026-10-02", LABEL_PX),
            "an absent label is not found"
        );
        assert!(!find("EUR", HEADING_PX));
        assert_eq!(
            draw(&ages, 4).unwrap().png,
            chart.png,
            "same input, same bytes"
        );
    }

    #[test]
    fn items_without_an_amount_still_count() {
        let ages = [snapshot("2026-11-10", [(4, "0"), (0, "0"), (0, "0")])];
        let chart = draw(&ages, 4).unwrap();
        let (w, _, rgb) = decoded(&chart.png);
        let four = label_pixels("4", LABEL_PX, TEXT_RGB, [248, 248, 248]);
        assert!(
            picture_contains(&rgb, w, &four),
            "the count is written over the plot"
        );
    }
}
