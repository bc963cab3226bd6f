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
