//! The reconcile step of the job: load both sides, reconcile them, carry the open items
//! forward, and hand the result to the report stage as its input.
//!
//! `run` (through [`crate::job::run()`]) and the hand `reconcile` command (through
//! [`crate::job::to_folder`]) both go through [`reconcile()`] and [`RunResult::report_input`],
//! so they reconcile and report alike. This step writes nothing but the open-items state.

use crate::domain::frames;
use crate::domain::not_checked::NotChecked;
use crate::domain::window::Window;
use crate::job::config::{Config, MerchantConfig};
use crate::load::ledger::{self, BadRow, LedgerCounts, LedgerError, LedgerLoad};
use crate::load::{self, LoadCounts, LoadError};
use crate::reconcile::ages::{self, AgeSnapshot, AgedItem};
use crate::reconcile::decisions::{
    loop_view, AuditLog, DecisionError, Decisions, ItemState, LoopView,
};
use crate::reconcile::open_items::{OpenItems, RunRef, StateError, StateUpdate};
use crate::reconcile::{self, ReconcileError, ReconcileInput, ReconcileOutput};
use crate::report::{OpenItemCounts, ReportInput};
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Where Xsolla's side comes from.
#[derive(Debug, Clone)]
pub enum ProviderSource {
    /// A fetch snapshot folder.
    Snapshot(PathBuf),
    /// A registry CSV exported by hand from the Publisher Account (no payouts, no breakdown).
    Export(PathBuf),
}

/// One reconciliation to run: whose, which window, from which inputs.
#[derive(Debug, Clone, Copy)]
pub struct ReconcileRequest<'a> {
    /// The settings (`[reconcile]`) and the data folder holding the open items.
    pub cfg: &'a Config,
    /// The merchant: its ledger settings and projects.
    pub merchant: &'a MerchantConfig,
    /// The window.
    pub window: Window,
    /// Xsolla's side.
    pub provider: &'a ProviderSource,
    /// Ledger file or glob overriding the merchant's `ledger.path`.
    pub ledger: Option<&'a Path>,
    /// Folder that relative ledger paths in the config are relative to.
    pub base_dir: &'a Path,
    /// The run id recorded with open items first seen now.
    pub run_id: &'a str,
    /// The report id: what "new" and "resolved since the last run" are measured by (a rerun
    /// over the same inputs has the same id and shows the same).
    pub report_id: &'a str,
    /// The digest of the inputs the report id was built from (recorded with the open items,
    /// so the next run can tell a rerun from a return to earlier inputs).
    pub inputs_id: &'a str,
}

/// What a reconciliation run produced.
#[derive(Debug)]
pub struct RunResult {
    /// The window reconciled.
    pub window: Window,
    /// The date open items were aged and recorded at.
    pub as_of: NaiveDate,
    /// Discrepancies with `first_seen` and `age_days`, sorted.
    pub discrepancies: DataFrame,
    /// The reconciliation's summary.
    pub output: ReconcileOutput,
    /// Open items: new, still open, resolved, as this run changed them.
    pub state: StateUpdate,
    /// Open-item counts of this report, the same on a rerun over the same inputs (the
    /// reports show these, not `state`, which a rerun sees differently).
    pub open_items: OpenItemCounts,
    /// New, still open, accepted or snoozed, resolved: the report's sections.
    pub view: LoopView,
    /// Items an accept or snooze no longer holds (changed, or the snooze ended).
    pub reopened: usize,
    /// Ledger rows that did not parse (quarantine mode).
    pub quarantined: Vec<BadRow>,
    /// Ledger load counts.
    pub ledger: LedgerCounts,
    /// Provider load counts (snapshot only).
    pub provider: Option<LoadCounts>,
    /// Open items per currency and age bucket as of each of the last runs the state records,
    /// up to this one (`[report] age_chart_runs` of them; the report's `age.png`).
    pub ages: Vec<AgeSnapshot>,
}

impl RunResult {
    /// Whether there is something to look at: discrepancies or quarantined ledger rows
    /// (exit code 1 rather than 0, and the mail that `all_clear = false` still sends).
    pub fn found(&self) -> bool {
        self.output.summary.discrepancies > 0 || !self.quarantined.is_empty()
    }

    /// Whether the report is mailed even with `all_clear = false`: something was found, or
    /// some check could not run (no mail would read as "checked and fine"). The exit code
    /// stays [`found`](Self::found)'s.
    pub fn worth_a_mail(&self) -> bool {
        self.found() || !self.output.summary.not_checked.is_empty()
    }

    /// What the report stage writes for this result.
    pub fn report_input<'a>(&'a self, merchant: &'a str, report_id: &'a str) -> ReportInput<'a> {
        ReportInput {
            merchant,
            window: self.window,
            report_id,
            as_of: self.as_of,
            discrepancies: &self.discrepancies,
            summary: &self.output.summary,
            open_items: self.open_items,
            items: &self.view,
            quarantined: &self.quarantined,
            ledger: &self.ledger,
            provider: self.provider.as_ref(),
            ages: &self.ages,
        }
    }
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
    /// The team's decision log.
    #[error("open items: {0} (see `xsolla-recon items verify`)")]
    Decisions(#[from] DecisionError),
    /// Frame work.
    #[error("frames: {0}")]
    Frame(#[from] PolarsError),
    /// Reading the inputs into the part files of a run in parts.
    #[error("reading the inputs in parts: {0}")]
    Parts(#[from] crate::job::parts::PartedError),
}

/// Runs one reconciliation for a report. Open items are aged as of the window's last day, not
/// the wall clock, so a rerun over the same inputs writes the same reports.
pub fn reconcile(req: &ReconcileRequest<'_>) -> Result<RunResult, PipelineError> {
    reconcile_as_of(req, req.window.to, None)
}

/// [`reconcile()`] over both sides as [`payments_to_look_up`] loaded them for the same
/// request (loaded again when `loaded` is `None` or was loaded for another request).
pub fn reconcile_loaded(
    req: &ReconcileRequest<'_>,
    loaded: Option<LoadedInputs>,
) -> Result<RunResult, PipelineError> {
    reconcile_as_of(req, req.window.to, loaded)
}

/// Both sides as the reconcile step loads them, kept from the payment-lookup step (which
/// needs them to know which payments to look up) so a run loads each side once, not twice:
/// at 10M rows a load of both is some seconds and several GB.
#[derive(Debug)]
pub struct LoadedInputs {
    provider: ProviderSide,
    ledger: LedgerLoad,
    /// What they were loaded for: the snapshot, the window, the ledger override and folder.
    snapshot: PathBuf,
    window: Window,
    ledger_path: Option<PathBuf>,
    base_dir: PathBuf,
}

impl LoadedInputs {
    /// Whether these are the sides `req` would load (the same snapshot, window and ledger).
    fn is_for(&self, req: &ReconcileRequest<'_>) -> bool {
        matches!(req.provider, ProviderSource::Snapshot(dir) if *dir == self.snapshot)
            && req.window == self.window
            && req.ledger == self.ledger_path.as_deref()
            && req.base_dir == self.base_dir
    }
}

/// Loads Xsolla's side and the ledger as the reconcile step reads them.
fn load_sides(req: &ReconcileRequest<'_>) -> Result<(ProviderSide, LedgerLoad), PipelineError> {
    let provider_window = req.cfg.reconcile.provider_window(req.window);
    let extra = optional_fee_columns(req);
    let provider = load_provider(req.provider, provider_window, req.cfg.date_zones(), &extra)?;
    let ledger = load_ledger(req)?;
    Ok((provider, ledger))
}

/// [`reconcile()`] with open items aged and recorded as of `as_of` (tests age them on other
/// days).
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
    let req = ReconcileRequest {
        cfg,
        merchant,
        window,
        provider,
        ledger: ledger_path,
        base_dir,
        run_id,
        report_id: run_id,
        inputs_id: run_id,
    };
    reconcile_as_of(&req, as_of, None)
}

fn reconcile_as_of(
    req: &ReconcileRequest<'_>,
    as_of: NaiveDate,
    loaded: Option<LoadedInputs>,
) -> Result<RunResult, PipelineError> {
    let provider_window = req.cfg.reconcile.provider_window(req.window);
    match (req.provider, req.cfg.reconcile.rows_per_part) {
        (ProviderSource::Export(path), 1..) => return reconcile_in_parts(req, path, as_of),
        (ProviderSource::Snapshot(_), 1..) => tracing::warn!(
            "reconcile.rows_per_part applies to registry exports: this snapshot's run holds \
             both sides whole"
        ),
        _ => {}
    }
    let (mut provider, ledger) = match loaded.filter(|l| l.is_for(req)) {
        Some(l) => (l.provider, l.ledger),
        None => load_sides(req)?,
    };
    let mut not_checked = std::mem::take(&mut provider.not_checked);
    if let ProviderSource::Snapshot(dir) = req.provider {
        not_checked.extend(append_looked_up_payments(
            req,
            dir,
            &mut provider,
            &ledger.frame,
        )?);
    }
    let input = ReconcileInput {
        window: req.window,
        provider_window,
        provider: provider.transactions,
        payout_rows: provider.payout_rows,
        payouts: provider.payouts,
        breakdown: provider.breakdown,
        ledger: ledger.frame,
        project_ids: req.merchant.project_ids.clone(),
        conventions: req
            .merchant
            .ledger
            .as_ref()
            .map(|l| l.conventions.clone())
            .unwrap_or_default(),
    };
    let output = timed("reconcile", || {
        reconcile::reconcile_owned(input, &req.cfg.reconcile)
    })?;
    let read = Read {
        quarantined: ledger.quarantined,
        ledger: ledger.counts,
        provider: provider.counts,
    };
    finish(req, as_of, output, not_checked, read)
}

/// What the loads said of the rows read, for the run's result.
struct Read {
    quarantined: Vec<BadRow>,
    ledger: LedgerCounts,
    provider: Option<LoadCounts>,
}

/// The run's result from the reconciliation's `output`: the load's `not_checked` lines added,
/// the open items carried as of `as_of`.
fn finish(
    req: &ReconcileRequest<'_>,
    as_of: NaiveDate,
    mut output: ReconcileOutput,
    not_checked: Vec<NotChecked>,
    read: Read,
) -> Result<RunResult, PipelineError> {
    output.summary.add_not_checked(not_checked, req.window);
    log_not_checked(&output.summary.not_checked);
    let carried = carry_open_items(req, &output.discrepancies, as_of)?;
    Ok(RunResult {
        window: req.window,
        as_of,
        discrepancies: carried.discrepancies,
        output,
        state: carried.state,
        open_items: carried.counts,
        view: carried.view,
        reopened: carried.reopened,
        quarantined: read.quarantined,
        ledger: read.ledger,
        provider: read.provider,
        ages: carried.ages,
    })
}

/// [`reconcile_as_of`] of a registry export in parts (`reconcile.rows_per_part`): both inputs
/// read into part files, then reconciled part by part ([`crate::job::parts`]).
fn reconcile_in_parts(
    req: &ReconcileRequest<'_>,
    export: &Path,
    as_of: NaiveDate,
) -> Result<RunResult, PipelineError> {
    let settings = &req.cfg.reconcile;
    let ledger_cfg = ledger_config(req)?;
    let extra = optional_fee_columns(req);
    let provider_window = settings.provider_window(req.window);
    let inputs = crate::job::parts::PartInputs {
        export,
        provider_window,
        zones: req.cfg.date_zones(),
        extra: &extra,
        ledger: &ledger_cfg,
        base_dir: req.base_dir,
        reporting: req.cfg.run.reporting_timezone,
    };
    let dir = settings
        .parts_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let mut parted = timed("read into parts", || {
        crate::job::parts::read_in_parts(&inputs, settings.rows_per_part, &dir)
    })?;
    let provider = frames::provider_schema_with(&extra);
    let input = ReconcileInput {
        window: req.window,
        provider_window,
        provider: frames::empty(&provider),
        payout_rows: None,
        payouts: frames::empty(&frames::payouts_schema()),
        breakdown: frames::empty(&frames::breakdown_schema()),
        ledger: frames::empty(&frames::ledger_schema()),
        project_ids: req.merchant.project_ids.clone(),
        conventions: ledger_cfg.conventions.clone(),
    };
    let output = timed("reconcile", || {
        reconcile::parts::reconcile_in_parts(input, &mut parted.files, settings)
    })?;
    drop(parted.files);
    let read = Read {
        quarantined: parted.ledger.quarantined,
        ledger: parted.ledger.counts,
        provider: None,
    };
    finish(req, as_of, output, export_not_checked(), read)
}

/// The optional Xsolla fee columns (`frames::PROVIDER_OPTIONAL_FEE_COLUMNS`) the merchant's
/// settings name (`reconcile.fee_columns`, the ledger's `conventions.fee_columns` and
/// `conventions.amount_minus`): the load builds these and no others.
fn optional_fee_columns(req: &ReconcileRequest<'_>) -> Vec<&'static str> {
    let conv = req.merchant.ledger.as_ref().map(|l| &l.conventions);
    let named = req
        .cfg
        .reconcile
        .fee_columns
        .iter()
        .chain(
            conv.into_iter()
                .flat_map(|c| c.fee_columns.iter().flatten()),
        )
        .chain(conv.into_iter().flat_map(|c| c.amount_minus.iter()))
        .map(String::as_str);
    frames::optional_fee_columns(named)
}

/// Xsolla's side as the reconciliation reads it.
#[derive(Debug)]
struct ProviderSide {
    transactions: DataFrame,
    payout_rows: Option<DataFrame>,
    payouts: DataFrame,
    breakdown: DataFrame,
    counts: Option<LoadCounts>,
    /// Checks the load already knows cannot run.
    not_checked: Vec<NotChecked>,
}

/// Loads Xsolla's side: a snapshot (fetched for the window and its margins), or a hand
/// export's registry rows, each kept when dated inside `provider_window`, the window with its
/// margins (an export has no payouts or breakdown, so those are empty and go unchecked). Dates
/// are converted to the reporting zone; rows outside `provider_window` after conversion are
/// left out and counted. Rows outside the window take part in matching only; the
/// reconciliation logs which margins they cover.
fn load_provider(
    source: &ProviderSource,
    provider_window: Window,
    zones: load::DateZones,
    extra: &[&'static str],
) -> Result<ProviderSide, LoadError> {
    match source {
        ProviderSource::Snapshot(dir) => {
            let keep = (!zones.same()).then_some(provider_window);
            let data = timed("load snapshot", || {
                load::load_snapshot_with(dir, zones, keep, extra)
            })?;
            Ok(ProviderSide {
                transactions: data.transactions,
                payout_rows: data.payout_rows,
                payouts: data.payouts,
                breakdown: data.breakdown,
                counts: Some(data.counts),
                not_checked: data.not_checked,
            })
        }
        ProviderSource::Export(path) => Ok(ProviderSide {
            transactions: timed("load registry export", || {
                load::load_registry_export_with(path, Some(provider_window), zones, extra)
            })?,
            payout_rows: None,
            payouts: frames::empty(&frames::payouts_schema()),
            breakdown: frames::empty(&frames::breakdown_schema()),
            counts: None,
            not_checked: export_not_checked(),
        }),
    }
}

/// What a hand export cannot check: it is the registry alone, without payouts or breakdown.
fn export_not_checked() -> Vec<NotChecked> {
    let reason = "Xsolla's side is a registry export, which has no payouts and no breakdown (fetch a snapshot to check them)";
    vec![
        NotChecked::new("payout", "payouts of the window", 1, reason),
        NotChecked::new("breakdown", "breakdown of the window", 1, reason),
    ]
}

/// One log line per check that could not run (the summary, reports and mail carry them too).
fn log_not_checked(lines: &[NotChecked]) {
    for g in crate::domain::not_checked::group(lines) {
        tracing::warn!(
            check = g.check,
            count = g.count,
            reason = g.reason,
            "not checked"
        );
    }
}

/// The days whose ledger refund lines want their payment looked up: the window and the ledger
/// margin around it (the lines the reconciliation compares).
pub(crate) fn lookup_days(cfg: &Config, window: Window) -> Window {
    let margin = chrono::Duration::days(i64::from(cfg.reconcile.ledger_margin_days));
    Window::new(window.from - margin, window.to + margin).unwrap_or(window)
}

/// The transactions whose payment the run wants looked up (see
/// [`crate::load::provider::wanted_payments`]), with both sides loaded as the reconcile step
/// reads them (the inputs step calls this before reconciling, and hands the sides on to
/// [`reconcile_loaded`]).
pub(crate) fn payments_to_look_up(
    req: &ReconcileRequest<'_>,
) -> Result<(std::collections::BTreeSet<i64>, LoadedInputs), PipelineError> {
    let (provider, ledger) = load_sides(req)?;
    let wanted = load::provider::wanted_payments(
        &provider.transactions,
        &ledger.frame,
        lookup_days(req.cfg, req.window),
    )?;
    let snapshot = match req.provider {
        ProviderSource::Snapshot(dir) | ProviderSource::Export(dir) => dir.clone(),
    };
    let loaded = LoadedInputs {
        provider,
        ledger,
        snapshot,
        window: req.window,
        ledger_path: req.ledger.map(Path::to_path_buf),
        base_dir: req.base_dir.to_path_buf(),
    };
    Ok((wanted, loaded))
}

/// The payment-lookup step: appends the payments that the inputs step looked up (stored with
/// the snapshot, see [`crate::fetch::look_up_payments`]) for cancellations whose payment is
/// not in the window, so a refund is judged against its payment. Network-free: `--offline`
/// and the `reconcile` command read the same stored lookups. Off with
/// `fetch.max_payment_lookups = 0`.
fn append_looked_up_payments(
    req: &ReconcileRequest<'_>,
    dir: &Path,
    provider: &mut ProviderSide,
    ledger: &DataFrame,
) -> Result<Vec<NotChecked>, LoadError> {
    let Some(counts) = provider.counts.as_mut() else {
        return Ok(Vec::new());
    };
    let wanted = load::provider::wanted_payments(
        &provider.transactions,
        ledger,
        lookup_days(req.cfg, req.window),
    )?;
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let (data_dir, merchant) = (&req.cfg.data_dir, &req.merchant.name);
    if req.cfg.fetch.max_payment_lookups == 0 {
        counts.payment_lookups = crate::fetch::LookupCounts {
            wanted: wanted.len() as u64,
            not_looked_up: wanted.len() as u64,
            ..Default::default()
        };
        tracing::info!(wanted = wanted.len(), "payment lookup off (fetch.max_payment_lookups = 0): refunds of payments outside the window are judged without them");
        return Ok(vec![NotChecked::new(
            "refund_payment",
            "refunds of payments outside the window",
            wanted.len() as u64,
            "payment lookup is off (fetch.max_payment_lookups = 0): each refund is judged without its payment",
        )]);
    }
    let fetch_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let record =
        crate::fetch::read_lookups(&crate::fetch::lookups_dir(data_dir, merchant, &fetch_id))?;
    let lookups = load::provider::append_looked_up(
        &mut provider.transactions,
        data_dir,
        merchant,
        record.as_ref(),
        &wanted,
    )?;
    counts.payment_lookups = crate::fetch::LookupCounts::of(&lookups);
    log_lookups(&counts.payment_lookups, &lookups);
    Ok(lookups.iter().filter_map(lookup_not_checked).collect())
}

/// A payment lookup that did not run to an answer, as a not-checked line.
fn lookup_not_checked(l: &crate::fetch::PaymentLookup) -> Option<NotChecked> {
    use crate::fetch::LookupOutcome;
    let why = match l.outcome {
        LookupOutcome::NotChecked => "the lookup of the payment failed",
        LookupOutcome::NotLookedUp => "beyond fetch.max_payment_lookups",
        _ => return None,
    };
    let reason = match &l.reason {
        Some(r) => format!("{why}: {r}; the refund is judged without its payment"),
        None => format!("{why}; the refund is judged without its payment"),
    };
    Some(NotChecked::new(
        "refund_payment",
        format!("transaction {}", l.transaction_id),
        1,
        reason,
    ))
}

/// One line with the lookup counts, and one per transaction left unchecked, with its reason.
fn log_lookups(c: &crate::fetch::LookupCounts, lookups: &[crate::fetch::PaymentLookup]) {
    tracing::info!(
        wanted = c.wanted,
        found_in_snapshots = c.found_in_snapshots,
        found_by_details = c.found_by_details,
        not_found = c.not_found,
        not_checked = c.not_checked,
        not_looked_up = c.not_looked_up,
        "payments of cancellations outside the window looked up"
    );
    for l in lookups {
        if matches!(
            l.outcome,
            crate::fetch::LookupOutcome::NotChecked | crate::fetch::LookupOutcome::NotLookedUp
        ) {
            tracing::warn!(
                transaction_id = l.transaction_id,
                reason = l.reason.as_deref().unwrap_or_default(),
                "payment not checked: its refund is judged without it"
            );
        }
    }
}

/// Loads the merchant's ledger, from `--ledger` when given.
fn load_ledger(req: &ReconcileRequest<'_>) -> Result<LedgerLoad, PipelineError> {
    let ledger_cfg = ledger_config(req)?;
    Ok(timed("load ledger", || {
        ledger::load_ledger_in(&ledger_cfg, req.base_dir, req.cfg.run.reporting_timezone)
    })?)
}

/// The merchant's ledger settings, with the request's ledger path if it gives one.
fn ledger_config(req: &ReconcileRequest<'_>) -> Result<ledger::LedgerConfig, PipelineError> {
    let mut ledger_cfg = req
        .merchant
        .ledger
        .clone()
        .ok_or_else(|| PipelineError::NoLedger(req.merchant.name.clone()))?;
    if let Some(p) = req.ledger {
        ledger_cfg.path = p.display().to_string();
    }
    Ok(ledger_cfg)
}

/// The open items after this run, and the discrepancies aged by them.
struct CarriedItems {
    discrepancies: DataFrame,
    state: StateUpdate,
    counts: OpenItemCounts,
    ages: Vec<AgeSnapshot>,
    view: LoopView,
    reopened: usize,
}

/// Records this run's findings in the merchant's open items (new, still open, resolved) and
/// ages them, as of `as_of`; the state is saved for the next run. The team's decision log is
/// folded in: each finding's state (open, accepted, snoozed), and which accepted or snoozed
/// items this run opened again (what `mail.send = "on_change"` counts as a change).
fn carry_open_items(
    req: &ReconcileRequest<'_>,
    found: &DataFrame,
    as_of: NaiveDate,
) -> Result<CarriedItems, PipelineError> {
    let (data_dir, merchant) = (&req.cfg.data_dir, &req.merchant.name);
    let mut items = OpenItems::load(data_dir, merchant)?;
    let decisions = AuditLog::load(data_dir, merchant)?.decisions();
    let before = held_keys(&items, &decisions, as_of);
    let run = RunRef {
        id: req.run_id,
        date: as_of,
        window: req.window,
        governing: req.cfg.reconcile.governing_date,
    };
    let state = items.update_for_report(found, run, req.report_id)?;
    items.record_report(req.inputs_id, req.report_id);
    let discrepancies = items.with_age(found, as_of)?;
    let keys = discrepancies.column("key")?.str()?.clone();
    let view = loop_view(
        &items,
        &decisions,
        keys.iter().flatten(),
        req.report_id,
        as_of,
    );
    let held = held_keys(&items, &decisions, as_of);
    let reopened = before
        .difference(&held)
        .filter(|k| items.get(k).is_some_and(|i| i.is_open()))
        .count();
    let counts = OpenItemCounts {
        new: view.new.len() as u64,
        still_open: (discrepancies.height() - view.new.len()) as u64,
        resolved: view.resolved.len() as u64,
    };
    // From the state as this run leaves it, as of run dates up to `as_of` only: a rerun over
    // the same inputs draws the same series.
    let aged: Vec<AgedItem<'_>> = items.items().map(AgedItem::from).collect();
    let ages = ages::age_history(&aged, as_of, req.cfg.report.age_chart_runs);
    items.save(data_dir, merchant)?;
    Ok(CarriedItems {
        discrepancies,
        state,
        counts,
        ages,
        view,
        reopened,
    })
}

/// Keys an accept or snooze holds (not open, not resolved) as of `as_of`.
fn held_keys(items: &OpenItems, d: &Decisions, as_of: NaiveDate) -> BTreeSet<String> {
    items
        .items()
        .filter(|i| {
            matches!(
                d.mark(i, items, as_of).state,
                ItemState::Accepted | ItemState::Snoozed
            )
        })
        .map(|i| i.key.clone())
        .collect()
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

#[cfg(all(test, feature = "sandbox"))]
mod tests {
    use super::*;
    use crate::fetch::NoProgress;
    use crate::job::{FetchMode, MailMode, RunRequest};
    use crate::sandbox::ledger::{ledger_config, ledger_export};
    use crate::sandbox::{DataQuirks, Sandbox, SandboxConfig};
    use crate::xsolla::{ApiKey, HttpSettings};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }

    /// Every file of a report folder, by name.
    fn files(dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name(), std::fs::read(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    }

    /// The sides the payment-lookup step loaded, handed to the reconcile step, give the
    /// reconciliation and the reports that loading them again gives.
    #[tokio::test(flavor = "multi_thread")]
    async fn sides_loaded_for_the_lookups_reconcile_as_a_fresh_load_does() {
        let sb = Sandbox::start(
            SandboxConfig {
                from: d("2026-10-01"),
                to: d("2026-10-31"),
                transactions_per_day: 12,
                seed: 11,
                quirks: DataQuirks {
                    early_refunds: 3,
                    ..Default::default()
                },
                ..Default::default()
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let window = Window::new(d("2026-10-01"), d("2026-10-07")).unwrap();
        let ledger_path = tmp.path().join("ledger.csv");
        let ledger = ledger_export(
            &sb.dataset(),
            Window::new(d("2026-09-24"), window.to).unwrap(),
            true,
        );
        std::fs::write(&ledger_path, ledger.csv).unwrap();
        let mut cfg = Config {
            data_dir: tmp.path().join("data"),
            http: HttpSettings {
                min_request_interval_ms: 0,
                backoff_initial_ms: 5,
                backoff_max_ms: 50,
                ..HttpSettings::default()
            },
            merchants: vec![MerchantConfig {
                name: "acme".into(),
                merchant_id: sb.merchant_id(),
                api_key_env: "UNUSED_KEY_VAR".into(),
                base_url: sb.base_url(),
                ledger: Some(ledger_config(&ledger_path)),
                project_ids: vec![],
                mail: Default::default(),
            }],
            ..Config::default()
        };
        cfg.run.reports_dir = tmp.path().join("reports");
        cfg.reconcile.provider_margin_days = Some(0);
        let run_req = RunRequest {
            merchant: "acme".into(),
            window,
            fetch: FetchMode::Refetch,
            mail: MailMode::DryRun,
            ledger: None,
            base_dir: tmp.path().to_path_buf(),
            config_sha256: String::new(),
            api_key: Some(ApiKey::new(sb.api_key())),
            lock_wait: None,
        };
        // A run fetches the snapshot and stores the payments it looked up.
        let out = crate::job::run(&cfg, &run_req, &NoProgress).await.unwrap();
        let lookups = out.result.provider.unwrap().payment_lookups;
        assert!(lookups.wanted > 0, "the early refunds' payments are wanted");
        let snapshot_rel = out
            .manifest
            .snapshot
            .path
            .strip_prefix(&cfg.data_dir)
            .unwrap()
            .to_path_buf();

        // The same reconciliation twice, each over its own copy of the data (open items).
        let reconciled = |copy: &str, reuse: bool| {
            let mut cfg = cfg.clone();
            cfg.data_dir = tmp.path().join(copy);
            copy_dir(&tmp.path().join("data"), &cfg.data_dir);
            let provider = ProviderSource::Snapshot(cfg.data_dir.join(&snapshot_rel));
            let req = ReconcileRequest {
                cfg: &cfg,
                merchant: &cfg.merchants[0],
                window,
                provider: &provider,
                ledger: None,
                base_dir: tmp.path(),
                run_id: "r",
                report_id: "r",
                inputs_id: "i",
            };
            let result = if reuse {
                let (wanted, loaded) = payments_to_look_up(&req).unwrap();
                assert_eq!(wanted.len() as u64, lookups.wanted);
                assert!(loaded.is_for(&req));
                reconcile_loaded(&req, Some(loaded)).unwrap()
            } else {
                reconcile(&req).unwrap()
            };
            let dir = tmp.path().join(format!("{copy}-reports"));
            crate::report::write_reports(&result.report_input("acme", "r"), &cfg.report, &dir)
                .unwrap();
            (result, files(&dir))
        };
        let (fresh, fresh_files) = reconciled("fresh", false);
        let (reused, reused_files) = reconciled("reused", true);
        assert!(fresh.discrepancies.height() > 0);
        assert!(reused.discrepancies.equals_missing(&fresh.discrepancies));
        assert_eq!(
            serde_json::to_value(&reused.output.summary).unwrap(),
            serde_json::to_value(&fresh.output.summary).unwrap()
        );
        assert_eq!(reused.ledger, fresh.ledger);
        assert_eq!(reused.provider, fresh.provider);
        assert_eq!(
            reused.provider.unwrap().payment_lookups.wanted,
            lookups.wanted
        );
        assert_eq!(reused_files.len(), fresh_files.len());
        for ((name, a), (other, b)) in reused_files.iter().zip(&fresh_files) {
            assert_eq!(name, other);
            assert!(a == b, "{name:?} differs");
        }
    }
}
