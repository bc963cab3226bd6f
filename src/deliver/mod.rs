//! Delivery: the report mail over SMTP (STARTTLS, implicit TLS or plain), or into a file.
//!
//! Everything here is synchronous (lettre's blocking transport); the job calls it through
//! `tokio::task::spawn_blocking`. The pieces:
//! - [`SmtpSettings`] (`[smtp]`) and [`MailRecipients`] (`[merchant.mail]`) with `problems()`
//!   for `check-config`;
//! - [`build_message`] turns a [`Mail`] into a MIME message whose Message-ID and Date come
//!   from a [`MessageStamp`] fixed per run;
//! - [`write_eml`] (the demo: no network) and [`send`] (retries with capped backoff);
//! - [`deliver_once`]: at most one successful send per run folder, recorded in `mail.json`.
//!
//! The SMTP password lives only in the environment variable named by `password_env`; it is
//! read at send time and scrubbed from every error text. lettre's own `tracing` feature must
//! stay off: it logs the raw SMTP conversation, AUTH line included.

pub mod compose;
mod message;
mod record;
mod smtp;

pub use message::{build_message, write_eml, Attachment, Inline, Mail, MessageStamp};
pub use record::{deliver_once, Delivery, MailRecord, MAIL_RECORD_FILE};
pub use smtp::{send, GiveUp, SmtpFailure, SmtpReply};

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// Most recipients (to + cc + bcc) one mail may have: a finance list, not a mailing list.
pub const MAX_RECIPIENTS: usize = 100;
/// Largest CA file read for `ca_file` (a bundle of a few roots is a few KiB).
pub const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;
/// Most attempts `max_attempts` may ask for.
pub const MAX_ATTEMPTS_LIMIT: u32 = 20;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain TCP upgraded with STARTTLS, which is required (never falls back). Port 587.
    #[default]
    Starttls,
    /// TLS from the first byte ("SMTPS"). Port 465.
    Tls,
    /// No encryption: only for a relay on the same host or a trusted local network. Port 25.
    Plain,
}

impl Security {
    /// The port conventionally used with this security.
    pub fn default_port(self) -> u16 {
        match self {
            Security::Starttls => 587,
            Security::Tls => 465,
            Security::Plain => 25,
        }
    }
}

/// `[smtp]`: the server the report mail is sent through.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    /// Server host name; it is also the name the TLS certificate must carry. Default
    /// `localhost`.
    pub host: String,
    /// Server port. Default by `security`: 587 (starttls), 465 (tls), 25 (plain).
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit TLS) or `plain` (local relay only).
    pub security: Security,
    /// User for SMTP AUTH (PLAIN or LOGIN). Default none: no authentication.
    pub username: Option<String>,
    /// Name of the environment variable holding the SMTP password (never the password
    /// itself). Default `SMTP_PASSWORD`. Read only when `username` is set.
    pub password_env: String,
    /// Sender, e.g. `Finance Bot <recon@example.com>`. Required.
    pub from: String,
    /// Name given in EHLO. Default: this machine's host name.
    pub helo_name: Option<String>,
    /// Connect, read and write timeout of each attempt, in milliseconds. Default 30000.
    pub timeout_ms: u64,
    /// Attempts per mail, the first included (1..=20). Default 4.
    pub max_attempts: u32,
    /// Wait before the first retry, doubled each retry, in milliseconds. Default 1000.
    pub backoff_initial_ms: u64,
    /// Longest wait between two attempts, in milliseconds. Default 30000.
    pub backoff_max_ms: u64,
    /// Largest message (headers, bodies and encoded attachments) sent; a bigger one fails
    /// before connecting. Default 20 MiB, below most providers' limits (25 MiB and up).
    pub max_message_bytes: usize,
    /// Extra root certificate(s), PEM, trusted besides the built-in Mozilla roots: a company
    /// relay with its own CA. Default none.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. Only for a test relay; default false.
    pub accept_invalid_certs: bool,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: "localhost".to_owned(),
            port: None,
            security: Security::Starttls,
            username: None,
            password_env: "SMTP_PASSWORD".to_owned(),
            from: String::new(),
            helo_name: None,
            timeout_ms: 30_000,
            max_attempts: 4,
            backoff_initial_ms: 1_000,
            backoff_max_ms: 30_000,
            max_message_bytes: 20 * 1024 * 1024,
            ca_file: None,
            accept_invalid_certs: false,
        }
    }
}

/// Hand-written so a future field holding something secret cannot leak through `{:?}`; today
/// nothing here is secret (the password is only named).
impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("server", &self.server())
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password_env", &self.password_env)
            .field("from", &self.from)
            .field("helo_name", &self.helo_name)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_attempts", &self.max_attempts)
            .field("backoff_initial_ms", &self.backoff_initial_ms)
            .field("backoff_max_ms", &self.backoff_max_ms)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("ca_file", &self.ca_file)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}

impl SmtpSettings {
    /// The port in use: the configured one or the default for `security`.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.security.default_port())
    }

    /// `host:port` (IPv6 in brackets), as every message names the server.
    pub fn server(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port())
        } else {
            format!("{}:{}", self.host, self.port())
        }
    }

    /// Whether the host is this machine, the only place a plain connection may carry a
    /// password.
    pub fn host_is_loopback(&self) -> bool {
        let h = self.host.trim_start_matches('[').trim_end_matches(']');
        h.eq_ignore_ascii_case("localhost")
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Every problem with these settings, for `check-config` (empty: fine). Reads the
    /// environment (is the password variable set?) and the CA file.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.host.trim().is_empty() {
            out.push("smtp.host is empty".to_owned());
        }
        if self.port == Some(0) {
            out.push("smtp.port must be between 1 and 65535".to_owned());
        }
        if self.from.trim().is_empty() {
            out.push("smtp.from is required, e.g. \"Finance Bot <recon@example.com>\"".to_owned());
        } else if let Err(e) = self.from.parse::<Mailbox>() {
            out.push(format!(
                "smtp.from {:?} is not a mail address: {e}",
                self.from
            ));
        }
        if !valid_env_name(&self.password_env) {
            out.push(format!(
                "smtp.password_env {:?} is not an environment variable name",
                self.password_env
            ));
        }
        match &self.username {
            Some(u) if u.is_empty() => out.push("smtp.username is empty".to_owned()),
            // Whether the password variable is set is an environment problem, checked by
            // `check-config` and at send time, not when the file is loaded: a `--dry-run` or a
            // `reconcile` needs no password.
            Some(_) if self.security == Security::Plain && !self.host_is_loopback() => {
                out.push(format!(
                    "smtp.security = \"plain\" with a username would send the password in clear text to {}; use starttls or tls",
                    self.server()
                ));
            }
            _ => {}
        }
        if self.timeout_ms == 0 {
            out.push("smtp.timeout_ms must be at least 1".to_owned());
        }
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&self.max_attempts) {
            out.push(format!(
                "smtp.max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}"
            ));
        }
        if self.backoff_initial_ms > self.backoff_max_ms {
            out.push("smtp.backoff_initial_ms is above smtp.backoff_max_ms".to_owned());
        }
        if self.max_message_bytes == 0 {
            out.push("smtp.max_message_bytes must be at least 1".to_owned());
        }
        if let Some(path) = &self.ca_file {
            if let Err(e) = smtp::read_ca_file(path) {
                out.push(format!("smtp.ca_file: {e}"));
            }
        }
        out
    }
}

/// An environment variable name a shell can set: `[A-Za-z_][A-Za-z0-9_]*`.
fn valid_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `[merchant.mail]`: who receives a merchant's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailRecipients {
    /// Main recipients. Default none.
    pub to: Vec<String>,
    /// Copy recipients, shown in the header. Default none.
    pub cc: Vec<String>,
    /// Hidden recipients: in the SMTP envelope only, never in a header. Default none.
    pub bcc: Vec<String>,
    /// Also mail when nothing is wrong, so silence never has to be interpreted. Default
    /// false: mail only when there are findings (or checks that could not run).
    pub all_clear: bool,
    /// When a run with findings mails: `always` (default), `on_change` (only when the run
    /// found a new item, resolved one, or reopened an accepted or snoozed one), `on_new`
    /// (only when it found a new item). A morning without news then stays quiet.
    pub send: SendWhen,
}

/// `[merchant.mail] send`: which runs mail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendWhen {
    /// Every run that has something to report (and all-clear runs with `all_clear`).
    #[default]
    Always,
    /// Only runs that changed the open items: new, resolved or reopened.
    OnChange,
    /// Only runs that found new items.
    OnNew,
}

/// What a run changed in the open items, as `send` judges it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunChanges {
    /// Items seen for the first time (or again after being resolved).
    pub new: usize,
    /// Items resolved.
    pub resolved: usize,
    /// Accepted or snoozed items open again (changed, or the snooze ended).
    pub reopened: usize,
}

impl SendWhen {
    /// Whether a run with these changes mails; `None` when it does, else why not.
    pub fn skip_reason(self, c: RunChanges) -> Option<&'static str> {
        match self {
            SendWhen::Always => None,
            SendWhen::OnChange if c.new + c.resolved + c.reopened > 0 => None,
            SendWhen::OnChange => {
                Some("nothing new, resolved or reopened since the last run (mail.send = on_change)")
            }
            SendWhen::OnNew if c.new > 0 => None,
            SendWhen::OnNew => Some("nothing new since the last run (mail.send = on_new)"),
        }
    }
}

impl MailRecipients {
    /// No recipient at all.
    pub fn is_empty(&self) -> bool {
        self.to.is_empty() && self.cc.is_empty() && self.bcc.is_empty()
    }

    /// Whether a run with (or without) something to tell (findings, checks that could not
    /// run) sends mail to these recipients.
    pub fn wants_mail(&self, something_to_tell: bool) -> bool {
        !self.is_empty() && (something_to_tell || self.all_clear)
    }

    /// Total number of recipients.
    pub fn count(&self) -> usize {
        self.to.len() + self.cc.len() + self.bcc.len()
    }

    /// Every problem with the list, for `check-config` (empty: fine).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (field, list) in self.fields() {
            for a in list {
                match a.parse::<Mailbox>() {
                    Err(e) => out.push(format!("mail.{field}: {a:?} is not a mail address: {e}")),
                    Ok(m) => {
                        if !seen.insert(m.email.to_string().to_ascii_lowercase()) {
                            out.push(format!("mail.{field}: {a:?} is listed twice"));
                        }
                    }
                }
            }
        }
        if self.to.is_empty() && !(self.cc.is_empty() && self.bcc.is_empty()) {
            out.push("mail.to is empty while cc/bcc are not".to_owned());
        }
        if self.count() > MAX_RECIPIENTS {
            out.push(format!(
                "mail has {} recipients, more than {MAX_RECIPIENTS}",
                self.count()
            ));
        }
        out
    }

    fn fields(&self) -> [(&'static str, &Vec<String>); 3] {
        [("to", &self.to), ("cc", &self.cc), ("bcc", &self.bcc)]
    }
}

/// Why the mail could not be built, written or sent. No variant ever carries the password.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// An address in `smtp.from` or `[merchant.mail]` does not parse.
    #[error("{field} address {value:?} is not valid: {reason}")]
    Address {
        /// `from`, `to`, `cc` or `bcc`.
        field: &'static str,
        /// The address as configured.
        value: String,
        /// The parser's reason.
        reason: String,
    },
    /// `[merchant.mail]` lists nobody.
    #[error("the mail has no recipients ([merchant.mail] to, cc and bcc are empty)")]
    NoRecipients,
    /// More recipients than [`MAX_RECIPIENTS`].
    #[error("the mail has {count} recipients, more than the limit of {limit}")]
    TooManyRecipients {
        /// Recipients configured.
        count: usize,
        /// [`MAX_RECIPIENTS`].
        limit: usize,
    },
    /// The MIME message could not be assembled (bad content type, header …).
    #[error("building the mail: {0}")]
    Build(String),
    /// The settings cannot work (checked before connecting).
    #[error("smtp settings for {server}: {reason}")]
    Settings {
        /// `host:port`.
        server: String,
        /// What is wrong.
        reason: String,
    },
    /// AUTH is configured but the password variable is not set.
    #[error("smtp.username is set for {server} but the environment variable {var} (smtp.password_env) is not")]
    MissingPassword {
        /// `host:port`.
        server: String,
        /// The variable's name.
        var: String,
    },
    /// The message is larger than `max_message_bytes`; nothing was sent.
    #[error(
        "the mail is {size} bytes, over smtp.max_message_bytes = {limit}; not sent to {server}"
    )]
    TooLarge {
        /// `host:port`.
        server: String,
        /// Formatted message size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The CA file could not be read or holds no certificate.
    #[error("smtp.ca_file {path}: {reason}")]
    CaFile {
        /// The configured path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Sending failed: permanently, or every attempt failed.
    #[error(
        "sending the mail via {server} failed after {attempts} attempt(s) ({give_up}): {failure}"
    )]
    Send {
        /// `host:port`.
        server: String,
        /// Attempts made.
        attempts: u32,
        /// Why no further attempt was made.
        give_up: GiveUp,
        /// The last attempt's failure, with the SMTP reply when there was one.
        failure: SmtpFailure,
    },
    /// `mail.json` in the run folder exists but cannot be read as a record.
    #[error("mail record {path}: {reason}")]
    Record {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing `email.eml` or `mail.json` failed.
    #[error(transparent)]
    Fs(#[from] crate::domain::fsutil::FsError),
}

impl NotifyError {
    /// The SMTP reply of a failed send, if the server gave one.
    pub fn reply(&self) -> Option<&SmtpReply> {
        match self {
            NotifyError::Send {
                failure: SmtpFailure::Reply(r),
                ..
            } => Some(r),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
