//! `xsolla-recon schedule`: the built-in scheduler.

use super::{config_dir, error_chain, load_config, mail_text, ConfigFile};
use chrono::{DateTime, Utc};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;
use xsolla_recon::domain::window::Window;
use xsolla_recon::fetch;
use xsolla_recon::job::config::{Config, ConfigError};
use xsolla_recon::job::schedule::{self, JobOutcome, ScheduledJob, Shutdown, SystemClock};
use xsolla_recon::job::{self, exit, FetchMode, MailMode, RunRequest};

#[derive(Args, Debug)]
pub(crate) struct ScheduleArgs {
    #[command(flatten)]
    pub(crate) file: ConfigFile,
    /// Write reports but send no mail.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

pub(crate) async fn cmd_schedule(a: ScheduleArgs) -> anyhow::Result<u8> {
    let (cfg, config_sha256) = load_config(&a.file.config)?;
    let jobs = compile(&cfg, &a.file.config)?;
    for j in &jobs {
        tracing::info!(job = %j.name, merchant = %j.merchant, cron = %j.cron, next = ?schedule::next_fire(j, chrono::Utc::now()), "scheduled");
    }
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals();
    let requests = Requests {
        base_dir: config_dir(&a.file.config),
        config_sha256,
        mail: if a.dry_run {
            MailMode::DryRun
        } else {
            MailMode::Smtp
        },
        lock_wait: Duration::from_secs(cfg.scheduler.lock_wait_secs),
    };
    let cfg_ref = &cfg;
    let runner = |j: ScheduledJob, window: Window, fire: DateTime<Utc>| {
        let req = requests.for_job(&j, window);
        async move { run_job(cfg_ref, &j, &req, fire).await }
    };
    schedule::run_scheduler(jobs, &cfg.data_dir, &SystemClock, shutdown, runner).await?;
    tracing::info!("scheduler stopped");
    Ok(exit::OK)
}

/// The config's `[[schedule]]` jobs, every problem listed; at least one job.
fn compile(cfg: &Config, path: &Path) -> Result<Vec<ScheduledJob>, ConfigError> {
    let known: Vec<&str> = cfg.merchants.iter().map(|m| m.name.as_str()).collect();
    let jobs = schedule::compile_jobs(&cfg.schedules, &known, cfg.run.lookback_days).map_err(
        |errors| {
            ConfigError::Usage(
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        },
    )?;
    let jobs: Vec<ScheduledJob> = jobs
        .into_iter()
        .map(|j| j.in_zones(cfg.date_zones()))
        .collect();
    if jobs.is_empty() {
        return Err(ConfigError::Usage(format!(
            "{} has no [[schedule]] jobs (see config/xsolla-recon.example.toml)",
            path.display()
        )));
    }
    Ok(jobs)
}

/// What every scheduled run's request shares.
struct Requests {
    base_dir: PathBuf,
    config_sha256: String,
    mail: MailMode,
    lock_wait: Duration,
}

impl Requests {
    fn for_job(&self, j: &ScheduledJob, window: Window) -> RunRequest {
        RunRequest {
            merchant: j.merchant.clone(),
            window,
            fetch: FetchMode::Auto,
            mail: self.mail.clone(),
            ledger: None,
            base_dir: self.base_dir.clone(),
            config_sha256: self.config_sha256.clone(),
            api_key: None,
            lock_wait: Some(self.lock_wait),
        }
    }
}

/// Runs one fire of a job; its outcome as the status file records it.
async fn run_job(
    cfg: &Config,
    j: &ScheduledJob,
    req: &RunRequest,
    fire: DateTime<Utc>,
) -> JobOutcome {
    tracing::info!(job = %j.name, window = %req.window, %fire, "job starting");
    match job::run(cfg, req, &fetch::NoProgress).await {
        Ok(o) => JobOutcome {
            exit_code: o.manifest.exit_code,
            message: format!(
                "{} discrepancies; mail: {}",
                o.manifest.counts.discrepancies,
                mail_text(&o.manifest.mail)
            ),
            run_dir: Some(o.dir),
        },
        Err(e) => {
            let message = error_chain(&e);
            tracing::error!(job = %j.name, error = %message, "job failed");
            JobOutcome {
                exit_code: e.exit_code(),
                message,
                run_dir: None,
            }
        }
    }
}
