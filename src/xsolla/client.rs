//! Typed calls for every Reports endpoint. The refund and chargeback calls, which move money,
//! are in `write_calls.rs`, built only with the `sandbox` feature (only its tests use them).
//!
//! Each read call returns the [`Reply`] (exact bytes, URL, time) with the parsed rows, so the
//! fetch stage can store the raw body as an immutable snapshot and still count what it read.

use super::error::XsollaError;
use super::http::{Expect, Reply, Transport};
use super::model::*;
use super::parse::{parse_csv_rows, parse_json_rows, DecodeError};
use super::record::Record;
use crate::domain::window::Window;
use chrono::NaiveDate;

/// Response format of the endpoints that take a `.{format}` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `registry.json`: typed numbers, nested objects. The default.
    #[default]
    Json,
    /// `registry.csv`: what finance exports by hand; mapped by header name.
    Csv,
}

impl Format {
    /// File extension and path suffix.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }
    fn expect(self) -> Expect {
        match self {
            Format::Json => Expect::Json,
            Format::Csv => Expect::Csv,
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => Err(format!("unknown format {other:?} (json or csv)")),
        }
    }
}

/// One response with its rows.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The exact response.
    pub reply: Reply,
    /// Rows parsed from it, in body order.
    pub rows: Vec<T>,
}

/// Filters of the transaction registry (docs/xsolla-api.md §1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryFilter {
    /// Only this project.
    pub project_id: Option<i64>,
    /// Only the rows of this payout.
    pub transfer_id: Option<i64>,
    /// Only the rows of this financial report.
    pub report_id: Option<i64>,
    /// Only this status ([C-old]; may be ignored by the server).
    pub status: Option<String>,
    /// `merchant` or `xsolla`; `None` for all.
    pub merchant_of_records: Option<String>,
    /// Include test (dry-run) transactions.
    pub show_dry_run: bool,
    /// Convert money to the payout currency. Off: the job compares payment currencies.
    pub in_transfer_currency: bool,
}

impl RegistryFilter {
    fn query(&self, w: Option<Window>) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(w) = w {
            q.push(("datetime_from", w.from.to_string()));
            q.push(("datetime_to", w.to.to_string()));
        }
        q.extend([
            // Both are "required" in the docs; 0/1 is what clients send ([S]/[I], §1.1).
            ("in_transfer_currency", flag(self.in_transfer_currency)),
            // Totals have an undocumented shape ([U]); every row must be a transaction.
            ("show_total", "0".to_owned()),
            ("show_dry_run", flag(self.show_dry_run)),
        ]);
        push_opt(&mut q, "project_id", self.project_id);
        push_opt(&mut q, "transfer_id", self.transfer_id);
        push_opt(&mut q, "report_id", self.report_id);
        push_opt(&mut q, "status", self.status.clone());
        push_opt(
            &mut q,
            "merchant_of_records",
            self.merchant_of_records.clone(),
        );
        q
    }
}

/// Filters of `search.{format}` (§5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchFilter {
    /// Period start, on the creation date.
    pub from: Option<NaiveDate>,
    /// Period end, included.
    pub to: Option<NaiveDate>,
    /// `all`, `transferred`, `canceled` or `test`.
    pub kind: String,
    /// Project id.
    pub project_id: Option<i64>,
    /// Transaction id.
    pub transaction_id: Option<i64>,
    /// The game's order id.
    pub external_id: Option<String>,
    /// User id.
    pub user_id: Option<String>,
    /// User e-mail.
    pub email: Option<String>,
    /// Status enum value.
    pub status: Option<String>,
}

impl Default for SearchFilter {
    fn default() -> Self {
        SearchFilter {
            from: None,
            to: None,
            kind: "all".to_owned(),
            project_id: None,
            transaction_id: None,
            external_id: None,
            user_id: None,
            email: None,
            status: None,
        }
    }
}

impl SearchFilter {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![("type", self.kind.clone())];
        // Search takes ISO date-times ([C] type, [S] usage): whole days, no overlap.
        push_opt(
            &mut q,
            "datetime_from",
            self.from.map(|d| format!("{d}T00:00:00Z")),
        );
        push_opt(
            &mut q,
            "datetime_to",
            self.to.map(|d| format!("{d}T23:59:59Z")),
        );
        push_opt(&mut q, "project_id", self.project_id);
        push_opt(&mut q, "transaction_id", self.transaction_id);
        push_opt(&mut q, "external_id", self.external_id.clone());
        push_opt(&mut q, "user_id", self.user_id.clone());
        push_opt(&mut q, "email", self.email.clone());
        push_opt(&mut q, "status", self.status.clone());
        q
    }
}

/// Key of a fast search: exactly one of the two (§5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupKey {
    /// Xsolla transaction id.
    TransactionId(i64),
    /// The game's order id.
    ExternalId(String),
}

fn flag(b: bool) -> String {
    if b { "1" } else { "0" }.to_owned()
}

fn push_opt<T: ToString>(q: &mut Vec<(&'static str, String)>, k: &'static str, v: Option<T>) {
    if let Some(v) = v {
        q.push((k, v.to_string()));
    }
}

/// The Reports API client of one merchant.
///
/// Clones share one transport, so the rate and concurrency limits hold across them: the
/// registry walk hands a clone to the task that fetches the next page ahead.
#[derive(Debug, Clone)]
pub struct XsollaClient {
    pub(super) transport: std::sync::Arc<Transport>,
}

impl XsollaClient {
    /// Wraps a transport (which holds the base URL, merchant id, key and retry settings).
    pub fn new(transport: Transport) -> Self {
        XsollaClient {
            transport: std::sync::Arc::new(transport),
        }
    }

    /// The transport, for its settings.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub(super) fn path(&self, rest: &str) -> String {
        format!("merchants/{}/{rest}", self.transport.merchant_id())
    }

    async fn get_rows<R: Record>(
        &self,
        rest: &str,
        query: &[(&str, String)],
        format: Format,
        required: &'static [&'static str],
    ) -> Result<Page<R>, XsollaError> {
        let decode = move |reply: &Reply| -> Result<Vec<R>, DecodeError> {
            match format {
                Format::Json => parse_json_rows(&reply.body, required),
                Format::Csv => parse_csv_rows(&reply.body, required),
            }
        };
        let (reply, rows) = self
            .transport
            .get(&self.path(rest), query, format.expect(), decode)
            .await?;
        Ok(Page { reply, rows })
    }

    /// One page of the transaction registry for a window of at most 92 days, or with no
    /// dates (then a filter such as `transfer_id` should narrow it).
    pub async fn registry_page(
        &self,
        window: Option<Window>,
        filter: &RegistryFilter,
        format: Format,
        offset: u64,
        limit: u32,
    ) -> Result<Page<TransactionRow>, XsollaError> {
        let mut q = filter.query(window);
        q.push(("offset", offset.to_string()));
        q.push(("limit", limit.to_string()));
        let rest = format!("reports/transactions/registry.{}", format.ext());
        self.get_rows(&rest, &q, format, REGISTRY_REQUIRED).await
    }

    /// One page of `search.{format}`.
    pub async fn search_page(
        &self,
        filter: &SearchFilter,
        format: Format,
        offset: u64,
        limit: u32,
    ) -> Result<Page<TransactionRow>, XsollaError> {
        let mut q = filter.query();
        q.push(("offset", offset.to_string()));
        q.push(("limit", limit.to_string()));
        let rest = format!("reports/transactions/search.{}", format.ext());
        self.get_rows(&rest, &q, format, SEARCH_REQUIRED).await
    }

    /// Fast search by transaction id or external id (JSON only).
    pub async fn simple_search(
        &self,
        key: &LookupKey,
    ) -> Result<Page<TransactionRow>, XsollaError> {
        let q = match key {
            LookupKey::TransactionId(id) => vec![("transaction_id", id.to_string())],
            LookupKey::ExternalId(e) => vec![("external_id", e.clone())],
        };
        self.get_rows(
            "reports/transactions/simple_search",
            &q,
            Format::Json,
            LOOKUP_REQUIRED,
        )
        .await
    }

    /// Details of one transaction (drill-down). Shape is [I]: parsed like a search row.
    pub async fn transaction_details(
        &self,
        transaction_id: i64,
    ) -> Result<Page<TransactionRow>, XsollaError> {
        let rest = format!("reports/transactions/{transaction_id}/details");
        self.get_rows(&rest, &[], Format::Json, LOOKUP_REQUIRED)
            .await
    }

    /// Payouts whose date falls in the window (≤ 92 days; not paginated, [S]).
    pub async fn payouts(&self, window: Window) -> Result<Page<Payout>, XsollaError> {
        self.get_rows(
            "reports/transfers",
            &dates(window),
            Format::Json,
            PAYOUT_REQUIRED,
        )
        .await
    }

    /// Payouts breakdown by currency for the window (≤ 92 days).
    pub async fn payout_breakdown(
        &self,
        window: Window,
    ) -> Result<Page<BreakdownRow>, XsollaError> {
        self.get_rows(
            "reports/transactions/summary/transfer",
            &dates(window),
            Format::Json,
            BREAKDOWN_REQUIRED,
        )
        .await
    }

    /// Financial reports list for the window (≤ 92 days).
    pub async fn reports(&self, window: Window) -> Result<Page<ReportEntry>, XsollaError> {
        self.get_rows("reports", &dates(window), Format::Json, REPORT_REQUIRED)
            .await
    }
}

fn dates(w: Window) -> Vec<(&'static str, String)> {
    vec![
        ("datetime_from", w.from.to_string()),
        ("datetime_to", w.to.to_string()),
    ]
}

#[cfg(feature = "sandbox")]
pub(super) fn json_bytes(map: serde_json::Map<String, serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::Value::Object(map)).expect("a JSON map serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_query_sends_documented_parameters() {
        let w = Window::new("2026-10-01".parse().unwrap(), "2026-10-31".parse().unwrap()).unwrap();
        let f = RegistryFilter {
            project_id: Some(7),
            ..Default::default()
        };
        let q = f.query(Some(w));
        let get = |k: &str| q.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("datetime_from"), Some("2026-10-01"));
        assert_eq!(get("datetime_to"), Some("2026-10-31"));
        assert_eq!(get("in_transfer_currency"), Some("0"));
        assert_eq!(get("show_total"), Some("0"));
        assert_eq!(get("project_id"), Some("7"));
        assert_eq!(get("transfer_id"), None);
    }

    #[test]
    fn search_query_uses_whole_day_iso_times() {
        let f = SearchFilter {
            from: Some("2026-10-01".parse().unwrap()),
            to: Some("2026-10-07".parse().unwrap()),
            ..Default::default()
        };
        let q = f.query();
        assert!(q.contains(&("datetime_from", "2026-10-01T00:00:00Z".to_owned())));
        assert!(q.contains(&("datetime_to", "2026-10-07T23:59:59Z".to_owned())));
        assert!(q.contains(&("type", "all".to_owned())));
    }
}
