//! Time zones (docs/xsolla-api.md §12.2): Xsolla's zone-less times are read in
//! `fetch.xsolla_timezone` and placed on the days of `run.reporting_timezone`; the sandbox
//! serves its dates in a configurable zone; nightly windows take yesterday in the reporting
//! zone and are shortened (the scheduler, `--yesterday`) or refused (`--from/--to`) while the
//! last day has not ended in Xsolla's zone.

use crate::support::bin::{assert_exit, text};
use crate::support::job::{merchant_ledger_mapping, run_bin, KEY_VAR};
use crate::support::sandbox::{d, start, window};
use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use std::path::{Path, PathBuf};
use xsolla_recon::job::schedule::{compile_jobs, window_for, JobSchedule};
use xsolla_recon::load::DateZones;
use xsolla_recon::sandbox::ledger::ledger_export;
use xsolla_recon::sandbox::{Sandbox, SandboxConfig};

const KEY: &str = "tz-company-key";

fn sandbox_config(timezone: &str) -> SandboxConfig {
    SandboxConfig {
        api_key: KEY.into(),
        from: d("2026-10-08"),
        to: d("2026-10-14"),
        transactions_per_day: 30,
        seed: 23,
        timezone: timezone.parse().unwrap(),
        ..Default::default()
    }
}

/// `transaction.transfer_date` of a registry row, by transaction id and sign.
fn transfer_dates(sb: &Sandbox, from: &str, to: &str) -> Vec<(i64, String, NaiveDateTime)> {
    sb.dataset()
        .registry_json(d(from), d(to))
        .iter()
        .map(|v| {
            let t = &v["transaction"];
            let text = t["transfer_date"].as_str().unwrap();
            (
                t["id"].as_i64().unwrap(),
                v["payment_details"]["payment"]["amount"].to_string(),
                NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap(),
            )
        })
        .collect()
}

/// A config for merchant `acme` against `sb`, reading `ledger/ledger.csv`, with `extra`
/// after `[fetch]` (the zone settings).
fn write_config(dir: &Path, sb: &Sandbox, fetch_extra: &str) -> PathBuf {
    let text = format!(
        r#"data_dir = "data"
[http]
backoff_initial_ms = 5
backoff_max_ms = 50
min_request_interval_ms = 0
max_attempts = 3
[fetch]
page_limit = 200
{fetch_extra}
[run]
reports_dir = "reports"
reporting_timezone = "UTC"
[[merchant]]
name = "acme"
merchant_id = {mid}
api_key_env = "{KEY_VAR}"
base_url = "{url}"
[merchant.ledger]
path = "ledger/ledger.csv"
{mapping}"#,
        mid = sb.merchant_id(),
        url = sb.base_url(),
        mapping = merchant_ledger_mapping(),
    );
    let p = dir.join("recon.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The reporting window, a ledger of it booked on UTC days (made from a UTC sandbox with
/// the same seed, so the same payments), and the Tokyo sandbox.
async fn tokyo_setup(dir: &Path) -> Sandbox {
    let w = window("2026-10-10", "2026-10-12");
    let utc = start(sandbox_config("UTC")).await;
    let export = ledger_export(&utc.dataset(), w, false);
    std::fs::create_dir_all(dir.join("ledger")).unwrap();
    std::fs::write(dir.join("ledger/ledger.csv"), &export.csv).unwrap();
    // The window has payments between 15:00 and 24:00 UTC on its last day: dated the next
    // day in Tokyo.
    let tokyo = start(sandbox_config("Asia/Tokyo")).await;
    let utc_rows = transfer_dates(&utc, "2026-10-12", "2026-10-12");
    let late: Vec<_> = utc_rows.iter().filter(|r| r.2.hour() >= 15).collect();
    assert!(!late.is_empty(), "no late-evening payment on the last day");
    let tokyo_rows = transfer_dates(&tokyo, "2026-10-13", "2026-10-13");
    for (id, amount, at) in &late {
        let shown = tokyo_rows
            .iter()
            .find(|r| r.0 == *id && r.1 == *amount)
            .unwrap_or_else(|| panic!("{id} at {at} UTC is not on Tokyo's 13th"));
        assert_eq!(shown.2, *at + chrono::Duration::hours(9));
    }
    utc.shutdown().await;
    tokyo
}

#[tokio::test]
async fn a_sandbox_in_tokyo_with_xsolla_timezone_set_matches_a_utc_ledger_with_no_finding() {
    let dir = tempfile::tempdir().unwrap();
    let sb = tokyo_setup(dir.path()).await;
    let cfg = write_config(dir.path(), &sb, "xsolla_timezone = \"Asia/Tokyo\"");
    let cfg = cfg.to_str().unwrap();
    let out = run_bin(
        dir.path(),
        KEY,
        &[
            "run",
            "--config",
            cfg,
            "--from",
            "2026-10-10",
            "--to",
            "2026-10-12",
            "--dry-run",
        ],
    )
    .await;
    assert_exit(&out, 0);
    assert!(
        text(&out).contains("acme 2026-10-10..2026-10-12: 0 discrepancies"),
        "{}",
        text(&out)
    );
    // The fetch asked for Tokyo's days covering the UTC window with its margins (7 days each
    // side: the 3rd to the 19th): the 3rd to the 20th.
    let requested: Vec<String> = sb
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("registry"))
        .filter_map(|r| r.query)
        .collect();
    assert!(
        requested
            .iter()
            .any(|r| r.contains("datetime_from=2026-10-03&datetime_to=2026-10-20")),
        "{requested:?}"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn a_sandbox_in_tokyo_read_as_utc_misdates_the_late_payments() {
    // The same inputs with `xsolla_timezone` left at its default (UTC): Tokyo's times are
    // taken as UTC, so the late-evening payments land a day late and the rows of Tokyo's
    // early morning are placed on the wrong day.
    let dir = tempfile::tempdir().unwrap();
    let sb = tokyo_setup(dir.path()).await;
    let cfg = write_config(dir.path(), &sb, "");
    let cfg = cfg.to_str().unwrap();
    let out = run_bin(
        dir.path(),
        KEY,
        &[
            "run",
            "--config",
            cfg,
            "--from",
            "2026-10-10",
            "--to",
            "2026-10-12",
            "--dry-run",
        ],
    )
    .await;
    assert_exit(&out, 1);
    assert!(
        !text(&out).contains(": 0 discrepancies"),
        "the wrong zone went unnoticed: {}",
        text(&out)
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn a_to_date_not_over_in_xsollas_zone_is_refused_with_the_zone_and_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let sb = start(sandbox_config("UTC")).await;
    std::fs::create_dir_all(dir.path().join("ledger")).unwrap();
    std::fs::write(dir.path().join("ledger/ledger.csv"), "x\n").unwrap();
    let cfg = write_config(dir.path(), &sb, "xsolla_timezone = \"Asia/Tokyo\"");
    let cfg = cfg.to_str().unwrap();
    // Today in UTC has never ended in Tokyo: Tokyo's day holding its last hours is still on.
    let today = Utc::now().date_naive().to_string();
    let out = run_bin(
        dir.path(),
        KEY,
        &["run", "--config", cfg, "--from", &today, "--to", &today],
    )
    .await;
    assert_exit(&out, 2);
    let err = text(&out);
    assert!(
        err.contains("Asia/Tokyo") && err.contains("has not ended"),
        "{err}"
    );
    assert!(sb.requests().is_empty(), "a refused window fetched nothing");
    sb.shutdown().await;
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn zones(xsolla: &str, reporting: &str) -> DateZones {
    DateZones {
        xsolla: xsolla.parse().unwrap(),
        reporting: reporting.parse().unwrap(),
    }
}

fn nightly(cron: &str, tz: &str) -> xsolla_recon::job::schedule::ScheduledJob {
    let js = JobSchedule {
        merchant: "acme".into(),
        cron: cron.into(),
        time_zone: tz.into(),
        lookback_days: Some(0),
        ..Default::default()
    };
    compile_jobs(&[js], &["acme"], 7).unwrap().remove(0)
}

#[test]
fn scheduled_windows_take_yesterday_in_the_reporting_zone_around_midnight() {
    let job = nightly("30 23 * * *", "UTC");
    // 23:30 UTC on the 21st is 08:30 on the 22nd in Tokyo: yesterday there is the 21st.
    let east = job.clone().in_zones(zones("Asia/Tokyo", "Asia/Tokyo"));
    assert_eq!(
        window_for(&east, at("2026-11-21T23:30:00Z")),
        window("2026-11-21", "2026-11-21")
    );
    // The same instant is 18:30 on the 21st in New York: yesterday there is the 20th.
    let west = job
        .clone()
        .in_zones(zones("America/New_York", "America/New_York"));
    assert_eq!(
        window_for(&west, at("2026-11-21T23:30:00Z")),
        window("2026-11-20", "2026-11-20")
    );
    // 04:30 UTC on the 22nd is still the 21st (23:30) in New York.
    assert_eq!(
        window_for(&west, at("2026-11-22T04:30:00Z")),
        window("2026-11-20", "2026-11-20")
    );
    assert_eq!(
        window_for(&job, at("2026-11-22T04:30:00Z")),
        window("2026-11-21", "2026-11-21")
    );
}

#[test]
fn a_scheduled_yesterday_not_over_in_xsollas_zone_is_shortened_to_the_day_before() {
    // Reporting in UTC, Xsolla in Tokyo: at 05:00 UTC on the 22nd, the UTC 21st still needs
    // Tokyo's 22nd (to 09:00 there), which ends at 15:00 UTC.
    let job = nightly("0 5 * * *", "UTC").in_zones(zones("Asia/Tokyo", "UTC"));
    assert_eq!(
        window_for(&job, at("2026-11-22T05:00:00Z")),
        window("2026-11-20", "2026-11-20")
    );
    let job = nightly("0 16 * * *", "UTC").in_zones(zones("Asia/Tokyo", "UTC"));
    assert_eq!(
        window_for(&job, at("2026-11-22T16:00:00Z")),
        window("2026-11-21", "2026-11-21")
    );
}
