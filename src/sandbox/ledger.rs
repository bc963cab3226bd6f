//! A merchant ledger export generated from the sandbox's own data, optionally with a
//! documented set of deliberate discrepancies (one per class the ledger side can cause).
//!
//! The demo and the end-to-end tests reconcile against it, so they know exactly which
//! findings must come out, no more and no fewer.

use super::DatasetView;
use crate::domain::window::Window;
use crate::xsolla::model::{TransactionRow, REGISTRY_REQUIRED};
use crate::xsolla::parse::json_record;
use rust_decimal::Decimal;

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
    /// CSV bytes (UTF-8, comma, header [`HEADER`]).
    pub csv: Vec<u8>,
    /// Lines written.
    pub lines: usize,
    /// Deliberate discrepancies (empty when `inject` was false).
    pub injected: Vec<InjectedFault>,
}

struct Line {
    date: chrono::NaiveDate,
    txn: Option<i64>,
    order: String,
    currency: String,
    gross: Decimal,
    fee: Decimal,
    status: &'static str,
    note: String,
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

/// Builds the ledger of `window` from the sandbox's registry (test payments excluded), and
/// with `inject` applies one deliberate discrepancy per ledger-side class.
pub fn ledger_export(view: &DatasetView, window: Window, inject: bool) -> LedgerExport {
    let rows: Vec<TransactionRow> = view
        .registry_json(window.from, window.to)
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
        .map(|(_, r)| line_of(r))
        .collect();
    let mut injected = Vec::new();
    if inject {
        inject_faults(&mut lines, window, &mut injected);
    }
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(HEADER).expect("writing to memory");
    for l in &lines {
        w.write_record([
            l.date.to_string(),
            l.txn.map(|t| t.to_string()).unwrap_or_default(),
            l.order.clone(),
            l.currency.clone(),
            crate::domain::money::format_amount(l.gross, &l.currency),
            crate::domain::money::format_amount(l.fee, &l.currency),
            l.status.to_owned(),
            l.note.clone(),
        ])
        .expect("writing to memory");
    }
    LedgerExport {
        csv: w.into_inner().expect("writing to memory"),
        lines: lines.len(),
        injected,
    }
}

fn line_of(r: &TransactionRow) -> Line {
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
        date: r.transfer_date.map(|d| d.date()).unwrap_or_default(),
        txn: r.transaction_id,
        order: r.external_id.clone().unwrap_or_default(),
        currency: r.payment_currency.clone().unwrap_or_default(),
        gross,
        fee,
        status,
        note: String::new(),
    }
}

fn inject_faults(lines: &mut Vec<Line>, window: Window, out: &mut Vec<InjectedFault>) {
    let is_payment = |l: &Line| !l.gross.is_sign_negative();
    // Transactions that have exactly one line (no refund) and are not on the window's edges;
    // picked from the middle so they never meet the sandbox's duplicated-payment quirk.
    let refunded: std::collections::BTreeSet<i64> = lines
        .iter()
        .filter(|l| !is_payment(l))
        .filter_map(|l| l.txn)
        .collect();
    let mut plain: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            let l = &lines[i];
            is_payment(l)
                && l.txn.is_some_and(|t| !refunded.contains(&t))
                && l.date > window.from
                && l.date < window.to
        })
        .collect();
    let skip = plain.len() / 3;
    plain.drain(..skip);
    let mut take = || plain.remove(0);
    let one = |c: &str| Decimal::new(100, crate::domain::money::exponent(c));
    let mut remove = Vec::new();

    let i = take();
    remove.push(i);
    out.push(fault(
        "missing_in_ledger",
        &lines[i],
        "payment line left out of the ledger",
    ));

    let i = take();
    let c = lines[i].currency.clone();
    lines[i].gross += one(&c);
    out.push(fault(
        "amount_mismatch",
        &lines[i],
        &format!("gross raised by {} {c}", one(&c)),
    ));

    let i = take();
    lines[i].currency = if lines[i].currency == "EUR" {
        "GBP"
    } else {
        "EUR"
    }
    .into();
    out.push(fault(
        "currency_mismatch",
        &lines[i],
        "booked in the wrong currency",
    ));

    let i = take();
    let dup = Line {
        note: "booked twice".into(),
        ..clone_line(&lines[i])
    };
    out.push(fault(
        "duplicate_in_ledger",
        &lines[i],
        "payment booked twice",
    ));
    lines.push(dup);

    let i = take();
    let c = lines[i].currency.clone();
    lines[i].fee += one(&c);
    out.push(fault(
        "fee_mismatch",
        &lines[i],
        &format!("fee raised by {} {c}", one(&c)),
    ));

    // A refund at Xsolla that the ledger does not book.
    if let Some(i) =
        (0..lines.len()).find(|&i| !is_payment(&lines[i]) && lines[i].status == "Refund")
    {
        remove.push(i);
        out.push(fault(
            "status_mismatch",
            &lines[i],
            "Xsolla refund not booked in the ledger",
        ));
    }

    // A payment of the window's last day booked on the next day.
    if let Some(i) = (0..lines.len()).rev().find(|&i| {
        let l = &lines[i];
        is_payment(l) && l.date == window.to && l.txn.is_some_and(|t| !refunded.contains(&t))
    }) {
        lines[i].date = window.to + chrono::Days::new(1);
        out.push(fault(
            "timing_difference",
            &lines[i],
            "booked one day after the window",
        ));
    }

    lines.push(Line {
        date: window.from + chrono::Days::new(1),
        txn: None,
        order: "ORD-NOT-AT-XSOLLA-1".into(),
        currency: "USD".into(),
        gross: Decimal::new(999, 2),
        fee: Decimal::ZERO,
        status: "Paid",
        note: "sold outside Xsolla".into(),
    });
    out.push(InjectedFault {
        class: "missing_in_provider",
        transaction_id: None,
        what: "ledger line with an order Xsolla does not know".into(),
    });

    remove.sort_unstable();
    for i in remove.into_iter().rev() {
        lines.remove(i);
    }
    lines.sort_by(|a, b| (a.date, a.txn, &a.order).cmp(&(b.date, b.txn, &b.order)));
}

fn clone_line(l: &Line) -> Line {
    Line {
        date: l.date,
        txn: l.txn,
        order: l.order.clone(),
        currency: l.currency.clone(),
        gross: l.gross,
        fee: l.fee,
        status: l.status,
        note: l.note.clone(),
    }
}

fn fault(class: &'static str, l: &Line, what: &str) -> InjectedFault {
    InjectedFault {
        class,
        transaction_id: l.txn,
        what: format!("{what} (order {})", l.order),
    }
}
