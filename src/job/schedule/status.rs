//! The status file `data_dir/state/schedule-status.json`: for each job, when it last fired,
//! how that run ended and when it fires next. Written atomically before and after every run,
//! so an operator (or a health check) can read it at any moment; the scheduler also reads it
//! at start to find missed fires.

use crate::domain::fsutil::{write_atomic, FsError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the status file lives under the data folder.
pub const STATUS_FILE: &str = "state/schedule-status.json";
/// A larger status file is refused rather than read (a handful of jobs take a few KiB).
pub const MAX_STATUS_BYTES: u64 = 4 << 20;
/// Longest message kept per job, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2_000;

/// How a job's last run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Started and not finished yet (or the process died during it).
    Running,
    /// Exit code 0: done, nothing wrong.
    Ok,
    /// Exit code 1: done, discrepancies found.
    Found,
    /// Any other exit code: the run failed.
    Failed,
    /// The process stopped during the run; found so at the next start.
    Interrupted,
}

impl Outcome {
    /// The outcome an exit code of the job commands stands for.
    pub fn from_exit_code(code: u8) -> Outcome {
        match code {
            0 => Outcome::Ok,
            1 => Outcome::Found,
            _ => Outcome::Failed,
        }
    }
}

/// One job's line in the status file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobStatus {
    /// The merchant the job reconciles.
    pub merchant: String,
    /// The cron expression, as configured.
    pub cron: String,
    /// The job's IANA time zone.
    pub time_zone: String,
    /// Scheduled time of the last run (not when it actually started).
    pub last_fire: Option<DateTime<Utc>>,
    /// When the last run started.
    pub last_started: Option<DateTime<Utc>>,
    /// When the last run finished.
    pub last_finished: Option<DateTime<Utc>>,
    /// How the last run ended.
    pub last_outcome: Option<Outcome>,
    /// The last run's exit code.
    pub last_exit_code: Option<u8>,
    /// The last run's one-line summary.
    pub last_message: Option<String>,
    /// The last run's output folder.
    pub last_run_dir: Option<PathBuf>,
    /// When the job fires next.
    pub next_fire: Option<DateTime<Utc>>,
}

/// The whole status file: job name → status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScheduleStatus {
    /// Per job name.
    pub jobs: BTreeMap<String, JobStatus>,
}

/// The status file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] FsError),
    /// The file is not a status file.
    #[error("{path}: not a schedule status file: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the JSON parser said.
        message: String,
    },
    /// The file is larger than [`MAX_STATUS_BYTES`].
    #[error("{path}: {bytes} bytes, more than the {MAX_STATUS_BYTES} a status file may have")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
}

/// The status file's path under `data_dir`.
pub fn status_path(data_dir: &Path) -> PathBuf {
    data_dir.join(STATUS_FILE)
}

/// Cuts a message to [`MAX_MESSAGE_CHARS`] characters.
pub fn clip_message(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &message[..i]),
        None => message.to_owned(),
    }
}

impl ScheduleStatus {
    /// Reads the status file; an empty status when there is none yet.
    pub fn load(data_dir: &Path) -> Result<ScheduleStatus, StatusError> {
        let path = status_path(data_dir);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ScheduleStatus::default())
            }
            Err(e) => return Err(FsError::new("open", &path, e).into()),
        };
        let mut bytes = Vec::new();
        file.take(MAX_STATUS_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| FsError::new("read", &path, e))?;
        if bytes.len() as u64 > MAX_STATUS_BYTES {
            return Err(StatusError::TooLarge {
                path,
                bytes: bytes.len() as u64,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| StatusError::Parse {
            path,
            message: e.to_string(),
        })
    }

    /// Writes the status file atomically (pretty JSON, for people reading it).
    pub fn save(&self, data_dir: &Path) -> Result<(), StatusError> {
        let path = status_path(data_dir);
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| StatusError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        write_atomic(&path, &bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_missing_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            ScheduleStatus::load(dir.path()).unwrap(),
            ScheduleStatus::default()
        );
        let mut s = ScheduleStatus::default();
        s.jobs.insert(
            "acme-nightly".into(),
            JobStatus {
                merchant: "acme".into(),
                last_outcome: Some(Outcome::Found),
                last_exit_code: Some(1),
                last_fire: Some("2026-11-25T05:00:00Z".parse().unwrap()),
                ..Default::default()
            },
        );
        s.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(status_path(dir.path())).unwrap();
        assert!(text.contains("\"last_outcome\": \"found\""), "{text}");
        assert_eq!(ScheduleStatus::load(dir.path()).unwrap(), s);
    }

    #[test]
    fn garbage_and_oversized_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = status_path(dir.path());
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"{not json").unwrap();
        let e = ScheduleStatus::load(dir.path()).unwrap_err();
        assert!(matches!(e, StatusError::Parse { .. }), "{e}");
        std::fs::write(&p, vec![b' '; MAX_STATUS_BYTES as usize + 1]).unwrap();
        let e = ScheduleStatus::load(dir.path()).unwrap_err();
        assert!(matches!(e, StatusError::TooLarge { .. }), "{e}");
    }

    #[test]
    fn messages_are_clipped() {
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        let c = clip_message(&long);
        assert_eq!(c.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert_eq!(clip_message("short"), "short");
    }
}
