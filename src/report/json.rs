//! `summary.json`: the run's numbers for monitoring. Keys in a fixed order (struct fields and
//! sorted maps), amounts as exact strings.

use super::{amount_text, currency_totals, LoopSummary, OpenItemCounts, ReportInput};
use crate::domain::not_checked::NotChecked;
use crate::domain::window::Window;
use crate::load::LoadCounts;
use crate::reconcile::{ClassTotal, RowCounts};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;

/// Bumped when a field changes meaning or disappears (adding one does not).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Total {
    count: u64,
    amount: String,
}

#[derive(Serialize)]
struct LedgerRows {
    files: usize,
    rows_read: u64,
    rows_loaded: u64,
    rows_quarantined: u64,
}

#[derive(Serialize)]
struct Rows<'a> {
    ledger: LedgerRows,
    provider: Option<&'a LoadCounts>,
    reconciled: &'a RowCounts,
}

#[derive(Serialize)]
struct SummaryJson<'a> {
    schema_version: u32,
    merchant: &'a str,
    window: Window,
    as_of: NaiveDate,
    report_id: &'a str,
    discrepancies: u64,
    by_class: BTreeMap<&'a str, BTreeMap<&'a str, Total>>,
    by_currency: BTreeMap<&'a str, Total>,
    provider_lines: u64,
    matched_lines: u64,
    match_rate_percent: &'a str,
    matched_totals: &'a BTreeMap<String, String>,
    rows: Rows<'a>,
    open_items: OpenItemCounts,
    sections: Sections,
    quarantined: usize,
    /// Checks that could not run (one line per subject, with its reason); empty when all ran.
    not_checked: &'a [NotChecked],
    /// The sum of their counts.
    not_checked_count: u64,
    files: &'a [&'a str],
}

/// The team's sections: what the mail counts (new and still open) and what it lists apart.
#[derive(Serialize)]
struct Sections {
    new: usize,
    /// Still open per age bucket (`0-7 days`, `8-30 days`, `over 30 days`).
    still_open_by_age: BTreeMap<&'static str, usize>,
    /// Sum of |difference| per currency of the new and still-open findings.
    unresolved_amounts: BTreeMap<String, String>,
    accepted_or_snoozed: usize,
    resolved: usize,
}

fn sections(s: &LoopSummary) -> Sections {
    Sections {
        new: s.new.len(),
        still_open_by_age: s
            .age_buckets()
            .into_iter()
            .map(|(bucket, count, _)| (bucket.key(), count as usize))
            .collect(),
        unresolved_amounts: s
            .unresolved_amounts()
            .into_iter()
            .map(|(cur, a)| {
                let text = amount_text(a, &cur);
                (cur, text)
            })
            .collect(),
        accepted_or_snoozed: s.held.len(),
        resolved: s.resolved.len(),
    }
}

/// The bytes of `summary.json`.
pub(crate) fn summary(input: &ReportInput<'_>, loop_: &LoopSummary, files: &[&str]) -> Vec<u8> {
    let s = input.summary;
    let total = |t: &ClassTotal, cur: &str| Total {
        count: t.count,
        amount: amount_text(t.amount, cur),
    };
    let by_class = s
        .by_class
        .iter()
        .map(|(class, m)| {
            let inner = m
                .iter()
                .map(|(cur, t)| (cur.as_str(), total(t, cur)))
                .collect();
            (class.as_str(), inner)
        })
        .collect();
    let by_currency = currency_totals(s)
        .into_iter()
        .map(|(cur, t)| (cur, total(&t, cur)))
        .collect();
    let doc = SummaryJson {
        schema_version: SCHEMA_VERSION,
        merchant: input.merchant,
        window: input.window,
        as_of: input.as_of,
        report_id: input.report_id,
        discrepancies: s.discrepancies,
        by_class,
        by_currency,
        provider_lines: s.provider_lines,
        matched_lines: s.matched_lines,
        match_rate_percent: &s.match_rate_percent,
        matched_totals: &s.matched_totals,
        rows: Rows {
            ledger: LedgerRows {
                files: input.ledger.files,
                rows_read: input.ledger.rows_read,
                rows_loaded: input.ledger.rows_loaded,
                rows_quarantined: input.ledger.rows_quarantined,
            },
            provider: input.provider,
            reconciled: &s.rows,
        },
        open_items: input.open_items,
        sections: sections(loop_),
        quarantined: input.quarantined.len(),
        not_checked: &s.not_checked,
        not_checked_count: crate::domain::not_checked::total(&s.not_checked),
        files,
    };
    // Plain data with string keys: serialising cannot fail.
    let mut out = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}
