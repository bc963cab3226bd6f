//! The tables the rules start from: the loaded frames cut to the window and scope, with the
//! derived columns the SQL files read (day numbers, `in_window`, `fee_total`, tolerances,
//! the `settings` switches). `sql/README.md` lists every table and column built here.

use super::conventions::{self as conv, LedgerRates, LedgerScope};
use super::not_checked::{self, EmptyLedgerColumns};
use super::rules::{self, RuleSet};
use super::{
    day, pl, text, typed, zero, Comparison, GoverningDate, QueryEngine, ReconcileError,
    ReconcileInput, ReconcileSettings,
};
use crate::domain::frames::{self, decimal_column, money};
use crate::domain::not_checked::NotChecked;
use crate::domain::window::Window;
use crate::domain::{codes, sources};
use polars::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeSet;

/// What [`build`] gives the rest of the run.
pub(super) struct InputTables {
    /// `provider`, `provider_all`, `payout_rows`, `payouts`, `breakdown`, `ledger`,
    /// `currencies`, `settings`.
    pub tables: rules::Tables,
    /// `currency, tolerance`, also read by the fuzzy rule.
    pub currencies: DataFrame,
    /// `source` (and `user_id` when the fuzzy rule is on) of the in-scope provider rows: what
    /// the Rust code after the rules reads, so the full frame can go with its last rule.
    pub provider_rows: DataFrame,
    /// The same of the ledger rows near the window.
    pub ledger_rows: DataFrame,
    /// Checks that cannot run, as the build found them.
    pub not_checked: BuildNotChecked,
    /// Ledger columns the amount comparisons read that have no value at all.
    pub empty_ledger: EmptyLedgerColumns,
    /// Ledger lines set aside by the conventions, per reason.
    pub ledger_scope: LedgerScope,
}

/// The checks [`build`] finds cannot run, by what they depend on: a run in parts
/// ([`super::parts`]) takes the merchant-wide ones once and adds up the per-row ones.
#[derive(Debug, Default)]
pub(super) struct BuildNotChecked {
    /// Payouts that cannot be checked (from the payout tables alone: the same in every part).
    pub payouts: Vec<NotChecked>,
    /// Breakdown days without registry rows (from `provider_all`, merchant-wide).
    pub gaps: Vec<NotChecked>,
    /// Fee journal lines that found no sale line (counted per line).
    pub journal: Vec<NotChecked>,
}

impl BuildNotChecked {
    /// Every line, for a run that is not in parts.
    pub(super) fn all(self) -> Vec<NotChecked> {
        self.payouts
            .into_iter()
            .chain(self.gaps)
            .chain(self.journal)
            .collect()
    }
}

/// What a run in parts knows of the whole run before it builds a part's tables: the parts
/// then build what the whole would ([`super::parts`]).
#[derive(Debug, Clone)]
pub(super) struct WholeRun {
    /// The `currencies` table of every part together.
    pub currencies: DataFrame,
    /// The ledger columns with no value in any part.
    pub empty_ledger: EmptyLedgerColumns,
}

/// Builds the input tables, consuming the input so the loaded frames go as soon as the
/// in-scope frames are made. `whole`: what a run in parts knows of all its parts, used instead
/// of what this part alone says.
pub(super) fn build(
    input: ReconcileInput,
    settings: &ReconcileSettings,
    rules: &RuleSet,
    whole: Option<&WholeRun>,
) -> Result<InputTables, ReconcileError> {
    let mut input = input;
    // Frames built as text elsewhere (tests, a caller's own frames) are coded and packed as the
    // loaders'.
    let held = |df, coded: &[&str]| codes::coded(df, coded).and_then(sources::packed_in);
    input.provider = pl("provider", held(input.provider, frames::PROVIDER_CODED))?;
    input.ledger = pl("ledger", held(input.ledger, frames::LEDGER_CODED))?;
    input.payout_rows = input
        .payout_rows
        .map(|rows| pl("payout rows", held(rows, frames::PROVIDER_CODED)))
        .transpose()?;
    pl("provider", frames::check_provider_schema(&input.provider))?;
    pl("ledger", frames::check_ledger_schema(&input.ledger))?;
    let prune = Pruner {
        rules,
        fuzzy: settings.fuzzy.enabled,
    };
    let ReconcileInput {
        window,
        provider_window,
        provider,
        payout_rows,
        payouts,
        breakdown,
        ledger,
        project_ids,
        conventions,
    } = input;
    let provider = one_chunk(provider);
    let ledger = one_chunk(ledger);
    log_margins(&provider, window, provider_window)?;
    let (ledger, journal_fees) = conv::attach_journal_fees(ledger)?;
    let (ledger, ledger_scope) = conv::scope_ledger(ledger, &conventions, &project_ids)?;
    let (provider, ledger) = conv::qualify_orders(provider, ledger)?;
    let rates = match conventions.currency {
        crate::load::ledger::LedgerCurrency::Reporting => Some(LedgerRates::of(&ledger)?),
        _ => None,
    };
    let scope = Scope {
        project_ids: &project_ids,
        // Test purchases the ledger flags are matched against Xsolla's test transactions.
        include_test: settings.include_dry_run || ledger.column("is_test").is_ok(),
        conventions: &conventions,
        rates: rates.as_ref(),
    };
    let (provider_all, provider) =
        provider_tables(provider, &breakdown, &scope, window, settings, &prune)?;
    let ledger = with_test_flag(ledger)?;
    let gaps = not_checked::breakdown_gaps(provider_all.clone().lazy(), &breakdown, window)?;
    let ledger = ledger_table(
        ledger,
        &provider,
        window,
        settings.ledger_margin_days,
        &prune,
        settings.engine,
    )?;
    let payouts = payout_tables(payout_rows, payouts, breakdown, window, settings)?;
    let (empty_ledger, currencies) = match whole {
        Some(w) => (w.empty_ledger.clone(), w.currencies.clone()),
        None => (
            EmptyLedgerColumns::of(&ledger),
            currency_table(&[&provider, &ledger], settings)?,
        ),
    };
    let provider_rows = rows_for_summary(&provider, settings.fuzzy.enabled)?;
    let ledger_rows = rows_for_summary(&ledger, settings.fuzzy.enabled)?;

    let mut tables = rules::Tables::default();
    for (name, df) in [
        ("provider", provider),
        ("provider_all", provider_all),
        ("payout_rows", payouts.rows),
        ("payouts", payouts.payouts),
        ("breakdown", payouts.breakdown),
        ("ledger", ledger),
        ("currencies", currencies.clone()),
        ("settings", settings_table(settings, &conventions)?),
    ] {
        tables.insert(name, df);
    }
    Ok(InputTables {
        tables,
        currencies,
        provider_rows,
        ledger_rows,
        not_checked: BuildNotChecked {
            payouts: payouts.not_checked,
            gaps,
            journal: not_checked::journal_fees(journal_fees, settings)
                .into_iter()
                .collect(),
        },
        empty_ledger,
        ledger_scope,
    })
}

/// `df` with each column in one chunk ([`rules::one_chunk`]), before anything else holds it.
///
/// Why: the loaders parse in parallel pieces, so most columns come in dozens of chunks while a
/// constant or computed column is one. Polars' in-memory engine copies every column a query
/// reads into one chunk when a frame's chunks do not line up, and did so for the queries that
/// build the input tables with the whole loaded frame still alive (at 10 M rows Xsolla's side
/// cost 2.2 GB at once); here the loaded frame is held by nothing else, so each column's
/// chunks go as soon as its copy is made.
fn one_chunk(mut df: DataFrame) -> DataFrame {
    rules::one_chunk(&mut df);
    df
}

/// What decides which Xsolla rows are in scope and how their amounts read.
struct Scope<'a> {
    project_ids: &'a [i64],
    /// Test (dry-run) rows are in scope: `reconcile.include_dry_run`, or a ledger that flags
    /// its test purchases.
    include_test: bool,
    conventions: &'a crate::load::ledger::Conventions,
    /// The ledger's rates (`conventions.currency = "reporting"`).
    rates: Option<&'a LedgerRates>,
}

/// Keeps only the columns of a table that some rule reading it mentions (or the Rust code
/// after the rules reads): edited rules that name another column get it, the rest is never
/// copied into a rule table. At 10M rows this is what keeps the run in memory.
///
/// "A rule reading it" is a file that names the table, or a table made from it by a prepare
/// file, however indirectly: a `SELECT *` in a prepare file still carries every column a later
/// file names. So `provider` and `ledger`, which every class reads through `matched`, carry
/// every column any file names, while `provider_all`, read only by the breakdown's files,
/// carries the few those name (at 10 M rows a copy with the others cost about 1 GB).
struct Pruner<'a> {
    rules: &'a RuleSet,
    /// The fuzzy rule is on: it reads `user_id` of both sides.
    fuzzy: bool,
}

impl Pruner<'_> {
    /// Read from `provider` and `ledger` by the row accounting.
    const RUST_READS: [&'static str; 2] = ["source", "in_window"];

    /// Whether `column` of input table `table` is kept.
    fn wanted(&self, table: &str, column: &str) -> bool {
        let rust_reads = Self::RUST_READS.contains(&column) || (self.fuzzy && column == "user_id");
        if rust_reads && (table == "provider" || table == "ledger") {
            return true;
        }
        let mut from = vec![table.to_owned()];
        for r in &self.rules.prepare {
            if from.iter().any(|t| r.mentions(t)) {
                if r.mentions(column) {
                    return true;
                }
                from.push(r.table.clone());
            }
        }
        self.rules
            .classes
            .iter()
            .any(|r| r.mentions(column) && from.iter().any(|t| r.mentions(t)))
    }

    /// `lf` with only the columns [`keep`](Self::keep) keeps, so the columns no rule reads are
    /// never copied by the filter that makes the table (a filter that drops rows copies every
    /// column it is given).
    fn select(
        &self,
        table: &str,
        what: &'static str,
        mut lf: LazyFrame,
    ) -> Result<LazyFrame, ReconcileError> {
        let schema = pl(what, lf.collect_schema())?;
        let wanted: Vec<Expr> = schema
            .iter_names()
            .filter(|n| self.wanted(table, n.as_str()))
            .map(|n| col(n.clone()))
            .collect();
        Ok(lf.select(wanted))
    }

    fn keep(
        &self,
        table: &str,
        what: &'static str,
        df: DataFrame,
    ) -> Result<DataFrame, ReconcileError> {
        let names: Vec<PlSmallStr> = df
            .get_column_names()
            .into_iter()
            .filter(|n| self.wanted(table, n.as_str()))
            .cloned()
            .collect();
        pl(what, df.select(names))
    }
}

/// `provider_all` (every non-test row of the merchant, with `transfer_day` and `chunk_from`,
/// for the merchant-wide breakdown check) and `provider` (the rows in scope: not test, the
/// configured projects, with `transfer_day`, `fee_total`, `in_window` and `window_pos`).
/// Rows outside the window (the margins, payments looked up for a refund) stay: they take
/// part in matching only.
fn provider_tables(
    full: DataFrame,
    breakdown: &DataFrame,
    sc: &Scope,
    window: Window,
    settings: &ReconcileSettings,
    prune: &Pruner,
) -> Result<(DataFrame, DataFrame), ReconcileError> {
    let fee_columns = sc
        .conventions
        .fee_columns
        .as_ref()
        .unwrap_or(&settings.fee_columns);
    optional_columns_loaded(
        &full,
        fee_columns.iter().chain(&sc.conventions.amount_minus),
    )?;
    let not_test = if settings.include_dry_run {
        lit(true)
    } else {
        col("dry_run").fill_null(lit(false)).not()
    };
    // A fee column with no value at all (a hand export has few of Xsolla's) adds nothing to
    // `fee_total`: left out, not made a column of zeros for the sum (160 MiB each at 10 M).
    let without_values: Vec<&String> = fee_columns
        .iter()
        .filter(|c| {
            full.column(c.as_str())
                .is_ok_and(|col| col.null_count() == col.len())
        })
        .collect();
    let with_days = full.lazy().with_column(
        col("transfer_date")
            .cast(DataType::Int32)
            .alias("transfer_day"),
    );
    let chunk_from = chunk_expr(breakdown)?;
    let all_not_test = keeps_every_row(&with_days, &not_test, "provider rows")?;
    let provider_all = pl(
        "provider rows",
        settings.engine.collect(
            prune.select(
                "provider_all",
                "provider rows",
                filter_unless(with_days.clone(), not_test.clone(), all_not_test)
                    .with_column(chunk_from.alias("chunk_from")),
            )?,
        ),
    )?;
    let provider_all = prune.keep("provider_all", "provider rows", provider_all)?;
    let (mut scope, mut all_in_scope) = if sc.include_test {
        (lit(true), true)
    } else {
        (not_test, all_not_test)
    };
    if !sc.project_ids.is_empty() {
        all_in_scope = false;
        let ids = Series::new("ids".into(), sc.project_ids.to_vec());
        scope = scope.and(col("project_id").is_in(lit(ids).implode(false), false));
    }
    // The first column starts the sum, not a zero: each decimal addition is a pass over every
    // row on one thread (about 12 ms a million rows).
    let fee_total = fee_columns
        .iter()
        .filter(|c| !without_values.contains(c))
        .map(|c| col(c.as_str()).fill_null(zero()))
        .reduce(|acc, c| acc + c)
        .unwrap_or_else(zero)
        .cast(money());
    let mut scoped = filter_unless(with_days, scope, all_in_scope).with_columns([
        fee_total.alias("fee_total"),
        in_window("transfer_day", window).alias("in_window"),
        window_pos("transfer_day", window).alias("window_pos"),
    ]);
    if let Some(basis) = conv::amount_basis(sc.conventions) {
        scoped = scoped.with_column(basis.alias("payment_amount"));
    }
    // A conversion into the ledger's currency reads columns no rule names.
    if sc.conventions.currency == crate::load::ledger::LedgerCurrency::Payment {
        scoped = prune.select("provider", "provider scope", scoped)?;
    }
    let mut provider = pl("provider scope", settings.engine.collect(scoped))?;
    if sc.conventions.currency != crate::load::ledger::LedgerCurrency::Payment {
        provider = conv::convert_currency(provider, sc.conventions, sc.rates)?;
    }
    Ok((
        provider_all,
        prune.keep("provider", "provider scope", provider)?,
    ))
}

/// Whether `keep` holds on every row of `lf` (a row where it is null is not kept).
///
/// Why: Polars' filter copies every column even when it keeps every row, and the scope and
/// window filters of the input tables nearly always do (about 30 ms of the 1 M-row run, the
/// check a pass over the one or two columns `keep` reads).
fn keeps_every_row(
    lf: &LazyFrame,
    keep: &Expr,
    what: &'static str,
) -> Result<bool, ReconcileError> {
    let all = pl(
        what,
        lf.clone()
            .select([keep.clone().fill_null(lit(false)).all(false).alias("all")])
            .collect(),
    )?;
    Ok(pl(what, all.column("all").and_then(|c| c.bool().cloned()))?.get(0) != Some(false))
}

/// `lf` filtered by `keep`, or as it is when `keep` is known to hold on every row.
fn filter_unless(lf: LazyFrame, keep: Expr, holds_everywhere: bool) -> LazyFrame {
    if holds_everywhere {
        lf
    } else {
        lf.filter(keep)
    }
}

/// The ledger with an `is_test` column, all null when the ledger maps no test flag: the
/// rules compare the two sides' test flags where the ledger has one (`status_mismatch`, rule
/// `test_flag`), and a null flag says the ledger cannot tell.
fn with_test_flag(ledger: DataFrame) -> Result<DataFrame, ReconcileError> {
    if ledger.column("is_test").is_ok() {
        return Ok(ledger);
    }
    let mut ledger = ledger;
    let flag = Column::full_null("is_test".into(), ledger.height(), &DataType::Boolean);
    pl("ledger test flag", ledger.with_column(flag))?;
    Ok(ledger)
}

/// Every optional fee column of `named` is in `provider` (the job's loader builds those the
/// settings name; another caller must too).
fn optional_columns_loaded<'a>(
    provider: &DataFrame,
    mut named: impl Iterator<Item = &'a String>,
) -> Result<(), ReconcileError> {
    match named.find(|c| {
        frames::PROVIDER_OPTIONAL_FEE_COLUMNS.contains(&c.as_str())
            && provider.column(c.as_str()).is_err()
    }) {
        Some(c) => Err(ReconcileError::Invariant(format!(
            "Xsolla fee column {c:?} is named by a setting but was not loaded (the provider frame carries an optional fee column only when asked: frames::provider_schema_with)"
        ))),
        None => Ok(()),
    }
}

/// `ledger`: the lines booked at most `margin_days` outside the window, and the payment lines
/// of transactions or orders with a cancellation in the window on either side (a refund is
/// judged against its payment, however long ago it was booked), with `booked_day`,
/// `in_window` and `window_pos`.
fn ledger_table(
    full: DataFrame,
    provider: &DataFrame,
    window: Window,
    margin_days: u32,
    prune: &Pruner,
    engine: QueryEngine,
) -> Result<DataFrame, ReconcileError> {
    let margin = i32::try_from(margin_days).unwrap_or(i32::MAX);
    let (from, to) = (day(window.from), day(window.to));
    let ledger_days = full
        .lazy()
        .with_column(col("booked_date").cast(DataType::Int32).alias("booked_day"));
    let near = col("booked_day")
        .gt_eq(lit(from.saturating_sub(margin)))
        .and(col("booked_day").lt_eq(lit(to.saturating_add(margin))));
    // Nearly always every line is near the window: then nothing is filtered out, and the
    // refunds' payment lines need not be looked up.
    let kept = if keeps_every_row(&ledger_days, &near, "ledger")? {
        ledger_days
    } else {
        let refunded = refunded_keys(ledger_days.clone(), provider, window)?;
        let payment_of_refund = col("amount")
            .gt_eq(zero())
            .and(
                col("transaction_id")
                    .is_in(lit(refunded.txns).implode(false), false)
                    .or(col("order_id").is_in(lit(refunded.orders).implode(false), false)),
            )
            .fill_null(lit(false));
        ledger_days.filter(near.or(payment_of_refund))
    };
    let ledger = pl(
        "ledger",
        engine.collect(prune.select(
            "ledger",
            "ledger",
            kept.with_columns([
                in_window("booked_day", window).alias("in_window"),
                window_pos("booked_day", window).alias("window_pos"),
            ]),
        )?),
    )?;
    prune.keep("ledger", "ledger", ledger)
}

/// Transactions and orders with a cancellation inside the window: an Xsolla cancellation
/// row, or a ledger line that is negative or marked refunded or charged back.
struct RefundedKeys {
    txns: Series,
    orders: Series,
}

fn refunded_keys(
    ledger: LazyFrame,
    provider: &DataFrame,
    window: Window,
) -> Result<RefundedKeys, ReconcileError> {
    let what = "cancellations in the window";
    let statuses = Series::new("s".into(), ["refunded", "partially_refunded", "chargeback"]);
    let cancelled = col("amount")
        .lt(zero())
        .or(col("status").is_in(lit(statuses).implode(false), false));
    let mut parts = vec![ledger
        .filter(in_window("booked_day", window).and(cancelled))
        .select([col("transaction_id"), col("order_id")])];
    // Edited rules may leave these columns out of `provider`: then only the ledger's count.
    let has = |c: &str| provider.column(c).is_ok();
    if ["row_kind", "transaction_id", "external_id", "in_window"]
        .iter()
        .all(|c| has(c))
    {
        parts.push(
            provider
                .clone()
                .lazy()
                .filter(col("in_window").and(col("row_kind").eq(lit("cancellation"))))
                .select([col("transaction_id"), col("external_id").alias("order_id")]),
        );
    }
    let keys = pl(
        what,
        concat(parts, UnionArgs::default()).and_then(|lf| lf.collect()),
    )?;
    let unique = |name: &str| -> Result<Series, ReconcileError> {
        let c = pl(what, keys.column(name).cloned())?;
        pl(what, c.drop_nulls().as_materialized_series().unique())
    };
    Ok(RefundedKeys {
        txns: unique("transaction_id")?,
        orders: unique("order_id")?,
    })
}

/// Logs how many days of margin the Xsolla rows cover on each side of the window: a snapshot
/// covers what was fetched, a hand export what it holds.
fn log_margins(
    provider: &DataFrame,
    window: Window,
    provider_window: Window,
) -> Result<(), ReconcileError> {
    let dates = typed(provider, "transfer_date", "provider margins", Column::date)?;
    let (first, last) = (dates.physical().min(), dates.physical().max());
    let (from, to) = (day(window.from), day(window.to));
    let before = first.map_or(0, |f| (from - f).max(0));
    let after = last.map_or(0, |l| (l - to).max(0));
    tracing::info!(
        window = %window,
        provider_window = %provider_window,
        days_before = before,
        days_after = after,
        "Xsolla rows cover {before} days before and {after} days after the window (margins \
         asked for: {} and {}); rows outside the window take part in matching only",
        from - day(provider_window.from),
        day(provider_window.to) - to,
    );
    Ok(())
}

/// Whether day column `day_col` lies inside the window (both ends included).
fn in_window(day_col: &str, window: Window) -> Expr {
    col(day_col)
        .gt_eq(lit(day(window.from)))
        .and(col(day_col).lt_eq(lit(day(window.to))))
}

/// Where day column `day_col` lies: -1 before the window, 0 inside, 1 after (0 when null).
/// One small integer carries both flags the rules need, and the position of a group's first
/// date is the smallest position of its rows.
fn window_pos(day_col: &str, window: Window) -> Expr {
    let d = col(day_col).cast(DataType::Int32);
    when(d.clone().lt(lit(day(window.from))))
        .then(lit(-1i32))
        .when(d.gt(lit(day(window.to))))
        .then(lit(1i32))
        .otherwise(lit(0i32))
        .cast(DataType::Int8)
}

/// The payout-side tables.
struct PayoutTables {
    /// `payout_rows`: registry rows read per payout (empty when none were fetched).
    rows: DataFrame,
    /// `payouts`, with `checkable` and `fx_tolerance`.
    payouts: DataFrame,
    /// `breakdown`, with `fx_tolerance`.
    breakdown: DataFrame,
    /// Payouts of the window that cannot be checked.
    not_checked: Vec<NotChecked>,
}

fn payout_tables(
    payout_rows: Option<DataFrame>,
    payouts: DataFrame,
    breakdown: DataFrame,
    window: Window,
    settings: &ReconcileSettings,
) -> Result<PayoutTables, ReconcileError> {
    let fx_tolerance = money_literal(settings.fx_tolerance);
    let payouts = pl(
        "payouts",
        payouts
            .lazy()
            .with_columns([
                lit(payout_rows.is_some()).alias("checkable"),
                fx_tolerance.clone().alias("fx_tolerance"),
                // Payouts dated in the margins were fetched with them; their own run checks them.
                window_pos("payout_date", window)
                    .eq(lit(0i32))
                    .alias("in_window"),
            ])
            .collect(),
    )?;
    let not_checked = not_checked::payouts(&payouts, payout_rows.is_some())?;
    // The tolerance rides on the rows: Polars SQL loses a joined table's columns when a
    // CROSS JOIN follows a LEFT JOIN.
    let breakdown = pl(
        "breakdown",
        breakdown
            .lazy()
            .with_columns([
                fx_tolerance.alias("fx_tolerance"),
                // Days of the margins are fetched too; the run whose window holds a day judges it.
                window_pos("window_from", window)
                    .eq(lit(0i32))
                    .alias("in_window"),
            ])
            .collect(),
    )?;
    let rows = payout_rows.unwrap_or_else(|| frames::empty(&frames::provider_schema()));
    Ok(PayoutTables {
        rows: with_payout_deduction(rows, settings.payout_deducts_penalties)?,
        payouts,
        breakdown,
        not_checked,
    })
}

/// `payout_rows` with `payout_deduction`: what each row takes off its payout besides its
/// `payout.amount`. With `deducts_penalties` (`reconcile.payout_deducts_penalties`), its
/// penalties (payment currency, negative on cancellation rows) at the row's `fx_rate`, rounded
/// half away from zero to the payout currency's exponent; else 0. The registry carries no
/// other adjustment field ([U], docs/xsolla-api.md §12.6).
fn with_payout_deduction(
    rows: DataFrame,
    deducts_penalties: bool,
) -> Result<DataFrame, ReconcileError> {
    let what = "payout deductions";
    if !deducts_penalties {
        return pl(
            what,
            rows.lazy()
                .with_column(zero().alias("payout_deduction"))
                .collect(),
        );
    }
    let cb = typed(&rows, "chargeback_penalty", what, Column::decimal)?;
    let rp = typed(&rows, "refund_penalty", what, Column::decimal)?;
    let fx = typed(&rows, "fx_rate", what, Column::decimal)?;
    let cur = text(&rows, "payout_currency", what)?;
    let (money_scale, fx_scale) = (cb.scale() as u32, fx.scale() as u32);
    let mut out: Vec<Option<Decimal>> = Vec::with_capacity(rows.height());
    let lines = cb
        .physical()
        .iter()
        .zip(rp.physical().iter())
        .zip(fx.physical().iter())
        .zip(cur.iter());
    for (((cb, rp), fx), cur) in lines {
        let penalties = cb.unwrap_or(0) + rp.unwrap_or(0);
        let deduction = match (penalties, fx, cur) {
            (0, _, _) => Decimal::ZERO,
            (p, Some(fx), Some(cur)) => {
                let p = Decimal::from_i128_with_scale(p, money_scale);
                let fx = Decimal::from_i128_with_scale(fx, fx_scale);
                crate::domain::money::round_to_currency(p * fx, cur)
            }
            // No rate or currency to convert with: the penalty is taken as it is.
            (p, _, _) => Decimal::from_i128_with_scale(p, money_scale),
        };
        out.push(Some(deduction));
    }
    let column = decimal_column("payout_deduction", &out, frames::MONEY_SCALE)?;
    let mut rows = rows;
    pl(what, rows.with_column(column).map(|_| ()))?;
    Ok(rows)
}

/// An amount as a money literal (`Decimal(38, 6)`).
fn money_literal(amount: Decimal) -> Expr {
    let mut scaled = amount;
    scaled.rescale(frames::MONEY_SCALE as u32);
    lit(Scalar::new(
        money(),
        AnyValue::Decimal(scaled.mantissa(), frames::PRECISION, frames::MONEY_SCALE),
    ))
}

/// `source` and `in_window` (and `user_id` when the fuzzy rule reads it: ~160 MB a side at
/// 10M rows).
fn rows_for_summary(df: &DataFrame, with_users: bool) -> Result<DataFrame, ReconcileError> {
    if with_users {
        pl("rows", df.select(["source", "in_window", "user_id"]))
    } else {
        pl("rows", df.select(["source", "in_window"]))
    }
}

/// `settings`: one row with `fx_tolerance` and a `cmp_*` switch per [`Comparison`].
fn settings_table(
    settings: &ReconcileSettings,
    conventions: &crate::load::ledger::Conventions,
) -> Result<DataFrame, ReconcileError> {
    let fx_tolerance = decimal_column(
        "fx_tolerance",
        &[Some(settings.fx_tolerance)],
        frames::MONEY_SCALE,
    )?;
    // Amounts converted between currencies (a ledger in the payout or a reporting currency)
    // may each be off by the conversion's rounding: the rules allow this much per row summed.
    // In a reporting currency with fewer decimals (JPY), one minor unit at least.
    let per_row = match (conventions.currency, &conventions.reporting_currency) {
        (crate::load::ledger::LedgerCurrency::Payment, _) => Decimal::ZERO,
        (crate::load::ledger::LedgerCurrency::Reporting, Some(c)) => settings
            .fx_tolerance
            .max(Decimal::new(1, crate::domain::money::exponent(c))),
        _ => settings.fx_tolerance,
    };
    let fx_line_tolerance =
        decimal_column("fx_line_tolerance", &[Some(per_row)], frames::MONEY_SCALE)?;
    let switches = Comparison::ALL
        .iter()
        .map(|c| Column::new(c.column().into(), [settings.comparisons.contains(c)]));
    pl(
        "settings",
        DataFrame::new_infer_height(
            [fx_tolerance, fx_line_tolerance]
                .into_iter()
                .chain(switches)
                .collect(),
        )
        .and_then(|df| df.lazy().collect()),
    )
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
    let from = typed(&windows, "window_from", "breakdown windows", Column::date)?;
    let to = typed(&windows, "window_to", "breakdown windows", Column::date)?;
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
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for df in frames_in {
        for name in ["payment_currency", "currency"] {
            if let Ok(c) = df.column(name) {
                // Coded: the few codes, not a text per row.
                let c = if codes::is_code(c.dtype()) {
                    pl("currencies", c.unique())?
                } else {
                    c.clone()
                };
                let s = pl("currencies", codes::text(&c))?;
                // A handful of codes over millions of rows: copy each code once, not each row.
                for code in s.iter().flatten() {
                    if !seen.contains(code) {
                        seen.insert(code.to_owned());
                    }
                }
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
    // The governing side rides on these rows: `60_matched` joins them to every pair anyway,
    // and a join to `settings` there would copy the run's largest table.
    let ledger_governs = settings.governing_date == GoverningDate::Ledger;
    let n = codes.len();
    pl(
        "currencies",
        DataFrame::new_infer_height(vec![
            Column::new("currency".into(), codes),
            decimal_column("tolerance", &tolerances, frames::MONEY_SCALE)?,
            Column::new("ledger_governs".into(), vec![ledger_governs; n]),
        ]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_is_skipped_only_when_it_keeps_every_row() {
        let lf = df!("d" => [Some(1), Some(5), None]).unwrap().lazy();
        let near = |hi: i32| col("d").lt_eq(lit(hi));
        // A null row is not kept by a filter: it must not count as kept.
        assert!(!keeps_every_row(&lf, &near(10), "t").unwrap());
        assert!(!keeps_every_row(&lf, &near(3), "t").unwrap());
        let lf = df!("d" => [1, 5]).unwrap().lazy();
        assert!(keeps_every_row(&lf, &near(5), "t").unwrap());
        assert!(!keeps_every_row(&lf, &near(4), "t").unwrap());
        let empty = df!("d" => Vec::<i32>::new()).unwrap().lazy();
        assert!(keeps_every_row(&empty, &near(0), "t").unwrap());
        let kept = filter_unless(lf.clone(), near(4), false).collect().unwrap();
        assert_eq!(kept.height(), 1);
        let whole = filter_unless(lf, near(4), true).collect().unwrap();
        assert_eq!(whole.height(), 2);
    }
}
