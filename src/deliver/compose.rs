//! The mail's content: subject, HTML and plain-text bodies with the same numbers, and the
//! chart to attach inline. Sending is the notify stage's job.

use crate::report::html::{esc, figures_table, key_figures, summary_table, STYLE};
use crate::report::{
    amount_display, class_order, per_currency, window_label, ReportError, ReportInput,
    ReportSettings, DISCREPANCIES_CSV, DISCREPANCIES_XLSX,
};
use std::fmt::Write;

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
        let amounts: Vec<String> = per_currency(input.summary)
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
pub fn compose(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
) -> Result<MailContent, ReportError> {
    let problems = settings.problems();
    if !problems.is_empty() {
        return Err(ReportError::Settings(problems));
    }
    let findings = crate::report::checked_findings(input, std::path::Path::new("<mail>"))?;
    let chart = if settings.chart && !findings.is_empty() {
        Some(
            crate::report::chart::draw(input, settings, &findings).map_err(|message| {
                ReportError::Chart {
                    path: "<mail>".into(),
                    message,
                }
            })?,
        )
    } else {
        None
    };
    let subject = subject(input);

    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&subject),
        esc(&subject)
    );
    html.push_str(&figures_table(input));
    if input.summary.by_class.is_empty() {
        html.push_str("<p>No discrepancies.</p>\n");
    } else {
        html.push_str("<h2>Discrepancies per class and currency</h2>\n");
        html.push_str(&summary_table(input.summary));
    }
    if let Some((_, legend)) = &chart {
        let _ = writeln!(
            html,
            "<img alt=\"discrepancy amounts per day and class\" src=\"cid:{CHART_CID}\">"
        );
        html.push_str(&crate::report::html::chart_legend(legend));
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

    let mut text = format!("{subject}\n\n");
    for (k, v) in key_figures(input) {
        let _ = writeln!(text, "{k}: {}", one_line(&v));
    }
    text.push('\n');
    if input.summary.by_class.is_empty() {
        text.push_str("No discrepancies.\n");
    } else {
        text.push_str("Discrepancies per class and currency (count, sum of |difference|):\n");
        for class in class_order(input.summary.by_class.keys().map(String::as_str)) {
            let Some(m) = input.summary.by_class.get(&class) else {
                continue;
            };
            for (cur, t) in m {
                let _ = writeln!(
                    text,
                    "  {} {}: {}, {}",
                    one_line(&class),
                    one_line(cur),
                    t.count,
                    amount_display(t.amount, cur)
                );
            }
        }
        for (cur, amount) in per_currency(input.summary) {
            let _ = writeln!(
                text,
                "  total {}: {}",
                one_line(&cur),
                amount_display(amount, &cur)
            );
        }
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
        "\nThe full list is attached as {DISCREPANCIES_CSV} and {DISCREPANCIES_XLSX}."
    );
    Ok(MailContent {
        subject,
        html,
        text,
        chart_png: chart.map(|(png, _)| png),
    })
}
