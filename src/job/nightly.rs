//! Which days a nightly run covers: yesterday in the reporting zone and the lookback days
//! before it, ended on the last day whose Xsolla data is complete. Shared by `run
//! --yesterday`, `--last` and the scheduler, so they always agree.

use crate::domain::window::{self, Window};
use crate::load::DateZones;
use chrono::{DateTime, NaiveDate, Utc};

/// The nightly window ending on `today − 1` (in the caller's zone): yesterday plus
/// `lookback_days` before it.
pub fn nightly_window(today: NaiveDate, lookback_days: u32) -> Window {
    let to = today
        .pred_opt()
        .expect("dates are far from chrono's limits");
    let from = to - chrono::Duration::days(i64::from(lookback_days));
    Window::new(from, to).expect("from <= to")
}

/// "Today" in the reporting zone at the instant `now`: the one place the nightly windows
/// (`--yesterday`, `--last`, the scheduler) take their today from, so a replay that passes
/// another clock gets the same window.
pub fn reporting_today(now: DateTime<Utc>, zones: DateZones) -> NaiveDate {
    window::today_in(now, zones.reporting)
}

/// The last reporting day whose Xsolla data is complete at `now`: every Xsolla day that
/// covers it has ended in Xsolla's zone. Yesterday when both zones are the same; a day
/// earlier when Xsolla's today still covers part of yesterday.
pub fn last_complete_day(now: DateTime<Utc>, zones: DateZones) -> NaiveDate {
    let xsolla_today = window::start_of_day(zones.xsolla, window::today_in(now, zones.xsolla));
    window::today_in(xsolla_today, zones.reporting)
        .pred_opt()
        .expect("dates are far from chrono's limits")
}

/// The nightly window at `now` (yesterday in the reporting zone plus `lookback_days`),
/// shortened to end on [`last_complete_day`] when yesterday is not over in Xsolla's zone yet;
/// the shortening is logged.
pub fn nightly_window_at(now: DateTime<Utc>, zones: DateZones, lookback_days: u32) -> Window {
    shorten_to_complete(
        nightly_window(reporting_today(now, zones), lookback_days),
        now,
        zones,
    )
}

/// `w` ending on [`last_complete_day`] at `now` when it ends later (logged), else `w`.
pub fn shorten_to_complete(w: Window, now: DateTime<Utc>, zones: DateZones) -> Window {
    let last = last_complete_day(now, zones);
    if w.to <= last {
        return w;
    }
    let shortened = Window::new(w.from.min(last), last).expect("from <= to");
    tracing::warn!(
        window = %w,
        shortened = %shortened,
        xsolla_timezone = %zones.xsolla,
        xsolla_now = %now.with_timezone(&zones.xsolla).format("%Y-%m-%d %H:%M"),
        "the window's last day has not ended in Xsolla's zone yet; ending the window the day before"
    );
    shortened
}
