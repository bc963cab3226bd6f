//! Workbook reader (calamine): numbers stay numbers, dates stay dates, text is read like CSV
//! text.

use super::config::LedgerConfig;
use super::probe::{Scanned, StatusScan};
use super::{map_header, sniff_kind, Cell, LedgerError, Loader, N_FIELDS};
use calamine::{Data, Reader};
use chrono::NaiveDate;
use std::io::Cursor;
use std::path::Path;

pub(super) fn read(loader: &mut Loader<'_>, path: &Path, label: &Path) -> Result<(), LedgerError> {
    let bytes = workbook_bytes(path, label)?;
    let malformed = |e: calamine::Error| LedgerError::Malformed {
        file: label.to_owned(),
        message: e.to_string(),
    };
    let mut wb = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(malformed)?;
    let name = sheet_name(&wb.sheet_names(), loader.cfg, label)?;
    let range = wb.worksheet_range(&name).map_err(malformed)?;
    let Some((row0, col0)) = range.start() else {
        return Err(LedgerError::Empty {
            file: label.to_owned(),
        });
    };
    if col0 > 0 {
        tracing::debug!(col0, "sheet's used range starts right of column A");
    }
    let sheet = Sheet {
        label,
        header_row: u64::from(loader.cfg.xlsx.header_row),
        source: format!("{}:{name}", label.display()),
        name,
    };
    let mut idx: Option<[Option<usize>; N_FIELDS]> = None;
    for (i, cells) in range.rows().enumerate() {
        let row = u64::from(row0) + i as u64 + 1;
        if row < sheet.header_row {
            continue;
        }
        match &idx {
            None => idx = Some(sheet.header(loader, row, cells)?),
            Some(idx) => sheet.data_row(loader, row, cells, idx)?,
        }
    }
    if idx.is_none() {
        return Err(LedgerError::Empty {
            file: label.to_owned(),
        });
    }
    Ok(())
}

/// The header of one workbook ledger and the status words of its first rows
/// (`check-config`): the same sheet and header row as [`read`].
pub(super) fn probe(
    cfg: &LedgerConfig,
    path: &Path,
    label: &Path,
    scan: &mut StatusScan,
) -> Result<Scanned, LedgerError> {
    let bytes = workbook_bytes(path, label)?;
    let malformed = |e: calamine::Error| LedgerError::Malformed {
        file: label.to_owned(),
        message: e.to_string(),
    };
    let mut wb = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(malformed)?;
    let name = sheet_name(&wb.sheet_names(), cfg, label)?;
    let range = wb.worksheet_range(&name).map_err(malformed)?;
    let empty = || LedgerError::Empty {
        file: label.to_owned(),
    };
    let (row0, _) = range.start().ok_or_else(empty)?;
    let sheet = Sheet {
        label,
        header_row: u64::from(cfg.xlsx.header_row),
        source: String::new(),
        name,
    };
    let mut found: Option<(Vec<String>, u64, Option<usize>)> = None;
    for (i, cells) in range.rows().enumerate() {
        let row = u64::from(row0) + i as u64 + 1;
        match &found {
            _ if row < sheet.header_row => {}
            None => {
                let header = sheet.header_names(row, cells)?;
                let col = scan.column(&header);
                found = Some((header, row, col));
            }
            Some((_, _, None)) => break,
            Some((_, _, Some(col))) => {
                if cells.iter().all(|c| matches!(c, Data::Empty)) {
                    continue;
                }
                if !scan.more(0) {
                    break;
                }
                scan.add(&cell(cells.get(*col).unwrap_or(&Data::Empty)).text());
            }
        }
    }
    let (header, row, _) = found.ok_or_else(empty)?;
    Ok((header, row, None))
}

/// The whole file, once it is known to be a workbook (a ZIP or OLE container) at all.
fn workbook_bytes(path: &Path, label: &Path) -> Result<Vec<u8>, LedgerError> {
    let bytes = std::fs::read(path).map_err(|source| LedgerError::Unreadable {
        file: label.to_owned(),
        source,
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(LedgerError::Empty {
            file: label.to_owned(),
        });
    }
    let kind = sniff_kind(&bytes[..bytes.len().min(8)]);
    if !(kind.starts_with("a ZIP") || kind.starts_with("an OLE")) {
        return Err(LedgerError::WrongKind {
            file: label.to_owned(),
            expected: "an XLSX workbook",
            found: kind.to_owned(),
        });
    }
    Ok(bytes)
}

/// The configured sheet (`xlsx.sheet`), or the first one.
fn sheet_name(names: &[String], cfg: &LedgerConfig, label: &Path) -> Result<String, LedgerError> {
    match &cfg.xlsx.sheet {
        Some(s) => names.iter().find(|n| *n == s).cloned().ok_or_else(|| {
            LedgerError::Config(format!(
                "{}: no sheet {s:?}; the workbook has {names:?}",
                label.display()
            ))
        }),
        None => names.first().cloned().ok_or_else(|| LedgerError::Empty {
            file: label.to_owned(),
        }),
    }
}

/// The sheet being read, and what every row of it shares.
struct Sheet<'a> {
    label: &'a Path,
    name: String,
    /// 1-based row of the header (`xlsx.header_row`).
    header_row: u64,
    /// Prefix of the `source` column: `file:sheet`.
    source: String,
}

impl Sheet<'_> {
    /// Maps the header, found on `row`: the first row at or after `header_row`, which must be
    /// `header_row` itself.
    fn header(
        &self,
        loader: &Loader<'_>,
        row: u64,
        cells: &[Data],
    ) -> Result<[Option<usize>; N_FIELDS], LedgerError> {
        let header = self.header_names(row, cells)?;
        map_header(&header, &loader.names, self.label, row)
    }

    /// The header's names, found on `row`, which must be `header_row`.
    fn header_names(&self, row: u64, cells: &[Data]) -> Result<Vec<String>, LedgerError> {
        if row != self.header_row {
            return Err(LedgerError::Malformed {
                file: self.label.to_owned(),
                message: format!(
                    "sheet {:?}: header row {} is empty; the table starts on row {row} (set xlsx.header_row)",
                    self.name, self.header_row
                ),
            });
        }
        let header: Vec<String> = cells.iter().map(header_text).collect();
        if header.iter().all(|h| h.trim().is_empty()) {
            return Err(LedgerError::Empty {
                file: self.label.to_owned(),
            });
        }
        Ok(header)
    }

    /// Hands one data row's cells to the loader; an empty row is skipped, not counted.
    fn data_row(
        &self,
        loader: &mut Loader<'_>,
        row: u64,
        cells: &[Data],
        idx: &[Option<usize>; N_FIELDS],
    ) -> Result<(), LedgerError> {
        if cells.iter().all(|c| matches!(c, Data::Empty)) {
            return Ok(());
        }
        loader.count_row(self.label, row)?;
        let mut out: [Cell<'_>; N_FIELDS] = Default::default();
        for (k, i) in idx.iter().enumerate() {
            if let Some(i) = i {
                out[k] = cell(cells.get(*i).unwrap_or(&Data::Empty));
            }
        }
        loader.row(self.label, &self.source, row, &out)
    }
}

fn header_text(c: &Data) -> String {
    cell(c).text().into_owned()
}

/// A workbook cell as a [`Cell`].
fn cell(c: &Data) -> Cell<'_> {
    match c {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(s),
        Data::Int(i) => Cell::Int(*i),
        Data::Float(f) => Cell::Float(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
            match NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d)).and_then(|d| {
                d.and_hms_milli_opt(u32::from(h), u32::from(mi), u32::from(s), u32::from(ms))
            }) {
                // A spreadsheet date-time is wall-clock time, like a naive text date-time.
                Some(dt) => Cell::NaiveDateTime(dt),
                None => Cell::Other(format!("date serial {}", dt.as_f64())),
            }
        }
        Data::DateTime(dt) => Cell::Other(format!("duration {}", dt.as_f64())),
        Data::DateTimeIso(s) => Cell::Text(s),
        Data::DurationIso(s) => Cell::Other(format!("duration {s}")),
        Data::Error(e) => Cell::Other(format!("error cell {e}")),
    }
}
