//! The report stage against real files: write the folder, read every file back with an
//! independent reader (csv, calamine, serde_json, png) and compare with the input.

use calamine::{open_workbook, Data, Reader, Xlsx};
use chrono::NaiveDate;
use polars::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use xsolla_recon::deliver::compose as mail;
use xsolla_recon::domain::frames;
use xsolla_recon::domain::money;
use xsolla_recon::domain::window::Window;
use xsolla_recon::load::ledger::{BadRow, LedgerCounts};
use xsolla_recon::load::LoadCounts;
use xsolla_recon::reconcile::{ClassTotal, Summary};
use xsolla_recon::report::{
    age_chart_height, chart_height, write_reports, CsvDialect, OpenItemCounts, ReportError,
    ReportInput, ReportSettings, CHART_WIDTH,
};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// One discrepancy as the test writes it (amounts as exact text).
#[derive(Clone)]
struct Row {
    class: &'static str,
    currency: &'static str,
    expected: Option<&'static str>,
    actual: Option<&'static str>,
    difference: Option<&'static str>,
    order_id: Option<&'static str>,
    provider_date: Option<&'static str>,
    ledger_date: Option<&'static str>,
    detail: &'static str,
    probable: bool,
}

const HYPERLINK: &str = "=HYPERLINK(\"http://x\")";

fn rows() -> Vec<Row> {
    let r = |class, currency, e, a, diff, order, pd, ld| Row {
        class,
        currency,
        expected: e,
        actual: a,
        difference: diff,
        order_id: order,
        provider_date: pd,
        ledger_date: ld,
        detail: "differs",
        probable: false,
    };
    vec![
        r(
            "missing_in_ledger",
            "JPY",
            Some("1500"),
            None,
            Some("-1500"),
            Some("@SUM(A1)"),
            Some("2026-11-19"),
            None,
        ),
        r(
            "missing_in_ledger",
            "USD",
            Some("1234.56"),
            None,
            Some("-1234.56"),
            Some("o-6"),
            Some("2026-11-21"),
            None,
        ),
        r(
            "missing_in_provider",
            "KWD",
            None,
            Some("1.5"),
            Some("1.5"),
            Some("-2+3"),
            None,
            Some("2026-11-21"),
        ),
        r(
            "amount_mismatch",
            "USD",
            Some("100"),
            Some("87.5"),
            Some("-12.5"),
            Some(HYPERLINK),
            Some("2026-11-20"),
            Some("2026-11-20"),
        ),
        r(
            "amount_mismatch",
            "USD",
            Some("10"),
            Some("10.123456"),
            Some("0.123456"),
            Some("+1"),
            Some("2026-11-20"),
            Some("2026-11-20"),
        ),
        Row {
            detail: "<script>alert(1)</script>",
            ..r(
                "status_mismatch",
                "EUR",
                None,
                None,
                None,
                Some("o-7"),
                Some("2026-11-15"),
                Some("2026-11-15"),
            )
        },
        Row {
            detail: "\tledger note",
            probable: true,
            ..r(
                "fee_mismatch",
                "EUR",
                Some("2"),
                Some("2.3"),
                Some("0.3"),
                None,
                Some("2026-11-14"),
                Some("2026-11-16"),
            )
        },
    ]
}

/// A frame of exactly `discrepancy_schema` + `first_seen` + `age_days`.
fn frame(rows: &[Row]) -> DataFrame {
    let n = rows.len();
    let text = |name: &str, f: &dyn Fn(&Row) -> Option<String>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let money = |name: &str, f: &dyn Fn(&Row) -> Option<&'static str>| {
        let v: Vec<Option<Decimal>> = rows.iter().map(|r| f(r).map(dec)).collect();
        frames::decimal_column(name, &v, frames::MONEY_SCALE).unwrap()
    };
    let epoch = d("1970-01-01");
    let date = |name: &str, f: &dyn Fn(&Row) -> Option<&'static str>| {
        let v: Vec<Option<i32>> = rows
            .iter()
            .map(|r| f(r).map(|s| (d(s) - epoch).num_days() as i32))
            .collect();
        Column::new(name.into(), v).cast(&DataType::Date).unwrap()
    };
    let cols = vec![
        text("key", &|r| Some(format!("{}-{}", r.class, r.currency))),
        text("class", &|r| Some(r.class.into())),
        text("rule", &|r| Some(r.class.into())),
        Column::new(
            "probable".into(),
            rows.iter().map(|r| r.probable).collect::<Vec<_>>(),
        ),
        text("currency", &|r| Some(r.currency.into())),
        money("expected", &|r| r.expected),
        money("actual", &|r| r.actual),
        money("difference", &|r| r.difference),
        Column::new(
            "transaction_id".into(),
            (0..n as i64).map(|i| Some(1_000 + i)).collect::<Vec<_>>(),
        ),
        text("order_id", &|r| r.order_id.map(str::to_owned)),
        date("provider_date", &|r| r.provider_date),
        date("ledger_date", &|r| r.ledger_date),
        text("provider_rows", &|r| {
            r.provider_date.map(|_| "export.csv:2".into())
        }),
        text("ledger_rows", &|r| {
            r.ledger_date.map(|_| "ledger.csv:3".into())
        }),
        text("detail", &|r| Some(r.detail.into())),
        date("first_seen", &|_| Some("2026-11-14")),
        Column::new("age_days".into(), vec![Some(7i64); n]),
    ];
    DataFrame::new(n, cols).unwrap()
}

fn summary_of(rows: &[Row]) -> Summary {
    let mut s = Summary {
        discrepancies: rows.len() as u64,
        provider_lines: 20,
        matched_lines: 14,
        match_rate_percent: "70.00".into(),
        ..Summary::default()
    };
    for r in rows {
        let t: &mut ClassTotal = s
            .by_class
            .entry(r.class.into())
            .or_default()
            .entry(r.currency.into())
            .or_default();
        t.count += 1;
        t.amount += r.difference.map(dec).unwrap_or_default().abs();
    }
    s
}

fn bad_rows() -> Vec<BadRow> {
    vec![BadRow {
        file: PathBuf::from("ledger.csv"),
        line: 9,
        column: "amount".into(),
        value: "=cmd|' /C calc'!A0".into(),
        problem: "is not a number".into(),
    }]
}

/// Everything one report needs, owned.
struct Fixture {
    df: DataFrame,
    summary: Summary,
    quarantined: Vec<BadRow>,
    ledger: LedgerCounts,
    provider: LoadCounts,
    window: Window,
    merchant: &'static str,
    /// New keys, states, resolved items (empty: every finding plainly open).
    view: xsolla_recon::reconcile::decisions::LoopView,
}

impl Fixture {
    fn new(rows: &[Row], quarantined: Vec<BadRow>) -> Self {
        let ledger = LedgerCounts {
            files: 1,
            rows_read: 12 + quarantined.len() as u64,
            rows_loaded: 12,
            rows_quarantined: quarantined.len() as u64,
            ..LedgerCounts::default()
        };
        Fixture {
            df: frame(rows),
            summary: summary_of(rows),
            quarantined,
            ledger,
            provider: LoadCounts {
                registry_rows_read: 20,
                registry_rows_loaded: 20,
                ..LoadCounts::default()
            },
            window: Window::new(d("2026-11-14"), d("2026-11-21")).unwrap(),
            merchant: "Acme",
            view: Default::default(),
        }
    }

    fn full() -> Self {
        Fixture::new(&rows(), bad_rows())
    }

    fn input(&self) -> ReportInput<'_> {
        ReportInput {
            merchant: self.merchant,
            window: self.window,
            report_id: "digest-abc",
            as_of: self.window.to,
            discrepancies: &self.df,
            summary: &self.summary,
            open_items: OpenItemCounts {
                new: 3,
                still_open: 4,
                resolved: 1,
            },
            items: &self.view,
            quarantined: &self.quarantined,
            ledger: &self.ledger,
            provider: Some(&self.provider),
            ages: &[],
        }
    }
}

fn write(fx: &Fixture, settings: &ReportSettings, dir: &Path) -> Vec<PathBuf> {
    write_reports(&fx.input(), settings, dir).unwrap().files
}

fn names(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn csv_rows(path: &Path, delimiter: u8) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let bytes = std::fs::read(path).unwrap();
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(body);
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    let recs = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, recs)
}

const CSV_HEADER: &[&str] = &[
    "class",
    "rule",
    "probable",
    "currency",
    "expected",
    "actual",
    "difference",
    "transaction_id",
    "order_id",
    "provider_date",
    "ledger_date",
    "first_seen",
    "age_days",
    "provider_rows",
    "ledger_rows",
    "detail",
    "key",
    "status",
    "status_note",
    "decision",
    "until",
    "note",
];

/// The row of `recs` with this order id (unique in the fixture).
fn by_order<'a>(recs: &'a [BTreeMap<String, String>], order: &str) -> &'a BTreeMap<String, String> {
    recs.iter()
        .find(|r| r["order_id"] == order)
        .unwrap_or_else(|| panic!("no row with order {order:?}"))
}

#[test]
fn csv_reads_back_exact_and_neutralised() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::full();
    let dir = tmp.path().join("out/acme/run");
    let files = write(&fx, &ReportSettings::default(), &dir);
    assert_eq!(
        names(&files),
        [
            "discrepancies.csv",
            "quarantined.csv",
            "discrepancies.xlsx",
            "summary.json",
            "report.html",
            "chart.png"
        ]
    );
    let raw = std::fs::read(dir.join("discrepancies.csv")).unwrap();
    assert!(raw.starts_with(b"class,rule,"), "no BOM by default");
    let (header, recs) = csv_rows(&dir.join("discrepancies.csv"), b',');
    assert_eq!(header, CSV_HEADER);
    assert_eq!(recs.len(), rows().len());

    let hl = by_order(&recs, &format!("'{HYPERLINK}"));
    assert_eq!(
        hl["difference"], "-12.50",
        "a negative amount stays a number"
    );
    assert_eq!(hl["expected"], "100.00");
    assert_eq!(hl["actual"], "87.50");
    assert_eq!(hl["provider_date"], "2026-11-20");
    assert_eq!(hl["first_seen"], "2026-11-14");
    assert_eq!(hl["age_days"], "7");
    let plus = by_order(&recs, "'+1");
    assert_eq!(plus["actual"], "10.123456", "extra digits are kept");
    let jpy = by_order(&recs, "'@SUM(A1)");
    assert_eq!(
        (
            jpy["expected"].as_str(),
            jpy["actual"].as_str(),
            jpy["difference"].as_str()
        ),
        ("1500", "", "-1500")
    );
    assert_eq!(jpy["ledger_date"], "");
    let kwd = by_order(&recs, "'-2+3");
    assert_eq!(kwd["difference"], "1.500");
    assert_eq!(kwd["expected"], "");
    let fee = recs.iter().find(|r| r["class"] == "fee_mismatch").unwrap();
    assert_eq!(fee["detail"], "'\tledger note");
    assert_eq!(fee["probable"], "true");
    assert_eq!(fee["difference"], "0.30");
    let status = recs
        .iter()
        .find(|r| r["class"] == "status_mismatch")
        .unwrap();
    assert_eq!(status["difference"], "");
    assert_eq!(status["detail"], "<script>alert(1)</script>");

    let (qh, q) = csv_rows(&dir.join("quarantined.csv"), b',');
    assert_eq!(qh, ["file", "line", "column", "value", "problem"]);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["value"], "'=cmd|' /C calc'!A0");
    assert_eq!(q[0]["line"], "9");
}

#[test]
fn csv_excel_europe_has_bom_semicolons_and_decimal_commas() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::full();
    let settings = ReportSettings {
        csv_dialect: CsvDialect::ExcelEurope,
        ..ReportSettings::default()
    };
    let dir = tmp.path().join("eu");
    write(&fx, &settings, &dir);
    let raw = std::fs::read(dir.join("discrepancies.csv")).unwrap();
    assert!(raw.starts_with(b"\xEF\xBB\xBFclass;rule;probable;"));
    let (header, recs) = csv_rows(&dir.join("discrepancies.csv"), b';');
    assert_eq!(header, CSV_HEADER);
    assert_eq!(recs.len(), rows().len());
    let hl = by_order(&recs, &format!("'{HYPERLINK}"));
    assert_eq!(hl["difference"], "-12,50");
    assert_eq!(by_order(&recs, "'+1")["actual"], "10,123456");
    assert_eq!(by_order(&recs, "'-2+3")["difference"], "1,500");
    assert_eq!(hl["provider_date"], "2026-11-20");
    assert!(std::fs::read(dir.join("quarantined.csv"))
        .unwrap()
        .starts_with(b"\xEF\xBB\xBFfile;line;"));

    // A BOM on its own, RFC 4180 otherwise.
    let settings = ReportSettings {
        csv_utf8_bom: true,
        ..ReportSettings::default()
    };
    let dir = tmp.path().join("bom");
    write(&fx, &settings, &dir);
    let raw = std::fs::read(dir.join("discrepancies.csv")).unwrap();
    assert!(raw.starts_with(b"\xEF\xBB\xBFclass,rule,"));
}

/// An Excel serial date as a date.
fn excel_day(serial: f64) -> NaiveDate {
    d("1899-12-30") + chrono::Duration::days(serial as i64)
}

fn header_map(range: &calamine::Range<Data>) -> BTreeMap<String, usize> {
    range
        .rows()
        .next()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, c)| (c.to_string(), i))
        .collect()
}

#[test]
fn xlsx_reads_back_as_numbers_dates_and_neutralised_text() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::full();
    let dir = tmp.path().join("x");
    write(&fx, &ReportSettings::default(), &dir);
    let mut book: Xlsx<_> = open_workbook(dir.join("discrepancies.xlsx")).unwrap();
    assert_eq!(
        book.sheet_names(),
        [
            "Summary",
            "missing_in_ledger",
            "missing_in_provider",
            "amount_mismatch",
            "status_mismatch",
            "fee_mismatch",
            "Quarantined"
        ]
    );

    let input = rows();
    // (class, currency) → (count, sum |difference|) from the class sheets.
    let mut from_sheets: BTreeMap<(String, String), (u64, Decimal)> = BTreeMap::new();
    let mut seen = 0;
    for class in [
        "missing_in_ledger",
        "missing_in_provider",
        "amount_mismatch",
        "status_mismatch",
        "fee_mismatch",
    ] {
        let range = book.worksheet_range(class).unwrap();
        let styles = book.worksheet_style(class).unwrap();
        let h = header_map(&range);
        assert_eq!(h.len(), CSV_HEADER.len());
        for (i, row) in range.rows().enumerate().skip(1) {
            seen += 1;
            let cur = row[h["currency"]].to_string();
            let order = row[h["order_id"]].to_string();
            let want = input
                .iter()
                .find(|r| {
                    r.class == class
                        && r.currency == cur
                        && r.order_id
                            .map(|o| xsolla_recon::report::safe_text(o).into_owned())
                            == (!order.is_empty()).then(|| order.clone())
                })
                .unwrap_or_else(|| panic!("{class} row {i} ({cur}, {order:?}) not in the input"));
            for (col, v) in [
                ("expected", want.expected),
                ("actual", want.actual),
                ("difference", want.difference),
            ] {
                let cell = &row[h[col]];
                match v {
                    None => assert_eq!(cell, &Data::Empty, "{class} {col}"),
                    Some(text) => {
                        let Data::Float(f) = cell else {
                            panic!("{class} {col}: {cell:?} is not a number")
                        };
                        let got = Decimal::from_str(&f.to_string()).unwrap();
                        let exp = money::exponent(&cur);
                        assert_eq!(got.round_dp(exp), dec(text).round_dp(exp), "{class} {col}");
                        assert_eq!(got, dec(text).normalize(), "{class} {col}: exact");
                        let fmt = styles
                            .get((i as u32, h[col] as u32))
                            .and_then(|s| s.number_format.as_ref())
                            .map(|n| n.format_code.clone());
                        let want_fmt = match exp {
                            0 => "#,##0",
                            3 => "#,##0.000",
                            _ => "#,##0.00",
                        };
                        assert_eq!(fmt.as_deref(), Some(want_fmt), "{class} {col} {cur}");
                    }
                }
            }
            for (col, v) in [
                ("provider_date", want.provider_date),
                ("ledger_date", want.ledger_date),
                ("first_seen", Some("2026-11-14")),
            ] {
                let cell = &row[h[col]];
                match v {
                    None => assert_eq!(cell, &Data::Empty),
                    Some(s) => {
                        let Data::DateTime(dt) = cell else {
                            panic!("{class} {col}: {cell:?} is not a date")
                        };
                        assert_eq!(excel_day(dt.as_f64()), d(s), "{class} {col}");
                    }
                }
            }
            if want.order_id == Some(HYPERLINK) {
                assert_eq!(row[h["order_id"]], Data::String(format!("'{HYPERLINK}")));
                assert_eq!(row[h["difference"]], Data::Float(-12.5));
            }
            if class == "fee_mismatch" {
                assert_eq!(row[h["detail"]], Data::String("'\tledger note".into()));
                assert_eq!(row[h["probable"]], Data::Bool(true));
            }
            let e = from_sheets.entry((class.into(), cur)).or_default();
            e.0 += 1;
            e.1 += match &row[h["difference"]] {
                Data::Float(f) => Decimal::from_str(&f.to_string()).unwrap().abs(),
                _ => Decimal::ZERO,
            };
        }
    }
    assert_eq!(seen, input.len(), "every row is on a sheet");

    // The Summary table equals the class sheets, per class and currency.
    let summary = book.worksheet_range("Summary").unwrap();
    let all: Vec<&[Data]> = summary.rows().collect();
    let start = all
        .iter()
        .position(|r| {
            r.len() >= 4
                && r[..4].iter().map(|c| c.to_string()).collect::<Vec<_>>()
                    == ["class", "currency", "count", "amount"]
        })
        .expect("summary table");
    let mut from_summary: BTreeMap<(String, String), (u64, Decimal)> = BTreeMap::new();
    let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
    for r in &all[start + 1..] {
        let (Data::Float(count), Data::Float(amount)) = (&r[2], &r[3]) else {
            panic!("summary row {r:?}")
        };
        let amount = Decimal::from_str(&amount.to_string()).unwrap();
        if r[0] == "total" {
            totals.insert(r[1].to_string(), amount);
        } else {
            from_summary.insert(
                (r[0].to_string(), r[1].to_string()),
                (*count as u64, amount),
            );
        }
    }
    assert_eq!(from_summary, from_sheets);
    let mut want_totals: BTreeMap<String, Decimal> = BTreeMap::new();
    for ((_, cur), (_, a)) in &from_sheets {
        *want_totals.entry(cur.clone()).or_default() += a;
    }
    assert_eq!(totals, want_totals);
    let label = |k: &str| {
        all.iter()
            .find(|r| r[0] == k)
            .map(|r| r[1].clone())
            .unwrap_or_else(|| panic!("no {k} on Summary"))
    };
    assert_eq!(label("merchant"), Data::String("Acme".into()));
    assert_eq!(label("report id"), Data::String("digest-abc".into()));
    assert_eq!(label("discrepancies"), Data::Float(7.0));
    assert_eq!(label("ledger rows quarantined"), Data::Float(1.0));
    assert_eq!(label("open items still open"), Data::Float(4.0));
    let Data::DateTime(asof) = label("as of") else {
        panic!("as of is not a date")
    };
    assert_eq!(excel_day(asof.as_f64()), d("2026-11-21"));

    let q = book.worksheet_range("Quarantined").unwrap();
    let qrows: Vec<&[Data]> = q.rows().collect();
    assert_eq!(qrows.len(), 2);
    assert_eq!(qrows[1][3], Data::String("'=cmd|' /C calc'!A0".into()));
}

#[test]
fn xlsx_continues_a_class_on_more_sheets_and_drops_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(&rows(), Vec::new());
    let settings = ReportSettings {
        xlsx_max_rows_per_sheet: 1,
        ..ReportSettings::default()
    };
    let dir = tmp.path().join("split");
    write(&fx, &settings, &dir);
    let mut book: Xlsx<_> = open_workbook(dir.join("discrepancies.xlsx")).unwrap();
    assert_eq!(
        book.sheet_names(),
        [
            "Summary",
            "missing_in_ledger",
            "missing_in_ledger (2)",
            "missing_in_provider",
            "amount_mismatch",
            "amount_mismatch (2)",
            "status_mismatch",
            "fee_mismatch"
        ]
    );
    let mut data_rows = 0;
    for name in book.sheet_names().into_iter().skip(1) {
        data_rows += book.worksheet_range(&name).unwrap().height() - 1;
    }
    assert_eq!(data_rows, rows().len());
}

fn folder_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn same_input_same_bytes_and_no_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::full();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write(&fx, &ReportSettings::default(), &a);
    // A second later: anything taken from the clock (a creation time) would now differ.
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    write(&fx, &ReportSettings::default(), &b);
    let (fa, fb) = (folder_bytes(&a), folder_bytes(&b));
    assert_eq!(fa.len(), 6);
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between two writes");
    }

    let err = write_reports(&fx.input(), &ReportSettings::default(), &a).unwrap_err();
    assert!(matches!(err, ReportError::Exists(_)), "{err}");
    assert!(err.to_string().contains(&a.display().to_string()));
    assert_eq!(folder_bytes(&a), fa, "the existing folder is untouched");
    // Nothing but the two published folders: no staging left over.
    let mut entries: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    entries.sort();
    assert_eq!(entries, ["a", "b"]);
}

#[test]
fn a_frame_disagreeing_with_the_summary_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fx = Fixture::full();
    fx.summary.discrepancies += 1;
    fx.summary
        .by_class
        .get_mut("missing_in_ledger")
        .unwrap()
        .get_mut("JPY")
        .unwrap()
        .count += 1;
    let dir = tmp.path().join("bad");
    let err = write_reports(&fx.input(), &ReportSettings::default(), &dir).unwrap_err();
    assert!(matches!(err, ReportError::Invariant { .. }), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn summary_json_html_and_chart() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::full();
    let settings = ReportSettings {
        html_max_rows: 1,
        ..ReportSettings::default()
    };
    let dir = tmp.path().join("j");
    write(&fx, &settings, &dir);

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["merchant"], "Acme");
    assert_eq!(json["window"]["from"], "2026-11-14");
    assert_eq!(json["as_of"], "2026-11-21");
    assert_eq!(json["report_id"], "digest-abc");
    assert_eq!(json["discrepancies"], 7);
    assert_eq!(json["quarantined"], 1);
    assert_eq!(json["rows"]["ledger"]["rows_quarantined"], 1);
    assert_eq!(json["open_items"]["resolved"], 1);
    assert_eq!(json["files"][5], "chart.png");
    let mut from_json: BTreeMap<(String, String), (u64, Decimal)> = BTreeMap::new();
    for (class, m) in json["by_class"].as_object().unwrap() {
        for (cur, t) in m.as_object().unwrap() {
            from_json.insert(
                (class.clone(), cur.clone()),
                (
                    t["count"].as_u64().unwrap(),
                    dec(t["amount"].as_str().expect("amount is a string")),
                ),
            );
        }
    }
    let mut want: BTreeMap<(String, String), (u64, Decimal)> = BTreeMap::new();
    for r in rows() {
        let e = want.entry((r.class.into(), r.currency.into())).or_default();
        e.0 += 1;
        e.1 += r.difference.map(dec).unwrap_or_default().abs();
    }
    assert_eq!(from_json, want);
    assert_eq!(json["by_currency"]["USD"]["amount"], "1247.183456");
    assert_eq!(json["by_currency"]["JPY"]["amount"], "1500");
    assert_eq!(json["by_currency"]["KWD"]["amount"], "1.500");

    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    // Every row (200 per section by default): the hostile cells are escaped.
    let all_rows = tmp.path().join("all");
    write(&fx, &ReportSettings::default(), &all_rows);
    let full = std::fs::read_to_string(all_rows.join("report.html")).unwrap();
    assert!(full.contains("&#39;=HYPERLINK(&quot;http://x&quot;)"));
    assert!(full.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(full.matches("<script").count(), 1);
    // One script, the page's own (filter box, sorting); the finding's is escaped.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains(
        "<img alt=\"discrepancy amounts per day and class\" src=\"data:image/png;base64,"
    ));
    assert!(html.contains("<h2>Still open (7)</h2>"));
    assert!(html.contains("… 6 more in discrepancies.csv"));
    assert!(html.contains("1,247.183456"));

    let png_bytes = std::fs::read(dir.join("chart.png")).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    // Four currencies, four panels, under the title and the legend of the classes.
    let classes = fx.summary.by_class.len();
    assert_eq!(
        (info.width, info.height),
        (CHART_WIDTH, chart_height(4, classes))
    );
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let px = |c: (u8, u8, u8)| {
        buf.chunks(3)
            .filter(|p| p[0] == c.0 && p[1] == c.1 && p[2] == c.2)
            .count()
    };
    assert!(px((214, 39, 40)) > 0, "missing_in_ledger bars are drawn");
    assert!(px((255, 127, 14)) > 0, "amount_mismatch bars are drawn");

    // Fewer panels when asked; no chart when off.
    let small = ReportSettings {
        chart_max_currencies: 2,
        ..ReportSettings::default()
    };
    write(&fx, &small, &tmp.path().join("k"));
    let decoder = png::Decoder::new(std::io::Cursor::new(
        std::fs::read(tmp.path().join("k/chart.png")).unwrap(),
    ));
    assert_eq!(
        decoder.read_info().unwrap().info().height,
        chart_height(2, classes)
    );
    let off = ReportSettings {
        chart: false,
        ..ReportSettings::default()
    };
    let files = write(&fx, &off, &tmp.path().join("n"));
    assert_eq!(files.len(), 5);
    assert!(!tmp.path().join("n/chart.png").exists());
    assert!(!std::fs::read_to_string(tmp.path().join("n/report.html"))
        .unwrap()
        .contains("data:image/png"));
}

#[test]
fn mail_subjects_and_bodies() {
    let fx = Fixture::full();
    let m = mail::compose(&fx.input(), &ReportSettings::default()).unwrap();
    assert_eq!(
        m.subject,
        "[xsolla-recon] Acme 2026-11-14..2026-11-21: 0 new, 7 unresolved discrepancies, 0.30 EUR + \
         1,500 JPY + 1.500 KWD + 1 more unresolved, 1 ledger row quarantined"
    );
    assert!(m
        .html
        .contains("<img alt=\"discrepancy amounts per day and class\" src=\"cid:chart\">"));
    assert!(m.html.contains("1,247.183456"));
    assert!(m.text.contains("total USD: 1,247.183456"));
    assert!(m.text.contains("missing_in_ledger JPY: 1, 1,500"));
    let png = m.chart_png.as_ref().expect("chart");
    assert!(png.starts_with(b"\x89PNG"));
    assert_eq!(
        mail::compose(&fx.input(), &ReportSettings::default()).unwrap(),
        m
    );

    // One currency, one day, a merchant name with a line break.
    let usd: Vec<Row> = rows().into_iter().filter(|r| r.currency == "USD").collect();
    let mut fx = Fixture::new(&usd, Vec::new());
    fx.merchant = "Acme\r\nBcc: x@example.com";
    fx.window = Window::new(d("2026-11-21"), d("2026-11-21")).unwrap();
    let m = mail::compose(&fx.input(), &ReportSettings::default()).unwrap();
    assert_eq!(
        m.subject,
        "[xsolla-recon] Acme Bcc: x@example.com 2026-11-21: 0 new, 3 unresolved discrepancies, 1,247.183456 USD unresolved"
    );
    assert!(!m.subject.contains(['\r', '\n']));

    // All clear.
    let mut fx = Fixture::new(&[], Vec::new());
    fx.window = Window::new(d("2026-11-21"), d("2026-11-21")).unwrap();
    let m = mail::compose(&fx.input(), &ReportSettings::default()).unwrap();
    assert_eq!(m.subject, "[xsolla-recon] Acme 2026-11-21: all clear");
    assert!(m.chart_png.is_none());
    assert!(!m.html.contains("cid:"));
    assert!(m.text.contains("No discrepancies."));

    // Only quarantined rows.
    let two = [bad_rows(), bad_rows()].concat();
    let mut fx = Fixture::new(&[], two);
    fx.window = Window::new(d("2026-11-21"), d("2026-11-21")).unwrap();
    let m = mail::compose(&fx.input(), &ReportSettings::default()).unwrap();
    assert_eq!(
        m.subject,
        "[xsolla-recon] Acme 2026-11-21: 2 ledger rows quarantined"
    );
}

/// Open items in two runs: USD items 0–7 and over 30 days old.
fn age_series() -> Vec<xsolla_recon::reconcile::ages::AgeSnapshot> {
    use xsolla_recon::reconcile::ages::{AgeSnapshot, BucketTotal};
    let usd = |young: u64, old: u64| {
        let t = |count: u64, amount: i64| BucketTotal {
            count,
            amount: Decimal::new(amount, 2),
        };
        [
            t(young, 1250 * young as i64),
            t(0, 0),
            t(old, 700 * old as i64),
        ]
    };
    vec![
        AgeSnapshot {
            run_date: d("2026-11-14"),
            by_currency: [("USD".to_owned(), usd(2, 0))].into(),
        },
        AgeSnapshot {
            run_date: d("2026-11-21"),
            by_currency: [("USD".to_owned(), usd(1, 3))].into(),
        },
    ]
}

#[test]
fn the_age_chart_is_written_listed_and_shown_with_its_table() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::full();
    let ages = age_series();
    let input = ReportInput {
        ages: &ages,
        ..fx.input()
    };
    let dir = tmp.path().join("a");
    let files = write_reports(&input, &ReportSettings::default(), &dir)
        .unwrap()
        .files;
    assert_eq!(names(&files).last().unwrap(), "age.png");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["files"][6], "age.png");
    let png_bytes = std::fs::read(dir.join("age.png")).unwrap();
    let info = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .unwrap()
        .info()
        .clone();
    assert_eq!(
        (info.width, info.height),
        (CHART_WIDTH, age_chart_height(1))
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let section = html.split("<h2>Open items by age</h2>\n").nth(1).unwrap();
    assert!(section.starts_with(
        "<img alt=\"open items per age bucket over the last runs\" src=\"data:image/png;base64,"
    ));
    // Newest run first: 1 young item of 12.50, 3 old ones of 21.00.
    assert!(section.contains("<tr><td>2026-11-21</td><td>USD</td><td class=\"n\">1</td><td class=\"n\">12.50</td><td class=\"n\">0</td><td class=\"n\">0.00</td><td class=\"n\">3</td><td class=\"n\">21.00</td></tr>"), "{section}");
    let m = mail::compose(&input, &ReportSettings::default()).unwrap();
    assert!(m.html.contains("src=\"cid:age\""));
    assert_eq!(
        m.age_png.as_deref(),
        Some(&std::fs::read(dir.join("age.png")).unwrap()[..])
    );

    // None without open items, with the charts off, or with no runs asked for.
    for (i, (settings, ages)) in [
        (ReportSettings::default(), vec![]),
        (
            ReportSettings {
                chart: false,
                ..ReportSettings::default()
            },
            age_series(),
        ),
        (
            ReportSettings {
                age_chart_runs: 0,
                ..ReportSettings::default()
            },
            age_series(),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let input = ReportInput {
            ages: &ages,
            ..fx.input()
        };
        let d = tmp.path().join(format!("n{i}"));
        let files = write_reports(&input, &settings, &d).unwrap().files;
        assert!(!names(&files).contains(&"age.png".to_owned()));
        assert!(!d.join("age.png").exists());
        assert!(mail::compose(&input, &settings).unwrap().age_png.is_none());
    }
    let too_many = ReportSettings {
        age_chart_runs: 61,
        ..ReportSettings::default()
    };
    assert!(too_many.problems()[0].contains("report.age_chart_runs must be at most 60"));
}
