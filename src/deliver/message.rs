//! The MIME message: text and HTML alternatives, inline images for the HTML, attachments.

use super::{MailRecipients, NotifyError, MAX_RECIPIENTS};
use chrono::{DateTime, SubsecRound, Utc};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, MultiPartBuilder, SinglePart};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What the mail says; the report stage fills it, this module only packages it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mail {
    /// Subject line (UTF-8; encoded as needed).
    pub subject: String,
    /// HTML body; refers to inline parts as `cid:<content_id>`.
    pub html: String,
    /// Plain-text body, for clients that do not show HTML.
    pub text: String,
    /// Parts the HTML shows inline (the chart).
    pub inline: Vec<Inline>,
    /// Files attached to the mail (CSV, XLSX).
    pub attachments: Vec<Attachment>,
}

/// A part shown inside the HTML (`<img src="cid:chart">`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inline {
    /// Content-ID without angle brackets, e.g. `chart`.
    pub content_id: String,
    /// MIME type, e.g. `image/png`.
    pub content_type: String,
    /// The raw bytes (base64-encoded on the wire).
    pub bytes: Vec<u8>,
}

/// A file attached to the mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name shown to the recipient, e.g. `discrepancies.csv`.
    pub filename: String,
    /// MIME type, e.g. `text/csv`.
    pub content_type: String,
    /// The file's bytes, carried exactly.
    pub bytes: Vec<u8>,
}

/// Message-ID and Date fixed per run, so a resend of the same run is recognisably the same
/// message (mail clients and archives collapse duplicates by Message-ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageStamp {
    /// `<…@domain>`, angle brackets included.
    pub message_id: String,
    /// The Date header (whole seconds: that is all the header can carry).
    pub date: DateTime<Utc>,
}

impl MessageStamp {
    /// The stamp of one run: the id hashes `run_key` (e.g. merchant, window and report id),
    /// under the sender's domain as RFC 5322 recommends.
    pub fn for_run(run_key: &str, from: &str, date: DateTime<Utc>) -> MessageStamp {
        let domain = from
            .parse::<Mailbox>()
            .map(|m| m.email.domain().to_owned())
            .unwrap_or_else(|_| "xsolla-recon.invalid".to_owned());
        let digest = hex::encode(Sha256::digest(run_key.as_bytes()));
        MessageStamp {
            message_id: format!("<recon.{}@{domain}>", &digest[..32]),
            date: date.trunc_subsecs(0),
        }
    }
}

fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, NotifyError> {
    value.parse::<Mailbox>().map_err(|e| NotifyError::Address {
        field,
        value: value.to_owned(),
        reason: e.to_string(),
    })
}

/// Files always go base64: other encodings may rewrite line ends (a CSV with bare LF would
/// arrive with CRLF), and the finance team must get the exact bytes.
fn base64_body(bytes: &[u8]) -> Body {
    Body::new_with_encoding(bytes.to_vec(), ContentTransferEncoding::Base64)
        .unwrap_or_else(Body::new)
}

fn content_type(value: &str) -> Result<ContentType, NotifyError> {
    ContentType::parse(value)
        .map_err(|e| NotifyError::Build(format!("content type {value:?}: {e}")))
}

/// Builds the message.
///
/// Layout: `mixed[ alternative[ text, related[ html, inline… ] ], attachment… ]`, with the
/// `related` and `mixed` levels left out when there is nothing to put in them. Boundaries
/// derive from the Message-ID, so the same run gives the same bytes.
pub fn build_message(
    from: &str,
    r: &MailRecipients,
    mail: &Mail,
    stamp: &MessageStamp,
) -> Result<lettre::Message, NotifyError> {
    if r.is_empty() {
        return Err(NotifyError::NoRecipients);
    }
    if r.count() > MAX_RECIPIENTS {
        return Err(NotifyError::TooManyRecipients {
            count: r.count(),
            limit: MAX_RECIPIENTS,
        });
    }
    let mut b = lettre::Message::builder()
        .from(mailbox("from", from)?)
        .subject(mail.subject.clone())
        .message_id(Some(stamp.message_id.clone()))
        .date(stamp.date.into())
        .user_agent(concat!("xsolla-recon/", env!("CARGO_PKG_VERSION")).to_owned());
    for a in &r.to {
        b = b.to(mailbox("to", a)?);
    }
    for a in &r.cc {
        b = b.cc(mailbox("cc", a)?);
    }
    for a in &r.bcc {
        b = b.bcc(mailbox("bcc", a)?);
    }

    let boundary = Boundaries::new(stamp, mail);
    let text = SinglePart::plain(mail.text.clone());
    let html = SinglePart::html(mail.html.clone());
    let html_part = if mail.inline.is_empty() {
        None
    } else {
        let mut related = boundary
            .apply(MultiPart::related(), "rel")
            .singlepart(html.clone());
        for i in &mail.inline {
            related = related.singlepart(
                lettre::message::Attachment::new_inline(i.content_id.clone())
                    .body(base64_body(&i.bytes), content_type(&i.content_type)?),
            );
        }
        Some(related)
    };
    let alternative = boundary
        .apply(MultiPart::alternative(), "alt")
        .singlepart(text);
    let alternative = match html_part {
        Some(related) => alternative.multipart(related),
        None => alternative.singlepart(html),
    };
    let body = if mail.attachments.is_empty() {
        alternative
    } else {
        let mut mixed = boundary
            .apply(MultiPart::mixed(), "mix")
            .multipart(alternative);
        for a in &mail.attachments {
            mixed = mixed.singlepart(
                lettre::message::Attachment::new(a.filename.clone())
                    .body(base64_body(&a.bytes), content_type(&a.content_type)?),
            );
        }
        mixed
    };
    b.multipart(body)
        .map_err(|e| NotifyError::Build(e.to_string()))
}

/// Deterministic MIME boundaries; falls back to lettre's random ones in the (adversarial)
/// case that a text body contains the derived string. Binary parts are base64 and
/// quoted-printable never produces it, so only the raw text bodies need checking.
struct Boundaries {
    base: Option<String>,
}

impl Boundaries {
    fn new(stamp: &MessageStamp, mail: &Mail) -> Boundaries {
        let digest = hex::encode(Sha256::digest(stamp.message_id.as_bytes()));
        let base = format!("recon{}", &digest[..32]);
        let clash = mail.text.contains(&base) || mail.html.contains(&base);
        Boundaries {
            base: (!clash).then_some(base),
        }
    }

    /// `builder` with this level's boundary (or lettre's random one).
    fn apply(&self, builder: MultiPartBuilder, level: &str) -> MultiPartBuilder {
        match &self.base {
            Some(b) => builder.boundary(format!("{b}{level}")),
            None => builder,
        }
    }
}

/// Name of the file [`write_eml`] writes.
pub const EML_FILE: &str = "email.eml";

/// The demo: writes the message as `email.eml` into `dir` (atomically), returns its path.
/// No network. Bcc recipients are not in the file, as in a sent mail.
pub fn write_eml(
    dir: &Path,
    from: &str,
    r: &MailRecipients,
    mail: &Mail,
    stamp: &MessageStamp,
) -> Result<PathBuf, NotifyError> {
    let message = build_message(from, r, mail, stamp)?;
    let path = dir.join(EML_FILE);
    crate::domain::fsutil::write_atomic(&path, &message.formatted())?;
    tracing::info!(path = %path.display(), message_id = %stamp.message_id, "mail written");
    Ok(path)
}
