//! Shared set-up: a sandbox on an ephemeral loopback port and a client with fast retries.

use chrono::NaiveDate;
use xsolla_recon::domain::window::Window;
use xsolla_recon::sandbox::{Sandbox, SandboxConfig};
use xsolla_recon::xsolla::{ApiKey, HttpSettings, Transport, XsollaClient};

pub fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub fn window(from: &str, to: &str) -> Window {
    Window::new(d(from), d(to)).unwrap()
}

/// A small month of data: enough rows for several pages, fast to generate.
pub fn small_config() -> SandboxConfig {
    SandboxConfig {
        from: d("2026-10-01"),
        to: d("2026-10-31"),
        transactions_per_day: 12,
        seed: 11,
        ..Default::default()
    }
}

pub async fn start(cfg: SandboxConfig) -> Sandbox {
    Sandbox::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts")
}

/// Retries fast enough for tests, still exercising every path.
pub fn fast_http() -> HttpSettings {
    HttpSettings {
        connect_timeout_ms: 2_000,
        request_timeout_ms: 2_000,
        max_attempts: 4,
        retry_budget_ms: 20_000,
        backoff_initial_ms: 5,
        backoff_max_ms: 50,
        min_request_interval_ms: 0,
        max_concurrency: 2,
        ..Default::default()
    }
}

pub fn client_for(sb: &Sandbox, key: &str, http: HttpSettings) -> XsollaClient {
    let t = Transport::new(&sb.base_url(), sb.merchant_id(), ApiKey::new(key), http)
        .expect("transport builds");
    XsollaClient::new(t)
}

pub fn client(sb: &Sandbox) -> XsollaClient {
    client_for(sb, sb.api_key(), fast_http())
}
