//! The scheduler: fire times against hand-computed instants (DST included), windows, config
//! checks, the merchant lock across threads and processes, and the scheduler loop itself.

use chrono::{DateTime, Utc};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use xsolla_recon::domain::window::Window;
use xsolla_recon::job::lock::{LockError, RunLock};
use xsolla_recon::job::schedule::status::{JobStatus, Outcome, ScheduleStatus};
use xsolla_recon::job::schedule::{
    compile_jobs, missed_fires, next_fire, run_scheduler, window_for, CatchUp, Clock, JobOutcome,
    JobSchedule, ScheduledJob, Shutdown, SystemClock,
};

use crate::support::{assert_exit, text, window, Bin};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn job_with(cron: &str, tz: &str, f: impl FnOnce(&mut JobSchedule)) -> ScheduledJob {
    let mut js = JobSchedule {
        merchant: "acme".into(),
        cron: cron.into(),
        time_zone: tz.into(),
        ..Default::default()
    };
    f(&mut js);
    compile_jobs(&[js], &["acme"], 7).unwrap().remove(0)
}

fn job(cron: &str, tz: &str) -> ScheduledJob {
    job_with(cron, tz, |_| {})
}

#[test]
fn next_fire_matches_hand_computed_instants() {
    // (cron, zone, after, expected next fire), the local time in the comment.
    #[rustfmt::skip]
    let table = [
        ("0 5 * * *", "UTC", "2026-11-25T12:00:00Z", "2026-11-26T05:00:00Z"), // 05:00 UTC
        ("0 5 * * *", "UTC", "2026-11-25T04:59:59Z", "2026-11-25T05:00:00Z"),
        ("0 5 * * *", "UTC", "2026-11-25T05:00:00Z", "2026-11-26T05:00:00Z"), // strictly after
        // Berlin, spring forward 2026-03-29 02:00 CET → 03:00 CEST: 02:30 does not exist.
        ("30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z", "2026-03-28T01:30:00Z"), // 02:30 CET
        ("30 2 * * *", "Europe/Berlin", "2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z"), // 03:30 CEST (gap)
        ("30 2 * * *", "Europe/Berlin", "2026-03-29T01:10:00Z", "2026-03-29T01:30:00Z"), // 03:30 CEST, after 03:10
        ("30 2 * * *", "Europe/Berlin", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"), // 02:30 CEST
        // Berlin, fall back 2026-10-25 03:00 CEST → 02:00 CET: 02:30 happens twice, fires once.
        ("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"), // 02:30 CEST
        ("30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"), // 02:30 CET, next day
        // New York, spring forward 2026-03-08 02:00 EST → 03:00 EDT.
        ("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", "2026-03-08T07:30:00Z"), // 03:30 EDT (gap)
        ("30 2 * * *", "America/New_York", "2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z"), // 02:30 EDT
        // New York, fall back 2026-11-01 02:00 EDT → 01:00 EST: 01:30 happens twice.
        ("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", "2026-11-01T05:30:00Z"), // 01:30 EDT
        ("30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"), // 01:30 EST, next day
        // Kolkata, +05:30 all year.
        ("0 5 * * *", "Asia/Kolkata", "2026-11-25T00:00:00Z", "2026-11-25T23:30:00Z"), // 05:00 IST on the 26th
        // Weekdays: Friday 2026-11-27 after 09:00 → Monday 2026-11-30.
        ("0 9 * * 1-5", "UTC", "2026-11-27T10:00:00Z", "2026-11-30T09:00:00Z"), // Mon 09:00
        ("0 9 * * 1-5", "UTC", "2026-11-25T08:00:00Z", "2026-11-25T09:00:00Z"), // Wed 09:00
        ("0 9 * * 1-5", "Europe/Berlin", "2026-11-28T12:00:00Z", "2026-11-30T08:00:00Z"), // Mon 09:00 CET
        // Month start.
        ("0 0 1 * *", "UTC", "2026-11-25T00:00:00Z", "2026-12-01T00:00:00Z"),
        ("0 0 1 * *", "America/Los_Angeles", "2026-11-25T00:00:00Z", "2026-12-01T08:00:00Z"), // 00:00 PST
        ("0 0 1 * *", "UTC", "2026-12-15T00:00:00Z", "2027-01-01T00:00:00Z"),
        // Every 15 minutes.
        ("*/15 * * * *", "UTC", "2026-11-25T10:07:30Z", "2026-11-25T10:15:00Z"),
        ("*/15 * * * *", "UTC", "2026-11-25T10:15:00Z", "2026-11-25T10:30:00Z"),
        ("*/15 * * * *", "UTC", "2026-11-25T23:50:00Z", "2026-11-26T00:00:00Z"),
        // Every 15 minutes across Berlin's gap: 01:45 CET → 03:00 CEST, no duplicates.
        ("*/15 * * * *", "Europe/Berlin", "2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z"), // 03:00 CEST
        ("*/15 * * * *", "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z"), // 03:15 CEST
        // Every 30 minutes across Berlin's repeated hour: both passes, in real-time order.
        ("*/30 * * * *", "Europe/Berlin", "2026-10-25T00:10:00Z", "2026-10-25T00:30:00Z"), // 02:30 CEST
        ("*/30 * * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z"), // 02:00 CET
        // Seconds field (6 fields).
        ("*/2 * * * * *", "UTC", "2026-11-25T10:00:00.500Z", "2026-11-25T10:00:02Z"),
    ];
    for (cron, tz, after, want) in table {
        let j = job(cron, tz);
        assert_eq!(
            next_fire(&j, t(after)),
            Some(t(want)),
            "{cron:?} in {tz} after {after}"
        );
    }
}

#[test]
fn a_daily_job_fires_once_on_each_dst_day() {
    for (tz, days) in [
        ("Europe/Berlin", ["2026-03-29", "2026-10-25"]),
        ("America/New_York", ["2026-03-08", "2026-11-01"]),
    ] {
        for cron in ["30 2 * * *", "30 1 * * *", "0 3 * * *"] {
            let j = job(cron, tz);
            for day in days {
                let d: chrono::NaiveDate = day.parse().unwrap();
                let mid = t(&format!("{day}T12:00:00Z"));
                let fires = missed_fires(
                    &j,
                    mid - chrono::Duration::days(3),
                    mid + chrono::Duration::days(3),
                    100,
                );
                for local in [d.pred_opt().unwrap(), d, d.succ_opt().unwrap()] {
                    let n = fires
                        .iter()
                        .filter(|f| f.with_timezone(&j.tz).date_naive() == local)
                        .count();
                    assert_eq!(n, 1, "{cron} {tz} {local}: {fires:?}");
                }
            }
        }
    }
}

#[test]
fn window_for_uses_the_local_date_of_the_fire() {
    // Nightly rule, lookback 7: yesterday plus 7 days before it.
    let j = job("0 5 * * *", "UTC");
    assert_eq!(
        window_for(&j, t("2026-11-25T05:00:00Z")),
        window("2026-11-17", "2026-11-24")
    );
    let j = job_with("0 5 * * *", "UTC", |s| s.lookback_days = Some(0));
    assert_eq!(
        window_for(&j, t("2026-11-25T05:00:00Z")),
        window("2026-11-24", "2026-11-24")
    );
    // `days = 3`: the three days before today.
    let j = job_with("0 5 * * *", "UTC", |s| s.days = Some(3));
    assert_eq!(
        window_for(&j, t("2026-11-25T05:00:00Z")),
        window("2026-11-22", "2026-11-24")
    );
    // The day is the reporting zone's (UTC by default), not the cron's zone: 2026-11-25T23:30Z
    // is 05:00 on the 26th in Kolkata but still the 25th in UTC.
    let j = job_with("0 5 * * *", "Asia/Kolkata", |s| s.lookback_days = Some(2));
    assert_eq!(
        window_for(&j, t("2026-11-25T23:30:00Z")),
        window("2026-11-22", "2026-11-24")
    );
    // With Kolkata as the reporting (and Xsolla's) zone, today is the 26th there.
    let zones = |tz: &str| xsolla_recon::load::DateZones {
        xsolla: tz.parse().unwrap(),
        reporting: tz.parse().unwrap(),
    };
    let j = j.in_zones(zones("Asia/Kolkata"));
    assert_eq!(
        window_for(&j, t("2026-11-25T23:30:00Z")),
        window("2026-11-23", "2026-11-25")
    );
    // 2026-11-26T03:00Z is still the 25th in Los Angeles (19:00 PST).
    let j = job_with("0 19 * * *", "America/Los_Angeles", |s| s.days = Some(1))
        .in_zones(zones("America/Los_Angeles"));
    assert_eq!(
        window_for(&j, t("2026-11-26T03:00:00Z")),
        window("2026-11-24", "2026-11-24")
    );
}

#[test]
fn compile_jobs_reports_every_problem_at_once() {
    let ok = JobSchedule {
        merchant: "acme".into(),
        ..Default::default()
    };
    let jobs = vec![
        ok.clone(),
        JobSchedule {
            cron: "0 61 * * *".into(),
            name: Some("bad-cron".into()),
            ..ok.clone()
        },
        JobSchedule {
            name: Some("bad-zone".into()),
            time_zone: "Mars/Olympus".into(),
            ..ok.clone()
        },
        JobSchedule {
            name: Some("ghost".into()),
            merchant: "nobody".into(),
            ..ok.clone()
        },
        // Same default name as the first: "acme-nightly".
        JobSchedule {
            enabled: false,
            ..ok.clone()
        },
        JobSchedule {
            name: Some("zero-days".into()),
            days: Some(0),
            ..ok.clone()
        },
    ];
    let errs = compile_jobs(&jobs, &["acme", "beta"], 7).unwrap_err();
    let fields: Vec<_> = errs.iter().map(|e| (e.index, e.field)).collect();
    assert_eq!(
        fields,
        vec![
            (2, "cron"),
            (3, "time_zone"),
            (4, "merchant"),
            (5, "name"),
            (6, "days")
        ],
        "{errs:#?}"
    );
    let msg = errs[0].to_string();
    assert!(
        msg.starts_with("[[schedule]] #2 (\"bad-cron\") cron = \"0 61 * * *\": "),
        "{msg}"
    );
    assert!(
        errs[2].to_string().contains("known: acme, beta"),
        "{}",
        errs[2]
    );
    assert!(errs[3].to_string().contains("duplicate"), "{}", errs[3]);

    // Disabled jobs are checked but not scheduled; defaults fill the rest.
    let jobs = vec![
        ok.clone(),
        JobSchedule {
            merchant: "beta".into(),
            enabled: false,
            ..Default::default()
        },
    ];
    let compiled = compile_jobs(&jobs, &["acme", "beta"], 9).unwrap();
    assert_eq!(compiled.len(), 1);
    assert_eq!(compiled[0].name, "acme-nightly");
    assert_eq!(compiled[0].lookback_days, 9);
    assert_eq!(compiled[0].catch_up, CatchUp::RunOnce);
    assert_eq!(compiled[0].tz, chrono_tz::UTC);
}

#[test]
fn lock_is_exclusive_within_a_process_and_waits() {
    let dir = tempfile::tempdir().unwrap();
    let first = RunLock::acquire(dir.path(), "acme", None).unwrap();
    assert_eq!(first.path(), dir.path().join("locks/acme.lock"));
    match RunLock::acquire(dir.path(), "acme", None) {
        Err(LockError::Busy {
            holder, merchant, ..
        }) => {
            assert_eq!(merchant, "acme");
            assert!(
                holder.starts_with(&format!("pid {} on ", std::process::id())),
                "{holder}"
            );
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    // Another merchant is independent.
    let _beta = RunLock::acquire(dir.path(), "beta", None).unwrap();

    // A waiter gets the lock once the holder lets go after 200 ms.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        drop(first);
    });
    let start = Instant::now();
    let second = RunLock::acquire(dir.path(), "acme", Some(Duration::from_secs(1))).unwrap();
    let waited = start.elapsed();
    releaser.join().unwrap();
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    assert!(waited < Duration::from_secs(1), "{waited:?}");
    drop(second);

    // A wait that runs out is Busy too.
    let _held = RunLock::acquire(dir.path(), "acme", None).unwrap();
    let start = Instant::now();
    let err = RunLock::acquire(dir.path(), "acme", Some(Duration::from_millis(300))).unwrap_err();
    assert!(matches!(err, LockError::Busy { .. }), "{err}");
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn lock_held_by_another_process_is_busy_and_a_dead_holder_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let locks = dir.path().join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    let file = locks.join("acme.lock");
    let ready = dir.path().join("ready");
    // util-linux `flock` holds the lock in a child process.
    let mut child = std::process::Command::new("flock")
        .arg("-x")
        .arg(&file)
        .arg("-c")
        .arg(format!("touch '{}'; sleep 5", ready.display()))
        .process_group(0)
        .spawn()
        .expect("util-linux flock is installed");
    let start = Instant::now();
    while !ready.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "child never locked"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = RunLock::acquire(dir.path(), "acme", None).unwrap_err();
    assert!(matches!(err, LockError::Busy { .. }), "{err}");
    // The holder dies: its lock goes with it, though the file stays.
    // Its own process group: the shell and `sleep` inherit the locked descriptor too.
    let pgid = i32::try_from(child.id()).unwrap();
    // SAFETY: signals only the process group this test just created.
    assert_eq!(unsafe { libc::kill(-pgid, libc::SIGKILL) }, 0);
    child.wait().unwrap();
    assert!(file.exists());
    let lock = RunLock::acquire(dir.path(), "acme", Some(Duration::from_secs(2))).unwrap();
    drop(lock);

    // A stale file naming a long-dead process is no lock; the new holder rewrites it.
    std::fs::write(&file, "pid 999999 on ghost since 2020-01-01T00:00:00Z\n").unwrap();
    let lock = RunLock::acquire(dir.path(), "acme", None).unwrap();
    let text = std::fs::read_to_string(lock.path()).unwrap();
    assert!(
        text.starts_with(&format!("pid {} on ", std::process::id())),
        "{text}"
    );
}

type Calls = Arc<Mutex<Vec<(String, Window, DateTime<Utc>)>>>;

fn status_of(dir: &std::path::Path, name: &str) -> JobStatus {
    ScheduleStatus::load(dir).unwrap().jobs[name].clone()
}

#[tokio::test]
async fn runs_every_second_and_stops_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = vec![job("* * * * * *", "UTC")];
    let calls: Calls = Arc::default();
    let sd = Shutdown::new();
    let (c, s) = (calls.clone(), sd.clone());
    let runner = move |job: ScheduledJob, w: Window, fire: DateTime<Utc>| {
        let (c, s) = (c.clone(), s.clone());
        async move {
            let n = {
                let mut c = c.lock().unwrap();
                c.push((job.name.clone(), w, fire));
                c.len()
            };
            if n == 2 {
                s.request();
            }
            JobOutcome {
                exit_code: if n == 2 { 1 } else { 0 },
                message: format!("run {n}"),
                run_dir: Some(PathBuf::from(format!("runs/{n}"))),
            }
        }
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        run_scheduler(jobs.clone(), dir.path(), &SystemClock, sd, runner),
    )
    .await
    .expect("the scheduler returns after shutdown")
    .unwrap();

    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].2 < calls[1].2);
    for (name, w, fire) in &calls {
        assert_eq!(name, "acme-nightly");
        assert_eq!(fire.timestamp_subsec_nanos(), 0);
        assert_eq!(*w, window_for(&jobs[0], *fire));
    }
    let st = status_of(dir.path(), "acme-nightly");
    assert_eq!(st.last_outcome, Some(Outcome::Found));
    assert_eq!(st.last_exit_code, Some(1));
    assert_eq!(st.last_message.as_deref(), Some("run 2"));
    assert_eq!(st.last_run_dir, Some(PathBuf::from("runs/2")));
    assert_eq!(st.last_fire, Some(calls[1].2));
    assert!(st.last_started.is_some() && st.last_finished >= st.last_started);
    assert!(st.next_fire > st.last_fire, "{st:?}");
    assert_eq!(st.merchant, "acme");
    assert_eq!(st.time_zone, "UTC");
}

#[tokio::test]
async fn a_running_job_finishes_after_shutdown_is_requested() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = vec![job("* * * * * *", "UTC")];
    let calls: Calls = Arc::default();
    let finished = Arc::new(Mutex::new(0u32));
    let started = Arc::new(tokio::sync::Notify::new());
    let sd = Shutdown::new();
    let (c, f, st) = (calls.clone(), finished.clone(), started.clone());
    let runner = move |job: ScheduledJob, w: Window, fire: DateTime<Utc>| {
        let (c, f, st) = (c.clone(), f.clone(), st.clone());
        async move {
            c.lock().unwrap().push((job.name, w, fire));
            st.notify_one();
            tokio::time::sleep(Duration::from_secs(1)).await;
            *f.lock().unwrap() += 1;
            JobOutcome {
                exit_code: 0,
                message: "done".into(),
                run_dir: None,
            }
        }
    };
    let s = sd.clone();
    let requested_at = tokio::spawn(async move {
        started.notified().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.request();
        Instant::now()
    });
    tokio::time::timeout(
        Duration::from_secs(10),
        run_scheduler(jobs, dir.path(), &SystemClock, sd, runner),
    )
    .await
    .expect("returns")
    .unwrap();
    let returned = Instant::now();
    let requested_at = requested_at.await.unwrap();
    assert!(
        returned - requested_at >= Duration::from_millis(600),
        "returned before the job finished"
    );
    assert_eq!(calls.lock().unwrap().len(), 1, "no run after shutdown");
    assert_eq!(*finished.lock().unwrap(), 1);
    let st = status_of(dir.path(), "acme-nightly");
    assert_eq!(st.last_outcome, Some(Outcome::Ok));
    assert_eq!(st.last_message.as_deref(), Some("done"));
    assert!(st.last_finished.is_some());
}

struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Runs the scheduler for 500 ms at a fixed "now" and returns the runner's calls.
async fn run_for_a_moment(
    dir: &std::path::Path,
    jobs: Vec<ScheduledJob>,
    now: DateTime<Utc>,
) -> Vec<(String, Window, DateTime<Utc>)> {
    let calls: Calls = Arc::default();
    let sd = Shutdown::new();
    let c = calls.clone();
    let runner = move |job: ScheduledJob, w: Window, fire: DateTime<Utc>| {
        let c = c.clone();
        async move {
            c.lock().unwrap().push((job.name, w, fire));
            JobOutcome {
                exit_code: 0,
                message: "ok".into(),
                run_dir: None,
            }
        }
    };
    let s = sd.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.request();
    });
    let clock = FixedClock(now);
    tokio::time::timeout(
        Duration::from_secs(10),
        run_scheduler(jobs, dir, &clock, sd, runner),
    )
    .await
    .expect("returns")
    .unwrap();
    let out = calls.lock().unwrap().clone();
    out
}

fn write_status(dir: &std::path::Path, last_fire: &str, outcome: Outcome) {
    let mut st = ScheduleStatus::default();
    st.jobs.insert(
        "acme-nightly".into(),
        JobStatus {
            merchant: "acme".into(),
            last_fire: Some(t(last_fire)),
            last_outcome: Some(outcome),
            ..Default::default()
        },
    );
    st.save(dir).unwrap();
}

#[tokio::test]
async fn missed_fires_are_caught_up_once_or_skipped() {
    let now = t("2026-11-25T12:00:00Z");
    // run_once: the status says the last fire was three days ago → one run, for the latest.
    let dir = tempfile::tempdir().unwrap();
    write_status(dir.path(), "2026-11-22T05:00:00Z", Outcome::Ok);
    let calls = run_for_a_moment(dir.path(), vec![job("0 5 * * *", "UTC")], now).await;
    assert_eq!(
        calls,
        vec![(
            "acme-nightly".to_owned(),
            window("2026-11-17", "2026-11-24"),
            t("2026-11-25T05:00:00Z")
        )]
    );
    let st = status_of(dir.path(), "acme-nightly");
    assert_eq!(st.last_fire, Some(t("2026-11-25T05:00:00Z")));
    assert_eq!(st.next_fire, Some(t("2026-11-26T05:00:00Z")));
    assert_eq!(st.last_outcome, Some(Outcome::Ok));

    // skip: nothing runs; the next fire is still announced.
    let dir = tempfile::tempdir().unwrap();
    write_status(dir.path(), "2026-11-22T05:00:00Z", Outcome::Ok);
    let skip = job_with("0 5 * * *", "UTC", |s| s.catch_up = CatchUp::Skip);
    let calls = run_for_a_moment(dir.path(), vec![skip], now).await;
    assert!(calls.is_empty(), "{calls:?}");
    let st = status_of(dir.path(), "acme-nightly");
    assert_eq!(st.last_fire, Some(t("2026-11-22T05:00:00Z")));
    assert_eq!(st.next_fire, Some(t("2026-11-26T05:00:00Z")));

    // The very first start catches nothing up.
    let dir = tempfile::tempdir().unwrap();
    let calls = run_for_a_moment(dir.path(), vec![job("0 5 * * *", "UTC")], now).await;
    assert!(calls.is_empty(), "{calls:?}");
    assert_eq!(
        status_of(dir.path(), "acme-nightly").next_fire,
        Some(t("2026-11-26T05:00:00Z"))
    );

    // A run the process died in (still "running") is run again.
    let dir = tempfile::tempdir().unwrap();
    write_status(dir.path(), "2026-11-25T05:00:00Z", Outcome::Running);
    let calls = run_for_a_moment(dir.path(), vec![job("0 5 * * *", "UTC")], now).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].2, t("2026-11-25T05:00:00Z"));

    // Up to date: nothing to do.
    let dir = tempfile::tempdir().unwrap();
    write_status(dir.path(), "2026-11-25T05:00:00Z", Outcome::Found);
    let calls = run_for_a_moment(dir.path(), vec![job("0 5 * * *", "UTC")], now).await;
    assert!(calls.is_empty(), "{calls:?}");
}

#[tokio::test]
async fn async_acquire_waits_without_blocking_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let first = RunLock::acquire_async(dir.path(), "acme", None)
        .await
        .unwrap();
    let err = RunLock::acquire_async(dir.path(), "acme", None)
        .await
        .unwrap_err();
    assert!(matches!(err, LockError::Busy { .. }), "{err}");
    // Released by a task on the same (single-threaded) runtime: only possible if the waiter
    // yields while it waits.
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(first);
    });
    let start = Instant::now();
    let lock = RunLock::acquire_async(dir.path(), "acme", Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(150));
    releaser.await.unwrap();
    drop(lock);
}

/// The only test that sends a signal: every listener in this process sees it, and a second
/// one would end the test binary with 143.
#[tokio::test]
async fn sigterm_mid_run_lets_the_job_finish_then_stops() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = vec![job("* * * * * *", "UTC")];
    let calls: Calls = Arc::default();
    let finished = Arc::new(Mutex::new(0u32));
    let started = Arc::new(tokio::sync::Notify::new());
    let sd = Shutdown::new();
    sd.listen_for_signals();
    let (c, f, st) = (calls.clone(), finished.clone(), started.clone());
    let runner = move |job: ScheduledJob, w: Window, fire: DateTime<Utc>| {
        let (c, f, st) = (c.clone(), f.clone(), st.clone());
        async move {
            c.lock().unwrap().push((job.name, w, fire));
            st.notify_one();
            tokio::time::sleep(Duration::from_secs(1)).await;
            *f.lock().unwrap() += 1;
            JobOutcome {
                exit_code: 0,
                message: "done".into(),
                run_dir: None,
            }
        }
    };
    tokio::spawn(async move {
        started.notified().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        // SAFETY: signals this very process, whose SIGTERM is handled by the listener.
        unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    });
    tokio::time::timeout(
        Duration::from_secs(10),
        run_scheduler(jobs, dir.path(), &SystemClock, sd.clone(), runner),
    )
    .await
    .expect("returns after SIGTERM")
    .unwrap();
    assert!(sd.is_requested());
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(*finished.lock().unwrap(), 1);
    assert_eq!(
        status_of(dir.path(), "acme-nightly").last_outcome,
        Some(Outcome::Ok)
    );
}

/// Every fire of "M,.. H * * *" (or "M,.. * * * *" with `hour = None`) whose local date lies in
/// `days`, by the documented rule, found by brute force over local wall-clock times.
fn brute_fires(
    tz: chrono_tz::Tz,
    minutes: &[u32],
    hour: Option<u32>,
    days: std::ops::RangeInclusive<chrono::NaiveDate>,
) -> Vec<DateTime<Utc>> {
    use chrono::{LocalResult, Offset, TimeZone};
    let mut out = Vec::new();
    let mut d = *days.start();
    while d <= *days.end() {
        let hours: Vec<u32> = match hour {
            Some(h) => vec![h],
            None => (0..24).collect(),
        };
        for (h, &minute) in hours
            .iter()
            .flat_map(|h| minutes.iter().map(move |m| (*h, m)))
        {
            let n = d.and_hms_opt(h, minute, 0).unwrap();
            match tz.from_local_datetime(&n) {
                LocalResult::Single(x) => out.push(x.with_timezone(&Utc)),
                LocalResult::Ambiguous(a, b) => {
                    out.push(a.with_timezone(&Utc).min(b.with_timezone(&Utc)));
                    if hour.is_none() {
                        out.push(a.with_timezone(&Utc).max(b.with_timezone(&Utc)));
                    }
                }
                LocalResult::None => {
                    // The offset a day earlier is the one before the gap.
                    let day_before = Utc.from_utc_datetime(&(n - chrono::Duration::days(1)));
                    let off = tz
                        .offset_from_utc_datetime(&day_before.naive_utc())
                        .fix()
                        .local_minus_utc();
                    out.push(Utc.from_utc_datetime(&(n - chrono::Duration::seconds(off.into()))));
                }
            }
        }
        d = d.succ_opt().unwrap();
    }
    out.sort();
    out.dedup();
    out
}

mod brute {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Around each DST change of 2026 (and Lord Howe's 30-minute one), `next_fire` is the
        /// first brute-force fire after `after`.
        #[test]
        fn next_fire_is_the_first_brute_force_fire(
            zone in 0usize..4,
            transition in 0usize..2,
            offset_min in -1500i64..1500,
            minutes in proptest::collection::btree_set(0u32..60, 1..3),
            // Mostly the hours where the clocks change.
            hour in prop_oneof![
                Just(None),
                (0u32..24).prop_map(Some),
                (1u32..4).prop_map(Some),
                (1u32..4).prop_map(Some),
            ],
        ) {
            let (name, dates) = [
                ("Europe/Berlin", ["2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"]),
                ("America/New_York", ["2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"]),
                ("Australia/Lord_Howe", ["2026-04-04T15:00:00Z", "2026-10-03T15:30:00Z"]),
                ("Asia/Kolkata", ["2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"]),
            ][zone];
            let tz: chrono_tz::Tz = name.parse().unwrap();
            let after = t(dates[transition]) + chrono::Duration::minutes(offset_min);
            let minutes: Vec<u32> = minutes.into_iter().collect();
            let list = minutes.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            let cron = match hour {
                Some(h) => format!("{list} {h} * * *"),
                None => format!("{list} * * * *"),
            };
            let j = job(&cron, name);
            let local = after.with_timezone(&tz).date_naive();
            let fires = brute_fires(
                tz,
                &minutes,
                hour,
                local.pred_opt().unwrap()..=local + chrono::Days::new(3),
            );
            let want = fires.into_iter().find(|f| *f > after);
            prop_assert_eq!(next_fire(&j, after), want, "{} in {} after {}", cron, name, after);
        }
    }
}

/// Child half of [`second_signal_exits_at_once_with_143`]: run only by that test, in its own
/// process, because it installs signal handlers and is killed.
#[tokio::test]
#[ignore = "helper: run as a child process by second_signal_exits_at_once_with_143"]
async fn signal_child() {
    let sd = Shutdown::new();
    sd.listen_for_signals();
    println!("READY");
    sd.requested().await;
    println!("REQUESTED");
    // A "running job" that the second signal must cut short.
    tokio::time::sleep(Duration::from_secs(30)).await;
    println!("NOT KILLED");
}

#[test]
fn second_signal_exits_at_once_with_143() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "schedule::signal_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut wait_for = |want: &str| loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("child ended before {want}"))
            .unwrap();
        if line.contains(want) {
            break;
        }
    };
    wait_for("READY");
    // SAFETY: signals the child this test started, by its pid.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    wait_for("REQUESTED");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first signal only asks to stop"
    );
    let start = Instant::now();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_second_scheduler_on_the_same_data_folder_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let held = RunLock::acquire_scheduler(dir.path()).unwrap();
    let runner = |_: ScheduledJob, _: Window, _: DateTime<Utc>| async {
        panic!("must not run");
    };
    let err = run_scheduler(
        vec![job("* * * * * *", "UTC")],
        dir.path(),
        &SystemClock,
        Shutdown::new(),
        runner,
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    // The merchant locks are separate.
    let _m = RunLock::acquire(dir.path(), "acme", None).unwrap();
    drop(held);
    // No status was written by the refused scheduler.
    assert!(!dir.path().join("state").exists());
}

// ---------------------------------------------------------------------------------------
// `schedule --list`: the real binary, its fire times against a hand-computed table.

/// The API key variable of the `--list` config; never set, since `--list` needs no key.
const LIST_KEY_VAR: &str = "RECON_SCHEDULE_LIST_UNSET_KEY";

/// A config with a Berlin nightly job (02:30, a time that is skipped in March and happens
/// twice in October), a New York Sunday job at 01:30 and 02:30 (01:30 happens twice on
/// 2026-11-01, 02:30 is skipped on 2026-03-08) and a disabled job. Windows in UTC days.
fn write_list_config(dir: &std::path::Path) {
    let text = format!(
        r#"data_dir = "data"

[[merchant]]
name = "acme"
merchant_id = 1
api_key_env = "{LIST_KEY_VAR}"

[[schedule]]
name = "berlin-nightly"
merchant = "acme"
cron = "30 2 * * *"
time_zone = "Europe/Berlin"
lookback_days = 2

[[schedule]]
name = "ny-sunday"
merchant = "acme"
cron = "30 1,2 * * 0"
time_zone = "America/New_York"
days = 7

[[schedule]]
name = "paused"
merchant = "acme"
enabled = false
"#
    );
    std::fs::write(dir.join("recon.toml"), text).unwrap();
}

fn list(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Bin::new(dir)
        .env_remove(LIST_KEY_VAR)
        .env_remove("XSOLLA_RECON_CONFIG")
        .args(["schedule", "--list", "--config", "recon.toml"])
        .args(args)
        .output()
}

/// The rows of the fire table (the one whose header has `NEXT (UTC)`), cells split at the
/// column gaps (two or more spaces), empty cells left out.
fn fire_rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .skip_while(|l| !l.contains("NEXT (UTC)"))
        .skip(1)
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// A hand-computed row: job, local time, UTC time, time left, window, DST note.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

#[track_caller]
fn assert_fire_table(out: &std::process::Output, want: &[Row]) {
    assert_exit(out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want: Vec<Vec<String>> = want
        .iter()
        .map(|&(job, local, utc, left, window, dst)| {
            [job, local, utc, left, window, dst]
                .into_iter()
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect();
    assert_eq!(fire_rows(&stdout), want, "{}", text(out));
    // Aligned: every row's UTC cell starts under the header's `NEXT (UTC)`.
    let lines: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.contains("NEXT (UTC)"))
        .collect();
    let col = lines[0].find("NEXT (UTC)").unwrap();
    for l in &lines[1..] {
        assert_eq!(
            l.find(" UTC ").map(|i| i - 23),
            Some(col),
            "{l:?}\n{stdout}"
        );
    }
}

#[test]
fn schedule_list_matches_a_hand_computed_table_across_the_autumn_change() {
    let dir = tempfile::tempdir().unwrap();
    write_list_config(dir.path());
    // Berlin: 2026-10-25 03:00 CEST → 02:00 CET, 02:30 happens twice: fires once (CEST).
    // New York: 2026-11-01 02:00 EDT → 01:00 EST, 01:30 happens twice: fires once (EDT).
    // Windows: berlin yesterday (UTC) and 2 days before; ny the 7 days ending yesterday.
    #[rustfmt::skip]
    let want: [Row; 10] = [
        ("berlin-nightly", "Sat 2026-10-24 02:30:00 CEST +02:00", "Sat 2026-10-24 00:30:00 UTC", "12h 30min", "2026-10-21..2026-10-23", ""),
        ("berlin-nightly", "Sun 2026-10-25 02:30:00 CEST +02:00", "Sun 2026-10-25 00:30:00 UTC", "1d 12h 30min", "2026-10-22..2026-10-24", "repeated time, 1st pass"),
        ("berlin-nightly", "Mon 2026-10-26 02:30:00 CET +01:00", "Mon 2026-10-26 01:30:00 UTC", "2d 13h 30min", "2026-10-23..2026-10-25", ""),
        ("berlin-nightly", "Tue 2026-10-27 02:30:00 CET +01:00", "Tue 2026-10-27 01:30:00 UTC", "3d 13h 30min", "2026-10-24..2026-10-26", ""),
        ("berlin-nightly", "Wed 2026-10-28 02:30:00 CET +01:00", "Wed 2026-10-28 01:30:00 UTC", "4d 13h 30min", "2026-10-25..2026-10-27", ""),
        ("ny-sunday", "Sun 2026-10-25 01:30:00 EDT -04:00", "Sun 2026-10-25 05:30:00 UTC", "1d 17h 30min", "2026-10-18..2026-10-24", ""),
        ("ny-sunday", "Sun 2026-10-25 02:30:00 EDT -04:00", "Sun 2026-10-25 06:30:00 UTC", "1d 18h 30min", "2026-10-18..2026-10-24", ""),
        ("ny-sunday", "Sun 2026-11-01 01:30:00 EDT -04:00", "Sun 2026-11-01 05:30:00 UTC", "8d 17h 30min", "2026-10-25..2026-10-31", "repeated time, 1st pass"),
        ("ny-sunday", "Sun 2026-11-01 02:30:00 EST -05:00", "Sun 2026-11-01 07:30:00 UTC", "8d 19h 30min", "2026-10-25..2026-10-31", ""),
        ("ny-sunday", "Sun 2026-11-08 01:30:00 EST -05:00", "Sun 2026-11-08 06:30:00 UTC", "15d 18h 30min", "2026-11-01..2026-11-07", ""),
    ];
    // Five fires per job by default.
    let out = list(dir.path(), &["--from", "2026-10-23T12:00:00Z"]);
    assert_fire_table(&out, &want);
    // The same instant in another offset lists the same fires.
    let out = list(dir.path(), &["--from", "2026-10-23T14:00:00+02:00"]);
    assert_fire_table(&out, &want);
    // The job table: each job once, the disabled one marked.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let jobs: Vec<Vec<&str>> = stdout
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    #[rustfmt::skip]
    assert_eq!(jobs, vec![
        vec!["JOB", "MERCHANT", "CRON", "TIME ZONE", "WINDOW"],
        vec!["berlin-nightly", "acme", "30 2 * * *", "Europe/Berlin", "yesterday and 2 day(s) before (UTC days)"],
        vec!["ny-sunday", "acme", "30 1,2 * * 0", "America/New_York", "7 day(s) ending yesterday (UTC days)"],
        vec!["paused", "acme", "0 5 * * *", "UTC", "disabled"],
    ]);
}

#[test]
fn schedule_list_count_3_across_the_spring_change() {
    let dir = tempfile::tempdir().unwrap();
    write_list_config(dir.path());
    // Berlin: 2026-03-29 02:00 CET → 03:00 CEST; 02:30 does not exist and runs at 03:30.
    #[rustfmt::skip]
    let berlin_gap: [Row; 6] = [
        ("berlin-nightly", "Sat 2026-03-28 02:30:00 CET +01:00", "Sat 2026-03-28 01:30:00 UTC", "13h 30min", "2026-03-25..2026-03-27", ""),
        ("berlin-nightly", "Sun 2026-03-29 03:30:00 CEST +02:00", "Sun 2026-03-29 01:30:00 UTC", "1d 13h 30min", "2026-03-26..2026-03-28", "nonexistent time, moved later"),
        ("berlin-nightly", "Mon 2026-03-30 02:30:00 CEST +02:00", "Mon 2026-03-30 00:30:00 UTC", "2d 12h 30min", "2026-03-27..2026-03-29", ""),
        ("ny-sunday", "Sun 2026-03-29 01:30:00 EDT -04:00", "Sun 2026-03-29 05:30:00 UTC", "1d 17h 30min", "2026-03-22..2026-03-28", ""),
        ("ny-sunday", "Sun 2026-03-29 02:30:00 EDT -04:00", "Sun 2026-03-29 06:30:00 UTC", "1d 18h 30min", "2026-03-22..2026-03-28", ""),
        ("ny-sunday", "Sun 2026-04-05 01:30:00 EDT -04:00", "Sun 2026-04-05 05:30:00 UTC", "8d 17h 30min", "2026-03-29..2026-04-04", ""),
    ];
    let out = list(
        dir.path(),
        &["--from", "2026-03-27T12:00:00Z", "--count", "3"],
    );
    assert_fire_table(&out, &berlin_gap);
    // New York: 2026-03-08 02:00 EST → 03:00 EDT; 02:30 does not exist and runs at 03:30.
    #[rustfmt::skip]
    let ny_gap: [Row; 6] = [
        ("berlin-nightly", "Sun 2026-03-08 02:30:00 CET +01:00", "Sun 2026-03-08 01:30:00 UTC", "13h 30min", "2026-03-05..2026-03-07", ""),
        ("berlin-nightly", "Mon 2026-03-09 02:30:00 CET +01:00", "Mon 2026-03-09 01:30:00 UTC", "1d 13h 30min", "2026-03-06..2026-03-08", ""),
        ("berlin-nightly", "Tue 2026-03-10 02:30:00 CET +01:00", "Tue 2026-03-10 01:30:00 UTC", "2d 13h 30min", "2026-03-07..2026-03-09", ""),
        ("ny-sunday", "Sun 2026-03-08 01:30:00 EST -05:00", "Sun 2026-03-08 06:30:00 UTC", "18h 30min", "2026-03-01..2026-03-07", ""),
        ("ny-sunday", "Sun 2026-03-08 03:30:00 EDT -04:00", "Sun 2026-03-08 07:30:00 UTC", "19h 30min", "2026-03-01..2026-03-07", "nonexistent time, moved later"),
        ("ny-sunday", "Sun 2026-03-15 01:30:00 EDT -04:00", "Sun 2026-03-15 05:30:00 UTC", "7d 17h 30min", "2026-03-08..2026-03-14", ""),
    ];
    let out = list(
        dir.path(),
        &["--from", "2026-03-07T12:00:00Z", "--count", "3"],
    );
    assert_fire_table(&out, &ny_gap);
}

#[test]
fn schedule_list_needs_no_key_and_takes_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    write_list_config(dir.path());
    // From now: five future fires per job; nothing written (not even the data folder).
    let before = Utc::now();
    let out = list(dir.path(), &[]);
    assert_exit(&out, 0);
    let rows = fire_rows(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(rows.len(), 10, "{}", text(&out));
    for r in &rows {
        let utc = chrono::NaiveDateTime::parse_from_str(&r[2], "%a %Y-%m-%d %H:%M:%S UTC")
            .unwrap()
            .and_utc();
        assert!(utc > before, "{r:?}");
    }
    assert!(!dir.path().join("data").exists());
    // While a scheduler holds its lock on the data folder, the listing still works.
    let _held = RunLock::acquire_scheduler(&dir.path().join("data")).unwrap();
    let out = list(
        dir.path(),
        &["--from", "2026-10-23T12:00:00Z", "--count", "1"],
    );
    assert_exit(&out, 0);
    assert_eq!(fire_rows(&String::from_utf8_lossy(&out.stdout)).len(), 2);
}

#[test]
fn schedule_list_without_schedule_jobs_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    write_list_config(dir.path());
    let text_of = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let config = std::fs::read_to_string(dir.path().join("recon.toml")).unwrap();
    let merchant_only = &config[..config.find("[[schedule]]").unwrap()];
    std::fs::write(dir.path().join("recon.toml"), merchant_only).unwrap();
    let out = list(dir.path(), &[]);
    assert_exit(&out, 2);
    assert!(
        text_of(&out).contains("recon.toml has no [[schedule]] jobs"),
        "{}",
        text(&out)
    );
    assert!(out.stdout.is_empty(), "{}", text(&out));
    // Only disabled jobs: said so.
    let paused = format!("{merchant_only}[[schedule]]\nmerchant = \"acme\"\nenabled = false\n");
    std::fs::write(dir.path().join("recon.toml"), paused).unwrap();
    let out = list(dir.path(), &[]);
    assert_exit(&out, 2);
    assert!(
        text_of(&out).contains("no enabled [[schedule]] jobs"),
        "{}",
        text(&out)
    );
    // A bad job, an unreadable --from, a --count of 0, --count without --list: usage, 2.
    std::fs::write(
        dir.path().join("recon.toml"),
        config.replace("30 2 * * *", "30 25 * * *"),
    )
    .unwrap();
    let out = list(dir.path(), &[]);
    assert_exit(&out, 2);
    assert!(text_of(&out).contains("berlin-nightly"), "{}", text(&out));
    for args in [&["--from", "2026-10-23"][..], &["--count", "0"]] {
        assert_exit(&list(dir.path(), args), 2);
    }
    let out = Bin::new(dir.path())
        .args(["schedule", "--config", "recon.toml", "--count", "3"])
        .output();
    assert_exit(&out, 2);
}
