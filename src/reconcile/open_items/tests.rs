use super::*;
use crate::domain::frames;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn window(from: &str, to: &str) -> Window {
    Window::new(day(from), day(to)).unwrap()
}

/// One finding: key, difference (as text), provider date.
struct Finding<'a>(&'a str, &'a str, Option<&'a str>);

/// A discrepancies frame of exactly [`frames::discrepancy_schema`].
fn findings(rows: &[Finding<'_>]) -> DataFrame {
    let n = rows.len();
    let text = |name: &str, f: &dyn Fn(&Finding<'_>) -> Option<String>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let money = |name: &str, f: &dyn Fn(&Finding<'_>) -> Option<i128>| {
        Int128Chunked::from_iter_options(name.into(), rows.iter().map(f))
            .into_decimal(frames::PRECISION, frames::MONEY_SCALE)
            .unwrap()
            .into_column()
    };
    let date = |name: &str, f: &dyn Fn(&Finding<'_>) -> Option<i32>| {
        Int32Chunked::from_iter_options(name.into(), rows.iter().map(f))
            .into_date()
            .into_column()
    };
    let diff = |r: &Finding<'_>| {
        crate::load::provider::mantissa_at(r.1.parse().unwrap(), frames::MONEY_SCALE)
    };
    let cols = vec![
        text("key", &|r| Some(r.0.to_owned())),
        text("class", &|_| Some("amount_mismatch".into())),
        text("rule", &|_| Some("amount.sql".into())),
        Column::new("probable".into(), vec![false; n]),
        text("currency", &|_| Some("USD".into())),
        money("expected", &|_| Some(0)),
        money("actual", &diff),
        money("difference", &diff),
        Column::new(
            "transaction_id".into(),
            (0..n as i64).map(Some).collect::<Vec<_>>(),
        ),
        text("order_id", &|r| Some(format!("order-{}", r.0))),
        date("provider_date", &|r| r.2.map(|d| days_from_date(day(d)))),
        date("ledger_date", &|_| None),
        text("provider_rows", &|_| None),
        text("ledger_rows", &|_| None),
        text("detail", &|_| Some("differs".into())),
    ];
    let df = DataFrame::new(n, cols).unwrap();
    frames::check_schema(&df, &frames::discrepancy_schema(), "test").unwrap();
    df
}

fn keys(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn items_age_then_resolve_only_when_their_dates_are_rechecked() {
    let mut s = OpenItems::new("acme");
    let oct = window("2026-10-01", "2026-10-31");
    let first = findings(&[
        Finding("a", "1.5", Some("2026-10-03")),
        Finding("b", "-2", Some("2026-10-20")),
        Finding("nodate", "0.01", None),
    ]);
    let u = s.update(&first, oct, "run-1", day("2026-11-01")).unwrap();
    assert_eq!(u.new, keys(&["a", "b", "nodate"]));
    assert!(u.still_open.is_empty() && u.resolved.is_empty());
    assert_eq!(s.age_days("a", day("2026-11-01")), Some(0));
    assert_eq!(s.get("a").unwrap().difference.to_string(), "1.5");

    // Next night: still there, a day older; `b` changed amount.
    let second = findings(&[
        Finding("a", "1.5", Some("2026-10-03")),
        Finding("b", "-3", Some("2026-10-20")),
        Finding("nodate", "0.01", None),
    ]);
    let u = s.update(&second, oct, "run-2", day("2026-11-02")).unwrap();
    assert_eq!(u.still_open, keys(&["a", "b", "nodate"]));
    assert_eq!(s.age_days("a", day("2026-11-02")), Some(1));
    let b = s.get("b").unwrap();
    assert_eq!(
        (b.first_run_id.as_str(), b.last_run_id.as_str()),
        ("run-1", "run-2")
    );
    assert_eq!(b.difference.to_string(), "-3");

    // A run over November only: `a` and `b` were not re-checked and stay open; an item
    // without dates cannot be placed, so any run that misses it resolves it.
    let nov = window("2026-11-01", "2026-11-30");
    let u = s
        .update(&findings(&[]), nov, "run-3", day("2026-12-01"))
        .unwrap();
    assert_eq!(u.resolved, keys(&["nodate"]));
    assert_eq!(s.age_days("a", day("2026-12-01")), Some(30));
    assert_eq!(s.open_count(), 2);

    // A run re-checking the first half of October resolves `a` only.
    let early = window("2026-10-01", "2026-10-15");
    let u = s
        .update(&findings(&[]), early, "run-4", day("2026-12-02"))
        .unwrap();
    assert_eq!(u.resolved, keys(&["a"]));
    assert!(u.new.is_empty() && u.still_open.is_empty());
    let a = s.get("a").unwrap();
    assert_eq!(
        a.status,
        ItemStatus::Resolved {
            on: day("2026-12-02"),
            run_id: "run-4".into()
        }
    );
    // A resolved item's age stops at its resolution.
    assert_eq!(s.age_days("a", day("2027-01-01")), Some(31));
    assert_eq!(s.get("b").unwrap().status, ItemStatus::Open);

    // It comes back: a new occurrence, aged from that run.
    let u = s
        .update(
            &findings(&[Finding("a", "1.5", Some("2026-10-03"))]),
            early,
            "run-5",
            day("2026-12-03"),
        )
        .unwrap();
    assert_eq!(u.new, keys(&["a"]));
    assert_eq!(s.age_days("a", day("2026-12-04")), Some(1));
}

#[test]
fn with_age_adds_first_seen_and_age() {
    let mut s = OpenItems::new("acme");
    let oct = window("2026-10-01", "2026-10-31");
    s.update(
        &findings(&[Finding("a", "1", Some("2026-10-03"))]),
        oct,
        "r1",
        day("2026-11-01"),
    )
    .unwrap();
    let df = findings(&[
        Finding("a", "1", Some("2026-10-03")),
        Finding("fresh", "2", Some("2026-10-04")),
    ]);
    let aged = s.with_age(&df, day("2026-11-11")).unwrap();
    assert_eq!(aged.width(), df.width() + 2);
    assert_eq!(aged.column("first_seen").unwrap().dtype(), &DataType::Date);
    let first: Vec<Option<i32>> = aged
        .column("first_seen")
        .unwrap()
        .date()
        .unwrap()
        .physical()
        .iter()
        .collect();
    assert_eq!(
        first,
        vec![
            Some(days_from_date(day("2026-11-01"))),
            Some(days_from_date(day("2026-11-11")))
        ]
    );
    let age: Vec<Option<i64>> = aged
        .column("age_days")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(age, vec![Some(10), Some(0)]);
}

#[test]
fn save_load_round_trip_is_byte_identical_and_leaves_no_temp_files() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(
        OpenItems::load(tmp.path(), "acme").unwrap(),
        OpenItems::new("acme"),
        "no file yet: empty"
    );
    let mut s = OpenItems::new("acme");
    let oct = window("2026-10-01", "2026-10-31");
    s.update(
        &findings(&[
            Finding("z", "0.100000", Some("2026-10-03")),
            Finding("a", "-12345678901234.123456", None),
        ]),
        oct,
        "r1",
        day("2026-11-01"),
    )
    .unwrap();
    s.update(
        &findings(&[Finding("z", "0.1", Some("2026-10-03"))]),
        oct,
        "r2",
        day("2026-11-02"),
    )
    .unwrap();
    s.save(tmp.path(), "acme").unwrap();
    let path = state_path(tmp.path(), "acme").unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    // Amounts are strings (exact), keys sorted.
    assert!(
        text.contains("\"difference\": \"-12345678901234.123456\""),
        "{text}"
    );
    assert!(text.find("\"a\"").unwrap() < text.find("\"z\"").unwrap());
    assert!(text.contains("\"schema\": 1"));

    let back = OpenItems::load(tmp.path(), "acme").unwrap();
    assert_eq!(back, s);
    back.save(tmp.path(), "acme").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["open_items.json".to_owned()]);
}

#[test]
fn a_damaged_file_is_an_error_never_a_reset() {
    let tmp = tempfile::tempdir().unwrap();
    let path = state_path(tmp.path(), "acme").unwrap();
    let mut s = OpenItems::new("acme");
    s.update(
        &findings(&[Finding("a", "1", None)]),
        window("2026-10-01", "2026-10-31"),
        "r1",
        day("2026-11-01"),
    )
    .unwrap();
    s.save(tmp.path(), "acme").unwrap();
    let good = std::fs::read_to_string(&path).unwrap();
    for broken in [
        good[..good.len() / 2].to_owned(),
        good.replace("\"schema\": 1", "\"schema\": 99"),
        good.replace("\"difference\": \"1\"", "\"difference\": \"one\""),
        good.replace("\"merchant\": \"acme\"", "\"merchant\": \"other\""),
    ] {
        assert_ne!(broken, good);
        std::fs::write(&path, &broken).unwrap();
        let e = OpenItems::load(tmp.path(), "acme").unwrap_err();
        assert!(matches!(e, StateError::Damaged { .. }), "{e}");
        assert!(e.to_string().contains("open_items.json"), "{e}");
        // Still there, untouched, for a person to look at.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
    }
    assert!(matches!(
        OpenItems::load(tmp.path(), "../etc"),
        Err(StateError::BadMerchant(_))
    ));
}

#[test]
fn resolved_history_is_bounded_newest_kept() {
    let mut s = OpenItems::new("acme");
    let oct = window("2026-10-01", "2026-10-31");
    s.update(
        &findings(&[Finding("old", "1", None), Finding("open", "1", None)]),
        oct,
        "r1",
        day("2026-11-01"),
    )
    .unwrap();
    s.update(
        &findings(&[Finding("open", "1", None), Finding("new", "1", None)]),
        oct,
        "r2",
        day("2026-11-02"),
    )
    .unwrap();
    s.update(
        &findings(&[Finding("open", "1", None)]),
        oct,
        "r3",
        day("2026-11-03"),
    )
    .unwrap();
    // `old` resolved on 11-02, `new` on 11-03; keep one.
    s.prune_resolved(1);
    assert!(s.get("old").is_none());
    assert!(s.get("new").is_some() && s.get("open").is_some());
}
