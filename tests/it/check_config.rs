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

#[test]
fn a_ledger_without_mapped_columns_names_each_column_and_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("exports")).unwrap();
    // Semicolons and Windows-1252 (`é` as one byte): read as a load reads them.
    let mut bytes = b"Order;Betrag;W\xe4hrung;Date\n".to_vec();
    bytes.extend_from_slice(b"A-1;10,00;EUR;2024-03-01\n");
    std::fs::write(tmp.path().join("exports/ledger-2024-03.csv"), &bytes).unwrap();
    std::fs::write(tmp.path().join("exports/ledger-2024-04.csv"), LEDGER).unwrap();
    let columns = COLUMNS.to_owned() + "fee = \"Fee\"\n";
    let cfg = config("exports/ledger-*.csv", "", &columns);
    std::fs::write(tmp.path().join("c.toml"), cfg).unwrap();
    let out = check(tmp.path(), "c.toml");
    assert_exit(&out, 2);
    let p = problems(&out);
    // Every missing column, not only the first; the first file the glob matches.
    assert_eq!(p.len(), 3, "{}", text(&out));
    for (line, name, key) in [
        (12, "Gross", "amount"),
        (13, "Currency", "currency"),
        (15, "Fee", "fee"),
    ] {
        assert!(
            p.iter().any(|l| l.starts_with(&format!("c.toml:{line}:"))
                && l.contains(&format!("no column {name:?} (columns.{key})"))
                && l.contains("exports/ledger-2024-03.csv:1")
                && l.contains(r#"["Order", "Betrag", "Währung", "Date"]"#)),
            "{name}: {p:?}"
        );
    }
}

#[test]
fn status_words_the_map_does_not_cover_are_named_with_their_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut csv = "Order,Gross,Currency,Date,State\n".to_owned();
    for (i, state) in [
        "Completed",
        "On hold",
        "on hold ",
        "REFUNDED",
        "Storno",
        "On Hold",
    ]
    .iter()
    .enumerate()
    {
        csv.push_str(&format!("A-{i},1.00,EUR,2024-03-01,{state}\n"));
    }
    std::fs::write(tmp.path().join("ledger.csv"), &csv).unwrap();
    let columns = COLUMNS.to_owned()
        + "status = \"State\"\n[merchant.ledger.status_map]\n\"Completed\" = \"paid\"\n";
    std::fs::write(
        tmp.path().join("c.toml"),
        config("ledger.csv", "", &columns),
    )
    .unwrap();
    let out = check(tmp.path(), "c.toml");
    assert_exit(&out, 2);
    let p = problems(&out);
    // `Completed` is mapped, `REFUNDED` is a normalised status: two words are left.
    assert_eq!(p.len(), 2, "{}", text(&out));
    assert!(
        p[0].starts_with("c.toml:16:") && p[0].contains(r#"status "on hold" (3 row(s))"#),
        "{p:?}"
    );
    assert!(p[1].contains(r#"status "storno" (1 row(s))"#), "{p:?}");
    assert!(p.iter().all(|l| l.contains("ledger.csv")), "{p:?}");

    // Mapped, the same ledger checks clean.
    let columns = columns + "\"On hold\" = \"pending\"\n\"Storno\" = \"canceled\"\n";
    std::fs::write(
        tmp.path().join("c.toml"),
        config("ledger.csv", "", &columns),
    )
    .unwrap();
    let out = check(tmp.path(), "c.toml");
    assert_exit(&out, 0);
}

#[test]
fn a_status_scan_cut_at_its_limit_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let mut csv = String::from("Order,Gross,Currency,Date,State\n");
    for i in 0..100_005 {
        csv.push_str(&format!("A-{i},1,EUR,2024-03-01,hold\n"));
    }
    std::fs::write(tmp.path().join("ledger.csv"), &csv).unwrap();
    let columns = COLUMNS.to_owned() + "status = \"State\"\n";
    std::fs::write(
        tmp.path().join("c.toml"),
        config("ledger.csv", "", &columns),
    )
    .unwrap();
    let out = check(tmp.path(), "c.toml");
    assert_exit(&out, 2);
    let p = problems(&out);
    assert_eq!(p.len(), 1, "{}", text(&out));
    assert!(
        p[0].contains(r#"status "hold" (100000 row(s) (in the first 100000 rows read"#),
        "{p:?}"
    );
}

#[test]
fn workbook_and_parquet_ledgers_are_opened_too() {
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    // A workbook whose header is on row 2, under a title.
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "Ledger export").unwrap();
    for (c, h) in ["Order", "Gross", "Date", "State"].iter().enumerate() {
        ws.write_string(1, c as u16, *h).unwrap();
    }
    for (r, state) in ["paid", "Open", "Open"].iter().enumerate() {
        let r = r as u32 + 2;
        ws.write_string(r, 0, format!("A-{r}")).unwrap();
        ws.write_number(r, 1, 1.0).unwrap();
        ws.write_string(r, 2, "2024-03-01").unwrap();
        ws.write_string(r, 3, *state).unwrap();
    }
    wb.save(tmp.path().join("ledger.xlsx")).unwrap();
    let columns = COLUMNS.to_owned() + "status = \"State\"\n";
    let cfg = config("ledger.xlsx", "", &columns).replace(
        "[merchant.ledger.columns]",
        "[merchant.ledger.xlsx]\nheader_row = 2\n[merchant.ledger.columns]",
    );
    std::fs::write(tmp.path().join("x.toml"), cfg).unwrap();
    let out = check(tmp.path(), "x.toml");
    assert_exit(&out, 2);
    let p = problems(&out);
    assert_eq!(p.len(), 2, "{}", text(&out));
    assert!(
        p.iter()
            .any(|l| l.contains("ledger ledger.xlsx:2: no column \"Currency\"")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|l| l.contains(r#"status "open" (2 row(s))"#)),
        "{p:?}"
    );

    let mut df = DataFrame::new_infer_height(vec![
        Column::new("Order".into(), &["A-1"]),
        Column::new("Gross".into(), &["1.00"]),
        Column::new("Currency".into(), &["EUR"]),
    ])
    .unwrap();
    let file = std::fs::File::create(tmp.path().join("ledger.parquet")).unwrap();
    ParquetWriter::new(file).finish(&mut df).unwrap();
    std::fs::write(
        tmp.path().join("p.toml"),
        config("ledger.parquet", "", COLUMNS),
    )
    .unwrap();
    let out = check(tmp.path(), "p.toml");
    assert_exit(&out, 2);
    let p = problems(&out);
    assert_eq!(p.len(), 1, "{}", text(&out));
    assert!(
        p[0].contains("ledger ledger.parquet:0: no column \"Date\" (columns.date)"),
        "{p:?}"
    );
}
