//! Ledger conventions (README, "Ledger conventions"): one month of sandbox data booked as ten
//! real finance exports book it, each reconciled by the real binary against the sandbox over
//! loopback HTTP. With its documented `[merchant.ledger]` tables each export yields exactly
//! the discrepancies planted in it, and counts the lines it sets aside; with the tables of the
//! standard export (the default conventions) it yields a flood of false findings, or, for the
//! German-style CSV, a load error naming the file, line, column and value: the setting matters.

use crate::support::*;
use std::path::Path;
use xsolla_recon::sandbox::ledger::{
    ledger_export_with, Convention, ExportFormat, ExportOptions, LedgerExport,
};
use xsolla_recon::sandbox::{Sandbox, SandboxConfig};

const KEY_VAR: &str = "RECON_CONVENTIONS_TEST_KEY";

/// (class, transaction id) of each finding of a run.
type Found = Vec<(String, Option<i64>)>;

/// What one run of the binary gave.
struct Outcome {
    code: Option<i32>,
    found: Found,
    /// `summary.json`'s `rows.reconciled`.
    rows: serde_json::Value,
    /// (class, detail) of each finding.
    details: Vec<(String, String)>,
    /// `summary.json`'s `not_checked` lines.
    not_checked: serde_json::Value,
    stderr: String,
}

/// Writes a config named `name` for acme reading `ledger/<file>` with `tables`, into `dir`.
fn write_config(dir: &Path, sb: &Sandbox, name: &str, c: Convention, file: &str, tables: &str) {
    let ids: Vec<String> = c.project_ids().iter().map(i64::to_string).collect();
    let text = format!(
        r#"data_dir = "data-{name}"
[http]
backoff_initial_ms = 5
backoff_max_ms = 50
min_request_interval_ms = 0
request_timeout_ms = 5000
max_attempts = 4
[fetch]
page_limit = 200
show_dry_run = {tests}
[run]
reports_dir = "reports-{name}"
[[merchant]]
name = "acme"
merchant_id = {mid}
api_key_env = "{KEY_VAR}"
base_url = "{url}"
project_ids = [{ids}]
[merchant.ledger]
path = "ledger/{file}"
{tables}"#,
        tests = c.needs_test_rows(),
        mid = sb.merchant_id(),
        url = sb.base_url(),
        ids = ids.join(", "),
    );
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
}

/// Runs October with config `name` and reads the findings and row counts back.
async fn run(dir: &Path, sb: &Sandbox, name: &str) -> Outcome {
    run_with(dir, sb, name, &[]).await
}

/// [`run`] with `global` flags before the command (`-v`: the debug log in `stderr`).
async fn run_with(dir: &Path, sb: &Sandbox, name: &str, global: &[&str]) -> Outcome {
    let config = format!("{name}.toml");
    let command = [
        "run",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
        "--config",
        &config,
        "--dry-run",
    ];
    let out = crate::support::bin::Bin::new(dir)
        .args(global.iter().chain(command.iter()))
        .env(KEY_VAR, sb.api_key())
        .env_remove("XSOLLA_RECON_CONFIG")
        .output_async()
        .await;
    let mut o = Outcome {
        code: out.status.code(),
        found: Vec::new(),
        rows: serde_json::Value::Null,
        details: Vec::new(),
        not_checked: serde_json::Value::Null,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let base = dir.join(format!("reports-{name}/acme/2026-10-01_2026-10-31"));
    let Some(run_dir) = std::fs::read_dir(&base)
        .ok()
        .and_then(|rd| rd.flatten().map(|e| e.path()).max())
    else {
        return o;
    };
    let mut rdr = csv::Reader::from_path(run_dir.join("discrepancies.csv")).unwrap();
    let header = rdr.headers().unwrap().clone();
    let at = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (c, t, d) = (at("class"), at("transaction_id"), at("detail"));
    for r in rdr.records() {
        let r = r.unwrap();
        o.found.push((r[c].to_owned(), r[t].parse().ok()));
        o.details.push((r[c].to_owned(), r[d].to_owned()));
    }
    o.found.sort();
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
    o.rows = summary["rows"]["reconciled"].clone();
    o.not_checked = summary["not_checked"].clone();
    o
}

/// The export of `c` in `format`, reconciled with its own tables (`own`) and with the
/// standard export's (`naive`).
async fn reconcile_both_ways(
    c: Convention,
    format: ExportFormat,
) -> (LedgerExport, Outcome, Outcome) {
    reconcile_edited(c, format, |e| e.csv.clone()).await
}

/// [`reconcile_both_ways`] of the export's bytes as `edit` changes them.
async fn reconcile_edited(
    c: Convention,
    format: ExportFormat,
    edit: impl FnOnce(&LedgerExport) -> Vec<u8>,
) -> (LedgerExport, Outcome, Outcome) {
    let sb = start(SandboxConfig {
        quirks: c.quirks(),
        ..small_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let opts = ExportOptions {
        inject: true,
        convention: c,
        format,
        ..ExportOptions::default()
    };
    let export = ledger_export_with(&sb.dataset(), window("2026-10-01", "2026-10-31"), opts);
    let file = match format {
        ExportFormat::Xlsx => "ledger.xlsx",
        _ => "ledger.csv",
    };
    std::fs::create_dir_all(dir.path().join("ledger")).unwrap();
    std::fs::write(dir.path().join("ledger").join(file), edit(&export)).unwrap();
    let p = "merchant.ledger.";
    write_config(dir.path(), &sb, "own", c, file, &c.tables(format, p, true));
    write_config(
        dir.path(),
        &sb,
        "naive",
        c,
        file,
        &c.tables(format, p, false),
    );
    // The same tables with the rules run in slices of a few dozen rows
    // (`reconcile.rows_per_slice`): every convention gives the very same findings and counts.
    let sliced_tables = format!(
        "{}\n[reconcile]\nrows_per_slice = 40\n",
        c.tables(format, p, true)
    );
    write_config(dir.path(), &sb, "sliced", c, file, &sliced_tables);
    let own = run(dir.path(), &sb, "own").await;
    let naive = run(dir.path(), &sb, "naive").await;
    let sliced = run_with(dir.path(), &sb, "sliced", &["-v"]).await;
    sb.shutdown().await;
    assert!(
        sliced
            .stderr
            .contains("rules run in slices of the transactions"),
        "{c:?}: the run was not cut into slices: {}",
        sliced.stderr
    );
    assert_eq!(sliced.code, own.code, "{c:?} in slices: {}", sliced.stderr);
    assert_eq!(sliced.found, own.found, "{c:?} in slices");
    assert_eq!(sliced.details, own.details, "{c:?} in slices");
    assert_eq!(sliced.rows, own.rows, "{c:?} in slices");
    assert_eq!(sliced.not_checked, own.not_checked, "{c:?} in slices");
    (export, own, naive)
}

/// With its own tables: exactly the planted findings, every line accounted for, the set-aside
/// lines counted under their names.
fn assert_exact(c: Convention, export: &LedgerExport, own: &Outcome) {
    assert_eq!(
        own.code,
        Some(1),
        "{c:?}: findings → exit 1\n{}",
        own.stderr
    );
    let mut planted: Found = export
        .injected
        .iter()
        .map(|f| (f.class.to_owned(), f.transaction_id))
        .collect();
    planted.sort();
    assert!(planted.len() >= 7, "{c:?}: faults planted: {planted:?}");
    assert_eq!(
        own.found, planted,
        "{c:?}: exactly the planted discrepancies"
    );
    let set_aside = match c {
        Convention::JournalLines => export.set_aside.journal,
        Convention::Projects => export.set_aside.other_projects,
        Convention::PendingAndTest => export.set_aside.not_money,
        _ => 1,
    };
    assert!(set_aside > 0, "{c:?}: the export has lines to set aside");
    let n = |k: &str| own.rows[k].as_u64().unwrap_or(0);
    assert_eq!(n("ledger_rows"), export.lines as u64, "{c:?}: {}", own.rows);
    assert_eq!(n("ledger_not_money"), export.set_aside.not_money, "{c:?}");
    assert_eq!(n("ledger_journal_lines"), export.set_aside.journal, "{c:?}");
    assert_eq!(
        n("ledger_other_projects"),
        export.set_aside.other_projects,
        "{c:?}"
    );
    let parts = [
        "ledger_not_money",
        "ledger_journal_lines",
        "ledger_other_projects",
        "ledger_out_of_window",
        "ledger_reported",
        "ledger_in_margin",
        "ledger_matched",
    ];
    assert_eq!(
        parts.iter().map(|k| n(k)).sum::<u64>(),
        n("ledger_rows"),
        "{c:?}: every line accounted for: {}",
        own.rows
    );
}

/// With the standard export's tables: many more findings than were planted.
fn assert_flood(c: Convention, export: &LedgerExport, naive: &Outcome, at_least: usize) {
    assert_eq!(naive.code, Some(1), "{c:?}\n{}", naive.stderr);
    assert!(
        naive.found.len() >= export.injected.len() + at_least,
        "{c:?}: the default conventions give a flood of false findings, got {} ({:?})",
        naive.found.len(),
        naive.found
    );
}

async fn check(c: Convention, format: ExportFormat, flood: usize) {
    let (export, own, naive) = reconcile_both_ways(c, format).await;
    assert_exact(c, &export, &own);
    assert_flood(c, &export, &naive, flood);
}

#[tokio::test(flavor = "multi_thread")]
async fn gross_without_tax() {
    check(Convention::WithoutTax, ExportFormat::Csv, 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nominal_price() {
    check(Convention::Nominal, ExportFormat::Csv, 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn payout_currency() {
    let c = Convention::PayoutCurrency;
    let (export, own, naive) = reconcile_both_ways(c, ExportFormat::Csv).await;
    assert_exact(c, &export, &own);
    assert_flood(c, &export, &naive, 20);
    // Converted amounts: the finding says how much rounding it allowed.
    for class in ["amount_mismatch", "fee_mismatch"] {
        let (_, detail) = own.details.iter().find(|(c, _)| c == class).unwrap();
        assert!(
            detail.contains("1 converted row(s) x fx_tolerance 0.01"),
            "{detail}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reporting_currency_with_its_own_rate_in_an_xlsx() {
    check(Convention::ReportingCurrency, ExportFormat::Xlsx, 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refunds_as_positive_lines_with_a_refund_status() {
    check(Convention::PositiveRefunds, ExportFormat::Csv, 5).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refunds_as_a_status_on_the_payment_line() {
    // `Refunded` is itself a normalised status, so the default reading already takes those
    // payments as refunded; the chargeback ("Charged back") and partial refunds it misreads.
    let c = Convention::StatusOnPayment;
    let (export, own, naive) = reconcile_both_ways(c, ExportFormat::Csv).await;
    assert_exact(c, &export, &own);
    assert_flood(c, &export, &naive, 1);
    // The refunded amounts have no ledger line to be compared with: said, and counted.
    let n = not_checked(&own, "refund_amount");
    assert!(n > 0, "{}", own.not_checked);
}

#[tokio::test(flavor = "multi_thread")]
async fn fee_and_tax_journal_lines() {
    let c = Convention::JournalLines;
    let (export, own, naive) = reconcile_both_ways(c, ExportFormat::Csv).await;
    // The planted fee fault sits on a fee journal line: found through the sale's fee.
    assert!(export.injected.iter().any(|f| f.class == "fee_mismatch"));
    assert_exact(c, &export, &own);
    assert_flood(c, &export, &naive, 20);
    // Every fee line has its sale, and the sales' fees were compared.
    let fees: Vec<&serde_json::Value> = own
        .not_checked
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["check"] == "fees" && l["subject"] != "matched ledger lines")
        .collect();
    assert!(fees.is_empty(), "{}", own.not_checked);
}

/// The total count of the summary's not-checked lines of `check`.
fn not_checked(o: &Outcome, check: &str) -> u64 {
    o.not_checked
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|l| l["check"] == check)
                .map(|l| l["count"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fee_column_with_the_cpa_network_commission() {
    check(Convention::CpaFee, ExportFormat::Csv, 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fee_column_with_every_fee_where_amounts_leave_out_the_fixed_parts() {
    check(Convention::AllFees, ExportFormat::Csv, 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_projects_with_overlapping_order_numbers() {
    check(Convention::Projects, ExportFormat::Csv, 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_lines_and_test_purchases() {
    check(Convention::PendingAndTest, ExportFormat::Csv, 5).await;
}

/// The export with the test flag of two plain payments turned over (one of Xsolla's test
/// payments booked as real, one real payment flagged test), and their transaction ids.
fn flip_test_flags(export: &LedgerExport) -> (Vec<u8>, [i64; 2]) {
    let mut rdr = csv::Reader::from_reader(export.csv.as_slice());
    let header = rdr.headers().unwrap().clone();
    let at = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (t, test, gross, date, status) = (
        at("Xsolla transaction"),
        at("Test"),
        at("Gross"),
        at("Booking date"),
        at("Status"),
    );
    let mut rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let planted: Vec<i64> = export
        .injected
        .iter()
        .filter_map(|f| f.transaction_id)
        .collect();
    let lines_of = |id: &str| rows.iter().filter(|r| &r[t] == id).count();
    let plain = |r: &csv::StringRecord, flagged: &str| {
        let id: Option<i64> = r[t].parse().ok();
        r[test] == *flagged
            && &r[status] == "Paid"
            && !r[gross].starts_with('-')
            && ("2026-10-05".."2026-10-25").contains(&&r[date])
            && id.is_some_and(|id| !planted.contains(&id) && lines_of(&r[t]) == 1)
    };
    let pick = |flagged: &str| rows.iter().position(|r| plain(r, flagged)).unwrap();
    let (a, b) = (pick("yes"), pick(""));
    let mut ids = [0; 2];
    for (k, (i, to)) in [(a, ""), (b, "yes")].into_iter().enumerate() {
        ids[k] = rows[i][t].parse().unwrap();
        let mut cells: Vec<String> = rows[i].iter().map(str::to_owned).collect();
        cells[test] = to.to_owned();
        rows[i] = csv::StringRecord::from(cells);
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header).unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    (w.into_inner().unwrap(), ids)
}

#[tokio::test(flavor = "multi_thread")]
async fn test_flags_that_disagree_with_xsolla_s_dry_run_are_findings() {
    let c = Convention::PendingAndTest;
    let mut flipped = [0; 2];
    let (export, own, _) = reconcile_edited(c, ExportFormat::Csv, |e| {
        let (bytes, ids) = flip_test_flags(e);
        flipped = ids;
        bytes
    })
    .await;
    let mut expected: Found = export
        .injected
        .iter()
        .map(|f| (f.class.to_owned(), f.transaction_id))
        .chain(
            flipped
                .iter()
                .map(|t| ("status_mismatch".to_owned(), Some(*t))),
        )
        .collect();
    expected.sort();
    assert_eq!(own.found, expected, "{}", own.stderr);
    for (id, words) in [
        (flipped[0], "Xsolla reports a test (dry-run) payment"),
        (flipped[1], "The ledger flags a test purchase"),
    ] {
        assert!(
            own.details
                .iter()
                .any(|(c, d)| c == "status_mismatch" && d.contains(words)),
            "{id}: {:?}",
            own.details
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn german_style_csv() {
    let c = Convention::Standard;
    let (export, own, naive) = reconcile_both_ways(c, ExportFormat::GermanCsv).await;
    assert_exact(c, &export, &own);
    // Read with the standard dialect, `1.234,56` is no amount: the load stops and says where.
    assert_eq!(naive.code, Some(3), "{}", naive.stderr);
    assert!(
        naive.stderr.contains("ledger/ledger.csv:") && naive.stderr.contains("column \"Gross\""),
        "{}",
        naive.stderr
    );
}
