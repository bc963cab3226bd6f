//! `discrepancies.xlsx`: a `Summary` sheet, one sheet per class with rows (continued on
//! `<class> (2)` past the row limit), then `Quarantined`. Amounts are numeric cells with a
//! currency-aware format, dates real dates, text neutralised by [`safe_text`].

use super::csv_out::{COLUMNS, QUARANTINE_COLUMNS};
use super::{
    by_class, class_lines, currency_totals, safe_text, section_of, sections, status_note,
    status_word, Finding, LoopSummary, ReportInput, ReportSettings, Section,
};
use crate::reconcile::decisions::LoopView;
use crate::reconcile::{ClassTotal, Summary};
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use rust_xlsxwriter::{
    DataValidation, DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError,
};
use std::collections::BTreeMap;

/// Excel's limit on characters in a cell.
const MAX_CELL_CHARS: usize = 32_767;
/// Excel's limit on a sheet name.
const MAX_SHEET_NAME: usize = 31;
/// Largest integer an f64 cell holds exactly (bigger ids are written as text).
const MAX_EXACT_INT: i64 = 1 << 53;

/// The number format of a currency's amounts: `#,##0`, `#,##0.00`, `#,##0.000` …
pub(crate) fn amount_format(currency: &str) -> String {
    let dp = crate::domain::money::exponent(currency) as usize;
    if dp == 0 {
        "#,##0".to_owned()
    } else {
        format!("#,##0.{}", "0".repeat(dp))
    }
}

struct Formats {
    header: Format,
    date: Format,
    integer: Format,
    amounts: BTreeMap<String, Format>,
}

impl Formats {
    fn new() -> Self {
        Formats {
            header: Format::new().set_bold(),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            integer: Format::new().set_num_format("0"),
            amounts: BTreeMap::new(),
        }
    }

    fn amount(&mut self, currency: &str) -> &Format {
        let code = amount_format(currency);
        self.amounts
            .entry(code.clone())
            .or_insert_with(|| Format::new().set_num_format(code))
    }
}

fn excel_date(d: NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    let year = u16::try_from(d.year()).map_err(|_| XlsxError::DateTimeRangeError(d.to_string()))?;
    ExcelDateTime::from_ymd(year, d.month() as u8, d.day() as u8)
}

/// Text for a cell: neutralised, and cut to Excel's limit (the CSV keeps the full text).
fn cell_text(s: &str) -> String {
    let safe = safe_text(s);
    if safe.chars().count() <= MAX_CELL_CHARS {
        return safe.into_owned();
    }
    const NOTE: &str = " … (cut; full text in discrepancies.csv)";
    let keep = MAX_CELL_CHARS - NOTE.chars().count();
    let mut out: String = safe.chars().take(keep).collect();
    out.push_str(NOTE);
    out
}

/// Amounts go to Excel as f64 at this very last step; the CSV and JSON keep the exact text.
/// Through the decimal text: Rust's float parsing is correctly rounded, so the cell holds the
/// f64 nearest to the amount (and shows its shortest form, `12.5`, not `12.499999999`).
fn amount_f64(d: Decimal) -> f64 {
    d.normalize().to_string().parse().unwrap_or(f64::NAN)
}

fn write_opt_text(ws: &mut Worksheet, r: u32, c: u16, v: Option<&str>) -> Result<(), XlsxError> {
    if let Some(s) = v {
        ws.write_string(r, c, cell_text(s))?;
    }
    Ok(())
}

fn write_opt_date(
    ws: &mut Worksheet,
    r: u32,
    c: u16,
    v: Option<NaiveDate>,
    f: &Format,
) -> Result<(), XlsxError> {
    if let Some(d) = v {
        ws.write_datetime_with_format(r, c, excel_date(d)?, f)?;
    }
    Ok(())
}

fn write_int(
    ws: &mut Worksheet,
    r: u32,
    c: u16,
    v: Option<i64>,
    f: &Format,
) -> Result<(), XlsxError> {
    match v {
        Some(n) if n.abs() <= MAX_EXACT_INT => {
            ws.write_number_with_format(r, c, n as f64, f)?;
        }
        Some(n) => {
            ws.write_string(r, c, n.to_string())?;
        }
        None => {}
    }
    Ok(())
}

fn column_width(name: &str) -> f64 {
    match name {
        "detail" | "status_note" | "note" | "why" => 60.0,
        "provider_rows" | "ledger_rows" | "key" | "file" | "problem" | "value" => 28.0,
        "class" | "rule" | "order_id" => 22.0,
        "expected" | "actual" | "difference" | "transaction_id" => 15.0,
        "provider_date" | "ledger_date" | "first_seen" | "until" | "resolved_on" => 12.0,
        "status" | "decision" => 11.0,
        _ => 10.0,
    }
}

fn header(ws: &mut Worksheet, cols: &[&str], f: &Format) -> Result<(), XlsxError> {
    for (c, name) in cols.iter().enumerate() {
        let c = c as u16;
        ws.write_string_with_format(0, c, *name, f)?;
        ws.set_column_width(c, column_width(name))?;
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

/// Sheet names for a class: `class`, `class (2)`, … made valid for Excel and unique.
fn sheet_name(class: &str, part: usize, taken: &[String]) -> String {
    let clean: String = class
        .chars()
        .map(|c| match c {
            '*' | '?' | ':' | '[' | ']' | '\\' | '/' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let clean = clean.trim_matches('\'');
    let clean = if clean.is_empty() { "class" } else { clean };
    let mut n = part;
    loop {
        let suffix = if n <= 1 {
            String::new()
        } else {
            format!(" ({n})")
        };
        // Excel counts UTF-16 units; stay within the limit for any text.
        let room = MAX_SHEET_NAME - suffix.len();
        let mut base = String::new();
        for ch in clean.chars() {
            if base.encode_utf16().count() + ch.len_utf16() > room {
                break;
            }
            base.push(ch);
        }
        let name = format!("{}{suffix}", base.trim_end_matches('\''));
        if !taken.iter().any(|t| t.eq_ignore_ascii_case(&name)) {
            return name;
        }
        n += 1;
    }
}

/// The workbook's bytes.
pub(crate) fn workbook(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    findings: &[Finding],
) -> Result<Vec<u8>, String> {
    let mut book = Workbook::new();
    // Pinned so two writes of the same input are byte-identical.
    let created = excel_date(input.as_of).map_err(|e| e.to_string())?;
    book.set_properties(
        &DocProperties::new()
            .set_title(format!("Reconciliation {}", input.merchant))
            .set_creation_datetime(&created),
    );
    let mut fmt = Formats::new();
    let mut taken = [SUMMARY, QUARANTINED, ACCEPTED, RESOLVED]
        .map(str::to_owned)
        .to_vec();
    let loop_ = sections(findings, input.items);

    let summary =
        summary_sheet(input, &loop_, &mut fmt).map_err(|e| format!("sheet Summary: {e}"))?;
    book.push_worksheet(summary);

    let per_sheet = settings.xlsx_max_rows_per_sheet.max(1);
    for (class, rows) in open_by_class(findings, input.items) {
        for (i, chunk) in rows.chunks(per_sheet).enumerate() {
            let name = sheet_name(&class, i + 1, &taken);
            let ws = class_sheet(&name, chunk, input.items, &mut fmt)
                .map_err(|e| format!("sheet {name}: {e}"))?;
            taken.push(name);
            book.push_worksheet(ws);
        }
    }
    let held = held_rows(findings, input.items);
    for (i, chunk) in held.chunks(per_sheet).enumerate() {
        let name = sheet_name(ACCEPTED, i + 1, &taken[4..]);
        let ws = class_sheet(&name, chunk, input.items, &mut fmt)
            .map_err(|e| format!("sheet {name}: {e}"))?;
        taken.push(name);
        book.push_worksheet(ws);
    }
    if !loop_.resolved.is_empty() {
        let ws = resolved_sheet(&loop_, &mut fmt).map_err(|e| format!("sheet {RESOLVED}: {e}"))?;
        book.push_worksheet(ws);
    }
    if !input.quarantined.is_empty() {
        let ws = quarantine_sheet(input, &fmt).map_err(|e| format!("sheet Quarantined: {e}"))?;
        book.push_worksheet(ws);
    }
    book.save_to_buffer().map_err(|e| e.to_string())
}

/// The sheet of findings accepted or snoozed (the class sheets hold the others).
const ACCEPTED: &str = "Accepted";
/// The sheet of items this report resolved.
const RESOLVED: &str = "Resolved";
const SUMMARY: &str = "Summary";
const QUARANTINED: &str = "Quarantined";

/// The open findings (new and still open) by class, in report order.
fn open_by_class<'a>(findings: &'a [Finding], view: &LoopView) -> Vec<(String, Vec<&'a Finding>)> {
    by_class(findings)
        .into_iter()
        .map(|(c, rows)| {
            let open: Vec<&Finding> = rows
                .into_iter()
                .filter(|f| section_of(view, &f.key) != Section::Held)
                .collect();
            (c, open)
        })
        .filter(|(_, rows)| !rows.is_empty())
        .collect()
}

/// The accepted or snoozed findings, in report order.
fn held_rows<'a>(findings: &'a [Finding], view: &LoopView) -> Vec<&'a Finding> {
    by_class(findings)
        .into_iter()
        .flat_map(|(_, rows)| rows)
        .filter(|f| section_of(view, &f.key) == Section::Held)
        .collect()
}

/// The `decision` column offers accept, snooze and reopen (a list, so a typo cannot slip
/// into an import).
fn decision_list(ws: &mut Worksheet, rows: usize) -> Result<(), XlsxError> {
    if rows == 0 {
        return Ok(());
    }
    let col = COLUMNS
        .iter()
        .position(|c| *c == "decision")
        .expect("a decision column") as u16;
    let dv = DataValidation::new()
        .allow_list_strings(&["accept", "snooze", "reopen"])?
        .set_input_message(
            "accept or snooze (with a note; snooze needs a date in until), or reopen",
        )?;
    ws.add_data_validation(1, col, rows as u32, col, &dv)?;
    // `until` takes a date (a snooze's end); text that is not one is refused on entry.
    let until = COLUMNS
        .iter()
        .position(|c| *c == "until")
        .expect("an until column") as u16;
    let first = ExcelDateTime::from_ymd(2000, 1, 1)?;
    let dv = DataValidation::new()
        .allow_date(rust_xlsxwriter::DataValidationRule::GreaterThanOrEqualTo(
            first,
        ))
        .set_input_message("with snooze: the day the item comes back (a date)")?;
    ws.add_data_validation(1, until, rows as u32, until, &dv)?;
    Ok(())
}

/// `Resolved`: what this report resolved, and why.
fn resolved_sheet(loop_: &LoopSummary, fmt: &mut Formats) -> Result<Worksheet, XlsxError> {
    const COLS: &[&str] = &[
        "class",
        "currency",
        "difference",
        "first_seen",
        "resolved_on",
        "why",
        "key",
    ];
    let mut ws = Worksheet::new();
    ws.set_name(RESOLVED)?;
    header(&mut ws, COLS, &fmt.header)?;
    for (i, r) in loop_.resolved.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_string(row, 0, cell_text(&r.class))?;
        ws.write_string(row, 1, cell_text(&r.currency))?;
        let amount = fmt.amount(&r.currency).clone();
        ws.write_number_with_format(row, 2, amount_f64(r.difference), &amount)?;
        write_opt_date(&mut ws, row, 3, Some(r.first_seen), &fmt.date)?;
        write_opt_date(&mut ws, row, 4, Some(r.on), &fmt.date)?;
        ws.write_string(row, 5, cell_text(&r.why))?;
        ws.write_string(row, 6, cell_text(&r.key))?;
    }
    Ok(ws)
}

fn class_sheet(
    name: &str,
    rows: &[&Finding],
    view: &LoopView,
    fmt: &mut Formats,
) -> Result<Worksheet, XlsxError> {
    let mut ws = Worksheet::new();
    ws.set_name(name)?;
    header(&mut ws, COLUMNS, &fmt.header)?;
    for (i, f) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        let cur = f.currency.as_str();
        ws.write_string(r, 0, cell_text(&f.class))?;
        ws.write_string(r, 1, cell_text(&f.rule))?;
        if let Some(p) = f.probable {
            ws.write_boolean(r, 2, p)?;
        }
        ws.write_string(r, 3, cell_text(cur))?;
        let amount = fmt.amount(cur).clone();
        for (c, v) in [(4u16, f.expected), (5, f.actual), (6, f.difference)] {
            if let Some(d) = v {
                ws.write_number_with_format(r, c, amount_f64(d), &amount)?;
            }
        }
        write_int(&mut ws, r, 7, f.transaction_id, &fmt.integer)?;
        write_opt_text(&mut ws, r, 8, f.order_id.as_deref())?;
        write_opt_date(&mut ws, r, 9, f.provider_date, &fmt.date)?;
        write_opt_date(&mut ws, r, 10, f.ledger_date, &fmt.date)?;
        write_opt_date(&mut ws, r, 11, f.first_seen, &fmt.date)?;
        write_int(&mut ws, r, 12, f.age_days, &fmt.integer)?;
        write_opt_text(&mut ws, r, 13, f.provider_rows.as_deref())?;
        write_opt_text(&mut ws, r, 14, f.ledger_rows.as_deref())?;
        write_opt_text(&mut ws, r, 15, f.detail.as_deref())?;
        ws.write_string(r, 16, cell_text(&f.key))?;
        ws.write_string(r, 17, status_word(view, &f.key))?;
        let note = status_note(view, &f.key);
        if !note.is_empty() {
            ws.write_string(r, 18, cell_text(&note))?;
        }
    }
    decision_list(&mut ws, rows.len())?;
    ws.autofilter(0, 0, rows.len() as u32, COLUMNS.len() as u16 - 1)?;
    Ok(ws)
}

fn quarantine_sheet(input: &ReportInput<'_>, fmt: &Formats) -> Result<Worksheet, XlsxError> {
    let mut ws = Worksheet::new();
    ws.set_name("Quarantined")?;
    header(&mut ws, QUARANTINE_COLUMNS, &fmt.header)?;
    for (i, b) in input.quarantined.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, cell_text(&b.file.display().to_string()))?;
        ws.write_number_with_format(r, 1, b.line as f64, &fmt.integer)?;
        ws.write_string(r, 2, cell_text(&b.column))?;
        ws.write_string(r, 3, cell_text(&b.value))?;
        ws.write_string(r, 4, cell_text(&b.problem))?;
    }
    ws.autofilter(
        0,
        0,
        input.quarantined.len() as u32,
        QUARANTINE_COLUMNS.len() as u16 - 1,
    )?;
    Ok(ws)
}

/// Sheets in one workbook at most (a tiny `xlsx_max_rows_per_sheet` must not make millions).
pub const MAX_SHEETS: usize = 1_000;

/// Sheets the workbook will have: Summary, the class sheets, Quarantined.
pub(crate) fn sheet_count(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    findings: &[Finding],
) -> usize {
    let per_sheet = settings.xlsx_max_rows_per_sheet.max(1);
    let classes: usize = open_by_class(findings, input.items)
        .iter()
        .map(|(_, rows)| rows.len().div_ceil(per_sheet))
        .sum();
    let held = held_rows(findings, input.items).len().div_ceil(per_sheet);
    1 + classes
        + held
        + usize::from(!input.items.resolved.is_empty())
        + usize::from(!input.quarantined.is_empty())
}

/// Reads the workbook's bytes back (with calamine, an independent reader) and counts the
/// data rows of the class sheets and of `Quarantined`.
pub(crate) fn count_rows(bytes: &[u8]) -> Result<(usize, usize), String> {
    use calamine::Reader;
    let mut book =
        calamine::Xlsx::new(std::io::Cursor::new(bytes)).map_err(|e| format!("read back: {e}"))?;
    let (mut findings, mut quarantined) = (0, 0);
    for name in book.sheet_names() {
        if name == SUMMARY || name == RESOLVED {
            continue;
        }
        let range = book
            .worksheet_range(&name)
            .map_err(|e| format!("read back sheet {name}: {e}"))?;
        let rows = range.height().saturating_sub(1);
        if name == "Quarantined" {
            quarantined += rows;
        } else {
            findings += rows;
        }
    }
    Ok((findings, quarantined))
}

/// The header row of the per-class table on the Summary sheet (tests look it up).
pub(crate) const SUMMARY_TABLE: &[&str] = &["class", "currency", "count", "amount"];

/// The `Summary` sheet: the run's facts, its counts, then the per-class table.
fn summary_sheet(
    input: &ReportInput<'_>,
    loop_: &LoopSummary,
    fmt: &mut Formats,
) -> Result<Worksheet, XlsxError> {
    let mut ws = Worksheet::new();
    ws.set_name("Summary")?;
    for (c, width) in [(0, 30), (1, 24), (2, 10), (3, 18)] {
        ws.set_column_width(c, width)?;
    }
    let mut lines = Lines {
        ws: &mut ws,
        row: 0,
    };
    run_facts(&mut lines, input, fmt)?;
    for (k, v) in summary_counts(input) {
        lines.count(k, v, fmt)?;
    }
    for (k, v) in loop_counts(loop_) {
        lines.count(&k, v, fmt)?;
    }
    lines.row += 1; // a blank row before the table
    class_table(&mut lines, input.summary, fmt)?;
    not_checked_table(&mut lines, input.summary, fmt)?;
    Ok(ws)
}

/// The Summary sheet written top to bottom, a label in column A and its value in B.
struct Lines<'a> {
    ws: &'a mut Worksheet,
    /// The next row to write.
    row: u32,
}

impl Lines<'_> {
    fn heading(&mut self, title: &str, fmt: &Formats) -> Result<(), XlsxError> {
        self.ws
            .write_string_with_format(self.row, 0, title, &fmt.header)?;
        self.row += 1;
        Ok(())
    }

    fn text(&mut self, label: &str, value: &str) -> Result<(), XlsxError> {
        self.ws.write_string(self.row, 0, label)?;
        self.ws.write_string(self.row, 1, cell_text(value))?;
        self.row += 1;
        Ok(())
    }

    fn date(&mut self, label: &str, value: NaiveDate, fmt: &Formats) -> Result<(), XlsxError> {
        self.ws.write_string(self.row, 0, label)?;
        self.ws
            .write_datetime_with_format(self.row, 1, excel_date(value)?, &fmt.date)?;
        self.row += 1;
        Ok(())
    }

    fn count(&mut self, label: &str, value: u64, fmt: &Formats) -> Result<(), XlsxError> {
        self.ws.write_string(self.row, 0, label)?;
        self.ws
            .write_number_with_format(self.row, 1, value as f64, &fmt.integer)?;
        self.row += 1;
        Ok(())
    }

    /// A row of the per-class table: the class (or a bold `total`), currency, count, amount.
    fn table_row(
        &mut self,
        label: &str,
        total_row: bool,
        currency: &str,
        total: &ClassTotal,
        fmt: &mut Formats,
    ) -> Result<(), XlsxError> {
        let r = self.row;
        if total_row {
            self.ws.write_string_with_format(r, 0, label, &fmt.header)?;
        } else {
            self.ws.write_string(r, 0, cell_text(label))?;
        }
        self.ws.write_string(r, 1, cell_text(currency))?;
        self.ws
            .write_number_with_format(r, 2, total.count as f64, &fmt.integer)?;
        let f = fmt.amount(currency).clone();
        self.ws
            .write_number_with_format(r, 3, amount_f64(total.amount), &f)?;
        self.row += 1;
        Ok(())
    }
}

/// The title, then who, which window, which report.
fn run_facts(
    lines: &mut Lines<'_>,
    input: &ReportInput<'_>,
    fmt: &Formats,
) -> Result<(), XlsxError> {
    lines.heading("xsolla-recon reconciliation report", fmt)?;
    lines.text("merchant", input.merchant)?;
    lines.date("window from", input.window.from, fmt)?;
    lines.date("window to", input.window.to, fmt)?;
    lines.date("as of", input.as_of, fmt)?;
    lines.text("report id", input.report_id)?;
    lines.text("match rate (%)", &input.summary.match_rate_percent)
}

/// The counts the Summary sheet lists, in order: findings, row accounting, open items.
fn summary_counts(input: &ReportInput<'_>) -> Vec<(&'static str, u64)> {
    let s = input.summary;
    let mut counts: Vec<(&str, u64)> = vec![
        ("discrepancies", s.discrepancies),
        ("provider lines", s.provider_lines),
        ("matched lines", s.matched_lines),
        ("ledger rows read", input.ledger.rows_read),
        ("ledger rows loaded", input.ledger.rows_loaded),
        ("ledger rows quarantined", input.ledger.rows_quarantined),
        ("ledger rows matched", s.rows.ledger_matched),
        ("ledger rows reported", s.rows.ledger_reported),
        ("ledger rows out of window", s.rows.ledger_out_of_window),
        ("provider rows", s.rows.provider_rows),
        ("provider rows matched", s.rows.provider_matched),
        ("provider rows reported", s.rows.provider_reported),
        ("provider rows out of scope", s.rows.provider_out_of_scope),
    ];
    // Rows outside the window, read for matching only (listed when there are any).
    for (name, n) in [
        ("ledger rows in margin", s.rows.ledger_in_margin),
        ("provider rows in margin", s.rows.provider_in_margin),
        // Ledger lines the conventions set aside (README, "Ledger conventions").
        ("ledger rows not money yet", s.rows.ledger_not_money),
        ("ledger journal rows", s.rows.ledger_journal_lines),
        (
            "ledger rows of other projects",
            s.rows.ledger_other_projects,
        ),
    ] {
        if n > 0 {
            counts.push((name, n));
        }
    }
    if let Some(p) = input.provider {
        counts.push(("registry rows read", p.registry_rows_read));
        counts.push(("registry rows loaded", p.registry_rows_loaded));
    }
    counts.extend([
        ("open items new", input.open_items.new),
        ("open items still open", input.open_items.still_open),
        ("open items resolved", input.open_items.resolved),
        ("quarantined rows listed", input.quarantined.len() as u64),
    ]);
    counts
}

/// The sections' counts (the mail's, with accepted and snoozed apart).
fn loop_counts(loop_: &LoopSummary) -> Vec<(String, u64)> {
    let mut out = vec![("new since the last run".to_owned(), loop_.new.len() as u64)];
    for (bucket, count, _) in loop_.age_buckets() {
        out.push((format!("still open {}", bucket.label()), count));
    }
    out.extend([
        ("accepted or snoozed".to_owned(), loop_.held.len() as u64),
        (
            "resolved since the last run".to_owned(),
            loop_.resolved.len() as u64,
        ),
    ]);
    out
}

/// The per-class table ([`SUMMARY_TABLE`] columns), then a bold total row per currency.
fn class_table(
    lines: &mut Lines<'_>,
    summary: &Summary,
    fmt: &mut Formats,
) -> Result<(), XlsxError> {
    for (c, h) in SUMMARY_TABLE.iter().enumerate() {
        lines
            .ws
            .write_string_with_format(lines.row, c as u16, *h, &fmt.header)?;
    }
    lines.row += 1;
    for line in class_lines(summary) {
        lines.table_row(line.class, false, line.currency, line.total, fmt)?;
    }
    for (cur, total) in currency_totals(summary) {
        lines.table_row("total", true, cur, &total, fmt)?;
    }
    Ok(())
}

/// The header row of the not-checked table on the Summary sheet (tests look it up).
pub(crate) const NOT_CHECKED_TABLE: &[&str] = &["not checked", "what", "count", "reason"];

/// After a blank row, one row per check that could not run ([`NOT_CHECKED_TABLE`] columns);
/// nothing when every check ran.
fn not_checked_table(
    lines: &mut Lines<'_>,
    summary: &Summary,
    fmt: &Formats,
) -> Result<(), XlsxError> {
    if summary.not_checked.is_empty() {
        return Ok(());
    }
    lines.row += 1;
    for (c, h) in NOT_CHECKED_TABLE.iter().enumerate() {
        lines
            .ws
            .write_string_with_format(lines.row, c as u16, *h, &fmt.header)?;
    }
    lines.row += 1;
    for l in &summary.not_checked {
        let r = lines.row;
        lines.ws.write_string(r, 0, cell_text(&l.check))?;
        lines.ws.write_string(r, 1, cell_text(&l.subject))?;
        lines
            .ws
            .write_number_with_format(r, 2, l.count as f64, &fmt.integer)?;
        lines.ws.write_string(r, 3, cell_text(&l.reason))?;
        lines.row += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_valid_unique_and_short() {
        let taken = vec!["Summary".to_owned()];
        assert_eq!(sheet_name("amount_mismatch", 1, &taken), "amount_mismatch");
        assert_eq!(
            sheet_name("amount_mismatch", 2, &taken),
            "amount_mismatch (2)"
        );
        assert_eq!(sheet_name("summary", 1, &taken), "summary (2)");
        let long = sheet_name(&"x".repeat(40), 12, &taken);
        assert_eq!(long.chars().count(), 31);
        assert!(long.ends_with(" (12)"));
        assert_eq!(sheet_name("'a/b[c]'", 1, &taken), "a_b_c_");
    }

    #[test]
    fn formats_follow_the_exponent() {
        assert_eq!(amount_format("JPY"), "#,##0");
        assert_eq!(amount_format("USD"), "#,##0.00");
        assert_eq!(amount_format("KWD"), "#,##0.000");
    }

    #[test]
    fn long_text_is_cut_to_the_cell_limit() {
        let t = cell_text(&"=".repeat(40_000));
        assert_eq!(t.chars().count(), MAX_CELL_CHARS);
        assert!(t.starts_with("'="));
    }
}
