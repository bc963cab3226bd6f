//! Reading a whole window: 92-day chunks × `limit`/`offset` pages, with the checks that keep
//! pagination from losing or doubling rows.
//!
//! Responses are bare arrays with no total or cursor ([C]), so a chunk ends at the first page
//! shorter than `limit` ([I], as PostHog does). Offsets over live data can shift between two
//! requests, so a row already seen on an earlier page is counted as a duplicate and skipped,
//! while identical rows inside one page are all kept (two equal partial refunds on one day are
//! legitimate). A page that repeats the previous page byte for byte is a server fault: it is
//! re-requested, and never silently accepted, because accepting it would skip a page.

use super::client::{Format, Page, RegistryFilter, XsollaClient};
use super::error::XsollaError;
use super::model::TransactionRow;
use super::record::CellRef;
use crate::domain::window::{Window, MAX_WINDOW_DAYS};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

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
}

impl Default for PagingLimits {
    fn default() -> Self {
        PagingLimits {
            page_limit: 500,
            max_pages_per_chunk: 100_000,
            max_rows: 100_000_000,
            max_repeat_retries: 3,
            chunk_days: MAX_WINDOW_DAYS,
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
}

/// Identity of a registry row: a hash of every typed value and every unknown field.
pub fn row_identity(row: &TransactionRow) -> [u8; 16] {
    use std::io::Write as _;
    // One buffer, one hash: formatting straight into it avoids an allocation per cell.
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    row.for_each_cell(|col, cell| {
        buf.extend_from_slice(col.name.as_bytes());
        buf.push(0);
        let _ = match cell {
            CellRef::Null => buf.write_all(b"\x00null"),
            CellRef::Int(i) => write!(buf, "{i}"),
            CellRef::Text(t) => buf.write_all(t.as_bytes()),
            CellRef::Decimal(d) => write!(buf, "{}", d.normalize()),
            CellRef::DateTime(t) => write!(buf, "{t}"),
            CellRef::Flag(b) => buf.write_all(&[b as u8]),
        };
        buf.push(0xff);
    });
    for (k, v) in &row.extra {
        buf.extend_from_slice(k.as_bytes());
        buf.push(0);
        buf.extend_from_slice(v.as_bytes());
        buf.push(0xff);
    }
    let full = Sha256::digest(&buf);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Decides which rows of a sequence of pages are repeats from earlier pages.
///
/// The loader replays the same decisions over stored pages, so fetch and load agree.
#[derive(Debug, Default)]
pub struct Deduper {
    first_page: HashMap<[u8; 16], u64>,
    page: u64,
}

impl Deduper {
    /// A fresh deduper.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns, for each row of the next page, whether to keep it.
    pub fn page(&mut self, rows: &[TransactionRow]) -> Vec<bool> {
        let page = self.page;
        self.page += 1;
        rows.iter()
            .map(|r| *self.first_page.entry(row_identity(r)).or_insert(page) == page)
            .collect()
    }
}

/// A page handed to the consumer, with which rows to keep.
#[derive(Debug)]
pub struct WalkedPage {
    /// Position of the page.
    pub pos: PagePos,
    /// The response and its rows.
    pub page: Page<TransactionRow>,
    /// `keep[i]` is false for rows an earlier page already had.
    pub keep: Vec<bool>,
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
        dedup: Deduper::new(),
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
    dedup: Deduper,
}

impl Walk<'_> {
    /// Every page of one chunk, up to the first page shorter than `limit`.
    async fn chunk(
        &mut self,
        chunk: Option<Window>,
        sink: &mut impl FnMut(WalkedPage) -> Result<(), String>,
    ) -> Result<(), PagingError> {
        let limit = self.limits.page_limit;
        let mut previous_sha: Option<[u8; 32]> = None;
        let mut index = 0u32;
        loop {
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
                offset: u64::from(index) * u64::from(limit),
                limit,
            };
            let page = self.fresh_page(pos, &mut previous_sha).await?;
            let n = page.rows.len();
            if n > limit as usize {
                return Err(PagingError::Oversized {
                    url: page.reply.url,
                    got: n,
                    limit,
                });
            }
            let keep = self.count(chunk, &page.rows)?;
            sink(WalkedPage { pos, page, keep }).map_err(PagingError::Sink)?;
            if n < limit as usize {
                return Ok(());
            }
            index += 1;
        }
    }

    /// The page at `pos`, asked again while it repeats the previous page byte for byte (up to
    /// `max_repeat_retries` times). Only a full previous page can be repeated by mistake
    /// (after a short one the chunk had ended), so an empty page is always new.
    async fn fresh_page(
        &mut self,
        pos: PagePos,
        previous_sha: &mut Option<[u8; 32]>,
    ) -> Result<Page<TransactionRow>, PagingError> {
        let mut tries = 0u32;
        loop {
            tries += 1;
            let page = self
                .client
                .registry_page(pos.chunk, self.filter, self.format, pos.offset, pos.limit)
                .await?;
            let sha: [u8; 32] = Sha256::digest(&page.reply.body).into();
            if *previous_sha != Some(sha) || page.rows.is_empty() {
                *previous_sha = Some(sha);
                return Ok(page);
            }
            if tries > self.limits.max_repeat_retries {
                return Err(PagingError::RepeatedPage {
                    url: page.reply.url,
                    offset: pos.offset,
                    tries,
                });
            }
            self.stats.repeated_pages_refetched += 1;
            tracing::warn!(url = %page.reply.url, offset = pos.offset, "page repeats the previous page; asking again");
            let pause = self.client.transport().settings().backoff_initial_ms;
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
    }

    /// Counts a page into the stats and decides which of its rows to keep; stops the read
    /// once it is over `max_rows`.
    fn count(
        &mut self,
        chunk: Option<Window>,
        rows: &[TransactionRow],
    ) -> Result<Vec<bool>, PagingError> {
        let n = rows.len() as u64;
        let keep = self.dedup.page(rows);
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
        let mut with_extra = row(1, "10");
        with_extra.extra.insert("x".into(), "y".into());
        assert_ne!(row_identity(&with_extra), row_identity(&row(1, "10")));
    }

    #[test]
    fn twins_in_one_page_are_kept_repeats_across_pages_are_not() {
        let mut d = Deduper::new();
        assert_eq!(
            d.page(&[row(1, "-5"), row(1, "-5"), row(2, "3")]),
            vec![true; 3]
        );
        assert_eq!(d.page(&[row(2, "3"), row(3, "4")]), vec![false, true]);
        assert_eq!(d.page(&[row(1, "-5")]), vec![false]);
    }
}
