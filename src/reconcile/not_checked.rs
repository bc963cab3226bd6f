//! The checks of the reconciliation that cannot run on some of their subjects, said rather
//! than skipped: payouts without an amount or without their rows, and amount comparisons
//! whose ledger side has no value. Each becomes a [`NotChecked`] line of the summary.

use super::conventions::JournalFees;
use super::{day, pl, text, typed, Comparison, ReconcileError, ReconcileSettings};
use crate::domain::not_checked::NotChecked;
use crate::domain::window::Window;
use crate::load::ledger::{Conventions, LedgerCurrency};
use polars::prelude::*;

/// Payouts the `payout_mismatch` rule cannot judge: those dated in the window and not
/// canceled that have no amount (Xsolla's payouts call documents none, docs/xsolla-api.md
/// §12.6), or whose registry rows were not read (`rows_read` false). `payouts` carries the
/// `in_window` column.
pub(super) fn payouts(
    payouts: &DataFrame,
    rows_read: bool,
) -> Result<Vec<NotChecked>, ReconcileError> {
    let what = "payouts not checked";
    let ids = typed(payouts, "payout_id", what, Column::i64)?;
    let dates = typed(payouts, "payout_date", what, Column::date)?;
    let amounts = typed(payouts, "amount", what, Column::decimal)?;
    let canceled = typed(payouts, "canceled", what, Column::bool)?;
    let inside = typed(payouts, "in_window", what, Column::bool)?;
    let mut out = Vec::new();
    let rows = ids
        .iter()
        .zip(dates.as_date_iter())
        .zip(amounts.physical().iter())
        .zip(canceled.iter())
        .zip(inside.iter());
    for ((((id, date), amount), canceled), inside) in rows {
        if inside != Some(true) || canceled == Some(true) {
            continue;
        }
        let reason = if amount.is_none() {
            "Xsolla sent no amount for this payout (payout.amount), so the sum of its rows has nothing to be compared with"
        } else if !rows_read {
            "its registry rows were not read (fetch.payout_rows = false, or Xsolla's side is a registry export)"
        } else {
            continue;
        };
        let subject = match id {
            Some(id) => format!("payout {id}"),
            None => "payout without an id".to_owned(),
        };
        let line = NotChecked::new("payout", subject, 1, reason);
        out.push(match date {
            Some(d) => line.on(d),
            None => line,
        });
    }
    Ok(out)
}

/// Ledger columns with no value on any line near the window (no column mapped, or every
/// cell empty), taken before the ledger table goes to the rules.
#[derive(Debug, Clone, Default)]
pub(super) struct EmptyLedgerColumns(Vec<&'static str>);

impl EmptyLedgerColumns {
    /// Which of `fee` and `net` have no value in `ledger`.
    pub(super) fn of(ledger: &DataFrame) -> Self {
        EmptyLedgerColumns(
            ["fee", "net"]
                .into_iter()
                .filter(|c| ledger.column(c).is_ok_and(|c| c.null_count() == c.len()))
                .collect(),
        )
    }

    /// The columns empty in both `self` and `other`: a column has no value in a run in parts
    /// when it has none in any part.
    pub(super) fn and(&self, other: &EmptyLedgerColumns) -> Self {
        EmptyLedgerColumns(
            self.0
                .iter()
                .filter(|c| other.0.contains(c))
                .copied()
                .collect(),
        )
    }
}

/// The switched-on amount comparisons whose ledger value is missing on matched lines judged
/// by this run: one line per comparison with the number of such lines. `empty` tells a
/// ledger with no value at all (no column mapped) from one with some cells empty. Rule sets
/// whose `matched` lacks the columns read here are not looked at.
pub(super) fn comparisons(
    matched: &DataFrame,
    empty: &EmptyLedgerColumns,
    settings: &ReconcileSettings,
) -> Result<Vec<NotChecked>, ReconcileError> {
    let mut out = Vec::new();
    let wanted = [
        (Comparison::Fees, "fees", "l_fee", "fee", "fee"),
        (
            Comparison::NetVsPayout,
            "net_vs_payout",
            "l_net",
            "net",
            "net amount",
        ),
        (
            Comparison::NetVsPaymentMinusFees,
            "net_vs_payment_minus_fees",
            "l_net",
            "net",
            "net amount",
        ),
    ];
    for (cmp, check, column, ledger_column, words) in wanted {
        if !settings.comparisons.contains(&cmp) {
            continue;
        }
        let Some(n) = lines_without(matched, column)? else {
            continue;
        };
        if n == 0 {
            continue;
        }
        let reason = if empty.0.contains(&ledger_column) {
            format!("the ledger has no {words} on any line (no {ledger_column} column mapped, or all its cells empty), so reconcile.comparisons' {check:?} cannot run")
        } else {
            format!("these matched ledger lines have no {words} (empty {ledger_column} cell)")
        };
        out.push(NotChecked::new(check, "matched ledger lines", n, reason));
    }
    Ok(out)
}

/// Matched lines this run judges (both sides, one currency, governing date in the window)
/// whose ledger column `column` is null; `None` when `matched` lacks a column read here.
fn lines_without(matched: &DataFrame, column: &str) -> Result<Option<u64>, ReconcileError> {
    let both = col("l_key")
        .is_not_null()
        .and(col("p_currency").eq(col("l_currency")));
    count_judged(
        matched,
        &["l_key", "p_currency", "l_currency", column],
        both.and(col(column).is_null()),
    )
}

/// Lines of `matched` with an Xsolla side whose governing date is in the window and that meet
/// `cond`; `None` when `matched` lacks one of `columns` (a rule set that does not make them).
fn count_judged(
    matched: &DataFrame,
    columns: &[&str],
    cond: Expr,
) -> Result<Option<u64>, ReconcileError> {
    let what = "comparisons not checked";
    let needed = ["p_txn", "gov_pos"];
    if needed
        .iter()
        .chain(columns)
        .any(|c| matched.column(c).is_err())
    {
        return Ok(None);
    }
    let n = pl(
        what,
        matched
            .clone()
            .lazy()
            .filter(
                col("p_txn")
                    .is_not_null()
                    .and(col("gov_pos").cast(DataType::Int32).eq(lit(0i32)))
                    .and(cond)
                    .fill_null(lit(false)),
            )
            .select([len()])
            .collect(),
    )?;
    let n = typed(&n, "len", what, Column::u32)?;
    Ok(Some(u64::from(n.get(0).unwrap_or(0))))
}

/// Comparisons a ledger convention leaves without one side: Xsolla's refunds of payments the
/// ledger marks refunded on the payment line itself, with no refund line of their own (their
/// amount has nothing to be compared with; `status_mismatch` is satisfied by the status), and
/// net vs payout for a ledger in a reporting currency (no rate links Xsolla's payout currency
/// to it), and Xsolla's test payments matched to a ledger without a test flag.
pub(super) fn conventions(
    matched: &DataFrame,
    conv: &Conventions,
    settings: &ReconcileSettings,
) -> Result<Vec<NotChecked>, ReconcileError> {
    let mut out = Vec::new();
    if settings.comparisons.contains(&Comparison::Gross) {
        let refund_by_status = col("row_kind")
            .eq(lit("cancellation"))
            .and(col("l_key").is_null())
            .and(col("ledger_payment_status").gt_eq(lit(3)));
        let columns = ["row_kind", "l_key", "ledger_payment_status"];
        if let Some(n) = count_judged(matched, &columns, refund_by_status)?.filter(|n| *n > 0) {
            out.push(NotChecked::new(
                "refund_amount",
                "Xsolla refunds and chargebacks",
                n,
                "the ledger marks the payment refunded or charged back and books no refund line (conventions.refunds = \"status_on_payment\"), so the refunded amount is compared with nothing",
            ));
        }
    }
    let test_unknown = col("row_kind")
        .eq(lit("payment"))
        .and(col("l_key").is_not_null())
        .and(col("p_test"))
        .and(col("l_test").is_null());
    let columns = ["row_kind", "l_key", "p_test", "l_test"];
    if let Some(n) = count_judged(matched, &columns, test_unknown)?.filter(|n| *n > 0) {
        out.push(NotChecked::new(
            "test_flag",
            "Xsolla test payments matched to ledger lines",
            n,
            "the ledger has no test flag (columns.test), so whether it books these test (dry-run) payments as real sales cannot be told",
        ));
    }
    if conv.currency == LedgerCurrency::Reporting
        && settings.comparisons.contains(&Comparison::NetVsPayout)
    {
        let with_net = col("l_key")
            .is_not_null()
            .and(col("p_currency").eq(col("l_currency")))
            .and(col("l_net").is_not_null());
        let columns = ["l_key", "p_currency", "l_currency", "l_net"];
        if let Some(n) = count_judged(matched, &columns, with_net)?.filter(|n| *n > 0) {
            let cur = conv.reporting_currency.as_deref().unwrap_or("?");
            out.push(NotChecked::new(
                "net_vs_payout",
                "matched ledger lines in the reporting currency",
                n,
                format!("the ledger books in its reporting currency {cur} (conventions.currency = \"reporting\"); no rate links Xsolla's payout currency to it, so the ledger's net is not compared with payout.amount"),
            ));
        }
    }
    Ok(out)
}

/// Registry currencies of a breakdown day in the window that the day's breakdown does not
/// list: `breakdown_mismatch` compares the currencies the breakdown lists, and an absent row
/// is not taken for 0 (what the breakdown sums is [U], docs/xsolla-api.md §12.6). Only days
/// with some breakdown row count (a day without any was not requested, or its breakdown was
/// left out, and says so itself). `provider_all` carries `chunk_from`; rule sets that do not
/// read it are not looked at.
pub(super) fn breakdown_gaps(
    provider_all: LazyFrame,
    breakdown: &DataFrame,
    window: Window,
) -> Result<Vec<NotChecked>, ReconcileError> {
    let what = "breakdown gaps";
    let mut provider_all = provider_all;
    let schema = pl(what, provider_all.collect_schema())?;
    if ["chunk_from", "payment_currency"]
        .iter()
        .any(|c| schema.get(c).is_none())
    {
        return Ok(Vec::new());
    }
    let listed = breakdown.clone().lazy().select([
        col("window_from").alias("chunk_from"),
        col("currency").alias("payment_currency"),
    ]);
    let days = col("chunk_from").cast(DataType::Int32);
    let gaps = pl(
        what,
        provider_all
            .filter(
                days.clone()
                    .gt_eq(lit(day(window.from)))
                    .and(days.lt_eq(lit(day(window.to)))),
            )
            .group_by([col("chunk_from"), col("payment_currency")])
            .agg([len().alias("rows")])
            // Coded on Xsolla's side, text in the breakdown.
            .with_column(col("payment_currency").cast(DataType::String))
            .join(
                listed,
                [col("chunk_from"), col("payment_currency")],
                [col("chunk_from"), col("payment_currency")],
                JoinArgs::new(JoinType::Anti),
            )
            .sort(["chunk_from", "payment_currency"], Default::default())
            .collect(),
    )?;
    let from = typed(&gaps, "chunk_from", what, Column::date)?;
    let cur = text(&gaps, "payment_currency", what)?;
    let rows = typed(&gaps, "rows", what, Column::u32)?;
    let mut out = Vec::new();
    for ((d, c), n) in from.as_date_iter().zip(cur.iter()).zip(rows.iter()) {
        let (Some(d), Some(n)) = (d, n) else { continue };
        let c = c.unwrap_or_default();
        out.push(
            NotChecked::new(
                "breakdown",
                format!("{d} {c}"),
                1,
                format!("Xsolla's breakdown of the day lists no {c:?} row, though the registry has {n} non-test rows in it; an absent row is not taken for 0"),
            )
            .on(d),
        );
    }
    Ok(out)
}

/// Fee journal lines whose fee could not be summed into a sale's (no sale line of their
/// transaction or order, or neither id), when fees are compared.
pub(super) fn journal_fees(fees: JournalFees, settings: &ReconcileSettings) -> Option<NotChecked> {
    (fees.unattached > 0 && settings.comparisons.contains(&Comparison::Fees)).then(|| {
        NotChecked::new(
            "fees",
            "fee journal lines",
            fees.unattached,
            "these fee journal lines have no sale line of their transaction or order in the ledger (or carry neither id), so their fee is compared with nothing",
        )
    })
}
