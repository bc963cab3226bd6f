//! HTML pieces that `report.html` and the report mail both show: the document head, the key
//! figures, the per-class table, the checks that could not run and the chart's legend.
//!
//! Why a module of its own: the mail (the deliver stage) must show the same numbers the same
//! way as the page, so it builds its body from these functions rather than from the page's
//! internals. All text is HTML-escaped; data cells also go through [`safe_text`] because
//! people paste these tables into spreadsheets.

use super::{
    amount_display, class_lines, currency_totals, safe_text, window_label, AgeChartImage,
    ChartImage, ItemRow, LoopSummary, ReportInput,
};
use crate::reconcile::ages::{AgeBucket, AgeSnapshot};
use crate::reconcile::Summary;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::fmt::Write;

const STYLE: &str =
    "body{font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222;margin:16px}\
table{border-collapse:collapse;margin:8px 0 16px}\
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.sw{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle}\
.muted{color:#666}";

/// Escapes text for HTML element content and attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A data cell: neutralised, then escaped.
pub(super) fn cell(s: &str) -> String {
    esc(&safe_text(s))
}

/// The start of a document up to and including its `<h1>` title: doctype, `<head>` with the
/// inline style, `<body>`. The caller closes `</body></html>`.
pub fn document_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(title),
        esc(title)
    )
}

/// The per-class, per-currency table, then a total row per currency.
pub fn summary_table(summary: &Summary) -> String {
    let mut t = String::from(
        "<table><tr><th>class</th><th>currency</th><th>count</th><th>amount (sum of |difference|)</th></tr>\n",
    );
    for line in class_lines(summary) {
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            cell(line.class),
            cell(line.currency),
            line.total.count,
            esc(&amount_display(line.total.amount, line.currency))
        );
    }
    for (cur, total) in currency_totals(summary) {
        let _ = writeln!(
            t,
            "<tr><th>total</th><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr>",
            cell(cur),
            total.count,
            esc(&amount_display(total.amount, cur))
        );
    }
    t.push_str("</table>\n");
    t
}

/// Subjects a not-checked line lists at most; the rest are counted (summary.json lists all).
pub const NOT_CHECKED_SUBJECTS: usize = 10;

/// A group's first subjects, and how many more there are.
pub fn subjects_text(subjects: &[&str]) -> String {
    let mut t = subjects
        .iter()
        .take(NOT_CHECKED_SUBJECTS)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if subjects.len() > NOT_CHECKED_SUBJECTS {
        let _ = write!(t, " and {} more", subjects.len() - NOT_CHECKED_SUBJECTS);
    }
    t
}

/// The checks that could not run, one row per check and reason with its count and subjects;
/// nothing at all when every check ran (silence means checked and fine).
pub fn not_checked_section(summary: &Summary) -> String {
    if summary.not_checked.is_empty() {
        return String::new();
    }
    let total = crate::domain::not_checked::total(&summary.not_checked);
    let mut t = format!(
        "<h2>Not checked</h2>\n<p>{total} {} could not be checked; the run went on without them. \
         Nothing is known to be wrong with them, and nothing is known to be right.</p>\n\
         <table><tr><th>check</th><th>count</th><th>reason</th><th>what</th></tr>\n",
        if total == 1 { "item" } else { "items" }
    );
    for g in crate::domain::not_checked::group(&summary.not_checked) {
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            cell(g.check),
            g.count,
            cell(g.reason),
            cell(&subjects_text(&g.subjects))
        );
    }
    t.push_str("</table>\n");
    t
}

/// Key figures as (label, value) pairs: the page's and the mail's first table, and the
/// mail's plain-text head.
pub fn key_figures(input: &ReportInput<'_>) -> Vec<(&'static str, String)> {
    let s = input.summary;
    let mut v = vec![
        ("merchant", input.merchant.to_owned()),
        ("window", window_label(&input.window)),
        ("as of", input.as_of.to_string()),
        ("report id", input.report_id.to_owned()),
        ("discrepancies", s.discrepancies.to_string()),
        ("provider lines", s.provider_lines.to_string()),
        ("matched lines", s.matched_lines.to_string()),
        ("match rate", format!("{} %", s.match_rate_percent)),
        ("ledger rows read", input.ledger.rows_read.to_string()),
        ("ledger rows loaded", input.ledger.rows_loaded.to_string()),
        (
            "ledger rows quarantined",
            input.ledger.rows_quarantined.to_string(),
        ),
        ("provider rows", s.rows.provider_rows.to_string()),
    ];
    if !s.not_checked.is_empty() {
        let n = crate::domain::not_checked::total(&s.not_checked);
        v.push(("not checked", n.to_string()));
    }
    if let Some(p) = input.provider {
        v.push(("registry rows read", p.registry_rows_read.to_string()));
    }
    v.extend([
        ("open items new", input.open_items.new.to_string()),
        (
            "open items still open",
            input.open_items.still_open.to_string(),
        ),
        ("open items resolved", input.open_items.resolved.to_string()),
    ]);
    v
}

/// [`key_figures`] as a two-column table.
pub fn figures_table(input: &ReportInput<'_>) -> String {
    let mut t = String::from("<table>\n");
    for (k, v) in key_figures(input) {
        let _ = writeln!(t, "<tr><th>{}</th><td>{}</td></tr>", esc(k), cell(&v));
    }
    t.push_str("</table>\n");
    t
}

/// The chart's labels as text (the picture draws them too; this is for screen readers and
/// copying): how to read it, the panels top to bottom, and the class colours.
pub fn chart_legend(chart: &ChartImage) -> String {
    let legend = &chart.legend;
    let mut t = format!(
        "<p class=\"muted\">One bar per day from {} (left) to {} (right), by Xsolla's date \
         (else the ledger's); bars are the sum of |difference|, stacked by class. \
         Grid lines at quarters of each panel's top value.</p>\n<table><tr><th>panel</th>\
         <th>currency</th><th>total drawn</th><th>top of the panel (largest day)</th></tr>\n",
        legend.from, legend.to
    );
    for (i, (cur, total, peak)) in legend.panels.iter().enumerate() {
        let _ = writeln!(
            t,
            "<tr><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            i + 1,
            cell(cur),
            esc(&amount_display(*total, cur)),
            esc(&amount_display(*peak, cur))
        );
    }
    t.push_str("</table>\n");
    if legend.omitted > 0 {
        let _ = writeln!(
            t,
            "<p class=\"muted\">{} more currencies not drawn.</p>",
            legend.omitted
        );
    }
    t.push_str("<table><tr><th>class</th></tr>\n");
    for (class, (r, g, b)) in &legend.classes {
        let _ = writeln!(
            t,
            "<tr><td><span class=\"sw\" style=\"background:#{r:02x}{g:02x}{b:02x}\"></span>{}</td></tr>",
            cell(class)
        );
    }
    t.push_str("</table>\n");
    t
}

/// The age chart's `alt` text (the page and the mail).
pub const AGE_ALT: &str = "open items per age bucket over the last runs";

/// The numbers of the age chart: per run (newest first) and currency, the open items and
/// their sum of |difference| in each age bucket.
pub fn age_table(ages: &[AgeSnapshot], chart: &AgeChartImage) -> String {
    let mut t = format!(
        "<p class=\"muted\">Open items as of each of the last {} runs, by the days since they \
         were first seen; amounts are the sum of |difference|.",
        ages.len()
    );
    if chart.omitted > 0 {
        let _ = write!(
            t,
            " The picture leaves out {} currencies; the table has them all.",
            chart.omitted
        );
    }
    t.push_str("</p>\n<table><tr><th>run date</th><th>currency</th>");
    for b in AgeBucket::ALL {
        let _ = write!(t, "<th>{0} items</th><th>{0} amount</th>", esc(b.label()));
    }
    t.push_str("</tr>\n");
    for s in ages.iter().rev() {
        for (cur, buckets) in &s.by_currency {
            let _ = write!(t, "<tr><td>{}</td><td>{}</td>", s.run_date, cell(cur));
            for b in buckets {
                let _ = write!(
                    t,
                    "<td class=\"n\">{}</td><td class=\"n\">{}</td>",
                    b.count,
                    esc(&amount_display(b.amount, cur))
                );
            }
            t.push_str("</tr>\n");
        }
    }
    t.push_str("</table>\n");
    t
}

/// Amounts per currency as one text: `12.50 EUR + 1,500 JPY` (empty: `0`).
pub fn amounts_text(amounts: &BTreeMap<String, Decimal>) -> String {
    let parts: Vec<String> = amounts
        .iter()
        .map(|(c, a)| format!("{} {}", amount_display(*a, c), c))
        .collect();
    if parts.is_empty() {
        "0".to_owned()
    } else {
        parts.join(" + ")
    }
}

/// The still-open findings per age bucket: count and amounts.
pub fn age_bucket_table(s: &LoopSummary) -> String {
    let mut t = String::from(
        "<table><tr><th>age</th><th>still open</th><th>amount (sum of |difference|)</th></tr>\n",
    );
    for (bucket, count, amounts) in s.age_buckets() {
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td class=\"n\">{count}</td><td class=\"n\">{}</td></tr>",
            esc(bucket.label()),
            cell(&amounts_text(&amounts))
        );
    }
    t.push_str("</table>\n");
    t
}

/// The sections' counts, as the mail counts them: new and still open are unresolved;
/// accepted or snoozed are listed apart and not counted.
pub fn loop_counts(s: &LoopSummary) -> Vec<(&'static str, String)> {
    vec![
        ("new since the last run", s.new.len().to_string()),
        ("still open", s.still_open.len().to_string()),
        ("unresolved (new + still open)", s.unresolved().to_string()),
        ("unresolved amount", amounts_text(&s.unresolved_amounts())),
        (
            "accepted or snoozed (not counted)",
            s.held.len().to_string(),
        ),
        ("resolved since the last run", s.resolved.len().to_string()),
    ]
}

/// [`loop_counts`] as a two-column table.
pub fn loop_counts_table(s: &LoopSummary) -> String {
    let mut t = String::from("<table>\n");
    for (k, v) in loop_counts(s) {
        let _ = writeln!(t, "<tr><th>{}</th><td>{}</td></tr>", esc(k), cell(&v));
    }
    t.push_str("</table>\n");
    t
}

/// A short list of findings (the mail's "new" and "accepted or snoozed"): the first
/// `max_rows`, then how many more.
pub fn short_item_table(rows: &[ItemRow], max_rows: usize) -> String {
    if rows.is_empty() {
        return "<p>None.</p>\n".to_owned();
    }
    let mut t = String::from("<table><tr><th>class</th><th>currency</th><th>difference</th><th>transaction</th><th>order</th><th>why / note</th><th>key</th></tr>\n");
    for r in rows.iter().take(max_rows) {
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            cell(&r.class),
            cell(&r.currency),
            esc(&r.difference.map(|d| amount_display(d, &r.currency)).unwrap_or_default()),
            r.transaction_id.map(|t| t.to_string()).unwrap_or_default(),
            cell(r.order_id.as_deref().unwrap_or("")),
            cell(&r.status_note),
            cell(&r.key),
        );
    }
    t.push_str("</table>\n");
    if rows.len() > max_rows {
        let _ = writeln!(
            t,
            "<p>… {} more in the attachments.</p>",
            rows.len() - max_rows
        );
    }
    t
}

/// A data cell for callers outside the report stage (the mail): neutralised, then escaped.
pub fn esc_cell(s: &str) -> String {
    cell(s)
}
