//! A refund or chargeback in the window of a payment dated before it is judged against that
//! payment: the run looks the payment up (an earlier snapshot, else Xsolla's details call) and
//! gets the same finding either way; with the lookup off, the old wrong answer comes back.
//! The sandbox's `early_refunds` quirk serves such payments (the day before its month) and
//! refunds them on the first days of the month.

use crate::support::*;
use std::path::Path;
use xsolla_recon::domain::window::Window;
use xsolla_recon::job::config::Config;
use xsolla_recon::job::{FetchMode, RunOutcome};
use xsolla_recon::sandbox::ledger::ledger_export;
use xsolla_recon::sandbox::{DataQuirks, Sandbox, SandboxConfig};

/// The window judged: its refunds are of payments dated 2026-09-30.
fn october_week() -> Window {
    window("2026-10-01", "2026-10-07")
}

async fn early_sandbox() -> Sandbox {
    start(SandboxConfig {
        quirks: DataQuirks {
            early_refunds: 3,
            ..Default::default()
        },
        ..small_config()
    })
    .await
}

/// The early payments: (refunded, charged back, never reversed), by id.
fn early_ids(sb: &Sandbox) -> (i64, i64, i64) {
    let mut ids: Vec<i64> = sb
        .dataset()
        .registry_json(d("2026-09-30"), d("2026-09-30"))
        .iter()
        .map(|r| r["transaction"]["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 3, "three payments before the month: {ids:?}");
    (ids[0], ids[1], ids[2])
}

/// A clean ledger of 2026-09-24..10-07 (every registry row booked as is), edited by `edit`
/// line by line: `(transaction id, gross sign, line) -> lines to write instead`.
fn ledger(sb: &Sandbox, edit: impl Fn(i64, bool, &str) -> Vec<String>) -> String {
    let csv = ledger_export(&sb.dataset(), window("2026-09-24", "2026-10-07"), false).csv;
    let text = String::from_utf8(csv).unwrap();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        match (i, f.get(1).and_then(|t| t.parse::<i64>().ok())) {
            (0, _) | (_, None) => out.push(line.to_owned()),
            (_, Some(id)) => out.extend(edit(id, f[4].starts_with('-'), line)),
        }
    }
    out.join("\n") + "\n"
}

/// `line` with its status replaced.
fn with_status(line: &str, status: &str) -> String {
    let mut f: Vec<&str> = line.split(',').collect();
    f[6] = status;
    f.join(",")
}

/// `line` as a full refund booked on 2026-10-03.
fn as_refund(line: &str) -> String {
    let mut f: Vec<String> = line.split(',').map(str::to_owned).collect();
    f[0] = "2026-10-03".into();
    f[4] = format!("-{}", f[4]);
    f[5] = format!("-{}", f[5]);
    f[6] = "Refund".into();
    f.join(",")
}

fn config(dir: &Path, sb: &Sandbox, ledger_csv: &str, max_lookups: u32) -> Config {
    let mut cfg = sandbox_job_config(dir, sb, ledger_csv);
    cfg.run.reuse_snapshot_minutes = 0;
    cfg.fetch.max_payment_lookups = max_lookups;
    // The early payments are dated the day before the month: with the default provider margin
    // (7 days) the fetch itself would read them. No margin puts them outside the fetched range,
    // as a refund of a payment weeks before the window is in production.
    cfg.reconcile.provider_margin_days = Some(0);
    cfg
}

/// The keys of the findings about transactions in `ids`, sorted. A looked-up payment and its
/// ledger line are both dated before the window: they take part in matching only, so no
/// finding is ever about the payment itself.
fn findings_on(out: &RunOutcome, ids: &[i64]) -> Vec<String> {
    let d = &out.result.discrepancies;
    let keys = d.column("key").unwrap().str().unwrap().clone();
    let txn = d.column("transaction_id").unwrap().i64().unwrap().clone();
    let mut v: Vec<String> = (0..d.height())
        .filter(|i| txn.get(*i).is_some_and(|t| ids.contains(&t)))
        .map(|i| keys.get(i).unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn details_calls(sb: &Sandbox) -> usize {
    sb.requests()
        .iter()
        .filter(|r| r.path.ends_with("/details"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_of_a_payment_before_the_window_is_judged_against_it_via_the_details_call() {
    let sb = early_sandbox().await;
    let (refunded, charged_back, plain) = early_ids(&sb);
    let ids = [refunded, charged_back, plain];
    // The ledger has not booked the refund, and books one Xsolla does not have.
    let csv = ledger(&sb, |id, negative, line| match (id, negative) {
        (id, true) if id == refunded => vec![],
        (id, false) if id == plain => vec![line.to_owned(), as_refund(line)],
        _ => vec![line.to_owned()],
    });
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), &sb, &csv, 1000);
    let out = run_window(&cfg, &sb, october_week(), FetchMode::Refetch).await;
    let expected = vec![
        format!("status_mismatch:tx:{refunded}:cancellation"),
        format!("status_mismatch:tx:{plain}:cancellation"),
    ];
    assert_eq!(findings_on(&out, &ids), expected);
    assert_eq!(details_calls(&sb), 3, "one details call per early payment");
    let c = out.result.provider.unwrap().payment_lookups;
    assert_eq!(
        (c.wanted, c.found_by_details, c.found_in_snapshots),
        (3, 3, 0)
    );

    // --offline reads the stored lookups: same answer, no request.
    let before = sb.requests().len();
    let again = run_window(&cfg, &sb, october_week(), FetchMode::Offline).await;
    assert_eq!(findings_on(&again, &ids), expected);
    assert_eq!(sb.requests().len(), before, "--offline sends nothing");
    assert_eq!(again.manifest.report_id, out.manifest.report_id);

    // With the lookup off, the ledger's refund is "unknown to Xsolla": the old wrong answer.
    let off = config(&tmp.path().join("off"), &sb, &csv, 0);
    let out = run_window(&off, &sb, october_week(), FetchMode::Refetch).await;
    assert_eq!(
        findings_on(&out, &ids),
        vec![
            format!("missing_in_provider:tx:{plain}:cancellation"),
            format!("status_mismatch:tx:{refunded}:cancellation"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_of_a_payment_before_the_window_is_found_in_an_earlier_snapshot() {
    let sb = early_sandbox().await;
    let (refunded, charged_back, plain) = early_ids(&sb);
    let ids = [refunded, charged_back, plain];
    let csv = ledger(&sb, |id, negative, line| match (id, negative) {
        (id, true) if id == refunded => vec![],
        (id, false) if id == plain => vec![line.to_owned(), as_refund(line)],
        _ => vec![line.to_owned()],
    });
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), &sb, &csv, 1000);
    // The week before holds the payments.
    run_window(
        &cfg,
        &sb,
        window("2026-09-24", "2026-09-30"),
        FetchMode::Refetch,
    )
    .await;
    let out = run_window(&cfg, &sb, october_week(), FetchMode::Refetch).await;
    assert_eq!(
        details_calls(&sb),
        0,
        "every payment came from the earlier snapshot"
    );
    let c = out.result.provider.unwrap().payment_lookups;
    assert_eq!((c.wanted, c.found_in_snapshots), (3, 3));
    assert_eq!(
        findings_on(&out, &ids),
        vec![
            format!("status_mismatch:tx:{refunded}:cancellation"),
            format!("status_mismatch:tx:{plain}:cancellation"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_booked_refund_of_a_payment_before_the_window_is_no_finding() {
    let sb = early_sandbox().await;
    let (refunded, charged_back, plain) = early_ids(&sb);
    let ids = [refunded, charged_back, plain];
    // A negative line for each reversal: the clean ledger.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(
        tmp.path(),
        &sb,
        &ledger(&sb, |_, _, l| vec![l.to_owned()]),
        1000,
    );
    let out = run_window(&cfg, &sb, october_week(), FetchMode::Refetch).await;
    assert_eq!(findings_on(&out, &ids), Vec::<String>::new());
    assert_eq!(
        out.result
            .provider
            .unwrap()
            .payment_lookups
            .found_by_details,
        2
    );

    // The payment line marked refunded (or charged back) instead of a negative line.
    let marked = ledger(&sb, |id, negative, line| match (negative, id) {
        (true, _) => vec![],
        (false, id) if id == refunded => vec![with_status(line, "Refund")],
        (false, id) if id == charged_back => vec![with_status(line, "Chargeback")],
        _ => vec![line.to_owned()],
    });
    let cfg = config(&tmp.path().join("marked"), &sb, &marked, 1000);
    let out = run_window(&cfg, &sb, october_week(), FetchMode::Refetch).await;
    assert_eq!(findings_on(&out, &ids), Vec::<String>::new());
}
