//! `xsolla-recon demo`: the whole job on the embedded sandbox.

use super::{mail_text, Bar};
use clap::Args;
use std::path::PathBuf;
use xsolla_recon::job::exit;

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Output folder.
    #[arg(long, default_value = "out/demo")]
    pub(crate) out: PathBuf,
}

pub(crate) async fn cmd_demo(a: DemoArgs) -> anyhow::Result<u8> {
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
