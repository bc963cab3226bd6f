//! The payouts breakdown is requested per calendar day, so one unchanged breakdown difference
//! keeps its key (`breakdown_mismatch:<day>:<currency>:<field>`) in every window that holds
//! its day, and stays one open item, instead of being new one night and resolved the next.

use crate::support::*;
use rust_decimal::Decimal;
use xsolla_recon::job::{FetchMode, RunOutcome};
use xsolla_recon::sandbox::ledger::ledger_export;
use xsolla_recon::sandbox::{DataQuirks, SandboxConfig};

/// (key, first seen) of the breakdown findings.
fn breakdown_findings(out: &RunOutcome) -> Vec<(String, String)> {
    let d = &out.result.discrepancies;
    let class = d.column("class").unwrap().str().unwrap().clone();
    let key = d.column("key").unwrap().str().unwrap().clone();
    let seen = d
        .column("first_seen")
        .unwrap()
        .cast(&polars::prelude::DataType::String)
        .unwrap();
    let seen = seen.str().unwrap().clone();
    (0..d.height())
        .filter(|i| class.get(*i) == Some("breakdown_mismatch"))
        .map(|i| {
            (
                key.get(i).unwrap().to_owned(),
                seen.get(i).unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_breakdown_difference_keeps_its_key_across_overlapping_windows() {
    // 1.00 too much in the breakdown of 2026-10-01, the data set's first day.
    let sb = start(SandboxConfig {
        quirks: DataQuirks {
            breakdown_payments_delta: Some(Decimal::ONE),
            ..Default::default()
        },
        ..small_config()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let csv = ledger_export(&sb.dataset(), window("2026-09-20", "2026-10-20"), false).csv;
    let cfg = sandbox_job_config(tmp.path(), &sb, &csv);

    let first = run_window(
        &cfg,
        &sb,
        window("2026-09-28", "2026-10-04"),
        FetchMode::Refetch,
    )
    .await;
    let found = breakdown_findings(&first);
    assert_eq!(found.len(), 1, "{found:?}");
    let (key, seen) = &found[0];
    assert!(key.starts_with("breakdown_mismatch:2026-10-01:"), "{key}");
    assert!(key.ends_with(":payments"), "{key}");
    assert_eq!(seen, "2026-10-04");
    // One breakdown request per day of the fetched window: the 7 days and 7 days of margin on
    // each side (`reconcile.provider_margin_days`, default 7).
    let manifest = xsolla_recon::fetch::verify_snapshot(&first.manifest.snapshot.path).unwrap();
    let days = manifest
        .files
        .iter()
        .filter(|f| f.endpoint == "breakdown")
        .count();
    assert_eq!(days, 7 + 2 * 7);

    // The next night's window still holds the day: the same key, still open since the first.
    let second = run_window(
        &cfg,
        &sb,
        window("2026-10-01", "2026-10-07"),
        FetchMode::Refetch,
    )
    .await;
    assert_eq!(breakdown_findings(&second), found);
    assert_eq!(
        second.result.open_items.new, 0,
        "nothing new in the second window"
    );

    // A window without that day has no breakdown finding.
    let later = run_window(
        &cfg,
        &sb,
        window("2026-10-02", "2026-10-08"),
        FetchMode::Refetch,
    )
    .await;
    assert_eq!(breakdown_findings(&later), vec![]);
}
