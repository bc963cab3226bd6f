//! The scheduler's loop: one job at a time at its fire times, catch-up after downtime, the
//! status file kept current before and after every run, and a clean stop on a signal.

use super::status::{clip_message, JobStatus, Outcome, ScheduleStatus, StatusError};
use super::{missed_fires, next_fire, window_for, CatchUp, ScheduledJob};
use crate::domain::window::Window;
use crate::job::lock::{LockError, RunLock};
use chrono::{DateTime, Duration, Utc};
use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Most missed fires looked at when catching up after downtime.
pub const MAX_MISSED_FIRES: usize = 1_000;
/// Longest sleep before the clock is read again: suspend/resume and clock jumps are noticed
/// within this time.
pub const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(60);
/// A job with `catch_up = "skip"` skips a fire the scheduler reaches later than this (machine
/// suspended, another job ran long).
pub const SKIP_LATE_AFTER: Duration = Duration::hours(1);

/// How a job run ended, as the runner reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    /// The job command's exit code (0 ok, 1 discrepancies found, 2 config, 3 runtime).
    pub exit_code: u8,
    /// One line for the status file.
    pub message: String,
    /// The run's output folder, when it got that far.
    pub run_dir: Option<PathBuf>,
}

/// Where the scheduler gets the time from; tests use a fixed clock.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A shutdown request shared between the signal listener, the scheduler and the jobs.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<ShutdownInner>,
}

#[derive(Default)]
struct ShutdownInner {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("requested", &self.is_requested())
            .finish()
    }
}

/// Exit code when a second signal ends the process at once (128 + SIGTERM).
pub const EXIT_FORCED: i32 = 143;

impl Shutdown {
    /// Not requested yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks everything to stop; idempotent.
    pub fn request(&self) {
        self.inner.flag.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }

    /// Completes once a stop is asked for (at once if it already was).
    pub async fn requested(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Register before checking the flag, so a request in between is not lost.
            notified.as_mut().enable();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }

    /// First SIGTERM/SIGINT: stop scheduling, let the running job finish, then return. A
    /// second signal exits the process at once with 143; outputs are written atomically, so
    /// nothing partial remains under a final name. Spawns a tokio task (call inside a runtime).
    pub fn listen_for_signals(&self) {
        use tokio::signal::unix::{signal, SignalKind};
        // Registered before returning, so no signal slips through to the default action.
        let (mut term, mut int) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(t), Ok(i)) => (t, i),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM/SIGINT");
                return;
            }
        };
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                if me.is_requested() {
                    tracing::warn!(signal = name, "second signal: exiting now");
                    std::process::exit(EXIT_FORCED);
                }
                tracing::info!(
                    signal = name,
                    "shutdown requested: no new runs; a running job finishes first (signal again to exit now)"
                );
                me.request();
            }
        });
    }
}

/// The scheduler could not start.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The status file could not be written at start (permissions, full disk…).
    #[error("schedule status: {0}")]
    Status(#[from] StatusError),
    /// Another scheduler runs on the same data folder, or its lock cannot be taken.
    #[error("cannot start the scheduler: {0}")]
    AlreadyRunning(#[source] LockError),
}

/// Runs `jobs` at their fire times until shutdown.
///
/// One job at a time, whatever the merchants (each run is a heavy batch; running them in
/// turn keeps memory and Xsolla's rate limits predictable). Sleeps until the next fire, waking
/// at least every [`MAX_SLEEP`] and at once on shutdown. Before and after each run the status
/// file is updated. At start, fires missed since the status file's `last_fire` (a run found
/// still `running` counts as missed) are caught up once per job (`run_once`, for the latest
/// missed fire) or skipped (`skip`, logged); on the very first start there is nothing to
/// catch up. Fires that come due during a run are coalesced into one run for the latest.
///
/// Returns `Ok` once shutdown is requested and no job is running; fails at once when another
/// scheduler holds `data_dir/locks/.scheduler.lock`.
pub async fn run_scheduler<F, Fut>(
    jobs: Vec<ScheduledJob>,
    data_dir: &Path,
    clock: &dyn Clock,
    shutdown: Shutdown,
    mut runner: F,
) -> Result<(), ScheduleError>
where
    F: FnMut(ScheduledJob, Window, DateTime<Utc>) -> Fut,
    Fut: Future<Output = JobOutcome>,
{
    let _instance = RunLock::acquire_scheduler(data_dir).map_err(ScheduleError::AlreadyRunning)?;
    let mut plan = Plan::start(jobs, data_dir, clock.now())?;
    while !shutdown.is_requested() {
        let now = clock.now();
        let Some((i, fire)) = plan.take_due(now) else {
            plan.sleep_until_next(now, &shutdown).await;
            continue;
        };
        if plan.skips_late(i, fire, now) {
            continue;
        }
        let job = plan.jobs[i].clone();
        let window = window_for(&job, fire);
        plan.mark_running(i, fire, now);
        tracing::info!(job = %job.name, merchant = %job.merchant, fire = %fire, window = %window, "run starting");
        let outcome = runner(job, window, fire).await;
        plan.record_finish(i, &outcome, clock.now());
    }
    tracing::info!("scheduler stopped");
    Ok(())
}

/// The scheduler's state: the jobs, each one's next fire, the catch-up runs still to do, and
/// the status file that records it all.
struct Plan<'a> {
    jobs: Vec<ScheduledJob>,
    data_dir: &'a Path,
    status: ScheduleStatus,
    /// Next fire per job (same order as `jobs`); `None` when it never fires again.
    pending: Vec<Option<DateTime<Utc>>>,
    /// Catch-up runs decided at start, oldest fire first: (fire, job index).
    catch_up: VecDeque<(DateTime<Utc>, usize)>,
}

impl<'a> Plan<'a> {
    /// Reads the status file, decides the catch-up runs and each job's next fire, and writes
    /// the status back (jobs no longer configured are dropped from it).
    fn start(
        jobs: Vec<ScheduledJob>,
        data_dir: &'a Path,
        now: DateTime<Utc>,
    ) -> Result<Plan<'a>, ScheduleError> {
        let mut status = ScheduleStatus::load(data_dir).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable schedule status; starting afresh (no catch-up)");
            ScheduleStatus::default()
        });
        let mut pending = Vec::with_capacity(jobs.len());
        let mut catch_up = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            let entry = status.jobs.entry(job.name.clone()).or_default();
            if let Some(fire) = missed_at_start(job, entry, now) {
                catch_up.push((fire, i));
            }
            let next = next_fire(job, now);
            if next.is_none() {
                tracing::warn!(job = %job.name, cron = %job.cron, "the job never fires again");
            }
            pending.push(next);
            entry.merchant = job.merchant.clone();
            entry.cron = job.cron.clone();
            entry.time_zone = job.tz.name().to_owned();
            entry.next_fire = next;
        }
        status
            .jobs
            .retain(|name, _| jobs.iter().any(|j| &j.name == name));
        status.save(data_dir)?;
        catch_up.sort();
        if jobs.is_empty() {
            tracing::warn!("no scheduled jobs; waiting for shutdown");
        }
        Ok(Plan {
            jobs,
            data_dir,
            status,
            pending,
            catch_up: catch_up.into(),
        })
    }

    /// The run to start now, if any: a catch-up run first, else the job whose fire is the
    /// earliest past one. The job's next fire moves past it.
    fn take_due(&mut self, now: DateTime<Utc>) -> Option<(usize, DateTime<Utc>)> {
        let (i, fire) = match self.catch_up.pop_front() {
            Some((fire, i)) => (i, fire),
            None => {
                let (i, first) = self
                    .pending
                    .iter()
                    .enumerate()
                    .filter_map(|(i, t)| t.filter(|t| *t <= now).map(|t| (i, t)))
                    .min_by_key(|&(_, t)| t)?;
                // Several fires passed (a long run, a suspend): one run, for the latest.
                let latest = missed_fires(&self.jobs[i], first, now, 1)
                    .pop()
                    .unwrap_or(first);
                (i, latest)
            }
        };
        self.pending[i] = next_fire(&self.jobs[i], fire.max(now));
        Some((i, fire))
    }

    /// Sleeps until the next fire, at most [`MAX_SLEEP`], waking at once on shutdown.
    async fn sleep_until_next(&self, now: DateTime<Utc>, shutdown: &Shutdown) {
        let next = self.pending.iter().flatten().min().copied();
        let wait = next
            .map(|t| (t - now).to_std().unwrap_or_default().min(MAX_SLEEP))
            .unwrap_or(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.requested() => {}
        }
    }

    /// Whether job `i` skips this fire (`catch_up = "skip"` and later than
    /// [`SKIP_LATE_AFTER`]); a skip is logged and its next fire recorded.
    fn skips_late(&mut self, i: usize, fire: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let job = &self.jobs[i];
        if job.catch_up != CatchUp::Skip || now - fire <= SKIP_LATE_AFTER {
            return false;
        }
        tracing::info!(job = %job.name, fire = %fire, late_by_secs = (now - fire).num_seconds(), "skipping a late fire (catch_up = \"skip\")");
        if let Some(e) = self.status.jobs.get_mut(&job.name) {
            e.next_fire = self.pending[i];
        }
        save_logged(&self.status, self.data_dir);
        true
    }

    /// Records job `i` as running for `fire` before it starts, so a crash during the run is
    /// found at the next start.
    fn mark_running(&mut self, i: usize, fire: DateTime<Utc>, now: DateTime<Utc>) {
        let job = &self.jobs[i];
        self.status.jobs.insert(
            job.name.clone(),
            JobStatus {
                merchant: job.merchant.clone(),
                cron: job.cron.clone(),
                time_zone: job.tz.name().to_owned(),
                last_fire: Some(fire),
                last_started: Some(now),
                last_outcome: Some(Outcome::Running),
                next_fire: self.pending[i],
                ..Default::default()
            },
        );
        save_logged(&self.status, self.data_dir);
    }

    /// Records how job `i`'s run ended.
    fn record_finish(&mut self, i: usize, outcome: &JobOutcome, finished: DateTime<Utc>) {
        let job = &self.jobs[i];
        let result = Outcome::from_exit_code(outcome.exit_code);
        tracing::info!(job = %job.name, exit_code = outcome.exit_code, outcome = ?result, message = %outcome.message, "run finished");
        if let Some(e) = self.status.jobs.get_mut(&job.name) {
            e.last_finished = Some(finished);
            e.last_outcome = Some(result);
            e.last_exit_code = Some(outcome.exit_code);
            e.last_message = Some(clip_message(&outcome.message));
            e.last_run_dir = outcome.run_dir.clone();
            e.next_fire = self.pending[i];
        }
        save_logged(&self.status, self.data_dir);
    }
}

/// The fire a job catches up at start: the latest of those missed since its last fire (its
/// own included when the status file still shows it running, which marks it interrupted);
/// `None` with nothing missed, on the very first start, or with `catch_up = "skip"` (logged).
fn missed_at_start(
    job: &ScheduledJob,
    entry: &mut JobStatus,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let since = match entry.last_outcome {
        Some(Outcome::Running) => {
            entry.last_outcome = Some(Outcome::Interrupted);
            entry
                .last_fire
                .and_then(|f| f.checked_sub_signed(Duration::seconds(1)))
        }
        _ => entry.last_fire,
    }?;
    let missed = missed_fires(job, since, now, MAX_MISSED_FIRES);
    let latest = *missed.last()?;
    match job.catch_up {
        CatchUp::RunOnce => {
            tracing::info!(job = %job.name, missed = missed.len(), fire = %latest, "catching up: one run for the latest missed fire");
            Some(latest)
        }
        CatchUp::Skip => {
            tracing::info!(job = %job.name, missed = missed.len(), first = %missed[0], latest = %latest, "skipping missed fires (catch_up = \"skip\")");
            None
        }
    }
}

/// Saves the status; a failure is logged, not fatal: the runs matter more than their record.
fn save_logged(status: &ScheduleStatus, data_dir: &Path) {
    if let Err(e) = status.save(data_dir) {
        tracing::error!(error = %e, "cannot write the schedule status file");
    }
}
