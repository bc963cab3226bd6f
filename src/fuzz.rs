//! Fuzz entry points: one function per parser that reads untrusted bytes.
//!
//! Each takes arbitrary bytes, must never panic, and asserts the invariants that make a
//! wrong-but-quiet result impossible (a ledger load accounts for every row; an error message
//! stays short enough to read). They are shared by the cargo-fuzz targets in `fuzz/` (nightly,
//! libFuzzer) and by the bounded stable mutation fuzzer in `tests/it/fuzz.rs`, so a crash
//! found by either is reproduced by the other.
//!
//! A panic here is the finding: the functions use `assert!` on purpose.

use crate::load::ledger::{load_ledger, LedgerConfig, LedgerError, OnBadRow};
use crate::xsolla::model::{TransactionRow, REGISTRY_REQUIRED};
use crate::xsolla::parse::{
    parse_csv_rows, parse_json_rows, parse_json_rows_reference, DecodeError,
};
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// Longest error message accepted: anything longer means some input was echoed uncut.
pub const MAX_ERROR_CHARS: usize = 4096;

/// Inputs larger than this are cut before parsing (a fuzzer's time is better spent on shape).
pub const MAX_INPUT_BYTES: usize = 1 << 20;

/// A folder of this thread's own, removed when the thread ends: the ledger reader reads files.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

thread_local! {
    static SCRATCH: RefCell<Option<ScratchDir>> = const { RefCell::new(None) };
}

fn scratch_dir() -> PathBuf {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.is_none() {
            let dir = std::env::temp_dir().join(format!(
                "xsolla-recon-fuzz-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let dir = PathBuf::from(dir.to_string_lossy().replace(
                |c: char| !(c.is_ascii_alphanumeric() || "/-_.".contains(c)),
                "",
            ));
            std::fs::create_dir_all(&dir).expect("fuzz scratch folder");
            *s = Some(ScratchDir(dir));
        }
        s.as_ref().map(|d| d.0.clone()).unwrap_or_default()
    })
}

fn check_error_len(what: &str, msg: &str) {
    assert!(
        msg.chars().count() <= MAX_ERROR_CHARS,
        "{what} error message is {} chars (limit {MAX_ERROR_CHARS}): {}…",
        msg.chars().count(),
        msg.chars().take(300).collect::<String>()
    );
}

/// The config the ledger fuzz target reads with: order id and note mapped, small limits, and
/// one of four dialects (`variant % 4`) so every amount and encoding path is reached.
pub fn ledger_fuzz_config(mode: OnBadRow, variant: usize) -> LedgerConfig {
    use crate::load::ledger::{CsvEncoding, Delimiter, Thousands};
    let mut c = LedgerConfig {
        path: "ledger.csv".to_owned(),
        on_bad_row: mode,
        max_rows: 100_000,
        max_field_bytes: 64 * 1024,
        ..LedgerConfig::default()
    };
    c.columns.order_id = Some("order_id".to_owned());
    c.columns.note = Some("note".to_owned());
    match variant % 4 {
        1 => {
            c.csv.delimiter = Delimiter::Byte(b';');
            c.csv.decimal_separator = ',';
            c.csv.thousands_separator = Thousands::Char('.');
        }
        2 => {
            c.csv.encoding = CsvEncoding::Windows1252;
            c.csv.thousands_separator = Thousands::Char('\u{a0}');
            // East of UTC: dates at the edge of chrono's range have no local date.
            c.timezone = "Pacific/Kiritimati".to_owned();
        }
        3 => {
            c.csv.delimiter = Delimiter::Byte(b'\t');
            c.csv.quote = '\'';
            c.csv.thousands_separator = Thousands::Char(',');
            c.timezone = "America/Los_Angeles".to_owned();
        }
        _ => {}
    }
    c
}

/// Loads `data` as a CSV ledger in both `fail` and `quarantine` modes, in the dialect
/// [`ledger_fuzz_config`] picks from the input's length.
///
/// Invariants: no panic; `rows_read == rows_loaded + rows_quarantined`; the frame has
/// `rows_loaded` rows and the quarantine list `rows_quarantined` entries; in quarantine mode
/// a row-level problem never becomes an error; error messages are bounded.
pub fn ledger_csv(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT_BYTES)];
    let dir = scratch_dir();
    let path = dir.join("ledger.csv");
    std::fs::write(&path, data).expect("fuzz scratch file");
    let mut loaded = [None, None];
    for (k, mode) in [OnBadRow::Fail, OnBadRow::Quarantine]
        .into_iter()
        .enumerate()
    {
        match load_ledger(&ledger_fuzz_config(mode, data.len()), &dir) {
            Ok(l) => {
                let c = &l.counts;
                assert_eq!(c.rows_read, c.rows_loaded + c.rows_quarantined, "{c:?}");
                assert_eq!(l.frame.height() as u64, c.rows_loaded);
                assert_eq!(l.quarantined.len() as u64, c.rows_quarantined);
                if mode == OnBadRow::Fail {
                    assert_eq!(c.rows_quarantined, 0, "fail mode quarantined a row");
                }
                for b in &l.quarantined {
                    assert!(b.line >= 1, "quarantined row without a line: {b}");
                    check_error_len("quarantined row", &b.to_string());
                }
                loaded[k] = Some((c.rows_read, c.rows_loaded));
            }
            Err(e) => {
                let msg = e.to_string();
                check_error_len("ledger", &msg);
                assert!(
                    msg.contains("ledger.csv"),
                    "ledger error does not name the file: {msg}"
                );
                if mode == OnBadRow::Quarantine {
                    assert!(
                        !matches!(e, LedgerError::BadRow(_)),
                        "quarantine mode failed on a row: {msg}"
                    );
                }
            }
        }
    }
    // A file that loads cleanly in fail mode loads the same in quarantine mode.
    if let (Some(fail), Some(quar)) = (loaded[0], loaded[1]) {
        assert_eq!(fail, quar, "fail and quarantine modes disagree");
    }
}

fn check_decode<R>(what: &str, r: Result<Vec<R>, DecodeError>) -> Option<Vec<R>> {
    match r {
        Ok(rows) => Some(rows),
        Err(e) => {
            check_error_len(what, &e.to_string());
            None
        }
    }
}

/// Every amount a parsed row holds reads back to itself from its own text: nothing parsed
/// was rounded on the way in.
fn check_amounts(rows: &[TransactionRow]) {
    use crate::xsolla::record::CellValue;
    for r in rows {
        for d in [
            r.payment_amount,
            r.payout_amount,
            r.fx_rate,
            r.commission_user,
        ]
        .into_iter()
        .flatten()
        {
            let text = d.render();
            assert_eq!(
                crate::domain::money::parse_decimal_exact(&text).ok(),
                Some(d),
                "amount {text} does not read back"
            );
        }
    }
}

/// Parses `data` as a registry JSON body, with and without the required fields; the typed
/// reader and the reference reader (through `serde_json::Value`) must agree on every input.
pub fn registry_json(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT_BYTES)];
    for required in [REGISTRY_REQUIRED, &[]] {
        assert_eq!(
            parse_json_rows::<TransactionRow>(data, required),
            parse_json_rows_reference::<TransactionRow>(data, required),
            "the typed JSON reader and the reference reader disagree"
        );
    }
    if let Some(rows) = check_decode(
        "registry JSON",
        parse_json_rows::<TransactionRow>(data, REGISTRY_REQUIRED),
    ) {
        check_amounts(&rows);
    }
    if let Some(rows) = check_decode(
        "registry JSON",
        parse_json_rows::<TransactionRow>(data, &[]),
    ) {
        check_amounts(&rows);
    }
}

/// Parses `data` as a registry CSV export, with and without the required fields.
pub fn registry_csv(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT_BYTES)];
    if let Some(rows) = check_decode(
        "registry CSV",
        parse_csv_rows::<TransactionRow>(data, REGISTRY_REQUIRED),
    ) {
        check_amounts(&rows);
    }
    if let Some(rows) = check_decode("registry CSV", parse_csv_rows::<TransactionRow>(data, &[])) {
        check_amounts(&rows);
    }
}

/// Parses `data` (when it is UTF-8, as a config file must be) as a config file.
///
/// `${VAR}` references resolve to a fixed value so interpolation is exercised too.
pub fn config_toml(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT_BYTES)];
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    if let Err(e) = crate::job::config::Config::parse(text, path, |_| Some("x".to_owned())) {
        let msg = e.to_string();
        check_error_len("config", &msg);
    }
}

/// Seed inputs for the registry JSON target (the shapes the sandbox and the docs show).
pub fn registry_json_seeds() -> Vec<Vec<u8>> {
    [
        r#"[{"transaction":{"id":1,"status":"done","transfer_date":"2024-01-01 10:00:00"},
"payment_details":{"payment":{"amount":0.1,"currency":"USD"},"payout":{"amount":0.09,"currency":"USD","fx_rate":64.1386407767},
"commission_user":{"amount":0.01}},"user":{"id":"u-1"}}]"#,
        r#"{"transaction":{"id":2,"status":"refunded","transfer_date":"2024-01-02T00:00:00+03:00"},"payment_details":{"payment":{"amount":"1e3","currency":"EUR"},"payout":{"amount":1.5E-2,"currency":"EUR"}}}"#,
        r#"[]"#,
        r#"[1,2]"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// Seed inputs for the registry CSV target.
pub fn registry_csv_seeds() -> Vec<Vec<u8>> {
    [
        "\u{feff}\"Transaction ID\",\"Status\",\"Transfer date\",\"Payment amount\",\"Payment currency\",\"Payout amount\",\"Payout currency\"\r\n\"7\",\"done\",\"22.09.2022 14:05\",\"150\",\"JPY\",\"0.01\",\"USD\"\r\n",
        "Transaction ID,Status\n1,done\n2",
        "Transaction ID,Status,Transfer date,Payment amount,Payment currency,Payout amount,Payout currency\r1,done,2024-01-01,1.5,USD,1.4,USD\r",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// Seed inputs for the config target.
pub fn config_toml_seeds() -> Vec<Vec<u8>> {
    vec![include_bytes!("../config/xsolla-recon.example.toml").to_vec()]
}
