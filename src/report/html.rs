//! `report.html`: the summary as one self-contained page (inline CSS, the chart as a data
//! URI), then the findings in the team's sections: new since the last run, still open (by
//! age), accepted or snoozed, resolved since the last run. A filter box and sortable columns
//! are a few lines of inline script: no network fetch, so the page works opened from disk or
//! in a mail's attachment viewer (where scripts may not run, the tables still read).
//! The pieces the mail shows too are in [`super::fragments`].

use super::fragments::{
    age_bucket_table, age_table, cell, chart_legend, document_head, esc, figures_table,
    not_checked_section, summary_table, AGE_ALT,
};
use super::{
    amount_display, amount_text, sections, window_label, AgeChartImage, ChartImage, Finding,
    ItemRow, LoopSummary, ReportInput, ReportSettings, DISCREPANCIES_CSV, QUARANTINED_CSV,
};
use crate::reconcile::Summary;
use base64::Engine;
use std::fmt::Write;

/// Rows per class in the page at most (`html_max_rows` cannot go above).
pub const MAX_ROWS: usize = 100_000;

fn opt(v: Option<impl ToString>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// The whole page: key figures, the per-class table, the quarantine note, the chart, then
/// the rows of each class.
pub(crate) fn page(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    findings: &[Finding],
    chart: Option<&ChartImage>,
    age: Option<&AgeChartImage>,
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
    if let Some(age) = age {
        h.push_str(&age_section(input, age));
    }
    h.push_str(&loop_sections(
        &sections(findings, input.items),
        settings.html_max_rows,
    ));
    h.push_str(SCRIPT);
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

/// The age chart embedded as a data URI, with its numbers as a table.
fn age_section(input: &ReportInput<'_>, age: &AgeChartImage) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(&age.png);
    let mut h = String::from("<h2>Open items by age</h2>\n");
    let _ = writeln!(
        h,
        "<img alt=\"{AGE_ALT}\" src=\"data:image/png;base64,{b64}\">"
    );
    h.push_str(&age_table(input.ages, age));
    h
}

/// Filters the rows of every section table by the text typed, and sorts a table by the
/// column clicked (numbers by their `data-v`, text alphabetically; a second click reverses).
const SCRIPT: &str = "<script>\n(function(){\nvar box=document.getElementById('filter');\nif(box){box.addEventListener('input',function(){var q=box.value.toLowerCase();document.querySelectorAll('table.items tbody tr').forEach(function(r){r.style.display=r.textContent.toLowerCase().indexOf(q)<0?'none':'';});});}\nfunction val(r,i){var c=r.cells[i];if(!c)return '';return c.hasAttribute('data-v')?c.getAttribute('data-v'):c.textContent;}\ndocument.querySelectorAll('table.items thead th').forEach(function(th){th.style.cursor='pointer';th.addEventListener('click',function(){var t=th.closest('table'),b=t.tBodies[0],i=th.cellIndex,asc=th.getAttribute('data-dir')!=='asc';th.setAttribute('data-dir',asc?'asc':'desc');var rs=Array.prototype.slice.call(b.rows);rs.sort(function(x,y){var a=val(x,i),c=val(y,i),na=parseFloat(a),nc=parseFloat(c);var d=(a!==''&&c!==''&&!isNaN(na)&&!isNaN(nc))?na-nc:a.localeCompare(c);return asc?d:-d;});rs.forEach(function(r){b.appendChild(r);});});});\n})();\n</script>\n";

/// The four sections under a filter box.
fn loop_sections(s: &LoopSummary, max_rows: usize) -> String {
    let mut h = String::from(
        "<h2>Items</h2>\n<p><label>Filter: <input id=\"filter\" type=\"search\" placeholder=\"class, order, note…\"></label> <span class=\"muted\">(click a column heading to sort)</span></p>\n",
    );
    let _ = writeln!(h, "<h2>New since the last run ({})</h2>", s.new.len());
    h.push_str(&item_table(&s.new, max_rows));
    let _ = writeln!(h, "<h2>Still open ({})</h2>", s.still_open.len());
    h.push_str(&age_bucket_table(s));
    h.push_str(&item_table(&s.still_open, max_rows));
    let _ = writeln!(h, "<h2>Accepted or snoozed ({})</h2>", s.held.len());
    h.push_str(&item_table(&s.held, max_rows));
    let _ = writeln!(
        h,
        "<h2>Resolved since the last run ({})</h2>",
        s.resolved.len()
    );
    h.push_str(&resolved_table(s, max_rows));
    h
}

/// A section's rows, the first `max_rows`, and where the rest are.
fn item_table(rows: &[ItemRow], max_rows: usize) -> String {
    if rows.is_empty() {
        return "<p>None.</p>\n".to_owned();
    }
    let mut h = String::from("<table class=\"items\"><thead><tr><th>class</th><th>currency</th><th>difference</th><th>age (days)</th><th>transaction</th><th>order</th><th>Xsolla date</th><th>ledger date</th><th>status</th><th>why / note</th><th>detail</th></tr></thead><tbody>\n");
    for r in rows.iter().take(max_rows) {
        h.push_str(&item_row(r));
    }
    h.push_str("</tbody></table>\n");
    if rows.len() > max_rows {
        let _ = writeln!(
            h,
            "<p>… {} more in {DISCREPANCIES_CSV}</p>",
            rows.len() - max_rows
        );
    }
    h
}

/// One finding as a table row; amounts carry their exact value for sorting.
fn item_row(r: &ItemRow) -> String {
    let cur = r.currency.as_str();
    let (diff_v, diff) = match r.difference {
        Some(d) => (amount_text(d, cur), amount_display(d, cur)),
        None => (String::new(), String::new()),
    };
    format!(
        "<tr><td>{}</td><td>{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        cell(&r.class),
        cell(cur),
        esc(&diff_v),
        esc(&diff),
        opt(r.age_days),
        opt(r.transaction_id),
        cell(r.order_id.as_deref().unwrap_or("")),
        opt(r.provider_date),
        opt(r.ledger_date),
        esc(r.status),
        cell(&r.status_note),
        cell(&r.detail),
    )
}

/// What this report resolved.
fn resolved_table(s: &LoopSummary, max_rows: usize) -> String {
    if s.resolved.is_empty() {
        return "<p>None.</p>\n".to_owned();
    }
    let mut h = String::from("<table class=\"items\"><thead><tr><th>class</th><th>currency</th><th>difference</th><th>first seen</th><th>resolved on</th><th>why</th><th>key</th></tr></thead><tbody>\n");
    for r in s.resolved.iter().take(max_rows) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"n\" data-v=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            cell(&r.class),
            cell(&r.currency),
            esc(&amount_text(r.difference, &r.currency)),
            esc(&amount_display(r.difference, &r.currency)),
            r.first_seen,
            r.on,
            cell(&r.why),
            cell(&r.key),
        );
    }
    h.push_str("</tbody></table>\n");
    if s.resolved.len() > max_rows {
        let _ = writeln!(h, "<p>… {} more</p>", s.resolved.len() - max_rows);
    }
    h
}
