//! Open items that carry forward between runs.
//!
//! A discrepancy found tonight is usually still there tomorrow; finance needs to know how old
//! it is and when it went away. Each merchant's findings are kept by their stable `key` in
//! `<data_dir>/state/<merchant>/open_items.json`.
//!
//! How an item ends (the README's "Across nights" says the same for finance):
//! - it is resolved only by a run whose window holds its *governing date*
//!   ([`GoverningDate`], `reconcile.governing_date`): that run saw both sides of the pair. A
//!   run over other dates (a sliding nightly window that has moved on) says nothing about it.
//!   An item without any date cannot be placed, so any run that no longer finds it resolves it;
//! - when such a run finds the same subject (Xsolla transaction, ledger order or row) under
//!   another class, the old item is resolved as `superseded` naming the new key, and the new
//!   item lists it in `supersedes`: the finding changed, it did not go away;
//! - a rerun of an old range (its run date before the latest run recorded) confirms and may
//!   resolve items, but a resolution is never dated before the item's `last_seen`, and
//!   `last_seen` never moves back, so ages stay monotone.

use crate::reconcile::GoverningDate;

use crate::domain::fsutil::{self, FsError};
use crate::domain::window::Window;
use chrono::NaiveDate;
use polars::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Version of the state file layout; bumped when it changes incompatibly. Version 1 files
/// (no resolution reasons, no run lists) are read as version 2 with the missing fields empty
/// (a resolution then reads as `not_found`) and written back as version 2.
pub const STATE_SCHEMA: u32 = 2;

/// Runs listed per item in `seen_by` (the newest kept; `first_run_id` keeps the first).
pub const MAX_RUNS_PER_ITEM: usize = 10;

/// Resolved items kept as history (the newest by resolution date); older ones are dropped so
/// the file cannot grow without bound.
pub const MAX_RESOLVED: usize = 100_000;

/// A state store problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The file exists but cannot be trusted; it is never silently reset.
    #[error(
        "state file {path} is damaged: {problem}; fix or move it away (it is never reset silently)"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The merchant name cannot be used as a folder name.
    #[error("merchant name {0:?} cannot be used as a folder name")]
    BadMerchant(String),
    /// The discrepancies frame lacks a column or has a wrong type.
    #[error("discrepancies frame: {0}")]
    Frame(#[from] PolarsError),
    /// A discrepancy row cannot be tracked.
    #[error("discrepancies row {row}: {problem}")]
    BadRow {
        /// 0-based row.
        row: usize,
        /// What is wrong.
        problem: String,
    },
}

/// Whether an item is still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ItemStatus {
    /// Seen in the latest run that covered it.
    Open,
    /// Absent from a run that re-checked its governing date.
    Resolved {
        /// Date of that run, or the item's `last_seen` when a rerun of an old range resolved
        /// it (never earlier than the last sighting).
        on: NaiveDate,
        /// Id of that run.
        run_id: String,
        /// Why it ended (`not_found` in files written before reasons were kept).
        #[serde(default)]
        reason: Resolution,
        /// With `superseded`: the key of the finding that took its place.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        superseded_by: Option<String>,
    },
}

/// Why an item was resolved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// A run that re-checked its governing date no longer finds it.
    #[default]
    NotFound,
    /// That run finds the same subject under another class (`superseded_by`).
    Superseded,
}

/// One finding followed across runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenItem {
    /// Stable id of the finding (the discrepancy's `key`).
    pub key: String,
    /// Discrepancy class.
    pub class: String,
    /// First run date it was seen.
    pub first_seen: NaiveDate,
    /// Latest run date it was seen.
    pub last_seen: NaiveDate,
    /// Run that first saw it.
    pub first_run_id: String,
    /// Run that last saw it.
    pub last_run_id: String,
    /// Currency of the difference.
    pub currency: String,
    /// Latest difference (ledger − Xsolla).
    #[serde(with = "rust_decimal::serde::str")]
    pub difference: Decimal,
    /// Xsolla transaction id, when the finding has one.
    pub transaction_id: Option<i64>,
    /// Merchant order id, when the finding has one.
    pub order_id: Option<String>,
    /// Provider-side date: with `ledger_date`, decides which runs re-check the item.
    pub provider_date: Option<NaiveDate>,
    /// Ledger-side date.
    pub ledger_date: Option<NaiveDate>,
    /// Open or resolved.
    pub status: ItemStatus,
    /// Keys of the items this one replaced when the same subject changed class.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supersedes: Vec<String>,
    /// Ids of the runs that saw it, oldest first, the newest [`MAX_RUNS_PER_ITEM`] kept.
    #[serde(default)]
    pub seen_by: Vec<String>,
    /// Report id of the run that first saw it: a rerun over the same inputs (same report id)
    /// lists it as new again, so its reports stay byte-identical; a run over other inputs
    /// does not. `None` in files written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_report: Option<String>,
    /// Report id of the run that resolved it (the "resolved since the last run" list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_report: Option<String>,
}

impl OpenItem {
    /// The date that decides which run judges this item.
    pub fn governing_date(&self, governing: GoverningDate) -> Option<NaiveDate> {
        governing.of(self.provider_date, self.ledger_date)
    }

    /// Whether a run over `checked` judges this item: its window holds the governing date.
    /// An item without dates cannot be placed, so every run counts as covering it.
    fn covered_by(&self, checked: Window, governing: GoverningDate) -> bool {
        self.governing_date(governing)
            .is_none_or(|d| checked.contains(d))
    }

    /// What the item is about: its Xsolla transaction, its order id, its ledger row key. Two
    /// findings sharing one of these are about the same thing.
    fn subjects(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(t) = self.transaction_id {
            out.push(format!("tx:{t}"));
        }
        if let Some(o) = self.order_id.as_deref().filter(|o| !o.is_empty()) {
            out.push(format!("order:{o}"));
        }
        // `<class>:row:<…>:<payment|cancellation>`: the ledger row key.
        if let Some((_, body)) = self.key.split_once(':') {
            if body.starts_with("row:") {
                let row = body
                    .strip_suffix(":payment")
                    .or_else(|| body.strip_suffix(":cancellation"))
                    .unwrap_or(body);
                out.push(row.to_owned());
            }
        }
        out
    }

    /// Records that run `run_id` saw it.
    fn seen_by_run(&mut self, run_id: &str) {
        if self.seen_by.last().map(String::as_str) != Some(run_id) {
            self.seen_by.push(run_id.to_owned());
        }
        let extra = self.seen_by.len().saturating_sub(MAX_RUNS_PER_ITEM);
        self.seen_by.drain(..extra);
    }

    /// Whether it is still open.
    pub fn is_open(&self) -> bool {
        self.status == ItemStatus::Open
    }
}

/// What one run changed; each list is sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateUpdate {
    /// Keys seen for the first time (or again after being resolved).
    pub new: Vec<String>,
    /// Keys open before and seen again.
    pub still_open: Vec<String>,
    /// Keys resolved by this run.
    pub resolved: Vec<String>,
}

/// A merchant's tracked findings, by key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenItems {
    merchant: String,
    items: BTreeMap<String, OpenItem>,
    runs: RunLog,
}

/// The runs recorded in the store, to tell a rerun of an old range from a new night.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunLog {
    /// The run that updated the store last.
    pub last_run_id: Option<String>,
    /// The latest run date recorded (a run dated before it is a rerun of an old range).
    pub latest_run_date: Option<NaiveDate>,
    /// The digest of the inputs (Xsolla's responses, the ledger, the settings, the decision
    /// log) of the run that updated the store last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inputs: Option<String>,
    /// The report id of that run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_report: Option<String>,
    /// The report id the store stood at before the first of the latest runs over
    /// `last_inputs` (none before the first run): what their report id builds on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_base: Option<String>,
}

impl RunLog {
    /// The report a run over inputs digested as `inputs` builds on, so its report id says
    /// what it reports: a rerun over the latest run's inputs builds on what that run built on
    /// (the same report again: same sections, no second mail); other inputs build on the
    /// latest report. Inputs that return to an earlier state after a different run are thus
    /// another report, whose sections are measured from the run before it and which is
    /// mailed, since what came back or went away again is news.
    pub fn report_base(&self, inputs: &str) -> Option<&str> {
        if self.last_inputs.as_deref() == Some(inputs) {
            self.report_base.as_deref()
        } else {
            self.last_report.as_deref()
        }
    }

    /// Records a run over `inputs` that wrote report `report` (its id built on
    /// [`Self::report_base`]).
    pub fn record_report(&mut self, inputs: &str, report: &str) {
        self.report_base = self.report_base(inputs).map(str::to_owned);
        self.last_inputs = Some(inputs.to_owned());
        self.last_report = Some(report.to_owned());
    }
}

/// One run as the store records it.
#[derive(Debug, Clone, Copy)]
pub struct RunRef<'a> {
    /// The run id.
    pub id: &'a str,
    /// Its run date (the date items are seen and resolved on).
    pub date: NaiveDate,
    /// The window it checked.
    pub window: Window,
    /// Which side's date decides whether it judges an item.
    pub governing: GoverningDate,
}

/// The file's layout.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    schema: u32,
    merchant: String,
    #[serde(default)]
    runs: RunLog,
    items: BTreeMap<String, OpenItem>,
}

/// Path of a merchant's state file.
pub fn state_path(data_dir: &Path, merchant: &str) -> Result<PathBuf, StateError> {
    let bad =
        merchant.is_empty() || merchant.starts_with('.') || merchant.contains(['/', '\\', '\0']);
    if bad {
        return Err(StateError::BadMerchant(merchant.to_owned()));
    }
    Ok(data_dir
        .join("state")
        .join(merchant)
        .join("open_items.json"))
}

fn date_from_days(days: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
        + chrono::Duration::days(i64::from(days))
}

fn days_from_date(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")).num_days() as i32
}

impl OpenItems {
    /// An empty store for `merchant`.
    pub fn new(merchant: &str) -> Self {
        OpenItems {
            merchant: merchant.to_owned(),
            items: BTreeMap::new(),
            runs: RunLog::default(),
        }
    }

    /// Loads a merchant's items; a missing file is an empty store, a damaged one an error.
    pub fn load(data_dir: &Path, merchant: &str) -> Result<Self, StateError> {
        let path = state_path(data_dir, merchant)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(OpenItems::new(merchant))
            }
            Err(e) => return Err(FsError::new("read", &path, e).into()),
        };
        let damaged = |problem: String| StateError::Damaged {
            path: path.clone(),
            problem,
        };
        let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
        // Version 1 lacks only fields that default (see STATE_SCHEMA).
        if file.schema != STATE_SCHEMA && file.schema != 1 {
            return Err(damaged(format!(
                "layout version {} (this build reads {STATE_SCHEMA})",
                file.schema
            )));
        }
        if file.merchant != merchant {
            return Err(damaged(format!(
                "it belongs to merchant {:?}, not {merchant:?}",
                file.merchant
            )));
        }
        if let Some((k, item)) = file.items.iter().find(|(k, i)| **k != i.key) {
            return Err(damaged(format!("entry {k:?} holds item {:?}", item.key)));
        }
        Ok(OpenItems {
            merchant: file.merchant,
            items: file.items,
            runs: file.runs,
        })
    }

    /// Writes the store atomically; the same items always give the same bytes.
    pub fn save(&self, data_dir: &Path, merchant: &str) -> Result<(), StateError> {
        let path = state_path(data_dir, merchant)?;
        let file = StateFile {
            schema: STATE_SCHEMA,
            merchant: merchant.to_owned(),
            runs: self.runs.clone(),
            items: self.items.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).expect("state serializes");
        bytes.push(b'\n');
        fsutil::write_atomic(&path, &bytes)?;
        Ok(())
    }

    /// An item by key, open or resolved.
    pub fn get(&self, key: &str) -> Option<&OpenItem> {
        self.items.get(key)
    }

    /// All items, by key.
    pub fn items(&self) -> impl Iterator<Item = &OpenItem> {
        self.items.values()
    }

    /// Number of open items.
    pub fn open_count(&self) -> usize {
        self.items.values().filter(|i| i.is_open()).count()
    }

    /// The runs recorded so far.
    pub fn runs(&self) -> &RunLog {
        &self.runs
    }

    /// Records which report the latest run wrote from which inputs (see
    /// [`RunLog::report_base`]); saved with the items.
    pub fn record_report(&mut self, inputs: &str, report: &str) {
        self.runs.record_report(inputs, report);
    }

    /// Records one run's findings: `discrepancies` (schema [`crate::domain::frames::discrepancy_schema`])
    /// found by `run`. Open items it does not find are resolved when it judges them (see the
    /// module doc): superseded when it finds their subject under a new class, else not found.
    pub fn update(
        &mut self,
        discrepancies: &DataFrame,
        run: RunRef<'_>,
    ) -> Result<StateUpdate, StateError> {
        self.update_for_report(discrepancies, run, run.id)
    }

    /// [`Self::update`] recording `report_id` as the report that first saw a new item and
    /// that resolved an item (what "new" and "resolved since the last run" are measured by).
    pub fn update_for_report(
        &mut self,
        discrepancies: &DataFrame,
        run: RunRef<'_>,
        report_id: &str,
    ) -> Result<StateUpdate, StateError> {
        let rows = read_rows(discrepancies)?;
        if self.runs.latest_run_date.is_some_and(|d| run.date < d) {
            tracing::info!(run_id = run.id, run_date = %run.date, window = %run.window,
                "a rerun of an old range: its resolutions are dated no earlier than each item's last sighting");
        }
        let mut out = StateUpdate::default();
        let mut seen = std::collections::HashSet::new();
        for r in rows {
            if !seen.insert(r.key.clone()) {
                tracing::warn!(key = %r.key, "two discrepancies share a key; tracking the first");
                continue;
            }
            self.record(r, run, report_id, &mut out);
        }
        self.resolve_unseen(&seen, run, &mut out);
        for key in &out.resolved {
            if let Some(item) = self.items.get_mut(key) {
                item.resolved_report = Some(report_id.to_owned());
            }
        }
        self.runs.last_run_id = Some(run.id.to_owned());
        self.runs.latest_run_date = self.runs.latest_run_date.max(Some(run.date));
        self.prune_resolved(MAX_RESOLVED);
        out.new.sort();
        out.still_open.sort();
        out.resolved.sort();
        Ok(out)
    }

    /// Records one finding of `run`: an open item seen again, or a new one.
    fn record(&mut self, r: Row, run: RunRef<'_>, report_id: &str, out: &mut StateUpdate) {
        match self.items.get_mut(&r.key) {
            Some(item) if item.is_open() => {
                // A rerun of an old range confirms the item without moving `last_seen` back.
                item.last_seen = item.last_seen.max(run.date);
                item.last_run_id = run.id.to_owned();
                item.seen_by_run(run.id);
                item.class = r.class;
                item.currency = r.currency;
                item.difference = r.difference;
                item.transaction_id = r.transaction_id;
                item.order_id = r.order_id;
                item.provider_date = r.provider_date;
                item.ledger_date = r.ledger_date;
                out.still_open.push(r.key);
            }
            previous => {
                if previous.is_some() {
                    // Came back after being resolved: a new occurrence, aged from this run.
                    tracing::info!(key = %r.key, "a resolved discrepancy is back");
                }
                let item = OpenItem {
                    key: r.key.clone(),
                    class: r.class,
                    first_seen: run.date,
                    last_seen: run.date,
                    first_run_id: run.id.to_owned(),
                    last_run_id: run.id.to_owned(),
                    currency: r.currency,
                    difference: r.difference,
                    transaction_id: r.transaction_id,
                    order_id: r.order_id,
                    provider_date: r.provider_date,
                    ledger_date: r.ledger_date,
                    status: ItemStatus::Open,
                    supersedes: Vec::new(),
                    seen_by: vec![run.id.to_owned()],
                    first_report: Some(report_id.to_owned()),
                    resolved_report: None,
                };
                self.items.insert(r.key.clone(), item);
                out.new.push(r.key);
            }
        }
    }

    /// Resolves the open items `run` judges and did not find (`seen` holds what it found):
    /// superseded by a new finding of the same subject under another class, else not found.
    fn resolve_unseen(
        &mut self,
        seen: &std::collections::HashSet<String>,
        run: RunRef<'_>,
        out: &mut StateUpdate,
    ) {
        // Subject → the new findings about it, in key order (`out.new` is not sorted yet).
        let mut new_about: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for key in &out.new {
            let item = &self.items[key];
            for s in item.subjects() {
                let v = new_about.entry(s).or_default();
                v.push((key.clone(), item.class.clone()));
                v.sort();
            }
        }
        let ending: Vec<(String, Option<String>)> = self
            .items
            .values()
            .filter(|i| i.is_open() && !seen.contains(&i.key))
            .filter(|i| i.covered_by(run.window, run.governing))
            .map(|i| {
                let by = i.subjects().iter().find_map(|s| {
                    new_about
                        .get(s)?
                        .iter()
                        .find(|(_, class)| *class != i.class)
                        .map(|(k, _)| k.clone())
                });
                (i.key.clone(), by)
            })
            .collect();
        for (key, by) in ending {
            if let Some(new_key) = &by {
                tracing::info!(old = %key, new = %new_key, "a finding changed class");
                let new = self.items.get_mut(new_key).expect("a new item");
                new.supersedes.push(key.clone());
            }
            let item = self.items.get_mut(&key).expect("an open item");
            item.status = ItemStatus::Resolved {
                on: run.date.max(item.last_seen),
                run_id: run.id.to_owned(),
                reason: match by {
                    Some(_) => Resolution::Superseded,
                    None => Resolution::NotFound,
                },
                superseded_by: by,
            };
            out.resolved.push(key);
        }
    }

    /// Drops the oldest resolved items beyond `keep`.
    fn prune_resolved(&mut self, keep: usize) {
        let mut resolved: Vec<(NaiveDate, String)> = self
            .items
            .values()
            .filter_map(|i| match &i.status {
                ItemStatus::Resolved { on, .. } => Some((*on, i.key.clone())),
                ItemStatus::Open => None,
            })
            .collect();
        if resolved.len() <= keep {
            return;
        }
        // Newest first; ties by key so the choice is deterministic.
        resolved.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (_, key) in resolved.drain(keep..) {
            self.items.remove(&key);
        }
    }

    /// Days since the item was first seen: up to `today` while open, up to its resolution once
    /// resolved. `None` for an unknown key.
    pub fn age_days(&self, key: &str, today: NaiveDate) -> Option<i64> {
        let item = self.items.get(key)?;
        let end = match &item.status {
            ItemStatus::Open => today,
            ItemStatus::Resolved { on, .. } => *on,
        };
        // A rerun of an old range may age an item first seen after its run date: 0, not < 0.
        Some((end - item.first_seen).num_days().max(0))
    }

    /// `discrepancies` with `first_seen` (date) and `age_days` (i64) appended. A finding the
    /// store does not know yet is new today (age 0).
    pub fn with_age(&self, discrepancies: &DataFrame, today: NaiveDate) -> PolarsResult<DataFrame> {
        let keys = discrepancies.column("key")?.str()?;
        let mut first: Vec<Option<i32>> = Vec::with_capacity(keys.len());
        let mut age: Vec<Option<i64>> = Vec::with_capacity(keys.len());
        for key in keys.iter() {
            let item = key.and_then(|k| self.items.get(k));
            let seen = item.map_or(today, |i| i.first_seen);
            let days = key.map(|k| self.age_days(k, today).unwrap_or(0));
            first.push(key.map(|_| days_from_date(seen)));
            age.push(days);
        }
        let first = Int32Chunked::from_iter_options("first_seen".into(), first.into_iter())
            .into_date()
            .into_column();
        let age = Int64Chunked::from_iter_options("age_days".into(), age.into_iter()).into_column();
        discrepancies.hstack(&[first, age])
    }
}

/// The fields of a discrepancy row the store keeps.
struct Row {
    key: String,
    class: String,
    currency: String,
    difference: Decimal,
    transaction_id: Option<i64>,
    order_id: Option<String>,
    provider_date: Option<NaiveDate>,
    ledger_date: Option<NaiveDate>,
}

fn read_rows(df: &DataFrame) -> Result<Vec<Row>, StateError> {
    let key = df.column("key")?.str()?;
    let class = df.column("class")?.str()?;
    let currency = df.column("currency")?.str()?;
    let difference = df.column("difference")?.decimal()?;
    let scale = difference.scale() as u32;
    let transaction_id = df.column("transaction_id")?.i64()?;
    let order_id = df.column("order_id")?.str()?;
    let provider_date = df.column("provider_date")?.date()?.physical();
    let ledger_date = df.column("ledger_date")?.date()?.physical();
    let mut out = Vec::with_capacity(df.height());
    for row in 0..df.height() {
        let bad = |problem: &str| StateError::BadRow {
            row,
            problem: problem.to_owned(),
        };
        let key = key.get(row).ok_or_else(|| bad("key is null"))?;
        // A finding without a difference (e.g. a missing payout) tracks zero.
        out.push(Row {
            key: key.to_owned(),
            class: class.get(row).unwrap_or_default().to_owned(),
            currency: currency.get(row).unwrap_or_default().to_owned(),
            difference: match difference.physical().get(row) {
                None => Decimal::ZERO,
                Some(m) => Decimal::try_from_i128_with_scale(m, scale)
                    .map_err(|_| bad("difference does not fit a decimal"))?
                    .normalize(),
            },
            transaction_id: transaction_id.get(row),
            order_id: order_id.get(row).map(str::to_owned),
            provider_date: provider_date.get(row).map(date_from_days),
            ledger_date: ledger_date.get(row).map(date_from_days),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
