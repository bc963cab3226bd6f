//! Checks that could not run, with their reason.
//!
//! Why a type of its own: silence in a report means "checked and fine", so a check skipped
//! for want of data (a payout without an amount, a breakdown value the money type cannot hold,
//! a ledger without a fee column) must be said, counted and explained, never only logged.
//! The stage that decides to skip (load, reconcile, the job) makes one [`NotChecked`] line;
//! the summary carries them and every report and the mail show them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One check that could not run on one subject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NotChecked {
    /// Which check: `payout`, `breakdown`, `fees`, `net_vs_payout`,
    /// `net_vs_payment_minus_fees`, `refund_payment`, `refund_amount`, `test_flag`.
    pub check: String,
    /// What was not checked: `payout 123`, `2026-10-01 USD`, `ledger lines`, ….
    pub subject: String,
    /// How many items (payouts, breakdown rows, ledger lines) the line stands for.
    pub count: u64,
    /// Why, in words a reader can act on.
    pub reason: String,
    /// The day the subject belongs to, when it has one: only the run whose window holds the
    /// day reports the line, as with findings (days of the margins are another run's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
}

impl NotChecked {
    /// A line without a day.
    pub fn new(
        check: impl Into<String>,
        subject: impl Into<String>,
        count: u64,
        reason: impl Into<String>,
    ) -> Self {
        NotChecked {
            check: check.into(),
            subject: subject.into(),
            count,
            reason: reason.into(),
            date: None,
        }
    }

    /// The same line, belonging to day `date`.
    pub fn on(mut self, date: NaiveDate) -> Self {
        self.date = Some(date);
        self
    }
}

/// Lines of one check and reason taken together, for a reader: the report and the mail show
/// one line per group with its total count and its first subjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCheckedGroup<'a> {
    /// The check.
    pub check: &'a str,
    /// The reason.
    pub reason: &'a str,
    /// Sum of the lines' counts.
    pub count: u64,
    /// The lines' subjects, in order.
    pub subjects: Vec<&'a str>,
}

/// `lines` grouped by (check, reason), in the order of their first line (callers keep
/// `lines` sorted, so the grouping is deterministic).
pub fn group(lines: &[NotChecked]) -> Vec<NotCheckedGroup<'_>> {
    let mut out: Vec<NotCheckedGroup<'_>> = Vec::new();
    for l in lines {
        match out
            .iter_mut()
            .find(|g| g.check == l.check && g.reason == l.reason)
        {
            Some(g) => {
                g.count += l.count;
                g.subjects.push(&l.subject);
            }
            None => out.push(NotCheckedGroup {
                check: &l.check,
                reason: &l.reason,
                count: l.count,
                subjects: vec![&l.subject],
            }),
        }
    }
    out
}

/// The total count of `lines`.
pub fn total(lines: &[NotChecked]) -> u64 {
    lines.iter().map(|l| l.count).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_check_and_reason_and_sums_counts() {
        let lines = vec![
            NotChecked::new("breakdown", "2026-10-01 EUR", 1, "twice"),
            NotChecked::new("breakdown", "2026-10-01 USD", 1, "decimals"),
            NotChecked::new("breakdown", "2026-10-02 EUR", 1, "twice"),
            NotChecked::new("fees", "ledger lines", 40, "no fee column"),
        ];
        let g = group(&lines);
        assert_eq!(g.len(), 3);
        assert_eq!(
            (g[0].check, g[0].reason, g[0].count),
            ("breakdown", "twice", 2)
        );
        assert_eq!(g[0].subjects, ["2026-10-01 EUR", "2026-10-02 EUR"]);
        assert_eq!(g[2].count, 40);
        assert_eq!(total(&lines), 43);
    }
}
