//! End-to-end tests: a real server on 127.0.0.1:0 and plain reqwest requests.

use super::*;
use crate::xsolla::model::{
    BreakdownRow, Payout, ReportEntry, TransactionRow, BREAKDOWN_REQUIRED, PAYOUT_REQUIRED,
    REGISTRY_REQUIRED, REPORT_REQUIRED, SEARCH_REQUIRED,
};
use crate::xsolla::parse::{parse_csv_rows, parse_json_rows};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

async fn start(cfg: SandboxConfig) -> Sandbox {
    Sandbox::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

struct Client {
    http: reqwest::Client,
    base: String,
    merchant: i64,
    key: String,
}

impl Client {
    fn new(sb: &Sandbox) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: sb.base_url(),
            merchant: sb.merchant_id(),
            key: sb.api_key().to_owned(),
        }
    }
    /// `rel` is relative to `/merchants/{id}/`.
    fn url(&self, rel: &str) -> String {
        format!("{}/merchants/{}/{rel}", self.base, self.merchant)
    }
    async fn get(&self, rel: &str) -> reqwest::Response {
        self.http
            .get(self.url(rel))
            .basic_auth(self.merchant, Some(&self.key))
            .send()
            .await
            .unwrap()
    }
    async fn ok(&self, rel: &str) -> Vec<u8> {
        let r = self.get(rel).await;
        assert_eq!(r.status(), 200, "GET {rel}");
        r.bytes().await.unwrap().to_vec()
    }
    async fn put_json(&self, rel: &str, body: &str) -> reqwest::Response {
        self.http
            .put(self.url(rel))
            .basic_auth(self.merchant, Some(&self.key))
            .header("Content-Type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }
}

async fn error_json(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status(), status);
    let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["http_status_code"].as_u64(), Some(u64::from(status)));
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(v["extended_message"].is_null());
    let id = v["request_id"].as_str().unwrap();
    assert!(
        id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    v
}

const OCT: &str = "datetime_from=2026-10-01&datetime_to=2026-10-31";

fn registry_rows(body: &[u8]) -> Vec<TransactionRow> {
    parse_json_rows(body, REGISTRY_REQUIRED).unwrap()
}

/// Every registry row matching `query`, read page by page.
async fn all_rows(c: &Client, query: &str) -> Vec<TransactionRow> {
    let mut out = Vec::new();
    loop {
        let page = registry_rows(
            &c.ok(&format!(
                "reports/transactions/registry.json?{query}&limit=1000&offset={}",
                out.len()
            ))
            .await,
        );
        let n = page.len();
        out.extend(page);
        if n < 1000 {
            return out;
        }
    }
}

#[tokio::test]
async fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = start(SandboxConfig::default()).await;
    let b = start(SandboxConfig::default()).await;
    let c = start(SandboxConfig {
        seed: 8,
        ..SandboxConfig::default()
    })
    .await;
    let (ca, cb, cc) = (Client::new(&a), Client::new(&b), Client::new(&c));
    for rel in [
        format!("reports/transactions/registry.json?{OCT}"),
        format!("reports/transactions/registry.csv?{OCT}&in_transfer_currency=1"),
        format!("reports/transactions/search.json?{OCT}"),
        format!("reports/transfers?{OCT}"),
        format!("reports/transactions/summary/transfer?{OCT}"),
    ] {
        let (x, y, z) = (ca.ok(&rel).await, cb.ok(&rel).await, cc.ok(&rel).await);
        assert_eq!(x, y, "{rel}");
        assert_ne!(x, z, "{rel}");
    }
    assert!(a.dataset().transaction_count() > 1000);
}

#[tokio::test]
async fn auth_failures_have_xsolla_bodies() {
    let sb = start(SandboxConfig::default()).await;
    let c = Client::new(&sb);
    let url = c.url(&format!("reports/transactions/registry.json?{OCT}"));
    let http = reqwest::Client::new();
    let v = error_json(http.get(&url).send().await.unwrap(), 401).await;
    let v2 = error_json(
        http.get(&url)
            .basic_auth(c.merchant, Some("wrong"))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    // The request counter makes ids distinct and deterministic.
    assert_ne!(v["request_id"], v2["request_id"]);
    assert_eq!(v["request_id"], "00000001");
    error_json(
        http.get(&url)
            .basic_auth(c.merchant, Some("sandbox-project-key"))
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    let other = format!("{}/merchants/999/reports/transfers", c.base);
    error_json(
        http.get(&other)
            .basic_auth(c.merchant, Some(&c.key))
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    error_json(c.get("reports/nothing/here").await, 404).await;
    error_json(
        http.get(format!("http://{}/other", sb.addr()))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    let log = sb.requests();
    assert_eq!(log.len(), 6);
    assert_eq!(log[0].status, 401);
    assert_eq!(log[2].status, 403);
    assert_eq!(log[0].query.as_deref(), Some(OCT));
}

#[tokio::test]
async fn parameter_validation() {
    let sb = start(SandboxConfig::default()).await;
    let c = Client::new(&sb);
    let reg = "reports/transactions/registry.json";
    // 2026-01-01 .. 2026-04-03 is exactly 92 days: allowed; one more day is not.
    assert_eq!(
        c.get(&format!(
            "{reg}?datetime_from=2026-01-01&datetime_to=2026-04-03"
        ))
        .await
        .status(),
        200
    );
    let v = error_json(
        c.get(&format!(
            "{reg}?datetime_from=2026-01-01&datetime_to=2026-04-04"
        ))
        .await,
        422,
    )
    .await;
    assert!(v["message"].as_str().unwrap().contains("92 days"));
    for bad in [
        format!("{reg}?datetime_from=2026-10-05&datetime_to=2026-10-01"),
        reg.to_owned(),
        format!("{reg}?datetime_from=2026-10-01"),
        format!("{reg}?{OCT}&limit=1001"),
        format!("{reg}?{OCT}&limit=0"),
        format!("{reg}?datetime_from=01.10.2026&datetime_to=2026-10-02"),
        format!("{reg}?{OCT}&in_transfer_currency=maybe"),
        format!("reports/transactions/registry.xls?{OCT}"),
        "reports/transfers?datetime_from=2026-01-01&datetime_to=2026-06-01".to_owned(),
        "reports/transactions/simple_search".to_owned(),
        "reports/transactions/simple_search?transaction_id=1&external_id=x".to_owned(),
    ] {
        error_json(c.get(&bad).await, 422).await;
    }
    // `limit` alone is enough (docs/xsolla-api.md §1.1) and `show_total` is accepted.
    let rows = registry_rows(&c.ok(&format!("{reg}?limit=5&show_total=1")).await);
    assert_eq!(rows.len(), 5);
    // An empty window is an empty array / a CSV with only the header.
    let empty = "datetime_from=2020-01-01&datetime_to=2020-01-02";
    assert_eq!(c.ok(&format!("{reg}?{empty}")).await, b"[]");
    let csv = c
        .ok(&format!("reports/transactions/registry.csv?{empty}"))
        .await;
    assert!(csv.starts_with(b"\"Transaction ID\","));
    assert_eq!(csv.iter().filter(|b| **b == b'\n').count(), 1);
}

#[tokio::test]
async fn pages_concatenate_to_the_whole_window() {
    let sb = start(SandboxConfig::default()).await;
    let c = Client::new(&sb);
    let whole: Vec<Value> = serde_json::from_slice(
        &c.ok(&format!("reports/transactions/registry.json?{OCT}"))
            .await,
    )
    .unwrap();
    assert!(whole.len() > 1000);
    assert_eq!(
        whole,
        sb.dataset()
            .registry_json(date("2026-10-01"), date("2026-10-31"))
    );
    let mut pages = Vec::new();
    let mut offset = 0;
    loop {
        let page: Vec<Value> = serde_json::from_slice(
            &c.ok(&format!(
                "reports/transactions/registry.json?{OCT}&limit=250&offset={offset}"
            ))
            .await,
        )
        .unwrap();
        let n = page.len();
        pages.extend(page);
        offset += 250;
        if n < 250 {
            break;
        }
    }
    assert_eq!(pages, whole);
    let keys: HashSet<(String, String)> = pages
        .iter()
        .map(|v| {
            (
                v["transaction"]["id"].to_string(),
                v["payment_details"]["payment"]["amount"]
                    .to_string()
                    .starts_with('-')
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(keys.len(), pages.len(), "a row appears twice");
}

#[tokio::test]
async fn json_and_csv_carry_the_same_rows() {
    let sb = start(SandboxConfig::default()).await;
    let c = Client::new(&sb);
    for extra in [
        "",
        "&in_transfer_currency=1",
        "&show_dry_run=1&project_id=277002",
    ] {
        let q = format!("{OCT}{extra}");
        let json = registry_rows(
            &c.ok(&format!("reports/transactions/registry.json?{q}"))
                .await,
        );
        let csv: Vec<TransactionRow> = parse_csv_rows(
            &c.ok(&format!("reports/transactions/registry.csv?{q}"))
                .await,
            REGISTRY_REQUIRED,
        )
        .unwrap();
        assert_eq!(json.len(), csv.len());
        assert!(!json.is_empty());
        for (j, k) in json.iter().zip(&csv) {
            let (mut j, mut k) = (j.clone(), k.clone());
            assert!(j
                .extra
                .contains_key("transaction.custom_parameters.campaign"));
            assert!(j
                .extra
                .contains_key("payment_details.commission_ps_from_vat.amount"));
            assert!(k.extra.contains_key("Payment system type"));
            j.extra.clear();
            k.extra.clear();
            assert_eq!(j, k);
        }
        if extra.contains("in_transfer") {
            assert!(json
                .iter()
                .all(|r| r.payment_currency.as_deref() == Some("USD")));
        }
        if extra.contains("dry_run") {
            assert!(json.iter().any(|r| r.dry_run == Some(true)));
            assert!(json.iter().all(|r| r.project_id == Some(277_002)));
        }
    }
    let search_json: Vec<TransactionRow> = parse_json_rows(
        &c.ok(&format!("reports/transactions/search.json?{OCT}&limit=300"))
            .await,
        SEARCH_REQUIRED,
    )
    .unwrap();
    let mut search_csv: Vec<TransactionRow> = parse_csv_rows(
        &c.ok(&format!("reports/transactions/search.csv?{OCT}&limit=300"))
            .await,
        SEARCH_REQUIRED,
    )
    .unwrap();
    let mut search_json = search_json;
    search_json.iter_mut().for_each(|r| r.extra.clear());
    search_csv.iter_mut().for_each(|r| r.extra.clear());
    assert_eq!(search_json, search_csv);
}

fn exponent_ok(r: &TransactionRow) -> bool {
    let cur = r.payment_currency.as_deref().unwrap();
    let exp = crate::domain::money::exponent(cur);
    [
        r.payment_amount,
        r.commission_ps,
        r.commission_xsolla,
        r.commission_user,
        r.vat_user,
        r.sales_tax,
        r.refund_penalty,
        r.chargeback_penalty,
    ]
    .iter()
    .flatten()
    .all(|d| d.normalize().scale() <= exp)
        && r.payout_amount.unwrap().normalize().scale() <= 2
}

#[tokio::test]
async fn money_invariants_hold() {
    let sb = start(SandboxConfig::default()).await;
    let c = Client::new(&sb);
    let rows = registry_rows(
        &c.ok(&format!("reports/transactions/registry.json?{OCT}"))
            .await,
    );
    let currencies: HashSet<&str> = rows
        .iter()
        .map(|r| r.payment_currency.as_deref().unwrap())
        .collect();
    for cur in ["JPY", "USD", "EUR", "BRL", "KWD"] {
        assert!(currencies.contains(cur), "{cur} missing");
    }
    assert!(rows.iter().all(exponent_ok));
    // Every negative row has its positive payment somewhere (maybe an earlier window).
    let all = all_rows(&c, "show_dry_run=1").await;
    let positive: HashSet<i64> = all
        .iter()
        .filter(|r| r.payment_amount.unwrap() > Decimal::ZERO)
        .map(|r| r.transaction_id.unwrap())
        .collect();
    let negatives: Vec<&TransactionRow> = all
        .iter()
        .filter(|r| r.payment_amount.unwrap() < Decimal::ZERO)
        .collect();
    assert!(negatives.len() > 10);
    for n in &negatives {
        assert!(positive.contains(&n.transaction_id.unwrap()));
        assert!(n.refund_reason.is_some());
        assert!(n.payout_amount.unwrap() <= Decimal::ZERO);
    }
    assert!(negatives
        .iter()
        .any(|n| n.chargeback_penalty.unwrap() < Decimal::ZERO));
    assert!(negatives
        .iter()
        .any(|n| n.status.as_deref() == Some("partiallyRefunded")));

    // Payouts: each amount is the exact sum of its rows, fetched by transfer_id.
    let payouts: Vec<Payout> = parse_json_rows(
        &c.ok("reports/transfers?datetime_from=2026-10-01&datetime_to=2026-12-31")
            .await,
        PAYOUT_REQUIRED,
    )
    .unwrap();
    assert!(payouts.len() >= 3);
    for p in &payouts {
        let id = p.payout_id.unwrap();
        let rows = all_rows(&c, &format!("transfer_id={id}")).await;
        let sum: Decimal = rows.iter().map(|r| r.payout_amount.unwrap()).sum();
        assert_eq!(Some(sum), p.payout_amount, "payout {id}");
        assert!(rows.iter().all(|r| r.transfer_id == Some(id)));
    }
    let truth: Decimal = sb.dataset().payouts().iter().map(|p| p.amount).sum();
    let listed: Decimal = payouts.iter().map(|p| p.payout_amount.unwrap()).sum();
    assert_eq!(truth, listed);

    // Breakdown per currency equals the registry sums of the same window.
    let bd: Vec<BreakdownRow> = parse_json_rows(
        &c.ok(&format!("reports/transactions/summary/transfer?{OCT}"))
            .await,
        BREAKDOWN_REQUIRED,
    )
    .unwrap();
    let mut sums: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for r in &rows {
        let e = sums.entry(r.payment_currency.clone().unwrap()).or_default();
        e.0 += r.payment_amount.unwrap();
        e.1 += r.payout_amount.unwrap();
    }
    assert_eq!(bd.len(), sums.len());
    for b in &bd {
        let (pay, out) = sums[b.currency.as_deref().unwrap()];
        assert_eq!(b.payments_amount, Some(pay));
        assert_eq!(b.sum_payout, Some(out));
    }

    // Reports: each report id selects its month's rows.
    let reports: Vec<ReportEntry> =
        parse_json_rows(&c.ok(&format!("reports?{OCT}")).await, REPORT_REQUIRED).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].month.as_deref(), Some("October"));
    let id = reports[0].report_id.unwrap();
    let by_report = all_rows(&c, &format!("report_id={id}")).await;
    assert_eq!(by_report.len(), rows.len());
}

#[tokio::test]
async fn search_simple_search_and_details() {
    let sb = start(SandboxConfig::default()).await;
    let c = Client::new(&sb);
    let all: Vec<TransactionRow> = parse_json_rows(
        &c.ok("reports/transactions/search.json?datetime_from=2026-10-01T00:00:00Z&datetime_to=2026-10-03")
            .await,
        SEARCH_REQUIRED,
    )
    .unwrap();
    let statuses: HashSet<&str> = all.iter().map(|r| r.status.as_deref().unwrap()).collect();
    assert!(statuses.contains("done"));
    assert!(statuses.contains("error") || statuses.contains("created"));
    let unfinished = all
        .iter()
        .find(|r| r.status.as_deref() == Some("error") || r.status.as_deref() == Some("created"))
        .unwrap();
    assert_eq!(unfinished.transfer_date, None);
    // Unfinished payments never reach the registry.
    let reg = registry_rows(
        &c.ok("reports/transactions/registry.json?datetime_from=2026-10-01&datetime_to=2026-10-31&show_dry_run=1").await,
    );
    assert!(!reg
        .iter()
        .any(|r| r.transaction_id == unfinished.transaction_id));
    assert!(all.iter().all(|r| {
        let d = r.created_at.unwrap().date();
        d >= date("2026-10-01") && d <= date("2026-10-03")
    }));
    let test_only: Vec<TransactionRow> = parse_json_rows(
        &c.ok(&format!("reports/transactions/search.json?{OCT}&type=test"))
            .await,
        SEARCH_REQUIRED,
    )
    .unwrap();
    assert!(!test_only.is_empty() && test_only.iter().all(|r| r.dry_run == Some(true)));

    let id = all[3].transaction_id.unwrap();
    let ext = sb.dataset().external_id_of(id).unwrap();
    let by_id = c
        .ok(&format!(
            "reports/transactions/simple_search?transaction_id={id}"
        ))
        .await;
    let by_ext = c
        .ok(&format!(
            "reports/transactions/simple_search?external_id={ext}"
        ))
        .await;
    assert_eq!(by_id, by_ext);
    let details = c.ok(&format!("reports/transactions/{id}/details")).await;
    let d: Vec<TransactionRow> = parse_json_rows(&details, SEARCH_REQUIRED).unwrap();
    assert_eq!(d[0].transaction_id, Some(id));
    assert_eq!(d[0].external_id.as_deref(), Some(ext.as_str()));
    let filtered: Vec<TransactionRow> = parse_json_rows(
        &c.ok(&format!(
            "reports/transactions/search.json?external_id={ext}"
        ))
        .await,
        SEARCH_REQUIRED,
    )
    .unwrap();
    assert_eq!(filtered.len(), 1);
    error_json(
        c.get("reports/transactions/simple_search?transaction_id=42")
            .await,
        404,
    )
    .await;
    error_json(c.get("reports/transactions/42/details").await, 404).await;
}

async fn rows_of(c: &Client, id: i64) -> Vec<TransactionRow> {
    all_rows(c, "show_dry_run=1")
        .await
        .into_iter()
        .filter(|r| r.transaction_id == Some(id))
        .collect()
}

#[tokio::test]
async fn refunds_and_chargebacks_show_up_in_later_reads() {
    let sb = start(SandboxConfig {
        today: Some(date("2026-11-03")),
        ..SandboxConfig::default()
    })
    .await;
    let c = Client::new(&sb);
    let done = sb.dataset().transaction_ids_with_status("done");
    let (a, b, k) = (done[10], done[20], done[30]);
    let payouts_before: Decimal = sb.dataset().payouts().iter().map(|p| p.amount).sum();

    // Full refund.
    let r = c
        .put_json(
            &format!("reports/transactions/{a}/refund"),
            r#"{"description": "test refund request"}"#,
        )
        .await;
    assert_eq!(r.status(), 204);
    let rows = rows_of(&c, a).await;
    assert_eq!(rows.len(), 2);
    let (pos, neg) = (&rows[0], &rows[1]);
    assert_eq!(neg.payment_amount, pos.payment_amount.map(|d| -d));
    assert_eq!(neg.payout_amount, pos.payout_amount.map(|d| -d));
    assert_eq!(neg.transfer_date.unwrap().date(), date("2026-11-03"));
    assert_eq!(neg.status.as_deref(), Some("refunded"));
    assert_eq!(
        neg.refund_reason_comment.as_deref(),
        Some("test refund request")
    );
    let again = c
        .put_json(
            &format!("reports/transactions/{a}/refund"),
            r#"{"description": "again"}"#,
        )
        .await;
    let v = error_json(again, 422).await;
    assert_eq!(
        v["message"],
        "Current transaction status does not allow refunds."
    );

    // Partial refund: too much, then a valid part.
    let pay = rows_of(&c, b).await[0].payment_amount.unwrap();
    let too_much = format!(
        r#"{{"refund_amount": {}, "description": "x"}}"#,
        pay + Decimal::ONE
    );
    let v = error_json(
        c.put_json(
            &format!("reports/transactions/{b}/partial_refund"),
            &too_much,
        )
        .await,
        422,
    )
    .await;
    assert_eq!(
        v["message"],
        "Requested partial refund amount exceeds payment amount."
    );
    let cur = rows_of(&c, b).await[0].payment_currency.clone().unwrap();
    let part = crate::domain::money::round_to_currency(pay / Decimal::from(3), &cur);
    let body = format!(r#"{{"refund_amount": {part}, "description": "part"}}"#);
    assert_eq!(
        c.put_json(&format!("reports/transactions/{b}/partial_refund"), &body)
            .await
            .status(),
        204
    );
    let rows = rows_of(&c, b).await;
    assert_eq!(rows[1].payment_amount, Some(-part));
    assert_eq!(rows[1].status.as_deref(), Some("partiallyRefunded"));
    assert!(rows.iter().all(exponent_ok));

    // Chargeback: wrong project, then right.
    let project = sb.dataset().project_of(k).unwrap();
    let other = sb
        .dataset()
        .project_ids()
        .into_iter()
        .find(|p| *p != project)
        .unwrap();
    let cb = |p: i64| {
        format!(
            "{}/merchants/{}/projects/{p}/payments/{k}/chargeback",
            c.base, c.merchant
        )
    };
    let post = |url: String, body: &'static str| {
        c.http
            .post(url)
            .basic_auth(c.merchant, Some(&c.key))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let v = error_json(post(cb(other), "").await.unwrap(), 422).await;
    assert_eq!(v["message"], "Payment does not belong to this project.");
    assert_eq!(post(cb(project), "{}").await.unwrap().status(), 204);
    let v = error_json(post(cb(project), "").await.unwrap(), 422).await;
    assert!(v["message"]
        .as_str()
        .unwrap()
        .starts_with("Incorrect payment status"));
    let rows = rows_of(&c, k).await;
    assert_eq!(rows[1].refund_reason.as_deref(), Some("Chargeback"));
    assert!(rows[1].chargeback_penalty.unwrap() < Decimal::ZERO);

    // Bad calls.
    let r = c
        .http
        .put(c.url(&format!("reports/transactions/{a}/refund")))
        .basic_auth(c.merchant, Some(&c.key))
        .body(r#"{"description": "x"}"#)
        .send()
        .await
        .unwrap();
    error_json(r, 415).await;
    error_json(
        c.put_json(&format!("reports/transactions/{}/refund", done[40]), "{}")
            .await,
        422,
    )
    .await;
    let long = format!(r#"{{"description": "{}"}}"#, "x".repeat(4001));
    error_json(
        c.put_json(&format!("reports/transactions/{}/refund", done[40]), &long)
            .await,
        422,
    )
    .await;
    error_json(
        c.put_json("reports/transactions/42/refund", r#"{"description": "x"}"#)
            .await,
        404,
    )
    .await;

    // Payouts moved by exactly the new negative rows.
    let mut moved = Decimal::ZERO;
    for id in [a, b, k] {
        let rows = rows_of(&c, id).await;
        if rows[0].dry_run == Some(false) {
            moved += rows[1].payout_amount.unwrap();
        }
    }
    let payouts_after: Decimal = sb.dataset().payouts().iter().map(|p| p.amount).sum();
    assert_eq!(payouts_after, payouts_before + moved);
}

fn rule(endpoint: &str, fault: Fault, skip: u32, times: u32) -> FaultRule {
    FaultRule {
        endpoint: Some(endpoint.to_owned()),
        fault,
        skip,
        times,
    }
}

#[tokio::test]
async fn faults_are_observable_from_a_plain_client() {
    let sb = start(SandboxConfig::default()).await;
    let c = Client::new(&sb);
    let reg = format!("reports/transactions/registry.json?{OCT}&limit=100&offset=200");
    let good = c.ok(&reg).await;

    sb.add_faults(vec![rule(
        "registry",
        Fault::TooManyRequests {
            retry_after: Some("3".into()),
        },
        1,
        2,
    )]);
    assert_eq!(c.get(&reg).await.status(), 200); // skipped
    for _ in 0..2 {
        let r = c.get(&reg).await;
        assert_eq!(r.headers()["retry-after"], "3");
        error_json(r, 429).await;
    }
    assert_eq!(c.ok(&reg).await, good); // exhausted
                                        // Other endpoints are not matched.
    sb.clear_faults();

    sb.add_faults(vec![rule("registry", Fault::Status { code: 503 }, 0, 1)]);
    error_json(c.get(&reg).await, 503).await;

    sb.add_faults(vec![rule("registry", Fault::DropConnection, 0, 1)]);
    let r = c
        .http
        .get(c.url(&reg))
        .basic_auth(c.merchant, Some(&c.key))
        .send()
        .await;
    assert!(r.is_err(), "{r:?}");

    sb.add_faults(vec![rule("registry", Fault::TruncateBody, 0, 1)]);
    let r = c.get(&reg).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.content_length(), Some(good.len() as u64));
    assert!(r.bytes().await.is_err());

    sb.add_faults(vec![rule("registry", Fault::TruncatedJson, 0, 1)]);
    let body = c.ok(&reg).await;
    assert_eq!(body, good[..good.len() / 2]);
    assert!(parse_json_rows::<TransactionRow>(&body, REGISTRY_REQUIRED).is_err());

    sb.add_faults(vec![rule("registry", Fault::EmptyOk, 0, 1)]);
    assert!(c.ok(&reg).await.is_empty());

    sb.add_faults(vec![rule("registry", Fault::WrongContentType, 0, 1)]);
    let r = c.get(&reg).await;
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(r.text().await.unwrap(), "<html>maintenance</html>");

    let prev = c
        .ok(&format!(
            "reports/transactions/registry.json?{OCT}&limit=100&offset=100"
        ))
        .await;
    assert_ne!(prev, good);
    sb.add_faults(vec![rule("registry", Fault::RepeatPreviousPage, 0, 1)]);
    assert!(c.ok(&reg).await == prev, "not the previous page");

    sb.add_faults(vec![rule("transfers", Fault::Slow { millis: 300 }, 0, 1)]);
    let t0 = std::time::Instant::now();
    c.ok(&format!("reports/transfers?{OCT}")).await;
    assert!(t0.elapsed() >= std::time::Duration::from_millis(300));

    // Faults never fire once exhausted, and the log names what was applied.
    assert_eq!(c.ok(&reg).await, good);
    let log = sb.requests();
    let faults: Vec<(u16, Option<&str>)> = log
        .iter()
        .map(|r| (r.status, r.fault.as_deref()))
        .filter(|(_, f)| f.is_some())
        .collect();
    assert_eq!(
        faults,
        [
            (429, Some("too_many_requests")),
            (429, Some("too_many_requests")),
            (503, Some("status")),
            (0, Some("drop_connection")),
            (200, Some("truncate_body")),
            (200, Some("truncated_json")),
            (200, Some("empty_ok")),
            (200, Some("wrong_content_type")),
            (200, Some("repeat_previous_page")),
            (200, Some("slow")),
        ]
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn admin_route_injects_and_clears_faults() {
    let sb = start(SandboxConfig::default()).await;
    let c = Client::new(&sb);
    let admin = format!("http://{}/__sandbox/faults", sb.addr());
    let r = c
        .http
        .post(&admin)
        .body(r#"[{"endpoint": "transfers", "fault": {"kind": "status", "code": 502}}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    error_json(c.get(&format!("reports/transfers?{OCT}")).await, 502).await;
    error_json(c.get(&format!("reports/transfers?{OCT}")).await, 502).await; // times 0: forever
    assert_eq!(c.http.delete(&admin).send().await.unwrap().status(), 204);
    assert_eq!(
        c.get(&format!("reports/transfers?{OCT}")).await.status(),
        200
    );
    let r = c.http.post(&admin).body("not json").send().await.unwrap();
    error_json(r, 422).await;
}

#[tokio::test]
async fn a_larger_dataset_generates_quickly_and_serves_full_pages() {
    let cfg = SandboxConfig {
        from: date("2025-01-01"),
        to: date("2025-03-31"),
        transactions_per_day: 1_000,
        ..SandboxConfig::default()
    };
    let t0 = std::time::Instant::now();
    let sb = start(cfg).await;
    let generated = t0.elapsed();
    assert!(sb.dataset().transaction_count() > 80_000);
    assert!(
        generated < std::time::Duration::from_secs(60),
        "{generated:?}"
    );
    let c = Client::new(&sb);
    let rows = registry_rows(
        &c.ok("reports/transactions/registry.json?datetime_from=2025-01-01&datetime_to=2025-03-31&limit=1000&offset=50000")
            .await,
    );
    assert_eq!(rows.len(), 1000);
}

/// The payout-currency ledger export books what Xsolla's registry shows with
/// `in_transfer_currency=1` (each row × its `fx_rate`, rounded to USD): the reconciliation's
/// own conversion of a payment-currency fetch (`conventions.currency = "payout"`) is the same
/// arithmetic, so both variants of Xsolla's answer agree with the ledger.
#[tokio::test]
async fn the_payout_currency_export_books_xsollas_in_transfer_currency_view() {
    let sb = start(SandboxConfig {
        transactions_per_day: 10,
        ..SandboxConfig::default()
    })
    .await;
    let c = Client::new(&sb);
    let converted = registry_rows(
        &c.ok(&format!(
            "reports/transactions/registry.json?{OCT}&in_transfer_currency=1"
        ))
        .await,
    );
    let w = crate::domain::window::Window::new(date("2026-10-01"), date("2026-10-31")).unwrap();
    let export = ledger::ledger_export_with(
        &sb.dataset(),
        w,
        ledger::ExportOptions {
            convention: ledger::Convention::PayoutCurrency,
            ..ledger::ExportOptions::default()
        },
    );
    let mut rdr = csv::Reader::from_reader(export.csv.as_slice());
    let mut booked: BTreeMap<(String, bool), Decimal> = BTreeMap::new();
    for r in rdr.records() {
        let r = r.unwrap();
        assert_eq!(&r[3], "USD");
        let gross: Decimal = r[4].parse().unwrap();
        *booked
            .entry((r[1].to_owned(), gross.is_sign_negative()))
            .or_default() += gross;
    }
    let mut xsolla: BTreeMap<(String, bool), Decimal> = BTreeMap::new();
    for r in &converted {
        let a = r.payment_amount.unwrap();
        *xsolla
            .entry((r.transaction_id.unwrap().to_string(), a.is_sign_negative()))
            .or_default() += a;
    }
    assert!(booked.len() > 100);
    assert_eq!(booked, xsolla);
    sb.shutdown().await;
}

#[tokio::test]
async fn order_numbers_per_project_repeat_across_projects_only() {
    let sb = start(SandboxConfig {
        transactions_per_day: 10,
        quirks: DataQuirks {
            order_numbers_per_project: true,
            ..DataQuirks::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let c = Client::new(&sb);
    let rows = registry_rows(
        &c.ok(&format!(
            "reports/transactions/registry.json?{OCT}&show_dry_run=1"
        ))
        .await,
    );
    let payments: Vec<&TransactionRow> = rows
        .iter()
        .filter(|r| !r.payment_amount.unwrap().is_sign_negative())
        .collect();
    let mut per_project: HashSet<(i64, String)> = HashSet::new();
    let mut numbers: BTreeMap<String, HashSet<i64>> = BTreeMap::new();
    for r in &payments {
        let (p, e) = (r.project_id.unwrap(), r.external_id.clone().unwrap());
        assert!(e.parse::<u32>().unwrap() >= 1001, "{e}");
        assert!(
            per_project.insert((p, e.clone())),
            "{e} twice in project {p}"
        );
        numbers.entry(e).or_default().insert(p);
    }
    assert!(
        numbers.values().filter(|ps| ps.len() > 1).count() > 10,
        "order numbers shared by two games"
    );
    sb.shutdown().await;
}

/// Pages found through the page index are the pages found by walking every row: for queries
/// of every filter, at offsets on, next to and between checkpoints, asked in no order.
#[tokio::test]
async fn indexed_pages_equal_pages_walked_from_the_first_row() {
    let sb = start(SandboxConfig::default()).await;
    let ds = sb.shared.data.read().unwrap();
    let payout = ds.row_payout(ds.rows[ds.rows.len() / 2]).unwrap();
    let mut queries = Vec::new();
    for (window, transfer_id, status, show_dry_run) in [
        (
            Some((date("2026-10-01"), date("2026-10-31"))),
            None,
            None,
            false,
        ),
        (
            Some((date("2026-10-01"), date("2026-10-31"))),
            None,
            None,
            true,
        ),
        (None, Some(payout), None, false),
        (None, None, Some("done".to_owned()), false),
    ] {
        queries.push(api::RegistryQuery {
            transfer_id,
            status,
            show_dry_run,
            window,
            ..api::RegistryQuery::window(NaiveDate::MIN, NaiveDate::MAX)
        });
    }
    let index = api::PageIndex::default();
    let mut seed = 7u64;
    let mut checked = 0;
    for _ in 0..400 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let q = &mut queries[(seed >> 33) as usize % 4];
        q.offset = match (seed >> 20) % 4 {
            0 => (seed >> 40) as usize % 6 * 256,
            1 => ((seed >> 40) as usize % 6 * 256).saturating_sub(1),
            2 => (seed >> 40) as usize % 3000,
            _ => (seed >> 40) as usize % 40_000,
        };
        q.limit =
            [Some(1), Some(100), Some(256), Some(257), Some(1000), None][(seed >> 8) as usize % 6];
        let walked = q.select(&ds);
        let indexed = q.select_indexed(&ds, &index);
        let ids = |rows: &[data::RowRef]| {
            rows.iter()
                .map(|r| (r.at, r.txn, r.rev))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(&indexed),
            ids(&walked),
            "offset {} limit {:?}",
            q.offset,
            q.limit
        );
        checked += usize::from(!walked.is_empty());
    }
    assert!(checked > 150, "{checked} non-empty pages");
}

/// A change of the data (a refund) empties the page index: the pages read after it are those
/// of the changed data, though the same query's pages were read (and indexed) before it.
#[tokio::test]
async fn pages_after_a_refund_are_those_of_the_changed_data() {
    let sb = start(SandboxConfig {
        today: Some(date("2026-11-03")),
        ..SandboxConfig::default()
    })
    .await;
    let c = Client::new(&sb);
    let before = done_ids_page_by_page(&c).await;
    let gone = before[5];
    let r = c
        .put_json(
            &format!("reports/transactions/{gone}/refund"),
            r#"{"description": "x"}"#,
        )
        .await;
    assert_eq!(r.status(), 204);
    let after = done_ids_page_by_page(&c).await;
    let expected: Vec<i64> = before.iter().copied().filter(|&id| id != gone).collect();
    assert_eq!(after, expected);
}

/// The ids of October's `done` rows, read 100 at a time.
async fn done_ids_page_by_page(c: &Client) -> Vec<i64> {
    let mut ids = Vec::new();
    for offset in (0..).step_by(100) {
        let body = c
            .ok(&format!(
                "reports/transactions/registry.json?{OCT}&status=done&limit=100&offset={offset}"
            ))
            .await;
        let rows: Vec<TransactionRow> = parse_json_rows(&body, REGISTRY_REQUIRED).unwrap();
        if rows.is_empty() {
            return ids;
        }
        ids.extend(rows.iter().map(|r| r.transaction_id.unwrap()));
    }
    unreachable!()
}
