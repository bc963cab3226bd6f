//! Money helpers shared by every stage: ISO 4217 minor units and exact decimal parsing.
//!
//! Amounts are `rust_decimal::Decimal` everywhere; nothing here (or anywhere) goes through
//! a float, because a reconciliation that is off by a rounding error is a false alarm.

use rust_decimal::Decimal;
use std::str::FromStr;

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

/// Parses a decimal written as plain text (`"12.50"`, `"-3"`, `"1e-7"`), exactly.
///
/// JSON numbers reach this as their original text (serde_json `arbitrary_precision`),
/// so `64.1386407767` stays `64.1386407767`.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    Decimal::from_str(t)
        .ok()
        .or_else(|| Decimal::from_scientific(t).ok())
}

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
