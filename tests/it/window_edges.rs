//! Payments booked on one side of midnight and dated on the other, across nightly windows:
//! the real binary's `run` (fetch with margins, reconcile, reports) against the sandbox, on a
//! ledger that books Xsolla's rows some hours off (the sandbox's next-day-evening quirk).
//!
//! Each night reports such a pair once, as a `timing_difference` with both dates; the next
//! night, whose window holds both dates, matches it cleanly. With Xsolla in Tokyo
//! (`[fetch] xsolla_timezone`) the edges are those of the UTC reporting days, whatever date
//! Xsolla prints.

use crate::support::*;
use chrono::{NaiveDate, Timelike};
use std::collections::BTreeSet;
use std::path::Path;
use xsolla_recon::domain::window::Window;
use xsolla_recon::sandbox::ledger::{ledger_export_with, ExportOptions};
use xsolla_recon::sandbox::{Sandbox, SandboxConfig};
use xsolla_recon::xsolla::model::{TransactionRow, REGISTRY_REQUIRED};
use xsolla_recon::xsolla::parse::json_record;

const KEY: &str = "edge-key-1";

/// The small October month, without quirks: a ledger booked from it differs only by dates.
async fn sandbox() -> Sandbox {
    start(SandboxConfig {
        api_key: KEY.into(),
        ..small_config()
    })
    .await
}

/// One finding of a run's `discrepancies.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    class: String,
    txn: Option<i64>,
    provider_date: String,
    ledger_date: String,
}

/// A folder set up for `run`, with a ledger of October booked `offset_hours` off Xsolla's
/// dates and `tail` appended to the config.
fn set_up(dir: &Path, sb: &Sandbox, offset_hours: i32, tail: &str) {
    set_up_books(dir, sb, sb, offset_hours, tail);
}

/// [`set_up`] against `sb`, the ledger booked from `books`'s dates (a sandbox of the same
/// payments serving UTC dates, when `sb` serves another zone's).
fn set_up_books(dir: &Path, sb: &Sandbox, books: &Sandbox, offset_hours: i32, tail: &str) {
    let extra = Extra {
        tail: tail.to_owned(),
        ..Extra::default()
    };
    write_setup(dir, sb, &extra);
    let export = ledger_export_with(
        &books.dataset(),
        window("2026-10-01", "2026-10-31"),
        ExportOptions {
            inject: false,
            booking_offset_hours: offset_hours,
            ..ExportOptions::default()
        },
    );
    std::fs::write(dir.join("ledger/ledger.csv"), &export.csv).unwrap();
}

/// The window of the night whose window ends on `last` (8 days, as `run --yesterday`).
fn night_ending(last: NaiveDate) -> Window {
    Window::new(last - chrono::Days::new(7), last).unwrap()
}

/// Runs `run` for `w` and reads its findings.
async fn run_night(dir: &Path, w: Window) -> Vec<Finding> {
    let (from, to) = (w.from.to_string(), w.to.to_string());
    let args = [
        "run",
        "--from",
        &from,
        "--to",
        &to,
        "--config",
        "recon.toml",
        "--dry-run",
    ];
    let out = run_bin(dir, KEY, &args).await;
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "run {w}: {}",
        text(&out)
    );
    let base = dir.join("reports/acme").join(w.slug());
    let mut runs: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    runs.sort();
    let csv_path = runs.last().unwrap().join("discrepancies.csv");
    let mut rdr = csv::Reader::from_path(&csv_path).unwrap();
    let header = rdr.headers().unwrap().clone();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (c, t, p, l) = (
        at("class"),
        at("transaction_id"),
        at("provider_date"),
        at("ledger_date"),
    );
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            Finding {
                class: r[c].to_owned(),
                txn: r[t].parse().ok(),
                provider_date: r[p].to_owned(),
                ledger_date: r[l].to_owned(),
            }
        })
        .collect()
}

/// Xsolla's rows of October (test payments excluded, as the ledger export reads them).
fn october_rows(sb: &Sandbox) -> Vec<TransactionRow> {
    sb.dataset()
        .registry_json(d("2026-10-01"), d("2026-10-31"))
        .iter()
        .filter_map(|v| json_record(v, REGISTRY_REQUIRED).ok())
        .collect()
}

/// Transactions with a row Xsolla dates on `day` whose time is in `hours`.
fn dated_at(rows: &[TransactionRow], day: NaiveDate, hours: std::ops::Range<u32>) -> BTreeSet<i64> {
    rows.iter()
        .filter(|r| {
            r.transfer_date
                .is_some_and(|t| t.date() == day && hours.contains(&t.hour()))
        })
        .filter_map(|r| r.transaction_id)
        .collect()
}

/// The first day from `candidates` on which Xsolla dates a row in `hours`, with those rows.
fn edge_day(
    rows: &[TransactionRow],
    candidates: impl Iterator<Item = NaiveDate>,
    hours: std::ops::Range<u32>,
) -> (NaiveDate, BTreeSet<i64>) {
    candidates
        .map(|day| (day, dated_at(rows, day, hours.clone())))
        .find(|(_, txns)| !txns.is_empty())
        .expect("the sandbox month has a row near midnight")
}

fn days(from: &str, to: &str) -> impl Iterator<Item = NaiveDate> {
    let last = d(to);
    d(from).iter_days().take_while(move |x| *x <= last)
}

fn of_class<'a>(found: &'a [Finding], class: &str) -> Vec<&'a Finding> {
    found.iter().filter(|f| f.class == class).collect()
}

fn txns(found: &[&Finding]) -> BTreeSet<i64> {
    found.iter().filter_map(|f| f.txn).collect()
}

fn no_missing(found: &[Finding], night: Window) {
    let missing: Vec<_> = found
        .iter()
        .filter(|f| f.class.starts_with("missing_"))
        .collect();
    assert!(missing.is_empty(), "night {night}: {missing:?}");
}

/// The bug: a payment booked at 23:50 on the window's last day that Xsolla dates 00:07 the
/// next day was `missing_in_provider` (Xsolla's side was fetched for the window alone).
#[tokio::test(flavor = "multi_thread")]
async fn payment_booked_on_the_last_evening_that_xsolla_dates_next_day_is_one_timing_difference() {
    let sb = sandbox().await;
    let tmp = tempfile::tempdir().unwrap();
    // The merchant's books run two hours behind Xsolla's dates.
    set_up(tmp.path(), &sb, -2, "");
    let rows = october_rows(&sb);
    let (next_day, late) = edge_day(&rows, days("2026-10-12", "2026-10-24"), 0..2);
    let last = next_day.pred_opt().unwrap();

    let night = night_ending(last);
    let found = run_night(tmp.path(), night).await;
    no_missing(&found, night);
    let timing = of_class(&found, "timing_difference");
    assert_eq!(
        timing.len(),
        found.len(),
        "only timing differences: {found:?}"
    );
    assert_eq!(txns(&timing), late, "night {night}");
    for f in &timing {
        assert_eq!(f.provider_date, next_day.to_string(), "{f:?}");
        assert_eq!(f.ledger_date, last.to_string(), "{f:?}");
    }

    // The next night's window holds both dates: matched cleanly, nothing about them.
    let next = night_ending(next_day);
    let found = run_night(tmp.path(), next).await;
    no_missing(&found, next);
    let again: Vec<_> = found
        .iter()
        .filter(|f| f.txn.is_some_and(|t| late.contains(&t)))
        .collect();
    assert!(again.is_empty(), "night {next}: {again:?}");
}

/// The first-day edge: the ledger books on the window's first day a payment Xsolla dates
/// the evening before. Reported once, by the night whose window ends on Xsolla's day; the
/// night after matches it; the night whose window starts on the ledger's day is silent.
#[tokio::test(flavor = "multi_thread")]
async fn payment_xsolla_dates_the_evening_before_the_first_day_is_reported_once_then_resolved() {
    let sb = sandbox().await;
    let tmp = tempfile::tempdir().unwrap();
    // The merchant's books run two hours ahead: Xsolla's 22:00-23:59 is its next morning.
    set_up(tmp.path(), &sb, 2, "");
    let rows = october_rows(&sb);
    let (xsolla_day, early) = edge_day(&rows, days("2026-10-10", "2026-10-15"), 22..24);
    let first = xsolla_day.succ_opt().unwrap();

    let night = night_ending(xsolla_day);
    let found = run_night(tmp.path(), night).await;
    no_missing(&found, night);
    let timing = of_class(&found, "timing_difference");
    assert_eq!(
        timing.len(),
        found.len(),
        "only timing differences: {found:?}"
    );
    assert_eq!(txns(&timing), early, "night {night}");
    for f in &timing {
        assert_eq!(f.provider_date, xsolla_day.to_string(), "{f:?}");
        assert_eq!(f.ledger_date, first.to_string(), "{f:?}");
    }
    // The next night and the night whose window starts on the ledger's day: nothing.
    for w in [
        night_ending(first),
        night_ending(first + chrono::Days::new(7)),
    ] {
        let found = run_night(tmp.path(), w).await;
        no_missing(&found, w);
        let again: Vec<_> = found
            .iter()
            .filter(|f| f.txn.is_some_and(|t| early.contains(&t)))
            .collect();
        assert!(again.is_empty(), "night {w}: {again:?}");
    }
}

/// With `provider_margin_days = 0` Xsolla's side is fetched for the window alone, as before
/// the margins: the last evening's payments are `missing_in_provider`.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_provider_margin_the_last_evening_is_missing_in_provider() {
    let sb = sandbox().await;
    let tmp = tempfile::tempdir().unwrap();
    set_up(
        tmp.path(),
        &sb,
        -2,
        "\n[reconcile]\nprovider_margin_days = 0\n",
    );
    // Payments only: a refund whose payment Xsolla has is a status_mismatch instead.
    let rows: Vec<TransactionRow> = october_rows(&sb)
        .into_iter()
        .filter(|r| r.payment_amount.is_some_and(|a| !a.is_sign_negative()))
        .collect();
    let (next_day, late) = edge_day(&rows, days("2026-10-12", "2026-10-24"), 0..2);
    let night = night_ending(next_day.pred_opt().unwrap());
    let found = run_night(tmp.path(), night).await;
    assert_eq!(
        txns(&of_class(&found, "missing_in_provider")),
        late,
        "{found:?}"
    );
    assert!(
        of_class(&found, "timing_difference").is_empty(),
        "{found:?}"
    );
}

/// Xsolla in Tokyo (UTC+9), the ledger and the reports in UTC: the October month served in
/// Tokyo's dates, its twin in UTC's (same seed, same payments) for the ledger and the hours.
async fn tokyo() -> (Sandbox, Sandbox) {
    let tokyo = start(SandboxConfig {
        api_key: KEY.into(),
        timezone: chrono_tz::Asia::Tokyo,
        ..small_config()
    })
    .await;
    (tokyo, sandbox().await)
}

/// A folder for `run` against the Tokyo sandbox with `[fetch] xsolla_timezone = "Asia/Tokyo"`,
/// the ledger booked on UTC days `offset_hours` off Xsolla's times.
fn set_up_tokyo(dir: &Path, tokyo: &Sandbox, utc: &Sandbox, offset_hours: i32) {
    set_up_books(dir, tokyo, utc, offset_hours, "");
    let config = std::fs::read_to_string(dir.join("recon.toml")).unwrap();
    let config = config.replacen(
        "[fetch]\n",
        "[fetch]\nxsolla_timezone = \"Asia/Tokyo\"\n",
        1,
    );
    std::fs::write(dir.join("recon.toml"), config).unwrap();
}

/// The dates Tokyo's registry gives the rows `rows` (UTC) dates on `day` in `hours`: each is
/// the same row nine hours later.
fn tokyo_dates(
    tokyo: &Sandbox,
    rows: &[TransactionRow],
    day: NaiveDate,
    hours: std::ops::Range<u32>,
) -> BTreeSet<NaiveDate> {
    let served = october_rows(tokyo);
    rows.iter()
        .filter(|r| {
            r.transfer_date
                .is_some_and(|t| t.date() == day && hours.contains(&t.hour()))
        })
        .map(|r| {
            let at = r.transfer_date.unwrap() + chrono::Duration::hours(9);
            let shown = served
                .iter()
                .find(|t| t.transaction_id == r.transaction_id && t.transfer_date == Some(at))
                .unwrap_or_else(|| panic!("{:?} at {at} in Tokyo", r.transaction_id));
            shown.transfer_date.unwrap().date()
        })
        .collect()
}

fn about(found: &[Finding], txns: &BTreeSet<i64>) -> Vec<Finding> {
    found
        .iter()
        .filter(|f| f.txn.is_some_and(|t| txns.contains(&t)))
        .cloned()
        .collect()
}

/// The last-day edge in a zone ahead of UTC. Xsolla's times are read in Tokyo and placed on UTC
/// days, so what decides is the UTC day, not the date Xsolla prints:
/// - a payment made between 15:00 and 24:00 UTC on the window's last day, which Xsolla dates
///   after midnight Tokyo time (the next day), is booked by the ledger on the last day: both
///   are on the same reporting day, a clean match, no finding on any night;
/// - a payment made just after midnight UTC (09:00-10:59 in Tokyo) that the ledger books two
///   hours behind, on the last day, is one `timing_difference` (Xsolla's UTC day after the
///   ledger's), and the next night, whose window holds both days, matches it cleanly.
#[tokio::test(flavor = "multi_thread")]
async fn in_tokyo_a_payment_dated_after_midnight_there_is_on_its_utc_day_at_the_last_day_edge() {
    let (tokyo, utc) = tokyo().await;
    let tmp = tempfile::tempdir().unwrap();
    set_up_tokyo(tmp.path(), &tokyo, &utc, -2);
    let rows = october_rows(&utc);
    // The last day: one whose next UTC day starts with payments booked the day before.
    let (next_day, late) = edge_day(&rows, days("2026-10-12", "2026-10-24"), 0..2);
    let last = next_day.pred_opt().unwrap();
    let evening = dated_at(&rows, last, 15..22);
    assert!(!evening.is_empty(), "payments on {last} after 15:00 UTC");
    assert_eq!(
        tokyo_dates(&tokyo, &rows, last, 15..22),
        BTreeSet::from([next_day]),
        "Xsolla dates them after midnight Tokyo time"
    );
    assert_eq!(
        tokyo_dates(&tokyo, &rows, next_day, 0..2),
        BTreeSet::from([next_day])
    );

    let night = night_ending(last);
    let found = run_night(tmp.path(), night).await;
    no_missing(&found, night);
    let timing = of_class(&found, "timing_difference");
    assert_eq!(
        timing.len(),
        found.len(),
        "only timing differences: {found:?}"
    );
    assert_eq!(txns(&timing), late, "night {night}");
    for f in &timing {
        assert_eq!(f.provider_date, next_day.to_string(), "{f:?}");
        assert_eq!(f.ledger_date, last.to_string(), "{f:?}");
    }
    assert!(about(&found, &evening).is_empty(), "{found:?}");

    let next = night_ending(next_day);
    let found = run_night(tmp.path(), next).await;
    no_missing(&found, next);
    let both: BTreeSet<i64> = late.union(&evening).copied().collect();
    assert!(about(&found, &both).is_empty(), "night {next}: {found:?}");
    tokyo.shutdown().await;
    utc.shutdown().await;
}

/// The first-day edge in a zone ahead of UTC. A payment made between 22:00 and 24:00 UTC,
/// which Xsolla dates the next morning in Tokyo (07:00-08:59) and the ledger books two hours
/// ahead, also on that next day: Xsolla's printed date and the ledger's agree, yet the payment
/// belongs to the UTC day before. It is one `timing_difference` with Xsolla's UTC date, reported
/// by the night whose window ends on that day; the night after, and the night whose window
/// starts on the ledger's day, say nothing about it.
#[tokio::test(flavor = "multi_thread")]
async fn in_tokyo_a_payment_dated_the_ledgers_day_there_is_a_timing_difference_at_the_first_day_edge(
) {
    let (tokyo, utc) = tokyo().await;
    let tmp = tempfile::tempdir().unwrap();
    set_up_tokyo(tmp.path(), &tokyo, &utc, 2);
    let rows = october_rows(&utc);
    let (utc_day, early) = edge_day(&rows, days("2026-10-10", "2026-10-15"), 22..24);
    let first = utc_day.succ_opt().unwrap();
    assert_eq!(
        tokyo_dates(&tokyo, &rows, utc_day, 22..24),
        BTreeSet::from([first]),
        "Xsolla dates them on the ledger's day"
    );

    let night = night_ending(utc_day);
    let found = run_night(tmp.path(), night).await;
    no_missing(&found, night);
    let timing = of_class(&found, "timing_difference");
    assert_eq!(
        timing.len(),
        found.len(),
        "only timing differences: {found:?}"
    );
    assert_eq!(txns(&timing), early, "night {night}");
    for f in &timing {
        assert_eq!(f.provider_date, utc_day.to_string(), "{f:?}");
        assert_eq!(f.ledger_date, first.to_string(), "{f:?}");
    }
    for w in [
        night_ending(first),
        night_ending(first + chrono::Days::new(7)),
    ] {
        let found = run_night(tmp.path(), w).await;
        no_missing(&found, w);
        assert!(about(&found, &early).is_empty(), "night {w}: {found:?}");
    }
    tokyo.shutdown().await;
    utc.shutdown().await;
}
