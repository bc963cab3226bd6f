//! `xsolla-recon fetch`, the real binary in a temp folder, against an in-process sandbox.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Output;
use xsolla_recon::sandbox::{Fault, FaultRule, Sandbox, SandboxConfig};

const SENTINEL_KEY: &str = "sentinel-SECRET-key-7f3a";

fn write_config(dir: &Path, sb: &Sandbox, format: &str) -> PathBuf {
    let text = format!(
        r#"data_dir = "{data}"
[http]
backoff_initial_ms = 5
backoff_max_ms = 50
min_request_interval_ms = 0
request_timeout_ms = 2000
max_attempts = 4
[fetch]
format = "{format}"
page_limit = 45
[[merchant]]
name = "acme"
merchant_id = {mid}
api_key_env = "RECON_TEST_KEY"
base_url = "{url}"
"#,
        data = dir.join("data").display(),
        mid = sb.merchant_id(),
        url = sb.base_url(),
    );
    let p = dir.join("recon.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs the binary in `dir` at trace level, with `key` in `RECON_TEST_KEY` or no such variable.
async fn run(dir: &Path, key: Option<&str>, args: &[&str]) -> Output {
    let bin = Bin::new(dir).args(args).env("RUST_LOG", "trace");
    let bin = match key {
        Some(k) => bin.env("RECON_TEST_KEY", k),
        None => bin.env_remove("RECON_TEST_KEY"),
    };
    bin.output_async().await
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_writes_verified_snapshots_and_offline_reuses_them() {
    let sb = start(SandboxConfig {
        api_key: SENTINEL_KEY.into(),
        ..small_config()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), &sb, "json");
    let cfg = cfg.to_str().unwrap();
    // A fault on the way is survived.
    sb.add_faults(vec![FaultRule {
        endpoint: Some("registry".into()),
        fault: Fault::Status { code: 503 },
        skip: 2,
        times: 1,
    }]);
    let out = run(
        tmp.path(),
        Some(SENTINEL_KEY),
        &[
            "fetch",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-31",
            "--config",
            cfg,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let expected_rows = sb
        .dataset()
        .registry_json(d("2026-10-01"), d("2026-10-31"))
        .len();
    assert!(
        stdout.contains(&format!("{expected_rows} registry rows")),
        "{stdout}"
    );
    assert!(stdout.contains("(1 retried)"), "{stdout}");

    let snaps = tmp.path().join("data/snapshots/acme");
    let dirs: Vec<_> = std::fs::read_dir(&snaps).unwrap().flatten().collect();
    assert_eq!(dirs.len(), 1, "one complete snapshot, no staging left");
    let snap = dirs[0].path();
    let manifest = xsolla_recon::fetch::verify_snapshot(&snap).unwrap();
    assert_eq!(manifest.counts.registry.rows_received, expected_rows as u64);
    assert!(manifest.files.iter().all(|f| !f.url.contains(SENTINEL_KEY)));
    assert!(manifest.files.iter().any(|f| f.endpoint == "payouts"));
    assert!(manifest.files.iter().any(|f| f.endpoint == "breakdown"));
    assert!(manifest.files.iter().any(|f| f.endpoint == "reports"));

    // Offline: same counts, no request to the server.
    let before = sb.requests().len();
    let off = run(
        tmp.path(),
        None,
        &[
            "fetch",
            "--offline",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-31",
            "--config",
            cfg,
        ],
    )
    .await;
    assert!(off.status.success(), "{}", text(&off));
    assert!(
        String::from_utf8_lossy(&off.stdout).contains(&format!("{expected_rows} registry rows"))
    );
    assert_eq!(sb.requests().len(), before);

    // The key never reaches a file or the output, even at trace level.
    for p in files_under(tmp.path()) {
        let bytes = std::fs::read(&p).unwrap();
        assert!(
            !bytes_contain(&bytes, SENTINEL_KEY),
            "key leaked into {}",
            p.display()
        );
    }
    assert!(!bytes_contain(&out.stdout, SENTINEL_KEY) && !bytes_contain(&out.stderr, SENTINEL_KEY));

    // A damaged snapshot is refused offline, naming the file.
    let page = manifest
        .files
        .iter()
        .find(|f| f.endpoint == "registry")
        .unwrap();
    std::fs::write(snap.join(&page.path), b"[]").unwrap();
    let bad = run(
        tmp.path(),
        None,
        &[
            "fetch",
            "--offline",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-31",
            "--config",
            cfg,
        ],
    )
    .await;
    assert_exit(&bad, 3);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains(&page.path),
        "{}",
        text(&bad)
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_fetch_matches_json_fetch() {
    let sb = start(small_config()).await;
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let key = sb.api_key().to_owned();
    let args = |c: &str| {
        vec![
            "fetch".to_owned(),
            "--from".into(),
            "2026-10-01".into(),
            "--to".into(),
            "2026-10-20".into(),
            "--config".into(),
            c.to_owned(),
        ]
    };
    let ca = write_config(a.path(), &sb, "json");
    let cb = write_config(b.path(), &sb, "csv");
    let oa = run(
        a.path(),
        Some(&key),
        &args(ca.to_str().unwrap())
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )
    .await;
    let ob = run(
        b.path(),
        Some(&key),
        &args(cb.to_str().unwrap())
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )
    .await;
    assert!(
        oa.status.success() && ob.status.success(),
        "{}\n{}",
        text(&oa),
        text(&ob)
    );
    let rows = |o: &Output| {
        let s = String::from_utf8_lossy(&o.stdout).into_owned();
        s.split(": ")
            .nth(1)
            .unwrap()
            .split(" registry rows")
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(rows(&oa), rows(&ob));
    let snap = std::fs::read_dir(b.path().join("data/snapshots/acme"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let m = xsolla_recon::fetch::verify_snapshot(&snap).unwrap();
    assert!(m.files.iter().any(|f| f.path.ends_with(".csv")));
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_and_credential_errors_have_distinct_exit_codes() {
    let sb = start(small_config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), &sb, "json");
    let cfg = cfg.to_str().unwrap();
    let args = [
        "fetch",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-02",
        "--config",
        cfg,
    ];

    let missing = run(tmp.path(), None, &args).await;
    assert_exit(&missing, 2);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("RECON_TEST_KEY"));

    let wrong = run(tmp.path(), Some("wrong-key-123"), &args).await;
    assert_exit(&wrong, 3);
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("wrong-key-123"), "{err}");
    // Nothing half-written is left behind.
    let snaps = tmp.path().join("data/snapshots/acme");
    assert_eq!(std::fs::read_dir(&snaps).unwrap().count(), 0);

    let reversed = run(
        tmp.path(),
        Some("k"),
        &[
            "fetch",
            "--from",
            "2026-10-05",
            "--to",
            "2026-10-01",
            "--config",
            cfg,
        ],
    )
    .await;
    assert_exit(&reversed, 2);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_in_an_empty_folder_with_no_config_or_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), None, &["demo"]).await;
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("registry rows"), "{stdout}");
    let snaps = tmp.path().join("out/demo/data/snapshots/acme-games");
    let snap = std::fs::read_dir(&snaps)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let m = xsolla_recon::fetch::verify_snapshot(&snap).unwrap();
    assert!(m.counts.registry.rows_received > 500, "{:?}", m.counts);
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_exits_0_when_clean_and_1_when_discrepancies_are_found() {
    let sb = start(small_config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), &sb, "json");
    let mut text_cfg = std::fs::read_to_string(&cfg).unwrap();
    text_cfg.push_str(
        "[merchant.ledger]\npath = \"ledger.csv\"\n[merchant.ledger.columns]\ndate = \"Booking date\"\ntransaction_id = \"Xsolla transaction\"\norder_id = \"Order\"\ncurrency = \"Currency\"\namount = \"Gross\"\nfee = \"Fee\"\nstatus = \"Status\"\n[merchant.ledger.status_map]\nPaid = \"paid\"\nRefund = \"refunded\"\nChargeback = \"chargeback\"\n",
    );
    std::fs::write(&cfg, text_cfg).unwrap();
    let cfg = cfg.to_str().unwrap();
    let w = window("2026-10-01", "2026-10-31");
    let key = sb.api_key().to_owned();
    let fetch = run(
        tmp.path(),
        Some(&key),
        &[
            "fetch",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-31",
            "--config",
            cfg,
        ],
    )
    .await;
    assert!(fetch.status.success(), "{}", text(&fetch));

    let clean = xsolla_recon::sandbox::ledger::ledger_export(&sb.dataset(), w, false);
    std::fs::write(tmp.path().join("ledger.csv"), &clean.csv).unwrap();
    let args = [
        "reconcile",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
        "--config",
        cfg,
        "--out",
        "out/clean",
    ];
    let ok = run(tmp.path(), None, &args).await;
    assert_exit(&ok, 0);
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("0 discrepancies"),
        "{}",
        text(&ok)
    );

    let faulty = xsolla_recon::sandbox::ledger::ledger_export(&sb.dataset(), w, true);
    std::fs::write(tmp.path().join("ledger.csv"), &faulty.csv).unwrap();
    let args = [
        "reconcile",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
        "--config",
        cfg,
        "--out",
        "out/faulty",
    ];
    let found = run(tmp.path(), None, &args).await;
    assert_exit(&found, 1);
    let stdout = String::from_utf8_lossy(&found.stdout);
    assert!(
        stdout.contains(&format!("{} discrepancies", faulty.injected.len())),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(tmp.path().join("out/faulty/discrepancies.csv")).unwrap();
    assert_eq!(csv.lines().count(), faulty.injected.len() + 1, "{csv}");
    sb.shutdown().await;
}
