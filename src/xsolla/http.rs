//! HTTP transport for the Xsolla Reports API.
//!
//! One place for what every endpoint needs: Basic auth, retries with backoff and `Retry-After`,
//! a per-merchant request-rate and concurrency limit (Xsolla throttles under load and publishes
//! no numbers, reference §0.3), a body size cap, and decoding inside the retry loop, so a cut or
//! garbled body is fetched again instead of failing the night's run.

use super::error::{excerpt, status_hint, ErrorBody, StatusError, XsollaError, EXCERPT_CHARS};
use super::parse::DecodeError;
use bytes::{Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use std::fmt;
use std::time::{Duration, SystemTime};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;
use url::Url;

/// Where the API key is expected unless the caller says otherwise; only named in hints.
pub const DEFAULT_API_KEY_ENV: &str = "XSOLLA_API_KEY";

/// How much of an error body is read: it only feeds the message.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// An API key that never prints itself.
///
/// Logs and error reports leave the machine (mail, chat); the key must not go with them.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps the secret.
    pub fn new(s: impl Into<String>) -> Self {
        ApiKey(s.into())
    }

    /// The secret itself, for the Authorization header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Transport settings; deserialized from the `[http]` table of the config file.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// TCP + TLS handshake limit. 10 s: a healthy API connects in well under a second, and a
    /// dead route should fail fast so the retry gets a fresh connection.
    pub connect_timeout_ms: u64,
    /// Limit for one attempt, body included. 120 s: a 92-day registry export can take a while
    /// to be generated and streamed.
    pub request_timeout_ms: u64,
    /// Attempts per request, the first included. 6: with the backoff below that rides out a
    /// minute or two of 5xx without hammering the API.
    pub max_attempts: u32,
    /// Total time across the attempts of one request. 5 min: bounds a nightly run when Xsolla
    /// is down, so the job fails and reports instead of hanging.
    pub retry_budget_ms: u64,
    /// First backoff delay. 500 ms: long enough to skip a momentary blip.
    pub backoff_initial_ms: u64,
    /// Largest backoff delay (a `Retry-After` may ask for more). 30 s: spreads retries over the
    /// budget without long idle gaps.
    pub backoff_max_ms: u64,
    /// Minimum start-to-start spacing of requests for this merchant. 500 ms: Xsolla rate-limits
    /// under load without saying how much (reference §0.3); two requests a second is gentle.
    pub min_request_interval_ms: u64,
    /// Requests in flight at once for this merchant. 2: one large export may stream while a
    /// small call (payouts, details) proceeds, without looking like a crawler.
    pub max_concurrency: u32,
    /// Largest body accepted. 256 MiB: the whole body is kept in memory for the snapshot; a
    /// bigger one means the period should be split.
    pub max_body_bytes: u64,
    /// User-Agent header, so Xsolla support can find our requests in their logs.
    pub user_agent: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout_ms: 10_000,
            request_timeout_ms: 120_000,
            max_attempts: 6,
            retry_budget_ms: 300_000,
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
            min_request_interval_ms: 500,
            max_concurrency: 2,
            max_body_bytes: 256 * 1024 * 1024,
            user_agent: concat!("xsolla-recon/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl HttpSettings {
    /// Rejects values that would hang or never try (zero permits, zero attempts…).
    pub fn validate(&self) -> Result<(), XsollaError> {
        let problem = if self.max_attempts == 0 {
            "max_attempts must be at least 1 (the first try counts)"
        } else if self.max_concurrency == 0 {
            "max_concurrency must be at least 1, or no request could ever start"
        } else if self.connect_timeout_ms == 0 || self.request_timeout_ms == 0 {
            "connect_timeout_ms and request_timeout_ms must be above 0"
        } else if self.backoff_initial_ms > self.backoff_max_ms {
            "backoff_initial_ms must not exceed backoff_max_ms"
        } else if self.max_body_bytes == 0 {
            "max_body_bytes must be above 0"
        } else {
            return Ok(());
        };
        Err(XsollaError::Settings {
            detail: problem.to_owned(),
        })
    }
}

/// What a call expects back; decides the Accept header and which bodies count as transient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A JSON body.
    Json,
    /// A CSV body.
    Csv,
    /// Nothing in particular: 204 or an empty 200 is fine, so is a JSON body.
    Empty,
}

impl Expect {
    fn accept(self) -> &'static str {
        match self {
            Expect::Csv => "text/csv, application/json",
            Expect::Json | Expect::Empty => "application/json",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Expect::Json => "application/json",
            Expect::Csv => "CSV (any type but HTML, XML or JSON)",
            Expect::Empty => "an empty body or application/json",
        }
    }

    /// Whether a non-empty body of this Content-Type can be what was asked for. A missing
    /// type passes (the decoder judges); HTML never does (maintenance pages come with 200).
    /// Xsolla's CSV type is undocumented, so CSV only refuses types that cannot be CSV.
    fn allows(self, content_type: Option<&str>) -> bool {
        let Some(ct) = content_type else {
            return true;
        };
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let json =
            essence == "application/json" || essence == "text/json" || essence.ends_with("+json");
        let markup = essence == "text/html" || essence.contains("xml");
        match self {
            Expect::Json => json,
            Expect::Csv => !json && !markup,
            Expect::Empty => !markup,
        }
    }
}

/// A successful response, kept whole so the caller can snapshot the exact bytes.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP method.
    pub method: String,
    /// Full URL with query, never credentials.
    pub url: String,
    /// HTTP status (2xx).
    pub status: u16,
    /// The Content-Type header, as sent.
    pub content_type: Option<String>,
    /// The body, exactly as received.
    pub body: Bytes,
    /// When the body was complete.
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// Attempts it took, the first included.
    pub attempts: u32,
    /// Time from the first attempt to the complete body.
    pub elapsed: Duration,
}

/// The Xsolla HTTP client of one merchant: share it (`Arc`) between tasks so the rate and
/// concurrency limits hold across them.
pub struct Transport {
    client: reqwest::Client,
    /// Always ends with `/`, so relative paths keep its prefix.
    base: Url,
    merchant_id: i64,
    key: ApiKey,
    key_env: String,
    settings: HttpSettings,
    /// Start time of the next free request slot (rate limit).
    next_slot: Mutex<Instant>,
    in_flight: Semaphore,
    jitter: std::sync::Mutex<StdRng>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base.as_str())
            .field("merchant_id", &self.merchant_id)
            .field("key", &self.key)
            .field("key_env", &self.key_env)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What went wrong in one attempt, before it is known whether it will be retried.
enum Failure {
    Transport {
        detail: String,
        timed_out: bool,
    },
    Status {
        status: u16,
        body: ErrorBody,
        retry_after: Option<Duration>,
    },
    TooLarge {
        limit: u64,
        received: u64,
    },
    ContentType {
        expected: &'static str,
        got: String,
        excerpt: String,
    },
    Decode(DecodeError),
}

/// The facts every final error carries.
struct Ctx<'a> {
    method: &'a str,
    url: &'a str,
    attempts: u32,
    elapsed: Duration,
    merchant_id: i64,
    key_env: &'a str,
}

impl Failure {
    fn transport(e: reqwest::Error) -> Self {
        let timed_out = e.is_timeout();
        // The URL is already in our message; reqwest never puts headers in errors.
        Failure::Transport {
            detail: error_chain(&e.without_url()),
            timed_out,
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Failure::Status { status, .. } => is_retryable_status(*status),
            Failure::TooLarge { .. } => false,
            Failure::Transport { .. } | Failure::ContentType { .. } | Failure::Decode(_) => true,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// One line for the retry log.
    fn cause(&self) -> String {
        match self {
            Failure::Transport { detail, timed_out } => {
                format!(
                    "{}: {detail}",
                    if *timed_out {
                        "timed out"
                    } else {
                        "no complete response"
                    }
                )
            }
            Failure::Status { status, body, .. } => {
                let mut s = format!("HTTP {status}");
                if let Some(m) = &body.message {
                    s.push_str(&format!(", Xsolla says {m:?}"));
                }
                if let Some(id) = &body.request_id {
                    s.push_str(&format!(", request_id {id}"));
                }
                if let Some(x) = &body.excerpt {
                    s.push_str(&format!(", body starts {x:?}"));
                }
                s
            }
            Failure::TooLarge { limit, received } => {
                format!("body over {limit} bytes (at least {received})")
            }
            Failure::ContentType { expected, got, .. } => {
                format!("Content-Type {got} instead of {expected}")
            }
            Failure::Decode(e) => format!("undecodable body: {e}"),
        }
    }

    fn into_error(self, c: &Ctx<'_>) -> XsollaError {
        let (method, url) = (c.method.to_owned(), c.url.to_owned());
        match self {
            Failure::Transport { detail, timed_out } => XsollaError::Connection {
                method,
                url,
                attempts: c.attempts,
                elapsed: c.elapsed,
                timed_out,
                detail,
            },
            Failure::Status { status, body, .. } => XsollaError::Status(Box::new(StatusError {
                method,
                url,
                status,
                message: body.message,
                extended_message: body.extended_message,
                request_id: body.request_id,
                body_excerpt: body.excerpt,
                attempts: c.attempts,
                hint: status_hint(status, c.merchant_id, c.key_env),
            })),
            Failure::TooLarge { limit, received } => XsollaError::BodyTooLarge {
                method,
                url,
                limit,
                received,
            },
            Failure::ContentType {
                expected,
                got,
                excerpt,
            } => XsollaError::ContentType {
                method,
                url,
                attempts: c.attempts,
                expected,
                got,
                excerpt,
            },
            Failure::Decode(e) => XsollaError::Decode {
                method,
                url,
                attempts: c.attempts,
                source: Box::new(e),
            },
        }
    }
}

impl Transport {
    /// A client for one merchant; checks the settings and the base URL up front so a bad
    /// config fails at start-up, not in the middle of the night.
    pub fn new(
        base_url: &str,
        merchant_id: i64,
        key: ApiKey,
        settings: HttpSettings,
    ) -> Result<Self, XsollaError> {
        settings.validate()?;
        let base = parse_base_url(base_url)?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .user_agent(settings.user_agent.clone())
            .build()
            .map_err(|e| XsollaError::ClientBuild {
                detail: error_chain(&e),
            })?;
        let seed = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            merchant_id,
        );
        Ok(Transport {
            client,
            base,
            merchant_id,
            key,
            key_env: DEFAULT_API_KEY_ENV.to_owned(),
            in_flight: Semaphore::new(settings.max_concurrency as usize),
            settings,
            next_slot: Mutex::new(Instant::now()),
            jitter: std::sync::Mutex::new(StdRng::seed_from_u64(seed)),
        })
    }

    /// Names the environment variable the key came from, for the 401 hint.
    pub fn with_key_env(mut self, env_var: impl Into<String>) -> Self {
        self.key_env = env_var.into();
        self
    }

    /// The merchant this transport authenticates as.
    pub fn merchant_id(&self) -> i64 {
        self.merchant_id
    }

    /// The settings in force.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// The base URL, ending with `/`.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// GET base_url/path?query with Basic auth, retries, rate limit and concurrency limit;
    /// checks the content type against `expect` and runs `decode` on the body INSIDE the
    /// retry loop, so a truncated or broken body (DecodeError) is retried like a 5xx.
    pub async fn get<T>(
        &self,
        path: &str,
        query: &[(&str, String)],
        expect: Expect,
        decode: impl Fn(&Reply) -> Result<T, DecodeError>,
    ) -> Result<(Reply, T), XsollaError> {
        self.execute(Method::GET, path, query, expect, None, decode)
            .await
    }

    /// PUT/POST with a JSON body (Content-Type: application/json), same retry rules; body may
    /// be empty (`None`). The reply may be empty (204) or JSON (Xsolla's `{"message"}`).
    ///
    /// Retrying a refund after a timeout could repeat it in principle; Xsolla answers a second
    /// refund of the same transaction with 422, which is not retried.
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, XsollaError> {
        let (reply, ()) = self
            .execute(method, path, &[], Expect::Empty, body, |_| Ok(()))
            .await?;
        Ok(reply)
    }

    async fn execute<T>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        expect: Expect,
        body: Option<Vec<u8>>,
        decode: impl Fn(&Reply) -> Result<T, DecodeError>,
    ) -> Result<(Reply, T), XsollaError> {
        let url = self.request_url(&method, path, query)?;
        let s = &self.settings;
        let budget = Duration::from_millis(s.retry_budget_ms);
        let body = body.map(Bytes::from);
        // The budget clock starts with the first attempt, not while queued behind other tasks.
        let mut start: Option<Instant> = None;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            // Never closed, so `ok()` only discards an impossible error.
            let permit = self.in_flight.acquire().await.ok();
            self.wait_for_slot().await;
            let started = *start.get_or_insert_with(Instant::now);
            let timeout = Duration::from_millis(s.request_timeout_ms)
                .min(budget.saturating_sub(started.elapsed()))
                .max(Duration::from_millis(1));
            let outcome = self
                .attempt(&method, &url, expect, body.clone(), timeout)
                .await;
            drop(permit);
            let elapsed = started.elapsed();
            let failure = match outcome {
                Ok(mut reply) => {
                    reply.attempts = attempt;
                    reply.elapsed = elapsed;
                    match decode(&reply) {
                        Ok(value) => {
                            tracing::debug!(
                                method = %method, url = %url, status = reply.status,
                                bytes = reply.body.len(), attempts = attempt,
                                elapsed_ms = elapsed.as_millis() as u64, "Xsolla request done"
                            );
                            return Ok((reply, value));
                        }
                        Err(e) => Failure::Decode(e),
                    }
                }
                Err(f) => f,
            };
            let ctx = Ctx {
                method: method.as_str(),
                url: url.as_str(),
                attempts: attempt,
                elapsed,
                merchant_id: self.merchant_id,
                key_env: &self.key_env,
            };
            if !failure.is_retryable() || attempt >= s.max_attempts {
                return Err(failure.into_error(&ctx));
            }
            let remaining = budget.saturating_sub(elapsed);
            let delay = match failure.retry_after() {
                Some(wait) if wait >= remaining => {
                    return Err(XsollaError::RetryAfterBeyondBudget {
                        method: method.to_string(),
                        url: url.to_string(),
                        status: match failure {
                            Failure::Status { status, .. } => status,
                            _ => 0,
                        },
                        attempts: attempt,
                        retry_after: wait,
                        remaining,
                    });
                }
                // Xsolla's wish beats our backoff, even above backoff_max.
                Some(wait) => wait,
                None => self.backoff(attempt),
            };
            if delay >= remaining {
                return Err(XsollaError::RetryBudgetExhausted {
                    method: method.to_string(),
                    url: url.to_string(),
                    attempts: attempt,
                    elapsed,
                    budget,
                    last: Box::new(failure.into_error(&ctx)),
                });
            }
            tracing::warn!(
                method = %method, url = %url, attempt, max_attempts = s.max_attempts,
                cause = %failure.cause(), delay_ms = delay.as_millis() as u64,
                "Xsolla request failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One try: send, read the whole body, check status and content type.
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        expect: Expect,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<Reply, Failure> {
        let mut req = self
            .client
            .request(method.clone(), url.clone())
            .basic_auth(self.merchant_id, Some(self.key.expose()))
            .header(ACCEPT, expect.accept())
            .timeout(timeout);
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, "application/json").body(b);
        }
        let mut resp = req.send().await.map_err(Failure::transport)?;
        let status = resp.status();
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(CONTENT_TYPE);
        if !status.is_success() {
            let retry_after =
                header(RETRY_AFTER).and_then(|v| parse_retry_after(&v, SystemTime::now()));
            // The error body only feeds the message: a cut one still gives the status.
            let body = read_body(&mut resp, ERROR_BODY_LIMIT, true)
                .await
                .unwrap_or_default();
            return Err(Failure::Status {
                status: status.as_u16(),
                body: ErrorBody::parse(&body),
                retry_after,
            });
        }
        let limit = self.settings.max_body_bytes;
        if let Some(len) = resp.content_length().filter(|&len| len > limit) {
            return Err(Failure::TooLarge {
                limit,
                received: len,
            });
        }
        let body = read_body(&mut resp, limit, false).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            if expect != Expect::Empty {
                return Err(Failure::Decode(DecodeError::Empty));
            }
        } else if !expect.allows(content_type.as_deref()) {
            return Err(Failure::ContentType {
                expected: expect.describe(),
                got: content_type.unwrap_or_default(),
                excerpt: excerpt(&body, EXCERPT_CHARS),
            });
        }
        Ok(Reply {
            method: method.to_string(),
            url: url.to_string(),
            status: status.as_u16(),
            content_type,
            body,
            received_at: chrono::Utc::now(),
            attempts: 0,
            elapsed: Duration::ZERO,
        })
    }

    fn request_url(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Url, XsollaError> {
        let bad = |detail: String| XsollaError::RequestUrl {
            method: method.to_string(),
            url: format!("{}{path}", self.base),
            detail,
        };
        let mut url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| bad(e.to_string()))?;
        // `join` resolves `..` and absolute URLs: never send the key outside the base.
        if !url.as_str().starts_with(self.base.as_str()) {
            return Err(bad("the path leaves the base URL".to_owned()));
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    /// Waits for this request's start slot: slots are `min_request_interval_ms` apart across
    /// every task sharing the transport.
    async fn wait_for_slot(&self) {
        let interval = Duration::from_millis(self.settings.min_request_interval_ms);
        if interval.is_zero() {
            return;
        }
        let at = {
            let mut next = self.next_slot.lock().await;
            let at = (*next).max(Instant::now());
            *next = at + interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }

    fn backoff(&self, retry: u32) -> Duration {
        let mut rng = self.jitter.lock().unwrap_or_else(|p| p.into_inner());
        backoff_delay(
            self.settings.backoff_initial_ms,
            self.settings.backoff_max_ms,
            retry,
            &mut *rng,
        )
    }
}

/// Delay before retry number `retry` (1 = after the first attempt): uniform between `initial`
/// and a cap that doubles each retry up to `max`. The jitter keeps parallel runs from retrying
/// in lockstep; the floor at `initial` gives a flapping server a breather.
fn backoff_delay(initial_ms: u64, max_ms: u64, retry: u32, rng: &mut impl Rng) -> Duration {
    let cap = initial_ms
        .saturating_mul(1u64 << retry.min(40))
        .min(max_ms)
        .max(initial_ms);
    Duration::from_millis(rng.random_range(initial_ms..=cap))
}

/// Reads the body chunk by chunk, so a connection cut before Content-Length is an error (not
/// a short body) and `limit` holds without buffering more. With `truncate`, stops at the limit
/// instead of failing.
async fn read_body(
    resp: &mut reqwest::Response,
    limit: u64,
    truncate: bool,
) -> Result<Bytes, Failure> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(Failure::transport)? {
        let received = buf.len() as u64 + chunk.len() as u64;
        if received > limit {
            if truncate {
                let room = (limit as usize).saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..room.min(chunk.len())]);
                break;
            }
            return Err(Failure::TooLarge { limit, received });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn parse_base_url(raw: &str) -> Result<Url, XsollaError> {
    let bad = |url: String, detail: &str| XsollaError::BaseUrl {
        url,
        detail: detail.to_owned(),
    };
    let mut url = Url::parse(raw.trim()).map_err(|e| {
        // An unparsable URL with '@' may hold a password: do not echo it.
        let shown = if raw.contains('@') {
            "<not shown: contains '@'>".to_owned()
        } else {
            raw.to_owned()
        };
        bad(shown, &e.to_string())
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
        return Err(bad(
            url.to_string(),
            "must not carry user info; the merchant ID and API key are sent as Basic auth",
        ));
    }
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(bad(url.to_string(), "must be an http or https URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(url.to_string(), "must not have a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// An error and its sources on one line, skipping sources already quoted by their parent.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Statuses that are retried: 408, 429, and 500–599 except 501 and 505.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429) || ((500..=599).contains(&status) && !matches!(status, 501 | 505))
}

/// `Retry-After` as delta-seconds or HTTP-date, relative to `now`; None if unparseable.
/// A date in the past means "now"; an absurdly large number saturates (and so exceeds any
/// retry budget).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}
