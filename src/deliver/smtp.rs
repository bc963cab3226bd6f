//! Sending over SMTP: transport set-up, the retry decision and the attempt loop.

use super::MAX_CA_FILE_BYTES;
use super::{
    build_message, Mail, MailRecipients, MessageStamp, NotifyError, Security, SmtpSettings,
};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{SmtpTransport, Transport};
use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

/// A negative SMTP reply: code and text, e.g. `451 4.3.0 try later`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpReply {
    /// The three-digit reply code.
    pub code: u16,
    /// The reply text, lines joined.
    pub text: String,
}

impl fmt::Display for SmtpReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

/// What went wrong in one attempt, reduced to what decides a retry ([`SmtpFailure::is_retryable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpFailure {
    /// The server answered with a negative reply (4xx transient, 5xx permanent).
    Reply(SmtpReply),
    /// No TCP connection: refused, unreachable, name not resolved.
    Connect(String),
    /// Connect, read or write took longer than `timeout_ms`.
    Timeout(String),
    /// The connection broke mid-conversation (reset, closed before a full reply).
    Disconnected(String),
    /// TLS failed: handshake, untrusted or mismatched certificate.
    Tls(String),
    /// The server's reply could not be understood.
    Protocol(String),
    /// The client refused to go on (no common AUTH mechanism, no 8BITMIME for 8-bit data …).
    Client(String),
}

impl SmtpFailure {
    /// The retry policy, in one place: the network and 4xx replies are transient; a 5xx reply
    /// is the server's final word; TLS, protocol and client failures repeat identically.
    pub fn is_retryable(&self) -> bool {
        match self {
            SmtpFailure::Reply(r) => (400..500).contains(&r.code),
            SmtpFailure::Connect(_) | SmtpFailure::Timeout(_) | SmtpFailure::Disconnected(_) => {
                true
            }
            SmtpFailure::Tls(_) | SmtpFailure::Protocol(_) | SmtpFailure::Client(_) => false,
        }
    }

    /// Reads lettre's error, removing `secret` (the password) from every text it keeps.
    pub(crate) fn from_lettre(e: &lettre::transport::smtp::Error, secret: Option<&str>) -> Self {
        let scrub = |s: String| match secret {
            Some(p) if !p.is_empty() => s.replace(p, "[redacted]"),
            _ => s,
        };
        let detail = scrub(full_message(e));
        if let Some(code) = e.status() {
            let text = std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_default();
            return SmtpFailure::Reply(SmtpReply {
                code: code.to_string().parse().unwrap_or(0),
                text: scrub(text),
            });
        }
        if e.is_tls() {
            return SmtpFailure::Tls(detail);
        }
        if e.is_client() {
            return SmtpFailure::Client(detail);
        }
        if e.is_response() {
            // lettre's wording when the peer closed before a complete reply.
            return if detail.contains("incomplete response") {
                SmtpFailure::Disconnected(detail)
            } else {
                SmtpFailure::Protocol(detail)
            };
        }
        // Connection or network error: the io error's kind tells which.
        match io_kind(e) {
            // rustls reports handshake and certificate errors as InvalidData.
            Some(io::ErrorKind::InvalidData) => SmtpFailure::Tls(detail),
            Some(io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                SmtpFailure::Timeout(detail)
            }
            Some(
                io::ErrorKind::ConnectionRefused
                | io::ErrorKind::AddrNotAvailable
                | io::ErrorKind::NotFound
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkUnreachable,
            ) => SmtpFailure::Connect(detail),
            Some(_) => SmtpFailure::Disconnected(detail),
            None if detail.starts_with("Connection error") => SmtpFailure::Connect(detail),
            None => SmtpFailure::Disconnected(detail),
        }
    }
}

impl fmt::Display for SmtpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmtpFailure::Reply(r) => write!(f, "server replied {r}"),
            SmtpFailure::Connect(d) => write!(f, "could not connect: {d}"),
            SmtpFailure::Timeout(d) => write!(f, "no answer within smtp.timeout_ms: {d}"),
            SmtpFailure::Disconnected(d) => write!(f, "connection lost: {d}"),
            SmtpFailure::Tls(d) => write!(f, "TLS failed: {d}"),
            SmtpFailure::Protocol(d) => write!(f, "unexpected server reply: {d}"),
            SmtpFailure::Client(d) => write!(f, "{d}"),
        }
    }
}

/// Why [`send`] stopped trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The failure is not transient (5xx reply, TLS, protocol); it was not retried.
    NotRetryable,
    /// Every one of `max_attempts` failed with a transient error.
    AttemptsExhausted,
}

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GiveUp::NotRetryable => "permanent failure, not retried",
            GiveUp::AttemptsExhausted => "transient failures, attempts exhausted",
        })
    }
}

/// lettre's error with its whole source chain, as one line.
fn full_message(e: &lettre::transport::smtp::Error) -> String {
    let mut out = e.to_string();
    let mut src = std::error::Error::source(e);
    // lettre's Display already includes its direct source; add the deeper ones.
    if let Some(s) = src {
        src = s.source();
    }
    let mut depth = 0;
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
        depth += 1;
        if depth > 8 {
            break;
        }
    }
    out
}

/// The first `io::Error` kind in the source chain.
fn io_kind(e: &lettre::transport::smtp::Error) -> Option<io::ErrorKind> {
    let mut src = std::error::Error::source(e);
    let mut depth = 0;
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        src = s.source();
        depth += 1;
        if depth > 8 {
            break;
        }
    }
    None
}

/// Delay before retry number `retry` (1 = after the first attempt): `initial` doubled each
/// retry, capped at `max`. No jitter: one job sends one mail, there is no herd to spread.
pub(crate) fn backoff_delay(initial_ms: u64, max_ms: u64, retry: u32) -> Duration {
    let factor = 1u64
        .checked_shl(retry.saturating_sub(1))
        .unwrap_or(u64::MAX);
    Duration::from_millis(initial_ms.saturating_mul(factor).min(max_ms))
}

/// Reads and parses the extra root CA file, bounded in size.
pub(crate) fn read_ca_file(path: &Path) -> Result<Certificate, NotifyError> {
    let err = |reason: String| NotifyError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let f = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut pem = Vec::new();
    f.take(MAX_CA_FILE_BYTES + 1)
        .read_to_end(&mut pem)
        .map_err(|e| err(e.to_string()))?;
    if pem.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(err(format!("larger than {MAX_CA_FILE_BYTES} bytes")));
    }
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(err("no PEM certificate in it".to_owned()));
    }
    Certificate::from_pem(&pem).map_err(|e| err(e.to_string()))
}

/// The password, when AUTH is configured.
fn password(s: &SmtpSettings) -> Result<Option<String>, NotifyError> {
    if s.username.is_none() {
        return Ok(None);
    }
    match std::env::var(&s.password_env) {
        Ok(p) => Ok(Some(p)),
        Err(_) => Err(NotifyError::MissingPassword {
            server: s.server(),
            var: s.password_env.clone(),
        }),
    }
}

/// Checks that cannot wait for the server.
fn precheck(s: &SmtpSettings) -> Result<(), NotifyError> {
    let bad = |reason: String| NotifyError::Settings {
        server: s.server(),
        reason,
    };
    if s.host.trim().is_empty() {
        return Err(bad("smtp.host is empty".to_owned()));
    }
    if s.port == Some(0) {
        return Err(bad("smtp.port is 0".to_owned()));
    }
    if s.timeout_ms == 0 {
        return Err(bad("smtp.timeout_ms is 0".to_owned()));
    }
    if s.security == Security::Plain && s.username.is_some() && !s.host_is_loopback() {
        return Err(bad(
            "security = \"plain\" with a username would send the password in clear text".to_owned(),
        ));
    }
    Ok(())
}

fn transport(s: &SmtpSettings, password: Option<String>) -> Result<SmtpTransport, NotifyError> {
    let tls_params = || -> Result<TlsParameters, NotifyError> {
        let mut b = TlsParameters::builder(s.host.clone());
        if let Some(ca) = &s.ca_file {
            b = b.add_root_certificate(read_ca_file(ca)?);
        }
        if s.accept_invalid_certs {
            tracing::warn!(server = %s.server(), "accepting any TLS certificate (accept_invalid_certs)");
            b = b.dangerous_accept_invalid_certs(true);
        }
        b.build().map_err(|e| NotifyError::Settings {
            server: s.server(),
            reason: format!("TLS set-up: {e}"),
        })
    };
    let tls = match s.security {
        Security::Starttls => Tls::Required(tls_params()?),
        Security::Tls => Tls::Wrapper(tls_params()?),
        Security::Plain => Tls::None,
    };
    let mut b = SmtpTransport::builder_dangerous(s.host.clone())
        .port(s.port())
        .tls(tls)
        .timeout(Some(Duration::from_millis(s.timeout_ms)));
    if let Some(name) = &s.helo_name {
        b = b.hello_name(ClientId::Domain(name.clone()));
    }
    if let (Some(user), Some(pass)) = (&s.username, password) {
        b = b.credentials(Credentials::new(user.clone(), pass));
    }
    Ok(b.build())
}

/// Sends with retries and backoff; the password is read from the env var named by
/// `password_env`. Returns the number of attempts made.
pub(crate) fn send_counted(
    s: &SmtpSettings,
    r: &MailRecipients,
    mail: &Mail,
    stamp: &MessageStamp,
) -> Result<u32, NotifyError> {
    precheck(s)?;
    let message = build_message(&s.from, r, mail, stamp)?;
    let bytes = message.formatted();
    if bytes.len() > s.max_message_bytes {
        return Err(NotifyError::TooLarge {
            server: s.server(),
            size: bytes.len(),
            limit: s.max_message_bytes,
        });
    }
    let password = password(s)?;
    let secret = password.clone();
    let transport = transport(s, password)?;
    let server = s.server();
    let max_attempts = s.max_attempts.clamp(1, super::MAX_ATTEMPTS_LIMIT);
    let envelope = message.envelope();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match transport.send_raw(envelope, &bytes) {
            Ok(reply) => {
                tracing::info!(
                    server = %server, attempt, message_id = %stamp.message_id,
                    reply = %reply.code(), bytes = bytes.len(), "mail sent"
                );
                return Ok(attempt);
            }
            Err(e) => {
                let failure = SmtpFailure::from_lettre(&e, secret.as_deref());
                let retry = failure.is_retryable() && attempt < max_attempts;
                if !retry {
                    let give_up = if failure.is_retryable() {
                        GiveUp::AttemptsExhausted
                    } else {
                        GiveUp::NotRetryable
                    };
                    return Err(NotifyError::Send {
                        server,
                        attempts: attempt,
                        give_up,
                        failure,
                    });
                }
                let delay = backoff_delay(s.backoff_initial_ms, s.backoff_max_ms, attempt);
                tracing::warn!(
                    server = %server, attempt, max_attempts, error = %failure,
                    retry_in_ms = delay.as_millis() as u64, "mail attempt failed; retrying"
                );
                std::thread::sleep(delay);
            }
        }
    }
}

/// Sends with retries and backoff; the password is read from the env var named by
/// `password_env`. Connection errors, timeouts and 4xx replies are retried up to
/// `max_attempts` (exponential backoff, capped); 5xx replies and TLS failures are not.
pub fn send(
    s: &SmtpSettings,
    r: &MailRecipients,
    mail: &Mail,
    stamp: &MessageStamp,
) -> Result<(), NotifyError> {
    send_counted(s, r, mail, stamp).map(|_| ())
}
