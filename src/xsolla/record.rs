//! Table-driven records: one declaration gives a typed struct, its JSON paths and its CSV
//! header names, so JSON and CSV responses become the same rows by construction.
//!
//! Why not plain `#[derive(Deserialize)]`: the Reports API is only partly documented (see
//! `docs/xsolla-api.md`), so the parser must (a) keep every field it does
//! not know, (b) map CSV columns by header name, not position, and (c) never let a number pass
//! through `f64`. `serde(flatten)` cannot be combined with serde_json's `arbitrary_precision`
//! (numbers arrive as maps and integer fields fail), so rows are read from a `Value` by path.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// What kind of value a column holds; decides parsing and, later, the Polars dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Whole number (ids).
    Int,
    /// Free text (names, currency codes, statuses).
    Text,
    /// An amount of money, exact.
    Money,
    /// A rate or percentage, exact.
    Rate,
    /// A date or date-time; time zone unknown ([U] in docs/xsolla-api.md), kept naive.
    DateTime,
    /// 0/1 or true/false.
    Flag,
}

/// One column of a record: where it lives in JSON and what its CSV header is.
#[derive(Debug)]
pub struct Column {
    /// Field name in the Rust struct (and the snake_case name in our own outputs).
    pub name: &'static str,
    /// Header in Xsolla's CSV exports; `""` when the endpoint has no CSV form.
    pub csv: &'static str,
    /// Dotted path in the JSON object (`payment_details.payout.fx_rate`).
    pub json: &'static str,
    /// Value kind.
    pub kind: Kind,
}

/// A value that can be read from the text of a JSON scalar or a CSV cell.
pub trait CellValue: Sized {
    /// Said in errors: "expected {EXPECTED}".
    const EXPECTED: &'static str;
    /// Parses the text; `None` when it is not a valid value of this kind.
    fn parse_text(text: &str) -> Option<Self>;
    /// Why `text` was refused, when the kind can say more than "is not {EXPECTED}".
    fn why_not(_text: &str) -> Option<String> {
        None
    }
    /// Renders back to text (CSV form).
    fn render(&self) -> String;
}

impl CellValue for i64 {
    const EXPECTED: &'static str = "a whole number";
    fn parse_text(text: &str) -> Option<Self> {
        let t = text.trim();
        t.parse().ok().or_else(|| {
            // "123.0" from spreadsheets re-exporting ids.
            let d = crate::domain::money::parse_decimal(t)?;
            (d.fract().is_zero()).then(|| d.trunc().to_string().parse().ok())?
        })
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl CellValue for String {
    const EXPECTED: &'static str = "text";
    fn parse_text(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

impl CellValue for Decimal {
    const EXPECTED: &'static str = "a decimal number";
    fn parse_text(text: &str) -> Option<Self> {
        plain_decimal(text.as_bytes())
            .or_else(|| crate::domain::money::parse_decimal(text).map(|d| d.normalize()))
    }
    fn why_not(text: &str) -> Option<String> {
        // Too many digits or out of range: say so, rather than "not a decimal number".
        crate::domain::money::parse_decimal_exact(text)
            .err()
            .map(|e| e.to_string())
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl CellValue for bool {
    const EXPECTED: &'static str = "0/1 or true/false";
    fn parse_text(text: &str) -> Option<Self> {
        match text.trim() {
            "0" => return Some(false),
            "1" => return Some(true),
            _ => {}
        }
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => Some(true),
            "0" | "false" | "no" => Some(false),
            _ => None,
        }
    }
    fn render(&self) -> String {
        if *self { "1" } else { "0" }.to_owned()
    }
}

impl CellValue for NaiveDateTime {
    const EXPECTED: &'static str = "a date (YYYY-MM-DD[ HH:MM[:SS]], ISO 8601 or DD.MM.YYYY HH:MM)";
    fn parse_text(text: &str) -> Option<Self> {
        parse_xsolla_datetime(text)
    }
    fn render(&self) -> String {
        if self.time() == chrono::NaiveTime::MIN {
            self.format("%Y-%m-%d").to_string()
        } else {
            self.format("%Y-%m-%d %H:%M:%S").to_string()
        }
    }
}

/// The common form of an amount, `-?digits[.digits]` with at most 18 digits (and not a
/// negative zero), read straight into its mantissa (a registry has a dozen per row). Exact as
/// `parse_decimal`, which reads everything else (a `+`, blanks, exponents, `-0`, long
/// numbers).
fn plain_decimal(t: &[u8]) -> Option<Decimal> {
    let (negative, digits) = match t.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, t),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut mantissa: i64 = 0;
    let mut scale = 0;
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => mantissa = mantissa * 10 + i64::from(b - b'0'),
            b'.' if scale == 0 && i > 0 && i + 1 < digits.len() => scale = digits.len() - 1 - i,
            _ => return None,
        }
    }
    if mantissa == 0 {
        // `-0` and its kin are left to the general parser, which decides their sign.
        return (!negative).then_some(Decimal::ZERO);
    }
    let mantissa = if negative { -mantissa } else { mantissa };
    Some(Decimal::new(mantissa, scale as u32).normalize())
}

/// Parses every date form seen in docs/xsolla-api.md: `2021-10-20`, `2023-02-11 15:32:46`,
/// ISO 8601 with `T` and an offset (converted to UTC), and `22.09.2022 14:05` ([I], from the
/// internal SQL). The zone of offset-less values is unknown ([U]); they are kept as written.
pub fn parse_xsolla_datetime(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    if let Some(dt) = plain_datetime(t.as_bytes()) {
        return Some(dt);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.naive_utc());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, f) {
            return Some(dt);
        }
    }
    for f in ["%Y-%m-%d", "%d.%m.%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, f) {
            return d.and_hms_opt(0, 0, 0);
        }
    }
    None
}

/// The two common forms, `2023-02-11 15:32:46` and `2021-10-20`, read without chrono's
/// format machinery (the registry export has one per row). Only a valid date and time is
/// returned, which the formats below would read the same; anything else goes through them.
fn plain_datetime(t: &[u8]) -> Option<NaiveDateTime> {
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        t[r].iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let date = |t: &[u8]| -> Option<NaiveDate> {
        if t[4] != b'-' || t[7] != b'-' {
            return None;
        }
        NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
    };
    match t.len() {
        10 => date(t)?.and_hms_opt(0, 0, 0),
        19 if t[10] == b' ' && t[13] == b':' && t[16] == b':' => {
            date(t)?.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)
        }
        _ => None,
    }
}

/// A cell that did not parse: which column, what was there, what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column:?}: {problem}")]
pub struct CellError {
    /// CSV header (or JSON path when the record has no CSV form).
    pub column: String,
    /// What is wrong, with the offending value.
    pub problem: String,
}

impl CellError {
    fn invalid(col: &Column, value: &str, expected: &str) -> Self {
        CellError {
            column: col.label().to_owned(),
            problem: format!("value {value:?} is not {expected}"),
        }
    }
    fn missing(col: &Column) -> Self {
        CellError {
            column: col.label().to_owned(),
            problem: "required value is missing".to_owned(),
        }
    }
}

impl Column {
    /// The name users see in errors: the CSV header when there is one, else the JSON path.
    pub fn label(&self) -> &'static str {
        if self.csv.is_empty() {
            self.json
        } else {
            self.csv
        }
    }
}

/// Reads and converts one column; shared by the generated `from_lookup`.
#[doc(hidden)]
pub fn read_cell<T: CellValue>(
    col: &'static Column,
    text: Option<Cow<'_, str>>,
    required: bool,
) -> Result<Option<T>, CellError> {
    match text {
        None => {
            if required {
                Err(CellError::missing(col))
            } else {
                Ok(None)
            }
        }
        Some(t) => T::parse_text(&t)
            .map(Some)
            .ok_or_else(|| match T::why_not(&t) {
                Some(problem) => CellError {
                    column: col.label().to_owned(),
                    problem,
                },
                None => CellError::invalid(col, &t, T::EXPECTED),
            }),
    }
}

/// A borrowed view of one typed cell, for writers that walk a record generically.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellRef<'a> {
    /// Absent / empty.
    Null,
    /// Whole number.
    Int(i64),
    /// Text.
    Text(&'a str),
    /// Money or rate.
    Decimal(Decimal),
    /// Date-time.
    DateTime(NaiveDateTime),
    /// Flag.
    Flag(bool),
}

/// Conversion of a typed `Option<T>` field into a [`CellRef`].
pub trait AsCellRef {
    /// The borrowed view.
    fn cell_ref(&self) -> CellRef<'_>;
}
impl AsCellRef for Option<i64> {
    fn cell_ref(&self) -> CellRef<'_> {
        self.map_or(CellRef::Null, CellRef::Int)
    }
}
impl AsCellRef for Option<String> {
    fn cell_ref(&self) -> CellRef<'_> {
        self.as_deref().map_or(CellRef::Null, CellRef::Text)
    }
}
impl AsCellRef for Option<Decimal> {
    fn cell_ref(&self) -> CellRef<'_> {
        self.map_or(CellRef::Null, CellRef::Decimal)
    }
}
impl AsCellRef for Option<NaiveDateTime> {
    fn cell_ref(&self) -> CellRef<'_> {
        self.map_or(CellRef::Null, CellRef::DateTime)
    }
}
impl AsCellRef for Option<bool> {
    fn cell_ref(&self) -> CellRef<'_> {
        self.map_or(CellRef::Null, CellRef::Flag)
    }
}

/// Maps a [`Kind`] name to its Rust type inside `record!`.
#[macro_export]
#[doc(hidden)]
macro_rules! __kind_ty {
    (Int) => {
        i64
    };
    (Text) => {
        String
    };
    (Money) => {
        rust_decimal::Decimal
    };
    (Rate) => {
        rust_decimal::Decimal
    };
    (DateTime) => {
        chrono::NaiveDateTime
    };
    (Flag) => {
        bool
    };
}

/// Declares a record type: struct + column table + parsing from any lookup.
///
/// Every field is `Option<_>`: which ones are required depends on the endpoint and is checked
/// at parse time (`required` names), so one type serves registry, search and details rows.
#[macro_export]
macro_rules! record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident / $table:ident {
            $( $(#[$fmeta:meta])* $field:ident : $kind:ident = ($csv:literal, $json:literal), )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: Option<$crate::__kind_ty!($kind)>, )*
            /// Fields the API sent that this table does not know: JSON dotted path (or CSV
            /// header) → value as text. Kept so that nothing Xsolla adds is silently lost.
            pub extra: std::collections::BTreeMap<String, String>,
        }

        /// Column table of the record, in declaration order.
        pub const $table: &[$crate::xsolla::record::Column] = &[
            $( $crate::xsolla::record::Column {
                name: stringify!($field), csv: $csv, json: $json,
                kind: $crate::xsolla::record::Kind::$kind,
            }, )*
        ];

        impl $crate::xsolla::record::Record for $name {
            const COLUMNS: &'static [$crate::xsolla::record::Column] = $table;
            fn from_lookup<'a>(
                lookup: impl FnMut(usize, &'static $crate::xsolla::record::Column) -> Option<std::borrow::Cow<'a, str>>,
                required: &[&str],
            ) -> Result<Self, $crate::xsolla::record::CellError> {
                $name::from_lookup(lookup, required)
            }
            fn extra_mut(&mut self) -> &mut std::collections::BTreeMap<String, String> {
                &mut self.extra
            }
        }

        impl $name {
            /// Builds the record from a lookup that returns each column's text given its index
            /// in the table (`None` when absent, null or empty). `required` lists field names that must be present.
            pub fn from_lookup<'a>(
                mut lookup: impl FnMut(usize, &'static $crate::xsolla::record::Column) -> Option<std::borrow::Cow<'a, str>>,
                required: &[&str],
            ) -> Result<Self, $crate::xsolla::record::CellError> {
                let mut _i = 0usize;
                Ok($name {
                    $( $field: {
                        let col = &$table[_i];
                        _i += 1;
                        $crate::xsolla::record::read_cell::<$crate::__kind_ty!($kind)>(
                            col, lookup(_i - 1, col), required.contains(&col.name))?
                    }, )*
                    extra: std::collections::BTreeMap::new(),
                })
            }

            /// Calls `f` with each column and its typed value, in table order.
            pub fn for_each_cell(&self, mut f: impl FnMut(&'static $crate::xsolla::record::Column, $crate::xsolla::record::CellRef<'_>)) {
                use $crate::xsolla::record::AsCellRef;
                let mut _i = 0usize;
                $( f(&$table[_i], self.$field.cell_ref()); _i += 1; )*
            }
        }
    };
}

/// What every `record!` type offers to the generic JSON and CSV parsers.
pub trait Record: Sized {
    /// The column table.
    const COLUMNS: &'static [Column];
    /// See the generated inherent `from_lookup`.
    fn from_lookup<'a>(
        lookup: impl FnMut(usize, &'static Column) -> Option<Cow<'a, str>>,
        required: &[&str],
    ) -> Result<Self, CellError>;
    /// The unknown-fields map.
    fn extra_mut(&mut self) -> &mut BTreeMap<String, String>;
}

/// Looks up a dotted path in a JSON object.
pub fn json_path<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(root, |v, key| v.get(key))
}

/// The text of a JSON scalar; `None` for null, empty strings and missing values.
///
/// Objects and arrays come back as their JSON text so the cell parser reports them as a
/// type error instead of treating them as absent.
pub fn json_scalar_text(v: Option<&Value>) -> Option<Cow<'_, str>> {
    match v? {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        // With arbitrary_precision this is the number's original text, exactly.
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        other => Some(Cow::Owned(other.to_string())),
    }
}

/// The JSON paths of a column table, for [`json_extras`].
pub fn known_paths(columns: &[Column]) -> std::collections::HashSet<&'static str> {
    columns.iter().map(|c| c.json).collect()
}

/// Collects every non-null leaf of `root` whose path is not in `known`, as `path → text`.
pub fn json_extras(
    root: &Value,
    known: &std::collections::HashSet<&'static str>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, &mut String::new(), known, &mut out);
    out
}

fn walk(
    v: &Value,
    path: &mut String,
    known: &std::collections::HashSet<&'static str>,
    out: &mut BTreeMap<String, String>,
) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                walk(child, path, known, out);
                path.truncate(len);
            }
        }
        Value::Null => {}
        leaf => {
            if !known.contains(path.as_str()) {
                let text = match leaf {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.insert(path.clone(), text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reading of a decimal before the fast path: what `plain_decimal` must equal.
    fn slow(text: &str) -> Option<Decimal> {
        crate::domain::money::parse_decimal(text).map(|d| d.normalize())
    }

    fn same(text: &str) {
        let fast = Decimal::parse_text(text);
        let slow = slow(text);
        assert_eq!(fast, slow, "{text:?}");
        assert_eq!(
            fast.map(|d| d.to_string()),
            slow.map(|d| d.to_string()),
            "{text:?}"
        );
    }

    #[test]
    fn plain_decimals_read_as_the_general_parser_reads_them() {
        assert_eq!(plain_decimal(b"0.95"), Some(Decimal::new(95, 2)));
        assert_eq!(
            plain_decimal(b"-1.50").map(|d| d.to_string()).as_deref(),
            Some("-1.5")
        );
        for t in [
            "0.95",
            "-0.10",
            "64.1386407767",
            "100",
            "1.00",
            "007",
            "00.5",
            "-0",
            "0.00",
            "-0.0",
            "999999999999999999",
            "9999999999999999999",
            "99999999999999999.9",
            "1.",
            ".5",
            "-.5",
            "+1",
            " 1",
            "1 ",
            "1e3",
            "1.2.3",
            "-",
            "",
            "1,5",
            "0.0000000000000001",
            "12345678901234567890123456789",
        ] {
            same(t);
        }
        // What the fast path leaves to the general parser.
        assert_eq!(plain_decimal(b"0.00"), Some(Decimal::ZERO));
        for t in ["-0", "-0.00", "1e3", " 1", "+1", "9999999999999999999"] {
            assert_eq!(plain_decimal(t.as_bytes()), None, "{t:?}");
        }
    }

    proptest::proptest! {
        /// Any short text of digits, signs and points reads the same both ways.
        #[test]
        fn any_numeric_text_reads_the_same(t in "-?[0-9.]{0,20}") {
            same(&t);
        }
    }
}
