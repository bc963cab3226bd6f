//! Date windows: Xsolla rejects report periods longer than 92 days, so long ranges are split.
//! Also the zone arithmetic of days: which days of one zone cover a window of another's, and
//! "today" in a zone.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The longest window one Reports call accepts, in days, both ends included. [C] for the
/// registry ("The difference between datetime_from and datetime_to cannot be more than 92
/// days"), [S] for payouts, breakdown and the reports list.
pub const MAX_WINDOW_DAYS: u32 = 92;

/// An inclusive date range `[from, to]`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Window {
    /// First day, included.
    pub from: NaiveDate,
    /// Last day, included.
    pub to: NaiveDate,
}

impl Window {
    /// A window; `None` when `from` is after `to`.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Option<Self> {
        (from <= to).then_some(Window { from, to })
    }

    /// Number of days, both ends included.
    pub fn days(&self) -> u32 {
        ((self.to - self.from).num_days() + 1) as u32
    }

    /// Whether `date` lies inside.
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.from <= date && date <= self.to
    }

    /// Splits into consecutive, non-overlapping chunks of at most `max_days` days each.
    pub fn chunks(&self, max_days: u32) -> Vec<Window> {
        assert!(max_days >= 1, "chunk length must be at least one day");
        let mut out = Vec::new();
        let mut start = self.from;
        loop {
            let end = (start + chrono::Days::new(u64::from(max_days) - 1)).min(self.to);
            out.push(Window {
                from: start,
                to: end,
            });
            if end == self.to {
                break;
            }
            start = end + chrono::Days::new(1);
        }
        debug_assert_eq!(
            out.iter().map(Window::days).sum::<u32>(),
            self.days(),
            "chunks cover the window exactly"
        );
        out
    }

    /// `YYYY-MM-DD_YYYY-MM-DD`, used in snapshot folder names.
    pub fn slug(&self) -> String {
        format!("{}_{}", self.from, self.to)
    }
}

/// The instant a day starts in `tz`: local midnight, or, where a DST change skips midnight,
/// the first local time that exists that day.
pub fn start_of_day(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    // A gap is at most a few hours; try each minute after midnight until one exists.
    (0..24 * 60)
        .find_map(|m| {
            let t = midnight.checked_add_signed(chrono::Duration::minutes(m))?;
            tz.offset_from_local_datetime(&t)
                .earliest()
                .and_then(|o| t.checked_sub_offset(chrono::Offset::fix(&o)))
        })
        .map(|t| t.and_utc())
        .unwrap_or_else(|| midnight.and_utc())
}

/// The calendar date in `tz` at the instant `now`. Every "today" of the job comes from here,
/// so a run, the scheduler and a replay agree on what yesterday was.
pub fn today_in(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    // Checked: at the edge of chrono's range the local time may not exist.
    let utc = now.naive_utc();
    utc.checked_add_offset(chrono::Offset::fix(&tz.offset_from_utc_datetime(&utc)))
        .map_or(utc.date(), |t| t.date())
}

/// Re-reads a local time of zone `from` as a local time of zone `to` (the same instant).
/// A local time that does not exist in `from` (a DST gap) is read with the offset before
/// the gap; one that happens twice is read as its first occurrence.
pub fn convert_local(t: NaiveDateTime, from: Tz, to: Tz) -> NaiveDateTime {
    use chrono::{LocalResult, Offset};
    if from == to {
        return t;
    }
    // Checked arithmetic throughout: at the edges of chrono's range a shifted time does not
    // exist, and such a value is kept as written rather than panicking.
    let off = match from.offset_from_local_datetime(&t) {
        LocalResult::Single(o) | LocalResult::Ambiguous(o, _) => o.fix(),
        LocalResult::None => {
            let before = t
                .checked_sub_signed(chrono::Duration::hours(3))
                .unwrap_or(t);
            from.offset_from_utc_datetime(&before).fix()
        }
    };
    let Some(utc) = t.checked_sub_offset(off) else {
        return t;
    };
    utc.checked_add_offset(to.offset_from_utc_datetime(&utc).fix())
        .unwrap_or(t)
}

impl Window {
    /// The days of zone `to` that together cover every instant of this window's days in
    /// zone `from` (both ends included). The same window when the zones are the same.
    pub fn covering_in(&self, from: Tz, to: Tz) -> Window {
        if from == to {
            return *self;
        }
        let first = today_in(start_of_day(from, self.from), to);
        let last = match self.to.succ_opt() {
            Some(next) => today_in(
                start_of_day(from, next) - chrono::Duration::milliseconds(1),
                to,
            ),
            None => self.to,
        };
        Window::new(first, last.max(first)).expect("first <= last")
    }
}

/// Serde for IANA zone names in config files (`"UTC"`, `"Europe/Berlin"`), so an unknown
/// name fails where the file is read, with its line.
pub mod tz_serde {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the zone's IANA name.
    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    /// Reads an IANA name; anything else is an error naming the value.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.trim().parse::<Tz>().map_err(|_| {
            serde::de::Error::custom(format!(
                "{name:?} is not an IANA time zone name (e.g. \"UTC\", \"Europe/Berlin\", \"Asia/Tokyo\")"
            ))
        })
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.from, self.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn splits_into_92_day_chunks_covering_everything() {
        let w = Window::new(d("2025-01-01"), d("2025-12-31")).unwrap();
        let c = w.chunks(MAX_WINDOW_DAYS);
        assert_eq!(c.len(), 4);
        assert_eq!(c[0], Window::new(d("2025-01-01"), d("2025-04-02")).unwrap());
        assert_eq!(c[0].days(), 92);
        assert_eq!(c[1].from, d("2025-04-03"));
        assert_eq!(c[3].to, d("2025-12-31"));
        for pair in c.windows(2) {
            assert_eq!(pair[0].to + chrono::Days::new(1), pair[1].from);
        }
    }

    fn tz(s: &str) -> Tz {
        s.parse().unwrap()
    }

    #[test]
    fn windows_are_covered_by_the_days_of_another_zone() {
        let w = Window::new(d("2026-10-10"), d("2026-10-12")).unwrap();
        assert_eq!(w.covering_in(tz("UTC"), tz("UTC")), w);
        // UTC 10th 00:00 is Tokyo 10th 09:00; UTC 12th 23:59 is Tokyo 13th 08:59.
        let east = w.covering_in(tz("UTC"), tz("Asia/Tokyo"));
        assert_eq!((east.from, east.to), (d("2026-10-10"), d("2026-10-13")));
        // UTC 10th 00:00 is New York 9th 20:00; UTC 12th 23:59 is New York 12th 19:59.
        let west = w.covering_in(tz("UTC"), tz("America/New_York"));
        assert_eq!((west.from, west.to), (d("2026-10-09"), d("2026-10-12")));
    }

    #[test]
    fn local_times_convert_between_zones_and_today_follows_the_zone() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        let (utc, tokyo) = (tz("UTC"), tz("Asia/Tokyo"));
        assert_eq!(
            convert_local(t("2026-10-11 08:30:00"), tokyo, utc),
            t("2026-10-10 23:30:00")
        );
        assert_eq!(
            convert_local(t("2026-10-10 23:30:00"), utc, tokyo),
            t("2026-10-11 08:30:00")
        );
        // Berlin 2026-03-29 02:30 does not exist (02:00 -> 03:00): read with CET (+1).
        assert_eq!(
            convert_local(t("2026-03-29 02:30:00"), tz("Europe/Berlin"), utc),
            t("2026-03-29 01:30:00")
        );
        let now: DateTime<Utc> = "2026-10-10T23:30:00Z".parse().unwrap();
        assert_eq!(today_in(now, utc), d("2026-10-10"));
        assert_eq!(today_in(now, tokyo), d("2026-10-11"));
        assert_eq!(today_in(now, tz("America/Los_Angeles")), d("2026-10-10"));
        // At the edges of chrono's range the value is kept, never a panic.
        let ny = tz("America/New_York");
        assert_eq!(
            convert_local(NaiveDateTime::MAX, ny, tokyo),
            NaiveDateTime::MAX
        );
        assert_eq!(
            convert_local(NaiveDateTime::MIN, tokyo, ny),
            NaiveDateTime::MIN
        );
        assert!(convert_local(NaiveDateTime::MAX, tokyo, ny) < NaiveDateTime::MAX);
        let last = Window::new(NaiveDate::MAX, NaiveDate::MAX).unwrap();
        assert_eq!(last.covering_in(utc, tokyo).to, NaiveDate::MAX);
        assert_eq!(today_in(DateTime::<Utc>::MAX_UTC, tokyo), NaiveDate::MAX);
        // Sao Paulo skipped midnight on 2018-11-04 (00:00 -> 01:00).
        assert_eq!(
            start_of_day(tz("America/Sao_Paulo"), d("2018-11-04")),
            "2018-11-04T03:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn short_and_single_day_windows() {
        let w = Window::new(d("2026-11-21"), d("2026-11-21")).unwrap();
        assert_eq!(w.chunks(92), vec![w]);
        assert_eq!(w.days(), 1);
        assert!(Window::new(d("2026-11-22"), d("2026-11-21")).is_none());
        let w = Window::new(d("2026-01-01"), d("2026-04-02")).unwrap();
        assert_eq!(w.days(), 92);
        assert_eq!(w.chunks(92).len(), 1);
    }
}
