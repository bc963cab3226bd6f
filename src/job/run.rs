//! The job: fetch → load → reconcile → report → deliver for one merchant and window, as
//! `xsolla-recon run`, the scheduler and the demo run it.
//!
//! Order matters for what a failure leaves behind: the lock is taken first (never two runs of
//! one merchant at once), snapshots and the report folder are published atomically, the
//! manifest is written once the reports exist, and mail is sent last, so a mail failure never
//! loses a report, and a killed run leaves either a complete run folder or none.

use crate::deliver::{self, Attachment, Delivery, Inline, Mail, MessageStamp, NotifyError};
use crate::domain::fsutil::{self, FsError};
use crate::fetch::{self, FetchError, Manifest, Progress};
use crate::job::config::{Config, ConfigError, MerchantConfig};

use crate::domain::window::Window;
use crate::job::lock::{LockError, RunLock};
use crate::job::pipeline::{self, PipelineError, ProviderSource, RunResult};
use crate::report::{self, ReportError, ReportInput};
use crate::xsolla::{ApiKey, Transport, XsollaClient, XsollaError};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
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
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            lookback_days: 7,
            reports_dir: PathBuf::from("reports"),
            reuse_snapshot_minutes: 360,
            lock_wait_seconds: 0,
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

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing wrong.
    Clean,
    /// Discrepancies found and reported.
    Found,
    /// Reports written, but the mail could not be sent.
    MailFailed,
}

/// What happened to the mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum MailStatus {
    /// Sent (or found already sent for this run).
    Sent {
        /// Recipients.
        to: Vec<String>,
        /// `host:port`.
        server: String,
    },
    /// Written to a file.
    Written {
        /// The file.
        path: PathBuf,
    },
    /// Not sent: `--dry-run`.
    DryRun,
    /// Not sent: the merchant has no recipients, or all is clear and `all_clear` is off.
    NotNeeded {
        /// Why.
        reason: String,
    },
    /// Sending failed.
    Failed {
        /// The error.
        error: String,
    },
}

/// One input file and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    /// Path as used.
    pub path: PathBuf,
    /// Bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// `manifest.json` of a run folder: the one file that differs between two runs over the same
/// inputs (its run id and times).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunManifest {
    /// Layout version.
    pub schema: u32,
    /// Unique id of this run (UTC start time + random suffix).
    pub run_id: String,
    /// Digest of the inputs: the same inputs give the same report id and the same reports.
    pub report_id: String,
    /// xsolla-recon version.
    pub version: String,
    /// Merchant name.
    pub merchant: String,
    /// The window.
    pub window: Window,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// SHA-256 of the config file.
    pub config_sha256: String,
    /// The Xsolla snapshot used: folder, and the SHA-256 of its manifest (which lists the
    /// SHA-256 of every stored response).
    pub snapshot: InputFile,
    /// Whether the snapshot was fetched by this run or reused.
    pub snapshot_fetched: bool,
    /// Ledger files read.
    pub ledger_files: Vec<InputFile>,
    /// Row counts and findings.
    pub counts: RunCounts,
    /// Milliseconds per stage.
    pub timings_ms: Timings,
    /// Report files written.
    pub reports: Vec<InputFile>,
    /// Mail.
    pub mail: MailStatus,
    /// How it ended.
    pub outcome: Outcome,
    /// Exit code of `run` for this outcome.
    pub exit_code: u8,
}

/// Counts recorded in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Registry rows read from the snapshot.
    pub provider_rows: u64,
    /// Ledger rows read.
    pub ledger_rows: u64,
    /// Ledger rows quarantined.
    pub ledger_quarantined: u64,
    /// Findings.
    pub discrepancies: u64,
    /// Open items: new in this window as of its last day.
    pub open_new: u64,
    /// Open items: seen before.
    pub open_still: u64,
    /// Open items resolved.
    pub open_resolved: u64,
}

/// Stage timings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// Waiting for the lock.
    pub lock: u64,
    /// Fetching (or finding) the snapshot.
    pub fetch: u64,
    /// Loading and reconciling.
    pub reconcile: u64,
    /// Writing reports.
    pub report: u64,
    /// Mail.
    pub mail: u64,
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

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hash_file(path: &Path) -> Result<InputFile, FsError> {
    let bytes = std::fs::read(path).map_err(|e| FsError::new("read", path, e))?;
    Ok(InputFile {
        path: path.to_owned(),
        bytes: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
    })
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// Runs the job once. The caller maps the result to an exit code: `manifest.exit_code`, or
/// [`JobError::exit_code`].
pub async fn run(
    cfg: &Config,
    req: &RunRequest,
    progress: &dyn Progress,
) -> Result<RunOutcome, JobError> {
    let started_at = Utc::now();
    let run_id = new_run_id(started_at);
    let merchant = cfg.merchant(Some(&req.merchant))?.clone();
    let window = req.window;
    let mut timings = Timings::default();

    let t = Instant::now();
    let _lock = RunLock::acquire_async(&cfg.data_dir, &merchant.name, req.lock_wait).await?;
    timings.lock = ms(t);
    tracing::info!(run_id, merchant = %merchant.name, %window, "run started");

    // The ledger files first: a ledger path that matches nothing fails before any request.
    let ledger_files = ledger_inputs(&merchant, req)?;

    let t = Instant::now();
    let (snapshot_dir, snapshot, fetched) = snapshot_for(cfg, req, &merchant, progress).await?;
    timings.fetch = ms(t);
    let snapshot_manifest = hash_file(&snapshot_dir.join("manifest.json"))?;

    let t = Instant::now();
    let report_id = report_id(req, &merchant, &snapshot, &ledger_files, cfg);
    let run_dir = cfg
        .run
        .reports_dir
        .join(&merchant.name)
        .join(window.slug())
        .join(&run_id);
    // Open items age as of the window's last day, not the wall clock, so a rerun over the
    // same inputs writes the same reports.
    let as_of = window.to;
    let result = pipeline::reconcile_window(
        cfg,
        &merchant,
        window,
        &ProviderSource::Snapshot(snapshot_dir.clone()),
        req.ledger.as_deref(),
        &req.base_dir,
        &run_id,
        as_of,
    )
    .map_err(|source| JobError::Reconcile {
        merchant: merchant.name.clone(),
        window,
        source: Box::new(source),
    })?;
    timings.reconcile = ms(t);

    let t = Instant::now();
    let input = ReportInput {
        merchant: &merchant.name,
        window,
        report_id: &report_id,
        as_of,
        discrepancies: &result.discrepancies,
        summary: &result.output.summary,
        open_items: result.open_items,
        quarantined: &result.quarantined,
        ledger: &result.ledger,
        provider: result.provider.as_ref(),
    };
    let files = report::write_reports(&input, &cfg.report, &run_dir)?;
    timings.report = ms(t);

    let s = &result.output.summary;
    let found = s.discrepancies > 0 || !result.quarantined.is_empty();
    let mut manifest = RunManifest {
        schema: 1,
        run_id: run_id.clone(),
        report_id: report_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        merchant: merchant.name.clone(),
        window,
        started_at,
        finished_at: Utc::now(),
        config_sha256: req.config_sha256.clone(),
        snapshot: InputFile {
            path: snapshot_dir.clone(),
            ..snapshot_manifest
        },
        snapshot_fetched: fetched,
        ledger_files,
        counts: RunCounts {
            provider_rows: s.rows.provider_rows,
            ledger_rows: result.ledger.rows_read,
            ledger_quarantined: result.ledger.rows_quarantined,
            discrepancies: s.discrepancies,
            open_new: result.open_items.new,
            open_still: result.open_items.still_open,
            open_resolved: result.open_items.resolved,
        },
        timings_ms: timings.clone(),
        reports: files
            .files
            .iter()
            .map(|p| hash_file(p))
            .collect::<Result<Vec<_>, _>>()?,
        mail: MailStatus::NotNeeded {
            reason: "not sent yet".into(),
        },
        outcome: if found {
            Outcome::Found
        } else {
            Outcome::Clean
        },
        exit_code: if found { exit::FOUND } else { exit::OK },
    };
    // The manifest is written before mailing, so a crash in the mail leaves a complete folder.
    write_manifest(&run_dir, &manifest)?;

    let t = Instant::now();
    let mail = deliver(cfg, req, &merchant, &input, &run_dir, found, started_at).await;
    manifest.timings_ms.mail = ms(t);
    manifest.finished_at = Utc::now();
    let failure = match mail {
        Ok(status) => {
            manifest.mail = status;
            None
        }
        Err(e) => {
            manifest.mail = MailStatus::Failed {
                error: e.to_string(),
            };
            manifest.outcome = Outcome::MailFailed;
            manifest.exit_code = exit::RUNTIME;
            Some(e)
        }
    };
    write_manifest(&run_dir, &manifest)?;
    tracing::info!(run_id, dir = %run_dir.display(), outcome = ?manifest.outcome, "run finished");
    if let Some(source) = failure {
        return Err(JobError::Mail {
            dir: run_dir,
            source,
        });
    }
    Ok(RunOutcome {
        dir: run_dir,
        manifest,
        result,
    })
}

fn write_manifest(dir: &Path, m: &RunManifest) -> Result<(), FsError> {
    let json = serde_json::to_vec_pretty(m).expect("the manifest serializes");
    fsutil::write_atomic(&dir.join("manifest.json"), &json)
}

/// The snapshot this run reads: reused, stored (`--offline`) or fetched now.
async fn snapshot_for(
    cfg: &Config,
    req: &RunRequest,
    merchant: &MerchantConfig,
    progress: &dyn Progress,
) -> Result<(PathBuf, Manifest, bool), JobError> {
    let err = |source| JobError::Fetch {
        merchant: merchant.name.clone(),
        window: req.window,
        source: Box::new(source),
    };
    let stored = || fetch::find_snapshot(&cfg.data_dir, &merchant.name, req.window);
    match req.fetch {
        FetchMode::Offline => {
            let (dir, m) = stored().map_err(err)?;
            return Ok((dir, m, false));
        }
        FetchMode::Auto if cfg.run.reuse_snapshot_minutes > 0 => {
            if let Ok((dir, m)) = stored() {
                let age = Utc::now() - m.finished_at;
                if age.num_minutes() >= 0
                    && (age.num_minutes() as u64) < cfg.run.reuse_snapshot_minutes
                {
                    tracing::info!(snapshot = %dir.display(), minutes = age.num_minutes(), "reusing a recent snapshot (--refetch to fetch again)");
                    return Ok((dir, m, false));
                }
            }
        }
        _ => {}
    }
    let key = match &req.api_key {
        Some(k) => k.clone(),
        None => merchant.api_key()?,
    };
    let transport = Transport::new(
        &merchant.base_url,
        merchant.merchant_id,
        key,
        cfg.http.clone(),
    )?
    .with_key_env(&merchant.api_key_env);
    let client = XsollaClient::new(transport);
    let (dir, m) = fetch::fetch_window(
        &client,
        &cfg.data_dir,
        merchant.fetch_target(),
        req.window,
        &cfg.fetch,
        progress,
    )
    .await
    .map_err(err)?;
    Ok((dir, m, true))
}

/// The ledger files this run reads, with their digests.
fn ledger_inputs(merchant: &MerchantConfig, req: &RunRequest) -> Result<Vec<InputFile>, JobError> {
    let reconcile_err = |source: PipelineError| JobError::Reconcile {
        merchant: merchant.name.clone(),
        window: req.window,
        source: Box::new(source),
    };
    let pattern = match (&req.ledger, &merchant.ledger) {
        (Some(p), _) => p.display().to_string(),
        (None, Some(l)) => l.path.clone(),
        (None, None) => {
            return Err(reconcile_err(PipelineError::NoLedger(
                merchant.name.clone(),
            )));
        }
    };
    let files = crate::load::ledger::ledger_files(&pattern, &req.base_dir)
        .map_err(|e| reconcile_err(PipelineError::Ledger(e)))?;
    Ok(files
        .iter()
        .map(|p| hash_file(p))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Digest of everything a report depends on: the stored Xsolla responses (their digests, not
/// the snapshot's manifest, which records when and with how many retries they were fetched,
/// so a fetch that survived faults gives the same id), the ledger files and the settings.
fn report_id(
    req: &RunRequest,
    merchant: &MerchantConfig,
    snapshot: &Manifest,
    ledger: &[InputFile],
    cfg: &Config,
) -> String {
    let mut h = Sha256::new();
    h.update(merchant.name.as_bytes());
    h.update(req.window.slug().as_bytes());
    let mut files: Vec<(&str, &str)> = snapshot
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.sha256.as_str()))
        .collect();
    files.sort_unstable();
    for (path, sha) in files {
        h.update(path.as_bytes());
        h.update(sha.as_bytes());
    }
    for f in ledger {
        h.update(f.sha256.as_bytes());
    }
    // The settings that shape the results (not secrets, not the SMTP server).
    h.update(serde_json::to_vec(&cfg.reconcile).unwrap_or_default());
    h.update(serde_json::to_vec(&cfg.report).unwrap_or_default());
    h.update(serde_json::to_vec(&merchant.ledger).unwrap_or_default());
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// Where mail comes from when the config has no `[smtp]` (the demo's file transport).
const DEFAULT_FROM: &str = "xsolla-recon <xsolla-recon@localhost>";

/// Sends (or writes, or skips) the mail. Sending is idempotent per report: the message id
/// is derived from the report id, and a run folder of the same window that already records
/// that message as sent means it is not sent again.
#[allow(clippy::too_many_arguments)]
async fn deliver(
    cfg: &Config,
    req: &RunRequest,
    merchant: &MerchantConfig,
    input: &ReportInput<'_>,
    run_dir: &Path,
    found: bool,
    started_at: DateTime<Utc>,
) -> Result<MailStatus, MailError> {
    if req.mail == MailMode::DryRun {
        return Ok(MailStatus::DryRun);
    }
    let recipients = &merchant.mail;
    if req.mail == MailMode::Smtp && !recipients.wants_mail(found) {
        return Ok(MailStatus::NotNeeded {
            reason: if recipients.is_empty() {
                format!("merchant {} has no mail recipients", merchant.name)
            } else {
                "all clear, and all_clear mail is off".to_owned()
            },
        });
    }
    let from = cfg
        .smtp
        .as_ref()
        .map_or(DEFAULT_FROM, |s| s.from.as_str())
        .to_owned();
    let mail = compose_mail(input, &cfg.report, run_dir)?;
    let stamp = MessageStamp::for_run(input.report_id, &from, started_at);
    match req.mail {
        MailMode::DryRun => unreachable!("handled above"),
        MailMode::File => {
            let path = deliver::write_eml(run_dir, &from, recipients, &mail, &stamp)?;
            Ok(MailStatus::Written { path })
        }
        MailMode::Smtp => {
            let Some(smtp) = cfg.smtp.clone() else {
                return Ok(MailStatus::NotNeeded {
                    reason: "the config has no [smtp] table".to_owned(),
                });
            };
            let to = recipients.to.clone();
            let server = smtp.server();
            if let Some(previous) = sent_before(run_dir, &stamp.message_id) {
                tracing::info!(previous = %previous.display(), "this report was already mailed; not sending it again");
                return Ok(MailStatus::Sent { to, server });
            }
            let (dir, r) = (run_dir.to_owned(), recipients.clone());
            let delivery = tokio::task::spawn_blocking(move || {
                deliver::deliver_once(&dir, &smtp, &r, &mail, &stamp)
            })
            .await
            .map_err(|e| MailError::Task(e.to_string()))??;
            if matches!(delivery, Delivery::AlreadySent) {
                tracing::info!("this run's mail was already sent");
            }
            Ok(MailStatus::Sent { to, server })
        }
    }
}

/// The mail of a run: the report's subject and bodies, the chart inline, the CSV and the
/// XLSX attached (read back from the written folder: what is mailed is what is on disk).
fn compose_mail(
    input: &ReportInput<'_>,
    settings: &crate::report::ReportSettings,
    run_dir: &Path,
) -> Result<Mail, MailError> {
    let content = deliver::compose::compose(input, settings)?;
    let mut attachments = Vec::new();
    for (name, content_type) in [
        ("discrepancies.csv", "text/csv; charset=utf-8"),
        (
            "discrepancies.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ] {
        let path = run_dir.join(name);
        let bytes = std::fs::read(&path).map_err(|e| FsError::new("read", &path, e))?;
        attachments.push(Attachment {
            filename: name.to_owned(),
            content_type: content_type.to_owned(),
            bytes,
        });
    }
    Ok(Mail {
        subject: content.subject,
        html: content.html,
        text: content.text,
        inline: content
            .chart_png
            .map(|bytes| Inline {
                content_id: deliver::compose::CHART_CID.to_owned(),
                content_type: "image/png".to_owned(),
                bytes,
            })
            .into_iter()
            .collect(),
        attachments,
    })
}

/// Why the mail was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The report's mail content.
    #[error("composing the mail: {0}")]
    Report(#[from] ReportError),
    /// Reading an attachment.
    #[error("composing the mail: {0}")]
    Fs(#[from] FsError),
    /// Sending or writing it.
    #[error(transparent)]
    Notify(#[from] NotifyError),
    /// The sending thread died.
    #[error("the mail task failed: {0}")]
    Task(String),
}

/// A sibling run folder (same merchant and window) whose `mail.json` records `message_id`.
fn sent_before(run_dir: &Path, message_id: &str) -> Option<PathBuf> {
    let window_dir = run_dir.parent()?;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(window_dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.as_path() != run_dir)
        .collect();
    dirs.sort();
    // Bounded: a window folder holds one folder per run of that window.
    dirs.into_iter().take(10_000).find(|d| {
        std::fs::read_to_string(d.join("mail.json"))
            .is_ok_and(|t| t.contains(&format!("\"{message_id}\"")))
    })
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
