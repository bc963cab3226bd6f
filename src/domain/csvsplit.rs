//! Parallel CSV parsing: a byte stream cut into chunks at record boundaries, each chunk parsed
//! on its own thread by its own `csv::Reader`, the results kept in file order.
//!
//! The cut is quote-aware with the csv crate's own rules (a line end inside a quoted field is
//! data), and a chunk always starts on the first byte of a record, after the whole run of
//! line-end bytes before it, so a fresh reader parses from there exactly what a reader that
//! had read everything before would, and its line numbers are the ones before the chunk plus
//! its own. Only the file is read here; what a record means is the caller's.
//!
//! The file is streamed in blocks: the text in memory is a few blocks, never the whole file.

use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

const BOM_FIRST: u8 = 0xEF;

/// How a file is read: the block size and how many threads parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Target bytes per chunk (a chunk ends at the last record end of its block).
    pub block_bytes: usize,
    /// Parsing threads; 1 reads sequentially.
    pub threads: usize,
    /// Files smaller than this are read sequentially (threads cost more than they save).
    pub min_file_bytes: u64,
}

impl Default for Split {
    fn default() -> Self {
        Split {
            block_bytes: 16 << 20,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            min_file_bytes: 16 << 20,
        }
    }
}

impl Split {
    /// One thread: the sequential reader.
    pub fn sequential() -> Self {
        Split {
            threads: 1,
            ..Split::default()
        }
    }

    /// Whether a file of `len` bytes is read in parallel.
    pub fn parallel_for(&self, len: u64) -> bool {
        self.threads > 1 && len >= self.min_file_bytes && self.block_bytes > 0
    }

    /// This split for a file of `len` bytes: blocks of about a [`CHUNKS_PER_THREAD`]th of each
    /// thread's share, never smaller than [`MIN_BALANCED_BLOCK`] nor larger than `block_bytes`
    /// (a `block_bytes` below that minimum, as tests set, is kept).
    ///
    /// Why: cut in 16 MiB blocks, an 87 MB registry export of a million rows was six chunks
    /// for two threads, and the last full chunk was parsed by one thread while the other had
    /// nothing left (about 50 ms of each load with one core idle). Smaller blocks at every
    /// size cost memory instead: at 10 million rows 2 MiB blocks raised the run's peak from
    /// 2.8 to 3.8 GB (every chunk's columns are their own buffers), so a large file keeps
    /// `block_bytes`.
    pub fn for_file(&self, len: u64) -> Split {
        let share = len / (self.threads.max(1) as u64 * CHUNKS_PER_THREAD);
        let balanced = usize::try_from(share)
            .unwrap_or(usize::MAX)
            .max(MIN_BALANCED_BLOCK);
        Split {
            block_bytes: self.block_bytes.min(balanced),
            ..*self
        }
    }
}

/// Chunks each parsing thread should get of a file, for [`Split::for_file`].
pub const CHUNKS_PER_THREAD: u64 = 16;

/// The smallest block [`Split::for_file`] cuts a file into: below it the per-chunk costs
/// (a frame per chunk, stacked afterwards) outweigh the balance (1 MiB blocks were slower
/// than 2 MiB at a million rows).
pub const MIN_BALANCED_BLOCK: usize = 2 << 20;

/// Which bytes end a physical line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnds {
    /// Only `\n` (a lone `\r` does not start a new line).
    Lf,
    /// `\n`, `\r\n` and a lone `\r` each end one line.
    Any,
}

/// Line ends in `bytes`; `after_cr` says whether the byte before them was `\r`, and is set
/// to whether their last byte is.
pub fn count_line_ends(bytes: &[u8], mode: LineEnds, after_cr: &mut bool) -> u64 {
    let n = match mode {
        LineEnds::Lf => count_byte(bytes, b'\n'),
        LineEnds::Any => {
            let first_lf = u64::from(*after_cr && bytes.first() == Some(&b'\n'));
            if bytes.len() <= 256 {
                // A record or two (a line asked for by a reader): one plain pass.
                count_any_short(bytes) - first_lf
            } else if memchr::memchr(b'\r', bytes).is_none() {
                count_byte(bytes, b'\n') - first_lf
            } else {
                count_any(bytes) - first_lf
            }
        }
    };
    if let Some(&last) = bytes.last() {
        *after_cr = last == b'\r';
    }
    n
}

/// Line ends in `bytes` where `\n`, `\r\n` and a lone `\r` each end one (a `\n` first in
/// `bytes` counts): each `\r`, and each `\n` whose byte before is not `\r`. The `\n`s are
/// counted with `memchr`'s vector count and each `\r` is visited once, as a `\r\n` file has
/// one a line (compared byte pair by byte pair, a `\r\n` file cost 1.5 instructions a byte).
fn count_any(bytes: &[u8]) -> u64 {
    let lf = count_byte(bytes, b'\n');
    let (mut cr, mut crlf) = (0u64, 0u64);
    for i in memchr::memchr_iter(b'\r', bytes) {
        cr += 1;
        crlf += u64::from(bytes.get(i + 1) == Some(&b'\n'));
    }
    cr + lf - crlf
}

/// [`count_any`] for a few bytes.
fn count_any_short(bytes: &[u8]) -> u64 {
    let mut n = 0;
    let mut prev = 0u8;
    for &b in bytes {
        n += u64::from(b == b'\r' || (b == b'\n' && prev != b'\r'));
        prev = b;
    }
    n
}

/// How many times `needle` is in `bytes`: `memchr`'s count, with the vector instructions the
/// processor has (the splitter counts every line end of a file on one thread, ahead of the
/// threads that parse; summed a byte at a time in blocks it was 2.7 instructions a byte).
fn count_byte(bytes: &[u8], needle: u8) -> u64 {
    memchr::memchr_iter(needle, bytes).count() as u64
}

/// One piece of the file: whole records, in order.
#[derive(Debug)]
pub struct Chunk {
    /// 0-based position among the chunks.
    pub index: usize,
    /// The records' bytes.
    pub bytes: Vec<u8>,
    /// Line ends before the chunk: its first record is on line `lines_before + 1`.
    pub lines_before: u64,
    /// Line ends in the chunk: at least its number of records, less one.
    pub lines: u64,
}

impl Chunk {
    /// Most records the chunk can hold, to size column builders once.
    pub fn max_records(&self) -> usize {
        usize::try_from(self.lines + 1).unwrap_or(usize::MAX)
    }
}

/// Line numbers of the records of a [`Chunk`], found from its bytes when asked rather than by
/// watching every byte go by into the csv reader (a state machine step per byte).
///
/// When every line end of the chunk is a `\n` (no lone `\r`: LF or CRLF text), a record's
/// line is the csv reader's own count of `\n`s before it, plus those of the line-end bytes
/// its position may sit on; otherwise the line ends since the last record asked about are
/// counted.
#[derive(Debug)]
pub struct ChunkLines<'a> {
    bytes: &'a [u8],
    mode: LineEnds,
    /// Every line end of the chunk is a `\n`.
    lf_only: bool,
    lines_before: u64,
    /// Bytes before this are counted.
    upto: usize,
    /// Line ends in them.
    lines: u64,
    after_cr: bool,
}

impl<'a> ChunkLines<'a> {
    /// The lines of `chunk`'s records.
    pub fn new(chunk: &'a Chunk, mode: LineEnds) -> Self {
        // The chunk starts on a record, so its line ends were counted from a fresh state.
        let lf_only = mode == LineEnds::Lf || count_byte(&chunk.bytes, b'\n') == chunk.lines;
        ChunkLines {
            bytes: &chunk.bytes,
            mode,
            lf_only,
            lines_before: chunk.lines_before,
            upto: 0,
            lines: 0,
            after_cr: false,
        }
    }

    /// The 1-based line of the record the csv reader says starts at `byte`, where its count
    /// of lines (`\n`s read, plus one) was `csv_line`; asked in increasing order. The reader's
    /// position may be on the line-end bytes before the record (after a CRLF, or blank lines):
    /// the whole run of them is the previous lines'.
    pub fn line_at(&mut self, byte: u64, csv_line: u64) -> u64 {
        let start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        let run = self.bytes[start..].iter().take_while(|&&b| is_end(b));
        if self.lf_only {
            let run_lf = run.filter(|&&b| b == b'\n').count() as u64;
            return self.lines_before + csv_line + run_lf;
        }
        let first = start + run.count();
        if first > self.upto {
            let text = &self.bytes[self.upto..first];
            self.lines += count_line_ends(text, self.mode, &mut self.after_cr);
            self.upto = first;
        }
        1 + self.lines_before + self.lines
    }
}

/// A record's fields as the loaders read them: a csv crate `ByteRecord`, or a
/// [`PlainRecord`] (one code path for both, monomorphised).
pub trait Fields {
    /// Number of fields.
    fn field_count(&self) -> usize;
    /// Field `i`'s bytes.
    fn get(&self, i: usize) -> Option<&[u8]>;
    /// Where field `i` lies in [`Fields::as_slice`].
    fn range(&self, i: usize) -> Option<std::ops::Range<usize>>;
    /// Bytes holding every field (checked for UTF-8 once per record).
    fn as_slice(&self) -> &[u8];
}

impl Fields for csv::ByteRecord {
    #[inline]
    fn field_count(&self) -> usize {
        csv::ByteRecord::len(self)
    }
    #[inline]
    fn get(&self, i: usize) -> Option<&[u8]> {
        csv::ByteRecord::get(self, i)
    }
    #[inline]
    fn range(&self, i: usize) -> Option<std::ops::Range<usize>> {
        csv::ByteRecord::range(self, i)
    }
    #[inline]
    fn as_slice(&self) -> &[u8] {
        csv::ByteRecord::as_slice(self)
    }
}

/// One record of [`PlainRecords`]: its line's bytes (without the line end) and where each
/// field ends in them. Its [`Fields::as_slice`] holds the delimiters too; as the delimiter is
/// ASCII, the line is UTF-8 exactly when every field is.
#[derive(Debug, Default)]
pub struct PlainRecord<'a> {
    line: &'a [u8],
    /// End of each field in `line` (the next starts one byte later).
    ends: Vec<usize>,
}

impl Fields for PlainRecord<'_> {
    #[inline]
    fn field_count(&self) -> usize {
        self.ends.len()
    }
    #[inline]
    fn get(&self, i: usize) -> Option<&[u8]> {
        self.range(i).map(|r| &self.line[r])
    }
    #[inline]
    fn range(&self, i: usize) -> Option<std::ops::Range<usize>> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        Some(start..end)
    }
    #[inline]
    fn as_slice(&self) -> &[u8] {
        self.line
    }
}

/// The records of a chunk without quotes, split without the csv crate.
///
/// Why: most exports never quote a field, and the csv crate's parser, a state machine step per
/// byte, plus copying each field into a `ByteRecord`, was more than a tenth of a 1 M-row run's
/// instructions; finding the line ends with `memchr` and the delimiters eight bytes at a time,
/// and reading the fields in place, takes a fraction of that. Only such text is taken (no
/// quote, every `\r` followed by `\n`, an ASCII delimiter, no BOM at the start that a fresh csv
/// reader would drop), so there is little to get wrong: each line ended by `\n` or `\r\n` is a
/// record, blank lines are skipped as the csv crate skips them, and each record is on its
/// physical line (tests compare both on random text).
#[derive(Debug)]
pub struct PlainRecords<'a> {
    bytes: &'a [u8],
    delimiter: u8,
    /// Next byte to read.
    at: usize,
    /// The line of byte `at`.
    line: u64,
}

impl<'a> PlainRecords<'a> {
    /// The records of `chunk`, or None when it holds a `quote` byte or a `\r` not followed by
    /// `\n`, starts with a BOM, or the delimiter is not ASCII (the csv reader reads those).
    pub fn of(chunk: &'a Chunk, delimiter: u8, quote: u8) -> Option<Self> {
        let bytes = &chunk.bytes[..];
        if !delimiter.is_ascii()
            || bytes.starts_with(b"\xEF\xBB\xBF")
            || quote_or_lone_cr(bytes, quote)
        {
            return None;
        }
        Some(PlainRecords {
            bytes,
            delimiter,
            at: 0,
            line: chunk.lines_before + 1,
        })
    }

    /// Reads the next record into `record`: its line, or None at the end.
    #[inline]
    pub fn next_into(&mut self, record: &mut PlainRecord<'a>) -> Option<u64> {
        let bytes = self.bytes;
        loop {
            let rest = bytes.get(self.at..).filter(|r| !r.is_empty())?;
            let (mut line, ended) = match memchr::memchr(b'\n', rest) {
                Some(k) => (&rest[..k], true),
                None => (rest, false),
            };
            self.at += line.len() + usize::from(ended);
            // Every `\r` here is the first byte of a `\r\n`.
            if let [head @ .., b'\r'] = line {
                line = head;
            }
            let this = self.line;
            self.line += u64::from(ended);
            // A blank line is no record (the csv crate skips it).
            if line.is_empty() {
                continue;
            }
            record.line = line;
            record.ends.clear();
            delimiters_in(line, self.delimiter, &mut record.ends);
            record.ends.push(line.len());
            return Some(this);
        }
    }
}

/// Pushes the position of every `delimiter` in `line` to `ends`, eight bytes at a time: the
/// fields are a few bytes long, too short for `memchr`'s start-up on each.
#[inline]
fn delimiters_in(line: &[u8], delimiter: u8, ends: &mut Vec<usize>) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let pattern = u64::from_ne_bytes([delimiter; 8]);
    let mut words = line.chunks_exact(8);
    let mut base = 0;
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().expect("8 bytes")) ^ pattern;
        // The top bit of each byte of `x` that is zero, and no other bit (no carry crosses a
        // byte: each byte adds at most 0x7f to at most 0x7f).
        let mut hits = !(((x & LOW7) + LOW7) | x | LOW7);
        while hits != 0 {
            ends.push(base + (hits.trailing_zeros() / 8) as usize);
            hits &= hits - 1;
        }
        base += 8;
    }
    for (j, &b) in words.remainder().iter().enumerate() {
        if b == delimiter {
            ends.push(base + j);
        }
    }
}

/// Whether `bytes` holds `quote`, or a `\r` not followed by `\n` (an old Mac line end, or a
/// `\r` in a field): `memchr` for each, most files having neither.
fn quote_or_lone_cr(bytes: &[u8], quote: u8) -> bool {
    memchr::memchr(quote, bytes).is_some()
        || memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n'))
}

/// Where a CSV byte stream is with respect to quotes: one state machine for the splitter here
/// and the ledger reader's byte tracker, so both agree on where a record ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteState {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: closing, or the first of a doubled quote.
    QuoteInQuoted,
}

use QuoteState as Q;

impl QuoteState {
    /// The state after byte `b`.
    #[inline]
    pub fn after(self, b: u8, delimiter: u8, quote: u8) -> QuoteState {
        match self {
            Q::FieldStart if b == quote => Q::Quoted,
            Q::FieldStart | Q::Unquoted | Q::QuoteInQuoted if b == delimiter || is_end(b) => {
                Q::FieldStart
            }
            Q::FieldStart | Q::Unquoted => Q::Unquoted,
            Q::Quoted if b == quote => Q::QuoteInQuoted,
            Q::Quoted => Q::Quoted,
            Q::QuoteInQuoted if b == quote => Q::Quoted,
            Q::QuoteInQuoted => Q::Unquoted,
        }
    }
}

fn is_end(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// Where `buf` (which starts on a record) can be cut: the largest `c` such that `buf[c - 1]`
/// ends a record outside quotes and `buf[c]` starts the next one. A record starting with
/// `0xEF` is never made the start of a chunk: a fresh csv reader would drop a BOM there.
fn find_cut(buf: &[u8], delimiter: u8, quote: u8) -> Option<usize> {
    let ok = |c: usize| is_end(buf[c - 1]) && !is_end(buf[c]) && buf[c] != BOM_FIRST;
    let last_plain = |upto: usize| (1..upto).rev().find(|&c| ok(c));
    // Most files have no quote at all.
    let Some(first_quote) = memchr::memchr(quote, buf) else {
        // No quote at all: every line end ends a record.
        return last_plain(buf.len());
    };
    // Before the first quote every line end ends a record; the state at it follows from the
    // byte before it.
    let mut state = match first_quote.checked_sub(1).map(|i| buf[i]) {
        None => Q::FieldStart,
        Some(b) if b == delimiter || is_end(b) => Q::FieldStart,
        Some(_) => Q::Unquoted,
    };
    let mut cut = last_plain(first_quote + 1);
    for (i, &b) in buf.iter().enumerate().skip(first_quote) {
        if state == Q::FieldStart && i > 0 && i < buf.len() && ok(i) {
            cut = Some(i);
        }
        state = state.after(b, delimiter, quote);
    }
    cut
}

/// Why a stream was not (or not wholly) split.
#[derive(Debug)]
pub enum Unsplit {
    /// Reading failed.
    Io(io::Error),
    /// The stream cannot be cut the way a sequential reader would read it (a record longer
    /// than the limit, or data that starts with a BOM).
    Unsplittable,
}

impl std::fmt::Display for Unsplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsplit::Io(e) => write!(f, "reading: {e}"),
            Unsplit::Unsplittable => f.write_str("no record boundary to cut at"),
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Files this thread read in parallel, so tests can tell the parallel path ran.
    pub static PARALLEL_READS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A text field for row `i` of a test file that is hard to cut: quoted line ends (`eol`, CRLF,
/// lone CR, blank lines), doubled quotes, a leading BOM character, empty values. The registry
/// and ledger loaders' parallel-vs-sequential tests both write it.
#[cfg(test)]
pub fn tricky_field(i: usize, eol: &str) -> String {
    match i % 7 {
        0 => String::new(),
        1 => format!("\"multi{eol}line\""),
        2 => "\"say \"\"hi\"\",\r\nok\n\n\"".to_owned(),
        3 => "\"a\rb\"".to_owned(),
        4 => "\u{feff}bom-led".to_owned(),
        5 => "\"\"".to_owned(),
        _ => "plain".to_owned(),
    }
}

/// Notes that a file was read in parallel (for tests).
pub fn note_parallel_read() {
    #[cfg(test)]
    PARALLEL_READS.with(|n| n.set(n.get() + 1));
}

/// Cuts a stream into [`Chunk`]s.
pub struct Splitter<R> {
    inner: R,
    delimiter: u8,
    quote: u8,
    mode: LineEnds,
    block: usize,
    /// Most bytes one record may take before the splitter gives up.
    max_record: Option<usize>,
    buf: Vec<u8>,
    lines: u64,
    after_cr: bool,
    eof: bool,
    index: usize,
    started: bool,
}

impl<R: Read> Splitter<R> {
    /// A splitter over `inner` whose records start at byte `skip` (after the header): the
    /// bytes before are read and only counted.
    pub fn new(
        mut inner: R,
        skip: u64,
        delimiter: u8,
        quote: u8,
        mode: LineEnds,
        split: &Split,
        max_record: Option<usize>,
    ) -> Result<Self, Unsplit> {
        let mut head = Vec::new();
        (&mut inner)
            .take(skip)
            .read_to_end(&mut head)
            .map_err(Unsplit::Io)?;
        let mut after_cr = false;
        let lines = count_line_ends(&head, mode, &mut after_cr);
        Ok(Splitter {
            inner,
            delimiter,
            quote,
            mode,
            block: split.block_bytes.max(1),
            max_record,
            buf: Vec::new(),
            lines,
            after_cr,
            eof: head.len() as u64 != skip,
            index: 0,
            started: false,
        })
    }

    fn fill(&mut self, want: usize) -> Result<(), Unsplit> {
        while !self.eof && self.buf.len() < want {
            let need = (want - self.buf.len()) as u64;
            let n = (&mut self.inner)
                .take(need)
                .read_to_end(&mut self.buf)
                .map_err(Unsplit::Io)?;
            if n == 0 {
                self.eof = true;
            }
        }
        Ok(())
    }

    /// The next chunk, or None at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>, Unsplit> {
        let mut want = self.block;
        loop {
            self.buf.reserve(want.saturating_sub(self.buf.len()));
            self.fill(want)?;
            if !self.started {
                // The line ends after the header: a chunk starts on its first record.
                let lead = self.buf.iter().take_while(|&&b| is_end(b)).count();
                if lead == self.buf.len() && !self.eof {
                    want = self.buf.len() + self.block;
                    continue;
                }
                let lead_bytes: Vec<u8> = self.buf.drain(..lead).collect();
                self.lines += count_line_ends(&lead_bytes, self.mode, &mut self.after_cr);
                if self.buf.first() == Some(&BOM_FIRST) {
                    return Err(Unsplit::Unsplittable);
                }
                self.started = true;
            }
            if self.buf.is_empty() {
                return Ok(None);
            }
            if self.eof {
                return Ok(Some(self.emit(self.buf.len())));
            }
            if let Some(c) = find_cut(&self.buf, self.delimiter, self.quote) {
                return Ok(Some(self.emit(c)));
            }
            if self.max_record.is_some_and(|m| self.buf.len() > m) {
                return Err(Unsplit::Unsplittable);
            }
            // One record fills the block: read on.
            want = self.buf.len() * 2;
        }
    }

    fn emit(&mut self, cut: usize) -> Chunk {
        let tail = self.buf[cut..].to_vec();
        let mut bytes = std::mem::take(&mut self.buf);
        bytes.truncate(cut);
        self.buf = tail;
        let lines_before = self.lines;
        let lines = count_line_ends(&bytes, self.mode, &mut self.after_cr);
        self.lines += lines;
        let index = self.index;
        self.index += 1;
        Chunk {
            index,
            bytes,
            lines_before,
            lines,
        }
    }
}

/// Why [`parse_chunks`] stopped.
#[derive(Debug)]
pub enum Stopped<E> {
    /// A chunk failed; every chunk before it succeeded, so this is the first error in the
    /// file (for errors that depend only on the chunk's records).
    Chunk(E),
    /// Splitting failed before any chunk did.
    Split(Unsplit),
}

/// Parses every chunk of `splitter` with `work`, on `threads` threads; the results in file
/// order. Stops early at a failure: see [`Stopped`].
pub fn parse_chunks<R, T, E, F>(
    splitter: Splitter<R>,
    threads: usize,
    work: F,
) -> Result<Vec<T>, Stopped<E>>
where
    R: Read + Send,
    T: Send,
    E: Send,
    F: Fn(Chunk) -> Result<T, E> + Sync,
{
    let mut out = Vec::new();
    parse_chunks_each(splitter, threads, work, |t| {
        out.push(t);
        Ok(())
    })?;
    Ok(out)
}

/// [`parse_chunks`], each result handed to `consume` in file order as soon as the chunks
/// before it are, instead of all kept: what a reader that must not hold the whole file needs.
/// A `consume` error stops the reading like a chunk's.
///
/// Why a thread for the splitter: the calling thread takes the results as they come, so one
/// slow chunk holds back only the results after it, never the parsing.
pub fn parse_chunks_each<R, T, E, F, C>(
    splitter: Splitter<R>,
    threads: usize,
    work: F,
    mut consume: C,
) -> Result<(), Stopped<E>>
where
    R: Read + Send,
    T: Send,
    E: Send,
    F: Fn(Chunk) -> Result<T, E> + Sync,
    C: FnMut(T) -> Result<(), E>,
{
    let threads = threads.max(1);
    let first_err = AtomicUsize::new(usize::MAX);
    let (tx, rx) = mpsc::sync_channel::<Chunk>(1);
    let rx = Mutex::new(rx);
    let (done_tx, done_rx) = mpsc::sync_channel::<(usize, Result<T, E>)>(threads * 2);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let (rx, first_err, work) = (&rx, &first_err, &work);
            s.spawn(move || loop {
                let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok(chunk) = job else { break };
                let i = chunk.index;
                if i > first_err.load(Ordering::Relaxed) {
                    continue;
                }
                let r = work(chunk);
                if r.is_err() {
                    first_err.fetch_min(i, Ordering::Relaxed);
                }
                if done_tx.send((i, r)).is_err() {
                    break;
                }
            });
        }
        drop(done_tx);
        let first = &first_err;
        let splitting = s.spawn(move || {
            let mut splitter = splitter;
            while first.load(Ordering::Relaxed) == usize::MAX {
                match splitter.next_chunk() {
                    Ok(Some(c)) => {
                        if tx.send(c).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Some(e),
                }
            }
            None
        });
        let mut waiting: std::collections::BTreeMap<usize, Result<T, E>> = Default::default();
        let mut next = 0usize;
        let mut stopped: Option<E> = None;
        for (i, r) in done_rx {
            waiting.insert(i, r);
            while let Some(r) = waiting.remove(&next) {
                next += 1;
                if stopped.is_some() {
                    continue;
                }
                if let Err(e) = r.and_then(&mut consume) {
                    first_err.fetch_min(next - 1, Ordering::Relaxed);
                    stopped = Some(e);
                }
            }
        }
        let split_err = match splitting.join() {
            Ok(e) => e,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        match (stopped, split_err) {
            (Some(e), _) => Err(Stopped::Chunk(e)),
            (None, Some(e)) => Err(Stopped::Split(e)),
            (None, None) => Ok(()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_cut_into_about_sixteen_blocks_a_thread_within_bounds() {
        let two = Split {
            block_bytes: 16 << 20,
            threads: 2,
            min_file_bytes: 16 << 20,
        };
        // The benchmark's million-row registry export and ledger.
        assert_eq!(two.for_file(87_108_009).block_bytes, 87_108_009 / 32);
        assert_eq!(two.for_file(57_862_933).block_bytes, MIN_BALANCED_BLOCK);
        // Ten million rows keep the 16 MiB blocks (memory, see `for_file`).
        assert_eq!(two.for_file(871_080_090).block_bytes, 16 << 20);
        assert_eq!(two.for_file(0).block_bytes, MIN_BALANCED_BLOCK);
        let eight = Split { threads: 8, ..two };
        assert_eq!(eight.for_file(871_080_090).block_bytes, 871_080_090 / 128);
        // Tests' tiny blocks stay tiny; only the block changes.
        let tiny = Split {
            block_bytes: 4096,
            ..two
        };
        assert_eq!(tiny.for_file(87_108_009), tiny);
        assert_eq!(
            two.for_file(87_108_009),
            Split {
                block_bytes: 87_108_009 / 32,
                ..two
            }
        );
    }

    fn chunks(text: &[u8], skip: u64, block: usize, mode: LineEnds) -> Vec<Chunk> {
        let split = Split {
            block_bytes: block,
            threads: 2,
            min_file_bytes: 0,
        };
        let mut s = Splitter::new(text, skip, b',', b'"', mode, &split, None).unwrap();
        let mut out = Vec::new();
        while let Some(c) = s.next_chunk().unwrap() {
            out.push(c);
        }
        out
    }

    /// Every record of `bytes` as the csv crate reads it (no header, any field count), each
    /// with its physical line: `lines_before` + 1 + the `\n`s before its first byte.
    fn csv_records(bytes: &[u8], delimiter: u8, lines_before: u64) -> Vec<(Vec<Vec<u8>>, u64)> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(bytes);
        let mut out = Vec::new();
        let mut rec = csv::ByteRecord::new();
        while rdr.read_byte_record(&mut rec).unwrap() {
            let mut first = rec.position().unwrap().byte() as usize;
            while bytes.get(first).is_some_and(|&b| b == b'\n' || b == b'\r') {
                first += 1;
            }
            let line = lines_before + 1 + count_byte(&bytes[..first], b'\n');
            out.push((rec.iter().map(<[u8]>::to_vec).collect(), line));
        }
        out
    }

    fn plain_records(chunk: &Chunk, delimiter: u8) -> Option<Vec<(Vec<Vec<u8>>, u64)>> {
        let mut plain = PlainRecords::of(chunk, delimiter, b'"')?;
        let mut out = Vec::new();
        let mut rec = PlainRecord::default();
        while let Some(line) = plain.next_into(&mut rec) {
            let fields = (0..rec.field_count())
                .map(|i| rec.get(i).unwrap().to_vec())
                .collect();
            out.push((fields, line));
        }
        Some(out)
    }

    #[test]
    fn plain_records_are_the_csv_crates_on_text_without_quotes() {
        let chunk = |text: &[u8], lines_before| Chunk {
            index: 0,
            bytes: text.to_vec(),
            lines_before,
            lines: count_byte(text, b'\n'),
        };
        for text in [
            &b""[..],
            b"\n\n",
            b"a,b\n",
            b"a,b",
            b"\n\na,,b\n\n,\n;\nlast",
            b",\n,,\n",
            b"x;y,z\n\n\n",
            b"a,b\r\n\r\n,c\r\n\nd\r\n",
            b"\r\na\r\nb",
        ] {
            for delimiter in [b',', b';'] {
                let c = chunk(text, 7);
                assert_eq!(
                    plain_records(&c, delimiter),
                    Some(csv_records(text, delimiter, 7)),
                    "{:?}",
                    String::from_utf8_lossy(text)
                );
            }
        }
        // What the csv reader must read: a quote, a lone `\r`, a BOM at the start.
        for text in [
            &b"a,\"b\"\n"[..],
            b"a\r\nb\r",
            b"a\rb",
            b"a\r\r\n",
            b"\xEF\xBB\xBFa,b\n",
        ] {
            assert!(plain_records(&chunk(text, 0), b',').is_none());
        }
        let pieces: Vec<&[u8]> = vec![
            b"a",
            b"7",
            b",",
            b";",
            b"\n",
            b"\r\n",
            b" ",
            b"\xAC",
            b"\xBB",
            b"\0",
            "é".as_bytes(),
        ];
        proptest::proptest!(|(text in proptest::collection::vec(
            proptest::sample::select(pieces.clone()), 0..120),
            lines_before in 0u64..5)| {
            let text = text.concat();
            for delimiter in [b',', b';'] {
                let c = chunk(&text, lines_before);
                proptest::prop_assert_eq!(
                    plain_records(&c, delimiter),
                    Some(csv_records(&text, delimiter, lines_before))
                );
            }
        });
    }

    #[test]
    fn cuts_only_between_records() {
        let text = b"h\r\n1,\"a\r\nb\"\r\n2,x\"y\r\n\r\n3,\"\"\"\n\"\r4,z";
        for block in 1..text.len() + 2 {
            for mode in [LineEnds::Lf, LineEnds::Any] {
                let cs = chunks(text, 1, block, mode);
                let joined: Vec<u8> = cs.iter().flat_map(|c| c.bytes.clone()).collect();
                assert_eq!(joined, &text[3..], "block {block}");
                let mut after_cr = false;
                for c in &cs {
                    let start =
                        text.len() - cs[c.index..].iter().map(|c| c.bytes.len()).sum::<usize>();
                    let before = count_line_ends(&text[..start], mode, &mut after_cr);
                    after_cr = false;
                    assert_eq!(c.lines_before, before, "block {block} chunk {}", c.index);
                    let first = c.bytes[0];
                    assert!(!is_end(first));
                    // Every chunk starts on a record: only at a known record start.
                    let starts = [3, 13, 22, 30];
                    assert!(starts.contains(&start), "block {block}: cut at {start}");
                }
            }
        }
    }

    #[test]
    fn counts_line_ends_across_calls() {
        let mut cr = false;
        assert_eq!(count_line_ends(b"a\r", LineEnds::Any, &mut cr), 1);
        assert_eq!(count_line_ends(b"\nb\rc\n\n", LineEnds::Any, &mut cr), 3);
        let mut cr = false;
        assert_eq!(count_line_ends(b"a\r\nb\rc\n", LineEnds::Lf, &mut cr), 2);
    }

    /// The counts of short and long texts, with and without `\r`, cut anywhere, are a byte by
    /// byte count's.
    #[test]
    fn counts_line_ends_as_a_byte_by_byte_count() {
        let mut seed = 7u64;
        let mut text = Vec::new();
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            text.push(match seed >> 61 {
                0 => b'\r',
                1 | 2 => b'\n',
                _ => b'x',
            });
        }
        let reference = |bytes: &[u8], after_cr: bool| {
            let mut prev_cr = after_cr;
            let mut n = 0;
            for &b in bytes {
                n += u64::from(b == b'\r' || (b == b'\n' && !prev_cr));
                prev_cr = b == b'\r';
            }
            n
        };
        let lf_only: Vec<u8> = text
            .iter()
            .map(|&b| if b == b'\r' { b'y' } else { b })
            .collect();
        for t in [&text, &lf_only] {
            for cut in [
                0, 1, 2, 3, 100, 255, 256, 257, 4095, 4096, 4097, 9000, 20_000,
            ] {
                let (a, b) = t.split_at(cut);
                let mut cr = false;
                let n = count_line_ends(a, LineEnds::Any, &mut cr)
                    + count_line_ends(b, LineEnds::Any, &mut cr);
                assert_eq!(n, reference(t, false), "cut {cut}");
                assert_eq!(cr, t.last() == Some(&b'\r'));
            }
        }
    }
}
