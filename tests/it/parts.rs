//! A run in parts (`reconcile.rows_per_part`) writes, byte for byte, the reports a run whole
//! writes: the sandbox's registry as an export (repeated payments, refunds of payments before
//! the window), against a ledger with planted differences and a line set aside, with the fuzzy
//! rule off and on; and it leaves no part file behind.

use crate::support::*;
use std::path::{Path, PathBuf};
use xsolla_recon::fetch::NoProgress;
use xsolla_recon::job::config::{Config, FetchSettings};
use xsolla_recon::job::to_folder::{reconcile_to_folder, FolderRequest};
use xsolla_recon::load::ledger::OnBadRow;
use xsolla_recon::sandbox::ledger::ledger_export;
use xsolla_recon::sandbox::{DataQuirks, SandboxConfig};
use xsolla_recon::xsolla::client::Format;

/// Every file of `dir`, by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn run(cfg: &Config, export: &Path, out: &Path) -> usize {
    let w = window("2026-10-01", "2026-10-31");
    let done = reconcile_to_folder(&FolderRequest {
        cfg,
        merchant: &cfg.merchants[0],
        window: w,
        registry_export: Some(export),
        ledger: None,
        base_dir: out.parent().unwrap(),
        out: Some(out),
    })
    .unwrap();
    done.result.discrepancies.height()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_in_parts_writes_the_reports_a_whole_run_writes() {
    let sb = start(SandboxConfig {
        quirks: DataQuirks {
            duplicated_payments: 3,
            early_refunds: 3,
            early_refunds_days_earlier: 4,
            ..Default::default()
        },
        transactions_per_day: 8,
        ..small_config()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let w = window("2026-10-01", "2026-10-31");
    let mut ledger = ledger_export(&sb.dataset(), window("2026-09-20", "2026-11-10"), true).csv;
    // A line the ledger cannot read, set aside and counted.
    ledger.extend_from_slice(b"\nnot-a-number,,x,USD,2026-10-05,paid\n");
    let mut cfg = sandbox_job_config(tmp.path(), &sb, &ledger);
    cfg.merchants[0].ledger.as_mut().unwrap().on_bad_row = OnBadRow::Quarantine;
    // The registry as Xsolla writes it in CSV stands in for an export: one page, every row.
    let settings = FetchSettings {
        format: Format::Csv,
        page_limit: 1000,
        ..Default::default()
    };
    let (snap, manifest) = xsolla_recon::fetch::fetch_window(
        &client(&sb),
        &cfg.data_dir,
        cfg.merchants[0].fetch_target(),
        cfg.reconcile.provider_window(w),
        &settings,
        &NoProgress,
    )
    .await
    .unwrap();
    // The registry pages, one after the other under one header, stand in for an export.
    let mut text = String::new();
    for (i, f) in manifest
        .files
        .iter()
        .filter(|f| f.endpoint == "registry")
        .enumerate()
    {
        let page = std::fs::read_to_string(snap.join(&f.path)).unwrap();
        let body = if i == 0 {
            page.as_str()
        } else {
            page.split_once('\n').map_or("", |(_, b)| b)
        };
        text.push_str(body);
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    let export: PathBuf = tmp.path().join("registry.csv");
    std::fs::write(&export, &text).unwrap();
    let parts_dir = tmp.path().join("parts");
    cfg.reconcile.parts_dir = Some(parts_dir.clone());
    for fuzzy in [false, true] {
        cfg.reconcile.fuzzy.enabled = fuzzy;
        cfg.reconcile.rows_per_part = 0;
        let whole_dir = tmp.path().join(format!("whole-{fuzzy}"));
        let found = run(&cfg, &export, &whole_dir);
        assert!(found > 5, "the planted differences are found: {found}");
        let whole = files(&whole_dir);
        assert!(
            whole.len() >= 7,
            "{:?}",
            whole.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        let rows = std::fs::read_to_string(&export).unwrap().lines().count();
        for rows_per_part in [rows / 9, rows / 2, rows * 2] {
            cfg.reconcile.rows_per_part = rows_per_part;
            let dir = tmp.path().join(format!("parts-{fuzzy}-{rows_per_part}"));
            assert_eq!(run(&cfg, &export, &dir), found);
            let parted = files(&dir);
            assert_eq!(
                parted.iter().map(|f| &f.0).collect::<Vec<_>>(),
                whole.iter().map(|f| &f.0).collect::<Vec<_>>()
            );
            for ((name, a), (_, b)) in whole.iter().zip(&parted) {
                assert!(
                    a == b,
                    "{name} differs in parts of {rows_per_part} rows (fuzzy {fuzzy}):\n{}\n---\n{}",
                    String::from_utf8_lossy(a)
                        .chars()
                        .take(3000)
                        .collect::<String>(),
                    String::from_utf8_lossy(b)
                        .chars()
                        .take(3000)
                        .collect::<String>()
                );
            }
            let left: Vec<_> = std::fs::read_dir(&parts_dir).unwrap().collect();
            assert!(left.is_empty(), "part files left behind: {left:?}");
        }
    }
}
