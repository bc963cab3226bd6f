//! A folder set up for `xsolla-recon run`: merchant `acme` against a sandbox with the demo's
//! quirks, a ledger with one deliberate discrepancy per ledger-side class, and a config that
//! may add SMTP, a schedule or more text. Used by the job's CLI tests and the reliability
//! tests.

use super::bin::Bin;
use super::sandbox::{small_config, start, window};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::process::Output;
use xsolla_recon::sandbox::ledger::ledger_export;
use xsolla_recon::sandbox::{DataQuirks, Sandbox, SandboxConfig};

/// The variable the config names for acme's API key.
pub const KEY_VAR: &str = "RECON_JOB_TEST_KEY";
/// The variable the config names for the SMTP password.
pub const PASSWORD_VAR: &str = "RECON_JOB_TEST_SMTP_PASSWORD";
/// The SMTP password [`run_bin`] puts in [`PASSWORD_VAR`].
pub const SMTP_PASSWORD: &str = "smtp-SECRET-pw-91";

/// The files every run folder holds (besides the manifest and mail records).
pub const REPORT_FILES: [&str; 5] = [
    "discrepancies.csv",
    "discrepancies.xlsx",
    "summary.json",
    "report.html",
    "quarantined.csv",
];

/// A sandbox with the demo's provider-side quirks, and its month.
pub async fn quirky_sandbox(api_key: &str) -> Sandbox {
    start(SandboxConfig {
        api_key: api_key.into(),
        quirks: DataQuirks {
            duplicated_payments: 1,
            payout_amount_delta: Some(Decimal::new(5, 2)),
            breakdown_payments_delta: Some(Decimal::ONE),
            ..Default::default()
        },
        ..small_config()
    })
    .await
}

/// What a test config may add.
#[derive(Default)]
pub struct Extra {
    /// `[smtp]` port (plain, with auth user "recon").
    pub smtp_port: Option<u16>,
    /// `[[schedule]]` cron.
    pub cron: Option<String>,
    /// Text appended verbatim.
    pub tail: String,
}

/// Writes the ledger (one deliberate discrepancy per ledger-side class) and a config for
/// merchant `acme` in `dir`; returns the config path.
pub fn write_setup(dir: &Path, sb: &Sandbox, extra: &Extra) -> PathBuf {
    let w = window("2026-10-01", "2026-10-31");
    let export = ledger_export(&sb.dataset(), w, true);
    std::fs::create_dir_all(dir.join("ledger")).unwrap();
    std::fs::write(dir.join("ledger/ledger.csv"), &export.csv).unwrap();
    let text = format!(
        r#"data_dir = "data"
[http]
backoff_initial_ms = 5
backoff_max_ms = 50
min_request_interval_ms = 0
request_timeout_ms = 5000
max_attempts = 4
[fetch]
page_limit = 200
[run]
reports_dir = "reports"
{smtp}{schedule}
[[merchant]]
name = "acme"
merchant_id = {mid}
api_key_env = "{KEY_VAR}"
base_url = "{url}"
[merchant.ledger]
path = "ledger/ledger.csv"
{mapping}{mail}{tail}"#,
        smtp = smtp_section(extra.smtp_port),
        schedule = schedule_section(extra.cron.as_deref()),
        mid = sb.merchant_id(),
        url = sb.base_url(),
        mapping = merchant_ledger_mapping(),
        mail = mail_section(extra.smtp_port),
        tail = extra.tail,
    );
    let p = dir.join("recon.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// `[smtp]`: a plain server on loopback at `port`, with fast retries.
fn smtp_section(port: Option<u16>) -> String {
    match port {
        Some(port) => format!(
            r#"
[smtp]
host = "127.0.0.1"
port = {port}
security = "plain"
username = "recon"
password_env = "{PASSWORD_VAR}"
from = "Recon Bot <recon@example.com>"
max_attempts = 2
backoff_initial_ms = 10
backoff_max_ms = 20
timeout_ms = 5000
"#
        ),
        None => String::new(),
    }
}

/// `[merchant.mail]`: recipients, when there is an SMTP server to send to.
fn mail_section(port: Option<u16>) -> &'static str {
    if port.is_some() {
        "[merchant.mail]\nto = [\"finance@example.com\"]\ncc = [\"cfo@example.com\"]\n"
    } else {
        ""
    }
}

/// `[[schedule]]`: acme nightly at `cron`, Berlin time.
fn schedule_section(cron: Option<&str>) -> String {
    match cron {
        Some(c) => format!(
            "\n[[schedule]]\nname = \"acme-nightly\"\nmerchant = \"acme\"\ncron = \"{c}\"\ntime_zone = \"Europe/Berlin\"\n"
        ),
        None => String::new(),
    }
}

/// The sandbox ledger's column mapping, as the tables of the `[merchant.ledger]` above it.
pub fn merchant_ledger_mapping() -> String {
    xsolla_recon::sandbox::ledger::LEDGER_MAPPING_TOML
        .replace("[columns]", "[merchant.ledger.columns]")
        .replace("[status_map]", "[merchant.ledger.status_map]")
}

/// Runs the binary in `dir` at trace level with the test key (and SMTP password) in its
/// environment, and no config taken from `XSOLLA_RECON_CONFIG`.
pub async fn run_bin(dir: &Path, key: &str, args: &[&str]) -> Output {
    Bin::new(dir)
        .args(args)
        .env("RUST_LOG", "trace")
        .env(KEY_VAR, key)
        .env(PASSWORD_VAR, SMTP_PASSWORD)
        .env_remove("XSOLLA_RECON_CONFIG")
        .output_async()
        .await
}

/// The run folders of acme's October window, oldest first.
pub fn run_dirs(dir: &Path) -> Vec<PathBuf> {
    let base = dir.join("reports/acme/2026-10-01_2026-10-31");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&base)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}
