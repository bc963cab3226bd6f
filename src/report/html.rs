//! `report.html`: the summary as one self-contained page (inline CSS, the chart as a data
//! URI), a table per class. All text is HTML-escaped; data cells also go through
//! [`safe_text`] because people paste these tables into spreadsheets.

use super::chart::Legend;
use super::{
    amount_display, by_class, class_order, safe_text, window_label, Finding, ReportInput,
    ReportSettings, DISCREPANCIES_CSV,
};
use crate::reconcile::Summary;
use base64::Engine;
use std::fmt::Write;

/// Rows per class in the page at most (`html_max_rows` cannot go above).
pub const MAX_ROWS: usize = 100_000;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
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
fn cell(s: &str) -> String {
    esc(&safe_text(s))
}

pub(crate) const STYLE: &str =
    "body{font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222;margin:16px}\
table{border-collapse:collapse;margin:8px 0 16px}\
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.sw{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle}\
.muted{color:#666}";

/// The per-class, per-currency table (also the mail's body).
pub(crate) fn summary_table(summary: &Summary) -> String {
    let mut t = String::from(
        "<table><tr><th>class</th><th>currency</th><th>count</th><th>amount (sum of |difference|)</th></tr>\n",
    );
    for class in class_order(summary.by_class.keys().map(String::as_str)) {
        let Some(m) = summary.by_class.get(&class) else {
            continue;
        };
        for (cur, ct) in m {
            let _ = writeln!(
                t,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                cell(&class),
                cell(cur),
                ct.count,
                esc(&amount_display(ct.amount, cur))
            );
        }
    }
    for (cur, amount) in super::per_currency(summary) {
        let count: u64 = summary
            .by_class
            .values()
            .filter_map(|m| m.get(&cur))
            .map(|c| c.count)
            .sum();
        let _ = writeln!(
            t,
            "<tr><th>total</th><th>{}</th><th class=\"n\">{count}</th><th class=\"n\">{}</th></tr>",
            cell(&cur),
            esc(&amount_display(amount, &cur))
        );
    }
    t.push_str("</table>\n");
    t
}

/// Key figures as (label, value) pairs, shared by the page, the mail and its text part.
pub(crate) fn key_figures(input: &ReportInput<'_>) -> Vec<(&'static str, String)> {
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

pub(crate) fn figures_table(input: &ReportInput<'_>) -> String {
    let mut t = String::from("<table>\n");
    for (k, v) in key_figures(input) {
        let _ = writeln!(t, "<tr><th>{}</th><td>{}</td></tr>", esc(k), cell(&v));
    }
    t.push_str("</table>\n");
    t
}

/// The labels of the chart: panels top to bottom and the class colours.
pub(crate) fn chart_legend(legend: &Legend) -> String {
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

fn opt(v: Option<impl ToString>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn amount(v: Option<rust_decimal::Decimal>, cur: &str) -> String {
    v.map(|d| amount_display(d, cur)).unwrap_or_default()
}

/// The whole page.
pub(crate) fn page(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    findings: &[Finding],
    png: Option<&[u8]>,
    legend: Option<&Legend>,
) -> String {
    let title = format!(
        "Reconciliation {} {}",
        input.merchant,
        window_label(&input.window)
    );
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    h.push_str(&figures_table(input));
    h.push_str("<h2>Discrepancies per class and currency</h2>\n");
    if input.summary.by_class.is_empty() {
        h.push_str("<p>No discrepancies.</p>\n");
    } else {
        h.push_str(&summary_table(input.summary));
    }
    if !input.quarantined.is_empty() {
        let n = input.quarantined.len();
        let _ = writeln!(
            h,
            "<p>{n} ledger {} could not be read and {} set aside: see {}.</p>",
            if n == 1 { "row" } else { "rows" },
            if n == 1 { "was" } else { "were" },
            super::QUARANTINED_CSV
        );
    }
    if let Some(png) = png {
        let b64 = base64::engine::general_purpose::STANDARD.encode(png);
        h.push_str("<h2>Chart</h2>\n");
        let _ = writeln!(
            h,
            "<img alt=\"discrepancy amounts per day and class\" src=\"data:image/png;base64,{b64}\">"
        );
        if let Some(l) = legend {
            h.push_str(&chart_legend(l));
        }
    }
    for (class, rows) in by_class(findings) {
        let _ = writeln!(h, "<h2>{} ({})</h2>", cell(&class), rows.len());
        h.push_str("<table><tr><th>currency</th><th>expected</th><th>actual</th><th>difference</th><th>transaction</th><th>order</th><th>Xsolla date</th><th>ledger date</th><th>age (days)</th><th>detail</th></tr>\n");
        for f in rows.iter().take(settings.html_max_rows) {
            let cur = f.currency.as_str();
            let probable = if f.probable == Some(true) {
                " (probable)"
            } else {
                ""
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}{}</td></tr>",
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
            );
        }
        h.push_str("</table>\n");
        if rows.len() > settings.html_max_rows {
            let _ = writeln!(
                h,
                "<p>… {} more in {DISCREPANCIES_CSV}</p>",
                rows.len() - settings.html_max_rows
            );
        }
    }
    h.push_str("</body>\n</html>\n");
    h
}
