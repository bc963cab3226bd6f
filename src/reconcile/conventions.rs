//! The ledger's conventions applied to the input tables (`[merchant.ledger.conventions]`,
//! [`Conventions`]): which ledger lines are in scope, order ids qualified by project, and
//! Xsolla's amounts restated in the ledger's terms (without taxes, in the payout or reporting
//! currency) before any rule runs, so the SQL rules compare like with like and stay the same
//! for every convention.
//!
//! Each step runs only when its convention is on: with the defaults the frames pass through
//! untouched but for the not-money status filter (one comparison per ledger line).

use super::{pl, text, typed, zero, ReconcileError};
use crate::domain::frames::{self, money};
use crate::load::ledger::{Conventions, LedgerCurrency, LineKind};
use polars::prelude::*;
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Ledger lines set aside before matching, per reason (the run's row counts name them).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LedgerScope {
    /// Lines whose status is not money yet (`conventions.not_money_statuses`).
    pub not_money: u64,
    /// Journal lines that are not sales or refunds (fee, tax, discount, other, unmapped).
    pub journal: u64,
    /// Lines of projects outside `merchant.project_ids`.
    pub other_projects: u64,
}

impl LedgerScope {
    /// All lines set aside.
    pub fn total(&self) -> u64 {
        self.not_money + self.journal + self.other_projects
    }
}

/// Splits off the ledger lines that are out of scope: journal lines first, then statuses that
/// are not money, then other projects (a line lacking a project is kept: it is compared).
pub(super) fn scope_ledger(
    ledger: DataFrame,
    conv: &Conventions,
    project_ids: &[i64],
) -> Result<(DataFrame, LedgerScope), ReconcileError> {
    let what = "ledger scope";
    let has = |c: &str| ledger.column(c).is_ok();
    let mut reasons: Vec<(i32, Expr)> = Vec::new();
    if has("line_kind") {
        let compared = Series::new(
            "k".into(),
            [LineKind::Sale.as_str(), LineKind::Refund.as_str()],
        );
        reasons.push((
            1,
            col("line_kind")
                .is_in(lit(compared).implode(false), false)
                .not(),
        ));
    }
    if let Some(any) = conv
        .not_money_statuses
        .iter()
        .map(|s| col("status").eq(lit(s.as_str())))
        .reduce(|a, b| a.or(b))
    {
        // Two string comparisons are cheaper than a hash lookup per line.
        reasons.push((2, any));
    }
    if has("project_id") && !project_ids.is_empty() {
        let ids = Series::new("ids".into(), project_ids.to_vec());
        reasons.push((
            3,
            col("project_id")
                .is_in(lit(ids).implode(false), false)
                .not(),
        ));
    }
    if reasons.is_empty() {
        return Ok((ledger, LedgerScope::default()));
    }
    // Each line counts under its first reason; one pass sums them, and the ledger is copied
    // only when a line goes.
    let mut earlier = lit(false);
    let mut sums = Vec::new();
    for (code, cond) in &reasons {
        let cond = cond.clone().fill_null(lit(false));
        sums.push(
            cond.clone()
                .and(earlier.clone().not())
                .cast(DataType::UInt32)
                .sum()
                .alias(format!("n{code}")),
        );
        earlier = earlier.or(cond);
    }
    let counts = pl(what, ledger.clone().lazy().select(sums).collect())?;
    let n = |code: i32| -> Result<u64, ReconcileError> {
        match counts.column(&format!("n{code}")) {
            Ok(c) => Ok(u64::from(pl(what, c.u32())?.get(0).unwrap_or(0))),
            Err(_) => Ok(0),
        }
    };
    let scope = LedgerScope {
        journal: n(1)?,
        not_money: n(2)?,
        other_projects: n(3)?,
    };
    if scope.total() == 0 {
        return Ok((ledger, scope));
    }
    let kept = ledger.lazy().filter(earlier.not()).collect();
    Ok((pl(what, kept)?, scope))
}

/// What [`attach_journal_fees`] could not do: the not-checked list says it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct JournalFees {
    /// Fee lines with no sale line of their transaction (or order) to attach to, or with
    /// neither id: their fee is not compared.
    pub unattached: u64,
}

/// A ledger that books fees as journal lines of their own (`conventions.line_types` maps a
/// type to `fee`) has them compared all the same: each fee line carrying a transaction id (or,
/// without one, an order id, within its project) is summed into the `fee` of the sale payment
/// line of that transaction or order (copies of it share), by its size whatever its sign (ledgers book a
/// fee as a deduction, negative, or as an expense, positive). The fee line itself is then set
/// aside as a journal line, as before. Without fee lines the ledger passes through untouched.
pub(super) fn attach_journal_fees(
    ledger: DataFrame,
) -> Result<(DataFrame, JournalFees), ReconcileError> {
    let what = "fee journal lines";
    if ledger.column("line_kind").is_err() {
        return Ok((ledger, JournalFees::default()));
    }
    let is_fee = col("line_kind")
        .eq(lit(LineKind::Fee.as_str()))
        .fill_null(lit(false));
    let n_fee = pl(
        what,
        ledger
            .clone()
            .lazy()
            .select([is_fee.clone().cast(DataType::UInt32).sum().alias("n")])
            .collect(),
    )?;
    let n_fee = u64::from(typed(&n_fee, "n", what, Column::u32)?.get(0).unwrap_or(0));
    if n_fee == 0 {
        return Ok((ledger, JournalFees::default()));
    }
    let sale_payment = col("line_kind")
        .eq(lit(LineKind::Sale.as_str()))
        .and(col("amount").gt_eq(zero()))
        .fill_null(lit(false));
    let key = journal_key(ledger.column("project_id").is_ok());
    let lf = ledger
        .lazy()
        .with_row_index("__row", None)
        .with_column(key.alias("__key"));
    let targets = fee_targets(&lf, is_fee, sale_payment.clone())?;
    let attached: u64 = typed(&targets, "__jn", what, Column::u32)?
        .iter()
        .map(|n| u64::from(n.unwrap_or(0)))
        .sum();
    tracing::info!(
        attached,
        unattached = n_fee - attached,
        "fee journal lines summed into the fees of their sale lines"
    );
    // Copies of a sale (a double booking copies its fee lines too) share the fee: each its
    // part, the first one the remainder, so the parts add up exactly.
    let share = (col("__jfee") / col("__k").cast(money())).cast(money());
    let part = when(col("__row").eq(col("__first")))
        .then(col("__jfee") - share.clone() * (col("__k") - lit(1i64)).cast(money()))
        .otherwise(share);
    let out = lf
        .join(
            targets.lazy().drop(by_name(["__jn"], true, false)),
            [col("__key")],
            [col("__key")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(["__row"], Default::default())
        .with_column(
            when(sale_payment.and(col("__jfee").is_not_null()))
                .then((col("fee").fill_null(zero()) + part).cast(money()))
                .otherwise(col("fee"))
                .alias("fee"),
        )
        .drop(by_name(
            ["__row", "__key", "__jfee", "__first", "__k"],
            true,
            false,
        ))
        .collect();
    let fees = JournalFees {
        unattached: n_fee - attached,
    };
    Ok((pl(what, out)?, fees))
}

/// What ties a fee line to its sale: the transaction id, else the order id, within the
/// project when the ledger has one (null when the line has neither id).
fn journal_key(has_project: bool) -> Expr {
    let id = when(col("transaction_id").is_not_null())
        .then(concat_str(
            [lit("t"), col("transaction_id").cast(DataType::String)],
            ":",
            false,
        ))
        .otherwise(concat_str([lit("o"), col("order_id")], ":", false));
    if !has_project {
        return id;
    }
    concat_str(
        [
            col("project_id").cast(DataType::String).fill_null(lit("")),
            id,
        ],
        "/",
        false,
    )
}

/// Per key with both fee lines and sale payment lines: the fee lines' total size (`__jfee`)
/// and count (`__jn`), the first sale line (`__first`) and how many there are (`__k`).
fn fee_targets(
    lf: &LazyFrame,
    is_fee: Expr,
    sale_payment: Expr,
) -> Result<DataFrame, ReconcileError> {
    let fees = lf
        .clone()
        .filter(is_fee.and(col("__key").is_not_null()))
        .group_by([col("__key")])
        .agg([
            col("amount").abs().sum().alias("__jfee"),
            len().alias("__jn"),
        ]);
    let sales = lf
        .clone()
        .filter(sale_payment.and(col("__key").is_not_null()))
        .group_by([col("__key")])
        .agg([
            col("__row").min().alias("__first"),
            len().cast(DataType::Int64).alias("__k"),
        ]);
    let joined = fees
        .join(
            sales,
            [col("__key")],
            [col("__key")],
            JoinArgs::new(JoinType::Inner),
        )
        .collect();
    pl("fee journal lines", joined)
}

/// With a ledger project column, order ids are matched within a project: both sides' order
/// ids become `<project>:<order>` (a line without a project keeps its bare order id).
pub(super) fn qualify_orders(
    provider: DataFrame,
    ledger: DataFrame,
) -> Result<(DataFrame, DataFrame), ReconcileError> {
    if ledger.column("project_id").is_err() {
        return Ok((provider, ledger));
    }
    let qualified = |id: &str| {
        when(col("project_id").is_null().or(col(id).is_null()))
            .then(col(id))
            .otherwise(concat_str(
                [col("project_id").cast(DataType::String), col(id)],
                ":",
                false,
            ))
            .alias(id)
    };
    let provider = pl(
        "order ids by project",
        provider
            .lazy()
            .with_column(qualified("external_id"))
            .collect(),
    )?;
    let ledger = pl(
        "order ids by project",
        ledger.lazy().with_column(qualified("order_id")).collect(),
    )?;
    Ok((provider, ledger))
}

/// `payment_amount` less the `amount_minus` columns (a missing one counted as 0).
pub(super) fn amount_basis(conv: &Conventions) -> Option<Expr> {
    if conv.amount_minus.is_empty() {
        return None;
    }
    let minus = conv
        .amount_minus
        .iter()
        .fold(zero(), |acc, c| acc + col(c.as_str()).fill_null(zero()));
    Some((col("payment_amount") - minus).cast(money()))
}

/// The ledger's own rate per transaction id and per order id (`conventions.currency =
/// "reporting"`), the first line's where several lines carry one.
pub(super) struct LedgerRates {
    by_txn: HashMap<i64, Decimal>,
    by_order: HashMap<String, Decimal>,
}

impl LedgerRates {
    pub(super) fn of(ledger: &DataFrame) -> Result<Self, ReconcileError> {
        let what = "ledger rates";
        let rate = typed(ledger, "rate", what, Column::decimal)?;
        let txn = typed(ledger, "transaction_id", what, Column::i64)?;
        let order = typed(ledger, "order_id", what, Column::str)?;
        let scale = rate.scale() as u32;
        let mut out = LedgerRates {
            by_txn: HashMap::new(),
            by_order: HashMap::new(),
        };
        for ((r, t), o) in rate.physical().iter().zip(txn.iter()).zip(order.iter()) {
            let Some(r) = r.and_then(|m| Decimal::try_from_i128_with_scale(m, scale).ok()) else {
                continue;
            };
            if let Some(t) = t {
                out.by_txn.entry(t).or_insert(r);
            }
            if let Some(o) = o {
                out.by_order.entry(o.to_owned()).or_insert(r);
            }
        }
        Ok(out)
    }
}

/// Restates Xsolla's `payment_amount` and `fee_total` in the currency the ledger books in:
/// × the row's `fx_rate` into `payout_currency`, or × the ledger's rate of the transaction
/// into the reporting currency (rows the ledger has no rate for stay as they are: the
/// ledger does not have them), each rounded half away from zero to the currency's minor
/// unit, as a ledger converting each line would. In reporting mode the payout amount is
/// cleared: no rate links it to the reporting currency, so net is not compared.
pub(super) fn convert_currency(
    provider: DataFrame,
    conv: &Conventions,
    rates: Option<&LedgerRates>,
) -> Result<DataFrame, ReconcileError> {
    let what = "currency conversion";
    let columns = converted_columns(&provider, conv, rates)?;
    let mut df = provider;
    for c in columns {
        pl(what, df.with_column(c))?;
    }
    if conv.currency == LedgerCurrency::Reporting {
        // The matched lines whose net this leaves uncompared are a `net_vs_payout`
        // not-checked line (`not_checked::conventions`).
        df = pl(
            what,
            df.lazy()
                .with_column(lit(NULL).cast(money()).alias("payout_amount"))
                .collect(),
        )?;
    }
    Ok(df)
}

/// `payment_amount`, `fee_total` and `payment_currency` of [`convert_currency`], row by row.
fn converted_columns(
    p: &DataFrame,
    conv: &Conventions,
    rates: Option<&LedgerRates>,
) -> Result<[Column; 3], ReconcileError> {
    let what = "currency conversion";
    let reporting = conv.reporting_currency.as_deref().unwrap_or("");
    let amount = typed(p, "payment_amount", what, Column::decimal)?;
    let fee = typed(p, "fee_total", what, Column::decimal)?;
    let cur = text(p, "payment_currency", what)?;
    let payout_cur = text(p, "payout_currency", what)?;
    let fx = typed(p, "fx_rate", what, Column::decimal)?;
    let txn = typed(p, "transaction_id", what, Column::i64)?;
    let ext = typed(p, "external_id", what, Column::str)?;
    let (a_scale, f_scale, fx_scale) = (amount.scale(), fee.scale(), fx.scale());
    let too_large = |t: Option<i64>| ReconcileError::Conversion {
        transaction_id: t,
        message: "an amount or rate is too large to convert exactly".into(),
    };
    let dec = |m: Option<i128>, s: usize, t: Option<i64>| {
        m.map(|m| Decimal::try_from_i128_with_scale(m, s as u32).map_err(|_| too_large(t)))
            .transpose()
    };
    let n = p.height();
    let (mut amounts, mut fees, mut currencies) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let rows = amount
        .physical()
        .iter()
        .zip(fee.physical().iter())
        .zip(cur.iter().zip(payout_cur.iter()))
        .zip(fx.physical().iter().zip(txn.iter().zip(ext.iter())));
    for (((a, f), (c, pc)), (r, (t, e))) in rows {
        let (rate, to) = match conv.currency {
            LedgerCurrency::Payout => (dec(r, fx_scale, t)?, pc),
            _ => {
                let hit = rates.and_then(|rates| {
                    t.and_then(|t| rates.by_txn.get(&t))
                        .or_else(|| e.and_then(|e| rates.by_order.get(e)))
                });
                (hit.copied(), Some(reporting))
            }
        };
        let (a, f) = (dec(a, a_scale, t)?, dec(f, f_scale, t)?);
        match (rate, to) {
            (Some(rate), Some(to)) => {
                let conv = |v: Option<Decimal>| -> Result<Option<Decimal>, ReconcileError> {
                    v.map(|v| {
                        v.checked_mul(rate)
                            .map(|x| crate::domain::money::round_to_currency(x, to))
                            .ok_or_else(|| too_large(t))
                    })
                    .transpose()
                };
                amounts.push(conv(a)?);
                fees.push(conv(f)?);
                currencies.push(Some(to.to_owned()));
            }
            _ => {
                amounts.push(a);
                fees.push(f);
                currencies.push(c.map(str::to_owned));
            }
        }
    }
    Ok([
        pl(
            what,
            frames::decimal_column("payment_amount", &amounts, frames::MONEY_SCALE),
        )?,
        pl(
            what,
            frames::decimal_column("fee_total", &fees, frames::MONEY_SCALE),
        )?,
        Column::new("payment_currency".into(), currencies),
    ])
}

#[cfg(test)]
mod tests {
    use super::super::tests::{findings, input, l, p};
    use super::super::{reconcile, ReconcileSettings};
    use crate::domain::frames::{decimal_column, MONEY_SCALE, RATE_SCALE};
    use crate::load::ledger::{Conventions, LedgerCurrency};
    use polars::prelude::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn set_dec(df: &mut DataFrame, name: &str, v: &[&str], scale: usize) {
        let vals: Vec<Option<Decimal>> = v
            .iter()
            .map(|s| Some(Decimal::from_str(s).unwrap()))
            .collect();
        df.with_column(decimal_column(name, &vals, scale).unwrap())
            .unwrap();
    }

    fn set(df: &mut DataFrame, c: Column) {
        df.with_column(c).unwrap();
    }

    #[test]
    fn out_of_scope_lines_are_counted_and_orders_match_within_a_project() {
        let mut i = input(
            &[
                p(1, "10.00", "USD", "2026-10-02"),
                p(2, "20.00", "USD", "2026-10-02"),
            ],
            &[
                l(0, "10.00", "USD", "2026-10-02"),
                l(0, "20.00", "USD", "2026-10-02"),
                l(0, "1.00", "USD", "2026-10-02"),
                l(0, "-0.30", "USD", "2026-10-02"),
                l(0, "5.00", "USD", "2026-10-03"),
                l(0, "9.00", "USD", "2026-10-03"),
            ],
        );
        // Two games, one order number: Xsolla's 1 is game 1's, 2 is game 2's.
        set(
            &mut i.provider,
            Column::new("external_id".into(), vec!["77", "77"]),
        );
        set(
            &mut i.provider,
            Column::new("project_id".into(), vec![1i64, 2]),
        );
        set(
            &mut i.ledger,
            Column::new("transaction_id".into(), vec![None::<i64>; 6]),
        );
        set(
            &mut i.ledger,
            Column::new("order_id".into(), vec!["77", "77", "77", "77", "78", "79"]),
        );
        set(
            &mut i.ledger,
            Column::new(
                "status".into(),
                vec!["paid", "paid", "paid", "paid", "pending", "paid"],
            ),
        );
        set(
            &mut i.ledger,
            Column::new(
                "line_kind".into(),
                vec!["sale", "sale", "sale", "fee", "sale", "sale"],
            ),
        );
        set(
            &mut i.ledger,
            Column::new("project_id".into(), vec![1i64, 2, 3, 1, 1, 3]),
        );
        i.project_ids = vec![1, 2];
        // Game 1's fee line is summed into its sale's fee and compared with Xsolla's.
        set_dec(
            &mut i.provider,
            "commission_xsolla",
            &["0.30", "0"],
            MONEY_SCALE,
        );
        let out = reconcile(&i, &ReconcileSettings::default()).unwrap();
        assert!(findings(&out).is_empty(), "{:?}", findings(&out));
        let r = &out.summary.rows;
        assert_eq!(
            (
                r.ledger_journal_lines,
                r.ledger_not_money,
                r.ledger_other_projects
            ),
            (1, 1, 2)
        );
        assert_eq!(r.ledger_matched, 2);

        // Without the project column the two orders are one: findings.
        let _ = i.ledger.drop_in_place("project_id").unwrap();
        let out = reconcile(&i, &ReconcileSettings::default()).unwrap();
        assert!(!findings(&out).is_empty());
    }

    /// Xsolla's rows of one transaction (a payment in EUR and two partial refunds) and the
    /// ledger in USD.
    fn payout_case(refunds_in_ledger: [&'static str; 2]) -> super::super::ReconcileInput {
        let mut i = input(
            &[
                p(1, "10.00", "EUR", "2026-10-02"),
                p(1, "-3.33", "EUR", "2026-10-05"),
                p(1, "-3.33", "EUR", "2026-10-06"),
            ],
            &[
                l(1, "10.84", "USD", "2026-10-02"),
                l(1, refunds_in_ledger[0], "USD", "2026-10-05"),
                l(1, refunds_in_ledger[1], "USD", "2026-10-06"),
            ],
        );
        set_dec(
            &mut i.provider,
            "fx_rate",
            &["1.0837", "1.0837", "1.0837"],
            RATE_SCALE,
        );
        i.conventions = Conventions {
            currency: LedgerCurrency::Payout,
            ..Conventions::default()
        };
        i
    }

    #[test]
    fn a_payout_currency_ledger_is_compared_with_converted_rows_within_fx_tolerance() {
        // 3.33 EUR × 1.0837 = 3.6087… → 3.61 USD per row: 7.22 for both.
        let out = reconcile(
            &payout_case(["-3.61", "-3.61"]),
            &ReconcileSettings::default(),
        )
        .unwrap();
        assert!(findings(&out).is_empty(), "{:?}", findings(&out));
        // Off by 0.02 on two converted rows: within 2 × 0.01.
        let out = reconcile(
            &payout_case(["-3.62", "-3.62"]),
            &ReconcileSettings::default(),
        )
        .unwrap();
        assert!(findings(&out).is_empty(), "{:?}", findings(&out));
        // Off by 0.03: beyond, and the detail says by how much it allowed.
        let out = reconcile(
            &payout_case(["-3.63", "-3.62"]),
            &ReconcileSettings::default(),
        )
        .unwrap();
        let f = findings(&out);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].1, "cancellation_amount");
        let detail = out
            .discrepancies
            .column("detail")
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .unwrap()
            .to_owned();
        assert!(
            detail.contains("2 converted row(s)") && detail.contains("0.01"),
            "{detail}"
        );
        // The same ledger read as a payment-currency one: a currency flood.
        let mut i = payout_case(["-3.61", "-3.61"]);
        i.conventions = Conventions::default();
        let out = reconcile(&i, &ReconcileSettings::default()).unwrap();
        assert_eq!(findings(&out).len(), 2, "{:?}", findings(&out));
    }

    #[test]
    fn amount_minus_takes_taxes_off_xsolla_s_amount() {
        let mut i = input(
            &[p(1, "12.10", "EUR", "2026-10-02")],
            &[l(1, "10.00", "EUR", "2026-10-02")],
        );
        set_dec(&mut i.provider, "vat_deducted", &["2.10"], MONEY_SCALE);
        let out = reconcile(&i, &ReconcileSettings::default()).unwrap();
        assert_eq!(findings(&out).len(), 1);
        i.conventions.amount_minus = vec!["vat_deducted".into(), "sales_tax".into()];
        let out = reconcile(&i, &ReconcileSettings::default()).unwrap();
        assert!(findings(&out).is_empty(), "{:?}", findings(&out));
    }

    /// The summary's not-checked lines of `check`: (subject, count).
    fn not_checked(out: &super::super::ReconcileOutput, check: &str) -> Vec<(String, u64)> {
        out.summary
            .not_checked
            .iter()
            .filter(|n| n.check == check)
            .map(|n| (n.subject.clone(), n.count))
            .collect()
    }

    #[test]
    fn fee_journal_lines_are_summed_into_their_sale_s_fee_and_compared() {
        let mut sale = p(1, "10.00", "USD", "2026-10-02");
        sale.fee = Some("1.00");
        let journal = |fee: &'static str| {
            let mut i = input(
                &[sale.clone()],
                &[
                    l(1, "10.00", "USD", "2026-10-02"),
                    l(1, fee, "USD", "2026-10-02"),
                    l(99, "-0.50", "USD", "2026-10-02"),
                ],
            );
            set(
                &mut i.ledger,
                Column::new("line_kind".into(), vec!["sale", "fee", "fee"]),
            );
            i
        };
        let out = reconcile(&journal("-1.00"), &ReconcileSettings::default()).unwrap();
        assert!(findings(&out).is_empty(), "{:?}", findings(&out));
        assert_eq!(out.summary.rows.ledger_journal_lines, 2);
        // The fee was compared (not "no fee"), and the fee line of no sale is said.
        assert_eq!(
            not_checked(&out, "fees"),
            [("fee journal lines".to_owned(), 1)]
        );
        let out = reconcile(&journal("-1.10"), &ReconcileSettings::default()).unwrap();
        let f = findings(&out);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].0.as_str(), f[0].1.as_str()), ("fee_mismatch", "fees"));
    }

    #[test]
    fn a_refund_only_in_the_payment_line_s_status_is_said_not_checked() {
        let mut pay = p(1, "10.00", "USD", "2026-10-02");
        pay.status = "refunded";
        let mut refund = p(1, "-10.00", "USD", "2026-10-05");
        refund.status = "refunded";
        let mut line = l(1, "10.00", "USD", "2026-10-02");
        line.status = "refunded";
        let i = input(&[pay, refund], &[line]);
        let out = reconcile(&i, &ReconcileSettings::default()).unwrap();
        assert!(findings(&out).is_empty(), "{:?}", findings(&out));
        assert_eq!(
            not_checked(&out, "refund_amount"),
            [("Xsolla refunds and chargebacks".to_owned(), 1)]
        );
        // With the ledger's paid status it is a finding instead, and nothing is unsaid.
        let mut i = i;
        i.ledger
            .with_column(Column::new("status".into(), vec!["paid"]))
            .unwrap();
        let out = reconcile(&i, &ReconcileSettings::default()).unwrap();
        assert_eq!(findings(&out).len(), 1, "{:?}", findings(&out));
        assert!(not_checked(&out, "refund_amount").is_empty());
    }

    #[test]
    fn net_of_a_reporting_currency_ledger_is_said_not_compared_with_the_payout() {
        let mut line = l(1, "9.20", "EUR", "2026-10-02");
        line.net = Some("8.00");
        let mut i = input(&[p(1, "10.00", "USD", "2026-10-02")], &[line]);
        set_dec(&mut i.ledger, "rate", &["0.92"], MONEY_SCALE);
        let out = reconcile(&i, &ReconcileSettings::default()).unwrap();
        assert!(not_checked(&out, "net_vs_payout").is_empty());
        i.conventions = Conventions {
            currency: LedgerCurrency::Reporting,
            reporting_currency: Some("EUR".into()),
            ..Conventions::default()
        };
        let out = reconcile(&i, &ReconcileSettings::default()).unwrap();
        assert!(findings(&out).is_empty(), "{:?}", findings(&out));
        assert_eq!(
            not_checked(&out, "net_vs_payout"),
            [(
                "matched ledger lines in the reporting currency".to_owned(),
                1
            )]
        );
    }

    #[test]
    fn test_flags_are_compared_both_ways() {
        let mut test = p(2, "5.00", "USD", "2026-10-03");
        test.dry_run = true;
        let mut i = input(
            &[p(1, "10.00", "USD", "2026-10-02"), test],
            &[
                l(1, "10.00", "USD", "2026-10-02"),
                l(2, "5.00", "USD", "2026-10-03"),
            ],
        );
        set(
            &mut i.ledger,
            Column::new("is_test".into(), vec![false, true]),
        );
        let out = reconcile(&i, &ReconcileSettings::default()).unwrap();
        assert!(findings(&out).is_empty(), "{:?}", findings(&out));
        // A real payment flagged test, and a test payment booked as real: one finding each.
        set(
            &mut i.ledger,
            Column::new("is_test".into(), vec![true, false]),
        );
        let out = reconcile(&i, &ReconcileSettings::default()).unwrap();
        let f = findings(&out);
        assert_eq!(
            f.iter()
                .map(|(c, r, k)| (c.as_str(), r.as_str(), k.as_str()))
                .collect::<Vec<_>>(),
            [
                ("status_mismatch", "test_flag", "status_mismatch:tx:1:test"),
                ("status_mismatch", "test_flag", "status_mismatch:tx:2:test"),
            ]
        );
        // Without a test column the ledger cannot tell: said, not silent.
        let _ = i.ledger.drop_in_place("is_test").unwrap();
        let settings = ReconcileSettings {
            include_dry_run: true,
            ..ReconcileSettings::default()
        };
        let out = reconcile(&i, &settings).unwrap();
        assert!(findings(&out).is_empty(), "{:?}", findings(&out));
        assert_eq!(
            not_checked(&out, "test_flag"),
            [("Xsolla test payments matched to ledger lines".to_owned(), 1)]
        );
    }

    #[test]
    fn optional_fee_fields_are_summed_when_loaded_and_an_error_when_not() {
        let mut sale = p(1, "10.00", "USD", "2026-10-02");
        sale.fee = Some("1.00");
        let mut line = l(1, "10.00", "USD", "2026-10-02");
        line.fee = Some("1.25");
        let mut i = input(&[sale], &[line]);
        let settings = ReconcileSettings {
            fee_columns: vec!["commission_xsolla".into(), "cpa_network_commission".into()],
            ..ReconcileSettings::default()
        };
        let e = reconcile(&i, &settings).unwrap_err().to_string();
        assert!(
            e.contains("\"cpa_network_commission\"") && e.contains("not loaded"),
            "{e}"
        );
        set_dec(
            &mut i.provider,
            "cpa_network_commission",
            &["0.25"],
            MONEY_SCALE,
        );
        let out = reconcile(&i, &settings).unwrap();
        assert!(findings(&out).is_empty(), "{:?}", findings(&out));
        let out = reconcile(&i, &ReconcileSettings::default()).unwrap();
        assert_eq!(findings(&out).len(), 1, "{:?}", findings(&out));
    }
}
