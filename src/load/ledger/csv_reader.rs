//! Streaming CSV reader: BOM and encoding handling, delimiter sniffing, physical line numbers.
//!
//! The file is never held whole: bytes flow file → (Windows-1252 → UTF-8) → [`Tracker`] →
//! `csv::Reader`, and each record goes straight into the frame's builders. The tracker sees
//! every byte the csv crate reads, which gives three things the crate does not: correct
//! physical line numbers after CRLF, a limit on field length enforced while reading (an
//! unterminated quote cannot buffer the whole file), and whether the file ended inside a
//! quoted field (the csv crate silently closes it).

use super::probe::{Scanned, StatusScan};
use super::{map_header, sniff_kind, Cell, LedgerError, Loader, N_FIELDS};
use crate::domain::csvsplit::{
    self, Chunk, Fields, LineEnds, PlainRecord, PlainRecords, QuoteState as Q, Splitter, Stopped,
};
use crate::load::ledger::config::{CsvEncoding, Delimiter, LedgerConfig};
use crate::load::ledger::BadRow;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// How much of the decoded start of a file is looked at to find the header line.
const SNIFF_BYTES: usize = 64 * 1024;

/// Reads one CSV ledger into `loader`: the text decoded, the delimiter and header found, then
/// the rows (on every core when the file is large and UTF-8).
pub(super) fn read(loader: &mut Loader<'_>, path: &Path, label: &Path) -> Result<(), LedgerError> {
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    let mut parallel = loader.split.parallel_for(len);
    if parallel && loader.cfg.csv.encoding == CsvEncoding::Auto {
        match read_as_utf8(loader, path, label)? {
            Tentative::Done => return Ok(()),
            // Not UTF-8 after all, or a chunk failed: the one reader says what happens.
            Tentative::Failed => parallel = false,
            Tentative::NotTried => {}
        }
    }
    read_decoded(loader, path, label, parallel)
}

/// What [`read_as_utf8`] did.
enum Tentative {
    /// The file is read (and was UTF-8).
    Done,
    /// Nothing: the file is read as always.
    NotTried,
    /// Its chunks were read but not kept (`loader` untouched): not all UTF-8, or a chunk
    /// failed.
    Failed,
}

/// Reads a large ledger of `csv.encoding = "auto"` without a BOM as UTF-8 in parallel, its
/// chunks each checked to be UTF-8 by the thread that parses it, instead of reading the
/// whole file once more first to decide the encoding (578 MB more at 10M rows). Anything
/// unexpected (not UTF-8, an error) leaves it to the reading that decides first.
fn read_as_utf8(
    loader: &mut Loader<'_>,
    path: &Path,
    label: &Path,
) -> Result<Tentative, LedgerError> {
    if !matches!(text_with_bom(path, label), Ok(false)) {
        return Ok(Tentative::NotTried);
    }
    let dialect = &loader.cfg.csv;
    let Ok(text) = Decoded::open(path, label, CsvEncoding::Utf8) else {
        return Ok(Tentative::NotTried);
    };
    let prefix_utf8 = match std::str::from_utf8(&text.prefix) {
        Ok(_) => true,
        // A character cut at the end of the prefix.
        Err(e) => e.error_len().is_none(),
    };
    let quote = dialect.quote as u8;
    let delimiter = delimiter_of(dialect.delimiter, &text.prefix, quote, label);
    let (true, Ok(delimiter)) = (prefix_utf8, delimiter) else {
        return Ok(Tentative::NotTried);
    };
    let early_header = first_record(&text.prefix, delimiter, quote);
    // The header is read from the prefix alone: whole only when it ends before the prefix.
    let prefix_len = text.prefix.len() as u64;
    let header_utf8 = |start: u64| {
        usize::try_from(start)
            .ok()
            .and_then(|s| text.prefix.get(..s))
            .is_some_and(|h| std::str::from_utf8(h).is_ok())
    };
    let header_ok = start_after_header(&text, delimiter, quote, loader, label, &early_header)
        .filter(|(_, start)| *start < prefix_len && header_utf8(*start));
    let Some((rows, start)) = header_ok else {
        return Ok(Tentative::NotTried);
    };
    if rows.parallel(loader, path, 0, start, true)? {
        Ok(Tentative::Done)
    } else {
        Ok(Tentative::Failed)
    }
}

/// The rows' reader and the byte after the header of `text`, or None on any error (the
/// reading that decides the encoding first then names it).
fn start_after_header<'l>(
    text: &Decoded,
    delimiter: u8,
    quote: u8,
    loader: &Loader<'_>,
    label: &'l Path,
    early_header: &[String],
) -> Option<(Rows<'l>, u64)> {
    let tracker = Tracker::new(
        &text.prefix[..],
        delimiter,
        quote,
        loader.cfg.max_field_bytes,
    );
    let mut rdr = reader(delimiter, quote, tracker);
    let rows = Rows::after_header(&mut rdr, loader, label, early_header, delimiter, quote).ok()?;
    Some((rows, rdr.position().byte()))
}

/// [`read`] once the encoding is decided (by reading the whole file, unless configured or a
/// BOM says it); in parallel when `parallel` and the text is UTF-8.
fn read_decoded(
    loader: &mut Loader<'_>,
    path: &Path,
    label: &Path,
    parallel: bool,
) -> Result<(), LedgerError> {
    let dialect = &loader.cfg.csv;
    let text = Decoded::open(path, label, dialect.encoding)?;
    let quote = dialect.quote as u8;
    let delimiter = delimiter_of(dialect.delimiter, &text.prefix, quote, label)?;
    // The header as read from the first bytes, to name the column of a too-long field: the
    // csv reader reads ahead, so that error can come before it has returned the header.
    let early_header = first_record(&text.prefix, delimiter, quote);
    let (encoding, has_bom) = (text.encoding, text.has_bom);
    let tracker = Tracker::new(
        text.into_reader(),
        delimiter,
        quote,
        loader.cfg.max_field_bytes,
    );
    let mut rdr = reader(delimiter, quote, tracker);
    let rows = Rows::after_header(&mut rdr, loader, label, &early_header, delimiter, quote)?;
    if encoding == CsvEncoding::Utf8 && parallel {
        let start = rdr.position().byte();
        let skip_bom = if has_bom { 3 } else { 0 };
        if rows.parallel(loader, path, skip_bom, start, false)? {
            return Ok(());
        }
        // Not read in parallel (a bad row in `fail` mode, a field too long, too many rows):
        // the one reader below, still after the header, gives exactly what it always gave.
    }
    rows.read(loader, &mut rdr)
}

/// The header of one CSV ledger and the status words of its first rows (`check-config`):
/// decoded, delimited and quoted as [`read`] does.
pub(super) fn probe(
    cfg: &LedgerConfig,
    path: &Path,
    label: &Path,
    scan: &mut StatusScan,
) -> Result<Scanned, LedgerError> {
    let text = Decoded::open(path, label, cfg.csv.encoding)?;
    let quote = cfg.csv.quote as u8;
    let delimiter = delimiter_of(cfg.csv.delimiter, &text.prefix, quote, label)?;
    let early_header = first_record(&text.prefix, delimiter, quote);
    let tracker = Tracker::new(text.into_reader(), delimiter, quote, cfg.max_field_bytes);
    let mut rdr = reader(delimiter, quote, tracker);
    let (header, header_line) = read_header(&mut rdr, label, &early_header)?;
    let Some(col) = scan.column(&header) else {
        return Ok((header, header_line, None));
    };
    let mut rec = csv::ByteRecord::new();
    while scan.more(rdr.position().byte()) {
        match rdr.read_byte_record(&mut rec) {
            // A row with another field count is a bad row, not a status.
            Ok(true) if rec.len() != header.len() => {}
            Ok(true) => scan.add(&String::from_utf8_lossy(rec.get(col).unwrap_or_default())),
            Ok(false) => break,
            Err(e) => {
                let e = csv_err(label, &rdr, e, &header);
                return Ok((header, header_line, Some(e)));
            }
        }
    }
    Ok((header, header_line, None))
}

/// The error for an I/O failure on `label`.
fn unreadable(label: &Path) -> impl Fn(io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Unreadable {
        file: label.to_owned(),
        source,
    }
}

/// A CSV file opened as UTF-8 text: its BOM skipped, Windows-1252 decoded on the fly, and
/// the first [`SNIFF_BYTES`] of the text already read (to find the delimiter and header).
struct Decoded {
    encoding: CsvEncoding,
    has_bom: bool,
    prefix: Vec<u8>,
    rest: Box<dyn Read>,
}

impl Decoded {
    /// Opens `path`, refusing a file that is not text or has nothing but blanks.
    fn open(path: &Path, label: &Path, encoding: CsvEncoding) -> Result<Self, LedgerError> {
        let has_bom = text_with_bom(path, label)?;
        let encoding = match encoding {
            CsvEncoding::Auto if has_bom => CsvEncoding::Utf8,
            CsvEncoding::Auto => {
                let file = File::open(path).map_err(unreadable(label))?;
                if is_utf8(file).map_err(unreadable(label))? {
                    CsvEncoding::Utf8
                } else {
                    CsvEncoding::Windows1252
                }
            }
            e => e,
        };
        tracing::debug!(file = %label.display(), ?encoding, has_bom, "ledger csv");
        let file = File::open(path).map_err(unreadable(label))?;
        let mut file = BufReader::with_capacity(256 * 1024, file);
        if has_bom && encoding == CsvEncoding::Utf8 {
            file.read_exact(&mut [0u8; 3]).map_err(unreadable(label))?;
        }
        let mut rest: Box<dyn Read> = match encoding {
            CsvEncoding::Windows1252 => Box::new(Win1252Reader::new(file)),
            _ => Box::new(file),
        };
        let mut prefix = vec![0u8; SNIFF_BYTES];
        let n = read_up_to(&mut rest, &mut prefix).map_err(unreadable(label))?;
        prefix.truncate(n);
        if prefix.iter().all(u8::is_ascii_whitespace) {
            return Err(LedgerError::Empty {
                file: label.to_owned(),
            });
        }
        Ok(Decoded {
            encoding,
            has_bom,
            prefix,
            rest,
        })
    }

    /// The whole text again, from its first byte after the BOM.
    fn into_reader(self) -> impl Read {
        io::Cursor::new(self.prefix).chain(self.rest)
    }
}

/// Whether the file starts with a UTF-8 BOM, once its first bytes show it is text at all.
fn text_with_bom(path: &Path, label: &Path) -> Result<bool, LedgerError> {
    let mut head = [0u8; 8];
    let mut file = File::open(path).map_err(unreadable(label))?;
    let n = read_up_to(&mut file, &mut head).map_err(unreadable(label))?;
    let kind = sniff_kind(&head[..n]);
    if !kind.starts_with("text") {
        return Err(LedgerError::WrongKind {
            file: label.to_owned(),
            expected: "CSV",
            found: kind.to_owned(),
        });
    }
    Ok(head[..n].starts_with(BOM))
}

/// The configured delimiter, or the one the header line shows.
fn delimiter_of(
    configured: Delimiter,
    prefix: &[u8],
    quote: u8,
    label: &Path,
) -> Result<u8, LedgerError> {
    match configured {
        Delimiter::Byte(b) => Ok(b),
        Delimiter::Auto => sniff_delimiter(prefix, quote).ok_or_else(|| {
            let line = prefix
                .split(|&b| b == b'\n' || b == b'\r')
                .next()
                .unwrap_or_default();
            LedgerError::AmbiguousDelimiter {
                file: label.to_owned(),
                header: super::cut(String::from_utf8_lossy(line).trim_end()),
            }
        }),
    }
}

/// The fields of the first record in `text`, if it has a whole one.
fn first_record(text: &[u8], delimiter: u8, quote: u8) -> Vec<String> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .quote(quote)
        .from_reader(text)
        .byte_records()
        .next()
        .and_then(Result::ok)
        .map(|r| {
            r.iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the header record: its names and its line.
fn read_header<T: Lines>(
    rdr: &mut csv::Reader<T>,
    label: &Path,
    early_header: &[String],
) -> Result<(Vec<String>, u64), LedgerError> {
    let mut rec = csv::ByteRecord::new();
    match rdr.read_byte_record(&mut rec) {
        Ok(true) => {}
        Ok(false) => {
            return Err(LedgerError::Empty {
                file: label.to_owned(),
            })
        }
        Err(e) => return Err(csv_err(label, rdr, e, early_header)),
    }
    let (byte, csv_line) = position(&rec);
    let line = rdr.get_ref().line_at(byte, csv_line);
    let header = rec
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    Ok((header, line))
}

/// Where a record starts: its byte, and the csv reader's count of lines there.
fn position(rec: &csv::ByteRecord) -> (u64, u64) {
    rec.position().map_or((0, 1), |p| (p.byte(), p.line()))
}

fn reader<T: Read>(delimiter: u8, quote: u8, tracker: T) -> csv::Reader<T> {
    // Not `flexible(false)`: a chunk's reader has no header, so [`Rows::read`] checks the
    // field count against the header itself.
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quote(quote)
        .buffer_capacity(64 * 1024)
        .from_reader(tracker)
}

fn csv_err<T: Lines>(
    label: &Path,
    rdr: &csv::Reader<T>,
    e: csv::Error,
    header: &[String],
) -> LedgerError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        if let Some(TooLong { line, field }) =
            io.get_ref().and_then(|x| x.downcast_ref::<TooLong>())
        {
            return LedgerError::FieldTooLong {
                file: label.to_owned(),
                line: *line,
                column: header.get(*field).map_or_else(
                    || format!("#{}", field + 1),
                    |h| super::header_sample(std::slice::from_ref(h)).concat(),
                ),
                limit: rdr.get_ref().max_field(),
            };
        }
        return LedgerError::Unreadable {
            file: label.to_owned(),
            source: io::Error::new(io.kind(), io.to_string()),
        };
    }
    LedgerError::Malformed {
        file: label.to_owned(),
        message: e.to_string(),
    }
}

/// What one read of a record gave.
enum Next {
    /// A record, starting on physical line `line`.
    Record {
        line: u64,
    },
    End,
    /// A record with another field count than the header, starting at byte `pos` (where the
    /// csv reader's line count was `csv_line`).
    Unequal {
        pos: u64,
        csv_line: u64,
        len: usize,
    },
    Failed(csv::Error),
}

/// What turns the records after a header into rows; shared by the threads.
struct Rows<'a> {
    label: &'a Path,
    /// Prefix of the `source` column.
    source: String,
    header: Vec<String>,
    idx: [Option<usize>; N_FIELDS],
    delimiter: u8,
    quote: u8,
}

impl<'l> Rows<'l> {
    /// Reads the header from `rdr` and maps the configured columns onto it: the rows' reader
    /// for both the tentative parallel read and the one that decides the encoding.
    fn after_header<R: Read>(
        rdr: &mut csv::Reader<Tracker<R>>,
        loader: &Loader<'_>,
        label: &'l Path,
        early_header: &[String],
        delimiter: u8,
        quote: u8,
    ) -> Result<Rows<'l>, LedgerError> {
        let (header, header_line) = read_header(rdr, label, early_header)?;
        let idx = map_header(&header, &loader.names, label, header_line)?;
        Ok(Rows {
            label,
            source: label.to_string_lossy().into_owned(),
            header,
            idx,
            delimiter,
            quote,
        })
    }
    /// Reads the records after the header (at byte `start` of the text after the BOM) in
    /// chunks on every core and adds them to `loader`; false (and `loader` untouched) when
    /// the file must be read by one reader instead, which then gives the same rows and the
    /// same first error as always.
    fn parallel(
        &self,
        loader: &mut Loader<'_>,
        path: &Path,
        skip_bom: u64,
        start: u64,
        check_utf8: bool,
    ) -> Result<bool, LedgerError> {
        let cfg = loader.cfg;
        let reporting = loader.dates.reporting;
        let Ok(mut file) = File::open(path) else {
            return Ok(false);
        };
        let split = loader
            .split
            .for_file(file.metadata().map_or(0, |m| m.len()));
        if skip_bom > 0 && file.read_exact(&mut [0u8; 3]).is_err() {
            return Ok(false);
        }
        let max_record = cfg
            .max_field_bytes
            .saturating_mul(2)
            .saturating_add(64 * 1024);
        let Ok(splitter) = Splitter::new(
            file,
            start,
            self.delimiter,
            self.quote,
            LineEnds::Any,
            &split,
            Some(max_record),
        ) else {
            return Ok(false);
        };
        // Rows read by the chunks done so far (and the files before this one): once over
        // `max_rows` no more chunks are read, so the limit bounds the memory of this path too;
        // the one reader then names the line.
        let rows_so_far = AtomicU64::new(loader.counts.rows_read);
        let work = |chunk: Chunk| {
            if rows_so_far.load(Ordering::Relaxed) > cfg.max_rows {
                return Err(ChunkStop::TooManyRows);
            }
            let mut part = Loader::new(cfg)?;
            part.dates.reporting = reporting;
            part.reserve(chunk.max_records());
            if check_utf8 && std::str::from_utf8(&chunk.bytes).is_err() {
                return Err(ChunkStop::NotUtf8);
            }
            if let Some(plain) = PlainRecords::of(&chunk, self.delimiter, self.quote) {
                if !self.read_plain(&mut part, plain, cfg.max_field_bytes)? {
                    return Err(ChunkStop::MaybeTooLong);
                }
            } else {
                let text = ChunkText::new(&chunk, self.delimiter, self.quote, cfg.max_field_bytes);
                let mut rdr = reader(self.delimiter, self.quote, text);
                self.read(&mut part, &mut rdr)?;
                if rdr.get_ref().maybe_too_long() {
                    return Err(ChunkStop::MaybeTooLong);
                }
            }
            let part = part.into_part()?;
            rows_so_far.fetch_add(part.counts.rows_read, Ordering::Relaxed);
            Ok(part)
        };
        if loader.streaming() {
            return self.parallel_streaming(loader, path, splitter, split.threads, work);
        }
        let parts = csvsplit::parse_chunks(splitter, split.threads, work);
        let parts = match parts {
            Ok(parts) => parts,
            Err(e) => {
                let reason = match e {
                    Stopped::Chunk(e) => e.to_string(),
                    Stopped::Split(e) => e.to_string(),
                };
                tracing::debug!(file = %self.label.display(), %reason, "ledger csv read by one reader");
                return Ok(false);
            }
        };
        let rows: u64 = parts.iter().map(|p| p.counts.rows_read).sum();
        if loader.counts.rows_read.saturating_add(rows) > cfg.max_rows {
            return Ok(false);
        }
        for part in parts {
            loader.absorb(part)?;
        }
        csvsplit::note_parallel_read();
        Ok(true)
    }

    /// [`Rows::parallel`] for a loader handing its rows on ([`super::stream_ledger`]): each
    /// chunk goes to the loader as soon as the chunks before it have, so the file is never
    /// held whole. Once a chunk has gone, the one reader can no longer start over: a failure
    /// after that is [`LedgerError::NotInChunks`] (a bad row's own error stays itself).
    fn parallel_streaming<R, F>(
        &self,
        loader: &mut Loader<'_>,
        path: &Path,
        splitter: Splitter<R>,
        threads: usize,
        work: F,
    ) -> Result<bool, LedgerError>
    where
        R: Read + Send,
        F: Fn(Chunk) -> Result<super::Part, ChunkStop> + Sync,
    {
        let before = loader.counts.rows_read;
        let max_rows = loader.cfg.max_rows;
        let parsed = csvsplit::parse_chunks_each(splitter, threads, work, |part| {
            loader.absorb(part).map_err(ChunkStop::Ledger)
        });
        let reason = match parsed {
            Ok(()) if loader.counts.rows_read <= max_rows => {
                csvsplit::note_parallel_read();
                return Ok(true);
            }
            Ok(()) => ChunkStop::TooManyRows.to_string(),
            Err(Stopped::Chunk(ChunkStop::Ledger(e @ LedgerError::Sink(_)))) => return Err(e),
            Err(Stopped::Chunk(e)) => e.to_string(),
            Err(Stopped::Split(e)) => e.to_string(),
        };
        if loader.counts.rows_read == before {
            tracing::debug!(file = %self.label.display(), %reason, "ledger csv read by one reader");
            return Ok(false);
        }
        Err(LedgerError::NotInChunks {
            file: path.to_path_buf(),
            reason,
        })
    }

    /// Reads every record left in `rdr` into `loader`.
    fn read<T: Lines>(
        &self,
        loader: &mut Loader<'_>,
        rdr: &mut csv::Reader<T>,
    ) -> Result<(), LedgerError> {
        let mut rec = csv::ByteRecord::new();
        // Rows, one ahead: only after the next read do we know whether a record was the last
        // one, and the last one may have been cut inside a quote. `line` is `rec`'s line
        // while `rec` waits to be handed on.
        let mut next = csv::ByteRecord::new();
        let mut line: Option<u64> = None;
        loop {
            let res = self.read_next(rdr, &mut next);
            if let Some(line) = line.take() {
                let truncated = matches!(res, Next::End) && rdr.get_ref().ended_in_quote();
                self.add_record(loader, &rec, line, truncated)?;
            }
            match res {
                Next::Record { line: next_line } => {
                    std::mem::swap(&mut rec, &mut next);
                    line = Some(next_line);
                }
                Next::End => break,
                Next::Unequal { pos, csv_line, len } => {
                    let line = rdr.get_ref().line_at(pos, csv_line);
                    self.unequal(loader, &next, line, len)?;
                }
                Next::Failed(e) => return Err(csv_err(self.label, rdr, e, &self.header)),
            }
        }
        Ok(())
    }

    /// [`Rows::read`] for a chunk without quotes, split by [`PlainRecords`] (the same records
    /// on the same lines): false, and the chunk left to the one reader, when a field is longer
    /// than `max_field` (that reader names it). No record of such a chunk can be cut inside a
    /// quote.
    fn read_plain(
        &self,
        loader: &mut Loader<'_>,
        mut plain: PlainRecords<'_>,
        max_field: usize,
    ) -> Result<bool, LedgerError> {
        let mut rec = PlainRecord::default();
        while let Some(line) = plain.next_into(&mut rec) {
            // A field is never longer than its line.
            if rec.as_slice().len() > max_field
                && (0..rec.field_count()).any(|i| rec.range(i).is_some_and(|r| r.len() > max_field))
            {
                return Ok(false);
            }
            if rec.field_count() == self.header.len() {
                self.add_record(loader, &rec, line, false)?;
            } else {
                self.unequal(loader, &rec, line, rec.field_count())?;
            }
        }
        Ok(true)
    }

    /// Reads the next record into `rec` and says what it was.
    #[inline]
    fn read_next<T: Lines>(&self, rdr: &mut csv::Reader<T>, rec: &mut csv::ByteRecord) -> Next {
        match rdr.read_byte_record(rec) {
            Ok(true) if rec.len() != self.header.len() => Next::Unequal {
                pos: position(rec).0,
                csv_line: position(rec).1,
                len: rec.len(),
            },
            Ok(true) => {
                let (byte, csv_line) = position(rec);
                Next::Record {
                    line: rdr.get_ref().line_at(byte, csv_line),
                }
            }
            Ok(false) => Next::End,
            Err(e) => Next::Failed(e),
        }
    }

    /// Hands a counted record to the loader, or sets it aside when the file ended inside
    /// one of its quoted fields.
    #[inline]
    fn add_record<F: Fields>(
        &self,
        loader: &mut Loader<'_>,
        rec: &F,
        line: u64,
        truncated: bool,
    ) -> Result<(), LedgerError> {
        loader.count_row(self.label, line)?;
        if truncated {
            return loader.bad_row(BadRow {
                file: self.label.to_owned(),
                line,
                column: "*".to_owned(),
                value: self.whole_record(rec),
                problem: "is truncated: the file ends inside a quoted field".to_owned(),
            });
        }
        row(loader, self.label, &self.source, line, rec, &self.idx)
    }

    /// Counts and sets aside a record with another field count than the header.
    #[cold]
    fn unequal<F: Fields>(
        &self,
        loader: &mut Loader<'_>,
        rec: &F,
        line: u64,
        len: usize,
    ) -> Result<(), LedgerError> {
        loader.count_row(self.label, line)?;
        let expected_len = self.header.len();
        loader.bad_row(BadRow {
            file: self.label.to_owned(),
            line,
            column: "*".to_owned(),
            value: self.whole_record(rec),
            problem: format!(
                "has {len} fields where the header has {expected_len} (a stray delimiter or quote?)"
            ),
        })
    }

    /// A record written out again, cut, for a row set aside as a whole.
    fn whole_record<F: Fields>(&self, rec: &F) -> String {
        super::cut(
            &(0..rec.field_count())
                .filter_map(|i| rec.get(i))
                .map(String::from_utf8_lossy)
                .collect::<Vec<_>>()
                .join(&(self.delimiter as char).to_string()),
        )
    }
}

/// Hands one record's cells to the loader.
fn row<F: Fields>(
    loader: &mut Loader<'_>,
    label: &Path,
    source: &str,
    line: u64,
    rec: &F,
    idx: &[Option<usize>; N_FIELDS],
) -> Result<(), LedgerError> {
    let mut cells: [Cell<'_>; N_FIELDS] = Default::default();
    // The record's text checked once, not field by field (a call per cell was about 6% of the
    // load's samples); a record that is not all UTF-8 is checked by field, naming the bad one.
    let whole = std::str::from_utf8(rec.as_slice()).ok();
    for (k, i) in idx.iter().enumerate() {
        if let Some(i) = i {
            let raw = rec.get(*i).unwrap_or_default();
            let text = match (whole, rec.range(*i)) {
                (Some(w), Some(r)) => w.get(r).ok_or(()),
                _ => std::str::from_utf8(raw).map_err(|_| ()),
            };
            match text {
                Ok(t) => cells[k] = Cell::Text(t),
                Err(_) => {
                    return loader.bad_row(BadRow {
                        file: label.to_owned(),
                        line,
                        column: loader.names[k].unwrap_or("*").to_owned(),
                        value: super::cut(&String::from_utf8_lossy(raw)),
                        problem: "is not valid UTF-8 (set csv.encoding)".to_owned(),
                    })
                }
            }
        }
    }
    loader.row(label, source, line, &cells)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Whether a whole stream is valid UTF-8, read in chunks (a character may straddle two).
fn is_utf8(mut r: impl Read) -> io::Result<bool> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut carry = 0;
    loop {
        let n = read_up_to(&mut r, &mut buf[carry..])?;
        let len = carry + n;
        match std::str::from_utf8(&buf[..len]) {
            Ok(_) => carry = 0,
            Err(e) if e.error_len().is_none() && n > 0 => {
                let ok = e.valid_up_to();
                buf.copy_within(ok..len, 0);
                carry = len - ok;
            }
            Err(_) => return Ok(false),
        }
        if n == 0 {
            return Ok(carry == 0);
        }
    }
}

/// Decodes Windows-1252 to UTF-8 on the fly.
struct Win1252Reader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    raw: Vec<u8>,
    raw_len: usize,
    raw_pos: usize,
    eof: bool,
    finished: bool,
}

impl<R: Read> Win1252Reader<R> {
    fn new(inner: R) -> Self {
        Win1252Reader {
            inner,
            decoder: encoding_rs::WINDOWS_1252.new_decoder_without_bom_handling(),
            raw: vec![0u8; 64 * 1024],
            raw_len: 0,
            raw_pos: 0,
            eof: false,
            finished: false,
        }
    }
}

impl<R: Read> Read for Win1252Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // Every Windows-1252 byte becomes at most 3 UTF-8 bytes.
        if out.len() < 3 {
            let mut tmp = [0u8; 3];
            let n = self.read(&mut tmp)?;
            // Callers here always pass large buffers; this is for completeness.
            let k = n.min(out.len());
            out[..k].copy_from_slice(&tmp[..k]);
            return Ok(k);
        }
        loop {
            if self.finished {
                return Ok(0);
            }
            if self.raw_pos == self.raw_len && !self.eof {
                self.raw_len = read_up_to(&mut self.inner, &mut self.raw)?;
                self.raw_pos = 0;
                self.eof = self.raw_len < self.raw.len();
            }
            let src = &self.raw[self.raw_pos..self.raw_len];
            let take = src.len().min(out.len() / 3);
            let last = self.eof && take == src.len();
            let (res, read, written, _) = self.decoder.decode_to_utf8(&src[..take], out, last);
            self.raw_pos += read;
            // A decoder told `last` must not be called again.
            self.finished = last && res == encoding_rs::CoderResult::InputEmpty;
            if written > 0 || self.finished {
                return Ok(written);
            }
        }
    }
}

/// What the row reader asks of the text under its csv reader: the line a record starts on,
/// whether the text ended inside a quoted field, and the field length limit.
trait Lines: Read {
    /// 1-based line of a record starting at `byte`, where the csv reader's line count was
    /// `csv_line` (asked in increasing order).
    fn line_at(&self, byte: u64, csv_line: u64) -> u64;
    /// Whether the text ended inside a quoted field (asked once, at the end).
    fn ended_in_quote(&self) -> bool;
    /// `max_field_bytes`.
    fn max_field(&self) -> usize;
}

impl<R: Read> Lines for Tracker<R> {
    fn line_at(&self, byte: u64, _csv_line: u64) -> u64 {
        Tracker::line_at(self, byte)
    }

    fn ended_in_quote(&self) -> bool {
        Tracker::ended_in_quote(self)
    }

    fn max_field(&self) -> usize {
        self.max_field
    }
}

/// Why a chunk was not read in parallel.
#[derive(Debug)]
enum ChunkStop {
    /// A load error (the one reader then finds the first one in the file).
    Ledger(LedgerError),
    /// A record longer than `max_field_bytes`: one of its fields may be too long, which only
    /// the one reader's [`Tracker`] names exactly.
    MaybeTooLong,
    /// Read as UTF-8 before the encoding was decided, and it is not.
    NotUtf8,
    /// The chunks read so far hold more than `max_rows` rows.
    TooManyRows,
}

impl From<LedgerError> for ChunkStop {
    fn from(e: LedgerError) -> Self {
        ChunkStop::Ledger(e)
    }
}

impl std::fmt::Display for ChunkStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChunkStop::Ledger(e) => e.fmt(f),
            ChunkStop::MaybeTooLong => f.write_str("a record longer than max_field_bytes"),
            ChunkStop::NotUtf8 => f.write_str("not UTF-8"),
            ChunkStop::TooManyRows => f.write_str("more than max_rows rows"),
        }
    }
}

/// A chunk's text (whole records, in memory) under a csv reader. What the [`Tracker`] finds
/// by watching every byte go by is found here from the bytes themselves, when asked: a
/// record's line by [`csvsplit::ChunkLines`], the end inside a quote by scanning the last
/// record only, and a field too long by the records' lengths (a field is never longer than
/// its record; a chunk with a record longer than the limit is read again by the one reader,
/// which names the field).
struct ChunkText<'a> {
    bytes: &'a [u8],
    /// Next byte the csv reader gets.
    read: usize,
    delimiter: u8,
    quote: u8,
    max_field: usize,
    lines: RefCell<csvsplit::ChunkLines<'a>>,
    /// Start of the last record asked about, and whether a record before it is longer than
    /// `max_field`.
    last_record: std::cell::Cell<(usize, bool)>,
}

impl<'a> ChunkText<'a> {
    fn new(chunk: &'a Chunk, delimiter: u8, quote: u8, max_field: usize) -> Self {
        ChunkText {
            bytes: &chunk.bytes,
            read: 0,
            delimiter,
            quote,
            max_field,
            lines: RefCell::new(csvsplit::ChunkLines::new(chunk, LineEnds::Any)),
            last_record: std::cell::Cell::new((0, false)),
        }
    }

    /// Whether some record of the chunk is longer than `max_field_bytes` (only once every
    /// record has been read).
    fn maybe_too_long(&self) -> bool {
        let (last, long) = self.last_record.get();
        long || self.bytes.len() - last > self.max_field
    }
}

impl Read for ChunkText<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.bytes[self.read..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.read += n;
        Ok(n)
    }
}

impl Lines for ChunkText<'_> {
    fn line_at(&self, byte: u64, csv_line: u64) -> u64 {
        let (last, long) = self.last_record.get();
        let start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        let long = long || start.saturating_sub(last) > self.max_field;
        self.last_record.set((last.max(start), long));
        self.lines.borrow_mut().line_at(byte, csv_line)
    }

    fn ended_in_quote(&self) -> bool {
        let (last, _) = self.last_record.get();
        let mut state = Q::FieldStart;
        for &b in &self.bytes[last..] {
            state = state.after(b, self.delimiter, self.quote);
        }
        state == Q::Quoted
    }

    fn max_field(&self) -> usize {
        self.max_field
    }
}

/// "Field longer than `max_field_bytes`", raised from inside the reader.
#[derive(Debug)]
struct TooLong {
    line: u64,
    /// 0-based field of the record.
    field: usize,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "field starting on line {} is too long", self.line)
    }
}

impl std::error::Error for TooLong {}

/// Watches the bytes going into the csv reader (see the module doc).
struct Tracker<R> {
    inner: R,
    delimiter: u8,
    quote: u8,
    max_field: usize,
    /// Offset of the next byte to come.
    offset: u64,
    /// Line ends seen so far (`\n`, `\r\n` and a lone `\r` each count once).
    newlines: u64,
    /// Whether the last byte seen was `\r` (a `\n` right after it ends no new line).
    after_cr: bool,
    state: Q,
    field_len: usize,
    field_start_line: u64,
    /// 0-based index of the current field in its record.
    field_index: usize,
    /// Offsets of `\r`/`\n` bytes not yet behind a queried position, each with how many
    /// lines it ends (0 for the `\n` of a CRLF), and the lines ended before them.
    ends: RefCell<(VecDeque<(u64, u8)>, u64)>,
}

impl<R: Read> Tracker<R> {
    fn new(inner: R, delimiter: u8, quote: u8, max_field: usize) -> Self {
        let lines_before = 0;
        Tracker {
            inner,
            delimiter,
            quote,
            max_field,
            offset: 0,
            newlines: lines_before,
            after_cr: false,
            state: Q::FieldStart,
            field_len: 0,
            field_start_line: 1 + lines_before,
            field_index: 0,
            ends: RefCell::new((VecDeque::new(), lines_before)),
        }
    }

    /// 1-based line of a record starting at `byte`. The csv crate's position may point at
    /// the line end of the previous record (after CRLF), so line-end bytes there are skipped.
    /// Positions must be asked in increasing order.
    fn line_at(&self, byte: u64) -> u64 {
        let mut ends = self.ends.borrow_mut();
        let (q, before) = &mut *ends;
        while let Some(&(off, b)) = q.front() {
            if off >= byte {
                break;
            }
            *before += u64::from(b);
            q.pop_front();
        }
        let mut line = 1 + *before;
        for (at, &(off, b)) in (byte..).zip(q.iter()) {
            if off != at {
                break;
            }
            line += u64::from(b);
        }
        line
    }

    /// Whether the input ended inside a quoted field.
    fn ended_in_quote(&self) -> bool {
        self.state == Q::Quoted
    }

    fn scan(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut ends = self.ends.borrow_mut();
        for &b in buf {
            // Old Mac files end lines with a lone CR, which the csv crate also takes as a
            // record end: counting only LFs numbered every row of such a file line 1.
            let ends_line = b == b'\r' || (b == b'\n' && !self.after_cr);
            if b == b'\n' || b == b'\r' {
                ends.0.push_back((self.offset, u8::from(ends_line)));
            }
            self.after_cr = b == b'\r';
            let field_start = self.state == Q::FieldStart;
            if self.state != Q::Quoted {
                if b == self.delimiter {
                    self.field_index += 1;
                } else if b == b'\n' || b == b'\r' {
                    self.field_index = 0;
                }
            }
            self.state = self.state.after(b, self.delimiter, self.quote);
            if field_start {
                self.field_len = 0;
                self.field_start_line = 1 + self.newlines;
            }
            if ends_line {
                self.newlines += 1;
            }
            if self.state != Q::FieldStart {
                self.field_len += 1;
                if self.field_len > self.max_field {
                    return Err(io::Error::other(TooLong {
                        line: self.field_start_line,
                        field: self.field_index,
                    }));
                }
            }
            self.offset += 1;
        }
        Ok(())
    }
}

impl<R: Read> Read for Tracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.scan(&buf[..n])?;
        Ok(n)
    }
}

/// The delimiter of a file from its header line: the most frequent of `,` `;` tab outside
/// quotes; a header with none of them is one column (`,`). A tie is ambiguous (None).
fn sniff_delimiter(text: &[u8], quote: u8) -> Option<u8> {
    let mut counts = [0usize; 3];
    let mut in_quote = false;
    for &b in text {
        match b {
            _ if b == quote => in_quote = !in_quote,
            b'\n' | b'\r' if !in_quote => break,
            b',' if !in_quote => counts[0] += 1,
            b';' if !in_quote => counts[1] += 1,
            b'\t' if !in_quote => counts[2] += 1,
            _ => {}
        }
    }
    let max = *counts.iter().max().unwrap_or(&0);
    if max == 0 {
        return Some(b',');
    }
    if counts.iter().filter(|&&c| c == max).count() > 1 {
        return None;
    }
    let i = counts.iter().position(|&c| c == max).unwrap_or(0);
    Some([b',', b';', b'\t'][i])
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn sniffs_delimiters_outside_quotes() {
        assert_eq!(sniff_delimiter(b"a;b;\"c,d,e\"\n1,2,3", b'"'), Some(b';'));
        assert_eq!(sniff_delimiter(b"a\tb\tc\r\n", b'"'), Some(b'\t'));
        assert_eq!(sniff_delimiter(b"amount\n", b'"'), Some(b','));
        assert_eq!(sniff_delimiter(b"a,b;c\n", b'"'), None);
    }

    #[test]
    fn utf8_check_handles_split_characters() {
        let mut text = "é".repeat(200_000).into_bytes();
        assert!(is_utf8(&text[..]).unwrap());
        text.push(0xE9);
        assert!(!is_utf8(&text[..]).unwrap());
    }

    #[test]
    fn win1252_decodes_in_small_reads() {
        let mut r = Win1252Reader::new(&b"caf\xe9 \x80"[..]);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "café €");
    }
}
