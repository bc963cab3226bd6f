//! Reliability, measured: API faults through the whole job, SIGKILL at every crash point,
//! and secrets searched for in every byte the job writes. Each test prints one
//! `reliability:` line that `scripts/reliability.sh` gathers into a table.

use crate::support::smtp_server::{SmtpOptions, SmtpServer};
use crate::support::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use xsolla_recon::sandbox::{Fault, FaultRule, Sandbox};

const RUN: [&str; 9] = [
    "run",
    "--from",
    "2026-10-01",
    "--to",
    "2026-10-31",
    "--config",
    "recon.toml",
    "--dry-run",
    "--refetch",
];

/// The report files of a run folder, by name.
fn reports(run_dir: &Path) -> BTreeMap<String, Vec<u8>> {
    REPORT_FILES
        .iter()
        .map(|f| (f.to_string(), std::fs::read(run_dir.join(f)).unwrap()))
        .collect()
}

/// A fresh folder with the setup for `sb`.
fn fresh(sb: &Sandbox) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    write_setup(tmp.path(), sb, &Extra::default());
    tmp
}

#[tokio::test(flavor = "multi_thread")]
async fn reliability_api_faults_are_survived_byte_for_byte_or_fail_cleanly() {
    let sb = quirky_sandbox("fault-key").await;
    let reference = fresh(&sb);
    let out = run_bin(reference.path(), "fault-key", &RUN).await;
    assert_exit(&out, 1);
    let expected = reports(&run_dirs(reference.path())[0]);

    let page = |fault: Fault| FaultRule {
        endpoint: Some("registry".into()),
        fault,
        skip: 1,
        times: 2,
    };
    let survivable = vec![
        (
            "429 without Retry-After",
            page(Fault::TooManyRequests { retry_after: None }),
        ),
        (
            "429 with Retry-After",
            page(Fault::TooManyRequests {
                retry_after: Some("1".into()),
            }),
        ),
        ("500", page(Fault::Status { code: 500 })),
        ("502", page(Fault::Status { code: 502 })),
        ("503", page(Fault::Status { code: 503 })),
        (
            "timeout",
            FaultRule {
                times: 1,
                ..page(Fault::Slow { millis: 3_000 })
            },
        ),
        ("connection reset", page(Fault::DropConnection)),
        ("truncated body", page(Fault::TruncateBody)),
        ("truncated JSON", page(Fault::TruncatedJson)),
        ("empty 200", page(Fault::EmptyOk)),
        ("wrong content type", page(Fault::WrongContentType)),
        ("repeated page", page(Fault::RepeatPreviousPage)),
        (
            "503 on payouts",
            FaultRule {
                endpoint: Some("transfers".into()),
                ..page(Fault::Status { code: 503 })
            },
        ),
        (
            "429 on breakdown",
            FaultRule {
                endpoint: Some("summary".into()),
                ..page(Fault::TooManyRequests { retry_after: None })
            },
        ),
    ];
    let mut survived = 0;
    for (name, rule) in &survivable {
        sb.clear_faults();
        sb.add_faults(vec![rule.clone()]);
        let tmp = fresh(&sb);
        let out = run_bin(tmp.path(), "fault-key", &RUN).await;
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
        let dirs = run_dirs(tmp.path());
        assert_eq!(dirs.len(), 1, "{name}");
        let got = reports(&dirs[0]);
        for (file, bytes) in &expected {
            assert!(
                &got[file] == bytes,
                "{name}: {file} differs from the fault-free run"
            );
        }
        let fired = sb.requests().iter().filter(|r| r.fault.is_some()).count();
        assert!(fired >= 1, "{name}: the fault fired");
        survived += 1;
    }

    // Faults that do not go away end the run with a clear error and no report.
    let fatal = vec![
        (
            "503 forever",
            FaultRule {
                times: 0,
                ..page(Fault::Status { code: 503 })
            },
            "503",
        ),
        (
            "truncated JSON forever",
            FaultRule {
                times: 0,
                ..page(Fault::TruncatedJson)
            },
            "registry",
        ),
        (
            "wrong key",
            FaultRule {
                times: 0,
                ..page(Fault::Status { code: 401 })
            },
            "401",
        ),
    ];
    let mut failed_cleanly = 0;
    for (name, rule, says) in &fatal {
        sb.clear_faults();
        sb.add_faults(vec![rule.clone()]);
        let tmp = fresh(&sb);
        let out = run_bin(tmp.path(), "fault-key", &RUN).await;
        assert_eq!(out.status.code(), Some(3), "{name}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default();
        assert!(
            last.contains(says),
            "{name}: the error says {says:?}: {last}"
        );
        assert!(
            run_dirs(tmp.path()).is_empty(),
            "{name}: no report pretends to be complete"
        );
        let snaps = tmp.path().join("data/snapshots/acme");
        let published = std::fs::read_dir(&snaps)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .count()
            })
            .unwrap_or(0);
        assert_eq!(published, 0, "{name}: no snapshot published");
        failed_cleanly += 1;
    }
    sb.clear_faults();
    println!(
        "reliability: api_faults tried={} survived={} failed_cleanly={}",
        survivable.len() + fatal.len(),
        survived,
        failed_cleanly
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reliability_sigkill_at_every_crash_point_leaves_no_partial_output() {
    let sb = quirky_sandbox("crash-key").await;
    let reference = fresh(&sb);
    let out = run_bin(reference.path(), "crash-key", &RUN).await;
    assert_exit(&out, 1);
    let expected = reports(&run_dirs(reference.path())[0]);

    // Before the rename that makes each kind of file final, in stage order.
    let run_folder = format!("publish:{}T*", chrono::Utc::now().format("%Y%m%d"));
    let points = [
        "stage:p*".to_owned(),              // fetch: a registry page
        "write:manifest.json".to_owned(),   // fetch: the snapshot's manifest
        "publish:2026-09-24_*".to_owned(),  // fetch: the snapshot folder (October ± 7 days)
        "write:open_items.json".to_owned(), // reconcile: the state store
        "stage:summary.json".to_owned(),    // report: a file in the staging folder
        run_folder,                         // report: the run folder
    ];
    let mut tried = 0;
    for point in &points {
        let point = point.as_str();
        let tmp = fresh(&sb);
        let crashed = Bin::new(tmp.path())
            .args(RUN)
            .env(KEY_VAR, "crash-key")
            .env("XSOLLA_RECON_CRASH_AT", point)
            .output_async()
            .await;
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            crashed.status.signal(),
            Some(9),
            "{point}: killed\n{}",
            text(&crashed)
        );
        check_no_partial(tmp.path(), point);
        // The next run completes with the undisturbed result.
        let next = run_bin(tmp.path(), "crash-key", &RUN).await;
        assert_eq!(next.status.code(), Some(1), "{point}: {}", text(&next));
        let last = run_dirs(tmp.path()).pop().unwrap();
        let got = reports(&last);
        for (file, bytes) in &expected {
            assert!(
                &got[file] == bytes,
                "{point}: {file} differs after the crash"
            );
        }
        tried += 1;
    }
    // And kills at arbitrary moments of a run stretched by slow pages.
    for delay_ms in [150u64, 400, 900, 1500] {
        sb.clear_faults();
        sb.add_faults(vec![FaultRule {
            endpoint: Some("registry".into()),
            fault: Fault::Slow { millis: 150 },
            skip: 0,
            times: 0,
        }]);
        let tmp = fresh(&sb);
        let mut child = Bin::new(tmp.path())
            .args(RUN)
            .env(KEY_VAR, "crash-key")
            .discard_output()
            .spawn();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let _ = child.kill();
        let _ = child.wait();
        check_no_partial(tmp.path(), &format!("kill after {delay_ms} ms"));
        sb.clear_faults();
        let next = run_bin(tmp.path(), "crash-key", &RUN).await;
        assert_exit(&next, 1);
        let got = reports(&run_dirs(tmp.path()).pop().unwrap());
        assert!(
            got == expected,
            "kill after {delay_ms} ms: reports differ afterwards"
        );
        tried += 1;
    }
    println!("reliability: crash_points tried={tried} recovered={tried} partial_outputs=0");
    sb.shutdown().await;
}

/// Every snapshot under a final name verifies; every run folder has all its reports.
fn check_no_partial(dir: &Path, point: &str) {
    let snaps = dir.join("data/snapshots/acme");
    if let Ok(rd) = std::fs::read_dir(&snaps) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue; // staging: never read
            }
            xsolla_recon::fetch::verify_snapshot(&e.path())
                .unwrap_or_else(|err| panic!("{point}: partial snapshot {name}: {err}"));
        }
    }
    for run in run_dirs(dir) {
        let name = run.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        for f in REPORT_FILES {
            assert!(run.join(f).is_file(), "{point}: {name} lacks {f}");
        }
    }
    let state = dir.join("data/state/acme/open_items.json");
    if state.exists() {
        let t = std::fs::read(&state).unwrap();
        serde_json::from_slice::<serde_json::Value>(&t)
            .unwrap_or_else(|e| panic!("{point}: open items unreadable: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reliability_secrets_never_appear_in_anything_written() {
    const KEY: &str = "SENTINEL-api-key-5b1e";
    const PASSWORD: &str = SMTP_PASSWORD; // what run_bin exports
    let sb = quirky_sandbox(KEY).await;
    let server = SmtpServer::start(SmtpOptions {
        auth: Some(("recon".into(), PASSWORD.into())),
        ..SmtpOptions::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    write_setup(
        tmp.path(),
        &sb,
        &Extra {
            smtp_port: Some(server.port),
            ..Extra::default()
        },
    );
    let mut outputs = Vec::new();
    // A good run (mail sent), a run with faults and retries, a wrong key, a failing mail login.
    outputs.push(
        run_bin(
            tmp.path(),
            KEY,
            &[
                "run",
                "--from",
                "2026-10-01",
                "--to",
                "2026-10-31",
                "--config",
                "recon.toml",
                "-vv",
            ],
        )
        .await,
    );
    sb.add_faults(vec![FaultRule {
        endpoint: Some("registry".into()),
        fault: Fault::Status { code: 503 },
        skip: 1,
        times: 2,
    }]);
    outputs.push(
        run_bin(
            tmp.path(),
            KEY,
            &[
                "run",
                "--from",
                "2026-10-01",
                "--to",
                "2026-10-15",
                "--config",
                "recon.toml",
                "--refetch",
                "-vv",
            ],
        )
        .await,
    );
    sb.clear_faults();
    outputs.push(
        run_bin(
            tmp.path(),
            "wrong-key",
            &[
                "run",
                "--from",
                "2026-10-01",
                "--to",
                "2026-10-02",
                "--config",
                "recon.toml",
                "--refetch",
                "-vv",
            ],
        )
        .await,
    );
    drop(server);
    let bad = SmtpServer::start(SmtpOptions {
        auth: Some(("recon".into(), "another-password".into())),
        ..SmtpOptions::default()
    });
    let config = std::fs::read_to_string(tmp.path().join("recon.toml")).unwrap();
    let port_line = config
        .lines()
        .find(|l| l.starts_with("port = "))
        .unwrap()
        .to_owned();
    std::fs::write(
        tmp.path().join("recon.toml"),
        config.replace(&port_line, &format!("port = {}", bad.port)),
    )
    .unwrap();
    outputs.push(
        run_bin(
            tmp.path(),
            KEY,
            &[
                "run",
                "--from",
                // Holds the sandbox's first day, whose breakdown differs: a finding to mail.
                "2026-10-01",
                "--to",
                "2026-10-04",
                "--config",
                "recon.toml",
                "-vv",
            ],
        )
        .await,
    );
    outputs.push(run_bin(tmp.path(), KEY, &["check-config", "recon.toml"]).await);
    assert_exit(&outputs[0], 1);
    assert_exit(&outputs[2], 3);
    assert_eq!(
        outputs[3].status.code(),
        Some(3),
        "mail login fails: {}",
        text(&outputs[3])
    );

    let mut scanned = 0u64;
    let mut leaks = Vec::new();
    let mut check = |what: String, bytes: &[u8]| {
        scanned += bytes.len() as u64;
        for s in [KEY, PASSWORD] {
            if bytes_contain(bytes, s) {
                leaks.push(format!("{s} in {what}"));
            }
        }
    };
    for (i, o) in outputs.iter().enumerate() {
        check(format!("stdout of command {i}"), &o.stdout);
        check(format!("stderr of command {i}"), &o.stderr);
    }
    for p in files_under(tmp.path()) {
        // The config names variables, never values; everything else is the job's output.
        let bytes = std::fs::read(&p).unwrap();
        check(p.display().to_string(), &bytes);
    }
    for r in bad.received() {
        check("mail".into(), &r.data);
    }
    println!(
        "reliability: secrets sentinels=2 bytes_scanned={scanned} leaked={}",
        leaks.len()
    );
    assert!(leaks.is_empty(), "{leaks:?}");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reliability_two_concurrent_runs_of_one_merchant_never_overlap() {
    let sb = quirky_sandbox("conc-key").await;
    // Slow pages stretch the first run so the second one starts while it holds the lock.
    sb.add_faults(vec![FaultRule {
        endpoint: Some("registry".into()),
        fault: Fault::Slow { millis: 400 },
        skip: 0,
        times: 0,
    }]);
    let tmp = fresh(&sb);
    // Each run starts at once; awaiting it gives its output.
    let spawn = |extra: &'static [&'static str]| {
        Bin::new(tmp.path())
            .args(RUN)
            .args(extra)
            .env(KEY_VAR, "conc-key")
            .output_async()
    };
    let first = spawn(&[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = spawn(&[]);
    let (a, b) = (first.await, second.await);
    let mut codes = [a.status.code(), b.status.code()];
    codes.sort();
    assert_eq!(
        codes,
        [Some(1), Some(4)],
        "one runs, one refuses\n{}\n{}",
        text(&a),
        text(&b)
    );
    assert_eq!(run_dirs(tmp.path()).len(), 1);

    // With --wait both run, one after the other, and agree.
    let first = spawn(&["--wait", "60"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = spawn(&["--wait", "60"]);
    let (a, b) = (first.await, second.await);
    assert_exit(&a, 1);
    assert_exit(&b, 1);
    let dirs = run_dirs(tmp.path());
    assert_eq!(dirs.len(), 3);
    assert!(
        reports(&dirs[1]) == reports(&dirs[2]),
        "serialised runs agree"
    );
    let state = std::fs::read(tmp.path().join("data/state/acme/open_items.json")).unwrap();
    serde_json::from_slice::<serde_json::Value>(&state).expect("state intact");
    println!("reliability: concurrency runs=4 overlapped=0");
    sb.shutdown().await;
}
