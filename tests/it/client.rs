//! The Xsolla client against the sandbox: pagination, 92-day splitting, faults, auth errors,
//! exact decimals, CSV and JSON giving the same rows, write calls.

use crate::support::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::str::FromStr;
use xsolla_recon::domain::window::Window;
use xsolla_recon::sandbox::{Fault, FaultRule, Sandbox};
use xsolla_recon::xsolla::client::{Format, LookupKey, RegistryFilter, SearchFilter};
use xsolla_recon::xsolla::model::{TransactionRow, REGISTRY_REQUIRED};
use xsolla_recon::xsolla::paging::{walk_registry, PagingError, PagingLimits, PagingStats};
use xsolla_recon::xsolla::parse::json_record;
use xsolla_recon::xsolla::XsollaClient;

fn limits(page_limit: u32) -> PagingLimits {
    PagingLimits {
        page_limit,
        ..Default::default()
    }
}

/// Every kept row of a whole-window read, in order.
async fn read_all(
    c: &XsollaClient,
    w: Window,
    format: Format,
    page_limit: u32,
) -> Result<(Vec<TransactionRow>, PagingStats), PagingError> {
    let mut rows = Vec::new();
    let stats = walk_registry(
        c,
        Some(w),
        &RegistryFilter::default(),
        format,
        limits(page_limit),
        |p| {
            rows.extend(
                p.page
                    .rows
                    .into_iter()
                    .zip(p.keep)
                    .filter_map(|(r, k)| k.then_some(r)),
            );
            Ok(())
        },
    )
    .await?;
    Ok((rows, stats))
}

/// What a fault-free registry read of `w` returns, straight from the sandbox's data.
fn truth(sb: &Sandbox, w: Window) -> Vec<TransactionRow> {
    sb.dataset()
        .registry_json(w.from, w.to)
        .iter()
        .map(|v| json_record(v, REGISTRY_REQUIRED).unwrap())
        .collect()
}

fn without_extra(mut rows: Vec<TransactionRow>) -> Vec<TransactionRow> {
    rows.iter_mut().for_each(|r| r.extra.clear());
    rows
}

#[tokio::test]
async fn pagination_reads_every_row_exactly_once() {
    let sb = start(small_config()).await;
    let c = client(&sb);
    let w = window("2026-10-01", "2026-10-31");
    let expected = truth(&sb, w);
    assert!(
        expected.len() > 300,
        "the month has enough rows for many pages"
    );
    let (rows, stats) = read_all(&c, w, Format::Json, 37).await.unwrap();
    assert_eq!(rows, expected);
    assert_eq!(stats.rows_received, expected.len() as u64);
    assert_eq!(stats.duplicates_skipped, 0);
    // Full pages, the short last one, and the empty page that ends the chunk (a short page
    // does not: the server may cap pages).
    assert_eq!(stats.pages, (expected.len() as u64).div_ceil(37) + 1);
    assert_eq!(stats.page_cap_detected, None);
    // A refund's negative row and its payment are two rows with one transaction id.
    let mut by_id: BTreeMap<i64, Vec<Decimal>> = BTreeMap::new();
    for r in &rows {
        by_id
            .entry(r.transaction_id.unwrap())
            .or_default()
            .push(r.payment_amount.unwrap());
    }
    assert!(
        by_id
            .values()
            .any(|a| a.len() == 2 && a[0].is_sign_positive() != a[1].is_sign_positive()),
        "some refunded transaction has a positive and a negative row"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn a_window_longer_than_92_days_is_split_and_the_server_would_refuse_it_whole() {
    let sb = start(xsolla_recon::sandbox::SandboxConfig {
        from: d("2025-01-01"),
        to: d("2025-07-31"),
        transactions_per_day: 2,
        ..small_config()
    })
    .await;
    let c = client(&sb);
    let w = window("2025-01-01", "2025-07-31");
    // Asked whole, the server answers 422 with Xsolla's error body, and it is not retried.
    let err = c
        .registry_page(Some(w), &RegistryFilter::default(), Format::Json, 0, 100)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("422"), "{text}");
    assert!(
        text.contains("request_id") || text.contains("request id"),
        "{text}"
    );
    assert_eq!(sb.requests().len(), 1, "a 422 is not retried");

    let (rows, _) = read_all(&c, w, Format::Json, 100).await.unwrap();
    assert_eq!(rows, truth(&sb, w));
    let registry_calls: Vec<String> = sb
        .requests()
        .into_iter()
        .skip(1)
        .filter(|r| r.path.contains("registry"))
        .filter_map(|r| r.query)
        .collect();
    for q in &registry_calls {
        let get = |k: &str| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .unwrap()
                .to_owned()
        };
        let from = d(&get("datetime_from"));
        let to = d(&get("datetime_to"));
        assert!((to - from).num_days() < 92, "{q}");
    }
    assert!(registry_calls
        .iter()
        .any(|q| q.contains("datetime_from=2025-04-03")));
    sb.shutdown().await;
}

#[tokio::test]
async fn csv_and_json_give_the_same_rows() {
    let sb = start(small_config()).await;
    let c = client(&sb);
    let w = window("2026-10-01", "2026-10-15");
    let (json, _) = read_all(&c, w, Format::Json, 50).await.unwrap();
    let (csv, _) = read_all(&c, w, Format::Csv, 50).await.unwrap();
    assert!(!json.is_empty());
    assert_eq!(without_extra(json), without_extra(csv));
    sb.shutdown().await;
}

#[tokio::test]
async fn amounts_are_exact_and_agree_with_the_breakdown() {
    let sb = start(small_config()).await;
    let c = client(&sb);
    let w = window("2026-10-01", "2026-10-31");
    let (rows, _) = read_all(&c, w, Format::Json, 200).await.unwrap();
    let mut sums: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for r in &rows {
        let e = sums.entry(r.payment_currency.clone().unwrap()).or_default();
        e.0 += r.payment_amount.unwrap();
        e.1 += r.payout_amount.unwrap();
        // No amount carries more decimals than its currency has.
        let exp = xsolla_recon::domain::money::exponent(r.payment_currency.as_deref().unwrap());
        assert!(
            r.payment_amount.unwrap().normalize().scale() <= exp,
            "{r:?}"
        );
    }
    assert!(sums.contains_key("JPY") && sums.contains_key("KWD") && sums.contains_key("USD"));
    let breakdown = c.payout_breakdown(w).await.unwrap();
    assert_eq!(breakdown.rows.len(), sums.len());
    for b in &breakdown.rows {
        let (pay, payout) = sums[b.currency.as_deref().unwrap()];
        assert_eq!(b.payments_amount, Some(pay), "{b:?}");
        assert_eq!(b.sum_payout, Some(payout), "{b:?}");
    }
    // And plain decimal arithmetic is exact: 0.1 + 0.2 == 0.3.
    let a = Decimal::from_str("0.1").unwrap() + Decimal::from_str("0.2").unwrap();
    assert_eq!(a, Decimal::from_str("0.3").unwrap());
    sb.shutdown().await;
}

#[tokio::test]
async fn payouts_add_up_to_their_rows() {
    let sb = start(small_config()).await;
    let c = client(&sb);
    // Payouts are paid after their period and refunds land later: read a wider window, so
    // every payout paid in it has all its rows in it.
    let w = window("2026-10-01", "2026-11-30");
    let (rows, _) = read_all(&c, w, Format::Json, 500).await.unwrap();
    let payouts = c.payouts(w).await.unwrap();
    assert!(!payouts.rows.is_empty());
    for p in &payouts.rows {
        let id = p.payout_id.unwrap();
        let sum: Decimal = rows
            .iter()
            .filter(|r| r.transfer_id == Some(id))
            .map(|r| r.payout_amount.unwrap())
            .sum();
        assert_eq!(p.payout_amount, Some(sum), "payout {id}");
    }
    let reports = c.reports(window("2026-10-01", "2026-10-31")).await.unwrap();
    assert!(!reports.rows.is_empty());
    sb.shutdown().await;
}

/// Every transient fault the sandbox can inject is survived with the same rows.
#[tokio::test]
async fn every_injected_fault_is_recovered() {
    let sb = start(small_config()).await;
    let c = client(&sb);
    let w = window("2026-10-01", "2026-10-10");
    let (expected, _) = read_all(&c, w, Format::Json, 40).await.unwrap();
    let faults = vec![
        Fault::TooManyRequests {
            retry_after: Some("1".into()),
        },
        Fault::TooManyRequests { retry_after: None },
        Fault::Status { code: 500 },
        Fault::Status { code: 502 },
        Fault::Status { code: 503 },
        Fault::Slow { millis: 3_000 },
        Fault::DropConnection,
        Fault::TruncateBody,
        Fault::TruncatedJson,
        Fault::EmptyOk,
        Fault::WrongContentType,
        Fault::RepeatPreviousPage,
    ];
    for fault in faults {
        sb.clear_faults();
        sb.add_faults(vec![FaultRule {
            endpoint: Some("registry".into()),
            fault: fault.clone(),
            // Hit the second page, so RepeatPreviousPage has a previous page.
            skip: 1,
            times: 1,
        }]);
        let before = sb.requests().len();
        let (rows, stats) = read_all(&c, w, Format::Json, 40)
            .await
            .unwrap_or_else(|e| panic!("{fault:?} was not recovered: {e}"));
        assert_eq!(rows, expected, "{fault:?}");
        let applied = sb.requests()[before..]
            .iter()
            .filter(|r| r.fault.is_some())
            .count();
        assert_eq!(applied, 1, "{fault:?} fired once");
        if matches!(fault, Fault::RepeatPreviousPage) {
            assert_eq!(stats.repeated_pages_refetched, 1);
        }
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn a_fault_that_never_ends_is_reported_with_url_and_attempts() {
    let sb = start(small_config()).await;
    let c = client(&sb);
    sb.add_faults(vec![FaultRule {
        endpoint: Some("transfers".into()),
        fault: Fault::Status { code: 503 },
        skip: 0,
        times: 0,
    }]);
    let err = c
        .payouts(window("2026-10-01", "2026-10-31"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("/reports/transfers"), "{text}");
    assert!(text.contains('4'), "names the 4 attempts: {text}");
    assert_eq!(sb.requests().len(), 4);
    sb.shutdown().await;
}

#[tokio::test]
async fn auth_errors_say_what_to_do_and_are_not_retried() {
    let sb = start(small_config()).await;
    let w = window("2026-10-01", "2026-10-02");
    let wrong = client_for(&sb, "not-the-key", fast_http());
    let e = wrong.reports(w).await.unwrap_err();
    assert!(e.to_string().contains("401"), "{e}");
    assert!(e.to_string().to_lowercase().contains("key"), "{e}");
    assert!(
        !e.to_string().contains("not-the-key"),
        "the key never appears: {e}"
    );
    assert!(!format!("{e:?}").contains("not-the-key"));
    let project = client_for(&sb, "sandbox-project-key", fast_http());
    let e = project.reports(w).await.unwrap_err();
    assert!(e.to_string().contains("403"), "{e}");
    assert!(e.to_string().contains("company-level"), "{e}");
    assert_eq!(sb.requests().len(), 2, "neither 401 nor 403 is retried");
    sb.shutdown().await;
}

#[tokio::test]
async fn refunds_partial_refunds_and_chargebacks_show_up_in_later_reads() {
    let sb = start(small_config()).await;
    let c = client(&sb);
    let w = window("2026-10-01", "2026-10-31");
    let (rows, _) = read_all(&c, w, Format::Json, 500).await.unwrap();
    let mut done = rows.iter().filter(|r| {
        r.status.as_deref() == Some("done") && r.payment_amount.unwrap().is_sign_positive()
    });
    let full = done.next().unwrap().clone();
    let partial = done
        .find(|r| r.payment_currency.as_deref() == Some("KWD"))
        .unwrap_or_else(|| done.next().unwrap())
        .clone();
    let charged = done.next().unwrap().clone();

    c.refund(full.transaction_id.unwrap(), "test refund request", None)
        .await
        .unwrap();
    let part = Decimal::from_str("0.1").unwrap();
    c.partial_refund(partial.transaction_id.unwrap(), part, "partial")
        .await
        .unwrap();
    c.chargeback(charged.project_id.unwrap(), charged.transaction_id.unwrap())
        .await
        .unwrap();
    // A second full refund is refused with Xsolla's message, not retried.
    let e = c
        .refund(full.transaction_id.unwrap(), "again", None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("422"), "{e}");
    // Too large a partial refund is refused.
    let e = c
        .partial_refund(
            charged.transaction_id.unwrap(),
            Decimal::from(1_000_000_000),
            "x",
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("422"), "{e}");

    let (after, _) = read_all(&c, w, Format::Json, 500).await.unwrap();
    let negative = |id: i64| {
        after
            .iter()
            .filter(|r| {
                r.transaction_id == Some(id) && r.payment_amount.unwrap().is_sign_negative()
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    let n = negative(full.transaction_id.unwrap());
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].payment_amount, full.payment_amount.map(|a| -a));
    let n = negative(partial.transaction_id.unwrap());
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].payment_amount, Some(-part), "exact partial amount");
    let n = negative(charged.transaction_id.unwrap());
    assert_eq!(n.len(), 1);
    assert!(n[0].chargeback_penalty.unwrap_or_default() != Decimal::ZERO);

    // Drill-down agrees.
    let found = c
        .simple_search(&LookupKey::TransactionId(full.transaction_id.unwrap()))
        .await
        .unwrap();
    assert_eq!(found.rows[0].status.as_deref(), Some("refunded"));
    let details = c
        .transaction_details(partial.transaction_id.unwrap())
        .await
        .unwrap();
    assert_eq!(details.rows[0].status.as_deref(), Some("partiallyRefunded"));
    let by_order = c
        .simple_search(&LookupKey::ExternalId(charged.external_id.clone().unwrap()))
        .await
        .unwrap();
    assert_eq!(by_order.rows[0].transaction_id, charged.transaction_id);
    sb.shutdown().await;
}

#[tokio::test]
async fn search_pages_in_both_formats() {
    let sb = start(small_config()).await;
    let c = client(&sb);
    let f = SearchFilter {
        from: Some(d("2026-10-01")),
        to: Some(d("2026-10-03")),
        ..Default::default()
    };
    let json = c.search_page(&f, Format::Json, 0, 1000).await.unwrap();
    let csv = c.search_page(&f, Format::Csv, 0, 1000).await.unwrap();
    assert!(!json.rows.is_empty());
    assert_eq!(without_extra(json.rows.clone()), without_extra(csv.rows));
    // Search also shows payments that never completed.
    assert!(json
        .rows
        .iter()
        .any(|r| r.status.as_deref() != Some("done")));
    sb.shutdown().await;
}
