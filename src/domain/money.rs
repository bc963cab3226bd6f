//! Money helpers shared by every stage: ISO 4217 minor units and exact decimal parsing.
//!
//! Amounts are `rust_decimal::Decimal` everywhere; nothing here (or anywhere) goes through
//! a float, because a reconciliation that is off by a rounding error is a false alarm.

use rust_decimal::Decimal;

/// ISO 4217 minor-unit exponents for the currencies this job is likely to meet.
///
/// Why a table and not a crate: the list is short, stable and must be exact; a currency
/// missing here falls back to 2 decimals (the most common exponent) and is reported by
/// [`is_known_currency`] so callers can warn instead of guessing silently.
const EXPONENTS: &[(&str, u32)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("KZT", 2),
    ("LYD", 3),
    ("MXN", 2),
    ("MYR", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PEN", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("QAR", 2),
    ("RON", 2),
    ("RUB", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("UYU", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// Number of minor-unit digits for `currency` (JPY 0, USD 2, KWD 3); 2 when unknown.
pub fn exponent(currency: &str) -> u32 {
    exponent_if_known(currency).unwrap_or(2)
}

/// Minor-unit digits, or `None` for a currency not in the table.
pub fn exponent_if_known(currency: &str) -> Option<u32> {
    let code = currency.trim().to_ascii_uppercase();
    EXPONENTS
        .binary_search_by(|(c, _)| (*c).cmp(code.as_str()))
        .ok()
        .map(|i| EXPONENTS[i].1)
}

/// Whether `currency` is in the exponent table.
pub fn is_known_currency(currency: &str) -> bool {
    exponent_if_known(currency).is_some()
}

/// Rounds an amount to the currency's minor unit, half away from zero (the usual
/// commercial rounding; banker's rounding would disagree with most ledgers).
pub fn round_to_currency(amount: Decimal, currency: &str) -> Decimal {
    amount.round_dp_with_strategy(
        exponent(currency),
        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
    )
}

/// Formats an amount with exactly the currency's number of decimals (`1234.5 USD` → `1234.50`).
pub fn format_amount(amount: Decimal, currency: &str) -> String {
    let dp = exponent(currency);
    let mut a = round_to_currency(amount, currency);
    a.rescale(dp);
    a.to_string()
}

/// Why a decimal text was refused. Every variant carries the text (cut to 64 characters),
/// so an error message always names the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Empty or only spaces.
    #[error("the value is empty")]
    Empty,
    /// Not a decimal number at all (`abc`, `1,5`, `1_000`, `NaN`, `inf`).
    #[error("value {value:?} is not a decimal number")]
    NotANumber {
        /// The text, cut.
        value: String,
    },
    /// More significant digits (or decimals) than `Decimal` keeps; reading it would round.
    #[error("value {value:?} has more digits than an exact decimal holds (28 significant digits, 28 decimals); it would be rounded")]
    TooPrecise {
        /// The text, cut.
        value: String,
    },
    /// Larger than `Decimal` holds (about ±7.9e28), or an exponent beyond any amount.
    #[error("value {value:?} is out of range for an exact decimal (about ±7.9e28)")]
    OutOfRange {
        /// The text, cut.
        value: String,
    },
}

/// Largest exponent magnitude looked at; anything beyond cannot be an exact `Decimal` anyway.
const MAX_EXPONENT: u32 = 64;

fn cut_value(t: &str) -> String {
    const MAX: usize = 64;
    match t.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_owned(),
    }
}

impl MoneyError {
    fn not_a_number(t: &str) -> Self {
        MoneyError::NotANumber {
            value: cut_value(t),
        }
    }

    fn too_precise(t: &str) -> Self {
        MoneyError::TooPrecise {
            value: cut_value(t),
        }
    }

    fn out_of_range(t: &str) -> Self {
        MoneyError::OutOfRange {
            value: cut_value(t),
        }
    }

    /// Too many decimals when the exponent (or a division) is negative, too large otherwise.
    fn beyond(negative: bool, t: &str) -> Self {
        if negative {
            Self::too_precise(t)
        } else {
            Self::out_of_range(t)
        }
    }
}

/// Parses a decimal written as plain text (`"12.50"`, `"-3"`, `"1e-7"`), exactly, or says why not.
///
/// Accepted: `[+-]digits[.digits]`, optionally followed by an exponent `e`/`E[+-]digits`
/// (JSON allows exponents, and serde_json's `arbitrary_precision` hands us the number's text
/// as sent). Scientific notation is accepted **only when the result is exact**: `1.5E-2` is
/// `0.015`, `1e3` is `1000`, but `1e-29` (29 decimals) or `1e999` are errors, never rounded
/// or saturated. The same holds without an exponent: more than 28 significant digits or 28
/// decimals is [`MoneyError::TooPrecise`] (rust_decimal's `FromStr` would round it silently),
/// beyond ±7.9e28 is [`MoneyError::OutOfRange`]. `NaN`, `inf`, `1_000`, `1,5` and hex are
/// [`MoneyError::NotANumber`].
pub fn parse_decimal_exact(text: &str) -> Result<Decimal, MoneyError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(MoneyError::Empty);
    }
    let parts = DecimalText::split(t).ok_or_else(|| MoneyError::not_a_number(t))?;
    let exp: i64 = match parts.exponent {
        None => 0,
        Some(e) => {
            let (negative, magnitude) =
                exponent_parts(e).ok_or_else(|| MoneyError::not_a_number(t))?;
            if magnitude > MAX_EXPONENT {
                return parts.beyond_any_exponent(negative, t);
            }
            let v = i64::from(magnitude);
            if negative {
                -v
            } else {
                v
            }
        }
    };
    let d = parts.exact_base(t)?;
    if exp == 0 {
        return Ok(d);
    }
    scale_by_power_of_ten(d, exp).ok_or_else(|| MoneyError::beyond(exp < 0, t))
}

/// A decimal text cut into its parts: `base` is `[+-]int[.frac]`, `exponent` what follows
/// the `e`. Only ever borrows from the text: this runs on every money cell of a registry.
struct DecimalText<'t> {
    base: &'t str,
    int: &'t str,
    frac: &'t str,
    exponent: Option<&'t str>,
}

impl<'t> DecimalText<'t> {
    /// The parts of `t`, or None when the plain part is not sign, digits, at most one point
    /// and at least one digit.
    #[inline]
    fn split(t: &'t str) -> Option<Self> {
        let (base, exponent) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], Some(&t[i + 1..])),
            None => (t, None),
        };
        let digits = base.strip_prefix(['+', '-']).unwrap_or(base);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() && frac.is_empty() || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        Some(DecimalText {
            base,
            int,
            frac,
            exponent,
        })
    }

    /// The answer for an exponent beyond [`MAX_EXPONENT`]: zero times any power of ten is
    /// still zero, exactly; anything else cannot be an exact `Decimal`.
    fn beyond_any_exponent(&self, negative: bool, t: &str) -> Result<Decimal, MoneyError> {
        if self.int.bytes().chain(self.frac.bytes()).all(|b| b == b'0') {
            return Ok(Decimal::ZERO);
        }
        Err(MoneyError::beyond(negative, t))
    }

    /// The plain part as a `Decimal`, checked that nothing was rounded.
    #[inline]
    fn exact_base(&self, t: &str) -> Result<Decimal, MoneyError> {
        let significant_int = self.int.trim_start_matches('0').len();
        let plain = self.base.strip_suffix('.').unwrap_or(self.base);
        let d = Decimal::from_str_exact(plain).map_err(|_| {
            if significant_int > 28 {
                MoneyError::out_of_range(t)
            } else {
                MoneyError::too_precise(t)
            }
        })?;
        // Every decimal written is still there.
        if d.scale() as usize != self.frac.len() {
            return Err(MoneyError::too_precise(t));
        }
        Ok(d)
    }
}

/// The sign and magnitude of an exponent's text (`+7`, `-02`), or None when it is not
/// `[+-]digits`. A magnitude too long to read is `u32::MAX`, beyond any exact amount.
#[inline]
fn exponent_parts(e: &str) -> Option<(bool, u32)> {
    let body = e.strip_prefix(['+', '-']).unwrap_or(e);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let body = body.trim_start_matches('0');
    let magnitude = if body.is_empty() {
        0
    } else if body.len() > 4 {
        u32::MAX
    } else {
        body.parse::<u32>().unwrap_or(u32::MAX)
    };
    Some((e.starts_with('-'), magnitude))
}

/// `d × 10^exp`, exactly, or None when the result does not fit a `Decimal` without rounding.
fn scale_by_power_of_ten(d: Decimal, exp: i64) -> Option<Decimal> {
    if d.is_zero() {
        return Some(Decimal::ZERO);
    }
    let scale = i64::from(d.scale());
    if exp < 0 {
        // Trailing zeros can absorb part of a negative exponent (`100e-29`).
        let mut new_scale = scale - exp;
        let mut m = d;
        if new_scale > i64::from(Decimal::MAX_SCALE) {
            m = d.normalize();
            new_scale = i64::from(m.scale()) - exp;
        }
        if new_scale > i64::from(Decimal::MAX_SCALE) {
            // Still too small: only an integer mantissa with zeros could shrink further.
            let mut mant = m.mantissa();
            while new_scale > i64::from(Decimal::MAX_SCALE) && mant % 10 == 0 {
                mant /= 10;
                new_scale -= 1;
            }
            if new_scale > i64::from(Decimal::MAX_SCALE) {
                return None;
            }
            return Decimal::try_from_i128_with_scale(mant, new_scale as u32).ok();
        }
        Decimal::try_from_i128_with_scale(m.mantissa(), u32::try_from(new_scale).ok()?).ok()
    } else if exp <= scale {
        Decimal::try_from_i128_with_scale(d.mantissa(), (scale - exp) as u32).ok()
    } else {
        let k = u32::try_from(exp - scale).ok()?;
        let factor = 10i128.checked_pow(k)?;
        let mant = d.mantissa().checked_mul(factor)?;
        Decimal::try_from_i128_with_scale(mant, 0).ok()
    }
}

/// [`parse_decimal_exact`], for callers that only need "a number or not" (they report the
/// value themselves). Never rounds: anything [`parse_decimal_exact`] refuses is `None`.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    parse_decimal_exact(text).ok()
}

/// The mantissa at `scale` of `[-]digits[<decimal>digits]` (trimmed; at most 18 integer digits
/// and `scale` decimals, so it is exact and fits), or None for any other text, which each
/// loader reads (or refuses, saying why) in full. The registry's amounts (`decimal` `.`) and
/// the ledger's plain ones are read here: nearly every amount of either file is written so.
///
/// One pass over the digits into a `u64` when there are at most 19 (nearly every amount), and
/// no overflow check on the last step when it cannot overflow: four amounts a registry row,
/// and the two-pass reading with a checked 128-bit multiply cost about 65 instructions more
/// each (0.27 G at a million rows).
#[inline]
pub fn plain_mantissa(text: &[u8], decimal: u8, scale: usize) -> Option<i128> {
    let t = text.trim_ascii();
    let (neg, t) = match t.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, t),
    };
    let mut m: u64 = 0;
    let mut k = 0;
    while k < t.len() && t[k].is_ascii_digit() && k < 19 {
        m = m * 10 + u64::from(t[k] - b'0');
        k += 1;
    }
    let int_len = k;
    let mut frac_len = 0;
    if k < t.len() && t[k] == decimal && int_len <= 18 {
        k += 1;
        let start = k;
        while k < t.len() && t[k].is_ascii_digit() && k - 1 < 19 {
            m = m * 10 + u64::from(t[k] - b'0');
            k += 1;
        }
        frac_len = k - start;
        if frac_len == 0 {
            return None;
        }
    }
    if k < t.len() {
        // More than 19 digits, or not a plain number: the 128-bit reading or none.
        return plain_mantissa_wide(t, neg, decimal, scale);
    }
    if int_len == 0 || int_len > 18 || frac_len > scale {
        return None;
    }
    let pow = *POW10.get(scale - frac_len)?;
    // m < 10^19 and pow <= 10^19 cannot overflow an i128; a larger scale is checked.
    let m = if scale - frac_len <= 19 {
        i128::from(m) * pow
    } else {
        i128::from(m).checked_mul(pow)?
    };
    Some(if neg { -m } else { m })
}

/// [`plain_mantissa`] of the unsigned, trimmed `t` with more than 19 digits, in 128 bits.
#[cold]
fn plain_mantissa_wide(t: &[u8], neg: bool, decimal: u8, scale: usize) -> Option<i128> {
    let (int, frac) = match t.iter().position(|&b| b == decimal) {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, &[][..]),
    };
    if int.is_empty()
        || int.len() > 18
        || frac.len() > scale
        || (frac.is_empty() && int.len() < t.len())
    {
        return None;
    }
    let mut m: i128 = 0;
    for &b in int.iter().chain(frac) {
        if !b.is_ascii_digit() {
            return None;
        }
        m = m * 10 + i128::from(b - b'0');
    }
    // Too large for the column: the general reading says so.
    let m = m.checked_mul(*POW10.get(scale - frac.len())?)?;
    Some(if neg { -m } else { m })
}

/// 10^k for every scale a decimal column can have.
const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut k = 1;
    while k < 39 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(EXPONENTS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn exponents_of_the_three_shapes() {
        assert_eq!(exponent("JPY"), 0);
        assert_eq!(exponent("usd"), 2);
        assert_eq!(exponent("KWD"), 3);
        assert_eq!(exponent_if_known("XXX"), None);
        assert_eq!(exponent("XXX"), 2);
    }

    #[test]
    fn parse_is_exact() {
        let a = parse_decimal("0.1").unwrap();
        let b = parse_decimal("0.2").unwrap();
        assert_eq!(a + b, parse_decimal("0.3").unwrap());
        assert_eq!(
            parse_decimal("64.1386407767").unwrap().to_string(),
            "64.1386407767"
        );
        assert_eq!(parse_decimal("1e-7").unwrap().to_string(), "0.0000001");
        assert_eq!(parse_decimal(""), None);
        assert_eq!(parse_decimal("abc"), None);
    }

    #[test]
    fn scientific_notation_is_exact_or_refused() {
        let ok = |s: &str| parse_decimal_exact(s).unwrap().to_string();
        assert_eq!(ok("1e3"), "1000");
        assert_eq!(ok("1.5E-2"), "0.015");
        assert_eq!(ok("-2.50e+1"), "-25.0");
        assert_eq!(ok("100e-29"), "0.0000000000000000000000000010");
        assert_eq!(ok("0e999"), "0");
        assert_eq!(ok("1e28"), "10000000000000000000000000000");
        assert_eq!(ok("12.5e0"), "12.5");
        assert_eq!(ok("12.5E-000"), "12.5");
        assert_eq!(ok("7e+00002"), "700");
        let err = |s: &str| parse_decimal_exact(s).unwrap_err();
        assert!(matches!(err("1e-29"), MoneyError::TooPrecise { .. }));
        assert!(matches!(err("1e999"), MoneyError::OutOfRange { .. }));
        assert!(matches!(err("1e29"), MoneyError::OutOfRange { .. }));
        assert!(matches!(
            err("1e-999999999999"),
            MoneyError::TooPrecise { .. }
        ));
        assert!(err("1e999").to_string().contains("\"1e999\""));
    }

    #[test]
    fn too_many_digits_is_an_error_not_a_rounding() {
        // 28 significant digits: exact.
        let s28 = "1234567890123456789012345678";
        assert_eq!(parse_decimal_exact(s28).unwrap().to_string(), s28);
        assert_eq!(
            parse_decimal_exact("0.1234567890123456789012345678")
                .unwrap()
                .to_string(),
            "0.1234567890123456789012345678"
        );
        // 29 decimals: rust_decimal's FromStr would round; we refuse and name the value.
        let e = parse_decimal_exact("0.12345678901234567890123456789").unwrap_err();
        assert!(matches!(e, MoneyError::TooPrecise { .. }), "{e}");
        assert!(
            e.to_string().contains("0.12345678901234567890123456789"),
            "{e}"
        );
        // 29 significant digits fit while the mantissa is under 2^96 (≈ 7.9e28) …
        assert_eq!(
            parse_decimal_exact("1.2345678901234567890123456789")
                .unwrap()
                .to_string(),
            "1.2345678901234567890123456789"
        );
        // … and not above it.
        let e = parse_decimal_exact("9.2345678901234567890123456789").unwrap_err();
        assert!(matches!(e, MoneyError::TooPrecise { .. }), "{e}");
        let e = parse_decimal_exact("123456789012345678901234567890").unwrap_err();
        assert!(matches!(e, MoneyError::OutOfRange { .. }), "{e}");
        assert_eq!(parse_decimal("99999999999999999999999999999999999"), None);
    }

    #[test]
    fn non_numbers_are_named() {
        for s in [
            "NaN",
            "nan",
            "inf",
            "-Infinity",
            "1_000",
            "1,5",
            "0x10",
            "1e",
            "e5",
            "--1",
            "+-1",
            "1.2.3",
            ".",
            "-",
            "1e+",
            "١٢",
        ] {
            let e = parse_decimal_exact(s).unwrap_err();
            assert!(matches!(e, MoneyError::NotANumber { .. }), "{s}: {e}");
            assert!(e.to_string().contains(s), "{e}");
        }
        assert_eq!(parse_decimal_exact("  "), Err(MoneyError::Empty));
        assert_eq!(parse_decimal_exact(".5").unwrap().to_string(), "0.5");
        assert_eq!(parse_decimal_exact("+5.").unwrap().to_string(), "5");
        let long = "x".repeat(1000);
        assert!(parse_decimal_exact(&long).unwrap_err().to_string().len() < 200);
    }

    proptest::proptest! {
        /// Any decimal text with at most 28 significant digits (and 28 decimals) reads back
        /// to the very same text.
        #[test]
        fn up_to_28_digits_round_trip(
            neg in proptest::bool::ANY,
            int in "[1-9][0-9]{0,27}|0",
            frac in "[0-9]{0,28}",
        ) {
            let sig = int.trim_start_matches('0').len() + frac.len();
            let sig = if int == "0" { frac.trim_start_matches('0').len() } else { sig };
            proptest::prop_assume!(sig <= 28 && frac.len() <= 28);
            let zero = int == "0" && frac.bytes().all(|b| b == b'0');
            let text = format!(
                "{}{int}{}{frac}",
                if neg && !zero { "-" } else { "" },
                if frac.is_empty() { "" } else { "." }
            );
            let d = parse_decimal_exact(&text).unwrap();
            proptest::prop_assert_eq!(d.to_string(), text);
        }

        /// Scientific notation that fits is read as the exact value rust_decimal's own
        /// (exact in this range) `from_scientific` gives, exponent zeros and signs included.
        #[test]
        fn scientific_in_range_is_exact(
            m in "-?[1-9][0-9]{0,9}(\\.[0-9]{1,9})?",
            e in -8i32..=8,
            e_form in 0usize..3,
        ) {
            let exp = match e_form {
                0 => format!("e{e}"),
                1 => format!("E{}{:03}", if e < 0 { "-" } else { "+" }, e.abs()),
                _ => format!("e{}{}", if e < 0 { "-" } else { "" }, e.abs()),
            };
            let text = format!("{m}{exp}");
            let want = Decimal::from_scientific(&text.replace("E+", "E")).unwrap();
            proptest::prop_assert_eq!(parse_decimal_exact(&text).unwrap(), want);
        }

        /// Arbitrary text never panics, and whatever is accepted is exact: it reads back to
        /// a value that prints to an equal number.
        #[test]
        fn any_text_is_refused_or_exact(s in "[-+0-9.eE]{0,40}") {
            if let Ok(d) = parse_decimal_exact(&s) {
                let again = parse_decimal_exact(&d.to_string()).unwrap();
                proptest::prop_assert_eq!(again, d);
            }
        }
    }

    #[test]
    fn rounding_and_formatting() {
        let d = parse_decimal("1234.5").unwrap();
        assert_eq!(format_amount(d, "USD"), "1234.50");
        assert_eq!(format_amount(d, "JPY"), "1235");
        assert_eq!(
            format_amount(parse_decimal("0.0005").unwrap(), "KWD"),
            "0.001"
        );
        assert_eq!(format_amount(parse_decimal("-2.5").unwrap(), "JPY"), "-3");
    }
}
