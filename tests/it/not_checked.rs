//! Checks that could not run are reported, never silent: a payout without an amount or
//! without its rows, a breakdown value with more decimals than money holds, a breakdown that
//! lists one currency twice, a fee comparison against a ledger with no fee column. Each run
//! here ends normally, and its summary, `summary.json`, `report.html`, the XLSX Summary sheet,
//! the mail and the run manifest say what was not checked and why.

use crate::support::*;
use calamine::{open_workbook, Data, Reader, Xlsx};
use std::path::Path;
use xsolla_recon::domain::not_checked::NotChecked;
use xsolla_recon::domain::window::Window;
use xsolla_recon::fetch::NoProgress;
use xsolla_recon::job::config::Config;
use xsolla_recon::job::{run, FetchMode, MailMode, RunOutcome, RunRequest};
use xsolla_recon::reconcile::Comparison;
use xsolla_recon::sandbox::ledger::ledger_export;
use xsolla_recon::sandbox::{DataQuirks, Sandbox, SandboxConfig};
use xsolla_recon::xsolla::ApiKey;

/// The sandbox's month, with `quirks`.
async fn sandbox_with(quirks: DataQuirks) -> Sandbox {
    start(SandboxConfig {
        quirks,
        ..small_config()
    })
    .await
}

/// A job config on `sb` whose ledger is the sandbox's own export of October (no injected
/// differences), so whatever is reported comes from Xsolla's side. The export books no net
/// amount, so the comparisons are those it can take: gross and fees.
fn config(dir: &Path, sb: &Sandbox) -> Config {
    let csv = ledger_export(&sb.dataset(), window("2026-09-20", "2026-11-10"), false).csv;
    let mut cfg = sandbox_job_config(dir, sb, &csv);
    cfg.reconcile.comparisons = vec![Comparison::Gross, Comparison::Fees];
    cfg.merchants[0].mail.to = vec!["finance@example.com".into()];
    cfg
}

/// One run of `w`, its mail written as `email.eml` into the run folder.
async fn run_with_mail(cfg: &Config, sb: &Sandbox, w: Window) -> RunOutcome {
    let req = RunRequest {
        merchant: "acme".into(),
        window: w,
        fetch: FetchMode::Refetch,
        mail: MailMode::File,
        ledger: None,
        base_dir: cfg.data_dir.clone(),
        config_sha256: String::new(),
        api_key: Some(ApiKey::new(sb.api_key())),
        lock_wait: None,
    };
    run(cfg, &req, &NoProgress)
        .await
        .expect("the run ends normally")
}

/// The lines of check `check`.
fn lines<'a>(out: &'a RunOutcome, check: &str) -> Vec<&'a NotChecked> {
    let all = &out.result.output.summary.not_checked;
    all.iter().filter(|l| l.check == check).collect()
}

/// What the written files say: summary.json's lines and count, the page, the mail's text and
/// HTML bodies, and the Summary sheet's text cells.
struct Written {
    json: serde_json::Value,
    html: String,
    mail_text: String,
    mail_html: String,
    sheet: Vec<String>,
}

fn written(out: &RunOutcome) -> Written {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.dir.join("summary.json")).unwrap()).unwrap();
    let html = std::fs::read_to_string(out.dir.join("report.html")).unwrap();
    let eml = std::fs::read(out.dir.join("email.eml")).unwrap();
    let mail = mail_parser::MessageParser::default().parse(&eml).unwrap();
    let mut book: Xlsx<_> = open_workbook(out.dir.join("discrepancies.xlsx")).unwrap();
    let range = book.worksheet_range("Summary").unwrap();
    let sheet = range
        .rows()
        .flat_map(|r| r.iter())
        .filter_map(|c| match c {
            Data::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    Written {
        json,
        html,
        mail_text: mail.body_text(0).unwrap().into_owned(),
        mail_html: mail.body_html(0).unwrap().into_owned(),
        sheet,
    }
}

impl Written {
    /// Asserts that every output names `needle` (a reason's words, spreadsheet-safe).
    fn all_say(&self, needle: &str) {
        let json = self.json["not_checked"].to_string();
        assert!(json.contains(needle), "summary.json: {json}");
        assert!(self.html.contains(needle), "report.html lacks {needle:?}");
        assert!(
            self.mail_text.contains(needle),
            "mail text: {}",
            self.mail_text
        );
        assert!(
            self.mail_html.contains(needle),
            "mail html lacks {needle:?}"
        );
        assert!(
            self.sheet.iter().any(|c| c.contains(needle)),
            "Summary sheet: {:?}",
            self.sheet
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn payouts_without_an_amount_are_counted_not_checked_and_the_run_goes_on() {
    let sb = sandbox_with(DataQuirks {
        payouts_without_amount: true,
        ..Default::default()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), &sb);
    let w = window("2026-10-01", "2026-10-31");
    let out = run_with_mail(&cfg, &sb, w).await;

    let in_window: Vec<String> = sb
        .dataset()
        .payouts()
        .iter()
        .filter(|p| w.contains(p.date))
        .map(|p| format!("payout {}", p.id))
        .collect();
    assert!(!in_window.is_empty(), "the month has a payout");
    let payouts = lines(&out, "payout");
    let subjects: Vec<&str> = payouts.iter().map(|l| l.subject.as_str()).collect();
    assert_eq!(subjects, in_window, "one line per payout of the window");
    assert!(payouts.iter().all(|l| l.count == 1
        && l.reason.contains("no amount")
        && l.date.is_some_and(|d| w.contains(d))));
    let summary = &out.result.output.summary;
    assert!(
        !summary.by_class.contains_key("payout_mismatch"),
        "nothing to compare is not a difference"
    );

    let files = written(&out);
    assert_eq!(
        files.json["not_checked_count"],
        serde_json::json!(in_window.len())
    );
    files.all_say("Xsolla sent no amount for this payout");
    assert!(files.html.contains("<h2>Not checked</h2>"));
    assert!(files.mail_text.contains(&format!(
        "payout {}: Xsolla sent no amount",
        in_window.len()
    )));
    assert_eq!(out.manifest.counts.not_checked, in_window.len() as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn payouts_whose_rows_were_not_read_are_not_checked() {
    let sb = sandbox_with(DataQuirks::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path(), &sb);
    cfg.fetch.payout_rows = false;
    let w = window("2026-10-01", "2026-10-31");
    let out = run_with_mail(&cfg, &sb, w).await;

    let payouts = lines(&out, "payout");
    let expected = sb
        .dataset()
        .payouts()
        .iter()
        .filter(|p| w.contains(p.date))
        .count();
    assert_eq!(payouts.len(), expected);
    assert!(payouts
        .iter()
        .all(|l| l.reason.contains("registry rows were not read")));
    written(&out).all_say("fetch.payout_rows = false");

    // With the rows read (the default), every payout is checked and nothing is said.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), &sb);
    let out = run_with_mail(&cfg, &sb, w).await;
    assert_eq!(lines(&out, "payout"), Vec::<&NotChecked>::new());
    let files = written(&out);
    assert!(!files.html.contains("Not checked"), "silence: all ran");
    assert!(!files.mail_text.contains("Not checked"));
    assert_eq!(files.json["not_checked_count"], serde_json::json!(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn breakdown_float_noise_and_a_repeated_currency_are_not_checked() {
    let sb = sandbox_with(DataQuirks {
        breakdown_float_noise: true,
        breakdown_repeated_currency: true,
        ..Default::default()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), &sb);
    let out = run_with_mail(&cfg, &sb, window("2026-10-01", "2026-10-07")).await;

    let breakdown = lines(&out, "breakdown");
    assert_eq!(breakdown.len(), 2, "{breakdown:?}");
    let (noise, twice) = (breakdown[0], breakdown[1]);
    assert!(noise.subject.starts_with("2026-10-01 "), "{noise:?}");
    assert!(noise.reason.contains("SumPayoutSum"), "{noise:?}");
    assert!(
        noise
            .reason
            .contains("00000000002 has more than 6 decimals"),
        "the value as sent, never rounded: {noise:?}"
    );
    assert!(twice.subject.starts_with("2026-10-02 "), "{twice:?}");
    assert!(twice.reason.contains("is listed 2 times"), "{twice:?}");
    assert_eq!(twice.count, 2, "both rows are left out");
    let provider = out.result.provider.unwrap();
    assert_eq!(provider.breakdown_rows_not_checked, 3);

    // The other currencies and days are still compared: the sandbox's sums agree.
    let summary = &out.result.output.summary;
    assert!(!summary.by_class.contains_key("breakdown_mismatch"));
    let files = written(&out);
    files.all_say("has more than 6 decimals");
    files.all_say("is listed 2 times");
    assert_eq!(files.json["not_checked_count"], serde_json::json!(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ledger_without_a_fee_column_is_one_not_checked_line_when_fees_are_compared() {
    let sb = sandbox_with(DataQuirks::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path(), &sb);
    let ledger = cfg.merchants[0].ledger.as_mut().unwrap();
    ledger.columns.fee = None;
    let w = window("2026-10-01", "2026-10-07");
    let out = run_with_mail(&cfg, &sb, w).await;

    let fees = lines(&out, "fees");
    assert_eq!(fees.len(), 1, "{fees:?}");
    let summary = &out.result.output.summary;
    assert!(
        fees[0].count >= summary.matched_lines && fees[0].count <= summary.provider_lines,
        "every matched line: {fees:?}, {summary:?}"
    );
    assert!(fees[0].reason.contains("no fee column mapped"));
    written(&out).all_say("no fee column mapped");

    // Without `fees` among the comparisons, nothing is said about fees.
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path(), &sb);
    cfg.merchants[0].ledger.as_mut().unwrap().columns.fee = None;
    cfg.reconcile.comparisons = vec![Comparison::Gross];
    let out = run_with_mail(&cfg, &sb, w).await;
    assert_eq!(lines(&out, "fees"), Vec::<&NotChecked>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_breakdown_in_another_zone_is_not_checked_day_by_day() {
    let sb = start(SandboxConfig {
        timezone: chrono_tz::Tz::Europe__Moscow,
        ..small_config()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path(), &sb);
    cfg.fetch.xsolla_timezone = chrono_tz::Tz::Europe__Moscow;
    let w = window("2026-10-05", "2026-10-07");
    let out = run_with_mail(&cfg, &sb, w).await;

    let breakdown = lines(&out, "breakdown");
    let days: Vec<&str> = breakdown.iter().map(|l| l.subject.as_str()).collect();
    assert_eq!(days, ["2026-10-05", "2026-10-06", "2026-10-07"]);
    assert!(breakdown
        .iter()
        .all(|l| l.reason.contains("differs from run.reporting_timezone")));
    written(&out).all_say("fetch.xsolla_timezone (Europe/Moscow)");
    // Every breakdown row of the snapshot (the margins' too) is counted as left out.
    let provider = out.result.provider.unwrap();
    let in_window: u64 = breakdown.iter().map(|l| l.count).sum();
    assert!(
        provider.breakdown_rows_not_checked > in_window,
        "{provider:?}"
    );
    assert_eq!(provider.breakdown_rows_not_checked, provider.breakdown_rows);
}

/// The payout findings of a run of October.
async fn payout_findings(sandbox_deducts: bool, setting_deducts: bool) -> u64 {
    let sb = sandbox_with(DataQuirks {
        penalties_deducted_from_payouts: sandbox_deducts,
        ..Default::default()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path(), &sb);
    cfg.reconcile.payout_deducts_penalties = setting_deducts;
    let out = run_window(
        &cfg,
        &sb,
        window("2026-10-01", "2026-10-31"),
        FetchMode::Refetch,
    )
    .await;
    assert_eq!(lines(&out, "payout"), Vec::<&NotChecked>::new());
    let summary = &out.result.output.summary;
    summary
        .by_class
        .get("payout_mismatch")
        .map_or(0, |m| m.values().map(|t| t.count).sum())
}

#[tokio::test(flavor = "multi_thread")]
async fn payouts_are_checked_with_penalties_deducted_or_not_as_the_setting_says() {
    // The setting matches how the sandbox pays out: every payout adds up.
    assert_eq!(payout_findings(false, false).await, 0);
    assert_eq!(payout_findings(true, true).await, 0);
    // It does not: the payout with penalties among its rows differs by them.
    assert_eq!(payout_findings(true, false).await, 1);
    assert_eq!(payout_findings(false, true).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_says_how_many_items_were_not_checked() {
    let sb = start(SandboxConfig {
        api_key: "not-checked-key".into(),
        ..small_config()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    // The default comparisons include net_vs_payout; the sandbox's ledger books no net.
    write_setup(tmp.path(), &sb, &Extra::default());
    let args = [
        "run",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
        "--config",
        "recon.toml",
        "--dry-run",
    ];
    let out = run_bin(tmp.path(), "not-checked-key", &args).await;
    assert_exit(&out, 1);
    let dir = &run_dirs(tmp.path())[0];
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let n = manifest["counts"]["not_checked"].as_u64().unwrap();
    assert!(n > 0, "{manifest}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("; {n} not checked")), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let lines = summary["not_checked"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["check"], "net_vs_payout");
    assert_eq!(lines[0]["count"].as_u64(), Some(n));
    assert!(lines[0]["reason"]
        .as_str()
        .unwrap()
        .contains("no net column mapped"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_export_says_that_payouts_and_the_breakdown_were_not_checked() {
    let sb = sandbox_with(DataQuirks::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), &sb);
    let w = window("2026-10-01", "2026-10-07");
    // A registry page as Xsolla writes it in CSV stands in for an export from the Publisher
    // Account: the same header names.
    let settings = xsolla_recon::job::config::FetchSettings {
        format: xsolla_recon::xsolla::client::Format::Csv,
        page_limit: 1000,
        ..Default::default()
    };
    let (snap, manifest) = xsolla_recon::fetch::fetch_window(
        &client(&sb),
        &cfg.data_dir,
        cfg.merchants[0].fetch_target(),
        w,
        &settings,
        &NoProgress,
    )
    .await
    .unwrap();
    let page = manifest
        .files
        .iter()
        .find(|f| f.endpoint == "registry")
        .unwrap();
    let run = xsolla_recon::job::pipeline::reconcile_window(
        &cfg,
        &cfg.merchants[0],
        w,
        &xsolla_recon::job::pipeline::ProviderSource::Export(snap.join(&page.path)),
        None,
        tmp.path(),
        "run-1",
        w.to,
    )
    .unwrap();
    let lines = &run.output.summary.not_checked;
    let what: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l.check.as_str(), l.subject.as_str()))
        .collect();
    assert_eq!(
        what,
        [
            ("breakdown", "breakdown of the window"),
            ("payout", "payouts of the window")
        ]
    );
    assert!(lines
        .iter()
        .all(|l| l.reason.contains("registry export, which has no payouts")));
}

#[tokio::test(flavor = "multi_thread")]
async fn refunds_judged_without_their_payment_are_said() {
    // Three payments 21 days before the data set, beyond the fetch's margin; two are reversed
    // in its first days.
    let sb = sandbox_with(DataQuirks {
        early_refunds: 3,
        early_refunds_days_earlier: 20,
        ..Default::default()
    })
    .await;
    let w = window("2026-10-01", "2026-10-07");
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path(), &sb);
    cfg.fetch.max_payment_lookups = 0;
    let out = run_window(&cfg, &sb, w, FetchMode::Refetch).await;
    let refunds = lines(&out, "refund_payment");
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0].count, 2, "{refunds:?}");
    assert!(refunds[0].reason.contains("fetch.max_payment_lookups = 0"));

    // Looked up (the default), they are found and judged: nothing to say.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), &sb);
    let out = run_window(&cfg, &sb, w, FetchMode::Refetch).await;
    assert_eq!(lines(&out, "refund_payment"), Vec::<&NotChecked>::new());
}

/// The sandbox process started by a test, stopped however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_command_serves_the_variants() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Bin::new(tmp.path())
        .args([
            "sandbox",
            "--port",
            "0",
            "--per-day",
            "5",
            "--payouts-without-amount",
            "--breakdown-float-noise",
            "--breakdown-repeated-currency",
        ])
        .spawn();
    let stdout = child.stdout.take().unwrap();
    let child = KillOnDrop(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} in {line:?}"))
            .to_owned()
    };
    let transport = xsolla_recon::xsolla::Transport::new(
        &field("base_url="),
        field("merchant_id=").parse().unwrap(),
        ApiKey::new(field("api_key=")),
        fast_http(),
    )
    .unwrap();
    let c = xsolla_recon::xsolla::XsollaClient::new(transport);
    let payouts = c.payouts(window("2026-10-01", "2026-11-30")).await;
    let first = c.payout_breakdown(window("2026-10-01", "2026-10-01")).await;
    let second = c.payout_breakdown(window("2026-10-02", "2026-10-02")).await;
    drop(child);
    let payouts = payouts.unwrap();
    assert!(!payouts.rows.is_empty());
    assert!(payouts.rows.iter().all(|p| p.payout_amount.is_none()));
    let body = String::from_utf8_lossy(&first.unwrap().reply.body).into_owned();
    assert!(body.contains("00000000002,"), "{body}");
    let second = second.unwrap();
    let n = second.rows.len();
    assert_eq!(second.rows[n - 1].currency, second.rows[n - 2].currency);
}

/// Mails sent by a run of October over SMTP with `all_clear = false`, on a sandbox with
/// `quirks` and a ledger that agrees with it: (mails received, findings).
async fn mails_without_findings(quirks: DataQuirks) -> (Vec<String>, u64) {
    use crate::support::smtp_server::{SmtpOptions, SmtpServer};
    let smtp = SmtpServer::start(SmtpOptions::default());
    let sb = sandbox_with(quirks).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path(), &sb);
    cfg.smtp = Some(xsolla_recon::deliver::SmtpSettings {
        host: "127.0.0.1".into(),
        port: Some(smtp.port),
        security: xsolla_recon::deliver::Security::Plain,
        from: "recon@example.com".into(),
        timeout_ms: 5_000,
        max_attempts: 2,
        backoff_initial_ms: 5,
        backoff_max_ms: 20,
        ..Default::default()
    });
    assert!(!cfg.merchants[0].mail.all_clear);
    let req = RunRequest {
        merchant: "acme".into(),
        window: window("2026-10-01", "2026-10-31"),
        fetch: FetchMode::Refetch,
        mail: MailMode::Smtp,
        ledger: None,
        base_dir: cfg.data_dir.clone(),
        config_sha256: String::new(),
        api_key: Some(ApiKey::new(sb.api_key())),
        lock_wait: None,
    };
    let out = run(&cfg, &req, &NoProgress).await.expect("the run ends");
    assert_eq!(
        out.manifest.exit_code, 0,
        "nothing found: exit 0 either way"
    );
    let mails = smtp
        .received()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.data).into_owned())
        .collect();
    (mails, out.result.output.summary.discrepancies)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_with_checks_that_could_not_run_mails_even_without_findings() {
    let (mails, found) = mails_without_findings(DataQuirks {
        payouts_without_amount: true,
        ..Default::default()
    })
    .await;
    assert_eq!(found, 0);
    assert_eq!(mails.len(), 1, "silence would read as checked and fine");
    assert!(mails[0].contains("Not checked"), "{}", mails[0]);

    // Every check ran and nothing was found: no mail, as `all_clear = false` asks.
    let (mails, found) = mails_without_findings(DataQuirks::default()).await;
    assert_eq!((mails.len(), found), (0, 0));
}
