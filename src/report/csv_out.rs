//! `discrepancies.csv` and `quarantined.csv`: RFC 4180 (or the European Excel flavour), UTF-8,
//! ISO dates, exact amounts, every text cell passed through [`safe_text`].

use super::{
    amount_text, safe_text, status_note, status_word, CsvDialect, Finding, ReportSettings,
};
use crate::load::ledger::BadRow;
use crate::reconcile::decisions::LoopView;
use rust_decimal::Decimal;
use std::path::Path;

/// Columns of `discrepancies.csv` (and of the XLSX class sheets), in order.
pub(crate) const COLUMNS: &[&str] = &[
    "class",
    "rule",
    "probable",
    "currency",
    "expected",
    "actual",
    "difference",
    "transaction_id",
    "order_id",
    "provider_date",
    "ledger_date",
    "first_seen",
    "age_days",
    "provider_rows",
    "ledger_rows",
    "detail",
    "key",
    // The team's loop: where the item stands, and the three columns they fill in
    // (`xsolla-recon items import` reads them back).
    "status",
    "status_note",
    "decision",
    "until",
    "note",
];

/// Columns of `quarantined.csv` (and the `Quarantined` sheet).
pub(crate) const QUARANTINE_COLUMNS: &[&str] = &["file", "line", "column", "value", "problem"];

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn delimiter(settings: &ReportSettings) -> u8 {
    match settings.csv_dialect {
        CsvDialect::Rfc4180 => b',',
        CsvDialect::ExcelEurope => b';',
    }
}

fn writer(settings: &ReportSettings) -> csv::Writer<Vec<u8>> {
    let out = if settings.bom() {
        BOM.to_vec()
    } else {
        Vec::new()
    };
    csv::WriterBuilder::new()
        .delimiter(delimiter(settings))
        .terminator(csv::Terminator::CRLF)
        .from_writer(out)
}

/// An amount cell: a number, never neutralised (`-12.50` stays `-12.50`).
fn amount(v: Option<Decimal>, currency: &str, settings: &ReportSettings) -> String {
    match v {
        None => String::new(),
        Some(d) => {
            let t = amount_text(d, currency);
            match settings.csv_dialect {
                CsvDialect::Rfc4180 => t,
                CsvDialect::ExcelEurope => t.replace('.', ","),
            }
        }
    }
}

fn text(v: Option<&str>) -> String {
    v.map(|s| safe_text(s).into_owned()).unwrap_or_default()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// One row of `discrepancies.csv`, in [`COLUMNS`] order.
pub(crate) fn record(f: &Finding, settings: &ReportSettings, view: &LoopView) -> Vec<String> {
    let cur = f.currency.as_str();
    vec![
        text(Some(&f.class)),
        text(Some(&f.rule)),
        opt(f.probable),
        text(Some(cur)),
        amount(f.expected, cur, settings),
        amount(f.actual, cur, settings),
        amount(f.difference, cur, settings),
        opt(f.transaction_id),
        text(f.order_id.as_deref()),
        opt(f.provider_date),
        opt(f.ledger_date),
        opt(f.first_seen),
        opt(f.age_days),
        text(f.provider_rows.as_deref()),
        text(f.ledger_rows.as_deref()),
        text(f.detail.as_deref()),
        text(Some(&f.key)),
        status_word(view, &f.key).to_owned(),
        text(Some(&status_note(view, &f.key))),
        String::new(),
        String::new(),
        String::new(),
    ]
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, String> {
    w.into_inner().map_err(|e| e.to_string())
}

/// The bytes of `discrepancies.csv`.
pub(crate) fn discrepancies(
    findings: &[Finding],
    settings: &ReportSettings,
    view: &LoopView,
) -> Result<Vec<u8>, String> {
    let mut w = writer(settings);
    w.write_record(COLUMNS).map_err(|e| e.to_string())?;
    for f in findings {
        w.write_record(record(f, settings, view))
            .map_err(|e| format!("key {}: {e}", f.key))?;
    }
    finish(w)
}

/// The bytes of `quarantined.csv` (a header only when nothing was set aside).
pub(crate) fn quarantined(rows: &[BadRow], settings: &ReportSettings) -> Result<Vec<u8>, String> {
    let mut w = writer(settings);
    w.write_record(QUARANTINE_COLUMNS)
        .map_err(|e| e.to_string())?;
    for b in rows {
        let file = b.file.display().to_string();
        w.write_record([
            text(Some(&file)),
            b.line.to_string(),
            text(Some(&b.column)),
            text(Some(&b.value)),
            text(Some(&b.problem)),
        ])
        .map_err(|e| format!("{file}:{}: {e}", b.line))?;
    }
    finish(w)
}

/// Data rows in a written CSV file (the header excluded), read with the same dialect.
pub(crate) fn count_records(path: &Path, settings: &ReportSettings) -> Result<usize, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("read back: {e}"))?;
    let body = bytes.strip_prefix(BOM).unwrap_or(&bytes);
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter(settings))
        .has_headers(true)
        .from_reader(body);
    let mut n = 0;
    for rec in r.records() {
        rec.map_err(|e| format!("read back: {e}"))?;
        n += 1;
    }
    Ok(n)
}
