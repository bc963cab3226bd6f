//! `xsolla-recon sandbox`: serve the Xsolla-compatible sandbox on loopback.

use anyhow::Context;
use chrono::NaiveDate;
use clap::Args;
use std::path::PathBuf;
use xsolla_recon::job::config::ConfigError;
use xsolla_recon::job::exit;
use xsolla_recon::sandbox;

#[derive(Args, Debug)]
pub(crate) struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8089)]
    pub(crate) port: u16,
    /// Seed of the generated data; the same seed and dates give the same data.
    #[arg(long, default_value_t = 7)]
    pub(crate) seed: u64,
    /// First day with payments.
    #[arg(long)]
    pub(crate) from: Option<NaiveDate>,
    /// Last day with payments.
    #[arg(long)]
    pub(crate) to: Option<NaiveDate>,
    /// Payments per day.
    #[arg(long)]
    pub(crate) per_day: Option<u32>,
    /// Merchant id served.
    #[arg(long)]
    pub(crate) merchant_id: Option<i64>,
    /// Serve at most N rows per registry and search page, whatever `limit` asks for (a server
    /// with a page cap: its short pages are not the last).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) page_cap: Option<u32>,
    /// JSON file with fault rules to inject (see the sandbox docs).
    #[arg(long)]
    pub(crate) faults: Option<PathBuf>,
    /// IANA zone the served dates are in (times shown as its local times, day filters drawn
    /// on its days), to rehearse `[fetch] xsolla_timezone`.
    #[arg(long, default_value = "UTC", value_parser = parse_tz)]
    pub(crate) timezone: chrono_tz::Tz,
    /// Serve payouts without `payout.amount` (their check cannot run: "not checked").
    #[arg(long)]
    pub(crate) payouts_without_amount: bool,
    /// Add float noise (`+ 0.0000000000002`) to the first currency's `SumPayoutSum` in the
    /// breakdown of the first day.
    #[arg(long)]
    pub(crate) breakdown_float_noise: bool,
    /// List the last currency of the second day's breakdown twice.
    #[arg(long)]
    pub(crate) breakdown_repeated_currency: bool,
    /// Pay out each payout's rows minus their penalties (the other reading of an unknown
    /// fact; `[reconcile] payout_deducts_penalties` matches it).
    #[arg(long)]
    pub(crate) penalties_deducted_from_payouts: bool,
}

fn parse_tz(s: &str) -> Result<chrono_tz::Tz, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not an IANA time zone name (e.g. \"Asia/Tokyo\")"))
}

pub(crate) async fn cmd_sandbox(a: SandboxArgs) -> anyhow::Result<u8> {
    let mut cfg = sandbox::SandboxConfig {
        seed: a.seed,
        page_cap: a.page_cap,
        timezone: a.timezone,
        quirks: sandbox::DataQuirks {
            payouts_without_amount: a.payouts_without_amount,
            breakdown_float_noise: a.breakdown_float_noise,
            breakdown_repeated_currency: a.breakdown_repeated_currency,
            penalties_deducted_from_payouts: a.penalties_deducted_from_payouts,
            ..Default::default()
        },
        ..Default::default()
    };
    if let Some(d) = a.from {
        cfg.from = d;
    }
    if let Some(d) = a.to {
        cfg.to = d;
    }
    if let Some(n) = a.per_day {
        cfg.transactions_per_day = n;
    }
    if let Some(m) = a.merchant_id {
        cfg.merchant_id = m;
    }
    if let Some(path) = a.faults {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading fault rules {}", path.display()))?;
        cfg.faults = serde_json::from_str(&text)
            .map_err(|e| ConfigError::Usage(format!("{}: {e}", path.display())))?;
    }
    let bind = std::net::SocketAddr::from(([127, 0, 0, 1], a.port));
    sandbox::serve_until_signal(cfg, bind).await?;
    Ok(exit::OK)
}
