//! The mail's content: subject, HTML and plain-text bodies with the same numbers, and the
//! chart to attach inline, built only from `report`'s public surface ([`checked_chart`],
//! [`crate::report::fragments`]). Turning it into a message and sending it is the rest of
//! this module's job.

use crate::reconcile::Summary;
use crate::report::fragments::{
    chart_legend, document_head, figures_table, key_figures, not_checked_section, subjects_text,
    summary_table,
};
use crate::report::{
    amount_display, checked_chart, class_lines, currency_totals, window_label, ChartImage,
    ReportError, ReportInput, ReportSettings, DISCREPANCIES_CSV, DISCREPANCIES_XLSX,
};
use std::fmt::Write;
use std::path::Path;

/// Content-ID of the inline chart (`<img src="cid:chart">`).
pub const CHART_CID: &str = "chart";
/// Currencies named in the subject at most.
pub const SUBJECT_CURRENCIES: usize = 3;

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

/// The subject: `[xsolla-recon] Acme 2026-11-21: 7 discrepancies, 1,234.56 USD unmatched`,
/// or `… : all clear`. Currencies in code order, at most three, then `+ N more`.
pub fn subject(input: &ReportInput<'_>) -> String {
    let head = format!(
        "[xsolla-recon] {} {}",
        one_line(input.merchant),
        window_label(&input.window)
    );
    let n = input.summary.discrepancies;
    let q = input.quarantined.len() as u64;
    let mut parts = Vec::new();
    if n > 0 {
        parts.push(plural(n, "discrepancy", "discrepancies"));
        let amounts: Vec<String> = currency_totals(input.summary)
            .into_iter()
            .filter(|(_, t)| !t.amount.is_zero())
            .map(|(c, t)| format!("{} {}", amount_display(t.amount, c), one_line(c)))
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
            parts.push(format!("{shown} unmatched"));
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
    let subject = subject(input);
    let html = html_body(input, &subject, chart.as_ref());
    let text = text_body(input, &subject);
    Ok(MailContent {
        subject,
        html,
        text,
        chart_png: chart.map(|chart| chart.png),
    })
}

/// The HTML body: the page's key figures and per-class table, the chart inline, where the
/// rest is.
fn html_body(input: &ReportInput<'_>, subject: &str, chart: Option<&ChartImage>) -> String {
    let mut html = document_head(subject);
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
    if !input.quarantined.is_empty() {
        let _ = writeln!(
            html,
            "<p>{} could not be read and set aside (see the Quarantined sheet).</p>",
            plural(input.quarantined.len() as u64, "ledger row", "ledger rows")
        );
    }
    let _ = writeln!(
        html,
        "<p>The full list is attached as {DISCREPANCIES_CSV} and {DISCREPANCIES_XLSX}.</p>\n</body>\n</html>"
    );
    html
}

/// The plain-text alternative: the same figures and table as the HTML body, one per line.
fn text_body(input: &ReportInput<'_>, subject: &str) -> String {
    let mut text = format!("{subject}\n\n");
    for (k, v) in key_figures(input) {
        let _ = writeln!(text, "{k}: {}", one_line(&v));
    }
    text.push('\n');
    text.push_str(&text_table(input.summary));
    text.push_str(&text_not_checked(input.summary));
    if !input.quarantined.is_empty() {
        let _ = writeln!(
            text,
            "\n{} could not be read and set aside.",
            plural(input.quarantined.len() as u64, "ledger row", "ledger rows")
        );
    }
    let _ = writeln!(
        text,
        "\nThe full list is attached as {DISCREPANCIES_CSV} and {DISCREPANCIES_XLSX}."
    );
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
