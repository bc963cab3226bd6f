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

/// One finding with every field the store reads.
#[derive(Clone)]
struct F {
    key: String,
    class: String,
    diff: String,
    txn: Option<i64>,
    order: Option<String>,
    provider: Option<String>,
    ledger: Option<String>,
}

impl From<&Finding<'_>> for F {
    fn from(r: &Finding<'_>) -> F {
        F {
            key: r.0.to_owned(),
            class: "amount_mismatch".into(),
            diff: r.1.to_owned(),
            txn: None,
            order: Some(format!("order-{}", r.0)),
            provider: r.2.map(str::to_owned),
            ledger: None,
        }
    }
}

/// A finding of class `class` keyed `<class>:<subject>`, with these dates.
fn f(class: &str, subject: &str, provider: Option<&str>, ledger: Option<&str>) -> F {
    F {
        key: format!("{class}:{subject}"),
        class: class.to_owned(),
        diff: "1".into(),
        txn: subject
            .strip_prefix("tx:")
            .and_then(|t| t.split(':').next()?.parse().ok()),
        order: subject
            .strip_prefix("order:")
            .and_then(|o| Some(o.split(':').next()?.to_owned())),
        provider: provider.map(str::to_owned),
        ledger: ledger.map(str::to_owned),
    }
}

/// A discrepancies frame of exactly [`frames::discrepancy_schema`].
fn findings(rows: &[Finding<'_>]) -> DataFrame {
    frame(&rows.iter().map(F::from).collect::<Vec<_>>())
}

/// A discrepancies frame of exactly [`frames::discrepancy_schema`].
fn frame(rows: &[F]) -> DataFrame {
    let n = rows.len();
    let text = |name: &str, f: &dyn Fn(&F) -> Option<String>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let money = |name: &str, f: &dyn Fn(&F) -> Option<i128>| {
        Int128Chunked::from_iter_options(name.into(), rows.iter().map(f))
            .into_decimal(frames::PRECISION, frames::MONEY_SCALE)
            .unwrap()
            .into_column()
    };
    let date = |name: &str, f: &dyn Fn(&F) -> Option<i32>| {
        Int32Chunked::from_iter_options(name.into(), rows.iter().map(f))
            .into_date()
            .into_column()
    };
    let diff =
        |r: &F| crate::load::provider::mantissa_at(r.diff.parse().unwrap(), frames::MONEY_SCALE);
    let cols = vec![
        text("key", &|r| Some(r.key.clone())),
        text("class", &|r| Some(r.class.clone())),
        text("rule", &|_| Some("amount.sql".into())),
        Column::new("probable".into(), vec![false; n]),
        text("currency", &|_| Some("USD".into())),
        money("expected", &|_| Some(0)),
        money("actual", &diff),
        money("difference", &diff),
        Column::new(
            "transaction_id".into(),
            rows.iter().map(|r| r.txn).collect::<Vec<_>>(),
        ),
        text("order_id", &|r| r.order.clone()),
        date("provider_date", &|r| {
            r.provider.as_deref().map(|d| days_from_date(day(d)))
        }),
        date("ledger_date", &|r| {
            r.ledger.as_deref().map(|d| days_from_date(day(d)))
        }),
        text("provider_rows", &|_| None),
        text("ledger_rows", &|_| None),
        text("detail", &|_| Some("differs".into())),
    ];
    let df = DataFrame::new(n, cols).unwrap();
    frames::check_schema(&df, &frames::discrepancy_schema(), "test").unwrap();
    df
}

/// A run with the default governing date (Xsolla's).
fn run<'a>(id: &'a str, date: NaiveDate, window: Window) -> RunRef<'a> {
    RunRef {
        id,
        date,
        window,
        governing: GoverningDate::Provider,
    }
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
    let u = s
        .update(&first, run("run-1", day("2026-11-01"), oct))
        .unwrap();
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
    let u = s
        .update(&second, run("run-2", day("2026-11-02"), oct))
        .unwrap();
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
        .update(&findings(&[]), run("run-3", day("2026-12-01"), nov))
        .unwrap();
    assert_eq!(u.resolved, keys(&["nodate"]));
    assert_eq!(s.age_days("a", day("2026-12-01")), Some(30));
    assert_eq!(s.open_count(), 2);

    // A run re-checking the first half of October resolves `a` only.
    let early = window("2026-10-01", "2026-10-15");
    let u = s
        .update(&findings(&[]), run("run-4", day("2026-12-02"), early))
        .unwrap();
    assert_eq!(u.resolved, keys(&["a"]));
    assert!(u.new.is_empty() && u.still_open.is_empty());
    let a = s.get("a").unwrap();
    assert_eq!(
        a.status,
        ItemStatus::Resolved {
            on: day("2026-12-02"),
            run_id: "run-4".into(),
            reason: Resolution::NotFound,
            superseded_by: None,
        }
    );
    // A resolved item's age stops at its resolution.
    assert_eq!(s.age_days("a", day("2027-01-01")), Some(31));
    assert_eq!(s.get("b").unwrap().status, ItemStatus::Open);

    // It comes back: a new occurrence, aged from that run.
    let u = s
        .update(
            &findings(&[Finding("a", "1.5", Some("2026-10-03"))]),
            run("run-5", day("2026-12-03"), early),
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
        run("r1", day("2026-11-01"), oct),
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
        run("r1", day("2026-11-01"), oct),
    )
    .unwrap();
    s.update(
        &findings(&[Finding("z", "0.1", Some("2026-10-03"))]),
        run("r2", day("2026-11-02"), oct),
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
    assert!(text.contains("\"schema\": 2"));

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
        run("r1", day("2026-11-01"), window("2026-10-01", "2026-10-31")),
    )
    .unwrap();
    s.save(tmp.path(), "acme").unwrap();
    let good = std::fs::read_to_string(&path).unwrap();
    for broken in [
        good[..good.len() / 2].to_owned(),
        good.replace("\"schema\": 2", "\"schema\": 99"),
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
        run("r1", day("2026-11-01"), oct),
    )
    .unwrap();
    s.update(
        &findings(&[Finding("open", "1", None), Finding("new", "1", None)]),
        run("r2", day("2026-11-02"), oct),
    )
    .unwrap();
    s.update(
        &findings(&[Finding("open", "1", None)]),
        run("r3", day("2026-11-03"), oct),
    )
    .unwrap();
    // `old` resolved on 11-02, `new` on 11-03; keep one.
    s.prune_resolved(1);
    assert!(s.get("old").is_none());
    assert!(s.get("new").is_some() && s.get("open").is_some());
}

fn status(s: &OpenItems, key: &str) -> ItemStatus {
    s.get(key)
        .unwrap_or_else(|| panic!("no item {key}"))
        .status
        .clone()
}

/// Issue 15: a pair was "resolved" by a night whose window held only one side's date.
#[test]
fn a_sliding_window_resolves_an_item_only_when_it_holds_the_governing_date() {
    let mut s = OpenItems::new("acme");
    let first = window("2026-10-01", "2026-10-08");
    let items = [
        // Xsolla on 10-03, the ledger on 10-09: judged by Xsolla's date.
        f(
            "timing_difference",
            "tx:1:payment",
            Some("2026-10-03"),
            Some("2026-10-09"),
        ),
        // No Xsolla line: the ledger's date governs.
        f(
            "missing_in_provider",
            "order:A:payment",
            None,
            Some("2026-10-08"),
        ),
    ];
    s.update(&frame(&items), run("n1", day("2026-10-08"), first))
        .unwrap();
    // The next window holds the ledger dates only: it judges the ledger-only item, not the pair.
    let next = window("2026-10-08", "2026-10-15");
    let u = s
        .update(&frame(&[]), run("n2", day("2026-10-15"), next))
        .unwrap();
    assert_eq!(u.resolved, keys(&["missing_in_provider:order:A:payment"]));
    assert_eq!(
        status(&s, "timing_difference:tx:1:payment"),
        ItemStatus::Open,
        "the window overlaps the pair's ledger date but not Xsolla's: it cannot judge it"
    );

    // With `governing_date = "ledger"` the same night judges the pair by its ledger date.
    let mut s = OpenItems::new("acme");
    let ledger_run = |id, date, w| RunRef {
        governing: GoverningDate::Ledger,
        ..run(id, date, w)
    };
    s.update(&frame(&items), ledger_run("n1", day("2026-10-08"), first))
        .unwrap();
    let u = s
        .update(&frame(&[]), ledger_run("n2", day("2026-10-15"), next))
        .unwrap();
    assert_eq!(
        u.resolved,
        keys(&[
            "missing_in_provider:order:A:payment",
            "timing_difference:tx:1:payment"
        ])
    );
}

/// Issue 15: a ledger refund Xsolla lacks went status_mismatch → resolved → missing_in_provider.
#[test]
fn a_class_change_of_the_same_subject_supersedes_the_old_item_and_links_both() {
    let mut s = OpenItems::new("acme");
    let w = window("2026-10-13", "2026-10-20");
    let refund = f(
        "status_mismatch",
        "tx:7:cancellation",
        None,
        Some("2026-10-20"),
    );
    let amount = f(
        "amount_mismatch",
        "tx:7:payment",
        Some("2026-10-14"),
        Some("2026-10-14"),
    );
    let by_order = f(
        "missing_in_provider",
        "order:B:payment",
        None,
        Some("2026-10-15"),
    );
    let other = f("amount_mismatch", "tx:9:payment", Some("2026-10-15"), None);
    // Out of the next window: its subject's new finding cannot judge it.
    let early = f(
        "fee_mismatch",
        "tx:8:payment:fees",
        Some("2026-10-13"),
        None,
    );
    let night1 = [refund, amount.clone(), by_order, other, early];
    s.update(&frame(&night1), run("n1", day("2026-10-20"), w))
        .unwrap();

    let next = window("2026-10-14", "2026-10-21");
    let mut refund_now = f(
        "missing_in_provider",
        "tx:7:cancellation",
        None,
        Some("2026-10-20"),
    );
    refund_now.order = Some("B7".into());
    let mut paid_now = f(
        "amount_mismatch",
        "tx:55:payment",
        Some("2026-10-15"),
        Some("2026-10-15"),
    );
    paid_now.order = Some("B".into());
    let night2 = [
        refund_now,
        amount,
        paid_now,
        f("fee_mismatch", "tx:8:payment:net", Some("2026-10-13"), None),
    ];
    let u = s
        .update(&frame(&night2), run("n2", day("2026-10-21"), next))
        .unwrap();
    assert_eq!(
        u.resolved,
        keys(&[
            "amount_mismatch:tx:9:payment",
            "missing_in_provider:order:B:payment",
            "status_mismatch:tx:7:cancellation",
        ])
    );
    let superseded = |by: &str| ItemStatus::Resolved {
        on: day("2026-10-21"),
        run_id: "n2".into(),
        reason: Resolution::Superseded,
        superseded_by: Some(by.into()),
    };
    assert_eq!(
        status(&s, "status_mismatch:tx:7:cancellation"),
        superseded("missing_in_provider:tx:7:cancellation")
    );
    assert_eq!(
        s.get("missing_in_provider:tx:7:cancellation")
            .unwrap()
            .supersedes,
        keys(&["status_mismatch:tx:7:cancellation"])
    );
    // Same order id, now matched to an Xsolla transaction: the same subject.
    assert_eq!(
        status(&s, "missing_in_provider:order:B:payment"),
        superseded("amount_mismatch:tx:55:payment")
    );
    // A finding that simply went away is not found, not superseded.
    assert!(matches!(
        status(&s, "amount_mismatch:tx:9:payment"),
        ItemStatus::Resolved {
            reason: Resolution::NotFound,
            superseded_by: None,
            ..
        }
    ));
    // Still found alongside a new finding of its transaction: nothing to supersede.
    assert_eq!(status(&s, "amount_mismatch:tx:7:payment"), ItemStatus::Open);
    // Outside the window: a new finding of its subject does not judge it.
    assert_eq!(
        status(&s, "fee_mismatch:tx:8:payment:fees"),
        ItemStatus::Open
    );
    assert!(s
        .get("fee_mismatch:tx:8:payment:net")
        .unwrap()
        .supersedes
        .is_empty());
}

#[test]
fn ledger_row_keys_are_a_subject_without_their_kind() {
    let mut s = OpenItems::new("acme");
    let w = window("2026-10-01", "2026-10-31");
    let row = "row:2026-10-05:USD:9.990000::1";
    let old = f(
        "missing_in_provider",
        &format!("{row}:payment"),
        None,
        Some("2026-10-05"),
    );
    s.update(&frame(&[old]), run("n1", day("2026-10-31"), w))
        .unwrap();
    let new = f(
        "status_mismatch",
        &format!("{row}:cancellation"),
        None,
        Some("2026-10-05"),
    );
    s.update(&frame(&[new]), run("n2", day("2026-10-31"), w))
        .unwrap();
    assert!(matches!(
        status(&s, &format!("missing_in_provider:{row}:payment")),
        ItemStatus::Resolved {
            reason: Resolution::Superseded,
            ..
        }
    ));
}

/// Issue 15: a hand rerun of an old range dated resolutions before the last nightly sighting.
#[test]
fn a_rerun_of_an_old_range_never_dates_a_resolution_before_the_last_sighting() {
    let mut s = OpenItems::new("acme");
    let oct = window("2026-10-01", "2026-10-31");
    let late = window("2026-10-25", "2026-11-01");
    let a = f("amount_mismatch", "tx:1:payment", Some("2026-10-20"), None);
    let b = f("amount_mismatch", "tx:2:payment", Some("2026-10-21"), None);
    s.update(
        &frame(&[a.clone(), b.clone()]),
        run("n1", day("2026-10-31"), oct),
    )
    .unwrap();
    // `b` (10-21) is outside the later window: neither seen nor judged.
    s.update(
        &frame(std::slice::from_ref(&a)),
        run("n2", day("2026-11-01"), late),
    )
    .unwrap();
    assert_eq!(
        s.get("amount_mismatch:tx:2:payment").unwrap().seen_by,
        keys(&["n1"])
    );
    assert_eq!(s.runs().latest_run_date, Some(day("2026-11-01")));

    // Finance reruns October (run date 10-31): it sees `a`, no longer `b`.
    let u = s
        .update(&frame(&[a]), run("rerun", day("2026-10-31"), oct))
        .unwrap();
    assert_eq!(u.resolved, keys(&["amount_mismatch:tx:2:payment"]));
    let b = s.get("amount_mismatch:tx:2:payment").unwrap();
    assert_eq!(
        b.status,
        ItemStatus::Resolved {
            on: day("2026-10-31"),
            run_id: "rerun".into(),
            reason: Resolution::NotFound,
            superseded_by: None,
        }
    );
    let a = s.get("amount_mismatch:tx:1:payment").unwrap();
    // Confirmed by the rerun, without moving its last sighting back.
    assert_eq!(a.last_seen, day("2026-11-01"));
    assert_eq!(a.last_run_id, "rerun");
    assert_eq!(a.seen_by, keys(&["n1", "n2", "rerun"]));
    assert_eq!(s.runs().latest_run_date, Some(day("2026-11-01")));
    assert_eq!(s.runs().last_run_id.as_deref(), Some("rerun"));

    // Seen on 11-01 (n2 saw `a`), then a rerun dated 10-31 stops finding it: resolved on
    // 11-01, its last sighting, never before.
    let u = s
        .update(&frame(&[]), run("rerun-2", day("2026-10-31"), oct))
        .unwrap();
    assert_eq!(u.resolved, keys(&["amount_mismatch:tx:1:payment"]));
    assert!(matches!(
        status(&s, "amount_mismatch:tx:1:payment"),
        ItemStatus::Resolved { on, .. } if on == day("2026-11-01")
    ));
    assert_eq!(
        s.age_days("amount_mismatch:tx:1:payment", day("2026-10-31")),
        Some(1)
    );
}

#[test]
fn a_rerun_ages_an_item_first_seen_after_its_run_date_as_zero_not_negative() {
    let mut s = OpenItems::new("acme");
    let oct = window("2026-10-01", "2026-10-31");
    let a = f("amount_mismatch", "tx:1:payment", Some("2026-10-20"), None);
    s.update(
        &frame(std::slice::from_ref(&a)),
        run("n1", day("2026-11-05"), oct),
    )
    .unwrap();
    let aged = s.with_age(&frame(&[a]), day("2026-10-31")).unwrap();
    let age: Vec<Option<i64>> = aged
        .column("age_days")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(age, vec![Some(0)]);
}

#[test]
fn a_version_1_state_file_is_read_and_written_back_as_version_2() {
    let tmp = tempfile::tempdir().unwrap();
    let path = state_path(tmp.path(), "acme").unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let item = |key: &str, status: &str| {
        format!(
            r#""{key}": {{"key": "{key}", "class": "amount_mismatch", "first_seen": "2026-10-01",
              "last_seen": "2026-10-02", "first_run_id": "r1", "last_run_id": "r2",
              "currency": "USD", "difference": "1.5", "transaction_id": 1, "order_id": null,
              "provider_date": "2026-09-30", "ledger_date": null, "status": {status}}}"#
        )
    };
    let v1 = format!(
        r#"{{"schema": 1, "merchant": "acme", "items": {{{}, {}}}}}"#,
        item("a", r#"{"state": "open"}"#),
        item(
            "b",
            r#"{"state": "resolved", "on": "2026-10-03", "run_id": "r3"}"#
        )
    );
    std::fs::write(&path, v1).unwrap();
    let s = OpenItems::load(tmp.path(), "acme").unwrap();
    assert_eq!(status(&s, "a"), ItemStatus::Open);
    assert_eq!(
        status(&s, "b"),
        ItemStatus::Resolved {
            on: day("2026-10-03"),
            run_id: "r3".into(),
            reason: Resolution::NotFound,
            superseded_by: None,
        }
    );
    assert!(s.get("a").unwrap().seen_by.is_empty());
    assert_eq!(s.runs(), &RunLog::default());
    s.save(tmp.path(), "acme").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"schema\": 2"), "{text}");
    assert!(text.contains("\"reason\": \"not_found\""), "{text}");
    assert_eq!(OpenItems::load(tmp.path(), "acme").unwrap(), s);
}

#[test]
fn a_rerun_builds_on_the_same_report_and_a_return_to_earlier_inputs_on_the_latest() {
    let mut log = RunLog::default();
    assert_eq!(
        log.report_base("A"),
        None,
        "the first run builds on nothing"
    );
    log.record_report("A", "r1");
    // The same inputs again: the same base, so the same report id.
    assert_eq!(log.report_base("A"), None);
    log.record_report("A", "r1");
    assert_eq!(log.report_base("B"), Some("r1"));
    log.record_report("B", "r2");
    assert_eq!(log.report_base("B"), Some("r1"), "a rerun of B");
    log.record_report("B", "r2");
    // Back to A's inputs after B: another report, built on B's.
    assert_eq!(log.report_base("A"), Some("r2"));
    log.record_report("A", "r3");
    assert_eq!(log.report_base("A"), Some("r2"), "a rerun of that");
    assert_eq!(log.last_report.as_deref(), Some("r3"));

    // Kept in the state file; a file without these fields reads as before the first run.
    let dir = tempfile::tempdir().unwrap();
    let mut s = OpenItems::new("acme");
    s.record_report("A", "r1");
    s.record_report("B", "r2");
    s.save(dir.path(), "acme").unwrap();
    let back = OpenItems::load(dir.path(), "acme").unwrap();
    assert_eq!(back.runs(), s.runs());
    assert_eq!(back.runs().report_base("A"), Some("r2"));
    let old: RunLog =
        serde_json::from_str(r#"{"last_run_id":null,"latest_run_date":null}"#).unwrap();
    assert_eq!(old, RunLog::default());
}
