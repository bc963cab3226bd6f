//! `xsolla-recon run`: the whole job for a window, every merchant or one.

use super::{
    absolute, class_counts, config_dir, error_chain, load_config, mail_text, not_checked_count,
    worse, Bar, ConfigFile,
};
use chrono::NaiveDate;
use clap::Args;
use std::path::PathBuf;
use xsolla_recon::domain::window::Window;
use xsolla_recon::job::config::{Config, ConfigError};
use xsolla_recon::job::{self, exit, FetchMode, MailMode, RunRequest};

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["from", "yesterday", "last"])))]
pub(crate) struct RunArgs {
    /// First day of the window (YYYY-MM-DD), included; needs --to.
    #[arg(long, requires = "to")]
    pub(crate) from: Option<NaiveDate>,
    /// Last day of the window (YYYY-MM-DD), included.
    #[arg(long, requires = "from")]
    pub(crate) to: Option<NaiveDate>,
    /// The nightly window: yesterday in `[run] reporting_timezone` plus `[run] lookback_days`
    /// days before it; ends a day earlier (logged) while yesterday has not ended in
    /// `[fetch] xsolla_timezone`.
    #[arg(long)]
    pub(crate) yesterday: bool,
    /// The last N days, ending yesterday in `[run] reporting_timezone` (shortened as
    /// --yesterday is).
    #[arg(long, value_name = "N")]
    pub(crate) last: Option<u32>,
    /// Pretend today is DATE (YYYY-MM-DD, in `[run] reporting_timezone`; as if run at noon):
    /// the day --yesterday and --last count back from, for replaying past nights. Open items are dated by the window's last day, so they
    /// follow it.
    #[arg(long, value_name = "DATE", conflicts_with = "from")]
    pub(crate) today: Option<NaiveDate>,
    /// Days before yesterday that --yesterday re-checks, overriding `[run] lookback_days`.
    #[arg(long, requires = "yesterday")]
    pub(crate) lookback: Option<u32>,
    #[command(flatten)]
    pub(crate) file: ConfigFile,
    /// Merchant name from the config; without it every merchant runs, one after another.
    #[arg(long)]
    pub(crate) merchant: Option<String>,
    /// Use the newest stored snapshot of the window; never call Xsolla.
    #[arg(long, conflicts_with = "refetch")]
    pub(crate) offline: bool,
    /// Fetch again even when a recent snapshot of the window exists.
    #[arg(long)]
    pub(crate) refetch: bool,
    /// Write the reports but send no mail.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Ledger file or glob, overriding the merchant's `ledger.path` (one merchant only).
    #[arg(long, requires = "merchant")]
    pub(crate) ledger: Option<PathBuf>,
    /// Seconds to wait for another run of the same merchant, overriding `[run] lock_wait_seconds`.
    #[arg(long)]
    pub(crate) wait: Option<u64>,
}

pub(crate) async fn cmd_run(a: RunArgs) -> anyhow::Result<u8> {
    let (cfg, config_sha256) = load_config(&a.file.config)?;
    let window = a.window(&cfg)?;
    let merchants = a.merchants(&cfg)?;
    let wait = a.wait.unwrap_or(cfg.run.lock_wait_seconds);
    let request = RunRequest {
        merchant: String::new(),
        window,
        fetch: a.fetch_mode(),
        mail: if a.dry_run {
            MailMode::DryRun
        } else {
            MailMode::Smtp
        },
        ledger: a.ledger.clone().map(absolute).transpose()?,
        base_dir: config_dir(&a.file.config),
        config_sha256,
        api_key: None,
        lock_wait: (wait > 0).then(|| std::time::Duration::from_secs(wait)),
    };
    let mut worst = exit::OK;
    for merchant in merchants {
        let req = RunRequest {
            merchant,
            ..request.clone()
        };
        worst = worse(worst, run_one(&cfg, &req).await);
    }
    Ok(worst)
}

impl RunArgs {
    /// `--from/--to` (refused while its last day has not ended in Xsolla's zone), or the
    /// nightly window of `--yesterday` or `--last N` (shortened then).
    fn window(&self, cfg: &Config) -> Result<Window, ConfigError> {
        let zones = cfg.date_zones();
        // A replay (`--today D`) runs as if at noon of D in the reporting zone.
        let now = match self.today {
            Some(d) => {
                xsolla_recon::domain::window::start_of_day(zones.reporting, d)
                    + chrono::Duration::hours(12)
            }
            None => chrono::Utc::now(),
        };
        match (self.from, self.to, self.yesterday, self.last) {
            (Some(from), Some(to), _, _) => {
                let w = Window::new(from, to).ok_or_else(|| {
                    ConfigError::Usage(format!("--from {from} is after --to {to}"))
                })?;
                job::check_window_complete(w, now, zones)?;
                Ok(w)
            }
            (_, _, true, _) => Ok(job::nightly_window_at(
                now,
                zones,
                self.lookback.unwrap_or(cfg.run.lookback_days),
            )),
            (_, _, _, Some(n)) if n >= 1 => Ok(job::nightly_window_at(now, zones, n - 1)),
            _ => Err(ConfigError::Usage("--last needs at least 1 day".into())),
        }
    }

    /// `--merchant`, or every merchant of the config.
    fn merchants(&self, cfg: &Config) -> Result<Vec<String>, ConfigError> {
        let merchants: Vec<String> = match &self.merchant {
            Some(m) => vec![cfg.merchant(Some(m))?.name.clone()],
            None => cfg.merchants.iter().map(|m| m.name.clone()).collect(),
        };
        if merchants.is_empty() {
            return Err(ConfigError::Merchant(
                "the config has no [[merchant]] table".into(),
            ));
        }
        Ok(merchants)
    }

    fn fetch_mode(&self) -> FetchMode {
        if self.offline {
            FetchMode::Offline
        } else if self.refetch {
            FetchMode::Refetch
        } else {
            FetchMode::Auto
        }
    }
}

/// Runs the job for one merchant and prints its line (or its error); returns its exit code.
async fn run_one(cfg: &Config, req: &RunRequest) -> u8 {
    let bar = Bar::new();
    let out = job::run(cfg, req, &bar).await;
    bar.0.finish_and_clear();
    match out {
        Ok(o) => {
            let s = &o.result.output.summary;
            println!(
                "{} {}: {} discrepancies{}{}, {} ledger rows quarantined; match rate {}%; mail: {}; exit {} -> {}",
                req.merchant,
                req.window,
                s.discrepancies,
                class_counts(s),
                not_checked_count(s),
                o.result.ledger.rows_quarantined,
                s.match_rate_percent,
                mail_text(&o.manifest.mail),
                o.manifest.exit_code,
                o.dir.display()
            );
            o.manifest.exit_code
        }
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            e.exit_code()
        }
    }
}
