//! Errors of the Xsolla HTTP transport.
//!
//! Each error names the method and the URL (never credentials) and, where Xsolla answered,
//! its `message`, `extended_message` and `request_id`, because the nightly job's log is often
//! the only thing an operator (or Xsolla support) will see. Errors carry a hint where the fix
//! is known, so a 401 at 03:00 tells the reader what to check.

use super::parse::DecodeError;
use std::fmt;
use std::time::Duration;

/// How many characters of a non-Xsolla body (an HTML page…) an error shows.
pub const EXCERPT_CHARS: usize = 200;

/// A failure of one Xsolla request, after the transport's retries where they apply.
#[derive(Debug, thiserror::Error)]
pub enum XsollaError {
    /// The configured base URL is unusable.
    #[error("invalid Xsolla base URL {url}: {detail}")]
    BaseUrl {
        /// The URL as configured, with any user info removed.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The `[http]` settings are inconsistent.
    #[error("invalid [http] settings: {detail}")]
    Settings {
        /// What is wrong.
        detail: String,
    },
    /// reqwest could not build its client (TLS backend…).
    #[error("cannot build the HTTP client: {detail}")]
    ClientBuild {
        /// reqwest's words.
        detail: String,
    },
    /// The path or query given by the caller does not form a URL.
    #[error("{method} {url}: invalid request URL: {detail}")]
    RequestUrl {
        /// HTTP method.
        method: String,
        /// Base URL and path as far as they could be joined.
        url: String,
        /// What is wrong.
        detail: String,
    },
    /// No complete response: connection refused or reset, timeout, cut body; after retries.
    #[error(
        "{method} {url}: {} after {attempts} attempt(s) in {} ms: {detail}",
        connection_kind(.timed_out),
        .elapsed.as_millis()
    )]
    Connection {
        /// HTTP method.
        method: String,
        /// Full URL with query.
        url: String,
        /// Attempts made, the first included.
        attempts: u32,
        /// Time from the first attempt to the failure.
        elapsed: Duration,
        /// The last attempt timed out (rather than failing to connect or read).
        timed_out: bool,
        /// The underlying error chain, as text.
        detail: String,
    },
    /// Xsolla answered with an error status (after retries when the status is retryable).
    #[error(transparent)]
    Status(Box<StatusError>),
    /// The total time allowed for one request (`retry_budget_ms`) is spent.
    #[error(
        "{method} {url}: retry budget of {} ms spent after {attempts} attempt(s) in {} ms; last error: {last}",
        .budget.as_millis(),
        .elapsed.as_millis()
    )]
    RetryBudgetExhausted {
        /// HTTP method.
        method: String,
        /// Full URL with query.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Time from the first attempt.
        elapsed: Duration,
        /// The configured budget.
        budget: Duration,
        /// The last attempt's failure.
        last: Box<XsollaError>,
    },
    /// Xsolla asked to wait (`Retry-After`) longer than the retry budget has left.
    #[error(
        "{method} {url}: HTTP {status} with Retry-After of {} s, more than the {} ms left of the retry budget (attempt {attempts}); not waiting. Run again later or raise http.retry_budget_ms",
        .retry_after.as_secs(),
        .remaining.as_millis()
    )]
    RetryAfterBeyondBudget {
        /// HTTP method.
        method: String,
        /// Full URL with query.
        url: String,
        /// The status that carried `Retry-After` (429, 503…).
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// What Xsolla asked for.
        retry_after: Duration,
        /// What the budget had left.
        remaining: Duration,
    },
    /// The body is larger than `max_body_bytes`; not retried, it would be as large again.
    #[error(
        "{method} {url}: response body larger than the limit of {limit} bytes (at least {received} bytes); narrow the period or raise http.max_body_bytes"
    )]
    BodyTooLarge {
        /// HTTP method.
        method: String,
        /// Full URL with query.
        url: String,
        /// The configured limit.
        limit: u64,
        /// Bytes announced or read when the limit was crossed.
        received: u64,
    },
    /// The body could not be decoded into rows, on every attempt.
    #[error(
        "{method} {url}: cannot decode the response body after {attempts} attempt(s): {source}"
    )]
    Decode {
        /// HTTP method.
        method: String,
        /// Full URL with query.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last decode failure.
        #[source]
        source: Box<DecodeError>,
    },
    /// A success status with the wrong kind of body (an HTML maintenance page…), on every attempt.
    #[error(
        "{method} {url}: expected {expected}, got Content-Type {got} after {attempts} attempt(s); body starts: {excerpt:?}"
    )]
    ContentType {
        /// HTTP method.
        method: String,
        /// Full URL with query.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What the call expected.
        expected: &'static str,
        /// The Content-Type received.
        got: String,
        /// The first characters of the body.
        excerpt: String,
    },
}

fn connection_kind(timed_out: &bool) -> &'static str {
    if *timed_out {
        "timed out"
    } else {
        "no complete response"
    }
}

impl XsollaError {
    /// The HTTP status Xsolla answered with, if this error is a status error.
    pub fn status(&self) -> Option<u16> {
        match self {
            XsollaError::Status(e) => Some(e.status),
            XsollaError::RetryAfterBeyondBudget { status, .. } => Some(*status),
            XsollaError::RetryBudgetExhausted { last, .. } => last.status(),
            _ => None,
        }
    }
}

/// An error status from Xsolla, with what Xsolla said about it.
#[derive(Debug)]
pub struct StatusError {
    /// HTTP method.
    pub method: String,
    /// Full URL with query.
    pub url: String,
    /// HTTP status.
    pub status: u16,
    /// Xsolla's `message`, English text (Xsolla warns it may change: show it, never match on it).
    pub message: Option<String>,
    /// Xsolla's `extended_message` as JSON text (its shape is undocumented for Reports).
    pub extended_message: Option<String>,
    /// Xsolla's `request_id`, to quote to Xsolla support.
    pub request_id: Option<String>,
    /// The first characters of the body when it is not Xsolla's error JSON (HTML from a proxy…).
    pub body_excerpt: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: HTTP {}", self.method, self.url, self.status)?;
        if let Some(reason) = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
        {
            write!(f, " {reason}")?;
        }
        write!(f, " after {} attempt(s)", self.attempts)?;
        if let Some(m) = &self.message {
            write!(f, "; Xsolla says {m:?}")?;
        }
        if let Some(x) = &self.extended_message {
            write!(f, "; extended_message: {x}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, "; request_id: {id}")?;
        }
        if let Some(b) = &self.body_excerpt {
            write!(f, "; body starts: {b:?}")?;
        }
        write!(f, "; hint: {}", self.hint)
    }
}

impl std::error::Error for StatusError {}

/// Xsolla's error body: `{http_status_code, message, extended_message, request_id}` or the
/// short `{message}`; anything else is kept as an excerpt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ErrorBody {
    pub message: Option<String>,
    pub extended_message: Option<String>,
    pub request_id: Option<String>,
    pub excerpt: Option<String>,
}

impl ErrorBody {
    /// Never fails: a body that is not Xsolla's JSON becomes an excerpt.
    pub(crate) fn parse(body: &[u8]) -> Self {
        if let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice(body) {
            let text = |key: &str| match obj.get(key) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            let parsed = ErrorBody {
                message: text("message"),
                // JSON text on purpose: it may be a string, an object or a list.
                extended_message: obj
                    .get("extended_message")
                    .filter(|v| !v.is_null())
                    .map(|v| v.to_string()),
                request_id: text("request_id"),
                excerpt: None,
            };
            if parsed.message.is_some()
                || parsed.extended_message.is_some()
                || parsed.request_id.is_some()
            {
                return parsed;
            }
        }
        let excerpt = excerpt(body, EXCERPT_CHARS);
        ErrorBody {
            excerpt: (!excerpt.is_empty()).then_some(excerpt),
            ..ErrorBody::default()
        }
    }
}

/// The first `max_chars` characters of a body, whitespace collapsed so an HTML page reads on
/// one log line; `…` marks a cut.
pub(crate) fn excerpt(body: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    for (n, word) in text.split_whitespace().enumerate() {
        if n > 0 {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() > max_chars {
            break;
        }
    }
    if out.chars().count() > max_chars {
        out = out.chars().take(max_chars).collect();
        out.push('…');
    }
    out
}

/// What to do about an error status; the 401 and 403 hints come from the docs/xsolla-api.md §0.1.
pub(crate) fn status_hint(status: u16, merchant_id: i64, key_env: &str) -> String {
    match status {
        401 => format!(
            "check merchant_id {merchant_id} and the API key in the environment variable {key_env}; Xsolla rejected the credentials"
        ),
        403 => "the API key is probably a project-level key, but the Reports API needs a company-level key valid in all the company's projects (Publisher Account → Company settings → API keys); or the key's role lacks permission for this call".to_owned(),
        404 => format!(
            "Xsolla found no such resource for merchant_id {merchant_id}; check the IDs in the URL, and quote request_id to Xsolla support if they are right"
        ),
        400 | 409 | 422 => "Xsolla rejected the request parameters; see its message and extended_message, and quote request_id to Xsolla support if unclear".to_owned(),
        415 => "Xsolla wants Content-Type: application/json on this call".to_owned(),
        408 | 429 => "Xsolla throttled or timed out the request on every attempt; lower http.max_concurrency, raise http.min_request_interval_ms, or ask the account manager for the rate limit".to_owned(),
        500..=599 => "Xsolla had a server error on every attempt; run again later and quote request_id to Xsolla support if it persists".to_owned(),
        _ => "unexpected status; quote request_id to Xsolla support".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_and_short_error_bodies() {
        let full = br#"{"http_status_code": 422, "message": "Invalid period", "extended_message": {"property_errors": {"datetime_to": ["too far"]}}, "request_id": "6445b85"}"#;
        let b = ErrorBody::parse(full);
        assert_eq!(b.message.as_deref(), Some("Invalid period"));
        assert_eq!(
            b.extended_message.as_deref(),
            Some(r#"{"property_errors":{"datetime_to":["too far"]}}"#)
        );
        assert_eq!(b.request_id.as_deref(), Some("6445b85"));
        assert_eq!(b.excerpt, None);

        let short = ErrorBody::parse(br#"{"message": "Transaction not found"}"#);
        assert_eq!(short.message.as_deref(), Some("Transaction not found"));
        assert_eq!(short.extended_message, None);

        let null_ext =
            ErrorBody::parse(br#"{"message": "x", "extended_message": null, "request_id": 7}"#);
        assert_eq!(null_ext.extended_message, None);
        assert_eq!(null_ext.request_id.as_deref(), Some("7"));
    }

    #[test]
    fn non_json_error_bodies_become_an_excerpt() {
        let html = format!(
            "<html>\n  <head><title>502 Bad Gateway</title></head>\n<body>{}</body></html>",
            "x".repeat(1000)
        );
        let b = ErrorBody::parse(html.as_bytes());
        assert_eq!(b.message, None);
        let ex = b.excerpt.expect("excerpt");
        assert!(ex.starts_with("<html> <head><title>502 Bad Gateway</title></head>"));
        assert_eq!(ex.chars().count(), EXCERPT_CHARS + 1);
        assert!(ex.ends_with('…'));
        // JSON without Xsolla's fields is shown as is.
        let other = ErrorBody::parse(br#"{"error": "nope"}"#);
        assert_eq!(other.excerpt.as_deref(), Some(r#"{"error": "nope"}"#));
        assert_eq!(ErrorBody::parse(b"").excerpt, None);
        // Invalid UTF-8 does not panic.
        assert!(ErrorBody::parse(&[0xff, 0xfe, b'a']).excerpt.is_some());
    }
}
