use super::*;

fn line(key: &str, action: Action, why: &str) -> LogLine {
    LogLine {
        time: "2026-11-02T08:00:00Z".parse().unwrap(),
        by: "alice".into(),
        key: key.into(),
        action,
        why: why.into(),
        until: None,
        previous: ItemState::Open,
        class: "amount_mismatch".into(),
        currency: "USD".into(),
        difference: Decimal::new(-1250, 2),
        source: "cli".into(),
        prev: String::new(),
        hash: String::new(),
    }
}

#[test]
fn the_chain_verifies_and_an_edited_or_removed_line_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = AuditLog::load(tmp.path(), "acme").unwrap();
    assert!(log.head().is_none());
    log.append(vec![
        line("k1", Action::Accept, "refund booked manually in SAP"),
        line("k2", Action::Note, "ask Xsolla"),
        line("k1", Action::Reopen, "not booked after all"),
    ])
    .unwrap();
    let back = verify_file(log.path()).unwrap();
    assert_eq!(back.len(), 3);
    assert_eq!(back[1].prev, back[0].hash);
    let d = AuditLog::load(tmp.path(), "acme").unwrap().decisions();
    assert!(d.get("k1").unwrap().active.is_none());
    assert_eq!(
        d.get("k1").unwrap().reopened.as_ref().unwrap().why,
        "not booked after all"
    );
    assert_eq!(
        d.get("k2").unwrap().note.as_ref().unwrap().why,
        "ask Xsolla"
    );

    let text = std::fs::read_to_string(log.path()).unwrap();
    let edited = text.replacen("ask Xsolla", "ask Xsolla today", 1);
    std::fs::write(log.path(), &edited).unwrap();
    let e = verify_file(log.path()).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("edited"), "{e}");

    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(log.path(), format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    let e = verify_file(log.path()).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("removed"), "{e}");
    std::fs::write(log.path(), "not json\n").unwrap();
    let e = AuditLog::load(tmp.path(), "acme").unwrap_err().to_string();
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn words_parse_both_ways() {
    for a in [Action::Accept, Action::Snooze, Action::Reopen, Action::Note] {
        assert_eq!(Action::parse(&a.word().to_uppercase()), Some(a));
    }
    assert_eq!(Action::parse("maybe"), None);
    assert_eq!(ItemState::parse(" Snoozed "), Some(ItemState::Snoozed));
    assert_eq!(ItemState::parse("x"), None);
}

/// A store with `items` (key, class, difference, state JSON, supersedes) as `open_items.json`.
fn store(dir: &std::path::Path, items: &[(&str, &str, &str, &str, &[&str])]) -> OpenItems {
    let mut map = serde_json::Map::new();
    for (key, class, diff, status, supersedes) in items {
        let item = serde_json::json!({
            "key": key, "class": class, "first_seen": "2026-11-01", "last_seen": "2026-11-20",
            "first_run_id": "r1", "last_run_id": "r2", "currency": "USD", "difference": diff,
            "transaction_id": 7, "order_id": null, "provider_date": "2026-11-01",
            "ledger_date": null, "status": serde_json::from_str::<serde_json::Value>(status).unwrap(),
            "supersedes": supersedes, "seen_by": ["r1"],
        });
        map.insert((*key).to_owned(), item);
    }
    let file = serde_json::json!({"schema": 2, "merchant": "acme", "items": map});
    let path = state_path(dir, "acme").unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    OpenItems::load(dir, "acme").unwrap()
}

fn req(key: &str, action: Action, why: &str, until: Option<&str>) -> Request {
    Request {
        key: key.into(),
        action,
        why: why.into(),
        until: until.map(|u| u.parse().unwrap()),
        by: "bob".into(),
        source: "cli".into(),
    }
}

#[test]
fn marks_follow_the_decisions_and_reopen_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    const OPEN: &str = r#"{"state":"open"}"#;
    let gone = r#"{"state":"resolved","on":"2026-11-20","run_id":"r2","reason":"superseded","superseded_by":"status_mismatch:tx:7"}"#;
    let s = store(
        tmp.path(),
        &[
            (
                "amount_mismatch:tx:1",
                "amount_mismatch",
                "-12.5",
                OPEN,
                &[],
            ),
            ("amount_mismatch:tx:2", "amount_mismatch", "3", OPEN, &[]),
            ("amount_mismatch:tx:7", "amount_mismatch", "1", gone, &[]),
            (
                "status_mismatch:tx:7",
                "status_mismatch",
                "1",
                OPEN,
                &["amount_mismatch:tx:7"],
            ),
        ],
    );
    let now: DateTime<Utc> = "2026-11-21T09:00:00Z".parse().unwrap();
    let as_of: NaiveDate = "2026-11-20".parse().unwrap();
    let mut log = AuditLog::load(tmp.path(), "acme").unwrap();
    let apply = |log: &mut AuditLog, r: Request| match check(&r, &s, &log.decisions(), as_of, now)
        .unwrap()
    {
        Checked::Apply(l) => log.stage(*l),
        Checked::Unchanged(why) => panic!("unchanged: {why}"),
    };
    // Refused: unknown key, resolved item, snooze without a later date, accept without reason.
    let d = log.decisions();
    for (r, want) in [
        (req("x", Action::Accept, "r", None), "unknown key"),
        (
            req("amount_mismatch:tx:7", Action::Accept, "r", None),
            "already resolved",
        ),
        (
            req(
                "amount_mismatch:tx:2",
                Action::Snooze,
                "r",
                Some("2026-11-20"),
            ),
            "bad date",
        ),
        (
            req("amount_mismatch:tx:2", Action::Snooze, "r", None),
            "needs a date",
        ),
        (
            req("amount_mismatch:tx:1", Action::Accept, "  ", None),
            "needs a reason",
        ),
    ] {
        let e = check(&r, &s, &d, as_of, now).unwrap_err();
        assert!(e.contains(want), "{e}");
    }
    apply(
        &mut log,
        req(
            "amount_mismatch:tx:1",
            Action::Accept,
            "booked in SAP",
            None,
        ),
    );
    apply(
        &mut log,
        req(
            "amount_mismatch:tx:2",
            Action::Snooze,
            "ask",
            Some("2026-11-25"),
        ),
    );
    let d = log.decisions();
    let item = |k: &str| s.get(k).unwrap();
    let m = d.mark(item("amount_mismatch:tx:1"), &s, as_of);
    assert_eq!(m.state, ItemState::Accepted);
    assert!(m.text().contains("by bob: booked in SAP"), "{}", m.text());
    let m = d.mark(item("amount_mismatch:tx:2"), &s, as_of);
    assert_eq!(
        (m.state, m.until),
        (ItemState::Snoozed, "2026-11-25".parse().ok())
    );
    // The snooze ends on its date, judged at the run's date.
    let later: NaiveDate = "2026-11-25".parse().unwrap();
    let m = d.mark(item("amount_mismatch:tx:2"), &s, later);
    assert_eq!(m.state, ItemState::Open);
    assert!(
        m.text().contains("the snooze ended on 2026-11-25"),
        "{}",
        m.text()
    );
    // Accepting it again with the same text records nothing.
    let again = check(
        &req(
            "amount_mismatch:tx:1",
            Action::Accept,
            "booked in SAP",
            None,
        ),
        &s,
        &d,
        as_of,
        now,
    );
    assert!(matches!(again, Ok(Checked::Unchanged(_))), "{again:?}");

    // The difference changes: open again, saying from what to what.
    let s2 = store(
        tmp.path(),
        &[(
            "amount_mismatch:tx:1",
            "amount_mismatch",
            "-13.5",
            OPEN,
            &[],
        )],
    );
    let m = d.mark(s2.get("amount_mismatch:tx:1").unwrap(), &s2, as_of);
    assert_eq!(m.state, ItemState::Open);
    assert!(
        m.text()
            .contains("the difference changed from -12.5 to -13.5 USD"),
        "{}",
        m.text()
    );

    // The same subject under a new class: the accepted old key makes the new one say why.
    let mut log2 = AuditLog::default();
    log2.stage(LogLine {
        key: "amount_mismatch:tx:7".into(),
        ..line("amount_mismatch:tx:7", Action::Accept, "known")
    });
    let m = log2
        .decisions()
        .mark(item("status_mismatch:tx:7"), &s, as_of);
    assert_eq!(m.state, ItemState::Open);
    assert!(
        m.text()
            .contains("the class changed from amount_mismatch to status_mismatch"),
        "{}",
        m.text()
    );
}
