//! `xsolla-recon check-config`: the real binary on configs with one thing wrong each, and the
//! ledger they name opened to see that the mapping fits it. Every cause is reported once.

use crate::support::*;
use std::path::Path;
use std::process::Output;

/// The variable the configs here name for the API key.
const KEY_ENV: &str = "RECON_CHECK_CONFIG_KEY";

fn check(dir: &Path, file: &str) -> Output {
    Bin::new(dir)
        .args(["check-config", file])
        .env(KEY_ENV, "k")
        .env_remove("XSOLLA_RECON_CONFIG")
        .output()
}

/// The problem lines of a `check-config` output (`FILE:LINE: …`).
fn problems(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.split_once(".toml:")
                .is_some_and(|(_, rest)| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(str::to_owned)
        .collect()
}

/// One merchant reading `ledger` with the usual column names, `extra` added to its table.
fn config(ledger: &str, extra: &str, columns: &str) -> String {
    format!(
        "data_dir = \"data\"\n\n[[merchant]]\nname = \"acme\"\nmerchant_id = 1\napi_key_env = \"{KEY_ENV}\"\n{extra}\n[merchant.ledger]\npath = \"{ledger}\"\n[merchant.ledger.columns]\n{columns}"
    )
}

const COLUMNS: &str =
    "order_id = \"Order\"\namount = \"Gross\"\ncurrency = \"Currency\"\ndate = \"Date\"\n";
const LEDGER: &str = "Order,Gross,Currency,Date\nA-1,10.00,EUR,2024-03-01\n";

#[test]
fn one_wrong_merchant_id_type_gave_six_problems_about_valid_keys() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("ledger.csv"), LEDGER).unwrap();
    // The good config checks clean, so the one problem below is the wrong type alone.
    std::fs::write(
        tmp.path().join("good.toml"),
        config("ledger.csv", "", COLUMNS),
    )
    .unwrap();
    let out = check(tmp.path(), "good.toml");
    assert_exit(&out, 0);
    let bad = config("ledger.csv", "", COLUMNS).replace("merchant_id = 1", "merchant_id = \"abc\"");
    std::fs::write(tmp.path().join("bad.toml"), bad).unwrap();
    let out = check(tmp.path(), "bad.toml");
    assert_exit(&out, 2);
    let p = problems(&out);
    assert_eq!(p.len(), 1, "{}", text(&out));
    assert!(p[0].starts_with("bad.toml:5: merchant_id:"), "{p:?}");
    assert!(p[0].contains("expected i64"), "{p:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("bad.toml: 1 problem(s)"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_missing_required_key_is_one_problem_and_the_tables_after_it_are_still_checked() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("ledger.csv"), LEDGER).unwrap();
    let cfg = config("ledger.csv", "", COLUMNS).replace("name = \"acme\"\n", "")
        + "\n[fetch]\npage_limit = \"many\"\n";
    std::fs::write(tmp.path().join("c.toml"), cfg).unwrap();
    let out = check(tmp.path(), "c.toml");
    assert_exit(&out, 2);
    let p = problems(&out);
    assert_eq!(p.len(), 2, "{}", text(&out));
    assert!(
        p.iter()
            .any(|l| l.starts_with("c.toml:3:") && l.contains("missing field `name`")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|l| l.starts_with("c.toml:16: page_limit:")),
        "{p:?}"
    );
}

#[test]
fn a_missing_config_file_printed_the_os_error_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let os_error = std::fs::read(tmp.path().join("nope.toml"))
        .unwrap_err()
        .to_string();
    for args in [
        vec![
            "run",
            "--config",
            "nope.toml",
            "--from",
            "2024-03-01",
            "--to",
            "2024-03-01",
        ],
        vec![
            "reconcile",
            "--config",
            "nope.toml",
            "--from",
            "2024-03-01",
            "--to",
            "2024-03-01",
        ],
        vec!["check-config", "nope.toml"],
    ] {
        let out = Bin::new(tmp.path())
            .args(&args)
            .env_remove("XSOLLA_RECON_CONFIG")
            .output();
        assert_exit(&out, 2);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            all.matches(&os_error).count(),
            1,
            "{args:?}: {}",
            text(&out)
        );
        assert!(
            all.contains("cannot read config nope.toml"),
            "{}",
            text(&out)
        );
    }
}
