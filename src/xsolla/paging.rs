//! Reading a whole window: 92-day chunks × `limit`/`offset` pages, with the checks that keep
//! pagination from losing or doubling rows.
//!
//! Responses are bare arrays with no total or cursor ([C]), and Xsolla documents no maximum
//! `limit` ([U]; a cap of 500 is suspected, [I]). So a page shorter than `limit` does not end a
//! chunk: the next offset is read, and only an empty page ends it. A short page followed by
//! more rows is a server-side page cap; it is recorded (`page_cap_detected`) and offsets
//! advance by the rows actually received, so the cap costs requests, never rows. The old
//! rule (end at the first short page, as PostHog does) is `end_on_short_page`, only for
//! servers known not to cap.
//!
//! Duplicates are about offsets, not content: equal rows at different offsets are different
//! rows (two equal partial refunds on one day, or a payment Xsolla serves twice, which the
//! reconciliation must see). A row is skipped as a repeat only when one offset was served
//! twice: when rows are inserted ahead of the read, the next page starts with the end of the
//! previous one. Equal rows at a page boundary look the same, so then the previous page is
//! read again: unchanged, the rows are two rows and all are kept; moved, the offsets shifted
//! and the start of the new page is skipped (and counted). A page that repeats the previous
//! page byte for byte is a server fault: it is re-requested, and never silently accepted,
//! because accepting it would skip a page.

use super::client::{Format, Page, RegistryFilter, XsollaClient};
use super::error::XsollaError;
use super::model::TransactionRow;
use super::record::CellRef;
use crate::domain::window::{Window, MAX_WINDOW_DAYS};
use sha2::{Digest, Sha256};

/// Limits of one paginated read; every loop here is bounded.
#[derive(Debug, Clone, Copy)]
pub struct PagingLimits {
    /// Rows per page (`limit`).
    pub page_limit: u32,
    /// Pages per chunk before giving up (a server that never sends a short page).
    pub max_pages_per_chunk: u32,
    /// Rows per whole read before giving up (protects disk and memory).
    pub max_rows: u64,
    /// Re-requests of a page that repeats the previous one.
    pub max_repeat_retries: u32,
    /// Days per chunk (at most 92).
    pub chunk_days: u32,
    /// End a chunk at the first page shorter than `page_limit` (the short-page rule). Only for
    /// servers known not to cap pages: with a cap, every row after the first page is lost.
    /// Default false: read on until an empty page.
    pub end_on_short_page: bool,
}

impl Default for PagingLimits {
    fn default() -> Self {
        PagingLimits {
            page_limit: 500,
            max_pages_per_chunk: 100_000,
            max_rows: 100_000_000,
            max_repeat_retries: 3,
            chunk_days: MAX_WINDOW_DAYS,
            end_on_short_page: false,
        }
    }
}

/// Why a paginated read stopped.
#[derive(Debug, thiserror::Error)]
pub enum PagingError {
    /// The HTTP call failed (after its own retries).
    #[error(transparent)]
    Xsolla(#[from] XsollaError),
    /// The server sent more rows than asked for: the short-page rule would be unsafe.
    #[error("{url}: page has {got} rows but limit was {limit}; refusing to paginate on it")]
    Oversized {
        /// Request URL.
        url: String,
        /// Rows received.
        got: usize,
        /// `limit` sent.
        limit: u32,
    },
    /// The same page came back for two offsets even after re-requests.
    #[error("{url}: the page at offset {offset} repeats the previous page byte for byte after {tries} tries; stopping so that no rows are silently skipped")]
    RepeatedPage {
        /// Request URL.
        url: String,
        /// Offset requested.
        offset: u64,
        /// Attempts made.
        tries: u32,
    },
    /// The chunk never ended.
    #[error("window {window}: more than {max} pages of {limit} rows; raise fetch.max_pages_per_chunk if this is real")]
    TooManyPages {
        /// The chunk (or the filter, for reads without dates).
        window: String,
        /// The page limit hit.
        max: u32,
        /// Rows per page.
        limit: u32,
    },
    /// The whole read is larger than allowed.
    #[error("more than {max} rows in {window}; raise fetch.max_rows if this is real")]
    TooManyRows {
        /// The window read (or the filter, for reads without dates).
        window: String,
        /// The row limit hit.
        max: u64,
    },
    /// The page consumer (e.g. the snapshot writer) failed.
    #[error("{0}")]
    Sink(String),
}

/// Where a page sits in a paginated read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagePos {
    /// The chunk the page belongs to; `None` for a read without dates (e.g. one payout).
    pub chunk: Option<Window>,
    /// Page number inside the chunk, from 0.
    pub index: u32,
    /// `offset` sent.
    pub offset: u64,
    /// `limit` sent.
    pub limit: u32,
}

/// Counts of one paginated read. Rows in = unique + duplicates, always.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PagingStats {
    /// Pages stored.
    pub pages: u64,
    /// Rows received in stored pages.
    pub rows_received: u64,
    /// Rows kept.
    pub rows_unique: u64,
    /// Rows skipped because an earlier page had them.
    pub duplicates_skipped: u64,
    /// Rows whose transfer date is outside the chunk asked for (kept; the zone of Xsolla's
    /// dates is undocumented, so a few hours of skew are possible).
    pub rows_outside_window: u64,
    /// Pages re-requested because they repeated the previous page.
    pub repeated_pages_refetched: u64,
    /// Previous pages read again (not stored) because equal rows met at a page boundary: to
    /// tell two equal rows from one row served at two offsets.
    #[serde(default)]
    pub boundary_rereads: u64,
    /// Rows of the first short page that more rows followed: the server's page cap, when it
    /// has one below `limit` (`None`: no cap seen).
    #[serde(default)]
    pub page_cap_detected: Option<u32>,
}

/// Identity of a registry row: a hash of every typed value and every unknown field.
///
/// Only compared within one read (a page against the previous one), never stored, so the
/// values go into the hash in a compact binary form rather than as text: a tag per cell, then
/// fixed-width numbers (a decimal normalized first, so `10.0` and `10` are one value) or a
/// length and the bytes. Formatting every amount as text cost more than the rest of the page.
/// For the same reason the hash is a fast non-cryptographic one (XXH3, 128 bits): it tells
/// the rows of two neighbouring pages apart, it vouches for nothing (a page's sha256 does).
pub fn row_identity(row: &TransactionRow) -> [u8; 16] {
    identity_into(row, &mut Vec::with_capacity(1024))
}

/// [`row_identity`] with a buffer reused from row to row (`buf` is cleared first).
fn identity_into(row: &TransactionRow, buf: &mut Vec<u8>) -> [u8; 16] {
    buf.clear();
    let text = |buf: &mut Vec<u8>, t: &[u8]| {
        buf.extend_from_slice(&(t.len() as u64).to_le_bytes());
        buf.extend_from_slice(t);
    };
    row.for_each_cell(|_, cell| match cell {
        CellRef::Null => buf.push(0),
        CellRef::Int(i) => {
            buf.push(1);
            buf.extend_from_slice(&i.to_le_bytes());
        }
        CellRef::Text(t) => {
            buf.push(2);
            text(buf, t.as_bytes());
        }
        CellRef::Decimal(d) => {
            buf.push(3);
            buf.extend_from_slice(&d.normalize().serialize());
        }
        CellRef::DateTime(t) => {
            buf.push(4);
            let t = t.and_utc();
            buf.extend_from_slice(&t.timestamp().to_le_bytes());
            buf.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
        }
        CellRef::Flag(b) => buf.extend_from_slice(&[5, u8::from(b)]),
    });
    for (k, v) in &row.extra {
        text(buf, k.as_bytes());
        text(buf, v.as_bytes());
    }
    xxhash_rust::xxh3::xxh3_128(buf).to_le_bytes()
}

/// Length of the longest run that ends `previous` and starts `next`: the rows a shift of
/// offsets would serve twice (or equal rows that met at the boundary).
fn boundary_overlap(previous: &[RowId], next: &[RowId]) -> usize {
    (1..=previous.len().min(next.len()))
        .rev()
        .find(|&m| previous[previous.len() - m..] == next[..m])
        .unwrap_or(0)
}

/// By how many rows a page moved between two reads of one offset: the smallest `s` with
/// `again[s..]` equal to the start of `before` (0 when unchanged, `None` when it changed
/// some other way).
fn measured_shift(before: &[RowId], again: &[RowId]) -> Option<usize> {
    if before == again {
        return Some(0);
    }
    (1..again.len()).find(|&s| {
        let n = (again.len() - s).min(before.len());
        again[s..s + n] == before[..n]
    })
}

/// Identity of each row of a page.
fn identities(rows: &[TransactionRow]) -> Vec<RowId> {
    let mut buf = Vec::with_capacity(1024);
    rows.iter().map(|r| identity_into(r, &mut buf)).collect()
}

type RowId = [u8; 16];

/// A page handed to the consumer, with which rows to keep.
#[derive(Debug)]
pub struct WalkedPage {
    /// Position of the page.
    pub pos: PagePos,
    /// The response and its rows.
    pub page: Page<TransactionRow>,
    /// `keep[i]` is false for rows the previous page already had at a shifted offset.
    pub keep: Vec<bool>,
    /// sha256 of the body (computed once, for the checks and the snapshot's sidecar).
    pub sha256: [u8; 32],
}

/// Reads the whole registry for `window`: chunk after chunk, page after page, in a fixed
/// order so that the same data always gives the same pages. `sink` gets every page.
///
/// With `window = None` the read has no dates, which the registry allows when `limit` is
/// passed ([C], §1.1): used with a `transfer_id` filter to read all rows of one payout.
pub async fn walk_registry(
    client: &XsollaClient,
    window: Option<Window>,
    filter: &RegistryFilter,
    format: Format,
    limits: PagingLimits,
    mut sink: impl FnMut(WalkedPage) -> Result<(), String>,
) -> Result<PagingStats, PagingError> {
    assert!(limits.page_limit > 0, "page_limit must be positive");
    let mut walk = Walk {
        client,
        window,
        filter,
        format,
        limits,
        stats: PagingStats::default(),
    };
    let chunks: Vec<Option<Window>> = match window {
        Some(w) => w
            .chunks(limits.chunk_days.clamp(1, MAX_WINDOW_DAYS))
            .into_iter()
            .map(Some)
            .collect(),
        None => vec![None],
    };
    for chunk in chunks {
        walk.chunk(chunk, &mut sink).await?;
    }
    let stats = walk.stats;
    debug_assert_eq!(
        stats.rows_received,
        stats.rows_unique + stats.duplicates_skipped
    );
    Ok(stats)
}

/// One paginated read in progress: what it asks for, and what it has counted so far.
struct Walk<'a> {
    client: &'a XsollaClient,
    window: Option<Window>,
    filter: &'a RegistryFilter,
    format: Format,
    limits: PagingLimits,
    stats: PagingStats,
}

/// Whether a page whose rows are `ids` may start with the end of `previous` (then the
/// previous page may be read again): only if its first row is among the previous page's.
fn may_reread(previous: Option<&Previous>, ids: &[RowId]) -> bool {
    match (previous, ids.first()) {
        (Some(p), Some(first)) => p.ids.contains(first),
        _ => false,
    }
}

/// Runs `f`, which blocks (the sink writes a page to disk), so that on a multi-thread runtime
/// the tasks waiting on this worker move to another thread meanwhile: a task spawned here
/// (the request for the next page) sits in this worker's slot for the next task, which no
/// other worker takes, and would otherwise wait for the write to end. On a current-thread
/// runtime it just runs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A received page with what the walk needs of it, computed where it was received (in the
/// task of a request sent ahead, in parallel with the page before it).
struct Fetched {
    page: Page<TransactionRow>,
    /// sha256 of the body.
    sha: [u8; 32],
    /// Its rows' identities.
    ids: Vec<RowId>,
}

impl Fetched {
    fn new(page: Page<TransactionRow>) -> Self {
        Fetched {
            sha: Sha256::digest(&page.reply.body).into(),
            ids: identities(&page.rows),
            page,
        }
    }
}

/// The request for the next page, sent ahead in its own task. Dropped without being joined
/// (an error stopped the walk), it is cancelled.
struct Ahead(tokio::task::JoinHandle<Result<Fetched, XsollaError>>);

impl Ahead {
    /// Its outcome; `None` if the task was cancelled (then the page is asked for again). A
    /// panic in it goes on in the caller.
    async fn join(mut self) -> Option<Result<Fetched, XsollaError>> {
        match (&mut self.0).await {
            Ok(r) => Some(r),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => None,
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The page before the one being read, for the boundary checks.
struct Previous {
    /// `offset` it was read at.
    offset: u64,
    /// sha256 of its body.
    sha: [u8; 32],
    /// Its rows' identities.
    ids: Vec<RowId>,
}

impl Walk<'_> {
    /// Every page of one chunk, up to the first empty page (or the first short page, with
    /// `end_on_short_page`). Offsets advance by the rows each page actually had.
    ///
    /// The next page is requested as soon as this one is known not to be the last, and is
    /// received, decoded and hashed in its own task while this one is checked and stored: the
    /// requests go out in the same order as one after another (offsets do not depend on the
    /// checks, and the rare re-read of a boundary goes first), under the transport's rate and
    /// concurrency limits, with at most one page ahead, so memory stays flat.
    async fn chunk(
        &mut self,
        chunk: Option<Window>,
        sink: &mut impl FnMut(WalkedPage) -> Result<(), String>,
    ) -> Result<(), PagingError> {
        let limit = self.limits.page_limit;
        let mut previous: Option<Previous> = None;
        // Rows of the last page when it was short: more rows after it reveal a page cap.
        let mut short: Option<usize> = None;
        let mut offset = 0u64;
        let mut ahead: Option<Ahead> = None;
        for index in 0.. {
            if index >= self.limits.max_pages_per_chunk {
                return Err(PagingError::TooManyPages {
                    window: self.label(chunk),
                    max: self.limits.max_pages_per_chunk,
                    limit,
                });
            }
            let pos = PagePos {
                chunk,
                index,
                offset,
                limit,
            };
            let Fetched { page, sha, ids } = self
                .fresh_page(pos, previous.as_ref(), ahead.take())
                .await?;
            let n = page.rows.len();
            if n > limit as usize {
                return Err(PagingError::Oversized {
                    url: page.reply.url,
                    got: n,
                    limit,
                });
            }
            if let (Some(cap), true) = (short, n > 0) {
                self.cap_seen(cap, &page.reply.url);
            }
            let last = n == 0 || (n < limit as usize && self.limits.end_on_short_page);
            let next = (!last).then(|| PagePos {
                chunk,
                index: index + 1,
                offset: offset + n as u64,
                limit,
            });
            // No boundary re-read can come (the first row is not in the previous page): ask
            // for the next page now.
            if !may_reread(previous.as_ref(), &ids) {
                ahead = next.and_then(|next| self.request_ahead(next, n));
            }
            let repeats = match &previous {
                Some(p) => self.boundary_repeats(chunk, p, &ids).await?,
                None => 0,
            };
            if ahead.is_none() {
                ahead = next.and_then(|next| self.request_ahead(next, n));
            }
            let keep = self.count(chunk, &page.rows, repeats)?;
            let walked = WalkedPage {
                pos,
                page,
                keep,
                sha256: sha,
            };
            blocking(|| sink(walked)).map_err(PagingError::Sink)?;
            if last {
                break;
            }
            short = (n < limit as usize).then_some(n);
            previous = Some(Previous { offset, sha, ids });
            offset += n as u64;
        }
        Ok(())
    }

    /// Sends the request for `next` in its own task, unless the walk cannot go on to it
    /// whatever the current page holds (the page or row limit): then it is never sent, as
    /// a walk one page after another would not send it. `n`: rows of the current page.
    fn request_ahead(&self, next: PagePos, n: usize) -> Option<Ahead> {
        if next.index >= self.limits.max_pages_per_chunk
            || self.stats.rows_received + n as u64 > self.limits.max_rows
        {
            return None;
        }
        Some(self.spawn_request(next))
    }

    /// Sends the request for the page at `pos` in its own task, where it is received, decoded
    /// and hashed: the walk's own task only checks and stores pages, so several walks run in
    /// one task (the fetch's reads at once) without one's decoding holding up the others.
    fn spawn_request(&self, pos: PagePos) -> Ahead {
        let next = pos;
        let client = self.client.clone();
        let filter = self.filter.clone();
        let format = self.format;
        let task = async move {
            let page = client
                .registry_page(next.chunk, &filter, format, next.offset, next.limit)
                .await?;
            Ok(Fetched::new(page))
        };
        use tracing::Instrument as _;
        Ahead(tokio::spawn(task.instrument(tracing::Span::current())))
    }

    /// Records a server-side page cap (the fetch warns about it, once per fetch).
    fn cap_seen(&mut self, cap: usize, url: &str) {
        if self.stats.page_cap_detected.is_none() {
            tracing::debug!(
                cap,
                limit = self.limits.page_limit,
                url,
                "the server sends at most {cap} rows per page although {} were asked for; reading on with offsets advancing by the rows received",
                self.limits.page_limit
            );
        }
        let cap = u32::try_from(cap).unwrap_or(u32::MAX);
        self.stats.page_cap_detected =
            Some(self.stats.page_cap_detected.map_or(cap, |c| c.min(cap)));
    }

    /// The page at `pos`, asked again while it repeats the previous page byte for byte (up to
    /// `max_repeat_retries` times). An empty page is always new: the chunk ends at one.
    /// `ahead`, when given, is the first request for it, already sent.
    async fn fresh_page(
        &mut self,
        pos: PagePos,
        previous: Option<&Previous>,
        mut ahead: Option<Ahead>,
    ) -> Result<Fetched, PagingError> {
        let mut tries = 0u32;
        loop {
            tries += 1;
            let request = ahead.take().unwrap_or_else(|| self.spawn_request(pos));
            let fetched = match request.join().await {
                Some(f) => f?,
                None => Fetched::new(
                    self.client
                        .registry_page(pos.chunk, self.filter, self.format, pos.offset, pos.limit)
                        .await?,
                ),
            };
            if previous.is_none_or(|p| p.sha != fetched.sha) || fetched.page.rows.is_empty() {
                return Ok(fetched);
            }
            if tries > self.limits.max_repeat_retries {
                return Err(PagingError::RepeatedPage {
                    url: fetched.page.reply.url,
                    offset: pos.offset,
                    tries,
                });
            }
            self.stats.repeated_pages_refetched += 1;
            tracing::warn!(url = %fetched.page.reply.url, offset = pos.offset, "page repeats the previous page; asking again");
            let pause = self.client.transport().settings().backoff_initial_ms;
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
    }

    /// How many rows at the start of a page are the end of the previous page served again
    /// because offsets shifted. Equal rows at the boundary send the previous page again: if it
    /// has not moved, they are different rows and all are kept.
    async fn boundary_repeats(
        &mut self,
        chunk: Option<Window>,
        previous: &Previous,
        ids: &[RowId],
    ) -> Result<usize, PagingError> {
        let overlap = boundary_overlap(&previous.ids, ids);
        if overlap == 0 {
            return Ok(0);
        }
        self.stats.boundary_rereads += 1;
        let limit = self.limits.page_limit;
        let again = self
            .client
            .registry_page(chunk, self.filter, self.format, previous.offset, limit)
            .await?;
        let repeats = match measured_shift(&previous.ids, &identities(&again.rows)) {
            Some(0) => 0,
            // Rows were inserted ahead of the read: the first `s` rows were served twice.
            Some(s) if s <= overlap && previous.ids[previous.ids.len() - s..] == ids[..s] => s,
            _ => overlap,
        };
        if repeats > 0 {
            tracing::warn!(
                url = %again.reply.url,
                offset = previous.offset,
                repeats,
                "offsets shifted during the read: rows at the start of the next page repeat the previous page and are skipped"
            );
        }
        Ok(repeats)
    }

    /// Counts a page into the stats and decides which of its rows to keep (all but the first
    /// `repeats`); stops the read once it is over `max_rows`.
    fn count(
        &mut self,
        chunk: Option<Window>,
        rows: &[TransactionRow],
        repeats: usize,
    ) -> Result<Vec<bool>, PagingError> {
        let n = rows.len() as u64;
        let keep: Vec<bool> = (0..rows.len()).map(|i| i >= repeats).collect();
        let kept = keep.iter().filter(|k| **k).count() as u64;
        let stats = &mut self.stats;
        stats.pages += 1;
        stats.rows_received += n;
        stats.rows_unique += kept;
        stats.duplicates_skipped += n - kept;
        stats.rows_outside_window += rows
            .iter()
            .filter(|r| {
                chunk.is_some_and(|c| r.transfer_date.is_some_and(|d| !c.contains(d.date())))
            })
            .count() as u64;
        if stats.rows_received > self.limits.max_rows {
            return Err(PagingError::TooManyRows {
                window: self.label(self.window),
                max: self.limits.max_rows,
            });
        }
        Ok(keep)
    }

    /// A chunk or the whole window for messages; the filter for reads without dates.
    fn label(&self, w: Option<Window>) -> String {
        w.map_or_else(|| format!("{:?}", self.filter), |w| w.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, amount: &str) -> TransactionRow {
        TransactionRow {
            transaction_id: Some(id),
            payment_amount: Some(amount.parse().unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn identity_separates_positive_and_negative_rows() {
        assert_ne!(row_identity(&row(1, "10")), row_identity(&row(1, "-10")));
        assert_eq!(row_identity(&row(1, "10.0")), row_identity(&row(1, "10")));
        assert_eq!(row_identity(&row(1, "-0")), row_identity(&row(1, "0")));
        let mut with_extra = row(1, "10");
        with_extra.extra.insert("x".into(), "y".into());
        assert_ne!(row_identity(&with_extra), row_identity(&row(1, "10")));
        // Lengths keep cells apart: text moved from one cell to the next is another row.
        let (mut a, mut b) = (row(1, "10"), row(1, "10"));
        (a.status, a.user_id) = (Some("ab".into()), Some("c".into()));
        (b.status, b.user_id) = (Some("a".into()), Some("bc".into()));
        assert_ne!(row_identity(&a), row_identity(&b));
        let mut later = row(1, "10");
        later.transfer_date = crate::xsolla::record::parse_xsolla_datetime("2024-01-01 00:00:01");
        let mut earlier = row(1, "10");
        earlier.transfer_date = crate::xsolla::record::parse_xsolla_datetime("2024-01-01");
        assert_ne!(row_identity(&later), row_identity(&earlier));
    }

    fn ids(tags: &[u8]) -> Vec<RowId> {
        tags.iter().map(|t| [*t; 16]).collect()
    }

    #[test]
    fn overlap_is_the_longest_end_that_starts_the_next_page() {
        assert_eq!(boundary_overlap(&ids(b"abc"), &ids(b"def")), 0);
        assert_eq!(boundary_overlap(&ids(b"abc"), &ids(b"cde")), 1);
        assert_eq!(boundary_overlap(&ids(b"abc"), &ids(b"bcd")), 2);
        assert_eq!(boundary_overlap(&ids(b"axx"), &ids(b"xxb")), 2);
        assert_eq!(boundary_overlap(&ids(b""), &ids(b"a")), 0);
    }

    #[test]
    fn shift_is_measured_from_a_second_read_of_the_same_offset() {
        assert_eq!(measured_shift(&ids(b"abcd"), &ids(b"abcd")), Some(0));
        assert_eq!(measured_shift(&ids(b"abcd"), &ids(b"zabc")), Some(1));
        assert_eq!(measured_shift(&ids(b"abcd"), &ids(b"yzab")), Some(2));
        // A short second read (the data ended) still measures.
        assert_eq!(measured_shift(&ids(b"abcd"), &ids(b"za")), Some(1));
        assert_eq!(measured_shift(&ids(b"abcd"), &ids(b"wxyz")), None);
    }
}
