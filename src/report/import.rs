//! Reads back what the finance team filled into a report: the `decision`, `until` and `note`
//! columns of `discrepancies.xlsx` (every findings sheet) or `discrepancies.csv` (either
//! dialect), each row with its key and its place in the file, so an import can name every row
//! it could not apply.

use super::csv_out::COLUMNS;
use super::ReportError;
use calamine::{Data, Reader};
use chrono::NaiveDate;
use std::path::Path;

/// The columns a team fills in, at the end of the findings columns.
pub const FILL_COLUMNS: &[&str] = &["decision", "until", "note"];

/// Rows read from one file at most (a report holds at most Excel's row limit per sheet).
const MAX_ROWS: usize = 10_000_000;

/// One row someone filled in (decision or note not empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilledRow {
    /// Where: `<file> sheet <name> row <n>` or `<file> line <n>` (1-based, as the program
    /// showing the file counts).
    pub place: String,
    /// The item's key.
    pub key: String,
    /// The `decision` cell as typed.
    pub decision: String,
    /// The `until` cell: a date, or the text typed.
    pub until: Until,
    /// The `note` cell.
    pub note: String,
}

/// The `until` cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Until {
    /// Empty.
    Empty,
    /// A date (a date cell, or ISO text).
    Date(NaiveDate),
    /// Something else, as text.
    Bad(String),
}

impl Until {
    fn of_text(s: &str) -> Until {
        let t = s.trim().trim_start_matches('\'');
        if t.is_empty() {
            Until::Empty
        } else {
            t.parse()
                .map_or_else(|_| Until::Bad(t.to_owned()), Until::Date)
        }
    }
}

/// Reads the filled rows of a report file, by its extension (`.xlsx` or `.csv`).
pub fn read_filled(path: &Path) -> Result<Vec<FilledRow>, ReportError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("xlsx") => read_xlsx(path),
        Some("csv") => read_csv(path),
        _ => Err(bad(path, "not a .xlsx or .csv file".to_owned())),
    }
}

fn bad(path: &Path, message: String) -> ReportError {
    ReportError::Csv {
        path: path.to_path_buf(),
        message,
    }
}

/// Column indexes of key, decision, until, note in a header row.
fn positions(header: &[String]) -> Option<[usize; 4]> {
    let at = |name: &str| header.iter().position(|h| h.trim() == name);
    Some([at("key")?, at("decision")?, at("until")?, at("note")?])
}

fn read_csv(path: &Path) -> Result<Vec<FilledRow>, ReportError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ReportError::Fs(crate::domain::fsutil::FsError::new("read", path, e)))?;
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let first = body.split(|b| *b == b'\n').next().unwrap_or_default();
    let delimiter = if first.contains(&b';') && !first.contains(&b',') {
        b';'
    } else {
        b','
    };
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(body);
    let header: Vec<String> = r
        .headers()
        .map_err(|e| bad(path, format!("line 1: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    let [k, d, u, n] = positions(&header).ok_or_else(|| {
        bad(
            path,
            format!("line 1: no key, decision, until and note columns (a discrepancies.csv has {} then decision, until, note)", COLUMNS.join(", ")),
        )
    })?;
    let name = file_name(path);
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate().take(MAX_ROWS) {
        let line = i + 2;
        let rec = rec.map_err(|e| bad(path, format!("line {line}: {e}")))?;
        let cell = |c: usize| rec.get(c).unwrap_or_default().to_owned();
        push_filled(
            &mut out,
            format!("{name} line {line}"),
            cell(k),
            cell(d),
            Until::of_text(&cell(u)),
            cell(n),
        );
    }
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Adds the row when someone filled it (a decision or a note).
fn push_filled(
    out: &mut Vec<FilledRow>,
    place: String,
    key: String,
    decision: String,
    until: Until,
    note: String,
) {
    let (decision, note) = (decision.trim().to_owned(), note.trim().to_owned());
    if decision.is_empty() && note.is_empty() {
        return;
    }
    out.push(FilledRow {
        place,
        key: key.trim().to_owned(),
        decision,
        until,
        note,
    });
}

fn xlsx_text(c: Option<&Data>) -> String {
    match c {
        None | Some(Data::Empty) => String::new(),
        Some(Data::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn xlsx_until(c: Option<&Data>) -> Until {
    match c {
        None | Some(Data::Empty) => Until::Empty,
        Some(Data::DateTime(dt)) => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d))
                .map_or_else(|| Until::Bad(dt.to_string()), Until::Date)
        }
        Some(Data::DateTimeIso(s)) => Until::of_text(s.get(..10).unwrap_or(s)),
        Some(other) => Until::of_text(&xlsx_text(Some(other))),
    }
}

fn read_xlsx(path: &Path) -> Result<Vec<FilledRow>, ReportError> {
    let err = |message: String| ReportError::Xlsx {
        path: path.to_path_buf(),
        message,
    };
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook(path).map_err(|e| err(format!("cannot read the workbook: {e}")))?;
    let name = file_name(path);
    let mut out = Vec::new();
    for sheet in book.sheet_names() {
        let range = book
            .worksheet_range(&sheet)
            .map_err(|e| err(format!("sheet {sheet}: {e}")))?;
        let mut rows = range.rows();
        let Some(head) = rows.next() else { continue };
        let header: Vec<String> = head.iter().map(|c| xlsx_text(Some(c))).collect();
        // Sheets without the columns (Summary, Quarantined, Resolved) hold no decisions.
        let Some([k, d, u, n]) = positions(&header) else {
            continue;
        };
        let top = range.start().map_or(0, |(r, _)| r as usize);
        for (i, row) in rows.enumerate().take(MAX_ROWS) {
            push_filled(
                &mut out,
                format!("{name} sheet {sheet} row {}", top + i + 2),
                xlsx_text(row.get(k)),
                xlsx_text(row.get(d)),
                xlsx_until(row.get(u)),
                xlsx_text(row.get(n)),
            );
        }
    }
    Ok(out)
}
