//! The job run in-process against a sandbox: a config for one merchant whose ledger is a given
//! CSV, and one run of a window, for tests that inspect the run's result rather than the
//! binary's output.

use super::sandbox::fast_http;
use std::path::Path;
use xsolla_recon::domain::window::Window;
use xsolla_recon::fetch::NoProgress;
use xsolla_recon::job::config::{Config, MerchantConfig};
use xsolla_recon::job::{run, FetchMode, MailMode, RunOutcome, RunRequest};
use xsolla_recon::sandbox::ledger::ledger_config;
use xsolla_recon::sandbox::Sandbox;
use xsolla_recon::xsolla::ApiKey;

/// A config for merchant `acme` on `sb`, its ledger `ledger_csv` written to `dir/ledger.csv`,
/// data and reports under `dir`, 200-row pages.
pub fn sandbox_job_config(dir: &Path, sb: &Sandbox, ledger_csv: impl AsRef<[u8]>) -> Config {
    std::fs::create_dir_all(dir).unwrap();
    let ledger_path = dir.join("ledger.csv");
    std::fs::write(&ledger_path, ledger_csv).unwrap();
    let mut cfg = Config {
        data_dir: dir.join("data"),
        http: fast_http(),
        merchants: vec![MerchantConfig {
            name: "acme".into(),
            merchant_id: sb.merchant_id(),
            api_key_env: "UNUSED_KEY_VAR".into(),
            base_url: sb.base_url(),
            ledger: Some(ledger_config(&ledger_path)),
            project_ids: vec![],
            mail: Default::default(),
        }],
        ..Config::default()
    };
    cfg.run.reports_dir = dir.join("reports");
    cfg.fetch.page_limit = 200;
    cfg
}

/// One run of `w` for merchant `acme`, no mail; panics if the run fails.
pub async fn run_window(cfg: &Config, sb: &Sandbox, w: Window, fetch: FetchMode) -> RunOutcome {
    let req = RunRequest {
        merchant: "acme".into(),
        window: w,
        fetch,
        mail: MailMode::DryRun,
        ledger: None,
        base_dir: cfg.data_dir.clone(),
        config_sha256: String::new(),
        api_key: Some(ApiKey::new(sb.api_key())),
        lock_wait: None,
    };
    run(cfg, &req, &NoProgress).await.expect("the run succeeds")
}
