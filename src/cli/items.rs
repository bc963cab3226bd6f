//! `xsolla-recon items …`: the finance team's open items with their decisions: list, show,
//! accept, snooze, reopen, note, import a filled-in report, verify the decision log.

use super::{load_config, ConfigFile};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use xsolla_recon::job::config::ConfigError;
use xsolla_recon::job::exit;
use xsolla_recon::job::items::{self, Decided, Filter, ItemLine, Items};
use xsolla_recon::reconcile::decisions::{self, Action, ItemState, Request};

/// Config and merchant: what every `items` command takes.
#[derive(Args, Debug)]
pub(crate) struct Common {
    #[command(flatten)]
    file: ConfigFile,
    /// Merchant name from the config (needed when it has several).
    #[arg(long)]
    merchant: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct ItemsArgs {
    #[command(subcommand)]
    cmd: ItemsCmd,
}

#[derive(Subcommand, Debug)]
enum ItemsCmd {
    /// List items (open, accepted and snoozed; `--state resolved` for the resolved ones).
    List {
        #[command(flatten)]
        common: Common,
        /// Only this class.
        #[arg(long)]
        class: Option<String>,
        /// Only this state: open, accepted, snoozed or resolved.
        #[arg(long, value_parser = parse_state)]
        state: Option<ItemState>,
        /// Only items first seen more than N days before the latest run.
        #[arg(long, value_name = "N")]
        older_than: Option<i64>,
    },
    /// One item and every decision about it.
    Show {
        #[command(flatten)]
        common: Common,
        /// The item's key (the `key` column of the reports).
        key: String,
    },
    /// Accept an item: explained, left out of the mail's counts until it changes.
    Accept {
        #[command(flatten)]
        common: Common,
        key: String,
        /// Why it is accepted.
        #[arg(long)]
        reason: String,
        /// Who decides (default $USER, else $LOGNAME, else "unknown").
        #[arg(long)]
        by: Option<String>,
    },
    /// Put an item aside until a date.
    Snooze {
        #[command(flatten)]
        common: Common,
        key: String,
        /// The day it comes back (YYYY-MM-DD).
        #[arg(long)]
        until: NaiveDate,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Who decides.
        #[arg(long)]
        by: Option<String>,
    },
    /// Open an accepted or snoozed item again.
    Reopen {
        #[command(flatten)]
        common: Common,
        key: String,
        /// Why.
        #[arg(long, default_value = "reopened")]
        reason: String,
        /// Who decides.
        #[arg(long)]
        by: Option<String>,
    },
    /// Add a note to an item.
    Note {
        #[command(flatten)]
        common: Common,
        key: String,
        /// The note.
        text: String,
        /// Who writes it.
        #[arg(long)]
        by: Option<String>,
    },
    /// Apply the decision, until and note columns filled into a discrepancies.xlsx or
    /// discrepancies.csv. Nothing is applied when a row cannot be, unless --partial.
    Import {
        #[command(flatten)]
        common: Common,
        /// The filled-in file.
        file: PathBuf,
        /// Apply the rows that can be, list the others.
        #[arg(long)]
        partial: bool,
        /// Who decided (default $USER, else $LOGNAME, else "unknown").
        #[arg(long)]
        by: Option<String>,
    },
    /// Check that the decision log is as written; names the first edited line.
    Verify {
        #[command(flatten)]
        common: Common,
    },
}

fn parse_state(s: &str) -> Result<ItemState, String> {
    ItemState::parse(s).ok_or_else(|| format!("{s:?}: use open, accepted, snoozed or resolved"))
}

/// Text for a terminal: control characters (escape sequences in a typed note) become spaces.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn open(common: &Common) -> anyhow::Result<Items> {
    let (cfg, _) = load_config(&common.file.config)?;
    let merchant = cfg.merchant(common.merchant.as_deref())?;
    Ok(Items::load(&cfg, merchant)?)
}

pub(crate) fn cmd_items(a: ItemsArgs) -> anyhow::Result<u8> {
    match a.cmd {
        ItemsCmd::List {
            common,
            class,
            state,
            older_than,
        } => list(
            &open(&common)?,
            &Filter {
                class,
                state,
                older_than,
            },
        ),
        ItemsCmd::Show { common, key } => show(&open(&common)?, &key),
        ItemsCmd::Accept {
            common,
            key,
            reason,
            by,
        } => decide(&common, key, Action::Accept, reason, None, by),
        ItemsCmd::Snooze {
            common,
            key,
            until,
            reason,
            by,
        } => decide(&common, key, Action::Snooze, reason, Some(until), by),
        ItemsCmd::Reopen {
            common,
            key,
            reason,
            by,
        } => decide(&common, key, Action::Reopen, reason, None, by),
        ItemsCmd::Note {
            common,
            key,
            text,
            by,
        } => decide(&common, key, Action::Note, text, None, by),
        ItemsCmd::Import {
            common,
            file,
            partial,
            by,
        } => import(&common, &file, partial, by.as_deref()),
        ItemsCmd::Verify { common } => verify(&common),
    }
}

/// Prints the selected items as tab-separated lines. A reader that stops early (`| head`)
/// ends the listing quietly: that is what it asked for, not an error.
fn list(items: &Items, f: &Filter) -> anyhow::Result<u8> {
    let lines = items.list(f);
    match write_lines(&mut std::io::stdout().lock(), &lines) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(exit::OK),
        r => r?,
    }
    eprintln!("{} items as of {}", lines.len(), items.as_of());
    Ok(exit::OK)
}

fn write_lines(out: &mut impl Write, lines: &[ItemLine]) -> std::io::Result<()> {
    writeln!(
        out,
        "key\tclass\tstate\tage_days\tcurrency\tdifference\tfirst_seen\twhy"
    )?;
    for l in lines {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            clean(&l.item.key),
            clean(&l.item.class),
            l.mark.state.word(),
            l.age_days,
            clean(&l.item.currency),
            l.item.difference,
            l.item.first_seen,
            clean(&l.mark.text())
        )?;
    }
    out.flush()
}

fn show(items: &Items, key: &str) -> anyhow::Result<u8> {
    let (l, history) = items.show(key)?;
    let i = &l.item;
    println!("key: {}", clean(&i.key));
    println!("class: {}", clean(&i.class));
    println!("state: {}", l.mark.state.word());
    if !l.mark.text().is_empty() {
        println!("why: {}", clean(&l.mark.text()));
    }
    println!("difference: {} {}", i.difference, clean(&i.currency));
    println!(
        "first seen: {} (run {})",
        i.first_seen,
        clean(&i.first_run_id)
    );
    println!("last seen: {} (run {})", i.last_seen, clean(&i.last_run_id));
    println!("age: {} days as of {}", l.age_days, items.as_of());
    if let Some(t) = i.transaction_id {
        println!("transaction: {t}");
    }
    if let Some(o) = &i.order_id {
        println!("order: {}", clean(o));
    }
    println!("decisions: {}", history.len());
    for h in history {
        println!(
            "  {} {} {} (was {}){}: {}",
            h.time.format("%Y-%m-%d %H:%M:%SZ"),
            clean(&h.by),
            h.action.word(),
            h.previous.word(),
            h.until.map(|u| format!(" until {u}")).unwrap_or_default(),
            clean(&h.why)
        );
    }
    Ok(exit::OK)
}

fn decide(
    common: &Common,
    key: String,
    action: Action,
    why: String,
    until: Option<NaiveDate>,
    by: Option<String>,
) -> anyhow::Result<u8> {
    let mut items = open(common)?;
    let req = Request {
        key: key.clone(),
        action,
        why,
        until,
        by: items::who(by.as_deref()),
        source: "cli".to_owned(),
    };
    match items.decide(req) {
        Ok(Decided::Appended) => {
            let (l, _) = items.show(&key)?;
            println!("{}: {}", clean(&key), clean(&l.mark.text()));
            println!(
                "{} decision recorded in {}",
                action.word(),
                items.log().path().display()
            );
            Ok(exit::OK)
        }
        Ok(Decided::Unchanged(why)) => {
            println!("nothing to record: {}", clean(&why));
            Ok(exit::OK)
        }
        Err(items::ItemsError::Refused { key, problem }) => {
            Err(ConfigError::Usage(format!("{key}: {problem}")).into())
        }
        Err(e) => Err(e.into()),
    }
}

fn import(
    common: &Common,
    file: &std::path::Path,
    partial: bool,
    by: Option<&str>,
) -> anyhow::Result<u8> {
    let mut items = open(common)?;
    let out = items.import(file, &items::who(by), partial)?;
    println!(
        "{}: {} filled rows, {} decisions recorded, {} already so, {} not applied",
        file.display(),
        out.rows,
        out.applied,
        out.unchanged.len(),
        out.rejected.len()
    );
    for r in &out.rejected {
        println!("not applied: {}", clean(r));
    }
    Ok(if out.rejected.is_empty() {
        exit::OK
    } else {
        exit::FOUND
    })
}

fn verify(common: &Common) -> anyhow::Result<u8> {
    let (cfg, _) = load_config(&common.file.config)?;
    let merchant = cfg.merchant(common.merchant.as_deref())?;
    let path = decisions::log_path(&cfg.data_dir, &merchant.name)?;
    let lines = decisions::verify_file(&path)?;
    println!(
        "{}: {} {}, each as written (every hash matches)",
        path.display(),
        lines.len(),
        if lines.len() == 1 { "line" } else { "lines" }
    );
    Ok(exit::OK)
}
