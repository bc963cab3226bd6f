//! Open items per age bucket (0–7, 8–30, over 30 days) over the last runs: what the report's
//! `age.png` draws and its table lists.
//!
//! Why it is computed from the open-items state and not kept as a series of its own: the
//! state already holds, for every item, the run date it was first seen, the latest run date
//! it was seen and the run date it was resolved on. Those dates are the run dates the state
//! knows of, and whether an item was open on one of them (and how old it was) follows from
//! its dates alone. Everything is as of a run's date (the last day of its window), never the
//! clock, so a rerun over the same inputs and state draws the same picture.
//!
//! What it cannot know: a run that neither found a new item, nor resolved one, nor is still
//! the latest sighting of an item leaves no date in the state (the file keeps no list of
//! runs), so it is not a point of the series; and an item that was resolved and came back is
//! aged from its return (its first occurrence is gone from the state).

use super::open_items::{ItemStatus, OpenItem};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// Runs shown at most (bounds the work and the picture's width per bar).
pub const MAX_AGE_RUNS: usize = 60;

/// How old an open item is, in days since it was first seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AgeBucket {
    /// 0 to 7 days.
    UpToWeek,
    /// 8 to 30 days.
    UpToMonth,
    /// Over 30 days.
    Older,
}

impl AgeBucket {
    /// The buckets, youngest first (the index into [`AgeTotals`]).
    pub const ALL: [AgeBucket; 3] = [AgeBucket::UpToWeek, AgeBucket::UpToMonth, AgeBucket::Older];

    /// The bucket of an age in days (a negative age, which a rerun of an old range can
    /// produce, is 0).
    pub fn of(age_days: i64) -> AgeBucket {
        match age_days {
            ..=7 => AgeBucket::UpToWeek,
            8..=30 => AgeBucket::UpToMonth,
            _ => AgeBucket::Older,
        }
    }

    /// How the reports name it.
    pub fn label(self) -> &'static str {
        match self {
            AgeBucket::UpToWeek => "0–7 days",
            AgeBucket::UpToMonth => "8–30 days",
            AgeBucket::Older => "over 30 days",
        }
    }

    /// Its name as a key of machine-read output (`summary.json`): the label in ASCII.
    pub fn key(self) -> &'static str {
        match self {
            AgeBucket::UpToWeek => "0-7 days",
            AgeBucket::UpToMonth => "8-30 days",
            AgeBucket::Older => "over 30 days",
        }
    }

    /// Its index in [`Self::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Count and sum of |difference| of the open items in one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketTotal {
    /// Open items.
    pub count: u64,
    /// Sum of their |difference| (their latest difference).
    pub amount: Decimal,
}

/// The three buckets of one currency, in [`AgeBucket::ALL`] order.
pub type AgeTotals = [BucketTotal; 3];

/// The open items as of one run, per currency and bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeSnapshot {
    /// The run's date (the last day of its window).
    pub run_date: NaiveDate,
    /// Per currency (by code); a currency without open items that day is absent.
    pub by_currency: BTreeMap<String, AgeTotals>,
}

/// What the series needs of an item: plain data, so the series does not depend on the
/// state file's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgedItem<'a> {
    /// Currency of the difference.
    pub currency: &'a str,
    /// |difference|.
    pub amount: Decimal,
    /// Run date it was first seen.
    pub first_seen: NaiveDate,
    /// Latest run date it was seen.
    pub last_seen: NaiveDate,
    /// Run date it was resolved on, if it was.
    pub resolved_on: Option<NaiveDate>,
}

impl<'a> From<&'a OpenItem> for AgedItem<'a> {
    fn from(i: &'a OpenItem) -> Self {
        AgedItem {
            currency: &i.currency,
            amount: i.difference.abs(),
            first_seen: i.first_seen,
            last_seen: i.last_seen,
            resolved_on: match &i.status {
                ItemStatus::Open => None,
                ItemStatus::Resolved { on, .. } => Some(*on),
            },
        }
    }
}

impl AgedItem<'_> {
    /// Whether it was open on `day`: seen by then and not yet resolved.
    fn open_on(&self, day: NaiveDate) -> bool {
        self.first_seen <= day && self.resolved_on.is_none_or(|r| day < r)
    }
}

/// The run dates the items record, up to `as_of` (always included: it is this run's), the
/// last `max_runs` of them (at most [`MAX_AGE_RUNS`]), oldest first.
pub fn run_dates(items: &[AgedItem<'_>], as_of: NaiveDate, max_runs: usize) -> Vec<NaiveDate> {
    let mut dates: BTreeSet<NaiveDate> = items
        .iter()
        .flat_map(|i| [Some(i.first_seen), Some(i.last_seen), i.resolved_on])
        .flatten()
        .filter(|d| *d <= as_of)
        .collect();
    dates.insert(as_of);
    let keep = max_runs.min(MAX_AGE_RUNS);
    let skip = dates.len().saturating_sub(keep);
    dates.into_iter().skip(skip).collect()
}

/// For each of the last `max_runs` run dates up to `as_of` (see [`run_dates`]), the open
/// items per currency and age bucket as of that date, oldest run first. Empty when
/// `max_runs` is 0.
pub fn age_history(items: &[AgedItem<'_>], as_of: NaiveDate, max_runs: usize) -> Vec<AgeSnapshot> {
    run_dates(items, as_of, max_runs)
        .into_iter()
        .map(|day| {
            let mut by_currency: BTreeMap<String, AgeTotals> = BTreeMap::new();
            for i in items.iter().filter(|i| i.open_on(day)) {
                let bucket = AgeBucket::of((day - i.first_seen).num_days());
                let t = &mut by_currency.entry(i.currency.to_owned()).or_default()[bucket.index()];
                t.count += 1;
                t.amount += i.amount;
            }
            AgeSnapshot {
                run_date: day,
                by_currency,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().expect("a decimal")
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    fn item<'a>(
        cur: &'a str,
        amount: &str,
        first: &str,
        last: &str,
        resolved: Option<&str>,
    ) -> AgedItem<'a> {
        AgedItem {
            currency: cur,
            amount: dec(amount),
            first_seen: d(first),
            last_seen: d(last),
            resolved_on: resolved.map(d),
        }
    }

    #[test]
    fn buckets_have_their_edges_where_the_labels_say() {
        assert_eq!(AgeBucket::of(-1), AgeBucket::UpToWeek);
        assert_eq!(AgeBucket::of(0), AgeBucket::UpToWeek);
        assert_eq!(AgeBucket::of(7), AgeBucket::UpToWeek);
        assert_eq!(AgeBucket::of(8), AgeBucket::UpToMonth);
        assert_eq!(AgeBucket::of(30), AgeBucket::UpToMonth);
        assert_eq!(AgeBucket::of(31), AgeBucket::Older);
        let labels: Vec<_> = AgeBucket::ALL.iter().map(|b| b.label()).collect();
        assert_eq!(labels, ["0–7 days", "8–30 days", "over 30 days"]);
        let keys: Vec<_> = AgeBucket::ALL.iter().map(|b| b.key()).collect();
        assert_eq!(keys, ["0-7 days", "8-30 days", "over 30 days"]);
        for (i, b) in AgeBucket::ALL.into_iter().enumerate() {
            assert_eq!(b.index(), i);
        }
    }

    #[test]
    fn each_run_date_counts_the_items_open_then_by_their_age_then() {
        let items = [
            // Open since 1 Oct: 0 days on 1 Oct, 10 on 11 Oct, 40 on 10 Nov.
            item("USD", "10.00", "2026-10-01", "2026-11-10", None),
            // Seen on 11 Oct, resolved on 10 Nov: open on 11 Oct only.
            item(
                "USD",
                "2.50",
                "2026-10-11",
                "2026-10-11",
                Some("2026-11-10"),
            ),
            item("JPY", "1500", "2026-11-10", "2026-11-10", None),
        ];
        let h = age_history(&items, d("2026-11-10"), 14);
        let dates: Vec<_> = h.iter().map(|s| s.run_date.to_string()).collect();
        assert_eq!(dates, ["2026-10-01", "2026-10-11", "2026-11-10"]);
        let usd = |i: usize| h[i].by_currency["USD"];
        assert_eq!(
            usd(0)[0],
            BucketTotal {
                count: 1,
                amount: dec("10.00")
            }
        );
        assert_eq!(
            usd(1)[0],
            BucketTotal {
                count: 1,
                amount: dec("2.50")
            }
        );
        assert_eq!(
            usd(1)[1],
            BucketTotal {
                count: 1,
                amount: dec("10.00")
            }
        );
        assert_eq!(
            usd(2)[2],
            BucketTotal {
                count: 1,
                amount: dec("10.00")
            }
        );
        assert_eq!(
            usd(2)[0].count + usd(2)[1].count,
            0,
            "the resolved one is gone"
        );
        assert!(
            !h[1].by_currency.contains_key("JPY"),
            "not seen yet on 11 Oct"
        );
        assert_eq!(h[2].by_currency["JPY"][0].amount, dec("1500"));
    }

    #[test]
    fn only_dates_up_to_the_run_and_only_the_last_runs() {
        let items = [
            item("EUR", "1", "2026-11-01", "2026-11-20", None),
            item("EUR", "1", "2026-11-05", "2026-11-05", Some("2026-11-09")),
        ];
        // A rerun of 6 Nov after later runs: the later dates are not its history.
        let dates = run_dates(&items, d("2026-11-06"), 14);
        assert_eq!(dates, [d("2026-11-01"), d("2026-11-05"), d("2026-11-06")]);
        assert_eq!(
            run_dates(&items, d("2026-11-20"), 2),
            [d("2026-11-09"), d("2026-11-20")]
        );
        assert!(age_history(&items, d("2026-11-20"), 0).is_empty());
        // An item first seen after the run does not count, and neither does one resolved by then.
        let h = age_history(&items, d("2026-11-06"), 14);
        assert_eq!(h.last().unwrap().by_currency["EUR"][0].count, 2);
        let h = age_history(&items, d("2026-11-09"), 14);
        assert_eq!(h.last().unwrap().by_currency["EUR"][1].count, 1);
        assert_eq!(h.last().unwrap().by_currency["EUR"][0].count, 0);
    }
}
