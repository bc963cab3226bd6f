//! Imports the merchant's ledger export (CSV, XLSX or Parquet) into one DataFrame of
//! [`frames::ledger_schema`].
//!
//! Ledgers come out of accounting tools and spreadsheets in every dialect, so everything that
//! varies is configured ([`LedgerConfig`]) rather than guessed, and every row that cannot be
//! read is named by file, line, column and value: the reconciliation is only as good as the
//! rows it was given, so a silently skipped row would become a false "missing in ledger".

pub mod config;
pub mod conventions;
mod csv_reader;
mod parquet;
mod probe;
mod value;
mod xlsx;

#[cfg(test)]
mod tests;

pub use config::{
    CsvDialect, CsvEncoding, Delimiter, LedgerColumns, LedgerConfig, LedgerFormat, OnBadRow,
    Thousands, XlsxOptions,
};
pub use conventions::{Conventions, LedgerCurrency, LineKind, RefundConvention};

use crate::domain::codes::CodeBuilder;
use crate::domain::csvsplit::Split;
use crate::domain::frames::{self, LEDGER_STATUSES, MONEY_SCALE, PRECISION};
use crate::domain::sources::SourceBuilder;
use crate::domain::text::{header_sample, header_summary};
pub use crate::domain::text::{HEADER_NAMES_SHOWN, HEADER_NAME_CHARS};
use crate::load::{RowSink, SINK_ROWS};
use chrono::{NaiveDate, NaiveDateTime};
use polars::prelude::*;
pub use probe::{probe_ledger, LedgerProbe, PROBE_MAX_BYTES, PROBE_MAX_ROWS};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use value::{AmountFormat, DateParser};

/// The loaded ledger.
#[derive(Debug)]
pub struct LedgerLoad {
    /// One row per accepted ledger line; exactly [`frames::ledger_schema`].
    pub frame: DataFrame,
    /// Rows set aside (`on_bad_row = "quarantine"`), in file order.
    pub quarantined: Vec<BadRow>,
    /// What was read; `rows_read == rows_loaded + rows_quarantined`.
    pub counts: LedgerCounts,
}

/// Counts of a load, for the run report.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LedgerCounts {
    /// Files read.
    pub files: usize,
    /// Data rows read (header and blank lines excluded).
    pub rows_read: u64,
    /// Rows in the frame.
    pub rows_loaded: u64,
    /// Rows set aside.
    pub rows_quarantined: u64,
    /// Status texts (lower-cased) that `status_map` did not map, with how many loaded rows
    /// had each; those rows have status `other`. An empty status cell counts as `""`.
    pub unmapped_statuses: BTreeMap<String, u64>,
    /// Line type texts (lower-cased) that `conventions.line_types` did not map, with how many
    /// loaded rows had each; those rows are set aside as journal lines.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unmapped_line_types: BTreeMap<String, u64>,
}

/// A row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// The file, as named relative to the config's folder.
    pub file: PathBuf,
    /// 1-based physical line (CSV: where the record starts) or row (XLSX, Parquet).
    pub line: u64,
    /// The ledger's column name (`*` when the row as a whole is wrong).
    pub column: String,
    /// The cell's text (cut at 200 characters).
    pub value: String,
    /// What is wrong, as the end of a sentence ("is not a number").
    pub problem: String,
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: column {:?}: value {:?} {}",
            self.file.display(),
            self.line,
            self.column,
            self.value,
            self.problem
        )
    }
}

/// Why a ledger could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The rows read could not be handed on ([`RowSink`]).
    #[error("ledger: handing the rows on: {0}")]
    Sink(String),
    /// A file read in parallel chunks for a [`RowSink`] turned out to need one reader after
    /// some chunks were handed on: read the ledger again with the file in `one_reader`.
    #[error("ledger {}: cannot be read in chunks ({reason}); it must be read again by one reader", file.display())]
    NotInChunks {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// The `[ledger]` settings are inconsistent.
    #[error("ledger config: {0}")]
    Config(String),
    /// The path or glob matched no file.
    #[error("ledger: no file matches {pattern:?}")]
    NoMatch {
        /// The pattern, joined to the config's folder.
        pattern: String,
    },
    /// The glob itself is malformed.
    #[error("ledger: bad glob {pattern:?}: {message}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        message: String,
    },
    /// A file could not be read.
    #[error("ledger: cannot read {}: {source}", file.display())]
    Unreadable {
        /// The file.
        file: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file has no header (zero bytes, only blank lines, or an empty sheet).
    #[error("ledger: {} is empty (not even a header line)", file.display())]
    Empty {
        /// The file.
        file: PathBuf,
    },
    /// A file is not what its format says (an `.xlsx` that is CSV text …).
    #[error("ledger: {} is read as {expected} but looks like {found}", file.display())]
    WrongKind {
        /// The file.
        file: PathBuf,
        /// The format it was read as.
        expected: &'static str,
        /// What its first bytes look like.
        found: String,
    },
    /// A configured column is not in the header.
    #[error("ledger: {}:{line}: no column {name:?} (columns.{field}); the header has {}", file.display(), header_summary(found, *columns))]
    MissingColumn {
        /// The file.
        file: PathBuf,
        /// Line (row) of the header; 0 for Parquet, which has no header line.
        line: u64,
        /// The config key (`amount`, `date` …).
        field: &'static str,
        /// The configured header name.
        name: String,
        /// The header as found: at most [`HEADER_NAMES_SHOWN`] names, each cut to
        /// [`HEADER_NAME_CHARS`] characters (a wrong-delimiter file has one giant cell).
        found: Vec<String>,
        /// How many columns the header really has.
        columns: usize,
    },
    /// Two header cells have the same (trimmed, case-insensitive) name.
    #[error("ledger: {}:{line}: column {name:?} appears more than once in the header (columns {first} and {second})", file.display())]
    DuplicateColumn {
        /// The file.
        file: PathBuf,
        /// Line (row) of the header.
        line: u64,
        /// The repeated name.
        name: String,
        /// 1-based position of the first.
        first: usize,
        /// 1-based position of the second.
        second: usize,
    },
    /// The header line cannot tell which delimiter the file uses.
    #[error("ledger: {}:1: cannot tell the delimiter from the header {header:?}; set csv.delimiter", file.display())]
    AmbiguousDelimiter {
        /// The file.
        file: PathBuf,
        /// The header line.
        header: String,
    },
    /// A row could not be read and `on_bad_row = "fail"`.
    #[error("ledger: {0}")]
    BadRow(Box<BadRow>),
    /// A field is longer than `max_field_bytes`.
    #[error("ledger: {}:{line}: column {column:?}: a field is longer than max_field_bytes ({limit} bytes); an unterminated quote?", file.display())]
    FieldTooLong {
        /// The file.
        file: PathBuf,
        /// Line where the field starts.
        line: u64,
        /// The header name of the field's column (`#5` by position when the header itself
        /// is too long).
        column: String,
        /// The limit.
        limit: usize,
    },
    /// More rows than `max_rows`.
    #[error("ledger: {}:{line}: more than max_rows ({limit}) rows", file.display())]
    TooManyRows {
        /// The file.
        file: PathBuf,
        /// Line of the first row over the limit.
        line: u64,
        /// The limit.
        limit: u64,
    },
    /// A workbook or Parquet file is damaged or unsupported.
    #[error("ledger: {}: {message}", file.display())]
    Malformed {
        /// The file.
        file: PathBuf,
        /// The reader's message.
        message: String,
    },
    /// Building the frame failed (a bug if it happens).
    #[error("ledger: building the frame: {0}")]
    Frame(#[from] PolarsError),
}

/// The ledger fields, in the order of the frame's data columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    TransactionId = 0,
    OrderId,
    Amount,
    Currency,
    Status,
    Date,
    Fee,
    Net,
    PayoutRef,
    Note,
    UserId,
    LineType,
    ProjectId,
    Test,
    Rate,
}

pub(crate) const N_FIELDS: usize = 15;

impl Field {
    pub(crate) const ALL: [Field; N_FIELDS] = [
        Field::TransactionId,
        Field::OrderId,
        Field::Amount,
        Field::Currency,
        Field::Status,
        Field::Date,
        Field::Fee,
        Field::Net,
        Field::PayoutRef,
        Field::Note,
        Field::UserId,
        Field::LineType,
        Field::ProjectId,
        Field::Test,
        Field::Rate,
    ];

    /// The config key under `[ledger.columns]`.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Field::TransactionId => "transaction_id",
            Field::OrderId => "order_id",
            Field::Amount => "amount",
            Field::Currency => "currency",
            Field::Status => "status",
            Field::Date => "date",
            Field::Fee => "fee",
            Field::Net => "net",
            Field::PayoutRef => "payout_ref",
            Field::Note => "note",
            Field::UserId => "user_id",
            Field::LineType => "line_type",
            Field::ProjectId => "project_id",
            Field::Test => "test",
            Field::Rate => "rate",
        }
    }
}

/// The configured header name of each field (None: not read).
pub(crate) fn configured_names(c: &LedgerColumns) -> [Option<&str>; N_FIELDS] {
    [
        c.transaction_id.as_deref(),
        c.order_id.as_deref(),
        Some(c.amount.as_str()),
        Some(c.currency.as_str()),
        c.status.as_deref(),
        Some(c.date.as_str()),
        c.fee.as_deref(),
        c.net.as_deref(),
        c.payout_ref.as_deref(),
        c.note.as_deref(),
        c.user_id.as_deref(),
        c.line_type.as_deref(),
        c.project_id.as_deref(),
        c.test.as_deref(),
        c.rate.as_deref(),
    ]
}

/// One cell as a reader found it; text is borrowed from the reader's buffers.
#[derive(Debug, Clone, Default)]
pub(crate) enum Cell<'a> {
    #[default]
    Empty,
    Text(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Mantissa and scale.
    Decimal(i128, usize),
    Date(NaiveDate),
    /// A wall-clock date-time, taken as already in the configured zone.
    NaiveDateTime(NaiveDateTime),
    /// An instant, in UTC.
    UtcDateTime(NaiveDateTime),
    /// Something no field accepts (an Excel error cell, a list …), described.
    Other(String),
}

impl Cell<'_> {
    fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(t) => value::trim(t).is_empty(),
            _ => false,
        }
    }

    /// The cell as text, for text fields and for error messages.
    fn text(&self) -> Cow<'_, str> {
        match self {
            Cell::Empty => Cow::Borrowed(""),
            Cell::Text(t) => Cow::Borrowed(t),
            Cell::Int(i) => Cow::Owned(i.to_string()),
            Cell::Float(f) => Cow::Owned(f.to_string()),
            Cell::Bool(b) => Cow::Owned(b.to_string()),
            Cell::Decimal(v, s) => Cow::Owned(
                rust_decimal::Decimal::try_from_i128_with_scale(*v, *s as u32)
                    .map_or_else(|_| format!("{v}e-{s}"), |d| d.to_string()),
            ),
            Cell::Date(d) => Cow::Owned(d.to_string()),
            Cell::NaiveDateTime(d) => Cow::Owned(d.to_string()),
            Cell::UtcDateTime(d) => Cow::Owned(format!("{d}Z")),
            Cell::Other(s) => Cow::Borrowed(s),
        }
    }
}

/// Cuts a value for an error message or the quarantine list.
fn cut(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// A field-level failure: which field and what is wrong.
type CellError = (Field, &'static str);

/// The frame's columns, filled row by row so no reader keeps more than one row of text.
///
/// A column whose field the ledger does not map (`None` here) is all nulls: it is not built
/// row by row but added once at the end as a constant column ([`with_unmapped`]); a null
/// string or decimal costs 16 bytes a row, 160 MB per column at 10M rows.
struct Builders {
    source: SourceBuilder,
    transaction_id: Option<PrimitiveChunkedBuilder<Int64Type>>,
    order_id: Option<StringChunkedBuilder>,
    amount: PrimitiveChunkedBuilder<Int128Type>,
    currency: CodeBuilder,
    status: CodeBuilder,
    booked_date: PrimitiveChunkedBuilder<Int32Type>,
    fee: Option<PrimitiveChunkedBuilder<Int128Type>>,
    net: Option<PrimitiveChunkedBuilder<Int128Type>>,
    payout_ref: Option<StringChunkedBuilder>,
    note: Option<StringChunkedBuilder>,
    user_id: Option<StringChunkedBuilder>,
    /// The convention columns, only when the ledger maps them (no cost per row otherwise).
    extra: ExtraBuilders,
}

/// Builders of the optional frame columns ([`frames::ledger_extra_columns`]).
struct ExtraBuilders {
    line_kind: Option<StringChunkedBuilder>,
    project_id: Option<PrimitiveChunkedBuilder<Int64Type>>,
    is_test: Option<BooleanChunkedBuilder>,
    rate: Option<PrimitiveChunkedBuilder<Int128Type>>,
}

impl ExtraBuilders {
    fn new(names: &[Option<&str>; N_FIELDS], cap: usize) -> Self {
        let has = |f: Field| names[f as usize].is_some();
        ExtraBuilders {
            line_kind: has(Field::LineType)
                .then(|| StringChunkedBuilder::new("line_kind".into(), cap)),
            project_id: has(Field::ProjectId)
                .then(|| PrimitiveChunkedBuilder::new("project_id".into(), cap)),
            is_test: has(Field::Test).then(|| BooleanChunkedBuilder::new("is_test".into(), cap)),
            rate: has(Field::Rate).then(|| PrimitiveChunkedBuilder::new("rate".into(), cap)),
        }
    }
}

impl Builders {
    /// Builders with room for `cap` rows, for the fields `names` maps.
    fn new(names: &[Option<&str>; N_FIELDS], cap: usize) -> Self {
        let has = |f: Field| names[f as usize].is_some();
        let text =
            |f: Field, name: &str| has(f).then(|| StringChunkedBuilder::new(name.into(), cap));
        Builders {
            source: SourceBuilder::new("source".into(), cap),
            transaction_id: has(Field::TransactionId)
                .then(|| PrimitiveChunkedBuilder::new("transaction_id".into(), cap)),
            order_id: text(Field::OrderId, "order_id"),
            amount: PrimitiveChunkedBuilder::new("amount".into(), cap),
            currency: CodeBuilder::new("currency".into(), cap),
            status: CodeBuilder::new("status".into(), cap),
            booked_date: PrimitiveChunkedBuilder::new("booked_date".into(), cap),
            fee: has(Field::Fee).then(|| PrimitiveChunkedBuilder::new("fee".into(), cap)),
            net: has(Field::Net).then(|| PrimitiveChunkedBuilder::new("net".into(), cap)),
            payout_ref: text(Field::PayoutRef, "payout_ref"),
            note: text(Field::Note, "note"),
            user_id: text(Field::UserId, "user_id"),
            extra: ExtraBuilders::new(names, cap),
        }
    }

    fn finish(self) -> PolarsResult<DataFrame> {
        let money = |b: PrimitiveChunkedBuilder<Int128Type>| -> PolarsResult<Column> {
            Ok(b.finish()
                .into_decimal(PRECISION, MONEY_SCALE)?
                .into_series()
                .into_column())
        };
        let text = |b: Option<StringChunkedBuilder>| b.map(|b| b.finish().into_column());
        let cols = [
            Some(self.source.finish()),
            self.transaction_id.map(|b| b.finish().into_column()),
            text(self.order_id),
            Some(money(self.amount)?),
            Some(self.currency.finish()),
            Some(self.status.finish()),
            Some(
                self.booked_date
                    .finish()
                    .into_date()
                    .into_series()
                    .into_column(),
            ),
            self.fee.map(money).transpose()?,
            self.net.map(money).transpose()?,
            text(self.payout_ref),
            text(self.note),
            text(self.user_id),
        ];
        let mut cols: Vec<Column> = cols.into_iter().flatten().collect();
        let e = self.extra;
        if let Some(b) = e.line_kind {
            cols.push(b.finish().into_column());
        }
        if let Some(b) = e.project_id {
            cols.push(b.finish().into_column());
        }
        if let Some(b) = e.is_test {
            cols.push(b.finish().into_column());
        }
        if let Some(b) = e.rate {
            cols.push(money(b)?);
        }
        DataFrame::new_infer_height(cols)
    }
}

/// A row that passed every check, ready to append.
struct GoodRow<'a> {
    transaction_id: Option<i64>,
    order_id: Option<Cow<'a, str>>,
    amount: i128,
    currency: [u8; 3],
    status: &'static str,
    /// Lower-cased status text that `status_map` did not know.
    unmapped: Option<Cow<'a, str>>,
    date: i32,
    fee: Option<i128>,
    net: Option<i128>,
    payout_ref: Option<Cow<'a, str>>,
    note: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
    /// `line_kind` (when `columns.line_type` is mapped), and the unmapped type text.
    line_kind: Option<&'static str>,
    unmapped_type: Option<Cow<'a, str>>,
    project_id: Option<i64>,
    is_test: Option<bool>,
    rate: Option<i128>,
}

/// What a loader read: its frame, counts and rows set aside.
struct Part {
    frame: DataFrame,
    counts: LedgerCounts,
    quarantined: Vec<BadRow>,
}

/// Turns cells into typed values, and keeps the frame being built and the counts.
///
/// Shared by the three readers so a cell means the same in a CSV, a workbook and Parquet.
pub(crate) struct Loader<'c> {
    cfg: &'c LedgerConfig,
    names: [Option<&'c str>; N_FIELDS],
    amount_fmt: AmountFormat,
    dates: DateParser,
    /// Lower-cased ledger status → normalised status.
    status_map: HashMap<String, &'static str>,
    /// Lower-cased journal line type → `line_kind`.
    line_types: HashMap<String, &'static str>,
    builders: Builders,
    /// Frames of rows before those in `builders` (chunks read in parallel), in file order.
    parts: Vec<DataFrame>,
    /// `counts.rows_loaded` when the last part was added: rows in `builders` are the rest.
    parts_rows: u64,
    counts: LedgerCounts,
    quarantined: Vec<BadRow>,
    /// How large CSV files are cut and read on several threads.
    split: Split,
    /// `file:` (or `file:sheet:`) of the lines being read: the `source` of each is this and
    /// its line, so a row allocates nothing.
    source_buf: String,
    num_buf: String,
    lower_buf: String,
    /// Status texts already looked up, with what `status_map` made of them: a ledger has a
    /// handful, and hashing one twice per row (as written, then lower-cased) was a visible
    /// part of a 10M-row load.
    status_memo: Vec<(Box<str>, Option<&'static str>)>,
    /// Where rows go as they are read, instead of into one frame ([`stream_ledger`]).
    sink: Option<&'c mut (dyn RowSink + 'c)>,
    /// Rows handed to `sink` so far.
    handed: u64,
    /// Rows one reader gathers before handing them on.
    sink_rows: u64,
}

/// Most status texts [`Loader::status`] remembers (the rest are looked up each time).
const STATUS_MEMO: usize = 16;

impl<'c> Loader<'c> {
    fn new(cfg: &'c LedgerConfig) -> Result<Self, LedgerError> {
        cfg.validate().map_err(LedgerError::Config)?;
        let tz: chrono_tz::Tz = cfg
            .timezone
            .parse()
            .map_err(|_| LedgerError::Config(format!("timezone {:?}", cfg.timezone)))?;
        let dates = DateParser::new(&cfg.date_formats, tz).map_err(LedgerError::Config)?;
        let mut status_map: HashMap<String, &'static str> = LEDGER_STATUSES
            .iter()
            .map(|s| ((*s).to_owned(), *s))
            .collect();
        for (k, v) in &cfg.status_map {
            let norm = LEDGER_STATUSES
                .iter()
                .find(|s| **s == v.as_str())
                .copied()
                .unwrap_or("other");
            status_map.insert(k.trim().to_lowercase(), norm);
        }
        let mut thousands = Vec::new();
        if let Thousands::Char(c) = cfg.csv.thousands_separator {
            let mut b = [0u8; 4];
            thousands.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        }
        let line_types = cfg
            .conventions
            .line_types
            .iter()
            .map(|(k, v)| (k.trim().to_lowercase(), v.as_str()))
            .collect();
        Ok(Loader {
            cfg,
            names: configured_names(&cfg.columns),
            line_types,
            amount_fmt: AmountFormat {
                decimal: cfg.csv.decimal_separator as u8,
                thousands,
            },
            dates,
            status_map,
            builders: Builders::new(&configured_names(&cfg.columns), 0),
            parts: Vec::new(),
            parts_rows: 0,
            counts: LedgerCounts::default(),
            quarantined: Vec::new(),
            split: Split::default(),
            source_buf: String::new(),
            num_buf: String::new(),
            lower_buf: String::new(),
            status_memo: Vec::new(),
            sink: None,
            handed: 0,
            sink_rows: SINK_ROWS as u64,
        })
    }

    /// Whether rows go to a [`RowSink`] as they are read.
    fn streaming(&self) -> bool {
        self.sink.is_some()
    }

    /// Hands `frame` (of mapped fields) to the sink in the ledger frame's schema.
    fn hand_on(&mut self, frame: DataFrame) -> Result<(), LedgerError> {
        let frame = with_unmapped(frame)?;
        frames::check_ledger_schema(&frame)?;
        self.handed += frame.height() as u64;
        let Some(sink) = self.sink.as_mut() else {
            return Err(LedgerError::Sink("no sink to hand rows to".into()));
        };
        sink.take(frame).map_err(LedgerError::Sink)
    }

    /// Hands on the rows in the builders, if any.
    fn flush(&mut self) -> Result<(), LedgerError> {
        if self.counts.rows_loaded == self.handed {
            return Ok(());
        }
        let fresh = Builders::new(&self.names, 0);
        let full = std::mem::replace(&mut self.builders, fresh);
        self.hand_on(full.finish()?)
    }

    /// Room for `rows` more rows in the builders (before any row is added).
    fn reserve(&mut self, rows: usize) {
        self.builders = Builders::new(&self.names, rows);
    }

    /// What this loader read, to be added to another one with [`Self::absorb`].
    fn into_part(self) -> Result<Part, LedgerError> {
        let frame = self.finish_frame()?;
        Ok(Part {
            frame: frame.0,
            counts: frame.1,
            quarantined: frame.2,
        })
    }

    /// Adds the rows another loader read after every row read so far.
    fn absorb(&mut self, part: Part) -> Result<(), LedgerError> {
        if self.streaming() {
            self.flush()?;
        } else if self.counts.rows_loaded > self.parts_rows {
            let fresh = Builders::new(&self.names, 0);
            let b = std::mem::replace(&mut self.builders, fresh);
            self.parts.push(b.finish()?);
        }
        let c = part.counts;
        self.counts.rows_read += c.rows_read;
        self.counts.rows_loaded += c.rows_loaded;
        self.counts.rows_quarantined += c.rows_quarantined;
        for (status, n) in c.unmapped_statuses {
            *self.counts.unmapped_statuses.entry(status).or_insert(0) += n;
        }
        for (t, n) in c.unmapped_line_types {
            *self.counts.unmapped_line_types.entry(t).or_insert(0) += n;
        }
        self.quarantined.extend(part.quarantined);
        if self.streaming() {
            return self.hand_on(part.frame);
        }
        self.parts.push(part.frame);
        self.parts_rows = self.counts.rows_loaded;
        Ok(())
    }

    /// The frame of every row read, in order, with the counts and the rows set aside.
    fn finish_frame(self) -> Result<(DataFrame, LedgerCounts, Vec<BadRow>), LedgerError> {
        let last = self.builders.finish()?;
        // Never None: the builders' frame is among the parts.
        let frame = frames::stacked(self.parts.into_iter().chain([last]))?.unwrap_or_default();
        Ok((frame, self.counts, self.quarantined))
    }

    /// Counts one more row read; over `max_rows` is an error.
    fn count_row(&mut self, file: &Path, line: u64) -> Result<(), LedgerError> {
        self.counts.rows_read += 1;
        if self.counts.rows_read > self.cfg.max_rows {
            return Err(LedgerError::TooManyRows {
                file: file.to_owned(),
                line,
                limit: self.cfg.max_rows,
            });
        }
        Ok(())
    }

    /// Records a bad row: an error in `fail` mode, set aside in `quarantine` mode.
    fn bad_row(&mut self, row: BadRow) -> Result<(), LedgerError> {
        match self.cfg.on_bad_row {
            OnBadRow::Fail => Err(LedgerError::BadRow(Box::new(row))),
            OnBadRow::Quarantine => {
                tracing::debug!(%row, "ledger row quarantined");
                self.counts.rows_quarantined += 1;
                self.quarantined.push(row);
                Ok(())
            }
        }
    }

    /// Reads one row (already counted with [`Self::count_row`]). `source` is the prefix of
    /// the `source` column (`file` or `file:sheet`); `line` its line or row.
    fn row(
        &mut self,
        file: &Path,
        source: &str,
        line: u64,
        cells: &[Cell<'_>; N_FIELDS],
    ) -> Result<(), LedgerError> {
        match self.parse(cells) {
            Ok(r) => {
                self.append(source, line, r)
                    .map_err(|e| LedgerError::Malformed {
                        file: file.to_owned(),
                        message: format!("line {line}: {e}"),
                    })?;
                if self.streaming() && self.counts.rows_loaded - self.handed >= self.sink_rows {
                    self.flush()?;
                }
                Ok(())
            }
            Err((field, problem)) => {
                let column = self.names[field as usize].unwrap_or("*").to_owned();
                let value = cut(&cells[field as usize].text());
                self.bad_row(BadRow {
                    file: file.to_owned(),
                    line,
                    column,
                    value,
                    problem: problem.to_owned(),
                })
            }
        }
    }

    fn parse<'a>(&mut self, cells: &'a [Cell<'a>; N_FIELDS]) -> Result<GoodRow<'a>, CellError> {
        let c = move |f: Field| &cells[f as usize];
        let text = move |f: Field| -> Option<Cow<'a, str>> {
            let cell = &cells[f as usize];
            if cell.is_empty() {
                None
            } else {
                Some(match cell {
                    Cell::Text(t) => Cow::Borrowed(value::trim(t)),
                    other => Cow::Owned(other.text().into_owned()),
                })
            }
        };
        let transaction_id = self.id(c(Field::TransactionId))?;
        let order_id = text(Field::OrderId);
        if transaction_id.is_none() && order_id.is_none() {
            let f = if self.names[Field::TransactionId as usize].is_some() {
                Field::TransactionId
            } else {
                Field::OrderId
            };
            return Err((
                f,
                "is empty, and so is the other id column: the row cannot be matched",
            ));
        }
        let mut amount = self
            .money(c(Field::Amount))
            .map_err(|p| (Field::Amount, p))?
            .ok_or((Field::Amount, "is empty"))?;
        let currency = match c(Field::Currency) {
            Cell::Text(t) => value::currency(t),
            _ => Err("is not a 3-letter ISO 4217 code"),
        }
        .map_err(|p| (Field::Currency, p))?;
        let date = self.date(c(Field::Date)).map_err(|p| (Field::Date, p))?;
        let mut fee = self.money(c(Field::Fee)).map_err(|p| (Field::Fee, p))?;
        let mut net = self.money(c(Field::Net)).map_err(|p| (Field::Net, p))?;
        let (mut status, unmapped) = self.status(c(Field::Status), amount);
        let x = self.convention_cells(cells)?;
        if amount > 0 && (x.line_kind == Some("refund") || self.refund_by_status(status)) {
            // A refund booked with a positive amount: read as the cancellation it is.
            amount = -amount;
            fee = fee.map(|f| -f);
            net = net.map(|n| -n);
            if self.names[Field::Status as usize].is_none() {
                status = "refunded";
            }
        }
        Ok(GoodRow {
            transaction_id,
            order_id,
            amount,
            currency,
            status,
            unmapped,
            date,
            fee,
            net,
            payout_ref: text(Field::PayoutRef),
            note: text(Field::Note),
            user_id: text(Field::UserId),
            line_kind: x.line_kind,
            unmapped_type: x.unmapped_type,
            project_id: x.project_id,
            is_test: x.is_test,
            rate: x.rate,
        })
    }

    /// The row's normalised status, and the lower-cased word when `status_map` does not know
    /// it. Without a status column the sign decides.
    fn status<'a>(
        &mut self,
        cell: &Cell<'_>,
        amount: i128,
    ) -> (&'static str, Option<Cow<'a, str>>) {
        if self.names[Field::Status as usize].is_none() {
            return (if amount < 0 { "refunded" } else { "paid" }, None);
        }
        let raw = cell.text();
        let raw = value::trim(&raw);
        let hit = match self.status_memo.iter().find(|(t, _)| **t == *raw) {
            Some((_, hit)) => *hit,
            None => {
                let hit = self.status_map.get(raw).copied().or_else(|| {
                    self.lower_buf.clear();
                    self.lower_buf
                        .extend(raw.chars().flat_map(char::to_lowercase));
                    self.status_map.get(self.lower_buf.as_str()).copied()
                });
                if self.status_memo.len() < STATUS_MEMO {
                    self.status_memo.push((raw.into(), hit));
                }
                hit
            }
        };
        match hit {
            Some(s) => (s, None),
            None => ("other", Some(Cow::Owned(raw.to_lowercase()))),
        }
    }

    /// Whether `conventions.refunds = "status_lines"` makes a line with this status a refund.
    fn refund_by_status(&self, status: &str) -> bool {
        self.cfg.conventions.refunds == RefundConvention::StatusLines
            && matches!(status, "refunded" | "partially_refunded" | "chargeback")
    }

    /// The convention columns of a row: line type, project, test flag, rate (each only when
    /// mapped).
    fn convention_cells<'a>(
        &mut self,
        cells: &'a [Cell<'a>; N_FIELDS],
    ) -> Result<ConventionCells<'a>, CellError> {
        let names = self.names;
        let mapped = |f: Field| names[f as usize].is_some();
        let mut x = ConventionCells::default();
        if mapped(Field::LineType) {
            let raw = cells[Field::LineType as usize].text();
            let key = raw.trim().to_lowercase();
            match self.line_types.get(key.as_str()) {
                Some(k) => x.line_kind = Some(k),
                None => {
                    x.line_kind = Some(conventions::UNMAPPED_LINE_KIND);
                    x.unmapped_type = Some(Cow::Owned(key));
                }
            }
        }
        if mapped(Field::ProjectId) {
            let cell = &cells[Field::ProjectId as usize];
            x.project_id = match cell {
                Cell::Empty => None,
                Cell::Text(t) if t.trim().is_empty() => None,
                Cell::Text(t) => Some(value::parse_id(t).map_err(|p| (Field::ProjectId, p))?),
                Cell::Int(i) => Some(*i),
                Cell::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => Some(*f as i64),
                _ => return Err((Field::ProjectId, "is not an integer project id")),
            };
        }
        if mapped(Field::Test) {
            x.is_test =
                Some(test_flag(&cells[Field::Test as usize]).map_err(|p| (Field::Test, p))?);
        }
        if mapped(Field::Rate) {
            x.rate = self
                .money(&cells[Field::Rate as usize])
                .map_err(|p| (Field::Rate, p))?;
        }
        Ok(x)
    }

    fn id(&self, cell: &Cell<'_>) -> Result<Option<i64>, CellError> {
        let f = Field::TransactionId;
        if cell.is_empty() {
            return Ok(None);
        }
        match cell {
            Cell::Text(t) => value::parse_id(t).map(Some).map_err(|p| (f, p)),
            Cell::Int(i) => Ok(Some(*i)),
            // Integers up to 2^53 are exact in a double.
            Cell::Float(x) if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 => {
                Ok(Some(*x as i64))
            }
            Cell::Decimal(v, s) => value::rescale(*v, *s)
                .ok()
                .filter(|m| m % 1_000_000 == 0)
                .and_then(|m| i64::try_from(m / 1_000_000).ok())
                .map(Some)
                .ok_or((f, "is not an integer transaction id")),
            _ => Err((f, "is not an integer transaction id")),
        }
    }

    fn money(&mut self, cell: &Cell<'_>) -> Result<Option<i128>, &'static str> {
        if cell.is_empty() {
            return Ok(None);
        }
        let v = match cell {
            Cell::Text(t) => value::parse_amount(t, &self.amount_fmt)?,
            Cell::Int(i) => i128::from(*i) * 1_000_000,
            Cell::Float(x) => value::amount_from_f64(*x, &mut self.num_buf)?,
            Cell::Decimal(v, s) => value::rescale(*v, *s)?,
            _ => return Err("is not a number"),
        };
        if !value::fits(v) {
            return Err("is too large for Decimal(38, 6)");
        }
        Ok(Some(v))
    }

    fn date(&self, cell: &Cell<'_>) -> Result<i32, &'static str> {
        let d = match cell {
            Cell::Empty => return Err("is empty"),
            Cell::Text(t) => self.dates.parse(t)?,
            Cell::Date(d) => *d,
            Cell::NaiveDateTime(d) => self.dates.date_of_local(*d),
            Cell::UtcDateTime(d) => self.dates.date_of_utc(*d)?,
            Cell::Int(_) | Cell::Float(_) | Cell::Decimal(..) => {
                return Err("is a number where a date is expected (format the column as dates)")
            }
            _ => return Err("is not a date"),
        };
        Ok(value::epoch_days(d))
    }

    /// Appends a parsed row; fails only when the run has read more files than `source`s can
    /// name ([`crate::domain::sources::MAX_PREFIXES`]).
    fn append(&mut self, source: &str, line: u64, r: GoodRow<'_>) -> PolarsResult<()> {
        let b = &mut self.builders;
        // `source:` once per file (or sheet), not per line.
        let same = self.source_buf.len() == source.len() + 1
            && self.source_buf.starts_with(source)
            && self.source_buf.ends_with(':');
        if !same {
            self.source_buf.clear();
            self.source_buf.push_str(source);
            self.source_buf.push(':');
        }
        b.source.append_numbered(&self.source_buf, line)?;
        if let Some(b) = b.transaction_id.as_mut() {
            b.append_option(r.transaction_id);
        }
        if let Some(b) = b.order_id.as_mut() {
            b.append_option(r.order_id.as_deref());
        }
        b.amount.append_value(r.amount);
        // Checked ASCII letters in value::currency. Codes cannot run out: the global categories
        // take billions of texts, and from here come at most 26³ codes and the fixed statuses.
        b.currency
            .append_value(std::str::from_utf8(&r.currency).unwrap_or("XXX"))
            .expect("a currency code always gets a code");
        b.status
            .append_value(r.status)
            .expect("a normalised status always gets a code");
        b.booked_date.append_value(r.date);
        let opt_text = |b: &mut Option<StringChunkedBuilder>, v: Option<&str>| {
            if let Some(b) = b.as_mut() {
                b.append_option(v);
            }
        };
        if let Some(b) = b.fee.as_mut() {
            b.append_option(r.fee);
        }
        if let Some(b) = b.net.as_mut() {
            b.append_option(r.net);
        }
        opt_text(&mut b.payout_ref, r.payout_ref.as_deref());
        opt_text(&mut b.note, r.note.as_deref());
        opt_text(&mut b.user_id, r.user_id.as_deref());
        let e = &mut b.extra;
        if let Some(b) = e.line_kind.as_mut() {
            b.append_option(r.line_kind);
        }
        if let Some(b) = e.project_id.as_mut() {
            b.append_option(r.project_id);
        }
        if let Some(b) = e.is_test.as_mut() {
            b.append_option(r.is_test);
        }
        if let Some(b) = e.rate.as_mut() {
            b.append_option(r.rate);
        }
        if let Some(t) = r.unmapped_type {
            *self
                .counts
                .unmapped_line_types
                .entry(t.into_owned())
                .or_insert(0) += 1;
        }
        if let Some(u) = r.unmapped {
            match self.counts.unmapped_statuses.get_mut(u.as_ref()) {
                Some(n) => *n += 1,
                None => {
                    self.counts.unmapped_statuses.insert(u.into_owned(), 1);
                }
            }
        }
        self.counts.rows_loaded += 1;
        Ok(())
    }
}

/// The convention cells of one row (see [`Loader::convention_cells`]).
#[derive(Default)]
struct ConventionCells<'a> {
    line_kind: Option<&'static str>,
    unmapped_type: Option<Cow<'a, str>>,
    project_id: Option<i64>,
    is_test: Option<bool>,
    rate: Option<i128>,
}

/// A test flag: `1`/`0`, `true`/`false`, `yes`/`no`, `y`/`n`, `x`, `test`; empty is false.
fn test_flag(cell: &Cell<'_>) -> Result<bool, &'static str> {
    match cell {
        Cell::Empty => Ok(false),
        Cell::Bool(b) => Ok(*b),
        Cell::Int(i) if matches!(i, 0 | 1) => Ok(*i == 1),
        Cell::Float(f) if *f == 0.0 || *f == 1.0 => Ok(*f == 1.0),
        Cell::Text(t) => match t.trim().to_lowercase().as_str() {
            "" | "0" | "false" | "no" | "n" => Ok(false),
            "1" | "true" | "yes" | "y" | "x" | "test" => Ok(true),
            _ => Err("is not a test flag (1/0, true/false, yes/no, x/empty)"),
        },
        _ => Err("is not a test flag (1/0, true/false, yes/no, x/empty)"),
    }
}

/// Matches a header against the configured names (trimmed, case-insensitive): the index of
/// each configured field, or an error naming what is missing or repeated.
pub(crate) fn map_header(
    header: &[String],
    names: &[Option<&str>; N_FIELDS],
    file: &Path,
    line: u64,
) -> Result<[Option<usize>; N_FIELDS], LedgerError> {
    let norm: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    // One pass with a map: a header of 100,000 columns must not take 10^10 comparisons.
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(norm.len());
    for (i, h) in norm.iter().enumerate() {
        if h.is_empty() {
            continue;
        }
        if let Some(&first) = seen.get(h.as_str()) {
            return Err(LedgerError::DuplicateColumn {
                file: file.to_owned(),
                line,
                name: cut(header[first].trim()),
                first: first + 1,
                second: i + 1,
            });
        }
        seen.insert(h, i);
    }
    let mut idx = [None; N_FIELDS];
    for f in Field::ALL {
        if let Some(name) = names[f as usize] {
            let want = name.trim().to_lowercase();
            match seen.get(want.as_str()) {
                Some(&i) => idx[f as usize] = Some(i),
                None => {
                    return Err(LedgerError::MissingColumn {
                        file: file.to_owned(),
                        line,
                        field: f.key(),
                        name: name.to_owned(),
                        found: header_sample(header),
                        columns: header.len(),
                    })
                }
            }
        }
    }
    Ok(idx)
}

/// What a file's first bytes say it is, for "read as X but looks like Y" errors.
pub(crate) fn sniff_kind(head: &[u8]) -> &'static str {
    if head.starts_with(b"PK\x03\x04") {
        "a ZIP archive (an XLSX workbook?)"
    } else if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        "an OLE compound file (an old .xls workbook?)"
    } else if head.starts_with(b"PAR1") {
        "a Parquet file"
    } else if head.contains(&0) {
        "binary data"
    } else {
        "text (CSV?)"
    }
}

/// Loads every file `cfg.path` matches into one frame of [`frames::ledger_schema`].
///
/// Relative paths are taken from `base_dir` (the config file's folder). Large UTF-8 CSV
/// files are parsed on every core ([`crate::domain::csvsplit`]), with the same result as one reader.
pub fn load_ledger(cfg: &LedgerConfig, base_dir: &Path) -> Result<LedgerLoad, LedgerError> {
    load_ledger_split(cfg, base_dir, None, Split::default())
}

/// [`load_ledger`] with booking date-times placed on the days of `reporting`
/// (`run.reporting_timezone`): naive ones are read in `timezone` and converted, ones with an
/// offset are converted; date-only values are taken as reporting days as written.
pub fn load_ledger_in(
    cfg: &LedgerConfig,
    base_dir: &Path,
    reporting: chrono_tz::Tz,
) -> Result<LedgerLoad, LedgerError> {
    load_ledger_split(cfg, base_dir, Some(reporting), Split::default())
}

/// [`load_ledger`] with the reporting zone (default: the ledger's own) and the CSV chunking
/// spelled out (tests force small chunks).
pub(crate) fn load_ledger_split(
    cfg: &LedgerConfig,
    base_dir: &Path,
    reporting: Option<chrono_tz::Tz>,
    split: Split,
) -> Result<LedgerLoad, LedgerError> {
    let mut loader = Loader::new(cfg)?;
    if let Some(tz) = reporting {
        loader.dates.reporting = tz;
    }
    loader.split = split;
    let files = resolve_files(&cfg.path, base_dir)?;
    for (path, label) in &files {
        read_file(&mut loader, path, label)?;
    }
    let (frame, counts, quarantined) = loader.finish_frame()?;
    let frame = with_unmapped(frame)?;
    frames::check_ledger_schema(&frame)?;
    assert_eq!(
        counts.rows_read,
        counts.rows_loaded + counts.rows_quarantined,
        "ledger counts do not add up"
    );
    assert_eq!(frame.height() as u64, counts.rows_loaded);
    if !counts.unmapped_line_types.is_empty() {
        tracing::warn!(types = ?counts.unmapped_line_types, "ledger line types not in conventions.line_types are set aside as journal lines");
    }
    if !counts.unmapped_statuses.is_empty() {
        tracing::warn!(statuses = ?counts.unmapped_statuses, "ledger statuses not in status_map were loaded as `other`");
    }
    if counts.rows_quarantined > 0 {
        tracing::warn!(rows = counts.rows_quarantined, "ledger rows quarantined");
    }
    Ok(LedgerLoad {
        frame,
        quarantined,
        counts,
    })
}

/// What [`stream_ledger`] read.
#[derive(Debug)]
pub struct LedgerStream {
    /// What was read.
    pub counts: LedgerCounts,
    /// Rows set aside (`on_bad_row = "quarantine"`).
    pub quarantined: Vec<BadRow>,
}

/// [`load_ledger_in`], the rows handed to `sink` in pieces in file order instead of stacked
/// (memory: a few pieces, never a file). The files in `one_reader` are read by one reader.
///
/// The same rows, sources, counts and errors as [`load_ledger_in`]. A file whose parallel
/// read fails after rows were handed on is [`LedgerError::NotInChunks`]: the caller reads the
/// ledger again with that file in `one_reader`, knowing `sink` saw some rows twice.
pub fn stream_ledger(
    cfg: &LedgerConfig,
    base_dir: &Path,
    reporting: Option<chrono_tz::Tz>,
    one_reader: &[PathBuf],
    sink: &mut dyn RowSink,
) -> Result<LedgerStream, LedgerError> {
    stream_ledger_split(
        cfg,
        base_dir,
        reporting,
        one_reader,
        (Split::default(), SINK_ROWS),
        sink,
    )
}

/// [`stream_ledger`] with the CSV chunking and the rows gathered by one reader before they
/// are handed on spelled out (tests force small ones).
pub(crate) fn stream_ledger_split<'c>(
    cfg: &'c LedgerConfig,
    base_dir: &Path,
    reporting: Option<chrono_tz::Tz>,
    one_reader: &[PathBuf],
    (split, sink_rows): (Split, usize),
    sink: &'c mut (dyn RowSink + 'c),
) -> Result<LedgerStream, LedgerError> {
    let mut loader = Loader::new(cfg)?;
    loader.sink_rows = sink_rows.max(1) as u64;
    if let Some(tz) = reporting {
        loader.dates.reporting = tz;
    }
    loader.sink = Some(sink);
    let files = resolve_files(&cfg.path, base_dir)?;
    for (path, label) in &files {
        loader.split = if one_reader.contains(path) {
            Split::sequential()
        } else {
            split
        };
        read_file(&mut loader, path, label)?;
    }
    loader.flush()?;
    let (counts, quarantined) = (loader.counts, loader.quarantined);
    assert_eq!(
        counts.rows_read,
        counts.rows_loaded + counts.rows_quarantined,
        "ledger counts do not add up"
    );
    assert_eq!(loader.handed, counts.rows_loaded, "ledger rows handed on");
    Ok(LedgerStream {
        counts,
        quarantined,
    })
}

/// Reads one ledger file into `loader`.
fn read_file(loader: &mut Loader<'_>, path: &Path, label: &Path) -> Result<(), LedgerError> {
    let format = match loader.cfg.format {
        LedgerFormat::Auto => format_by_extension(path)?,
        f => f,
    };
    let before = loader.counts.rows_read;
    match format {
        LedgerFormat::Csv | LedgerFormat::Auto => csv_reader::read(loader, path, label)?,
        LedgerFormat::Xlsx => xlsx::read(loader, path, label)?,
        LedgerFormat::Parquet => parquet::read(loader, path, label)?,
    }
    loader.counts.files += 1;
    tracing::info!(
        file = %label.display(),
        rows = loader.counts.rows_read - before,
        "ledger file read"
    );
    Ok(())
}

/// `frame` (of mapped fields only, see [`Builders`]) with the columns of the fields the ledger
/// does not map, all null, as constant columns in their places of [`frames::ledger_schema`];
/// a mapped column without a single value becomes such a constant too.
fn with_unmapped(mut frame: DataFrame) -> Result<DataFrame, LedgerError> {
    let height = frame.height();
    for (i, (name, dtype)) in frames::ledger_schema().iter().enumerate() {
        let empty = Column::full_null(name.clone(), height, dtype);
        match frame.column(name) {
            Err(_) => {
                frame.insert_column(i, empty)?;
            }
            // A mapped column with no value in any line (an empty `Note` column) is the same
            // nulls, held for nothing instead of 16 bytes a line.
            Ok(c) if height > 0 && c.null_count() == height && c.as_scalar_column().is_none() => {
                frame.with_column(empty)?;
            }
            Ok(_) => {}
        }
    }
    Ok(frame)
}

/// The files a ledger path or glob names, sorted (what a run records the digests of).
pub fn ledger_files(pattern: &str, base_dir: &Path) -> Result<Vec<PathBuf>, LedgerError> {
    Ok(resolve_files(pattern, base_dir)?
        .into_iter()
        .map(|(p, _)| p)
        .collect())
}

/// The files a path or glob names, sorted, each with its name relative to `base_dir`.
fn resolve_files(pattern: &str, base_dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>, LedgerError> {
    let full = if Path::new(pattern).is_absolute() {
        pattern.to_owned()
    } else {
        format!(
            "{}/{}",
            glob::Pattern::escape(&base_dir.to_string_lossy()),
            pattern
        )
    };
    let paths = glob::glob(&full).map_err(|e| LedgerError::BadPattern {
        pattern: pattern.to_owned(),
        message: e.to_string(),
    })?;
    let mut files = Vec::new();
    for p in paths {
        let p = p.map_err(|e| LedgerError::Unreadable {
            file: e.path().to_owned(),
            source: std::io::Error::new(e.error().kind(), e.error().to_string()),
        })?;
        if p.is_dir() {
            tracing::warn!(path = %p.display(), "ledger path matches a folder; skipped");
            continue;
        }
        let label = p.strip_prefix(base_dir).unwrap_or(&p).to_owned();
        files.push((p, label));
    }
    files.sort();
    if files.is_empty() {
        return Err(LedgerError::NoMatch {
            pattern: Path::new(base_dir).join(pattern).display().to_string(),
        });
    }
    Ok(files)
}

fn format_by_extension(path: &Path) -> Result<LedgerFormat, LedgerError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" | "tsv" | "txt" => Ok(LedgerFormat::Csv),
        "xlsx" | "xlsm" | "xls" => Ok(LedgerFormat::Xlsx),
        "parquet" => Ok(LedgerFormat::Parquet),
        _ => Err(LedgerError::Config(format!(
            "{}: cannot tell the format from the extension {ext:?}; set ledger.format",
            path.display()
        ))),
    }
}
