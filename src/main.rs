//! The `xsolla-recon` command line.

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use xsolla_recon::config::{Config, ConfigError};
use xsolla_recon::fetch::{self, Progress};
use xsolla_recon::job::{self, FetchMode, JobError, MailMode, RunRequest};
use xsolla_recon::sandbox;
use xsolla_recon::xsolla::window::Window;
use xsolla_recon::xsolla::{Format, Transport, XsollaClient};

use xsolla_recon::job::exit;

#[derive(Parser, Debug)]
#[command(
    name = "xsolla-recon",
    version,
    about = "Reconcile Xsolla reports against your ledger"
)]
struct Cli {
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only warnings and errors in the log.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Download Xsolla's registry, payouts, payout breakdown and reports list for a window
    /// into immutable snapshots under the data folder.
    Fetch(FetchArgs),
    /// Serve an Xsolla-compatible sandbox API on loopback from generated data.
    Sandbox(SandboxArgs),
    /// Run the job on the embedded sandbox: no config, network or key needed.
    Demo(DemoArgs),
    /// Reconcile a window: the stored snapshot (or a registry export) against the ledger.
    Reconcile(ReconcileArgs),
    /// The whole job for a window: fetch, reconcile, write reports, mail them.
    Run(RunArgs),
    /// Run the `[[schedule]]` jobs of the config at their cron times until stopped.
    Schedule(ScheduleArgs),
    /// Check a config file and list every problem with its line.
    CheckConfig(CheckConfigArgs),
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["from", "yesterday", "last"])))]
struct RunArgs {
    /// First day of the window (YYYY-MM-DD), included; needs --to.
    #[arg(long, requires = "to")]
    from: Option<NaiveDate>,
    /// Last day of the window (YYYY-MM-DD), included.
    #[arg(long, requires = "from")]
    to: Option<NaiveDate>,
    /// The nightly window: yesterday (UTC) plus `[run] lookback_days` days before it.
    #[arg(long)]
    yesterday: bool,
    /// The last N days, ending yesterday (UTC).
    #[arg(long, value_name = "N")]
    last: Option<u32>,
    /// Days before yesterday that --yesterday re-checks, overriding `[run] lookback_days`.
    #[arg(long, requires = "yesterday")]
    lookback: Option<u32>,
    #[command(flatten)]
    file: ConfigFile,
    /// Merchant name from the config; without it every merchant runs, one after another.
    #[arg(long)]
    merchant: Option<String>,
    /// Use the newest stored snapshot of the window; never call Xsolla.
    #[arg(long, conflicts_with = "refetch")]
    offline: bool,
    /// Fetch again even when a recent snapshot of the window exists.
    #[arg(long)]
    refetch: bool,
    /// Write the reports but send no mail.
    #[arg(long)]
    dry_run: bool,
    /// Ledger file or glob, overriding the merchant's `ledger.path` (one merchant only).
    #[arg(long, requires = "merchant")]
    ledger: Option<PathBuf>,
    /// Seconds to wait for another run of the same merchant, overriding `[run] lock_wait_seconds`.
    #[arg(long)]
    wait: Option<u64>,
}

#[derive(Args, Debug)]
struct ScheduleArgs {
    #[command(flatten)]
    file: ConfigFile,
    /// Write reports but send no mail.
    #[arg(long)]
    dry_run: bool,
}

/// `--config FILE`, or `XSOLLA_RECON_CONFIG`.
#[derive(Args, Debug)]
struct ConfigFile {
    /// Config file.
    #[arg(
        long,
        env = "XSOLLA_RECON_CONFIG",
        default_value = "config/xsolla-recon.toml"
    )]
    config: PathBuf,
}

#[derive(Args, Debug)]
struct CheckConfigArgs {
    /// Config file.
    #[arg(
        env = "XSOLLA_RECON_CONFIG",
        default_value = "config/xsolla-recon.toml"
    )]
    config: PathBuf,
}

/// Window, config and merchant: what every job command takes.
#[derive(Args, Debug)]
struct JobArgs {
    /// First day of the window (YYYY-MM-DD), included.
    #[arg(long)]
    from: NaiveDate,
    /// Last day of the window (YYYY-MM-DD), included.
    #[arg(long)]
    to: NaiveDate,
    #[command(flatten)]
    file: ConfigFile,
    /// Merchant name from the config (needed when it has several).
    #[arg(long)]
    merchant: Option<String>,
}

impl JobArgs {
    fn window(&self) -> Result<Window, ConfigError> {
        Window::new(self.from, self.to).ok_or_else(|| {
            ConfigError::Usage(format!("--from {} is after --to {}", self.from, self.to))
        })
    }
}

#[derive(Args, Debug)]
struct FetchArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Use the newest stored snapshot of this window instead of the network (checks hashes).
    #[arg(long)]
    offline: bool,
    /// Registry format, overriding the config (json or csv).
    #[arg(long)]
    format: Option<Format>,
    /// Data folder, overriding the config.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ReconcileArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Use a registry CSV exported from the Publisher Account instead of the stored snapshot.
    #[arg(long)]
    registry_export: Option<PathBuf>,
    /// Ledger file or glob, overriding the merchant's `ledger.path`.
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// Output folder (default `out/<merchant>/<from>_<to>`).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Output folder.
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8089)]
    port: u16,
    /// Seed of the generated data; the same seed and dates give the same data.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// First day with payments.
    #[arg(long)]
    from: Option<NaiveDate>,
    /// Last day with payments.
    #[arg(long)]
    to: Option<NaiveDate>,
    /// Payments per day.
    #[arg(long)]
    per_day: Option<u32>,
    /// Merchant id served.
    #[arg(long)]
    merchant_id: Option<i64>,
    /// JSON file with fault rules to inject (see the sandbox docs).
    #[arg(long)]
    faults: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Fetch(a) => cmd_fetch(a).await,
            Command::Sandbox(a) => cmd_sandbox(a).await,
            Command::Demo(a) => cmd_demo(a).await,
            Command::Reconcile(a) => cmd_reconcile(a),
            Command::Run(a) => cmd_run(a).await,
            Command::Schedule(a) => cmd_schedule(a).await,
            Command::CheckConfig(a) => Ok(cmd_check_config(a)),
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code_of(&e))
        }
    }
}

/// The exit code for a failure: configuration, a busy lock, or a runtime failure.
fn exit_code_of(e: &anyhow::Error) -> u8 {
    for c in e.chain() {
        if c.downcast_ref::<ConfigError>().is_some() {
            return exit::CONFIG;
        }
        if let Some(j) = c.downcast_ref::<JobError>() {
            return j.exit_code();
        }
    }
    exit::RUNTIME
}

fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// A progress bar on a terminal; nothing otherwise (the log lines say enough).
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new() -> Self {
        let pb = if std::io::stderr().is_terminal() {
            let pb = indicatif::ProgressBar::new_spinner();
            pb.enable_steady_tick(std::time::Duration::from_millis(120));
            pb
        } else {
            indicatif::ProgressBar::hidden()
        };
        Bar(pb)
    }
}

impl Progress for Bar {
    fn stored(&self, endpoint: &str, registry_rows: u64, requests: u64) {
        self.0.set_message(format!(
            "{endpoint}: {registry_rows} registry rows, {requests} requests"
        ));
    }
}

fn cmd_reconcile(a: ReconcileArgs) -> anyhow::Result<u8> {
    use xsolla_recon::pipeline::{reconcile_window, ProviderSource};
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
        fetch::peak_rss_bytes().unwrap_or(0) / (1024 * 1024),
        out.display()
    );
    Ok(if s.discrepancies > 0 || !run.quarantined.is_empty() {
        exit::FOUND
    } else {
        exit::OK
    })
}

/// ` (class n, class n)` for the summary line.
fn class_counts(s: &xsolla_recon::reconcile::Summary) -> String {
    let classes: Vec<String> = s
        .by_class
        .iter()
        .map(|(c, by)| format!("{c} {}", by.values().map(|t| t.count).sum::<u64>()))
        .collect();
    if classes.is_empty() {
        String::new()
    } else {
        format!(" ({})", classes.join(", "))
    }
}

/// Ledger paths in the config are relative to the config's folder.
fn config_dir(config: &std::path::Path) -> PathBuf {
    config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf()
}

/// Reads and validates the config, returning it with the SHA-256 of its text.
fn load_config(path: &std::path::Path) -> anyhow::Result<(Config, String)> {
    let cfg = Config::load(path)?;
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok((cfg, job::sha256_hex(&text)))
}

async fn cmd_run(a: RunArgs) -> anyhow::Result<u8> {
    let (cfg, config_sha256) = load_config(&a.file.config)?;
    let today = chrono::Utc::now().date_naive();
    let window = match (a.from, a.to, a.yesterday, a.last) {
        (Some(from), Some(to), _, _) => Window::new(from, to)
            .ok_or_else(|| ConfigError::Usage(format!("--from {from} is after --to {to}")))?,
        (_, _, true, _) => job::nightly_window(today, a.lookback.unwrap_or(cfg.run.lookback_days)),
        (_, _, _, Some(n)) if n >= 1 => job::nightly_window(today, n - 1),
        _ => return Err(ConfigError::Usage("--last needs at least 1 day".into()).into()),
    };
    let merchants: Vec<String> = match &a.merchant {
        Some(m) => vec![cfg.merchant(Some(m))?.name.clone()],
        None => cfg.merchants.iter().map(|m| m.name.clone()).collect(),
    };
    if merchants.is_empty() {
        return Err(ConfigError::Merchant("the config has no [[merchant]] table".into()).into());
    }
    let ledger = match a.ledger {
        Some(p) if p.is_relative() => Some(std::env::current_dir()?.join(p)),
        other => other,
    };
    let wait = a.wait.unwrap_or(cfg.run.lock_wait_seconds);
    let mut worst = exit::OK;
    for name in merchants {
        let req = RunRequest {
            merchant: name.clone(),
            window,
            fetch: if a.offline {
                FetchMode::Offline
            } else if a.refetch {
                FetchMode::Refetch
            } else {
                FetchMode::Auto
            },
            mail: if a.dry_run {
                MailMode::DryRun
            } else {
                MailMode::Smtp
            },
            ledger: ledger.clone(),
            base_dir: config_dir(&a.file.config),
            config_sha256: config_sha256.clone(),
            api_key: None,
            lock_wait: (wait > 0).then(|| std::time::Duration::from_secs(wait)),
        };
        let bar = Bar::new();
        let out = job::run(&cfg, &req, &bar).await;
        bar.0.finish_and_clear();
        let code = match out {
            Ok(o) => {
                let s = &o.result.output.summary;
                println!(
                    "{} {}: {} discrepancies{}, {} ledger rows quarantined; match rate {}%; mail: {}; exit {} -> {}",
                    name,
                    window,
                    s.discrepancies,
                    class_counts(s),
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
        };
        worst = worse(worst, code);
    }
    Ok(worst)
}

/// The more serious of two exit codes: runtime failure, config, busy, found, ok.
fn worse(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        exit::OK => 0,
        exit::FOUND => 1,
        exit::BUSY => 2,
        exit::CONFIG => 3,
        _ => 4,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// An error and its sources on one line, without repeating what a message already says.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    text
}

fn mail_text(m: &job::MailStatus) -> String {
    match m {
        job::MailStatus::Sent { to, server } => format!("sent to {} via {server}", to.join(", ")),
        job::MailStatus::Written { path } => format!("written to {}", path.display()),
        job::MailStatus::DryRun => "not sent (--dry-run)".into(),
        job::MailStatus::NotNeeded { reason } => format!("not sent ({reason})"),
        job::MailStatus::Failed { error } => format!("FAILED: {error}"),
    }
}

async fn cmd_schedule(a: ScheduleArgs) -> anyhow::Result<u8> {
    use xsolla_recon::schedule::{self, JobOutcome, Shutdown, SystemClock};
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

fn cmd_check_config(a: CheckConfigArgs) -> u8 {
    let (cfg, problems) = Config::check_file(&a.config, |k| std::env::var(k).ok());
    for p in &problems {
        println!("{p}");
    }
    match (cfg, problems.is_empty()) {
        (Some(cfg), true) => {
            println!(
                "{}: ok ({} merchant(s), {} schedule job(s))",
                a.config.display(),
                cfg.merchants.len(),
                cfg.schedules.len()
            );
            exit::OK
        }
        _ => {
            println!(
                "{}: {} problem(s)",
                a.config.display(),
                problems.len().max(1)
            );
            exit::CONFIG
        }
    }
}

async fn cmd_demo(a: DemoArgs) -> anyhow::Result<u8> {
    let bar = Bar::new();
    let out = xsolla_recon::demo::run(&a.out, &bar).await;
    bar.0.finish_and_clear();
    let out = out?;
    let m = &out.run.manifest;
    println!(
        "demo: embedded Xsolla sandbox at {} (stopped now), merchant {}, window {}",
        out.base_url,
        xsolla_recon::demo::DEMO_MERCHANT,
        out.window
    );
    println!(
        "demo: {} registry rows from Xsolla, {} ledger rows; {} discrepancies; match rate {}%",
        m.counts.provider_rows,
        m.counts.ledger_rows,
        m.counts.discrepancies,
        out.run.result.output.summary.match_rate_percent
    );
    let expected = out.expected();
    println!("demo: {:<22} {:>8} {:>6}", "class", "expected", "found");
    let mut all_found = true;
    let classes: std::collections::BTreeSet<&String> =
        expected.keys().chain(out.found.keys()).collect();
    for c in classes {
        let e = expected.get(c).copied().unwrap_or(0);
        let f = out.found.get(c).copied().unwrap_or(0);
        all_found &= e == f;
        println!(
            "demo: {c:<22} {e:>8} {f:>6}{}",
            if e == f { "" } else { "  <- differs" }
        );
    }
    println!("demo: the deliberate discrepancies are listed in README.md (Demo)");
    println!("demo: reports  {}", out.run.dir.display());
    for r in &m.reports {
        println!("demo:   {}", r.path.display());
    }
    println!("demo: e-mail   {}", mail_text(&m.mail));
    println!("demo: ledger   {}", out.ledger.display());
    println!("demo: config   {}", out.config.display());
    if !all_found {
        eprintln!("error: the demo did not find exactly its deliberate discrepancies");
        return Ok(exit::RUNTIME);
    }
    Ok(exit::OK)
}

async fn cmd_fetch(a: FetchArgs) -> anyhow::Result<u8> {
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
        let transport = Transport::new(
            &merchant.base_url,
            merchant.merchant_id,
            key,
            cfg.http.clone(),
        )
        .context("building the HTTP client")?
        .with_key_env(&merchant.api_key_env);
        let client = XsollaClient::new(transport);
        let bar = Bar::new();
        let out =
            fetch::fetch_window(&client, &cfg.data_dir, &merchant, window, &cfg.fetch, &bar).await;
        bar.0.finish_and_clear();
        out.with_context(|| format!("fetching {} for merchant {}", window, merchant.name))?
    };
    let c = &manifest.counts;
    let secs = started.elapsed().as_secs_f32().max(0.001);
    println!(
        "{} {} {}: {} registry rows ({} unique, {} repeats skipped) in {} pages, {} payouts, {} breakdown rows, {} reports; {} requests ({} retried){} in {:.1}s ({:.0} rows/s), peak memory {} MiB -> {}",
        if a.offline { "offline" } else { "fetched" },
        merchant.name,
        window,
        c.registry.rows_received,
        c.registry.rows_unique,
        c.registry.duplicates_skipped,
        c.registry.pages,
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
        fetch::peak_rss_bytes().unwrap_or(0) / (1024 * 1024),
        dir.display()
    );
    Ok(exit::OK)
}

async fn cmd_sandbox(a: SandboxArgs) -> anyhow::Result<u8> {
    let mut cfg = sandbox::SandboxConfig {
        seed: a.seed,
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
