//! HTTP transport for the Xsolla Reports API.
//!
//! One place for what every endpoint needs: Basic auth, retries with backoff and `Retry-After`,
//! a per-merchant request-rate and concurrency limit (Xsolla throttles under load and publishes
//! no numbers, docs/xsolla-api.md §0.3), a body size cap, and decoding inside the retry loop, so a cut or
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
    /// under load without saying how much (docs/xsolla-api.md §0.3); two requests a second is gentle.
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

/// What every attempt of one request sends.
struct Call<'a> {
    method: &'a Method,
    url: &'a Url,
    expect: Expect,
    body: Option<Bytes>,
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

    /// The status and the wait Xsolla asked for, if it did.
    fn retry_after(&self) -> Option<(u16, Duration)> {
        match self {
            Failure::Status {
                status,
                retry_after: Some(wait),
                ..
            } => Some((*status, *wait)),
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
    /// Retrying a refund after a timeout could repeat it; a second refund of the same
    /// transaction is expected (not confirmed) to get a 422 "Current transaction status does not
    /// allow refunds" (docs/xsolla-api.md §8.2), which is not retried.
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

    /// The retry loop: one limited attempt after another until one decodes, a failure is
    /// final, or the attempts or the time budget run out.
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
        let call = Call {
            method: &method,
            url: &url,
            expect,
            body: body.map(Bytes::from),
        };
        // The budget clock starts with the first attempt, not while queued behind other tasks.
        let mut start: Option<Instant> = None;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let (outcome, elapsed) = self.limited_attempt(&call, &mut start).await;
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
            tokio::time::sleep(self.retry_delay(failure, &ctx)?).await;
        }
    }

    /// One attempt under the concurrency and rate limits, its timeout cut to what is left of
    /// the retry budget. Returns the outcome and the time since the first attempt started
    /// (`start`, set by the first call).
    async fn limited_attempt(
        &self,
        call: &Call<'_>,
        start: &mut Option<Instant>,
    ) -> (Result<Reply, Failure>, Duration) {
        // Never closed, so `ok()` only discards an impossible error.
        let permit = self.in_flight.acquire().await.ok();
        self.wait_for_slot().await;
        let started = *start.get_or_insert_with(Instant::now);
        let timeout = Duration::from_millis(self.settings.request_timeout_ms)
            .min(self.budget().saturating_sub(started.elapsed()))
            .max(Duration::from_millis(1));
        let outcome = self.attempt(call, timeout).await;
        drop(permit);
        (outcome, started.elapsed())
    }

    /// How long to wait before the next attempt, or the final error: a failure that is not
    /// transient, the last attempt, or a wait (Xsolla's `Retry-After` or our backoff) that
    /// would not end inside the budget.
    fn retry_delay(&self, failure: Failure, ctx: &Ctx<'_>) -> Result<Duration, XsollaError> {
        let s = &self.settings;
        if !failure.is_retryable() || ctx.attempts >= s.max_attempts {
            return Err(failure.into_error(ctx));
        }
        let budget = self.budget();
        let remaining = budget.saturating_sub(ctx.elapsed);
        let delay = match failure.retry_after() {
            Some((status, wait)) if wait >= remaining => {
                return Err(XsollaError::RetryAfterBeyondBudget {
                    method: ctx.method.to_owned(),
                    url: ctx.url.to_owned(),
                    status,
                    attempts: ctx.attempts,
                    retry_after: wait,
                    remaining,
                });
            }
            // Xsolla's wish beats our backoff, even above backoff_max.
            Some((_, wait)) => wait,
            None => self.backoff(ctx.attempts),
        };
        if delay >= remaining {
            return Err(XsollaError::RetryBudgetExhausted {
                method: ctx.method.to_owned(),
                url: ctx.url.to_owned(),
                attempts: ctx.attempts,
                elapsed: ctx.elapsed,
                budget,
                last: Box::new(failure.into_error(ctx)),
            });
        }
        tracing::warn!(
            method = %ctx.method, url = %ctx.url, attempt = ctx.attempts,
            max_attempts = s.max_attempts, cause = %failure.cause(),
            delay_ms = delay.as_millis() as u64, "Xsolla request failed; retrying"
        );
        Ok(delay)
    }

    /// Total time allowed across the attempts of one request.
    fn budget(&self) -> Duration {
        Duration::from_millis(self.settings.retry_budget_ms)
    }

    /// One try: send, read the whole body, check status and content type.
    async fn attempt(&self, call: &Call<'_>, timeout: Duration) -> Result<Reply, Failure> {
        let Call {
            method,
            url,
            expect,
            ref body,
        } = *call;
        let mut req = self
            .client
            .request(method.clone(), url.clone())
            .basic_auth(self.merchant_id, Some(self.key.expose()))
            .header(ACCEPT, expect.accept())
            .timeout(timeout);
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, "application/json").body(b.clone());
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
    // Sized from Content-Length up front (within the limit): growing by doubling copied a
    // registry page's megabytes several times over.
    let announced = resp.content_length().unwrap_or(0).min(limit);
    let mut buf = BytesMut::with_capacity(usize::try_from(announced).unwrap_or(0));
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::response::Response;
    use base64::Engine as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex as StdMutex};

    const KEY: &str = "sk-test-SECRET-0123456789";
    const MERCHANT: i64 = 100_001;

    /// One scripted answer of the test server; the last one repeats.
    #[derive(Clone)]
    enum Step {
        Reply {
            status: u16,
            headers: Vec<(&'static str, String)>,
            body: Vec<u8>,
            delay_ms: u64,
        },
        /// 200 declaring `declared` bytes, sending `sent`, then cutting the connection.
        Truncated { declared: usize, sent: Vec<u8> },
        /// 200 with a chunked body (no Content-Length).
        Chunked(Vec<&'static str>),
    }

    fn reply(status: u16, content_type: &str, body: &str) -> Step {
        Step::Reply {
            status,
            headers: vec![("content-type", content_type.to_owned())],
            body: body.as_bytes().to_vec(),
            delay_ms: 0,
        }
    }

    fn json(status: u16, body: &str) -> Step {
        reply(status, "application/json", body)
    }

    fn ok() -> Step {
        json(200, r#"[{"id": 1}]"#)
    }

    impl Step {
        fn header(mut self, name: &'static str, value: &str) -> Self {
            if let Step::Reply { headers, .. } = &mut self {
                headers.push((name, value.to_owned()));
            }
            self
        }
        fn delay(mut self, ms: u64) -> Self {
            if let Step::Reply { delay_ms, .. } = &mut self {
                *delay_ms = ms;
            }
            self
        }
    }

    #[derive(Debug, Clone)]
    struct Hit {
        method: String,
        uri: String,
        headers: reqwest::header::HeaderMap,
        body: Vec<u8>,
    }

    struct Server {
        script: Vec<Step>,
        hits: StdMutex<Vec<Hit>>,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
    }

    struct TestServer {
        base: String,
        state: Arc<Server>,
    }

    impl TestServer {
        fn hits(&self) -> Vec<Hit> {
            self.state.hits.lock().unwrap().clone()
        }
        fn count(&self) -> usize {
            self.state.hits.lock().unwrap().len()
        }
    }

    /// Decrements the in-flight count even when the client gives up and the handler is dropped.
    struct InFlight<'a>(&'a AtomicUsize);
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    async fn handle(State(st): State<Arc<Server>>, req: Request) -> Response {
        let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = InFlight(&st.in_flight);
        st.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let n = {
            let mut hits = st.hits.lock().unwrap();
            hits.push(Hit {
                method: parts.method.to_string(),
                uri: parts.uri.to_string(),
                headers: parts.headers.clone(),
                body: body.to_vec(),
            });
            hits.len() - 1
        };
        let step = st.script.get(n).or(st.script.last()).cloned().unwrap();
        match step {
            Step::Reply {
                status,
                headers,
                body,
                delay_ms,
            } => {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                let mut b = Response::builder().status(status);
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                b.body(Body::from(body)).unwrap()
            }
            Step::Truncated { declared, sent } => {
                let chunks: Vec<Result<Bytes, std::io::Error>> =
                    vec![Ok(Bytes::from(sent)), Err(std::io::Error::other("cut"))];
                Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .header("content-length", declared.to_string())
                    .body(Body::from_stream(futures::stream::iter(chunks)))
                    .unwrap()
            }
            Step::Chunked(parts) => {
                let chunks = parts.into_iter().map(Ok::<_, std::io::Error>);
                Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(Body::from_stream(futures::stream::iter(chunks)))
                    .unwrap()
            }
        }
    }

    async fn serve(script: Vec<Step>) -> TestServer {
        let state = Arc::new(Server {
            script,
            hits: StdMutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestServer {
            base: format!("http://{addr}/merchant/v2"),
            state,
        }
    }

    /// Tiny delays so the suite runs in seconds.
    fn fast() -> HttpSettings {
        HttpSettings {
            connect_timeout_ms: 1_000,
            request_timeout_ms: 2_000,
            max_attempts: 4,
            retry_budget_ms: 10_000,
            backoff_initial_ms: 10,
            backoff_max_ms: 20,
            min_request_interval_ms: 0,
            max_concurrency: 4,
            max_body_bytes: 1 << 20,
            ..HttpSettings::default()
        }
    }

    fn transport(srv: &TestServer, settings: HttpSettings) -> Transport {
        Transport::new(&srv.base, MERCHANT, ApiKey::new(KEY), settings).unwrap()
    }

    fn decode_json(r: &Reply) -> Result<serde_json::Value, DecodeError> {
        serde_json::from_slice(&r.body).map_err(|e| DecodeError::Json {
            line: e.line(),
            column: e.column(),
            detail: e.to_string(),
        })
    }

    async fn get_json(t: &Transport) -> Result<(Reply, serde_json::Value), XsollaError> {
        t.get(
            "merchants/100001/reports/transfers",
            &[("datetime_from", "2024-01-01".to_owned())],
            Expect::Json,
            decode_json,
        )
        .await
    }

    /// Fails if the key, or the Basic credentials built from it, appear in `text`.
    fn assert_no_secret(text: &str) {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{MERCHANT}:{KEY}"));
        assert!(!text.contains(KEY), "key leaked: {text}");
        assert!(!text.contains(&basic), "credentials leaked: {text}");
    }

    /// Display of an error after checking that neither Display nor Debug leaks the key.
    fn shown(e: &XsollaError) -> String {
        let text = e.to_string();
        assert_no_secret(&text);
        assert_no_secret(&format!("{e:?}"));
        text
    }

    #[derive(Clone, Default)]
    struct LogBuf(Arc<StdMutex<Vec<u8>>>);
    impl std::io::Write for LogBuf {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl LogBuf {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    /// Captures this thread's tracing output (tests run on a current-thread runtime).
    fn capture_logs() -> (LogBuf, tracing::subscriber::DefaultGuard) {
        let buf = LogBuf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (buf, tracing::subscriber::set_default(subscriber))
    }

    #[test]
    fn retried_statuses_are_pinned() {
        let list: Vec<String> = (100..=599u16)
            .filter(|&s| is_retryable_status(s))
            .map(|s| s.to_string())
            .collect();
        insta::assert_snapshot!(list.join(" "), @"408 429 500 502 503 504 506 507 508 509 510 511 512 513 514 515 516 517 518 519 520 521 522 523 524 525 526 527 528 529 530 531 532 533 534 535 536 537 538 539 540 541 542 543 544 545 546 547 548 549 550 551 552 553 554 555 556 557 558 559 560 561 562 563 564 565 566 567 568 569 570 571 572 573 574 575 576 577 578 579 580 581 582 583 584 585 586 587 588 589 590 591 592 593 594 595 596 597 598 599");
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 5 ", now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        // 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:14:50 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after(&httpdate::fmt_http_date(now + Duration::from_secs(7)), now),
            Some(Duration::from_secs(7))
        );
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("1.5", now), None);
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn backoff_grows_with_jitter_within_bounds() {
        let mut rng = StdRng::seed_from_u64(7);
        for retry in 1..=12 {
            let cap = (500u64 << retry).min(30_000);
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..200 {
                let d = backoff_delay(500, 30_000, retry, &mut rng).as_millis() as u64;
                assert!((500..=cap).contains(&d), "retry {retry}: {d} ms");
                seen.insert(d);
            }
            assert!(seen.len() > 10, "no jitter at retry {retry}");
        }
        assert_eq!(
            backoff_delay(10, 10, 3, &mut rng),
            Duration::from_millis(10)
        );
        assert_eq!(backoff_delay(0, 0, 100, &mut rng), Duration::ZERO);
    }

    #[test]
    fn settings_defaults_and_config_table() {
        let d = HttpSettings::default();
        assert_eq!(d.connect_timeout_ms, 10_000);
        assert_eq!(d.request_timeout_ms, 120_000);
        assert_eq!(d.max_attempts, 6);
        assert_eq!(d.retry_budget_ms, 300_000);
        assert_eq!(d.backoff_initial_ms, 500);
        assert_eq!(d.backoff_max_ms, 30_000);
        assert_eq!(d.min_request_interval_ms, 500);
        assert_eq!(d.max_concurrency, 2);
        assert_eq!(d.max_body_bytes, 256 * 1024 * 1024);
        assert_eq!(
            d.user_agent,
            format!("xsolla-recon/{}", env!("CARGO_PKG_VERSION"))
        );
        d.validate().unwrap();

        let s: HttpSettings = toml::from_str("max_attempts = 3\nmax_concurrency = 1").unwrap();
        assert_eq!(
            (s.max_attempts, s.max_concurrency, s.backoff_max_ms),
            (3, 1, 30_000)
        );
        assert!(toml::from_str::<HttpSettings>("max_attempt = 3").is_err());

        let zero = HttpSettings {
            max_concurrency: 0,
            ..HttpSettings::default()
        };
        let e = Transport::new(
            "https://api.xsolla.com/merchant/v2",
            1,
            ApiKey::new(KEY),
            zero,
        )
        .unwrap_err();
        assert!(shown(&e).contains("max_concurrency"));
    }

    #[test]
    fn secrets_never_print() {
        let key = ApiKey::new(KEY);
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
        assert_eq!(format!("{key}"), "<redacted>");
        assert_eq!(key.expose(), KEY);
        let t = Transport::new(
            "https://api.xsolla.com/merchant/v2",
            MERCHANT,
            key,
            HttpSettings::default(),
        )
        .unwrap();
        let dbg = format!("{t:?}");
        assert_no_secret(&dbg);
        assert!(
            dbg.contains("<redacted>") && dbg.contains("100001"),
            "{dbg}"
        );
        assert_eq!(t.merchant_id(), MERCHANT);
        assert_eq!(t.settings().max_attempts, 6);
        assert_eq!(t.base_url(), "https://api.xsolla.com/merchant/v2/");

        // A base URL carrying credentials is refused without echoing them.
        let e = Transport::new(
            &format!("https://{MERCHANT}:{KEY}@api.xsolla.com/merchant/v2"),
            MERCHANT,
            ApiKey::new(KEY),
            HttpSettings::default(),
        )
        .unwrap_err();
        assert!(shown(&e).contains("user info"));
        let e = Transport::new(
            &format!("not a url {KEY}@"),
            MERCHANT,
            ApiKey::new(KEY),
            HttpSettings::default(),
        )
        .unwrap_err();
        shown(&e);
        let e =
            Transport::new("ftp://x/y", 1, ApiKey::new(KEY), HttpSettings::default()).unwrap_err();
        assert!(shown(&e).contains("http or https"));
    }

    #[tokio::test]
    async fn sends_auth_accept_and_keeps_the_base_prefix() {
        let srv = serve(vec![
            ok(),
            reply(200, "text/csv; charset=utf-8", "a,b\n1,2\n"),
        ])
        .await;
        let t = transport(&srv, fast());
        let (r, v) = t
            .get(
                "/merchants/100001/reports/transfers",
                &[
                    ("datetime_from", "2024-01-01".to_owned()),
                    ("q", "a b&c".to_owned()),
                ],
                Expect::Json,
                decode_json,
            )
            .await
            .unwrap();
        assert_eq!(v, serde_json::json!([{"id": 1}]));
        assert_eq!(r.status, 200);
        assert_eq!(r.attempts, 1);
        assert_eq!(r.method, "GET");
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(r.body.as_ref(), br#"[{"id": 1}]"#);
        assert_eq!(
            r.url,
            format!(
                "{}/merchants/100001/reports/transfers?datetime_from=2024-01-01&q=a+b%26c",
                srv.base
            )
        );
        assert_no_secret(&r.url);

        let (csv, n) = t
            .get(
                "merchants/100001/reports/transactions/registry.csv",
                &[],
                Expect::Csv,
                |r| Ok(r.body.len()),
            )
            .await
            .unwrap();
        assert_eq!(n, 8);
        assert!(!csv.url.contains('?'));

        let hits = srv.hits();
        let h = &hits[0];
        assert_eq!(h.method, "GET");
        assert_eq!(
            h.uri,
            "/merchant/v2/merchants/100001/reports/transfers?datetime_from=2024-01-01&q=a+b%26c"
        );
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{MERCHANT}:{KEY}"));
        assert_eq!(
            h.headers["authorization"],
            format!("Basic {basic}").as_str()
        );
        assert_eq!(h.headers["accept"], "application/json");
        assert_eq!(
            h.headers["user-agent"],
            format!("xsolla-recon/{}", env!("CARGO_PKG_VERSION")).as_str()
        );
        assert!(hits[1].headers["accept"]
            .to_str()
            .unwrap()
            .contains("text/csv"));
    }

    #[tokio::test]
    async fn send_json_puts_a_json_body_and_accepts_204_or_json() {
        let srv = serve(vec![
            reply(204, "", ""),
            json(
                200,
                r#"{"message": "The request for a refund has been accepted."}"#,
            ),
        ])
        .await;
        let t = transport(&srv, fast());
        let r = t
            .send_json(
                Method::PUT,
                "merchants/100001/reports/transactions/42/refund",
                Some(br#"{"description":"test refund request"}"#.to_vec()),
            )
            .await
            .unwrap();
        assert_eq!((r.status, r.body.len(), r.method.as_str()), (204, 0, "PUT"));
        let r = t
            .send_json(
                Method::POST,
                "merchants/100001/projects/7/payments/42/chargeback",
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        let hits = srv.hits();
        assert_eq!(hits[0].method, "PUT");
        assert_eq!(hits[0].headers["content-type"], "application/json");
        assert_eq!(hits[0].body, br#"{"description":"test refund request"}"#);
        assert_eq!(hits[1].method, "POST");
        assert!(hits[1].body.is_empty());
    }

    #[tokio::test]
    async fn retry_after_is_honoured() {
        let srv = serve(vec![
            json(429, r#"{"message": "Too many requests"}"#).header("retry-after", "1"),
            ok(),
        ])
        .await;
        let t = transport(&srv, fast());
        let started = std::time::Instant::now();
        let (r, _) = get_json(&t).await.unwrap();
        assert_eq!(r.attempts, 2);
        assert_eq!(srv.count(), 2);
        // Retry-After beats backoff_max (20 ms here).
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert!(r.elapsed >= Duration::from_secs(1));
    }

    #[tokio::test]
    async fn retry_after_beyond_budget_fails_at_once() {
        let srv = serve(vec![
            json(503, r#"{"message": "Maintenance"}"#).header("retry-after", "3600"),
            ok(),
        ])
        .await;
        let t = transport(&srv, fast());
        let started = std::time::Instant::now();
        let e = get_json(&t).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(srv.count(), 1);
        assert!(
            matches!(e, XsollaError::RetryAfterBeyondBudget { status: 503, .. }),
            "{e:?}"
        );
        let text = shown(&e);
        assert!(text.contains("Retry-After of 3600 s"), "{text}");
        assert!(text.contains("retry budget"), "{text}");
        assert!(text.contains(&format!(
            "GET {}/merchants/100001/reports/transfers",
            srv.base
        )));
        assert_eq!(e.status(), Some(503));
    }

    #[tokio::test]
    async fn server_errors_are_retried_and_logged_without_the_key() {
        let (logs, _guard) = capture_logs();
        let srv = serve(vec![
            json(500, r#"{"http_status_code": 500, "message": "Internal Server Error", "extended_message": null, "request_id": "6445b85"}"#),
            reply(502, "text/html", "<html><body>Bad gateway</body></html>"),
            json(503, "{}"),
            ok(),
        ])
        .await;
        let t = transport(&srv, fast());
        let (r, v) = get_json(&t).await.unwrap();
        assert_eq!((r.attempts, srv.count()), (4, 4));
        assert_eq!(v[0]["id"], 1);
        let logs = logs.text();
        assert_no_secret(&logs);
        assert_eq!(logs.matches("retrying").count(), 3, "{logs}");
        assert!(logs.contains("WARN"));
        assert!(
            logs.contains("HTTP 500") && logs.contains("6445b85"),
            "{logs}"
        );
        assert!(logs.contains("/merchant/v2/merchants/100001/reports/transfers"));
        assert!(
            logs.contains("attempt=1") && logs.contains("delay_ms="),
            "{logs}"
        );
    }

    #[tokio::test]
    async fn client_errors_are_not_retried_and_show_xsolla_words() {
        for status in [400u16, 404, 409, 422] {
            let body = format!(
                r#"{{"http_status_code": {status}, "message": "Bad thing {status}", "extended_message": {{"property_errors": {{"datetime_to": ["too far"]}}}}, "request_id": "req-{status}"}}"#
            );
            let srv = serve(vec![json(status, &body), ok()]).await;
            let t = transport(&srv, fast());
            let e = get_json(&t).await.unwrap_err();
            assert_eq!(srv.count(), 1, "status {status} was retried");
            assert_eq!(e.status(), Some(status));
            let text = shown(&e);
            assert!(text.contains(&format!("HTTP {status}")), "{text}");
            assert!(text.contains(&format!("Bad thing {status}")), "{text}");
            assert!(
                text.contains(&format!("request_id: req-{status}")),
                "{text}"
            );
            assert!(
                text.contains(r#"{"property_errors":{"datetime_to":["too far"]}}"#),
                "{text}"
            );
            assert!(text.contains("after 1 attempt(s)"), "{text}");
            assert!(text.contains(&srv.base), "{text}");
        }
        // The short 404 body.
        let srv = serve(vec![json(404, r#"{"message": "Transaction not found"}"#)]).await;
        let e = get_json(&transport(&srv, fast())).await.unwrap_err();
        assert!(shown(&e).contains("\"Transaction not found\""));
    }

    #[tokio::test]
    async fn auth_errors_carry_hints() {
        let srv = serve(vec![json(401, r#"{"message": "Invalid API key"}"#)]).await;
        let e = get_json(&transport(&srv, fast())).await.unwrap_err();
        assert_eq!(srv.count(), 1);
        let text = shown(&e);
        assert!(text.contains("check merchant_id 100001 and the API key in the environment variable XSOLLA_API_KEY; Xsolla rejected the credentials"), "{text}");

        let t = transport(&srv, fast()).with_key_env("ACME_XSOLLA_KEY");
        let text = shown(&get_json(&t).await.unwrap_err());
        assert!(
            text.contains("environment variable ACME_XSOLLA_KEY"),
            "{text}"
        );

        let srv = serve(vec![json(403, r#"{"message": "Forbidden"}"#)]).await;
        let e = get_json(&transport(&srv, fast())).await.unwrap_err();
        assert_eq!(srv.count(), 1);
        let text = shown(&e);
        assert!(text.contains("project-level key"), "{text}");
        assert!(
            text.contains("company-level key valid in all the company's projects"),
            "{text}"
        );
        assert!(text.contains("Company settings → API keys"), "{text}");
        assert!(text.contains("lacks permission"), "{text}");
    }

    #[tokio::test]
    async fn exhausted_attempts_name_url_and_count() {
        let srv = serve(vec![reply(
            503,
            "text/html",
            &format!(
                "<html><head><title>503 Service Unavailable</title></head><body>{}</body></html>",
                "z".repeat(5000)
            ),
        )])
        .await;
        let t = transport(
            &srv,
            HttpSettings {
                max_attempts: 3,
                ..fast()
            },
        );
        let e = get_json(&t).await.unwrap_err();
        assert_eq!(srv.count(), 3);
        let text = shown(&e);
        assert!(text.contains("after 3 attempt(s)"), "{text}");
        assert!(text.contains(&format!(
            "{}/merchants/100001/reports/transfers?datetime_from=2024-01-01",
            srv.base
        )));
        // The HTML body is shown, but only its start.
        assert!(
            text.contains("body starts: \"<html><head><title>503 Service Unavailable"),
            "{text}"
        );
        assert!(text.len() < 1500, "{text}");
    }

    #[tokio::test]
    async fn spent_budget_stops_retries_with_the_last_cause() {
        let srv = serve(vec![json(
            500,
            r#"{"message": "boom", "request_id": "r1"}"#,
        )])
        .await;
        let settings = HttpSettings {
            retry_budget_ms: 100,
            backoff_initial_ms: 200,
            backoff_max_ms: 400,
            ..fast()
        };
        let e = get_json(&transport(&srv, settings)).await.unwrap_err();
        assert_eq!(srv.count(), 1);
        assert!(
            matches!(e, XsollaError::RetryBudgetExhausted { attempts: 1, .. }),
            "{e:?}"
        );
        let text = shown(&e);
        assert!(text.contains("retry budget of 100 ms spent"), "{text}");
        assert!(
            text.contains("last error: GET") && text.contains("HTTP 500"),
            "{text}"
        );
        assert!(text.contains("r1"), "{text}");
    }

    #[tokio::test]
    async fn timeouts_are_retried() {
        let srv = serve(vec![ok().delay(1_000), ok()]).await;
        let settings = HttpSettings {
            request_timeout_ms: 200,
            ..fast()
        };
        let (r, _) = get_json(&transport(&srv, settings.clone())).await.unwrap();
        assert_eq!(r.attempts, 2);

        let srv = serve(vec![ok().delay(1_000)]).await;
        let settings = HttpSettings {
            max_attempts: 2,
            ..settings
        };
        let e = get_json(&transport(&srv, settings)).await.unwrap_err();
        assert!(
            matches!(
                e,
                XsollaError::Connection {
                    timed_out: true,
                    attempts: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        let text = shown(&e);
        assert!(
            text.contains("timed out after 2 attempt(s)") && text.contains(&srv.base),
            "{text}"
        );
    }

    #[tokio::test]
    async fn refused_connections_are_retried_then_reported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let t = Transport::new(
            &format!("http://{addr}/merchant/v2"),
            MERCHANT,
            ApiKey::new(KEY),
            HttpSettings {
                max_attempts: 2,
                ..fast()
            },
        )
        .unwrap();
        let e = get_json(&t).await.unwrap_err();
        assert!(
            matches!(
                e,
                XsollaError::Connection {
                    timed_out: false,
                    attempts: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(shown(&e).contains(&addr.to_string()));
    }

    #[tokio::test]
    async fn truncated_bodies_are_retried() {
        let cut = Step::Truncated {
            declared: 100,
            sent: br#"[{"id": "#.to_vec(),
        };
        let srv = serve(vec![cut.clone(), ok()]).await;
        let (r, v) = get_json(&transport(&srv, fast())).await.unwrap();
        assert_eq!((r.attempts, srv.count()), (2, 2));
        assert_eq!(v[0]["id"], 1);

        let srv = serve(vec![cut]).await;
        let e = get_json(&transport(
            &srv,
            HttpSettings {
                max_attempts: 2,
                ..fast()
            },
        ))
        .await
        .unwrap_err();
        assert!(
            matches!(e, XsollaError::Connection { attempts: 2, .. }),
            "{e:?}"
        );
        shown(&e);
    }

    #[tokio::test]
    async fn decode_failures_are_retried_then_surface_with_the_url() {
        let broken = json(200, r#"[{"id": 1}, {"id""#);
        let srv = serve(vec![broken.clone(), ok()]).await;
        let (r, _) = get_json(&transport(&srv, fast())).await.unwrap();
        assert_eq!(r.attempts, 2);

        let srv = serve(vec![broken]).await;
        let e = get_json(&transport(
            &srv,
            HttpSettings {
                max_attempts: 3,
                ..fast()
            },
        ))
        .await
        .unwrap_err();
        assert_eq!(srv.count(), 3);
        let XsollaError::Decode {
            source,
            attempts,
            url,
            ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!(*attempts, 3);
        assert!(url.contains("/merchants/100001/reports/transfers"));
        assert!(matches!(**source, DecodeError::Json { line: 1, .. }));
        assert!(std::error::Error::source(&e).is_some());
        assert!(
            shown(&e).contains("cannot decode the response body after 3 attempt(s): invalid JSON")
        );
    }

    #[tokio::test]
    async fn wrong_content_type_and_empty_bodies_are_retried() {
        let maintenance = reply(
            200,
            "text/html; charset=utf-8",
            "<html><body>Down for maintenance</body></html>",
        );
        let srv = serve(vec![maintenance.clone(), json(200, "  "), ok()]).await;
        let (r, _) = get_json(&transport(&srv, fast())).await.unwrap();
        assert_eq!(r.attempts, 3);

        let srv = serve(vec![maintenance]).await;
        let e = get_json(&transport(
            &srv,
            HttpSettings {
                max_attempts: 2,
                ..fast()
            },
        ))
        .await
        .unwrap_err();
        assert_eq!(srv.count(), 2);
        let text = shown(&e);
        assert!(
            text.contains("expected application/json, got Content-Type text/html; charset=utf-8"),
            "{text}"
        );
        assert!(text.contains("Down for maintenance"), "{text}");

        // HTML is not CSV either; a JSON body with no Content-Type is left to the decoder.
        assert!(!Expect::Csv.allows(Some("text/html")));
        assert!(!Expect::Csv.allows(Some("application/json")));
        assert!(Expect::Csv.allows(Some("application/octet-stream")));
        assert!(Expect::Json.allows(None));
        assert!(Expect::Json.allows(Some("application/problem+json")));
        assert!(!Expect::Empty.allows(Some("text/html")));
    }

    #[tokio::test]
    async fn oversized_bodies_fail_without_retry() {
        let srv = serve(vec![json(200, &format!("[{}]", "1,".repeat(100) + "1"))]).await;
        let e = get_json(&transport(
            &srv,
            HttpSettings {
                max_body_bytes: 50,
                ..fast()
            },
        ))
        .await
        .unwrap_err();
        assert_eq!(srv.count(), 1);
        assert!(
            matches!(e, XsollaError::BodyTooLarge { limit: 50, .. }),
            "{e:?}"
        );
        assert!(shown(&e).contains("larger than the limit of 50 bytes"));

        // Without Content-Length the limit holds while reading.
        let part = "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1";
        let srv = serve(vec![Step::Chunked(vec![part, part, part])]).await;
        let e = get_json(&transport(
            &srv,
            HttpSettings {
                max_body_bytes: 50,
                ..fast()
            },
        ))
        .await
        .unwrap_err();
        assert_eq!(srv.count(), 1);
        assert!(
            matches!(
                e,
                XsollaError::BodyTooLarge {
                    limit: 50,
                    received: 60,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn requests_are_spaced_by_the_rate_limit() {
        let srv = serve(vec![ok()]).await;
        let t = transport(
            &srv,
            HttpSettings {
                min_request_interval_ms: 100,
                ..fast()
            },
        );
        let started = std::time::Instant::now();
        let results = futures::future::join_all((0..4).map(|_| get_json(&t))).await;
        assert!(results.iter().all(Result::is_ok));
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
        let started = std::time::Instant::now();
        for _ in 0..3 {
            get_json(&t).await.unwrap();
        }
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn concurrency_is_capped() {
        let srv = serve(vec![ok().delay(50)]).await;
        let t = transport(
            &srv,
            HttpSettings {
                max_concurrency: 2,
                ..fast()
            },
        );
        let results = futures::future::join_all((0..6).map(|_| get_json(&t))).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(srv.count(), 6);
        assert_eq!(srv.state.max_in_flight.load(Ordering::SeqCst), 2);
    }
}
