//! The built-in scheduler: cron expressions per job and time zone, the loop that runs them,
//! and the status file.
//!
//! `xsolla-recon schedule` compiles the `[[schedule]]` tables with [`compile_jobs`], then
//! [`run_scheduler`] runs the jobs one at a time at their fire times. The merchant lock
//! ([`crate::job::lock::RunLock`]) is taken by the job itself, so a manual run and a
//! scheduled one exclude each other across processes.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the `[[schedule]]` tables, [`compile_jobs`], fire times ([`next_fire`], [`missed_fires`]) and the window a fire covers ([`window_for`]) |
//! | `runner.rs` | [`run_scheduler`]: the loop, catch-up, late fires, [`Shutdown`] on signals |
//! | `status.rs` | the status file, written before and after every run |
//! | `cronexpr.rs` | the 5-field cron dialect and the local-time to UTC mapping |
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
mod runner;
pub mod status;

pub use runner::*;

use crate::domain::window::Window;
use crate::job::nightly;
use crate::load::DateZones;
use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use cron::TimeUnitSpec;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::str::FromStr;

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
    /// IANA time zone the expression is read in. The window is yesterday in
    /// `[run] reporting_timezone` at the fire, not in this zone. Default `UTC`.
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
    /// The zone the expression is read in.
    pub tz: Tz,
    /// The zones that decide the window: yesterday in the reporting zone, ended in Xsolla's
    /// (UTC and UTC unless [`ScheduledJob::in_zones`] says otherwise).
    pub zones: DateZones,
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

impl ScheduledJob {
    /// The same job with its windows counted in `zones` (the config's
    /// `run.reporting_timezone` and `fetch.xsolla_timezone`).
    pub fn in_zones(mut self, zones: DateZones) -> Self {
        self.zones = zones;
        self
    }

    /// Whether the expression names this local wall-clock time. A fire [`next_fire`] moved
    /// out of a DST gap is at a time the expression does not name (`schedule --list` says so).
    pub fn names_local_time(&self, local: NaiveDateTime) -> bool {
        self.schedule.includes(Utc.from_utc_datetime(&local))
    }
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
        let mut table = TableCheck {
            index: i + 1,
            name: j.effective_name(),
            errors: &mut errors,
        };
        table.check_name(&seen);
        seen.push(table.name.clone());
        table.check_merchant(&j.merchant, known_merchants);
        let tz = table.time_zone(&j.time_zone);
        let schedule = table.cron(&j.cron);
        let lookback_days = j.lookback_days.unwrap_or(default_lookback_days);
        table.check_window(lookback_days, j.days);
        if let (Some(tz), Some(schedule), true) = (tz, schedule, j.enabled) {
            out.push(ScheduledJob {
                name: table.name,
                merchant: j.merchant.clone(),
                cron: j.cron.clone(),
                tz,
                lookback_days,
                days: j.days,
                catch_up: j.catch_up,
                zones: DateZones::default(),
                every_hour: schedule.hours().is_all(),
                schedule,
            });
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The checks of one `[[schedule]]` table; each problem is recorded with the table's position
/// and name.
struct TableCheck<'a> {
    index: usize,
    name: String,
    errors: &'a mut Vec<ScheduleConfigError>,
}

impl TableCheck<'_> {
    fn problem(
        &mut self,
        field: &'static str,
        value: impl Into<String>,
        problem: impl Into<String>,
    ) {
        self.errors.push(ScheduleConfigError {
            index: self.index,
            name: Some(self.name.clone()),
            field,
            value: value.into(),
            problem: problem.into(),
        });
    }

    /// A name, and one no earlier table uses (the status file is keyed by it).
    fn check_name(&mut self, earlier: &[String]) {
        let name = self.name.clone();
        if name.trim().is_empty() {
            self.problem("name", name, "a job needs a name");
        } else if earlier.contains(&name) {
            self.problem(
                "name",
                name,
                "duplicate job name (set `name` to tell them apart)",
            );
        }
    }

    /// A configured merchant, whose name can also name its lock file.
    fn check_merchant(&mut self, merchant: &str, known: &[&str]) {
        if !known.contains(&merchant) {
            let known = known.join(", ");
            self.problem(
                "merchant",
                merchant,
                format!("no [[merchant]] has this name (known: {known})"),
            );
        } else if !crate::job::lock::is_safe_name(merchant) {
            self.problem(
                "merchant",
                merchant,
                "unusable as a lock file name (letters, digits, '.', '_', '-')",
            );
        }
    }

    fn time_zone(&mut self, value: &str) -> Option<Tz> {
        let tz = Tz::from_str(value.trim()).ok();
        if tz.is_none() {
            self.problem(
                "time_zone",
                value,
                "not an IANA time zone name (e.g. \"Europe/Berlin\", \"UTC\")",
            );
        }
        tz
    }

    /// The expression in the `cron` crate's dialect, if it parses and ever fires.
    fn cron(&mut self, value: &str) -> Option<cron::Schedule> {
        let parsed = cronexpr::to_crate_dialect(value).and_then(|s| {
            cron::Schedule::from_str(&s).map_err(|e| one_line_cron_error(&e.to_string()))
        });
        match parsed {
            Ok(s) if s.upcoming(Utc).next().is_none() => {
                self.problem("cron", value, "never fires");
                None
            }
            Ok(s) => Some(s),
            Err(problem) => {
                self.problem("cron", value, problem);
                None
            }
        }
    }

    /// Windows of a usable length: at most [`MAX_WINDOW_DAYS`].
    fn check_window(&mut self, lookback_days: u32, days: Option<u32>) {
        if lookback_days > MAX_WINDOW_DAYS {
            self.problem(
                "lookback_days",
                lookback_days.to_string(),
                format!("at most {MAX_WINDOW_DAYS}"),
            );
        }
        if let Some(d) = days {
            if d == 0 || d > MAX_WINDOW_DAYS {
                self.problem(
                    "days",
                    d.to_string(),
                    format!("must be 1 to {MAX_WINDOW_DAYS}"),
                );
            }
        }
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

/// The window a fire covers. `today` is the fire's date in the reporting zone; the window is
/// `[today − 1 − lookback, today − 1]` (yesterday plus `lookback_days` before it), or with
/// `days = Some(n)`, `[today − n, today − 1]`, ending a day earlier (logged) while yesterday
/// has not ended in Xsolla's zone at the fire.
pub fn window_for(job: &ScheduledJob, fire: DateTime<Utc>) -> Window {
    let today = nightly::reporting_today(fire, job.zones);
    let back = |d: NaiveDate, n: u32| d.checked_sub_days(Days::new(u64::from(n))).unwrap_or(d);
    let to = back(today, 1);
    let from = match job.days {
        Some(n) => back(today, n.max(1)),
        None => back(to, job.lookback_days),
    };
    let w = Window::new(from, to).unwrap_or(Window { from: to, to });
    nightly::shorten_to_complete(w, fire, job.zones)
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
