use super::smtp::backoff_delay;
use super::*;
use chrono::{TimeZone, Utc};
use std::time::Duration;

fn reply(code: u16, text: &str) -> SmtpFailure {
    SmtpFailure::Reply(SmtpReply {
        code,
        text: text.to_owned(),
    })
}

/// Pins exactly which failures are retried.
#[test]
fn retry_classification_table() {
    let s = |t: &str| t.to_owned();
    let table: Vec<(SmtpFailure, bool)> = vec![
        (reply(421, "4.3.2 service not available"), true),
        (reply(450, "4.2.1 mailbox busy"), true),
        (reply(451, "4.3.0 try later"), true),
        (reply(452, "4.3.1 insufficient storage"), true),
        (reply(454, "4.7.0 temporary authentication failure"), true),
        (reply(500, "5.5.1 unrecognized command"), false),
        (reply(530, "5.7.0 authentication required"), false),
        (reply(535, "5.7.8 authentication failed"), false),
        (reply(550, "5.1.1 no such user"), false),
        (reply(552, "5.3.4 message too big"), false),
        (reply(554, "5.7.1 rejected"), false),
        (SmtpFailure::Connect(s("connection refused")), true),
        (SmtpFailure::Timeout(s("timed out")), true),
        (SmtpFailure::Disconnected(s("incomplete response")), true),
        (
            SmtpFailure::Tls(s("invalid peer certificate: UnknownIssuer")),
            false,
        ),
        (SmtpFailure::Protocol(s("bad reply")), false),
        (
            SmtpFailure::Client(s("no compatible authentication mechanism")),
            false,
        ),
    ];
    for (failure, retry) in table {
        assert_eq!(failure.is_retryable(), retry, "{failure}");
    }
}

#[test]
fn backoff_doubles_and_is_capped() {
    let ms = |r| backoff_delay(1_000, 30_000, r);
    assert_eq!(ms(1), Duration::from_millis(1_000));
    assert_eq!(ms(2), Duration::from_millis(2_000));
    assert_eq!(ms(3), Duration::from_millis(4_000));
    assert_eq!(ms(5), Duration::from_millis(16_000));
    assert_eq!(ms(6), Duration::from_millis(30_000));
    assert_eq!(ms(200), Duration::from_millis(30_000));
    assert_eq!(
        backoff_delay(u64::MAX, u64::MAX, 64),
        Duration::from_millis(u64::MAX)
    );
}

#[test]
fn defaults_and_ports() {
    let s = SmtpSettings::default();
    assert_eq!(s.security, Security::Starttls);
    assert_eq!(s.server(), "localhost:587");
    let tls = SmtpSettings {
        security: Security::Tls,
        ..Default::default()
    };
    assert_eq!(tls.port(), 465);
    let plain = SmtpSettings {
        security: Security::Plain,
        host: "::1".into(),
        ..Default::default()
    };
    assert_eq!(plain.server(), "[::1]:25");
    let explicit = SmtpSettings {
        port: Some(2525),
        ..Default::default()
    };
    assert_eq!(explicit.server(), "localhost:2525");
}

#[test]
fn settings_parse_from_toml_with_defaults_and_reject_unknown_fields() {
    let s: SmtpSettings = toml::from_str(
        "host = \"smtp.example.com\"\nsecurity = \"tls\"\nfrom = \"Finance Bot <recon@example.com>\"\n",
    )
    .unwrap();
    assert_eq!(s.server(), "smtp.example.com:465");
    assert_eq!(s.max_attempts, 4);
    assert_eq!(s.password_env, "SMTP_PASSWORD");
    assert_eq!(s.max_message_bytes, 20 * 1024 * 1024);
    let err = toml::from_str::<SmtpSettings>("password = \"hunter2\"\n").unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
    let r: MailRecipients = toml::from_str("to = [\"a@example.com\"]\nall_clear = true\n").unwrap();
    assert!(r.all_clear && r.cc.is_empty());
}

#[test]
fn settings_problems() {
    let good = SmtpSettings {
        host: "smtp.example.com".into(),
        from: "Finance Bot <recon@example.com>".into(),
        ..Default::default()
    };
    assert_eq!(good.problems(), Vec::<String>::new());

    let bad = SmtpSettings {
        host: "smtp.example.com".into(),
        port: Some(0),
        from: "not an address".into(),
        security: Security::Plain,
        username: Some("bot".into()),
        password_env: "XR_NOTIFY_UNIT_SURELY_UNSET_VAR".into(),
        max_attempts: 0,
        backoff_initial_ms: 10,
        backoff_max_ms: 5,
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..Default::default()
    };
    let p = bad.problems().join("\n");
    for needle in [
        "smtp.port",
        "smtp.from \"not an address\"",
        "clear text",
        "smtp.max_attempts",
        "backoff_initial_ms",
        "smtp.ca_file /nonexistent/ca.pem",
    ] {
        assert!(p.contains(needle), "missing {needle:?} in:\n{p}");
    }
    let empty_from = SmtpSettings::default().problems().join("\n");
    assert!(empty_from.contains("smtp.from is required"), "{empty_from}");
    let bad_env = SmtpSettings {
        password_env: "MY-PASS".into(),
        ..good.clone()
    };
    assert!(bad_env.problems()[0].contains("password_env"));
}

#[test]
fn plain_auth_allowed_only_on_loopback() {
    for (host, ok) in [
        ("localhost", true),
        ("127.0.0.1", true),
        ("::1", true),
        ("[::1]", true),
        ("relay.internal", false),
        ("10.0.0.1", false),
    ] {
        let s = SmtpSettings {
            host: host.into(),
            security: Security::Plain,
            ..Default::default()
        };
        assert_eq!(s.host_is_loopback(), ok, "{host}");
    }
}

#[test]
fn debug_names_the_variable_not_a_value() {
    let s = SmtpSettings {
        username: Some("bot".into()),
        password_env: "XR_PW_VAR".into(),
        ..Default::default()
    };
    let d = format!("{s:?}");
    assert!(
        d.contains("XR_PW_VAR") && d.contains("localhost:587"),
        "{d}"
    );
}

#[test]
fn recipients_rules() {
    let none = MailRecipients::default();
    assert!(none.is_empty());
    assert!(!none.wants_mail(true));
    let r = MailRecipients {
        to: vec!["a@example.com".into()],
        ..Default::default()
    };
    assert!(r.wants_mail(true));
    assert!(!r.wants_mail(false));
    let all = MailRecipients {
        all_clear: true,
        ..r.clone()
    };
    assert!(all.wants_mail(false));
    assert!(r.problems().is_empty());

    let bad = MailRecipients {
        to: vec!["Finance <fin@example.com>".into(), "nope".into()],
        cc: vec!["FIN@example.com".into()],
        bcc: vec![],
        all_clear: false,
        ..Default::default()
    };
    let p = bad.problems().join("\n");
    assert!(p.contains("mail.to: \"nope\""), "{p}");
    assert!(p.contains("listed twice"), "{p}");
    let only_cc = MailRecipients {
        cc: vec!["c@example.com".into()],
        ..Default::default()
    };
    assert!(only_cc.problems()[0].contains("mail.to is empty"));
    let many = MailRecipients {
        to: (0..=MAX_RECIPIENTS)
            .map(|i| format!("u{i}@example.com"))
            .collect(),
        ..Default::default()
    };
    assert!(many.problems().iter().any(|p| p.contains("more than")));
}

fn stamp() -> MessageStamp {
    MessageStamp::for_run(
        "demo/2026-10-01..2026-10-31/r1",
        "Finance Bot <recon@example.com>",
        Utc.with_ymd_and_hms(2026, 11, 1, 3, 0, 0).unwrap() + chrono::Duration::milliseconds(250),
    )
}

#[test]
fn stamp_is_stable_per_run_and_under_the_sender_domain() {
    let a = stamp();
    let b = stamp();
    assert_eq!(a, b);
    assert!(a.message_id.starts_with("<recon.") && a.message_id.ends_with("@example.com>"));
    assert_eq!(a.date, Utc.with_ymd_and_hms(2026, 11, 1, 3, 0, 0).unwrap());
    let other = MessageStamp::for_run("demo/other", "recon@example.com", a.date);
    assert_ne!(a.message_id, other.message_id);
    let fallback = MessageStamp::for_run("x", "garbage", a.date);
    assert!(fallback.message_id.ends_with("@xsolla-recon.invalid>"));
}

fn mail() -> Mail {
    Mail {
        subject: "Recon: 3 discrepancies — Oct 2026".into(),
        html: "<p>Hello <img src=\"cid:chart\"></p>".into(),
        text: "Hello".into(),
        inline: vec![Inline {
            content_id: "chart".into(),
            content_type: "image/png".into(),
            bytes: vec![0x89, b'P', b'N', b'G', 0, 1, 2, 255],
        }],
        attachments: vec![Attachment {
            filename: "discrepancies.csv".into(),
            content_type: "text/csv".into(),
            bytes: b"id,amount\r\n1,10.00\r\n".to_vec(),
        }],
    }
}

fn rcpt() -> MailRecipients {
    MailRecipients {
        to: vec!["Finance <fin@example.com>".into()],
        cc: vec!["cfo@example.com".into()],
        bcc: vec!["audit@example.com".into()],
        all_clear: false,
        ..Default::default()
    }
}

#[test]
fn message_is_deterministic_and_hides_bcc() {
    let from = "Finance Bot <recon@example.com>";
    let a = build_message(from, &rcpt(), &mail(), &stamp()).unwrap();
    let b = build_message(from, &rcpt(), &mail(), &stamp()).unwrap();
    assert_eq!(a.formatted(), b.formatted());
    let text = String::from_utf8(a.formatted()).unwrap();
    assert!(
        text.contains(&format!("Message-ID: {}", stamp().message_id)),
        "{text}"
    );
    assert!(
        text.contains("Date: Sun, 01 Nov 2026 03:00:00 +0000"),
        "{text}"
    );
    assert!(!text.contains("audit@example.com"));
    let rcpts: Vec<String> = a.envelope().to().iter().map(|a| a.to_string()).collect();
    assert_eq!(
        rcpts,
        ["fin@example.com", "cfo@example.com", "audit@example.com"]
    );
    // alternative[text, related[html, png]] inside mixed with the attachment.
    let mix = text.find("multipart/mixed").unwrap();
    let alt = text.find("multipart/alternative").unwrap();
    let rel = text.find("multipart/related").unwrap();
    assert!(mix < alt && alt < rel);
}

#[test]
fn message_without_inline_or_attachments_is_just_alternative() {
    let m = Mail {
        inline: vec![],
        attachments: vec![],
        ..mail()
    };
    let text = String::from_utf8(
        build_message("recon@example.com", &rcpt(), &m, &stamp())
            .unwrap()
            .formatted(),
    )
    .unwrap();
    assert!(text.contains("multipart/alternative"));
    assert!(!text.contains("multipart/mixed") && !text.contains("multipart/related"));
}

#[test]
fn message_errors_name_the_field() {
    let e = build_message(
        "recon@example.com",
        &MailRecipients::default(),
        &mail(),
        &stamp(),
    )
    .unwrap_err();
    assert!(matches!(e, NotifyError::NoRecipients));
    let bad = MailRecipients {
        cc: vec!["x@@y".into()],
        ..rcpt()
    };
    let e = build_message("recon@example.com", &bad, &mail(), &stamp()).unwrap_err();
    assert!(e.to_string().starts_with("cc address \"x@@y\""), "{e}");
    let e = build_message("nobody", &rcpt(), &mail(), &stamp()).unwrap_err();
    assert!(e.to_string().starts_with("from address"), "{e}");
    let mut m = mail();
    m.attachments[0].content_type = "not a type".into();
    let e = build_message("recon@example.com", &rcpt(), &m, &stamp()).unwrap_err();
    assert!(e.to_string().contains("content type \"not a type\""), "{e}");
}

/// The job's fallback sender (no `[smtp]`, the demo) and the lead's CSV type with a charset.
#[test]
fn demo_sender_and_content_type_parameters_are_accepted() {
    let from = "xsolla-recon <xsolla-recon@localhost>";
    let st = MessageStamp::for_run("demo", from, stamp().date);
    assert!(st.message_id.ends_with("@localhost>"), "{}", st.message_id);
    let mut m = mail();
    m.attachments[0].content_type = "text/csv; charset=utf-8".into();
    let text =
        String::from_utf8(build_message(from, &rcpt(), &m, &st).unwrap().formatted()).unwrap();
    assert!(
        text.contains("Content-Type: text/csv; charset=utf-8"),
        "{text}"
    );
}
