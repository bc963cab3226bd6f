//! Broken ledger exports (`tests/data/bad-ledgers/`, plus a few generated here): each is either
//! refused with an error naming file, line, column and value, or its bad rows are quarantined
//! with those fields, and no row ever goes missing silently.
//!
//! Prints `reliability: bad_inputs tried=<N> rejected_cleanly=<M> rows_lost=<L>` for the
//! reliability script ("rejected cleanly" = handled exactly as the folder's README says).

use std::fs;
use std::path::{Path, PathBuf};
use xsolla_recon::load::ledger::{
    load_ledger, Delimiter, LedgerConfig, LedgerError, LedgerLoad, OnBadRow,
};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad-ledgers")
}

fn cfg(file: &str, mode: OnBadRow) -> LedgerConfig {
    let mut c = LedgerConfig {
        path: file.to_owned(),
        on_bad_row: mode,
        ..LedgerConfig::default()
    };
    c.columns.order_id = Some("order_id".to_owned());
    c.columns.note = Some("note".to_owned());
    c
}

/// One bad row: line, column, value, words of the problem.
type Bad = (u64, &'static str, &'static str, &'static str);

/// What a file must do (the README says the same in prose).
enum Expect {
    /// An error in both modes, whose text has all these fragments.
    FileError(&'static [&'static str]),
    /// `rows` data records; these are bad (the first one fails `fail` mode).
    BadRows(u64, &'static [Bad]),
    /// Loads with `rows` rows in both modes, and passes the check.
    Loads(u64, fn(&LedgerLoad)),
}

type Tweak = fn(&mut LedgerConfig);

/// Column `col` as text (a packed `source` too).
fn strs(l: &LedgerLoad, col: &str) -> Vec<Option<String>> {
    xsolla_recon::domain::codes::text(l.frame.column(col).unwrap())
        .unwrap()
        .iter()
        .map(|s| s.map(str::to_owned))
        .collect()
}

fn amounts(l: &LedgerLoad) -> Vec<Option<i128>> {
    l.frame
        .column("amount")
        .unwrap()
        .decimal()
        .unwrap()
        .physical()
        .iter()
        .collect()
}

/// Tally of the run, for the reliability line.
#[derive(Default)]
struct Tally {
    tried: u64,
    clean: u64,
    rows_lost: u64,
}

/// Loads `file` from `dir` in both modes and checks it against `expect`. Returns whether the
/// file was handled cleanly; rows lost are added to the tally either way.
fn check(dir: &Path, file: &str, expect: &Expect, tweak: Tweak, t: &mut Tally) {
    t.tried += 1;
    for mode in [OnBadRow::Fail, OnBadRow::Quarantine] {
        let mut c = cfg(file, mode);
        tweak(&mut c);
        let got = load_ledger(&c, dir);
        if let Ok(l) = &got {
            let n = &l.counts;
            t.rows_lost += n.rows_read.abs_diff(n.rows_loaded + n.rows_quarantined);
            t.rows_lost += (l.frame.height() as u64).abs_diff(n.rows_loaded);
            t.rows_lost += (l.quarantined.len() as u64).abs_diff(n.rows_quarantined);
        }
        match (expect, got) {
            (Expect::FileError(parts), Err(e)) => {
                assert!(
                    !matches!(e, LedgerError::BadRow(_)),
                    "{file} {mode:?}: a file error, not a row: {e}"
                );
                let msg = e.to_string();
                assert!(msg.contains(file), "{file} {mode:?}: {msg}");
                for p in *parts {
                    assert!(msg.contains(p), "{file} {mode:?}: {msg:?} lacks {p:?}");
                }
            }
            (Expect::FileError(_), Ok(l)) => panic!("{file} {mode:?}: loaded {:?}", l.counts),
            (Expect::BadRows(rows, bad), Err(e)) => {
                assert_eq!(mode, OnBadRow::Fail, "{file}: quarantine mode failed: {e}");
                let (line, column, value, problem) = bad[0];
                let LedgerError::BadRow(b) = &e else {
                    panic!("{file}: expected a bad row, got {e}");
                };
                assert_eq!(b.file, Path::new(file));
                assert_eq!((b.line, b.column.as_str()), (line, column), "{file}: {e}");
                assert!(b.value.contains(value), "{file}: {e}");
                let msg = e.to_string();
                for p in [
                    format!("{file}:{line}:"),
                    format!("column {column:?}"),
                    format!("{value:?}").trim_matches('"').to_owned(),
                    problem.to_owned(),
                ] {
                    assert!(msg.contains(&p), "{file}: {msg:?} lacks {p:?}");
                }
                let _ = rows;
            }
            (Expect::BadRows(rows, bad), Ok(l)) => {
                assert_eq!(mode, OnBadRow::Quarantine, "{file}: fail mode loaded");
                let n = &l.counts;
                t.rows_lost += rows.saturating_sub(n.rows_read);
                assert_eq!(n.rows_read, *rows, "{file}");
                assert_eq!(n.rows_quarantined, bad.len() as u64, "{file}");
                for (q, (line, column, value, problem)) in l.quarantined.iter().zip(bad.iter()) {
                    assert_eq!(q.file, Path::new(file));
                    assert_eq!((q.line, q.column.as_str()), (*line, *column), "{file}: {q}");
                    assert!(q.value.contains(value), "{file}: {q}");
                    assert!(q.problem.contains(problem), "{file}: {q}");
                }
            }
            (Expect::Loads(rows, f), Ok(l)) => {
                t.rows_lost += rows.saturating_sub(l.counts.rows_read);
                assert_eq!(l.counts.rows_read, *rows, "{file}");
                assert_eq!(l.counts.rows_loaded, *rows, "{file}");
                f(&l);
            }
            (Expect::Loads(..), Err(e)) => panic!("{file} {mode:?}: {e}"),
        }
    }
    // Every assertion above panics; reaching here is a clean handling.
    t.clean += 1;
}

fn no_check(_: &LedgerLoad) {}

fn committed_cases() -> Vec<(&'static str, Expect, Tweak)> {
    vec![
        ("empty.csv", Expect::FileError(&["is empty"]), |_| {}),
        ("header_only.csv", Expect::Loads(0, no_check), |_| {}),
        (
            "missing_amount_column.csv",
            Expect::FileError(&[
                "missing_amount_column.csv:1",
                "no column \"amount\"",
                "\"gross\"",
            ]),
            |_| {},
        ),
        (
            "duplicated_column.csv",
            Expect::FileError(&[
                "duplicated_column.csv:1",
                "more than once",
                "columns 1 and 5",
            ]),
            |_| {},
        ),
        (
            "bad_amount.csv",
            Expect::BadRows(3, &[(3, "amount", "12,50", "")]),
            |_| {},
        ),
        (
            "bad_date.csv",
            Expect::BadRows(3, &[(4, "date", "2024-02-30", "date_formats")]),
            |_| {},
        ),
        (
            "wrong_delimiter.csv",
            Expect::FileError(&[
                "wrong_delimiter.csv:1",
                "no column",
                "order_id;amount;currency",
            ]),
            |c| c.csv.delimiter = Delimiter::Byte(b','),
        ),
        ("wrong_delimiter.csv", Expect::Loads(1, no_check), |_| {}),
        (
            "bom.csv",
            Expect::Loads(2, |l| {
                assert_eq!(
                    strs(l, "order_id"),
                    vec![Some("A-1".into()), Some("A-2".into())]
                );
            }),
            |_| {},
        ),
        (
            "windows1252.csv",
            Expect::Loads(2, |l| {
                assert_eq!(
                    strs(l, "note"),
                    vec![Some("Café crème".into()), Some("€ sign".into())]
                );
            }),
            |_| {},
        ),
        (
            "embedded_newlines_then_bad.csv",
            Expect::BadRows(4, &[(8, "amount", "oops", "")]),
            |_| {},
        ),
        (
            "formula_injection.csv",
            Expect::Loads(3, |l| {
                assert_eq!(
                    strs(l, "order_id"),
                    vec![
                        Some("=HYPERLINK(\"http://x\",\"y\")".into()),
                        Some("+SUM(1;2)".into()),
                        Some("-2+3".into())
                    ]
                );
                assert_eq!(
                    strs(l, "note"),
                    vec![
                        Some("=cmd|' /C calc'!A0".into()),
                        Some("@SUM(A1)".into()),
                        Some("=1+1".into())
                    ]
                );
            }),
            |_| {},
        ),
        (
            "duplicate_ids.csv",
            Expect::Loads(4, |l| {
                let ids = strs(l, "order_id");
                assert_eq!(
                    ids.iter().filter(|i| i.as_deref() == Some("A-1")).count(),
                    3
                );
            }),
            |_| {},
        ),
        (
            "truncated_open_quote.csv",
            Expect::BadRows(2, &[(3, "*", "the export stopped here", "truncated")]),
            |_| {},
        ),
        (
            "truncated_missing_fields.csv",
            Expect::BadRows(
                2,
                &[(3, "*", "A-2,11.00,USD", "3 fields where the header has 5")],
            ),
            |_| {},
        ),
        (
            "really_csv.xlsx",
            Expect::FileError(&["XLSX", "looks like text"]),
            |_| {},
        ),
        (
            "really_text.parquet",
            Expect::FileError(&["Parquet", "looks like text"]),
            |_| {},
        ),
        (
            "scientific_amounts.csv",
            Expect::BadRows(
                4,
                &[
                    (3, "amount", "1e3", "scientific notation"),
                    (4, "amount", "1.5E-2", "scientific notation"),
                ],
            ),
            |_| {},
        ),
        (
            "too_many_digits.csv",
            Expect::BadRows(
                4,
                &[
                    (
                        3,
                        "amount",
                        "123456789012345678901234567890123456789",
                        "too large",
                    ),
                    (4, "amount", "0.1234567890123", "more than 6 decimals"),
                ],
            ),
            |_| {},
        ),
        (
            "non_finite_amounts.csv",
            Expect::BadRows(
                3,
                &[
                    (3, "amount", "NaN", "not a finite number"),
                    (4, "amount", "-inf", "not a finite number"),
                ],
            ),
            |_| {},
        ),
        (
            "lone_cr.csv",
            Expect::BadRows(
                3,
                &[
                    (3, "amount", "ten", "not a plain number"),
                    (4, "date", "2024-01-32", "date_formats"),
                ],
            ),
            |_| {},
        ),
    ]
}

const HEADER: &str = "order_id,amount,currency,date,note\n";

#[test]
fn every_bad_ledger_is_handled_cleanly() {
    let dir = corpus();
    let readme = fs::read_to_string(dir.join("README.md")).unwrap();
    let mut t = Tally::default();

    let cases = committed_cases();
    let mut files: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && n != "README.md")
        .collect();
    files.sort();
    for f in &files {
        assert!(
            cases.iter().any(|(c, ..)| c == f),
            "{f} in the corpus has no case"
        );
    }
    for (file, expect, tweak) in &cases {
        assert!(
            readme.contains(&format!("`{file}`")),
            "README.md documents {file}"
        );
        check(&dir, file, expect, *tweak, &mut t);
    }

    // Beyond counts: exact amounts of the rows that did load.
    let l = load_ledger(&cfg("too_many_digits.csv", OnBadRow::Quarantine), &dir).unwrap();
    assert_eq!(amounts(&l), vec![Some(10_000_000), Some(12_000_000)]);
    let l = load_ledger(
        &cfg("embedded_newlines_then_bad.csv", OnBadRow::Quarantine),
        &dir,
    )
    .unwrap();
    assert_eq!(
        strs(&l, "source"),
        vec![
            Some("embedded_newlines_then_bad.csv:2".into()),
            Some("embedded_newlines_then_bad.csv:5".into()),
            Some("embedded_newlines_then_bad.csv:6".into())
        ]
    );
    assert_eq!(
        strs(&l, "note")[2].as_deref(),
        Some("quote \"inside\" and\r\na CRLF")
    );

    // Generated: too big or too odd for git.
    let tmp = tempfile::TempDir::new().unwrap();
    let gen = tmp.path();
    let long = "x".repeat(1_000_000);
    fs::write(
        gen.join("long_note.csv"),
        format!("{HEADER}A-1,1.00,USD,2024-01-01,\"{long}\"\nA-2,2.00,USD,2024-01-01,\n"),
    )
    .unwrap();
    check(
        gen,
        "long_note.csv",
        &Expect::Loads(2, |l| {
            let notes = strs(l, "note");
            assert_eq!(notes[0].as_deref().map(str::len), Some(1_000_000));
            assert!(notes[0].as_deref().unwrap().bytes().all(|b| b == b'x'));
        }),
        |_| {},
        &mut t,
    );
    let over = "y".repeat((1 << 20) + 1);
    fs::write(
        gen.join("too_long_field.csv"),
        format!("{HEADER}A-1,1.00,USD,2024-01-01,\nA-2,2.00,USD,2024-01-01,{over}\n"),
    )
    .unwrap();
    check(
        gen,
        "too_long_field.csv",
        &Expect::FileError(&["too_long_field.csv:3", "column \"note\"", "max_field_bytes"]),
        |_| {},
        &mut t,
    );
    let wide: Vec<String> = (0..5_000).map(|i| format!("column_{i:05}")).collect();
    fs::write(
        gen.join("wide_header.csv"),
        format!("order_id,{}\n", wide.join(",")),
    )
    .unwrap();
    check(
        gen,
        "wide_header.csv",
        &Expect::FileError(&["no column \"amount\"", "column_00008", "… and 4991 more"]),
        |_| {},
        &mut t,
    );
    let err = load_ledger(&cfg("wide_header.csv", OnBadRow::Fail), gen).unwrap_err();
    assert!(err.to_string().chars().count() < 1_000, "{err}");
    assert!(!err.to_string().contains("column_00009"), "{err}");

    fs::write(
        gen.join("wide_wrong_delimiter.csv"),
        format!("order_id;{}\n", wide.join(";")),
    )
    .unwrap();
    check(
        gen,
        "wide_wrong_delimiter.csv",
        &Expect::FileError(&[
            "no column \"order_id\"",
            "[\"order_id;column_00000;column_00001;colum…\"]",
        ]),
        |c| c.csv.delimiter = Delimiter::Byte(b','),
        &mut t,
    );
    let err = load_ledger(
        &{
            let mut c = cfg("wide_wrong_delimiter.csv", OnBadRow::Fail);
            c.csv.delimiter = Delimiter::Byte(b',');
            c
        },
        gen,
    )
    .unwrap_err();
    assert!(err.to_string().chars().count() < 1_000, "{err}");

    let mut many: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
    many.push("C77".to_owned());
    fs::write(gen.join("wide_duplicate.csv"), many.join(",") + "\n").unwrap();
    let started = std::time::Instant::now();
    check(
        gen,
        "wide_duplicate.csv",
        &Expect::FileError(&["\"c77\"", "more than once", "columns 78 and 100001"]),
        |_| {},
        &mut t,
    );
    // Quadratic would be ~5·10^9 comparisons per mode.
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());

    println!(
        "reliability: bad_inputs tried={} rejected_cleanly={} rows_lost={}",
        t.tried, t.clean, t.rows_lost
    );
    assert_eq!(t.clean, t.tried);
    assert_eq!(t.rows_lost, 0);
}

/// Regression: lone-CR (old Mac) files reported every error on line 1.
#[test]
fn regression_lone_cr_line_numbers() {
    let tmp = tempfile::TempDir::new().unwrap();
    let body = HEADER.replace('\n', "\r")
        + "A-1,1.00,USD,2024-01-01,\r\rA-2,bad,USD,2024-01-01,\rA-3,3.00,USD,2024-01-01,\"two\rlines\"\rA-4,x,USD,2024-01-01,\r";
    fs::write(tmp.path().join("mac.csv"), body).unwrap();
    let e = load_ledger(&cfg("mac.csv", OnBadRow::Fail), tmp.path()).unwrap_err();
    assert!(e.to_string().starts_with("ledger: mac.csv:4:"), "{e}");
    let l = load_ledger(&cfg("mac.csv", OnBadRow::Quarantine), tmp.path()).unwrap();
    let lines: Vec<u64> = l.quarantined.iter().map(|b| b.line).collect();
    assert_eq!(lines, vec![4, 7]);
    assert_eq!(
        strs(&l, "source"),
        vec![Some("mac.csv:2".into()), Some("mac.csv:5".into())]
    );
    // Mixed CRLF stays counted once per line end.
    let body =
        HEADER.replace('\n', "\r\n") + "A-1,1.00,USD,2024-01-01,\r\nA-2,bad,USD,2024-01-01,\r\n";
    fs::write(tmp.path().join("dos.csv"), body).unwrap();
    let e = load_ledger(&cfg("dos.csv", OnBadRow::Fail), tmp.path()).unwrap_err();
    assert!(e.to_string().starts_with("ledger: dos.csv:3:"), "{e}");
}

/// Regression: a wrong-delimiter file put its whole (giant) header into the error.
#[test]
fn regression_missing_column_header_is_cut() {
    let tmp = tempfile::TempDir::new().unwrap();
    let names: Vec<String> = (0..2_000)
        .map(|i| format!("a_rather_long_column_name_number_{i:06}_padding_padding"))
        .collect();
    fs::write(
        tmp.path().join("w.csv"),
        format!("{}\nx\n", names.join(";")),
    )
    .unwrap();
    let mut c = cfg("w.csv", OnBadRow::Fail);
    c.csv.delimiter = Delimiter::Byte(b',');
    let e = load_ledger(&c, tmp.path()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.chars().count() < 400, "{} chars: {msg}", msg.len());
    assert!(
        msg.contains("a_rather_long_column_name_number_000000_…"),
        "{msg}"
    );
    match e {
        LedgerError::MissingColumn { found, columns, .. } => {
            assert_eq!(columns, 1);
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].chars().count(), 41);
        }
        other => panic!("{other}"),
    }
    c.csv.delimiter = Delimiter::Byte(b';');
    let msg = load_ledger(&c, tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("… and 1990 more"), "{msg}");
    assert!(msg.chars().count() < 1_000, "{msg}");
}

/// Regression: the duplicate-column check compared every pair of header cells.
#[test]
fn regression_duplicate_column_check_is_linear() {
    let tmp = tempfile::TempDir::new().unwrap();
    let mut names: Vec<String> = (0..200_000).map(|i| format!("c{i}")).collect();
    names.extend(["order_id", "amount", "currency", "date", "note"].map(String::from));
    fs::write(tmp.path().join("wide.csv"), names.join(",") + "\n").unwrap();
    let started = std::time::Instant::now();
    let l = load_ledger(&cfg("wide.csv", OnBadRow::Fail), tmp.path()).unwrap();
    assert_eq!(l.counts.rows_read, 0);
    // Pairwise it is 2·10^10 string comparisons: minutes, not this.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
