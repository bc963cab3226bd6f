//! `xsolla-recon reconcile`: a stored snapshot or a registry export against the ledger, into report files.

use super::{class_counts, config_dir, JobArgs};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;
use xsolla_recon::domain::memory::peak_rss_bytes;
use xsolla_recon::fetch;
use xsolla_recon::job::config::Config;
use xsolla_recon::job::{self, exit};

#[derive(Args, Debug)]
pub(crate) struct ReconcileArgs {
    #[command(flatten)]
    pub(crate) job: JobArgs,
    /// Use a registry CSV exported from the Publisher Account instead of the stored snapshot.
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
    use xsolla_recon::job::pipeline::{reconcile_window, ProviderSource};
    use xsolla_recon::report::{self, ReportInput};
    let window = a.job.window()?;
    let cfg = Config::load(&a.job.file.config)?;
    let merchant = cfg.merchant(a.job.merchant.as_deref())?.clone();
    let started = Instant::now();
    let provider = match a.registry_export {
        Some(p) => ProviderSource::Export(p),
        None => {
            ProviderSource::Snapshot(fetch::find_snapshot(&cfg.data_dir, &merchant.name, window)?.0)
        }
    };
    let out = a.out.unwrap_or_else(|| {
        PathBuf::from("out")
            .join(&merchant.name)
            .join(window.slug())
    });
    let base_dir = config_dir(&a.job.file.config);
    let ledger = match a.ledger {
        Some(p) if p.is_relative() => Some(std::env::current_dir()?.join(p)),
        other => other,
    };
    let run_id = job::new_run_id(chrono::Utc::now());
    // Ages as of the window's last day, like `run`: the same inputs give the same reports.
    let as_of = window.to;
    let run = reconcile_window(
        &cfg,
        &merchant,
        window,
        &provider,
        ledger.as_deref(),
        &base_dir,
        &run_id,
        as_of,
    )
    .with_context(|| format!("reconciling {} for merchant {}", window, merchant.name))?;
    let report_id = format!("{}-{}", merchant.name, window.slug());
    let input = ReportInput {
        merchant: &merchant.name,
        window,
        report_id: &report_id,
        as_of,
        discrepancies: &run.discrepancies,
        summary: &run.output.summary,
        open_items: run.open_items,
        quarantined: &run.quarantined,
        ledger: &run.ledger,
        provider: run.provider.as_ref(),
    };
    if out.exists() {
        // `reconcile` is the hand tool and replaces its output folder, but only once the new
        // one is complete.
        let fresh = out.with_extension(format!("new-{}", std::process::id()));
        let old = out.with_extension(format!("old-{}", std::process::id()));
        report::write_reports(&input, &cfg.report, &fresh)?;
        std::fs::rename(&out, &old).with_context(|| format!("moving {} aside", out.display()))?;
        std::fs::rename(&fresh, &out)
            .with_context(|| format!("renaming into {}", out.display()))?;
        std::fs::remove_dir_all(&old).ok();
    } else {
        report::write_reports(&input, &cfg.report, &out)?;
    }
    let s = &run.output.summary;
    println!(
        "reconciled {} {}: {} provider rows, {} ledger rows; {} discrepancies{}; match rate {}%; {:.1}s, peak memory {} MiB -> {}",
        merchant.name,
        window,
        s.rows.provider_rows,
        s.rows.ledger_rows,
        s.discrepancies,
        class_counts(s),
        s.match_rate_percent,
        started.elapsed().as_secs_f32(),
        peak_rss_bytes().unwrap_or(0) / (1024 * 1024),
        out.display()
    );
    Ok(if s.discrepancies > 0 || !run.quarantined.is_empty() {
        exit::FOUND
    } else {
        exit::OK
    })
}
