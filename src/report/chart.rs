//! `chart.png`: |difference| per day, stacked by class, one panel per currency.
//!
//! The picture stands on its own (it is what the mail shows first): a title with the days
//! drawn, the class colours, and per panel the currency, its total, a scale and the dates
//! under the bars, in the embedded font ([`super::text`]). The HTML keeps the same labels as
//! text around the picture ([`Legend`]) for screen readers and for copying.

use super::amount_display;
use super::plot::{self, Picture, PlotBox};
use super::{class_order, Finding, ReportError, ReportInput, ReportSettings};
use crate::domain::window::Window;
use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;

/// Width of the picture in pixels.
pub const WIDTH: u32 = 960;
/// Height of one currency panel in pixels; the picture is the title and legend
/// ([`height`]) plus `panels × PANEL_HEIGHT` high.
pub const PANEL_HEIGHT: u32 = 200;
/// Panels at most (bounds the picture's size).
pub const MAX_PANELS: usize = 12;
/// Days drawn at most (the last ones); one bar is then still a pixel wide.
pub const MAX_DAYS: i64 = 366;

/// Height in pixels of a chart with `panels` panels and `classes` classes in its legend.
pub fn height(panels: usize, classes: usize) -> u32 {
    plot::header_height(classes) + PANEL_HEIGHT * panels as u32
}

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

/// What the picture shows, for the HTML's text around it (the same labels the picture
/// draws, readable by screen readers and copyable).
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

/// A drawn chart: the PNG, and what it shows for the text around it
/// ([`super::fragments::chart_legend`] writes it).
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
    let png = render(&daily, &legend)?.png()?;
    Ok(ChartImage { png, legend })
}

/// The title: what the bars are, over which days, and the currencies left out.
fn title(legend: &Legend) -> String {
    let mut t = format!(
        "|difference| per day, stacked by class, {} to {}",
        legend.from, legend.to
    );
    if legend.omitted > 0 {
        t.push_str(&format!(
            " ({} more {} not drawn)",
            legend.omitted,
            if legend.omitted == 1 {
                "currency"
            } else {
                "currencies"
            }
        ));
    }
    t
}

/// Draws the title, the legend and the panels, top to bottom.
fn render(daily: &Daily, legend: &Legend) -> Result<Picture, String> {
    let n_days = ((daily.last - daily.first).num_days() + 1).max(1) as usize;
    let head = plot::header_height(legend.classes.len());
    let mut pic = Picture::new(WIDTH, height(legend.panels.len(), legend.classes.len()));
    plot::header(&mut pic, &title(legend), &legend.classes);
    let scales: Vec<[String; 5]> = legend
        .panels
        .iter()
        .map(|(cur, _, peak)| plot::scale_labels(*peak, cur))
        .collect();
    let axis = plot::axis_width(scales.iter().flatten());
    for (i, ((cur, total, peak), scale)) in legend.panels.iter().zip(&scales).enumerate() {
        let top = (head + PANEL_HEIGHT * i as u32) as i32;
        let note = if cur.is_empty() {
            "no dated findings".to_owned()
        } else {
            format!(
                "total {}, largest day {}",
                amount_display(*total, cur),
                amount_display(*peak, cur)
            )
        };
        plot::panel_heading(&mut pic, top, cur, &note);
        let b = PlotBox::of_panel(top, PANEL_HEIGHT as i32, axis, WIDTH);
        plot::frame(&mut pic, &b, scale);
        bars(
            &mut pic,
            &b,
            daily.days(cur),
            &legend.classes,
            daily.first,
            n_days,
            *peak,
        );
        plot::slot_labels(&mut pic, &b, n_days, |d| {
            (daily.first + chrono::Duration::days(d as i64)).to_string()
        });
    }
    Ok(pic)
}

/// One currency's bars: one per day, stacked bottom-up by class.
fn bars<'d>(
    pic: &mut Picture,
    b: &PlotBox,
    days: impl Iterator<Item = (&'d NaiveDate, &'d BTreeMap<String, Decimal>)>,
    classes: &[(String, (u8, u8, u8))],
    first: NaiveDate,
    n_days: usize,
    peak: Decimal,
) {
    // Pixels only: the exact amounts are in the HTML and the files.
    let peak = peak.to_f64().unwrap_or(0.0);
    if peak <= 0.0 {
        return;
    }
    for (day, per_class) in days {
        let (x0, x1) = b.slot((*day - first).num_days() as usize, n_days);
        let mut acc = 0.0f64;
        for (class, (r, g, bl)) in classes {
            let v = per_class.get(class).and_then(|v| v.to_f64()).unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let y_lo = b.y_of(acc, peak);
            acc += v;
            let y_hi = b.y_of(acc, peak).min(y_lo - 1);
            pic.fill(x0, y_hi.max(b.top), x1, y_lo - 1, [*r, *g, *bl]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plot::{decoded, HEADING_PX, LABEL_PX, TEXT_RGB};
    use crate::report::text::{label_pixels, picture_contains};

    fn finding(class: &str, currency: &str, difference: &str, day: &str) -> Finding {
        Finding {
            key: format!("{class}:{currency}:{day}"),
            class: class.into(),
            rule: class.into(),
            probable: None,
            currency: currency.into(),
            expected: None,
            actual: None,
            difference: Some(difference.parse().unwrap()),
            transaction_id: None,
            order_id: None,
            provider_date: Some(day.parse().unwrap()),
            ledger_date: None,
            first_seen: None,
            age_days: None,
            provider_rows: None,
            ledger_rows: None,
            detail: None,
        }
    }

    fn window() -> Window {
        Window::new("2026-11-14".parse().unwrap(), "2026-11-21".parse().unwrap()).unwrap()
    }

    fn findings() -> Vec<Finding> {
        vec![
            finding("missing_in_ledger", "USD", "-120.50", "2026-11-15"),
            finding("amount_mismatch", "USD", "3.25", "2026-11-15"),
            finding("amount_mismatch", "USD", "10", "2026-11-20"),
            finding("fee_mismatch", "JPY", "1500", "2026-11-18"),
        ]
    }

    fn chart(findings: &[Finding]) -> ChartImage {
        let daily = Daily::collect(findings, window());
        let classes = class_order(findings.iter().map(|f| f.class.as_str()));
        let (currencies, omitted) = daily.panel_currencies(4);
        let legend = Legend {
            from: daily.first,
            to: daily.last,
            panels: currencies
                .into_iter()
                .map(|(c, t)| {
                    let p = daily.peak(&c);
                    (c, t, p)
                })
                .collect(),
            classes: classes.iter().map(|c| (c.clone(), colour(c))).collect(),
            omitted,
        };
        let png = render(&daily, &legend).unwrap().png().unwrap();
        ChartImage { png, legend }
    }

    fn label(text: &str, px: f32) -> crate::report::LabelPixels {
        label_pixels(text, px, TEXT_RGB, [255, 255, 255])
    }

    #[test]
    fn the_picture_names_its_currencies_dates_scale_and_classes() {
        let c = chart(&findings());
        let (w, h, rgb) = decoded(&c.png);
        assert_eq!((w, h), (WIDTH, height(2, 3)));
        for cur in ["USD", "JPY"] {
            assert!(
                picture_contains(&rgb, w, &label(cur, HEADING_PX)),
                "{cur} drawn"
            );
        }
        for text in [
            "2026-11-14",
            "2026-11-21",
            "missing_in_ledger",
            "fee_mismatch",
        ] {
            assert!(
                picture_contains(&rgb, w, &label(text, LABEL_PX)),
                "{text} drawn"
            );
        }
        // The scale: the top of the USD panel is its largest day, 123.75.
        assert!(picture_contains(&rgb, w, &label("123.75", LABEL_PX)));
        assert!(
            picture_contains(&rgb, w, &label("1,500", LABEL_PX)),
            "JPY's top"
        );
        // What is not drawn is not found: the search can fail.
        for absent in ["EUR", "2026-11-13", "2026-11-22"] {
            assert!(
                !picture_contains(&rgb, w, &label(absent, HEADING_PX)),
                "{absent}"
            );
            assert!(
                !picture_contains(&rgb, w, &label(absent, LABEL_PX)),
                "{absent}"
            );
        }
    }

    #[test]
    fn a_label_painted_over_is_no_longer_found() {
        let c = chart(&findings());
        let (w, _, mut rgb) = decoded(&c.png);
        let usd = label("USD", HEADING_PX);
        assert!(picture_contains(&rgb, w, &usd));
        // Where the panel heading is: white it out, as a chart without text would be.
        let panel = c.legend.panels.iter().position(|p| p.0 == "USD").unwrap();
        let top = plot::header_height(3) as usize + panel * PANEL_HEIGHT as usize;
        for y in top..top + 26 {
            for x in 0..60 {
                let i = (y * w as usize + x) * 3;
                rgb[i..i + 3].copy_from_slice(&[255, 255, 255]);
            }
        }
        assert!(!picture_contains(&rgb, w, &usd));
    }

    /// The bytes are pinned, so that a machine that rasterises differently (another CPU, a
    /// changed dependency) fails here rather than writing reports that differ. After an
    /// intended change of the picture, put the new digest.
    #[test]
    fn the_bytes_are_pinned() {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(chart(&findings()).png));
        assert_eq!(
            digest,
            "67ea0998bd25f93b44146cfb949579df170ee21c03f9c82ffbbd779755e26101"
        );
    }

    #[test]
    fn the_same_findings_give_the_same_bytes() {
        let a = chart(&findings());
        let b = chart(&findings());
        assert_eq!(a.png, b.png);
        let mut other = findings();
        other[0].difference = Some("-121.50".parse().unwrap());
        assert_ne!(chart(&other).png, a.png, "the picture shows the amounts");
    }
}
