//! The `xsolla-recon` command line: parses the arguments and hands them to one subcommand
//! in `cli/`.

mod cli;

use clap::{Parser, Subcommand};
use cli::{check_config, fetch, items, reconcile, run, schedule};
#[cfg(feature = "sandbox")]
use cli::{demo, sandbox};
use std::process::ExitCode;
use xsolla_recon::job::exit;

/// mimalloc instead of glibc's malloc (the rules allocate and free columns of millions of
/// values, and glibc returned and re-faulted their pages), with a one-shot run's blocks of
/// 256 KiB and more reused lowest address first (`domain::alloc`); README "Benchmarks" has
/// the figures.
#[global_allocator]
static ALLOCATOR: xsolla_recon::domain::alloc::Allocator = xsolla_recon::domain::alloc::Allocator;

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
    Fetch(fetch::FetchArgs),
    /// Serve an Xsolla-compatible sandbox API on loopback from generated data.
    #[cfg(feature = "sandbox")]
    Sandbox(sandbox::SandboxArgs),
    /// Run the job on the embedded sandbox: no config, network or key needed.
    #[cfg(feature = "sandbox")]
    Demo(demo::DemoArgs),
    /// Reconcile a window: the stored snapshot (or a registry export) against the ledger.
    Reconcile(reconcile::ReconcileArgs),
    /// The whole job for a window: fetch, reconcile, write reports, mail them.
    Run(run::RunArgs),
    /// Run the `[[schedule]]` jobs of the config at their cron times until stopped.
    Schedule(schedule::ScheduleArgs),
    /// Check a config file and list every problem with its line.
    CheckConfig(check_config::CheckConfigArgs),
    /// Open items and the team's decisions: list, show, accept, snooze, reopen, note,
    /// import a filled-in report, verify the decision log.
    Items(items::ItemsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_tracing(cli.verbose, cli.quiet);
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
    // One run and out: the memory a run frees is kept for its next allocations (a large
    // run hands it back, see `keep_freed_memory`); the scheduler, which lives for months,
    // starts with mimalloc's own purge delay.
    if matches!(cli.command, Command::Reconcile(_) | Command::Run(_)) {
        xsolla_recon::reconcile::rules::keep_freed_memory(true);
    }
    let result = runtime.block_on(async {
        match cli.command {
            Command::Fetch(a) => fetch::cmd_fetch(a).await,
            #[cfg(feature = "sandbox")]
            Command::Sandbox(a) => sandbox::cmd_sandbox(a).await,
            #[cfg(feature = "sandbox")]
            Command::Demo(a) => demo::cmd_demo(a).await,
            Command::Reconcile(a) => reconcile::cmd_reconcile(a),
            Command::Run(a) => run::cmd_run(a).await,
            Command::Schedule(a) => schedule::cmd_schedule(a).await,
            Command::CheckConfig(a) => Ok(check_config::cmd_check_config(a)),
            Command::Items(a) => items::cmd_items(a),
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Each cause once: an error that writes its source into its own message is not
            // followed by that source again.
            eprintln!("error: {}", cli::error_chain(&*e));
            ExitCode::from(cli::exit_code_of(&e))
        }
    }
}
