//! The mail's content: subject, HTML and plain-text bodies with the same numbers, and the
//! chart to attach inline, built only from `report`'s public surface ([`checked_chart`],
//! [`crate::report::fragments`]). Turning it into a message and sending it is the rest of
//! this module's job.

use crate::reconcile::ages::{AgeBucket, AgeSnapshot};
use crate::reconcile::Summary;
use crate::report::fragments::{
    age_bucket_table, age_table, amounts_text, chart_legend, document_head, figures_table,
    key_figures, loop_counts, loop_counts_table, not_checked_section, short_item_table,
    subjects_text, summary_table, AGE_ALT,
};
use crate::report::REPORT_HTML;
use crate::report::{
    age_chart, amount_display, checked_chart, class_lines, currency_totals, loop_summary,
    window_label, AgeChartImage, ChartImage, ItemRow, LoopSummary, ReportError, ReportInput,
    ReportSettings, DISCREPANCIES_CSV, DISCREPANCIES_XLSX,
};
use std::fmt::Write;
use std::path::Path;

/// Content-ID of the inline chart (`<img src="cid:chart">`).
pub const CHART_CID: &str = "chart";
/// Content-ID of the inline age chart (`<img src="cid:age">`).
pub const AGE_CID: &str = "age";
/// Currencies named in the subject at most.
pub const SUBJECT_CURRENCIES: usize = 3;
/// Findings listed per section in the mail (the rest are in the attachments).
pub const MAIL_ROWS: usize = 50;

/// What the mail says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailContent {
    /// One line, no CR/LF.
    pub subject: String,
    /// The HTML body (references the chart as `cid:chart` when there is one).
    pub html: String,
    /// The plain-text alternative.
    pub text: String,
    /// `chart.png`'s bytes, to attach inline with Content-ID [`CHART_CID`].
    pub chart_png: Option<Vec<u8>>,
    /// `age.png`'s bytes, to attach inline with Content-ID [`AGE_CID`].
    pub age_png: Option<Vec<u8>>,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One line: control characters (CR, LF, tab …) become spaces, runs of spaces one.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The subject: `[xsolla-recon] Acme 2026-11-21: 2 new, 7 unresolved discrepancies,
/// 1,234.56 USD unresolved, 3 accepted or snoozed`, or `… : all clear`. Accepted and snoozed
/// findings are not counted as unresolved, nor in the amounts. Currencies in code order, at
/// most three, then `+ N more`.
pub fn subject(input: &ReportInput<'_>, s: &LoopSummary) -> String {
    let head = format!(
        "[xsolla-recon] {} {}",
        one_line(input.merchant),
        window_label(&input.window)
    );
    let n = input.summary.discrepancies;
    let q = input.quarantined.len() as u64;
    let mut parts = Vec::new();
    if n > 0 {
        parts.push(format!("{} new", s.new.len()));
        let u = s.unresolved();
        parts.push(format!(
            "{u} unresolved {}",
            if u == 1 {
                "discrepancy"
            } else {
                "discrepancies"
            }
        ));
        let amounts: Vec<String> = s
            .unresolved_amounts()
            .into_iter()
            .filter(|(_, a)| !a.is_zero())
            .map(|(c, a)| format!("{} {}", amount_display(a, &c), one_line(&c)))
            .collect();
        if !amounts.is_empty() {
            let mut shown = amounts
                .iter()
                .take(SUBJECT_CURRENCIES)
                .cloned()
                .collect::<Vec<_>>()
                .join(" + ");
            if amounts.len() > SUBJECT_CURRENCIES {
                let _ = write!(shown, " + {} more", amounts.len() - SUBJECT_CURRENCIES);
            }
            parts.push(format!("{shown} unresolved"));
        }
        if !s.held.is_empty() {
            parts.push(format!("{} accepted or snoozed", s.held.len()));
        }
    }
    if q > 0 {
        parts.push(format!(
            "{} quarantined",
            plural(q, "ledger row", "ledger rows")
        ));
    }
    if parts.is_empty() {
        format!("{head}: all clear")
    } else {
        format!("{head}: {}", parts.join(", "))
    }
}

/// Builds the mail's content (deterministic: same input, same bytes).
///
/// The input is checked as the report files are (settings, findings against the summary), so
/// a mail never shows numbers the report folder would not.
pub fn compose(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
) -> Result<MailContent, ReportError> {
    let chart = checked_chart(input, settings, Path::new("<mail>"))?;
    let age = age_chart(input, settings, Path::new("<mail>"))?;
    let sections = loop_summary(input)?;
    let subject = subject(input, &sections);
    let html = html_body(input, &subject, &sections, chart.as_ref(), age.as_ref());
    let text = text_body(input, &subject, &sections, age.is_some());
    Ok(MailContent {
        subject,
        html,
        text,
        chart_png: chart.map(|chart| chart.png),
        age_png: age.map(|age| age.png),
    })
}

/// The HTML body: the page's key figures and per-class table, the chart inline, where the
/// rest is.
fn html_body(
    input: &ReportInput<'_>,
    subject: &str,
    s: &LoopSummary,
    chart: Option<&ChartImage>,
    age: Option<&AgeChartImage>,
) -> String {
    let mut html = document_head(subject);
    html.push_str(&loop_html(s));
    html.push_str(&figures_table(input));
    if input.summary.by_class.is_empty() {
        html.push_str("<p>No discrepancies.</p>\n");
    } else {
        html.push_str("<h2>Discrepancies per class and currency</h2>\n");
        html.push_str(&summary_table(input.summary));
    }
    html.push_str(&not_checked_section(input.summary));
    if let Some(chart) = chart {
        let _ = writeln!(
            html,
            "<img alt=\"discrepancy amounts per day and class\" src=\"cid:{CHART_CID}\">"
        );
        html.push_str(&chart_legend(chart));
    }
    if let Some(age) = age {
        let _ = writeln!(
            html,
            "<h2>Open items by age</h2>\n<img alt=\"{AGE_ALT}\" src=\"cid:{AGE_CID}\">"
        );
        html.push_str(&age_table(input.ages, age));
    }
    if !input.quarantined.is_empty() {
        let _ = writeln!(
            html,
            "<p>{} could not be read and set aside (see the Quarantined sheet).</p>",
            plural(input.quarantined.len() as u64, "ledger row", "ledger rows")
        );
    }
    let _ = writeln!(
        html,
        "<p>The full list is attached as {DISCREPANCIES_CSV}, {DISCREPANCIES_XLSX} and {REPORT_HTML}. To record what you decided, fill the decision, until and note columns of the workbook and run <code>xsolla-recon items import {DISCREPANCIES_XLSX}</code>.</p>\n</body>\n</html>"
    );
    html
}

/// The plain-text alternative: the same figures and tables as the HTML body, one per line
/// (`ages`: the age chart is drawn, so its numbers are listed as under the HTML body's).
fn text_body(input: &ReportInput<'_>, subject: &str, s: &LoopSummary, ages: bool) -> String {
    let mut text = format!("{subject}\n\n");
    text.push_str(&loop_text(s));
    for (k, v) in key_figures(input) {
        let _ = writeln!(text, "{k}: {}", one_line(&v));
    }
    text.push('\n');
    text.push_str(&text_table(input.summary));
    text.push_str(&text_not_checked(input.summary));
    if ages {
        text.push_str(&text_ages(input.ages));
    }
    if !input.quarantined.is_empty() {
        let _ = writeln!(
            text,
            "\n{} could not be read and set aside.",
            plural(input.quarantined.len() as u64, "ledger row", "ledger rows")
        );
    }
    let _ = writeln!(
        text,
        "\nThe full list is attached as {DISCREPANCIES_CSV}, {DISCREPANCIES_XLSX} and {REPORT_HTML}.\nTo record what you decided, fill the decision, until and note columns of the workbook and run: xsolla-recon items import {DISCREPANCIES_XLSX}"
    );
    text
}

/// The age chart's numbers: per run (newest first) and currency, the open items and their sum
/// of |difference| in each age bucket, the buckets of the chart and of "Still open".
fn text_ages(ages: &[AgeSnapshot]) -> String {
    let mut text = format!(
        "\nOpen items by age, as of each of the last {} runs (items, sum of |difference|):\n",
        ages.len()
    );
    for s in ages.iter().rev() {
        for (cur, buckets) in &s.by_currency {
            let cells: Vec<String> = AgeBucket::ALL
                .iter()
                .zip(buckets)
                .map(|(b, t)| {
                    format!(
                        "{} {}, {}",
                        b.label(),
                        t.count,
                        amount_display(t.amount, cur)
                    )
                })
                .collect();
            let _ = writeln!(
                text,
                "  {} {}: {}",
                s.run_date,
                one_line(cur),
                cells.join("; ")
            );
        }
    }
    text
}

/// The checks that could not run, one indented line per check and reason; nothing when all
/// ran.
fn text_not_checked(summary: &Summary) -> String {
    if summary.not_checked.is_empty() {
        return String::new();
    }
    let total = crate::domain::not_checked::total(&summary.not_checked);
    let mut text = format!(
        "\nNot checked ({}; the run went on without them):\n",
        plural(total, "item", "items")
    );
    for g in crate::domain::not_checked::group(&summary.not_checked) {
        let _ = writeln!(
            text,
            "  {} {}: {} ({})",
            one_line(g.check),
            g.count,
            one_line(g.reason),
            one_line(&subjects_text(&g.subjects))
        );
    }
    text
}

/// The per-class table as indented lines, then a total line per currency.
fn text_table(summary: &Summary) -> String {
    if summary.by_class.is_empty() {
        return "No discrepancies.\n".to_owned();
    }
    let mut text =
        String::from("Discrepancies per class and currency (count, sum of |difference|):\n");
    for line in class_lines(summary) {
        let _ = writeln!(
            text,
            "  {} {}: {}, {}",
            one_line(line.class),
            one_line(line.currency),
            line.total.count,
            amount_display(line.total.amount, line.currency)
        );
    }
    for (cur, total) in currency_totals(summary) {
        let _ = writeln!(
            text,
            "  total {}: {}",
            one_line(cur),
            amount_display(total.amount, cur)
        );
    }
    text
}

/// The sections at the top of the HTML mail: the counts, the new findings, the age of the
/// still-open ones, what was resolved, and what is accepted or snoozed (listed, not counted).
fn loop_html(s: &LoopSummary) -> String {
    let mut h = String::from("<h2>Since the last run</h2>\n");
    h.push_str(&loop_counts_table(s));
    let _ = writeln!(h, "<h2>New since the last run ({})</h2>", s.new.len());
    h.push_str(&short_item_table(&s.new, MAIL_ROWS));
    let _ = writeln!(h, "<h2>Still open ({})</h2>", s.still_open.len());
    h.push_str(&age_bucket_table(s));
    let _ = writeln!(
        h,
        "<h2>Resolved since the last run ({})</h2>",
        s.resolved.len()
    );
    for r in s.resolved.iter().take(MAIL_ROWS) {
        let _ = writeln!(
            h,
            "<p>{} {} {} ({})</p>",
            crate::report::fragments::esc_cell(&r.class),
            crate::report::fragments::esc_cell(&amount_display(r.difference, &r.currency)),
            crate::report::fragments::esc_cell(&r.currency),
            crate::report::fragments::esc_cell(&r.why),
        );
    }
    let _ = writeln!(
        h,
        "<h2>Accepted or snoozed ({}, not counted above)</h2>",
        s.held.len()
    );
    h.push_str(&short_item_table(&s.held, MAIL_ROWS));
    h
}

/// One finding as a plain-text line.
fn text_item(r: &ItemRow) -> String {
    let mut line = format!(
        "  {} {} {}",
        one_line(&r.class),
        r.difference
            .map(|d| amount_display(d, &r.currency))
            .unwrap_or_default(),
        one_line(&r.currency)
    );
    if let Some(t) = r.transaction_id {
        let _ = write!(line, " transaction {t}");
    }
    if let Some(o) = &r.order_id {
        let _ = write!(line, " order {}", one_line(o));
    }
    if !r.status_note.is_empty() {
        let _ = write!(line, " ({})", one_line(&r.status_note));
    }
    line.push('\n');
    line
}

/// The same sections as [`loop_html`], as text.
fn loop_text(s: &LoopSummary) -> String {
    let mut t = String::new();
    for (k, v) in loop_counts(s) {
        let _ = writeln!(t, "{k}: {}", one_line(&v));
    }
    let _ = writeln!(t, "\nNew since the last run ({}):", s.new.len());
    for r in s.new.iter().take(MAIL_ROWS) {
        t.push_str(&text_item(r));
    }
    let _ = writeln!(t, "\nStill open ({}) by age:", s.still_open.len());
    for (bucket, count, amounts) in s.age_buckets() {
        let _ = writeln!(
            t,
            "  {}: {count}, {}",
            bucket.label(),
            amounts_text(&amounts)
        );
    }
    let _ = writeln!(t, "\nResolved since the last run ({}):", s.resolved.len());
    for r in s.resolved.iter().take(MAIL_ROWS) {
        let _ = writeln!(
            t,
            "  {} {} {} ({})",
            one_line(&r.class),
            amount_display(r.difference, &r.currency),
            one_line(&r.currency),
            one_line(&r.why)
        );
    }
    let _ = writeln!(
        t,
        "\nAccepted or snoozed ({}, not counted above):",
        s.held.len()
    );
    for r in s.held.iter().take(MAIL_ROWS) {
        t.push_str(&text_item(r));
    }
    t.push('\n');
    t
}
