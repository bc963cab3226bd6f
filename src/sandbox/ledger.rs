//! A merchant ledger export generated from the sandbox's own data, optionally with a
//! documented set of deliberate discrepancies (one per class the ledger side can cause).
//!
//! The demo and the end-to-end tests reconcile against it, so they know exactly which
//! findings must come out, no more and no fewer.

pub use super::conventions::{Convention, ExportFormat, SetAside};
use super::DatasetView;
use crate::domain::window::Window;
use crate::xsolla::model::{TransactionRow, REGISTRY_REQUIRED};
use crate::xsolla::parse::json_record;
use rust_decimal::Decimal;
use std::collections::BTreeSet;

/// Header of the generated CSV (a typical finance export, not Xsolla's names).
pub const HEADER: [&str; 8] = [
    "Booking date",
    "Xsolla transaction",
    "Order",
    "Currency",
    "Gross",
    "Fee",
    "Status",
    "Note",
];

/// One deliberate discrepancy and the finding it must produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFault {
    /// Discrepancy class expected.
    pub class: &'static str,
    /// Transaction concerned (`None` for a line unknown to Xsolla).
    pub transaction_id: Option<i64>,
    /// What was done, for people.
    pub what: String,
}

/// The export and what was injected into it.
#[derive(Debug, Clone)]
pub struct LedgerExport {
    /// The file's bytes: CSV (UTF-8, comma, header [`HEADER`] for the standard convention),
    /// or as [`ExportOptions::format`] says.
    pub csv: Vec<u8>,
    /// Lines written.
    pub lines: usize,
    /// Deliberate discrepancies (empty when `inject` was false).
    pub injected: Vec<InjectedFault>,
    /// Lines the convention's config sets aside (not money yet, journal lines, other
    /// projects), as the run must count them.
    pub set_aside: SetAside,
}

/// One ledger line being written, with the Xsolla parts a convention may book differently.
#[derive(Clone)]
pub(super) struct Line {
    pub date: chrono::NaiveDate,
    pub txn: Option<i64>,
    pub order: String,
    pub currency: String,
    pub gross: Decimal,
    pub fee: Decimal,
    pub status: &'static str,
    pub note: String,
    /// Xsolla project.
    pub project: i64,
    /// An Xsolla test (dry-run) purchase.
    pub test: bool,
    /// Journal line type (`Sale`, `Refund`, `Fee`, `VAT`).
    pub kind: &'static str,
    /// The ledger's own rate (reporting currency per unit), when it books in one.
    pub rate: Option<Decimal>,
    /// Whether a fault may be planted on it: in the scope the convention's config reads.
    pub in_scope: bool,
    /// Xsolla's VAT and sales tax of the row (payment currency), for a VAT journal line.
    pub taxes: Decimal,
}

/// The `[merchant.ledger]` mapping of an export from [`ledger_export`] (columns and statuses,
/// without `path`), shared by the demo, the tests and the benchmark's config.
pub const LEDGER_MAPPING_TOML: &str = r#"[columns]
date = "Booking date"
transaction_id = "Xsolla transaction"
order_id = "Order"
currency = "Currency"
amount = "Gross"
fee = "Fee"
status = "Status"
note = "Note"
[status_map]
Paid = "paid"
Refund = "refunded"
Chargeback = "chargeback"
"#;

/// A ledger config reading the export at `path` with [`LEDGER_MAPPING_TOML`].
pub fn ledger_config(path: &std::path::Path) -> crate::load::ledger::LedgerConfig {
    let text = format!(
        "path = \"{}\"\n{LEDGER_MAPPING_TOML}",
        path.display().to_string().replace('\\', "\\\\")
    );
    toml::from_str(&text).expect("the export's ledger mapping is valid")
}

/// How [`ledger_export_with`] books Xsolla's rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportOptions {
    /// Apply one deliberate discrepancy per ledger-side class.
    pub inject: bool,
    /// The *next-day evening* quirk: the merchant books each row at Xsolla's `transfer_date`
    /// plus this many hours (its books keep another zone). At -2, a payment the merchant
    /// books at 23:50 is one Xsolla dates 01:50 the next day; at +2, one Xsolla dates 23:00
    /// is booked the next morning. 0 (the default): the ledger books Xsolla's date.
    pub booking_offset_hours: i32,
    /// How the merchant's books differ from Xsolla's registry. Default: the standard export.
    pub convention: Convention,
    /// The file's format. Default: UTF-8 CSV with commas.
    pub format: ExportFormat,
}

/// Builds the ledger of `window` from the sandbox's registry (test payments excluded), and
/// with `inject` applies one deliberate discrepancy per ledger-side class.
pub fn ledger_export(view: &DatasetView, window: Window, inject: bool) -> LedgerExport {
    ledger_export_with(
        view,
        window,
        ExportOptions {
            inject,
            ..ExportOptions::default()
        },
    )
}

/// [`ledger_export`] with [`ExportOptions`]: with a booking offset, the lines are the rows
/// whose shifted date falls in `window` (read from a day around it).
pub fn ledger_export_with(view: &DatasetView, window: Window, opts: ExportOptions) -> LedgerExport {
    let offset = chrono::Duration::hours(i64::from(opts.booking_offset_hours));
    let around = chrono::Days::new(u64::from(opts.booking_offset_hours != 0));
    let (from, to) = (window.from - around, window.to + around);
    let json = if opts.convention == Convention::PendingAndTest {
        view.registry_json_with_tests(from, to)
    } else {
        view.registry_json(from, to)
    };
    let rows: Vec<TransactionRow> = json
        .iter()
        .filter_map(|v| json_record(v, REGISTRY_REQUIRED).ok())
        .collect();
    // The merchant booked each payment once, even where Xsolla's data repeats a row
    // (the sandbox's duplicated-payment quirk): identical neighbouring payment rows count once.
    let mut lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            *i == 0 || r.payment_amount.is_some_and(|a| a.is_sign_negative()) || rows[i - 1] != **r
        })
        .map(|(_, r)| {
            let mut l = line_of(r, offset);
            opts.convention.book(&mut l, r);
            l
        })
        .filter(|l| opts.booking_offset_hours == 0 || window.contains(l.date))
        .collect();
    let mut injected = Vec::new();
    if opts.inject {
        inject_faults(&mut lines, window, &mut injected);
    }
    let set_aside = opts.convention.reshape(&mut lines, window);
    lines.sort_by(|a, b| (a.date, a.txn, &a.order).cmp(&(b.date, b.txn, &b.order)));
    LedgerExport {
        csv: super::conventions::write(&lines, opts),
        lines: lines.len(),
        injected,
        set_aside,
    }
}

fn line_of(r: &TransactionRow, offset: chrono::Duration) -> Line {
    let gross = r.payment_amount.unwrap_or_default();
    let fee = [r.commission_xsolla, r.commission_ps, r.commission_agent]
        .iter()
        .map(|f| f.unwrap_or_default())
        .sum();
    let status = if !gross.is_sign_negative() {
        "Paid"
    } else if r.chargeback_penalty.is_some_and(|p| !p.is_zero()) {
        "Chargeback"
    } else {
        "Refund"
    };
    Line {
        date: r
            .transfer_date
            .map(|d| (d + offset).date())
            .unwrap_or_default(),
        txn: r.transaction_id,
        order: r.external_id.clone().unwrap_or_default(),
        currency: r.payment_currency.clone().unwrap_or_default(),
        gross,
        fee,
        status,
        note: String::new(),
        project: r.project_id.unwrap_or_default(),
        test: r.dry_run.unwrap_or(false),
        kind: if gross.is_sign_negative() {
            "Refund"
        } else {
            "Sale"
        },
        rate: None,
        in_scope: true,
        taxes: r.vat_deducted.unwrap_or_default() + r.sales_tax.unwrap_or_default(),
    }
}

/// Applies the deliberate discrepancies, one per ledger-side class, and lists them in `out`.
/// Lines are picked by position, so the same data always gets the same faults.
fn inject_faults(lines: &mut Vec<Line>, window: Window, out: &mut Vec<InjectedFault>) {
    let refunded = refunded_txns(lines);
    let mut plain = plain_payments(lines, window, &refunded).into_iter();
    let mut take = || plain.next().expect("the window has enough plain payments");
    let mut remove = Vec::new();

    let i = take();
    remove.push(i);
    out.push(fault(
        "missing_in_ledger",
        &lines[i],
        "payment line left out of the ledger",
    ));
    out.push(raise(&mut lines[take()], "amount_mismatch", "gross", |l| {
        &mut l.gross
    }));
    out.push(swap_currency(&mut lines[take()]));
    let i = take();
    out.push(fault(
        "duplicate_in_ledger",
        &lines[i],
        "payment booked twice",
    ));
    lines.push(Line {
        note: "booked twice".into(),
        ..lines[i].clone()
    });
    // A journal export books the raised fee on its fee line, summed into the sale's fee.
    out.push(raise(&mut lines[take()], "fee_mismatch", "fee", |l| {
        &mut l.fee
    }));
    if let Some(i) = unbooked_refund(lines) {
        remove.push(i);
        out.push(fault(
            "status_mismatch",
            &lines[i],
            "Xsolla refund not booked in the ledger",
        ));
    }
    out.extend(book_late(lines, window, &refunded));
    out.push(add_unknown_order(lines, window));

    remove.sort_unstable();
    for i in remove.into_iter().rev() {
        lines.remove(i);
    }
}

fn is_payment(l: &Line) -> bool {
    !l.gross.is_sign_negative()
}

/// Transactions with a refund or chargeback line.
fn refunded_txns(lines: &[Line]) -> BTreeSet<i64> {
    lines
        .iter()
        .filter(|l| !is_payment(l))
        .filter_map(|l| l.txn)
        .collect()
}

/// Lines a fault may be put on: payments with no refund, off the window's edges, from the
/// second third on so they never meet the sandbox's duplicated-payment quirk.
fn plain_payments(lines: &[Line], window: Window, refunded: &BTreeSet<i64>) -> Vec<usize> {
    let plain: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            let l = &lines[i];
            is_payment(l)
                && l.in_scope
                && l.txn.is_some_and(|t| !refunded.contains(&t))
                && l.date > window.from
                && l.date < window.to
        })
        .collect();
    let skip = plain.len() / 3;
    plain[skip..].to_vec()
}

/// Raises one money column of a line by 100 minor units of its currency.
fn raise(
    l: &mut Line,
    class: &'static str,
    column: &str,
    field: fn(&mut Line) -> &mut Decimal,
) -> InjectedFault {
    let step = Decimal::new(100, crate::domain::money::exponent(&l.currency));
    *field(l) += step;
    fault(
        class,
        l,
        &format!("{column} raised by {step} {}", l.currency),
    )
}

fn swap_currency(l: &mut Line) -> InjectedFault {
    l.currency = if l.currency == "EUR" { "GBP" } else { "EUR" }.into();
    fault("currency_mismatch", l, "booked in the wrong currency")
}

/// A refund at Xsolla that the ledger does not book.
fn unbooked_refund(lines: &[Line]) -> Option<usize> {
    (0..lines.len())
        .find(|&i| !is_payment(&lines[i]) && lines[i].status == "Refund" && lines[i].in_scope)
}

/// A payment of the window's last day booked on the next day.
fn book_late(
    lines: &mut [Line],
    window: Window,
    refunded: &BTreeSet<i64>,
) -> Option<InjectedFault> {
    let i = (0..lines.len()).rev().find(|&i| {
        let l = &lines[i];
        is_payment(l)
            && l.in_scope
            && l.date == window.to
            && l.txn.is_some_and(|t| !refunded.contains(&t))
    })?;
    lines[i].date = window.to + chrono::Days::new(1);
    Some(fault(
        "timing_difference",
        &lines[i],
        "booked one day after the window",
    ))
}

/// A sale the merchant made outside Xsolla.
fn add_unknown_order(lines: &mut Vec<Line>, window: Window) -> InjectedFault {
    lines.push(Line {
        date: window.from + chrono::Days::new(1),
        txn: None,
        order: "ORD-NOT-AT-XSOLLA-1".into(),
        currency: "USD".into(),
        gross: Decimal::new(999, 2),
        fee: Decimal::ZERO,
        status: "Paid",
        note: "sold outside Xsolla".into(),
        project: super::conventions::FIRST_PROJECT,
        test: false,
        kind: "Sale",
        rate: None,
        in_scope: true,
        taxes: Decimal::ZERO,
    });
    InjectedFault {
        class: "missing_in_provider",
        transaction_id: None,
        what: "ledger line with an order Xsolla does not know".into(),
    }
}

fn fault(class: &'static str, l: &Line, what: &str) -> InjectedFault {
    InjectedFault {
        class,
        transaction_id: l.txn,
        what: format!("{what} (order {})", l.order),
    }
}
