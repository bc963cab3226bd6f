//! The subcommands, one file each; `main.rs` parses the arguments and calls one of them.
//! What they share: the config file argument, logging, the progress bar and exit codes.

pub(crate) mod check_config;
#[cfg(feature = "sandbox")]
pub(crate) mod demo;
pub(crate) mod fetch;
pub(crate) mod items;
pub(crate) mod reconcile;
pub(crate) mod run;
#[cfg(feature = "sandbox")]
pub(crate) mod sandbox;
pub(crate) mod schedule;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use xsolla_recon::domain::window::Window;
use xsolla_recon::fetch::Progress;
use xsolla_recon::job::config::{Config, ConfigError};
use xsolla_recon::job::{self, exit, JobError};

/// `--config FILE`, or `XSOLLA_RECON_CONFIG`.
#[derive(Args, Debug)]
pub(crate) struct ConfigFile {
    /// Config file.
    #[arg(
        long,
        env = "XSOLLA_RECON_CONFIG",
        default_value = "config/xsolla-recon.toml"
    )]
    pub(crate) config: PathBuf,
}

/// Window, config and merchant: what every job command takes.
#[derive(Args, Debug)]
pub(crate) struct JobArgs {
    /// First day of the window (YYYY-MM-DD), included.
    #[arg(long)]
    pub(crate) from: NaiveDate,
    /// Last day of the window (YYYY-MM-DD), included.
    #[arg(long)]
    pub(crate) to: NaiveDate,
    #[command(flatten)]
    pub(crate) file: ConfigFile,
    /// Merchant name from the config (needed when it has several).
    #[arg(long)]
    pub(crate) merchant: Option<String>,
}

impl JobArgs {
    pub(crate) fn window(&self) -> Result<Window, ConfigError> {
        Window::new(self.from, self.to).ok_or_else(|| {
            ConfigError::Usage(format!("--from {} is after --to {}", self.from, self.to))
        })
    }
}

/// The exit code for a failure: configuration, a busy lock, or a runtime failure.
pub(crate) fn exit_code_of(e: &anyhow::Error) -> u8 {
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

pub(crate) fn init_tracing(verbose: u8, quiet: bool) {
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
pub(crate) struct Bar(pub(crate) indicatif::ProgressBar);

impl Bar {
    pub(crate) fn new() -> Self {
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

/// ` (class n, class n)` for the summary line.
pub(crate) fn class_counts(s: &xsolla_recon::reconcile::Summary) -> String {
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

/// `; N not checked` when some checks could not run (their reasons are in the reports), else
/// nothing.
pub(crate) fn not_checked_count(s: &xsolla_recon::reconcile::Summary) -> String {
    match xsolla_recon::domain::not_checked::total(&s.not_checked) {
        0 => String::new(),
        n => format!("; {n} not checked"),
    }
}

/// Ledger paths in the config are relative to the config's folder.
pub(crate) fn config_dir(config: &std::path::Path) -> PathBuf {
    config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf()
}

/// A path from the command line made absolute against the current folder, so it means
/// what the user typed even where the job reads paths against the config's folder.
pub(crate) fn absolute(path: PathBuf) -> std::io::Result<PathBuf> {
    if path.is_relative() {
        Ok(std::env::current_dir()?.join(path))
    } else {
        Ok(path)
    }
}

/// Reads and validates the config, returning it with the SHA-256 of its text.
pub(crate) fn load_config(path: &std::path::Path) -> anyhow::Result<(Config, String)> {
    let cfg = Config::load(path)?;
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok((cfg, job::sha256_hex(&text)))
}

/// The more serious of two exit codes: runtime failure, config, busy, found, ok.
pub(crate) fn worse(a: u8, b: u8) -> u8 {
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
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
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

pub(crate) fn mail_text(m: &job::MailStatus) -> String {
    match m {
        job::MailStatus::Sent { to, server } => format!("sent to {} via {server}", to.join(", ")),
        job::MailStatus::Written { path } => format!("written to {}", path.display()),
        job::MailStatus::DryRun => "not sent (--dry-run)".into(),
        job::MailStatus::NotNeeded { reason } => format!("not sent ({reason})"),
        job::MailStatus::Failed { error } => format!("FAILED: {error}"),
    }
}
