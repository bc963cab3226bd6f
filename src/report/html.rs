//! `report.html`: the summary as one self-contained page (inline CSS, the chart as a data
//! URI), a table per class. The pieces the mail shows too are in [`super::fragments`].

use super::fragments::{
    cell, chart_legend, document_head, esc, figures_table, not_checked_section, summary_table,
};
use super::{
    amount_display, by_class, window_label, ChartImage, Finding, ReportInput, ReportSettings,
    DISCREPANCIES_CSV, QUARANTINED_CSV,
};
use crate::reconcile::Summary;
use base64::Engine;
use std::fmt::Write;

/// Rows per class in the page at most (`html_max_rows` cannot go above).
pub const MAX_ROWS: usize = 100_000;

fn opt(v: Option<impl ToString>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn amount(v: Option<rust_decimal::Decimal>, cur: &str) -> String {
    v.map(|d| amount_display(d, cur)).unwrap_or_default()
}

/// The whole page: key figures, the per-class table, the quarantine note, the chart, then
/// the rows of each class.
pub(crate) fn page(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    findings: &[Finding],
    chart: Option<&ChartImage>,
) -> String {
    let title = format!(
        "Reconciliation {} {}",
        input.merchant,
        window_label(&input.window)
    );
    let mut h = document_head(&title);
    h.push_str(&figures_table(input));
    h.push_str(&per_class_section(input.summary));
    h.push_str(&not_checked_section(input.summary));
    h.push_str(&quarantine_note(input.quarantined.len()));
    if let Some(chart) = chart {
        h.push_str(&chart_section(chart));
    }
    for (class, rows) in by_class(findings) {
        h.push_str(&class_section(&class, &rows, settings.html_max_rows));
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// The per-class table under its heading, or a line saying there is nothing.
fn per_class_section(summary: &Summary) -> String {
    let mut h = String::from("<h2>Discrepancies per class and currency</h2>\n");
    if summary.by_class.is_empty() {
        h.push_str("<p>No discrepancies.</p>\n");
    } else {
        h.push_str(&summary_table(summary));
    }
    h
}

/// Where the unreadable ledger rows went (nothing when there are none).
fn quarantine_note(n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    format!(
        "<p>{n} ledger {} could not be read and {} set aside: see {QUARANTINED_CSV}.</p>\n",
        if n == 1 { "row" } else { "rows" },
        if n == 1 { "was" } else { "were" },
    )
}

/// The chart embedded as a data URI (the page stands alone), with its legend.
fn chart_section(chart: &ChartImage) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(&chart.png);
    let mut h = String::from("<h2>Chart</h2>\n");
    let _ = writeln!(
        h,
        "<img alt=\"discrepancy amounts per day and class\" src=\"data:image/png;base64,{b64}\">"
    );
    h.push_str(&chart_legend(chart));
    h
}

/// One class: a heading with its count, its first `max_rows` rows, and where the rest are.
fn class_section(class: &str, rows: &[&Finding], max_rows: usize) -> String {
    let mut h = format!("<h2>{} ({})</h2>\n", cell(class), rows.len());
    h.push_str("<table><tr><th>currency</th><th>expected</th><th>actual</th><th>difference</th><th>transaction</th><th>order</th><th>Xsolla date</th><th>ledger date</th><th>age (days)</th><th>detail</th></tr>\n");
    for f in rows.iter().take(max_rows) {
        h.push_str(&finding_row(f));
    }
    h.push_str("</table>\n");
    if rows.len() > max_rows {
        let _ = writeln!(
            h,
            "<p>… {} more in {DISCREPANCIES_CSV}</p>",
            rows.len() - max_rows
        );
    }
    h
}

/// One finding as a table row.
fn finding_row(f: &Finding) -> String {
    let cur = f.currency.as_str();
    let probable = if f.probable == Some(true) {
        " (probable)"
    } else {
        ""
    };
    format!(
        "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}{}</td></tr>\n",
        cell(cur),
        esc(&amount(f.expected, cur)),
        esc(&amount(f.actual, cur)),
        esc(&amount(f.difference, cur)),
        opt(f.transaction_id),
        cell(f.order_id.as_deref().unwrap_or("")),
        opt(f.provider_date),
        opt(f.ledger_date),
        opt(f.age_days),
        cell(f.detail.as_deref().unwrap_or("")),
        probable
    )
}
