//! Payments booked on one side of midnight and dated on the other, across nightly windows:
//! the real binary's `run` (fetch with margins, reconcile, reports) against the sandbox, on a
//! ledger that books Xsolla's rows some hours off (the sandbox's next-day-evening quirk).
//!
//! Each night reports such a pair once, as a `timing_difference` with both dates; the next
//! night, whose window holds both dates, matches it cleanly.

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
    let extra = Extra {
        tail: tail.to_owned(),
        ..Extra::default()
    };
    write_setup(dir, sb, &extra);
    let export = ledger_export_with(
        &sb.dataset(),
        window("2026-10-01", "2026-10-31"),
        ExportOptions {
            inject: false,
            booking_offset_hours: offset_hours,
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
