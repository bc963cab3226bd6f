//! Load stage: a verified snapshot (or a registry CSV exported by hand) → the provider frames
//! of [`crate::domain::frames`].
//!
//! Rows go straight from parsed cells into Polars column builders, so memory is the frames
//! themselves plus one page (snapshot) or one CSV record (export). Money is converted to
//! `Decimal(38, 6)` mantissas exactly: a value with more decimals than the column holds is an
//! error naming where it came from, never rounded.

use crate::domain::codes::{self, CodeBuilder};
use crate::domain::csvsplit::{
    self, Chunk, Fields, LineEnds, PlainRecord, PlainRecords, Split, Splitter, Stopped,
};
use crate::domain::frames;
use crate::domain::fsutil::FsError;
use crate::domain::money;
use crate::domain::not_checked::NotChecked;
use crate::domain::sources::SourceBuilder;
use crate::domain::window::{self, Window};
use crate::fetch::{
    self, FetchError, LookupCounts, LookupRecord, Manifest, PaymentLookup, SnapshotFile,
};
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
use std::collections::{BTreeMap, BTreeSet, VecDeque};
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
    /// Checks the load already knows cannot run (breakdown values left out, breakdown days not
    /// requested), each with its day; the run keeps those of its window.
    pub not_checked: Vec<NotChecked>,
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

/// Row counts of a load; `registry_rows_read == registry_rows_loaded + duplicates_skipped`.
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
    /// Breakdown rows read.
    pub breakdown_rows: u64,
    /// … of which left out as not checked (a currency listed twice in one response, a value
    /// the money column cannot hold exactly, every row when Xsolla's zone is not the
    /// reporting zone); each is in the summary's `not_checked`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub breakdown_rows_not_checked: u64,
    /// Registry rows whose transfer date, in the reporting zone, falls outside the window
    /// loaded (only when Xsolla's zone differs from it: the fetch then asks for the Xsolla
    /// days that cover the window, which reach into the days on either side).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub outside_window: u64,
    /// Payments of in-window cancellations looked up outside the window; the found ones are
    /// appended to the transactions (see [`append_looked_up`]).
    #[serde(default)]
    pub payment_lookups: LookupCounts,
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
    /// A registry export stored as Parquet cannot be read.
    #[error("{}: cannot be read as Parquet: {message}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Polars' words.
        message: String,
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
    /// The rows read could not be handed on ([`super::RowSink`]).
    #[error("{}: handing the rows on: {message}", path.display())]
    Sink {
        /// The file read.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A file read in parallel chunks for a [`super::RowSink`] turned out to need one reader
    /// after some chunks were handed on: read it again with `parallel` false.
    #[error("{}: cannot be read in chunks ({reason}); it must be read again by one reader", path.display())]
    NotInChunks {
        /// The file read.
        path: PathBuf,
        /// Why.
        reason: String,
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
/// are Xsolla's days, which the rows' reporting days cannot be summed against. What is left
/// out, and the days whose breakdown was not requested, are in `not_checked`.
pub fn load_snapshot_in(
    dir: &Path,
    zones: DateZones,
    window: Option<Window>,
) -> Result<ProviderData, LoadError> {
    load_snapshot_with(dir, zones, window, &[])
}

/// [`load_snapshot_in`] with the optional fee columns `extra` (of
/// [`frames::PROVIDER_OPTIONAL_FEE_COLUMNS`]) in the window's registry frame: only those a
/// setting names are built, so a run that compares none pays nothing for them.
pub fn load_snapshot_with(
    dir: &Path,
    zones: DateZones,
    window: Option<Window>,
    extra: &[&'static str],
) -> Result<ProviderData, LoadError> {
    let manifest = fetch::verify_snapshot(dir)?;
    let mut load = SnapshotLoad::new(zones, window, extra);
    for file in &manifest.files {
        load.add_file(dir, manifest.format, file)?;
    }
    let mut data = load.finish(dir, &manifest)?;
    data.not_checked.extend(skipped_breakdown_days(&manifest));
    if !zones.same() && data.breakdown.height() > 0 {
        tracing::warn!(
            xsolla = %zones.xsolla,
            reporting = %zones.reporting,
            "payouts breakdown not checked: its windows are Xsolla's days, not the reporting zone's"
        );
        data.not_checked
            .extend(breakdown_in_other_zone(&data.breakdown, zones)?);
        data.counts.breakdown_rows_not_checked += data.breakdown.height() as u64;
        data.breakdown = frames::empty(&frames::breakdown_schema());
    }
    Ok(data)
}

/// One line per breakdown day when Xsolla's zone is not the reporting zone: the breakdown's
/// days are Xsolla's, the rows' days the reporting zone's, so their sums cannot be compared.
fn breakdown_in_other_zone(
    breakdown: &DataFrame,
    zones: DateZones,
) -> Result<Vec<NotChecked>, LoadError> {
    let frame = |source| LoadError::Frame {
        what: "breakdown",
        source,
    };
    let days = breakdown
        .column("window_from")
        .and_then(|c| c.date())
        .map_err(frame)?;
    let mut per_day: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for d in days.as_date_iter().flatten() {
        *per_day.entry(d).or_default() += 1;
    }
    let reason = format!(
        "fetch.xsolla_timezone ({}) differs from run.reporting_timezone ({}): the breakdown sums Xsolla's days, the rows are counted on the reporting zone's days",
        zones.xsolla, zones.reporting
    );
    Ok(per_day
        .into_iter()
        .map(|(d, n)| NotChecked::new("breakdown", d.to_string(), n, reason.clone()).on(d))
        .collect())
}

/// One line per day of the snapshot whose breakdown the fetch did not request
/// (`fetch.breakdown_max_days`: the first days of a long window).
fn skipped_breakdown_days(manifest: &Manifest) -> Vec<NotChecked> {
    let skipped = manifest.counts.breakdown_days_skipped as usize;
    manifest
        .window
        .chunks(1)
        .into_iter()
        .take(skipped)
        .map(|d| {
            NotChecked::new(
                "breakdown",
                d.from.to_string(),
                1,
                "the breakdown of this day was not requested (fetch.breakdown_max_days)",
            )
            .on(d.from)
        })
        .collect()
}

/// The frames of a snapshot while its files are replayed.
struct SnapshotLoad {
    /// The window's registry (the `registry` pages).
    registry: RegistryRows,
    /// Every registry row of the window's payouts (the `payout_registry` pages); its counts
    /// are its own, the manifest's registry counts are of the window's rows only.
    payout_registry: RegistryRows,
    has_payout_rows: bool,
    payout_rows_read: u64,
    payouts: PayoutSet,
    breakdown: FrameBuilder,
    breakdown_rows: u64,
    /// Breakdown rows left out because their values cannot be taken as they are.
    not_checked: Vec<NotChecked>,
}

/// Registry rows kept from a series of pages.
struct RegistryRows {
    tx: TxFrame,
    counts: LoadCounts,
    /// Reused for each row's `source`, so a row allocates nothing.
    source: String,
    /// Rows dated outside it (in the reporting zone) are left out and counted.
    window: Option<Window>,
    zones: DateZones,
}

impl RegistryRows {
    fn new(zones: DateZones, window: Option<Window>, extra: &[&'static str]) -> Self {
        RegistryRows {
            tx: TxFrame::with_columns(0, extra).in_zones(zones),
            counts: LoadCounts::default(),
            source: String::new(),
            window,
            zones,
        }
    }

    /// Adds one page's rows, all but those the fetch marked as repeats (`keep` false).
    fn push_page(
        &mut self,
        file: &SnapshotFile,
        rows: &[TransactionRow],
        keep: &[bool],
    ) -> Result<(), LoadError> {
        for (i, row) in rows.iter().enumerate() {
            self.counts.registry_rows_read += 1;
            if !keep[i] {
                self.counts.duplicates_skipped += 1;
                continue;
            }
            if outside(self.window, self.zones, row.transfer_date) {
                self.counts.outside_window += 1;
                continue;
            }
            self.source.clear();
            let _ = write!(self.source, "{}#{i}", file.path);
            self.tx.push_record(row, &self.source)?;
            self.counts.registry_rows_loaded += 1;
        }
        Ok(())
    }
}

impl SnapshotLoad {
    /// Registry rows outside `window` are left out (a payout's rows are all kept).
    fn new(zones: DateZones, window: Option<Window>, extra: &[&'static str]) -> Self {
        SnapshotLoad {
            registry: RegistryRows::new(zones, window, extra),
            payout_registry: RegistryRows::new(zones, None, &[]),
            has_payout_rows: false,
            payout_rows_read: 0,
            payouts: PayoutSet::default(),
            breakdown: FrameBuilder::new(frames::breakdown_schema()),
            breakdown_rows: 0,
            not_checked: Vec::new(),
        }
    }

    /// Reads one stored file (already verified) into the frame its endpoint feeds.
    fn add_file(
        &mut self,
        dir: &Path,
        format: Format,
        file: &SnapshotFile,
    ) -> Result<(), LoadError> {
        let path = dir.join(&file.path);
        let body = std::fs::read(&path).map_err(|e| FsError::new("read", &path, e))?;
        let decode = |source| LoadError::Decode {
            path: path.clone(),
            source,
        };
        match file.endpoint.as_str() {
            endpoint @ ("registry" | "payout_registry") => {
                let rows: Vec<TransactionRow> = match format {
                    Format::Json => parse_json_rows(&body, REGISTRY_REQUIRED),
                    Format::Csv => parse_csv_rows(&body, REGISTRY_REQUIRED),
                }
                .map_err(decode)?;
                check_row_count(&path, file, rows.len())?;
                let keep = kept_rows(&path, file, rows.len())?;
                let side = if endpoint == "registry" {
                    &mut self.registry
                } else {
                    self.has_payout_rows = true;
                    &mut self.payout_registry
                };
                side.push_page(file, &rows, &keep)?;
            }
            "payouts" => {
                let rows: Vec<Payout> = parse_json_rows(&body, PAYOUT_REQUIRED).map_err(decode)?;
                check_row_count(&path, file, rows.len())?;
                self.payout_rows_read += rows.len() as u64;
                for (i, row) in rows.iter().enumerate() {
                    self.payouts.add(format!("{}#{i}", file.path), row)?;
                }
            }
            "breakdown" => {
                let rows: Vec<BreakdownRow> =
                    parse_json_rows(&body, BREAKDOWN_REQUIRED).map_err(decode)?;
                check_row_count(&path, file, rows.len())?;
                let skipped = push_breakdown(&mut self.breakdown, file, &rows)?;
                self.not_checked.extend(skipped);
                self.breakdown_rows += rows.len() as u64;
            }
            // The reports list is not a frame (yet); it was verified with the rest.
            _ => {}
        }
        Ok(())
    }

    /// The frames, once the counts agree with the manifest's.
    fn finish(self, dir: &Path, manifest: &Manifest) -> Result<ProviderData, LoadError> {
        let mut counts = LoadCounts {
            payout_rows_read: self.payout_rows_read,
            breakdown_rows: self.breakdown_rows,
            breakdown_rows_not_checked: self.not_checked.iter().map(|n| n.count).sum(),
            ..self.registry.counts
        };
        assert_eq!(
            counts.registry_rows_read,
            counts.registry_rows_loaded + counts.duplicates_skipped + counts.outside_window,
            "every registry row is loaded, a skipped duplicate or outside the window"
        );
        check_against_manifest(dir, manifest, &counts)?;
        counts.payouts_loaded = self.payouts.len() as u64;
        let data = ProviderData {
            transactions: self.registry.tx.finish()?,
            payouts: self.payouts.finish()?,
            breakdown: self.breakdown.finish("breakdown")?,
            counts,
            window: manifest.window,
            payout_rows: if self.has_payout_rows || manifest.counts.payouts_unique == 0 {
                Some(self.payout_registry.tx.finish()?)
            } else {
                None
            },
            not_checked: self.not_checked,
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
}

/// Which rows of a page to keep: all but the repeats the fetch listed by index.
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

/// Transactions whose payment is wanted but not among `tx`'s rows: those with a cancellation
/// row in `tx`, and those the ledger refunds (a negative line, or a refunded, partially
/// refunded or charged-back status, with a transaction id) on a day in `days`.
///
/// The wanted ids are few; the rows of both sides are streamed past them (a set of every
/// paid id, and an amount looked up row by row, cost seconds at 10M rows).
pub fn wanted_payments(
    tx: &DataFrame,
    ledger: &DataFrame,
    days: Window,
) -> Result<BTreeSet<i64>, LoadError> {
    let frame = |source| LoadError::Frame {
        what: "payment lookups",
        source,
    };
    let ids = tx
        .column("transaction_id")
        .and_then(|c| c.i64())
        .map_err(frame)?;
    let kinds = tx.column("row_kind").and_then(codes::text).map_err(frame)?;
    let mut wanted = BTreeSet::new();
    for (id, kind) in ids.iter().zip(kinds.iter()) {
        if let (Some(id), Some("cancellation")) = (id, kind) {
            wanted.insert(id);
        }
    }
    let l_ids = ledger
        .column("transaction_id")
        .and_then(|c| c.i64())
        .map_err(frame)?;
    let status = ledger
        .column("status")
        .and_then(codes::text)
        .map_err(frame)?;
    let booked = ledger
        .column("booked_date")
        .and_then(|c| c.date())
        .map_err(frame)?;
    let amount = ledger
        .column("amount")
        .and_then(|c| c.decimal())
        .map_err(frame)?;
    let lines = l_ids
        .iter()
        .zip(status.iter())
        .zip(booked.as_date_iter())
        .zip(amount.physical().iter());
    for (((id, st), day), mantissa) in lines {
        let (Some(id), Some(day)) = (id, day) else {
            continue;
        };
        let negative = mantissa.is_some_and(|m| m < 0);
        let refund_status = matches!(st, Some("refunded" | "partially_refunded" | "chargeback"));
        if (negative || refund_status) && days.contains(day) {
            wanted.insert(id);
        }
    }
    if !wanted.is_empty() {
        // Paid: a row of the transaction that is not a cancellation.
        for (id, kind) in ids.iter().zip(kinds.iter()) {
            if let Some(id) = id.filter(|_| kind != Some("cancellation")) {
                wanted.remove(&id);
            }
        }
    }
    Ok(wanted)
}

/// Appends to `transactions` the payment rows `record` found for `wanted` ids (their
/// dates are outside the window: they are matched, never reported missing), reading each
/// file again and checking its sha256. Returns one lookup per wanted id: the record's, or "not
/// checked" when the record has none (no lookup was made for this snapshot).
pub fn append_looked_up(
    transactions: &mut DataFrame,
    data_dir: &Path,
    merchant: &str,
    record: Option<&LookupRecord>,
    wanted: &BTreeSet<i64>,
) -> Result<Vec<PaymentLookup>, LoadError> {
    let by_id: BTreeMap<i64, &PaymentLookup> = record
        .iter()
        .flat_map(|r| r.lookups.iter())
        .map(|l| (l.transaction_id, l))
        .collect();
    let extra = frames::optional_fee_columns(
        transactions
            .get_column_names()
            .into_iter()
            .map(|n| n.as_str()),
    );
    let mut tx = TxFrame::with_columns(0, &extra);
    let mut out = Vec::with_capacity(wanted.len());
    for id in wanted {
        let Some(l) = by_id.get(id) else {
            out.push(PaymentLookup::not_checked(
                *id,
                "no payment lookup stored for this snapshot".into(),
            ));
            continue;
        };
        if let (Some(rel), Some(row)) = (&l.path, l.row) {
            let (path, source) = match (&l.snapshot, record) {
                (Some(snap), _) => (
                    fetch::snapshots_dir(data_dir, merchant)
                        .join(snap)
                        .join(rel),
                    format!("{snap}/{rel}#{row}"),
                ),
                (None, Some(r)) => (
                    fetch::lookups_dir(data_dir, merchant, &r.fetch_id).join(rel),
                    format!("lookups/{}/{rel}#{row}", r.fetch_id),
                ),
                (None, None) => unreachable!("a lookup comes from a record"),
            };
            let found = looked_up_row(&path, l.sha256.as_deref(), row)?;
            tx.push_record(&found, &source)?;
        }
        out.push((*l).clone());
    }
    let extra = tx.finish()?;
    transactions
        .vstack_mut_owned(extra)
        .map_err(|source| LoadError::Frame {
            what: "transactions",
            source,
        })?;
    Ok(out)
}

/// Row `row` of a stored registry page or details response, after checking its sha256.
fn looked_up_row(path: &Path, sha256: Option<&str>, row: u32) -> Result<TransactionRow, LoadError> {
    use sha2::{Digest, Sha256};
    let body = std::fs::read(path).map_err(|e| FsError::new("read", path, e))?;
    let sha = hex::encode(Sha256::digest(&body));
    if sha256.is_some_and(|s| s != sha) {
        return Err(LoadError::Damaged {
            path: path.to_path_buf(),
            problem: format!("sha256 {sha}, the lookups record says {sha256:?}"),
        });
    }
    let decode = |source| LoadError::Decode {
        path: path.to_path_buf(),
        source,
    };
    let rows: Vec<TransactionRow> = if path.extension().is_some_and(|e| e == "csv") {
        parse_csv_rows(&body, REGISTRY_REQUIRED).map_err(decode)?
    } else {
        parse_json_rows(&body, REGISTRY_REQUIRED).map_err(decode)?
    };
    let n = rows.len();
    rows.into_iter()
        .nth(row as usize)
        .ok_or_else(|| LoadError::Damaged {
            path: path.to_path_buf(),
            problem: format!("row {row} looked up, the file has {n} rows"),
        })
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

/// Adds one breakdown response's rows. A currency listed twice is ambiguous (neither summed
/// nor picked) and a value with more decimals than the money column holds is not rounded:
/// such a currency's rows are left out and returned as not checked, and the run goes on.
fn push_breakdown(
    out: &mut FrameBuilder,
    file: &SnapshotFile,
    rows: &[BreakdownRow],
) -> Result<Vec<NotChecked>, LoadError> {
    let mut listed: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        listed
            .entry(row.currency.as_deref().unwrap_or_default())
            .or_default()
            .push(i);
    }
    let mut skipped = Vec::new();
    let subject = |currency: &str| match file.window.days() {
        1 => format!("{} {currency}", file.window.from),
        _ => format!("{} {currency}", file.window),
    };
    let not_checked = |currency: &str, n: usize, reason: String| {
        NotChecked::new("breakdown", subject(currency), n as u64, reason).on(file.window.from)
    };
    for (i, row) in rows.iter().enumerate() {
        let at = format!("{}#{i}", file.path);
        let currency = row.currency.as_deref().unwrap_or_default();
        let places = &listed[currency];
        if places.len() > 1 {
            if places[0] == i {
                let reason = format!(
                    "{}: currency {currency:?} is listed {} times (rows {}); one response must list it once, so neither is summed nor picked",
                    file.path,
                    places.len(),
                    places.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                );
                skipped.push(not_checked(currency, places.len(), reason));
            }
            continue;
        }
        if let Some(reason) = unexact_breakdown_value(&at, row) {
            skipped.push(not_checked(currency, 1, reason));
            continue;
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
    Ok(skipped)
}

/// Why a breakdown row's amounts cannot be compared exactly (a value with more decimals than
/// the money column's [`frames::MONEY_SCALE`]), naming the row, field and value; `None` when
/// they can.
fn unexact_breakdown_value(at: &str, row: &BreakdownRow) -> Option<String> {
    [
        ("PaymentsAmount", row.payments_amount),
        ("SumPayoutSum", row.sum_payout),
    ]
    .into_iter()
    .find_map(|(field, v)| {
        let v = v?;
        mantissa_at(v, frames::MONEY_SCALE).is_none().then(|| {
            format!(
                "{at}: {field} {v} has more than {} decimals; amounts are compared exactly, never rounded",
                frames::MONEY_SCALE
            )
        })
    })
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
    Code(CodeBuilder),
    Source(SourceBuilder),
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
            DataType::Categorical(..) => Builder::Code(CodeBuilder::new(n, cap)),
            DataType::UInt64 => Builder::Source(SourceBuilder::new(n, cap)),
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
            (Builder::Code(b), CellRef::Null) => b.append_null(),
            (Builder::Source(b), CellRef::Null) => b.append_null(),
            (Builder::I64(b), CellRef::Null) => b.append_null(),
            // A missing flag is an unset flag (`dry_run` absent means a real payment).
            (Builder::Bool(b), CellRef::Null) => b.append_value(false),
            (Builder::Date(b), CellRef::Null) => b.append_null(),
            (Builder::DatetimeMs(b), CellRef::Null) => b.append_null(),
            (Builder::Dec(b, _), CellRef::Null) => b.append_null(),
            (Builder::Str(b), CellRef::Text(t)) => b.append_value(t),
            (Builder::Code(b), CellRef::Text(t)) => {
                if let Err(e) = b.append_value(t) {
                    return Err(Problem {
                        value: t.to_owned(),
                        problem: format!("cannot be coded: {e}"),
                    });
                }
            }
            (Builder::Source(b), CellRef::Text(t)) => {
                if let Err(e) = b.append_value(t) {
                    return Err(Problem {
                        value: t.to_owned(),
                        problem: format!("cannot be held: {e}"),
                    });
                }
            }
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
            Builder::Code(b) => b.finish(),
            Builder::Source(b) => b.finish(),
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
    /// Builders with room for `cap` rows, for [`frames::provider_schema_with`] `extra`.
    fn with_columns(cap: usize, extra: &[&str]) -> Self {
        let schema = frames::provider_schema_with(extra);
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

    /// Pushes a text, whole-number, money or rate field written plainly straight into its
    /// column: true when done; false leaves it to [`ExportRecord::typed`] and
    /// [`TxFrame::cell`], which push the same value, or say what is wrong with it.
    // Always inlined, as `text` is: both run for every field of every row (12 a row), and as
    // calls their entry and exit were a fifth of their cost (the loads 0.4 G instructions
    // fewer at a million rows).
    #[inline(always)]
    fn plain_cell(&mut self, field: usize, text: &str) -> bool {
        let Some(out) = self.target[field] else {
            return false;
        };
        match (TRANSACTION_COLUMNS[field].kind, &mut self.frame.cols[out]) {
            (Kind::Text, Builder::Str(b)) => {
                b.append_value(text);
                true
            }
            (Kind::Text, Builder::Code(b)) => b.append_value(text).is_ok(),
            (Kind::Int, Builder::I64(b)) => match text.parse::<i64>() {
                Ok(i) => {
                    b.append_value(i);
                    true
                }
                Err(_) => false,
            },
            (Kind::Money | Kind::Rate, _) => self.plain_decimal(field, text),
            _ => false,
        }
    }

    /// Pushes a money or rate field written plainly (`-123.45`, no more decimals than its
    /// column holds) as its mantissa, without the `Decimal` detour: true when done. Anything
    /// else (false) goes through [`CellValue::parse_text`] and [`Builder::push`], which name
    /// what is wrong with it; what both read, they read as the same value.
    #[inline]
    fn plain_decimal(&mut self, field: usize, text: &str) -> bool {
        let Some(out) = self.target[field] else {
            return false;
        };
        let Builder::Dec(b, scale) = &mut self.frame.cols[out] else {
            return false;
        };
        let Some(m) = money::plain_mantissa(text.as_bytes(), b'.', *scale) else {
            return false;
        };
        b.append_value(m);
        if out == self.payment_amount {
            self.negative = m < 0;
        }
        true
    }

    /// Ends the current row: its source and the derived `row_kind`.
    fn end_row(&mut self, source: &str) -> Result<(), LoadError> {
        self.frame.cols[self.source]
            .push(CellRef::Text(source))
            .map_err(|p| p.at(source, "source"))?;
        self.push_kind();
        Ok(())
    }

    /// [`TxFrame::end_row`] for the source `prefix` followed by `line` (an export's
    /// `file:line`), which is never written out as text.
    fn end_row_at(&mut self, prefix: &str, line: u64) -> Result<(), LoadError> {
        let Builder::Source(b) = &mut self.frame.cols[self.source] else {
            unreachable!("the provider schema's source is packed")
        };
        if let Err(e) = b.append_numbered(prefix, line) {
            let source = format!("{prefix}{line}");
            let problem = format!("cannot be held: {e}");
            return Err(Problem {
                value: source.clone(),
                problem,
            }
            .at(&source, "source"));
        }
        self.push_kind();
        Ok(())
    }

    /// Pushes the row's `row_kind`, from the sign of its payment amount.
    fn push_kind(&mut self) {
        let kind = if self.negative {
            "cancellation"
        } else {
            "payment"
        };
        self.negative = false;
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
        self.end_row(source)
    }

    fn finish(self) -> Result<DataFrame, LoadError> {
        self.frame.finish("transactions")
    }

    /// Feeds only the fields `present` says the file has. Why: a hand export has about ten of
    /// the registry's columns, and pushing a null for each of the others on every row filled
    /// some sixteen columns of nulls (2 GB at 10M rows) that no rule reads; [`with_absent`]
    /// adds them to the whole frame instead, as constant columns that cost nothing.
    fn fields_present(mut self, present: impl Fn(usize) -> bool) -> Self {
        self.fields.retain(|&f| present(f));
        self
    }

    /// The frame of the columns fed (see [`TxFrame::fields_present`]), without the others.
    fn finish_fed(self) -> Result<DataFrame, LoadError> {
        let fed: Vec<usize> = self
            .fields
            .iter()
            .filter_map(|&f| self.target[f])
            .chain([self.source, self.row_kind])
            .collect();
        let cols = self
            .frame
            .cols
            .into_iter()
            .enumerate()
            .filter(|(i, _)| fed.contains(i))
            .map(|(_, b)| b.finish())
            .collect::<PolarsResult<Vec<_>>>();
        cols.and_then(DataFrame::new_infer_height)
            .map_err(|source| LoadError::Frame {
                what: "transactions",
                source,
            })
    }
}

/// `df` (made by [`TxFrame::finish_fed`]) with every column of [`frames::provider_schema`] it
/// lacks, in schema order: null, or false for a flag (a missing `dry_run` is a real payment),
/// as constant columns.
fn with_absent(mut df: DataFrame, extra: &[&str]) -> Result<DataFrame, LoadError> {
    let height = df.height();
    for (i, (name, dtype)) in frames::provider_schema_with(extra).iter().enumerate() {
        if df.column(name).is_ok() {
            continue;
        }
        let column = match dtype {
            DataType::Boolean => Column::new_scalar(name.clone(), Scalar::from(false), height),
            _ => Column::full_null(name.clone(), height, dtype),
        };
        df.insert_column(i, column)
            .map_err(|source| LoadError::Frame {
                what: "transactions",
                source,
            })?;
    }
    Ok(df)
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
    load_registry_export_with(path, window, zones, &[])
}

/// [`load_registry_export_in`] with the optional fee columns `extra` (see
/// [`load_snapshot_with`]).
pub fn load_registry_export_with(
    path: &Path,
    window: Option<Window>,
    zones: DateZones,
    extra: &[&'static str],
) -> Result<DataFrame, LoadError> {
    load_registry_export_split(path, window, zones, &Split::default(), extra)
}

/// [`load_registry_export`] with the chunking spelled out (tests force small chunks).
pub(crate) fn load_registry_export_split(
    path: &Path,
    window: Option<Window>,
    zones: DateZones,
    split: &Split,
    extra: &[&'static str],
) -> Result<DataFrame, LoadError> {
    if is_parquet(path) {
        let ctx = parquet_rows(path, window, zones, extra)?;
        let mut pieces = Vec::new();
        let (read, outside) = ctx.parquet(super::SINK_ROWS, &mut |df| {
            pieces.push(df);
            Ok(())
        })?;
        let df = match frames::stacked(pieces).map_err(|source| LoadError::Frame {
            what: "transactions",
            source,
        })? {
            Some(df) => with_absent(df, extra)?,
            None => with_absent(ctx.tx_frame(0).finish_fed()?, extra)?,
        };
        tracing::info!(file = %path.display(), rows_read = read, rows_loaded = df.height(), outside_window = outside, "loaded registry export (Parquet)");
        return Ok(df);
    }
    let (ctx, mut rdr, len) = ExportRows::open_csv(path, window, zones, extra)?;

    let (df, read, outside) = if split.parallel_for(len) {
        let start = rdr.position().byte();
        drop(rdr);
        match ctx.parallel(start, &split.for_file(len))? {
            Some(done) => done,
            // The file cannot be cut (or reading it failed): one reader says what happens.
            None => {
                return load_registry_export_split(path, window, zones, &Split::sequential(), extra)
            }
        }
    } else {
        let mut tx = TxFrame::with_columns(0, extra)
            .in_zones(zones)
            .fields_present(|f| ctx.index[f].is_some());
        let (read, outside) = ctx.rows(&mut rdr, &mut tx)?;
        (with_absent(tx.finish_fed()?, extra)?, read, outside)
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

/// What [`stream_registry_export`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportStream {
    /// Records read.
    pub read: u64,
    /// … of which outside the window, left out.
    pub outside: u64,
    /// Rows handed on.
    pub loaded: u64,
    /// Whether the file was read in parallel chunks.
    pub parallel: bool,
}

/// [`load_registry_export_with`], the rows handed to `sink` in pieces in file order instead of
/// stacked (memory: a few pieces, never the file). `parallel` false reads with one reader.
///
/// The same rows, sources and errors as [`load_registry_export_with`]. A file whose parallel
/// read fails after rows were handed on (it cannot be cut, say) is [`LoadError::NotInChunks`]:
/// the caller reads it again with `parallel` false, knowing `sink` saw some rows twice.
pub fn stream_registry_export(
    path: &Path,
    window: Option<Window>,
    zones: DateZones,
    extra: &[&'static str],
    parallel: bool,
    sink: &mut dyn super::RowSink,
) -> Result<ExportStream, LoadError> {
    let split = if parallel {
        Split::default()
    } else {
        Split::sequential()
    };
    stream_registry_export_split(path, window, zones, (&split, super::SINK_ROWS), extra, sink)
}

/// [`stream_registry_export`] with the chunking and the rows one reader gathers before it hands
/// them on spelled out (tests force small ones).
pub(crate) fn stream_registry_export_split(
    path: &Path,
    window: Option<Window>,
    zones: DateZones,
    (split, sink_rows): (&Split, usize),
    extra: &[&'static str],
    sink: &mut dyn super::RowSink,
) -> Result<ExportStream, LoadError> {
    if is_parquet(path) {
        let ctx = parquet_rows(path, window, zones, extra)?;
        let mut loaded = 0u64;
        let (read, outside) = ctx.parquet(sink_rows, &mut |df| {
            let df = with_absent(df, extra)?;
            loaded += df.height() as u64;
            sink.take(df).map_err(|message| LoadError::Sink {
                path: path.to_path_buf(),
                message,
            })
        })?;
        return Ok(ExportStream {
            read,
            outside,
            loaded,
            parallel: false,
        });
    }
    let (ctx, mut rdr, len) = ExportRows::open_csv(path, window, zones, extra)?;
    let mut loaded = 0u64;
    let mut hand_on = |df: DataFrame| -> Result<(), LoadError> {
        let df = with_absent(df, extra)?;
        loaded += df.height() as u64;
        sink.take(df).map_err(|message| LoadError::Sink {
            path: path.to_path_buf(),
            message,
        })
    };
    if split.parallel_for(len) {
        let start = rdr.position().byte();
        drop(rdr);
        match ctx.parallel_each(start, &split.for_file(len), &mut hand_on)? {
            Ok((read, outside)) => {
                csvsplit::note_parallel_read();
                return Ok(ExportStream {
                    read,
                    outside,
                    loaded,
                    parallel: true,
                });
            }
            Err(reason) if loaded > 0 => {
                return Err(LoadError::NotInChunks {
                    path: path.to_path_buf(),
                    reason,
                })
            }
            Err(_) => {
                return stream_registry_export_split(
                    path,
                    window,
                    zones,
                    (&Split::sequential(), sink_rows),
                    extra,
                    sink,
                )
            }
        }
    }
    let mut tx = ctx.tx_frame(0);
    let (mut read, mut outside) = (0, 0);
    loop {
        let (r, o, more) = ctx.rows_some(&mut rdr, &mut tx, sink_rows.max(1) as u64)?;
        read += r;
        outside += o;
        let full = std::mem::replace(&mut tx, ctx.tx_frame(0));
        hand_on(full.finish_fed()?)?;
        if !more {
            break;
        }
    }
    Ok(ExportStream {
        read,
        outside,
        loaded,
        parallel: false,
    })
}

fn open_file(path: &Path) -> Result<std::fs::File, LoadError> {
    std::fs::File::open(path).map_err(|e| FsError::new("open", path, e).into())
}

fn parquet_err(path: &Path, e: PolarsError) -> LoadError {
    LoadError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// A Parquet column as the text a CSV export would hold: dates and times as ISO text
/// (`2026-10-01 12:30:00`), numbers and decimals as written.
fn parquet_text(c: &Column) -> PolarsResult<Column> {
    match c.dtype() {
        DataType::Datetime(..) => c
            .as_materialized_series()
            .datetime()?
            .to_string("%Y-%m-%d %H:%M:%S")
            .map(|s| s.into_column()),
        _ => c.cast(&DataType::String),
    }
}

/// Whether `path` is a Parquet file (its first bytes say so, whatever its name).
fn is_parquet(path: &Path) -> bool {
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"PAR1")
}

/// The [`ExportRows`] of a Parquet export: its column names as the header.
fn parquet_rows<'a>(
    path: &'a Path,
    window: Option<Window>,
    zones: DateZones,
    extra: &[&'static str],
) -> Result<ExportRows<'a>, LoadError> {
    let schema = ParquetReader::new(open_file(path)?)
        .schema()
        .map_err(|e| parquet_err(path, e))?;
    let header: csv::ByteRecord = schema.iter_names().map(|n| n.as_bytes()).collect();
    ExportRows::new(path, &header, window, zones, extra)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
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

fn export_csv_err<T: LineAt>(path: &Path, rdr: &mut csv::Reader<T>, e: csv::Error) -> LoadError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        return LoadError::Fs(FsError::new(
            "read",
            path,
            std::io::Error::new(io.kind(), io.to_string()),
        ));
    }
    let line = e
        .position()
        .map_or(0, |p| rdr.get_mut().line_at(p.byte(), p.line()));
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
    /// The optional fee columns built.
    extra: Vec<&'static str>,
    /// The [`TRANSACTION_COLUMNS`] entry of the transfer date.
    transfer_date: usize,
}

impl<'a> ExportRows<'a> {
    /// The rows of an export with `header`.
    fn new(
        path: &'a Path,
        header: &csv::ByteRecord,
        window: Option<Window>,
        zones: DateZones,
        extra: &[&'static str],
    ) -> Result<Self, LoadError> {
        Ok(ExportRows {
            path,
            name: file_name(path),
            index: map_header(path, header)?,
            header_len: header.len(),
            window,
            zones,
            extra: extra.to_vec(),
            transfer_date: TRANSACTION_COLUMNS
                .iter()
                .position(|c| c.name == "transfer_date")
                .expect("registry has a transfer date"),
        })
    }

    /// The rows of the CSV export at `path`, its reader after the header, and its length.
    fn open_csv(
        path: &'a Path,
        window: Option<Window>,
        zones: DateZones,
        extra: &[&'static str],
    ) -> Result<(Self, csv::Reader<LineCounter<std::fs::File>>, u64), LoadError> {
        let file = open_file(path)?;
        let len = file.metadata().map_or(0, |m| m.len());
        let mut rdr = export_reader(true, LineCounter::new(file));
        let header = match rdr.byte_headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(export_csv_err(path, &mut rdr, e)),
        };
        Ok((Self::new(path, &header, window, zones, extra)?, rdr, len))
    }
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
            let mut tx = self.tx_frame(chunk.max_records());
            let (read, outside) = self.chunk_rows(&chunk, &mut tx)?;
            Ok::<_, LoadError>((tx.finish_fed()?, read, outside))
        });
        let parts = match parts {
            Ok(p) => p,
            Err(Stopped::Chunk(e)) => return Err(e),
            Err(Stopped::Split(e)) => {
                tracing::debug!(file = %path.display(), reason = %e, "registry export read by one reader");
                return Ok(None);
            }
        };
        let read = parts.iter().map(|p| p.1).sum();
        let outside = parts.iter().map(|p| p.2).sum();
        let df =
            frames::stacked(parts.into_iter().map(|p| p.0)).map_err(|source| LoadError::Frame {
                what: "transactions",
                source,
            })?;
        let df = match df {
            Some(df) => with_absent(df, &self.extra)?,
            None => TxFrame::with_columns(0, &self.extra).finish()?,
        };
        csvsplit::note_parallel_read();
        Ok(Some((df, read, outside)))
    }

    /// A transactions frame for this file's fields, room for `cap` rows.
    fn tx_frame(&self, cap: usize) -> TxFrame {
        TxFrame::with_columns(cap, &self.extra)
            .in_zones(self.zones)
            .fields_present(|f| self.index[f].is_some())
    }

    /// [`ExportRows::parallel`], each chunk's frame handed to `hand_on` in file order as it is
    /// parsed: (rows read, rows outside the window), or why the file must be read by one
    /// reader.
    fn parallel_each(
        &self,
        start: u64,
        split: &Split,
        hand_on: &mut dyn FnMut(DataFrame) -> Result<(), LoadError>,
    ) -> Result<Result<(u64, u64), String>, LoadError> {
        let path = self.path;
        let file = std::fs::File::open(path).map_err(|e| FsError::new("open", path, e))?;
        let splitter = match Splitter::new(file, start, b',', b'"', LineEnds::Lf, split, None) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let (mut read, mut outside) = (0u64, 0u64);
        let parsed = csvsplit::parse_chunks_each(
            splitter,
            split.threads,
            |chunk: Chunk| {
                let mut tx = self.tx_frame(chunk.max_records());
                let (r, o) = self.chunk_rows(&chunk, &mut tx)?;
                Ok::<_, LoadError>((tx.finish_fed()?, r, o))
            },
            |(df, r, o)| {
                read += r;
                outside += o;
                hand_on(df)
            },
        );
        match parsed {
            Ok(()) => Ok(Ok((read, outside))),
            Err(Stopped::Chunk(e)) => Err(e),
            Err(Stopped::Split(e)) => Ok(Err(e.to_string())),
        }
    }

    /// Reads the records of `chunk` into `tx`: (rows read, rows outside the window). A chunk
    /// without quotes is split by [`PlainRecords`], the others by the csv crate; both give the
    /// same records on the same lines.
    fn chunk_rows(&self, chunk: &Chunk, tx: &mut TxFrame) -> Result<(u64, u64), LoadError> {
        let Some(mut plain) = PlainRecords::of(chunk, b',', b'"') else {
            let mut rdr = export_reader(false, ChunkRead::new(chunk));
            return self.rows(&mut rdr, tx);
        };
        let mut record = PlainRecord::default();
        let prefix = format!("{}:", self.name);
        let (mut read, mut outside) = (0u64, 0u64);
        while let Some(line) = plain.next_into(&mut record) {
            self.check_field_count(record.field_count(), line)?;
            read += 1;
            if !self.record(&record, line, &prefix, tx)? {
                outside += 1;
            }
        }
        Ok((read, outside))
    }

    /// Reads every record left in `rdr` into `tx`: (rows read, rows outside the window).
    fn rows<T: LineAt>(
        &self,
        rdr: &mut csv::Reader<T>,
        tx: &mut TxFrame,
    ) -> Result<(u64, u64), LoadError> {
        let (read, outside, _) = self.rows_some(rdr, tx, u64::MAX)?;
        Ok((read, outside))
    }

    /// Reads records of `rdr` into `tx` until `max` rows are loaded or the file ends: (rows
    /// read, rows outside the window, whether it stopped before the end).
    fn rows_some<T: LineAt>(
        &self,
        rdr: &mut csv::Reader<T>,
        tx: &mut TxFrame,
        max: u64,
    ) -> Result<(u64, u64, bool), LoadError> {
        let mut record = csv::ByteRecord::new();
        let prefix = format!("{}:", self.name);
        let (mut read, mut outside) = (0u64, 0u64);
        while read - outside < max {
            let Some(line) = self.next_record(rdr, &mut record)? else {
                return Ok((read, outside, false));
            };
            read += 1;
            if !self.record(&record, line, &prefix, tx)? {
                outside += 1;
            }
        }
        Ok((read, outside, true))
    }

    /// Adds one record (its `line`, its source `prefix` and line) to `tx`; false when its
    /// transfer date is outside the window (left out).
    #[inline]
    fn record<F: Fields>(
        &self,
        record: &F,
        line: u64,
        prefix: &str,
        tx: &mut TxFrame,
    ) -> Result<bool, LoadError> {
        let rec = ExportRecord {
            rows: self,
            record,
            whole: std::str::from_utf8(record.as_slice()).ok(),
            line,
        };
        // The transfer date, parsed once for the window and the column.
        let mut transfer: Option<Option<NaiveDateTime>> = None;
        if let Some(w) = self.window {
            let parsed = rec
                .text(self.transfer_date)?
                .and_then(NaiveDateTime::parse_text);
            transfer = Some(parsed);
            if parsed.is_some_and(|d| !w.contains(self.zones.to_reporting(d).date())) {
                return Ok(false);
            }
        }
        for k in 0..tx.fields.len() {
            let field = tx.fields[k];
            let t = rec.text(field)?;
            if t.is_some_and(|t| tx.plain_cell(field, t)) {
                continue;
            }
            let cell = rec.typed(field, t, transfer)?;
            // The text as written, not the parsed value, so the user can find it.
            tx.cell(field, cell)
                .map_err(|p| rec.cell_error(field, t.unwrap_or_default(), p.problem))?;
        }
        tx.end_row_at(prefix, line)?;
        Ok(true)
    }

    /// Reads a registry export stored as Parquet (the same columns as the CSV, by name; each
    /// cell read as its text, so it means what the CSV's would), `slice_rows` rows at a time,
    /// each slice's frame handed to `hand_on`: (rows read, rows outside the window). A row's
    /// source is `<file>:<row>`, rows counted from 1.
    fn parquet(
        &self,
        slice_rows: usize,
        hand_on: &mut dyn FnMut(DataFrame) -> Result<(), LoadError>,
    ) -> Result<(u64, u64), LoadError> {
        let path = self.path;
        let rows = ParquetReader::new(open_file(path)?)
            .num_rows()
            .map_err(|e| parquet_err(path, e))?;
        let prefix = format!("{}:", self.name);
        let mut record = csv::ByteRecord::new();
        let (mut read, mut outside) = (0u64, 0u64);
        let mut offset = 0usize;
        while offset < rows {
            let df = ParquetReader::new(open_file(path)?)
                .with_slice(Some((offset, slice_rows.max(1))))
                .finish()
                .map_err(|e| parquet_err(path, e))?;
            if df.height() == 0 {
                break;
            }
            let cells = df
                .columns()
                .iter()
                .map(|c| Ok(parquet_text(c)?.str()?.clone()))
                .collect::<PolarsResult<Vec<StringChunked>>>()
                .map_err(|e| parquet_err(path, e))?;
            let mut tx = self.tx_frame(df.height());
            for r in 0..df.height() {
                record.clear();
                for c in &cells {
                    record.push_field(c.get(r).unwrap_or_default().as_bytes());
                }
                read += 1;
                if !self.record(&record, (offset + r + 1) as u64, &prefix, &mut tx)? {
                    outside += 1;
                }
            }
            hand_on(tx.finish_fed()?)?;
            offset += df.height();
        }
        Ok((read, outside))
    }

    /// Reads the next record into `record`: its line, or None at the end. A record with
    /// another field count than the header is an error.
    #[inline]
    fn next_record<T: LineAt>(
        &self,
        rdr: &mut csv::Reader<T>,
        record: &mut csv::ByteRecord,
    ) -> Result<Option<u64>, LoadError> {
        match rdr.read_byte_record(record) {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(e) => return Err(export_csv_err(self.path, rdr, e)),
        }
        let line = rdr.get_mut().line_at(
            record.position().map_or(0, |p| p.byte()),
            record.position().map_or(1, |p| p.line()),
        );
        self.check_field_count(record.len(), line)?;
        Ok(Some(line))
    }

    /// A record on `line` with another field count than the header is an error.
    fn check_field_count(&self, len: usize, line: u64) -> Result<(), LoadError> {
        if len == self.header_len {
            return Ok(());
        }
        Err(LoadError::Csv {
            path: self.path.to_path_buf(),
            line,
            detail: unequal_lengths(len as u64, self.header_len as u64),
        })
    }
}

/// One record of a registry export, on its line.
struct ExportRecord<'r, F> {
    rows: &'r ExportRows<'r>,
    record: &'r F,
    /// The record's text when it is all UTF-8, checked once rather than field by field.
    whole: Option<&'r str>,
    line: u64,
}

impl<'r, F: Fields> ExportRecord<'r, F> {
    /// The text of a [`TRANSACTION_COLUMNS`] field; None when the export has no such
    /// column or the cell is blank.
    // Always inlined: see `TxFrame::plain_cell`.
    #[inline(always)]
    fn text(&self, field: usize) -> Result<Option<&'r str>, LoadError> {
        let Some(i) = self.rows.index[field] else {
            return Ok(None);
        };
        let Some(r) = self.record.range(i) else {
            return Ok(None);
        };
        let t = match self.whole.and_then(|w| w.get(r.clone())) {
            Some(t) => t,
            None => {
                let raw = &self.record.as_slice()[r];
                std::str::from_utf8(raw).map_err(|_| {
                    let problem = "is not valid UTF-8 (export the file as UTF-8)".into();
                    self.cell_error(field, &String::from_utf8_lossy(raw), problem)
                })?
            }
        };
        // Most cells start with a visible ASCII character: not blank, without a trim.
        let blank = !t.as_bytes().first().is_some_and(u8::is_ascii_graphic) && t.trim().is_empty();
        Ok((!blank).then_some(t))
    }

    /// A field's text `t` as the value its column's kind holds. `transfer` is the transfer
    /// date when the window check has parsed it already.
    #[inline]
    fn typed(
        &self,
        field: usize,
        t: Option<&'r str>,
        transfer: Option<Option<NaiveDateTime>>,
    ) -> Result<CellRef<'r>, LoadError> {
        let col = &TRANSACTION_COLUMNS[field];
        let Some(t) = t else {
            if REGISTRY_REQUIRED.contains(&col.name) {
                return Err(self.cell_error(field, "", "is required but empty".into()));
            }
            return Ok(CellRef::Null);
        };
        let bad = |expected: &str| self.cell_error(field, t, format!("is not {expected}"));
        Ok(match col.kind {
            Kind::Text => CellRef::Text(t),
            Kind::Int => CellRef::Int(i64::parse_text(t).ok_or_else(|| bad(i64::EXPECTED))?),
            Kind::Money | Kind::Rate => {
                CellRef::Decimal(Decimal::parse_text(t).ok_or_else(|| bad(Decimal::EXPECTED))?)
            }
            Kind::DateTime => CellRef::DateTime(
                match transfer.filter(|_| field == self.rows.transfer_date) {
                    Some(parsed) => parsed,
                    None => NaiveDateTime::parse_text(t),
                }
                .ok_or_else(|| bad(NaiveDateTime::EXPECTED))?,
            ),
            Kind::Flag => CellRef::Flag(bool::parse_text(t).ok_or_else(|| bad(bool::EXPECTED))?),
        })
    }

    /// A value of this record that cannot be taken, named by `file:line` and column.
    #[cold]
    fn cell_error(&self, field: usize, value: &str, problem: String) -> LoadError {
        LoadError::Cell {
            at: format!("{}:{}", self.rows.path.display(), self.line),
            column: TRANSACTION_COLUMNS[field].label().into(),
            value: value.to_owned(),
            problem,
        }
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

/// The text under a registry export's csv reader, which knows the line a record starts on.
trait LineAt: Read {
    /// 1-based line of a record starting at `byte`, where the csv reader's line count was
    /// `csv_line`; calls must come in increasing order.
    fn line_at(&mut self, byte: u64, csv_line: u64) -> u64;
}

impl<R: Read> LineAt for LineCounter<R> {
    fn line_at(&mut self, byte: u64, _csv_line: u64) -> u64 {
        LineCounter::line_at(self, byte)
    }
}

/// A chunk's text (in memory) under a csv reader: its lines are counted from its bytes when
/// asked ([`csvsplit::ChunkLines`]), as the [`LineCounter`] would count them, without
/// looking for line ends a line at a time as the reader pulls the bytes.
struct ChunkRead<'a> {
    bytes: &'a [u8],
    read: usize,
    lines: csvsplit::ChunkLines<'a>,
}

impl<'a> ChunkRead<'a> {
    fn new(chunk: &'a Chunk) -> Self {
        ChunkRead {
            bytes: &chunk.bytes,
            read: 0,
            lines: csvsplit::ChunkLines::new(chunk, LineEnds::Lf),
        }
    }
}

impl Read for ChunkRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.bytes[self.read..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.read += n;
        Ok(n)
    }
}

impl LineAt for ChunkRead<'_> {
    fn line_at(&mut self, byte: u64, csv_line: u64) -> u64 {
        self.lines.line_at(byte, csv_line)
    }
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
        let bytes = &buf[..n];
        // Stretches without a line end are passed over whole: a match on every byte, as this
        // once did, was a few percent of a registry export's load.
        let mut at = 0;
        while at < n {
            let Some(k) = bytes[at..].iter().position(|&b| b == b'\n' || b == b'\r') else {
                self.run_start = None;
                self.offset += (n - at) as u64;
                break;
            };
            if k > 0 {
                self.run_start = None;
            }
            let pos = self.offset + k as u64;
            let start = *self.run_start.get_or_insert(pos);
            if bytes[at + k] == b'\n' {
                self.pending.push_back(start);
            }
            self.offset = pos + 1;
            at += k + 1;
        }
        Ok(n)
    }
}

#[cfg(all(test, feature = "sandbox"))]
mod tests;
