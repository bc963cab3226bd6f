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
use crate::domain::window::Window;
use crate::fetch::Progress;
use crate::job::config::{Config, ConfigError, MerchantConfig};
use crate::job::inputs::RunInputs;
use crate::job::lock::RunLock;
use crate::job::mail::{MailError, MailStatus, RunMail};
use crate::job::manifest::{hash_files, Outcome, RunCounts, RunManifest, Timings};
use crate::job::nightly::last_complete_day;
use crate::job::pipeline::{self, ProviderSource, ReconcileRequest, RunResult};
use crate::job::request::{new_run_id, JobError, RunRequest};
use crate::load::DateZones;
use crate::report::{self, ReportFiles, ReportInput};
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::time::Instant;

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

/// Runs the job once. The caller maps the result to an exit code: `manifest.exit_code`, or
/// [`JobError::exit_code`].
pub async fn run(
    cfg: &Config,
    req: &RunRequest,
    progress: &dyn Progress,
) -> Result<RunOutcome, JobError> {
    let mut run = Run::new(cfg, req)?;
    let _lock = run.lock().await?;
    let mut inputs = run.gather_inputs(progress).await?;
    let (report_id, result) = run.reconcile(&mut inputs)?;
    let merchant = run.merchant; // the reference, so `run` stays free for the steps below
    let input = result.report_input(&merchant.name, &report_id);
    let files = run.write_reports(&input)?;
    // The manifest is written before mailing, so a crash in the mail leaves a complete folder.
    let mut manifest = run.manifest(inputs, &report_id, &result, &files)?;
    manifest.write(&run.dir)?;
    let failure = run.mail(&input, &result, &mut manifest).await;
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
    fn reconcile(&mut self, inputs: &mut RunInputs) -> Result<(String, RunResult), JobError> {
        let t = Instant::now();
        let inputs_id = inputs.inputs_id(self.cfg, self.merchant, self.req);
        let report_id = crate::job::inputs::report_id(self.cfg, self.merchant, &inputs_id);
        let request = ReconcileRequest {
            cfg: self.cfg,
            merchant: self.merchant,
            window: self.req.window,
            provider: &ProviderSource::Snapshot(inputs.snapshot.dir.clone()),
            ledger: self.req.ledger.as_deref(),
            base_dir: &self.req.base_dir,
            run_id: &self.id,
            report_id: &report_id,
            inputs_id: &inputs_id,
        };
        let loaded = inputs.loaded.take();
        let result =
            pipeline::reconcile_loaded(&request, loaded).map_err(|source| JobError::Reconcile {
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
        result: &RunResult,
        manifest: &mut RunManifest,
    ) -> Option<MailError> {
        let t = Instant::now();
        let mail = RunMail {
            cfg: self.cfg,
            mode: &self.req.mail,
            merchant: self.merchant,
            input,
            run_dir: &self.dir,
            worth_a_mail: result.worth_a_mail(),
            changes: crate::deliver::RunChanges {
                new: result.state.new.len(),
                resolved: result.state.resolved.len(),
                reopened: result.reopened,
            },
            started_at: self.started_at,
        };
        let result = mail.deliver().await;
        manifest.record_mail(result, ms(t))
    }
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
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
    use crate::job::nightly::*;
    use crate::job::request::new_run_id;
    use chrono::NaiveDate;

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
