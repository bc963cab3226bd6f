//! The job's orchestrator: one run of one merchant and window, as `xsolla-recon run`, the
//! scheduler and the demo start it. [`run`] reads as its steps:
//!
//! 1. **lock** the merchant ([`crate::job::lock`]): never two runs of one merchant at once;
//! 2. **inputs** ([`crate::job::inputs`]): the ledger files, then the Xsolla snapshot
//!    (reused, stored or fetched);
//! 3. **reconcile** ([`crate::job::pipeline`]): load both sides, reconcile, carry open items;
//! 4. **report**: the report files, published atomically into the run folder;
//! 5. **manifest** ([`crate::job::manifest`]): `manifest.json`, once the reports exist;
//! 6. **mail** ([`crate::job::mail`]), last, then the manifest again with its result.
//!
//! That order decides what a failure leaves behind: a mail failure never loses a report, and
//! a killed run leaves either a complete run folder or none.

use crate::domain::fsutil::FsError;
use crate::domain::window;
use crate::domain::window::Window;
use crate::fetch::{FetchError, Progress};
use crate::job::config::{Config, ConfigError, MerchantConfig};
use crate::job::inputs::RunInputs;
use crate::job::lock::{LockError, RunLock};
use crate::job::mail::{MailError, RunMail};
use crate::job::manifest::{hash_files, MailStatus, Outcome, RunCounts, RunManifest, Timings};
use crate::job::pipeline::{self, PipelineError, ProviderSource, ReconcileRequest, RunResult};
use crate::load::DateZones;
use crate::report::{self, ReportError, ReportFiles, ReportInput};
use crate::xsolla::{ApiKey, XsollaError};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `[run]`: how `run` and the scheduler pick their inputs and where reports go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSettings {
    /// Days before yesterday that a nightly run (`--yesterday`, the scheduler) re-checks, so
    /// late refunds and chargebacks are caught. Default 7.
    pub lookback_days: u32,
    /// Folder for run folders (`<reports_dir>/<merchant>/<from>_<to>/<run id>/`). Relative
    /// paths are relative to the folder the job runs in. Default `reports`.
    pub reports_dir: PathBuf,
    /// A snapshot of the same window fetched at most this many minutes ago is reused instead
    /// of fetching again (a rerun the same morning sees the same inputs and gives the same
    /// reports). `--refetch` ignores it; 0 always fetches. Default 360.
    pub reuse_snapshot_minutes: u64,
    /// How long a run waits for another run of the same merchant to finish before giving up,
    /// in seconds. 0 refuses at once. Default 0.
    pub lock_wait_seconds: u64,
    /// IANA zone in which a window's days are counted, on both sides: Xsolla's times are
    /// converted to it from `fetch.xsolla_timezone`, ledger times from
    /// `merchant.ledger.timezone`, and "yesterday" (`--yesterday`, `--last`, the scheduler)
    /// is yesterday here. Date-only values are taken as days of this zone. Default `UTC`.
    #[serde(with = "crate::domain::window::tz_serde")]
    pub reporting_timezone: chrono_tz::Tz,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            lookback_days: 7,
            reports_dir: PathBuf::from("reports"),
            reuse_snapshot_minutes: 360,
            lock_wait_seconds: 0,
            reporting_timezone: chrono_tz::Tz::UTC,
        }
    }
}

/// Where Xsolla's data comes from in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchMode {
    /// Reuse a recent snapshot of the window (`reuse_snapshot_minutes`), else fetch.
    Auto,
    /// Always fetch.
    Refetch,
    /// Never fetch: the newest stored snapshot of the window, any age.
    Offline,
}

/// What mail the run sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailMode {
    /// Through the configured SMTP server (`[smtp]`, `[merchant.mail]`).
    Smtp,
    /// No mail (`--dry-run`).
    DryRun,
    /// Written as `email.eml` into the run folder (the demo).
    File,
}

/// One run request.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Merchant name (from the config).
    pub merchant: String,
    /// The window.
    pub window: Window,
    /// Fetch behaviour.
    pub fetch: FetchMode,
    /// Mail behaviour.
    pub mail: MailMode,
    /// Ledger file or glob overriding the config's.
    pub ledger: Option<PathBuf>,
    /// Folder that relative ledger paths in the config are relative to (the config's folder).
    pub base_dir: PathBuf,
    /// SHA-256 of the config file's text (recorded in the manifest).
    pub config_sha256: String,
    /// API key to use instead of the merchant's environment variable (the demo's sandbox).
    pub api_key: Option<ApiKey>,
    /// How long to wait for another run of the merchant to finish; `None` refuses at once.
    pub lock_wait: Option<Duration>,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: RunManifest,
    /// The reconciliation.
    pub result: RunResult,
}

/// Exit codes of the job commands (documented in the README).
pub mod exit {
    /// Done, nothing wrong.
    pub const OK: u8 = 0;
    /// Done, and discrepancies were found (so cron can alert).
    pub const FOUND: u8 = 1;
    /// Bad command line or configuration.
    pub const CONFIG: u8 = 2;
    /// The job failed while running (network, Xsolla, disk, mail).
    pub const RUNTIME: u8 = 3;
    /// Another run of the same merchant holds the lock (and `--wait` ran out).
    pub const BUSY: u8 = 4;
}

/// A job failure, by stage.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Another run holds the merchant's lock.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Building the client.
    #[error(transparent)]
    Client(#[from] XsollaError),
    /// Fetching.
    #[error("fetching {window} for merchant {merchant}: {source}")]
    Fetch {
        /// Merchant.
        merchant: String,
        /// Window.
        window: Window,
        /// Why.
        #[source]
        source: Box<FetchError>,
    },
    /// Loading or reconciling.
    #[error("reconciling {window} for merchant {merchant}: {source}")]
    Reconcile {
        /// Merchant.
        merchant: String,
        /// Window.
        window: Window,
        /// Why.
        #[source]
        source: Box<PipelineError>,
    },
    /// Writing reports.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// Files.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The mail failed after the reports were written (they are in `dir`).
    #[error("{source} (the reports are written: {})", dir.display())]
    Mail {
        /// The run folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: MailError,
    },
}

impl JobError {
    /// The exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            JobError::Config(_) => exit::CONFIG,
            JobError::Lock(_) => exit::BUSY,
            _ => exit::RUNTIME,
        }
    }
}

/// A new run id: UTC start time (sortable) and a random suffix (unique per process).
pub fn new_run_id(now: DateTime<Utc>) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = Sha256::new();
    h.update(std::process::id().to_le_bytes());
    h.update(now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let d = h.finalize();
    format!(
        "{}-{:02x}{:02x}",
        now.format("%Y%m%dT%H%M%S%.3fZ"),
        d[0],
        d[1]
    )
}

/// Runs the job once. The caller maps the result to an exit code: `manifest.exit_code`, or
/// [`JobError::exit_code`].
pub async fn run(
    cfg: &Config,
    req: &RunRequest,
    progress: &dyn Progress,
) -> Result<RunOutcome, JobError> {
    let mut run = Run::new(cfg, req)?;
    let _lock = run.lock().await?;
    let inputs = run.gather_inputs(progress).await?;
    let (report_id, result) = run.reconcile(&inputs)?;
    let merchant = run.merchant; // the reference, so `run` stays free for the steps below
    let input = result.report_input(&merchant.name, &report_id);
    let files = run.write_reports(&input)?;
    // The manifest is written before mailing, so a crash in the mail leaves a complete folder.
    let mut manifest = run.manifest(inputs, &report_id, &result, &files)?;
    manifest.write(&run.dir)?;
    let failure = run.mail(&input, result.found(), &mut manifest).await;
    manifest.write(&run.dir)?;
    tracing::info!(run_id = run.id, dir = %run.dir.display(), outcome = ?manifest.outcome, "run finished");
    if let Some(source) = failure {
        return Err(JobError::Mail {
            dir: run.dir,
            source,
        });
    }
    Ok(RunOutcome {
        dir: run.dir,
        manifest,
        result,
    })
}

/// One run in progress: what it is about, where its folder goes, and the time each step
/// took so far.
struct Run<'a> {
    cfg: &'a Config,
    req: &'a RunRequest,
    merchant: &'a MerchantConfig,
    id: String,
    started_at: DateTime<Utc>,
    /// `<reports_dir>/<merchant>/<from>_<to>/<run id>/`.
    dir: PathBuf,
    timings: Timings,
}

impl<'a> Run<'a> {
    fn new(cfg: &'a Config, req: &'a RunRequest) -> Result<Run<'a>, JobError> {
        let started_at = Utc::now();
        let id = new_run_id(started_at);
        let merchant = cfg.merchant(Some(&req.merchant))?;
        let dir = cfg
            .run
            .reports_dir
            .join(&merchant.name)
            .join(req.window.slug())
            .join(&id);
        Ok(Run {
            cfg,
            req,
            merchant,
            id,
            started_at,
            dir,
            timings: Timings::default(),
        })
    }

    /// Takes the merchant's lock, waiting as the request allows.
    async fn lock(&mut self) -> Result<RunLock, JobError> {
        let t = Instant::now();
        let lock =
            RunLock::acquire_async(&self.cfg.data_dir, &self.merchant.name, self.req.lock_wait)
                .await?;
        self.timings.lock = ms(t);
        tracing::info!(run_id = self.id, merchant = %self.merchant.name, window = %self.req.window, "run started");
        Ok(lock)
    }

    async fn gather_inputs(&mut self, progress: &dyn Progress) -> Result<RunInputs, JobError> {
        let t = Instant::now();
        let inputs = RunInputs::gather(self.cfg, self.req, self.merchant, progress).await?;
        self.timings.fetch = ms(t);
        Ok(inputs)
    }

    /// The report id of the inputs, and their reconciliation.
    fn reconcile(&mut self, inputs: &RunInputs) -> Result<(String, RunResult), JobError> {
        let t = Instant::now();
        let report_id = inputs.report_id(self.cfg, self.merchant, self.req);
        let request = ReconcileRequest {
            cfg: self.cfg,
            merchant: self.merchant,
            window: self.req.window,
            provider: &ProviderSource::Snapshot(inputs.snapshot.dir.clone()),
            ledger: self.req.ledger.as_deref(),
            base_dir: &self.req.base_dir,
            run_id: &self.id,
        };
        let result = pipeline::reconcile(&request).map_err(|source| JobError::Reconcile {
            merchant: self.merchant.name.clone(),
            window: self.req.window,
            source: Box::new(source),
        })?;
        self.timings.reconcile = ms(t);
        Ok((report_id, result))
    }

    fn write_reports(&mut self, input: &ReportInput<'_>) -> Result<ReportFiles, JobError> {
        let t = Instant::now();
        let files = report::write_reports(input, &self.cfg.report, &self.dir)?;
        self.timings.report = ms(t);
        Ok(files)
    }

    /// The manifest of a run whose reports are written, its mail not sent yet.
    fn manifest(
        &self,
        inputs: RunInputs,
        report_id: &str,
        result: &RunResult,
        files: &ReportFiles,
    ) -> Result<RunManifest, FsError> {
        let outcome = Outcome::of_reports(result.found());
        Ok(RunManifest {
            schema: 1,
            run_id: self.id.clone(),
            report_id: report_id.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            merchant: self.merchant.name.clone(),
            window: self.req.window,
            provider_window: Some(inputs.snapshot.manifest.window),
            started_at: self.started_at,
            finished_at: Utc::now(),
            config_sha256: self.req.config_sha256.clone(),
            snapshot: inputs.snapshot_file,
            snapshot_fetched: inputs.snapshot.fetched,
            ledger_files: inputs.ledger_files,
            counts: RunCounts::of(result),
            timings_ms: self.timings.clone(),
            reports: hash_files(&files.files)?,
            mail: MailStatus::NotNeeded {
                reason: "not sent yet".into(),
            },
            outcome,
            exit_code: outcome.exit_code(),
        })
    }

    /// Mails the report and records the result in the manifest; a failure is handed back.
    async fn mail(
        &self,
        input: &ReportInput<'_>,
        found: bool,
        manifest: &mut RunManifest,
    ) -> Option<MailError> {
        let t = Instant::now();
        let mail = RunMail {
            cfg: self.cfg,
            mode: &self.req.mail,
            merchant: self.merchant,
            input,
            run_dir: &self.dir,
            found,
            started_at: self.started_at,
        };
        let result = mail.deliver().await;
        manifest.record_mail(result, ms(t))
    }
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// The nightly window ending on `today − 1` (in the caller's zone): yesterday plus
/// `lookback_days` before it.
pub fn nightly_window(today: NaiveDate, lookback_days: u32) -> Window {
    let to = today
        .pred_opt()
        .expect("dates are far from chrono's limits");
    let from = to - chrono::Duration::days(i64::from(lookback_days));
    Window::new(from, to).expect("from <= to")
}

/// "Today" in the reporting zone at the instant `now`: the one place the nightly windows
/// (`--yesterday`, `--last`, the scheduler) take their today from, so a replay that passes
/// another clock gets the same window.
pub fn reporting_today(now: DateTime<Utc>, zones: DateZones) -> NaiveDate {
    window::today_in(now, zones.reporting)
}

/// The last reporting day whose Xsolla data is complete at `now`: every Xsolla day that
/// covers it has ended in Xsolla's zone. Yesterday when both zones are the same; a day
/// earlier when Xsolla's today still covers part of yesterday.
pub fn last_complete_day(now: DateTime<Utc>, zones: DateZones) -> NaiveDate {
    let xsolla_today = window::start_of_day(zones.xsolla, window::today_in(now, zones.xsolla));
    window::today_in(xsolla_today, zones.reporting)
        .pred_opt()
        .expect("dates are far from chrono's limits")
}

/// The nightly window at `now` (yesterday in the reporting zone plus `lookback_days`),
/// shortened to end on [`last_complete_day`] when yesterday is not over in Xsolla's zone yet;
/// the shortening is logged.
pub fn nightly_window_at(now: DateTime<Utc>, zones: DateZones, lookback_days: u32) -> Window {
    shorten_to_complete(
        nightly_window(reporting_today(now, zones), lookback_days),
        now,
        zones,
    )
}

/// `w` ending on [`last_complete_day`] at `now` when it ends later (logged), else `w`.
pub fn shorten_to_complete(w: Window, now: DateTime<Utc>, zones: DateZones) -> Window {
    let last = last_complete_day(now, zones);
    if w.to <= last {
        return w;
    }
    let shortened = Window::new(w.from.min(last), last).expect("from <= to");
    tracing::warn!(
        window = %w,
        shortened = %shortened,
        xsolla_timezone = %zones.xsolla,
        xsolla_now = %now.with_timezone(&zones.xsolla).format("%Y-%m-%d %H:%M"),
        "the window's last day has not ended in Xsolla's zone yet; ending the window the day before"
    );
    shortened
}

/// Refuses a window whose last day has not ended in Xsolla's zone at `now` (some of its
/// Xsolla data may still come): the message names the zone and the time there.
pub fn check_window_complete(
    w: Window,
    now: DateTime<Utc>,
    zones: DateZones,
) -> Result<(), ConfigError> {
    let last = last_complete_day(now, zones);
    if w.to <= last {
        return Ok(());
    }
    Err(ConfigError::Usage(format!(
        "the window {w} ends after {last}, the last day whose Xsolla data is complete: it is {} \
         in Xsolla's zone ({}, fetch.xsolla_timezone), so Xsolla's day {} has not ended; \
         end the window on {last} or earlier",
        now.with_timezone(&zones.xsolla).format("%Y-%m-%d %H:%M"),
        zones.xsolla,
        w.covering_in(zones.reporting, zones.xsolla).to,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nightly_window_is_yesterday_plus_the_lookback() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let w = nightly_window(d("2026-11-22"), 7);
        assert_eq!((w.from, w.to), (d("2026-11-14"), d("2026-11-21")));
        let w = nightly_window(d("2026-03-01"), 0);
        assert_eq!((w.from, w.to), (d("2026-02-28"), d("2026-02-28")));
    }

    fn zones(xsolla: &str, reporting: &str) -> DateZones {
        DateZones {
            xsolla: xsolla.parse().unwrap(),
            reporting: reporting.parse().unwrap(),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn nightly_windows_take_yesterday_in_the_reporting_zone() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        // 23:30 UTC on the 21st: the 22nd in Tokyo, still the 21st in UTC and New York.
        let now = at("2026-11-21T23:30:00Z");
        let w = nightly_window_at(now, zones("Asia/Tokyo", "Asia/Tokyo"), 0);
        assert_eq!((w.from, w.to), (d("2026-11-21"), d("2026-11-21")));
        let w = nightly_window_at(now, zones("UTC", "UTC"), 0);
        assert_eq!((w.from, w.to), (d("2026-11-20"), d("2026-11-20")));
        let w = nightly_window_at(now, zones("America/New_York", "America/New_York"), 2);
        assert_eq!((w.from, w.to), (d("2026-11-18"), d("2026-11-20")));
        // 00:30 UTC on the 22nd: the 21st (19:30) in New York.
        let w = nightly_window_at(
            at("2026-11-22T00:30:00Z"),
            zones("America/New_York", "America/New_York"),
            0,
        );
        assert_eq!((w.from, w.to), (d("2026-11-20"), d("2026-11-20")));
    }

    #[test]
    fn a_yesterday_not_over_in_xsollas_zone_is_shortened_and_an_explicit_one_refused() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        // 05:00 UTC on the 22nd is 14:00 in Tokyo: the UTC 21st runs to 09:00 on Tokyo's
        // 22nd, which has not ended, so yesterday (the 21st) is not complete.
        let now = at("2026-11-22T05:00:00Z");
        let z = zones("Asia/Tokyo", "UTC");
        assert_eq!(last_complete_day(now, z), d("2026-11-20"));
        let w = nightly_window_at(now, z, 7);
        assert_eq!((w.from, w.to), (d("2026-11-14"), d("2026-11-20")));
        let w = nightly_window_at(now, z, 0);
        assert_eq!((w.from, w.to), (d("2026-11-20"), d("2026-11-20")));
        let e = check_window_complete(
            Window::new(d("2026-11-21"), d("2026-11-21")).unwrap(),
            now,
            z,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("Asia/Tokyo") && e.contains("2026-11-22 14:00"),
            "{e}"
        );
        assert!(check_window_complete(
            Window::new(d("2026-11-20"), d("2026-11-20")).unwrap(),
            now,
            z
        )
        .is_ok());
        // After 15:00 UTC Tokyo's 22nd is over: the 21st is complete.
        assert_eq!(
            last_complete_day(at("2026-11-22T15:00:00Z"), z),
            d("2026-11-21")
        );
        // Xsolla west of the reporting zone: UTC's 21st ends at 19:00 in New York, whose
        // 21st ends at 05:00 UTC on the 22nd.
        let z = zones("America/New_York", "UTC");
        assert_eq!(
            last_complete_day(at("2026-11-22T04:59:00Z"), z),
            d("2026-11-20")
        );
        assert_eq!(
            last_complete_day(at("2026-11-22T05:00:00Z"), z),
            d("2026-11-21")
        );
        // Same zones: yesterday is always complete.
        let z = zones("UTC", "UTC");
        assert_eq!(
            last_complete_day(at("2026-11-22T00:00:00Z"), z),
            d("2026-11-21")
        );
    }

    #[test]
    fn run_ids_sort_by_time_and_differ_within_a_millisecond() {
        let t = "2026-11-22T05:00:00.123Z".parse::<DateTime<Utc>>().unwrap();
        let (a, b) = (new_run_id(t), new_run_id(t));
        assert_ne!(a, b);
        assert!(a.starts_with("20261122T050000.123Z-"), "{a}");
        let later = new_run_id(t + chrono::Duration::milliseconds(1));
        assert!(later > a && later > b);
    }
}
