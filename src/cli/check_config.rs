//! `xsolla-recon check-config`: every problem of a config file, with its line.

use clap::Args;
use std::path::PathBuf;
use xsolla_recon::job::config::Config;
use xsolla_recon::job::exit;

#[derive(Args, Debug)]
pub(crate) struct CheckConfigArgs {
    /// Config file.
    #[arg(
        env = "XSOLLA_RECON_CONFIG",
        default_value = "config/xsolla-recon.toml"
    )]
    pub(crate) config: PathBuf,
}

pub(crate) fn cmd_check_config(a: CheckConfigArgs) -> u8 {
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
