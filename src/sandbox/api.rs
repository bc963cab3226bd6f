//! HTTP routes: the Reports API paths, auth, Xsolla error bodies and the fault middleware.

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use base64::Engine;
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::data::{
    payout_date, period_of, report_id_of, report_month, Dataset, MutationError, RowRef, Status,
    CURRENCIES, PAYOUT, PROJECTS,
};
use super::faults::{pick, Fault, FaultRule, RuleState};
use super::render::{self, amount_number, number, RowView};
use super::{ConnCtl, RequestRecord, Shared};

/// The longest window the report calls accept (docs/xsolla-api.md §1.1).
const MAX_WINDOW_DAYS: i64 = 92;

/// An error answered with Xsolla's body. The body (which needs the request id) is written by
/// the middleware; the handler only leaves this marker in the response extensions.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut resp = status.into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

/// `{"http_status_code", "message", "extended_message", "request_id"}` (docs/xsolla-api.md §0.2).
pub(crate) fn error_body(status: StatusCode, message: &str, request_no: u64) -> Vec<u8> {
    render::value_bytes(&json!({
        "http_status_code": status.as_u16(),
        "message": message,
        "extended_message": null,
        "request_id": format!("{request_no:08x}"),
    }))
}

type ApiResult = Result<Response, ApiError>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let tx = "/merchant/v2/merchants/{merchant_id}/reports/transactions";
    Router::new()
        .route(&format!("{tx}/{{file}}"), get(transactions_file))
        .route(&format!("{tx}/summary/transfer"), get(window_call(breakdown_json)))
        .route(&format!("{tx}/{{transaction_id}}/details"), get(details))
        .route(&format!("{tx}/{{transaction_id}}/refund"), put(refund))
        .route(
            &format!("{tx}/{{transaction_id}}/partial_refund"),
            put(partial_refund),
        )
        .route(
            "/merchant/v2/merchants/{merchant_id}/reports/transfers",
            get(window_call(transfers_json)),
        )
        .route("/merchant/v2/merchants/{merchant_id}/reports", get(window_call(reports_json)))
        .route(
            "/merchant/v2/merchants/{merchant_id}/projects/{project_id}/payments/{transaction_id}/chargeback",
            post(chargeback),
        )
        .route("/__sandbox/faults", post(add_faults).delete(clear_faults))
        .route("/__sandbox/health", get(|| async { "ok" }))
        .fallback(|| async { ApiError::not_found("Not Found") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        })
        .layer(axum::middleware::from_fn_with_state(shared.clone(), middleware))
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------------
// Middleware: request log, faults, error bodies.

async fn middleware(State(sh): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let no = sh.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let fault = sh.fault_for(req.uri().path(), req.uri().query().unwrap_or(""));
    // Admin calls are not the client's API traffic.
    let _counted = (!req.uri().path().starts_with("/__sandbox")).then(|| sh.in_flight.enter());
    if let Some(f) = &fault {
        tracing::debug!(
            request = no,
            fault = f.name(),
            path = %req.uri().path(),
            "sandbox fault"
        );
    }
    // Logged even when the client gives up mid-way (a Slow fault past its timeout drops this
    // future): 499, "client closed request", until a real status is known.
    let mut log = LogOnDrop {
        shared: sh.clone(),
        record: Some(RequestRecord {
            method: req.method().to_string(),
            path: req.uri().path().to_owned(),
            query: req.uri().query().map(str::to_owned),
            status: 499,
            fault: fault.as_ref().map(|f| f.name().to_owned()),
        }),
    };
    let (resp, status) = respond(fault, req, next, no).await;
    if let Some(r) = log.record.as_mut() {
        r.status = status;
    }
    drop(log);
    resp
}

impl Shared {
    /// The fault that fires on this request, if any; the admin routes never get one.
    fn fault_for(&self, path: &str, query: &str) -> Option<Fault> {
        if path.starts_with("/__sandbox") {
            return None;
        }
        pick(
            &mut self.faults.lock().unwrap_or_else(|e| e.into_inner()),
            path,
            query,
        )
    }
}

/// The response to a request under `fault`, and the status to log (0 when the connection
/// was cut before any response).
async fn respond(fault: Option<Fault>, mut req: Request, next: Next, no: u64) -> (Response, u16) {
    let resp = match fault {
        None => finish(next.run(req).await, no),
        Some(Fault::Slow { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            finish(next.run(req).await, no)
        }
        Some(Fault::TooManyRequests { retry_after }) => too_many_requests(retry_after, no),
        Some(Fault::Status { code }) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error_response(status, status.canonical_reason().unwrap_or("Error"), no)
        }
        Some(Fault::DropConnection) => {
            if let Some(c) = req.extensions().get::<ConnectInfo<ConnCtl>>() {
                c.0.kill();
            }
            return (StatusCode::INTERNAL_SERVER_ERROR.into_response(), 0);
        }
        Some(Fault::TruncateBody) => cut_connection_mid_body(finish(next.run(req).await, no)).await,
        Some(Fault::TruncatedJson) => half_body(finish(next.run(req).await, no)).await,
        Some(Fault::EmptyOk) => {
            ([(header::CONTENT_TYPE, "application/json")], Body::empty()).into_response()
        }
        Some(Fault::WrongContentType) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<html>maintenance</html>",
        )
            .into_response(),
        Some(Fault::RepeatPreviousPage) => {
            let uri = previous_page_uri(req.uri());
            *req.uri_mut() = uri;
            finish(next.run(req).await, no)
        }
    };
    let status = resp.status().as_u16();
    (resp, status)
}

/// 429 with Xsolla's body, and the rule's `Retry-After` sent verbatim (when a valid header).
fn too_many_requests(retry_after: Option<String>, no: u64) -> Response {
    let mut r = error_response(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests", no);
    if let Some(v) = retry_after
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// The full headers (Content-Length of the whole body), half the body, then an I/O error
/// that aborts the connection.
async fn cut_connection_mid_body(inner: Response) -> Response {
    let (parts, body) = inner.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let full = bytes.len();
    let half = bytes.slice(..full / 2);
    let stream = futures::stream::iter(vec![Ok::<Bytes, std::io::Error>(half)]).chain(
        futures::stream::once(async {
            // Let the half body reach the socket before the connection is aborted.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(std::io::Error::other("sandbox fault: body truncated"))
        }),
    );
    let mut r = Response::from_parts(parts, Body::from_stream(stream));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full));
    r
}

/// A well-framed response whose body is the first half of the real one.
async fn half_body(inner: Response) -> Response {
    let (parts, body) = inner.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut r = Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)));
    r.headers_mut().remove(header::CONTENT_LENGTH);
    r
}

/// Writes its request record to the log when dropped, whether the handler finished or not.
struct LogOnDrop {
    shared: Arc<Shared>,
    record: Option<RequestRecord>,
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        if let Some(r) = self.record.take() {
            self.shared.record(r);
        }
    }
}

use futures::StreamExt as _;

/// Fills in the Xsolla error body of an [`ApiError`] response.
fn finish(resp: Response, no: u64) -> Response {
    match resp.extensions().get::<ApiError>() {
        Some(e) => error_response(e.status, &e.message.clone(), no),
        None => resp,
    }
}

fn error_response(status: StatusCode, message: &str, no: u64) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        error_body(status, message, no),
    )
        .into_response()
}

/// The same URI with `offset` moved back by `limit` (not below 0).
fn previous_page_uri(uri: &Uri) -> Uri {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    let offset = get("offset").unwrap_or(0);
    let limit = get("limit").unwrap_or(0);
    let prev = offset.saturating_sub(limit).to_string();
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    let mut seen = false;
    for (k, v) in &pairs {
        if k == "offset" {
            seen = true;
            ser.append_pair(k, &prev);
        } else {
            ser.append_pair(k, v);
        }
    }
    if !seen {
        ser.append_pair("offset", &prev);
    }
    let q = ser.finish();
    format!("{}?{}", uri.path(), q)
        .parse()
        .unwrap_or_else(|_| uri.clone())
}

// ---------------------------------------------------------------------------------------------
// Auth and parameters.

impl Shared {
    /// HTTP Basic `merchant_id:api_key`; the project key authenticates but may not read
    /// reports (docs/xsolla-api.md §0.1), and a path merchant other than the caller's is forbidden.
    fn authorize(&self, headers: &HeaderMap, path_merchant: &str) -> Result<(), ApiError> {
        let unauthorized =
            || ApiError::new(StatusCode::UNAUTHORIZED, "Invalid API key or merchant ID.");
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(unauthorized)?;
        let encoded = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
            .ok_or_else(unauthorized)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(unauthorized)?;
        let (user, key) = decoded.split_once(':').ok_or_else(unauthorized)?;
        if user.trim().parse::<i64>().ok() != Some(self.merchant_id) {
            return Err(unauthorized());
        }
        if key == self.api_key {
            // The caller is this merchant; the path must name it too.
        } else if self.project_key.as_deref() == Some(key) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Access denied. A project API key cannot be used for merchant-level calls; use a company API key.",
            ));
        } else {
            return Err(unauthorized());
        }
        if path_merchant.parse::<i64>().ok() != Some(self.merchant_id) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Access denied to this merchant.",
            ));
        }
        Ok(())
    }

    fn data(&self) -> std::sync::RwLockReadGuard<'_, Dataset> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }
    /// The dataset to change. The page index is emptied once the lock is held, so no page
    /// is found through checkpoints of the dataset before the change.
    fn data_mut(&self) -> std::sync::RwLockWriteGuard<'_, Dataset> {
        let guard = self.data.write().unwrap_or_else(|e| e.into_inner());
        self.page_index.clear();
        guard
    }
}

/// Query parameters (last value wins).
struct Params(HashMap<String, String>);

impl Params {
    fn parse(q: Option<&str>) -> Self {
        Params(
            url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }
    fn str(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(|s| s.trim()).filter(|s| !s.is_empty())
    }
    fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        self.str(k)
            .map(|v| v.parse::<i64>().map_err(|_| invalid(k, v, "an integer")))
            .transpose()
    }
    fn flag(&self, k: &str) -> Result<bool, ApiError> {
        match self.str(k).map(str::to_ascii_lowercase).as_deref() {
            None | Some("0") | Some("false") => Ok(false),
            Some("1") | Some("true") => Ok(true),
            Some(v) => Err(invalid(k, v, "0, 1, true or false")),
        }
    }
    fn date(&self, k: &str) -> Result<Option<NaiveDate>, ApiError> {
        self.str(k)
            .map(|v| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map_err(|_| invalid(k, v, "a date in the YYYY-MM-DD format"))
            })
            .transpose()
    }
    /// `offset` and `limit`: a `limit` over `max` is refused (422); one over `cap` is quietly
    /// served as `cap` rows, as a server with an undocumented page cap would.
    fn page(&self, max: u32, cap: Option<u32>) -> Result<(usize, Option<usize>), ApiError> {
        let offset = self.int("offset")?.unwrap_or(0);
        if offset < 0 {
            return Err(invalid("offset", &offset.to_string(), "a number from 0"));
        }
        let limit = self.int("limit")?;
        if let Some(l) = limit {
            if l < 1 || l > i64::from(max) {
                return Err(ApiError::unprocessable(format!(
                    "Invalid value of parameter limit: {l}. The limit must be between 1 and {max}."
                )));
            }
        }
        let limit = match (limit, cap) {
            (Some(l), Some(c)) => Some(l.min(i64::from(c))),
            (None, Some(c)) => Some(i64::from(c)),
            (l, None) => l,
        };
        Ok((offset as usize, limit.map(|l| l as usize)))
    }
    /// `datetime_from`/`datetime_to` as YYYY-MM-DD with the 92-day rule; `None` when both absent.
    fn window(&self) -> Result<Option<(NaiveDate, NaiveDate)>, ApiError> {
        match (self.date("datetime_from")?, self.date("datetime_to")?) {
            (None, None) => Ok(None),
            (Some(from), Some(to)) => {
                if from > to {
                    return Err(ApiError::unprocessable(
                        "datetime_from must not be later than datetime_to.",
                    ));
                }
                if (to - from).num_days() > MAX_WINDOW_DAYS {
                    return Err(ApiError::unprocessable(
                        "The difference between datetime_from and datetime_to cannot be more than 92 days.",
                    ));
                }
                Ok(Some((from, to)))
            }
            _ => Err(ApiError::unprocessable(
                "datetime_from and datetime_to must be passed together.",
            )),
        }
    }
}

fn invalid(k: &str, v: &str, expected: &str) -> ApiError {
    ApiError::unprocessable(format!(
        "Invalid value of parameter {k}: {v:?} is not {expected}."
    ))
}

fn body_response(content_type: &'static str, body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn json_response(body: Vec<u8>) -> Response {
    body_response("application/json", body)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn format_of(ext: &str) -> Result<Format, ApiError> {
    match ext {
        "json" => Ok(Format::Json),
        "csv" => Ok(Format::Csv),
        "xls" => Err(ApiError::unprocessable(
            "The xls format is not supported by the sandbox.",
        )),
        _ => Err(ApiError::not_found("Not Found")),
    }
}

fn render_rows<'a>(fmt: Format, views: impl Iterator<Item = RowView<'a>>) -> Response {
    match fmt {
        Format::Json => json_response(render::json_rows(views)),
        Format::Csv => body_response("text/csv; charset=utf-8", render::csv_rows(views)),
    }
}

// ---------------------------------------------------------------------------------------------
// Transactions.

async fn transactions_file(
    State(sh): State<Arc<Shared>>,
    Path((merchant, file)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    if let Some(ext) = file.strip_prefix("registry.") {
        let fmt = format_of(ext)?;
        sh.authorize(&headers, &merchant)?;
        registry(&sh, fmt, &Params::parse(q.as_deref()))
    } else if let Some(ext) = file.strip_prefix("search.") {
        let fmt = format_of(ext)?;
        sh.authorize(&headers, &merchant)?;
        search(&sh, fmt, &Params::parse(q.as_deref()))
    } else if file == "simple_search" {
        sh.authorize(&headers, &merchant)?;
        simple_search(&sh, &Params::parse(q.as_deref()))
    } else {
        Err(ApiError::not_found("Not Found"))
    }
}

/// Registry filters (docs/xsolla-api.md §1.1). `show_total` is accepted and ignored: the shape of the
/// totals it adds is unknown ([U] in docs/xsolla-api.md), so the sandbox never invents one.
pub(crate) struct RegistryQuery {
    pub window: Option<(NaiveDate, NaiveDate)>,
    pub in_transfer_currency: bool,
    pub direct: Option<bool>,
    pub project_id: Option<i64>,
    pub show_dry_run: bool,
    pub transfer_id: Option<i64>,
    pub report_id: Option<i64>,
    pub status: Option<String>,
    pub offset: usize,
    pub limit: Option<usize>,
}

impl RegistryQuery {
    fn parse(p: &Params, max_limit: u32, cap: Option<u32>) -> Result<Self, ApiError> {
        let window = p.window()?;
        let (offset, limit) = p.page(max_limit, cap)?;
        let transfer_id = p.int("transfer_id")?;
        let report_id = p.int("report_id")?;
        if window.is_none() && limit.is_none() && transfer_id.is_none() && report_id.is_none() {
            return Err(ApiError::unprocessable(
                "datetime_from and datetime_to are required unless limit is passed.",
            ));
        }
        let _ = p.flag("show_total")?;
        let direct = match p.str("merchant_of_records") {
            None => None,
            Some("merchant") => Some(true),
            Some("xsolla") => Some(false),
            Some(v) => return Err(invalid("merchant_of_records", v, "merchant or xsolla")),
        };
        Ok(RegistryQuery {
            window,
            in_transfer_currency: p.flag("in_transfer_currency")?,
            direct,
            project_id: p.int("project_id")?,
            show_dry_run: p.flag("show_dry_run")?,
            transfer_id,
            report_id,
            status: p.str("status").map(str::to_owned),
            offset,
            limit,
        })
    }

    /// Fault-free defaults over a window (what [`super::DatasetView::registry_json`] reads).
    pub(crate) fn window(from: NaiveDate, to: NaiveDate) -> Self {
        RegistryQuery {
            window: Some((from, to)),
            in_transfer_currency: false,
            direct: None,
            project_id: None,
            show_dry_run: false,
            transfer_id: None,
            report_id: None,
            status: None,
            offset: 0,
            limit: None,
        }
    }

    /// Every row of the query's page, found by walking its rows from the first (see
    /// [`RegistryQuery::select_indexed`] for the walk that starts near the page).
    pub(crate) fn select(&self, ds: &Dataset) -> Vec<RowRef> {
        self.walk(ds, &mut vec![0])
    }

    /// [`RegistryQuery::select`], walking from the checkpoint of `index` nearest below
    /// `offset` (and leaving the checkpoints it passed there for the next page of the query).
    /// Why: walking up to each page's offset made a year's paging quadratic in its rows.
    pub(crate) fn select_indexed(&self, ds: &Dataset, index: &PageIndex) -> Vec<RowRef> {
        let key = self.key();
        let mut map = index.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= PageIndex::MAX_QUERIES && !map.contains_key(&key) {
            map.clear();
        }
        self.walk(ds, map.entry(key).or_insert_with(|| vec![0]))
    }

    /// The filters (not the page, not the currency of the amounts): what picks the rows.
    fn key(&self) -> QueryKey {
        QueryKey {
            window: self.window,
            direct: self.direct,
            project_id: self.project_id,
            show_dry_run: self.show_dry_run,
            transfer_id: self.transfer_id,
            report_id: self.report_id,
            status: self.status.clone(),
        }
    }

    /// The page's rows. `checkpoints[k]` is a position in the query's rows with exactly
    /// `k * STRIDE` matching rows before it (`checkpoints[0] == 0`); the walk starts at the
    /// last one not past `offset` and appends those it meets beyond the known ones.
    fn walk(&self, ds: &Dataset, checkpoints: &mut Vec<usize>) -> Vec<RowRef> {
        let rows = self.rows(ds);
        let stride = PageIndex::STRIDE;
        let k = (self.offset / stride).min(checkpoints.len() - 1);
        let mut seen = k * stride;
        let limit = self.limit.unwrap_or(usize::MAX);
        let mut page = Vec::new();
        for (i, r) in rows.iter().enumerate().skip(checkpoints[k]) {
            if page.len() >= limit {
                break;
            }
            if !self.matches(ds, r) {
                continue;
            }
            if seen % stride == 0 && seen / stride == checkpoints.len() {
                checkpoints.push(i);
            }
            if seen >= self.offset {
                page.push(*r);
            }
            seen += 1;
        }
        page
    }

    /// The rows the filters are tested on: the window's, narrowed to a payout's (report's)
    /// period when one is asked for.
    fn rows<'d>(&self, ds: &'d Dataset) -> &'d [RowRef] {
        let mut rows = ds.rows_in(self.window);
        // The rows of a payout (or report) are those of its half-month (month) in the served
        // zone: one run of the rows, which are sorted by time, so found by bisection rather
        // than by testing every row of the data on every page (that made a year's payout
        // reads cost seconds per page).
        if let Some(id) = self.transfer_id {
            rows = run_of(rows, id, |at| period_of(ds.local_date(at)).0);
        }
        if let Some(id) = self.report_id {
            rows = run_of(rows, id, |at| report_id_of(ds.local_date(at)));
        }
        rows
    }

    fn matches(&self, ds: &Dataset, r: &RowRef) -> bool {
        let t = &ds.txns[r.txn as usize];
        (self.show_dry_run || !t.dry_run)
            && self.direct.is_none_or(|d| d == t.direct)
            && self
                .project_id
                .is_none_or(|p| PROJECTS[t.project as usize].id == p)
            && self
                .status
                .as_deref()
                .is_none_or(|s| s == t.status.as_str())
            && self
                .transfer_id
                .is_none_or(|id| ds.row_payout(*r) == Some(id))
            && self
                .report_id
                .is_none_or(|id| ds.row_report(*r) == Some(id))
    }
}

/// What picks a registry query's rows: the key of its checkpoints in [`PageIndex`].
#[derive(Clone, PartialEq, Eq, Hash)]
struct QueryKey {
    window: Option<(NaiveDate, NaiveDate)>,
    direct: Option<bool>,
    project_id: Option<i64>,
    show_dry_run: bool,
    transfer_id: Option<i64>,
    report_id: Option<i64>,
    status: Option<String>,
}

/// Per registry query, where every [`PageIndex::STRIDE`]-th matching row lies, so that a page
/// at a large `offset` is found without testing the rows before it. It describes the dataset
/// as it is: [`Shared`] empties it whenever the dataset changes (refunds, chargebacks).
#[derive(Default)]
pub(crate) struct PageIndex {
    map: std::sync::Mutex<HashMap<QueryKey, Vec<usize>>>,
}

impl PageIndex {
    /// Matching rows between checkpoints: a page walks at most this many rows before its own.
    const STRIDE: usize = 256;
    /// Queries remembered before the index starts over (bounds its memory: a year's fetch
    /// asks a few hundred).
    const MAX_QUERIES: usize = 4096;

    pub(crate) fn clear(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The rows whose `key` (a function of the time that never decreases) is `id`.
fn run_of(rows: &[RowRef], id: i64, key: impl Fn(i64) -> i64) -> &[RowRef] {
    let a = rows.partition_point(|r| key(r.at) < id);
    let b = rows.partition_point(|r| key(r.at) <= id);
    &rows[a..b.max(a)]
}

fn registry(sh: &Shared, fmt: Format, p: &Params) -> ApiResult {
    let q = RegistryQuery::parse(p, sh.max_page_limit, sh.page_cap)?;
    let ds = sh.data();
    let rows = q.select_indexed(&ds, &sh.page_index);
    let views = rows
        .iter()
        .map(|r| RowView::registry(&ds, *r, q.in_transfer_currency));
    Ok(render_rows(fmt, views))
}

/// `datetime_from`/`datetime_to` of search: a date (a whole day of the served zone) or a
/// date-time (UTC unless it has an offset, as the client sends them).
fn search_bound(p: &Params, k: &str, end: bool, ds: &Dataset) -> Result<Option<i64>, ApiError> {
    let Some(v) = p.str(k) else { return Ok(None) };
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(Some(if end {
            d.succ_opt().map_or(i64::MAX, |n| ds.day_start(n) - 1)
        } else {
            ds.day_start(d)
        }));
    }
    crate::xsolla::record::parse_xsolla_datetime(v)
        .map(|dt: NaiveDateTime| Some(dt.and_utc().timestamp()))
        .ok_or_else(|| invalid(k, v, "an ISO 8601 date or date-time"))
}

fn search(sh: &Shared, fmt: Format, p: &Params) -> ApiResult {
    let ds = sh.data();
    let from = search_bound(p, "datetime_from", false, &ds)?;
    let to = search_bound(p, "datetime_to", true, &ds)?;
    let (offset, limit) = p.page(sh.max_page_limit, sh.page_cap)?;
    let project_id = p.int("project_id")?;
    let transaction_id = p.int("transaction_id")?;
    let kind = p.str("type").unwrap_or("all");
    if !matches!(kind, "all" | "transferred" | "canceled" | "test") {
        return Err(invalid("type", kind, "all, transferred, canceled or test"));
    }
    let user_id = p.str("user_id");
    let email = p.str("email");
    let external_id = p.str("external_id");
    let status = p.str("status");
    let lo = from.map_or(0, |f| ds.txns.partition_point(|t| t.created < f));
    let hi = to.map_or(ds.txns.len(), |t| {
        ds.txns.partition_point(|x| x.created <= t)
    });
    let idx: Vec<u32> = (lo..hi.max(lo))
        .map(|i| i as u32)
        .filter(|&i| {
            let t = &ds.txns[i as usize];
            let type_ok = match kind {
                "transferred" => {
                    !t.dry_run && matches!(t.status, Status::Done | Status::PartiallyRefunded)
                }
                "canceled" => !t.dry_run && matches!(t.status, Status::Canceled | Status::Refunded),
                "test" => t.dry_run,
                _ => true,
            };
            type_ok
                && project_id.is_none_or(|p| PROJECTS[t.project as usize].id == p)
                && transaction_id.is_none_or(|id| t.id == id)
                && status.is_none_or(|s| s == t.status.as_str())
                && user_id.is_none_or(|u| u == ds.user_id(t))
                && email.is_none_or(|e| e.eq_ignore_ascii_case(&ds.user_email(t)))
                && external_id.is_none_or(|e| e == ds.external_id(t))
        })
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    Ok(render_rows(
        fmt,
        idx.iter().map(|i| RowView::search(&ds, *i)),
    ))
}

fn simple_search(sh: &Shared, p: &Params) -> ApiResult {
    let ds = sh.data();
    let idx = match (p.str("transaction_id"), p.str("external_id")) {
        (Some(id), None) => id.parse::<i64>().ok().and_then(|id| ds.find(id)),
        (None, Some(ext)) => ds.find_external(ext),
        _ => {
            return Err(ApiError::unprocessable(
                "You must pass either transaction_id or external_id.",
            ))
        }
    }
    .ok_or_else(|| ApiError::not_found("Transaction not found."))?;
    Ok(json_response(render::json_rows(std::iter::once(
        RowView::search(&ds, idx),
    ))))
}

async fn details(
    State(sh): State<Arc<Shared>>,
    Path((merchant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    sh.authorize(&headers, &merchant)?;
    let ds = sh.data();
    let idx = id
        .parse::<i64>()
        .ok()
        .and_then(|id| ds.find(id))
        .ok_or_else(|| ApiError::not_found("Transaction not found."))?;
    let mut out = Vec::new();
    render::json_object(&mut out, &RowView::search(&ds, idx));
    Ok(json_response(out))
}

// ---------------------------------------------------------------------------------------------
// Refunds and chargebacks.

/// PUT/POST bodies must be JSON (docs/xsolla-api.md §0.1: 415 otherwise).
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .trim()
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type: application/json is required.",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::unprocessable(format!("The request body is not valid JSON: {e}")))
}

fn description(v: &Value) -> Result<String, ApiError> {
    let d = v
        .get("description")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::unprocessable("The description field is required."))?;
    if d.chars().count() > 4000 {
        return Err(ApiError::unprocessable(
            "The description may not be longer than 4000 characters.",
        ));
    }
    if let Some(e) = v.get("email") {
        if !e.is_null() && e.as_str().is_none_or(|s| s.chars().count() > 100) {
            return Err(ApiError::unprocessable(
                "The email must be a string of at most 100 characters.",
            ));
        }
    }
    Ok(d.to_owned())
}

fn mutation_error(e: MutationError) -> ApiError {
    match e {
        MutationError::NotFound => ApiError::not_found(
            "Transaction with specified ID does not exist. Please check payment credentials. Otherwise, contact Xsolla support at support@xsolla.com.",
        ),
        MutationError::Unprocessable(m) => ApiError::unprocessable(m),
    }
}

fn parse_txn_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| mutation_error(MutationError::NotFound))
}

/// What both refund calls check first: auth, a JSON body, the id and the description.
fn refund_request(
    sh: &Shared,
    merchant: &str,
    id: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(i64, Value, String), ApiError> {
    sh.authorize(headers, merchant)?;
    let v = json_body(headers, body)?;
    let id = parse_txn_id(id)?;
    let d = description(&v)?;
    Ok((id, v, d))
}

async fn refund(
    State(sh): State<Arc<Shared>>,
    Path((merchant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let (id, _, d) = refund_request(&sh, &merchant, &id, &headers, &body)?;
    sh.data_mut().refund(id, &d).map_err(mutation_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn partial_refund(
    State(sh): State<Arc<Shared>>,
    Path((merchant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let (id, v, d) = refund_request(&sh, &merchant, &id, &headers, &body)?;
    // The amount's own text, as the client parses any JSON number (a string is accepted too,
    // as in an old doc sample).
    let amount = crate::xsolla::record::json_scalar_text(v.get("refund_amount"))
        .and_then(|t| crate::domain::money::parse_decimal(&t))
        .ok_or_else(|| {
            ApiError::unprocessable("The refund_amount field is required and must be a number.")
        })?;
    sh.data_mut()
        .partial_refund(id, amount, &d)
        .map_err(mutation_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn chargeback(
    State(sh): State<Arc<Shared>>,
    Path((merchant, project, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    sh.authorize(&headers, &merchant)?;
    let trimmed = String::from_utf8_lossy(&body);
    let trimmed: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    if !(trimmed.is_empty() || trimmed == "{}") {
        return Err(ApiError::unprocessable(
            "For the API call to work correctly, the request body must be empty.",
        ));
    }
    let project = project
        .parse::<i64>()
        .map_err(|_| ApiError::unprocessable("Payment does not belong to this project."))?;
    let id = id
        .parse::<i64>()
        .map_err(|_| ApiError::not_found("Payment not found. Check payment ID."))?;
    sh.data_mut().chargeback(project, id).map_err(|e| match e {
        MutationError::NotFound => ApiError::not_found("Payment not found. Check payment ID."),
        other => mutation_error(other),
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------------------
// Payouts, breakdown, reports.

/// The handler of a small report call (payouts, breakdown, reports): auth, the window (both
/// dates or neither, then everything; 92-day rule), then what `answer` makes of the data.
fn window_call(
    answer: fn(&Dataset, Option<(NaiveDate, NaiveDate)>) -> Value,
) -> impl Fn(State<Arc<Shared>>, Path<String>, RawQuery, HeaderMap) -> std::future::Ready<ApiResult>
       + Clone
       + Send
       + Sync
       + 'static {
    move |State(sh), Path(merchant), RawQuery(q), headers| {
        let answered = sh.authorize(&headers, &merchant).and_then(|()| {
            let window = Params::parse(q.as_deref()).window()?;
            Ok(json_response(render::value_bytes(&answer(
                &sh.data(),
                window,
            ))))
        });
        std::future::ready(answered)
    }
}

pub(crate) fn transfers_json(ds: &Dataset, window: Option<(NaiveDate, NaiveDate)>) -> Value {
    let usd = &CURRENCIES[PAYOUT];
    let items: Vec<Value> = ds
        .payouts
        .iter()
        .filter(|(_, a)| {
            let d = payout_date(a.end);
            window.is_none_or(|(f, t)| f <= d && d <= t)
        })
        .map(|(id, a)| {
            let d = payout_date(a.end);
            let mut item = json!({
                "payout": {
                    "id": id,
                    "date": d.format("%Y-%m-%d").to_string(),
                    "note": format!("Payout for {} – {}", a.start.format("%Y-%m-%d"), a.end.format("%Y-%m-%d")),
                    "currency": usd.code,
                    "amount": amount_number(a.amount, usd.exp),
                },
                "transfer": {
                    "date": (d + chrono::Duration::days(1)).format("%Y-%m-%d").to_string(),
                    "note": format!("Bank transfer of payout {id}"),
                    "currency": usd.code,
                },
                "rate": number(Decimal::ONE),
                "canceled": 0,
            });
            if ds.quirks.payouts_without_amount {
                if let Some(p) = item.get_mut("payout").and_then(Value::as_object_mut) {
                    p.remove("amount");
                }
            }
            item
        })
        .collect();
    Value::Array(items)
}

/// Per payment currency over fault-free registry rows in the window. Meanings chosen by the
/// sandbox (the real ones are [S]/[U]): `PaymentsAmount` Σ payment.amount, `SumNominalSum`
/// Σ purchase amount, `SumItems` Σ virtual-items amount, `SumOutProject` Σ net (payment currency),
/// `SumPayoutSum` Σ payout.amount (USD), `SumCommissionAgent` 0, `SumCommissionUserTaxes`
/// Σ commission_user, `TaxesOfPayments` Σ (VAT + sales tax), `DirectTaxesOfPayments` 0.
pub(crate) fn breakdown_json(ds: &Dataset, window: Option<(NaiveDate, NaiveDate)>) -> Value {
    #[derive(Default)]
    struct Acc {
        payments: Decimal,
        nominal: Decimal,
        items: Decimal,
        out: Decimal,
        payout: Decimal,
        user: Decimal,
        taxes: Decimal,
    }
    let mut by: BTreeMap<&'static str, (u32, Acc)> = BTreeMap::new();
    for r in RegistryQuery::window_or_all(window).select(ds) {
        let t = &ds.txns[r.txn as usize];
        let cur = ds.currency(t);
        let m = ds.row_money(r);
        let e = &mut by.entry(cur.code).or_insert((cur.exp, Acc::default())).1;
        e.payments += m.payment;
        e.nominal += m.nominal;
        if PROJECTS[t.project as usize].kind == super::data::PurchaseKind::VirtualItems {
            e.items += m.nominal;
        }
        e.out += m.net;
        e.payout += m.payout;
        e.user += m.user_commission;
        e.taxes += m.vat + m.sales_tax;
    }
    let usd = CURRENCIES[PAYOUT].exp;
    // The phantom amount belongs to the data set's first day: every range holding that day
    // shows it, so it is one difference whichever window finds it.
    let first_day = ds.params.from;
    let holds_first_day = window.is_none_or(|(f, t)| f <= first_day && first_day <= t);
    if let (Some(delta), true, Some((_, (_, first)))) = (
        ds.quirks.breakdown_payments_delta,
        holds_first_day,
        by.iter_mut().next(),
    ) {
        first.payments += delta;
    }
    let mut rows: Vec<Value> = by
        .into_iter()
        .map(|(code, (exp, a))| {
            json!({
                "IsoCurrency": code,
                "PaymentsAmount": amount_number(a.payments, exp),
                "SumNominalSum": amount_number(a.nominal, exp),
                "SumItems": amount_number(a.items, exp),
                "SumOutProject": amount_number(a.out, exp),
                "SumPayoutSum": amount_number(a.payout, usd),
                "SumCommissionAgent": amount_number(Decimal::ZERO, exp),
                "SumCommissionUserTaxes": amount_number(a.user, exp),
                "TaxesOfPayments": amount_number(a.taxes, exp),
                "DirectTaxesOfPayments": amount_number(Decimal::ZERO, exp),
            })
        })
        .collect();
    breakdown_quirks(ds, window, &mut rows);
    Value::Array(rows)
}

/// The breakdown's format quirks: float noise on the first day's first currency, the last
/// currency listed twice on the second day (each in every range holding that day).
fn breakdown_quirks(ds: &Dataset, window: Option<(NaiveDate, NaiveDate)>, rows: &mut Vec<Value>) {
    let holds = |day: NaiveDate| window.is_none_or(|(f, t)| f <= day && day <= t);
    let first_day = ds.params.from;
    if ds.quirks.breakdown_float_noise && holds(first_day) {
        if let Some(sum) = rows.first_mut().and_then(|r| r.get_mut("SumPayoutSum")) {
            let exact: Decimal = sum.to_string().parse().unwrap_or_default();
            *sum = number(exact + Decimal::new(2, 13));
        }
    }
    let second_day = first_day.succ_opt().unwrap_or(first_day);
    if ds.quirks.breakdown_repeated_currency && holds(second_day) {
        if let Some(last) = rows.last().cloned() {
            rows.push(last);
        }
    }
}

impl RegistryQuery {
    fn window_or_all(window: Option<(NaiveDate, NaiveDate)>) -> Self {
        let mut q = RegistryQuery::window(NaiveDate::MIN, NaiveDate::MAX);
        q.window = window;
        q
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// One report per month with paid-out rows (one payout currency), overlapping the window.
pub(crate) fn reports_json(ds: &Dataset, window: Option<(NaiveDate, NaiveDate)>) -> Value {
    let mut ids: Vec<i64> = ds
        .payouts
        .values()
        .flat_map(|a| [report_id_of(a.start), report_id_of(a.end)])
        .collect();
    ids.dedup();
    ids.sort_unstable();
    ids.dedup();
    let usd = CURRENCIES[PAYOUT].code;
    let today = ds.params.today;
    Value::Array(
        ids.into_iter()
            .filter_map(|id| {
                let (y, m) = report_month(id);
                let first = NaiveDate::from_ymd_opt(y, m, 1)?;
                let last = super::data::period_of(first + chrono::Duration::days(16)).2;
                if let Some((f, t)) = window {
                    if last < f || first > t {
                        return None;
                    }
                }
                Some(json!({
                    "report_id": id,
                    "agreement_document_id": format!("Sandbox Games Ltd_{usd}"),
                    "currency": usd,
                    "month": MONTHS[first.month0() as usize],
                    "year": y,
                    "is_direct_payout": false,
                    "is_draft_by_agreement": last >= today,
                }))
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// Admin.

async fn add_faults(State(sh): State<Arc<Shared>>, body: Bytes) -> ApiResult {
    let rules: Vec<FaultRule> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::unprocessable(format!("expected a JSON array of fault rules: {e}"))
    })?;
    let n = rules.len();
    sh.faults
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(rules.into_iter().map(RuleState::new));
    Ok(json_response(render::value_bytes(&json!({ "added": n }))))
}

async fn clear_faults(State(sh): State<Arc<Shared>>) -> ApiResult {
    sh.faults.lock().unwrap_or_else(|e| e.into_inner()).clear();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// [`registry_body`] with the test transactions (`show_dry_run=1`).
pub(crate) fn registry_body_with_tests(ds: &Dataset, from: NaiveDate, to: NaiveDate) -> Vec<u8> {
    let q = RegistryQuery {
        show_dry_run: true,
        ..RegistryQuery::window(from, to)
    };
    let rows = q.select(ds);
    render::json_rows(rows.iter().map(|r| RowView::registry(ds, *r, false)))
}

/// Every row of `[from, to]` in one body, as the server renders it. Used by tests and the
/// dataset view.
pub(crate) fn registry_body(ds: &Dataset, from: NaiveDate, to: NaiveDate) -> Vec<u8> {
    let q = RegistryQuery::window(from, to);
    let rows = q.select(ds);
    render::json_rows(rows.iter().map(|r| RowView::registry(ds, *r, false)))
}
