//! One reconciliation of one merchant and window: load both sides, reconcile, and carry open
//! items forward. The report stage turns the result into files; this module writes nothing but
//! the open-items state.

use crate::domain::window::Window;
use crate::job::config::{Config, MerchantConfig};
use crate::load::ledger::{self, BadRow, LedgerCounts, LedgerError};
use crate::load::{self, LoadCounts, LoadError};
use crate::reconcile::open_items::{ItemStatus, OpenItems, StateError, StateUpdate};
use crate::reconcile::{self, ReconcileError, ReconcileInput, ReconcileOutput};
use crate::report::OpenItemCounts;
use chrono::NaiveDate;
use polars::prelude::*;
use std::path::{Path, PathBuf};

/// Where Xsolla's side comes from.
#[derive(Debug, Clone)]
pub enum ProviderSource {
    /// A fetch snapshot folder.
    Snapshot(PathBuf),
    /// A registry CSV exported by hand from the Publisher Account (no payouts, no breakdown).
    Export(PathBuf),
}

/// What a reconciliation run produced.
#[derive(Debug)]
pub struct RunResult {
    /// Discrepancies with `first_seen` and `age_days`, sorted.
    pub discrepancies: DataFrame,
    /// The reconciliation's summary.
    pub output: ReconcileOutput,
    /// Open items: new, still open, resolved, as this run changed them.
    pub state: StateUpdate,
    /// Open-item counts as of the window's last day, the same on a rerun over the same
    /// inputs (the reports show these, not `state`, which a rerun sees differently).
    pub open_items: OpenItemCounts,
    /// Ledger rows that did not parse (quarantine mode).
    pub quarantined: Vec<BadRow>,
    /// Ledger load counts.
    pub ledger: LedgerCounts,
    /// Provider load counts (snapshot only).
    pub provider: Option<LoadCounts>,
}

/// A run failure, with its stage.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Loading Xsolla's side.
    #[error("loading Xsolla data: {0}")]
    Load(#[from] LoadError),
    /// Loading the ledger.
    #[error("loading the ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// No ledger configured.
    #[error(
        "merchant {0:?} has no [merchant.ledger] table in the config and no --ledger was given"
    )]
    NoLedger(String),
    /// Reconciling.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    /// Open items.
    #[error("open items: {0}")]
    State(#[from] StateError),
    /// Frame work.
    #[error("frames: {0}")]
    Frame(#[from] PolarsError),
}

/// Runs one reconciliation; open items are aged and recorded as of `as_of`.
#[allow(clippy::too_many_arguments)]
pub fn reconcile_window(
    cfg: &Config,
    merchant: &MerchantConfig,
    window: Window,
    provider: &ProviderSource,
    ledger_path: Option<&Path>,
    base_dir: &Path,
    run_id: &str,
    as_of: NaiveDate,
) -> Result<RunResult, PipelineError> {
    let (input_provider, provider_counts) = match provider {
        ProviderSource::Snapshot(dir) => {
            let data = timed("load snapshot", || load::load_snapshot(dir))?;
            let counts = data.counts;
            (
                (
                    data.transactions,
                    data.payout_rows,
                    data.payouts,
                    data.breakdown,
                ),
                Some(counts),
            )
        }
        ProviderSource::Export(path) => (
            (
                timed("load registry export", || {
                    load::load_registry_export(path, Some(window))
                })?,
                None,
                crate::domain::frames::empty(&crate::domain::frames::payouts_schema()),
                crate::domain::frames::empty(&crate::domain::frames::breakdown_schema()),
            ),
            None,
        ),
    };
    let mut ledger_cfg = merchant
        .ledger
        .clone()
        .ok_or_else(|| PipelineError::NoLedger(merchant.name.clone()))?;
    if let Some(p) = ledger_path {
        ledger_cfg.path = p.display().to_string();
    }
    let ledger = timed("load ledger", || ledger::load_ledger(&ledger_cfg, base_dir))?;
    let (transactions, payout_rows, payouts, breakdown) = input_provider;
    let input = ReconcileInput {
        window,
        provider: transactions,
        payout_rows,
        payouts,
        breakdown,
        ledger: ledger.frame,
        project_ids: merchant.project_ids.clone(),
    };
    let output = timed("reconcile", || {
        reconcile::reconcile_owned(input, &cfg.reconcile)
    })?;
    let mut items = OpenItems::load(&cfg.data_dir, &merchant.name)?;
    let state = items.update(&output.discrepancies, window, run_id, as_of)?;
    let discrepancies = items.with_age(&output.discrepancies, as_of)?;
    let open_items = open_item_counts(&items, &discrepancies, as_of)?;
    items.save(&cfg.data_dir, &merchant.name)?;
    Ok(RunResult {
        discrepancies,
        output,
        state,
        open_items,
        quarantined: ledger.quarantined,
        ledger: ledger.counts,
        provider: provider_counts,
    })
}

/// Counts derived from dates, not from what this run changed: a finding first seen on
/// `as_of` is new, one seen earlier still open, and items resolved on `as_of` resolved. A
/// rerun over the same inputs gets the same counts, so its reports are byte-identical.
fn open_item_counts(
    items: &OpenItems,
    discrepancies: &DataFrame,
    as_of: NaiveDate,
) -> PolarsResult<OpenItemCounts> {
    let new = discrepancies
        .column("first_seen")?
        .date()?
        .as_date_iter()
        .filter(|d| *d == Some(as_of))
        .count() as u64;
    let resolved = items
        .items()
        .filter(|i| matches!(&i.status, ItemStatus::Resolved { on, .. } if *on == as_of))
        .count() as u64;
    Ok(OpenItemCounts {
        new,
        still_open: discrepancies.height() as u64 - new,
        resolved,
    })
}

/// Runs one stage and logs how long it took (the per-stage figures of the benchmarks).
fn timed<T, E>(stage: &'static str, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let started = std::time::Instant::now();
    let out = f();
    tracing::info!(
        stage,
        ms = started.elapsed().as_millis() as u64,
        peak_rss_mib = crate::domain::memory::peak_rss_bytes().unwrap_or(0) >> 20,
        "stage done"
    );
    out
}
