//! The mail step of a run, last of all so a mail failure never loses a report: the report's
//! mail sent through SMTP, written as `email.eml` (the demo), or not sent, and never sent
//! twice for the same report.

use crate::deliver::{
    self, Attachment, Delivery, Inline, Mail, MessageStamp, NotifyError, RunChanges,
};
use crate::domain::fsutil::FsError;
use crate::job::config::{Config, MailTransport, MerchantConfig};
use crate::report::{ReportError, ReportInput};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What mail the run sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailMode {
    /// As the config says (`[run] mail_transport`): through the `[smtp]` server, or as
    /// `email.eml` in the run folder; to `[merchant.mail]`, by its rules.
    Smtp,
    /// No mail (`--dry-run`).
    DryRun,
    /// Written as `email.eml` into the run folder whatever the recipients' rules (the demo).
    File,
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

/// Where mail comes from when the config has no `[smtp]` (the demo's file transport).
const DEFAULT_FROM: &str = "xsolla-recon <xsolla-recon@localhost>";

/// The mail of one run: what to send, for which report, and how.
pub(crate) struct RunMail<'a> {
    /// The settings: `[smtp]` and `[report]`.
    pub cfg: &'a Config,
    /// Through SMTP, into a file, or not at all.
    pub mode: &'a MailMode,
    /// The merchant and its recipients.
    pub merchant: &'a MerchantConfig,
    /// The report the mail presents.
    pub input: &'a ReportInput<'a>,
    /// The run folder holding the report files (the attachments are read from it).
    pub run_dir: &'a Path,
    /// Whether the run has something to tell (findings, or checks that could not run):
    /// `all_clear = false` mails only then.
    pub worth_a_mail: bool,
    /// What the run changed in the open items (`mail.send` decides by it).
    pub changes: RunChanges,
    /// When the run started (the message's date).
    pub started_at: DateTime<Utc>,
}

impl RunMail<'_> {
    /// Sends (or writes, or skips) the mail. Sending is idempotent per report: the message id
    /// is derived from the report id, and a run folder of the same window that already
    /// records that message as sent means it is not sent again. The report id takes in the
    /// report the open items built on ([`crate::job::inputs::report_id`]), so only a rerun
    /// is the same report: a return to earlier inputs after another run is mailed.
    pub async fn deliver(&self) -> Result<MailStatus, MailError> {
        if *self.mode == MailMode::DryRun {
            return Ok(MailStatus::DryRun);
        }
        let recipients = &self.merchant.mail;
        if *self.mode == MailMode::Smtp && !recipients.wants_mail(self.worth_a_mail) {
            return Ok(MailStatus::NotNeeded {
                reason: if recipients.is_empty() {
                    format!("merchant {} has no mail recipients", self.merchant.name)
                } else {
                    "all clear, and all_clear mail is off".to_owned()
                },
            });
        }
        if *self.mode == MailMode::Smtp {
            if let Some(reason) = recipients.send.skip_reason(self.changes) {
                return Ok(MailStatus::NotNeeded {
                    reason: reason.to_owned(),
                });
            }
        }
        let from = self
            .cfg
            .smtp
            .as_ref()
            .map_or(DEFAULT_FROM, |s| s.from.as_str())
            .to_owned();
        let mail = compose_mail(self.input, &self.cfg.report, self.run_dir)?;
        let stamp = MessageStamp::for_run(self.input.report_id, &from, self.started_at);
        // The demo's mode, or the config's file transport: into the run folder.
        if *self.mode == MailMode::File || self.cfg.run.mail_transport == MailTransport::File {
            let path = deliver::write_eml(self.run_dir, &from, recipients, &mail, &stamp)?;
            return Ok(MailStatus::Written { path });
        }
        self.send_once(mail, stamp).await
    }

    /// Sends through `[smtp]`, unless a run folder of the same window already sent this
    /// message.
    async fn send_once(&self, mail: Mail, stamp: MessageStamp) -> Result<MailStatus, MailError> {
        let Some(smtp) = self.cfg.smtp.clone() else {
            return Ok(MailStatus::NotNeeded {
                reason: "the config has no [smtp] table".to_owned(),
            });
        };
        let recipients = &self.merchant.mail;
        let to = recipients.to.clone();
        let server = smtp.server();
        if let Some(previous) = sent_before(self.run_dir, &stamp.message_id) {
            tracing::info!(previous = %previous.display(), "this report was already mailed; not sending it again");
            return Ok(MailStatus::Sent { to, server });
        }
        let (dir, r) = (self.run_dir.to_owned(), recipients.clone());
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

/// The mail of a run: the report's subject and bodies, the chart inline, the CSV, the XLSX
/// and the HTML page attached (read back from the written folder: what is mailed is what is on disk).
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
        // The page to work from: self-contained, no network fetch, readable in an
        // attachment viewer (its filter and sorting need a browser).
        ("report.html", "text/html; charset=utf-8"),
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
        inline: [
            (deliver::compose::CHART_CID, content.chart_png),
            (deliver::compose::AGE_CID, content.age_png),
        ]
        .into_iter()
        .filter_map(|(cid, png)| {
            png.map(|bytes| Inline {
                content_id: cid.to_owned(),
                content_type: "image/png".to_owned(),
                bytes,
            })
        })
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
