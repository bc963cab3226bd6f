//! `xsolla-recon fetch`: Xsolla's side of a window into a snapshot, nothing else.

use super::{Bar, JobArgs};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;
use xsolla_recon::domain::memory::peak_rss_bytes;
use xsolla_recon::fetch;
use xsolla_recon::job::config::Config;
use xsolla_recon::job::{self, exit};
use xsolla_recon::xsolla::Format;

#[derive(Args, Debug)]
pub(crate) struct FetchArgs {
    #[command(flatten)]
    pub(crate) job: JobArgs,
    /// Use the newest stored snapshot of this window instead of the network (checks hashes).
    #[arg(long)]
    pub(crate) offline: bool,
    /// Registry format, overriding the config (json or csv).
    #[arg(long)]
    pub(crate) format: Option<Format>,
    /// Data folder, overriding the config.
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
}

pub(crate) async fn cmd_fetch(a: FetchArgs) -> anyhow::Result<u8> {
    let window = a.job.window()?;
    let mut cfg = Config::load(&a.job.file.config)?;
    if let Some(f) = a.format {
        cfg.fetch.format = f;
    }
    if let Some(d) = a.data_dir {
        cfg.data_dir = d;
    }
    let merchant = cfg.merchant(a.job.merchant.as_deref())?.clone();
    let started = Instant::now();
    let (dir, manifest) = if a.offline {
        fetch::find_snapshot(&cfg.data_dir, &merchant.name, window)?
    } else {
        let key = merchant.api_key()?;
        let client =
            job::xsolla_client(&cfg, &merchant, key).context("building the HTTP client")?;
        let bar = Bar::new();
        let out = fetch::fetch_window(
            &client,
            &cfg.data_dir,
            merchant.fetch_target(),
            window,
            &cfg.fetch,
            &bar,
        )
        .await;
        bar.0.finish_and_clear();
        out.with_context(|| format!("fetching {} for merchant {}", window, merchant.name))?
    };
    let c = &manifest.counts;
    let secs = started.elapsed().as_secs_f32().max(0.001);
    println!(
        "{} {} {}: {} registry rows ({} unique, {} repeats skipped) in {} pages, {} more read per payout, {} payouts, {} breakdown rows, {} reports; {} requests ({} retried){} in {:.1}s ({:.0} rows/s of the window, {:.0} registry rows/s read in all), peak memory {} MiB -> {}",
        if a.offline { "offline" } else { "fetched" },
        merchant.name,
        window,
        c.registry.rows_received,
        c.registry.rows_unique,
        c.registry.duplicates_skipped,
        c.registry.pages,
        c.payout_registry_rows,
        c.payouts_unique,
        c.breakdown_rows,
        c.reports_unique,
        c.requests,
        c.requests_retried,
        if c.registry.repeated_pages_refetched > 0 {
            format!(", {} repeated pages re-requested", c.registry.repeated_pages_refetched)
        } else {
            String::new()
        },
        secs,
        c.registry.rows_received as f32 / secs,
        (c.registry.rows_received + c.payout_registry_rows) as f32 / secs,
        peak_rss_bytes().unwrap_or(0) / (1024 * 1024),
        dir.display()
    );
    Ok(exit::OK)
}
