//! Reconcile stage: where Xsolla and the ledger disagree, why, and by how much.
//!
//! The matching and every discrepancy class are SQL files in `sql/` run by Polars' SQL engine,
//! so a finance engineer can read and change a rule without touching Rust:
//! - `sql/prepare/NN_name.sql` run in order; each result becomes table `name` for the next;
//! - `sql/classes/<class>.sql` each decide one discrepancy class, nothing else does.
//!
//! This module prepares the input tables (scope, day numbers, tolerances), runs the files,
//! assembles the discrepancies in the documented schema, flags probable (fuzzy) pairs, and
//! checks that every row read is accounted for.

pub mod open_items;
pub mod rules;
#[cfg(test)]
mod tests;

use crate::domain::frames::{self, decimal_at, decimal_column, money};
use crate::domain::window::Window;
use polars::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The discrepancy classes, in report order.
pub const CLASSES: &[&str] = &[
    "missing_in_ledger",
    "missing_in_provider",
    "amount_mismatch",
    "currency_mismatch",
    "status_mismatch",
    "duplicate_in_provider",
    "duplicate_in_ledger",
    "fee_mismatch",
    "timing_difference",
    "payout_mismatch",
    "breakdown_mismatch",
];

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
    /// Ledger lines up to this many days outside the window still match (and are reported as
    /// timing differences) instead of being ignored. Default 7.
    pub ledger_margin_days: u32,
    /// Include Xsolla test (dry-run) transactions. Default false.
    pub include_dry_run: bool,
    /// The amounts compared on every matched line, in the order they are checked. Default
    /// `["gross", "fees", "net_vs_payout"]`.
    pub comparisons: Vec<Comparison>,
    /// Look for probable pairs among the unmatched lines.
    pub fuzzy: FuzzySettings,
    /// Folder with `prepare/` and `classes/` SQL files replacing the built-in rules.
    pub sql_dir: Option<PathBuf>,
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
            include_dry_run: false,
            comparisons: vec![Comparison::Gross, Comparison::Fees, Comparison::NetVsPayout],
            fuzzy: FuzzySettings::default(),
            sql_dir: None,
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
    /// The window reconciled.
    pub window: Window,
    /// Registry rows of the window ([`frames::provider_schema`]).
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
    /// Only these projects (empty: all).
    pub project_ids: Vec<i64>,
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

/// Counts that prove nothing was lost: every row read is matched, reported or out of scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    /// Provider rows given.
    pub provider_rows: u64,
    /// … of which out of scope (test payments, other projects).
    pub provider_out_of_scope: u64,
    /// … of which in a reported discrepancy.
    pub provider_reported: u64,
    /// … of which matched cleanly.
    pub provider_matched: u64,
    /// Ledger rows given.
    pub ledger_rows: u64,
    /// … of which booked too far outside the window to be compared.
    pub ledger_out_of_window: u64,
    /// … of which in a reported discrepancy.
    pub ledger_reported: u64,
    /// … of which matched cleanly.
    pub ledger_matched: u64,
}

/// The run's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Findings per class and currency.
    pub by_class: BTreeMap<String, BTreeMap<String, ClassTotal>>,
    /// Total findings.
    pub discrepancies: u64,
    /// Provider lines (transaction × payment/cancellation) in scope.
    pub provider_lines: u64,
    /// … of those with no finding.
    pub matched_lines: u64,
    /// Matched Xsolla amount per currency.
    pub matched_totals: BTreeMap<String, String>,
    /// matched_lines / provider_lines, as a percentage with 2 decimals.
    pub match_rate_percent: String,
    /// Row accounting.
    pub rows: RowCounts,
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
    /// An invariant did not hold (a bug, never bad input).
    #[error("internal check failed: {0}")]
    Invariant(String),
}

fn pl<T>(what: &'static str, r: PolarsResult<T>) -> Result<T, ReconcileError> {
    r.map_err(|source| ReconcileError::Polars { what, source })
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
    mut input: ReconcileInput,
    settings: &ReconcileSettings,
) -> Result<ReconcileOutput, ReconcileError> {
    // The loaders' freed buffers (parsed on several threads) go back before the big frames.
    rules::release_free_memory();
    let rules = rules::RuleSet::load(settings.sql_dir.as_deref())?;
    // Only the columns some rule mentions (or the Rust code below reads) are carried into the
    // rule tables: edited rules that name another column get it, the rest is not copied.
    let mentioned = |name: &str| {
        ["source", "user_id"].contains(&name)
            || rules
                .prepare
                .iter()
                .chain(&rules.classes)
                .any(|r| r.mentions(name))
    };
    let keep = |df: DataFrame| -> PolarsResult<DataFrame> {
        let names: Vec<PlSmallStr> = df
            .get_column_names()
            .into_iter()
            .filter(|n| mentioned(n.as_str()))
            .cloned()
            .collect();
        let mut df = df.select(names)?;
        rules::align_shared_chunks(&mut df);
        Ok(df)
    };
    let w = input.window;
    pl(
        "provider",
        frames::check_schema(&input.provider, &frames::provider_schema(), "provider"),
    )?;
    pl(
        "ledger",
        frames::check_schema(&input.ledger, &frames::ledger_schema(), "ledger"),
    )?;

    // Provider rows: all non-test rows (merchant-wide checks) and the scoped ones.
    let not_test = if settings.include_dry_run {
        lit(true)
    } else {
        col("dry_run").fill_null(lit(false)).not()
    };
    let (provider_rows_in, ledger_rows_in) = (input.provider.height(), input.ledger.height());
    let full_provider = std::mem::take(&mut input.provider);
    let full_ledger = std::mem::take(&mut input.ledger);
    let with_days = full_provider.lazy().with_column(
        col("transfer_date")
            .cast(DataType::Int32)
            .alias("transfer_day"),
    );
    let chunk_from = chunk_expr(&input.breakdown)?;
    let provider_all = pl(
        "provider rows",
        with_days
            .clone()
            .filter(not_test.clone())
            .with_column(chunk_from.alias("chunk_from"))
            .collect(),
    )?;
    let provider_all = pl("provider rows", keep(provider_all))?;
    let mut scope = not_test;
    if !input.project_ids.is_empty() {
        let ids = Series::new("ids".into(), input.project_ids.clone());
        scope = scope.and(col("project_id").is_in(lit(ids).implode(false), false));
    }
    let fee_total = settings
        .fee_columns
        .iter()
        .fold(zero(), |acc, c| acc + col(c.as_str()).fill_null(zero()))
        .cast(money());
    let provider = pl(
        "provider scope",
        with_days
            .filter(scope)
            .with_column(fee_total.alias("fee_total"))
            .collect(),
    )?;
    let provider = pl("provider scope", keep(provider))?;

    // Ledger: day numbers, inside/outside the window, and the margin.
    let margin = i32::try_from(settings.ledger_margin_days).unwrap_or(i32::MAX);
    let (from, to) = (day(w.from), day(w.to));
    let ledger_days = full_ledger
        .lazy()
        .with_column(col("booked_date").cast(DataType::Int32).alias("booked_day"));
    let near = col("booked_day")
        .gt_eq(lit(from - margin))
        .and(col("booked_day").lt_eq(lit(to + margin)));
    let ledger = pl(
        "ledger",
        ledger_days
            .filter(near)
            .with_column(
                col("booked_day")
                    .gt_eq(lit(from))
                    .and(col("booked_day").lt_eq(lit(to)))
                    .alias("in_window"),
            )
            .collect(),
    )?;
    let ledger = pl("ledger", keep(ledger))?;

    let fx_tolerance = lit(Scalar::new(
        money(),
        AnyValue::Decimal(
            {
                let mut t = settings.fx_tolerance;
                t.rescale(frames::MONEY_SCALE as u32);
                t.mantissa()
            },
            frames::PRECISION,
            frames::MONEY_SCALE,
        ),
    ));
    let payout_rows = match &input.payout_rows {
        Some(df) => df.clone(),
        None => frames::empty(&frames::provider_schema()),
    };
    let payouts = pl(
        "payouts",
        input
            .payouts
            .clone()
            .lazy()
            .with_columns([
                lit(input.payout_rows.is_some()).alias("checkable"),
                fx_tolerance.clone().alias("fx_tolerance"),
            ])
            .collect(),
    )?;
    // The tolerance rides on the rows: Polars SQL loses a joined table's columns when a
    // CROSS JOIN follows a LEFT JOIN.
    let breakdown = pl(
        "breakdown",
        input
            .breakdown
            .clone()
            .lazy()
            .with_column(fx_tolerance.alias("fx_tolerance"))
            .collect(),
    )?;
    let currencies = currency_table(&[&provider, &ledger], settings)?;
    // What the Rust code below reads of the in-scope rows (row accounting, the fuzzy rule's
    // users); the full frames move into the rule tables and go when no later rule needs them.
    // The users are read by the fuzzy rule only; at 10M rows the column costs ~160 MB a side.
    let rows_of = |df: &DataFrame| {
        if settings.fuzzy.enabled {
            pl("rows", df.select(["source", "user_id"]))
        } else {
            pl("rows", df.select(["source"]))
        }
    };
    let (provider_rows, ledger_rows) = (rows_of(&provider)?, rows_of(&ledger)?);
    let settings_df = pl(
        "settings",
        DataFrame::new_infer_height(
            std::iter::once(decimal_column(
                "fx_tolerance",
                &[Some(settings.fx_tolerance)],
                frames::MONEY_SCALE,
            )?)
            .chain(
                Comparison::ALL
                    .iter()
                    .map(|c| Column::new(c.column().into(), [settings.comparisons.contains(c)])),
            )
            .collect(),
        )
        .and_then(|df| df.lazy().collect()),
    );
    let settings_df = settings_df?;

    let mut tables = rules::Tables::default();
    for (name, df) in [
        ("provider", provider),
        ("provider_all", provider_all),
        ("payout_rows", payout_rows),
        ("payouts", payouts),
        ("breakdown", breakdown),
        ("ledger", ledger),
        ("currencies", currencies.clone()),
        ("settings", settings_df),
    ] {
        tables.insert(name, df);
    }
    // Each class file runs as soon as the prepare files it reads have run, so a table only it
    // reads (the identical-row groups, say) is dropped before the big join is built. Findings
    // are still put together in class order.
    let mut parts: Vec<Option<DataFrame>> = vec![None; rules.classes.len()];
    for i in 0..=rules.prepare.len() {
        let pending = &rules.prepare[i..];
        for (c, rule) in rules.classes.iter().enumerate() {
            if parts[c].is_some() || !rule.ready(pending) {
                continue;
            }
            let df = rule.run(&tables)?;
            parts[c] = Some(
                shape_class(df, &rule.table).map_err(|e| ReconcileError::Rule {
                    file: rule.file.clone(),
                    message: e.to_string(),
                })?,
            );
            drop_done(&mut tables, pending, &rules.classes, &parts);
        }
        let Some(rule) = rules.prepare.get(i) else {
            break;
        };
        let df = rule.run(&tables)?;
        tables.insert(&rule.table, df);
        drop_done(&mut tables, &rules.prepare[i + 1..], &rules.classes, &parts);
        tracing::debug!(held_mib = tables.estimated_mib(), tables = ?tables.sizes(), "tables held");
    }
    let mut all = frames::empty(&frames::discrepancy_schema());
    for p in parts.iter().flatten() {
        pl("collecting findings", all.vstack_mut(p).map(|_| ()))?;
    }
    let mut discrepancies = pl(
        "sorting findings",
        all.lazy()
            .sort(["class", "key"], SortMultipleOptions::default())
            .collect(),
    )?;
    if settings.fuzzy.enabled {
        discrepancies = fuzzy::flag_probable(
            discrepancies,
            &settings.fuzzy,
            &currencies,
            &provider_rows,
            &ledger_rows,
        )?;
    }
    pl(
        "discrepancies",
        frames::check_schema(
            &discrepancies,
            &frames::discrepancy_schema(),
            "discrepancies",
        ),
    )?;
    let matched = tables.get("matched").ok_or_else(|| {
        ReconcileError::Invariant("the prepare rules did not produce table `matched`".into())
    })?;
    let started = std::time::Instant::now();
    let summary = summarize(
        (provider_rows_in, ledger_rows_in),
        &provider_rows,
        &ledger_rows,
        matched,
        &discrepancies,
    )?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "summary and row accounting"
    );
    Ok(ReconcileOutput {
        discrepancies,
        summary,
    })
}

/// Drops the tables that neither a `pending` prepare file nor a class file not yet run (no part
/// in `parts`) reads; `matched` stays for the summary.
fn drop_done(
    tables: &mut rules::Tables,
    pending: &[rules::Rule],
    classes: &[rules::Rule],
    parts: &[Option<DataFrame>],
) {
    let later: Vec<&rules::Rule> = pending
        .iter()
        .chain(
            classes
                .iter()
                .zip(parts)
                .filter(|(_, p)| p.is_none())
                .map(|(r, _)| r),
        )
        .collect();
    tables.drop_unused(&later, &["matched"]);
}

/// First day of the breakdown window each transfer day falls in (null when none).
fn chunk_expr(breakdown: &DataFrame) -> Result<Expr, ReconcileError> {
    let windows = pl(
        "breakdown windows",
        breakdown
            .clone()
            .lazy()
            .select([col("window_from"), col("window_to")])
            .unique_stable(None, UniqueKeepStrategy::First)
            .collect(),
    )?;
    let from = pl(
        "breakdown windows",
        windows
            .column("window_from")
            .and_then(|c| c.date().cloned()),
    )?;
    let to = pl(
        "breakdown windows",
        windows.column("window_to").and_then(|c| c.date().cloned()),
    )?;
    let mut expr = lit(NULL).cast(DataType::Date);
    for (f, t) in from.physical().iter().zip(to.physical().iter()) {
        if let (Some(f), Some(t)) = (f, t) {
            expr = when(
                col("transfer_day")
                    .gt_eq(lit(f))
                    .and(col("transfer_day").lt_eq(lit(t))),
            )
            .then(lit(f).cast(DataType::Date))
            .otherwise(expr);
        }
    }
    Ok(expr)
}

/// `currency, tolerance` for every currency seen, tolerance = minor units × 10^-exponent.
fn currency_table(
    frames_in: &[&DataFrame],
    settings: &ReconcileSettings,
) -> Result<DataFrame, ReconcileError> {
    let mut seen = BTreeSet::new();
    for df in frames_in {
        for name in ["payment_currency", "currency"] {
            if let Ok(c) = df.column(name) {
                let s = pl("currencies", c.str().cloned())?;
                seen.extend(s.iter().flatten().map(str::to_owned));
            }
        }
    }
    let codes: Vec<String> = seen.into_iter().collect();
    let tolerances: Vec<Option<Decimal>> = codes
        .iter()
        .map(|c| {
            let minor = settings
                .tolerance_minor_units
                .get(c)
                .copied()
                .unwrap_or(settings.default_tolerance_minor_units);
            Some(Decimal::new(
                i64::from(minor),
                crate::domain::money::exponent(c),
            ))
        })
        .collect();
    pl(
        "currencies",
        DataFrame::new_infer_height(vec![
            Column::new("currency".into(), codes),
            decimal_column("tolerance", &tolerances, frames::MONEY_SCALE)?,
        ]),
    )
}

/// Brings one class file's result into the discrepancy schema.
fn shape_class(df: DataFrame, class: &str) -> PolarsResult<DataFrame> {
    let m = money();
    df.lazy()
        .select([
            col("key").cast(DataType::String),
            lit(class).alias("class"),
            col("rule").cast(DataType::String),
            lit(false).alias("probable"),
            col("currency").cast(DataType::String),
            col("expected").cast(m.clone()),
            col("actual").cast(m.clone()),
            (col("actual").cast(m.clone()).fill_null(zero())
                - col("expected").cast(m.clone()).fill_null(zero()))
            .cast(m)
            .alias("difference"),
            col("transaction_id").cast(DataType::Int64),
            col("order_id").cast(DataType::String),
            col("provider_date").cast(DataType::Date),
            col("ledger_date").cast(DataType::Date),
            col("provider_rows").cast(DataType::String),
            col("ledger_rows").cast(DataType::String),
            col("detail").cast(DataType::String),
        ])
        .collect()
}

fn sources(df: &DataFrame, column: &str) -> Result<BTreeSet<String>, ReconcileError> {
    let c = pl("sources", df.column(column).and_then(|c| c.str().cloned()))?;
    Ok(c.iter()
        .flatten()
        .flat_map(|s| s.split(';'))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Whether no value repeats (nulls included). Sorting 64-bit hashes and comparing the strings
/// only where two hashes meet is several times faster than `n_unique` on 10 million sources.
fn all_distinct(c: &StringChunked) -> bool {
    use std::hash::BuildHasher;
    let state =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    let mut hashed: Vec<(u64, usize)> = Vec::with_capacity(c.len());
    for (i, v) in c.iter().enumerate() {
        hashed.push((state.hash_one(v), i));
    }
    hashed.sort_unstable();
    // Rows whose hashes meet are compared by value, so a collision is never taken for a repeat.
    let mut i = 0;
    while i < hashed.len() {
        let mut j = i + 1;
        while j < hashed.len() && hashed[j].0 == hashed[i].0 {
            j += 1;
        }
        if j - i > 1 {
            let mut values: Vec<Option<&str>> =
                hashed[i..j].iter().map(|&(_, r)| c.get(r)).collect();
            values.sort_unstable();
            if values.windows(2).any(|w| w[0] == w[1]) {
                return false;
            }
        }
        i = j;
    }
    true
}

/// How many values of `column` are in `set`.
fn count_in(df: &DataFrame, column: &str, set: &BTreeSet<String>) -> Result<u64, ReconcileError> {
    if set.is_empty() {
        return Ok(0);
    }
    let c = pl("summary", df.column(column).and_then(|c| c.str().cloned()))?;
    Ok(c.iter().flatten().filter(|s| set.contains(*s)).count() as u64)
}

fn summarize(
    (provider_rows_in, ledger_rows_in): (usize, usize),
    provider: &DataFrame,
    ledger: &DataFrame,
    matched: &DataFrame,
    d: &DataFrame,
) -> Result<Summary, ReconcileError> {
    let mut s = Summary::default();
    let classes = pl("summary", d.column("class").and_then(|c| c.str().cloned()))?;
    let currencies = pl(
        "summary",
        d.column("currency").and_then(|c| c.str().cloned()),
    )?;
    let diff = pl("summary", d.column("difference").cloned())?;
    for i in 0..d.height() {
        let class = classes.get(i).unwrap_or_default().to_owned();
        let cur = currencies.get(i).unwrap_or_default().to_owned();
        let t = s.by_class.entry(class).or_default().entry(cur).or_default();
        t.count += 1;
        t.amount += pl("summary", decimal_at(&diff, i))?
            .unwrap_or_default()
            .abs();
    }
    s.discrepancies = d.height() as u64;

    // Row accounting: a row is reported when a finding names it. The reported sets are small
    // (the findings' rows); the in-scope rows are streamed past them, never collected, so this
    // costs no memory per row (a set of every source cost ~70 bytes a row at 10M rows).
    let reported_p = sources(d, "provider_rows")?;
    let reported_l = sources(d, "ledger_rows")?;
    let r = &mut s.rows;
    r.provider_rows = provider_rows_in as u64;
    r.provider_out_of_scope = r.provider_rows - provider.height() as u64;
    r.provider_reported = count_in(provider, "source", &reported_p)?;
    r.provider_matched = provider.height() as u64 - r.provider_reported;
    r.ledger_rows = ledger_rows_in as u64;
    r.ledger_out_of_window = r.ledger_rows - ledger.height() as u64;
    r.ledger_reported = count_in(ledger, "source", &reported_l)?;
    r.ledger_matched = ledger.height() as u64 - r.ledger_reported;
    let unique = |df: &DataFrame| -> Result<bool, ReconcileError> {
        let c = pl(
            "summary",
            df.column("source").and_then(|c| c.str().cloned()),
        )?;
        Ok(all_distinct(&c))
    };
    if !unique(provider)? || !unique(ledger)? {
        return Err(ReconcileError::Invariant(
            "row sources are not unique; rows could not be accounted for".into(),
        ));
    }
    if r.provider_rows != r.provider_out_of_scope + r.provider_reported + r.provider_matched
        || r.ledger_rows != r.ledger_out_of_window + r.ledger_reported + r.ledger_matched
    {
        return Err(ReconcileError::Invariant(format!(
            "rows do not add up: {r:?}"
        )));
    }

    // Lines: provider (transaction × kind) pairs; matched = no finding names their rows.
    let p_txn = pl(
        "summary",
        matched.column("p_txn").and_then(|c| c.i64().cloned()),
    )?;
    let p_rows = pl(
        "summary",
        matched
            .column("provider_rows")
            .and_then(|c| c.str().cloned()),
    )?;
    let p_cur = pl(
        "summary",
        matched.column("p_currency").and_then(|c| c.str().cloned()),
    )?;
    let p_amount = pl(
        "summary",
        matched
            .column("p_amount")
            .and_then(|c| c.decimal().cloned()),
    )?;
    let scale = p_amount.scale() as u32;
    // Iterators, not per-row lookups: this loop sees every line of a 10-million-row run.
    let mut sums: BTreeMap<&str, i128> = BTreeMap::new();
    let lines = p_txn
        .iter()
        .zip(p_rows.iter())
        .zip(p_cur.iter())
        .zip(p_amount.physical().iter());
    for (((txn, rows), cur), amount) in lines {
        if txn.is_none() {
            continue;
        }
        s.provider_lines += 1;
        let rows = rows.unwrap_or_default();
        if rows.split(';').all(|r| !reported_p.contains(r)) {
            s.matched_lines += 1;
            let sum = sums.entry(cur.unwrap_or_default()).or_default();
            *sum = sum
                .checked_add(amount.unwrap_or_default())
                .ok_or_else(|| ReconcileError::Invariant("matched total overflows".into()))?;
        }
    }
    let totals: BTreeMap<String, Decimal> = sums
        .into_iter()
        .map(|(c, m)| {
            Decimal::try_from_i128_with_scale(m, scale)
                .map(|d| (c.to_owned(), d))
                .map_err(|e| ReconcileError::Invariant(format!("matched total of {c}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    s.matched_totals = totals
        .into_iter()
        .map(|(c, v)| (c.clone(), crate::domain::money::format_amount(v, &c)))
        .collect();
    s.match_rate_percent = if s.provider_lines == 0 {
        "100.00".into()
    } else {
        let mut rate = Decimal::from(s.matched_lines * 100) / Decimal::from(s.provider_lines);
        rate = rate.round_dp(2);
        rate.rescale(2);
        rate.to_string()
    };
    Ok(s)
}

mod fuzzy {
    //! The fuzzy rule: probable pairs among missing_in_ledger and missing_in_provider.

    use super::*;

    pub(super) fn flag_probable(
        d: DataFrame,
        s: &FuzzySettings,
        currencies: &DataFrame,
        provider: &DataFrame,
        ledger: &DataFrame,
    ) -> Result<DataFrame, ReconcileError> {
        let class = pl("fuzzy", d.column("class").and_then(|c| c.str().cloned()))?;
        let cur = pl("fuzzy", d.column("currency").and_then(|c| c.str().cloned()))?;
        let expected = pl("fuzzy", d.column("expected").cloned())?;
        let actual = pl("fuzzy", d.column("actual").cloned())?;
        let pdate = pl(
            "fuzzy",
            d.column("provider_date").and_then(|c| c.date().cloned()),
        )?;
        let ldate = pl(
            "fuzzy",
            d.column("ledger_date").and_then(|c| c.date().cloned()),
        )?;
        let keys = pl("fuzzy", d.column("key").and_then(|c| c.str().cloned()))?;
        let codes = pl(
            "fuzzy",
            currencies.column("currency").and_then(|c| c.str().cloned()),
        )?;
        let tol_col = pl("fuzzy", currencies.column("tolerance").cloned())?;
        let mut tol = BTreeMap::new();
        for i in 0..currencies.height() {
            tol.insert(
                codes.get(i).unwrap_or_default().to_owned(),
                pl("fuzzy", decimal_at(&tol_col, i))?.unwrap_or_default(),
            );
        }
        let pick = |name: &str| -> Vec<usize> {
            (0..d.height())
                .filter(|&i| class.get(i) == Some(name))
                .collect()
        };
        let (left, right) = (pick("missing_in_ledger"), pick("missing_in_provider"));
        let p_users = users(&d, "provider_rows", &left, provider)?;
        let l_users = users(&d, "ledger_rows", &right, ledger)?;
        let mut probable = vec![false; d.height()];
        let mut detail: Vec<Option<String>> =
            pl("fuzzy", d.column("detail").and_then(|c| c.str().cloned()))?
                .iter()
                .map(|v| v.map(str::to_owned))
                .collect();
        if left.len() <= s.max_candidates && right.len() <= s.max_candidates {
            let mut used = BTreeSet::new();
            for &i in &left {
                let amount = pl("fuzzy", decimal_at(&expected, i))?.unwrap_or_default();
                let c = cur.get(i).unwrap_or_default();
                let t = tol.get(c).copied().unwrap_or_default();
                for &j in &right {
                    if used.contains(&j) || cur.get(j) != Some(c) {
                        continue;
                    }
                    let other = pl("fuzzy", decimal_at(&actual, j))?.unwrap_or_default();
                    let days = match (pdate.physical().get(i), ldate.physical().get(j)) {
                        (Some(a), Some(b)) => (a - b).unsigned_abs(),
                        _ => u32::MAX,
                    };
                    let (pu, lu) = (p_users.get(&i), l_users.get(&j));
                    let user_ok = !s.same_user || pu.is_none() || lu.is_none() || pu == lu;
                    if (amount - other).abs() <= t && days <= s.days && user_ok {
                        let user = match (pu, lu) {
                            (Some(u), Some(_)) if s.same_user => format!("same user {u}"),
                            _ => "user not compared".to_owned(),
                        };
                        used.insert(j);
                        probable[i] = true;
                        probable[j] = true;
                        let (ki, kj) = (
                            keys.get(i).unwrap_or_default(),
                            keys.get(j).unwrap_or_default(),
                        );
                        detail[i] = Some(format!("{} (probably the same as {kj}: same currency and amount, {days} days apart, {user})", detail[i].clone().unwrap_or_default()));
                        detail[j] = Some(format!("{} (probably the same as {ki}: same currency and amount, {days} days apart, {user})", detail[j].clone().unwrap_or_default()));
                        break;
                    }
                }
            }
        } else {
            tracing::warn!(
                left = left.len(),
                right = right.len(),
                max = s.max_candidates,
                "too many unmatched lines for the fuzzy rule; skipped"
            );
        }
        let mut d = d;
        pl(
            "fuzzy",
            d.replace(
                "probable",
                Series::new("probable".into(), probable).into_column(),
            )
            .map(|_| ()),
        )?;
        pl(
            "fuzzy",
            d.replace("detail", Series::new("detail".into(), detail).into_column())
                .map(|_| ()),
        )?;
        Ok(d)
    }

    /// The user id of each candidate row `rows` of `d`, from the first of its source rows
    /// (column `sources_col`) that names one in `frame` (`source`, `user_id`).
    fn users(
        d: &DataFrame,
        sources_col: &str,
        rows: &[usize],
        frame: &DataFrame,
    ) -> Result<BTreeMap<usize, String>, ReconcileError> {
        let srcs = pl(
            "fuzzy",
            d.column(sources_col).and_then(|c| c.str().cloned()),
        )?;
        let mut wanted: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &i in rows {
            for s in srcs.get(i).unwrap_or_default().split(';') {
                wanted.entry(s).or_default().push(i);
            }
        }
        let mut out = BTreeMap::new();
        if wanted.is_empty() {
            return Ok(out);
        }
        let fsrc = pl(
            "fuzzy",
            frame.column("source").and_then(|c| c.str().cloned()),
        )?;
        let fuser = pl(
            "fuzzy",
            frame.column("user_id").and_then(|c| c.str().cloned()),
        )?;
        for (src, user) in fsrc.iter().zip(fuser.iter()) {
            if let (Some(src), Some(user)) = (src, user) {
                if let Some(rows) = wanted.get(src) {
                    for &i in rows {
                        out.entry(i).or_insert_with(|| user.to_owned());
                    }
                }
            }
        }
        Ok(out)
    }
}
