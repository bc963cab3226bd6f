//! What a run is asked to do ([`RunRequest`]), how it may fail ([`JobError`]) and the exit
//! codes it ends with: the types every step of the job shares, so the steps import them from
//! here and never from the orchestrator (`run.rs`) that calls them.

use crate::domain::fsutil::FsError;
use crate::domain::window::Window;
use crate::fetch::FetchError;
use crate::job::config::ConfigError;
use crate::job::lock::LockError;
use crate::job::mail::MailError;
pub use crate::job::mail::MailMode;
use crate::job::pipeline::PipelineError;
use crate::report::ReportError;
use crate::xsolla::{ApiKey, XsollaError};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;

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
