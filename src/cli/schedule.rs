//! `xsolla-recon schedule`: the built-in scheduler.

use super::{config_dir, error_chain, load_config, mail_text, ConfigFile};
use clap::Args;
use xsolla_recon::domain::window::Window;
use xsolla_recon::fetch;
use xsolla_recon::job::config::ConfigError;
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
    use xsolla_recon::job::schedule::{self, JobOutcome, Shutdown, SystemClock};
    let (cfg, config_sha256) = load_config(&a.file.config)?;
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
    if jobs.is_empty() {
        return Err(ConfigError::Usage(format!(
            "{} has no [[schedule]] jobs (see config/xsolla-recon.example.toml)",
            a.file.config.display()
        ))
        .into());
    }
    for j in &jobs {
        tracing::info!(job = %j.name, merchant = %j.merchant, cron = %j.cron, next = ?schedule::next_fire(j, chrono::Utc::now()), "scheduled");
    }
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals();
    let base_dir = config_dir(&a.file.config);
    let wait = std::time::Duration::from_secs(cfg.scheduler.lock_wait_secs);
    let cfg_ref = &cfg;
    let dry_run = a.dry_run;
    let runner =
        |j: schedule::ScheduledJob, window: Window, fire: chrono::DateTime<chrono::Utc>| {
            let req = RunRequest {
                merchant: j.merchant.clone(),
                window,
                fetch: FetchMode::Auto,
                mail: if dry_run {
                    MailMode::DryRun
                } else {
                    MailMode::Smtp
                },
                ledger: None,
                base_dir: base_dir.clone(),
                config_sha256: config_sha256.clone(),
                api_key: None,
                lock_wait: Some(wait),
            };
            async move {
                tracing::info!(job = %j.name, %window, %fire, "job starting");
                match job::run(cfg_ref, &req, &fetch::NoProgress).await {
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
        };
    schedule::run_scheduler(jobs, &cfg.data_dir, &SystemClock, shutdown, runner).await?;
    tracing::info!("scheduler stopped");
    Ok(exit::OK)
}
