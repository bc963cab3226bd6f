//! Each row's `source` (`file:line`, `page#row`) held as one 64-bit number from load until a
//! rule or the row accounting reads it as text.
//!
//! Why: a `source` names its file, so it is longer than the 12 bytes Polars keeps inline: as
//! text it cost 16 bytes a row plus the text, about 730 MiB for both sides of a 10 M-row run,
//! held from the load to the last slice. Packed, it is the number of its prefix (the text
//! before the trailing digits: `export.csv:`) and that number, 8 bytes a row. The rules read
//! it as text again ([`crate::domain::codes::read_as_text`], only the columns a query reads and
//! only while it runs, one slice at a time), so what they compare, sort and write is unchanged.
//!
//! Any text packs and reads back exactly ([`split`]): the prefixes are one table for the
//! process, so columns packed on different threads or files stack and compare as numbers. The
//! table keeps one entry per file name read (snapshot pages are named relative to their
//! snapshot, so a scheduler running night after night adds the new ledger file names only),
//! at most [`MAX_PREFIXES`].

use polars::prelude::*;
use polars_arrow::array::{PrimitiveArray, Utf8ViewArray, View};
use polars_arrow::datatypes::ArrowDataType;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, RwLock};

/// Bits of the number (the line plus one, 0 for a text without one); the prefix's index takes
/// the rest.
const LINE_BITS: u32 = 40;
const LINE_MASK: u64 = (1 << LINE_BITS) - 1;
/// Prefixes one process can hold (the 24 bits left): one per file, sheet or page read.
pub const MAX_PREFIXES: usize = 1 << (64 - LINE_BITS);
/// Trailing digits taken as the number: 11 always fit in [`LINE_BITS`] (beside the +1).
const MAX_DIGITS: usize = 11;

/// The dtype of a packed `source` column.
pub fn packed() -> DataType {
    DataType::UInt64
}

/// Whether `c` is a packed `source` column (no other frame column is a `UInt64`).
pub fn is_packed(c: &Column) -> bool {
    c.name().as_str() == "source" && c.dtype() == &DataType::UInt64
}

#[derive(Default)]
struct Prefixes {
    texts: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u64>,
}

static PREFIXES: LazyLock<RwLock<Prefixes>> = LazyLock::new(Default::default);

/// `text` as its prefix and its number plus one (0: none): the trailing digits, at most
/// [`MAX_DIGITS`] of them, without leading zeros (a lone `0` is a number), so that the prefix
/// followed by the number in decimal is `text` again.
fn split(text: &str) -> (&str, u64) {
    let b = text.as_bytes();
    let digits = b
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .count()
        .min(MAX_DIGITS);
    let mut start = b.len() - digits;
    if digits == 0 {
        return (text, 0);
    }
    while start + 1 < b.len() && b[start] == b'0' {
        start += 1;
    }
    let n = b[start..]
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    (&text[..start], n + 1)
}

fn prefix_id(prefix: &str) -> PolarsResult<u64> {
    if let Some(id) = PREFIXES.read().expect("source prefixes").ids.get(prefix) {
        return Ok(*id);
    }
    let mut p = PREFIXES.write().expect("source prefixes");
    if let Some(id) = p.ids.get(prefix) {
        return Ok(*id);
    }
    polars_ensure!(
        p.texts.len() < MAX_PREFIXES,
        ComputeError: "more than {MAX_PREFIXES} source files in one run (at {prefix:?})"
    );
    let id = p.texts.len() as u64;
    let text: Arc<str> = prefix.into();
    p.texts.push(text.clone());
    p.ids.insert(text, id);
    Ok(id)
}

/// The packed value of `text` when its prefix has been packed before (else no row holds it).
pub fn lookup(text: &str) -> Option<u64> {
    let (prefix, n) = split(text);
    let id = *PREFIXES.read().expect("source prefixes").ids.get(prefix)?;
    Some(id << LINE_BITS | n)
}

/// Builds one packed `source` column row by row; the last prefix is remembered, so a row of
/// the same file as the one before costs a compare and a push.
pub struct SourceBuilder {
    values: PrimitiveChunkedBuilder<UInt64Type>,
    last: Option<(Box<str>, u64)>,
}

impl SourceBuilder {
    /// A builder of column `name` with room for `cap` rows.
    pub fn new(name: PlSmallStr, cap: usize) -> Self {
        SourceBuilder {
            values: PrimitiveChunkedBuilder::new(name, cap),
            last: None,
        }
    }

    /// Appends `text`.
    #[inline]
    pub fn append_value(&mut self, text: &str) -> PolarsResult<()> {
        let (prefix, n) = split(text);
        let id = self.id_of(prefix)?;
        self.values.append_value(id << LINE_BITS | n);
        Ok(())
    }

    /// Appends the text `prefix` followed by `n` in decimal, without writing it out when
    /// [`split`] would cut it there anyway (a prefix not ending in a digit, `n` of at most
    /// [`MAX_DIGITS`] digits): the loaders' `file:line`.
    #[inline]
    pub fn append_numbered(&mut self, prefix: &str, n: u64) -> PolarsResult<()> {
        if prefix.as_bytes().last().is_some_and(u8::is_ascii_digit) || n >= 10u64.pow(11) {
            let mut text = prefix.to_owned();
            super::text::push_u64(&mut text, n);
            return self.append_value(&text);
        }
        let id = self.id_of(prefix)?;
        self.values.append_value(id << LINE_BITS | (n + 1));
        Ok(())
    }

    /// The id of `prefix`, the last one's without a lookup.
    #[inline]
    fn id_of(&mut self, prefix: &str) -> PolarsResult<u64> {
        match &self.last {
            Some((p, id)) if **p == *prefix => Ok(*id),
            _ => {
                let id = prefix_id(prefix)?;
                self.last = Some((prefix.into(), id));
                Ok(id)
            }
        }
    }

    /// Appends a null.
    pub fn append_null(&mut self) {
        self.values.append_null();
    }

    /// The column built.
    pub fn finish(self) -> Column {
        self.values.finish().into_column()
    }
}

/// `df` with a text `source` column packed (a frame built as text elsewhere: tests, older
/// callers); a packed or absent one is left as it is.
pub fn packed_in(mut df: DataFrame) -> PolarsResult<DataFrame> {
    let Ok(c) = df.column("source") else {
        return Ok(df);
    };
    if c.dtype() != &DataType::String {
        return Ok(df);
    }
    let texts = c.str()?;
    let mut b = SourceBuilder::new("source".into(), texts.len());
    for t in texts.iter() {
        match t {
            Some(t) => b.append_value(t)?,
            None => b.append_null(),
        }
    }
    df.with_column(b.finish())?;
    Ok(df)
}

/// Rows from which [`text`] formats the two halves of a column on two threads.
const TWO_THREADS_FROM: usize = 100_000;

/// The texts of packed column `c`, in order, nulls kept.
///
/// A rule reading `source` formats every row of its slice (about 18 ms per million rows on
/// one thread): a long column is formatted in two halves at once.
pub fn text(c: &Column) -> PolarsResult<StringChunked> {
    let values = c.u64()?;
    let p = PREFIXES.read().expect("source prefixes");
    let max_id = values.max().map_or(0, |v| (v >> LINE_BITS) as usize);
    polars_ensure!(
        values.null_count() == values.len() || max_id < p.texts.len(),
        ComputeError: "column {} holds a source that was never packed", c.name()
    );
    let texts = &p.texts[..];
    if values.len() < TWO_THREADS_FROM {
        return Ok(formatted(values, texts));
    }
    let half = values.len() / 2;
    let (first, second) = (
        values.slice(0, half),
        values.slice(half as i64, values.len() - half),
    );
    let (mut first, second) =
        super::threads::both(|| formatted(&first, texts), || formatted(&second, texts));
    first.append_owned(second)?;
    Ok(first)
}

/// The texts of `values` (every prefix known to be in `texts`).
fn formatted(values: &UInt64Chunked, texts: &[Arc<str>]) -> StringChunked {
    let chunks: Vec<ArrayRef> = values
        .downcast_iter()
        .map(|a| Box::new(formatted_array(a, texts)) as ArrayRef)
        .collect();
    // SAFETY: every chunk is a `Utf8ViewArray`, the physical type of a String column.
    unsafe { StringChunked::from_chunks(values.name().clone(), chunks) }
}

/// Most bytes one buffer of [`formatted_array`] holds: a view's offset is 32 bits.
const MAX_BUFFER: usize = 1 << 31;

/// The texts of one array of packed values, written straight into one byte buffer with a
/// 16-byte view per row (a text of at most 12 bytes inside its view).
///
/// Why not a `StringChunkedBuilder`: each text was written into a `String`, then copied and
/// viewed by the builder, about 250 instructions a row; a rule reading `source` formats every
/// row of both sides (2 million a million-row run).
fn formatted_array(arr: &PrimitiveArray<u64>, texts: &[Arc<str>]) -> Utf8ViewArray {
    let mut views: Vec<View> = Vec::with_capacity(arr.len());
    let mut full: Vec<Vec<u8>> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(arr.len().saturating_mul(20).min(MAX_BUFFER));
    let mut bytes = 0usize;
    let mut digits = itoa::Buffer::new();
    let validity = arr.validity();
    for (i, &v) in arr.values().iter().enumerate() {
        if validity.is_some_and(|b| !b.get_bit(i)) {
            views.push(View::default());
            continue;
        }
        let prefix = texts[(v >> LINE_BITS) as usize].as_bytes();
        let n = v & LINE_MASK;
        let number: &[u8] = if n > 0 {
            digits.format(n - 1).as_bytes()
        } else {
            b""
        };
        let len = prefix.len() + number.len();
        bytes += len;
        if len <= View::MAX_INLINE_SIZE as usize {
            let mut text = [0u8; View::MAX_INLINE_SIZE as usize];
            text[..prefix.len()].copy_from_slice(prefix);
            text[prefix.len()..len].copy_from_slice(number);
            views.push(View::new_inline(&text[..len]));
            continue;
        }
        if buf.len() + len > MAX_BUFFER {
            full.push(std::mem::take(&mut buf));
        }
        let offset = buf.len();
        buf.extend_from_slice(prefix);
        buf.extend_from_slice(number);
        views.push(View::new_from_bytes(
            &buf[offset..],
            full.len() as u32,
            offset as u32,
        ));
    }
    full.push(buf);
    let buffer_bytes = full.iter().map(Vec::len).sum();
    let buffers: Vec<_> = full.into_iter().map(Into::into).collect();
    // SAFETY: each view is inline or points at its text in buffer `full.len()` at the time,
    // which is where that buffer ends up; `bytes` sums the lengths of the valid rows, nulls'
    // views being empty.
    unsafe {
        Utf8ViewArray::new_unchecked(
            ArrowDataType::Utf8View,
            views.into(),
            buffers.into(),
            validity.cloned(),
            Some(bytes),
            buffer_bytes,
        )
    }
}

/// Whether no two values of packed column `c` are equal (nulls count as one value).
///
/// The loaders pack in file order, so the numbers rise within each run of one prefix and a
/// prefix does not come back after its run: then one pass proves it. Otherwise a sorted copy
/// (8 bytes a row) is compared; a packed value is its text, so this is exact.
pub fn all_distinct(c: &Column) -> PolarsResult<bool> {
    let values = c.u64()?;
    if values.null_count() > 1 {
        return Ok(false);
    }
    let mut ended: HashSet<u64> = HashSet::new();
    let mut last: Option<u64> = None;
    let in_order = values.iter().flatten().all(|v| {
        let ok = match last {
            Some(l) if l >> LINE_BITS == v >> LINE_BITS => v > l,
            Some(l) => {
                ended.insert(l >> LINE_BITS);
                !ended.contains(&(v >> LINE_BITS))
            }
            None => true,
        };
        last = Some(v);
        ok
    });
    if in_order {
        return Ok(true);
    }
    let mut sorted: Vec<u64> = values.iter().flatten().collect();
    sorted.sort_unstable();
    Ok(sorted.windows(2).all(|w| w[0] != w[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed_texts(texts: &[Option<&str>]) -> Column {
        let mut b = SourceBuilder::new("source".into(), 0);
        for t in texts {
            match t {
                Some(t) => b.append_value(t).unwrap(),
                None => b.append_null(),
            }
        }
        b.finish()
    }

    #[test]
    fn any_text_packs_and_reads_back_exactly() {
        let texts = [
            Some("export.csv:2"),
            Some("export.csv:10"),
            None,
            Some("transactions/0003.json#0"),
            Some("book.xlsx:Sheet 1:17"),
            Some("p1"),
            Some("no number"),
            Some(""),
            Some("zeros:007"),
            Some("zeros:00"),
            Some("0"),
            Some("ledger2024.csv:99999999999"),
            Some("long:123456789012345678901234567890"),
            Some("ünïcode:5"),
        ];
        let c = packed_texts(&texts);
        assert!(is_packed(&c));
        assert_eq!(c.len(), texts.len());
        let back: Vec<Option<String>> = text(&c)
            .unwrap()
            .iter()
            .map(|s| s.map(str::to_owned))
            .collect();
        let want: Vec<Option<String>> = texts.iter().map(|t| t.map(str::to_owned)).collect();
        assert_eq!(back, want);
        // A text looks up to the value it packed to; one never packed does not.
        let values: Vec<Option<u64>> = c.u64().unwrap().iter().collect();
        for (t, v) in texts.iter().zip(&values) {
            if let Some(t) = t {
                assert_eq!(lookup(t), *v, "{t}");
            }
        }
        assert_eq!(lookup("never-seen-file.csv:1"), None);
    }

    #[test]
    fn a_numbered_source_packs_as_its_text_does() {
        let cases = [
            ("export.csv:", 2),
            ("export.csv:", 0),
            ("book.xlsx:Sheet1:", 17),
            ("ends-in-digit-7", 5),
            ("", 42),
            ("big:", 10u64.pow(11)),
            ("big:", u64::MAX),
        ];
        for (prefix, n) in cases {
            let mut a = SourceBuilder::new("source".into(), 0);
            let mut b = SourceBuilder::new("source".into(), 0);
            a.append_numbered(prefix, n).unwrap();
            b.append_value(&format!("{prefix}{n}")).unwrap();
            let (a, b) = (a.finish(), b.finish());
            assert!(a.equals(&b), "{prefix}{n}");
            assert_eq!(
                text(&a).unwrap().get(0),
                Some(format!("{prefix}{n}").as_str())
            );
        }
    }

    #[test]
    fn a_long_column_read_in_two_halves_reads_back_in_order() {
        let n = TWO_THREADS_FROM + 7;
        let texts: Vec<Option<String>> = (0..n)
            .map(|i| match i % 1000 {
                0 => None,
                k if k < 500 => Some(format!("first.csv:{i}")),
                _ => Some(format!("pages/{}.json#{i}", i % 7)),
            })
            .collect();
        let c = packed_texts(&texts.iter().map(|t| t.as_deref()).collect::<Vec<_>>());
        let back = text(&c).unwrap();
        assert_eq!(back.len(), n);
        assert!(back
            .iter()
            .zip(&texts)
            .all(|(b, t)| b.map(str::to_owned) == *t));
    }

    #[test]
    fn distinct_is_decided_in_file_order_and_out_of_it() {
        let c = |t: &[&str]| packed_texts(&t.iter().map(|t| Some(*t)).collect::<Vec<_>>());
        assert!(all_distinct(&c(&["a.csv:2", "a.csv:3", "b.csv:2", "b.csv:9"])).unwrap());
        // Out of order but distinct: the sorted check.
        assert!(all_distinct(&c(&["a.csv:3", "b.csv:2", "a.csv:2"])).unwrap());
        assert!(!all_distinct(&c(&["a.csv:3", "b.csv:2", "a.csv:3"])).unwrap());
        assert!(!all_distinct(&c(&["a.csv:3", "a.csv:3"])).unwrap());
        // Text equal to another after a leading zero is not the same text.
        assert!(all_distinct(&c(&["a.csv:07", "a.csv:7"])).unwrap());
        let with_nulls = packed_texts(&[Some("a:1"), None, None]);
        assert!(!all_distinct(&with_nulls).unwrap());
    }

    #[test]
    fn a_text_frame_is_packed_and_a_packed_one_left() {
        let df = df!("source" => ["x.csv:2", "x.csv:3"], "v" => [1, 2]).unwrap();
        let p = packed_in(df).unwrap();
        assert!(is_packed(p.column("source").unwrap()));
        let again = packed_in(p.clone()).unwrap();
        assert!(again.equals(&p));
        let t: Vec<_> = text(p.column("source").unwrap())
            .unwrap()
            .iter()
            .map(|s| s.unwrap().to_owned())
            .collect();
        assert_eq!(t, ["x.csv:2", "x.csv:3"]);
    }
}
