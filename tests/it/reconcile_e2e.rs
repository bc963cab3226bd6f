//! fetch (against the sandbox) → load → reconcile, on a ledger generated from the sandbox's
//! data with one deliberate discrepancy per class: exactly those come out.

use crate::support::*;
use rust_decimal::Decimal;
use xsolla_recon::job::config::{Config, FetchSettings, MerchantConfig};
use xsolla_recon::job::pipeline::{reconcile_window, ProviderSource};
use xsolla_recon::sandbox::ledger::ledger_export;
use xsolla_recon::sandbox::{DataQuirks, SandboxConfig};

#[tokio::test(flavor = "multi_thread")]
async fn every_class_is_found_end_to_end_and_nothing_else() {
    let sb = start(SandboxConfig {
        quirks: DataQuirks {
            duplicated_payments: 1,
            payout_amount_delta: Some(Decimal::new(5, 2)),
            breakdown_payments_delta: Some(Decimal::ONE),
            ..Default::default()
        },
        ..small_config()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let w = window("2026-10-01", "2026-10-31");
    let export = ledger_export(&sb.dataset(), w, true);
    let ledger_path = tmp.path().join("ledger.csv");
    std::fs::write(&ledger_path, &export.csv).unwrap();

    let merchant = MerchantConfig {
        name: "acme".into(),
        merchant_id: sb.merchant_id(),
        api_key_env: "UNUSED".into(),
        base_url: sb.base_url(),
        ledger: Some(xsolla_recon::sandbox::ledger::ledger_config(&ledger_path)),
        project_ids: vec![],
        mail: Default::default(),
    };
    let cfg = Config {
        data_dir: tmp.path().join("data"),
        ..Config::default()
    };
    let settings = FetchSettings {
        page_limit: 200,
        ..FetchSettings::default()
    };
    let (snap, _) = xsolla_recon::fetch::fetch_window(
        &client(&sb),
        &cfg.data_dir,
        merchant.fetch_target(),
        w,
        &settings,
        &xsolla_recon::fetch::NoProgress,
    )
    .await
    .unwrap();

    let run = reconcile_window(
        &cfg,
        &merchant,
        w,
        &ProviderSource::Snapshot(snap.clone()),
        None,
        tmp.path(),
        "run-1",
        d("2026-11-02"),
    )
    .unwrap();
    let dsc = &run.discrepancies;
    let class = dsc.column("class").unwrap().str().unwrap().clone();
    let txn = dsc.column("transaction_id").unwrap().i64().unwrap().clone();
    let mut found: Vec<(String, Option<i64>)> = (0..dsc.height())
        .map(|i| (class.get(i).unwrap().to_owned(), txn.get(i)))
        .filter(|(c, _)| {
            !matches!(
                c.as_str(),
                "duplicate_in_provider" | "payout_mismatch" | "breakdown_mismatch"
            )
        })
        .collect();
    let mut expected: Vec<(String, Option<i64>)> = export
        .injected
        .iter()
        .map(|f| (f.class.to_owned(), f.transaction_id))
        .collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected, "ledger-side findings");
    let provider_side: Vec<&str> = (0..dsc.height())
        .map(|i| class.get(i).unwrap())
        .filter(|c| {
            matches!(
                *c,
                "duplicate_in_provider" | "payout_mismatch" | "breakdown_mismatch"
            )
        })
        .collect();
    assert_eq!(
        provider_side,
        vec![
            "breakdown_mismatch",
            "duplicate_in_provider",
            "payout_mismatch"
        ],
        "one finding per provider-side quirk"
    );
    assert!(
        expected.len() >= 8,
        "all ledger-side classes were injected: {expected:?}"
    );

    // Nothing lost, and the files are written.
    let r = &run.output.summary.rows;
    assert_eq!(r.ledger_rows, export.lines as u64);
    assert_eq!(
        r.ledger_rows,
        r.ledger_out_of_window + r.ledger_reported + r.ledger_matched
    );
    assert_eq!(
        r.provider_rows,
        r.provider_out_of_scope + r.provider_reported + r.provider_matched
    );
    assert_eq!(run.state.new.len(), dsc.height());
    assert_eq!(run.open_items.new, dsc.height() as u64);

    // The same inputs give byte-identical results; open items age.
    let run2 = reconcile_window(
        &cfg,
        &merchant,
        w,
        &ProviderSource::Snapshot(snap.clone()),
        None,
        tmp.path(),
        "run-2",
        d("2026-11-05"),
    )
    .unwrap();
    assert!(run2
        .output
        .discrepancies
        .equals_missing(&run.output.discrepancies));
    assert_eq!(run2.state.still_open.len(), dsc.height());
    let age = run2
        .discrepancies
        .column("age_days")
        .unwrap()
        .i64()
        .unwrap()
        .clone();
    assert!(
        age.iter().all(|a| a == Some(3)),
        "first seen three days earlier"
    );

    // Cut into slices of the transactions (a few rows each), the run finds and counts the
    // very same (`reconcile.rows_per_slice`).
    let mut sliced = Config {
        data_dir: tmp.path().join("data-sliced"),
        ..cfg.clone()
    };
    sliced.reconcile.rows_per_slice = 7;
    let run3 = reconcile_window(
        &sliced,
        &merchant,
        w,
        &ProviderSource::Snapshot(snap.clone()),
        None,
        tmp.path(),
        "run-3",
        d("2026-11-02"),
    )
    .unwrap();
    assert!(run3
        .output
        .discrepancies
        .equals_missing(&run.output.discrepancies));
    assert_eq!(run3.output.summary, run.output.summary);
    sb.shutdown().await;
}
