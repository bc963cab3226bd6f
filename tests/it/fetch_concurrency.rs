//! The fetch's reads at once (the window's pages, the lists, the breakdown days and the
//! payouts' rows): the snapshot is the same whatever `http.max_concurrency`, the server never
//! sees more requests at once than it allows, the payouts are read at once (slow payout
//! requests take a fraction of their time one after another), and one payout's failed read
//! fails the fetch with that read's request in the error.

use crate::support::*;
use serde_json::Value;
use std::path::Path;
use xsolla_recon::domain::window::Window;
use xsolla_recon::fetch::{fetch_window, FetchSettings, FetchTarget, Manifest, NoProgress};
use xsolla_recon::sandbox::{Fault, FaultRule, Sandbox, SandboxConfig};
use xsolla_recon::xsolla::HttpSettings;

/// Three months of data with a few hundred rows per payout: several pages per payout read.
async fn sandbox() -> Sandbox {
    start(SandboxConfig {
        from: d("2026-08-01"),
        to: d("2026-10-31"),
        transactions_per_day: 25,
        seed: 5,
        ..Default::default()
    })
    .await
}

fn months() -> Window {
    window("2026-09-01", "2026-10-31")
}

/// Small pages, so that every read has several.
fn settings() -> FetchSettings {
    FetchSettings {
        page_limit: 60,
        ..Default::default()
    }
}

fn http(max_concurrency: u32) -> HttpSettings {
    HttpSettings {
        max_concurrency,
        ..fast_http()
    }
}

/// Fetches `w` into a fresh folder with `max_concurrency`; returns the folder (kept alive),
/// the snapshot's folder and its manifest.
async fn fetch(
    sb: &Sandbox,
    max_concurrency: u32,
    w: Window,
) -> (tempfile::TempDir, std::path::PathBuf, Manifest) {
    let data = tempfile::tempdir().unwrap();
    let client = client_for(sb, sb.api_key(), http(max_concurrency));
    let target = FetchTarget {
        merchant: "m",
        merchant_id: sb.merchant_id(),
        base_url: &sb.base_url(),
    };
    let (dir, manifest) = fetch_window(&client, data.path(), target, w, &settings(), &NoProgress)
        .await
        .unwrap_or_else(|e| panic!("fetch with max_concurrency {max_concurrency}: {e}"));
    (data, dir, manifest)
}

/// A file's bytes, with what differs between two fetches of the same data taken out: when
/// the responses were received (sidecars, manifest) and the fetch's own name and times.
fn comparable(rel: &str, bytes: Vec<u8>) -> Vec<u8> {
    if !(rel.ends_with(".meta.json") || rel == "manifest.json") {
        return bytes;
    }
    let mut v: Value = serde_json::from_slice(&bytes).unwrap();
    let times = |o: &mut Value| {
        let o = o.as_object_mut().unwrap();
        assert!(o.remove("received_at").is_some(), "{rel}: received_at");
    };
    if rel == "manifest.json" {
        let o = v.as_object_mut().unwrap();
        for k in ["fetch_id", "started_at", "finished_at"] {
            assert!(o.remove(k).is_some(), "manifest: {k}");
        }
        o["files"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .for_each(times);
    } else {
        times(&mut v);
    }
    serde_json::to_vec_pretty(&v).unwrap()
}

/// Every file of a snapshot by its path inside it, comparable.
fn snapshot_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let bytes = comparable(&rel, std::fs::read(&p).unwrap());
            (rel, bytes)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_read_at_a_time_and_four_at_once_store_the_same_snapshot() {
    let sb = sandbox().await;
    let w = months();
    // Every request for a payout's rows waits at the server: read one after another, they
    // alone would take `SLOW` times their number.
    const SLOW: u64 = 150;
    sb.add_faults(vec![FaultRule {
        endpoint: Some("transfer_id=".into()),
        fault: Fault::Slow { millis: SLOW },
        skip: 0,
        times: 0,
    }]);
    let (_one, one_dir, one) = fetch(&sb, 1, w).await;
    assert_eq!(sb.most_in_flight(), 1, "max_concurrency = 1");
    sb.reset_most_in_flight();
    let started = std::time::Instant::now();
    let (_four, four_dir, four) = fetch(&sb, 4, w).await;
    let took = started.elapsed();
    assert_eq!(
        sb.most_in_flight(),
        4,
        "max_concurrency = 4: the reads at once reach the limit and never pass it"
    );
    let payout_requests = one
        .files
        .iter()
        .filter(|f| f.endpoint == "payout_registry")
        .count() as u64;
    let one_after_another = std::time::Duration::from_millis(SLOW * payout_requests);
    println!("fetch_concurrency: {took:?} at max_concurrency 4; {one_after_another:?} for the {payout_requests} slow payout requests alone, one after another");
    assert!(
        took < one_after_another * 3 / 4,
        "payouts read at once: {took:?} for {payout_requests} requests of {SLOW} ms each"
    );

    assert_eq!(
        one.counts, four.counts,
        "the same counts, requests included"
    );
    let c = &one.counts;
    assert!(c.payouts_unique >= 4, "{c:?}");
    assert!(
        c.payout_registry_rows > 4 * 60,
        "several pages per payout: {c:?}"
    );
    assert!(one.files.iter().any(|f| f.endpoint == "breakdown"));
    let (a, b) = (snapshot_files(&one_dir), snapshot_files(&four_dir));
    let names = |s: &[(String, Vec<u8>)]| s.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "the same files");
    assert!(a.len() > 2 * one.files.len(), "bodies, sidecars, manifest");
    for ((rel, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{rel} differs between max_concurrency 1 and 4");
    }
    // The manifest lists the payouts' rows by payout id, each payout's pages in order.
    let payout_files: Vec<&str> = one
        .files
        .iter()
        .filter(|f| f.endpoint == "payout_registry")
        .map(|f| f.path.as_str())
        .collect();
    let mut sorted = payout_files.clone();
    sorted.sort();
    assert_eq!(payout_files, sorted);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_payout_read_fails_the_fetch_naming_its_request() {
    let sb = sandbox().await;
    let w = months();
    let payouts = sb.dataset().payouts();
    let (_, _, reference) = fetch(&sb, 4, w).await;
    let fetched: Vec<i64> = reference
        .files
        .iter()
        .filter(|f| f.endpoint == "payout_registry")
        .filter_map(|f| f.path.split('/').nth(1)?.parse().ok())
        .collect();
    // A payout in the middle, failing on its second page while the others are being read.
    let id = fetched[fetched.len() / 2];
    assert!(payouts.iter().any(|p| p.id == id && p.rows > 60));
    sb.add_faults(vec![FaultRule {
        endpoint: Some(format!("transfer_id={id}&")),
        fault: Fault::Status { code: 422 },
        skip: 1,
        times: 0,
    }]);
    let data = tempfile::tempdir().unwrap();
    let client = client_for(&sb, sb.api_key(), http(4));
    let target = FetchTarget {
        merchant: "m",
        merchant_id: sb.merchant_id(),
        base_url: &sb.base_url(),
    };
    let err = fetch_window(&client, data.path(), target, w, &settings(), &NoProgress)
        .await
        .expect_err("a payout read that fails fails the fetch");
    let shown = format!("{err}");
    assert!(shown.contains(&format!("transfer_id={id}")), "{shown}");
    assert!(shown.contains("offset=60"), "{shown}");
    assert!(shown.contains("422"), "{shown}");
    assert!(shown.contains("request_id"), "{shown}");
    let refused: Vec<_> = sb
        .requests()
        .into_iter()
        .filter(|r| r.status == 422)
        .collect();
    assert_eq!(refused.len(), 1, "a 422 is not retried");
    // Nothing is left that looks like a snapshot, complete or not.
    let snaps = data.path().join("snapshots/m");
    let left: Vec<_> = std::fs::read_dir(&snaps).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
    sb.shutdown().await;
}
