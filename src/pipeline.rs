//! One reconciliation of one merchant and window: load both sides, reconcile, carry open items
//! forward, and write the discrepancies table and the summary (atomically).
//!
//! The formatted reports and the mail are the report and notify stages; this writes the raw
//! results they start from: `discrepancies.csv` and `summary.json`.

use crate::config::{Config, MerchantConfig};
use crate::fsutil::{self, FsError};
use crate::ledger::{self, BadRow, LedgerCounts, LedgerError};
use crate::load::{self, LoadCounts, LoadError};
use crate::reconcile::{self, ReconcileError, ReconcileInput, ReconcileOutput};
use crate::state::{OpenItems, StateError, StateUpdate};
use crate::xsolla::window::Window;
use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;
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
    /// Open items: new, still open, resolved.
    pub state: StateUpdate,
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
    /// Writing results.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// Frame work.
    #[error("frames: {0}")]
    Frame(#[from] PolarsError),
}

/// `summary.json`: the summary plus the run's context and load counts.
#[derive(Debug, Serialize)]
struct SummaryFile<'a> {
    merchant: &'a str,
    window: Window,
    run_id: &'a str,
    summary: &'a reconcile::Summary,
    open_items: OpenItemCounts,
    ledger: &'a LedgerCounts,
    provider: Option<LoadCounts>,
    quarantined: Vec<String>,
}

#[derive(Debug, Serialize)]
struct OpenItemCounts {
    new: usize,
    still_open: usize,
    resolved: usize,
}

/// Runs one reconciliation and writes `discrepancies.csv` and `summary.json` into `out_dir`.
#[allow(clippy::too_many_arguments)]
pub fn reconcile_window(
    cfg: &Config,
    merchant: &MerchantConfig,
    window: Window,
    provider: &ProviderSource,
    ledger_path: Option<&Path>,
    base_dir: &Path,
    run_id: &str,
    today: NaiveDate,
    out_dir: &Path,
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
                crate::frames::empty(&crate::frames::payouts_schema()),
                crate::frames::empty(&crate::frames::breakdown_schema()),
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
    let output = timed("reconcile", || reconcile::reconcile(&input, &cfg.reconcile))?;
    drop(input);
    let mut items = OpenItems::load(&cfg.data_dir, &merchant.name)?;
    let state = items.update(&output.discrepancies, window, run_id, today)?;
    let discrepancies = items.with_age(&output.discrepancies, today)?;
    items.save(&cfg.data_dir, &merchant.name)?;

    let mut csv = Vec::new();
    CsvWriter::new(&mut csv)
        .include_header(true)
        .finish(&mut discrepancies.clone())?;
    fsutil::write_atomic(&out_dir.join("discrepancies.csv"), &csv)?;
    let summary = SummaryFile {
        merchant: &merchant.name,
        window,
        run_id,
        summary: &output.summary,
        open_items: OpenItemCounts {
            new: state.new.len(),
            still_open: state.still_open.len(),
            resolved: state.resolved.len(),
        },
        ledger: &ledger.counts,
        provider: provider_counts,
        quarantined: ledger.quarantined.iter().map(|b| b.to_string()).collect(),
    };
    let json = serde_json::to_vec_pretty(&summary).expect("summary serializes");
    fsutil::write_atomic(&out_dir.join("summary.json"), &json)?;
    Ok(RunResult {
        discrepancies,
        output,
        state,
        quarantined: ledger.quarantined,
        ledger: ledger.counts,
        provider: provider_counts,
    })
}

/// Runs one stage and logs how long it took (the per-stage figures of the benchmarks).
fn timed<T, E>(stage: &'static str, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let started = std::time::Instant::now();
    let out = f();
    tracing::info!(
        stage,
        ms = started.elapsed().as_millis() as u64,
        peak_rss_mib = crate::fetch::peak_rss_bytes().unwrap_or(0) >> 20,
        "stage done"
    );
    out
}
