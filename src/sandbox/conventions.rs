//! Ledger exports in other conventions than the sandbox's standard one: the same month of
//! sandbox data booked as real finance exports book it (without tax, in the payout or a
//! reporting currency, refunds as positive lines or as a status on the payment, fee and tax
//! journal lines, two games with overlapping order numbers, pending and test lines, a fee
//! column with the CPA commission and the fixed parts), written
//! as CSV, German-style CSV or XLSX, each with the `[merchant.ledger]` tables that read it
//! (README, "Ledger conventions") and the tables a reader of the standard export would use.
//!
//! The tests reconcile each against the sandbox: exactly the planted discrepancies with its
//! own tables, a flood of findings (or a load error) with the standard ones.

use super::ledger::{ExportOptions, Line};
use crate::domain::money::{format_amount, round_to_currency};
use crate::domain::window::Window;
use crate::xsolla::model::TransactionRow;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// The first sandbox project (Starfall Odyssey).
pub const FIRST_PROJECT: i64 = 277_001;
/// The project a [`Convention::Projects`] merchant does not reconcile (Pixel Kart).
pub const OTHER_PROJECT: i64 = 277_003;
/// The reporting currency of [`Convention::ReportingCurrency`].
pub const REPORTING_CURRENCY: &str = "EUR";

/// How the merchant's books differ from Xsolla's registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Convention {
    /// Gross = `payment.amount` in the payment currency, refunds as negative lines.
    #[default]
    Standard,
    /// Gross without VAT and sales tax.
    WithoutTax,
    /// The purchase's nominal price: without VAT, sales tax and the user's commission.
    Nominal,
    /// Every amount in the payout currency, converted with Xsolla's `fx_rate`.
    PayoutCurrency,
    /// Every amount in EUR, with the ledger's own rate per line (column `Rate`).
    ReportingCurrency,
    /// Refunds as their own lines with a positive amount and a refund status.
    PositiveRefunds,
    /// No refund lines: the payment line's status says refunded or charged back.
    StatusOnPayment,
    /// A `Type` column; each sale followed by a fee line and a VAT line (no fee column: the
    /// fee lines are summed into their sale's fee).
    JournalLines,
    /// A `Project` column and no transaction id; order numbers repeat across projects
    /// (sandbox quirk `order_numbers_per_project`); the third project is not reconciled.
    Projects,
    /// Pending and canceled lines, and Xsolla's test purchases flagged in a `Test` column.
    PendingAndTest,
    /// The fee column includes the CPA network's commission (sandbox quirk
    /// `cpa_commissions`: every fourth transaction pays one).
    CpaFee,
    /// The fee column holds every fee Xsolla takes where `amount` leaves out the fixed part
    /// (quirks `cpa_commissions` and `fixed_fees_outside_amount`): Xsolla's and the payment
    /// system's amounts with their fixed parts, the agent's with its fixed part, and CPA.
    AllFees,
}

/// The export's file format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExportFormat {
    /// UTF-8, `,`, `.` decimals, ISO dates.
    #[default]
    Csv,
    /// Windows-1252, `;`, decimal comma, `.` thousands, `dd.mm.yyyy`.
    GermanCsv,
    /// An XLSX workbook: numbers as numbers, dates as dates.
    Xlsx,
}

/// Ledger lines the convention's tables set aside, as the run counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetAside {
    /// Pending and canceled lines.
    pub not_money: u64,
    /// Fee and VAT journal lines.
    pub journal: u64,
    /// Lines of [`OTHER_PROJECT`].
    pub other_projects: u64,
}

impl Convention {
    /// Every convention but the standard one.
    pub const OTHERS: [Convention; 11] = [
        Convention::WithoutTax,
        Convention::Nominal,
        Convention::PayoutCurrency,
        Convention::ReportingCurrency,
        Convention::PositiveRefunds,
        Convention::StatusOnPayment,
        Convention::JournalLines,
        Convention::Projects,
        Convention::PendingAndTest,
        Convention::CpaFee,
        Convention::AllFees,
    ];

    /// Books one registry row's amounts the convention's way (before faults are planted).
    pub(super) fn book(self, l: &mut Line, r: &TransactionRow) {
        let part = |v: Option<Decimal>| v.unwrap_or_default();
        let taxes = part(r.vat_deducted) + part(r.sales_tax);
        match self {
            Convention::WithoutTax => l.gross -= taxes,
            Convention::Nominal => l.gross -= taxes + part(r.commission_user),
            Convention::PayoutCurrency => {
                let to = r.payout_currency.clone().unwrap_or_default();
                convert(l, part(r.fx_rate), &to);
            }
            Convention::ReportingCurrency => {
                // The merchant's own rate: EUR per unit, 6 decimals (not Xsolla's).
                let rate = (part(r.fx_rate) * Decimal::new(92, 2)).round_dp(6);
                convert(l, rate, REPORTING_CURRENCY);
                l.rate = Some(rate);
            }
            Convention::Projects => l.in_scope = l.project != OTHER_PROJECT,
            Convention::PendingAndTest => l.in_scope = !l.test,
            Convention::CpaFee => l.fee += part(r.cpa_network_commission),
            Convention::AllFees => {
                l.fee += part(r.cpa_network_commission)
                    + part(r.commission_xsolla_fixed)
                    + part(r.commission_ps_fixed)
                    + part(r.commission_agent_fixed);
            }
            _ => {}
        }
    }

    /// Whether the export has a fee column (else fees are journal lines of their own).
    pub(super) fn books_fee_column(self) -> bool {
        self != Convention::JournalLines
    }

    /// Reshapes the lines after the faults are planted: refunds, journal lines, extra lines.
    pub(super) fn reshape(self, lines: &mut Vec<Line>, window: Window) -> SetAside {
        let mut out = SetAside::default();
        match self {
            Convention::PositiveRefunds => {
                for l in lines.iter_mut().filter(|l| l.gross.is_sign_negative()) {
                    l.gross = -l.gross;
                    l.fee = -l.fee;
                }
            }
            Convention::StatusOnPayment => status_on_payment(lines),
            Convention::JournalLines => out.journal = journal_lines(lines),
            Convention::Projects => {
                out.other_projects =
                    lines.iter().filter(|l| l.project == OTHER_PROJECT).count() as u64;
            }
            Convention::PendingAndTest => {
                for (i, (order, status)) in [
                    ("ORD-PENDING-1", "Pending"),
                    ("ORD-PENDING-2", "Pending"),
                    ("ORD-CANCELED-1", "Canceled"),
                ]
                .into_iter()
                .enumerate()
                {
                    lines.push(Line {
                        date: window.from + chrono::Days::new(2 + i as u64),
                        txn: None,
                        order: order.into(),
                        currency: "USD".into(),
                        gross: Decimal::new(499, 2),
                        fee: Decimal::ZERO,
                        status,
                        note: "not money yet".into(),
                        project: FIRST_PROJECT,
                        test: false,
                        kind: "Sale",
                        rate: None,
                        in_scope: false,
                        taxes: Decimal::ZERO,
                    });
                }
                out.not_money = 3;
            }
            _ => {}
        }
        out
    }

    /// The export's header.
    fn header(self) -> Vec<&'static str> {
        let mut h = vec!["Booking date", "Xsolla transaction", "Order"];
        if self == Convention::Projects {
            h.retain(|c| *c != "Xsolla transaction");
            h.push("Project");
        }
        h.extend(["Currency", "Gross"]);
        if self.books_fee_column() {
            h.push("Fee");
        } else {
            h.push("Type");
        }
        h.extend(["Status", "Note"]);
        match self {
            Convention::ReportingCurrency => h.push("Rate"),
            Convention::PendingAndTest => h.push("Test"),
            _ => {}
        }
        h
    }

    /// The `[merchant.ledger]` keys and tables that read this export, each table named
    /// `[<prefix>columns]` and so on (`prefix` `"merchant.ledger."` in a job config, empty
    /// for a bare `LedgerConfig`). `own`: with the convention's settings; false: the tables a
    /// reader of the standard export would use (the same header names, no conventions, no
    /// dialect).
    pub fn tables(self, format: ExportFormat, prefix: &str, own: bool) -> String {
        let mut t = String::new();
        if own && format == ExportFormat::GermanCsv {
            t.push_str("date_formats = [\"%d.%m.%Y\"]\n");
            t.push_str(&format!(
                "[{prefix}csv]\ndelimiter = \";\"\ndecimal_separator = \",\"\n\
                 thousands_separator = \".\"\nencoding = \"windows-1252\"\n"
            ));
        }
        t.push_str(&format!("[{prefix}columns]\n"));
        for h in self.header() {
            let key = match h {
                "Booking date" => "date",
                "Xsolla transaction" => "transaction_id",
                "Order" => "order_id",
                "Currency" => "currency",
                "Gross" => "amount",
                "Fee" => "fee",
                "Status" => "status",
                "Note" => "note",
                "Project" if own => "project_id",
                "Type" if own => "line_type",
                "Rate" if own => "rate",
                "Test" if own => "test",
                _ => continue,
            };
            t.push_str(&format!("{key} = \"{h}\"\n"));
        }
        t.push_str(&format!(
            "[{prefix}status_map]\nPaid = \"paid\"\nRefund = \"refunded\"\nChargeback = \"chargeback\"\n"
        ));
        if own {
            if self == Convention::StatusOnPayment {
                t.push_str(
                    "Refunded = \"refunded\"\n\"Charged back\" = \"chargeback\"\n\
                     \"Partially refunded\" = \"partially_refunded\"\n",
                );
            }
            t.push_str(&format!("[{prefix}conventions]\n{}", self.settings()));
        }
        t
    }

    /// The `[conventions]` keys of this convention.
    fn settings(self) -> String {
        match self {
            Convention::Standard | Convention::Projects | Convention::PendingAndTest => "",
            Convention::WithoutTax => "amount_minus = [\"vat_deducted\", \"sales_tax\"]\n",
            Convention::Nominal => {
                "amount_minus = [\"vat_deducted\", \"sales_tax\", \"commission_user\"]\n"
            }
            Convention::PayoutCurrency => "currency = \"payout\"\n",
            Convention::ReportingCurrency => {
                "currency = \"reporting\"\nreporting_currency = \"EUR\"\n"
            }
            Convention::PositiveRefunds => "refunds = \"status_lines\"\n",
            Convention::StatusOnPayment => "refunds = \"status_on_payment\"\n",
            Convention::JournalLines => {
                "line_types = { Sale = \"sale\", Refund = \"refund\", Fee = \"fee\", VAT = \"tax\" }\n"
            }
            Convention::CpaFee => {
                "fee_columns = [\"commission_xsolla\", \"commission_ps\", \"commission_agent\", \"cpa_network_commission\"]\n"
            }
            Convention::AllFees => {
                "fee_columns = [\"commission_xsolla\", \"commission_xsolla_fixed\", \"commission_ps\", \"commission_ps_fixed\", \"commission_agent\", \"commission_agent_fixed\", \"cpa_network_commission\"]\n"
            }
        }
        .to_owned()
    }

    /// `merchant.project_ids` of the merchant that books this way.
    pub fn project_ids(self) -> Vec<i64> {
        match self {
            Convention::Projects => vec![FIRST_PROJECT, FIRST_PROJECT + 1],
            _ => Vec::new(),
        }
    }

    /// Whether Xsolla's test transactions must be fetched (`fetch.show_dry_run`).
    pub fn needs_test_rows(self) -> bool {
        self == Convention::PendingAndTest
    }

    /// The sandbox quirks the convention's data needs.
    pub fn quirks(self) -> super::DataQuirks {
        super::DataQuirks {
            order_numbers_per_project: self == Convention::Projects,
            cpa_commissions: matches!(self, Convention::CpaFee | Convention::AllFees),
            fixed_fees_outside_amount: self == Convention::AllFees,
            ..super::DataQuirks::default()
        }
    }
}

/// Converts a line's amounts into `to` at `rate`, rounded to `to`'s minor unit.
fn convert(l: &mut Line, rate: Decimal, to: &str) {
    l.gross = round_to_currency(l.gross * rate, to);
    l.fee = round_to_currency(l.fee * rate, to);
    l.currency = to.to_owned();
}

/// Removes the refund lines and marks their payments refunded, partially refunded or charged
/// back instead.
fn status_on_payment(lines: &mut Vec<Line>) {
    let mut refunds: BTreeMap<i64, (Decimal, bool)> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.gross.is_sign_negative()) {
        if let Some(t) = l.txn {
            let e = refunds.entry(t).or_default();
            e.0 -= l.gross;
            e.1 |= l.status == "Chargeback";
        }
    }
    lines.retain(|l| !l.gross.is_sign_negative());
    for l in lines.iter_mut() {
        if let Some((sum, chargeback)) = l.txn.and_then(|t| refunds.get(&t)) {
            l.status = if *chargeback {
                "Charged back"
            } else if *sum == l.gross {
                "Refunded"
            } else {
                "Partially refunded"
            };
        }
    }
}

/// Adds a fee line and a VAT line after each sale; returns how many were added.
fn journal_lines(lines: &mut Vec<Line>) -> u64 {
    let mut added = Vec::new();
    for l in lines.iter() {
        if l.gross.is_sign_negative() {
            continue;
        }
        for (kind, amount) in [("Fee", l.fee), ("VAT", l.taxes)] {
            if !amount.is_zero() {
                added.push(Line {
                    gross: -amount,
                    fee: Decimal::ZERO,
                    kind,
                    ..l.clone()
                });
            }
        }
    }
    let n = added.len() as u64;
    lines.extend(added);
    n
}

/// The export's bytes in its format.
pub(super) fn write(lines: &[Line], opts: ExportOptions) -> Vec<u8> {
    let header = opts.convention.header();
    match opts.format {
        ExportFormat::Xlsx => xlsx(lines, &header),
        ExportFormat::Csv | ExportFormat::GermanCsv => {
            let german = opts.format == ExportFormat::GermanCsv;
            let mut w = csv::WriterBuilder::new()
                .delimiter(if german { b';' } else { b',' })
                .from_writer(Vec::new());
            w.write_record(&header).expect("writing to memory");
            for l in lines {
                let row: Vec<String> = header.iter().map(|h| cell(l, h, german)).collect();
                w.write_record(&row).expect("writing to memory");
            }
            let bytes = w.into_inner().expect("writing to memory");
            if german {
                let text = String::from_utf8(bytes).expect("written as UTF-8");
                encoding_rs::WINDOWS_1252.encode(&text).0.into_owned()
            } else {
                bytes
            }
        }
    }
}

/// One cell as text.
fn cell(l: &Line, h: &str, german: bool) -> String {
    let money = |v: Decimal| {
        let s = format_amount(v, &l.currency);
        if german {
            german_amount(&s)
        } else {
            s
        }
    };
    match h {
        "Booking date" if german => l.date.format("%d.%m.%Y").to_string(),
        "Booking date" => l.date.to_string(),
        "Xsolla transaction" => l.txn.map(|t| t.to_string()).unwrap_or_default(),
        "Order" => l.order.clone(),
        "Project" => l.project.to_string(),
        "Currency" => l.currency.clone(),
        "Gross" => money(l.gross),
        "Fee" => money(l.fee),
        "Type" => l.kind.to_owned(),
        "Status" => l.status.to_owned(),
        "Note" if german && l.note == "booked twice" => "doppelt gebucht (Gebühr gleich)".into(),
        "Note" => l.note.clone(),
        "Rate" => l.rate.map(|r| r.to_string()).unwrap_or_default(),
        "Test" => if l.test { "yes" } else { "" }.to_owned(),
        _ => String::new(),
    }
}

/// `-1234.56` as `-1.234,56`.
fn german_amount(s: &str) -> String {
    let (sign, digits) = s.strip_prefix('-').map_or(("", s), |d| ("-", d));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(c);
    }
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped},{frac}")
    }
}

/// The lines as a workbook: dates as dates, amounts, ids and rates as numbers (XLSX stores
/// every number as a double; the reader takes its shortest decimal text back), text as text.
fn xlsx(lines: &[Line], header: &[&str]) -> Vec<u8> {
    use chrono::Datelike;
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Ledger").expect("a valid sheet name");
    let date_fmt = Format::new().set_num_format("yyyy-mm-dd");
    for (c, h) in header.iter().enumerate() {
        ws.write_string(0, c as u16, *h).expect("writing a cell");
    }
    for (r, l) in lines.iter().enumerate() {
        let row = r as u32 + 1;
        for (c, h) in header.iter().enumerate() {
            let c = c as u16;
            let number = |s: String| s.parse::<f64>().ok();
            let value = match *h {
                "Booking date" => {
                    let d = ExcelDateTime::from_ymd(
                        l.date.year() as u16,
                        l.date.month() as u8,
                        l.date.day() as u8,
                    )
                    .expect("a valid date");
                    ws.write_datetime_with_format(row, c, d, &date_fmt)
                        .expect("writing a cell");
                    continue;
                }
                "Xsolla transaction" | "Gross" | "Fee" | "Rate" | "Project" => {
                    number(cell(l, h, false))
                }
                _ => None,
            };
            match value {
                Some(v) => ws.write_number(row, c, v),
                None => ws.write_string(row, c, cell(l, h, false)),
            }
            .expect("writing a cell");
        }
    }
    wb.save_to_buffer().expect("writing a workbook to memory")
}
