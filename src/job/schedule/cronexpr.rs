//! Cron expressions: the standard 5-field dialect translated to the `cron` crate's, and local
//! fire times turned into UTC instants with a fixed rule for DST gaps and overlaps.
//!
//! `cron` 0.17 needs a seconds field (6 or 7 fields) and numbers weekdays 1 = Sunday … 7 =
//! Saturday, while standard cron numbers them 0 = Sunday … 6 = Saturday (7 = Sunday too). A
//! 5-field expression therefore gets `0` seconds prepended and its weekday field rewritten as
//! an explicit list in the crate's numbering, so `0 9 * * 1-5` means Monday to Friday as
//! every cron user expects. 6/7-field expressions are passed through in the crate's own
//! dialect (weekday 1 = Sunday).
//!
//! When both day-of-month and day-of-week are restricted, `cron` requires both to match (AND),
//! unlike Vixie cron (OR).

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// Translates an expression to what `cron::Schedule::from_str` accepts, or says why it cannot.
pub(crate) fn to_crate_dialect(expr: &str) -> Result<String, String> {
    let trimmed = expr.trim();
    if trimmed.starts_with('@') {
        return Ok(trimmed.to_owned());
    }
    let fields: Vec<&str> = trimmed.split_whitespace().collect();
    match fields.len() {
        5 => {
            let dow = translate_dow(fields[4])?;
            Ok(format!(
                "0 {} {} {} {} {}",
                fields[0], fields[1], fields[2], fields[3], dow
            ))
        }
        6 | 7 => Ok(fields.join(" ")),
        n => Err(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week), or 6-7 with seconds first; found {n}"
        )),
    }
}

/// Standard weekday field (0-7, SUN-SAT, lists, ranges, steps) to the crate's 1-7 list.
fn translate_dow(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_owned());
    }
    let mut days = [false; 7];
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => {
                let s: u32 = s
                    .parse()
                    .map_err(|_| format!("bad step {s:?} in day-of-week {field:?}"))?;
                if s == 0 {
                    return Err(format!("step 0 in day-of-week {field:?}"));
                }
                (b, Some(s))
            }
            None => (item, None),
        };
        let (lo, hi) = if base == "*" {
            (0, 6)
        } else if let Some((a, b)) = base.split_once('-') {
            (dow_value(a, field)?, dow_value(b, field)?)
        } else {
            let v = dow_value(base, field)?;
            // `a/n` runs from a to the end of the week, as in Vixie cron.
            (v, if step.is_some() { 6 } else { v })
        };
        if lo > hi {
            return Err(format!("range {base:?} runs backwards in day-of-week"));
        }
        let step = step.unwrap_or(1) as usize;
        for d in (lo..=hi).step_by(step) {
            days[d as usize % 7] = true;
        }
    }
    let list: Vec<String> = (0..7)
        .filter(|&d| days[d])
        .map(|d| (d + 1).to_string())
        .collect();
    Ok(list.join(","))
}

fn dow_value(s: &str, field: &str) -> Result<u32, String> {
    const NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    if let Ok(n) = s.parse::<u32>() {
        return if n <= 7 {
            Ok(n)
        } else {
            Err(format!(
                "day-of-week {n} out of range 0-7 in {field:?} (0 and 7 are Sunday)"
            ))
        };
    }
    let lower = s.to_ascii_lowercase();
    NAMES
        .iter()
        .position(|n| *n == lower)
        .map(|p| p as u32)
        .ok_or_else(|| format!("{s:?} is not a day of the week in {field:?}"))
}

/// UTC offset in seconds in effect at `t`.
pub(crate) fn offset_at(tz: Tz, t: DateTime<Utc>) -> i64 {
    i64::from(
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

/// The instants a local fire time `n` stands for.
///
/// * A time that does not exist (spring forward) is read with the offset in effect before the
///   gap, so it lands as far after the gap's start as it was meant to (02:30 in a 02:00→03:00
///   gap fires at 03:30) — RFC 5545's rule and Temporal's "compatible" choice.
/// * A time that happens twice (fall back) fires at its first occurrence only; when the
///   expression fires every hour (`hour` is `*`), the second pass fires too, so an interval
///   job keeps its interval in real time.
pub(crate) fn local_to_instants(
    tz: Tz,
    n: NaiveDateTime,
    both: bool,
) -> [Option<DateTime<Utc>>; 2] {
    match tz.from_local_datetime(&n) {
        LocalResult::Single(t) => [Some(t.with_timezone(&Utc)), None],
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            let (early, late) = if a <= b { (a, b) } else { (b, a) };
            [Some(early), both.then_some(late)]
        }
        LocalResult::None => {
            // Offset before the gap: gaps are at most a few hours, so six hours earlier is
            // safely before it.
            let probe = n - Duration::hours(6);
            let off = match tz.from_local_datetime(&probe) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                    i64::from(t.offset().fix().local_minus_utc())
                }
                LocalResult::None => offset_at(tz, Utc.from_utc_datetime(&n)),
            };
            [
                Some(Utc.from_utc_datetime(&(n - Duration::seconds(off)))),
                None,
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_fields_get_seconds_and_standard_weekdays() {
        assert_eq!(to_crate_dialect("0 5 * * *").unwrap(), "0 0 5 * * *");
        assert_eq!(
            to_crate_dialect("0 9 * * 1-5").unwrap(),
            "0 0 9 * * 2,3,4,5,6"
        );
        assert_eq!(to_crate_dialect("0 9 * * 0").unwrap(), "0 0 9 * * 1");
        assert_eq!(to_crate_dialect("0 9 * * 7").unwrap(), "0 0 9 * * 1");
        assert_eq!(to_crate_dialect("0 9 * * 5-7").unwrap(), "0 0 9 * * 1,6,7");
        assert_eq!(
            to_crate_dialect("0 9 * * MON,fri").unwrap(),
            "0 0 9 * * 2,6"
        );
        assert_eq!(
            to_crate_dialect("0 9 * * */2").unwrap(),
            "0 0 9 * * 1,3,5,7"
        );
        assert_eq!(to_crate_dialect("0 9 * * 3/2").unwrap(), "0 0 9 * * 4,6");
        assert_eq!(
            to_crate_dialect(" */2  * * * * * ").unwrap(),
            "*/2 * * * * *"
        );
        assert_eq!(to_crate_dialect("@daily").unwrap(), "@daily");
    }

    #[test]
    fn bad_expressions_say_why() {
        assert!(to_crate_dialect("0 5 * *").unwrap_err().contains("found 4"));
        assert!(to_crate_dialect("0 5 * * 8")
            .unwrap_err()
            .contains("out of range"));
        assert!(to_crate_dialect("0 5 * * 5-1")
            .unwrap_err()
            .contains("backwards"));
        assert!(to_crate_dialect("0 5 * * xyz").unwrap_err().contains("xyz"));
        assert!(to_crate_dialect("0 5 * * */0")
            .unwrap_err()
            .contains("step 0"));
    }
}
