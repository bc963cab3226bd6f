//! An Xsolla-compatible Reports API server on loopback, for the demo, the tests and the
//! benchmarks: the real Xsolla API is out of reach from these machines, so this serves the
//! same paths, formats, auth and quirks (`docs/xsolla-api.md`)
//! from deterministic generated data, and can inject the faults a real provider shows.
//!
//! Data: see [`data`] for the merchant and the exact money formula. Rendering: see [`render`].
//! Facts docs/xsolla-api.md marks unknown are decided here and documented where they are made.

mod api;
mod data;
mod faults;
mod render;

#[cfg(test)]
mod tests;

mod conventions;
pub mod ledger;
pub use faults::{Fault, FaultRule};

use chrono::NaiveDate;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// How the sandbox behaves; [`Default`] is a small October 2026 month.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Merchant id in paths and Basic auth.
    pub merchant_id: i64,
    /// Company-level API key (accepted).
    pub api_key: String,
    /// Project-level key: authenticates, but every Reports call gets 403 (docs/xsolla-api.md §0.1).
    pub project_key: Option<String>,
    /// Same seed + same dates → byte-identical data.
    pub seed: u64,
    /// First day with payments.
    pub from: NaiveDate,
    /// Last day with payments.
    pub to: NaiveDate,
    /// Mean payments per day (each day varies ±20 %).
    pub transactions_per_day: u32,
    /// Date stamped on refunds/chargebacks made through the API; `None` = `to`.
    pub today: Option<NaiveDate>,
    /// Largest accepted `limit`; larger gets 422.
    pub max_page_limit: u32,
    /// Rows per registry and search page at most, whatever `limit` asks for (`None`, the
    /// default: no cap). Xsolla documents no cap ([U]); a server that has one answers a larger
    /// `limit` with a short page that is not the last, which this reproduces.
    pub page_cap: Option<u32>,
    /// Faults active from the start.
    pub faults: Vec<FaultRule>,
    /// Deliberate inconsistencies in the served data (none by default).
    pub quirks: DataQuirks,
    /// The zone the served dates are in (docs/xsolla-api.md §12.2: Xsolla's is [U]):
    /// date-times are its local times without an offset, and `datetime_from`/`datetime_to`,
    /// payout periods and reports use its days. Payments are generated on the UTC days
    /// `from..to` either way, so one seed gives the same payments in every zone. Default UTC.
    pub timezone: chrono_tz::Tz,
}

/// Deliberate inconsistencies in Xsolla's own data, so the demo and the tests can show that
/// the checks which catch them work. Each is applied deterministically.
#[derive(Clone, Debug, Default)]
pub struct DataQuirks {
    /// Serve the first N completed, non-test payments of the data twice in the registry
    /// (the payout total includes the copy, as a server that double-counts would).
    pub duplicated_payments: u32,
    /// Added to the `amount` of the first payout served.
    pub payout_amount_delta: Option<rust_decimal::Decimal>,
    /// Added to `PaymentsAmount` of the first currency of every breakdown response whose
    /// range holds the data set's first day (`from`).
    pub breakdown_payments_delta: Option<rust_decimal::Decimal>,
    /// Refunds and chargebacks of payments dated before the data set: N payments on the day
    /// before `from` (served by the registry for that day and by `details`), about two of
    /// three reversed on one of the first days of the data set (see `Dataset::add_early_refunds`).
    pub early_refunds: u32,
    /// Not an inconsistency but the other reading of a [U] fact (docs/xsolla-api.md §12.6):
    /// each payout's amount is its rows' `payout.amount` plus their (negative) penalties
    /// converted at each row's `fx_rate` and rounded to USD, instead of the rows'
    /// `payout.amount` alone (the default). `reconcile.payout_deducts_penalties` reads it.
    pub penalties_deducted_from_payouts: bool,
    /// Serve payouts without `payout.amount` (docs/xsolla-api.md §11.1: no source shows the
    /// field), so the payout check has nothing to compare and says so.
    pub payouts_without_amount: bool,
    /// Serve the first currency's `SumPayoutSum` of every breakdown response whose range
    /// holds the data set's first day with the binary-float noise a double leaves
    /// (`+ 0.0000000000002`, as in `1234.5600000000002`): more decimals than money holds.
    pub breakdown_float_noise: bool,
    /// List the last currency of every breakdown response whose range holds the data set's
    /// second day twice (the copy identical), so the response is ambiguous for it.
    pub breakdown_repeated_currency: bool,
    /// How many more days before `from` the `early_refunds` payments are dated (0, the
    /// default: the day before `from`). A nightly run's fetch margin reads a payment only a few
    /// days old; one dated further back than the margin must be looked up.
    pub early_refunds_days_earlier: u32,
    /// Each project numbers its orders on its own, from 1001 in transaction order: the
    /// `external_id` is that number alone, so two games share order numbers (a ledger must
    /// then match orders within a project). Default false: `<prefix>-<hex>` ids, unique.
    pub order_numbers_per_project: bool,
    /// Every fourth transaction (id divisible by 4) pays a CPA network commission of 2 % of
    /// the nominal price (`cpa_network_commission.amount`), deducted from net and payout.
    /// Default false: CPA is 0, as for most merchants.
    pub cpa_commissions: bool,
    /// The other reading of a [U] fact (docs/xsolla-api.md §12.8): `commission_xsolla.amount`
    /// and `commission_ps.amount` exclude their `fixed_amount`, so a fee is `amount` plus
    /// `fixed_amount`. Default false: `amount` is the whole fee, `fixed_amount` the part of it
    /// that does not depend on the price.
    pub fixed_fees_outside_amount: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            merchant_id: 100_001,
            api_key: "sandbox-company-key".to_owned(),
            project_key: Some("sandbox-project-key".to_owned()),
            seed: 7,
            from: NaiveDate::from_ymd_opt(2026, 10, 1).expect("valid date"),
            to: NaiveDate::from_ymd_opt(2026, 10, 31).expect("valid date"),
            transactions_per_day: 40,
            today: None,
            max_page_limit: 1000,
            page_cap: None,
            faults: Vec::new(),
            quirks: DataQuirks::default(),
            timezone: chrono_tz::Tz::UTC,
        }
    }
}

/// Why the sandbox could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The configuration is unusable (dates reversed, too many payments per day…).
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The server task failed.
    #[error("sandbox server failed: {0}")]
    Serve(io::Error),
    /// The data generator panicked (a bug).
    #[error("sandbox data generation failed: {0}")]
    Generate(String),
}

/// One request as the sandbox saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Status returned; 0 when the connection was dropped without a response.
    pub status: u16,
    /// Name of the fault applied ([`Fault::name`]).
    pub fault: Option<String>,
}

/// The request log keeps at most this many records (oldest dropped), so a long-running
/// sandbox does not grow without bound.
const MAX_RECORDS: usize = 200_000;

/// State shared by the handlers.
pub(crate) struct Shared {
    pub(crate) merchant_id: i64,
    pub(crate) api_key: String,
    pub(crate) project_key: Option<String>,
    pub(crate) max_page_limit: u32,
    pub(crate) page_cap: Option<u32>,
    pub(crate) data: RwLock<data::Dataset>,
    pub(crate) faults: Mutex<Vec<faults::RuleState>>,
    pub(crate) requests: Mutex<Vec<RequestRecord>>,
    pub(crate) counter: AtomicU64,
    pub(crate) in_flight: faults::InFlight,
    /// Where the registry queries' pages start (see [`api::PageIndex`]).
    pub(crate) page_index: api::PageIndex,
}

impl Shared {
    pub(crate) fn record(&self, r: RequestRecord) {
        let mut log = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() >= MAX_RECORDS {
            log.drain(..MAX_RECORDS / 10);
        }
        log.push(r);
    }
}

/// A running sandbox server.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), io::Error>>>,
}

fn validate(cfg: &SandboxConfig) -> Result<(), SandboxError> {
    let bad = |m: &str| Err(SandboxError::Config(m.to_owned()));
    if cfg.from > cfg.to {
        return bad("from is after to");
    }
    if cfg.from < NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date") {
        return bad("from must be 2000-01-01 or later");
    }
    if (cfg.to - cfg.from).num_days() > 3_660 {
        return bad("the sandbox generates at most ten years");
    }
    if cfg.transactions_per_day == 0 || cfg.transactions_per_day > 80_000 {
        return bad("transactions_per_day must be between 1 and 80000");
    }
    if cfg.max_page_limit == 0 {
        return bad("max_page_limit must be at least 1");
    }
    if cfg.page_cap == Some(0) {
        return bad("page_cap must be at least 1");
    }
    if cfg.api_key.is_empty() || cfg.project_key.as_deref() == Some(cfg.api_key.as_str()) {
        return bad("api_key must be non-empty and differ from project_key");
    }
    Ok(())
}

impl Sandbox {
    /// Generates the data and starts serving on `bind` (use `127.0.0.1:0` for a free port).
    pub async fn start(cfg: SandboxConfig, bind: SocketAddr) -> Result<Sandbox, SandboxError> {
        validate(&cfg)?;
        let params = data::GenParams {
            seed: cfg.seed,
            from: cfg.from,
            to: cfg.to,
            today: cfg.today.unwrap_or(cfg.to),
            per_day: cfg.transactions_per_day,
            tz: cfg.timezone,
        };
        let started = std::time::Instant::now();
        let quirks = cfg.quirks.clone();
        let dataset = tokio::task::spawn_blocking(move || {
            let mut ds = data::generate(params);
            ds.apply_quirks(&quirks);
            ds
        })
        .await
        .map_err(|e| SandboxError::Generate(e.to_string()))?;
        tracing::info!(
            transactions = dataset.txns.len(),
            registry_rows = dataset.rows.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sandbox data generated"
        );
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| SandboxError::Bind { addr: bind, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr: bind, source })?;
        let shared = Arc::new(Shared {
            merchant_id: cfg.merchant_id,
            api_key: cfg.api_key,
            project_key: cfg.project_key,
            max_page_limit: cfg.max_page_limit,
            page_cap: cfg.page_cap,
            data: RwLock::new(dataset),
            faults: Mutex::new(cfg.faults.into_iter().map(faults::RuleState::new).collect()),
            requests: Mutex::new(Vec::new()),
            counter: AtomicU64::new(0),
            in_flight: faults::InFlight::default(),
            page_index: api::PageIndex::default(),
        });
        let app = api::router(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(
                SandboxListener(listener),
                app.into_make_service_with_connect_info::<ConnCtl>(),
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Sandbox {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/merchant/v2`, the client's base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/merchant/v2", self.addr)
    }

    /// The merchant id to authenticate as.
    pub fn merchant_id(&self) -> i64 {
        self.shared.merchant_id
    }

    /// The company API key.
    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// Appends fault rules (after the existing ones).
    pub fn add_faults(&self, rules: Vec<FaultRule>) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(rules.into_iter().map(faults::RuleState::new));
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Every request seen so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The most API requests the sandbox was answering at once (since the start or
    /// [`Self::reset_most_in_flight`]): the client's concurrency as the server sees it.
    pub fn most_in_flight(&self) -> usize {
        self.shared.in_flight.most()
    }

    /// Starts [`Self::most_in_flight`] afresh.
    pub fn reset_most_in_flight(&self) {
        self.shared.in_flight.reset()
    }

    /// Read access to the truth behind the responses.
    pub fn dataset(&self) -> DatasetView {
        DatasetView {
            shared: self.shared.clone(),
        }
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "sandbox server ended with an error"),
                Err(e) => tracing::warn!(error = %e, "sandbox server task failed"),
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One payout as the sandbox knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutTruth {
    /// Payout id (the registry's `transfer_id`).
    pub id: i64,
    /// First day of the half-month period.
    pub period_start: NaiveDate,
    /// Last day of the period.
    pub period_end: NaiveDate,
    /// Payout date.
    pub date: NaiveDate,
    /// Payout currency.
    pub currency: String,
    /// Exact sum of the `payout.amount` of its registry rows.
    pub amount: rust_decimal::Decimal,
    /// Number of registry rows in it.
    pub rows: u64,
}

/// Read access to the sandbox's data, for tests.
#[derive(Clone)]
pub struct DatasetView {
    shared: Arc<Shared>,
}

impl DatasetView {
    fn data(&self) -> std::sync::RwLockReadGuard<'_, data::Dataset> {
        self.shared.data.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Exactly what a fault-free `registry.json` call over `[from, to]` (no other filters)
    /// returns, all pages concatenated, as JSON values.
    pub fn registry_json(&self, from: NaiveDate, to: NaiveDate) -> Vec<serde_json::Value> {
        let body = api::registry_body(&self.data(), from, to);
        match serde_json::from_slice(&body) {
            Ok(serde_json::Value::Array(items)) => items,
            _ => Vec::new(),
        }
    }

    /// [`Self::registry_json`] with the test (dry-run) transactions too (`show_dry_run=1`).
    pub fn registry_json_with_tests(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<serde_json::Value> {
        let body = api::registry_body_with_tests(&self.data(), from, to);
        match serde_json::from_slice(&body) {
            Ok(serde_json::Value::Array(items)) => items,
            _ => Vec::new(),
        }
    }

    /// The body of a fault-free `registry.json` call over `[from, to]` with no `limit`: every
    /// row in one response, byte for byte as the server renders it.
    pub fn registry_body(&self, from: NaiveDate, to: NaiveDate) -> Vec<u8> {
        api::registry_body(&self.data(), from, to)
    }

    /// Number of transactions (every status, test ones included).
    pub fn transaction_count(&self) -> usize {
        self.data().txns.len()
    }

    /// Number of registry rows (payments and reversals, test ones included).
    pub fn registry_row_count(&self) -> usize {
        self.data().rows.len()
    }

    /// Number of distinct users the generator draws from.
    pub fn user_count(&self) -> u32 {
        self.data().users()
    }

    /// Every payout, by id.
    pub fn payouts(&self) -> Vec<PayoutTruth> {
        let ds = self.data();
        ds.payouts
            .iter()
            .map(|(id, a)| PayoutTruth {
                id: *id,
                period_start: a.start,
                period_end: a.end,
                date: data::payout_date(a.end),
                currency: data::CURRENCIES[data::PAYOUT].code.to_owned(),
                amount: a.amount,
                rows: a.rows,
            })
            .collect()
    }

    /// Ids of transactions whose current status is `status` (`done`, `refunded`…), in order.
    pub fn transaction_ids_with_status(&self, status: &str) -> Vec<i64> {
        self.data()
            .txns
            .iter()
            .filter(|t| t.status.as_str() == status)
            .map(|t| t.id)
            .collect()
    }

    /// Project id of a transaction.
    pub fn project_of(&self, transaction_id: i64) -> Option<i64> {
        let ds = self.data();
        let i = ds.find(transaction_id)?;
        Some(data::PROJECTS[ds.txns[i as usize].project as usize].id)
    }

    /// The game's order id (`external_id`) of a transaction.
    pub fn external_id_of(&self, transaction_id: i64) -> Option<String> {
        let ds = self.data();
        let i = ds.find(transaction_id)?;
        Some(ds.external_id(&ds.txns[i as usize]))
    }

    /// Ids of the three projects.
    pub fn project_ids(&self) -> Vec<i64> {
        data::PROJECTS.iter().map(|p| p.id).collect()
    }
}

/// Serves until Ctrl-C or SIGTERM. Prints one line to stdout with the base URL, the merchant
/// id and the sandbox key, so scripts (and the CLI `xsolla-recon sandbox`) can pick them up.
pub async fn serve_until_signal(cfg: SandboxConfig, bind: SocketAddr) -> Result<(), SandboxError> {
    let sandbox = Sandbox::start(cfg, bind).await?;
    println!(
        "sandbox listening: base_url={} merchant_id={} api_key={}",
        sandbox.base_url(),
        sandbox.merchant_id(),
        sandbox.api_key()
    );
    wait_for_signal().await.map_err(SandboxError::Serve)?;
    tracing::info!("sandbox shutting down");
    sandbox.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> io::Result<()> {
    tokio::signal::ctrl_c().await
}

// ---------------------------------------------------------------------------------------------
// Connections that a fault can kill.

/// Kill switch of one connection: once set, every read and write fails, so hyper drops the
/// connection without writing the pending response (the `DropConnection` fault).
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnCtl(Arc<AtomicBool>);

impl ConnCtl {
    pub(crate) fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn killed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "sandbox fault: connection dropped",
    )
}

/// A TCP stream with a [`ConnCtl`].
pub(crate) struct ConnIo {
    stream: TcpStream,
    ctl: ConnCtl,
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.ctl.killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.ctl.killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.ctl.killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ctl.killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

struct SandboxListener(TcpListener);

impl axum::serve::Listener for SandboxListener {
    type Io = ConnIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (ConnIo, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        ConnIo {
                            stream,
                            ctl: ConnCtl::default(),
                        },
                        addr,
                    );
                }
                Err(e) => {
                    // Usually EMFILE; back off instead of spinning.
                    tracing::warn!(error = %e, "sandbox accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, SandboxListener>>
    for ConnCtl
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, SandboxListener>) -> Self {
        stream.io().ctl.clone()
    }
}
