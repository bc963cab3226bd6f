//! `xsolla-recon demo`: the whole job on the embedded sandbox, with no config, network or key.
//!
//! Today it covers what exists: it starts the sandbox on a free loopback port with a month of
//! generated data for a fictional merchant and fetches that month into `out/demo/`. The later
//! stages (reconcile, report, mail) plug in here as they are built.

use crate::config::{FetchSettings, MerchantConfig};
use crate::fetch::{self, FetchError, Manifest, Progress};
use crate::sandbox::{Sandbox, SandboxConfig, SandboxError};
use crate::xsolla::window::Window;
use crate::xsolla::{ApiKey, HttpSettings, Transport, XsollaClient, XsollaError};
use std::path::{Path, PathBuf};

/// The fictional merchant's name, used in folders and output.
pub const DEMO_MERCHANT: &str = "acme-games";

/// What the demo did.
#[derive(Debug)]
pub struct DemoOutcome {
    /// The sandbox URL it used (gone when the demo ends).
    pub base_url: String,
    /// The month fetched.
    pub window: Window,
    /// The snapshot folder.
    pub snapshot: PathBuf,
    /// The snapshot's manifest.
    pub manifest: Manifest,
}

/// A demo failure.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The sandbox did not start.
    #[error("starting the embedded sandbox: {0}")]
    Sandbox(#[from] SandboxError),
    /// The client could not be built.
    #[error(transparent)]
    Client(#[from] XsollaError),
    /// Fetching failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// Runs the demo, writing under `out_dir` (normally `out/demo`).
pub async fn run(out_dir: &Path, progress: &dyn Progress) -> Result<DemoOutcome, DemoError> {
    let cfg = SandboxConfig::default();
    let window = Window::new(cfg.from, cfg.to).expect("the default sandbox month is ordered");
    let sandbox = Sandbox::start(cfg, "127.0.0.1:0".parse().expect("literal address")).await?;
    let merchant = MerchantConfig {
        name: DEMO_MERCHANT.to_owned(),
        merchant_id: sandbox.merchant_id(),
        api_key_env: "XSOLLA_API_KEY".to_owned(),
        base_url: sandbox.base_url(),
        ledger: None,
        project_ids: Vec::new(),
    };
    // Loopback needs no politeness delay.
    let http = HttpSettings {
        min_request_interval_ms: 0,
        ..HttpSettings::default()
    };
    let transport = Transport::new(
        &merchant.base_url,
        merchant.merchant_id,
        ApiKey::new(sandbox.api_key()),
        http,
    )?;
    let client = XsollaClient::new(transport);
    let fetch_settings = FetchSettings {
        page_limit: 1000,
        ..FetchSettings::default()
    };
    let data_dir = out_dir.join("data");
    let result = fetch::fetch_window(
        &client,
        &data_dir,
        &merchant,
        window,
        &fetch_settings,
        progress,
    )
    .await;
    let base_url = sandbox.base_url();
    sandbox.shutdown().await;
    let (snapshot, manifest) = result?;
    Ok(DemoOutcome {
        base_url,
        window,
        snapshot,
        manifest,
    })
}
