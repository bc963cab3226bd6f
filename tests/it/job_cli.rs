//! `xsolla-recon run`, `demo`, `check-config` and `schedule`: the real binary in a temp folder
//! against an in-process sandbox (and a real SMTP server on loopback).

use crate::support::smtp_server::{SmtpOptions, SmtpServer};
use crate::support::*;
use mail_parser::MimeHeaders;
use std::path::Path;
use std::time::Duration;

/// A run folder's `manifest.json`.
fn manifest(run_dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run_dir.join("manifest.json")).unwrap()).unwrap()
}

const OCTOBER: [&str; 4] = ["--from", "2026-10-01", "--to", "2026-10-31"];

/// `run` over October with `recon.toml`, then `extra`.
fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run"];
    v.extend_from_slice(&OCTOBER);
    v.extend_from_slice(&["--config", "recon.toml"]);
    v.extend_from_slice(extra);
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn run_over_a_range_writes_reports_and_a_manifest_and_reruns_byte_identical() {
    let sb = quirky_sandbox("job-key-1").await;
    let tmp = tempfile::tempdir().unwrap();
    write_setup(tmp.path(), &sb, &Extra::default());

    let first = run_bin(tmp.path(), "job-key-1", &args(&["--dry-run"])).await;
    assert_eq!(
        first.status.code(),
        Some(1),
        "found → exit 1\n{}",
        text(&first)
    );
    let dirs = run_dirs(tmp.path());
    assert_eq!(dirs.len(), 1, "one run folder: {dirs:?}");
    for f in REPORT_FILES {
        assert!(dirs[0].join(f).is_file(), "{f} written");
    }
    let m = manifest(&dirs[0]);
    assert_eq!(m["outcome"], "found");
    assert_eq!(m["exit_code"], 1);
    assert_eq!(m["mail"]["status"], "dry_run");
    assert_eq!(m["snapshot_fetched"], true);
    assert_eq!(m["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["config_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["ledger_files"].as_array().unwrap().len(), 1);
    assert!(m["counts"]["discrepancies"].as_u64().unwrap() >= 11);
    assert!(m["counts"]["provider_rows"].as_u64().unwrap() > 300);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains("acme 2026-10-01..2026-10-31") || stdout.contains("acme 2026-10-01"),
        "{stdout}"
    );

    // A rerun the same morning reuses the snapshot (no request) and writes the same reports.
    let before = sb.requests().len();
    let second = run_bin(tmp.path(), "job-key-1", &args(&["--dry-run"])).await;
    assert_exit(&second, 1);
    assert_eq!(
        sb.requests().len(),
        before,
        "the recent snapshot was reused"
    );
    let dirs = run_dirs(tmp.path());
    assert_eq!(dirs.len(), 2);
    assert_eq!(manifest(&dirs[1])["snapshot_fetched"], false);
    for f in REPORT_FILES {
        assert_eq!(
            std::fs::read(dirs[0].join(f)).unwrap(),
            std::fs::read(dirs[1].join(f)).unwrap(),
            "{f} is byte-identical on a rerun"
        );
    }
    assert_ne!(manifest(&dirs[0])["run_id"], manifest(&dirs[1])["run_id"]);
    assert_eq!(
        manifest(&dirs[0])["report_id"],
        manifest(&dirs[1])["report_id"]
    );

    // --offline never calls Xsolla; a window never fetched is an error naming it.
    let off = run_bin(
        tmp.path(),
        "job-key-1",
        &[
            "run",
            "--from",
            "2026-09-01",
            "--to",
            "2026-09-02",
            "--offline",
            "--dry-run",
            "--config",
            "recon.toml",
        ],
    )
    .await;
    assert_exit(&off, 3);
    assert!(
        String::from_utf8_lossy(&off.stderr).contains("2026-09-01"),
        "{}",
        text(&off)
    );
    assert_eq!(sb.requests().len(), before);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_mails_the_report_once_and_a_mail_failure_keeps_the_report() {
    let sb = quirky_sandbox("job-key-2").await;
    let tmp = tempfile::tempdir().unwrap();
    // A port with no server yet: the first run's mail fails.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    write_setup(
        tmp.path(),
        &sb,
        &Extra {
            smtp_port: Some(port),
            ..Extra::default()
        },
    );
    let failed = run_bin(tmp.path(), "job-key-2", &args(&[])).await;
    assert_exit(&failed, 3);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")),
        "names the server: {stderr}"
    );
    let dirs = run_dirs(tmp.path());
    assert_eq!(dirs.len(), 1);
    for f in REPORT_FILES {
        assert!(
            dirs[0].join(f).is_file(),
            "the report survives a mail failure: {f}"
        );
    }
    let m = manifest(&dirs[0]);
    assert_eq!(m["outcome"], "mail_failed");
    assert_eq!(m["mail"]["status"], "failed");

    // The server is up now: the next run mails once; the one after does not mail again.
    let server = SmtpServer::start(SmtpOptions {
        port: Some(port),
        auth: Some(("recon".into(), SMTP_PASSWORD.into())),
        ..SmtpOptions::default()
    });
    let sent = run_bin(tmp.path(), "job-key-2", &args(&[])).await;
    assert_exit(&sent, 1);
    let got = server.wait_for(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    let dirs = run_dirs(tmp.path());
    let m = manifest(dirs.last().unwrap());
    assert_eq!(m["mail"]["status"], "sent");
    let mail = mail_parser::MessageParser::default()
        .parse(&got[0].data)
        .unwrap();
    let subject = mail.subject().unwrap();
    assert!(
        subject.starts_with("[xsolla-recon] acme 2026-10-01"),
        "{subject}"
    );
    assert!(subject.contains("discrepancies"), "{subject}");
    let attached: Vec<(String, Vec<u8>)> = mail
        .attachments()
        .filter_map(|a| {
            a.attachment_name()
                .map(|n| (n.to_owned(), a.contents().to_vec()))
        })
        .collect();
    let run_dir = dirs.last().unwrap();
    for name in ["discrepancies.csv", "discrepancies.xlsx"] {
        let (_, bytes) = attached
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} attached"));
        assert_eq!(
            bytes,
            &std::fs::read(run_dir.join(name)).unwrap(),
            "{name} byte for byte"
        );
    }
    assert!(got[0]
        .rcpt_to
        .iter()
        .any(|r| r.contains("finance@example.com")));
    assert!(got[0].rcpt_to.iter().any(|r| r.contains("cfo@example.com")));
    // Both bodies carry the summary; the chart is inline, the same bytes as chart.png.
    let html = mail.body_html(0).unwrap();
    assert!(html.contains("cid:chart"), "{html}");
    assert!(html.contains("missing_in_ledger"), "{html}");
    let plain = mail.body_text(0).unwrap();
    assert!(plain.contains("missing_in_ledger"), "{plain}");
    let chart = mail
        .parts
        .iter()
        .find(|p| p.content_id() == Some("chart"))
        .expect("inline chart");
    assert_eq!(
        chart.contents(),
        std::fs::read(run_dir.join("chart.png")).unwrap()
    );
    // So is the age chart of the open items.
    assert!(html.contains("cid:age"), "{html}");
    let age = mail
        .parts
        .iter()
        .find(|p| p.content_id() == Some("age"))
        .expect("inline age chart");
    assert_eq!(
        age.contents(),
        std::fs::read(run_dir.join("age.png")).unwrap()
    );

    let again = run_bin(tmp.path(), "job-key-2", &args(&[])).await;
    assert_exit(&again, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.received().len(),
        1,
        "the same report is not mailed twice"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_concurrent_run_of_a_merchant_refuses_or_waits() {
    let sb = quirky_sandbox("job-key-3").await;
    let tmp = tempfile::tempdir().unwrap();
    write_setup(tmp.path(), &sb, &Extra::default());
    let lock =
        xsolla_recon::job::lock::RunLock::acquire(&tmp.path().join("data"), "acme", None).unwrap();
    let busy = run_bin(tmp.path(), "job-key-3", &args(&["--dry-run"])).await;
    assert_exit(&busy, 4);
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("acme"),
        "{}",
        text(&busy)
    );
    assert!(
        run_dirs(tmp.path()).is_empty(),
        "nothing written while refused"
    );

    // With --wait it waits for the holder and then runs.
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        drop(lock);
    });
    let waited = run_bin(
        tmp.path(),
        "job-key-3",
        &args(&["--dry-run", "--wait", "30"]),
    )
    .await;
    release.await.unwrap();
    assert_exit(&waited, 1);
    assert_eq!(run_dirs(tmp.path()).len(), 1);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_finds_exactly_its_deliberate_discrepancies() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_bin(tmp.path(), "unused", &["demo"]).await;
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("<- differs"), "{stdout}");
    for class in xsolla_recon::reconcile::CLASSES {
        assert!(stdout.contains(class), "{class} listed: {stdout}");
    }
    let reports = tmp.path().join("out/demo/reports/acme-games");
    let window_dir = std::fs::read_dir(&reports)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let run_dir = std::fs::read_dir(&window_dir)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    for f in REPORT_FILES
        .iter()
        .chain(&["manifest.json", "email.eml", "chart.png", "age.png"])
    {
        assert!(run_dir.join(f).is_file(), "{f} in {}", run_dir.display());
    }
    let eml = std::fs::read(run_dir.join("email.eml")).unwrap();
    let mail = mail_parser::MessageParser::default().parse(&eml).unwrap();
    assert!(mail.subject().unwrap().contains("acme-games"));
    assert_eq!(
        mail.attachments()
            .filter(|a| a.attachment_name().is_some())
            .count(),
        3,
        "discrepancies.csv, discrepancies.xlsx and report.html"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_accepts_the_examples_and_lists_every_problem_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for example in [
        "xsolla-recon.example.toml",
        "xsolla-recon.multi.example.toml",
    ] {
        let out = Bin::new(root)
            .args(["check-config", &format!("config/{example}")])
            .env("XSOLLA_API_KEY", "x")
            .env("XSOLLA_API_KEY_ACME", "x")
            .env("XSOLLA_API_KEY_GLOBEX", "x")
            .env("SMTP_PASSWORD", "x")
            .output();
        // Ledger files of the examples do not exist here: those are the only problems allowed.
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let is_problem = |l: &str| {
            l.split_once(".toml:")
                .is_some_and(|(_, rest)| rest.starts_with(|c: char| c.is_ascii_digit()))
        };
        for line in stdout.lines().filter(|l| is_problem(l)) {
            assert!(
                line.contains("ledger path"),
                "{example}: unexpected problem {line}"
            );
        }
    }

    std::fs::write(
        tmp.path().join("bad.toml"),
        r#"data_dir = "data"
colour = "blue"

[fetch]
page_limit = "many"

[[merchant]]
name = "acme"
merchant_id = 1
api_key_env = "RECON_SURELY_UNSET_KEY"
base_url = "ftp://x"
[merchant.ledger]
path = "missing/*.csv"
[merchant.ledger.columns]
order_id = "Order"
amount = "Gross"
currency = "Currency"
date = "Date"

[[schedule]]
merchant = "acme"
cron = "0 61 * * *"
time_zone = "Mars/Olympus"
"#,
    )
    .unwrap();
    let out = run_bin(tmp.path(), "k", &["check-config", "bad.toml"]).await;
    assert_exit(&out, 2);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (line, what) in [(2, "colour"), (5, "page_limit")] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("bad.toml:{line}:")) && l.contains(what)),
            "line {line} ({what}) reported:\n{stdout}"
        );
    }
    // Once the syntax problems are fixed, the values are checked, each with its line.
    std::fs::write(
        tmp.path().join("bad2.toml"),
        std::fs::read_to_string(tmp.path().join("bad.toml"))
            .unwrap()
            .replace("colour = \"blue\"\n", "\n")
            .replace("page_limit = \"many\"", "page_limit = 0"),
    )
    .unwrap();
    let out = run_bin(tmp.path(), "k", &["check-config", "bad2.toml"]).await;
    assert_exit(&out, 2);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (line, what) in [
        (5, "page_limit"),
        (11, "base_url"),
        (10, "RECON_SURELY_UNSET_KEY"),
        (13, "ledger path"),
        (22, "cron"),
        (23, "Mars/Olympus"),
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("bad2.toml:{line}:")) && l.contains(what)),
            "line {line} ({what}) reported:\n{stdout}"
        );
    }
    // A missing ${VAR} is named with its line.
    std::fs::write(
        tmp.path().join("var.toml"),
        "data_dir = \"x\"\n\ndata_dir2 = \"${RECON_NOT_SET_EITHER}\"\n",
    )
    .unwrap();
    let out = run_bin(tmp.path(), "k", &["check-config", "var.toml"]).await;
    assert_exit(&out, 2);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("var.toml:3: environment variable RECON_NOT_SET_EITHER"),
        "{}",
        text(&out)
    );
    // An unreadable config.
    let out = run_bin(tmp.path(), "k", &["check-config", "nope.toml"]).await;
    assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nope.toml"));
}

#[tokio::test(flavor = "multi_thread")]
async fn schedule_fires_from_cron_and_stops_cleanly_on_sigterm() {
    let sb = quirky_sandbox("job-key-5").await;
    let tmp = tempfile::tempdir().unwrap();
    write_setup(
        tmp.path(),
        &sb,
        &Extra {
            cron: Some("*/3 * * * * *".into()),
            ..Extra::default()
        },
    );
    let mut child = Bin::new(tmp.path())
        .args(["schedule", "--config", "recon.toml", "--dry-run"])
        .env(KEY_VAR, "job-key-5")
        .env("RUST_LOG", "info")
        .spawn();
    let status = tmp.path().join("data/state/schedule-status.json");
    // The nightly window of a run firing now is yesterday plus 7 days: not October. Wait for
    // one finished run in the status file.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let finished = loop {
        if let Ok(t) = std::fs::read_to_string(&status) {
            if t.contains("last_finished")
                && t.contains("\"last_exit_code\"")
                && !t.contains("\"last_finished\": null")
            {
                break t;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no run finished within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(finished.contains("acme-nightly"), "{finished}");
    assert!(finished.contains("next_fire"), "{finished}");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return (s, child);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "scheduler did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    assert_eq!(out.0.code(), Some(0), "a clean stop on SIGTERM");
    // No partial output anywhere under a final name: every run folder is complete.
    let reports = tmp.path().join("reports/acme");
    for w in std::fs::read_dir(&reports).unwrap().flatten() {
        for r in std::fs::read_dir(w.path()).unwrap().flatten() {
            let name = r.file_name().to_string_lossy().to_string();
            assert!(!name.starts_with('.'), "staging folder left: {name}");
            for f in REPORT_FILES.iter().chain(&["manifest.json"]) {
                assert!(r.path().join(f).is_file(), "{f} in {}", r.path().display());
            }
        }
    }
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_without_merchant_runs_every_merchant_and_returns_the_worst_code() {
    let sb = quirky_sandbox("job-key-6").await;
    let tmp = tempfile::tempdir().unwrap();
    // A second merchant on the same account whose ledger path matches nothing: it fails (3)
    // while the first one finds discrepancies (1); the run as a whole exits 3.
    let tail = format!(
        "\n[[merchant]]\nname = \"globex\"\nmerchant_id = {}\napi_key_env = \"{KEY_VAR}\"\nbase_url = \"{}\"\n[merchant.ledger]\npath = \"ledger/none-*.csv\"\n{}",
        sb.merchant_id(),
        sb.base_url(),
        merchant_ledger_mapping(),
    );
    write_setup(
        tmp.path(),
        &sb,
        &Extra {
            tail,
            ..Extra::default()
        },
    );
    let out = run_bin(tmp.path(), "job-key-6", &args(&["--dry-run"])).await;
    assert_exit(&out, 3);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("acme 2026-10-01..2026-10-31: 11 discrepancies"),
        "{stdout}"
    );
    assert!(
        stderr.contains("globex") && stderr.contains("none-*.csv"),
        "{stderr}"
    );
    assert_eq!(run_dirs(tmp.path()).len(), 1, "acme's reports are written");

    // The failing merchant failed before calling Xsolla: one fetch (acme's) reached it.
    let fetches = sb
        .requests()
        .iter()
        .filter(|r| r.path.contains("transfers"))
        .count();
    assert_eq!(fetches, 1, "only acme fetched payouts");

    // --merchant picks one.
    let one = run_bin(
        tmp.path(),
        "job-key-6",
        &args(&["--dry-run", "--merchant", "acme"]),
    )
    .await;
    assert_exit(&one, 1);
    sb.shutdown().await;
}
