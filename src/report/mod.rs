//! Report files of a run (CSV, XLSX, JSON, HTML with two charts).
//!
//! What the finance team opens: every file must open cleanly in Excel, LibreOffice and Google
//! Sheets, show amounts exactly, and never run a formula smuggled in through a ledger note
//! (OWASP CSV injection, see [`safe_text`]). The folder is built in a hidden staging folder
//! and renamed into place, so a run's folder is complete or absent.
//!
//! Reports are deterministic: the same input gives byte-identical files (nothing depends on
//! the clock or the run id), so a re-run can be compared with `cmp`.
//!
//! What the mail (the deliver stage) shows is built from this module's public surface only:
//! [`checked_chart`] (the same checks as [`write_reports`], and the chart), [`age_chart`] (the
//! open items by age), [`fragments`] (the HTML pieces the page and the mail share),
//! [`class_lines`] and [`currency_totals`].

mod age_chart;
mod chart;
mod csv_out;
pub mod fragments;
mod html;
pub mod import;
mod json;
mod plot;
mod rows;
#[cfg(test)]
mod tests;
mod text;
mod xlsx;

use crate::domain::fsutil::{self, FsError};
use crate::domain::window::Window;
use crate::load::ledger::{BadRow, LedgerCounts};
use crate::load::LoadCounts;
use crate::reconcile::ages::{AgeBucket, AgeSnapshot};
use crate::reconcile::decisions::{ItemState, LoopView};
use crate::reconcile::{ClassTotal, Summary};
use chrono::NaiveDate;
use polars::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use age_chart::{
    height as age_chart_height, AgeChartImage, PANEL_HEIGHT as AGE_CHART_PANEL_HEIGHT,
};
pub use chart::{
    height as chart_height, ChartImage, PANEL_HEIGHT as CHART_PANEL_HEIGHT, WIDTH as CHART_WIDTH,
};
pub use plot::{
    HEADING_PX as CHART_HEADING_PX, LABEL_PX as CHART_LABEL_PX, TEXT_RGB as CHART_TEXT_RGB,
};
use rows::Finding;
pub use text::{label_pixels, LabelPixels};

/// Excel's row limit minus the header row.
pub const XLSX_MAX_DATA_ROWS: usize = 1_048_575;
/// More findings than this in one run is a broken input, not a report anyone can read.
pub const MAX_FINDINGS: usize = 10_000_000;
/// Quarantined rows listed at most (the ledger loader stops long before).
pub const MAX_QUARANTINED: usize = 1_000_000;

/// File names in the folder, in the order [`ReportFiles::files`] lists them.
pub const DISCREPANCIES_CSV: &str = "discrepancies.csv";
/// Quarantined ledger rows.
pub const QUARANTINED_CSV: &str = "quarantined.csv";
/// The workbook.
pub const DISCREPANCIES_XLSX: &str = "discrepancies.xlsx";
/// Machine-readable summary.
pub const SUMMARY_JSON: &str = "summary.json";
/// Human-readable summary.
pub const REPORT_HTML: &str = "report.html";
/// The chart (only when drawn).
pub const CHART_PNG: &str = "chart.png";
/// The open items by age over the last runs (only when drawn).
pub const AGE_PNG: &str = "age.png";

/// Open items of the run (from the state store).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OpenItemCounts {
    /// Findings not seen in earlier runs.
    pub new: u64,
    /// Findings already reported before and still there.
    pub still_open: u64,
    /// Findings of earlier runs that are gone.
    pub resolved: u64,
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// The merchant's name (as configured).
    pub merchant: &'a str,
    /// The window reconciled.
    pub window: Window,
    /// Digest of the inputs (NOT the run id): the same inputs give byte-identical reports.
    pub report_id: &'a str,
    /// The date ages are computed at (the window's last day).
    pub as_of: NaiveDate,
    /// `discrepancy_schema` + `first_seen` (Date) + `age_days` (Int64), sorted.
    pub discrepancies: &'a DataFrame,
    /// The reconciliation's summary; its per-class totals must agree with `discrepancies`.
    pub summary: &'a Summary,
    /// Open items: new, still open, resolved.
    pub open_items: OpenItemCounts,
    /// Which findings are new, each one's state (open, accepted, snoozed) and why, and what
    /// this report resolved: the sections of the reports and the mail.
    pub items: &'a LoopView,
    /// Ledger rows set aside.
    pub quarantined: &'a [BadRow],
    /// Ledger load counts.
    pub ledger: &'a LedgerCounts,
    /// Provider load counts (snapshot only).
    pub provider: Option<&'a LoadCounts>,
    /// Open items per currency and age bucket as of each of the last runs, oldest first
    /// (`age.png`); empty draws no age chart.
    pub ages: &'a [AgeSnapshot],
}

/// How CSV files are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CsvDialect {
    /// RFC 4180: `,` separator, `.` decimals. Opens everywhere except a European-locale Excel
    /// double-click, which splits on `;`.
    #[default]
    Rfc4180,
    /// What Excel in a European locale expects: `;` separator, decimal comma, UTF-8 BOM.
    ExcelEurope,
}

/// `[report]` in the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportSettings {
    /// CSV flavour: `rfc4180` (default) or `excel_europe`.
    pub csv_dialect: CsvDialect,
    /// Start CSV files with a UTF-8 BOM, so Excel reads accents right. Default false
    /// (`excel_europe` always writes one).
    pub csv_utf8_bom: bool,
    /// Draw `chart.png` (and embed it in the HTML and the mail). Default true.
    pub chart: bool,
    /// Currencies drawn at most, one panel each, largest total first. Default 4.
    pub chart_max_currencies: usize,
    /// Runs shown in `age.png` (open items per age bucket as of each run), the latest ones;
    /// 0 draws no age chart. Default 14, at most 60. `chart = false` turns it off too.
    pub age_chart_runs: usize,
    /// Rows per class shown in `report.html`; the rest are in the CSV. Default 200.
    pub html_max_rows: usize,
    /// Rows per XLSX sheet before continuing on `<class> (2)`. Default and maximum
    /// 1,048,575 (Excel's limit minus the header).
    pub xlsx_max_rows_per_sheet: usize,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            csv_dialect: CsvDialect::Rfc4180,
            csv_utf8_bom: false,
            chart: true,
            chart_max_currencies: 4,
            age_chart_runs: 14,
            html_max_rows: 200,
            xlsx_max_rows_per_sheet: XLSX_MAX_DATA_ROWS,
        }
    }
}

impl ReportSettings {
    /// Everything wrong with the settings, as sentences for `check-config` (empty: fine).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.xlsx_max_rows_per_sheet == 0 || self.xlsx_max_rows_per_sheet > XLSX_MAX_DATA_ROWS {
            out.push(format!(
                "report.xlsx_max_rows_per_sheet must be between 1 and {XLSX_MAX_DATA_ROWS} (got {})",
                self.xlsx_max_rows_per_sheet
            ));
        }
        if self.chart && !(1..=chart::MAX_PANELS).contains(&self.chart_max_currencies) {
            out.push(format!(
                "report.chart_max_currencies must be between 1 and {} (got {})",
                chart::MAX_PANELS,
                self.chart_max_currencies
            ));
        }
        if self.age_chart_runs > crate::reconcile::ages::MAX_AGE_RUNS {
            out.push(format!(
                "report.age_chart_runs must be at most {} (got {})",
                crate::reconcile::ages::MAX_AGE_RUNS,
                self.age_chart_runs
            ));
        }
        if self.html_max_rows > html::MAX_ROWS {
            out.push(format!(
                "report.html_max_rows must be at most {} (got {})",
                html::MAX_ROWS,
                self.html_max_rows
            ));
        }
        out
    }

    /// [`Self::problems`] as an error, so nothing is built from invalid settings.
    fn check(&self) -> Result<(), ReportError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ReportError::Settings(problems))
        }
    }

    /// Whether CSV files start with a BOM.
    fn bom(&self) -> bool {
        self.csv_utf8_bom || self.csv_dialect == CsvDialect::ExcelEurope
    }
}

/// The published folder and its files, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// The run's folder.
    pub dir: PathBuf,
    /// The files written, in the order of the `*_CSV`/`*_XLSX`/… constants.
    pub files: Vec<PathBuf>,
}

/// Why a report could not be written. Every file-level variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Invalid `[report]` settings.
    #[error("invalid [report] settings: {}", .0.join("; "))]
    Settings(Vec<String>),
    /// The run folder exists already (reports are never overwritten).
    #[error("report folder {0} already exists")]
    Exists(PathBuf),
    /// A file or folder operation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The discrepancies frame does not have the documented shape.
    #[error("discrepancies frame: {0}")]
    Frame(#[from] PolarsError),
    /// The workbook could not be built.
    #[error("{path}: {message}")]
    Xlsx {
        /// The file.
        path: PathBuf,
        /// rust_xlsxwriter's words (and the sheet).
        message: String,
    },
    /// A CSV file could not be written or read back.
    #[error("{path}: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The chart could not be drawn or encoded.
    #[error("{path}: {message}")]
    Chart {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// More rows than a report can hold.
    #[error("{what}: {count} rows, more than the limit of {limit}")]
    TooLarge {
        /// Which rows.
        what: &'static str,
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A consistency check failed: the numbers would disagree, so nothing is written.
    #[error("report for {path}: internal check failed: {message}")]
    Invariant {
        /// The report folder concerned.
        path: PathBuf,
        /// What disagrees.
        message: String,
    },
}

/// Neutralises text that a spreadsheet would run as a formula (OWASP CSV injection).
///
/// Why every text cell: a ledger note or order id is typed by someone outside finance; a
/// leading `=`, `+`, `-`, `@`, tab, CR or LF makes Excel, LibreOffice or Sheets evaluate it
/// (`=HYPERLINK(...)` exfiltrates data). A leading `'` makes them show it as text. Amounts
/// never pass through here: they are numbers, and `-12.50` must stay a number.
pub fn safe_text(s: &str) -> std::borrow::Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n') => format!("'{s}").into(),
        _ => s.into(),
    }
}

/// An amount as exact text: at least the currency's minor-unit digits (JPY `1200`, USD
/// `12.50`, KWD `1.500`), more when the value has more (never rounded silently).
pub fn amount_text(amount: Decimal, currency: &str) -> String {
    let mut a = amount.normalize();
    let dp = crate::domain::money::exponent(currency);
    if a.scale() < dp {
        a.rescale(dp);
    }
    a.to_string()
}

/// [`amount_text`] with `,` thousands separators (for people: subjects, HTML).
pub fn amount_display(amount: Decimal, currency: &str) -> String {
    let text = amount_text(amount, currency);
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// The window as people write it: one date, or `from..to`.
pub fn window_label(w: &Window) -> String {
    if w.from == w.to {
        w.from.to_string()
    } else {
        format!("{}..{}", w.from, w.to)
    }
}

/// Classes in report order: the known ones in [`crate::reconcile::CLASSES`] order, then any
/// other (from custom rules) alphabetically.
fn class_order<'a>(classes: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen: Vec<String> = classes.into_iter().map(str::to_owned).collect();
    seen.sort();
    seen.dedup();
    seen.sort_by_key(|c| {
        crate::reconcile::CLASSES
            .iter()
            .position(|k| k == c)
            .unwrap_or(usize::MAX)
    });
    seen
}

/// Findings grouped by class, in report order (rows keep their order inside a class).
fn by_class(findings: &[Finding]) -> Vec<(String, Vec<&Finding>)> {
    class_order(findings.iter().map(|f| f.class.as_str()))
        .into_iter()
        .map(|c| {
            let rows = findings.iter().filter(|f| f.class == c).collect();
            (c, rows)
        })
        .collect()
}

/// The `status` cell of a finding: `new` (open, first seen by this report), `open`,
/// `accepted` or `snoozed`.
pub(crate) fn status_word(view: &LoopView, key: &str) -> &'static str {
    match view.state(key) {
        ItemState::Open if view.new.contains(key) => "new",
        s => s.word(),
    }
}

/// The `status_note` cell: who accepted or snoozed it and why, why it is open again, the
/// latest note (typed by people: neutralised or escaped where it is written).
pub(crate) fn status_note(view: &LoopView, key: &str) -> String {
    view.marks.get(key).map(|m| m.text()).unwrap_or_default()
}

/// The sections of the reports and the mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Open, first seen by this report.
    New,
    /// Open, seen before (or open again).
    StillOpen,
    /// Accepted or snoozed: listed apart, left out of the mail's counts.
    Held,
}

/// The section of a finding.
pub fn section_of(view: &LoopView, key: &str) -> Section {
    match view.state(key) {
        ItemState::Accepted | ItemState::Snoozed => Section::Held,
        _ if view.new.contains(key) => Section::New,
        _ => Section::StillOpen,
    }
}

/// Per-class, per-currency count and sum of |difference|, as `Summary::by_class` has them.
fn totals(findings: &[Finding]) -> BTreeMap<String, BTreeMap<String, ClassTotal>> {
    let mut out: BTreeMap<String, BTreeMap<String, ClassTotal>> = BTreeMap::new();
    for f in findings {
        let t = out
            .entry(f.class.clone())
            .or_default()
            .entry(f.currency.clone())
            .or_default();
        t.count += 1;
        t.amount += f.difference.unwrap_or_default().abs();
    }
    out
}

/// One row of the per-class table: a class's findings in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassLine<'a> {
    /// The class.
    pub class: &'a str,
    /// The currency.
    pub currency: &'a str,
    /// Count and sum of |difference|.
    pub total: &'a ClassTotal,
}

/// The summary's per-class rows as every report and the mail list them: classes in report
/// order (the known classes first), currencies by code.
pub fn class_lines(summary: &Summary) -> Vec<ClassLine<'_>> {
    class_order(summary.by_class.keys().map(String::as_str))
        .iter()
        .filter_map(|class| summary.by_class.get_key_value(class))
        .flat_map(|(class, per_currency)| {
            per_currency.iter().map(move |(currency, total)| ClassLine {
                class,
                currency,
                total,
            })
        })
        .collect()
}

/// Count and sum of |difference| per currency over all classes, by code: the total rows.
pub fn currency_totals(summary: &Summary) -> BTreeMap<&str, ClassTotal> {
    let mut out: BTreeMap<&str, ClassTotal> = BTreeMap::new();
    for per_currency in summary.by_class.values() {
        for (currency, t) in per_currency {
            let e = out.entry(currency.as_str()).or_default();
            e.count += t.count;
            e.amount += t.amount;
        }
    }
    out
}

/// Reads the frame and checks it against the summary (TigerStyle: a report whose totals
/// disagree with the summary is never written).
fn checked_findings(input: &ReportInput<'_>, where_: &Path) -> Result<Vec<Finding>, ReportError> {
    let height = input.discrepancies.height();
    if height > MAX_FINDINGS {
        return Err(ReportError::TooLarge {
            what: "discrepancies",
            count: height,
            limit: MAX_FINDINGS,
        });
    }
    if input.quarantined.len() > MAX_QUARANTINED {
        return Err(ReportError::TooLarge {
            what: "quarantined ledger rows",
            count: input.quarantined.len(),
            limit: MAX_QUARANTINED,
        });
    }
    let findings = rows::read(input.discrepancies)?;
    let invariant = |message: String| ReportError::Invariant {
        path: where_.to_path_buf(),
        message,
    };
    let computed = totals(&findings);
    if computed != input.summary.by_class {
        return Err(invariant(format!(
            "per-class totals of the discrepancies ({computed:?}) differ from the summary's ({:?})",
            input.summary.by_class
        )));
    }
    if findings.len() as u64 != input.summary.discrepancies {
        return Err(invariant(format!(
            "{} discrepancy rows but the summary counts {}",
            findings.len(),
            input.summary.discrepancies
        )));
    }
    if input.quarantined.len() as u64 != input.ledger.rows_quarantined {
        return Err(invariant(format!(
            "{} quarantined rows listed but the ledger counts {}",
            input.quarantined.len(),
            input.ledger.rows_quarantined
        )));
    }
    Ok(findings)
}

/// Checks the input as [`write_reports`] does (settings, findings against the summary) and
/// draws the chart when the settings want one: what the mail shows, without writing a file.
/// `label` names the caller in errors (the mail passes `<mail>`).
pub fn checked_chart(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    label: &Path,
) -> Result<Option<ChartImage>, ReportError> {
    settings.check()?;
    let findings = checked_findings(input, label)?;
    chart::draw_if_wanted(input, settings, &findings, label)
}

/// The age chart (`age.png`) when the settings want one and some run had open items: what
/// the mail shows next to [`checked_chart`]'s. `label` names the caller in errors.
pub fn age_chart(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    label: &Path,
) -> Result<Option<AgeChartImage>, ReportError> {
    settings.check()?;
    age_chart::draw_if_wanted(input, settings, label)
}

/// Writes every report file into `final_dir`, which must not exist yet.
///
/// The files are built in a hidden staging folder next to `final_dir`, synced, then renamed
/// into place: the folder appears complete or not at all. Parent folders are created.
pub fn write_reports(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    final_dir: &Path,
) -> Result<ReportFiles, ReportError> {
    write_reports_inner(input, settings, final_dir, None)
}

/// [`write_reports`], optionally failing after `fail_after` files (tests of the staging).
fn write_reports_inner(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    final_dir: &Path,
    fail_after: Option<usize>,
) -> Result<ReportFiles, ReportError> {
    settings.check()?;
    if final_dir.exists() {
        return Err(ReportError::Exists(final_dir.to_path_buf()));
    }
    let findings = checked_findings(input, final_dir)?;
    let parent = match final_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = final_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    std::fs::create_dir_all(&parent).map_err(|e| FsError::new("create folder", &parent, e))?;
    let staging = staging_path(&parent, &name);
    std::fs::create_dir(&staging).map_err(|e| FsError::new("create folder", &staging, e))?;
    let result = write_into(input, settings, &findings, &staging, fail_after).and_then(|names| {
        fsutil::sync_folder(&staging)?;
        fsutil::publish_dir(&staging, final_dir)?;
        Ok(names)
    });
    match result {
        Ok(names) => {
            tracing::info!(dir = %final_dir.display(), files = names.len(), findings = findings.len(), "reports written");
            Ok(ReportFiles {
                dir: final_dir.to_path_buf(),
                files: names.iter().map(|n| final_dir.join(n)).collect(),
            })
        }
        Err(e) => {
            // Best effort: a leftover hidden staging folder is garbage, never a report.
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn staging_path(parent: &Path, name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    parent.join(format!(".{name}.partial-{}-{n}", std::process::id()))
}

/// The staging folder as it fills: the names written so far, in order.
struct Staging<'a> {
    dir: &'a Path,
    names: Vec<&'static str>,
    /// Fail instead of writing file number `fail_after` (tests of the staging).
    fail_after: Option<usize>,
}

impl Staging<'_> {
    fn put(&mut self, name: &'static str, bytes: &[u8]) -> Result<(), ReportError> {
        if self.fail_after == Some(self.names.len()) {
            return Err(ReportError::Fs(FsError::new(
                "write (injected failure)",
                self.dir.join(name),
                std::io::Error::other("injected"),
            )));
        }
        fsutil::write_staged(&self.dir.join(name), bytes)?;
        self.names.push(name);
        Ok(())
    }
}

/// Writes the files into `dir`, then reads the CSV files back; returns their names in order.
fn write_into(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    findings: &[Finding],
    dir: &Path,
    fail_after: Option<usize>,
) -> Result<Vec<&'static str>, ReportError> {
    let mut out = Staging {
        dir,
        names: Vec::new(),
        fail_after,
    };
    // The workbook (built, then read back) is made on a thread of its own while the other
    // files are made: it was the longest of them, with the second core idle. The files are
    // still written one by one, in the listed order.
    let book_path = dir.join(DISCREPANCIES_XLSX);
    let csv_path = dir.join(DISCREPANCIES_CSV);
    let q_path = dir.join(QUARANTINED_CSV);
    let (book, rest) = crate::domain::threads::both(
        || checked_workbook(input, settings, findings, &book_path),
        || other_files(input, settings, findings, dir, [&csv_path, &q_path]),
    );
    let Files { csv, q, chart, age } = rest?;
    out.put(DISCREPANCIES_CSV, &csv)?;
    out.put(QUARANTINED_CSV, &q)?;
    out.put(DISCREPANCIES_XLSX, &book?)?;

    let listed = listed_files(chart.is_some(), age.is_some());
    let loop_ = sections(findings, input.items);
    out.put(SUMMARY_JSON, &json::summary(input, &loop_, &listed))?;
    let page = html::page(input, settings, findings, chart.as_ref(), age.as_ref());
    out.put(REPORT_HTML, page.as_bytes())?;
    if let Some(chart) = &chart {
        out.put(CHART_PNG, &chart.png)?;
    }
    if let Some(age) = &age {
        out.put(AGE_PNG, &age.png)?;
    }
    debug_assert_eq!(out.names, listed, "files written in the listed order");

    // What the finance team opens must have every row.
    check_csv_rows(&csv_path, settings, findings.len())?;
    check_csv_rows(&q_path, settings, input.quarantined.len())?;
    Ok(out.names)
}

/// What [`write_into`] makes beside the workbook.
struct Files {
    csv: Vec<u8>,
    q: Vec<u8>,
    chart: Option<chart::ChartImage>,
    age: Option<age_chart::AgeChartImage>,
}

/// The two CSV files (errors name `csv_path`, `q_path`) and the charts of a report folder `dir`.
fn other_files(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    findings: &[Finding],
    dir: &Path,
    [csv_path, q_path]: [&Path; 2],
) -> Result<Files, ReportError> {
    let csv = csv_out::discrepancies(findings, settings, input.items)
        .map_err(|message| csv_err(csv_path, message))?;
    let q = csv_out::quarantined(input.quarantined, settings)
        .map_err(|message| csv_err(q_path, message))?;
    Ok(Files {
        csv,
        q,
        chart: chart::draw_if_wanted(input, settings, findings, &dir.join(CHART_PNG))?,
        age: age_chart::draw_if_wanted(input, settings, &dir.join(AGE_PNG))?,
    })
}

/// The files of a folder, in the order they are written (`summary.json` lists them).
fn listed_files(with_chart: bool, with_age: bool) -> Vec<&'static str> {
    let mut listed = vec![
        DISCREPANCIES_CSV,
        QUARANTINED_CSV,
        DISCREPANCIES_XLSX,
        SUMMARY_JSON,
        REPORT_HTML,
    ];
    if with_chart {
        listed.push(CHART_PNG);
    }
    if with_age {
        listed.push(AGE_PNG);
    }
    listed
}

/// The workbook's bytes, read back before they are written: every finding and quarantined
/// row must be on a sheet. Errors name `path`.
fn checked_workbook(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    findings: &[Finding],
    path: &Path,
) -> Result<Vec<u8>, ReportError> {
    let sheets = xlsx::sheet_count(input, settings, findings);
    if sheets > xlsx::MAX_SHEETS {
        return Err(ReportError::TooLarge {
            what: "XLSX sheets (raise report.xlsx_max_rows_per_sheet)",
            count: sheets,
            limit: xlsx::MAX_SHEETS,
        });
    }
    let xlsx_err = |message| ReportError::Xlsx {
        path: path.to_path_buf(),
        message,
    };
    let book = xlsx::workbook(input, settings, findings).map_err(xlsx_err)?;
    let back = xlsx::count_rows(&book).map_err(xlsx_err)?;
    if back != (findings.len(), input.quarantined.len()) {
        return Err(ReportError::Invariant {
            path: path.to_path_buf(),
            message: format!(
                "{} discrepancy and {} quarantined rows read back, {} and {} written",
                back.0,
                back.1,
                findings.len(),
                input.quarantined.len()
            ),
        });
    }
    Ok(book)
}

/// Reads a written CSV file back and checks it has `written` records.
fn check_csv_rows(
    path: &Path,
    settings: &ReportSettings,
    written: usize,
) -> Result<(), ReportError> {
    let back = csv_out::count_records(path, settings).map_err(|message| csv_err(path, message))?;
    if back != written {
        return Err(ReportError::Invariant {
            path: path.to_path_buf(),
            message: format!("{back} rows read back, {written} written"),
        });
    }
    Ok(())
}

fn csv_err(path: &Path, message: String) -> ReportError {
    ReportError::Csv {
        path: path.to_path_buf(),
        message,
    }
}

/// One finding as the sections list it (the mail and the page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    /// Its key.
    pub key: String,
    /// Its class.
    pub class: String,
    /// Its currency.
    pub currency: String,
    /// Ledger − Xsolla, when there is one.
    pub difference: Option<Decimal>,
    /// Days since first seen.
    pub age_days: Option<i64>,
    /// Xsolla transaction.
    pub transaction_id: Option<i64>,
    /// Merchant order.
    pub order_id: Option<String>,
    /// Xsolla's date.
    pub provider_date: Option<NaiveDate>,
    /// The ledger's date.
    pub ledger_date: Option<NaiveDate>,
    /// `new`, `open`, `accepted`, `snoozed`.
    pub status: &'static str,
    /// Who decided and why, why it is open again, the latest note.
    pub status_note: String,
    /// The finding's detail.
    pub detail: String,
}

/// The report's findings in their sections, and what it resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopSummary {
    /// Open, first seen by this report.
    pub new: Vec<ItemRow>,
    /// Open, seen before (or open again), with an age bucket each.
    pub still_open: Vec<ItemRow>,
    /// Accepted or snoozed.
    pub held: Vec<ItemRow>,
    /// Resolved by this report.
    pub resolved: Vec<crate::reconcile::decisions::ResolvedItem>,
}

impl LoopSummary {
    /// Sum of |difference| per currency of the unresolved findings (new and still open;
    /// accepted and snoozed ones left out).
    pub fn unresolved_amounts(&self) -> BTreeMap<String, Decimal> {
        let mut out: BTreeMap<String, Decimal> = BTreeMap::new();
        for r in self.new.iter().chain(&self.still_open) {
            *out.entry(r.currency.clone()).or_default() += r.difference.unwrap_or_default().abs();
        }
        out
    }

    /// Unresolved findings: new and still open.
    pub fn unresolved(&self) -> usize {
        self.new.len() + self.still_open.len()
    }

    /// The still-open findings per age bucket ([`AgeBucket::ALL`], the buckets `age.png`
    /// draws): count and |difference| per currency.
    pub fn age_buckets(&self) -> [(AgeBucket, u64, BTreeMap<String, Decimal>); 3] {
        let mut out = AgeBucket::ALL.map(|b| (b, 0, BTreeMap::new()));
        for r in &self.still_open {
            let b = &mut out[AgeBucket::of(r.age_days.unwrap_or(0)).index()];
            b.1 += 1;
            *b.2.entry(r.currency.clone()).or_default() += r.difference.unwrap_or_default().abs();
        }
        out
    }
}

fn item_row(f: &Finding, view: &LoopView) -> ItemRow {
    ItemRow {
        key: f.key.clone(),
        class: f.class.clone(),
        currency: f.currency.clone(),
        difference: f.difference,
        age_days: f.age_days,
        transaction_id: f.transaction_id,
        order_id: f.order_id.clone(),
        provider_date: f.provider_date,
        ledger_date: f.ledger_date,
        status: status_word(view, &f.key),
        status_note: status_note(view, &f.key),
        detail: f.detail.clone().unwrap_or_default(),
    }
}

/// The findings in sections, in report order (class order, then the frame's order).
fn sections(findings: &[Finding], view: &LoopView) -> LoopSummary {
    let mut out = LoopSummary {
        resolved: view.resolved.clone(),
        ..LoopSummary::default()
    };
    for (_, rows) in by_class(findings) {
        for f in rows {
            let row = item_row(f, view);
            match section_of(view, &f.key) {
                Section::New => out.new.push(row),
                Section::StillOpen => out.still_open.push(row),
                Section::Held => out.held.push(row),
            }
        }
    }
    out
}

/// The report's sections (new, still open, accepted or snoozed, resolved), checked as
/// [`write_reports`] checks its input: what the mail lists.
pub fn loop_summary(input: &ReportInput<'_>) -> Result<LoopSummary, ReportError> {
    let findings = checked_findings(input, Path::new("<mail>"))?;
    Ok(sections(&findings, input.items))
}
