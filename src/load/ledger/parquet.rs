//! Parquet reader (polars): typed columns are taken as typed; amounts must be exact.
//!
//! A float amount column is accepted by printing each value as its shortest round-trip text
//! (see [`super::value::amount_from_f64`]): exact for values that were decimals of at most 15
//! significant digits before someone stored them as doubles, rejected when they need more
//! than 6 decimals.

use super::probe::{Scanned, StatusScan};
use super::{map_header, sniff_kind, Cell, LedgerError, Loader, N_FIELDS};
use chrono::{DateTime, NaiveDate};
use polars::prelude::*;
use std::fs::File;
use std::io::Read;
use std::path::Path;

pub(super) fn read(loader: &mut Loader<'_>, path: &Path, label: &Path) -> Result<(), LedgerError> {
    let unreadable = |source| LedgerError::Unreadable {
        file: label.to_owned(),
        source,
    };
    let malformed = |e: PolarsError| LedgerError::Malformed {
        file: label.to_owned(),
        message: e.to_string(),
    };
    check_kind(path, label)?;
    let rows = ParquetReader::new(File::open(path).map_err(unreadable)?)
        .num_rows()
        .map_err(malformed)?;
    let source = label.to_string_lossy().into_owned();
    // Read a slice of rows at a time (the loader's piece size): the file is never held whole
    // (a run in parts reads a ledger of a hundred million rows).
    let slice = loader.sink_rows.max(1) as usize;
    let mut idx = None;
    let mut offset = 0usize;
    while offset < rows || (rows == 0 && idx.is_none()) {
        let df = ParquetReader::new(File::open(path).map_err(unreadable)?)
            .with_slice(Some((offset, slice)))
            .finish()
            .map_err(malformed)?;
        let idx = match &idx {
            Some(i) => i,
            None => {
                let header: Vec<String> = df
                    .get_column_names()
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                idx.insert(map_header(&header, &loader.names, label, 0)?)
            }
        };
        let mut cols: [Option<Series>; N_FIELDS] = Default::default();
        for (k, i) in idx.iter().enumerate() {
            if let Some(i) = i {
                cols[k] = Some(df.columns()[*i].as_materialized_series().rechunk());
            }
        }
        for r in 0..df.height() {
            let row = (offset + r) as u64 + 1;
            loader.count_row(label, row)?;
            let mut vals: [AnyValue<'_>; N_FIELDS] = Default::default();
            for (k, s) in cols.iter().enumerate() {
                if let Some(s) = s {
                    vals[k] = s.get(r).map_err(malformed)?;
                }
            }
            let mut cells: [Cell<'_>; N_FIELDS] = Default::default();
            for (k, v) in vals.iter().enumerate() {
                cells[k] = cell(v);
            }
            loader.row(label, &source, row, &cells)?;
        }
        if df.height() == 0 {
            break;
        }
        offset += df.height();
    }
    Ok(())
}

/// The column names of one Parquet ledger and the status words of its first rows
/// (`check-config`); only the status column is read.
pub(super) fn probe(
    path: &Path,
    label: &Path,
    scan: &mut StatusScan,
) -> Result<Scanned, LedgerError> {
    check_kind(path, label)?;
    let malformed = |e: PolarsError| LedgerError::Malformed {
        file: label.to_owned(),
        message: e.to_string(),
    };
    let open = || {
        File::open(path).map_err(|source| LedgerError::Unreadable {
            file: label.to_owned(),
            source,
        })
    };
    let schema = ParquetReader::new(open()?).schema().map_err(malformed)?;
    let header: Vec<String> = schema.iter_names().map(|s| s.to_string()).collect();
    let Some(col) = scan.column(&header) else {
        return Ok((header, 0, None));
    };
    let df = ParquetReader::new(open()?)
        .with_columns(Some(vec![header[col].clone()]))
        .with_slice(Some((0, super::probe::PROBE_MAX_ROWS as usize + 1)))
        .finish()
        .map_err(malformed)?;
    let s = df.columns()[0].as_materialized_series().rechunk();
    for r in 0..s.len() {
        if !scan.more(0) {
            break;
        }
        match s.get(r) {
            Ok(v) => scan.add(&cell(&v).text()),
            Err(e) => return Ok((header, 0, Some(malformed(e)))),
        }
    }
    Ok((header, 0, None))
}

/// Refuses an empty file or one that is not Parquet.
fn check_kind(path: &Path, label: &Path) -> Result<(), LedgerError> {
    let unreadable = |source| LedgerError::Unreadable {
        file: label.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(unreadable)?;
    let mut head = [0u8; 8];
    let n = file.read(&mut head).map_err(unreadable)?;
    if n == 0 {
        return Err(LedgerError::Empty {
            file: label.to_owned(),
        });
    }
    let kind = sniff_kind(&head[..n]);
    if !kind.contains("Parquet") {
        return Err(LedgerError::WrongKind {
            file: label.to_owned(),
            expected: "Parquet",
            found: kind.to_owned(),
        });
    }
    Ok(())
}

/// A Parquet value as a [`Cell`].
fn cell<'a>(v: &'a AnyValue<'a>) -> Cell<'a> {
    match v {
        AnyValue::Null => Cell::Empty,
        AnyValue::String(s) => Cell::Text(s),
        AnyValue::StringOwned(s) => Cell::Text(s.as_str()),
        AnyValue::Boolean(b) => Cell::Bool(*b),
        AnyValue::Int8(i) => Cell::Int(i64::from(*i)),
        AnyValue::Int16(i) => Cell::Int(i64::from(*i)),
        AnyValue::Int32(i) => Cell::Int(i64::from(*i)),
        AnyValue::Int64(i) => Cell::Int(*i),
        AnyValue::UInt8(i) => Cell::Int(i64::from(*i)),
        AnyValue::UInt16(i) => Cell::Int(i64::from(*i)),
        AnyValue::UInt32(i) => Cell::Int(i64::from(*i)),
        AnyValue::UInt64(i) => match i64::try_from(*i) {
            Ok(i) => Cell::Int(i),
            Err(_) => Cell::Decimal(i128::from(*i), 0),
        },
        AnyValue::Int128(i) => Cell::Decimal(*i, 0),
        AnyValue::Float32(f) => Cell::Float(f64::from(*f)),
        AnyValue::Float64(f) => Cell::Float(*f),
        AnyValue::Decimal(m, _, scale) => Cell::Decimal(*m, *scale),
        AnyValue::Date(d) => match NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|e| e.checked_add_signed(chrono::Duration::days(i64::from(*d))))
        {
            Some(d) => Cell::Date(d),
            None => Cell::Other(format!("date {d}")),
        },
        AnyValue::Datetime(v, unit, tz) => datetime(*v, *unit, tz.is_some()),
        AnyValue::DatetimeOwned(v, unit, tz) => datetime(*v, *unit, tz.is_some()),
        other => Cell::Other(format!("{other}")),
    }
}

/// A zoned datetime is an instant (UTC); a naive one is wall-clock time.
fn datetime(v: i64, unit: TimeUnit, zoned: bool) -> Cell<'static> {
    let dt = match unit {
        TimeUnit::Milliseconds => DateTime::from_timestamp_millis(v),
        TimeUnit::Microseconds => DateTime::from_timestamp_micros(v),
        TimeUnit::Nanoseconds => Some(DateTime::from_timestamp_nanos(v)),
    };
    match dt {
        Some(dt) if zoned => Cell::UtcDateTime(dt.naive_utc()),
        Some(dt) => Cell::NaiveDateTime(dt.naive_utc()),
        None => Cell::Other(format!("datetime {v}")),
    }
}
