//! The finance team's loop through the real binary: a run, decisions filled into the
//! spreadsheet and imported, the next run's report and mail, the decision log and its check;
//! an accepted item that changes is reopened; `mail.send = "on_change"`.

use crate::support::smtp_server::{SmtpOptions, SmtpServer};
use crate::support::*;
use calamine::{open_workbook, Data, Reader, Xlsx};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const OCTOBER: [&str; 4] = ["--from", "2026-10-01", "--to", "2026-10-31"];

/// `run` over October with `recon.toml`, then `extra`.
fn run_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run"];
    v.extend_from_slice(&OCTOBER);
    v.extend_from_slice(&["--config", "recon.toml"]);
    v.extend_from_slice(extra);
    v
}

/// `items <args> --config recon.toml`.
async fn items(dir: &Path, key: &str, args: &[&str]) -> std::process::Output {
    let mut v = vec!["items"];
    v.extend_from_slice(args);
    v.extend_from_slice(&["--config", "recon.toml"]);
    run_bin(dir, key, &v).await
}

fn manifest(run_dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run_dir.join("manifest.json")).unwrap()).unwrap()
}

/// A sheet as header → column, and its rows as text cells.
struct Sheet {
    name: String,
    cols: BTreeMap<String, usize>,
    rows: Vec<Vec<Data>>,
}

impl Sheet {
    fn text(&self, row: usize, col: &str) -> String {
        self.rows[row]
            .get(self.cols[col])
            .map(|c| c.to_string())
            .unwrap_or_default()
    }
}

fn sheets(path: &Path) -> Vec<Sheet> {
    let mut book: Xlsx<_> = open_workbook(path).unwrap();
    book.sheet_names()
        .into_iter()
        .map(|name| {
            let range = book.worksheet_range(&name).unwrap();
            let mut rows = range.rows().map(|r| r.to_vec());
            let head = rows.next().unwrap_or_default();
            let cols = head
                .iter()
                .enumerate()
                .map(|(i, c)| (c.to_string(), i))
                .collect();
            Sheet {
                name,
                cols,
                rows: rows.collect(),
            }
        })
        .collect()
}

/// The findings sheets (class sheets and Accepted): those with decision columns.
fn finding_sheets(path: &Path) -> Vec<Sheet> {
    sheets(path)
        .into_iter()
        .filter(|s| s.cols.contains_key("decision"))
        .collect()
}

/// Writes `sheets` back as a new workbook with rust_xlsxwriter, as a spreadsheet program
/// saves an edited file: every cell kept, `fill` (sheet, row, column) → text added.
fn save_edited(sheets: &[Sheet], fill: &BTreeMap<(String, usize, String), String>, out: &Path) {
    let mut book = rust_xlsxwriter::Workbook::new();
    for s in sheets {
        let ws = book.add_worksheet();
        ws.set_name(&s.name).unwrap();
        for (name, c) in &s.cols {
            ws.write_string(0, *c as u16, name).unwrap();
        }
        for (r, row) in s.rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = (r as u32 + 1, c as u16);
                match cell {
                    Data::Empty => {}
                    Data::Float(f) => {
                        ws.write_number(r, c, *f).unwrap();
                    }
                    Data::Int(i) => {
                        ws.write_number(r, c, *i as f64).unwrap();
                    }
                    other => {
                        ws.write_string(r, c, other.to_string()).unwrap();
                    }
                }
            }
        }
        for ((sheet, row, col), text) in fill {
            if *sheet == s.name {
                ws.write_string(*row as u32 + 1, s.cols[col] as u16, text)
                    .unwrap();
            }
        }
    }
    book.save(out).unwrap();
}

/// Per sheet with a list validation, in workbook order: its range and its list, read from
/// the sheet's XML (calamine does not expose validations).
fn decision_lists(path: &Path) -> BTreeMap<String, (String, String)> {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let names: Vec<String> = sheets(path).into_iter().map(|s| s.name).collect();
    let mut out = BTreeMap::new();
    for (i, name) in names.into_iter().enumerate() {
        let mut xml = String::new();
        z.by_name(&format!("xl/worksheets/sheet{}.xml", i + 1))
            .unwrap()
            .read_to_string(&mut xml)
            .unwrap();
        let Some(dv) = xml.split("<dataValidation type=\"list\"").nth(1) else {
            continue;
        };
        let dv = &dv[..dv.find("</dataValidation>").unwrap()];
        let sqref = dv
            .split("sqref=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let list = dv
            .split("<formula1>")
            .nth(1)
            .unwrap()
            .split("</formula1>")
            .next()
            .unwrap();
        out.insert(name, (sqref.to_owned(), list.to_owned()));
    }
    out
}

fn log_lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("data/state/acme/decisions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn parse_mail(data: &[u8]) -> (String, String, String) {
    let m = mail_parser::MessageParser::default().parse(data).unwrap();
    (
        m.subject().unwrap().to_owned(),
        m.body_text(0).unwrap().into_owned(),
        m.body_html(0).unwrap().into_owned(),
    )
}

fn smtp() -> SmtpServer {
    SmtpServer::start(SmtpOptions {
        auth: Some(("recon".into(), SMTP_PASSWORD.into())),
        ..SmtpOptions::default()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn decisions_filled_into_the_workbook_are_imported_and_shown_by_the_next_run() {
    let sb = quirky_sandbox("items-key-1").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = smtp();
    write_setup(
        dir,
        &sb,
        &Extra {
            smtp_port: Some(server.port),
            ..Extra::default()
        },
    );
    let first = run_bin(dir, "items-key-1", &run_args(&[])).await;
    assert_exit(&first, 1);
    let run1 = run_dirs(dir).pop().unwrap();
    let book = finding_sheets(&run1.join("discrepancies.xlsx"));
    let all: Vec<(String, usize, String)> = book
        .iter()
        .flat_map(|s| (0..s.rows.len()).map(move |r| (s.name.clone(), r, s.text(r, "key"))))
        .collect();
    assert_eq!(all.len(), 11, "the demo-like job finds 11: {all:?}");
    assert!(book.iter().all(|s| s.name != "Accepted"));
    // Each findings sheet offers accept, snooze and reopen as a list in its decision column.
    let lists = decision_lists(&run1.join("discrepancies.xlsx"));
    assert_eq!(
        lists.keys().collect::<Vec<_>>(),
        book.iter()
            .map(|s| &s.name)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    for s in &book {
        let column = (b'A' + s.cols["decision"] as u8) as char;
        let (range, list) = &lists[&s.name];
        // From row 2 to the sheet's last row, in the decision column.
        let last = s.rows.len() + 1;
        let want = if last == 2 {
            format!("{column}2")
        } else {
            format!("{column}2:{column}{last}")
        };
        assert_eq!(range, &want, "{}", s.name);
        assert_eq!(list, "\"accept,snooze,reopen\"", "{}", s.name);
    }
    assert!(book
        .iter()
        .all(|s| (0..s.rows.len()).all(|r| s.text(r, "status") == "new")));

    // The team fills decision and note into three rows, saves, imports.
    let chosen: Vec<&(String, usize, String)> = all.iter().step_by(4).take(3).collect();
    let mut fill = BTreeMap::new();
    for (i, (sheet, row, _)) in chosen.iter().enumerate() {
        fill.insert((sheet.clone(), *row, "decision".into()), "accept".into());
        fill.insert(
            (sheet.clone(), *row, "note".into()),
            format!("=refund booked manually in SAP #{i}"),
        );
    }
    let edited = dir.join("edited.xlsx");
    save_edited(&book, &fill, &edited);
    let imported = items(
        dir,
        "items-key-1",
        &["import", "edited.xlsx", "--by", "alice"],
    )
    .await;
    assert_exit(&imported, 0);
    assert!(
        String::from_utf8_lossy(&imported.stdout).contains("3 decisions recorded"),
        "{}",
        text(&imported)
    );
    let log = log_lines(dir);
    assert_eq!(log.len(), 3);
    for (l, (_, _, key)) in log.iter().zip(&chosen) {
        assert_eq!(l["key"], key.as_str());
        assert_eq!(l["action"], "accept");
        assert_eq!(l["by"], "alice");
        assert_eq!(l["previous"], "open");
        assert!(l["why"]
            .as_str()
            .unwrap()
            .contains("refund booked manually"));
    }
    // Importing the same file again records nothing.
    let again = items(
        dir,
        "items-key-1",
        &["import", "edited.xlsx", "--by", "alice"],
    )
    .await;
    assert_exit(&again, 0);
    assert_eq!(log_lines(dir).len(), 3);
    let verified = items(dir, "items-key-1", &["verify"]).await;
    assert_exit(&verified, 0);
    assert!(String::from_utf8_lossy(&verified.stdout).contains("3 lines"));

    // The next run lists them as accepted, with the reasons, and the mail does not count them.
    let second = run_bin(dir, "items-key-1", &run_args(&[])).await;
    assert_exit(&second, 1);
    let run2 = run_dirs(dir).pop().unwrap();
    assert_ne!(run1, run2);
    let book2 = finding_sheets(&run2.join("discrepancies.xlsx"));
    let accepted = book2
        .iter()
        .find(|s| s.name == "Accepted")
        .expect("Accepted sheet");
    assert_eq!(accepted.rows.len(), 3);
    for r in 0..3 {
        assert_eq!(accepted.text(r, "status"), "accepted");
        let note = accepted.text(r, "status_note");
        assert!(
            note.contains("by alice") && note.contains("refund booked manually in SAP"),
            "{note}"
        );
        assert!(chosen.iter().any(|(_, _, k)| *k == accepted.text(r, "key")));
    }
    let others: usize = book2
        .iter()
        .filter(|s| s.name != "Accepted")
        .map(|s| s.rows.len())
        .sum();
    assert_eq!(others, 8);
    let html = std::fs::read_to_string(run2.join("report.html")).unwrap();
    assert!(
        html.contains("<h2>Accepted or snoozed (3)</h2>"),
        "page sections"
    );
    assert!(html.contains("<h2>New since the last run (0)</h2>"));
    assert!(html.contains("<h2>Still open (8)</h2>"));
    assert!(html.contains("&#39;=refund booked") || html.contains("refund booked manually"));
    assert!(!html.contains(">=refund"), "the typed note is neutralised");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run2.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["sections"]["accepted_or_snoozed"], 3);
    assert_eq!(json["sections"]["new"], 0);
    assert_eq!(json["sections"]["still_open_by_age"]["0-7 days"], 8);
    let csv = std::fs::read_to_string(run2.join("discrepancies.csv")).unwrap();
    assert_eq!(csv.matches(",accepted,").count(), 3, "{csv}");

    let got = server.wait_for(2, Duration::from_secs(10));
    assert_eq!(got.len(), 2, "both runs mailed (their reports differ)");
    let (subject, plain, mail_html) = parse_mail(&got[1].data);
    assert!(
        subject.contains(": 0 new, 8 unresolved discrepancies,")
            && subject.ends_with("3 accepted or snoozed"),
        "{subject}"
    );
    assert!(
        plain.contains("unresolved (new + still open): 8"),
        "{plain}"
    );
    assert!(
        plain.contains("Accepted or snoozed (3, not counted above)"),
        "{plain}"
    );
    // The amounts too: the mail's unresolved amount is the report's open rows' sum, per
    // currency, without the accepted ones.
    let sums = |accepted_too: bool| {
        let mut m: BTreeMap<String, rust_decimal::Decimal> = BTreeMap::new();
        for r in findings(&run2) {
            if accepted_too || r["status"] != "accepted" {
                let d: rust_decimal::Decimal = r["difference"].parse().unwrap_or_default();
                *m.entry(r["currency"].clone()).or_default() += d.abs();
            }
        }
        m
    };
    let mailed: BTreeMap<String, rust_decimal::Decimal> = plain
        .lines()
        .find_map(|l| l.strip_prefix("unresolved amount: "))
        .unwrap()
        .trim_end()
        .split(" + ")
        .map(|p| {
            let (amount, cur) = p.split_once(' ').unwrap();
            (cur.to_owned(), amount.replace(',', "").parse().unwrap())
        })
        .collect();
    assert_eq!(mailed, sums(false), "{plain}");
    assert_ne!(
        mailed,
        sums(true),
        "the accepted rows have amounts to leave out"
    );
    assert!(mail_html.contains("refund booked manually in SAP"));
    let (subject1, ..) = parse_mail(&got[0].data);
    assert!(
        subject1.contains(": 11 new, 11 unresolved discrepancies,"),
        "{subject1}"
    );

    // A hand-edited log line is named.
    let path = dir.join("data/state/acme/decisions.jsonl");
    let text_log = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text_log.replacen("SAP #1", "SAP #9", 1)).unwrap();
    let broken = items(dir, "items-key-1", &["verify"]).await;
    assert_ne!(broken.status.code(), Some(0));
    let err = String::from_utf8_lossy(&broken.stderr);
    assert!(
        err.contains("line 2") && err.contains("edited"),
        "{}",
        text(&broken)
    );
    // Nor does a run or a new decision trust it: both name the line, nothing is written.
    let runs_before = run_dirs(dir).len();
    let refused = run_bin(dir, "items-key-1", &run_args(&[])).await;
    assert!(
        !matches!(refused.status.code(), Some(0 | 1)),
        "{}",
        text(&refused)
    );
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("decisions.jsonl") && err.contains("line 2"),
        "{}",
        text(&refused)
    );
    let decided = items(
        dir,
        "items-key-1",
        &["note", &chosen[0].2, "looked again", "--by", "alice"],
    )
    .await;
    assert_ne!(decided.status.code(), Some(0), "{}", text(&decided));
    assert!(String::from_utf8_lossy(&decided.stderr).contains("line 2"));
    assert_eq!(log_lines(dir).len(), 3);
    let written = run_dirs(dir)
        .iter()
        .filter(|d| d.join("manifest.json").exists())
        .count();
    assert_eq!(written, runs_before, "no report from a broken log");
    sb.shutdown().await;
}

/// The ledger's rows as header → value maps, and its header.
fn read_ledger(path: &Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, rows)
}

fn write_ledger(path: &Path, header: &[String], rows: &[BTreeMap<String, String>]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(header.iter().map(|h| r[h].as_str()))
            .unwrap();
    }
    w.flush().unwrap();
}

/// The rows of a run's discrepancies.csv.
fn findings(run_dir: &Path) -> Vec<BTreeMap<String, String>> {
    read_ledger(&run_dir.join("discrepancies.csv")).1
}

#[tokio::test(flavor = "multi_thread")]
async fn an_accepted_item_whose_amount_changes_is_reopened_and_says_why() {
    let sb = quirky_sandbox("items-key-2").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_setup(dir, &sb, &Extra::default());
    assert_exit(
        &run_bin(dir, "items-key-2", &run_args(&["--dry-run"])).await,
        1,
    );
    let run1 = run_dirs(dir).pop().unwrap();
    let f = findings(&run1);
    let m = f
        .iter()
        .find(|r| r["class"] == "amount_mismatch" && !r["transaction_id"].is_empty())
        .expect("an amount mismatch");
    let (key, tx) = (m["key"].clone(), m["transaction_id"].clone());
    let accept = items(
        dir,
        "items-key-2",
        &[
            "accept",
            &key,
            "--reason",
            "Xsolla fee dispute #123",
            "--by",
            "bob",
        ],
    )
    .await;
    assert_exit(&accept, 0);
    let listed = items(dir, "items-key-2", &["list", "--state", "accepted"]).await;
    assert_exit(&listed, 0);
    let out = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        out.contains(&key) && out.contains("Xsolla fee dispute #123"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "header and the one item: {out}");

    // An unknown key and a snooze without a valid date are refused, naming the problem.
    let unknown = items(dir, "items-key-2", &["accept", "nope:1", "--reason", "x"]).await;
    assert_ne!(unknown.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown key"));

    // Another is snoozed until after the latest run's date (2026-10-31); an earlier date is not.
    let other = f.iter().find(|r| r["key"] != key).unwrap()["key"].clone();
    let early = items(
        dir,
        "items-key-2",
        &["snooze", &other, "--until", "2026-10-31", "--reason", "x"],
    )
    .await;
    assert_exit(&early, 2);
    assert!(
        String::from_utf8_lossy(&early.stderr).contains("bad date 2026-10-31"),
        "{}",
        text(&early)
    );
    let snooze = items(
        dir,
        "items-key-2",
        &[
            "snooze",
            &other,
            "--until",
            "2026-11-15",
            "--reason",
            "ask Xsolla",
            "--by",
            "carol",
        ],
    )
    .await;
    assert_exit(&snooze, 0);

    assert_exit(
        &run_bin(dir, "items-key-2", &run_args(&["--dry-run"])).await,
        1,
    );
    let run2 = run_dirs(dir).pop().unwrap();
    let f2 = findings(&run2);
    let row = f2.iter().find(|r| r["key"] == key).unwrap();
    assert_eq!(row["status"], "accepted");
    let row = f2.iter().find(|r| r["key"] == other).unwrap();
    assert_eq!(row["status"], "snoozed");
    assert!(
        row["status_note"].contains("snoozed until 2026-11-15")
            && row["status_note"].contains("by carol: ask Xsolla"),
        "{row:?}"
    );

    // The ledger books another amount for that transaction: the item is open again.
    let ledger = dir.join("ledger/ledger.csv");
    let (header, mut rows) = read_ledger(&ledger);
    let mut changed = 0;
    for r in rows
        .iter_mut()
        .filter(|r| r["Xsolla transaction"] == tx && r["Status"] == "Paid")
    {
        let gross: rust_decimal::Decimal = r["Gross"].parse().unwrap();
        r.insert(
            "Gross".into(),
            (gross + rust_decimal::Decimal::ONE).to_string(),
        );
        changed += 1;
    }
    assert!(changed > 0, "the ledger books transaction {tx}");
    write_ledger(&ledger, &header, &rows);
    assert_exit(
        &run_bin(dir, "items-key-2", &run_args(&["--dry-run"])).await,
        1,
    );
    let run3 = run_dirs(dir).pop().unwrap();
    let row = findings(&run3)
        .into_iter()
        .find(|r| r["key"] == key)
        .expect("same key");
    assert_eq!(row["status"], "open");
    assert!(
        row["status_note"].contains("the difference changed from")
            && row["status_note"].contains("Xsolla fee dispute #123"),
        "{row:?}"
    );
    let html = std::fs::read_to_string(run3.join("report.html")).unwrap();
    assert!(html.contains("reopened: the difference changed from"));
    let shown = items(dir, "items-key-2", &["show", &key]).await;
    assert_exit(&shown, 0);
    let out = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        out.contains("state: open") && out.contains("difference changed"),
        "{out}"
    );
    sb.shutdown().await;
}

/// Appends a ledger row for a payment Xsolla never made: one new finding.
fn add_unknown_payment(ledger: &Path) {
    let (header, mut rows) = read_ledger(ledger);
    let mut extra = rows.iter().find(|r| r["Status"] == "Paid").unwrap().clone();
    extra.insert("Xsolla transaction".into(), "987654321".into());
    extra.insert("Order".into(), "EXTRA-ORDER-1".into());
    rows.push(extra);
    write_ledger(ledger, &header, &rows);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_change_mails_only_when_something_changed_and_lists_the_new_finding() {
    let sb = quirky_sandbox("items-key-3").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = smtp();
    write_setup(
        dir,
        &sb,
        &Extra {
            smtp_port: Some(server.port),
            tail: "send = \"on_change\"\n".into(),
            ..Extra::default()
        },
    );
    assert_exit(&run_bin(dir, "items-key-3", &run_args(&[])).await, 1);
    assert_eq!(server.wait_for(1, Duration::from_secs(10)).len(), 1);

    // The same inputs again: nothing changed, no mail, and the manifest says why.
    assert_exit(&run_bin(dir, "items-key-3", &run_args(&[])).await, 1);
    let m = manifest(&run_dirs(dir).pop().unwrap());
    assert_eq!(m["mail"]["status"], "not_needed");
    assert!(
        m["mail"]["reason"].as_str().unwrap().contains("on_change"),
        "{m}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.received().len(), 1);

    // One new finding: one mail, with it under "new".
    let first_ledger = std::fs::read(dir.join("ledger/ledger.csv")).unwrap();
    add_unknown_payment(&dir.join("ledger/ledger.csv"));
    assert_exit(&run_bin(dir, "items-key-3", &run_args(&[])).await, 1);
    let got = server.wait_for(2, Duration::from_secs(10));
    assert_eq!(got.len(), 2);
    let (subject, plain, html) = parse_mail(&got[1].data);
    assert!(
        subject.contains(": 1 new, 12 unresolved discrepancies,"),
        "{subject}"
    );
    let new_lines: Vec<&str> = plain
        .lines()
        .skip_while(|l| !l.starts_with("New since the last run (1):"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(new_lines.len(), 1, "{plain}");
    assert!(new_lines[0].contains("EXTRA-ORDER-1"), "{plain}");
    assert!(html.contains("<h2>New since the last run (1)</h2>"));

    // The payment is taken out of the ledger again, which is then byte for byte the first
    // run's: the next run resolves it and mails that (another report than the first run's,
    // which had 11 new and was mailed already).
    let run3 = run_dirs(dir).pop().unwrap();
    let ledger = dir.join("ledger/ledger.csv");
    std::fs::write(&ledger, &first_ledger).unwrap();
    assert_exit(&run_bin(dir, "items-key-3", &run_args(&[])).await, 1);
    let got = server.wait_for(3, Duration::from_secs(10));
    assert_eq!(got.len(), 3);
    let (subject, plain, _) = parse_mail(&got[2].data);
    assert!(
        subject.contains(": 0 new, 11 unresolved discrepancies,"),
        "{subject}"
    );
    assert!(
        plain.contains("Resolved since the last run (1):"),
        "{plain}"
    );
    let run4 = run_dirs(dir).pop().unwrap();
    let (id1, id4) = (manifest(&run_dirs(dir)[0]), manifest(&run4));
    assert_ne!(id1["report_id"], id4["report_id"], "{id1} {id4}");
    // Rerun over the same inputs: the same report (it still lists the resolution, which
    // counts as a change), mailed once.
    assert_exit(&run_bin(dir, "items-key-3", &run_args(&[])).await, 1);
    let run5 = run_dirs(dir).pop().unwrap();
    assert_eq!(manifest(&run5)["report_id"], id4["report_id"]);
    assert_eq!(
        std::fs::read(run5.join("discrepancies.csv")).unwrap(),
        std::fs::read(run4.join("discrepancies.csv")).unwrap()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.received().len(),
        3,
        "the same report is not mailed twice"
    );

    // Run 3's CSV filled in with rows that cannot apply: nothing is applied, each is named.
    let csv_path = run3.join("discrepancies.csv");
    let (header, mut rows) = read_ledger(&csv_path);
    let extra = rows
        .iter()
        .position(|r| r["order_id"] == "EXTRA-ORDER-1")
        .unwrap();
    let others: Vec<usize> = (0..rows.len()).filter(|i| *i != extra).take(3).collect();
    let fill = |r: &mut BTreeMap<String, String>, d: &str, u: &str, n: &str| {
        r.insert("decision".into(), d.into());
        r.insert("until".into(), u.into());
        r.insert("note".into(), n.into());
    };
    fill(&mut rows[extra], "accept", "", "booked late");
    fill(&mut rows[others[0]], "snooze", "next week", "ask Xsolla");
    fill(&mut rows[others[1]], "accept", "", "fine");
    rows[others[1]].insert("key".into(), "nope:unknown".into());
    fill(&mut rows[others[2]], "accept", "", "known, booked in SAP");
    let filled = dir.join("filled.csv");
    write_ledger(&filled, &header, &rows);
    let refused = items(dir, "items-key-3", &["import", "filled.csv"]).await;
    assert_ne!(refused.status.code(), Some(0));
    let err = String::from_utf8_lossy(&refused.stderr).into_owned();
    for (row, problem) in [
        (extra, "already resolved"),
        (others[0], "bad date"),
        (others[1], "unknown key"),
    ] {
        let line = format!("filled.csv line {}:", row + 2);
        assert!(
            err.lines()
                .any(|l| l.contains(&line) && l.contains(problem)),
            "{line} {problem}: {err}"
        );
    }
    assert!(err.contains("3 rows cannot be applied"), "{err}");
    assert!(
        !dir.join("data/state/acme/decisions.jsonl").exists(),
        "nothing applied"
    );
    let partial = items(dir, "items-key-3", &["import", "filled.csv", "--partial"]).await;
    assert_exit(&partial, 1);
    assert!(
        String::from_utf8_lossy(&partial.stdout)
            .contains("1 decisions recorded, 0 already so, 3 not applied"),
        "{}",
        text(&partial)
    );
    let log = log_lines(dir);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["key"], rows[others[2]]["key"].as_str());
    assert_eq!(log[0]["why"], "known, booked in SAP");
    sb.shutdown().await;
}

/// `items <args> --config <the demo's config>`, from the folder the demo ran in.
async fn demo_items(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut v = vec!["items"];
    v.extend_from_slice(args);
    v.extend_from_slice(&["--config", "out/demo/xsolla-recon.demo.toml"]);
    run_bin(dir, "unused", &v).await
}

/// The demo's run folders, oldest first.
fn demo_runs(dir: &Path) -> Vec<std::path::PathBuf> {
    let base = dir.join("out/demo/reports/acme-games/2026-10-01_2026-10-31");
    let mut v: Vec<_> = std::fs::read_dir(base)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// The README's daily loop, line by line, on the config `xsolla-recon demo` writes: the run
/// (replayed from the demo's snapshot), list, accept, import of the filled workbook, verify;
/// and the next run shows the decisions.
#[tokio::test(flavor = "multi_thread")]
async fn the_readme_daily_loop_runs_on_the_demo_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_exit(&run_bin(dir, "unused", &["demo"]).await, 0);
    let demo_run = demo_runs(dir).pop().unwrap();
    assert!(demo_run.join("email.eml").is_file());

    let listed = demo_items(dir, &["list"]).await;
    assert_exit(&listed, 0);
    let out = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert_eq!(out.lines().count(), 12, "header and 11 items: {out}");
    // A reader that has gone (`items list | head`): the listing ends quietly, no panic.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let piped = std::process::Command::new(crate::support::bin::BIN)
        .current_dir(dir)
        .args([
            "items",
            "list",
            "--config",
            "out/demo/xsolla-recon.demo.toml",
        ])
        .env_remove("XSOLLA_RECON_CONFIG")
        .stdout(writer)
        .output()
        .unwrap();
    assert_exit(&piped, 0);
    assert!(
        !String::from_utf8_lossy(&piped.stderr).contains("panicked"),
        "{}",
        text(&piped)
    );
    let old = demo_items(dir, &["list", "--state", "open", "--older-than", "30"]).await;
    assert_exit(&old, 0);
    assert_eq!(String::from_utf8_lossy(&old.stdout).lines().count(), 1);
    let key = out
        .lines()
        .find(|l| l.starts_with("amount_mismatch:"))
        .and_then(|l| l.split('\t').next())
        .unwrap()
        .to_owned();
    let accepted = demo_items(
        dir,
        &[
            "accept",
            &key,
            "--reason",
            "refund booked manually in SAP",
            "--by",
            "alice",
        ],
    )
    .await;
    assert_exit(&accepted, 0);

    // The workbook of the demo's mail, one row filled in, imported.
    let book = finding_sheets(&demo_run.join("discrepancies.xlsx"));
    let (sheet, row) = book
        .iter()
        .flat_map(|s| (0..s.rows.len()).map(move |r| (s, r)))
        .find(|(s, r)| s.text(*r, "key") != key)
        .unwrap();
    let other = sheet.text(row, "key");
    let mut fill = BTreeMap::new();
    fill.insert(
        (sheet.name.clone(), row, "decision".into()),
        "accept".into(),
    );
    fill.insert(
        (sheet.name.clone(), row, "note".into()),
        "Xsolla fee dispute #123".into(),
    );
    save_edited(&book, &fill, &dir.join("discrepancies.xlsx"));
    let imported = demo_items(dir, &["import", "discrepancies.xlsx", "--by", "bob"]).await;
    assert_exit(&imported, 0);
    assert!(
        String::from_utf8_lossy(&imported.stdout).contains("1 decisions recorded"),
        "{}",
        text(&imported)
    );
    let verified = demo_items(dir, &["verify"]).await;
    assert_exit(&verified, 0);
    assert!(
        String::from_utf8_lossy(&verified.stdout).contains("2 lines"),
        "{}",
        text(&verified)
    );

    // The next run (the demo's sandbox is gone: from its snapshot) shows both as accepted,
    // and its mail, written beside the reports, does not count them.
    let next = run_bin(
        dir,
        "unused",
        &[
            "run",
            "--offline",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-31",
            "--config",
            "out/demo/xsolla-recon.demo.toml",
        ],
    )
    .await;
    assert_exit(&next, 1);
    let run2 = demo_runs(dir).pop().unwrap();
    assert_ne!(run2, demo_run);
    let f = findings(&run2);
    for k in [&key, &other] {
        let row = f.iter().find(|r| &r["key"] == k).unwrap();
        assert_eq!(row["status"], "accepted", "{row:?}");
    }
    let (subject, plain, _) = parse_mail(&std::fs::read(run2.join("email.eml")).unwrap());
    assert!(
        subject.contains(": 0 new, 9 unresolved discrepancies,")
            && subject.ends_with("2 accepted or snoozed"),
        "{subject}"
    );
    assert!(plain.contains("Xsolla fee dispute #123"), "{plain}");

    // The age buckets: one definition, so the page's age table (the chart's numbers) and the
    // plain-text mail list the same numbers under the same labels.
    let html = std::fs::read_to_string(run2.join("report.html")).unwrap();
    let page = html_age_rows(&html);
    assert!(!page.is_empty(), "the page has an age table");
    assert_eq!(text_age_rows(&plain), page, "{plain}");
    let by_age: Vec<&str> = plain
        .lines()
        .skip_while(|l| !l.starts_with("Still open (9) by age:"))
        .skip(1)
        .take(3)
        .map(str::trim_end)
        .collect();
    assert!(by_age[0].starts_with("  0–7 days: 9, "), "{plain}");
    assert_eq!(
        by_age[1..],
        ["  8–30 days: 0, 0", "  over 30 days: 0, 0"],
        "{plain}"
    );
    assert!(html.contains("<tr><td>0–7 days</td><td class=\"n\">9</td>"));
}

/// The age table of `report.html`: (run date, currency, items per bucket), newest run first.
fn html_age_rows(html: &str) -> Vec<(String, String, [u64; 3])> {
    let table = html.split("<h2>Open items by age</h2>").nth(1).unwrap();
    let head = &table[..table.find("</tr>").unwrap()];
    assert!(
        head.contains("0–7 days items") && head.contains("over 30 days amount"),
        "{head}"
    );
    let table = &table[..table.find("</table>").unwrap()];
    table
        .split("<tr><td>")
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row
                .split("</td>")
                .map(|c| c.rsplit('>').next().unwrap_or(c))
                .collect();
            let n = |i: usize| cells[i].parse::<u64>().unwrap();
            (cells[0].to_owned(), cells[1].to_owned(), [n(2), n(4), n(6)])
        })
        .collect()
}

/// The same rows from the plain-text mail: `  <date> <currency>: 0–7 days N, A; 8–30 days …`.
fn text_age_rows(plain: &str) -> Vec<(String, String, [u64; 3])> {
    plain
        .lines()
        .skip_while(|l| !l.starts_with("Open items by age"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let (head, cells) = l.trim().split_once(": ").unwrap();
            let (date, cur) = head.split_once(' ').unwrap();
            let labels = ["0–7 days ", "8–30 days ", "over 30 days "];
            let cells: Vec<&str> = cells.split("; ").collect();
            let n = |i: usize| {
                let c = cells[i].strip_prefix(labels[i]).unwrap();
                c.split(',').next().unwrap().parse::<u64>().unwrap()
            };
            (date.to_owned(), cur.to_owned(), [n(0), n(1), n(2)])
        })
        .collect()
}

/// `[run] mail_transport = "file"` with `send = "on_new"`: the mail is written into the run
/// folder (no `[smtp]`), only by runs that found something new; a run that only resolves
/// something writes none.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_transport_follows_the_send_rule_on_new() {
    let sb = quirky_sandbox("items-key-4").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = write_setup(
        dir,
        &sb,
        &Extra {
            tail: "[merchant.mail]\nto = [\"finance@example.com\"]\nsend = \"on_new\"\n".into(),
            ..Extra::default()
        },
    );
    let text_cfg = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text_cfg.replacen("[run]\n", "[run]\nmail_transport = \"file\"\n", 1),
    )
    .unwrap();
    let eml = |run: &Path| run.join("email.eml");
    assert_exit(&run_bin(dir, "items-key-4", &run_args(&[])).await, 1);
    let run1 = run_dirs(dir).pop().unwrap();
    let (subject, ..) = parse_mail(&std::fs::read(eml(&run1)).unwrap());
    assert!(subject.contains(": 11 new,"), "{subject}");
    assert_eq!(manifest(&run1)["mail"]["status"], "written");

    // Nothing new: no mail written, and the manifest says why.
    assert_exit(&run_bin(dir, "items-key-4", &run_args(&[])).await, 1);
    let run2 = run_dirs(dir).pop().unwrap();
    assert!(!eml(&run2).exists());
    let m = manifest(&run2);
    assert_eq!(m["mail"]["status"], "not_needed");
    assert!(
        m["mail"]["reason"].as_str().unwrap().contains("on_new"),
        "{m}"
    );

    // One new finding: written, with it under "new".
    let ledger = dir.join("ledger/ledger.csv");
    let first_ledger = std::fs::read(&ledger).unwrap();
    add_unknown_payment(&ledger);
    assert_exit(&run_bin(dir, "items-key-4", &run_args(&[])).await, 1);
    let run3 = run_dirs(dir).pop().unwrap();
    let (subject, plain, _) = parse_mail(&std::fs::read(eml(&run3)).unwrap());
    assert!(subject.contains(": 1 new, 12 unresolved"), "{subject}");
    assert!(plain.contains("EXTRA-ORDER-1"), "{plain}");

    // Taken out again: resolved, nothing new, so no mail under on_new.
    std::fs::write(&ledger, &first_ledger).unwrap();
    assert_exit(&run_bin(dir, "items-key-4", &run_args(&[])).await, 1);
    let run4 = run_dirs(dir).pop().unwrap();
    assert!(!eml(&run4).exists());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run4.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["sections"]["resolved"], 1, "{summary}");
    sb.shutdown().await;
}
