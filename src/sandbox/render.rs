//! JSON and CSV bodies, written straight into a `Vec<u8>` from one field table, so the two
//! formats carry the same values by construction.
//!
//! The table ([`FIELDS`]) gives each field's JSON dotted path and CSV header; for every column
//! of the client's `TRANSACTION_COLUMNS` it uses exactly that column's path and header (a test
//! checks it). Extra fields the client does not know (`purchase.friend`, `purchase.pin_codes`,
//! `transaction.custom_parameters`, the CSV-only `Payment system type`…) exercise its
//! unknown-field preservation.

use rust_decimal::Decimal;
use std::io::Write;
use std::sync::OnceLock;

use super::data::{
    datetime, Country, Currency, Dataset, Method, Money, Project, PurchaseKind, RowRef, Txn,
    CURRENCIES, METHODS, PAYOUT, PROJECTS,
};

/// One cell value.
pub(crate) enum V<'a> {
    Null,
    Int(i64),
    Str(&'a str),
    Owned(String),
    /// Amount with the exponent it is shown with.
    Money(Decimal, u32),
    /// Rate or percent, shown normalized.
    Rate(Decimal),
    Flag(bool),
    /// Unix seconds already shifted to the served zone ([`Dataset::local`]), shown
    /// `YYYY-MM-DD HH:MM:SS` with no offset, as Xsolla shows its times.
    Time(i64),
}

impl V<'_> {
    /// CSV text; also the JSON text of numbers. `None` for null.
    fn text(&self) -> Option<String> {
        Some(match self {
            V::Null => return None,
            V::Int(i) => i.to_string(),
            V::Str(s) => (*s).to_owned(),
            V::Owned(s) => s.clone(),
            V::Money(d, exp) => money_text(*d, *exp),
            V::Rate(d) => {
                if d.is_zero() {
                    "0".to_owned()
                } else {
                    d.normalize().to_string()
                }
            }
            V::Flag(b) => if *b { "1" } else { "0" }.to_owned(),
            V::Time(t) => datetime(*t).format("%Y-%m-%d %H:%M:%S").to_string(),
        })
    }
}

/// An amount with exactly `exp` decimals (`-0` shown as `0`). `Decimal`'s display never uses
/// an exponent, so the text is also a valid JSON number.
pub(crate) fn money_text(d: Decimal, exp: u32) -> String {
    let mut d = if d.is_zero() { Decimal::ZERO } else { d };
    d.rescale(exp);
    d.to_string()
}

/// Everything needed to render one transaction row.
pub(crate) struct RowView<'a> {
    pub ds: &'a Dataset,
    pub txn: &'a Txn,
    pub money: Money,
    /// Currency the payment-side amounts are shown in.
    pub cur: &'static Currency,
    pub fx: Decimal,
    /// `transaction.transfer_date` (None for unfinished payments).
    pub at: Option<i64>,
    pub transfer_id: Option<i64>,
    pub report_id: Option<i64>,
    pub project: &'static Project,
    pub method: &'static Method,
    pub country: &'static Country,
}

impl<'a> RowView<'a> {
    /// A registry row (signed money), optionally converted into the payout currency.
    pub(crate) fn registry(ds: &'a Dataset, r: RowRef, in_transfer_currency: bool) -> Self {
        let txn = &ds.txns[r.txn as usize];
        let mut money = ds.row_money(r);
        let fx = ds.fx(txn);
        let mut cur = ds.currency(txn);
        if in_transfer_currency {
            money = money.in_payout_currency(fx);
            cur = &CURRENCIES[PAYOUT];
        }
        RowView {
            ds,
            txn,
            money,
            cur,
            fx,
            at: Some(r.at),
            transfer_id: ds.row_payout(r),
            report_id: ds.row_report(r),
            project: &PROJECTS[txn.project as usize],
            method: &METHODS[txn.method as usize],
            country: ds.country(txn),
        }
    }

    /// A search/details row: the transaction as it is now, positive money.
    pub(crate) fn search(ds: &'a Dataset, idx: u32) -> Self {
        let txn = &ds.txns[idx as usize];
        let completed = txn.status.completed();
        let at = completed.then(|| txn.created + i64::from(txn.done_after));
        let row = RowRef {
            at: at.unwrap_or(txn.created),
            txn: idx,
            rev: None,
        };
        RowView {
            ds,
            txn,
            money: ds.txn_money(txn),
            cur: ds.currency(txn),
            fx: ds.fx(txn),
            at,
            transfer_id: if completed { ds.row_payout(row) } else { None },
            report_id: if completed { ds.row_report(row) } else { None },
            project: &PROJECTS[txn.project as usize],
            method: &METHODS[txn.method as usize],
            country: ds.country(txn),
        }
    }

    fn completed(&self) -> bool {
        self.txn.status.completed()
    }
    /// A fee's `amount`: the whole fee, or without its fixed part under the
    /// `fixed_fees_outside_amount` quirk.
    fn fee_amount(&self, whole: Decimal, fixed: Decimal) -> Decimal {
        if self.ds.quirks.fixed_fees_outside_amount {
            whole - fixed
        } else {
            whole
        }
    }

    fn amount(&self, d: Decimal) -> V<'static> {
        V::Money(d, self.cur.exp)
    }
    fn payout(&self, d: Decimal) -> V<'static> {
        if self.completed() {
            V::Money(d, CURRENCIES[PAYOUT].exp)
        } else {
            V::Null
        }
    }
    fn purchase(&self, kind: PurchaseKind) -> V<'static> {
        if self.project.kind == kind {
            self.amount(self.money.nominal)
        } else {
            V::Null
        }
    }
    fn purchase_currency(&self, kind: PurchaseKind) -> V<'static> {
        if self.project.kind == kind {
            V::Str(self.cur.code)
        } else {
            V::Null
        }
    }
}

/// One field of the transaction shape.
pub(crate) struct Field {
    pub json: &'static str,
    pub csv: Option<&'static str>,
    pub get: for<'r> fn(&'r RowView<'r>) -> V<'r>,
}

const fn f(
    json: &'static str,
    csv: Option<&'static str>,
    get: for<'r> fn(&'r RowView<'r>) -> V<'r>,
) -> Field {
    Field { json, csv, get }
}

fn flag_int(b: bool) -> V<'static> {
    V::Flag(b)
}

/// The transaction shape (registry, search, simple_search, details), in JSON key order.
pub(crate) static FIELDS: &[Field] = &[
    f("transaction.id", Some("Transaction ID"), |r| {
        V::Int(r.txn.id)
    }),
    f("transaction.external_id", Some("External ID"), |r| {
        V::Owned(r.ds.external_id(r.txn))
    }),
    f("transaction.project.id", Some("Project ID"), |r| {
        V::Int(r.project.id)
    }),
    f("transaction.project.name", Some("Project"), |r| {
        V::Str(r.project.name)
    }),
    f(
        "transaction.payment_method.id",
        Some("Payment method ID"),
        |r| V::Int(r.method.id),
    ),
    f(
        "transaction.payment_method.name",
        Some("Payment method"),
        |r| V::Str(r.method.name),
    ),
    f("transaction.status", Some("Status"), |r| {
        V::Str(r.txn.status.as_str())
    }),
    f("transaction.create_date", Some("Transaction date"), |r| {
        V::Time(r.ds.local(r.txn.created))
    }),
    f("transaction.payment_date", Some("Payment date"), |r| {
        if r.completed() {
            V::Time(r.ds.local(r.txn.created + i64::from(r.txn.done_after)))
        } else {
            V::Null
        }
    }),
    f("transaction.transfer_date", Some("Transfer date"), |r| {
        r.at.map_or(V::Null, |t| V::Time(r.ds.local(t)))
    }),
    f("transaction.transfer_id", Some("Payout ID"), |r| {
        r.transfer_id.map_or(V::Null, V::Int)
    }),
    f("transaction.report_id", Some("Report ID"), |r| {
        r.report_id.map_or(V::Null, V::Int)
    }),
    f("transaction.refund_reason", Some("Refund reason"), |r| {
        r.txn
            .reversal
            .map_or(V::Null, |i| V::Str(r.ds.revs[i as usize].kind.reason()))
    }),
    f(
        "transaction.refund_reason_comment",
        Some("Refund reason comment"),
        |r| {
            r.txn
                .reversal
                .map_or(V::Null, |i| V::Str(&r.ds.revs[i as usize].comment))
        },
    ),
    f("transaction.dry_run", Some("Dry run"), |r| {
        flag_int(r.txn.dry_run)
    }),
    f("transaction.direct_account", Some("Direct account"), |r| {
        flag_int(r.txn.direct)
    }),
    f(
        "transaction.is_refund_allowed",
        Some("Refund allowed"),
        |r| flag_int(r.txn.status == super::data::Status::Done),
    ),
    f("transaction.custom_parameters.campaign", None, |r| {
        V::Str(["organic", "autumn_sale", "streamer_code"][(r.txn.id % 3) as usize])
    }),
    f("user.id", Some("User ID"), |r| {
        V::Owned(r.ds.user_id(r.txn))
    }),
    f("user.name", Some("User name"), |r| {
        V::Owned(r.ds.user_name(r.txn))
    }),
    f("user.email", Some("Email"), |r| {
        V::Owned(r.ds.user_email(r.txn))
    }),
    f("user.country", Some("Country"), |r| V::Str(r.country.code)),
    f("user.phone", None, |_| V::Null),
    f("user.custom", None, |_| V::Null),
    f(
        "payment_details.payment.amount",
        Some("Payment amount"),
        |r| r.amount(r.money.payment),
    ),
    f(
        "payment_details.payment.currency",
        Some("Payment currency"),
        |r| V::Str(r.cur.code),
    ),
    f(
        "payment_details.payment.amount_from_ps",
        Some("Payment amount from payment system"),
        |r| r.amount(r.money.payment),
    ),
    f(
        "payment_details.payout.amount",
        Some("Payout amount"),
        |r| r.payout(r.money.payout),
    ),
    f(
        "payment_details.payout.currency",
        Some("Payout currency"),
        |r| {
            if r.completed() {
                V::Str(CURRENCIES[PAYOUT].code)
            } else {
                V::Null
            }
        },
    ),
    f(
        "payment_details.payout.amount_from_ps",
        Some("Payout amount from payment system"),
        |r| r.payout(r.money.payout),
    ),
    f(
        "payment_details.payout.fx_rate",
        Some("Exchange rate"),
        |r| {
            if r.completed() {
                V::Rate(r.fx)
            } else {
                V::Null
            }
        },
    ),
    f("payment_details.payout.percent", Some("Payout, %"), |_| {
        V::Rate(Decimal::ONE_HUNDRED)
    }),
    f(
        "payment_details.commission_user.amount",
        Some("User commission"),
        |r| r.amount(r.money.user_commission),
    ),
    f("payment_details.commission_user.percent", None, |r| {
        V::Rate(super::data::method_user_percent(r.method))
    }),
    f(
        "payment_details.commission_xsolla.amount",
        Some("Xsolla revenue share"),
        |r| r.amount(r.fee_amount(r.money.xsolla, r.money.xsolla_fixed)),
    ),
    f(
        "payment_details.commission_xsolla.fixed_amount",
        Some("Xsolla revenue share, fixed"),
        |r| r.amount(r.money.xsolla_fixed),
    ),
    f(
        "payment_details.commission_xsolla.percent",
        Some("Xsolla revenue share, %"),
        |_| V::Rate(super::data::XSOLLA_PERCENT),
    ),
    f(
        "payment_details.commission_ps.amount",
        Some("Payment system fee"),
        |r| r.amount(r.fee_amount(r.money.ps, r.money.ps_fixed)),
    ),
    f(
        "payment_details.commission_ps.fixed_amount",
        Some("Payment system fee, fixed"),
        |r| r.amount(r.money.ps_fixed),
    ),
    f(
        "payment_details.commission_ps.percent",
        Some("Payment system fee, %"),
        |r| V::Rate(super::data::method_ps_percent(r.method)),
    ),
    f("payment_details.commission_ps_from_vat.amount", None, |r| {
        r.amount(Decimal::ZERO)
    }),
    f(
        "payment_details.commission_agent.amount",
        Some("Agent commission"),
        |r| r.amount(Decimal::ZERO),
    ),
    f("payment_details.commission_agent.percent", None, |_| {
        V::Rate(Decimal::ZERO)
    }),
    f(
        "payment_details.commission_agent_fixed",
        Some("Agent commission, fixed"),
        |r| r.amount(Decimal::ZERO),
    ),
    f(
        "payment_details.cpa_network_commission.amount",
        Some("CPA network commission"),
        |r| r.amount(r.money.cpa),
    ),
    f(
        "payment_details.direct_wht.amount",
        Some("Direct WHT"),
        |r| r.amount(Decimal::ZERO),
    ),
    f(
        "payment_details.repatriation_costs.amount",
        Some("Repatriation costs, total"),
        |r| r.amount(Decimal::ZERO),
    ),
    f("payment_details.sales_tax.amount", Some("Sales Tax"), |r| {
        r.amount(r.money.sales_tax)
    }),
    f(
        "payment_details.sales_tax.percent",
        Some("Sales Tax, %"),
        |r| V::Rate(super::data::country_sales_tax(r.country)),
    ),
    f("payment_details.vat.amount", Some("Deducted VAT"), |r| {
        r.amount(r.money.vat)
    }),
    f(
        "payment_details.vat.percent",
        Some("Deducted VAT, %"),
        |r| V::Rate(super::data::country_vat(r.country)),
    ),
    f("payment_details.vat.user_amount", Some("VAT"), |r| {
        r.amount(r.money.vat)
    }),
    f("payment_details.vat.user_percent", Some("VAT, %"), |r| {
        V::Rate(super::data::country_vat(r.country))
    }),
    f(
        "payment_details.chargebackPenalty.amount",
        Some("Chargeback penalty"),
        |r| r.amount(r.money.chargeback_penalty),
    ),
    f(
        "payment_details.refundPenalty.amount",
        Some("Refund penalty"),
        |r| r.amount(r.money.refund_penalty),
    ),
    f(
        "purchase.virtual_currency.amount",
        Some("Virtual currency purchase amount"),
        |r| r.purchase(PurchaseKind::VirtualCurrency),
    ),
    f("purchase.virtual_currency.currency", None, |r| {
        r.purchase_currency(PurchaseKind::VirtualCurrency)
    }),
    f("purchase.virtual_currency_amount", None, |r| {
        if r.project.kind == PurchaseKind::VirtualCurrency {
            V::Int(i64::from(r.txn.price + 1) * 500)
        } else {
            V::Null
        }
    }),
    f(
        "purchase.simple_checkout.amount",
        Some("Simple checkout purchase amount"),
        |r| r.purchase(PurchaseKind::SimpleCheckout),
    ),
    f("purchase.simple_checkout.currency", None, |r| {
        r.purchase_currency(PurchaseKind::SimpleCheckout)
    }),
    f(
        "purchase.virtual_items.amount",
        Some("Items purchase amount"),
        |r| r.purchase(PurchaseKind::VirtualItems),
    ),
    f("purchase.virtual_items.currency", None, |r| {
        r.purchase_currency(PurchaseKind::VirtualItems)
    }),
    f("purchase.virtual_items.content", None, |r| {
        if r.project.kind == PurchaseKind::VirtualItems {
            V::Str(
                [
                    "Bronze chest",
                    "Silver chest",
                    "Gold chest",
                    "Hero pack",
                    "Legend pack",
                    "Season pass",
                ][r.txn.price as usize % 6],
            )
        } else {
            V::Null
        }
    }),
    f("purchase.items_amount", None, |_| V::Int(1)),
    f("purchase.purchase_amount", None, |r| {
        r.amount(r.money.nominal)
    }),
    f("purchase.friend.email", None, |_| V::Null),
    f("purchase.friend.user_id", None, |_| V::Null),
    f("purchase.pin_codes.amount", None, |_| V::Null),
    f("purchase.pin_codes.content", None, |_| V::Null),
    f("purchase.pin_codes.currency", None, |_| V::Null),
    f("purchase.subscription.name", None, |_| V::Null),
    f("purchase.subscription.plan_id", None, |_| V::Null),
    f("purchase.subscription.subscription_id", None, |_| V::Null),
    f("payment_system.decline_reason", None, |r| {
        if r.txn.status == super::data::Status::Error {
            V::Str("Insufficient funds")
        } else {
            V::Null
        }
    }),
    f("payment_system.type", Some("Payment system type"), |r| {
        V::Str(r.method.kind)
    }),
];

/// JSON object layout built from the dotted paths of [`FIELDS`].
enum Node {
    Leaf(usize),
    Obj(Vec<Entry>),
}

/// One key of an object in the layout, with its JSON text (`"key":`) rendered once.
struct Entry {
    key: &'static str,
    quoted: Vec<u8>,
    node: Node,
}

fn layout() -> &'static [Entry] {
    static TREE: OnceLock<Vec<Entry>> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut root: Vec<Entry> = Vec::new();
        for (i, field) in FIELDS.iter().enumerate() {
            let mut level = &mut root;
            let parts: Vec<&'static str> = field.json.split('.').collect();
            for (depth, key) in parts.iter().enumerate() {
                let last = depth + 1 == parts.len();
                let pos = match level.iter().position(|e| e.key == *key) {
                    Some(p) => p,
                    None => {
                        let mut quoted = Vec::new();
                        write_str(&mut quoted, key);
                        quoted.push(b':');
                        level.push(Entry {
                            key,
                            quoted,
                            node: if last {
                                Node::Leaf(i)
                            } else {
                                Node::Obj(Vec::new())
                            },
                        });
                        level.len() - 1
                    }
                };
                if last {
                    break;
                }
                level = match &mut level[pos].node {
                    Node::Obj(children) => children,
                    Node::Leaf(_) => panic!("field path {} conflicts with a leaf", field.json),
                };
            }
        }
        root
    })
}

/// Writes a value straight into the body: rendering a 1,000-row page through a `String` per
/// cell cost the sandbox more than the client spends reading it.
fn write_value(out: &mut Vec<u8>, v: &V<'_>) {
    match v {
        V::Null => out.extend_from_slice(b"null"),
        V::Str(s) => write_str(out, s),
        V::Owned(s) => write_str(out, s),
        V::Int(i) => {
            let _ = write!(out, "{i}");
        }
        V::Money(d, exp) => {
            let mut d = if d.is_zero() { Decimal::ZERO } else { *d };
            d.rescale(*exp);
            write_decimal(out, d);
        }
        V::Rate(d) if d.is_zero() => out.push(b'0'),
        V::Rate(d) => write_decimal(out, d.normalize()),
        V::Flag(b) => out.push(if *b { b'1' } else { b'0' }),
        V::Time(t) => write_time(out, *t),
    }
}

/// `d` as its `Display` writes it. A non-zero value of up to 18 digits (every amount the
/// sandbox renders) is written from its mantissa: the formatting machinery was a fifth of
/// the sandbox's time serving a registry. Anything else goes through `Display`.
fn write_decimal(out: &mut Vec<u8>, d: Decimal) {
    let m = d.mantissa();
    let scale = d.scale() as usize;
    let Ok(abs) = u64::try_from(m.unsigned_abs()) else {
        let _ = write!(out, "{d}");
        return;
    };
    if abs == 0 || abs >= 1_000_000_000_000_000_000 {
        let _ = write!(out, "{d}");
        return;
    }
    // The digits of `abs`, at least `scale + 1` of them (a leading `0.`).
    let mut digits = [b'0'; 32];
    let mut n = abs;
    let mut at = digits.len();
    while n > 0 {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let at = at.min(digits.len() - scale - 1);
    let digits = &digits[at..];
    if m < 0 {
        out.push(b'-');
    }
    let (int, frac) = digits.split_at(digits.len() - scale);
    out.extend_from_slice(int);
    if scale > 0 {
        out.push(b'.');
        out.extend_from_slice(frac);
    }
}

/// `"YYYY-MM-DD HH:MM:SS"`, as `V::text` renders it, without chrono's format machinery.
fn write_time(out: &mut Vec<u8>, t: i64) {
    use chrono::{Datelike, Timelike};
    let dt = datetime(t);
    if !(1000..=9999).contains(&dt.year()) {
        return write_str(out, &V::Time(t).text().unwrap_or_default());
    }
    let two = |out: &mut Vec<u8>, n: u32| {
        out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8])
    };
    out.push(b'"');
    let y = dt.year() as u32;
    two(out, y / 100);
    two(out, y % 100);
    out.push(b'-');
    two(out, dt.month());
    out.push(b'-');
    two(out, dt.day());
    out.push(b' ');
    two(out, dt.hour());
    out.push(b':');
    two(out, dt.minute());
    out.push(b':');
    two(out, dt.second());
    out.push(b'"');
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_obj(out: &mut Vec<u8>, entries: &[Entry], values: &[V<'_>]) {
    out.push(b'{');
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&e.quoted);
        match &e.node {
            Node::Leaf(idx) => write_value(out, &values[*idx]),
            Node::Obj(children) => write_obj(out, children, values),
        }
    }
    out.push(b'}');
}

fn values<'r>(view: &'r RowView<'r>) -> Vec<V<'r>> {
    FIELDS.iter().map(|f| (f.get)(view)).collect()
}

/// One row as a JSON object.
pub(crate) fn json_object(out: &mut Vec<u8>, view: &RowView<'_>) {
    write_obj(out, layout(), &values(view));
}

/// A JSON array of rows.
pub(crate) fn json_rows<'a>(views: impl Iterator<Item = RowView<'a>>) -> Vec<u8> {
    // A row is about 1.8 KB: reserve for all of them rather than doubling up to 2 MB.
    let mut out = Vec::with_capacity(views.size_hint().0.saturating_mul(2048).max(4096));
    out.push(b'[');
    for (i, view) in views.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_object(&mut out, &view);
    }
    out.push(b']');
    out
}

/// RFC 4180 CSV: every field quoted, CRLF, header line even without rows.
pub(crate) fn csv_rows<'a>(views: impl Iterator<Item = RowView<'a>>) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(4096));
    let csv_fields: Vec<(usize, &str)> = FIELDS
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.csv.map(|c| (i, c)))
        .collect();
    // Writing into a Vec cannot fail.
    let _ = w.write_record(csv_fields.iter().map(|(_, h)| *h));
    for view in views {
        let vals = values(&view);
        let _ = w.write_record(
            csv_fields
                .iter()
                .map(|(i, _)| vals[*i].text().unwrap_or_default()),
        );
    }
    w.into_inner().unwrap_or_default()
}

/// Writes `{...}` for a small response built as a `serde_json::Value`.
pub(crate) fn value_bytes(v: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = out.write_all(v.to_string().as_bytes());
    out
}

/// A decimal as a JSON number, exactly (`arbitrary_precision` keeps the text).
pub(crate) fn number(d: Decimal) -> serde_json::Value {
    use std::str::FromStr;
    serde_json::Number::from_str(&d.to_string())
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

/// An amount as a JSON number with the currency's decimals.
pub(crate) fn amount_number(d: Decimal, exp: u32) -> serde_json::Value {
    use std::str::FromStr;
    serde_json::Number::from_str(&money_text(d, exp))
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    /// The decimals written from their mantissa read as `Display` writes them.
    #[test]
    fn decimals_are_written_as_display_writes_them() {
        use rust_decimal::Decimal;
        let mut checked = 0;
        for m in [
            1i64,
            -1,
            5,
            -5,
            10,
            95,
            -95,
            100,
            12_345,
            -12_345,
            999_999_999_999_999_999,
            -999_999_999_999_999_999,
            1_000_000_000_000_000_000,
            i64::MAX,
            i64::MIN + 1,
            0,
        ] {
            for scale in [0, 1, 2, 3, 8, 10, 17, 18, 19, 28] {
                let d = Decimal::new(m, scale);
                let mut out = Vec::new();
                super::write_decimal(&mut out, d);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    d.to_string(),
                    "{m} e-{scale}"
                );
                checked += 1;
            }
        }
        // A negative zero and a rescaled amount, as the money cells have them.
        for d in [-Decimal::ZERO, Decimal::new(-1, 3).round_dp(2)] {
            let mut out = Vec::new();
            super::write_decimal(&mut out, d);
            assert_eq!(String::from_utf8(out).unwrap(), d.to_string());
        }
        assert_eq!(checked, 160);
    }

    use super::*;
    use crate::xsolla::model::TRANSACTION_COLUMNS;

    #[test]
    fn every_client_column_is_rendered_at_its_path_and_header() {
        for col in TRANSACTION_COLUMNS {
            let hits: Vec<&Field> = FIELDS.iter().filter(|f| f.json == col.json).collect();
            assert_eq!(hits.len(), 1, "column {} ({})", col.name, col.json);
            assert_eq!(hits[0].csv, Some(col.csv), "CSV header of {}", col.json);
        }
        let headers: Vec<&str> = FIELDS.iter().filter_map(|f| f.csv).collect();
        let unknown: Vec<&&str> = headers
            .iter()
            .filter(|h| !TRANSACTION_COLUMNS.iter().any(|c| c.csv == **h))
            .collect();
        assert_eq!(unknown, [&"Payment system type"]);
        layout();
    }

    #[test]
    fn money_text_pads_and_drops_negative_zero() {
        assert_eq!(money_text(Decimal::new(5, 1), 2), "0.50");
        assert_eq!(money_text(-Decimal::ZERO, 3), "0.000");
        assert_eq!(money_text(Decimal::new(-120, 0), 0), "-120");
    }
}
