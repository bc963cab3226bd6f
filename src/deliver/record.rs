//! At most one successful send per run folder, remembered in `mail.json`.

use super::smtp::send_counted;
use super::{Mail, MailRecipients, MessageStamp, NotifyError, SmtpSettings};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

/// Name of the record [`deliver_once`] keeps in the run folder.
pub const MAIL_RECORD_FILE: &str = "mail.json";
/// Largest `mail.json` read back (a record is well under 100 KiB even with 100 recipients).
const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// What `mail.json` says: this message went out, to whom, through which server, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailRecord {
    /// The stamp's Message-ID; a rerun with the same id does not send again.
    pub message_id: String,
    /// The Date header of the message.
    pub date: DateTime<Utc>,
    /// When the server accepted it.
    pub sent_at: DateTime<Utc>,
    /// `host:port`.
    pub server: String,
    /// Attempts it took.
    pub attempts: u32,
    /// Sender.
    pub from: String,
    /// Recipients as configured.
    pub to: Vec<String>,
    /// Copy recipients.
    pub cc: Vec<String>,
    /// Hidden recipients (kept here for the audit trail; never in the message headers).
    pub bcc: Vec<String>,
    /// Subject line.
    pub subject: String,
}

/// What [`deliver_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The mail was sent now and recorded.
    Sent,
    /// `mail.json` already records this message as sent; nothing was sent.
    AlreadySent,
}

/// Idempotent per run folder: if `run_dir/mail.json` records this stamp's message id as sent,
/// returns [`Delivery::AlreadySent`] without sending; otherwise sends and then writes
/// `mail.json` (atomic) with message id, recipients, server and time.
///
/// The one gap SMTP leaves: a crash between the server's acceptance and the record being
/// written sends the mail again on the rerun. It carries the same Message-ID, so mail clients
/// show it as the same message.
pub fn deliver_once(
    run_dir: &Path,
    s: &SmtpSettings,
    r: &MailRecipients,
    mail: &Mail,
    stamp: &MessageStamp,
) -> Result<Delivery, NotifyError> {
    let path = run_dir.join(MAIL_RECORD_FILE);
    if let Some(prev) = read_record(&path)? {
        if prev.message_id == stamp.message_id {
            tracing::info!(
                path = %path.display(), message_id = %prev.message_id, sent_at = %prev.sent_at,
                "mail already sent for this run; not sending again"
            );
            return Ok(Delivery::AlreadySent);
        }
        tracing::warn!(
            path = %path.display(), recorded = %prev.message_id, now = %stamp.message_id,
            "mail record is for another message; sending and replacing it"
        );
    }
    let attempts = send_counted(s, r, mail, stamp)?;
    let record = MailRecord {
        message_id: stamp.message_id.clone(),
        date: stamp.date,
        sent_at: Utc::now(),
        server: s.server(),
        attempts,
        from: s.from.clone(),
        to: r.to.clone(),
        cc: r.cc.clone(),
        bcc: r.bcc.clone(),
        subject: mail.subject.clone(),
    };
    let mut json = serde_json::to_vec_pretty(&record).map_err(|e| NotifyError::Record {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    json.push(b'\n');
    crate::domain::fsutil::write_atomic(&path, &json)?;
    Ok(Delivery::Sent)
}

/// The record in `path`, `None` if there is none. A file that exists but is not a record is an
/// error: guessing could mail the finance team twice or never.
fn read_record(path: &Path) -> Result<Option<MailRecord>, NotifyError> {
    let bad = |reason: String| NotifyError::Record {
        path: path.to_owned(),
        reason,
    };
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(e.to_string())),
    };
    let mut bytes = Vec::new();
    f.take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(e.to_string()))?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(bad(format!("larger than {MAX_RECORD_BYTES} bytes")));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| bad(format!("not a mail record: {e}")))
}
