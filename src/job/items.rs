//! The `items` commands' job: list and show a merchant's open items with the team's
//! decisions, record a decision (accept, snooze, reopen, note), import the decisions filled
//! into a report, verify the decision log.
//!
//! The state of an item is the fold of the runs (`open_items.json`) and the decision log
//! ([`crate::reconcile::decisions`]); nothing here edits a state, it appends decisions. Writes
//! take the merchant's run lock, so a decision never races a run that reads the log.

use crate::job::config::{Config, MerchantConfig};
use crate::job::lock::{LockError, RunLock};
use crate::reconcile::decisions::{
    self, Action, AuditLog, Checked, DecisionError, ItemState, LogLine, Mark, Request,
};
use crate::reconcile::open_items::{OpenItem, OpenItems, StateError};
use crate::report::import::{self, FilledRow, Until};
use crate::report::ReportError;
use chrono::{DateTime, NaiveDate, Utc};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a decision waits for a run of the merchant to finish.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// Why an `items` command failed.
#[derive(Debug, thiserror::Error)]
pub enum ItemsError {
    /// The open-items store.
    #[error("open items: {0}")]
    State(#[from] StateError),
    /// The decision log.
    #[error(transparent)]
    Log(#[from] DecisionError),
    /// The merchant's lock.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Reading an imported file.
    #[error(transparent)]
    Read(#[from] ReportError),
    /// The decision cannot be applied.
    #[error("{key}: {problem}")]
    Refused {
        /// The key.
        key: String,
        /// Why.
        problem: String,
    },
    /// An unknown key for `show`.
    #[error("no item with key {0:?}")]
    Unknown(String),
    /// Rows of an imported file that cannot be applied; nothing was applied.
    #[error("{file}: {} rows cannot be applied, so nothing was applied (use --partial to apply the others):\n{}", .rows.len(), .rows.join("\n"))]
    Rejected {
        /// The file.
        file: PathBuf,
        /// `<place>: key <key>: <problem>`, one per row.
        rows: Vec<String>,
    },
}

/// One item as the commands show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemLine {
    /// The item from the store.
    pub item: OpenItem,
    /// Days since first seen, as of the store's latest run.
    pub age_days: i64,
    /// Its state and why.
    pub mark: Mark,
}

/// What `items list` selects.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this class.
    pub class: Option<String>,
    /// Only this state.
    pub state: Option<ItemState>,
    /// Only items older than this many days.
    pub older_than: Option<i64>,
}

/// A merchant's store and decisions, read together.
pub struct Items {
    data_dir: PathBuf,
    merchant: String,
    store: OpenItems,
    log: AuditLog,
}

impl Items {
    /// Reads the merchant's store and verified log.
    pub fn load(cfg: &Config, merchant: &MerchantConfig) -> Result<Items, ItemsError> {
        let store = OpenItems::load(&cfg.data_dir, &merchant.name)?;
        let log = AuditLog::load(&cfg.data_dir, &merchant.name)?;
        Ok(Items {
            data_dir: cfg.data_dir.clone(),
            merchant: merchant.name.clone(),
            store,
            log,
        })
    }

    /// The date ages and snoozes are judged at: the latest run's date (today without runs).
    pub fn as_of(&self) -> NaiveDate {
        self.store
            .runs()
            .latest_run_date
            .unwrap_or_else(|| Utc::now().date_naive())
    }

    /// The decision log.
    pub fn log(&self) -> &AuditLog {
        &self.log
    }

    fn line(&self, item: &OpenItem, d: &decisions::Decisions) -> ItemLine {
        let as_of = self.as_of();
        ItemLine {
            item: item.clone(),
            age_days: self.store.age_days(&item.key, as_of).unwrap_or(0),
            mark: d.mark(item, &self.store, as_of),
        }
    }

    /// The items the filter selects, by key; without a state filter resolved ones are left
    /// out.
    pub fn list(&self, f: &Filter) -> Vec<ItemLine> {
        let d = self.log.decisions();
        self.store
            .items()
            .map(|i| self.line(i, &d))
            .filter(|l| match f.state {
                Some(s) => l.mark.state == s,
                None => l.mark.state != ItemState::Resolved,
            })
            .filter(|l| f.class.as_ref().is_none_or(|c| *c == l.item.class))
            .filter(|l| f.older_than.is_none_or(|n| l.age_days > n))
            .collect()
    }

    /// One item and every decision about it.
    pub fn show(&self, key: &str) -> Result<(ItemLine, Vec<LogLine>), ItemsError> {
        let item = self
            .store
            .get(key)
            .ok_or_else(|| ItemsError::Unknown(key.to_owned()))?;
        let line = self.line(item, &self.log.decisions());
        let history = self
            .log
            .lines()
            .iter()
            .filter(|l| l.key == key)
            .cloned()
            .collect();
        Ok((line, history))
    }

    /// Checks each request in order (a later one sees the earlier ones applied): the lines to
    /// append, what was already so, and the refused ones with their problem.
    fn check_all(&self, reqs: &[Request], now: DateTime<Utc>) -> Checks {
        let mut staged = self.log.clone();
        let mut out = Checks::default();
        for (i, r) in reqs.iter().enumerate() {
            let d = staged.decisions();
            match decisions::check(r, &self.store, &d, self.as_of(), now) {
                Ok(Checked::Apply(line)) => {
                    out.apply.push(*line.clone());
                    // In memory only: the real append re-reads the log under the lock.
                    staged.stage(*line);
                }
                Ok(Checked::Unchanged(why)) => out.unchanged.push(why),
                Err(problem) => out.refused.push((i, problem)),
            }
        }
        out
    }

    /// Appends checked lines under the merchant's lock.
    fn append(&mut self, lines: Vec<LogLine>) -> Result<(), ItemsError> {
        if lines.is_empty() {
            return Ok(());
        }
        let _lock = RunLock::acquire(&self.data_dir, &self.merchant, Some(LOCK_WAIT))?;
        // Re-read under the lock: another decision may have been appended meanwhile.
        let mut log = AuditLog::load(&self.data_dir, &self.merchant)?;
        log.append(lines)?;
        self.log = log;
        Ok(())
    }

    /// Records one decision, or says it was so already.
    pub fn decide(&mut self, req: Request) -> Result<Decided, ItemsError> {
        let checks = self.check_all(std::slice::from_ref(&req), Utc::now());
        if let Some((_, problem)) = checks.refused.into_iter().next() {
            return Err(ItemsError::Refused {
                key: req.key,
                problem,
            });
        }
        if let Some(why) = checks.unchanged.into_iter().next() {
            return Ok(Decided::Unchanged(why));
        }
        self.append(checks.apply)?;
        Ok(Decided::Appended)
    }

    /// Applies the decisions filled into a report file: every row must apply, unless
    /// `partial`, when the good rows are applied and the others listed.
    pub fn import(
        &mut self,
        file: &Path,
        by: &str,
        partial: bool,
    ) -> Result<ImportOutcome, ItemsError> {
        let filled = import::read_filled(file)?;
        let mut rejected: Vec<String> = Vec::new();
        let mut reqs = Vec::new();
        let mut places = Vec::new();
        for row in &filled {
            match request_of(row, by) {
                Ok(r) => {
                    reqs.push(r);
                    places.push(row);
                }
                Err(p) => rejected.push(format!("{}: key {}: {p}", row.place, row.key)),
            }
        }
        let checks = self.check_all(&reqs, Utc::now());
        for (i, problem) in &checks.refused {
            let row = places[*i];
            rejected.push(format!("{}: key {}: {problem}", row.place, row.key));
        }
        if !rejected.is_empty() && !partial {
            return Err(ItemsError::Rejected {
                file: file.to_path_buf(),
                rows: rejected,
            });
        }
        let applied = checks.apply.len();
        self.append(checks.apply)?;
        Ok(ImportOutcome {
            rows: filled.len(),
            applied,
            unchanged: checks.unchanged,
            rejected,
        })
    }
}

/// Checked requests.
#[derive(Default)]
struct Checks {
    apply: Vec<LogLine>,
    unchanged: Vec<String>,
    /// Index of the request, and the problem.
    refused: Vec<(usize, String)>,
}

/// What a single decision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// A line was appended to the log.
    Appended,
    /// It was so already; nothing appended.
    Unchanged(String),
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Rows with a decision or a note.
    pub rows: usize,
    /// Lines appended to the log.
    pub applied: usize,
    /// Rows that were so already.
    pub unchanged: Vec<String>,
    /// Rows not applied (only with `--partial`), each naming its place.
    pub rejected: Vec<String>,
}

/// The request a filled row asks for: its decision (a note alone when only the note is
/// filled), the note as the reason.
fn request_of(row: &FilledRow, by: &str) -> Result<Request, String> {
    if row.key.is_empty() {
        return Err("the key cell is empty".to_owned());
    }
    let action = if row.decision.is_empty() {
        Action::Note
    } else {
        match Action::parse(&row.decision) {
            Some(Action::Note) | None => {
                return Err(format!(
                    "unknown decision {:?} (accept, snooze or reopen)",
                    row.decision
                ))
            }
            Some(a) => a,
        }
    };
    let until = match (&row.until, action) {
        (Until::Bad(t), _) => return Err(format!("bad date {t:?} in until (YYYY-MM-DD)")),
        (Until::Date(d), Action::Snooze) => Some(*d),
        (Until::Empty, Action::Snooze) => {
            return Err("bad date: snooze needs a date in until".to_owned())
        }
        _ => None,
    };
    Ok(Request {
        key: row.key.clone(),
        action,
        why: row.note.clone(),
        until,
        by: by.to_owned(),
        source: format!("import {}", row.place),
    })
}

/// Who is deciding: `--by`, else `$USER`, else `$LOGNAME`, else `unknown`.
pub fn who(by: Option<&str>) -> String {
    by.map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
