use super::*;
use crate::domain::frames::{decimal_column, discrepancy_schema};
use crate::reconcile::ClassTotal;
use std::str::FromStr;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[test]
fn safe_text_neutralises_formula_starts_only() {
    for bad in ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "\nx"] {
        assert_eq!(safe_text(bad), format!("'{bad}"), "{bad:?}");
    }
    for ok in ["", "abc", "12.50", "a=b", " =x", "'=x", "order-1"] {
        assert_eq!(safe_text(ok), ok, "{ok:?}");
    }
}

#[test]
fn amounts_keep_every_digit_and_at_least_the_exponent() {
    assert_eq!(amount_text(dec("12.500000"), "USD"), "12.50");
    assert_eq!(amount_text(dec("-12.5"), "USD"), "-12.50");
    assert_eq!(amount_text(dec("1200.000000"), "JPY"), "1200");
    assert_eq!(amount_text(dec("1.5"), "KWD"), "1.500");
    assert_eq!(amount_text(dec("0.123456"), "USD"), "0.123456");
    assert_eq!(amount_text(dec("0.5"), "JPY"), "0.5");
    assert_eq!(amount_text(dec("-0.000000"), "EUR"), "0.00");
}

#[test]
fn display_groups_thousands() {
    assert_eq!(amount_display(dec("1234.56"), "USD"), "1,234.56");
    assert_eq!(amount_display(dec("-1234567"), "JPY"), "-1,234,567");
    assert_eq!(amount_display(dec("123"), "JPY"), "123");
    assert_eq!(amount_display(dec("999999.1234"), "KWD"), "999,999.1234");
}

#[test]
fn settings_defaults_validation_and_toml() {
    let s = ReportSettings::default();
    assert!(s.problems().is_empty());
    let parsed: ReportSettings = toml::from_str("csv_dialect = \"excel_europe\"").unwrap();
    assert_eq!(parsed.csv_dialect, CsvDialect::ExcelEurope);
    assert!(parsed.bom());
    assert!(toml::from_str::<ReportSettings>("nope = 1").is_err());
    let bad = ReportSettings {
        xlsx_max_rows_per_sheet: XLSX_MAX_DATA_ROWS + 1,
        chart_max_currencies: 0,
        html_max_rows: html::MAX_ROWS + 1,
        ..ReportSettings::default()
    };
    assert_eq!(bad.problems().len(), 3, "{:?}", bad.problems());
}

/// Two findings (USD, JPY) in exactly the report's input schema.
fn frame() -> DataFrame {
    let s = |n: &str, v: [&str; 2]| Column::new(n.into(), v.to_vec());
    let days = |n: &str| {
        Column::new(n.into(), vec![Some(20_000i32), None])
            .cast(&DataType::Date)
            .unwrap()
    };
    let money = |n: &str, v: [&str; 2]| {
        decimal_column(
            n,
            &[Some(dec(v[0])), Some(dec(v[1]))],
            crate::domain::frames::MONEY_SCALE,
        )
        .unwrap()
    };
    let cols = vec![
        s("key", ["k1", "k2"]),
        s("class", ["amount_mismatch", "missing_in_ledger"]),
        s("rule", ["amount", "missing"]),
        Column::new("probable".into(), vec![false, false]),
        s("currency", ["USD", "JPY"]),
        money("expected", ["10", "100"]),
        money("actual", ["12.5", "0"]),
        money("difference", ["2.5", "-100"]),
        Column::new("transaction_id".into(), vec![1i64, 2]),
        s("order_id", ["=1+1", "o2"]),
        days("provider_date"),
        days("ledger_date"),
        s("provider_rows", ["p:1", "p:2"]),
        s("ledger_rows", ["l:1", ""]),
        s("detail", ["differs", "missing"]),
        days("first_seen"),
        Column::new("age_days".into(), vec![0i64, 3]),
    ];
    let df = DataFrame::new_infer_height(cols).unwrap();
    let mut schema = discrepancy_schema();
    schema.with_column("first_seen".into(), DataType::Date);
    schema.with_column("age_days".into(), DataType::Int64);
    crate::domain::frames::check_schema(&df, &schema, "test").unwrap();
    df
}

fn summary() -> Summary {
    let mut s = Summary {
        discrepancies: 2,
        match_rate_percent: "50.00".into(),
        ..Summary::default()
    };
    let t = |count, amount: &str| ClassTotal {
        count,
        amount: dec(amount),
    };
    s.by_class.insert(
        "amount_mismatch".into(),
        [("USD".to_owned(), t(1, "2.5"))].into(),
    );
    s.by_class.insert(
        "missing_in_ledger".into(),
        [("JPY".to_owned(), t(1, "100"))].into(),
    );
    s
}

fn with_input<R>(summary: &Summary, f: impl FnOnce(&ReportInput<'_>) -> R) -> R {
    let df = frame();
    let ledger = LedgerCounts::default();
    let day = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
    let input = ReportInput {
        merchant: "Acme",
        window: Window::new(day, day).unwrap(),
        report_id: "r1",
        as_of: day,
        discrepancies: &df,
        summary,
        open_items: OpenItemCounts::default(),
        items: &Default::default(),
        quarantined: &[],
        ledger: &ledger,
        provider: None,
        ages: &[],
    };
    f(&input)
}

#[test]
fn a_failure_mid_way_leaves_no_folder_and_no_staging() {
    let tmp = tempfile::tempdir().unwrap();
    let final_dir = tmp.path().join("runs/r1");
    let s = summary();
    for after in 0..5 {
        let err = with_input(&s, |i| {
            write_reports_inner(i, &ReportSettings::default(), &final_dir, Some(after))
        })
        .unwrap_err();
        assert!(err.to_string().contains("injected"), "{err}");
        assert!(!final_dir.exists());
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("runs"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
    let files = with_input(&s, |i| {
        write_reports(i, &ReportSettings::default(), &final_dir)
    })
    .unwrap();
    assert_eq!(files.files.len(), 6);
    assert!(files.files.iter().all(|f| f.is_file()));
}

#[test]
fn totals_that_disagree_with_the_summary_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let final_dir = tmp.path().join("r1");
    let mut s = summary();
    s.by_class
        .get_mut("amount_mismatch")
        .unwrap()
        .get_mut("USD")
        .unwrap()
        .amount = dec("2.51");
    let err = with_input(&s, |i| {
        write_reports(i, &ReportSettings::default(), &final_dir)
    })
    .unwrap_err();
    assert!(matches!(err, ReportError::Invariant { .. }), "{err}");
    assert!(err.to_string().contains("r1"), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    let err = with_input(&s, |i| {
        crate::deliver::compose::compose(i, &ReportSettings::default())
    })
    .unwrap_err();
    assert!(matches!(err, ReportError::Invariant { .. }), "{err}");
}

#[test]
fn a_frame_of_another_shape_is_refused() {
    let df = frame().drop("age_days").unwrap();
    assert!(rows::read(&df).is_err());
}

proptest::proptest! {
    /// Any amount at the frames' scale comes back exactly from its CSV text, with at least
    /// the currency's decimals, and the display form only adds separators.
    #[test]
    fn amount_text_is_exact(mantissa in -10_i128.pow(20)..10_i128.pow(20), cur in 0usize..4) {
        let cur = ["JPY", "USD", "KWD", "EUR"][cur];
        let d = Decimal::from_i128_with_scale(mantissa, crate::domain::frames::MONEY_SCALE as u32);
        let text = amount_text(d, cur);
        proptest::prop_assert_eq!(Decimal::from_str(&text).unwrap(), d);
        let decimals = text.split_once('.').map_or(0, |(_, f)| f.len());
        proptest::prop_assert!(decimals >= crate::domain::money::exponent(cur) as usize);
        proptest::prop_assert_eq!(amount_display(d, cur).replace(',', ""), text);
    }

    /// Neutralised text never starts with a formula character and loses nothing.
    #[test]
    fn safe_text_never_starts_a_formula(s in "\\PC{0,12}|[=+@\\t\\r\\n-].{0,8}") {
        let out = safe_text(&s);
        let first = out.chars().next();
        proptest::prop_assert!(!matches!(first, Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n')));
        let prefixed = format!("'{}", s);
        proptest::prop_assert!(out == s || out == prefixed);
    }
}

#[test]
fn not_checked_lines_are_grouped_escaped_and_absent_when_all_ran() {
    use crate::domain::not_checked::NotChecked;
    let mut s = summary();
    assert_eq!(fragments::not_checked_section(&s), "");
    let html = with_input(&s, |i| {
        html::page(i, &ReportSettings::default(), &[], None, None)
    });
    assert!(!html.contains("Not checked"));
    for n in 0..12 {
        s.not_checked.push(NotChecked::new(
            "payout",
            format!("payout {n:02}"),
            1,
            "no <amount>",
        ));
    }
    s.not_checked.push(NotChecked::new(
        "fees",
        "matched ledger lines",
        40,
        "=no fee",
    ));
    let section = fragments::not_checked_section(&s);
    assert!(
        section.contains("<p>52 items could not be checked;"),
        "{section}"
    );
    assert!(section.contains("no &lt;amount&gt;"), "escaped: {section}");
    assert!(
        section.contains("&#39;=no fee"),
        "spreadsheet-safe: {section}"
    );
    assert!(
        section.contains("payout 00, payout 01, payout 02, payout 03, payout 04, payout 05, payout 06, payout 07, payout 08, payout 09 and 2 more"),
        "{section}"
    );
    assert_eq!(
        section.matches("<tr><td>").count(),
        2,
        "one row per check and reason"
    );
    let html = with_input(&s, |i| {
        html::page(i, &ReportSettings::default(), &[], None, None)
    });
    assert!(html.contains(&section));
    let figures = with_input(&s, fragments::key_figures);
    assert!(figures.contains(&("not checked", "52".to_owned())));
}
