//! Ledger import tests: real files in a temp folder, every dialect, every format, the bad
//! cases, the corpus in `tests/data/ledger/`, and a property test over random dialects.

use super::*;
use proptest::prelude::*;
use std::fs;
use tempfile::TempDir;

fn cfg(path: &str) -> LedgerConfig {
    let mut c = LedgerConfig {
        path: path.to_owned(),
        ..LedgerConfig::default()
    };
    c.columns.order_id = Some("order_id".to_owned());
    c
}

fn with_tx(mut c: LedgerConfig) -> LedgerConfig {
    c.columns.transaction_id = Some("transaction_id".to_owned());
    c
}

fn write(dir: &TempDir, name: &str, bytes: impl AsRef<[u8]>) {
    let p = dir.path().join(name);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(p, bytes).unwrap();
}

fn amounts(df: &DataFrame, col: &str) -> Vec<Option<i128>> {
    df.column(col)
        .unwrap()
        .decimal()
        .unwrap()
        .physical()
        .iter()
        .collect()
}

fn strs(df: &DataFrame, col: &str) -> Vec<Option<String>> {
    crate::domain::codes::text(df.column(col).unwrap())
        .unwrap()
        .iter()
        .map(|s| s.map(str::to_owned))
        .collect()
}

fn dates(df: &DataFrame) -> Vec<Option<NaiveDate>> {
    df.column("booked_date")
        .unwrap()
        .date()
        .unwrap()
        .physical()
        .iter()
        .map(|d| {
            d.map(|d| {
                NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(d.into())
            })
        })
        .collect()
}

fn ids(df: &DataFrame) -> Vec<Option<i64>> {
    df.column("transaction_id")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect()
}

fn d(y: i32, m: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, day)
}

/// `12.50` → mantissa at scale 6.
fn m(s: &str) -> Option<i128> {
    let mut d: rust_decimal::Decimal = s.parse().unwrap();
    d.rescale(6);
    Some(d.mantissa())
}

#[test]
fn a_mapped_user_column_is_read() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "ledger.csv",
        "order_id,amount,currency,date,Player\nA,1,USD,2024-01-01,u-7\nB,2,USD,2024-01-01,\n",
    );
    let mut c = cfg("ledger.csv");
    c.columns.user_id = Some("player".into());
    let l = load_ledger(&c, dir.path()).unwrap();
    assert_eq!(strs(&l.frame, "user_id"), vec![Some("u-7".into()), None]);
    // Not mapped: the column is there, empty.
    let l = load_ledger(&cfg("ledger.csv"), dir.path()).unwrap();
    assert_eq!(strs(&l.frame, "user_id"), vec![None, None]);
}

#[test]
fn a_mapped_column_without_a_value_is_held_as_a_constant() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "ledger.csv",
        "order_id,amount,currency,date,Player,Note\nA,1,USD,2024-01-01,,\nB,2,USD,2024-01-01,,x\n",
    );
    let mut c = cfg("ledger.csv");
    c.columns.user_id = Some("player".into());
    c.columns.note = Some("note".into());
    let l = load_ledger(&c, dir.path()).unwrap();
    // No player in any line: the same nulls, held as one constant.
    let users = l.frame.column("user_id").unwrap();
    assert!(users.as_scalar_column().is_some());
    assert_eq!(strs(&l.frame, "user_id"), vec![None, None]);
    // One note: the column as read.
    assert!(l.frame.column("note").unwrap().as_scalar_column().is_none());
    assert_eq!(strs(&l.frame, "note"), vec![None, Some("x".into())]);
    crate::domain::frames::check_ledger_schema(&l.frame).unwrap();
}

#[test]
fn comma_crlf_quoted_newlines_and_status_map() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "ledger.csv",
        "transaction_id,order_id,Amount,currency,status,date,note\r\n\
         1001,A-1,12.50,usd,Completed,2024-01-05,\"multi\r\nline, with comma\"\r\n\
         1002,A-2,(3.25),eur,REFUND,2024-01-06T23:30:00-02:00,\"say \"\"hi\"\"\"\r\n\
         ,A-3,+7,gbp,weird,06.01.2024,\r\n",
    );
    let mut c = with_tx(cfg("ledger.csv"));
    c.columns.status = Some("STATUS".to_owned());
    c.columns.note = Some("note".to_owned());
    c.status_map.insert("completed".into(), "paid".into());
    c.status_map.insert("Refund".into(), "refunded".into());
    c.timezone = "Europe/Berlin".into();
    let l = load_ledger(&c, dir.path()).unwrap();
    let f = &l.frame;
    assert_eq!(f.schema().as_ref(), &frames::ledger_schema());
    assert_eq!(amounts(f, "amount"), vec![m("12.5"), m("-3.25"), m("7")]);
    assert_eq!(
        strs(f, "source"),
        vec![
            Some("ledger.csv:2".into()),
            Some("ledger.csv:4".into()),
            Some("ledger.csv:5".into())
        ]
    );
    assert_eq!(
        strs(f, "currency"),
        vec![Some("USD".into()), Some("EUR".into()), Some("GBP".into())]
    );
    assert_eq!(
        strs(f, "status"),
        vec![
            Some("paid".into()),
            Some("refunded".into()),
            Some("other".into())
        ]
    );
    // 23:30 at -02:00 is 02:30 the next day in Berlin.
    assert_eq!(dates(f), vec![d(2024, 1, 5), d(2024, 1, 7), d(2024, 1, 6)]);
    assert_eq!(ids(f), vec![Some(1001), Some(1002), None]);
    assert_eq!(
        strs(f, "note"),
        vec![
            Some("multi\r\nline, with comma".into()),
            Some("say \"hi\"".into()),
            None
        ]
    );
    assert_eq!(l.counts.unmapped_statuses.get("weird"), Some(&1));
    assert_eq!(l.counts.rows_read, 3);
    assert_eq!(l.counts.files, 1);
}

#[test]
fn semicolon_decimal_comma_windows_1252() {
    let dir = TempDir::new().unwrap();
    let mut bytes = b"order_id;amount;currency;date;note\n".to_vec();
    bytes.extend_from_slice(b"B-1;1.234,56;EUR;31.12.2023;caf\xe9\n");
    bytes.extend_from_slice(b"B-2;(12,50);EUR;01/02/2024;\n");
    bytes.extend_from_slice(b"B-3;12,50-;EUR;2024-02-03;\n");
    write(&dir, "l.csv", bytes);
    let mut c = cfg("l.csv");
    c.columns.transaction_id = None;
    c.columns.note = Some("note".into());
    c.csv.decimal_separator = ',';
    c.csv.thousands_separator = Thousands::Char('.');
    let l = load_ledger(&c, dir.path()).unwrap();
    assert_eq!(
        amounts(&l.frame, "amount"),
        vec![m("1234.56"), m("-12.5"), m("-12.5")]
    );
    assert_eq!(strs(&l.frame, "note")[0].as_deref(), Some("café"));
    // %d/%m/%Y, not %m/%d/%Y.
    assert_eq!(
        dates(&l.frame),
        vec![d(2023, 12, 31), d(2024, 2, 1), d(2024, 2, 3)]
    );
    // No status column: the sign decides.
    assert_eq!(
        strs(&l.frame, "status"),
        vec![
            Some("paid".into()),
            Some("refunded".into()),
            Some("refunded".into())
        ]
    );
}

#[test]
fn tab_with_bom_and_space_thousands() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "l.tsv",
        "\u{feff}transaction_id\tamount\tcurrency\tdate\n7\t1\u{202f}000.5\tjpy\t2024-03-01 10:00:00\n",
    );
    let mut c = with_tx(cfg("l.tsv"));
    c.columns.order_id = None;
    c.csv.thousands_separator = Thousands::Char('\u{202f}');
    let l = load_ledger(&c, dir.path()).unwrap();
    assert_eq!(amounts(&l.frame, "amount"), vec![m("1000.5")]);
    assert_eq!(dates(&l.frame), vec![d(2024, 3, 1)]);
    assert_eq!(ids(&l.frame), vec![Some(7)]);
}

#[test]
fn glob_reads_files_in_sorted_order() {
    let dir = TempDir::new().unwrap();
    let h = "order_id,amount,currency,date\n";
    write(
        &dir,
        "exports/ledger-2.csv",
        format!("{h}B,2,USD,2024-01-02\n"),
    );
    write(
        &dir,
        "exports/ledger-1.csv",
        format!("{h}A,1,USD,2024-01-01\n"),
    );
    write(
        &dir,
        "exports/other.csv",
        format!("{h}X,9,USD,2024-01-01\n"),
    );
    let l = load_ledger(&cfg("exports/ledger-*.csv"), dir.path()).unwrap();
    assert_eq!(l.counts.files, 2);
    assert_eq!(
        strs(&l.frame, "source"),
        vec![
            Some("exports/ledger-1.csv:2".into()),
            Some("exports/ledger-2.csv:2".into())
        ]
    );
    let e = load_ledger(&cfg("exports/nothing-*.csv"), dir.path()).unwrap_err();
    assert!(
        matches!(&e, LedgerError::NoMatch { pattern } if pattern.ends_with("exports/nothing-*.csv")),
        "{e}"
    );
}

#[test]
fn xlsx_numbers_dates_and_text() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let dir = TempDir::new().unwrap();
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Ledger").unwrap();
    ws.write_string(0, 0, "Report").unwrap();
    for (c, h) in [
        "Transaction_ID",
        "order_id",
        "amount",
        "currency",
        "date",
        "fee",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(2, c as u16, *h).unwrap();
    }
    let date_fmt = Format::new().set_num_format("yyyy-mm-dd");
    ws.write_number(3, 0, 5001.0).unwrap();
    ws.write_string(3, 1, "X-1").unwrap();
    ws.write_number(3, 2, 12.1).unwrap();
    ws.write_string(3, 3, "usd").unwrap();
    ws.write_datetime_with_format(
        3,
        4,
        ExcelDateTime::from_ymd(2024, 5, 6).unwrap(),
        &date_fmt,
    )
    .unwrap();
    ws.write_number(3, 5, 0.3).unwrap();
    ws.write_number(4, 0, 5002.0).unwrap();
    ws.write_number(4, 1, 778.0).unwrap();
    ws.write_string(4, 2, "-0.10").unwrap();
    ws.write_string(4, 3, "EUR").unwrap();
    ws.write_string(4, 4, "2024-05-07").unwrap();
    wb.save(dir.path().join("book.xlsx")).unwrap();

    let mut c = with_tx(cfg("book.xlsx"));
    c.xlsx.header_row = 3;
    c.columns.fee = Some("fee".into());
    let l = load_ledger(&c, dir.path()).unwrap();
    let f = &l.frame;
    assert_eq!(amounts(f, "amount"), vec![m("12.1"), m("-0.1")]);
    assert_eq!(amounts(f, "fee"), vec![m("0.3"), None]);
    assert_eq!(ids(f), vec![Some(5001), Some(5002)]);
    assert_eq!(
        strs(f, "order_id"),
        vec![Some("X-1".into()), Some("778".into())]
    );
    assert_eq!(dates(f), vec![d(2024, 5, 6), d(2024, 5, 7)]);
    assert_eq!(
        strs(f, "source"),
        vec![
            Some("book.xlsx:Ledger:4".into()),
            Some("book.xlsx:Ledger:5".into())
        ]
    );
}

#[test]
fn parquet_typed_columns() {
    let dir = TempDir::new().unwrap();
    let amount = Int128Chunked::from_vec("Amount".into(), vec![1250, -325])
        .into_decimal(10, 2)
        .unwrap()
        .into_series()
        .into_column();
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("transaction_id".into(), &[1i64, 2]),
        Column::new("order_id".into(), &["P-1", "P-2"]),
        amount,
        Column::new("currency".into(), &["usd", "EUR"]),
        DateChunked::from_naive_date(
            "date".into(),
            [d(2024, 1, 1).unwrap(), d(2024, 1, 2).unwrap()],
        )
        .into_series()
        .into_column(),
        Column::new("fee".into(), &[0.1f64, 2.0]),
        Column::new("net".into(), &["12.40", "-3.25"]),
    ])
    .unwrap();
    let file = fs::File::create(dir.path().join("l.parquet")).unwrap();
    ParquetWriter::new(file).finish(&mut df).unwrap();
    let mut c = with_tx(cfg("l.parquet"));
    c.columns.amount = "amount".into();
    c.columns.fee = Some("fee".into());
    c.columns.net = Some("net".into());
    let l = load_ledger(&c, dir.path()).unwrap();
    let f = &l.frame;
    assert_eq!(amounts(f, "amount"), vec![m("12.5"), m("-3.25")]);
    assert_eq!(amounts(f, "fee"), vec![m("0.1"), m("2")]);
    assert_eq!(amounts(f, "net"), vec![m("12.4"), m("-3.25")]);
    assert_eq!(dates(f), vec![d(2024, 1, 1), d(2024, 1, 2)]);
    assert_eq!(
        strs(f, "source"),
        vec![Some("l.parquet:1".into()), Some("l.parquet:2".into())]
    );
}

#[test]
fn a_parquet_ledger_read_in_slices_gives_the_same_rows() {
    let dir = TempDir::new().unwrap();
    let n = 10i64;
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("transaction_id".into(), (1..=n).collect::<Vec<_>>()),
        Column::new(
            "order_id".into(),
            (1..=n).map(|i| format!("P-{i}")).collect::<Vec<_>>(),
        ),
        Column::new(
            "amount".into(),
            (1..=n).map(|i| format!("{i}.25")).collect::<Vec<_>>(),
        ),
        Column::new("currency".into(), vec!["USD"; n as usize]),
        Column::new("date".into(), vec!["2024-01-03"; n as usize]),
    ])
    .unwrap();
    let file = fs::File::create(dir.path().join("l.parquet")).unwrap();
    ParquetWriter::new(file).finish(&mut df).unwrap();
    let c = with_tx(cfg("l.parquet"));
    let whole = load_ledger(&c, dir.path()).unwrap();
    assert_eq!(whole.frame.height(), 10);
    for slice in [1, 3, 10, 11] {
        let (frame, st) = streamed(&c, &dir, Split::default(), slice).unwrap();
        assert!(frame.equals_missing(&whole.frame), "slices of {slice}");
        assert_eq!(st.counts, whole.counts);
    }
    assert_eq!(
        strs(&whole.frame, "source")[9].as_deref(),
        Some("l.parquet:10")
    );
}

#[test]
fn missing_column_is_named_with_the_header_found() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "l.csv",
        "order_id,sum,currency,date\nA,1,USD,2024-01-01\n",
    );
    let e = load_ledger(&cfg("l.csv"), dir.path()).unwrap_err();
    match &e {
        LedgerError::MissingColumn {
            field, name, found, ..
        } => {
            assert_eq!(*field, "amount");
            assert_eq!(name, "amount");
            assert_eq!(found, &["order_id", "sum", "currency", "date"]);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn bad_amount_names_file_line_column_value() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "l.csv",
        "order_id,amount,currency,date\nA,1,USD,2024-01-01\n\"B\nb\",€12.50,USD,2024-01-01\n",
    );
    let e = load_ledger(&cfg("l.csv"), dir.path()).unwrap_err();
    let LedgerError::BadRow(b) = &e else {
        panic!("{e}")
    };
    assert_eq!(b.file, Path::new("l.csv"));
    assert_eq!(b.line, 3);
    assert_eq!(b.column, "amount");
    assert_eq!(b.value, "€12.50");
    assert!(e.to_string().contains("l.csv:3"), "{e}");
}

#[test]
fn quarantine_keeps_counts_adding_up() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "l.csv",
        "order_id,amount,currency,date\n\
         A,1,USD,2024-01-01\n\
         B,12.50 USD,USD,2024-01-01\n\
         C,2,US,2024-01-01\n\
         D,3,USD,01/13/2024\n\
         E,4,USD,2024-01-02,extra\n\
         ,5,USD,2024-01-02\n\
         F,1.2345678,USD,2024-01-02\n\
         G,6,USD,2024-01-03\n",
    );
    let mut c = cfg("l.csv");
    c.on_bad_row = OnBadRow::Quarantine;
    let l = load_ledger(&c, dir.path()).unwrap();
    assert_eq!(l.counts.rows_read, 8);
    assert_eq!(l.counts.rows_loaded, 2);
    assert_eq!(l.counts.rows_quarantined, 6);
    assert_eq!(l.frame.height(), 2);
    let got: Vec<(u64, &str)> = l
        .quarantined
        .iter()
        .map(|b| (b.line, b.column.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, "amount"),
            (4, "currency"),
            (5, "date"),
            (6, "*"),
            (7, "order_id"),
            (8, "amount")
        ]
    );
}

#[test]
fn empty_and_header_only() {
    let dir = TempDir::new().unwrap();
    write(&dir, "empty.csv", "");
    write(&dir, "blank.csv", "\u{feff}\r\n\n");
    write(&dir, "header.csv", "order_id,amount,currency,date\r\n");
    for f in ["empty.csv", "blank.csv"] {
        let e = load_ledger(&cfg(f), dir.path()).unwrap_err();
        assert!(matches!(e, LedgerError::Empty { .. }), "{f}: {e}");
    }
    let l = load_ledger(&cfg("header.csv"), dir.path()).unwrap();
    assert_eq!(l.frame.height(), 0);
    assert_eq!(l.frame.schema().as_ref(), &frames::ledger_schema());
}

#[test]
fn truncated_last_line_is_a_bad_row() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "l.csv",
        "order_id,amount,currency,date,note\nA,1,USD,2024-01-01,ok\nB,2,USD,2024-01-01,\"cut off",
    );
    let mut c = cfg("l.csv");
    c.columns.note = Some("note".into());
    let e = load_ledger(&c, dir.path()).unwrap_err();
    let LedgerError::BadRow(b) = &e else {
        panic!("{e}")
    };
    assert_eq!(b.line, 3);
    assert!(b.problem.contains("truncated"), "{e}");
}

#[test]
fn xlsx_that_is_csv_and_csv_that_is_xlsx() {
    let dir = TempDir::new().unwrap();
    write(&dir, "l.xlsx", "order_id,amount\nA,1\n");
    let e = load_ledger(&cfg("l.xlsx"), dir.path()).unwrap_err();
    assert!(
        matches!(&e, LedgerError::WrongKind { found, .. } if found.contains("CSV")),
        "{e}"
    );
    write(&dir, "l.csv", b"PK\x03\x04rest of a zip");
    let e = load_ledger(&cfg("l.csv"), dir.path()).unwrap_err();
    assert!(
        matches!(&e, LedgerError::WrongKind { found, .. } if found.contains("XLSX")),
        "{e}"
    );
}

#[test]
fn duplicated_header_is_an_error() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "l.csv",
        "order_id,amount,currency,Amount ,date\nA,1,USD,2,2024-01-01\n",
    );
    let e = load_ledger(&cfg("l.csv"), dir.path()).unwrap_err();
    assert!(
        matches!(
            &e,
            LedgerError::DuplicateColumn {
                first: 2,
                second: 4,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn limits_are_errors() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "l.csv",
        "order_id,amount,currency,date\nA,1,USD,2024-01-01\nB,1,USD,2024-01-01\n",
    );
    let mut c = cfg("l.csv");
    c.max_rows = 1;
    let e = load_ledger(&c, dir.path()).unwrap_err();
    assert!(matches!(e, LedgerError::TooManyRows { line: 3, .. }), "{e}");
    let mut c = cfg("l.csv");
    c.max_field_bytes = 12;
    write(
        &dir,
        "l.csv",
        "order_id,amount,currency,date\nA,1,USD,2024-01-01\n\nB-1234567890123,1,USD,2024-01-01\n",
    );
    let e = load_ledger(&c, dir.path()).unwrap_err();
    assert!(
        matches!(e, LedgerError::FieldTooLong { line: 4, .. }),
        "{e}"
    );
    // The column is named, on any field of the record, with any line ends.
    for (body, line, column) in [
        ("order_id,amount,currency,date\nA,1,USD,2024-01-01\n\nB-1234567890123,1,USD,2024-01-01\n", 4, "order_id"),
        ("order_id,amount,currency,date\rA,1,USD,2024-01-01\rB,1,USD,\"2024-01-01\r\n\r\nxxxxx\"\r", 3, "date"),
        ("order_id,amount,currency,date,note_that_is_long\nA,1,USD,2024-01-01,x\n", 1, "note_that_is_long"),
    ] {
        write(&dir, "l.csv", body);
        match load_ledger(&c, dir.path()).unwrap_err() {
            LedgerError::FieldTooLong {
                line: l, column: col, ..
            } => assert_eq!((l, col.as_str()), (line, column), "{body:?}"),
            other => panic!("{other}"),
        }
    }
}

#[test]
fn amount_text_rules() {
    use value::{parse_amount, AmountFormat};
    let dot = AmountFormat::plain();
    let de = AmountFormat {
        decimal: b',',
        thousands: b".".to_vec(),
    };
    let ch = AmountFormat {
        decimal: b'.',
        thousands: b"'".to_vec(),
    };
    assert_eq!(parse_amount("12.50", &dot), Ok(12_500_000));
    assert_eq!(parse_amount(" (12.50) ", &dot), Ok(-12_500_000));
    assert_eq!(parse_amount("12.50-", &dot), Ok(-12_500_000));
    assert_eq!(parse_amount("+.5", &dot), Ok(500_000));
    assert_eq!(parse_amount("1.2300000", &dot), Ok(1_230_000));
    assert_eq!(parse_amount("1.234.567,891", &de), Ok(1_234_567_891_000));
    assert_eq!(parse_amount("1'234.5", &ch), Ok(1_234_500_000));
    for bad in [
        "€12.50",
        "12.50 USD",
        "1,234.5",
        "",
        "-",
        "(-1)",
        "1.5.",
        "1e3",
        "1.0000001",
    ] {
        assert!(parse_amount(bad, &dot).is_err(), "{bad:?}");
    }
    for bad in ["12.50", "1.23,4", "1.2345,0", ".123,4", "1,2,3"] {
        assert!(parse_amount(bad, &de).is_err(), "{bad:?}");
    }
    let big = "9".repeat(32);
    assert!(parse_amount(&big, &dot).is_ok());
    assert!(parse_amount(&format!("9{big}"), &dot).is_err());
}

#[test]
fn floats_convert_through_shortest_text() {
    let mut buf = String::new();
    assert_eq!(value::amount_from_f64(12.1, &mut buf), Ok(12_100_000));
    assert_eq!(value::amount_from_f64(0.1 + 0.2, &mut buf).ok(), None);
    assert_eq!(value::amount_from_f64(-1e-6, &mut buf), Ok(-1));
    assert!(value::amount_from_f64(f64::NAN, &mut buf).is_err());
}

#[test]
fn config_parses_from_toml_and_validates() {
    let c: LedgerConfig = toml::from_str(
        r#"
        path = "exports/ledger-*.csv"
        format = "csv"
        timezone = "Europe/Berlin"
        on_bad_row = "quarantine"
        [csv]
        delimiter = "tab"
        encoding = "windows-1252"
        decimal_separator = ","
        thousands_separator = "."
        [columns]
        order_id = "Bestellnummer"
        amount = "Betrag"
        [status_map]
        "Bezahlt" = "paid"
        "#,
    )
    .unwrap();
    assert_eq!(c.csv.delimiter, Delimiter::Byte(b'\t'));
    assert_eq!(c.csv.encoding, CsvEncoding::Windows1252);
    assert_eq!(c.xlsx.header_row, 1);
    assert_eq!(c.max_rows, 50_000_000);
    c.validate().unwrap();
    assert!(toml::from_str::<LedgerConfig>("colums = {}").is_err());
    let mut bad = c.clone();
    bad.status_map.insert("x".into(), "settled".into());
    bad.timezone = "Mars/Olympus".into();
    let msg = bad.validate().unwrap_err();
    assert!(msg.contains("settled") && msg.contains("Mars"), "{msg}");
    assert!(LedgerConfig::default().validate().is_err(), "no id column");
}

/// A change to the corpus test's config for one file.
type Tweak = fn(&mut LedgerConfig);

/// What each corpus file must do; the README next to the files says the same in prose.
enum Expect {
    /// An error whose message contains all these fragments.
    Error(&'static [&'static str]),
    /// Loaded: rows read, loaded, quarantined.
    Loaded(u64, u64, u64),
}

#[test]
fn corpus_files_have_their_documented_outcome() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ledger");
    let readme = fs::read_to_string(dir.join("README.md")).unwrap();
    let cases: &[(&str, Expect, Tweak)] = &[
        ("empty.csv", Expect::Error(&["empty.csv", "empty"]), |_| {}),
        ("header_only.csv", Expect::Loaded(0, 0, 0), |_| {}),
        (
            "missing_amount_column.csv",
            Expect::Error(&["missing_amount_column.csv:1", "\"amount\"", "gross"]),
            |_| {},
        ),
        (
            "bad_amount.csv",
            Expect::Error(&["bad_amount.csv:3", "\"amount\"", "\"12,50\""]),
            |_| {},
        ),
        (
            "bad_date.csv",
            Expect::Error(&["bad_date.csv:4", "\"date\"", "\"2024-02-30\""]),
            |_| {},
        ),
        (
            "wrong_delimiter.csv",
            Expect::Error(&["wrong_delimiter.csv:1", "no column", "order_id;amount"]),
            |c| c.csv.delimiter = Delimiter::Byte(b','),
        ),
        ("bom.csv", Expect::Loaded(2, 2, 0), |_| {}),
        ("windows1252.csv", Expect::Loaded(2, 2, 0), |_| {}),
        ("embedded_newlines.csv", Expect::Loaded(3, 3, 0), |_| {}),
        ("formula_injection.csv", Expect::Loaded(2, 2, 0), |_| {}),
        ("duplicate_ids.csv", Expect::Loaded(3, 3, 0), |_| {}),
        (
            "truncated_last_line.csv",
            Expect::Error(&["truncated_last_line.csv:3", "truncated"]),
            |_| {},
        ),
        (
            "really_csv.xlsx",
            Expect::Error(&["really_csv.xlsx", "XLSX", "looks like text (CSV?)"]),
            |_| {},
        ),
        (
            "duplicated_column.csv",
            Expect::Error(&["duplicated_column.csv:1", "more than once"]),
            |_| {},
        ),
        (
            "very_long_field.csv",
            Expect::Error(&["very_long_field.csv:3", "max_field_bytes"]),
            |c| c.max_field_bytes = 64,
        ),
    ];
    let listed = fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            let n = n.to_string_lossy();
            !n.starts_with('.') && n != "README.md"
        })
        .count();
    assert_eq!(listed, cases.len(), "every corpus file has a case");
    for (file, expect, tweak) in cases {
        assert!(readme.contains(file), "README.md documents {file}");
        for mode in [OnBadRow::Fail, OnBadRow::Quarantine] {
            let mut c = cfg(file);
            c.columns.transaction_id = None;
            c.columns.note = Some("note".into());
            c.on_bad_row = mode;
            tweak(&mut c);
            let got = load_ledger(&c, &dir);
            match (expect, got) {
                (Expect::Error(parts), Err(e)) => {
                    let msg = e.to_string();
                    for p in *parts {
                        assert!(msg.contains(p), "{file}: {msg:?} lacks {p:?}");
                    }
                }
                (Expect::Error(parts), Ok(l)) => {
                    // A bad row that fails the load is set aside in quarantine mode.
                    assert_eq!(mode, OnBadRow::Quarantine, "{file} loaded");
                    assert_eq!(l.counts.rows_quarantined, 1, "{file}");
                    let b = l.quarantined[0].to_string();
                    assert!(b.contains(parts[0]), "{file}: {b}");
                    assert_eq!(
                        l.counts.rows_read,
                        l.counts.rows_loaded + l.counts.rows_quarantined
                    );
                }
                (Expect::Loaded(r, ld, q), Ok(l)) => {
                    let n = &l.counts;
                    assert_eq!(
                        (n.rows_read, n.rows_loaded, n.rows_quarantined),
                        (*r, *ld, *q),
                        "{file}"
                    );
                }
                (Expect::Loaded(..), Err(e)) => panic!("{file}: {e}"),
            }
        }
    }
    // The contents that matter beyond counts.
    let l = load_ledger(&cfg_note("windows1252.csv"), &dir).unwrap();
    assert_eq!(strs(&l.frame, "note")[0].as_deref(), Some("Café crème"));
    let l = load_ledger(&cfg_note("formula_injection.csv"), &dir).unwrap();
    assert_eq!(
        strs(&l.frame, "note")[0].as_deref(),
        Some("=HYPERLINK(\"http://x\")")
    );
    let l = load_ledger(&cfg_note("embedded_newlines.csv"), &dir).unwrap();
    assert_eq!(
        strs(&l.frame, "source"),
        vec![
            Some("embedded_newlines.csv:2".into()),
            Some("embedded_newlines.csv:5".into()),
            Some("embedded_newlines.csv:6".into())
        ]
    );
}

fn cfg_note(file: &str) -> LedgerConfig {
    let mut c = cfg(file);
    c.columns.transaction_id = None;
    c.columns.note = Some("note".into());
    c
}

/// A random dialect for the property test.
#[derive(Debug, Clone)]
struct Dialect {
    delimiter: u8,
    decimal: char,
    thousands: Option<char>,
    crlf: bool,
    bom: bool,
}

fn dialect() -> impl Strategy<Value = Dialect> {
    (
        prop::sample::select(vec![b',', b';', b'\t']),
        any::<bool>(),
        0usize..5,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(delimiter, comma, t, crlf, bom)| {
            let decimal = if comma { ',' } else { '.' };
            let thousands =
                [None, Some(' '), Some('\''), Some('\u{202f}'), Some('X')][t].map(|c| {
                    if c == 'X' {
                        if comma {
                            '.'
                        } else {
                            ','
                        }
                    } else {
                        c
                    }
                });
            Dialect {
                delimiter,
                decimal,
                thousands,
                crlf,
                bom,
            }
        })
}

/// Writes `value / 10^scale` in a dialect, with one of the three negative notations.
fn format_amount(value: i64, scale: u32, neg_style: u8, d: &Dialect) -> String {
    let abs = value.unsigned_abs();
    let p = 10u64.pow(scale);
    let int = (abs / p).to_string();
    let mut s = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            if let Some(t) = d.thousands {
                s.push(t);
            }
        }
        s.push(ch);
    }
    if scale > 0 {
        s.push(d.decimal);
        s.push_str(&format!("{:0width$}", abs % p, width = scale as usize));
    }
    if value < 0 {
        s = match neg_style % 3 {
            0 => format!("-{s}"),
            1 => format!("({s})"),
            _ => format!("{s}-"),
        };
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_dialects_read_back_exactly(
        dialect in dialect(),
        rows in prop::collection::vec((any::<i64>(), 0u32..=6, any::<u8>(), "[a-zA-Z0-9 ,;\"\n-]{0,12}"), 0..40),
    ) {
        let dir = TempDir::new().unwrap();
        let nl = if dialect.crlf { "\r\n" } else { "\n" };
        let delim = dialect.delimiter as char;
        let quote = |s: &str| {
            if s.contains(delim) || s.contains('"') || s.contains('\n') || s.contains('\r') {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        };
        let mut text = String::new();
        if dialect.bom {
            text.push('\u{feff}');
        }
        text.push_str(&["order_id", "amount", "currency", "date", "note"].join(&delim.to_string()));
        text.push_str(nl);
        let mut want = Vec::new();
        for (i, (v, scale, neg, note)) in rows.iter().enumerate() {
            // Keep within 32 integer digits is automatic for i64; scale it down.
            let amount = format_amount(*v, *scale, *neg, &dialect);
            let fields = [format!("O-{i}"), quote(&amount), "eur".to_owned(), "2024-06-30".to_owned(), quote(note)];
            text.push_str(&fields.join(&delim.to_string()));
            text.push_str(nl);
            want.push(Some(i128::from(*v) * 10i128.pow(6 - scale)));
        }
        write(&dir, "p.csv", &text);
        let mut c = cfg("p.csv");
        c.columns.transaction_id = None;
        c.columns.note = Some("note".into());
        c.csv.decimal_separator = dialect.decimal;
        c.csv.thousands_separator = dialect.thousands.map_or(Thousands::None, Thousands::Char);
        let l = load_ledger(&c, dir.path()).unwrap();
        prop_assert_eq!(amounts(&l.frame, "amount"), want);
        let notes: Vec<String> = rows.iter().map(|r| r.3.trim().to_owned()).collect();
        let got: Vec<String> = strs(&l.frame, "note").into_iter().map(|n| n.unwrap_or_default()).collect();
        prop_assert_eq!(got, notes);
    }
}

/// Throughput check for big ledgers: `cargo test --release --lib ledger::tests::big -- --ignored --nocapture`.
#[test]
#[ignore = "slow: writes and loads 1M rows"]
fn big_ledger_loads() {
    use std::io::Write;
    let n = 1_000_000u64;
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("big.csv");
    let mut w = std::io::BufWriter::new(fs::File::create(&path).unwrap());
    writeln!(w, "transaction_id,order_id,amount,currency,date,note").unwrap();
    for i in 0..n {
        writeln!(
            w,
            "{i},ORD-{i},{}.{:02},EUR,2024-01-{:02},",
            i % 10_000,
            i % 100,
            1 + i % 28
        )
        .unwrap();
    }
    drop(w);
    let mut c = with_tx(cfg("big.csv"));
    c.columns.note = Some("note".into());
    let t = std::time::Instant::now();
    let l = load_ledger(&c, dir.path()).unwrap();
    eprintln!("{n} rows in {:?}", t.elapsed());
    assert_eq!(l.counts.rows_loaded, n);
    assert_eq!(
        strs(&l.frame.slice(n as i64 - 1, 1), "source"),
        vec![Some(format!("big.csv:{}", n + 1))]
    );
}

#[test]
fn encoding_and_delimiter_problems_are_named() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "l.csv",
        b"order_id,amount,currency,date,note\nA,1,USD,2024-01-01,caf\xe9\n".as_slice(),
    );
    let mut c = cfg_note("l.csv");
    c.csv.encoding = CsvEncoding::Utf8;
    let e = load_ledger(&c, dir.path()).unwrap_err();
    assert!(
        matches!(&e, LedgerError::BadRow(b) if b.line == 2 && b.column == "note"),
        "{e}"
    );
    c.csv.encoding = CsvEncoding::Auto;
    let l = load_ledger(&c, dir.path()).unwrap();
    assert_eq!(strs(&l.frame, "note")[0].as_deref(), Some("café"));

    write(
        &dir,
        "t.csv",
        "order_id,amount;currency,date;x\nA,1;USD,2024-01-01;\n",
    );
    let e = load_ledger(&cfg("t.csv"), dir.path()).unwrap_err();
    assert!(matches!(e, LedgerError::AmbiguousDelimiter { .. }), "{e}");
}

#[test]
fn absolute_path_and_unknown_extension() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "l.dat",
        "order_id,amount,currency,date\nA,1,USD,2024-01-01\n",
    );
    let abs = dir.path().join("l.dat").display().to_string();
    let e = load_ledger(&cfg(&abs), Path::new("/nonexistent")).unwrap_err();
    assert!(
        matches!(e, LedgerError::Config(ref m) if m.contains("ledger.format")),
        "{e}"
    );
    let mut c = cfg(&abs);
    c.format = LedgerFormat::Csv;
    let l = load_ledger(&c, dir.path()).unwrap();
    assert_eq!(strs(&l.frame, "source"), vec![Some("l.dat:2".into())]);
}

/// Regression (found by fuzzing the date column): a date-time at the edge of chrono's range,
/// read in a zone east of UTC, panicked ("Local time out of range") instead of being a bad row.
#[test]
fn regression_extreme_date_with_zone_offset_panicked() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "l.csv",
        "order_id,amount,currency,date\n\
         A,1,USD,+262142-12-31T23:59:59Z\n\
         B,1,USD,-262143-01-01T00:00:00Z\n\
         C,1,USD,+262142-12-31T23:59:59-23:59\n\
         D,1,USD,2024-06-30T23:30:00Z\n",
    );
    for tz in [
        "Asia/Tokyo",
        "America/Los_Angeles",
        "Pacific/Kiritimati",
        "UTC",
    ] {
        let mut c = cfg("l.csv");
        c.timezone = tz.into();
        c.on_bad_row = OnBadRow::Quarantine;
        let l = load_ledger(&c, dir.path()).unwrap();
        let n = &l.counts;
        assert_eq!(n.rows_read, 4, "{tz}");
        assert_eq!(n.rows_read, n.rows_loaded + n.rows_quarantined, "{tz}");
        assert!(n.rows_loaded >= 1, "{tz}: the ordinary row loads");
        for b in &l.quarantined {
            assert_eq!(b.column, "date", "{tz}: {b}");
        }
    }
    // East of UTC the first row has no local date: a named bad row, not a panic.
    let mut c = cfg("l.csv");
    c.timezone = "Asia/Tokyo".into();
    let e = load_ledger(&c, dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("l.csv:2") && e.contains("out of the supported date range"),
        "{e}"
    );
}

/// A ledger whose rows exercise every way a chunk boundary can go wrong: quoted line breaks
/// (LF, CRLF, lone CR), doubled quotes, blank lines, a record starting with BOM bytes, and
/// the given line ends; `bad` replaces rows by raw text.
fn tricky_ledger(eol: &str, bom: bool, rows: usize, bad: &[(usize, &[u8])]) -> Vec<u8> {
    let mut s: Vec<u8> = Vec::new();
    if bom {
        s.extend_from_slice(b"\xEF\xBB\xBF");
    }
    // The note first, so a record may start with anything.
    s.extend_from_slice(b"note,order_id,transaction_id,amount,currency,date,status");
    for i in 0..rows {
        s.extend_from_slice(eol.as_bytes());
        if i % 13 == 4 {
            s.extend_from_slice(eol.as_bytes());
        }
        if let Some((_, row)) = bad.iter().find(|(at, _)| *at == i) {
            s.extend_from_slice(row);
            continue;
        }
        let note = crate::domain::csvsplit::tricky_field(i, eol);
        let amount = if i % 5 == 3 { "(1.25)" } else { "10.5" };
        let status = ["Paid", "refund", "odd"][i % 3];
        s.extend_from_slice(
            format!(
                "{note},O-{i},{i},{amount},usd,2026-10-{:02},{status}",
                1 + i % 28
            )
            .as_bytes(),
        );
    }
    s.extend_from_slice(eol.as_bytes());
    s
}

fn tricky_cfg(mode: OnBadRow) -> LedgerConfig {
    let mut c = with_tx(cfg("*.csv"));
    c.columns.note = Some("note".into());
    c.columns.status = Some("status".into());
    c.status_map.insert("refund".into(), "refunded".into());
    c.on_bad_row = mode;
    c
}

/// Loads with one reader and with many small chunks on 3 threads, asserting the same result
/// (or the same error); returns the one reader's.
fn same_in_parallel(c: &LedgerConfig, dir: &TempDir) -> Result<LedgerLoad, String> {
    let seq =
        load_ledger_split(c, dir.path(), None, Split::sequential()).map_err(|e| e.to_string());
    for block in [1, 2, 5, 17, 64, 100, 333, 1000, 1 << 20] {
        let split = Split {
            block_bytes: block,
            threads: 3,
            min_file_bytes: 0,
        };
        let before = crate::domain::csvsplit::PARALLEL_READS.with(|n| n.get());
        let par = load_ledger_split(c, dir.path(), None, split).map_err(|e| e.to_string());
        match (&seq, &par) {
            (Ok(s), Ok(p)) => {
                // Every UTF-8 file went through the parallel reader.
                let utf8_files = p.counts.files - usize::from(dir.path().join("a.csv").exists());
                assert_eq!(
                    crate::domain::csvsplit::PARALLEL_READS.with(|n| n.get()) - before,
                    utf8_files,
                    "block {block}"
                );
                assert_eq!(p.frame.schema(), s.frame.schema());
                assert!(
                    p.frame.equals_missing(&s.frame),
                    "block {block}:\n{}\n{}",
                    p.frame,
                    s.frame
                );
                assert_eq!(p.counts, s.counts, "block {block}");
                assert_eq!(p.quarantined, s.quarantined, "block {block}");
            }
            (Err(s), Err(p)) => assert_eq!(p, s, "block {block}"),
            _ => panic!("block {block}: sequential {seq:?}, parallel {par:?}"),
        }
        for sink_rows in [1, 4, 1000] {
            let streamed = streamed(c, dir, split, sink_rows);
            match (&seq, &streamed) {
                (Ok(s), Ok((frame, st))) => {
                    assert_eq!(frame.schema(), s.frame.schema(), "block {block}");
                    assert!(frame.equals_missing(&s.frame), "streamed, block {block}");
                    assert_eq!(st.counts, s.counts, "block {block}");
                    assert_eq!(st.quarantined, s.quarantined, "block {block}");
                }
                (Err(s), Err(p)) => assert_eq!(p, s, "streamed, block {block}"),
                _ => panic!("block {block}: sequential {seq:?}, streamed {streamed:?}"),
            }
        }
    }
    seq
}

/// [`stream_ledger_split`] stacked, each file that cannot be read in chunks read again by one
/// reader (as the job does).
fn streamed(
    c: &LedgerConfig,
    dir: &TempDir,
    split: Split,
    sink_rows: usize,
) -> Result<(DataFrame, LedgerStream), String> {
    let mut one_reader: Vec<PathBuf> = Vec::new();
    loop {
        let mut sink = crate::load::Collect::default();
        match stream_ledger_split(
            c,
            dir.path(),
            None,
            &one_reader,
            (split, sink_rows),
            &mut sink,
        ) {
            Ok(st) => {
                let empty = crate::domain::frames::empty(&crate::domain::frames::ledger_schema());
                return Ok((sink.stacked(empty), st));
            }
            Err(LedgerError::NotInChunks { file, .. }) => {
                assert!(!one_reader.contains(&file), "{file:?} twice");
                one_reader.push(file);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[test]
fn parallel_csv_load_equals_the_sequential_one() {
    for eol in ["\n", "\r\n", "\r"] {
        for bom in [false, true] {
            let dir = TempDir::new().unwrap();
            write(&dir, "b.csv", tricky_ledger(eol, bom, 90, &[]));
            let l = same_in_parallel(&tricky_cfg(OnBadRow::Fail), &dir).unwrap();
            assert_eq!(l.counts.rows_loaded, 90);
            assert_eq!(strs(&l.frame, "source")[0].as_deref(), Some("b.csv:2"));
            assert_eq!(l.counts.unmapped_statuses["odd"], 30);
            // After a file read by one reader (Windows-1252), and before another.
            write(&dir, "a.csv", b"note,order_id,transaction_id,amount,currency,date,status\nCaf\xE9,A,1,1,EUR,2026-10-01,Paid\n");
            write(&dir, "c.csv", tricky_ledger(eol, bom, 20, &[]));
            let l = same_in_parallel(&tricky_cfg(OnBadRow::Quarantine), &dir).unwrap();
            assert_eq!(l.counts.files, 3);
            assert_eq!(l.counts.rows_loaded, 111);
        }
    }
}

/// A large ledger whose first 64 KiB are UTF-8 but a later line is Windows-1252 is read as
/// Windows-1252, as the one reader reads it: the chunks read as UTF-8 are not kept.
#[test]
fn parallel_csv_load_of_a_file_not_utf8_after_its_start_reads_it_as_windows_1252() {
    let dir = TempDir::new().unwrap();
    let mut text = b"note,order_id,transaction_id,amount,currency,date,status\n".to_vec();
    for i in 0..3000 {
        text.extend_from_slice(
            format!("note {i:040},O-{i},{i},1.00,EUR,2026-10-01,Paid\n").as_bytes(),
        );
    }
    text.extend_from_slice(b"Caf\xE9,O-x,999999,1.00,EUR,2026-10-01,Paid\n");
    write(&dir, "w.csv", &text);
    let c = tricky_cfg(OnBadRow::Fail);
    let split = Split {
        block_bytes: 4096,
        threads: 3,
        min_file_bytes: 0,
    };
    let before = crate::domain::csvsplit::PARALLEL_READS.with(|n| n.get());
    let par = load_ledger_split(&c, dir.path(), None, split).unwrap();
    assert_eq!(
        crate::domain::csvsplit::PARALLEL_READS.with(|n| n.get()),
        before
    );
    let seq = load_ledger_split(&c, dir.path(), None, Split::sequential()).unwrap();
    assert!(par.frame.equals_missing(&seq.frame));
    assert_eq!(par.counts, seq.counts);
    assert_eq!(par.counts.rows_loaded, 3001);
    assert_eq!(
        strs(&par.frame, "note").last(),
        Some(&Some("Café".to_owned()))
    );
    // All UTF-8: read in parallel without reading it whole first, the same rows.
    text.truncate(text.len() - 41);
    write(&dir, "w.csv", &text);
    let par = load_ledger_split(&c, dir.path(), None, split).unwrap();
    assert_eq!(
        crate::domain::csvsplit::PARALLEL_READS.with(|n| n.get()),
        before + 1
    );
    let seq = load_ledger_split(&c, dir.path(), None, Split::sequential()).unwrap();
    assert!(par.frame.equals_missing(&seq.frame));
    assert_eq!(par.counts.rows_loaded, 3000);
}

#[test]
fn parallel_csv_load_keeps_bad_rows_and_errors_in_file_order() {
    let bad: &[(usize, &[u8])] = &[
        (20, b"x,O-20,20,1;5,usd,2026-10-01,Paid"),
        (41, b"x,O-41,41"),
        (42, b"\xFF\xFE,O-42,42,1,usd,2026-10-01,Paid"),
        (60, b"x,O-60,60,1,usd,2026-13-01,Paid"),
        (89, b"\"cut,O-89,89,1,usd,2026-10-01,Paid"),
    ];
    for eol in ["\n", "\r\n"] {
        let dir = TempDir::new().unwrap();
        write(&dir, "b.csv", tricky_ledger(eol, true, 90, bad));
        let mut c = tricky_cfg(OnBadRow::Quarantine);
        c.csv.encoding = CsvEncoding::Utf8;
        let l = same_in_parallel(&c, &dir).unwrap();
        assert_eq!(l.counts.rows_quarantined, 5, "{:?}", l.quarantined);
        assert_eq!(l.counts.rows_read, 90);
        let lines: Vec<u64> = l.quarantined.iter().map(|b| b.line).collect();
        let mut sorted = lines.clone();
        sorted.sort_unstable();
        assert_eq!(lines, sorted);

        // `fail`: the first bad row, whatever chunk it is in.
        c.on_bad_row = OnBadRow::Fail;
        let e = same_in_parallel(&c, &dir).unwrap_err();
        assert!(e.contains(&format!("b.csv:{}:", lines[0])), "{e}");
        let mut later = c.clone();
        write(&dir, "b.csv", tricky_ledger(eol, true, 90, &bad[3..]));
        let e = same_in_parallel(&later, &dir).unwrap_err();
        assert!(e.contains("\"date\""), "{e}");

        // Limits: the row over max_rows, a field over max_field_bytes.
        later.max_rows = 50;
        assert!(same_in_parallel(&later, &dir)
            .unwrap_err()
            .contains("more than max_rows (50)"));
        later.max_rows = 1000;
        write(
            &dir,
            "b.csv",
            tricky_ledger(
                eol,
                false,
                90,
                &[(
                    70,
                    format!("\"{}\",O-70,70,1,usd,2026-10-01,Paid", "n".repeat(300)).as_bytes(),
                )],
            ),
        );
        later.max_field_bytes = 200;
        assert!(same_in_parallel(&later, &dir)
            .unwrap_err()
            .contains("longer than max_field_bytes"));
    }
}

/// A ledger with the convention columns: type, project, test flag, rate.
fn conventions_ledger() -> &'static str {
    "order_id,amount,currency,date,status,kind,game,test,fx\n\
     A,10.00,USD,2026-10-01,Paid,Sale,1,,0.92\n\
     A,10.00,USD,2026-10-03,Refunded,Refund,1,no,0.92\n\
     B,5.00,USD,2026-10-02,Paid,Sale,2,yes,0.9\n\
     B,0.50,USD,2026-10-02,Paid,Fee,2,0,\n\
     C,7.00,USD,2026-10-02,Chargeback,Sale,2,x,\n\
     D,1.00,USD,2026-10-02,Paid,Deposit,,1,\n"
}

fn conventions_cfg() -> LedgerConfig {
    let mut c = cfg("conv.csv");
    c.columns.status = Some("status".into());
    c.columns.line_type = Some("kind".into());
    c.columns.project_id = Some("game".into());
    c.columns.test = Some("test".into());
    c.columns.rate = Some("fx".into());
    c.conventions.line_types = [
        ("sale", LineKind::Sale),
        ("Refund", LineKind::Refund),
        ("FEE", LineKind::Fee),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    c
}

#[test]
fn convention_columns_are_read_only_when_mapped() {
    let dir = TempDir::new().unwrap();
    write(&dir, "conv.csv", conventions_ledger());
    // Not mapped: the frame is exactly the documented schema (no cost per row).
    let plain = load_ledger(&cfg("conv.csv"), dir.path()).unwrap();
    assert_eq!(
        **plain.frame.schema(),
        crate::domain::frames::ledger_schema()
    );

    let l = same_in_parallel(&conventions_cfg(), &dir).unwrap();
    let f = &l.frame;
    crate::domain::frames::check_ledger_schema(f).unwrap();
    assert_eq!(
        strs(f, "line_kind"),
        ["sale", "refund", "sale", "fee", "sale", "unmapped"]
            .map(|s| Some(s.to_owned()))
            .to_vec()
    );
    assert_eq!(l.counts.unmapped_line_types["deposit"], 1);
    let projects: Vec<Option<i64>> = f
        .column("project_id")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        projects,
        vec![Some(1), Some(1), Some(2), Some(2), Some(2), None]
    );
    let tests: Vec<Option<bool>> = f
        .column("is_test")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        tests,
        [false, false, true, false, true, true].map(Some).to_vec()
    );
    assert_eq!(amounts(f, "rate")[..3], [m("0.92"), m("0.92"), m("0.9")]);
    // A refund line (by type) with a positive amount is read as the cancellation it is.
    assert_eq!(amounts(f, "amount")[1], m("-10"));
    // Negative lines by default: a positive chargeback line keeps its sign.
    assert_eq!(amounts(f, "amount")[4], m("7"));
    // Without a status column, a refund line by type is a refund by status too.
    let mut c = conventions_cfg();
    c.columns.status = None;
    let l = load_ledger(&c, dir.path()).unwrap();
    assert_eq!(strs(&l.frame, "status")[1].as_deref(), Some("refunded"));
    assert_eq!(amounts(&l.frame, "amount")[1], m("-10"));
}

#[test]
fn refunds_by_status_are_negated() {
    let dir = TempDir::new().unwrap();
    write(&dir, "conv.csv", conventions_ledger());
    let mut c = cfg("conv.csv");
    c.columns.status = Some("status".into());
    c.conventions.refunds = RefundConvention::StatusLines;
    let l = load_ledger(&c, dir.path()).unwrap();
    assert_eq!(
        amounts(&l.frame, "amount"),
        vec![m("10"), m("-10"), m("5"), m("0.5"), m("-7"), m("1")]
    );
    // Without a status column the setting cannot work: said at once.
    c.columns.status = None;
    let e = c.validate().unwrap_err();
    assert!(
        e.contains("conventions.refunds") && e.contains("columns.status"),
        "{e}"
    );
}

#[test]
fn bad_convention_cells_name_the_column_and_value() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "conv.csv",
        "order_id,amount,currency,date,status,kind,game,test,fx\nA,1,USD,2026-10-01,Paid,Sale,1,maybe,1\n",
    );
    let e = load_ledger(&conventions_cfg(), dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conv.csv:2") && e.contains("\"test\"") && e.contains("\"maybe\""),
        "{e}"
    );
    write(
        &dir,
        "conv.csv",
        "order_id,amount,currency,date,status,kind,game,test,fx\nA,1,USD,2026-10-01,Paid,Sale,g1,,1\n",
    );
    let e = load_ledger(&conventions_cfg(), dir.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"game\"") && e.contains("\"g1\""), "{e}");
}

#[test]
fn convention_settings_are_checked() {
    let mut c = cfg("x.csv");
    c.conventions.currency = LedgerCurrency::Reporting;
    let e = c.validate().unwrap_err();
    assert!(e.contains("reporting_currency"), "{e}");
    c.conventions.reporting_currency = Some("eur".into());
    assert!(c.validate().unwrap_err().contains("ISO 4217"));
    c.conventions.reporting_currency = Some("EUR".into());
    assert!(c.validate().unwrap_err().contains("columns.rate"));
    c.columns.rate = Some("fx".into());
    c.validate().unwrap();
    c.conventions.amount_minus = vec!["vat".into()];
    assert!(c.validate().unwrap_err().contains("amount_minus: \"vat\""));
    c.conventions.amount_minus = vec!["vat_deducted".into()];
    c.conventions.fee_columns = Some(vec!["cpa".into()]);
    assert!(c.validate().unwrap_err().contains("fee_columns: \"cpa\""));
    c.conventions.fee_columns = None;
    c.validate().unwrap();
    c.conventions.not_money_statuses = vec!["draft".into()];
    assert!(c.validate().unwrap_err().contains("not_money_statuses"));
    c.conventions.not_money_statuses = vec![];
    c.conventions.line_types = [("Fee".to_owned(), LineKind::Fee)].into();
    assert!(c.validate().unwrap_err().contains("columns.line_type"));
    let t: LedgerConfig = toml::from_str(
        "[columns]\norder_id = \"o\"\nline_type = \"t\"\n[conventions]\ncurrency = \"payout\"\n\
         amount_minus = [\"vat_deducted\"]\nline_types = { Sale = \"sale\", VAT = \"tax\" }\n",
    )
    .unwrap();
    t.validate().unwrap();
    assert_eq!(t.conventions.currency, LedgerCurrency::Payout);
    assert_eq!(t.conventions.line_types["VAT"], LineKind::Tax);
    assert_eq!(t.conventions.not_money_statuses, ["pending", "canceled"]);
}

/// A ledger without a quote (nearly every export): its chunks are split without the csv
/// crate's parser (`PlainRecords`) and give what the one reader gives, set-aside rows, errors
/// and lines included; a field longer than `max_field_bytes` still sends the file to the one
/// reader, which names it.
#[test]
fn quote_free_csv_load_equals_the_sequential_one() {
    for eol in ["\n", "\r\n"] {
        for mode in [OnBadRow::Quarantine, OnBadRow::Fail] {
            let mut s = b"note,order_id,transaction_id,amount,currency,date,status".to_vec();
            for i in 0..90usize {
                s.extend_from_slice(eol.as_bytes());
                if i % 13 == 4 {
                    s.extend_from_slice(eol.as_bytes());
                }
                let row = match i {
                    30 => "short,O-30,30".to_owned(),
                    60 => "n,O-60,60,1;5,usd,2026-10-01,Paid".to_owned(),
                    _ => format!(
                        "{},O-{i},{i},{},usd,2026-10-{:02},{}",
                        if i % 3 == 0 { "" } else { "plain note" },
                        if i % 5 == 3 { "(1.25)" } else { "10.5" },
                        1 + i % 28,
                        ["Paid", "refund", "odd"][i % 3]
                    ),
                };
                s.extend_from_slice(row.as_bytes());
            }
            let dir = TempDir::new().unwrap();
            write(&dir, "p.csv", s);
            let l = same_in_parallel(&tricky_cfg(mode), &dir);
            match mode {
                OnBadRow::Fail => assert!(l.unwrap_err().contains("p.csv"), "{eol:?}"),
                _ => {
                    let l = l.unwrap();
                    assert_eq!(l.counts.rows_read, 90, "{eol:?}");
                    assert_eq!(l.counts.rows_loaded, 88, "{eol:?}");
                    assert_eq!(strs(&l.frame, "source")[0].as_deref(), Some("p.csv:2"));
                }
            }
        }
    }
    // A field over the limit: the one reader's error, in parallel too.
    let dir = TempDir::new().unwrap();
    let long = "x".repeat(300);
    write(
        &dir,
        "p.csv",
        format!("note,order_id,transaction_id,amount,currency,date,status\n{long},O-1,1,1,usd,2026-10-01,Paid\n"),
    );
    let mut c = tricky_cfg(OnBadRow::Fail);
    c.max_field_bytes = 100;
    assert!(same_in_parallel(&c, &dir).is_err());
}
