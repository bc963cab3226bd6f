//! What the finance team decided about open items: accepted, snoozed, reopened, annotated.
//!
//! Decisions are events, appended to one audit log per merchant,
//! `<data_dir>/state/<merchant>/decisions.jsonl` (JSON Lines: time, who, what, why, the state
//! before). The state of an item is never stored: it is the fold of the runs (the open-items
//! store) and of this log, so nobody edits a state by hand and every state has its history.
//!
//! Each line carries the hash of the line before it and its own hash (SHA-256 of the line
//! with `hash` empty), so an edited, removed or reordered line breaks the chain at a line
//! number that [`verify_file`] names. It detects accidents and casual edits, not a forger
//! who recomputes every hash after the edited line.
//!
//! An accepted item that changes is open again, and says why: its difference is no longer
//! the one accepted, or the same subject came back under another class (a new key that
//! supersedes the accepted one). A snooze ends on its `until` date, as of the run's date.

use crate::domain::fsutil::{self, FsError};
use crate::reconcile::open_items::{state_path, ItemStatus, OpenItem, OpenItems, StateError};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The log's file name, next to `open_items.json`.
pub const LOG_FILE: &str = "decisions.jsonl";

/// The `prev` of the first line.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Longest reason or note kept (a paragraph, not a document).
pub const MAX_TEXT_CHARS: usize = 2_000;

/// A decision log problem, naming the file (and the line).
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    /// The state folder cannot be named.
    #[error(transparent)]
    State(#[from] StateError),
    /// Reading or writing failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A line is not what was written: edited, removed, reordered, or not a log line.
    #[error("decision log {path} line {line}: {problem}")]
    Tampered {
        /// The log.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
}

/// What a decision does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Explained and accepted: left out of the mail's counts until it changes.
    Accept,
    /// Put aside until a date.
    Snooze,
    /// Open again.
    Reopen,
    /// A note only; the state stays.
    Note,
}

impl Action {
    /// The word used in the spreadsheet's `decision` column and the log.
    pub fn word(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Snooze => "snooze",
            Action::Reopen => "reopen",
            Action::Note => "note",
        }
    }

    /// Parses a `decision` cell (`accept`, `snooze`, `reopen`, any case).
    pub fn parse(s: &str) -> Option<Action> {
        match s.trim().to_ascii_lowercase().as_str() {
            "accept" => Some(Action::Accept),
            "snooze" => Some(Action::Snooze),
            "reopen" => Some(Action::Reopen),
            "note" => Some(Action::Note),
            _ => None,
        }
    }
}

/// Where an item stands for the finance team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// To be worked on.
    Open,
    /// Explained and accepted.
    Accepted,
    /// Put aside until a date.
    Snoozed,
    /// Gone (see the open-items store).
    Resolved,
}

impl ItemState {
    /// The lower-case word (`open`, `accepted`, …).
    pub fn word(self) -> &'static str {
        match self {
            ItemState::Open => "open",
            ItemState::Accepted => "accepted",
            ItemState::Snoozed => "snoozed",
            ItemState::Resolved => "resolved",
        }
    }

    /// Parses `open|accepted|snoozed|resolved`.
    pub fn parse(s: &str) -> Option<ItemState> {
        [
            ItemState::Open,
            ItemState::Accepted,
            ItemState::Snoozed,
            ItemState::Resolved,
        ]
        .into_iter()
        .find(|st| st.word() == s.trim().to_ascii_lowercase())
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLine {
    /// When it was decided (the wall clock: this is a log, not a report).
    pub time: DateTime<Utc>,
    /// Who decided (`--by`, else `$USER`/`$LOGNAME`, else `unknown`).
    pub by: String,
    /// The item's key.
    pub key: String,
    /// What was decided.
    pub action: Action,
    /// Why (the reason, or the note's text).
    pub why: String,
    /// With `snooze`: the day it comes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    /// The item's state before.
    pub previous: ItemState,
    /// The item's class when decided.
    pub class: String,
    /// Its currency.
    pub currency: String,
    /// Its difference when decided (an accepted item whose difference changes is reopened).
    #[serde(with = "rust_decimal::serde::str")]
    pub difference: Decimal,
    /// Where the decision came from: `cli`, or `import <file> <sheet> row <n>`.
    pub source: String,
    /// Hash of the line before (zeros for the first).
    pub prev: String,
    /// SHA-256 of this line with `hash` empty.
    pub hash: String,
}

impl LogLine {
    /// The hash this line should carry.
    fn computed_hash(&self) -> String {
        let mut bare = self.clone();
        bare.hash = String::new();
        let bytes = serde_json::to_vec(&bare).expect("a log line serializes");
        hex::encode(Sha256::digest(&bytes))
    }
}

/// Path of a merchant's decision log.
pub fn log_path(data_dir: &Path, merchant: &str) -> Result<PathBuf, StateError> {
    let state = state_path(data_dir, merchant)?;
    Ok(state.with_file_name(LOG_FILE))
}

/// A merchant's decision log, read and verified.
#[derive(Debug, Clone, Default)]
pub struct AuditLog {
    path: PathBuf,
    lines: Vec<LogLine>,
}

/// Reads and verifies the log at `path` (missing: empty); names the first broken line.
pub fn verify_file(path: &Path) -> Result<Vec<LogLine>, DecisionError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FsError::new("read", path, e).into()),
    };
    let mut out: Vec<LogLine> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let tampered = |problem: String| DecisionError::Tampered {
            path: path.to_path_buf(),
            line: i + 1,
            problem,
        };
        let line: LogLine = serde_json::from_str(raw)
            .map_err(|e| tampered(format!("not a decision log line: {e}")))?;
        let want_prev = out.last().map_or(GENESIS, |l| l.hash.as_str());
        if line.prev != want_prev {
            return Err(tampered(format!(
                "its `prev` {} is not the hash of the line before ({want_prev}): a line was removed, added or reordered",
                line.prev
            )));
        }
        if line.computed_hash() != line.hash {
            return Err(tampered(
                "its content does not match its hash: the line was edited".to_owned(),
            ));
        }
        out.push(line);
    }
    Ok(out)
}

impl AuditLog {
    /// Loads a merchant's log, verified (a broken chain is an error naming the line).
    pub fn load(data_dir: &Path, merchant: &str) -> Result<AuditLog, DecisionError> {
        let path = log_path(data_dir, merchant)?;
        let lines = verify_file(&path)?;
        Ok(AuditLog { path, lines })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lines, oldest first.
    pub fn lines(&self) -> &[LogLine] {
        &self.lines
    }

    /// The hash of the last line: what the decisions so far amount to (the run's report id
    /// takes it in, so a report after a decision is a different report).
    pub fn head(&self) -> Option<&str> {
        self.lines.last().map(|l| l.hash.as_str())
    }

    /// Adds a line in memory only, chained: checking a batch of decisions against the ones
    /// before it.
    pub fn stage(&mut self, mut line: LogLine) {
        line.prev = self.head().unwrap_or(GENESIS).to_owned();
        line.hash = line.computed_hash();
        self.lines.push(line);
    }

    /// Appends decisions, chained, and rewrites the file atomically.
    pub fn append(&mut self, new: Vec<LogLine>) -> Result<(), DecisionError> {
        for line in new {
            self.stage(line);
        }
        let mut bytes = Vec::new();
        for l in &self.lines {
            bytes.extend(serde_json::to_vec(l).expect("a log line serializes"));
            bytes.push(b'\n');
        }
        fsutil::write_atomic(&self.path, &bytes)?;
        Ok(())
    }

    /// The fold: where each key stands after every decision.
    pub fn decisions(&self) -> Decisions {
        let mut by_key: BTreeMap<String, KeyDecisions> = BTreeMap::new();
        for l in &self.lines {
            let k = by_key.entry(l.key.clone()).or_default();
            match l.action {
                Action::Accept | Action::Snooze => {
                    k.active = Some(l.clone());
                    k.reopened = None;
                }
                Action::Reopen => {
                    k.active = None;
                    k.reopened = Some(l.clone());
                }
                Action::Note => k.note = Some(l.clone()),
            }
        }
        Decisions { by_key }
    }
}

/// The decisions in force for one key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyDecisions {
    /// The accept or snooze in force.
    pub active: Option<LogLine>,
    /// The reopen that ended the last one.
    pub reopened: Option<LogLine>,
    /// The latest note.
    pub note: Option<LogLine>,
}

/// Every key's decisions in force (the fold of the log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    by_key: BTreeMap<String, KeyDecisions>,
}

/// What the finance team sees about an item: its state, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The state.
    pub state: ItemState,
    /// With `snoozed`: the day it comes back.
    pub until: Option<NaiveDate>,
    /// Who decided it, with the reason (accepted/snoozed), or why it is open again.
    pub why: Option<String>,
    /// The latest note.
    pub note: Option<String>,
}

impl Mark {
    /// One line for a `status_note` cell or the CLI: the reason, then the note.
    pub fn text(&self) -> String {
        match (&self.why, &self.note) {
            (Some(w), Some(n)) => format!("{w}; note: {n}"),
            (Some(w), None) => w.clone(),
            (None, Some(n)) => format!("note: {n}"),
            (None, None) => String::new(),
        }
    }
}

fn said(l: &LogLine) -> String {
    format!("on {} by {}: {}", l.time.date_naive(), l.by, l.why)
}

impl Decisions {
    /// The decisions of `key`, if any.
    pub fn get(&self, key: &str) -> Option<&KeyDecisions> {
        self.by_key.get(key)
    }

    /// Where `item` stands as of `as_of` (the run's date), given the store it lives in (for
    /// the items it superseded).
    pub fn mark(&self, item: &OpenItem, store: &OpenItems, as_of: NaiveDate) -> Mark {
        let k = self.by_key.get(&item.key);
        let note = k.and_then(|k| k.note.as_ref()).map(|l| l.why.clone());
        let open = |why: Option<String>| Mark {
            state: ItemState::Open,
            until: None,
            why,
            note: note.clone(),
        };
        if let ItemStatus::Resolved { on, .. } = &item.status {
            return Mark {
                state: ItemState::Resolved,
                until: None,
                why: Some(format!("resolved on {on}")),
                note: note.clone(),
            };
        }
        let Some(active) = k.and_then(|k| k.active.as_ref()) else {
            let by_hand = k.and_then(|k| k.reopened.as_ref());
            let why = by_hand
                .map(|l| format!("reopened {}", said(l)))
                .or_else(|| self.superseded_acceptance(item, store));
            return open(why);
        };
        let verb = if active.action == Action::Snooze {
            "snoozed"
        } else {
            "accepted"
        };
        if active.difference != item.difference {
            return open(Some(format!(
                "reopened: the difference changed from {} to {} {} after it was {verb} {}",
                active.difference,
                item.difference,
                item.currency,
                said(active)
            )));
        }
        match active.until {
            Some(until) if active.action == Action::Snooze && as_of >= until => {
                open(Some(format!(
                    "reopened: the snooze ended on {until} ({verb} {})",
                    said(active)
                )))
            }
            until => Mark {
                state: if active.action == Action::Snooze {
                    ItemState::Snoozed
                } else {
                    ItemState::Accepted
                },
                until,
                why: Some(match until {
                    Some(u) => format!("{verb} until {u} {}", said(active)),
                    None => format!("{verb} {}", said(active)),
                }),
                note,
            },
        }
    }

    /// Why an item that replaced an accepted one (same subject, new class) is open.
    fn superseded_acceptance(&self, item: &OpenItem, store: &OpenItems) -> Option<String> {
        item.supersedes.iter().find_map(|old| {
            let active = self.by_key.get(old)?.active.as_ref()?;
            let old_class = store.get(old).map_or(active.class.as_str(), |i| &i.class);
            Some(format!(
                "reopened: the class changed from {old_class} to {} after {old} was {} {}",
                item.class,
                if active.action == Action::Snooze {
                    "snoozed"
                } else {
                    "accepted"
                },
                said(active)
            ))
        })
    }
}

/// A decision asked for, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The item's key.
    pub key: String,
    /// What to do.
    pub action: Action,
    /// Why (required for accept and snooze; the text of a note).
    pub why: String,
    /// With snooze: the day it comes back.
    pub until: Option<NaiveDate>,
    /// Who.
    pub by: String,
    /// `cli`, or where in an imported file.
    pub source: String,
}

/// What checking a request gives: a line to append, or nothing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Append this line.
    Apply(Box<LogLine>),
    /// Already so (an import applied twice); the reason.
    Unchanged(String),
}

/// Checks a request against the store and the decisions as of `as_of` (the latest run's
/// date): the key must be known and not resolved, the reason and date present. The error is
/// a sentence naming what is wrong.
pub fn check(
    req: &Request,
    store: &OpenItems,
    decisions: &Decisions,
    as_of: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Checked, String> {
    let item = store
        .get(&req.key)
        .ok_or_else(|| format!("unknown key {:?}", req.key))?;
    let mark = decisions.mark(item, store, as_of);
    let why = req.why.trim();
    if why.chars().count() > MAX_TEXT_CHARS {
        return Err(format!(
            "the text is longer than {MAX_TEXT_CHARS} characters"
        ));
    }
    if mark.state == ItemState::Resolved && req.action != Action::Note {
        return Err(format!("item {} is already resolved", req.key));
    }
    match req.action {
        Action::Accept | Action::Snooze if why.is_empty() => {
            return Err(format!("{} needs a reason", req.action.word()))
        }
        Action::Note if why.is_empty() => return Err("a note needs text".to_owned()),
        Action::Snooze => match req.until {
            None => return Err("snooze needs a date (until)".to_owned()),
            Some(u) if u <= as_of => {
                return Err(format!(
                    "bad date {u}: a snooze must end after {as_of}, the latest run's date"
                ))
            }
            Some(_) => {}
        },
        Action::Reopen if mark.state == ItemState::Open => {
            return Ok(Checked::Unchanged(format!("{} is open already", req.key)))
        }
        _ => {}
    }
    let k = decisions.get(&req.key);
    let same = |l: Option<&LogLine>| {
        l.is_some_and(|l| l.action == req.action && l.why == why && l.until == req.until)
    };
    let unchanged = match req.action {
        Action::Accept | Action::Snooze => {
            mark.state != ItemState::Open && same(k.and_then(|k| k.active.as_ref()))
        }
        Action::Note => same(k.and_then(|k| k.note.as_ref())),
        Action::Reopen => false,
    };
    if unchanged {
        return Ok(Checked::Unchanged(format!(
            "{} is {} with that text already",
            req.key,
            mark.state.word()
        )));
    }
    Ok(Checked::Apply(Box::new(LogLine {
        time: now,
        by: req.by.clone(),
        key: req.key.clone(),
        action: req.action,
        why: why.to_owned(),
        until: req.until.filter(|_| req.action == Action::Snooze),
        previous: mark.state,
        class: item.class.clone(),
        currency: item.currency.clone(),
        difference: item.difference,
        source: req.source.clone(),
        prev: String::new(),
        hash: String::new(),
    })))
}

/// An item resolved by this run's report, as the "resolved since the last run" list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedItem {
    /// Its key.
    pub key: String,
    /// Its class.
    pub class: String,
    /// Its currency.
    pub currency: String,
    /// Its last difference.
    pub difference: Decimal,
    /// First seen.
    pub first_seen: NaiveDate,
    /// Resolved on.
    pub on: NaiveDate,
    /// Why: `not found`, or `superseded by <key>`.
    pub why: String,
}

/// What the report shows of the open items beyond the findings themselves: which findings
/// are new, each finding's state, and what this report resolved. Built from the store, the
/// log and the report id only, so a rerun over the same inputs shows the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopView {
    /// Keys first seen by this report.
    pub new: BTreeSet<String>,
    /// Each finding's state, by key (a finding missing here is plainly open).
    pub marks: BTreeMap<String, Mark>,
    /// Items this report resolved, by key.
    pub resolved: Vec<ResolvedItem>,
}

impl LoopView {
    /// The state of finding `key` (open when unknown).
    pub fn state(&self, key: &str) -> ItemState {
        self.marks.get(key).map_or(ItemState::Open, |m| m.state)
    }

    /// Whether finding `key` counts in the mail (open, not accepted or snoozed).
    pub fn counts(&self, key: &str) -> bool {
        self.state(key) == ItemState::Open
    }
}

/// The view of a run: `keys` are its findings, `report_id` the run's report id, `as_of` its
/// date.
pub fn loop_view<'a>(
    store: &OpenItems,
    decisions: &Decisions,
    keys: impl IntoIterator<Item = &'a str>,
    report_id: &str,
    as_of: NaiveDate,
) -> LoopView {
    let mut view = LoopView::default();
    for key in keys {
        let Some(item) = store.get(key) else { continue };
        if item.first_report.as_deref() == Some(report_id) {
            view.new.insert(key.to_owned());
        }
        view.marks
            .insert(key.to_owned(), decisions.mark(item, store, as_of));
    }
    for item in store.items() {
        if item.resolved_report.as_deref() != Some(report_id) {
            continue;
        }
        if let ItemStatus::Resolved {
            on, superseded_by, ..
        } = &item.status
        {
            view.resolved.push(ResolvedItem {
                key: item.key.clone(),
                class: item.class.clone(),
                currency: item.currency.clone(),
                difference: item.difference,
                first_seen: item.first_seen,
                on: *on,
                why: superseded_by
                    .as_ref()
                    .map_or("not found".to_owned(), |k| format!("superseded by {k}")),
            });
        }
    }
    view
}

#[cfg(test)]
mod tests;
