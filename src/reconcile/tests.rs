//! Hand-built scenarios, one or more per discrepancy class.

use super::*;
use crate::domain::codes;
use crate::domain::frames::{
    decimal_at, decimal_column, money, provider_schema, MONEY_SCALE, RATE_SCALE,
};
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}
fn date(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}
fn days(v: &[Option<&str>]) -> Vec<Option<i32>> {
    v.iter().map(|s| s.map(|s| day(date(s)))).collect()
}
fn date_col(name: &str, v: &[Option<&str>]) -> Column {
    Column::new(name.into(), days(v))
        .cast(&DataType::Date)
        .unwrap()
}
fn dec(name: &str, v: &[Option<&str>], scale: usize) -> Column {
    let vals: Vec<Option<Decimal>> = v.iter().map(|s| s.map(d)).collect();
    decimal_column(name, &vals, scale).unwrap()
}

/// A provider registry row.
#[derive(Clone)]
pub(crate) struct P {
    pub txn: i64,
    pub ext: &'static str,
    pub amount: &'static str,
    pub cur: &'static str,
    pub date: &'static str,
    pub status: &'static str,
    pub payout: &'static str,
    pub transfer_id: Option<i64>,
    pub project: i64,
    pub dry_run: bool,
    pub fee: Option<&'static str>,
    pub user: Option<&'static str>,
}

pub(crate) fn p(txn: i64, amount: &'static str, cur: &'static str, date: &'static str) -> P {
    P {
        txn,
        ext: Box::leak(format!("ord-{txn}").into_boxed_str()),
        amount,
        cur,
        date,
        status: "done",
        payout: amount,
        transfer_id: Some(1),
        project: 1,
        dry_run: false,
        fee: None,
        user: Some("u1"),
    }
}

pub(crate) fn provider(rows: &[P]) -> DataFrame {
    let n = rows.len();
    let s = |f: &dyn Fn(&P) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
    let mut cols = vec![
        Column::new(
            "source".into(),
            (0..n).map(|i| format!("reg#{i}")).collect::<Vec<_>>(),
        ),
        Column::new(
            "transaction_id".into(),
            rows.iter().map(|r| r.txn).collect::<Vec<_>>(),
        ),
        Column::new("external_id".into(), s(&|r| Some(r.ext))),
        Column::new(
            "project_id".into(),
            rows.iter().map(|r| r.project).collect::<Vec<_>>(),
        ),
        Column::new("status".into(), s(&|r| Some(r.status))),
        Column::new(
            "row_kind".into(),
            s(&|r| {
                Some(if r.amount.starts_with('-') {
                    "cancellation"
                } else {
                    "payment"
                })
            }),
        ),
        Column::new("refund_reason".into(), vec![None::<&str>; n]),
        Column::full_null(
            "created_at".into(),
            n,
            &DataType::Datetime(TimeUnit::Milliseconds, None),
        ),
        date_col("transfer_date", &s(&|r| Some(r.date))),
        Column::new(
            "transfer_id".into(),
            rows.iter().map(|r| r.transfer_id).collect::<Vec<_>>(),
        ),
        Column::new("report_id".into(), vec![None::<i64>; n]),
        Column::new("user_id".into(), s(&|r| r.user)),
        Column::new(
            "dry_run".into(),
            rows.iter().map(|r| r.dry_run).collect::<Vec<_>>(),
        ),
        dec("payment_amount", &s(&|r| Some(r.amount)), MONEY_SCALE),
        Column::new("payment_currency".into(), s(&|r| Some(r.cur))),
        dec("payout_amount", &s(&|r| Some(r.payout)), MONEY_SCALE),
        Column::new("payout_currency".into(), vec![Some("USD"); n]),
        dec("fx_rate", &vec![Some("1"); n], RATE_SCALE),
    ];
    for f in crate::domain::frames::PROVIDER_FEE_COLUMNS {
        let v = if *f == "commission_xsolla" {
            s(&|r| r.fee)
        } else {
            vec![None; n]
        };
        cols.push(dec(f, &v, MONEY_SCALE));
    }
    let df = DataFrame::new_infer_height(cols).unwrap();
    // Coded and packed, as the loaders make it.
    let df = codes::coded(df, crate::domain::frames::PROVIDER_CODED).unwrap();
    let df = crate::domain::sources::packed_in(df).unwrap();
    crate::domain::frames::check_schema(&df, &provider_schema(), "test provider").unwrap();
    df
}

/// A ledger line.
#[derive(Clone)]
pub(crate) struct L {
    pub txn: Option<i64>,
    pub order: Option<&'static str>,
    pub amount: &'static str,
    pub cur: &'static str,
    pub status: &'static str,
    pub date: &'static str,
    pub fee: Option<&'static str>,
    pub net: Option<&'static str>,
    pub user: Option<&'static str>,
}

pub(crate) fn l(txn: i64, amount: &'static str, cur: &'static str, date: &'static str) -> L {
    L {
        txn: Some(txn),
        order: None,
        amount,
        cur,
        status: if amount.starts_with('-') {
            "refunded"
        } else {
            "paid"
        },
        date,
        fee: None,
        net: None,
        user: None,
    }
}

pub(crate) fn ledger(rows: &[L]) -> DataFrame {
    let n = rows.len();
    let s = |f: &dyn Fn(&L) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
    let df = DataFrame::new_infer_height(vec![
        Column::new(
            "source".into(),
            (0..n)
                .map(|i| format!("ledger.csv:{}", i + 2))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "transaction_id".into(),
            rows.iter().map(|r| r.txn).collect::<Vec<_>>(),
        ),
        Column::new("order_id".into(), s(&|r| r.order)),
        dec("amount", &s(&|r| Some(r.amount)), MONEY_SCALE),
        Column::new("currency".into(), s(&|r| Some(r.cur))),
        Column::new("status".into(), s(&|r| Some(r.status))),
        date_col("booked_date", &s(&|r| Some(r.date))),
        dec("fee", &s(&|r| r.fee), MONEY_SCALE),
        dec("net", &s(&|r| r.net), MONEY_SCALE),
        Column::new("payout_ref".into(), vec![None::<&str>; n]),
        Column::new("note".into(), vec![None::<&str>; n]),
        Column::new("user_id".into(), s(&|r| r.user)),
    ])
    .unwrap();
    let df = codes::coded(df, crate::domain::frames::LEDGER_CODED).unwrap();
    let df = crate::domain::sources::packed_in(df).unwrap();
    crate::domain::frames::check_schema(
        &df,
        &crate::domain::frames::ledger_schema(),
        "test ledger",
    )
    .unwrap();
    df
}

pub(crate) fn input(provider_rows: &[P], ledger_rows: &[L]) -> ReconcileInput {
    ReconcileInput {
        window: Window::new(date("2026-10-01"), date("2026-10-31")).unwrap(),
        provider_window: Window::new(date("2026-09-24"), date("2026-11-07")).unwrap(),
        provider: provider(provider_rows),
        payout_rows: None,
        payouts: crate::domain::frames::empty(&crate::domain::frames::payouts_schema()),
        breakdown: crate::domain::frames::empty(&crate::domain::frames::breakdown_schema()),
        ledger: ledger(ledger_rows),
        project_ids: vec![],
        conventions: Default::default(),
    }
}

/// (class, rule, key) of every finding.
pub(crate) fn findings(out: &ReconcileOutput) -> Vec<(String, String, String)> {
    let d = &out.discrepancies;
    let get = |c: &str| d.column(c).unwrap().str().unwrap().clone();
    let (c, r, k) = (get("class"), get("rule"), get("key"));
    (0..d.height())
        .map(|i| {
            (
                c.get(i).unwrap().to_owned(),
                r.get(i).unwrap().to_owned(),
                k.get(i).unwrap().to_owned(),
            )
        })
        .collect()
}

fn run(i: &ReconcileInput) -> ReconcileOutput {
    checked(i, &ReconcileSettings::default())
}

/// `df` with its coded columns and packed `source` as text: a frame built by a caller, not a
/// loader.
fn as_text(df: &DataFrame) -> DataFrame {
    codes::read_as_text(df).collect().unwrap()
}

/// [`reconcile`] with `s`, run whole and cut into as many slices as it allows (one row per
/// slice): both give the very same findings and summary (`reconcile.rows_per_slice`), and so
/// do the same frames with their coded columns given as text.
fn checked(i: &ReconcileInput, s: &ReconcileSettings) -> ReconcileOutput {
    let whole = ReconcileSettings {
        rows_per_slice: 0,
        ..s.clone()
    };
    let sliced = ReconcileSettings {
        rows_per_slice: 1,
        ..s.clone()
    };
    let out = reconcile(i, &whole).unwrap();
    same(&out, &reconcile(i, &sliced).unwrap(), "whole", "sliced");
    let mut text = i.clone();
    assert!(codes::is_code(i.provider.column("status").unwrap().dtype()));
    text.provider = as_text(&i.provider);
    text.ledger = as_text(&i.ledger);
    text.payout_rows = i.payout_rows.as_ref().map(as_text);
    assert_eq!(
        text.ledger.column("currency").unwrap().dtype(),
        &DataType::String
    );
    same(&out, &reconcile(&text, &whole).unwrap(), "coded", "text");
    for (n, s) in [(2, &whole), (3, &sliced)] {
        let parted = in_parts(i, n, s).unwrap_or_else(|e| panic!("in {n} parts: {e}"));
        same(&out, &parted, "whole", &format!("in {n} parts"));
    }
    out
}

/// [`reconcile`] of `i` with its rows cut into `n` parts ([`parts::reconcile_in_parts`]).
fn in_parts(
    i: &ReconcileInput,
    n: u32,
    s: &ReconcileSettings,
) -> Result<ReconcileOutput, ReconcileError> {
    let mut cut = parts::CutParts::new(&i.provider, &i.ledger, n)?;
    let shared = ReconcileInput {
        provider: i.provider.clear(),
        ledger: i.ledger.clear(),
        ..i.clone()
    };
    parts::reconcile_in_parts(shared, &mut cut, s)
}

/// Asserts that two runs (`a` and `b`, named for the message) found the very same.
fn same(a: &ReconcileOutput, b: &ReconcileOutput, a_name: &str, b_name: &str) {
    assert!(
        a.discrepancies.equals_missing(&b.discrepancies),
        "{a_name}:\n{}\n{b_name}:\n{}",
        a.discrepancies,
        b.discrepancies
    );
    assert_eq!(a.summary, b.summary, "{a_name} / {b_name}");
}

fn classes(out: &ReconcileOutput) -> Vec<String> {
    findings(out).into_iter().map(|f| f.0).collect()
}

#[test]
fn a_clean_month_has_no_findings() {
    let out = run(&input(
        &[
            p(1, "10.00", "USD", "2026-10-02"),
            p(2, "1500", "JPY", "2026-10-03"),
            p(3, "1.250", "KWD", "2026-10-04"),
        ],
        &[
            l(1, "10", "USD", "2026-10-02"),
            l(2, "1500", "JPY", "2026-10-03"),
            l(3, "1.25", "KWD", "2026-10-04"),
        ],
    ));
    assert!(findings(&out).is_empty(), "{:?}", findings(&out));
    assert_eq!(out.summary.match_rate_percent, "100.00");
    assert_eq!(out.summary.matched_totals["KWD"], "1.250");
    assert_eq!(out.summary.rows.provider_matched, 3);
    assert_eq!(out.summary.rows.ledger_matched, 3);
}

#[test]
fn missing_on_either_side() {
    let out = run(&input(
        &[
            p(1, "10.00", "USD", "2026-10-02"),
            p(2, "5.00", "USD", "2026-10-02"),
        ],
        &[
            l(1, "10.00", "USD", "2026-10-02"),
            l(9, "7.00", "USD", "2026-10-05"),
        ],
    ));
    assert_eq!(
        findings(&out),
        vec![
            (
                "missing_in_ledger".into(),
                "provider_payment_without_ledger_line".into(),
                "missing_in_ledger:tx:2".into()
            ),
            (
                "missing_in_provider".into(),
                "ledger_line_unknown_to_xsolla".into(),
                "missing_in_provider:tx:9:payment".into()
            ),
        ]
    );
    let diff = out.discrepancies.column("difference").unwrap();
    assert_eq!(decimal_at(diff, 0).unwrap(), Some(d("-5")));
    assert_eq!(decimal_at(diff, 1).unwrap(), Some(d("7")));
    let r = &out.summary.rows;
    assert_eq!(
        (
            r.provider_reported,
            r.provider_matched,
            r.ledger_reported,
            r.ledger_matched
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(out.summary.match_rate_percent, "50.00");
}

#[test]
fn matching_falls_back_to_the_order_id() {
    let mut line = l(0, "10.00", "USD", "2026-10-02");
    line.txn = None;
    line.order = Some("ord-1");
    let out = run(&input(&[p(1, "10.00", "USD", "2026-10-02")], &[line]));
    assert!(findings(&out).is_empty(), "{:?}", findings(&out));
}

#[test]
fn amount_and_currency_mismatches_respect_tolerance() {
    let i = input(
        &[
            p(1, "10.00", "USD", "2026-10-02"),
            p(2, "10.00", "USD", "2026-10-02"),
            p(3, "100", "JPY", "2026-10-02"),
        ],
        &[
            l(1, "10.01", "USD", "2026-10-02"),
            l(2, "10.00", "EUR", "2026-10-02"),
            l(3, "101", "JPY", "2026-10-02"),
        ],
    );
    let out = run(&i);
    assert_eq!(
        classes(&out),
        vec!["amount_mismatch", "amount_mismatch", "currency_mismatch"]
    );
    let mut s = ReconcileSettings::default();
    s.tolerance_minor_units.insert("USD".into(), 1);
    s.tolerance_minor_units.insert("JPY".into(), 1);
    let out = checked(&i, &s);
    assert_eq!(classes(&out), vec!["currency_mismatch"]);
}

#[test]
fn split_bookings_are_summed_and_exact_duplicates_reported() {
    let out = run(&input(
        &[
            p(1, "10.00", "USD", "2026-10-02"),
            p(2, "4.00", "USD", "2026-10-02"),
        ],
        &[
            l(1, "6.00", "USD", "2026-10-02"),
            l(1, "4.00", "USD", "2026-10-02"),
            l(2, "4.00", "USD", "2026-10-02"),
            l(2, "4.00", "USD", "2026-10-02"),
        ],
    ));
    // The duplicate is reported once and not counted twice in the amount check.
    assert_eq!(classes(&out), vec!["duplicate_in_ledger"]);
}

#[test]
fn provider_duplicates_identical_rows_and_double_charged_orders() {
    let mut twin = p(3, "2.00", "USD", "2026-10-02");
    twin.ext = "ord-2";
    let out = run(&input(
        &[
            p(1, "10.00", "USD", "2026-10-02"),
            p(1, "10.00", "USD", "2026-10-02"),
            p(2, "2.00", "USD", "2026-10-02"),
            twin,
        ],
        &[
            l(1, "10.00", "USD", "2026-10-02"),
            l(2, "2.00", "USD", "2026-10-02"),
            l(3, "2.00", "USD", "2026-10-02"),
        ],
    ));
    let f = findings(&out);
    assert_eq!(
        f.iter()
            .map(|x| (x.0.as_str(), x.1.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("duplicate_in_provider", "one_order_several_payments"),
            ("duplicate_in_provider", "identical_payment_rows"),
        ]
    );
}

#[test]
fn an_order_s_several_payments_are_listed_in_file_order() {
    // Transaction ids against file order, so a listing by id or by hash would show.
    let with_order = |txn, amount, date| {
        let mut r = p(txn, amount, "USD", date);
        r.ext = "ord-x";
        r
    };
    let out = run(&input(
        &[
            with_order(9, "2.00", "2026-10-02"),
            p(1, "1.00", "USD", "2026-10-02"),
            with_order(4, "3.00", "2026-10-03"),
            with_order(6, "5.00", "2026-10-04"),
        ],
        &[
            l(9, "2.00", "USD", "2026-10-02"),
            l(1, "1.00", "USD", "2026-10-02"),
            l(4, "3.00", "USD", "2026-10-03"),
            l(6, "5.00", "USD", "2026-10-04"),
        ],
    ));
    let f = &out.discrepancies;
    assert_eq!(f.height(), 1, "{f}");
    let text = |c: &str| {
        f.column(c)
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .unwrap()
            .to_owned()
    };
    assert_eq!(text("rule"), "one_order_several_payments");
    assert_eq!(text("provider_rows"), "reg#0;reg#2;reg#3");
    let actual = decimal_at(f.column("actual").unwrap(), 0).unwrap();
    assert_eq!(actual, Some(d("10.00")));
}

#[test]
fn refunds_at_xsolla_not_in_the_ledger_and_the_reverse() {
    let mut refunded = p(1, "10.00", "USD", "2026-10-02");
    refunded.status = "refunded";
    let mut refund_row = p(1, "-10.00", "USD", "2026-10-20");
    refund_row.status = "refunded";
    let mut marked = l(3, "7.00", "USD", "2026-10-02");
    marked.status = "refunded";
    let out = run(&input(
        &[
            refunded,
            refund_row,
            p(2, "5.00", "USD", "2026-10-02"),
            p(3, "7.00", "USD", "2026-10-02"),
        ],
        &[
            l(1, "10.00", "USD", "2026-10-02"),
            l(2, "5.00", "USD", "2026-10-02"),
            l(2, "-5.00", "USD", "2026-10-21"),
            marked,
        ],
    ));
    let f = findings(&out);
    let rules: Vec<&str> = f.iter().map(|x| x.1.as_str()).collect();
    assert_eq!(
        f.iter().filter(|x| x.0 == "status_mismatch").count(),
        3,
        "{f:?}"
    );
    assert!(rules.contains(&"xsolla_cancellation_not_in_ledger"));
    assert!(rules.contains(&"ledger_cancellation_not_at_xsolla"));
    assert!(rules.contains(&"ledger_says_refunded_xsolla_done"));
}

#[test]
fn a_refund_booked_by_status_on_the_payment_line_is_not_a_finding() {
    let mut refunded = p(1, "10.00", "USD", "2026-10-02");
    refunded.status = "refunded";
    let mut refund_row = p(1, "-10.00", "USD", "2026-10-20");
    refund_row.status = "refunded";
    let mut marked = l(1, "10.00", "USD", "2026-10-02");
    marked.status = "refunded";
    let out = run(&input(&[refunded, refund_row], &[marked]));
    assert!(findings(&out).is_empty(), "{:?}", findings(&out));
}

#[test]
fn a_refund_booked_in_a_later_window() {
    // October: Xsolla has the payment; the ledger books payment in October and the refund on
    // November 3rd; Xsolla's refund row is dated November 2nd (next window).
    let oct = run(&input(
        &[p(1, "10.00", "USD", "2026-10-30")],
        &[
            l(1, "10.00", "USD", "2026-10-30"),
            l(1, "-10.00", "USD", "2026-11-03"),
        ],
    ));
    assert!(
        findings(&oct).is_empty(),
        "October is clean: {:?}",
        findings(&oct)
    );
    assert_eq!(oct.summary.rows.ledger_rows, 2);
    // November: the refund row meets the ledger's refund.
    let mut nov = input(
        &[p(1, "-10.00", "USD", "2026-11-02")],
        &[
            l(1, "10.00", "USD", "2026-10-30"),
            l(1, "-10.00", "USD", "2026-11-03"),
        ],
    );
    nov.window = Window::new(date("2026-11-01"), date("2026-11-30")).unwrap();
    let out = run(&nov);
    assert!(findings(&out).is_empty(), "{:?}", findings(&out));
}

#[test]
fn timing_difference_across_the_window_edge() {
    let out = run(&input(
        &[p(1, "10.00", "USD", "2026-10-31")],
        &[l(1, "10.00", "USD", "2026-11-01")],
    ));
    assert_eq!(classes(&out), vec!["timing_difference"]);
    // Far outside the margin, the line is not compared (and counted as such).
    let out = run(&input(
        &[p(1, "10.00", "USD", "2026-10-31")],
        &[l(1, "10.00", "USD", "2026-12-20")],
    ));
    assert_eq!(classes(&out), vec!["missing_in_ledger"]);
    assert_eq!(out.summary.rows.ledger_out_of_window, 1);
}

#[test]
fn fee_and_net_mismatches() {
    let mut a = p(1, "10.00", "USD", "2026-10-02");
    a.fee = Some("0.50");
    a.payout = "9.00";
    let mut b = a.clone();
    b.txn = 2;
    b.ext = "ord-2";
    let mut la = l(1, "10.00", "USD", "2026-10-02");
    la.fee = Some("0.70");
    let mut lb = l(2, "10.00", "USD", "2026-10-02");
    lb.fee = Some("0.50");
    lb.net = Some("9.20");
    let out = run(&input(&[a, b], &[la, lb]));
    let f = findings(&out);
    assert_eq!(
        f.iter()
            .map(|x| (x.0.as_str(), x.1.as_str()))
            .collect::<Vec<_>>(),
        vec![("fee_mismatch", "fees"), ("fee_mismatch", "net_vs_payout")]
    );
}

#[test]
fn amount_comparisons_are_configurable() {
    // Xsolla: 10.00 paid, 0.50 fees, 9.00 paid out (FX). Ledger: gross 10.00, net 9.50.
    let mut a = p(1, "10.00", "USD", "2026-10-02");
    a.fee = Some("0.50");
    a.payout = "9.00";
    let mut la = l(1, "10.00", "USD", "2026-10-02");
    la.net = Some("9.50");
    let rules = |comparisons: Vec<Comparison>, ledger: L| {
        let s = ReconcileSettings {
            comparisons,
            ..ReconcileSettings::default()
        };
        let out = checked(&input(&[a.clone()], &[ledger]), &s);
        findings(&out)
            .into_iter()
            .map(|x| format!("{}/{}", x.0, x.1))
            .collect::<Vec<_>>()
    };
    // Default: net is compared with the payout amount (9.00 vs 9.50).
    assert_eq!(
        rules(ReconcileSettings::default().comparisons, la.clone()),
        vec!["fee_mismatch/net_vs_payout"]
    );
    // A ledger booking net in the payment currency: 10.00 - 0.50 = 9.50 agrees.
    use Comparison::*;
    assert!(rules(vec![Gross, Fees, NetVsPaymentMinusFees], la.clone()).is_empty());
    let mut off = la.clone();
    off.net = Some("9.40");
    assert_eq!(
        rules(vec![Gross, NetVsPaymentMinusFees], off.clone()),
        vec!["fee_mismatch/net_vs_payment_minus_fees"]
    );
    // Gross left out: a gross difference is not reported, the net one still is.
    let mut gross_off = off;
    gross_off.amount = "11.00";
    assert_eq!(
        rules(vec![NetVsPaymentMinusFees], gross_off.clone()),
        vec!["fee_mismatch/net_vs_payment_minus_fees"]
    );
    assert_eq!(
        rules(vec![Gross, NetVsPaymentMinusFees], gross_off),
        vec!["amount_mismatch/gross_amount"]
    );
    // Names in the config.
    let s: ReconcileSettings =
        toml::from_str("comparisons = [\"gross\", \"net_vs_payment_minus_fees\"]").unwrap();
    assert_eq!(s.comparisons, vec![Gross, NetVsPaymentMinusFees]);
    assert!(toml::from_str::<ReconcileSettings>("comparisons = [\"tax\"]").is_err());
}

#[test]
fn fuzzy_pairs_need_the_same_user_when_both_sides_name_one() {
    let probable = |user: Option<&'static str>, same_user: bool| {
        let mut line = l(0, "10.00", "USD", "2026-10-04");
        line.txn = None;
        line.order = Some("unknown-order");
        line.user = user;
        let i = input(&[p(1, "10.00", "USD", "2026-10-02")], &[line]);
        let mut s = ReconcileSettings::default();
        s.fuzzy.enabled = true;
        s.fuzzy.same_user = same_user;
        let out = checked(&i, &s);
        let flags = out
            .discrepancies
            .column("probable")
            .unwrap()
            .bool()
            .unwrap()
            .clone();
        let detail = out
            .discrepancies
            .column("detail")
            .unwrap()
            .str()
            .unwrap()
            .clone();
        (
            flags.iter().map(|b| b.unwrap()).collect::<Vec<_>>(),
            detail.get(0).unwrap().to_owned(),
        )
    };
    let (flags, detail) = probable(Some("u1"), true);
    assert_eq!(flags, vec![true, true]);
    assert!(detail.contains("same user u1"), "{detail}");
    assert_eq!(probable(Some("u2"), true).0, vec![false, false]);
    assert_eq!(probable(Some("u2"), false).0, vec![true, true]);
    let (flags, detail) = probable(None, true);
    assert_eq!(flags, vec![true, true]);
    assert!(detail.contains("user not compared"), "{detail}");
}

#[test]
fn payouts_that_do_not_add_up() {
    let mut i = input(
        &[p(1, "10.00", "USD", "2026-10-02")],
        &[l(1, "10.00", "USD", "2026-10-02")],
    );
    let mut rows = vec![
        p(1, "10.00", "USD", "2026-10-02"),
        p(2, "5.00", "USD", "2026-09-30"),
    ];
    rows[1].transfer_id = Some(1);
    i.payout_rows = Some(provider(&rows));
    i.payouts = DataFrame::new_infer_height(vec![
        Column::new("source".into(), vec!["payouts.json#0", "payouts.json#1"]),
        Column::new("payout_id".into(), vec![1i64, 2]),
        date_col("payout_date", &[Some("2026-10-20"), Some("2026-10-20")]),
        Column::new("currency".into(), vec!["USD", "USD"]),
        dec("amount", &[Some("15.00"), Some("3.00")], MONEY_SCALE),
        Column::new("canceled".into(), vec![false, false]),
    ])
    .unwrap();
    let out = run(&i);
    assert_eq!(
        findings(&out),
        vec![(
            "payout_mismatch".into(),
            "payout_rows_sum".into(),
            "payout_mismatch:payout:2".into()
        )]
    );
}

#[test]
fn breakdown_that_differs_from_the_registry() {
    let mut i = input(
        &[
            p(1, "10.00", "USD", "2026-10-02"),
            p(2, "100", "JPY", "2026-10-02"),
        ],
        &[],
    );
    i.breakdown = DataFrame::new_infer_height(vec![
        Column::new(
            "source".into(),
            vec!["breakdown.json#0", "breakdown.json#1"],
        ),
        date_col("window_from", &[Some("2026-10-01"), Some("2026-10-01")]),
        date_col("window_to", &[Some("2026-10-31"), Some("2026-10-31")]),
        Column::new("currency".into(), vec!["USD", "JPY"]),
        dec("payments_amount", &[Some("10.00"), Some("90")], MONEY_SCALE),
        dec("sum_payout", &[Some("10.00"), Some("100")], MONEY_SCALE),
    ])
    .unwrap();
    let out = run(&i);
    let f: Vec<_> = findings(&out)
        .into_iter()
        .filter(|x| x.0 == "breakdown_mismatch")
        .collect();
    assert_eq!(
        f,
        vec![(
            "breakdown_mismatch".into(),
            "payments_amount".into(),
            "breakdown_mismatch:2026-10-01:JPY:payments".into()
        )]
    );
}

#[test]
fn a_registry_currency_the_breakdown_does_not_list_is_not_checked() {
    let mut i = input(
        &[
            p(1, "10.00", "USD", "2026-10-02"),
            p(2, "100", "JPY", "2026-10-02"),
            p(3, "200", "JPY", "2026-10-02"),
            // A day without any breakdown row says nothing here.
            p(4, "300", "JPY", "2026-10-03"),
        ],
        &[],
    );
    i.breakdown = DataFrame::new_infer_height(vec![
        Column::new("source".into(), vec!["breakdown.json#0"]),
        date_col("window_from", &[Some("2026-10-02")]),
        date_col("window_to", &[Some("2026-10-02")]),
        Column::new("currency".into(), vec!["USD"]),
        dec("payments_amount", &[Some("10.00")], MONEY_SCALE),
        dec("sum_payout", &[Some("10.00")], MONEY_SCALE),
    ])
    .unwrap();
    let out = run(&i);
    assert!(findings(&out).iter().all(|f| f.0 != "breakdown_mismatch"));
    let lines: Vec<_> = out
        .summary
        .not_checked
        .iter()
        .filter(|n| n.check == "breakdown")
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].subject, "2026-10-02 JPY");
    assert!(
        lines[0].reason.contains("registry has 2 non-test rows"),
        "{lines:?}"
    );
}

#[test]
fn test_payments_and_other_projects_are_out_of_scope_but_counted() {
    let mut test = p(2, "5.00", "USD", "2026-10-02");
    test.dry_run = true;
    let mut other = p(3, "5.00", "USD", "2026-10-02");
    other.project = 2;
    let mut i = input(
        &[p(1, "10.00", "USD", "2026-10-02"), test, other],
        &[l(1, "10.00", "USD", "2026-10-02")],
    );
    i.project_ids = vec![1];
    let out = run(&i);
    assert!(findings(&out).is_empty(), "{:?}", findings(&out));
    assert_eq!(out.summary.rows.provider_out_of_scope, 2);
}

#[test]
fn fuzzy_pairs_are_probable_never_accepted() {
    let mut line = l(0, "10.00", "USD", "2026-10-04");
    line.txn = None;
    line.order = Some("unknown-order");
    let i = input(&[p(1, "10.00", "USD", "2026-10-02")], &[line]);
    let mut s = ReconcileSettings::default();
    s.fuzzy.enabled = true;
    let out = checked(&i, &s);
    assert_eq!(
        classes(&out),
        vec!["missing_in_ledger", "missing_in_provider"]
    );
    let probable = out
        .discrepancies
        .column("probable")
        .unwrap()
        .bool()
        .unwrap()
        .clone();
    assert_eq!(
        probable.iter().collect::<Vec<_>>(),
        vec![Some(true), Some(true)]
    );
}

#[test]
fn a_fuzzy_rule_over_its_limit_says_it_did_not_run() {
    let mut line = l(0, "10.00", "USD", "2026-10-04");
    line.txn = None;
    line.order = Some("unknown-order");
    let i = input(&[p(1, "10.00", "USD", "2026-10-02")], &[line]);
    let mut s = ReconcileSettings::default();
    s.fuzzy.enabled = true;
    s.fuzzy.max_candidates = 0;
    let out = checked(&i, &s);
    let fuzzy: Vec<_> = out
        .summary
        .not_checked
        .iter()
        .filter(|n| n.check == "fuzzy")
        .collect();
    assert_eq!(fuzzy.len(), 1, "{:?}", out.summary.not_checked);
    assert_eq!(fuzzy[0].count, 2);
    assert!(fuzzy[0].reason.contains("max_candidates (0)"));
    s.fuzzy.max_candidates = 10;
    let out = checked(&i, &s);
    assert!(out.summary.not_checked.iter().all(|n| n.check != "fuzzy"));
}

#[test]
fn the_same_inputs_give_identical_results() {
    let i = input(
        &[
            p(1, "10.00", "USD", "2026-10-02"),
            p(2, "5.00", "EUR", "2026-10-02"),
            p(3, "1", "JPY", "2026-10-09"),
        ],
        &[
            l(1, "10.00", "USD", "2026-10-02"),
            l(4, "5.00", "EUR", "2026-10-02"),
        ],
    );
    let a = run(&i);
    let b = run(&i);
    assert!(a.discrepancies.equals_missing(&b.discrepancies));
    assert_eq!(a.summary, b.summary);
    let _ = money();
}

mod property {
    //! Inject k known discrepancies into an otherwise consistent pair: exactly those k come out.

    use super::*;
    use proptest::prelude::*;

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    #[derive(Debug, Clone, Copy)]
    enum Fault {
        DropLedger,
        UnknownLedgerLine,
        Amount,
        Currency,
        DuplicateLedger,
        UnbookedRefund,
    }

    fn expected_class(f: Fault) -> &'static str {
        match f {
            Fault::DropLedger => "missing_in_ledger",
            Fault::UnknownLedgerLine => "missing_in_provider",
            Fault::Amount => "amount_mismatch",
            Fault::Currency => "currency_mismatch",
            Fault::DuplicateLedger => "duplicate_in_ledger",
            Fault::UnbookedRefund => "status_mismatch",
        }
    }

    fn fault() -> impl Strategy<Value = Fault> {
        prop_oneof![
            Just(Fault::DropLedger),
            Just(Fault::UnknownLedgerLine),
            Just(Fault::Amount),
            Just(Fault::Currency),
            Just(Fault::DuplicateLedger),
            Just(Fault::UnbookedRefund),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
        #[test]
        fn finds_exactly_the_injected_discrepancies(
            lines in prop::collection::vec((1u32..100_000u32, 0usize..3, 1u32..28), 5..40),
            faults in prop::collection::vec(fault(), 0..6),
        ) {
            const CUR: [(&str, u32); 3] = [("USD", 2), ("JPY", 0), ("KWD", 3)];
            let mut prov = Vec::new();
            let mut led = Vec::new();
            for (i, (minor, c, dayn)) in lines.iter().enumerate() {
                let (cur, exp) = CUR[*c];
                let amount = leak(Decimal::new(i64::from(*minor), exp).to_string());
                let date = leak(format!("2026-10-{dayn:02}"));
                let txn = 1000 + i as i64;
                prov.push(p(txn, amount, cur, date));
                led.push(l(txn, amount, cur, date));
            }
            let k = faults.len().min(lines.len());
            let mut injected = Vec::new();
            let mut extra_ledger = Vec::new();
            for (i, f) in faults.iter().take(k).enumerate() {
                let txn = 1000 + i as i64;
                match f {
                    Fault::DropLedger => led[i].amount = "DROP",
                    Fault::UnknownLedgerLine => {
                        extra_ledger.push(l(900_000 + i as i64, "1.00", "USD", "2026-10-05"));
                    }
                    Fault::Amount => {
                        let a = Decimal::from_str(led[i].amount).unwrap() + Decimal::ONE;
                        led[i].amount = leak(a.to_string());
                    }
                    Fault::Currency => led[i].cur = if led[i].cur == "EUR" { "GBP" } else { "EUR" },
                    Fault::DuplicateLedger => extra_ledger.push(led[i].clone()),
                    Fault::UnbookedRefund => {
                        let mut refund = prov[i].clone();
                        refund.amount = leak(format!("-{}", prov[i].amount));
                        refund.date = "2026-10-28";
                        refund.status = "refunded";
                        prov[i].status = "refunded";
                        prov.push(refund);
                    }
                }
                let key_txn = if matches!(f, Fault::UnknownLedgerLine) { 900_000 + i as i64 } else { txn };
                injected.push((expected_class(*f).to_owned(), key_txn));
            }
            led.retain(|x| x.amount != "DROP");
            led.extend(extra_ledger);
            let out = checked(&input(&prov, &led), &ReconcileSettings::default());
            // The other engine gives the very same findings and counts (reconcile.engine),
            // whole and in slices.
            let streaming = ReconcileSettings { engine: QueryEngine::Streaming, ..ReconcileSettings::default() };
            let other = checked(&input(&prov, &led), &streaming);
            prop_assert!(out.discrepancies.equals_missing(&other.discrepancies));
            prop_assert_eq!(&out.summary, &other.summary);
            let d = &out.discrepancies;
            let class = d.column("class").unwrap().str().unwrap().clone();
            let txn = d.column("transaction_id").unwrap().i64().unwrap().clone();
            let mut found: Vec<(String, i64)> = (0..d.height())
                .map(|i| (class.get(i).unwrap().to_owned(), txn.get(i).unwrap()))
                .collect();
            found.sort();
            injected.sort();
            prop_assert_eq!(found, injected);
            let r = &out.summary.rows;
            prop_assert_eq!(r.provider_rows, r.provider_out_of_scope + r.provider_reported + r.provider_in_margin + r.provider_matched);
            prop_assert_eq!(r.ledger_rows, r.ledger_out_of_window + r.ledger_reported + r.ledger_in_margin + r.ledger_matched);
        }
    }
}

#[test]
fn all_distinct_finds_a_repeat_anywhere_and_nulls_count() {
    let ca = |v: &[Option<&str>]| {
        let df = DataFrame::new_infer_height(vec![Column::new("source".into(), v)]).unwrap();
        crate::domain::sources::packed_in(df).unwrap()
    };
    let all_distinct =
        |df: DataFrame| crate::domain::sources::all_distinct(df.column("source").unwrap()).unwrap();
    assert!(all_distinct(ca(&[])));
    assert!(all_distinct(ca(&[Some("a:1"), Some("a:2"), None])));
    assert!(!all_distinct(ca(&[Some("a:1"), Some("a:2"), Some("a:1")])));
    assert!(!all_distinct(ca(&[None, Some("x"), None])));
    let many: Vec<String> = (0..10_000).map(|i| format!("f.csv:{i}")).collect();
    let refs: Vec<Option<&str>> = many.iter().map(|s| Some(s.as_str())).collect();
    assert!(all_distinct(ca(&refs)));
    let mut with_repeat = refs.clone();
    with_repeat.push(Some("f.csv:4711"));
    assert!(!all_distinct(ca(&with_repeat)));
    // Out of file order: a file coming back, numbers falling, other shapes.
    let d = |v: &[&str]| all_distinct(ca(&v.iter().map(|s| Some(*s)).collect::<Vec<_>>()));
    assert!(!d(&["a:1", "b#1", "a:1"]));
    assert!(d(&["a:1", "b#1", "a:2"]));
    assert!(!d(&["a:2", "a:1", "a:2"]));
    assert!(d(&["a:2", "a:1", "a:3"]));
    assert!(!d(&["x", "a:1", "x"]));
    assert!(d(&["x", "a:1", "y"]));
    assert!(!d(&["a:1", "a:7", "b:1", "a:007", "a:7"]));
    assert!(d(&[
        "p/1.json#0",
        "p/1.json#1",
        "p/2.json#0",
        "s/p/1.json#0"
    ]));
}

/// A copy of the built-in rules in a temporary folder, with `extra` class files added
/// (`(file stem, sql)`), for `reconcile.sql_dir`.
fn custom_rules(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let sql = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    for sub in ["prepare", "classes"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        for e in std::fs::read_dir(sql.join(sub)).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, dir.path().join(sub).join(p.file_name().unwrap())).unwrap();
        }
    }
    for (stem, text) in extra {
        std::fs::write(dir.path().join(format!("classes/{stem}.sql")), text).unwrap();
    }
    dir
}

/// A class file in the discrepancy schema reading `matched`, with `expected` taken from
/// `expected_column`.
fn class_sql(expected_column: &str) -> String {
    format!(
        "-- a custom class\nSELECT 'x:' || CAST(transaction_id AS VARCHAR) AS key, 'r' AS rule,\n  \
         p_currency AS currency, {expected_column} AS expected, l_amount AS actual, transaction_id,\n  \
         order_id, provider_date, ledger_date, provider_rows, ledger_rows, 'd' AS detail\n\
         FROM matched WHERE p_txn IS NOT NULL AND l_key IS NOT NULL AND p_amount <> l_amount"
    )
}

#[test]
fn a_rule_reading_a_column_no_table_has_names_the_file_and_the_column() {
    let dir = custom_rules(&[("late_refund", &class_sql("p_amout"))]);
    let settings = ReconcileSettings {
        sql_dir: Some(dir.path().to_owned()),
        ..ReconcileSettings::default()
    };
    let i = input(
        &[p(1, "10.00", "USD", "2026-10-05")],
        &[l(1, "10.00", "USD", "2026-10-05")],
    );
    let err = reconcile(&i, &settings).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, ReconcileError::UnknownColumn { column, .. } if column == "p_amout"),
        "{message}"
    );
    assert!(message.contains("classes/late_refund.sql"), "{message}");
    assert!(message.contains("`p_amout`"), "{message}");
    assert!(message.contains("tables it reads: matched"), "{message}");
}

/// Regression: an edited `60_pairs.sql` (now in `60_matched.sql`; a LEFT JOIN for the
/// cancellation half) made the in-memory query engine panic inside its thread pool, and the
/// process died with exit code 101 and no word of which file.
#[test]
fn regression_a_rule_the_query_engine_panics_on_is_an_error_naming_the_file() {
    let dir = custom_rules(&[]);
    let pairs = dir.path().join("prepare/60_matched.sql");
    let text = std::fs::read_to_string(&pairs).unwrap();
    // The cancellations' join as a LEFT JOIN to a UNION ALL of two non-empty halves: Polars
    // gathers the right side's two chunks by a path it lacks for 8-bit columns ("not
    // implemented for dtype Int8").
    let join = "FULL OUTER JOIN ledger_cancellations l";
    assert!(text.contains(join), "the edit no longer applies");
    let edited = text.replace(
        join,
        "LEFT JOIN (SELECT * FROM ledger_cancellations UNION ALL \
         SELECT * FROM ledger_cancellations) l",
    );
    std::fs::write(&pairs, edited).unwrap();
    // The in-memory engine is the one that panics on this edit (the streaming engine runs it).
    let settings = ReconcileSettings {
        sql_dir: Some(dir.path().to_owned()),
        engine: QueryEngine::InMemory,
        ..ReconcileSettings::default()
    };
    let i = input(
        &[
            p(1, "10.00", "USD", "2026-10-05"),
            p(1, "-10.00", "USD", "2026-10-07"),
            p(2, "5.00", "USD", "2026-10-06"),
        ],
        &[
            l(1, "10.00", "USD", "2026-10-05"),
            l(2, "5.00", "USD", "2026-10-06"),
            l(3, "-4.00", "USD", "2026-10-08"),
        ],
    );
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reconcile(&i, &settings)));
    let result = outcome.expect("a rule the engine fails on is an error, not a panic");
    let err = result.map(|_| ()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ReconcileError::Rule { .. }), "{message}");
    assert!(message.contains("prepare/60_matched.sql"), "{message}");
    assert!(message.contains("query engine failed"), "{message}");
}

#[test]
fn a_class_file_without_an_output_column_is_named() {
    let sql = class_sql("p_amount").replace(", 'd' AS detail", "");
    let dir = custom_rules(&[("no_detail", &sql)]);
    let settings = ReconcileSettings {
        sql_dir: Some(dir.path().to_owned()),
        ..ReconcileSettings::default()
    };
    let i = input(&[p(1, "10.00", "USD", "2026-10-05")], &[]);
    let message = reconcile(&i, &settings).unwrap_err().to_string();
    assert!(message.contains("classes/no_detail.sql"), "{message}");
    assert!(
        message.contains("does not output column `detail`"),
        "{message}"
    );
}

#[test]
fn custom_classes_are_ordered_by_their_report_order_line_then_by_name() {
    let placed = format!("-- report_order: 15\n{}", class_sql("p_amount"));
    let unplaced = class_sql("p_amount");
    let dir = custom_rules(&[
        ("zz_placed", &placed),
        ("b_unplaced", &unplaced),
        ("a_unplaced", &unplaced),
    ]);
    let rules = rules::RuleSet::load(Some(dir.path())).unwrap();
    let names: Vec<&str> = rules.classes.iter().map(|r| r.table.as_str()).collect();
    let mut expected: Vec<&str> = CLASSES.to_vec();
    expected.insert(1, "zz_placed");
    expected.extend(["a_unplaced", "b_unplaced"]);
    assert_eq!(names, expected);
    // Custom classes run like the built-in ones.
    let settings = ReconcileSettings {
        sql_dir: Some(dir.path().to_owned()),
        ..ReconcileSettings::default()
    };
    let i = input(
        &[p(1, "10.00", "USD", "2026-10-05")],
        &[l(1, "12.00", "USD", "2026-10-05")],
    );
    let out = checked(&i, &settings);
    for class in ["zz_placed", "a_unplaced", "b_unplaced", "amount_mismatch"] {
        assert!(classes(&out).iter().any(|c| c == class), "{class}");
    }
}

#[test]
fn a_malformed_report_order_line_is_an_error_naming_the_file() {
    let sql = format!("-- report_order: soon\n{}", class_sql("p_amount"));
    let dir = custom_rules(&[("early", &sql)]);
    let message = rules::RuleSet::load(Some(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(message.contains("classes/early.sql"), "{message}");
    assert!(message.contains("report_order"), "{message}");
}

#[test]
fn every_built_in_class_says_where_it_goes_in_the_report() {
    for r in rules::RuleSet::load(None).unwrap().classes {
        let order = catalog::report_order(&r.sql).unwrap();
        assert!(
            order.is_some(),
            "{} has no `-- report_order: N` line",
            r.file
        );
    }
}

/// `sql/README.md` names every table a rule can start from and each of its columns, and every
/// column of `matched`, so the contract cannot drift from what the engine builds.
#[test]
fn sql_readme_documents_every_input_table_and_column() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("sql/README.md")).unwrap();
    // A rule naming every loaded column, so that none is pruned.
    let mut every: Vec<String> = provider_schema()
        .iter_names()
        .chain(crate::domain::frames::ledger_schema().iter_names())
        .map(|n| n.to_string())
        .collect();
    every.sort();
    every.dedup();
    let all = format!("SELECT {} FROM provider", every.join(", "));
    let dir = custom_rules(&[("every_column", &all)]);
    let rules = rules::RuleSet::load(Some(dir.path())).unwrap();
    let i = input(
        &[p(1, "10.00", "USD", "2026-10-05")],
        &[l(1, "10.00", "USD", "2026-10-05")],
    );
    let built = inputs::build(i.clone(), &ReconcileSettings::default(), &rules, None).unwrap();
    let names: Vec<String> = built.tables.names().map(str::to_owned).collect();
    assert!(names.len() >= 8, "{names:?}");
    for table in &names {
        assert!(
            readme.contains(&format!("### `{table}`")),
            "sql/README.md: table {table}"
        );
        for c in built.tables.get(table).unwrap().get_column_names() {
            assert!(
                readme.contains(&format!("`{c}`")),
                "sql/README.md: {table}.{c}"
            );
        }
    }
    let builtin = rules::RuleSet::load(None).unwrap();
    let built = inputs::build(i, &ReconcileSettings::default(), &builtin, None).unwrap();
    let (_, tables) = run::run_rules(&builtin, built.tables, Default::default()).unwrap();
    let section = readme
        .split("`matched`, read by most classes")
        .nth(1)
        .unwrap();
    let section = section.split("\n## ").next().unwrap();
    for c in tables.get("matched").unwrap().get_column_names() {
        assert!(
            section.contains(&format!("`{c}`")),
            "sql/README.md: matched.{c}"
        );
    }
}

/// The window of the night that runs on `today`: yesterday and the 7 days before.
fn night(today: &str) -> Window {
    let to = date(today) - chrono::Days::new(1);
    Window::new(to - chrono::Days::new(7), to).unwrap()
}

fn in_window(w: Window, provider_rows: &[P], ledger_rows: &[L]) -> ReconcileInput {
    ReconcileInput {
        window: w,
        provider_window: ReconcileSettings::default().provider_window(w),
        ..input(provider_rows, ledger_rows)
    }
}

/// (provider_date, ledger_date) of the only finding.
fn dates_of_only(out: &ReconcileOutput) -> (Option<i32>, Option<i32>) {
    let d = &out.discrepancies;
    assert_eq!(d.height(), 1, "{:?}", findings(out));
    let at = |c: &str| d.column(c).unwrap().date().unwrap().physical().get(0);
    (at("provider_date"), at("ledger_date"))
}

fn check_rows_add_up(out: &ReconcileOutput) {
    let r = &out.summary.rows;
    assert_eq!(
        r.provider_rows,
        r.provider_out_of_scope + r.provider_reported + r.provider_in_margin + r.provider_matched
    );
    assert_eq!(
        r.ledger_rows,
        r.ledger_out_of_window + r.ledger_reported + r.ledger_in_margin + r.ledger_matched
    );
}

#[test]
fn unmatched_lines_in_the_margins_are_never_reported_and_counted_in_margin() {
    let out = run(&input(
        &[
            p(1, "10.00", "USD", "2026-09-28"),
            p(2, "10.00", "USD", "2026-11-03"),
            p(3, "10.00", "USD", "2026-10-10"),
        ],
        &[
            l(7, "5.00", "USD", "2026-09-29"),
            l(8, "5.00", "USD", "2026-11-02"),
            l(3, "10.00", "USD", "2026-10-10"),
        ],
    ));
    assert!(findings(&out).is_empty(), "{:?}", findings(&out));
    let r = &out.summary.rows;
    assert_eq!((r.provider_in_margin, r.provider_matched), (2, 1));
    assert_eq!((r.ledger_in_margin, r.ledger_matched), (2, 1));
    check_rows_add_up(&out);
    // The match rate is over the window's lines only.
    assert_eq!(out.summary.provider_lines, 1);
    assert_eq!(out.summary.matched_lines, 1);
}

#[test]
fn a_pair_is_reported_only_when_its_governing_date_is_inside_the_window() {
    // Amounts differ; Xsolla's date governs by default.
    let inside = [p(1, "10.00", "USD", "2026-10-31")];
    let late_ledger = [l(1, "12.00", "USD", "2026-11-01")];
    assert_eq!(
        classes(&run(&input(&inside, &late_ledger))),
        vec!["amount_mismatch"]
    );
    let after = [p(1, "10.00", "USD", "2026-11-01")];
    let ledger_inside = [l(1, "12.00", "USD", "2026-10-31")];
    let out = run(&input(&after, &ledger_inside));
    assert!(findings(&out).is_empty(), "{:?}", findings(&out));
    check_rows_add_up(&out);
    // governing_date = "ledger": the other way round.
    let by_ledger = ReconcileSettings {
        governing_date: GoverningDate::Ledger,
        ..ReconcileSettings::default()
    };
    let out = checked(&input(&after, &ledger_inside), &by_ledger);
    assert_eq!(classes(&out), vec!["amount_mismatch"]);
    let out = checked(&input(&inside, &late_ledger), &by_ledger);
    assert!(findings(&out).is_empty(), "{:?}", findings(&out));
}

#[test]
fn a_pair_across_the_last_day_is_a_timing_difference_whichever_side_is_later() {
    // Booked at 23:50 on the last day, dated 00:07 the next day by Xsolla.
    let out = run(&input(
        &[p(1, "10.00", "USD", "2026-11-01")],
        &[l(1, "10.00", "USD", "2026-10-31")],
    ));
    assert_eq!(classes(&out), vec!["timing_difference"]);
    let nov1 = Some(day(date("2026-11-01")));
    let oct31 = Some(day(date("2026-10-31")));
    assert_eq!(dates_of_only(&out), (nov1, oct31));
    check_rows_add_up(&out);
    // The ledger books it after the window.
    let out = run(&input(
        &[p(1, "10.00", "USD", "2026-10-31")],
        &[l(1, "10.00", "USD", "2026-11-01")],
    ));
    assert_eq!(classes(&out), vec!["timing_difference"]);
    assert_eq!(dates_of_only(&out), (oct31, nov1));
    // The same with the ledger's date governing.
    let by_ledger = ReconcileSettings {
        governing_date: GoverningDate::Ledger,
        ..ReconcileSettings::default()
    };
    let out = reconcile(
        &input(
            &[p(1, "10.00", "USD", "2026-11-01")],
            &[l(1, "10.00", "USD", "2026-10-31")],
        ),
        &by_ledger,
    )
    .unwrap();
    assert_eq!(classes(&out), vec!["timing_difference"]);
}

#[test]
fn a_pair_across_the_first_day_is_matched_silently() {
    for (p_date, l_date) in [("2026-09-30", "2026-10-01"), ("2026-10-01", "2026-09-30")] {
        let out = run(&input(
            &[p(1, "10.00", "USD", p_date)],
            &[l(1, "10.00", "USD", l_date)],
        ));
        assert!(
            findings(&out).is_empty(),
            "{p_date}/{l_date}: {:?}",
            findings(&out)
        );
        let r = &out.summary.rows;
        assert_eq!(r.provider_matched + r.ledger_matched, 1);
        assert_eq!(r.provider_in_margin + r.ledger_in_margin, 1);
        check_rows_add_up(&out);
    }
}

/// Night after night over sliding windows, a payment booked on one side of midnight and dated
/// on the other is reported once, then matched cleanly, then silently, never again.
#[test]
fn sliding_nights_report_an_edge_pair_once() {
    for (p_date, l_date) in [("2026-10-16", "2026-10-15"), ("2026-10-15", "2026-10-16")] {
        let rows = (
            [p(1, "10.00", "USD", p_date)],
            [l(1, "10.00", "USD", l_date)],
        );
        let mut reported = Vec::new();
        for today in 10..=30 {
            let w = night(&format!("2026-10-{today:02}"));
            let out = run(&in_window(w, &rows.0, &rows.1));
            check_rows_add_up(&out);
            if !findings(&out).is_empty() {
                assert_eq!(classes(&out), vec!["timing_difference"]);
                reported.push(w.to);
            }
        }
        assert_eq!(reported, vec![date("2026-10-15")], "{p_date}/{l_date}");
    }
}

#[test]
fn the_payment_of_a_refund_in_the_window_is_kept_however_old() {
    // The ledger marks the payment refunded on its June line; Xsolla books the refund in
    // October. Without the June line the refund would look unbooked in the ledger.
    let mut paid = l(1, "10.00", "USD", "2026-06-01");
    paid.status = "refunded";
    let out = run(&input(&[p(1, "-10.00", "USD", "2026-10-05")], &[paid]));
    assert!(findings(&out).is_empty(), "{:?}", findings(&out));
    assert_eq!(out.summary.rows.ledger_in_margin, 1);
    assert_eq!(out.summary.rows.ledger_out_of_window, 0);
    check_rows_add_up(&out);
    // A ledger refund line in the window keeps its old payment too (and matches Xsolla's).
    let out = run(&input(
        &[p(2, "-10.00", "USD", "2026-10-05")],
        &[
            l(2, "10.00", "USD", "2026-05-01"),
            l(2, "-10.00", "USD", "2026-10-05"),
        ],
    ));
    assert!(findings(&out).is_empty(), "{:?}", findings(&out));
    assert_eq!(out.summary.rows.ledger_in_margin, 1);
    // An old payment without a refund in the window is still out of window.
    let out = run(&input(&[], &[l(3, "10.00", "USD", "2026-05-01")]));
    assert_eq!(out.summary.rows.ledger_out_of_window, 1);
}

/// The report id digests the `[reconcile]` settings; the engine changes how the rules are
/// computed, not what they find, so it must not change the id (nor did adding it).
#[test]
fn the_engine_is_left_out_of_the_settings_the_report_id_digests() {
    let in_memory = ReconcileSettings::default();
    let streaming = ReconcileSettings {
        engine: super::QueryEngine::Streaming,
        ..in_memory.clone()
    };
    let sliced = ReconcileSettings {
        rows_per_slice: 7,
        ..in_memory.clone()
    };
    let a = serde_json::to_string(&in_memory).unwrap();
    assert_eq!(a, serde_json::to_string(&streaming).unwrap());
    assert_eq!(a, serde_json::to_string(&sliced).unwrap());
    assert!(!a.contains("engine"), "{a}");
    assert!(!a.contains("slice"), "{a}");
}
