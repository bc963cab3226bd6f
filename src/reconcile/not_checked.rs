//! The checks of the reconciliation that cannot run on some of their subjects, said rather
//! than skipped: payouts without an amount or without their rows, and amount comparisons
//! whose ledger side has no value. Each becomes a [`NotChecked`] line of the summary.

use super::{pl, typed, Comparison, ReconcileError, ReconcileSettings};
use crate::domain::not_checked::NotChecked;
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
    for i in 0..payouts.height() {
        if inside.get(i) != Some(true) || canceled.get(i) == Some(true) {
            continue;
        }
        let reason = if amounts.physical().get(i).is_none() {
            "Xsolla sent no amount for this payout (payout.amount), so the sum of its rows has nothing to be compared with"
        } else if !rows_read {
            "its registry rows were not read (fetch.payout_rows = false, or Xsolla's side is a registry export)"
        } else {
            continue;
        };
        let subject = match ids.get(i) {
            Some(id) => format!("payout {id}"),
            None => "payout without an id".to_owned(),
        };
        let line = NotChecked::new("payout", subject, 1, reason);
        out.push(match dates.as_date_iter().nth(i).flatten() {
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
    let needed = [
        "p_txn",
        "l_key",
        "p_currency",
        "l_currency",
        "gov_pos",
        column,
    ];
    if needed.iter().any(|c| matched.column(c).is_err()) {
        return Ok(None);
    }
    let n = pl(
        "comparisons not checked",
        matched
            .clone()
            .lazy()
            .filter(
                col("p_txn")
                    .is_not_null()
                    .and(col("l_key").is_not_null())
                    .and(col("p_currency").eq(col("l_currency")))
                    .and(col("gov_pos").cast(DataType::Int32).eq(lit(0i32)))
                    .and(col(column).is_null()),
            )
            .select([len()])
            .collect(),
    )?;
    let n = typed(&n, "len", "comparisons not checked", Column::u32)?;
    Ok(Some(u64::from(n.get(0).unwrap_or(0))))
}
