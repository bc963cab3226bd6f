//! Cell-level parsing: amounts to exact scaled integers, dates through configured formats.
//!
//! Amounts become the `i128` mantissa of a `Decimal(38, 6)` directly, by integer arithmetic
//! on the digits: no float and no allocation per cell (the 10M-row ledger goes through here).

use crate::domain::frames::MONEY_SCALE;
use chrono::format::{Fixed, Item, Numeric, Parsed, StrftimeItems};
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use std::fmt::Write;

/// Most integer digits a `Decimal(38, 6)` holds.
const MAX_INT_DIGITS: usize = 38 - MONEY_SCALE;

/// How amounts are written in text cells.
#[derive(Debug, Clone)]
pub(crate) struct AmountFormat {
    pub decimal: u8,
    /// UTF-8 bytes of the thousands separator (empty: none).
    pub thousands: Vec<u8>,
}

impl AmountFormat {
    /// Plain `1234.5` (numbers from workbooks and Parquet, after formatting).
    pub fn plain() -> Self {
        AmountFormat {
            decimal: b'.',
            thousands: Vec::new(),
        }
    }
}

/// `text.trim()`, without decoding characters at either end when they are plain ASCII (a few
/// trims per cell were about 4% of the loads' samples).
#[inline]
pub(crate) fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// Parses an amount written as text into the mantissa at scale 6.
///
/// Accepts a leading `+`/`-`, a trailing `-` (`12.50-`) and accounting parentheses
/// (`(12.50)`); thousands groups must be of three digits. Currency symbols or codes are not
/// stripped: guessing which of `€12,50` / `12.50 USD` is meant is how money goes wrong.
pub(crate) fn parse_amount(text: &str, f: &AmountFormat) -> Result<i128, &'static str> {
    let b = text.as_bytes();
    if b.first().is_some_and(u8::is_ascii_graphic)
        && b.last().is_some_and(u8::is_ascii_graphic)
        && f.thousands.first() != Some(&f.decimal)
    {
        // Nearly every amount is written plainly: read in one pass
        // (`a_plain_amount_reads_as_in_full`).
        if let Some(m) = crate::domain::money::plain_mantissa(b, f.decimal, MONEY_SCALE) {
            return Ok(m);
        }
    }
    parse_amount_in_full(text, f)
}

/// [`parse_amount`] for any text: signs, accounting parentheses, thousands groups, and the
/// reason a text is no amount.
fn parse_amount_in_full(text: &str, f: &AmountFormat) -> Result<i128, &'static str> {
    let s = trim(text).as_bytes();
    if s.is_empty() {
        return Err("is empty");
    }
    let (neg, s) = strip_sign(s)?;
    if s.is_empty() {
        return Err("has no digits");
    }
    let (int, end) = integer_part(s, f)?;
    let (mantissa, decimals) = match s.get(end..) {
        // s[end] is the decimal separator.
        Some([_, frac @ ..]) => fraction_part(int, frac, &f.thousands)?,
        _ if end == 0 => return Err("has no digits"),
        _ => (int, 0),
    };
    let mantissa = mantissa * 10i128.pow((MONEY_SCALE - decimals) as u32);
    Ok(if neg { -mantissa } else { mantissa })
}

/// Takes off the one sign an amount may have: accounting parentheses, a leading `+`/`-` or
/// a trailing `-`. Whether it is negative, and the rest.
#[inline]
fn strip_sign(mut s: &[u8]) -> Result<(bool, &[u8]), &'static str> {
    let mut neg = false;
    let mut signs = 0;
    if s.len() >= 2 && s[0] == b'(' && s[s.len() - 1] == b')' {
        neg = true;
        signs += 1;
        s = trim_ascii(&s[1..s.len() - 1]);
    }
    match s.first() {
        Some(b'+') => {
            signs += 1;
            s = &s[1..];
        }
        Some(b'-') => {
            neg = !neg;
            signs += 1;
            s = &s[1..];
        }
        _ => {}
    }
    if let Some(b'-') = s.last() {
        neg = !neg;
        signs += 1;
        s = &s[..s.len() - 1];
    }
    if signs > 1 {
        return Err("has more than one sign");
    }
    Ok((neg, s))
}

/// Reads the digits before the decimal separator, checking the thousands groups and the
/// size: the integer value, and where it stopped (the end, or the decimal separator).
#[inline]
fn integer_part(s: &[u8], f: &AmountFormat) -> Result<(i128, usize), &'static str> {
    let ts = f.thousands.as_slice();
    let mut mantissa: i128 = 0;
    let mut int_digits = 0usize;
    let mut groups = ThousandsGroups::default();
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b.is_ascii_digit() {
            if int_digits > 0 || b != b'0' {
                int_digits += 1;
            }
            mantissa = mantissa * 10 + i128::from(b - b'0');
            groups.digit();
            i += 1;
        } else if !ts.is_empty() && s[i..].starts_with(ts) {
            groups.separator()?;
            i += ts.len();
        } else if b == f.decimal {
            break;
        } else {
            return Err(not_a_digit(s, i));
        }
        if int_digits > MAX_INT_DIGITS {
            return Err("is too large for Decimal(38, 6)");
        }
    }
    groups.end()?;
    Ok((mantissa, i))
}

/// Why byte `i` of an amount's integer part, neither digit nor separator, makes it no number.
#[cold]
fn not_a_digit(s: &[u8], i: usize) -> &'static str {
    let b = s[i];
    if (b == b'e' || b == b'E') && i > 0 && s[i - 1].is_ascii_digit() {
        SCIENTIFIC
    } else if b.is_ascii_alphabetic() && is_non_finite(s) {
        "is not a finite number"
    } else if b.is_ascii_alphabetic() || !b.is_ascii() || b"$%".contains(&b) {
        "is not a plain number (currency symbols and codes are not stripped)"
    } else {
        "is not a number"
    }
}

/// Where the thousands separators of an integer part fall: the first group has 1 to 3
/// digits, every later one exactly 3.
#[derive(Default)]
struct ThousandsGroups {
    /// Digits since the last separator.
    digits: usize,
    /// Separators seen.
    separators: usize,
}

impl ThousandsGroups {
    #[inline]
    fn digit(&mut self) {
        self.digits += 1;
    }

    #[inline]
    fn separator(&mut self) -> Result<(), &'static str> {
        let first = self.separators == 0;
        if (first && !(1..=3).contains(&self.digits)) || (!first && self.digits != 3) {
            return Err(MISPLACED_THOUSANDS);
        }
        self.separators += 1;
        self.digits = 0;
        Ok(())
    }

    /// The last group, once the integer part ends.
    #[inline]
    fn end(&self) -> Result<(), &'static str> {
        if self.separators > 0 && self.digits != 3 {
            return Err(MISPLACED_THOUSANDS);
        }
        Ok(())
    }
}

const MISPLACED_THOUSANDS: &str = "has misplaced thousands separators";

/// Appends the decimals after the separator to `mantissa`: the result and how many decimals
/// it holds (at most 6; further decimals must be zeros, money is never rounded).
#[inline]
fn fraction_part(
    mut mantissa: i128,
    frac: &[u8],
    thousands: &[u8],
) -> Result<(i128, usize), &'static str> {
    if frac.is_empty() {
        return Err("ends with the decimal separator");
    }
    let mut decimals = 0usize;
    for (k, &b) in frac.iter().enumerate() {
        if (b == b'e' || b == b'E') && k > 0 {
            return Err(SCIENTIFIC);
        }
        if !b.is_ascii_digit() {
            return Err(if thousands.contains(&b) || b == b'.' || b == b',' {
                "has separators after the decimal separator"
            } else {
                "is not a number"
            });
        }
        if decimals < MONEY_SCALE {
            mantissa = mantissa * 10 + i128::from(b - b'0');
            decimals += 1;
        } else if b != b'0' {
            return Err("has more than 6 decimals (money is kept to 6, exactly)");
        }
    }
    Ok((mantissa, decimals))
}

/// Why scientific notation is refused in a ledger rather than read: a spreadsheet writes
/// `1.23457E+11` for a number it has already rounded to 6 significant digits, so the text
/// is not the amount. (API JSON is different: see [`crate::domain::money::parse_decimal_exact`].)
const SCIENTIFIC: &str =
    "is in scientific notation (a spreadsheet may have rounded it; export the full amount)";

fn is_non_finite(s: &[u8]) -> bool {
    let t = std::str::from_utf8(s).unwrap_or("").to_ascii_lowercase();
    matches!(t.as_str(), "nan" | "inf" | "infinity" | "+inf" | "-inf")
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A float from a workbook or a Parquet float column, as a mantissa at scale 6.
///
/// Rust's `{}` for `f64` prints the shortest decimal that converts back to the same double,
/// never in exponent form. A value typed into a spreadsheet has at most 15 significant
/// digits, and two decimals of at most 15 significant digits never share the nearest double
/// (15 ≤ `f64::DIGITS`), so that shortest text *is* the typed value: `12.1` comes back as
/// `12.1`, not `12.0999999999999996447`. Values computed by formulas may print with more
/// than 6 decimals; those are rejected rather than rounded silently.
pub(crate) fn amount_from_f64(f: f64, buf: &mut String) -> Result<i128, &'static str> {
    if !f.is_finite() {
        return Err("is not a finite number");
    }
    buf.clear();
    let _ = write!(buf, "{f}");
    parse_amount(buf, &AmountFormat::plain())
}

/// Rescales a decimal mantissa of scale `scale` to scale 6, exactly.
pub(crate) fn rescale(v: i128, scale: usize) -> Result<i128, &'static str> {
    if scale <= MONEY_SCALE {
        v.checked_mul(10i128.pow((MONEY_SCALE - scale) as u32))
            .ok_or("is too large for Decimal(38, 6)")
    } else {
        let div = 10i128
            .checked_pow((scale - MONEY_SCALE) as u32)
            .ok_or("has an unsupported scale")?;
        if v % div != 0 {
            return Err("has more than 6 decimals (money is kept to 6, exactly)");
        }
        Ok(v / div)
    }
}

/// Whether a mantissa at scale 6 fits `Decimal(38, 6)`.
pub(crate) fn fits(v: i128) -> bool {
    v.unsigned_abs() < 10u128.pow(38)
}

/// Upper-cases a currency code into `out` and checks it is three ASCII letters.
pub(crate) fn currency(text: &str) -> Result<[u8; 3], &'static str> {
    let t = trim(text).as_bytes();
    if t.len() != 3 || !t.iter().all(u8::is_ascii_alphabetic) {
        return Err("is not a 3-letter ISO 4217 code");
    }
    Ok([
        t[0].to_ascii_uppercase(),
        t[1].to_ascii_uppercase(),
        t[2].to_ascii_uppercase(),
    ])
}

/// Parses an integer id (`12345`; `12345.0` from a workbook is not text and never gets here).
pub(crate) fn parse_id(text: &str) -> Result<i64, &'static str> {
    trim(text)
        .parse::<i64>()
        .map_err(|_| "is not an integer transaction id")
}

/// What a date format can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateKind {
    Date,
    NaiveDateTime,
    Offset,
}

/// The configured date formats, pre-parsed once, the zone naive values are in, and the
/// reporting zone whose day a date-time is placed on.
#[derive(Debug, Clone)]
pub(crate) struct DateParser {
    formats: Vec<(Vec<Item<'static>>, DateKind)>,
    /// For each format, whether it is exactly `%Y-%m-%d` (read without chrono's machinery:
    /// most ledgers have one such date per row).
    ymd: Vec<bool>,
    pub tz: Tz,
    /// `run.reporting_timezone`; the ledger's zone until the job says otherwise.
    pub reporting: Tz,
}

impl DateParser {
    /// Pre-parses `formats`; an invalid format is an error naming it.
    pub fn new(formats: &[String], tz: Tz) -> Result<Self, String> {
        let mut out = Vec::with_capacity(formats.len());
        for f in formats {
            let items = StrftimeItems::new(f)
                .parse_to_owned()
                .map_err(|e| format!("date format {f:?}: {e}"))?;
            let mut kind = DateKind::Date;
            for it in &items {
                match it {
                    Item::Fixed(
                        Fixed::TimezoneOffset
                        | Fixed::TimezoneOffsetColon
                        | Fixed::TimezoneOffsetDoubleColon
                        | Fixed::TimezoneOffsetTripleColon
                        | Fixed::TimezoneOffsetColonZ
                        | Fixed::TimezoneOffsetZ
                        | Fixed::RFC3339
                        | Fixed::RFC2822,
                    ) => kind = DateKind::Offset,
                    Item::Numeric(
                        Numeric::Hour | Numeric::Hour12 | Numeric::Minute | Numeric::Second,
                        _,
                    ) if kind == DateKind::Date => kind = DateKind::NaiveDateTime,
                    _ => {}
                }
            }
            out.push((items, kind));
        }
        Ok(DateParser {
            ymd: formats.iter().map(|f| f == "%Y-%m-%d").collect(),
            formats: out,
            tz,
            reporting: tz,
        })
    }

    /// The booking date of a text cell: the first format that reads the whole text wins.
    pub fn parse(&self, text: &str) -> Result<NaiveDate, &'static str> {
        let t = trim(text);
        if t.is_empty() {
            return Err("is empty");
        }
        for (k, (items, kind)) in self.formats.iter().enumerate() {
            if self.ymd[k] {
                if let Some(d) = plain_ymd(t.as_bytes()) {
                    return Ok(d);
                }
            }
            let mut p = Parsed::new();
            if chrono::format::parse(&mut p, t, items.iter()).is_err() {
                continue;
            }
            let r = match kind {
                DateKind::Date => p.to_naive_date().ok(),
                DateKind::NaiveDateTime => p
                    .to_naive_datetime_with_offset(0)
                    .ok()
                    .map(|d| self.date_of_local(d)),
                DateKind::Offset => match p.to_datetime() {
                    Ok(d) => Some(self.date_of_utc(d.naive_utc())?),
                    Err(_) => None,
                },
            };
            if let Some(d) = r {
                return Ok(d);
            }
        }
        Err("matches none of the date_formats")
    }

    /// The reporting-zone date of a local time of the ledger's zone (a date-only value never
    /// gets here: it is a reporting day as written).
    pub fn date_of_local(&self, t: chrono::NaiveDateTime) -> NaiveDate {
        crate::domain::window::convert_local(t, self.tz, self.reporting).date()
    }

    /// The date of an instant (UTC) in the reporting zone.
    ///
    /// Checked: at the edge of chrono's range (`+262142-12-31T23:59:59Z` in a zone east of
    /// UTC) the local time does not exist, and `from_utc_datetime(..).date_naive()` panics.
    pub fn date_of_utc(&self, utc: chrono::NaiveDateTime) -> Result<NaiveDate, &'static str> {
        use chrono::Offset;
        let offset = self.reporting.offset_from_utc_datetime(&utc).fix();
        utc.checked_add_offset(offset)
            .map(|d| d.date())
            .ok_or("is out of the supported date range")
    }
}

/// `YYYY-MM-DD` with four-digit year: the date chrono's `%Y-%m-%d` reads from it. None for
/// anything else (chrono then reads the text as always, and fails or not the same way).
#[inline]
fn plain_ymd(t: &[u8]) -> Option<NaiveDate> {
    if t.len() != 10 || t[4] != b'-' || t[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        t[r].iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

/// Days since 1970-01-01, the physical value of a polars `Date`.
pub(crate) fn epoch_days(d: NaiveDate) -> i32 {
    const EPOCH_CE_DAYS: i32 = 719_163;
    chrono::Datelike::num_days_from_ce(&d) - EPOCH_CE_DAYS
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn trim_is_str_trim() {
        for t in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\u{a0}a\u{3000}",
            "é",
            "a b",
            "\ta\n",
            "\u{feff}x",
        ] {
            assert_eq!(trim(t), t.trim(), "{t:?}");
        }
    }

    /// The `%Y-%m-%d` shortcut reads exactly what chrono's format reads, and leaves every
    /// other text to it (same date, same refusal).
    #[test]
    fn plain_dates_read_as_chrono_reads_them() {
        let fast = DateParser::new(&["%Y-%m-%d".to_owned()], Tz::UTC).unwrap();
        let texts = [
            "2026-10-01",
            " 2026-10-31 ",
            "2024-02-29",
            "2023-02-29",
            "2026-13-01",
            "2026-00-10",
            "0000-01-01",
            "9999-12-31",
            "2026-1-01",
            "2026-10-1",
            "+2026-10-01",
            "2026/10/01",
            "2026-10-01x",
            "20261001",
            "２026-10-01",
        ];
        for t in texts {
            let by_chrono = NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d")
                .map_err(|_| "matches none of the date_formats");
            assert_eq!(fast.parse(t), by_chrono, "{t:?}");
        }
        // A later format still gets what the first does not read.
        let two = DateParser::new(&["%Y-%m-%d".to_owned(), "%d.%m.%Y".to_owned()], Tz::UTC);
        let d = two.unwrap().parse("01.10.2026").unwrap();
        assert_eq!(d, NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
    }

    #[test]
    fn a_plain_amount_reads_as_in_full() {
        let formats = [
            AmountFormat::plain(),
            AmountFormat {
                decimal: b',',
                thousands: b".".to_vec(),
            },
            AmountFormat {
                decimal: b'.',
                thousands: b",".to_vec(),
            },
            AmountFormat {
                decimal: b',',
                thousands: " ".as_bytes().to_vec(),
            },
        ];
        let texts = [
            "0",
            "-0",
            "0.99",
            "-12.5",
            "12,5",
            "-12,50",
            "1234567.123456",
            "1234567.1234567",
            "1234567.1234560",
            "123456789012345678",
            "1234567890123456789",
            "99999999999.999999",
            "999999999999.999999",
            "18446744073709551615",
            "12.",
            ".5",
            "-",
            "--5",
            "+5",
            "5-",
            "(5)",
            "1,234.56",
            "1.234,56",
            "1 234,56",
            "12.3.4",
            "12,3,4",
            "1e5",
            "1.5e3",
            "0x10",
            " 12.5",
            "12.5 ",
            "12.5\t",
            "００",
            "€5",
            "5€",
            "",
            "-.5",
            "00012.340",
            "-000",
        ];
        for f in &formats {
            for t in texts {
                assert_eq!(
                    parse_amount(t, f),
                    parse_amount_in_full(t, f),
                    "{t:?} with decimal {:?}",
                    f.decimal as char
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_short_text_of_amount_characters_reads_as_in_full(t in "[-+0-9.,() e]{0,24}") {
            for f in [AmountFormat::plain(), AmountFormat { decimal: b',', thousands: b".".to_vec() }] {
                proptest::prop_assert_eq!(parse_amount(&t, &f), parse_amount_in_full(&t, &f));
            }
        }
    }
}
