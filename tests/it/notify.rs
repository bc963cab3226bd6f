//! The mail module against the real test SMTP server over loopback TCP: every security mode,
//! AUTH, retries and their limits, idempotent delivery, the .eml demo, secrets kept out.

use crate::support::smtp_server::{FailAt, Received, SmtpOptions, SmtpServer, SmtpTls};
use chrono::{TimeZone, Utc};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use std::time::Duration;
use xsolla_recon::deliver::{
    self, Attachment, Delivery, GiveUp, Inline, Mail, MailRecipients, MessageStamp, NotifyError,
    Security, SmtpFailure, SmtpSettings,
};

const FROM: &str = "Finance Bot <recon@example.com>";
const USER: &str = "recon-bot";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    b.extend((0..=255u8).rev());
    b
}

/// BOM, bare LF, CRLF, non-ASCII and a line starting with a dot: all must survive exactly.
fn csv() -> Vec<u8> {
    "\u{feff}id;amount;note\n1;10.00;café\r\n.2;-3.50;\"a\nb\"\n"
        .as_bytes()
        .to_vec()
}

fn xlsx() -> Vec<u8> {
    let mut b = b"PK\x03\x04".to_vec();
    for i in 0..4096u32 {
        b.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
    }
    b
}

fn mail() -> Mail {
    Mail {
        subject: "Réconciliation demo: 3 écarts — Oct 2026".into(),
        html: "<html><body><h1>3 discrepancies</h1><img src=\"cid:chart\" alt=\"chart\"></body></html>"
            .into(),
        text: "3 discrepancies\r\n.a line starting with a dot\r\nTotal: 12.50 EUR".into(),
        inline: vec![Inline {
            content_id: "chart".into(),
            content_type: "image/png".into(),
            bytes: png(),
        }],
        attachments: vec![
            Attachment {
                filename: "discrepancies.csv".into(),
                content_type: "text/csv".into(),
                bytes: csv(),
            },
            Attachment {
                filename: "discrepancies.xlsx".into(),
                content_type: XLSX.into(),
                bytes: xlsx(),
            },
        ],
    }
}

fn recipients() -> MailRecipients {
    MailRecipients {
        to: vec!["Finance Team <finance@example.com>".into()],
        cc: vec!["cfo@example.com".into()],
        bcc: vec!["audit@example.com".into()],
        all_clear: false,
        ..Default::default()
    }
}

fn stamp(key: &str) -> MessageStamp {
    MessageStamp::for_run(
        key,
        FROM,
        Utc.with_ymd_and_hms(2026, 11, 1, 3, 0, 0).unwrap(),
    )
}

/// Settings for `server`, with fast retries.
fn settings(server: &SmtpServer, security: Security, host: &str) -> SmtpSettings {
    SmtpSettings {
        host: host.into(),
        port: Some(server.port),
        security,
        from: FROM.into(),
        helo_name: Some("recon.test".into()),
        timeout_ms: 5_000,
        max_attempts: 3,
        backoff_initial_ms: 5,
        backoff_max_ms: 20,
        ca_file: server.ca_pem_path(),
        ..Default::default()
    }
}

fn with_auth(mut s: SmtpSettings, var: &str, password: &str) -> SmtpSettings {
    // A variable per test: tests run in parallel threads.
    std::env::set_var(var, password);
    s.username = Some(USER.into());
    s.password_env = var.into();
    s
}

/// Parses `data` and checks every part of [`mail()`] is there, exactly.
fn assert_full_message(data: &[u8], st: &MessageStamp) {
    let m = MessageParser::default()
        .parse(data)
        .expect("parseable message");
    assert_eq!(m.subject(), Some(mail().subject.as_str()));
    let from = m.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.address(), Some("recon@example.com"));
    assert_eq!(from.name(), Some("Finance Bot"));
    let to: Vec<_> = m.to().unwrap().iter().filter_map(|a| a.address()).collect();
    assert_eq!(to, ["finance@example.com"]);
    let cc: Vec<_> = m.cc().unwrap().iter().filter_map(|a| a.address()).collect();
    assert_eq!(cc, ["cfo@example.com"]);
    assert!(m.bcc().is_none(), "Bcc must not be in the headers");
    assert!(!String::from_utf8_lossy(data).contains("audit@example.com"));
    assert_eq!(m.message_id(), Some(st.message_id.trim_matches(['<', '>'])));
    assert_eq!(m.date().unwrap().to_timestamp(), st.date.timestamp());

    assert_eq!(m.body_html(0).unwrap(), mail().html);
    assert_eq!(m.body_text(0).unwrap(), mail().text);

    let chart = m
        .parts
        .iter()
        .find(|p| p.content_id() == Some("chart"))
        .expect("inline part with Content-ID chart");
    assert_eq!(chart.content_type().unwrap().ctype(), "image");
    assert_eq!(chart.content_type().unwrap().subtype(), Some("png"));
    assert_eq!(chart.contents(), png().as_slice());

    for (name, ctype, bytes) in [
        ("discrepancies.csv", "text/csv", csv()),
        ("discrepancies.xlsx", XLSX, xlsx()),
    ] {
        let part = m
            .attachments()
            .find(|p| p.attachment_name() == Some(name))
            .unwrap_or_else(|| panic!("attachment {name}"));
        let ct = part.content_type().unwrap();
        assert_eq!(format!("{}/{}", ct.ctype(), ct.subtype().unwrap()), ctype);
        let got: &[u8] = match &part.body {
            PartType::Binary(b) | PartType::InlineBinary(b) => b,
            PartType::Text(t) => t.as_bytes(),
            other => panic!("{name}: unexpected body {other:?}"),
        };
        assert_eq!(got, bytes.as_slice(), "{name} byte for byte");
    }
    // The chart sits in multipart/related with the HTML, inside multipart/alternative.
    let raw = String::from_utf8_lossy(data);
    let alt = raw.find("multipart/alternative").unwrap();
    let rel = raw.find("multipart/related").unwrap();
    assert!(alt < rel);
}

fn assert_envelope(r: &Received) {
    assert_eq!(r.mail_from, "recon@example.com");
    assert_eq!(
        r.rcpt_to,
        [
            "finance@example.com",
            "cfo@example.com",
            "audit@example.com"
        ]
    );
}

fn wait_one(server: &SmtpServer) -> Received {
    let got = server.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1, "exactly one message");
    got.into_iter().next().unwrap()
}

#[test]
fn plain_with_auth_on_loopback_delivers_every_part() {
    let server = SmtpServer::start(SmtpOptions {
        auth: Some((USER.into(), "plain-pw-1".into())),
        ..Default::default()
    });
    let s = with_auth(
        settings(&server, Security::Plain, "127.0.0.1"),
        "XR_NOTIFY_PW_PLAIN",
        "plain-pw-1",
    );
    let st = stamp("plain");
    deliver::send(&s, &recipients(), &mail(), &st).unwrap();
    let r = wait_one(&server);
    assert_envelope(&r);
    assert_eq!(r.auth_user.as_deref(), Some(USER));
    assert!(!r.tls);
    assert_full_message(&r.data, &st);
}

#[test]
fn starttls_with_auth_delivers_every_part() {
    let server = SmtpServer::start(SmtpOptions {
        tls: SmtpTls::Starttls,
        auth: Some((USER.into(), "starttls-pw-2".into())),
        ..Default::default()
    });
    let s = with_auth(
        settings(&server, Security::Starttls, "localhost"),
        "XR_NOTIFY_PW_STARTTLS",
        "starttls-pw-2",
    );
    let st = stamp("starttls");
    deliver::send(&s, &recipients(), &mail(), &st).unwrap();
    let r = wait_one(&server);
    assert!(r.tls, "the transaction ran after STARTTLS");
    assert_eq!(r.auth_user.as_deref(), Some(USER));
    assert_envelope(&r);
    assert_full_message(&r.data, &st);
}

#[test]
fn implicit_tls_with_auth_delivers_every_part() {
    let server = SmtpServer::start(SmtpOptions {
        tls: SmtpTls::Implicit,
        auth: Some((USER.into(), "tls-pw-3".into())),
        ..Default::default()
    });
    let s = with_auth(
        settings(&server, Security::Tls, "localhost"),
        "XR_NOTIFY_PW_TLS",
        "tls-pw-3",
    );
    let st = stamp("tls");
    deliver::send(&s, &recipients(), &mail(), &st).unwrap();
    let r = wait_one(&server);
    assert!(r.tls);
    assert_eq!(r.auth_user.as_deref(), Some(USER));
    assert_envelope(&r);
    assert_full_message(&r.data, &st);
}

#[test]
fn untrusted_certificate_fails_once_without_retry() {
    let server = SmtpServer::start(SmtpOptions {
        tls: SmtpTls::Starttls,
        ..Default::default()
    });
    let mut s = settings(&server, Security::Starttls, "localhost");
    s.ca_file = None;
    let err = deliver::send(&s, &recipients(), &mail(), &stamp("untrusted")).unwrap_err();
    match &err {
        NotifyError::Send {
            attempts, failure, ..
        } => {
            assert_eq!(*attempts, 1, "{err}");
            assert!(matches!(failure, SmtpFailure::Tls(_)), "{err}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(server.connections(), 1);
    assert!(server.received().is_empty());

    // accept_invalid_certs lets the same server through.
    s.accept_invalid_certs = true;
    deliver::send(&s, &recipients(), &mail(), &stamp("untrusted")).unwrap();
    assert_eq!(server.wait_for(1, Duration::from_secs(5)).len(), 1);
}

#[test]
fn transient_451_is_retried_and_sent_once_on_the_third_attempt() {
    let server = SmtpServer::start(SmtpOptions {
        fail_first: 2,
        fail_reply: "451 4.3.0 try later".into(),
        ..Default::default()
    });
    let s = settings(&server, Security::Plain, "127.0.0.1");
    deliver::send(&s, &recipients(), &mail(), &stamp("retry")).unwrap();
    assert_eq!(server.transactions(), 3);
    assert_eq!(server.received().len(), 1);
}

#[test]
fn transient_replies_stop_after_max_attempts() {
    let server = SmtpServer::start(SmtpOptions {
        fail_first: 10,
        fail_reply: "421 4.3.2 shutting down".into(),
        fail_at: FailAt::MailFrom,
        ..Default::default()
    });
    let s = settings(&server, Security::Plain, "127.0.0.1");
    let err = deliver::send(&s, &recipients(), &mail(), &stamp("exhaust")).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            NotifyError::Send {
                attempts: 3,
                give_up: GiveUp::AttemptsExhausted,
                ..
            }
        ),
        "{text}"
    );
    assert_eq!(err.reply().map(|r| r.code), Some(421));
    assert!(text.contains("4.3.2 shutting down"), "{text}");
    assert_eq!(server.transactions(), 3);
    assert!(server.received().is_empty());
}

#[test]
fn permanent_554_is_not_retried_and_named() {
    let server = SmtpServer::start(SmtpOptions {
        fail_first: 1,
        fail_reply: "554 5.7.1 rejected".into(),
        ..Default::default()
    });
    let s = settings(&server, Security::Plain, "127.0.0.1");
    let err = deliver::send(&s, &recipients(), &mail(), &stamp("perm")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{}", server.port)),
        "{text}"
    );
    assert!(text.contains("554 5.7.1 rejected"), "{text}");
    assert!(
        text.contains("1 attempt(s)") && text.contains("not retried"),
        "{text}"
    );
    assert_eq!(err.reply().map(|r| r.code), Some(554));
    assert_eq!(server.transactions(), 1);
    assert!(server.received().is_empty());
}

#[test]
fn server_down_fails_after_max_attempts_naming_the_server() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = SmtpSettings {
        host: "127.0.0.1".into(),
        port: Some(port),
        security: Security::Plain,
        from: FROM.into(),
        timeout_ms: 2_000,
        max_attempts: 3,
        backoff_initial_ms: 5,
        backoff_max_ms: 20,
        ..Default::default()
    };
    let err = deliver::send(&s, &recipients(), &mail(), &stamp("down")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("3 attempt(s)"), "{text}");
    assert!(
        matches!(
            err,
            NotifyError::Send {
                failure: SmtpFailure::Connect(_),
                give_up: GiveUp::AttemptsExhausted,
                ..
            }
        ),
        "{text}"
    );
}

#[test]
fn connection_dropped_after_data_is_retried() {
    let server = SmtpServer::start(SmtpOptions {
        drop_after_data_first: 1,
        ..Default::default()
    });
    let s = settings(&server, Security::Plain, "127.0.0.1");
    deliver::send(&s, &recipients(), &mail(), &stamp("drop")).unwrap();
    assert_eq!(server.transactions(), 2);
    assert_eq!(server.received().len(), 1);
}

#[test]
fn hung_server_times_out_and_is_retried() {
    let server = SmtpServer::start(SmtpOptions {
        stall_first_connections: 1,
        ..Default::default()
    });
    let mut s = settings(&server, Security::Plain, "127.0.0.1");
    s.timeout_ms = 300;
    deliver::send(&s, &recipients(), &mail(), &stamp("hung")).unwrap();
    assert_eq!(server.connections(), 2);
    assert_eq!(server.received().len(), 1);
}

#[test]
fn too_large_fails_before_connecting() {
    let server = SmtpServer::start(SmtpOptions::default());
    let mut s = settings(&server, Security::Plain, "127.0.0.1");
    s.max_message_bytes = 4_000;
    let err = deliver::send(&s, &recipients(), &mail(), &stamp("big")).unwrap_err();
    assert!(
        matches!(err, NotifyError::TooLarge { limit: 4_000, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&s.server()), "{err}");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(server.connections(), 0);
}

#[test]
fn missing_password_variable_fails_before_connecting() {
    let server = SmtpServer::start(SmtpOptions::default());
    let mut s = settings(&server, Security::Plain, "127.0.0.1");
    s.username = Some(USER.into());
    s.password_env = "XR_NOTIFY_PW_NEVER_SET".into();
    let err = deliver::send(&s, &recipients(), &mail(), &stamp("nopw")).unwrap_err();
    assert!(matches!(err, NotifyError::MissingPassword { .. }), "{err}");
    assert!(err.to_string().contains("XR_NOTIFY_PW_NEVER_SET"), "{err}");
    assert_eq!(server.connections(), 0);
}

#[test]
fn wrong_password_fails_without_retry_and_never_shows_the_password() {
    const SENTINEL: &str = "S3ntinel-Pa55word-do-not-print";
    let server = SmtpServer::start(SmtpOptions {
        tls: SmtpTls::Starttls,
        auth: Some((USER.into(), "the-right-one".into())),
        ..Default::default()
    });
    let s = with_auth(
        settings(&server, Security::Starttls, "localhost"),
        "XR_NOTIFY_PW_WRONG",
        SENTINEL,
    );
    let err = deliver::send(&s, &recipients(), &mail(), &stamp("wrongpw")).unwrap_err();
    let shown = format!("{err}\n{err:?}\n{s:?}");
    assert!(!shown.contains(SENTINEL), "{shown}");
    assert!(shown.contains("535"), "{shown}");
    assert!(shown.contains(&s.server()), "{shown}");
    assert!(matches!(
        err,
        NotifyError::Send {
            attempts: 1,
            give_up: GiveUp::NotRetryable,
            ..
        }
    ));
    assert_eq!(server.auth_failures(), 1);
    assert!(server.received().is_empty());
    let problems = s.problems().join("\n");
    assert!(!problems.contains(SENTINEL));
}

#[test]
fn deliver_once_sends_once_per_stamp_and_records_it() {
    let server = SmtpServer::start(SmtpOptions::default());
    let s = settings(&server, Security::Plain, "127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let st = stamp("once");
    let first = deliver::deliver_once(dir.path(), &s, &recipients(), &mail(), &st).unwrap();
    assert_eq!(first, Delivery::Sent);
    let again = deliver::deliver_once(dir.path(), &s, &recipients(), &mail(), &st).unwrap();
    assert_eq!(again, Delivery::AlreadySent);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(server.received().len(), 1);
    assert_eq!(server.transactions(), 1);

    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(deliver::MAIL_RECORD_FILE)).unwrap())
            .unwrap();
    assert_eq!(record["message_id"], st.message_id.as_str());
    assert_eq!(record["server"], s.server().as_str());
    assert_eq!(record["to"][0], "Finance Team <finance@example.com>");
    assert_eq!(record["bcc"][0], "audit@example.com");
    assert_eq!(record["attempts"], 1);
    assert!(record["sent_at"].as_str().unwrap().starts_with("20"));

    // Another run's stamp in the same folder is another message: it is sent.
    let other = stamp("once-rerun-with-new-report");
    let third = deliver::deliver_once(dir.path(), &s, &recipients(), &mail(), &other).unwrap();
    assert_eq!(third, Delivery::Sent);
    assert_eq!(server.wait_for(2, Duration::from_secs(5)).len(), 2);
}

#[test]
fn deliver_once_does_not_record_a_failed_send() {
    let server = SmtpServer::start(SmtpOptions {
        fail_first: 1,
        fail_reply: "550 5.1.1 no such user".into(),
        ..Default::default()
    });
    let s = settings(&server, Security::Plain, "127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let st = stamp("fail-then-ok");
    deliver::deliver_once(dir.path(), &s, &recipients(), &mail(), &st).unwrap_err();
    assert!(!dir.path().join(deliver::MAIL_RECORD_FILE).exists());
    // The rerun sends (the server now accepts).
    let d = deliver::deliver_once(dir.path(), &s, &recipients(), &mail(), &st).unwrap();
    assert_eq!(d, Delivery::Sent);
    assert_eq!(server.received().len(), 1);
}

#[test]
fn deliver_once_refuses_a_corrupt_record() {
    let server = SmtpServer::start(SmtpOptions::default());
    let s = settings(&server, Security::Plain, "127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(deliver::MAIL_RECORD_FILE);
    std::fs::write(&path, b"{ not json").unwrap();
    let err = deliver::deliver_once(dir.path(), &s, &recipients(), &mail(), &stamp("corrupt"))
        .unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(server.connections(), 0);
}

#[test]
fn write_eml_produces_a_parseable_message_with_every_part() {
    let dir = tempfile::tempdir().unwrap();
    let st = stamp("eml");
    let path = deliver::write_eml(dir.path(), FROM, &recipients(), &mail(), &st).unwrap();
    assert_eq!(path, dir.path().join("email.eml"));
    let bytes = std::fs::read(&path).unwrap();
    assert_full_message(&bytes, &st);
    // Same run, same bytes.
    deliver::write_eml(dir.path(), FROM, &recipients(), &mail(), &st).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    // No temp files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["email.eml"]);
}

#[test]
fn a_reply_echoing_the_password_is_redacted() {
    const SENTINEL: &str = "Echo-Sentinel-77";
    let server = SmtpServer::start(SmtpOptions {
        auth: Some((USER.into(), SENTINEL.into())),
        fail_first: 1,
        fail_reply: format!("554 5.7.1 rejected for {SENTINEL}"),
        ..Default::default()
    });
    let s = with_auth(
        settings(&server, Security::Plain, "127.0.0.1"),
        "XR_NOTIFY_PW_ECHO",
        SENTINEL,
    );
    let err = deliver::send(&s, &recipients(), &mail(), &stamp("echo")).unwrap_err();
    let shown = format!("{err}\n{err:?}");
    assert!(!shown.contains(SENTINEL), "{shown}");
    assert!(shown.contains("rejected for [redacted]"), "{shown}");
}

/// The test server itself, spoken to by hand: HELO, RSET, NOOP, dot-unstuffing, AUTH LOGIN.
#[test]
fn test_server_speaks_raw_smtp() {
    use base64::Engine as _;
    use std::io::{BufRead, BufReader, Write};
    let server = SmtpServer::start(SmtpOptions {
        auth: Some(("u".into(), "p".into())),
        ..Default::default()
    });
    let tcp = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = tcp.try_clone().unwrap();
    let mut r = BufReader::new(tcp);
    let mut expect = |send: &str, code: &str| {
        if !send.is_empty() {
            w.write_all(format!("{send}\r\n").as_bytes()).unwrap();
        }
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with(code), "{send:?} -> {line:?}");
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    expect("", "220");
    expect("HELO me", "250");
    expect("MAIL FROM:<a@example.com>", "530"); // AUTH first
    expect("AUTH LOGIN", "334");
    expect(&b64("u"), "334");
    expect(&b64("p"), "235");
    expect("NOOP", "250");
    expect("MAIL FROM:<a@example.com>", "250");
    expect("RCPT TO:<dropped@example.com>", "250");
    expect("RSET", "250");
    expect("DATA", "503"); // RSET forgot the recipient
    expect("MAIL FROM:<a@example.com> SIZE=10", "250");
    expect("RCPT TO:<b@example.com>", "250");
    expect("DATA", "354");
    expect("Subject: x\r\n\r\n..dot\r\nplain\r\n.", "250");
    expect("QUIT", "221");
    let got = server.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].mail_from, "a@example.com");
    assert_eq!(got[0].rcpt_to, ["b@example.com"]);
    assert_eq!(got[0].auth_user.as_deref(), Some("u"));
    assert_eq!(got[0].data, b"Subject: x\r\n\r\n.dot\r\nplain\r\n");
}
