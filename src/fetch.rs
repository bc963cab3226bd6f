//! Fetch stage: Xsolla's side of the books for a window, onto disk, exactly.
//!
//! Every response body is stored verbatim as an immutable snapshot with a sidecar
//! (`.meta.json`: request URL without credentials, time, sha256, rows). A fetch is assembled in
//! `.partial-<pid>-<id>/` and renamed into place only when complete, with `manifest.json` as
//! its last file, so a killed fetch never leaves a snapshot that looks whole. Pages go to disk
//! as they arrive; memory holds, per read, the page being stored, the next one (requested
//! ahead, see `xsolla::paging`) and 16 bytes per row of the previous page for duplicate
//! detection. The independent reads of a window run at once (see `fetch_into`), a bounded
//! number of them, so memory stays flat in the number of rows.
//!
//! Layout: `<data_dir>/snapshots/<merchant>/<from>_<to>-<utc time>/`
//! `registry/<chunk>/p000000.json`, `payouts/<chunk>.json`, `breakdown/<day>_<day>.json`,
//! `reports/<chunk>.json`, and `manifest.json`.

use crate::domain::fsutil::{self, FsError};
use crate::domain::window::Window;
use crate::xsolla::client::{Format, Page, RegistryFilter, XsollaClient};
use crate::xsolla::error::XsollaError;
use crate::xsolla::http::Reply;
use crate::xsolla::paging::{walk_registry, PagingError, PagingLimits, PagingStats, WalkedPage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How the fetch stage reads a window.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchSettings {
    /// Registry format: `json` (default) or `csv`. Both give the same rows.
    pub format: Format,
    /// Rows per registry page (`limit`). Xsolla documents no maximum ([U]); 500 matches the
    /// page size hinted by its internal query ([I]). A server that caps pages below it costs
    /// requests, not rows (see `end_on_short_page`).
    pub page_limit: u32,
    /// End a chunk at the first page shorter than `page_limit`, saving one request per chunk.
    /// Only for a server known not to cap pages: with a cap below `page_limit`, every row
    /// after the first page of each chunk would be lost. Default false: read on until an
    /// empty page, and record a cap if one shows.
    pub end_on_short_page: bool,
    /// Pages per 92-day chunk before the fetch stops with an error.
    pub max_pages_per_chunk: u32,
    /// Registry rows per fetch before it stops with an error.
    pub max_rows: u64,
    /// Re-requests of a page that repeats the previous one before giving up.
    pub max_repeat_retries: u32,
    /// Days per request window; Xsolla allows at most 92.
    pub chunk_days: u32,
    /// Include test (dry-run) transactions in the registry.
    pub show_dry_run: bool,
    /// Also read every registry row of each payout in the window (`transfer_id` filter, no
    /// dates), so payouts can be checked against their rows exactly. Default true.
    pub payout_rows: bool,
    /// The payouts breakdown is requested once per calendar day of the window, so a
    /// difference is keyed by its day whatever window finds it (Xsolla's breakdown has no
    /// period of its own: it sums the period asked for, docs/xsolla-api.md §3). This bounds
    /// those requests: only the last N days of a longer window are requested, and the rest
    /// are counted as `breakdown_days_skipped` (their rows go unchecked). Default 92.
    pub breakdown_max_days: u32,
    /// Payments looked up per run for cancellations in the window whose payment is not in it
    /// (earlier snapshots first, then Xsolla's transaction details call); the rest are
    /// reported as not looked up. 0 switches the lookup off. Default 1000.
    pub max_payment_lookups: u32,
    /// IANA zone of Xsolla's dates: the zone its zone-less response times
    /// (`2023-02-11 15:32:46`) are read in, and in which the registry's request days are
    /// drawn. Xsolla documents neither (docs/xsolla-api.md §0.4, [U]); `UTC` is the default
    /// because it is the usual zone of server-side reports and the only one that needs no
    /// guess about DST. Check it on a real export: a payment whose time you know (the
    /// player's receipt, the game's log) shows the offset. Default `UTC`.
    #[serde(with = "crate::domain::window::tz_serde")]
    pub xsolla_timezone: chrono_tz::Tz,
}

impl Default for FetchSettings {
    fn default() -> Self {
        let p = PagingLimits::default();
        FetchSettings {
            format: Format::Json,
            page_limit: p.page_limit,
            end_on_short_page: p.end_on_short_page,
            max_pages_per_chunk: p.max_pages_per_chunk,
            max_rows: p.max_rows,
            max_repeat_retries: p.max_repeat_retries,
            chunk_days: p.chunk_days,
            show_dry_run: false,
            payout_rows: true,
            breakdown_max_days: 92,
            max_payment_lookups: 1000,
            xsolla_timezone: chrono_tz::Tz::UTC,
        }
    }
}

impl FetchSettings {
    /// The paging limits these settings describe.
    pub fn limits(&self) -> PagingLimits {
        PagingLimits {
            page_limit: self.page_limit,
            max_pages_per_chunk: self.max_pages_per_chunk,
            max_rows: self.max_rows,
            max_repeat_retries: self.max_repeat_retries,
            chunk_days: self.chunk_days,
            end_on_short_page: self.end_on_short_page,
        }
    }
}

/// Whose data a fetch reads, and under which name its snapshots are filed.
#[derive(Debug, Clone, Copy)]
pub struct FetchTarget<'a> {
    /// The merchant's short name: the snapshot folder's name.
    pub merchant: &'a str,
    /// Xsolla merchant id.
    pub merchant_id: i64,
    /// API base URL, recorded in the manifest.
    pub base_url: &'a str,
}

/// Version of the snapshot layout; bumped when it changes incompatibly.
pub const SNAPSHOT_SCHEMA: u32 = 1;

/// One stored response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// Path relative to the snapshot folder.
    pub path: String,
    /// `registry`, `payouts`, `breakdown` or `reports`.
    pub endpoint: String,
    /// Request URL (credentials are in a header, never in the URL).
    pub url: String,
    /// When the response was received.
    pub received_at: DateTime<Utc>,
    /// Hex sha256 of the body.
    pub sha256: String,
    /// Body length.
    pub bytes: u64,
    /// Rows parsed from the body.
    pub rows: u64,
    /// Attempts the request took.
    pub attempts: u32,
    /// Window of the request.
    pub window: Window,
    /// `offset` of a registry page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// 0-based indexes of rows an earlier page already had (skipped when loading).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicate_rows: Vec<u32>,
}

/// Counts of a fetch. Registry: received = unique + duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchCounts {
    /// Registry paging counts.
    pub registry: PagingStats,
    /// Payout rows received (over all chunks).
    pub payouts_received: u64,
    /// Distinct payout ids.
    pub payouts_unique: u64,
    /// Breakdown rows received.
    pub breakdown_rows: u64,
    /// Days of the window whose breakdown was not requested (`breakdown_max_days`).
    #[serde(default)]
    pub breakdown_days_skipped: u64,
    /// Report rows received.
    pub reports_received: u64,
    /// Distinct report ids.
    pub reports_unique: u64,
    /// Registry rows read per payout (`transfer_id` filter), all payouts together.
    #[serde(default)]
    pub payout_registry_rows: u64,
    /// HTTP requests stored.
    pub requests: u64,
    /// Requests that needed more than one attempt.
    pub requests_retried: u64,
    /// The server's page cap, when any registry read of the fetch (window or payout rows)
    /// showed one: the smallest short page that more rows followed. `None`: none seen.
    #[serde(default)]
    pub page_cap_detected: Option<u32>,
}

/// The last file written into a snapshot; its presence means the snapshot is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version.
    pub schema: u32,
    /// Folder name of the snapshot.
    pub fetch_id: String,
    /// Merchant name from the config.
    pub merchant: String,
    /// Xsolla merchant id.
    pub merchant_id: i64,
    /// Base URL the data came from.
    pub base_url: String,
    /// The window fetched.
    pub window: Window,
    /// Registry format.
    pub format: Format,
    /// xsolla-recon version that wrote it.
    pub tool_version: String,
    /// Start of the fetch.
    pub started_at: DateTime<Utc>,
    /// End of the fetch.
    pub finished_at: DateTime<Utc>,
    /// Counts.
    pub counts: FetchCounts,
    /// Every stored response, in fetch order.
    pub files: Vec<SnapshotFile>,
}

/// A fetch failure.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Reading from Xsolla failed.
    #[error(transparent)]
    Xsolla(#[from] XsollaError),
    /// Paginating the registry failed.
    #[error(transparent)]
    Paging(#[from] PagingError),
    /// Writing the snapshot failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// No stored snapshot for `--offline`.
    #[error("no complete snapshot of merchant {merchant:?} for {window} under {dir}; run without --offline first{available}")]
    NoSnapshot {
        /// Merchant name.
        merchant: String,
        /// Window asked for.
        window: Window,
        /// Folder searched.
        dir: PathBuf,
        /// Windows that do exist, as a hint.
        available: String,
    },
    /// A stored snapshot does not match its manifest.
    #[error("snapshot {path} is damaged: {problem}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// Folder holding a merchant's snapshots.
pub fn snapshots_dir(data_dir: &Path, merchant: &str) -> PathBuf {
    data_dir.join("snapshots").join(merchant)
}

/// Called as the fetch advances, for a progress bar.
pub trait Progress: Send + Sync {
    /// A response was stored; `rows` is the running registry row count.
    fn stored(&self, endpoint: &str, registry_rows: u64, requests: u64);
}

/// A progress sink that does nothing.
pub struct NoProgress;
impl Progress for NoProgress {
    fn stored(&self, _: &str, _: u64, _: u64) {}
}

struct Staging {
    dir: PathBuf,
    files: Vec<SnapshotFile>,
}

impl SnapshotFile {
    /// Describes a response about to be stored at `path` (relative to the snapshot).
    fn describe(path: String, endpoint: &str, window: Window, reply: &Reply, rows: usize) -> Self {
        let sha = Sha256::digest(&reply.body).into();
        Self::describe_hashed(path, endpoint, window, reply, rows, sha)
    }

    /// [`SnapshotFile::describe`] with the body's sha256 already computed (a registry page's,
    /// by the walk).
    fn describe_hashed(
        path: String,
        endpoint: &str,
        window: Window,
        reply: &Reply,
        rows: usize,
        sha256: [u8; 32],
    ) -> Self {
        SnapshotFile {
            path,
            endpoint: endpoint.to_owned(),
            url: reply.url.clone(),
            received_at: reply.received_at,
            sha256: hex::encode(sha256),
            bytes: reply.body.len() as u64,
            rows: rows as u64,
            attempts: reply.attempts,
            window,
            offset: None,
            duplicate_rows: Vec::new(),
        }
    }
}

impl Staging {
    /// An empty list of files for one of the reads that run at once, storing into `dir`.
    fn part(dir: &Path) -> Staging {
        Staging {
            dir: dir.to_path_buf(),
            files: Vec::new(),
        }
    }

    /// Lists the files `part` stored after this one's.
    fn append(&mut self, part: Staging) {
        self.files.extend(part.files);
    }

    /// Writes the body, then its sidecar (durable once the whole folder is synced).
    fn store(&mut self, reply: &Reply, file: SnapshotFile) -> Result<(), FsError> {
        let body_path = self.dir.join(&file.path);
        fsutil::write_staged(&body_path, &reply.body)?;
        let meta = serde_json::to_vec_pretty(&file).expect("snapshot meta serializes");
        fsutil::write_staged(&meta_path(&body_path), &meta)?;
        self.files.push(file);
        Ok(())
    }
}

fn meta_path(body: &Path) -> PathBuf {
    let mut s = body.as_os_str().to_owned();
    s.push(".meta.json");
    PathBuf::from(s)
}

/// Fetches registry, payouts, payout breakdown and reports list for `window` into a new
/// snapshot folder, and returns its manifest.
pub async fn fetch_window(
    client: &XsollaClient,
    data_dir: &Path,
    merchant: FetchTarget<'_>,
    window: Window,
    settings: &FetchSettings,
    progress: &dyn Progress,
) -> Result<(PathBuf, Manifest), FetchError> {
    let started_at = Utc::now();
    let root = snapshots_dir(data_dir, merchant.merchant);
    std::fs::create_dir_all(&root).map_err(|e| FsError::new("create folder", &root, e))?;
    remove_abandoned_partials(&root);
    let fetch_id = format!(
        "{}-{}",
        window.slug(),
        started_at.format("%Y%m%dT%H%M%S%3fZ")
    );
    let staging_dir = root.join(format!(".partial-{}-{fetch_id}", std::process::id()));
    std::fs::create_dir_all(&staging_dir)
        .map_err(|e| FsError::new("create folder", &staging_dir, e))?;
    let mut staging = Staging {
        dir: staging_dir.clone(),
        files: Vec::new(),
    };
    let result = fetch_into(client, &mut staging, window, settings, progress).await;
    let counts = match result {
        Ok(c) => c,
        Err(e) => {
            // Nothing half-done is left behind under any name a reader would trust.
            let _ = std::fs::remove_dir_all(&staging_dir);
            return Err(e);
        }
    };
    let manifest = Manifest {
        schema: SNAPSHOT_SCHEMA,
        fetch_id: fetch_id.clone(),
        merchant: merchant.merchant.to_owned(),
        merchant_id: merchant.merchant_id,
        base_url: merchant.base_url.to_owned(),
        window,
        format: settings.format,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at,
        finished_at: Utc::now(),
        counts,
        files: staging.files,
    };
    // Pages first, durably; then the manifest; then the folder appears under its final name.
    fsutil::sync_filesystem(&staging_dir)?;
    let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
    fsutil::write_atomic(&staging_dir.join("manifest.json"), &bytes)?;
    let final_dir = root.join(&fetch_id);
    fsutil::publish_dir(&staging_dir, &final_dir)?;
    Ok((final_dir, manifest))
}

/// Running request counters of a fetch, shared by the reads that run at once (so the
/// progress line and the counts add up whatever order their pages arrive in).
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    retried: AtomicU64,
    registry_rows: AtomicU64,
    /// Smallest page cap any registry read met.
    page_cap: std::sync::Mutex<Option<u32>>,
}

impl Tally {
    /// Counts a stored response; returns the running request count.
    fn count(&self, reply: &Reply) -> u64 {
        self.retried
            .fetch_add(u64::from(reply.attempts > 1), Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts a stored registry page's rows; returns the running registry row count.
    fn rows(&self, n: usize) -> u64 {
        self.registry_rows.fetch_add(n as u64, Ordering::Relaxed) + n as u64
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn registry_rows(&self) -> u64 {
        self.registry_rows.load(Ordering::Relaxed)
    }

    /// Records a page cap a registry read saw, warning once per fetch.
    fn page_cap_seen(&self, seen: Option<u32>) {
        let Some(cap) = seen else { return };
        let mut known = self.page_cap.lock().unwrap_or_else(|e| e.into_inner());
        if known.is_none() {
            tracing::warn!(
                cap,
                "Xsolla capped registry pages at {cap} rows, below fetch.page_limit: no rows were lost (offsets followed the rows received), but set fetch.page_limit = {cap} to save requests"
            );
        }
        *known = Some(known.map_or(cap, |c| c.min(cap)));
    }

    fn page_cap(&self) -> Option<u32> {
        *self.page_cap.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads registry pages (for `window`, or with no dates) and stores each under `folder`.
#[allow(clippy::too_many_arguments)]
async fn store_registry(
    client: &XsollaClient,
    staging: &mut Staging,
    endpoint: &str,
    folder: &dyn Fn(Option<Window>) -> String,
    window: Option<Window>,
    context: Window,
    filter: &RegistryFilter,
    settings: &FetchSettings,
    tally: &Tally,
    progress: &dyn Progress,
) -> Result<PagingStats, FetchError> {
    let ext = settings.format.ext();
    let mut sink_error: Option<FsError> = None;
    let walked = walk_registry(
        client,
        window,
        filter,
        settings.format,
        settings.limits(),
        |w: WalkedPage| {
            let rel = format!("{}/p{:06}.{ext}", folder(w.pos.chunk), w.pos.index);
            let dups: Vec<u32> = (0..w.keep.len() as u32)
                .filter(|i| !w.keep[*i as usize])
                .collect();
            let requests = tally.count(&w.page.reply);
            let mut file = SnapshotFile::describe_hashed(
                rel,
                endpoint,
                w.pos.chunk.unwrap_or(context),
                &w.page.reply,
                w.page.rows.len(),
                w.sha256,
            );
            file.offset = Some(w.pos.offset);
            file.duplicate_rows = dups;
            if let Err(e) = staging.store(&w.page.reply, file) {
                let msg = e.to_string();
                sink_error = Some(e);
                return Err(msg);
            }
            let rows = tally.rows(w.page.rows.len());
            progress.stored(endpoint, rows, requests);
            Ok(())
        },
    )
    .await;
    match walked {
        Ok(s) => {
            tally.page_cap_seen(s.page_cap_detected);
            Ok(s)
        }
        Err(PagingError::Sink(_)) if sink_error.is_some() => {
            Err(sink_error.take().expect("checked").into())
        }
        Err(e) => Err(e.into()),
    }
}

/// How many of the fetch's independent reads run at once: `http.max_concurrency`, the
/// number of requests the transport lets out at a time (more would only queue, holding their
/// pages in memory meanwhile).
fn reads_at_once(client: &XsollaClient) -> usize {
    client.transport().settings().max_concurrency.max(1) as usize
}

/// What the payouts and reports lists of the window hold.
#[derive(Default)]
struct Lists {
    payout_ids: BTreeSet<i64>,
    report_ids: BTreeSet<i64>,
    payouts_received: u64,
    reports_received: u64,
}

/// The payouts and reports lists, one call each per chunk: small and not paginated, so the
/// chunks are asked for at once (up to [`reads_at_once`]) and stored in chunk order.
async fn store_lists(
    client: &XsollaClient,
    staging: &mut Staging,
    window: Window,
    settings: &FetchSettings,
    tally: &Tally,
    progress: &dyn Progress,
) -> Result<Lists, FetchError> {
    use futures::{StreamExt as _, TryStreamExt as _};
    let mut lists = Lists::default();
    let mut replies = futures::stream::iter(window.chunks(settings.chunk_days))
        .map(|chunk| async move {
            let (payouts, reports) =
                tokio::try_join!(client.payouts(chunk), client.reports(chunk))?;
            Ok::<_, XsollaError>((chunk, payouts, reports))
        })
        .buffered(reads_at_once(client).div_ceil(2));
    while let Some((chunk, payouts, reports)) = replies.try_next().await? {
        lists.payouts_received += payouts.rows.len() as u64;
        lists
            .payout_ids
            .extend(payouts.rows.iter().filter_map(|p| p.payout_id));
        lists.reports_received += reports.rows.len() as u64;
        lists
            .report_ids
            .extend(reports.rows.iter().filter_map(|r| r.report_id));
        store_small(staging, "payouts", chunk, &payouts)?;
        store_small(staging, "reports", chunk, &reports)?;
        tally.count(&payouts.reply);
        let requests = tally.count(&reports.reply);
        progress.stored("payouts", tally.registry_rows(), requests);
    }
    Ok(lists)
}

/// Every registry row of each payout (`transfer_id` filter, no dates), whatever its date, so
/// payouts can be checked exactly: the window alone may hold only part of a payout's rows.
///
/// Up to [`reads_at_once`] payouts are read at once, each page by page as the window is (its
/// pages go to disk as they arrive, under `payout_registry/<id>/`), so memory holds a few
/// pages per payout in flight, never a payout's rows. What each read stored is listed in
/// payout id order whatever order they end in, so the snapshot is the same as a read of one
/// payout after another. The first read that fails stops the others and fails the fetch with
/// its own error (its request URL names the payout's `transfer_id`).
#[allow(clippy::too_many_arguments)]
async fn store_payout_rows(
    client: &XsollaClient,
    staging: &mut Staging,
    ids: &BTreeSet<i64>,
    context: Window,
    filter: &RegistryFilter,
    settings: &FetchSettings,
    tally: &Tally,
    progress: &dyn Progress,
) -> Result<u64, FetchError> {
    use futures::StreamExt as _;
    let dir = &staging.dir;
    let mut reads = futures::stream::iter(ids.iter().copied())
        .map(|id| async move {
            let mut part = Staging::part(dir);
            let by_payout = RegistryFilter {
                transfer_id: Some(id),
                ..filter.clone()
            };
            let stats = store_registry(
                client,
                &mut part,
                "payout_registry",
                &|_| format!("payout_registry/{id}"),
                None,
                context,
                &by_payout,
                settings,
                tally,
                progress,
            )
            .await?;
            Ok::<_, FetchError>((id, part, stats.rows_unique))
        })
        .buffer_unordered(reads_at_once(client));
    let mut done = std::collections::BTreeMap::new();
    while let Some(read) = reads.next().await {
        let (id, part, rows) = read?;
        done.insert(id, (part, rows));
    }
    drop(reads);
    let mut rows = 0;
    for (part, n) in done.into_values() {
        staging.append(part);
        rows += n;
    }
    Ok(rows)
}

/// Reads the window into `staging`: the registry pages, the payouts and reports lists, the
/// breakdown days and (with `payout_rows`) every payout's rows.
///
/// The reads are independent, so they run at once, within the transport's rate and
/// concurrency limits (`http.*`): the window's pages, the lists followed by the payouts' rows,
/// and the breakdown days. Each stores into its own list of files, and the lists are joined in
/// the order of a fetch that reads one after another (registry, lists by chunk, breakdown by
/// day, payout rows by id), so the manifest does not depend on which request answered first.
async fn fetch_into(
    client: &XsollaClient,
    staging: &mut Staging,
    window: Window,
    settings: &FetchSettings,
    progress: &dyn Progress,
) -> Result<FetchCounts, FetchError> {
    let mut counts = FetchCounts::default();
    let tally = Tally::default();
    let filter = RegistryFilter {
        show_dry_run: settings.show_dry_run,
        ..Default::default()
    };
    let (mut registry, mut lists, mut breakdown, mut payouts) = (
        Staging::part(&staging.dir),
        Staging::part(&staging.dir),
        Staging::part(&staging.dir),
        Staging::part(&staging.dir),
    );
    let registry_read = store_registry(
        client,
        &mut registry,
        "registry",
        &|chunk| format!("registry/{}", chunk.map(|c| c.slug()).unwrap_or_default()),
        Some(window),
        window,
        &filter,
        settings,
        &tally,
        progress,
    );
    let payouts_read = async {
        let l = store_lists(client, &mut lists, window, settings, &tally, progress).await?;
        let rows = if settings.payout_rows {
            let ids = &l.payout_ids;
            store_payout_rows(
                client,
                &mut payouts,
                ids,
                window,
                &filter,
                settings,
                &tally,
                progress,
            )
            .await?
        } else {
            0
        };
        Ok::<_, FetchError>((l, rows))
    };
    let breakdown_read = async {
        let b = store_breakdown(client, &mut breakdown, window, settings, &tally).await?;
        progress.stored("breakdown", tally.registry_rows(), tally.requests());
        Ok::<_, FetchError>(b)
    };
    let (registry_stats, (l, payout_rows), (breakdown_rows, skipped)) =
        tokio::try_join!(registry_read, payouts_read, breakdown_read)?;
    for part in [registry, lists, breakdown, payouts] {
        staging.append(part);
    }
    counts.registry = registry_stats;
    counts.payouts_received = l.payouts_received;
    counts.payouts_unique = l.payout_ids.len() as u64;
    counts.reports_received = l.reports_received;
    counts.reports_unique = l.report_ids.len() as u64;
    counts.breakdown_rows = breakdown_rows;
    counts.breakdown_days_skipped = skipped;
    counts.payout_registry_rows = payout_rows;
    counts.requests = tally.requests();
    counts.requests_retried = tally.retried.load(Ordering::Relaxed);
    counts.page_cap_detected = tally.page_cap();
    Ok(counts)
}

/// The payouts breakdown, one request per calendar day (the last `breakdown_max_days` days),
/// so each day's sums are compared with that day's registry rows and a difference keeps its
/// key (`breakdown_mismatch:<day>:…`) in every window that holds the day. The days are asked
/// for a few at once (up to [`reads_at_once`]) and stored in day order. Returns the rows
/// received and the days skipped.
async fn store_breakdown(
    client: &XsollaClient,
    staging: &mut Staging,
    window: Window,
    settings: &FetchSettings,
    tally: &Tally,
) -> Result<(u64, u64), FetchError> {
    use futures::{StreamExt as _, TryStreamExt as _};
    let days = window.chunks(1);
    let skip = days
        .len()
        .saturating_sub(settings.breakdown_max_days as usize);
    if skip > 0 {
        tracing::warn!(
            %window,
            days_skipped = skip,
            max = settings.breakdown_max_days,
            "payouts breakdown not requested for the first days of a long window; their rows go unchecked"
        );
    }
    let mut rows = 0;
    let mut replies = futures::stream::iter(days[skip..].iter().copied())
        .map(|day| async move { Ok::<_, XsollaError>((day, client.payout_breakdown(day).await?)) })
        .buffered(reads_at_once(client));
    while let Some((day, breakdown)) = replies.try_next().await? {
        rows += breakdown.rows.len() as u64;
        store_small(staging, "breakdown", day, &breakdown)?;
        tally.count(&breakdown.reply);
    }
    Ok((rows, skip as u64))
}

fn store_small<T>(
    staging: &mut Staging,
    endpoint: &str,
    chunk: Window,
    page: &Page<T>,
) -> Result<(), FsError> {
    let rel = format!("{endpoint}/{}.json", chunk.slug());
    let file = SnapshotFile::describe(rel, endpoint, chunk, &page.reply, page.rows.len());
    staging.store(&page.reply, file)
}

/// Removes staging folders of fetches whose process is gone (killed runs).
fn remove_abandoned_partials(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".partial-") else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            tracing::info!(path = %e.path().display(), "removing the staging folder of an interrupted fetch");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Finds the newest complete snapshot of `window`, checks every file against its sha256, and
/// returns its folder and manifest (for `--offline`).
pub fn find_snapshot(
    data_dir: &Path,
    merchant: &str,
    window: Window,
) -> Result<(PathBuf, Manifest), FetchError> {
    let root = snapshots_dir(data_dir, merchant);
    let prefix = format!("{}-", window.slug());
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let Some(name) = names
        .iter()
        .rev()
        .find(|n| n.starts_with(&prefix) && root.join(n).join("manifest.json").is_file())
    else {
        let available: BTreeSet<&str> = names.iter().filter_map(|n| n.get(..21)).collect();
        return Err(FetchError::NoSnapshot {
            merchant: merchant.to_owned(),
            window,
            dir: root,
            available: if available.is_empty() {
                String::new()
            } else {
                format!(
                    " (stored windows: {})",
                    available.into_iter().collect::<Vec<_>>().join(", ")
                )
            },
        });
    };
    let dir = root.join(name);
    let manifest = verify_snapshot(&dir)?;
    Ok((dir, manifest))
}

/// Reads a snapshot's manifest and checks every listed file's length and sha256.
pub fn verify_snapshot(dir: &Path) -> Result<Manifest, FetchError> {
    let mpath = dir.join("manifest.json");
    let bytes = std::fs::read(&mpath).map_err(|e| FsError::new("read", &mpath, e))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| FetchError::Damaged {
        path: mpath.clone(),
        problem: e.to_string(),
    })?;
    if manifest.schema != SNAPSHOT_SCHEMA {
        return Err(FetchError::Damaged {
            path: mpath,
            problem: format!(
                "layout version {} (this build reads {SNAPSHOT_SCHEMA})",
                manifest.schema
            ),
        });
    }
    for f in &manifest.files {
        let p = dir.join(&f.path);
        let body = std::fs::read(&p).map_err(|e| FsError::new("read", &p, e))?;
        let sha = hex::encode(Sha256::digest(&body));
        if sha != f.sha256 || body.len() as u64 != f.bytes {
            return Err(FetchError::Damaged {
                path: p,
                problem: format!(
                    "sha256 {sha} ({} bytes), manifest says {} ({} bytes)",
                    body.len(),
                    f.sha256,
                    f.bytes
                ),
            });
        }
    }
    Ok(manifest)
}

// ---------------------------------------------------------------------------------------------
// Payments of in-window cancellations (docs/xsolla-api.md §12.6).

/// Layout version of a lookups record.
pub const LOOKUPS_SCHEMA: u32 = 1;

/// Folder holding the payment lookups made for one snapshot:
/// `<data_dir>/lookups/<merchant>/<fetch_id>/` with `lookups.json` (the record, written last)
/// and `details/<transaction id>.json` (Xsolla's details responses, verbatim).
pub fn lookups_dir(data_dir: &Path, merchant: &str, fetch_id: &str) -> PathBuf {
    data_dir.join("lookups").join(merchant).join(fetch_id)
}

/// How the payment of one transaction was found, or why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupOutcome {
    /// A payment row in an earlier stored snapshot of the merchant.
    Snapshot,
    /// Xsolla's transaction details call.
    Details,
    /// Neither has it (the details call answered 404 or with no row).
    NotFound,
    /// The lookup failed (network, a details row without the registry's fields, `--offline`
    /// with nothing stored); `reason` says why. The transaction stays unchecked.
    NotChecked,
    /// Beyond `fetch.max_payment_lookups`.
    NotLookedUp,
}

impl LookupOutcome {
    /// Whether a later run may reuse it as it is (a failure is tried again).
    fn is_final(self) -> bool {
        matches!(
            self,
            LookupOutcome::Snapshot | LookupOutcome::Details | LookupOutcome::NotFound
        )
    }
}

/// One looked-up transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentLookup {
    /// Xsolla transaction id.
    pub transaction_id: i64,
    /// What came of it.
    pub outcome: LookupOutcome,
    /// The earlier snapshot's folder name (`snapshot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The file holding the row: relative to that snapshot, or to the lookups folder
    /// (`details/<id>.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// 0-based row of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u32>,
    /// Hex sha256 of the file, checked when the row is read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Request URL of a details call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Why it was not found or not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PaymentLookup {
    /// A transaction whose payment could not be checked, and why (never silence: the run
    /// counts and logs it).
    pub fn not_checked(id: i64, reason: String) -> Self {
        PaymentLookup {
            transaction_id: id,
            outcome: LookupOutcome::NotChecked,
            snapshot: None,
            path: None,
            row: None,
            sha256: None,
            url: None,
            reason: Some(reason),
        }
    }
}

/// Counts of a lookups record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupCounts {
    /// Transactions whose payment was wanted.
    pub wanted: u64,
    /// Found in an earlier snapshot.
    pub found_in_snapshots: u64,
    /// Found by the details call.
    pub found_by_details: u64,
    /// Looked up and not found.
    pub not_found: u64,
    /// The lookup failed.
    pub not_checked: u64,
    /// Beyond the bound.
    pub not_looked_up: u64,
}

impl LookupCounts {
    /// Counts of `lookups`.
    pub fn of<'a>(lookups: impl IntoIterator<Item = &'a PaymentLookup>) -> Self {
        let mut c = LookupCounts::default();
        for l in lookups {
            c.wanted += 1;
            *match l.outcome {
                LookupOutcome::Snapshot => &mut c.found_in_snapshots,
                LookupOutcome::Details => &mut c.found_by_details,
                LookupOutcome::NotFound => &mut c.not_found,
                LookupOutcome::NotChecked => &mut c.not_checked,
                LookupOutcome::NotLookedUp => &mut c.not_looked_up,
            } += 1;
        }
        c
    }
}

/// `lookups.json`: every lookup made for one snapshot, by transaction id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupRecord {
    /// Layout version.
    pub schema: u32,
    /// The snapshot the lookups were made for.
    pub fetch_id: String,
    /// Counts of `lookups`.
    pub counts: LookupCounts,
    /// The lookups, by transaction id.
    pub lookups: Vec<PaymentLookup>,
}

/// Reads the lookups record of a snapshot; `None` when no lookup was ever stored.
pub fn read_lookups(dir: &Path) -> Result<Option<LookupRecord>, FetchError> {
    let path = dir.join("lookups.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FsError::new("read", &path, e).into()),
    };
    let record: LookupRecord = serde_json::from_slice(&bytes).map_err(|e| FetchError::Damaged {
        path: path.clone(),
        problem: e.to_string(),
    })?;
    if record.schema != LOOKUPS_SCHEMA {
        return Err(FetchError::Damaged {
            path,
            problem: format!(
                "layout version {} (this build reads {LOOKUPS_SCHEMA})",
                record.schema
            ),
        });
    }
    Ok(Some(record))
}

/// Where and how to look payments up for one snapshot.
pub struct LookupRequest<'a> {
    /// The data folder.
    pub data_dir: &'a Path,
    /// The merchant's snapshot folder name.
    pub merchant: &'a str,
    /// The snapshot the run reads.
    pub current: &'a Manifest,
    /// The details call; `None` with `--offline` (what is not stored stays not checked).
    pub client: Option<&'a XsollaClient>,
    /// `fetch.max_payment_lookups`.
    pub max: u32,
}

/// Looks up the payments of `wanted` (transactions with a cancellation in the window and no
/// payment row in it): what the stored record already has is kept, then the first
/// `max` ids (ascending) are searched in earlier snapshots (newest first) and the rest with
/// Xsolla's details call. The record is rewritten when it changed, and returned.
pub async fn look_up_payments(
    req: &LookupRequest<'_>,
    wanted: &BTreeSet<i64>,
) -> Result<LookupRecord, FetchError> {
    let dir = lookups_dir(req.data_dir, req.merchant, &req.current.fetch_id);
    let stored = read_lookups(&dir)?;
    let mut known: std::collections::BTreeMap<i64, PaymentLookup> = stored
        .iter()
        .flat_map(|r| r.lookups.iter())
        .filter(|l| l.outcome.is_final())
        .map(|l| (l.transaction_id, l.clone()))
        .collect();
    let eligible: BTreeSet<i64> = wanted.iter().copied().take(req.max as usize).collect();
    let mut open: BTreeSet<i64> = eligible
        .iter()
        .copied()
        .filter(|id| !known.contains_key(id))
        .collect();
    if !open.is_empty() {
        for l in search_snapshots(req, &mut open)? {
            known.insert(l.transaction_id, l);
        }
    }
    for id in open {
        let l = match req.client {
            Some(client) => details_lookup(client, &dir, id).await?,
            None => PaymentLookup::not_checked(id, "--offline, and no stored lookup".into()),
        };
        known.insert(id, l);
    }
    let lookups: Vec<PaymentLookup> = wanted
        .iter()
        .map(|id| match known.get(id).filter(|_| eligible.contains(id)) {
            Some(l) => l.clone(),
            None => PaymentLookup {
                outcome: LookupOutcome::NotLookedUp,
                ..PaymentLookup::not_checked(
                    *id,
                    format!("beyond fetch.max_payment_lookups = {}", req.max),
                )
            },
        })
        .collect();
    let record = LookupRecord {
        schema: LOOKUPS_SCHEMA,
        fetch_id: req.current.fetch_id.clone(),
        counts: LookupCounts::of(&lookups),
        lookups,
    };
    if stored.as_ref() != Some(&record) && !wanted.is_empty() {
        std::fs::create_dir_all(&dir).map_err(|e| FsError::new("create folder", &dir, e))?;
        let bytes = serde_json::to_vec_pretty(&record).expect("lookups serialize");
        fsutil::write_atomic(&dir.join("lookups.json"), &bytes)?;
    }
    Ok(record)
}

/// Earlier complete snapshots of the merchant (fetched before `current` started), newest
/// first: each is verified before its pages are read, and the search stops once every id in
/// `open` is found (found ids are removed from it).
fn search_snapshots(
    req: &LookupRequest<'_>,
    open: &mut BTreeSet<i64>,
) -> Result<Vec<PaymentLookup>, FetchError> {
    let root = snapshots_dir(req.data_dir, req.merchant);
    let mut earlier: Vec<(DateTime<Utc>, PathBuf)> = std::fs::read_dir(&root)
        .map(|rd| rd.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .filter_map(|p| {
            let bytes = std::fs::read(p.join("manifest.json")).ok()?;
            let m: Manifest = serde_json::from_slice(&bytes).ok()?;
            (m.finished_at <= req.current.started_at && m.fetch_id != req.current.fetch_id)
                .then_some((m.finished_at, p))
        })
        .collect();
    earlier.sort_by(|a, b| b.cmp(a));
    let mut found = Vec::new();
    for (_, dir) in earlier {
        if open.is_empty() {
            break;
        }
        let manifest = match verify_snapshot(&dir) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(snapshot = %dir.display(), error = %e, "skipping a damaged snapshot in the payment lookup");
                continue;
            }
        };
        found.extend(payments_in(&dir, &manifest, open)?);
    }
    Ok(found)
}

/// Payment rows of `open` ids in one verified snapshot's registry pages (found ids leave
/// `open`; rows the fetch marked as repeats are skipped).
fn payments_in(
    dir: &Path,
    manifest: &Manifest,
    open: &mut BTreeSet<i64>,
) -> Result<Vec<PaymentLookup>, FetchError> {
    use crate::xsolla::model::{TransactionRow, REGISTRY_REQUIRED};
    let mut found = Vec::new();
    let registry = manifest
        .files
        .iter()
        .filter(|f| matches!(f.endpoint.as_str(), "registry" | "payout_registry"));
    for file in registry {
        if open.is_empty() {
            break;
        }
        let path = dir.join(&file.path);
        let body = std::fs::read(&path).map_err(|e| FsError::new("read", &path, e))?;
        let rows: Vec<TransactionRow> = match manifest.format {
            Format::Json => crate::xsolla::parse::parse_json_rows(&body, REGISTRY_REQUIRED),
            Format::Csv => crate::xsolla::parse::parse_csv_rows(&body, REGISTRY_REQUIRED),
        }
        .map_err(|e| FetchError::Damaged {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        for (i, row) in rows.iter().enumerate() {
            let Some(id) = row.transaction_id else {
                continue;
            };
            let payment = row.payment_amount.is_some_and(|a| !a.is_sign_negative());
            if payment && !file.duplicate_rows.contains(&(i as u32)) && open.remove(&id) {
                found.push(PaymentLookup {
                    transaction_id: id,
                    outcome: LookupOutcome::Snapshot,
                    snapshot: Some(manifest.fetch_id.clone()),
                    path: Some(file.path.clone()),
                    row: Some(i as u32),
                    sha256: Some(file.sha256.clone()),
                    url: None,
                    reason: None,
                });
            }
        }
    }
    Ok(found)
}

/// One details call: the response stored verbatim under `details/<id>.json` when it holds a
/// payment with the registry's fields; a 404 or an empty answer is "not found", any other
/// failure "not checked" with its reason.
async fn details_lookup(
    client: &XsollaClient,
    dir: &Path,
    id: i64,
) -> Result<PaymentLookup, FetchError> {
    use crate::xsolla::model::{TransactionRow, REGISTRY_REQUIRED};
    let page = match client.transaction_details(id).await {
        Ok(p) => p,
        Err(e) if e.status() == Some(404) => {
            return Ok(PaymentLookup {
                outcome: LookupOutcome::NotFound,
                reason: Some(e.to_string()),
                ..PaymentLookup::not_checked(id, String::new())
            })
        }
        Err(e) => {
            tracing::warn!(transaction_id = id, error = %e, "payment lookup failed; the transaction is not checked");
            return Ok(PaymentLookup::not_checked(id, e.to_string()));
        }
    };
    let url = Some(page.reply.url.clone());
    let usable: Result<Vec<TransactionRow>, _> =
        crate::xsolla::parse::parse_json_rows(&page.reply.body, REGISTRY_REQUIRED);
    let row = match usable {
        Ok(rows) => rows.iter().position(|r| {
            r.transaction_id == Some(id) && r.payment_amount.is_some_and(|a| !a.is_sign_negative())
        }),
        Err(e) => {
            return Ok(PaymentLookup {
                url,
                ..PaymentLookup::not_checked(
                    id,
                    format!("the details of {id} lack the registry's fields: {e}"),
                )
            })
        }
    };
    let Some(row) = row else {
        return Ok(PaymentLookup {
            outcome: LookupOutcome::NotFound,
            url,
            reason: Some("the details call returned no payment row".into()),
            ..PaymentLookup::not_checked(id, String::new())
        });
    };
    let rel = format!("details/{id}.json");
    let path = dir.join(&rel);
    std::fs::create_dir_all(dir.join("details"))
        .map_err(|e| FsError::new("create folder", dir.join("details"), e))?;
    fsutil::write_atomic(&path, &page.reply.body)?;
    Ok(PaymentLookup {
        transaction_id: id,
        outcome: LookupOutcome::Details,
        snapshot: None,
        path: Some(rel),
        row: Some(row as u32),
        sha256: Some(hex::encode(Sha256::digest(&page.reply.body))),
        url,
        reason: None,
    })
}
