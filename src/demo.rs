//! `xsolla-recon demo`: the whole job on the embedded sandbox, with no config, network or key.
//!
//! It starts the sandbox on a free loopback port with a month of generated data for a
//! fictional merchant, in which Xsolla's side has three deliberate quirks (a payment served
//! twice, a payout whose amount is off, a breakdown total that is off), writes a ledger export
//! of the same month with one deliberate discrepancy per ledger-side class, and runs the real
//! job (fetch → reconcile → report → mail to a file) into `out/demo/`. What must be found is
//! known in advance ([`DemoOutcome::expected`]), and the demo checks it was.

use crate::domain::fsutil::{self, FsError};
use crate::domain::window::Window;
use crate::fetch::Progress;
use crate::job::config::{Config, FetchSettings, MerchantConfig};
use crate::job::{self, FetchMode, JobError, MailMode, RunOutcome, RunRequest};
use crate::reconcile::Comparison;
use crate::sandbox::ledger::{ledger_config, ledger_export, InjectedFault};
use crate::sandbox::{DataQuirks, Sandbox, SandboxConfig, SandboxError};
use crate::xsolla::{ApiKey, HttpSettings};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The fictional merchant's name, used in folders and output.
pub const DEMO_MERCHANT: &str = "acme-games";

/// The deliberate discrepancies on Xsolla's side (sandbox quirks), with the class each must
/// produce.
pub const PROVIDER_SIDE: [(&str, &str); 3] = [
    (
        "duplicate_in_provider",
        "the registry serves one payment twice",
    ),
    (
        "payout_mismatch",
        "the first payout's amount is 0.05 higher than its rows",
    ),
    (
        "breakdown_mismatch",
        "the breakdown's first currency is 1.00 higher than the registry",
    ),
];

/// What the demo did.
#[derive(Debug)]
pub struct DemoOutcome {
    /// The sandbox URL it used (gone when the demo ends).
    pub base_url: String,
    /// The month reconciled.
    pub window: Window,
    /// The ledger export it wrote.
    pub ledger: PathBuf,
    /// The config it wrote and used.
    pub config: PathBuf,
    /// Ledger-side deliberate discrepancies.
    pub injected: Vec<InjectedFault>,
    /// The run.
    pub run: RunOutcome,
    /// Findings per class.
    pub found: BTreeMap<String, u64>,
}

impl DemoOutcome {
    /// Classes that must be found (one finding each), from both sides.
    pub fn expected(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for f in &self.injected {
            *m.entry(f.class.to_owned()).or_insert(0) += 1;
        }
        for (class, _) in PROVIDER_SIDE {
            *m.entry(class.to_owned()).or_insert(0) += 1;
        }
        m
    }
}

/// A demo failure.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The sandbox did not start.
    #[error("starting the embedded sandbox: {0}")]
    Sandbox(#[from] SandboxError),
    /// Writing the demo's inputs.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The job failed.
    #[error(transparent)]
    Job(#[from] JobError),
}

/// Runs the demo, writing under `out_dir` (normally `out/demo`).
pub async fn run(out_dir: &Path, progress: &dyn Progress) -> Result<DemoOutcome, DemoError> {
    let sandbox_cfg = SandboxConfig {
        quirks: DataQuirks {
            duplicated_payments: 1,
            payout_amount_delta: Some(Decimal::new(5, 2)),
            breakdown_payments_delta: Some(Decimal::ONE),
            ..Default::default()
        },
        ..SandboxConfig::default()
    };
    let window = Window::new(sandbox_cfg.from, sandbox_cfg.to)
        .expect("the default sandbox month is ordered");
    let sandbox =
        Sandbox::start(sandbox_cfg, "127.0.0.1:0".parse().expect("literal address")).await?;
    let result = run_on(&sandbox, out_dir, window, progress).await;
    let base_url = sandbox.base_url();
    sandbox.shutdown().await;
    let (ledger, config, injected, run) = result?;
    let mut found = BTreeMap::new();
    for (class, by_currency) in &run.result.output.summary.by_class {
        found.insert(class.clone(), by_currency.values().map(|t| t.count).sum());
    }
    Ok(DemoOutcome {
        base_url,
        window,
        ledger,
        config,
        injected,
        run,
        found,
    })
}

async fn run_on(
    sandbox: &Sandbox,
    out_dir: &Path,
    window: Window,
    progress: &dyn Progress,
) -> Result<(PathBuf, PathBuf, Vec<InjectedFault>, RunOutcome), DemoError> {
    let export = ledger_export(&sandbox.dataset(), window, true);
    let ledger_path = out_dir.join("ledger").join("ledger.csv");
    fsutil::write_atomic(&ledger_path, &export.csv)?;
    let merchant = MerchantConfig {
        name: DEMO_MERCHANT.to_owned(),
        merchant_id: sandbox.merchant_id(),
        api_key_env: "XSOLLA_API_KEY".to_owned(),
        base_url: sandbox.base_url(),
        // Relative to the demo folder (`base_dir` below): reports name `ledger/ledger.csv:<line>`.
        ledger: Some(ledger_config(Path::new("ledger/ledger.csv"))),
        project_ids: Vec::new(),
        mail: crate::deliver::MailRecipients {
            to: vec!["finance@acme-games.example".to_owned()],
            all_clear: true,
            ..Default::default()
        },
    };
    let mut cfg = Config {
        data_dir: out_dir.join("data"),
        // Loopback needs no politeness delay.
        http: HttpSettings {
            min_request_interval_ms: 0,
            ..HttpSettings::default()
        },
        fetch: FetchSettings {
            page_limit: 1000,
            ..FetchSettings::default()
        },
        merchants: vec![merchant],
        ..Config::default()
    };
    cfg.run.reports_dir = out_dir.join("reports");
    // Each demo fetches its own sandbox afresh (its port changes between runs).
    cfg.run.reuse_snapshot_minutes = 0;
    // No mail server: the mail is written into the run folder, and the config stays loadable
    // by the other commands (`items`, `run --offline`).
    cfg.run.mail_transport = crate::job::config::MailTransport::File;
    // The sandbox's ledger books no net amount: comparing nets would only say, on every
    // matched line, that they could not be checked.
    cfg.reconcile.comparisons = vec![Comparison::Gross, Comparison::Fees];
    let text = toml::to_string_pretty(&cfg).unwrap_or_default();
    let config_path = out_dir.join("xsolla-recon.demo.toml");
    fsutil::write_atomic(
        &config_path,
        format!(
            "# The configuration the demo ran with (the sandbox's port changes every run).\n{text}"
        )
        .as_bytes(),
    )?;
    let req = RunRequest {
        merchant: DEMO_MERCHANT.to_owned(),
        window,
        fetch: FetchMode::Refetch,
        mail: MailMode::File,
        ledger: None,
        base_dir: out_dir.to_owned(),
        config_sha256: job::sha256_hex(text.as_bytes()),
        api_key: Some(ApiKey::new(sandbox.api_key())),
        lock_wait: None,
    };
    let run = job::run(&cfg, &req, progress).await?;
    Ok((ledger_path, config_path, export.injected, run))
}
