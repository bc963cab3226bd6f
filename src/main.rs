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
use xsolla_recon::sandbox;
use xsolla_recon::xsolla::window::Window;
use xsolla_recon::xsolla::{Format, Transport, XsollaClient};

/// Exit codes, documented in the README.
mod exit {
    /// Done, nothing wrong.
    pub const OK: u8 = 0;
    /// Done, and discrepancies were found (so cron can alert).
    pub const FOUND: u8 = 1;
    /// Bad command line or configuration (clap also uses 2 for usage errors).
    pub const CONFIG: u8 = 2;
    /// The job failed while running (network, Xsolla, disk).
    pub const RUNTIME: u8 = 3;
}

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
    /// Config file.
    #[arg(
        long,
        env = "XSOLLA_RECON_CONFIG",
        default_value = "config/xsolla-recon.toml"
    )]
    config: PathBuf,
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
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            let config_error = e.chain().any(|c| c.downcast_ref::<ConfigError>().is_some());
            ExitCode::from(if config_error {
                exit::CONFIG
            } else {
                exit::RUNTIME
            })
        }
    }
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
    let window = a.job.window()?;
    let cfg = Config::load(&a.job.config)?;
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
    // Ledger paths in the config are relative to the config's folder; --ledger to ours.
    let base_dir = a
        .job
        .config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf();
    let ledger = match a.ledger {
        Some(p) if p.is_relative() => Some(std::env::current_dir()?.join(p)),
        other => other,
    };
    let now = chrono::Utc::now();
    let run_id = now.format("%Y%m%dT%H%M%S%3fZ").to_string();
    let run = reconcile_window(
        &cfg,
        &merchant,
        window,
        &provider,
        ledger.as_deref(),
        &base_dir,
        &run_id,
        now.date_naive(),
        &out,
    )
    .with_context(|| format!("reconciling {} for merchant {}", window, merchant.name))?;
    let s = &run.output.summary;
    let classes: Vec<String> = s
        .by_class
        .iter()
        .map(|(c, by)| format!("{c} {}", by.values().map(|t| t.count).sum::<u64>()))
        .collect();
    println!(
        "reconciled {} {}: {} provider rows, {} ledger rows; {} discrepancies{}; match rate {}%; {} new, {} still open, {} resolved open items; {:.1}s, peak memory {} MiB -> {}",
        merchant.name,
        window,
        s.rows.provider_rows,
        s.rows.ledger_rows,
        s.discrepancies,
        if classes.is_empty() { String::new() } else { format!(" ({})", classes.join(", ")) },
        s.match_rate_percent,
        run.state.new.len(),
        run.state.still_open.len(),
        run.state.resolved.len(),
        started.elapsed().as_secs_f32(),
        fetch::peak_rss_bytes().unwrap_or(0) / (1024 * 1024),
        out.display()
    );
    Ok(if s.discrepancies > 0 {
        exit::FOUND
    } else {
        exit::OK
    })
}

async fn cmd_demo(a: DemoArgs) -> anyhow::Result<u8> {
    let bar = Bar::new();
    let out = xsolla_recon::demo::run(&a.out, &bar).await;
    bar.0.finish_and_clear();
    let out = out?;
    let c = &out.manifest.counts;
    println!(
        "demo: started the embedded Xsolla sandbox at {} for merchant {} ({})",
        out.base_url,
        xsolla_recon::demo::DEMO_MERCHANT,
        out.manifest.merchant_id
    );
    println!(
        "demo: fetched {}: {} registry rows in {} pages, {} payouts, {} currencies in the payout breakdown, {} financial reports ({} requests)",
        out.window,
        c.registry.rows_received,
        c.registry.pages,
        c.payouts_unique,
        c.breakdown_rows,
        c.reports_unique,
        c.requests
    );
    println!("demo: raw snapshots in {}", out.snapshot.display());
    println!("demo: reconciliation, reports and e-mail are the next stages and not built yet");
    Ok(exit::OK)
}

async fn cmd_fetch(a: FetchArgs) -> anyhow::Result<u8> {
    let window = a.job.window()?;
    let mut cfg = Config::load(&a.job.config)?;
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
