//! Load stage: a verified snapshot (or a registry CSV exported by hand) → the provider frames
//! of [`crate::domain::frames`].
//!
//! Rows go straight from parsed cells into Polars column builders, so memory is the frames
//! themselves plus one page (snapshot) or one CSV record (export). Money is converted to
//! `Decimal(38, 6)` mantissas exactly: a value with more decimals than the column holds is an
//! error naming where it came from, never rounded.

use crate::domain::csvsplit::{self, Chunk, LineEnds, Split, Splitter, Stopped};
use crate::domain::frames;
use crate::domain::fsutil::FsError;
use crate::domain::text::push_u64;
use crate::domain::window::{self, Window};
use crate::fetch::{self, FetchError, Manifest, SnapshotFile};
use crate::xsolla::client::Format;
use crate::xsolla::model::{
    BreakdownRow, Payout, TransactionRow, BREAKDOWN_REQUIRED, PAYOUT_REQUIRED, REGISTRY_REQUIRED,
    TRANSACTION_COLUMNS,
};
use crate::xsolla::parse::{parse_csv_rows, parse_json_rows, DecodeError};
use crate::xsolla::record::{CellRef, CellValue, Kind};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;
use polars::prelude::*;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The provider's side of one window, as frames.
#[derive(Debug, Clone)]
pub struct ProviderData {
    /// Registry rows, [`frames::provider_schema`].
    pub transactions: DataFrame,
    /// Distinct payouts, [`frames::payouts_schema`].
    pub payouts: DataFrame,
    /// Payouts breakdown, [`frames::breakdown_schema`].
    pub breakdown: DataFrame,
    /// What was read and kept.
    pub counts: LoadCounts,
    /// The window the snapshot covers.
    pub window: Window,
    /// Every registry row of each payout of the window (fetched with the `transfer_id`
    /// filter), [`frames::provider_schema`]; `None` when the snapshot has none of them, so
    /// payouts cannot be checked against their rows.
    pub payout_rows: Option<DataFrame>,
}

/// The zone Xsolla's dates are written in and the zone the report counts days in
/// (docs/xsolla-api.md §12.2). Every provider date-time goes through [`DateZones::to_reporting`]
/// before its day is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateZones {
    /// `fetch.xsolla_timezone`.
    pub xsolla: Tz,
    /// `run.reporting_timezone`.
    pub reporting: Tz,
}

impl Default for DateZones {
    fn default() -> Self {
        DateZones {
            xsolla: Tz::UTC,
            reporting: Tz::UTC,
        }
    }
}

impl DateZones {
    /// Whether dates are taken as written (both zones the same).
    pub fn same(&self) -> bool {
        self.xsolla == self.reporting
    }

    /// A provider date-time (a local time of Xsolla's zone) as a local time of the reporting
    /// zone. A value at midnight exactly is a plain date (`2021-10-20`: the parser gives it
    /// 00:00, and payouts carry only dates), so it is kept as that day, not moved.
    pub fn to_reporting(&self, t: NaiveDateTime) -> NaiveDateTime {
        if self.same() || t.time() == NaiveTime::MIN {
            return t;
        }
        window::convert_local(t, self.xsolla, self.reporting)
    }
}

/// Row counts of a load; `registry_rows_read == registry_rows_loaded + duplicates_skipped +
/// outside_window`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadCounts {
    /// Registry rows in the stored pages.
    pub registry_rows_read: u64,
    /// Registry rows kept.
    pub registry_rows_loaded: u64,
    /// Rows skipped because the fetch marked them as repeats of an earlier page.
    pub duplicates_skipped: u64,
    /// Payout rows in the stored files.
    pub payout_rows_read: u64,
    /// Distinct payouts kept.
    pub payouts_loaded: u64,
    /// Breakdown rows kept.
    pub breakdown_rows: u64,
    /// Registry rows whose transfer date, in the reporting zone, falls outside the window
    /// (only when Xsolla's zone differs from it: the fetch then asks for the Xsolla days that
    /// cover the window, which reach into the days on either side).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub outside_window: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Why provider data could not be loaded. Every variant names the file (and row or line).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The snapshot is missing, incomplete or does not match its manifest (boxed: the
    /// fetch error is large and this one travels through every row).
    #[error(transparent)]
    Snapshot(Box<FetchError>),
    /// A file could not be read.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A stored body does not parse.
    #[error("{path}: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: DecodeError,
    },
    /// A stored file disagrees with the manifest.
    #[error("{path}: {problem}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// One value cannot be taken as it is.
    #[error("{at}: column {column:?}: value {value:?} {problem}")]
    Cell {
        /// `file#row` or `file:line`.
        at: String,
        /// Column label (CSV header or JSON path).
        column: String,
        /// The value as written.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// The CSV itself is malformed (quotes, field count, encoding).
    #[error("{path}:{line}: {detail}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        detail: String,
    },
    /// The CSV header cannot be mapped.
    #[error("{path}: {problem}")]
    Header {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The same payout id came back with different facts.
    #[error("payout {payout_id} differs between {first} and {second}: {detail}")]
    PayoutConflict {
        /// Payout id.
        payout_id: i64,
        /// Source of the first occurrence.
        first: String,
        /// Source of the conflicting one.
        second: String,
        /// Which facts differ.
        detail: String,
    },
    /// Assembling a frame failed (a bug, or a value Polars refuses).
    #[error("building the {what} frame: {source}")]
    Frame {
        /// Which frame.
        what: &'static str,
        /// Polars' words.
        #[source]
        source: PolarsError,
    },
}

impl From<FetchError> for LoadError {
    fn from(e: FetchError) -> Self {
        LoadError::Snapshot(Box::new(e))
    }
}

/// Loads a snapshot folder: checks every file against the manifest first, then replays the
/// registry pages in manifest order, skipping the rows the fetch marked as repeats. Dates are
/// taken as written (Xsolla's zone and the reporting zone both UTC).
pub fn load_snapshot(dir: &Path) -> Result<ProviderData, LoadError> {
    load_snapshot_in(dir, DateZones::default(), None)
}

/// [`load_snapshot`] with Xsolla's dates converted to the reporting zone. With `window`,
/// registry rows whose converted transfer date falls outside it are left out and counted
/// (`outside_window`). When the zones differ, the breakdown is left out: its request windows
/// are Xsolla's days, which the rows' reporting days cannot be summed against.
pub fn load_snapshot_in(
    dir: &Path,
    zones: DateZones,
    window: Option<Window>,
) -> Result<ProviderData, LoadError> {
    let mut data = load_snapshot_rows(dir, zones, window)?;
    if !zones.same() && data.breakdown.height() > 0 {
        tracing::warn!(
            xsolla = %zones.xsolla,
            reporting = %zones.reporting,
            "payouts breakdown not checked: its windows are Xsolla's days, not the reporting zone's"
        );
        data.breakdown = frames::empty(&frames::breakdown_schema());
    }
    Ok(data)
}

fn load_snapshot_rows(
    dir: &Path,
    zones: DateZones,
    window: Option<Window>,
) -> Result<ProviderData, LoadError> {
    let manifest = fetch::verify_snapshot(dir)?;
    let mut counts = LoadCounts::default();
    let mut tx = TxFrame::new().in_zones(zones);
    let mut payout_tx = TxFrame::new().in_zones(zones);
    let mut has_payout_rows = false;
    let mut payout_counts = LoadCounts::default();
    let mut payouts = PayoutSet::default();
    let mut breakdown = FrameBuilder::new(frames::breakdown_schema());
    let mut source = String::new();
    for file in &manifest.files {
        let path = dir.join(&file.path);
        let body = std::fs::read(&path).map_err(|e| FsError::new("read", &path, e))?;
        let decode = |source| LoadError::Decode {
            path: path.clone(),
            source,
        };
        match file.endpoint.as_str() {
            endpoint @ ("registry" | "payout_registry") => {
                let (tx, counts) = if endpoint == "registry" {
                    (&mut tx, &mut counts)
                } else {
                    has_payout_rows = true;
                    (&mut payout_tx, &mut payout_counts)
                };
                let rows: Vec<TransactionRow> = match manifest.format {
                    Format::Json => parse_json_rows(&body, REGISTRY_REQUIRED),
                    Format::Csv => parse_csv_rows(&body, REGISTRY_REQUIRED),
                }
                .map_err(decode)?;
                check_row_count(&path, file, rows.len())?;
                let keep = kept_rows(&path, file, rows.len())?;
                for (i, row) in rows.iter().enumerate() {
                    counts.registry_rows_read += 1;
                    if !keep[i] {
                        counts.duplicates_skipped += 1;
                        continue;
                    }
                    if endpoint == "registry" && outside(window, zones, row.transfer_date) {
                        counts.outside_window += 1;
                        continue;
                    }
                    source.clear();
                    let _ = write!(source, "{}#{i}", file.path);
                    tx.push_record(row, &source)?;
                    counts.registry_rows_loaded += 1;
                }
            }
            "payouts" => {
                let rows: Vec<Payout> = parse_json_rows(&body, PAYOUT_REQUIRED).map_err(decode)?;
                check_row_count(&path, file, rows.len())?;
                counts.payout_rows_read += rows.len() as u64;
                for (i, row) in rows.iter().enumerate() {
                    payouts.add(format!("{}#{i}", file.path), row)?;
                }
            }
            "breakdown" => {
                let rows: Vec<BreakdownRow> =
                    parse_json_rows(&body, BREAKDOWN_REQUIRED).map_err(decode)?;
                check_row_count(&path, file, rows.len())?;
                push_breakdown(&mut breakdown, &path, file, &rows)?;
                counts.breakdown_rows += rows.len() as u64;
            }
            // The reports list is not a frame (yet); it was verified with the rest.
            _ => {}
        }
    }
    assert_eq!(
        counts.registry_rows_read,
        counts.registry_rows_loaded + counts.duplicates_skipped + counts.outside_window,
        "every registry row is loaded, a skipped duplicate or outside the window"
    );
    check_against_manifest(dir, &manifest, &counts)?;
    counts.payouts_loaded = payouts.len() as u64;
    let data = ProviderData {
        transactions: tx.finish()?,
        payouts: payouts.finish()?,
        breakdown: breakdown.finish("breakdown")?,
        counts,
        window: manifest.window,
        payout_rows: if has_payout_rows || manifest.counts.payouts_unique == 0 {
            Some(payout_tx.finish()?)
        } else {
            None
        },
    };
    tracing::info!(
        snapshot = %dir.display(),
        rows = counts.registry_rows_loaded,
        duplicates = counts.duplicates_skipped,
        payouts = counts.payouts_loaded,
        "loaded provider snapshot"
    );
    Ok(data)
}

/// Which rows of a page to keep: all but those the fetch marked as repeats.
fn kept_rows(path: &Path, file: &SnapshotFile, rows: usize) -> Result<Vec<bool>, LoadError> {
    let mut keep = vec![true; rows];
    for &d in &file.duplicate_rows {
        match keep.get_mut(d as usize) {
            Some(k) => *k = false,
            None => {
                return Err(LoadError::Damaged {
                    path: path.to_path_buf(),
                    problem: format!("duplicate row index {d} but the page has {rows} rows"),
                })
            }
        }
    }
    Ok(keep)
}

/// Whether a row's transfer date, in the reporting zone, falls outside `window`.
fn outside(window: Option<Window>, zones: DateZones, transfer: Option<NaiveDateTime>) -> bool {
    match (window, transfer) {
        (Some(w), Some(t)) => !w.contains(zones.to_reporting(t).date()),
        _ => false,
    }
}

fn check_row_count(path: &Path, file: &SnapshotFile, parsed: usize) -> Result<(), LoadError> {
    if parsed as u64 != file.rows {
        return Err(LoadError::Damaged {
            path: path.to_path_buf(),
            problem: format!("{parsed} rows parsed, manifest says {}", file.rows),
        });
    }
    Ok(())
}

/// The fetch counted the same rows; disagreeing means the loader and the fetch diverged.
fn check_against_manifest(
    dir: &Path,
    manifest: &Manifest,
    counts: &LoadCounts,
) -> Result<(), LoadError> {
    let r = &manifest.counts.registry;
    let ours = (counts.registry_rows_read, counts.duplicates_skipped);
    if ours != (r.rows_received, r.duplicates_skipped) {
        return Err(LoadError::Damaged {
            path: dir.join("manifest.json"),
            problem: format!(
                "registry rows read/duplicates {ours:?}, manifest counts say ({}, {})",
                r.rows_received, r.duplicates_skipped
            ),
        });
    }
    Ok(())
}

fn push_breakdown(
    out: &mut FrameBuilder,
    path: &Path,
    file: &SnapshotFile,
    rows: &[BreakdownRow],
) -> Result<(), LoadError> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        let at = format!("{}#{i}", file.path);
        let currency = row.currency.as_deref().unwrap_or_default();
        if let Some(first) = seen.insert(currency, i) {
            return Err(LoadError::Damaged {
                path: path.to_path_buf(),
                problem: format!("currency {currency:?} appears in rows {first} and {i}"),
            });
        }
        let day = |d: NaiveDate| CellRef::DateTime(d.and_time(chrono::NaiveTime::MIN));
        let cells = [
            ("source", CellRef::Text(&at)),
            ("window_from", day(file.window.from)),
            ("window_to", day(file.window.to)),
            ("currency", CellRef::Text(currency)),
            ("payments_amount", decimal_ref(row.payments_amount)),
            ("sum_payout", decimal_ref(row.sum_payout)),
        ];
        for (c, (column, cell)) in cells.into_iter().enumerate() {
            out.push(c, cell).map_err(|p| p.at(&at, column))?;
        }
    }
    Ok(())
}

fn decimal_ref(d: Option<Decimal>) -> CellRef<'static> {
    d.map_or(CellRef::Null, CellRef::Decimal)
}

/// Payouts by id, in order of first appearance.
#[derive(Default)]
struct PayoutSet {
    order: Vec<i64>,
    by_id: BTreeMap<i64, PayoutFacts>,
}

/// What the payouts frame keeps of a payout; two rows with equal facts are one payout.
#[derive(Debug, Clone, PartialEq)]
struct PayoutFacts {
    source: String,
    date: Option<NaiveDate>,
    currency: Option<String>,
    amount: Option<Decimal>,
    canceled: Option<bool>,
}

impl PayoutSet {
    fn len(&self) -> usize {
        self.order.len()
    }

    /// Adds one payout row; a repeat with the same facts collapses (PostHog notes the same
    /// payout can come back for two windows), a repeat with other facts is an error.
    fn add(&mut self, source: String, p: &Payout) -> Result<(), LoadError> {
        let id = p.payout_id.ok_or_else(|| LoadError::Cell {
            at: source.clone(),
            column: "payout.id".into(),
            value: String::new(),
            problem: "is required but missing".into(),
        })?;
        let facts = PayoutFacts {
            source,
            date: p.payout_date.map(|d| d.date()),
            currency: p.payout_currency.clone(),
            amount: p.payout_amount.map(|d| d.normalize()),
            canceled: p.canceled,
        };
        match self.by_id.get(&id) {
            None => {
                self.order.push(id);
                self.by_id.insert(id, facts);
                Ok(())
            }
            Some(first) => {
                let same = PayoutFacts {
                    source: first.source.clone(),
                    ..facts.clone()
                };
                if same == *first {
                    return Ok(());
                }
                Err(LoadError::PayoutConflict {
                    payout_id: id,
                    first: first.source.clone(),
                    second: facts.source,
                    detail: format!(
                        "date {:?}/{:?}, currency {:?}/{:?}, amount {:?}/{:?}, canceled {:?}/{:?}",
                        first.date,
                        facts.date,
                        first.currency,
                        facts.currency,
                        first.amount.map(|d| d.to_string()),
                        facts.amount.map(|d| d.to_string()),
                        first.canceled,
                        facts.canceled
                    ),
                })
            }
        }
    }

    fn finish(self) -> Result<DataFrame, LoadError> {
        let mut b = FrameBuilder::new(frames::payouts_schema());
        for id in &self.order {
            let f = &self.by_id[id];
            let cells = [
                ("source", CellRef::Text(&f.source)),
                ("payout.id", CellRef::Int(*id)),
                (
                    "payout.date",
                    f.date.map_or(CellRef::Null, |d| {
                        CellRef::DateTime(d.and_time(chrono::NaiveTime::MIN))
                    }),
                ),
                (
                    "payout.currency",
                    f.currency.as_deref().map_or(CellRef::Null, CellRef::Text),
                ),
                ("payout.amount", decimal_ref(f.amount)),
                ("canceled", f.canceled.map_or(CellRef::Null, CellRef::Flag)),
            ];
            for (c, (column, cell)) in cells.into_iter().enumerate() {
                b.push(c, cell).map_err(|p| p.at(&f.source, column))?;
            }
        }
        b.finish("payouts")
    }
}

/// A value a column cannot take.
#[derive(Debug)]
struct Problem {
    value: String,
    problem: String,
}

impl Problem {
    fn at(self, at: &str, column: &str) -> LoadError {
        LoadError::Cell {
            at: at.to_owned(),
            column: column.to_owned(),
            value: self.value,
            problem: self.problem,
        }
    }
}

/// One column being built; the variant follows the schema's dtype.
enum Builder {
    Str(StringChunkedBuilder),
    I64(PrimitiveChunkedBuilder<Int64Type>),
    Bool(BooleanChunkedBuilder),
    Date(PrimitiveChunkedBuilder<Int32Type>),
    DatetimeMs(PrimitiveChunkedBuilder<Int64Type>),
    Dec(PrimitiveChunkedBuilder<Int128Type>, usize),
}

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

/// `d` as an integer mantissa at `scale` decimals, if that is exact and fits.
pub fn mantissa_at(d: Decimal, scale: usize) -> Option<i128> {
    let d = d.normalize();
    let s = d.scale() as usize;
    if s > scale {
        return None;
    }
    d.mantissa()
        .checked_mul(10i128.checked_pow((scale - s) as u32)?)
}

impl Builder {
    fn new(name: &PlSmallStr, dtype: &DataType, cap: usize) -> Self {
        let n = name.clone();
        match dtype {
            DataType::String => Builder::Str(StringChunkedBuilder::new(n, cap)),
            DataType::Int64 => Builder::I64(PrimitiveChunkedBuilder::new(n, cap)),
            DataType::Boolean => Builder::Bool(BooleanChunkedBuilder::new(n, cap)),
            DataType::Date => Builder::Date(PrimitiveChunkedBuilder::new(n, cap)),
            DataType::Datetime(TimeUnit::Milliseconds, None) => {
                Builder::DatetimeMs(PrimitiveChunkedBuilder::new(n, cap))
            }
            DataType::Decimal(_, scale) => {
                Builder::Dec(PrimitiveChunkedBuilder::new(n, cap), *scale)
            }
            other => unreachable!("no frame schema has a {other} column"),
        }
    }

    fn push(&mut self, cell: CellRef<'_>) -> Result<(), Problem> {
        match (self, cell) {
            (Builder::Str(b), CellRef::Null) => b.append_null(),
            (Builder::I64(b), CellRef::Null) => b.append_null(),
            // A missing flag is an unset flag (`dry_run` absent means a real payment).
            (Builder::Bool(b), CellRef::Null) => b.append_value(false),
            (Builder::Date(b), CellRef::Null) => b.append_null(),
            (Builder::DatetimeMs(b), CellRef::Null) => b.append_null(),
            (Builder::Dec(b, _), CellRef::Null) => b.append_null(),
            (Builder::Str(b), CellRef::Text(t)) => b.append_value(t),
            (Builder::I64(b), CellRef::Int(i)) => b.append_value(i),
            (Builder::Bool(b), CellRef::Flag(f)) => b.append_value(f),
            (Builder::Date(b), CellRef::DateTime(t)) => {
                b.append_value((t.date() - EPOCH).num_days() as i32)
            }
            (Builder::DatetimeMs(b), CellRef::DateTime(t)) => {
                b.append_value(t.and_utc().timestamp_millis())
            }
            (Builder::Dec(b, scale), CellRef::Decimal(d)) => match mantissa_at(d, *scale) {
                Some(m) => b.append_value(m),
                None => {
                    return Err(Problem {
                        value: d.to_string(),
                        problem: format!(
                            "has more than {scale} decimals (or is too large); amounts are kept exact, never rounded"
                        ),
                    })
                }
            },
            (_, cell) => {
                return Err(Problem {
                    value: format!("{cell:?}"),
                    problem: "does not fit the column's type".into(),
                })
            }
        }
        Ok(())
    }

    fn finish(self) -> PolarsResult<Column> {
        Ok(match self {
            Builder::Str(b) => b.finish().into_column(),
            Builder::I64(b) => b.finish().into_column(),
            Builder::Bool(b) => b.finish().into_column(),
            Builder::Date(b) => b.finish().into_date().into_column(),
            Builder::DatetimeMs(b) => b
                .finish()
                .into_datetime(TimeUnit::Milliseconds, None)
                .into_column(),
            Builder::Dec(b, scale) => b
                .finish()
                .into_decimal(frames::PRECISION, scale)?
                .into_column(),
        })
    }
}

/// Column builders for a fixed schema.
struct FrameBuilder {
    cols: Vec<Builder>,
}

impl FrameBuilder {
    fn new(schema: Schema) -> Self {
        Self::with_capacity(schema, 0)
    }

    fn with_capacity(schema: Schema, cap: usize) -> Self {
        FrameBuilder {
            cols: schema
                .iter()
                .map(|(n, t)| Builder::new(n, t, cap))
                .collect(),
        }
    }

    fn push(&mut self, col: usize, cell: CellRef<'_>) -> Result<(), Problem> {
        self.cols[col].push(cell)
    }

    fn finish(self, what: &'static str) -> Result<DataFrame, LoadError> {
        let frame = || {
            let cols = self
                .cols
                .into_iter()
                .map(Builder::finish)
                .collect::<PolarsResult<Vec<_>>>()?;
            DataFrame::new_infer_height(cols)
        };
        frame().map_err(|source| LoadError::Frame { what, source })
    }
}

/// The transactions frame: registry fields mapped by name onto [`frames::provider_schema`].
struct TxFrame {
    frame: FrameBuilder,
    /// For each [`TRANSACTION_COLUMNS`] entry, the output column it feeds.
    target: Vec<Option<usize>>,
    /// The [`TRANSACTION_COLUMNS`] entries that feed a column, in table order.
    fields: Vec<usize>,
    source: usize,
    row_kind: usize,
    payment_amount: usize,
    negative: bool,
    /// Date-times are converted from Xsolla's zone to the reporting zone.
    zones: DateZones,
}

impl TxFrame {
    fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Builders with room for `cap` rows.
    fn with_capacity(cap: usize) -> Self {
        let schema = frames::provider_schema();
        let pos = |n: &str| schema.index_of(n).expect("provider schema column");
        let target: Vec<Option<usize>> = TRANSACTION_COLUMNS
            .iter()
            .map(|c| schema.index_of(c.name))
            .collect();
        let fields = (0..target.len()).filter(|i| target[*i].is_some()).collect();
        TxFrame {
            source: pos("source"),
            row_kind: pos("row_kind"),
            payment_amount: pos("payment_amount"),
            frame: FrameBuilder::with_capacity(schema, cap),
            target,
            fields,
            negative: false,
            zones: DateZones::default(),
        }
    }

    /// The same, converting date-times between `zones`.
    fn in_zones(mut self, zones: DateZones) -> Self {
        self.zones = zones;
        self
    }

    /// Pushes field `field` (index in [`TRANSACTION_COLUMNS`]) of the current row.
    fn cell(&mut self, field: usize, cell: CellRef<'_>) -> Result<(), Problem> {
        let Some(out) = self.target[field] else {
            return Ok(());
        };
        if out == self.payment_amount {
            self.negative =
                matches!(cell, CellRef::Decimal(d) if d.is_sign_negative() && !d.is_zero());
        }
        let cell = match cell {
            CellRef::DateTime(t) => CellRef::DateTime(self.zones.to_reporting(t)),
            other => other,
        };
        self.frame.push(out, cell)
    }

    /// Ends the current row: its source and the derived `row_kind`.
    fn end_row(&mut self, source: &str) {
        let kind = if self.negative {
            "cancellation"
        } else {
            "payment"
        };
        self.negative = false;
        self.frame.cols[self.source]
            .push(CellRef::Text(source))
            .expect("text column");
        self.frame.cols[self.row_kind]
            .push(CellRef::Text(kind))
            .expect("text column");
    }

    fn push_record(&mut self, row: &TransactionRow, source: &str) -> Result<(), LoadError> {
        let mut i = 0usize;
        let mut failed: Option<LoadError> = None;
        row.for_each_cell(|col, cell| {
            if failed.is_none() {
                if let Err(p) = self.cell(i, cell) {
                    failed = Some(p.at(source, col.label()));
                }
            }
            i += 1;
        });
        if let Some(e) = failed {
            return Err(e);
        }
        self.end_row(source);
        Ok(())
    }

    fn finish(self) -> Result<DataFrame, LoadError> {
        self.frame.finish("transactions")
    }
}

/// Loads a registry CSV exported by hand from the Publisher Account.
///
/// Columns are mapped by header name (trimmed, any case), in any order; unknown columns are
/// ignored. The file is streamed: memory is the frame plus a few blocks of text, so tens of
/// millions of rows load; a large file is parsed on every core ([`crate::domain::csvsplit`]), with
/// the same rows, sources and first error as one reader. With `window`, rows whose transfer
/// date falls outside it are left out. Sources are `<file name>:<line>`; errors name the
/// file, line, column and value.
pub fn load_registry_export(path: &Path, window: Option<Window>) -> Result<DataFrame, LoadError> {
    load_registry_export_in(path, window, DateZones::default())
}

/// [`load_registry_export`] with Xsolla's dates converted to the reporting zone before the
/// window is applied.
pub fn load_registry_export_in(
    path: &Path,
    window: Option<Window>,
    zones: DateZones,
) -> Result<DataFrame, LoadError> {
    load_registry_export_split(path, window, zones, &Split::default())
}

/// [`load_registry_export_in`] with the chunking spelled out (tests force small chunks).
pub(crate) fn load_registry_export_split(
    path: &Path,
    window: Option<Window>,
    zones: DateZones,
    split: &Split,
) -> Result<DataFrame, LoadError> {
    let file = std::fs::File::open(path).map_err(|e| FsError::new("open", path, e))?;
    let len = file.metadata().map_or(0, |m| m.len());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let mut rdr = export_reader(true, LineCounter::new(file));
    let header = match rdr.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(export_csv_err(path, &mut rdr, e)),
    };
    let ctx = ExportRows {
        path,
        name,
        index: map_header(path, &header)?,
        header_len: header.len(),
        window,
        zones,
        transfer_date: TRANSACTION_COLUMNS
            .iter()
            .position(|c| c.name == "transfer_date")
            .expect("registry has a transfer date"),
    };

    let (df, read, outside) = if split.parallel_for(len) {
        let start = rdr.position().byte();
        drop(rdr);
        match ctx.parallel(start, split)? {
            Some(done) => done,
            // The file cannot be cut (or reading it failed): one reader says what happens.
            None => return load_registry_export_split(path, window, zones, &Split::sequential()),
        }
    } else {
        let mut tx = TxFrame::new().in_zones(zones);
        let (read, outside) = ctx.rows(&mut rdr, &mut tx)?;
        (tx.finish()?, read, outside)
    };
    tracing::info!(
        file = %path.display(),
        rows_read = read,
        rows_loaded = df.height(),
        outside_window = outside,
        "loaded registry export"
    );
    Ok(df)
}

fn export_reader<R: Read>(has_headers: bool, rdr: R) -> csv::Reader<R> {
    // Not `flexible(false)`: a chunk's reader has no header, so [`ExportRows::rows`] checks
    // the field count against the header itself.
    csv::ReaderBuilder::new()
        .has_headers(has_headers)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(rdr)
}

fn export_csv_err<R: Read>(
    path: &Path,
    rdr: &mut csv::Reader<LineCounter<R>>,
    e: csv::Error,
) -> LoadError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        return LoadError::Fs(FsError::new(
            "read",
            path,
            std::io::Error::new(io.kind(), io.to_string()),
        ));
    }
    let line = e.position().map_or(0, |p| rdr.get_mut().line_at(p.byte()));
    let detail = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => unequal_lengths(*len, *expected_len),
        _ => e.to_string(),
    };
    LoadError::Csv {
        path: path.to_path_buf(),
        line,
        detail,
    }
}

fn unequal_lengths(len: u64, expected_len: u64) -> String {
    format!("has {len} fields where the header has {expected_len} (truncated or mis-quoted line)")
}

/// What turns the records of a registry export into rows, shared by the threads.
struct ExportRows<'a> {
    path: &'a Path,
    name: String,
    /// For each [`TRANSACTION_COLUMNS`] entry, its position in the header.
    index: Vec<Option<usize>>,
    header_len: usize,
    window: Option<Window>,
    /// Xsolla's zone and the reporting zone.
    zones: DateZones,
    /// The [`TRANSACTION_COLUMNS`] entry of the transfer date.
    transfer_date: usize,
}

impl ExportRows<'_> {
    /// Parses the records after the header (at byte `start`) in chunks on every core: the
    /// frame and counts, or None when the file must be read by one reader.
    fn parallel(
        &self,
        start: u64,
        split: &Split,
    ) -> Result<Option<(DataFrame, u64, u64)>, LoadError> {
        let path = self.path;
        let file = std::fs::File::open(path).map_err(|e| FsError::new("open", path, e))?;
        let Ok(splitter) = Splitter::new(file, start, b',', b'"', LineEnds::Lf, split, None) else {
            return Ok(None);
        };
        let parts = csvsplit::parse_chunks(splitter, split.threads, |chunk: Chunk| {
            let counter = LineCounter::starting_at(&chunk.bytes[..], chunk.lines_before + 1);
            let mut rdr = export_reader(false, counter);
            let mut tx = TxFrame::with_capacity(chunk.max_records()).in_zones(self.zones);
            let (read, outside) = self.rows(&mut rdr, &mut tx)?;
            Ok::<_, LoadError>((tx.finish()?, read, outside))
        });
        let parts = match parts {
            Ok(p) => p,
            Err(Stopped::Chunk(e)) => return Err(e),
            Err(Stopped::Split(e)) => {
                tracing::debug!(file = %path.display(), reason = %e, "registry export read by one reader");
                return Ok(None);
            }
        };
        let (mut read, mut outside) = (0, 0);
        let mut df: Option<DataFrame> = None;
        for (part, r, o) in parts {
            read += r;
            outside += o;
            match &mut df {
                None => df = Some(part),
                Some(df) => {
                    df.vstack_mut_owned(part)
                        .map_err(|source| LoadError::Frame {
                            what: "transactions",
                            source,
                        })?;
                }
            }
        }
        let df = match df {
            Some(df) => df,
            None => TxFrame::new().finish()?,
        };
        csvsplit::note_parallel_read();
        Ok(Some((df, read, outside)))
    }

    /// Reads every record left in `rdr` into `tx`: (rows read, rows outside the window).
    fn rows<R: Read>(
        &self,
        rdr: &mut csv::Reader<LineCounter<R>>,
        tx: &mut TxFrame,
    ) -> Result<(u64, u64), LoadError> {
        let (path, index) = (self.path, &self.index);
        let mut record = csv::ByteRecord::new();
        let mut source = String::new();
        let (mut read, mut outside) = (0u64, 0u64);
        loop {
            match rdr.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(export_csv_err(path, rdr, e)),
            }
            read += 1;
            let line = rdr
                .get_mut()
                .line_at(record.position().map_or(0, |p| p.byte()));
            if record.len() != self.header_len {
                return Err(LoadError::Csv {
                    path: path.to_path_buf(),
                    line,
                    detail: unequal_lengths(record.len() as u64, self.header_len as u64),
                });
            }
            let at = || format!("{}:{line}", path.display());
            let text = |field: usize| -> Result<Option<&str>, LoadError> {
                let Some(raw) = index[field].and_then(|i| record.get(i)) else {
                    return Ok(None);
                };
                let t = std::str::from_utf8(raw).map_err(|_| LoadError::Cell {
                    at: at(),
                    column: TRANSACTION_COLUMNS[field].label().into(),
                    value: String::from_utf8_lossy(raw).into_owned(),
                    problem: "is not valid UTF-8 (export the file as UTF-8)".into(),
                })?;
                Ok((!t.trim().is_empty()).then_some(t))
            };
            // The transfer date, parsed once for the window and the column.
            let mut transfer: Option<Option<NaiveDateTime>> = None;
            if let Some(w) = self.window {
                let parsed = text(self.transfer_date)?.and_then(NaiveDateTime::parse_text);
                transfer = Some(parsed);
                if parsed.is_some_and(|d| !w.contains(self.zones.to_reporting(d).date())) {
                    outside += 1;
                    continue;
                }
            }
            for k in 0..tx.fields.len() {
                let field = tx.fields[k];
                let col = &TRANSACTION_COLUMNS[field];
                let t = text(field)?;
                let bad = |expected: &str| LoadError::Cell {
                    at: at(),
                    column: col.label().into(),
                    value: t.unwrap_or_default().to_owned(),
                    problem: format!("is not {expected}"),
                };
                let cell = match t {
                    None if REGISTRY_REQUIRED.contains(&col.name) => {
                        return Err(LoadError::Cell {
                            at: at(),
                            column: col.label().into(),
                            value: String::new(),
                            problem: "is required but empty".into(),
                        })
                    }
                    None => CellRef::Null,
                    Some(t) => match col.kind {
                        Kind::Text => CellRef::Text(t),
                        Kind::Int => {
                            CellRef::Int(i64::parse_text(t).ok_or_else(|| bad(i64::EXPECTED))?)
                        }
                        Kind::Money | Kind::Rate => CellRef::Decimal(
                            Decimal::parse_text(t).ok_or_else(|| bad(Decimal::EXPECTED))?,
                        ),
                        Kind::DateTime => CellRef::DateTime(
                            match transfer.filter(|_| field == self.transfer_date) {
                                Some(parsed) => parsed,
                                None => NaiveDateTime::parse_text(t),
                            }
                            .ok_or_else(|| bad(NaiveDateTime::EXPECTED))?,
                        ),
                        Kind::Flag => {
                            CellRef::Flag(bool::parse_text(t).ok_or_else(|| bad(bool::EXPECTED))?)
                        }
                    },
                };
                tx.cell(field, cell).map_err(|p| LoadError::Cell {
                    at: at(),
                    column: col.label().into(),
                    // The text as written, not the parsed value, so the user can find it.
                    value: t.unwrap_or_default().to_owned(),
                    problem: p.problem,
                })?;
            }
            source.clear();
            source.push_str(&self.name);
            source.push(':');
            push_u64(&mut source, line);
            tx.end_row(&source);
        }
        Ok((read, outside))
    }
}

/// For each [`TRANSACTION_COLUMNS`] entry, its position in the export's header.
fn map_header(path: &Path, header: &csv::ByteRecord) -> Result<Vec<Option<usize>>, LoadError> {
    let lower: Vec<String> = header
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_lowercase()
        })
        .collect();
    for (i, h) in lower.iter().enumerate() {
        if !h.is_empty() && lower[..i].contains(h) {
            return Err(LoadError::Header {
                path: path.to_path_buf(),
                problem: format!("column {h:?} appears twice, so mapping by name is ambiguous"),
            });
        }
    }
    let index: Vec<Option<usize>> = TRANSACTION_COLUMNS
        .iter()
        .map(|c| lower.iter().position(|h| *h == c.csv.to_lowercase()))
        .collect();
    let missing: Vec<&str> = TRANSACTION_COLUMNS
        .iter()
        .zip(&index)
        .filter(|(c, i)| i.is_none() && REGISTRY_REQUIRED.contains(&c.name))
        .map(|(c, _)| c.label())
        .collect();
    if !missing.is_empty() {
        return Err(LoadError::Header {
            path: path.to_path_buf(),
            problem: format!("header lacks required column(s) {missing:?}; header was {lower:?}"),
        });
    }
    Ok(index)
}

/// Counts lines while the CSV reader pulls bytes, so a record's line is known without keeping
/// the file: the csv crate's own line (and offset) lag by one after CRLF line ends.
///
/// For each `\n` it remembers where its run of line-end bytes began; a record starting at byte
/// `b` (possibly on the `\n` of a CRLF) is on line 1 + the `\n`s whose run began at or before `b`.
/// Only the reader's look-ahead is held, so memory stays bounded.
struct LineCounter<R> {
    inner: R,
    offset: u64,
    run_start: Option<u64>,
    pending: VecDeque<u64>,
    line: u64,
}

impl<R> LineCounter<R> {
    fn new(inner: R) -> Self {
        Self::starting_at(inner, 1)
    }

    /// A counter whose first byte is on line `line` (a chunk after the lines before it).
    fn starting_at(inner: R, line: u64) -> Self {
        LineCounter {
            inner,
            offset: 0,
            run_start: None,
            pending: VecDeque::new(),
            line,
        }
    }

    /// 1-based line of a record starting at `byte`; calls must come in increasing order.
    fn line_at(&mut self, byte: u64) -> u64 {
        while self.pending.front().is_some_and(|&s| s <= byte) {
            self.pending.pop_front();
            self.line += 1;
        }
        self.line
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            match b {
                b'\n' => {
                    let start = *self.run_start.get_or_insert(self.offset);
                    self.pending.push_back(start);
                }
                b'\r' => {
                    self.run_start.get_or_insert(self.offset);
                }
                _ => self.run_start = None,
            }
            self.offset += 1;
        }
        Ok(n)
    }
}

#[cfg(all(test, feature = "sandbox"))]
mod tests;
