//! The `[ledger]` table of the config file: where the merchant's ledger export is and how to
//! read it.
//!
//! Every field has a default so a merchant only writes what differs from the common case;
//! what cannot be guessed safely (which column holds the amount, which date order a
//! `01/02/2024` means) is spelled out instead of sniffed.

use super::conventions::Conventions;
use crate::domain::frames::LEDGER_STATUSES;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How to find and read the ledger export.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// A file or a glob (`exports/ledger-*.csv`), relative to the config's folder. Every match
    /// is read, in sorted order; no match is an error. Default `ledger.csv`.
    pub path: String,
    /// File format: `auto` (by extension: `.csv`/`.tsv`/`.txt` → csv, `.xlsx`/`.xlsm`/`.xls`
    /// → xlsx, `.parquet` → parquet), `csv`, `xlsx` or `parquet`. Default `auto`.
    pub format: LedgerFormat,
    /// CSV dialect. Default: sniffed delimiter and encoding, `.` decimals, no thousands
    /// separator, `"` quotes.
    pub csv: CsvDialect,
    /// Which sheet and header row of a workbook. Default: first sheet, header on row 1.
    pub xlsx: XlsxOptions,
    /// chrono formats tried in order on date text. Default `%Y-%m-%d`,
    /// `%Y-%m-%d %H:%M:%S`, `%+` (RFC 3339), `%d.%m.%Y`, `%d/%m/%Y`. `%m/%d/%Y` is left out
    /// on purpose: it reads `01/02/2024` differently from `%d/%m/%Y`, so a ledger that uses
    /// it must say so (and drop `%d/%m/%Y`).
    pub date_formats: Vec<String>,
    /// IANA zone of the ledger's booking dates. Date-times with an offset are converted to it
    /// before the date is taken; naive ones are taken as already in it. Default `UTC`.
    pub timezone: String,
    /// The ledger's header names for each field.
    pub columns: LedgerColumns,
    /// Ledger status text (case-insensitive) → normalised status (`paid`, `refunded`,
    /// `partially_refunded`, `chargeback`, `canceled`, `pending`, `other`). A value that
    /// already is a normalised status maps to itself; anything else becomes `other` and is
    /// counted. Default empty.
    pub status_map: BTreeMap<String, String>,
    /// What a row that cannot be read does: `fail` stops the load with the file, line,
    /// column and value; `quarantine` sets the row aside (reported) and goes on. Default
    /// `fail`: a silently shorter ledger makes every later finding wrong.
    pub on_bad_row: OnBadRow,
    /// Most data rows over all files; more is an error (a runaway export, not a ledger).
    /// Default 50,000,000.
    pub max_rows: u64,
    /// Longest field in bytes; longer is an error (typically an unterminated quote that
    /// swallowed the rest of the file). Default 1 MiB.
    pub max_field_bytes: usize,
    /// How the books differ from Xsolla's registry: amount basis, currency, refunds, journal
    /// lines, statuses that are not money yet. Default: the common export (see
    /// [`Conventions`]).
    pub conventions: Conventions,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            path: "ledger.csv".to_owned(),
            format: LedgerFormat::Auto,
            csv: CsvDialect::default(),
            xlsx: XlsxOptions::default(),
            date_formats: default_date_formats(),
            timezone: "UTC".to_owned(),
            columns: LedgerColumns::default(),
            status_map: BTreeMap::new(),
            on_bad_row: OnBadRow::Fail,
            max_rows: 50_000_000,
            max_field_bytes: 1 << 20,
            conventions: Conventions::default(),
        }
    }
}

/// The default date formats, most specific first.
pub fn default_date_formats() -> Vec<String> {
    [
        "%Y-%m-%d",
        "%Y-%m-%d %H:%M:%S",
        "%+",
        "%d.%m.%Y",
        "%d/%m/%Y",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Ledger file format.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LedgerFormat {
    /// By file extension.
    #[default]
    Auto,
    /// Delimited text.
    Csv,
    /// Excel workbook (`.xlsx`, `.xlsm`, `.xls`).
    Xlsx,
    /// Apache Parquet.
    Parquet,
}

/// What to do with a row that cannot be read.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnBadRow {
    /// Stop with an error naming the file, line, column and value.
    #[default]
    Fail,
    /// Set the row aside in [`super::LedgerLoad::quarantined`] and go on.
    Quarantine,
}

/// Text encoding of a CSV file.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum CsvEncoding {
    /// UTF-8 (with or without BOM) when the whole file is valid UTF-8, else Windows-1252
    /// (what Excel on Windows writes for "CSV").
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// UTF-8; a BOM is skipped; invalid bytes are a bad cell.
    #[serde(rename = "utf-8")]
    Utf8,
    /// Windows-1252 (a superset of Latin-1 for printable text).
    #[serde(rename = "windows-1252")]
    Windows1252,
}

/// CSV field delimiter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Delimiter {
    /// Sniffed from the header line: the most frequent of `,` `;` and tab outside quotes.
    #[default]
    Auto,
    /// This byte (`","`, `";"`, `"\t"` or `"tab"`, `"|"` …).
    Byte(u8),
}

impl TryFrom<String> for Delimiter {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "auto" => Ok(Delimiter::Auto),
            "tab" | "\\t" => Ok(Delimiter::Byte(b'\t')),
            _ if s.len() == 1 && s.is_ascii() && !matches!(s.as_bytes()[0], b'\r' | b'\n') => {
                Ok(Delimiter::Byte(s.as_bytes()[0]))
            }
            _ => Err(format!(
                "delimiter {s:?}: expected \"auto\", \"tab\" or one ASCII character"
            )),
        }
    }
}

impl From<Delimiter> for String {
    fn from(d: Delimiter) -> String {
        match d {
            Delimiter::Auto => "auto".to_owned(),
            Delimiter::Byte(b'\t') => "tab".to_owned(),
            Delimiter::Byte(b) => (b as char).to_string(),
        }
    }
}

/// Thousands separator in amounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Thousands {
    /// No grouping: `1234.50`.
    #[default]
    None,
    /// This character: `,` `.` `' '` `'` or a no-break space (U+00A0, U+202F).
    Char(char),
}

impl TryFrom<String> for Thousands {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let mut it = s.chars();
        match (s.as_str(), it.next(), it.next()) {
            ("" | "none", _, _) => Ok(Thousands::None),
            ("space", _, _) => Ok(Thousands::Char(' ')),
            (_, Some(c @ (',' | '.' | ' ' | '\'' | '\u{a0}' | '\u{202f}')), None) => {
                Ok(Thousands::Char(c))
            }
            _ => Err(format!(
                "thousands_separator {s:?}: expected \"none\", \",\", \".\", \" \", \"'\" or a no-break space"
            )),
        }
    }
}

impl From<Thousands> for String {
    fn from(t: Thousands) -> String {
        match t {
            Thousands::None => "none".to_owned(),
            Thousands::Char(c) => c.to_string(),
        }
    }
}

/// How a CSV file is written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CsvDialect {
    /// Field delimiter: `auto` (sniffed from the header line) or one character. Default
    /// `auto`.
    pub delimiter: Delimiter,
    /// `auto`, `utf-8` or `windows-1252`. Default `auto`.
    pub encoding: CsvEncoding,
    /// Decimal separator of amounts, `.` or `,`. Default `.`.
    pub decimal_separator: char,
    /// Thousands separator of amounts: `none`, `,`, `.`, `" "`, `'` or a no-break space.
    /// Groups must be of three digits, so `12.50` is not read as 1250. Default `none`.
    pub thousands_separator: Thousands,
    /// Quote character. Default `"`.
    pub quote: char,
}

impl Default for CsvDialect {
    fn default() -> Self {
        CsvDialect {
            delimiter: Delimiter::Auto,
            encoding: CsvEncoding::Auto,
            decimal_separator: '.',
            thousands_separator: Thousands::None,
            quote: '"',
        }
    }
}

/// Where the table is in a workbook.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct XlsxOptions {
    /// Sheet name. Default: the first sheet.
    pub sheet: Option<String>,
    /// 1-based row of the header; rows above it are ignored. Default 1.
    pub header_row: u32,
}

impl Default for XlsxOptions {
    fn default() -> Self {
        XlsxOptions {
            sheet: None,
            header_row: 1,
        }
    }
}

/// The ledger's header names (matched trimmed and case-insensitively). `amount`, `currency`
/// and `date` are required, and at least one of `transaction_id` / `order_id`; an optional
/// column that is named here must exist.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerColumns {
    /// Xsolla transaction id (integer). Default: none.
    pub transaction_id: Option<String>,
    /// The merchant's order id (Xsolla `external_id`). Default: none.
    pub order_id: Option<String>,
    /// Gross amount, sign kept. Default `amount`.
    pub amount: String,
    /// ISO 4217 code. Default `currency`.
    pub currency: String,
    /// Status text, mapped through `status_map`. Default: none (positive amounts are
    /// `paid`, negative ones `refunded`).
    pub status: Option<String>,
    /// Booking date (or date-time). Default `date`.
    pub date: String,
    /// Fee. Default: none.
    pub fee: Option<String>,
    /// Net amount. Default: none.
    pub net: Option<String>,
    /// Payout reference. Default: none.
    pub payout_ref: Option<String>,
    /// Free text. Default: none.
    pub note: Option<String>,
    /// The paying user's id (Xsolla `user.id`), used only by the fuzzy rule. Default: none.
    pub user_id: Option<String>,
    /// Journal line type (`Sale`, `Fee`, `VAT` …), mapped through `conventions.line_types`.
    /// Default: none (every line is a sale or, when negative, a refund).
    pub line_type: Option<String>,
    /// Xsolla project id (integer) of the line: `merchant.project_ids` then scopes the ledger
    /// too, and order ids are matched within a project. Default: none.
    pub project_id: Option<String>,
    /// Test purchase flag (`1`/`0`, `true`/`false`, `yes`/`no`, `x`/empty): flagged lines are
    /// matched against Xsolla's test (`dry_run`) transactions. Default: none.
    pub test: Option<String>,
    /// The ledger's own rate, units of the reporting currency per unit of the payment
    /// currency (at most 6 decimals), for `conventions.currency = "reporting"`. Default: none.
    pub rate: Option<String>,
}

impl Default for LedgerColumns {
    fn default() -> Self {
        LedgerColumns {
            transaction_id: None,
            order_id: None,
            amount: "amount".to_owned(),
            currency: "currency".to_owned(),
            status: None,
            date: "date".to_owned(),
            fee: None,
            net: None,
            payout_ref: None,
            note: None,
            user_id: None,
            line_type: None,
            project_id: None,
            test: None,
            rate: None,
        }
    }
}

impl LedgerConfig {
    /// Checks what serde cannot: values that must come from a fixed set, separators that
    /// would make amounts ambiguous, a known time zone. Returns one sentence per problem.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.columns.transaction_id.is_none() && self.columns.order_id.is_none() {
            problems.push(
                "columns: set transaction_id or order_id (or both) so rows can be matched"
                    .to_owned(),
            );
        }
        for (k, v) in &self.status_map {
            if !LEDGER_STATUSES.contains(&v.as_str()) {
                problems.push(format!(
                    "status_map: {k:?} = {v:?} is not one of {LEDGER_STATUSES:?}"
                ));
            }
        }
        let d = &self.csv;
        if !matches!(d.decimal_separator, '.' | ',') {
            problems.push(format!(
                "csv.decimal_separator {:?}: expected \".\" or \",\"",
                d.decimal_separator
            ));
        }
        if d.thousands_separator == Thousands::Char(d.decimal_separator) {
            problems.push("csv: thousands_separator equals decimal_separator".to_owned());
        }
        if !d.quote.is_ascii() || matches!(d.quote, '\r' | '\n') {
            problems.push(format!(
                "csv.quote {:?}: expected one ASCII character",
                d.quote
            ));
        }
        if let Delimiter::Byte(b) = d.delimiter {
            if b == d.quote as u8 {
                problems.push("csv: delimiter equals quote".to_owned());
            }
        }
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            problems.push(format!(
                "timezone {:?} is not an IANA zone name (e.g. \"Europe/Berlin\")",
                self.timezone
            ));
        }
        if self.date_formats.is_empty() {
            problems.push("date_formats is empty".to_owned());
        }
        if self.xlsx.header_row == 0 {
            problems.push("xlsx.header_row is 1-based; 0 is not a row".to_owned());
        }
        let c = &self.columns;
        problems.extend(self.conventions.problems(
            c.rate.is_some(),
            c.status.is_some(),
            c.line_type.is_some(),
        ));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}
