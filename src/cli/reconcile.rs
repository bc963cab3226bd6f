//! `xsolla-recon reconcile`: a stored snapshot or a registry export against the ledger, into report files.

use super::{absolute, class_counts, config_dir, not_checked_count, JobArgs};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;
use xsolla_recon::domain::memory::peak_rss_bytes;
use xsolla_recon::job::config::Config;
use xsolla_recon::job::{self, FolderRequest};

#[derive(Args, Debug)]
pub(crate) struct ReconcileArgs {
    #[command(flatten)]
    pub(crate) job: JobArgs,
    /// Use a registry CSV exported from the Publisher Account instead of the stored snapshot
    /// (or the same columns stored as Parquet).
    #[arg(long)]
    pub(crate) registry_export: Option<PathBuf>,
    /// Ledger file or glob, overriding the merchant's `ledger.path`.
    #[arg(long)]
    pub(crate) ledger: Option<PathBuf>,
    /// Output folder (default `out/<merchant>/<from>_<to>`).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

pub(crate) fn cmd_reconcile(a: ReconcileArgs) -> anyhow::Result<u8> {
    let window = a.job.window()?;
    let cfg = Config::load(&a.job.file.config)?;
    let merchant = cfg.merchant(a.job.merchant.as_deref())?;
    let started = Instant::now();
    let ledger = a.ledger.map(absolute).transpose()?;
    let done = job::reconcile_to_folder(&FolderRequest {
        cfg: &cfg,
        merchant,
        window,
        registry_export: a.registry_export.as_deref(),
        ledger: ledger.as_deref(),
        base_dir: &config_dir(&a.job.file.config),
        out: a.out.as_deref(),
    })?;
    let s = &done.result.output.summary;
    println!(
        "reconciled {} {}: {} provider rows, {} ledger rows; {} discrepancies{}{}; match rate {}%; {:.1}s, peak memory {} MiB -> {}",
        merchant.name,
        window,
        s.rows.provider_rows,
        s.rows.ledger_rows,
        s.discrepancies,
        class_counts(s),
        not_checked_count(s),
        s.match_rate_percent,
        started.elapsed().as_secs_f32(),
        peak_rss_bytes().unwrap_or(0) / (1024 * 1024),
        done.out.display()
    );
    Ok(done.exit_code())
}
