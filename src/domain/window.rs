//! Date windows: Xsolla rejects report periods longer than 92 days, so long ranges are split.

use chrono::NaiveDate;

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
