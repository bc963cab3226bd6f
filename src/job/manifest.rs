//! `manifest.json`, the record of a run: its inputs with their digests, counts, timings, the
//! report files, the mail and how it ended. Written once the reports exist and again after
//! the mail, atomically each time.

use crate::domain::fsutil::{self, FsError};
use crate::domain::window::Window;
use crate::job::exit;
use crate::job::mail::{MailError, MailStatus};
use crate::job::pipeline::RunResult;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

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
    /// The window reported on.
    pub window: Window,
    /// The window Xsolla's side was read for: the snapshot's, normally `window` widened by
    /// `reconcile.provider_margin_days` on both sides (rows in the margins match only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_window: Option<Window>,
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
    /// Items whose check could not run (the sum of the summary's `not_checked` counts).
    #[serde(default)]
    pub not_checked: u64,
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

impl Outcome {
    /// A run whose reports are written: found something, or clean.
    pub fn of_reports(found: bool) -> Outcome {
        if found {
            Outcome::Found
        } else {
            Outcome::Clean
        }
    }

    /// The exit code of `run` for this outcome.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Clean => exit::OK,
            Outcome::Found => exit::FOUND,
            Outcome::MailFailed => exit::RUNTIME,
        }
    }
}

impl RunCounts {
    /// The counts of a reconciliation.
    pub fn of(result: &RunResult) -> RunCounts {
        RunCounts {
            provider_rows: result.output.summary.rows.provider_rows,
            ledger_rows: result.ledger.rows_read,
            ledger_quarantined: result.ledger.rows_quarantined,
            discrepancies: result.output.summary.discrepancies,
            open_new: result.open_items.new,
            open_still: result.open_items.still_open,
            open_resolved: result.open_items.resolved,
            not_checked: crate::domain::not_checked::total(&result.output.summary.not_checked),
        }
    }
}

impl RunManifest {
    /// Records the mail's result and the run's end. A failed mail turns the outcome into
    /// [`Outcome::MailFailed`] and is handed back (the reports stay written).
    pub fn record_mail(
        &mut self,
        mail: Result<MailStatus, MailError>,
        mail_ms: u64,
    ) -> Option<MailError> {
        self.timings_ms.mail = mail_ms;
        self.finished_at = Utc::now();
        match mail {
            Ok(status) => {
                self.mail = status;
                None
            }
            Err(e) => {
                self.mail = MailStatus::Failed {
                    error: e.to_string(),
                };
                self.outcome = Outcome::MailFailed;
                self.exit_code = Outcome::MailFailed.exit_code();
                Some(e)
            }
        }
    }

    /// Writes it as `manifest.json` into the run folder, atomically.
    pub fn write(&self, run_dir: &Path) -> Result<(), FsError> {
        let json = serde_json::to_vec_pretty(self).expect("the manifest serializes");
        fsutil::write_atomic(&run_dir.join("manifest.json"), &json)
    }
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A file's size and digest.
pub(crate) fn hash_file(path: &Path) -> Result<InputFile, FsError> {
    let bytes = std::fs::read(path).map_err(|e| FsError::new("read", path, e))?;
    Ok(InputFile {
        path: path.to_owned(),
        bytes: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
    })
}

/// [`hash_file`] of each file, in order.
pub(crate) fn hash_files(paths: &[PathBuf]) -> Result<Vec<InputFile>, FsError> {
    paths.iter().map(|p| hash_file(p)).collect()
}
