//! The built-in scheduler: cron expressions per job and time zone, the per-merchant run lock,
//! and the status file.
//!
//! `xsolla-recon schedule` compiles the `[[schedule]]` tables with [`compile_jobs`], then
//! [`run_scheduler`] runs the jobs one at a time at their fire times. The merchant lock
//! ([`lock::RunLock`]) is taken by the job itself, so a manual run and a scheduled one
//! exclude each other across processes.
//!
//! # Time zones and DST
//! A job's cron expression is read in its own IANA zone. Fire times are computed on the local
//! wall clock and mapped to UTC with one rule (see [`next_fire`]):
//! * a local time that does not exist (spring forward) fires as if the clock had not jumped:
//!   02:30 in a 02:00→03:00 gap fires at 03:30 (RFC 5545's rule);
//! * a local time that happens twice (fall back) fires at its first occurrence only — except
//!   in expressions firing every hour (`hour` field `*`), where both passes fire so "every 15
//!   minutes" stays every 15 minutes of real time.
//!
//! So a daily job fires exactly once on both DST days. `cron` 0.17 given a `DateTime<Tz>`
//! would not: it skips a nonexistent local time (`LocalResult::None → continue`, so 02:30
//! would not fire at all on the spring-forward day) and its iterator yields both instants of
//! a repeated one (firing twice). Hence it only enumerates wall-clock times here (in UTC,
//! which has no gaps) and [`next_fire`] maps them.

mod cronexpr;
pub mod status;

use crate::domain::window::Window;
use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use cron::TimeUnitSpec;
use serde::{Deserialize, Serialize};
use status::{clip_message, JobStatus, Outcome, ScheduleStatus, StatusError};
use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
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
/// Longest window a job may ask for, in days (lookback or `days`).
pub const MAX_WINDOW_DAYS: u32 = 3_660;
/// Cron candidates examined per [`next_fire`] before giving up.
const MAX_CANDIDATES: usize = 200_000;

/// `[scheduler]`: how the scheduler behaves as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSettings {
    /// Seconds a scheduled run waits for a merchant lock held by another run (a manual
    /// `xsolla-recon run`) before it fails as busy. Default 3600.
    pub lock_wait_secs: u64,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        ScheduleSettings {
            lock_wait_secs: 3_600,
        }
    }
}

/// What to do with fires missed while the scheduler was not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Run once, for the latest missed fire (its window covers the missed days when the
    /// lookback is long enough). Default.
    #[default]
    RunOnce,
    /// Skip them (logged) and wait for the next fire.
    Skip,
}

/// One `[[schedule]]` table: when a merchant's job runs and which days it covers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSchedule {
    /// Job name, unique; used in logs and the status file. Default `<merchant>-nightly`.
    pub name: Option<String>,
    /// The `[[merchant]]` name this job reconciles. Required.
    pub merchant: String,
    /// Cron expression: standard 5 fields `min hour dom mon dow` (0 or 7 = Sunday); 6 or 7
    /// fields with seconds first use the `cron` crate's dialect (1 = Sunday). Default
    /// `0 5 * * *`.
    pub cron: String,
    /// IANA time zone the expression is read in, and whose local date decides the window.
    /// Default `UTC`.
    pub time_zone: String,
    /// Days before yesterday also re-checked (late settlements). Default: `[run]`'s value.
    pub lookback_days: Option<u32>,
    /// Window length in days ending yesterday, instead of yesterday plus the lookback.
    /// Default: unset (nightly rule).
    pub days: Option<u32>,
    /// Fires missed while the scheduler was down: `run_once` (default) or `skip`.
    pub catch_up: CatchUp,
    /// Set false to keep the table but not run it. Default true.
    pub enabled: bool,
}

impl Default for JobSchedule {
    fn default() -> Self {
        JobSchedule {
            name: None,
            merchant: String::new(),
            cron: "0 5 * * *".to_owned(),
            time_zone: "UTC".to_owned(),
            lookback_days: None,
            days: None,
            catch_up: CatchUp::RunOnce,
            enabled: true,
        }
    }
}

impl JobSchedule {
    /// The configured name, or `<merchant>-nightly`.
    pub fn effective_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}-nightly", self.merchant))
    }
}

/// A checked, ready-to-run job. Built only by [`compile_jobs`].
#[derive(Debug, Clone)]
pub struct ScheduledJob {
    /// Unique job name.
    pub name: String,
    /// The merchant.
    pub merchant: String,
    /// The cron expression as configured.
    pub cron: String,
    /// The zone the expression and the window are read in.
    pub tz: Tz,
    /// Days before yesterday in the window (nightly rule).
    pub lookback_days: u32,
    /// Window length ending yesterday, when set (overrides the nightly rule).
    pub days: Option<u32>,
    /// Missed-fire policy.
    pub catch_up: CatchUp,
    schedule: cron::Schedule,
    /// Both passes of a repeated local hour fire (the hour field is `*`).
    every_hour: bool,
}

/// One problem in a `[[schedule]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleConfigError {
    /// Position of the table in the file, 1-based (as shown).
    pub index: usize,
    /// The job's name (configured or default), when it has one.
    pub name: Option<String>,
    /// The offending field.
    pub field: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for ScheduleConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[[schedule]] #{}", self.index)?;
        if let Some(n) = &self.name {
            write!(f, " ({n:?})")?;
        }
        write!(f, " {} = {:?}: {}", self.field, self.value, self.problem)
    }
}

impl std::error::Error for ScheduleConfigError {}

/// Checks every `[[schedule]]` table and builds the enabled jobs. Reports every problem at
/// once: bad cron, unknown time zone, unknown merchant, duplicate names, unusable windows.
pub fn compile_jobs(
    jobs: &[JobSchedule],
    known_merchants: &[&str],
    default_lookback_days: u32,
) -> Result<Vec<ScheduledJob>, Vec<ScheduleConfigError>> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (i, j) in jobs.iter().enumerate() {
        let name = j.effective_name();
        let mut err = |field: &'static str, value: String, problem: String| {
            errors.push(ScheduleConfigError {
                index: i + 1,
                name: Some(name.clone()),
                field,
                value,
                problem,
            })
        };
        if name.trim().is_empty() {
            err("name", name.clone(), "a job needs a name".into());
        } else if seen.contains(&name) {
            err(
                "name",
                name.clone(),
                "duplicate job name (set `name` to tell them apart)".into(),
            );
        }
        seen.push(name.clone());
        if !known_merchants.contains(&j.merchant.as_str()) {
            let known = known_merchants.join(", ");
            err(
                "merchant",
                j.merchant.clone(),
                format!("no [[merchant]] has this name (known: {known})"),
            );
        } else if !crate::job::lock::is_safe_name(&j.merchant) {
            err(
                "merchant",
                j.merchant.clone(),
                "unusable as a lock file name (letters, digits, '.', '_', '-')".into(),
            );
        }
        let tz = match Tz::from_str(j.time_zone.trim()) {
            Ok(tz) => Some(tz),
            Err(_) => {
                err(
                    "time_zone",
                    j.time_zone.clone(),
                    "not an IANA time zone name (e.g. \"Europe/Berlin\", \"UTC\")".into(),
                );
                None
            }
        };
        let schedule = match cronexpr::to_crate_dialect(&j.cron).and_then(|s| {
            cron::Schedule::from_str(&s).map_err(|e| one_line_cron_error(&e.to_string()))
        }) {
            Ok(s) => {
                if s.upcoming(Utc).next().is_none() {
                    err("cron", j.cron.clone(), "never fires".into());
                    None
                } else {
                    Some(s)
                }
            }
            Err(problem) => {
                err("cron", j.cron.clone(), problem);
                None
            }
        };
        let lookback_days = j.lookback_days.unwrap_or(default_lookback_days);
        if lookback_days > MAX_WINDOW_DAYS {
            err(
                "lookback_days",
                lookback_days.to_string(),
                format!("at most {MAX_WINDOW_DAYS}"),
            );
        }
        if let Some(d) = j.days {
            if d == 0 || d > MAX_WINDOW_DAYS {
                err(
                    "days",
                    d.to_string(),
                    format!("must be 1 to {MAX_WINDOW_DAYS}"),
                );
            }
        }
        if let (Some(tz), Some(schedule)) = (tz, schedule) {
            if j.enabled {
                out.push(ScheduledJob {
                    name: name.clone(),
                    merchant: j.merchant.clone(),
                    cron: j.cron.clone(),
                    tz,
                    lookback_days,
                    days: j.days,
                    catch_up: j.catch_up,
                    every_hour: schedule.hours().is_all(),
                    schedule,
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The job's first fire strictly after `after`, in UTC; `None` when it never fires again.
///
/// The cron crate walks local wall-clock times; each is mapped to UTC by the DST rule in the
/// module docs. Because that mapping is not monotonic around a transition, candidates are
/// scanned from a little before `after`'s local time until none can beat the best found.
/// Assumes a zone changes its offset at most once in six hours (true of every real zone).
pub fn next_fire(job: &ScheduledJob, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // `cron` knows years 1970-2100 only (and panics adding a second to chrono's maximum).
    if after.year() > 2100 {
        return None;
    }
    let after = after.max(DateTime::UNIX_EPOCH);
    let tz = job.tz;
    let h6 = Duration::hours(6);
    // Saturating, so instants at chrono's limits (a corrupt status file) cannot panic.
    let off = |t: DateTime<Utc>| cronexpr::offset_at(tz, t);
    let minus = |t: DateTime<Utc>, d: Duration| t.checked_sub_signed(d).unwrap_or(t);
    let plus = |t: DateTime<Utc>, d: Duration| t.checked_add_signed(d).unwrap_or(t);
    // A local time n stands for an instant after `after` only if n > after + its offset.
    let min_off = off(minus(after, h6))
        .min(off(after))
        .min(off(plus(after, h6)));
    let start = plus(after, Duration::seconds(min_off)).naive_utc();
    let mut best: Option<DateTime<Utc>> = None;
    let mut stop_at = None;
    for cand in job
        .schedule
        .after(&Utc.from_utc_datetime(&start))
        .take(MAX_CANDIDATES)
    {
        let n = cand.naive_utc();
        if stop_at.is_some_and(|s| n > s) {
            break;
        }
        for t in cronexpr::local_to_instants(tz, n, job.every_hour)
            .into_iter()
            .flatten()
        {
            if t > after && best.is_none_or(|b| t < b) {
                best = Some(t);
                // A later local time beats `t` only where the offset grows before `t`.
                let grow = (off(minus(t, h6)) - off(t)).max(0);
                stop_at = Some(plus(t, Duration::seconds(off(t) + grow)).naive_utc());
            }
        }
    }
    best
}

/// Fires in `(since, now]`, oldest first; when there are more than `limit`, the latest
/// `limit` of them.
pub fn missed_fires(
    job: &ScheduledJob,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<DateTime<Utc>> {
    // Nothing fires after 2100 (`cron`'s last year); a clock beyond it must not make the
    // look-back below walk decades of fires.
    let end =
        NaiveDate::from_ymd_opt(2101, 1, 1).map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc());
    let now = end.map_or(now, |e| now.min(e));
    if limit == 0 || now <= since {
        return Vec::new();
    }
    // Look back from `now` over a doubling span, so a long outage of an every-second job
    // costs about 2 × limit steps, not one step per missed second.
    let mut span = Duration::minutes(1);
    loop {
        let from = now.checked_sub_signed(span).map_or(since, |f| f.max(since));
        let mut found = VecDeque::with_capacity(limit.min(1024));
        let mut t = from;
        while let Some(next) = next_fire(job, t) {
            if next > now {
                break;
            }
            if found.len() == limit {
                found.pop_front();
            }
            found.push_back(next);
            t = next;
        }
        if found.len() == limit || from == since {
            return found.into();
        }
        span = span.checked_mul(2).unwrap_or(Duration::MAX);
    }
}

/// The window a fire covers. `today` is the fire's local date in the job's zone; the window is
/// `[today − 1 − lookback, today − 1]` (yesterday plus `lookback_days` before it), or with
/// `days = Some(n)`, `[today − n, today − 1]`.
pub fn window_for(job: &ScheduledJob, fire: DateTime<Utc>) -> Window {
    let today = fire.with_timezone(&job.tz).date_naive();
    let back = |d: NaiveDate, n: u32| d.checked_sub_days(Days::new(u64::from(n))).unwrap_or(d);
    let to = back(today, 1);
    let from = match job.days {
        Some(n) => back(today, n.max(1)),
        None => back(to, job.lookback_days),
    };
    Window::new(from, to).unwrap_or(Window { from: to, to })
}

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
    AlreadyRunning(#[source] crate::job::lock::LockError),
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
    let _instance = crate::job::lock::RunLock::acquire_scheduler(data_dir)
        .map_err(ScheduleError::AlreadyRunning)?;
    let mut status = match ScheduleStatus::load(data_dir) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable schedule status; starting afresh (no catch-up)");
            ScheduleStatus::default()
        }
    };
    let now = clock.now();
    let mut pending: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(jobs.len());
    let mut catch_up: Vec<(DateTime<Utc>, usize)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let entry = status.jobs.entry(job.name.clone()).or_default();
        let since = match entry.last_outcome {
            // It was interrupted: its own fire is missed too.
            Some(Outcome::Running) => {
                entry.last_outcome = Some(Outcome::Interrupted);
                entry
                    .last_fire
                    .and_then(|f| f.checked_sub_signed(Duration::seconds(1)))
            }
            _ => entry.last_fire,
        };
        if let Some(since) = since {
            let missed = missed_fires(job, since, now, MAX_MISSED_FIRES);
            if let Some(&latest) = missed.last() {
                match job.catch_up {
                    CatchUp::RunOnce => {
                        tracing::info!(job = %job.name, missed = missed.len(), fire = %latest, "catching up: one run for the latest missed fire");
                        catch_up.push((latest, i));
                    }
                    CatchUp::Skip => {
                        tracing::info!(job = %job.name, missed = missed.len(), first = %missed[0], latest = %latest, "skipping missed fires (catch_up = \"skip\")");
                    }
                }
            }
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
    let mut catch_up: VecDeque<(DateTime<Utc>, usize)> = catch_up.into();
    if jobs.is_empty() {
        tracing::warn!("no scheduled jobs; waiting for shutdown");
    }

    while !shutdown.is_requested() {
        let now = clock.now();
        let due = match catch_up.pop_front() {
            Some((fire, i)) => Some((i, fire)),
            None => pending
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.filter(|t| *t <= now).map(|t| (i, t)))
                .min_by_key(|&(_, t)| t)
                .map(|(i, first)| {
                    // Several fires passed (a long run, a suspend): one run, for the latest.
                    let latest = missed_fires(&jobs[i], first, now, 1).pop().unwrap_or(first);
                    (i, latest)
                }),
        };
        let Some((i, fire)) = due else {
            let next = pending.iter().flatten().min().copied();
            let wait = next
                .map(|t| (t - now).to_std().unwrap_or_default().min(MAX_SLEEP))
                .unwrap_or(MAX_SLEEP);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.requested() => {}
            }
            continue;
        };
        let job = &jobs[i];
        pending[i] = next_fire(job, fire.max(now));
        if job.catch_up == CatchUp::Skip && now - fire > SKIP_LATE_AFTER {
            tracing::info!(job = %job.name, fire = %fire, late_by_secs = (now - fire).num_seconds(), "skipping a late fire (catch_up = \"skip\")");
            if let Some(e) = status.jobs.get_mut(&job.name) {
                e.next_fire = pending[i];
            }
            save_logged(&status, data_dir);
            continue;
        }
        let window = window_for(job, fire);
        {
            let e = status.jobs.entry(job.name.clone()).or_default();
            *e = JobStatus {
                merchant: job.merchant.clone(),
                cron: job.cron.clone(),
                time_zone: job.tz.name().to_owned(),
                last_fire: Some(fire),
                last_started: Some(now),
                last_outcome: Some(Outcome::Running),
                next_fire: pending[i],
                ..Default::default()
            };
        }
        save_logged(&status, data_dir);
        tracing::info!(job = %job.name, merchant = %job.merchant, fire = %fire, window = %window, "run starting");
        let outcome = runner(job.clone(), window, fire).await;
        let finished = clock.now();
        let result = Outcome::from_exit_code(outcome.exit_code);
        tracing::info!(job = %job.name, exit_code = outcome.exit_code, outcome = ?result, message = %outcome.message, "run finished");
        if let Some(e) = status.jobs.get_mut(&job.name) {
            e.last_finished = Some(finished);
            e.last_outcome = Some(result);
            e.last_exit_code = Some(outcome.exit_code);
            e.last_message = Some(clip_message(&outcome.message));
            e.last_run_dir = outcome.run_dir;
            e.next_fire = pending[i];
        }
        save_logged(&status, data_dir);
    }
    tracing::info!("scheduler stopped");
    Ok(())
}

/// Saves the status; a failure is logged, not fatal: the runs matter more than their record.
fn save_logged(status: &ScheduleStatus, data_dir: &Path) {
    if let Err(e) = status.save(data_dir) {
        tracing::error!(error = %e, "cannot write the schedule status file");
    }
}

/// The cron crate's errors span lines (the expression, a caret, the reason); a config
/// problem is one line: the reason.
fn one_line_cron_error(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('^'))
        .unwrap_or("invalid cron expression")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(cron: &str, tz: &str) -> ScheduledJob {
        let js = JobSchedule {
            merchant: "acme".into(),
            cron: cron.into(),
            time_zone: tz.into(),
            ..Default::default()
        };
        compile_jobs(&[js], &["acme"], 7).unwrap().remove(0)
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn missed_fires_keeps_the_latest_within_the_limit() {
        let j = job("* * * * * *", "UTC");
        let since = t("2026-11-22T12:00:00Z");
        let now = t("2026-11-25T12:00:00Z");
        let m = missed_fires(&j, since, now, 5);
        assert_eq!(
            m,
            vec![
                t("2026-11-25T11:59:56Z"),
                t("2026-11-25T11:59:57Z"),
                t("2026-11-25T11:59:58Z"),
                t("2026-11-25T11:59:59Z"),
                t("2026-11-25T12:00:00Z"),
            ]
        );
        let d = job("0 5 * * *", "UTC");
        assert_eq!(
            missed_fires(&d, since, now, 1000),
            vec![
                t("2026-11-23T05:00:00Z"),
                t("2026-11-24T05:00:00Z"),
                t("2026-11-25T05:00:00Z"),
            ]
        );
        assert!(missed_fires(&d, now, since, 10).is_empty());
        // `since` itself is not missed.
        assert_eq!(
            missed_fires(&d, t("2026-11-25T05:00:00Z"), now, 10),
            Vec::<DateTime<Utc>>::new()
        );
    }

    #[test]
    fn instants_at_the_limits_do_not_panic() {
        let j = job("0 5 * * *", "Europe/Berlin");
        assert_eq!(next_fire(&j, DateTime::<Utc>::MAX_UTC), None);
        assert_eq!(
            next_fire(&j, DateTime::<Utc>::MIN_UTC),
            Some(t("1970-01-01T04:00:00Z")) // 05:00 CET
        );
        let now = t("2026-11-25T12:00:00Z");
        let m = missed_fires(&j, DateTime::<Utc>::MIN_UTC, now, 2);
        assert_eq!(
            m,
            vec![t("2026-11-24T04:00:00Z"), t("2026-11-25T04:00:00Z")]
        );
        assert!(missed_fires(&j, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, 1).len() <= 1);
    }

    #[test]
    fn every_hour_jobs_fire_in_both_passes_of_a_repeated_hour() {
        // Berlin 2026-10-25: 03:00 CEST (01:00Z) becomes 02:00 CET.
        let j = job("*/30 * * * *", "Europe/Berlin");
        let mut fires = vec![];
        let mut at = t("2026-10-24T23:50:00Z");
        for _ in 0..6 {
            at = next_fire(&j, at).unwrap();
            fires.push(at);
        }
        assert_eq!(
            fires,
            vec![
                t("2026-10-25T00:00:00Z"), // 02:00 CEST
                t("2026-10-25T00:30:00Z"), // 02:30 CEST
                t("2026-10-25T01:00:00Z"), // 02:00 CET
                t("2026-10-25T01:30:00Z"), // 02:30 CET
                t("2026-10-25T02:00:00Z"), // 03:00 CET
                t("2026-10-25T02:30:00Z"), // 03:30 CET
            ]
        );
    }
}
