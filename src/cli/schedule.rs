//! `xsolla-recon schedule`: the built-in scheduler, and `schedule --list`, its fire times at
//! a glance.

use super::{config_dir, error_chain, load_config, mail_text, ConfigFile};
use chrono::{DateTime, LocalResult, TimeZone, Utc};
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
    #[arg(long, conflicts_with = "list")]
    pub(crate) dry_run: bool,
    /// Print each job's next fire times (in its zone and in UTC) and the window each would
    /// reconcile, then exit. Starts no scheduler, takes no lock, needs no API key.
    #[arg(long)]
    pub(crate) list: bool,
    /// With --list: fire times per job.
    #[arg(long, requires = "list", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) count: u32,
    /// With --list: fire times after this instant (RFC 3339, e.g. 2026-10-24T12:00:00Z)
    /// instead of after now.
    #[arg(long, requires = "list", value_parser = parse_instant)]
    pub(crate) from: Option<DateTime<Utc>>,
}

fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e} (expected RFC 3339, e.g. 2026-10-24T12:00:00Z)"))
}

pub(crate) async fn cmd_schedule(a: ScheduleArgs) -> anyhow::Result<u8> {
    if a.list {
        return cmd_list(&a);
    }
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
        let what = if cfg.schedules.is_empty() {
            "has no [[schedule]] jobs"
        } else {
            "has no enabled [[schedule]] jobs (every one has enabled = false)"
        };
        return Err(ConfigError::Usage(format!(
            "{} {what} (see config/xsolla-recon.example.toml)",
            path.display()
        )));
    }
    Ok(jobs)
}

/// `schedule --list`: the jobs, then their next fire times with the window each covers, as
/// the scheduler computes them ([`schedule::next_fire`], [`schedule::window_for`]).
fn cmd_list(a: &ScheduleArgs) -> anyhow::Result<u8> {
    let (cfg, _) = load_config(&a.file.config)?;
    let jobs = compile(&cfg, &a.file.config)?;
    let from = a.from.unwrap_or_else(Utc::now);
    print!("{}", list_text(&cfg, &jobs, from, a.count as usize));
    Ok(exit::OK)
}

/// The two tables of `schedule --list`: one row per job (disabled ones included), then one
/// row per fire after `from`, `count` per job, in config order.
fn list_text(cfg: &Config, jobs: &[ScheduledJob], from: DateTime<Utc>, count: usize) -> String {
    let reporting = cfg.run.reporting_timezone;
    let mut about = vec![row(["JOB", "MERCHANT", "CRON", "TIME ZONE", "WINDOW"])];
    for j in jobs {
        let rule = match j.days {
            Some(n) => format!("{n} day(s) ending yesterday ({reporting} days)"),
            None => format!(
                "yesterday and {} day(s) before ({reporting} days)",
                j.lookback_days
            ),
        };
        about.push(row([&j.name, &j.merchant, &j.cron, j.tz.name(), &rule]));
    }
    for s in cfg.schedules.iter().filter(|s| !s.enabled) {
        let name = s.effective_name();
        about.push(row([&name, &s.merchant, &s.cron, &s.time_zone, "disabled"]));
    }
    let mut fires = vec![row([
        "JOB".to_owned(),
        "NEXT (JOB'S ZONE)".to_owned(),
        "NEXT (UTC)".to_owned(),
        "LEFT".to_owned(),
        format!("WINDOW ({reporting} days)"),
        "DST".to_owned(),
    ])];
    for j in jobs {
        let mut at = from;
        for _ in 0..count {
            let Some(fire) = schedule::next_fire(j, at) else {
                fires.push(row([
                    &j.name,
                    "no further fire time (before 2101)",
                    "",
                    "",
                    "",
                ]));
                break;
            };
            let local = fire.with_timezone(&j.tz);
            fires.push(row([
                j.name.clone(),
                local.format("%a %Y-%m-%d %H:%M:%S %Z %:z").to_string(),
                fire.format("%a %Y-%m-%d %H:%M:%S UTC").to_string(),
                left(fire - from),
                schedule::window_for(j, fire).to_string(),
                dst_note(j, fire),
            ]));
            at = fire;
        }
    }
    format!("{}\n{}", aligned(&about), aligned(&fires))
}

/// Why a fire is where it is on a DST change day: moved out of a gap, or one pass of a
/// repeated local time; empty on other days.
fn dst_note(j: &ScheduledJob, fire: DateTime<Utc>) -> String {
    let local = fire.with_timezone(&j.tz).naive_local();
    if !j.names_local_time(local) {
        return "nonexistent time, moved later".to_owned();
    }
    match j.tz.from_local_datetime(&local) {
        LocalResult::Ambiguous(first, _) if first == fire => "repeated time, 1st pass".to_owned(),
        LocalResult::Ambiguous(..) => "repeated time, 2nd pass".to_owned(),
        _ => String::new(),
    }
}

fn row<const N: usize>(cells: [impl ToString; N]) -> Vec<String> {
    cells.iter().map(ToString::to_string).collect()
}

/// `1d 12h 30min`, like `systemctl list-timers`' LEFT column (zero units left out).
fn left(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let parts = [
        (s / 86_400, "d"),
        (s / 3_600 % 24, "h"),
        (s / 60 % 60, "min"),
        (s % 60, "s"),
    ];
    let text: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if text.is_empty() {
        "0s".to_owned()
    } else {
        text.join(" ")
    }
}

/// Rows as text, each column padded to its widest cell, two spaces apart.
fn aligned(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            let cell = |r: &Vec<String>| r.get(c).map_or(0, |s| s.chars().count());
            rows.iter().map(cell).max().unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            line.push_str(cell);
            let pad = width[c] - cell.chars().count() + 2;
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
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
