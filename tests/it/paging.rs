//! Pagination against a server that caps pages below `limit`, and duplicates decided by
//! offsets, not by content: equal rows at a page boundary are two rows, one row served at two
//! offsets (rows inserted ahead of the read) is one.

use crate::support::*;
use std::collections::BTreeSet;
use xsolla_recon::domain::window::Window;
use xsolla_recon::fetch::{fetch_window, FetchSettings, FetchTarget, NoProgress};
use xsolla_recon::sandbox::{DataQuirks, Sandbox, SandboxConfig};
use xsolla_recon::xsolla::client::{Format, RegistryFilter};
use xsolla_recon::xsolla::model::{TransactionRow, REGISTRY_REQUIRED};
use xsolla_recon::xsolla::paging::{walk_registry, PagingLimits, PagingStats, WalkedPage};
use xsolla_recon::xsolla::parse::json_record;
use xsolla_recon::xsolla::XsollaClient;

/// Kept rows of a whole-window read; `after_page` runs once each page is handed over.
async fn read(
    c: &XsollaClient,
    w: Window,
    limits: PagingLimits,
    mut after_page: impl FnMut(&WalkedPage),
) -> (Vec<TransactionRow>, PagingStats) {
    let mut rows = Vec::new();
    let stats = walk_registry(
        c,
        Some(w),
        &RegistryFilter::default(),
        Format::Json,
        limits,
        |p| {
            after_page(&p);
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
    .await
    .expect("the read completes");
    (rows, stats)
}

/// What the sandbox serves for `w`, all rows, straight from its data.
fn truth(sb: &Sandbox, w: Window) -> Vec<TransactionRow> {
    sb.dataset()
        .registry_json(w.from, w.to)
        .iter()
        .map(|v| json_record(v, REGISTRY_REQUIRED).unwrap())
        .collect()
}

fn transaction_ids(rows: &[TransactionRow]) -> BTreeSet<i64> {
    rows.iter().filter_map(|r| r.transaction_id).collect()
}

fn limits(page_limit: u32, end_on_short_page: bool) -> PagingLimits {
    PagingLimits {
        page_limit,
        end_on_short_page,
        ..Default::default()
    }
}

/// A month of more than 20,000 registry rows, served at most 100 per page.
async fn capped_sandbox() -> (Sandbox, Window) {
    let sb = start(SandboxConfig {
        transactions_per_day: 700,
        page_cap: Some(100),
        ..small_config()
    })
    .await;
    (sb, window("2026-10-01", "2026-10-31"))
}

#[tokio::test]
async fn a_server_page_cap_below_limit_loses_no_rows() {
    let (sb, w) = capped_sandbox().await;
    let expected = truth(&sb, w);
    assert!(expected.len() >= 20_000, "{} rows", expected.len());
    let (rows, stats) = read(&client(&sb), w, limits(500, false), |_| {}).await;
    assert_eq!(rows.len(), expected.len());
    assert_eq!(transaction_ids(&rows), transaction_ids(&expected));
    assert_eq!(rows, expected);
    assert_eq!(stats.page_cap_detected, Some(100));
    assert_eq!(stats.duplicates_skipped, 0);
    assert_eq!(stats.pages, (expected.len() as u64).div_ceil(100) + 1);
    sb.shutdown().await;
}

/// The old rule, ending a chunk at the first short page, keeps the first page only.
#[tokio::test]
async fn end_on_short_page_loses_rows_under_a_page_cap() {
    let (sb, w) = capped_sandbox().await;
    let expected = truth(&sb, w);
    let (rows, stats) = read(&client(&sb), w, limits(500, true), |_| {}).await;
    assert_eq!(rows.len(), 100, "one capped page, then the chunk ended");
    assert!(transaction_ids(&rows).len() < transaction_ids(&expected).len());
    assert_eq!(stats.pages, 1);
    assert_eq!(
        stats.page_cap_detected, None,
        "never read far enough to see it"
    );
    sb.shutdown().await;
}

/// Without a cap, the rule saves the empty page and still reads everything.
#[tokio::test]
async fn end_on_short_page_reads_everything_from_a_server_without_a_cap() {
    let sb = start(small_config()).await;
    let w = window("2026-10-01", "2026-10-31");
    let expected = truth(&sb, w);
    let (rows, stats) = read(&client(&sb), w, limits(45, true), |_| {}).await;
    assert_eq!(rows, expected);
    assert_eq!(stats.pages, (expected.len() as u64).div_ceil(45));
    sb.shutdown().await;
}

/// The fetch records the cap in its counts (and so in the manifest) for the window read and
/// for the per-payout reads.
#[tokio::test]
async fn a_fetch_records_the_page_cap_it_met() {
    let sb = start(SandboxConfig {
        page_cap: Some(30),
        ..small_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let w = window("2026-10-01", "2026-10-10");
    let target = FetchTarget {
        merchant: "m",
        merchant_id: sb.merchant_id(),
        base_url: &sb.base_url(),
    };
    let settings = FetchSettings {
        page_limit: 100,
        ..Default::default()
    };
    let (_, manifest) = fetch_window(&client(&sb), dir.path(), target, w, &settings, &NoProgress)
        .await
        .unwrap();
    let counts = &manifest.counts;
    assert_eq!(counts.page_cap_detected, Some(30));
    assert_eq!(counts.registry.page_cap_detected, Some(30));
    assert_eq!(counts.registry.rows_unique, truth(&sb, w).len() as u64);
    sb.shutdown().await;
}

/// Regression: a row equal to the last row of the previous page was skipped as a repeat, so a
/// payment Xsolla serves twice lost its copy when the two fell on different pages, and the
/// reconciliation could not report it as a duplicate.
#[tokio::test]
async fn identical_rows_at_a_page_boundary_are_both_kept() {
    let sb = start(SandboxConfig {
        quirks: DataQuirks {
            duplicated_payments: 3,
            ..Default::default()
        },
        ..small_config()
    })
    .await;
    let w = window("2026-10-01", "2026-10-31");
    let expected = truth(&sb, w);
    // The quirk serves payments twice, side by side; the first may be row 0, so take the last.
    let k = expected
        .windows(2)
        .rposition(|p| p[0] == p[1])
        .expect("the quirk served a payment twice");
    assert!(k >= 1, "a page of one row would repeat byte for byte");
    // The first copy ends page 0, the second starts page 1 (earlier twins sit inside page 0).
    let page_limit = k as u32 + 1;
    let (rows, stats) = read(&client(&sb), w, limits(page_limit, false), |_| {}).await;
    assert_eq!(rows, expected);
    assert_eq!(stats.duplicates_skipped, 0);
    assert_eq!(stats.boundary_rereads, 1, "the boundary was checked once");
    sb.shutdown().await;
}

/// A refund made during the read lands ahead of the offset already read: the next page starts
/// with the last row of the previous one, which is skipped once, so no row is doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_inserted_ahead_of_the_read_are_not_counted_twice() {
    let sb = start(SandboxConfig {
        today: Some(d("2026-10-04")),
        ..small_config()
    })
    .await;
    let w = window("2026-10-01", "2026-10-31");
    let before = truth(&sb, w);
    let day = |r: &TransactionRow| r.transfer_date.unwrap().date();
    // Page 0 ends about 3 October, so the refund (4 October, noon) lands inside page 1.
    let page_limit = before.iter().filter(|r| day(r) <= d("2026-10-03")).count() as u32;
    let victim = before
        .iter()
        .find(|r| {
            day(r) == d("2026-10-01")
                && r.status.as_deref() == Some("done")
                && r.dry_run != Some(true)
                && r.payment_amount.unwrap().is_sign_positive()
        })
        .and_then(|r| r.transaction_id)
        .unwrap();
    let (base_url, merchant, key) = (sb.base_url(), sb.merchant_id(), sb.api_key().to_owned());
    let refund_now = move || {
        // The walk is synchronous inside its sink: refund from another thread and runtime.
        std::thread::spawn(move || {
            let t = xsolla_recon::xsolla::Transport::new(
                &base_url,
                merchant,
                xsolla_recon::xsolla::ApiKey::new(&key),
                fast_http(),
            )
            .unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(XsollaClient::new(t).refund(victim, "during the read", None))
                .unwrap();
        })
        .join()
        .unwrap();
    };
    let mut refund_now = Some(refund_now);
    let (rows, stats) = read(&client(&sb), w, limits(page_limit, false), |p| {
        if p.pos.index == 1 {
            refund_now.take().unwrap()();
        }
    })
    .await;
    assert_eq!(
        truth(&sb, w).len(),
        before.len() + 1,
        "the refund added a row"
    );
    assert_eq!(
        rows, before,
        "every row once; the refund row landed behind the read"
    );
    assert_eq!(stats.duplicates_skipped, 1);
    assert_eq!(stats.rows_received, before.len() as u64 + 1);
    sb.shutdown().await;
}

/// Offsets of the registry requests the sandbox received, in arrival order.
fn registry_offsets(sb: &Sandbox) -> Vec<u64> {
    sb.requests()
        .iter()
        .filter(|r| r.path.ends_with("/registry.json"))
        .filter_map(|r| {
            r.query.as_deref()?.split('&').find_map(|kv| {
                kv.strip_prefix("offset=")
                    .and_then(|v| v.parse::<u64>().ok())
            })
        })
        .collect()
}

/// The next page is asked for while the current one is still being stored: the sink of page 0
/// waits until the sandbox has received the request for page 1 (it never would if pages were
/// read one after another).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_page_is_requested_while_the_current_one_is_stored() {
    let sb = start(small_config()).await;
    let w = window("2026-10-01", "2026-10-31");
    let mut seen_during_page_0 = None;
    let (rows, _) = read(&client(&sb), w, limits(50, false), |p| {
        if p.pos.index == 0 {
            let started = std::time::Instant::now();
            while !registry_offsets(&sb).contains(&50)
                && started.elapsed() < std::time::Duration::from_secs(5)
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            seen_during_page_0 = Some(registry_offsets(&sb));
        }
    })
    .await;
    assert_eq!(seen_during_page_0, Some(vec![0, 50]));
    assert_eq!(rows, truth(&sb, w));
    sb.shutdown().await;
}

/// Asking ahead changes neither the requests (offsets in order, each once, none after the
/// empty page) nor the rate limit (`min_request_interval_ms` apart), and one request at a time
/// (`max_concurrency = 1`) still reads everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_ahead_keep_the_order_and_the_rate_limit() {
    let sb = start(small_config()).await;
    let w = window("2026-10-01", "2026-10-31");
    let http = xsolla_recon::xsolla::HttpSettings {
        min_request_interval_ms: 40,
        max_concurrency: 1,
        ..fast_http()
    };
    let c = client_for(&sb, sb.api_key(), http);
    let started = std::time::Instant::now();
    let (rows, stats) = read(&c, w, limits(60, false), |_| {}).await;
    let elapsed = started.elapsed();
    let expected = truth(&sb, w);
    assert_eq!(rows, expected);
    let offsets = registry_offsets(&sb);
    let n = expected.len() as u64;
    let wanted: Vec<u64> = (0..=n / 60)
        .map(|i| i * 60)
        .chain((n % 60 != 0).then_some(n))
        .collect();
    assert_eq!(
        offsets, wanted,
        "every page once, in order, up to the empty one"
    );
    assert_eq!(stats.pages, offsets.len() as u64);
    assert!(
        elapsed >= std::time::Duration::from_millis(40 * (offsets.len() as u64 - 1)),
        "{} requests in {elapsed:?}: the rate limit did not hold",
        offsets.len()
    );
    sb.shutdown().await;
}

/// A page the walk may not go on to (the page or row limit) is never asked for ahead.
#[tokio::test]
async fn no_page_is_asked_for_beyond_the_page_and_row_limits() {
    let sb = start(small_config()).await;
    let w = window("2026-10-01", "2026-10-31");
    let c = client(&sb);
    let filter = RegistryFilter::default();
    let walk = |limits: PagingLimits| {
        walk_registry(&c, Some(w), &filter, Format::Json, limits, |_| Ok(()))
    };
    let e = walk(PagingLimits {
        max_pages_per_chunk: 3,
        ..limits(50, false)
    })
    .await
    .unwrap_err();
    assert!(e.to_string().contains("more than 3 pages"), "{e}");
    assert_eq!(registry_offsets(&sb), vec![0, 50, 100]);
    let before = registry_offsets(&sb).len();
    let e = walk(PagingLimits {
        max_rows: 120,
        ..limits(50, false)
    })
    .await
    .unwrap_err();
    assert!(e.to_string().contains("more than 120 rows"), "{e}");
    assert_eq!(registry_offsets(&sb)[before..], [0, 50, 100]);
    sb.shutdown().await;
}
