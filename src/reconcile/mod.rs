//! Reconcile stage: where Xsolla and the ledger disagree, why, and by how much.
//!
//! The matching and every discrepancy class are SQL files in `sql/` run by Polars' SQL engine,
//! so a finance engineer can read and change a rule without touching Rust:
//! - `sql/prepare/NN_name.sql` run in order; each result becomes table `name` for the next;
//! - `sql/classes/<class>.sql` each decide one discrepancy class, nothing else does.
//!
//! What a rule may read and must output is `sql/README.md`. The steps of a run, one module
//! each: `inputs` builds the tables the rules read (scope, day numbers, tolerances), `run`
//! runs the files and assembles the discrepancies in the documented schema, `fuzzy` flags
//! probable pairs, and `summary` counts and checks that every row read is accounted for.

pub mod ages;
mod catalog;
mod conventions;
pub mod decisions;
mod fuzzy;
mod inputs;
mod not_checked;
pub mod open_items;
pub mod parts;
pub mod rules;
mod run;
mod slices;
mod summary;
#[cfg(test)]
mod tests;

use crate::domain::frames::money;
use crate::domain::not_checked::NotChecked;
use crate::domain::window::Window;
use polars::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Settings of the reconciliation (`[reconcile]` in the config).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconcileSettings {
    /// Allowed difference per currency, in minor units (`{ JPY = 1, USD = 2 }`). Default 0:
    /// amounts must agree exactly.
    pub tolerance_minor_units: BTreeMap<String, u32>,
    /// Allowed difference for currencies not listed above, in minor units. Default 0.
    pub default_tolerance_minor_units: u32,
    /// Allowed difference where an amount was converted between currencies (payout vs net,
    /// payouts and breakdown sums), as a decimal in the payout currency. Default `0.01`.
    #[serde(with = "rust_decimal::serde::str")]
    pub fx_tolerance: Decimal,
    /// Xsolla fee columns whose sum is compared with the ledger's fee column.
    pub fee_columns: Vec<String>,
    /// Ledger lines up to this many days outside the window still match (lines in these
    /// margins take part in matching only: see `provider_margin_days`) instead of being
    /// ignored. Default 7.
    pub ledger_margin_days: u32,
    /// Days before and after the window whose Xsolla rows are fetched too, so a payment dated
    /// on the other side of midnight by one side still meets its other side. Lines in these
    /// margins take part in matching only: they are never reported on their own, and a pair
    /// across the window's last day is a `timing_difference`. Default (unset): the
    /// `ledger_margin_days`. 0 fetches the window alone.
    pub provider_margin_days: Option<u32>,
    /// Include Xsolla test (dry-run) transactions. Default false.
    pub include_dry_run: bool,
    /// The amounts compared on every matched line, in the order they are checked. Default
    /// `["gross", "fees", "net_vs_payout"]`.
    pub comparisons: Vec<Comparison>,
    /// Look for probable pairs among the unmatched lines.
    pub fuzzy: FuzzySettings,
    /// Folder with `prepare/` and `classes/` SQL files replacing the built-in rules.
    pub sql_dir: Option<PathBuf>,
    /// Whether a payout is its rows' `payout.amount` minus their penalties (`chargebackPenalty`,
    /// `refundPenalty`, payment currency, converted at each row's `fx_rate` and rounded to the
    /// payout currency) rather than the rows' `payout.amount` alone. Xsolla does not say which
    /// ([U], docs/xsolla-api.md §12.6); default false: penalties are taken to be charged
    /// outside the payout's rows' sum (or already inside `payout.amount`).
    pub payout_deducts_penalties: bool,
    /// Which side's date decides the run that judges a pair (its *governing date*): a run
    /// reports a pair only when that date is inside its window, and only such a run may
    /// resolve it. Default `provider` (Xsolla's `transfer_date`).
    pub governing_date: GoverningDate,
    /// Which Polars engine runs the rule files and builds the big input tables. Default
    /// `in_memory`: memory, not time, is what stops a large run, and at 10 M rows per side the
    /// streaming engine held about 0.9 GB more for 10-20% less time (at 1 M it was slower);
    /// README "Scaling" has the figures. `streaming` runs each file on Polars' streaming
    /// engine, except the files with a window function (`… OVER (…)`), which it runs slower
    /// and which therefore stay in memory. Both give the same reports.
    ///
    /// Not serialized: the settings are digested into the report id, and the engine picks how
    /// the rules are computed, not what they find (a property test checks both engines give
    /// the same findings), so switching it, or a release adding it, keeps the report's id.
    #[serde(skip_serializing)]
    pub engine: QueryEngine,
    /// Rows (of the larger side, in scope) per slice of the run: the per-transaction rules run
    /// on one slice of the transactions at a time, so their tables hold one slice's rows
    /// instead of all of them (`src/reconcile/slices.rs` says what a slice keeps together).
    /// Default 1,000,000: at 10 M rows per side ten slices; a run under 2 M rows goes whole
    /// (at 1 M rows, 1.1 GiB and faster than three slices' 0.6 GiB: `slices::count`).
    /// Smaller slices hold less for a little more time (README "Scaling": since the coded
    /// columns, 10 M peaks 551 MiB lower than with 2,000,000 in the same time; 2 M, 559 MiB
    /// lower for 6% more).
    /// `0` never cuts. Not serialized, like `engine`: slices change the memory a run needs,
    /// never what it finds.
    #[serde(skip_serializing)]
    pub rows_per_slice: usize,
    /// Rows (of the larger side) per part of a run too large to hold both sides whole: the
    /// inputs are read twice in pieces and written out part by part (Parquet files under
    /// `parts_dir`), then each part is reconciled on its own, and the findings and counts
    /// added up, the same as a run whole (`src/reconcile/parts.rs` says what a part keeps
    /// together). Default `0`: never; a run holds both loaded sides, about 0.26 GiB per
    /// million rows per side (README "Scaling"). Applies when Xsolla's side is a registry
    /// export (`reconcile --registry-export`); a snapshot run goes whole. Not serialized, like
    /// `rows_per_slice`: parts change the memory a run needs, never what it finds.
    #[serde(skip_serializing)]
    pub rows_per_part: usize,
    /// Folder for the part files of a run in parts (`rows_per_part`), each run in a folder of
    /// its own, removed when it ends. Default (unset): the system's temporary folder. The
    /// files take about 30 bytes per row of each side (LZ4-compressed Parquet; 620 MB at 10 M).
    /// A run killed outright (`SIGKILL`, power loss) leaves its `xsolla-recon-parts-*` folder
    /// behind: remove such folders when no run is going.
    #[serde(skip_serializing)]
    pub parts_dir: Option<PathBuf>,
}

/// The Polars engine of the rule queries (`reconcile.engine`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryEngine {
    /// Polars' streaming engine: works through the tables in morsels on every core, so a
    /// group-by or join holds its state rather than every intermediate column at once.
    Streaming,
    /// Polars' in-memory engine: each step of a query materialises its whole result.
    #[default]
    InMemory,
}

impl QueryEngine {
    /// Collects `lf` with this engine.
    pub(crate) fn collect(self, lf: LazyFrame) -> PolarsResult<DataFrame> {
        let engine = match self {
            QueryEngine::Streaming => Engine::Streaming,
            QueryEngine::InMemory => Engine::InMemory,
        };
        lf.collect_with_engine(engine).map(|r| r.unwrap_single())
    }
}

/// The side whose date governs a pair (`reconcile.governing_date`). A pair is judged by the
/// one run whose window holds its governing date, so a window edge, a sliding nightly window
/// or a rerun never judges it twice or leaves it unjudged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoverningDate {
    /// Xsolla's date (`transfer_date`); the ledger's date where Xsolla has no line.
    #[default]
    Provider,
    /// The ledger's booking date; Xsolla's date where the ledger has no line.
    Ledger,
}

impl GoverningDate {
    /// The governing date of a pair with these two sides' dates.
    pub fn of<D: Copy>(self, provider: Option<D>, ledger: Option<D>) -> Option<D> {
        match self {
            GoverningDate::Provider => provider.or(ledger),
            GoverningDate::Ledger => ledger.or(provider),
        }
    }
}

impl ReconcileSettings {
    /// Days of Xsolla rows read on each side of the window (`provider_margin_days`, else
    /// `ledger_margin_days`).
    pub fn provider_margin(&self) -> u32 {
        self.provider_margin_days.unwrap_or(self.ledger_margin_days)
    }

    /// The window whose Xsolla rows a run of `window` reads: `window` widened by
    /// [`provider_margin`](Self::provider_margin) days on both sides.
    pub fn provider_window(&self, window: Window) -> Window {
        let margin = chrono::Days::new(u64::from(self.provider_margin()));
        Window {
            from: window.from.checked_sub_days(margin).unwrap_or(window.from),
            to: window.to.checked_add_days(margin).unwrap_or(window.to),
        }
    }
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        ReconcileSettings {
            tolerance_minor_units: BTreeMap::new(),
            default_tolerance_minor_units: 0,
            fx_tolerance: Decimal::new(1, 2),
            fee_columns: vec![
                "commission_xsolla".into(),
                "commission_ps".into(),
                "commission_agent".into(),
            ],
            ledger_margin_days: 7,
            provider_margin_days: None,
            include_dry_run: false,
            comparisons: vec![Comparison::Gross, Comparison::Fees, Comparison::NetVsPayout],
            fuzzy: FuzzySettings::default(),
            sql_dir: None,
            payout_deducts_penalties: false,
            governing_date: GoverningDate::Provider,
            engine: QueryEngine::default(),
            rows_per_slice: 1_000_000,
            rows_per_part: 0,
            parts_dir: None,
        }
    }
}

/// One amount comparison between a matched Xsolla line and its ledger line
/// (`reconcile.comparisons`). Each is decided by one SQL file; this list only switches them
/// on and off, so a ledger that books net amounts in the payment currency, say, compares
/// `net_vs_payment_minus_fees` instead of `net_vs_payout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Xsolla `payment.amount` vs the ledger's gross amount, within the currency's tolerance
    /// (`amount_mismatch`).
    Gross,
    /// The sum of Xsolla's `fee_columns` vs the ledger's fee, when the ledger maps a fee
    /// column (`fee_mismatch`, rule `fees`).
    Fees,
    /// Xsolla `payout.amount` (payout currency) vs the ledger's net, within `fx_tolerance`
    /// (`fee_mismatch`, rule `net_vs_payout`).
    NetVsPayout,
    /// Xsolla `payment.amount` minus the `fee_columns` vs the ledger's net, in the payment
    /// currency, within the currency's tolerance (`fee_mismatch`, rule
    /// `net_vs_payment_minus_fees`).
    NetVsPaymentMinusFees,
}

impl Comparison {
    /// The `settings` table column that switches it on in the SQL files.
    fn column(self) -> &'static str {
        match self {
            Comparison::Gross => "cmp_gross",
            Comparison::Fees => "cmp_fees",
            Comparison::NetVsPayout => "cmp_net_vs_payout",
            Comparison::NetVsPaymentMinusFees => "cmp_net_vs_payment_minus_fees",
        }
    }

    const ALL: [Comparison; 4] = [
        Comparison::Gross,
        Comparison::Fees,
        Comparison::NetVsPayout,
        Comparison::NetVsPaymentMinusFees,
    ];
}

/// The fuzzy rule: an unmatched Xsolla payment and an unmatched ledger line with the same
/// currency, an amount within tolerance, dates at most `days` apart and the same user (when
/// the ledger maps a `user_id` column) are reported as a *probable* pair. Both stay reported;
/// a person confirms.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FuzzySettings {
    /// Off by default.
    pub enabled: bool,
    /// Days apart at most.
    pub days: u32,
    /// Unmatched lines per side above which the rule is skipped (it compares pairs).
    pub max_candidates: usize,
    /// Require the same user when both sides name one (Xsolla `user.id` vs the ledger's
    /// `user_id` column). A side without a user id is not compared on it, and the detail says
    /// so. Default true.
    pub same_user: bool,
}

impl Default for FuzzySettings {
    fn default() -> Self {
        FuzzySettings {
            enabled: false,
            days: 3,
            max_candidates: 20_000,
            same_user: true,
        }
    }
}

/// What the reconciliation reads.
#[derive(Debug, Clone)]
pub struct ReconcileInput {
    /// The window reconciled (reported on).
    pub window: Window,
    /// The window Xsolla's side was read for: `window` widened by
    /// [`ReconcileSettings::provider_margin`] (a hand export may cover less, or more).
    pub provider_window: Window,
    /// Registry rows ([`frames::provider_schema`]): the window's, the margins' and any row
    /// looked up for a refund. Rows outside `window` take part in matching only.
    pub provider: DataFrame,
    /// Registry rows read per payout (`transfer_id` filter), when fetched; `None` when the
    /// provider side is a hand export (payouts cannot be checked then).
    pub payout_rows: Option<DataFrame>,
    /// Payouts ([`frames::payouts_schema`]).
    pub payouts: DataFrame,
    /// Payouts breakdown ([`frames::breakdown_schema`]).
    pub breakdown: DataFrame,
    /// Ledger lines ([`frames::ledger_schema`]).
    pub ledger: DataFrame,
    /// Only these projects (empty: all). With a ledger project column, the ledger's too.
    pub project_ids: Vec<i64>,
    /// The ledger's conventions (`[merchant.ledger.conventions]`): amount basis, currency,
    /// scope of the lines.
    pub conventions: crate::load::ledger::Conventions,
}

/// Amount and count of one class in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassTotal {
    /// Findings.
    pub count: u64,
    /// Sum of |difference|.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// Counts that prove nothing was lost: every row read is matched, reported, in a margin or
/// out of scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    /// Provider rows given.
    pub provider_rows: u64,
    /// … of which out of scope (test payments, other projects).
    pub provider_out_of_scope: u64,
    /// … of which in a reported discrepancy.
    pub provider_reported: u64,
    /// … of which matched cleanly (dated inside the window).
    pub provider_matched: u64,
    /// … of which dated outside the window (the margins fetched around it, payments looked up
    /// for a refund) and named by no finding: read for matching only.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub provider_in_margin: u64,
    /// Ledger rows given.
    pub ledger_rows: u64,
    /// … of which booked too far outside the window to be compared.
    pub ledger_out_of_window: u64,
    /// … of which in a reported discrepancy.
    pub ledger_reported: u64,
    /// … of which matched cleanly (booked inside the window).
    pub ledger_matched: u64,
    /// … of which booked outside the window but near it (`ledger_margin_days`, or the payment
    /// of a refund in the window) and named by no finding: read for matching only.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ledger_in_margin: u64,
    /// … of which set aside because their status is not money yet
    /// (`conventions.not_money_statuses`: pending, canceled).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ledger_not_money: u64,
    /// … of which journal lines that are not sales or refunds (fee, tax, discount lines:
    /// `conventions.line_types`), set aside.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ledger_journal_lines: u64,
    /// … of which lines of projects outside `merchant.project_ids` (the ledger's project
    /// column), set aside.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ledger_other_projects: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The run's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Findings per class and currency.
    pub by_class: BTreeMap<String, BTreeMap<String, ClassTotal>>,
    /// Total findings.
    pub discrepancies: u64,
    /// Provider lines (transaction × payment/cancellation) in scope, dated inside the window.
    pub provider_lines: u64,
    /// … of those with no finding.
    pub matched_lines: u64,
    /// Matched Xsolla amount per currency.
    pub matched_totals: BTreeMap<String, String>,
    /// matched_lines / provider_lines, as a percentage with 2 decimals.
    pub match_rate_percent: String,
    /// Row accounting.
    pub rows: RowCounts,
    /// Checks that could not run, with their reasons, sorted; empty when every check ran
    /// (silence means checked and fine).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_checked: Vec<NotChecked>,
}

impl Summary {
    /// Adds lines of checks that could not run, keeping those without a day and those whose
    /// day is in `window` (a margin day belongs to another run), in a deterministic order. A
    /// line replaces one already there for the same check and subject: the stage that read the
    /// data (the load, which the job adds last) knows why more precisely than the
    /// reconciliation, which sees only that a row is missing.
    pub fn add_not_checked(&mut self, lines: impl IntoIterator<Item = NotChecked>, window: Window) {
        let lines: Vec<NotChecked> = lines
            .into_iter()
            .filter(|l| l.date.is_none_or(|d| window.contains(d)))
            .collect();
        self.not_checked.retain(|old| {
            !lines
                .iter()
                .any(|l| l.check == old.check && l.subject == old.subject)
        });
        self.not_checked.extend(lines);
        self.not_checked.sort();
        self.not_checked.dedup();
    }
}

/// The result.
#[derive(Debug, Clone)]
pub struct ReconcileOutput {
    /// One row per finding ([`frames::discrepancy_schema`]), sorted by class and key.
    pub discrepancies: DataFrame,
    /// Counts and amounts.
    pub summary: Summary,
}

/// A reconciliation failure.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A rule file failed.
    #[error("rule {file}: {message}")]
    Rule {
        /// The SQL file.
        file: String,
        /// Polars' words.
        message: String,
    },
    /// A rule file could not be read.
    #[error("cannot read rules from {path}: {source}")]
    Read {
        /// The folder or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Frame preparation failed.
    #[error("preparing {what}: {source}")]
    Polars {
        /// What was being done.
        what: &'static str,
        /// Polars' error.
        #[source]
        source: PolarsError,
    },
    /// Building a frame failed.
    #[error("building a frame: {0}")]
    Frame(#[from] PolarsError),
    /// A rule reads a column the engine does not provide: a typo, or a column of another table
    /// (`sql/README.md` lists every table and its columns).
    #[error(
        "rule {file} reads column `{column}`, which is not among the columns given to it \
         (tables it reads: {tables}); sql/README.md lists every table and its columns"
    )]
    UnknownColumn {
        /// The SQL file.
        file: String,
        /// The column, as Polars names it.
        column: String,
        /// The tables the file reads, comma-separated.
        tables: String,
    },
    /// A class file's result lacks a column of the discrepancy schema.
    #[error(
        "rule {file} does not output column `{column}`; a class file outputs {}",
        run::CLASS_OUTPUT.join(", ")
    )]
    MissingOutput {
        /// The SQL file.
        file: String,
        /// The missing column.
        column: String,
    },
    /// An Xsolla row could not be converted into the ledger's currency
    /// (`merchant.ledger.conventions.currency`).
    #[error("converting transaction {} into the ledger's currency: {message}", transaction_id.map_or_else(|| "?".to_owned(), |t| t.to_string()))]
    Conversion {
        /// The transaction.
        transaction_id: Option<i64>,
        /// What went wrong.
        message: String,
    },
    /// The rules cannot be run in parts (a file reads both per-transaction and merchant-wide
    /// tables, say): the run needs the memory of a run whole.
    #[error("the rules cannot run in parts: {0}")]
    NotInParts(String),
    /// A part of a run in parts could not be read back.
    #[error("reading part {part} of the run: {message}")]
    Part {
        /// The part.
        part: usize,
        /// What went wrong.
        message: String,
    },
    /// An invariant did not hold (a bug, never bad input).
    #[error("internal check failed: {0}")]
    Invariant(String),
}

/// The reconciliation's classes, in report order: the files in `sql/classes/`, ordered by
/// their `-- report_order: N` line (see `sql/README.md`).
pub const CLASSES: &[&str] = rules::CLASS_NAMES;

fn pl<T>(what: &'static str, r: PolarsResult<T>) -> Result<T, ReconcileError> {
    r.map_err(|source| ReconcileError::Polars { what, source })
}

/// Column `name` of `df` as its typed array (`Column::str`, `Column::date`, …); `what` was
/// being done, for the error.
fn typed<T: Clone>(
    df: &DataFrame,
    name: &str,
    what: &'static str,
    as_type: impl FnOnce(&Column) -> PolarsResult<&T>,
) -> Result<T, ReconcileError> {
    pl(what, df.column(name).and_then(|c| as_type(c).cloned()))
}

/// Column `name` of `df`, text or coded ([`crate::domain::codes`]), as text.
fn text(df: &DataFrame, name: &str, what: &'static str) -> Result<StringChunked, ReconcileError> {
    pl(what, df.column(name).and_then(crate::domain::codes::text))
}

fn day(d: chrono::NaiveDate) -> i32 {
    (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

fn zero() -> Expr {
    lit(0).cast(money())
}

/// Runs the reconciliation.
pub fn reconcile(
    input: &ReconcileInput,
    settings: &ReconcileSettings,
) -> Result<ReconcileOutput, ReconcileError> {
    // Frames share their buffers: the clone costs nothing, but the caller's copy stays alive.
    reconcile_owned(input.clone(), settings)
}

/// [`reconcile`], taking the input: Xsolla's and the ledger's full frames are dropped as soon
/// as the in-scope frames are built (at 10M rows, the widest frames of the run).
pub fn reconcile_owned(
    input: ReconcileInput,
    settings: &ReconcileSettings,
) -> Result<ReconcileOutput, ReconcileError> {
    if input.provider.height().max(input.ledger.height()) > rules::KEEP_FREED_MEMORY_MAX_ROWS {
        rules::keep_freed_memory(false);
    }
    // The loaders' freed buffers (parsed on several threads) go back before the big frames.
    rules::release_free_memory();
    let rules = rules::RuleSet::load(settings.sql_dir.as_deref())?;
    let window = input.window;
    let rows_read = summary::RowsRead {
        provider: input.provider.height(),
        ledger: input.ledger.height(),
    };
    let conventions = input.conventions.clone();
    let inputs = inputs::build(input, settings, &rules, None)?;
    let inputs::InputTables {
        tables,
        currencies,
        provider_rows,
        ledger_rows,
        not_checked: lines,
        empty_ledger,
        ledger_scope,
    } = inputs;
    let judged = slices::Judged {
        settings,
        empty: &empty_ledger,
        conventions: &conventions,
    };
    let mut lines = lines.all();
    let rows = [provider_rows, ledger_rows].map(summary::ScopeRows::whole);
    let none = summary::Reported::default();
    let (ran, [provider_rows, ledger_rows]) = slices::run(&rules, tables, &judged, rows, &none)?;
    let mut discrepancies = run::collect_findings(&ran.found)?;
    drop(ran.found);
    if settings.fuzzy.enabled {
        discrepancies = fuzzy::flag_probable(
            discrepancies,
            &settings.fuzzy,
            &currencies,
            &provider_rows.rows,
            &ledger_rows.rows,
            &mut lines,
        )?;
    }
    lines.extend(ran.not_checked);
    let started = std::time::Instant::now();
    let mut summary = summary::summarize(
        rows_read,
        ledger_scope,
        &provider_rows,
        &ledger_rows,
        ran.lines,
        &discrepancies,
    )?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "summary and row accounting"
    );
    summary.add_not_checked(lines, window);
    Ok(ReconcileOutput {
        discrepancies,
        summary,
    })
}
