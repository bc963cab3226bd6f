//! Response bodies → records, for JSON and CSV alike.
//!
//! Errors say where: the JSON line and column, or the CSV line, plus the column name and the
//! offending value (the caller adds the request URL).

use super::record::{json_extras, json_path, json_scalar_text, known_paths, CellError, Record};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;

/// Why a body could not be turned into rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body is empty (a 200 with nothing in it).
    #[error("the response body is empty")]
    Empty,
    /// Not valid JSON (truncated, HTML error page…).
    #[error("invalid JSON at line {line}, column {column}: {detail}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's words.
        detail: String,
    },
    /// Valid JSON, but not the array (or object) of records expected.
    #[error("expected a JSON array of objects, found {found}")]
    Shape {
        /// What was found instead.
        found: String,
    },
    /// A JSON element's field is invalid or missing.
    #[error("row {index} (0-based element of the JSON array): {source}")]
    JsonRow {
        /// Index in the array.
        index: usize,
        /// The cell problem.
        #[source]
        source: CellError,
    },
    /// The CSV header lacks required columns.
    #[error("CSV header is missing required column(s) {missing:?}; header was {}", crate::domain::text::header_summary(&crate::domain::text::header_sample(header), header.len()))]
    CsvMissingColumns {
        /// Missing column names.
        missing: Vec<String>,
        /// The header as read.
        header: Vec<String>,
    },
    /// The same header appears twice, so mapping by name would be ambiguous.
    #[error("CSV header has column {column:?} twice")]
    CsvDuplicateColumn {
        /// The repeated name.
        column: String,
    },
    /// Malformed CSV (unterminated quote, wrong field count, bad UTF-8).
    #[error("CSV line {line}: {detail}")]
    Csv {
        /// 1-based line.
        line: u64,
        /// What is wrong.
        detail: String,
    },
    /// A CSV cell is invalid or missing.
    #[error("CSV line {line}: {source}")]
    CsvRow {
        /// 1-based line of the record.
        line: u64,
        /// The cell problem.
        #[source]
        source: CellError,
    },
}

/// Parses a JSON body: an array of objects (or one object, as details may return).
///
/// Straight into the typed rows (`typed_json.rs`); a body that reader is not sure of, every
/// bad body included, is read by [`parse_json_rows_reference`], which decides the rows and
/// words the error.
pub fn parse_json_rows<R: Record>(body: &[u8], required: &[&str]) -> Result<Vec<R>, DecodeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty);
    }
    match super::typed_json::decode_rows(body, required) {
        Some(rows) => Ok(rows),
        None => parse_json_rows_reference(body, required),
    }
}

/// The reference reading of a JSON body, through a `serde_json::Value`: slower, and the
/// definition of what [`parse_json_rows`] returns.
pub fn parse_json_rows_reference<R: Record>(
    body: &[u8],
    required: &[&str],
) -> Result<Vec<R>, DecodeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty);
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| DecodeError::Json {
        line: e.line(),
        column: e.column(),
        detail: e.to_string(),
    })?;
    let items = match v {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        other => {
            return Err(DecodeError::Shape {
                found: json_kind(&other).to_owned(),
            })
        }
    };
    let known = known_paths(R::COLUMNS);
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            if !item.is_object() {
                return Err(DecodeError::Shape {
                    found: format!("{} at index {index}", json_kind(item)),
                });
            }
            record_from_json(item, required, &known)
                .map_err(|source| DecodeError::JsonRow { index, source })
        })
        .collect()
}

/// Builds one record from one JSON object, keeping unknown leaves in `extra`.
pub fn json_record<R: Record>(item: &Value, required: &[&str]) -> Result<R, CellError> {
    record_from_json(item, required, &known_paths(R::COLUMNS))
}

fn record_from_json<R: Record>(
    item: &Value,
    required: &[&str],
    known: &HashSet<&'static str>,
) -> Result<R, CellError> {
    let mut rec = R::from_lookup(
        |_, col| json_scalar_text(json_path(item, col.json)),
        required,
    )?;
    *rec.extra_mut() = json_extras(item, known);
    Ok(rec)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses a CSV body (RFC 4180, comma, optional UTF-8 BOM), mapping columns by header name.
///
/// Header names are compared trimmed and case-insensitively; columns not in the record's
/// table are kept in `extra` under their header; a missing required column is an error that
/// names it. Line numbers in errors are 1-based file lines.
pub fn parse_csv_rows<R: Record>(body: &[u8], required: &[&str]) -> Result<Vec<R>, DecodeError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty);
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(body);
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| csv_error(body, &e))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let lower: Vec<String> = header.iter().map(|h| h.to_lowercase()).collect();
    // A set, not `lower[..i].contains`: quadratic on a header of many columns.
    let mut seen = HashSet::with_capacity(lower.len());
    for (i, h) in lower.iter().enumerate() {
        if !seen.insert(h.as_str()) {
            return Err(DecodeError::CsvDuplicateColumn {
                column: crate::domain::text::header_sample(std::slice::from_ref(&header[i]))
                    .pop()
                    .unwrap_or_default(),
            });
        }
    }
    let position: std::collections::HashMap<&str, usize> = lower
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    // Column index per table entry (None: the export does not have that column).
    let index: Vec<Option<usize>> = R::COLUMNS
        .iter()
        .map(|c| position.get(c.csv.to_lowercase().as_str()).copied())
        .collect();
    let missing: Vec<String> = R::COLUMNS
        .iter()
        .zip(&index)
        .filter(|(c, i)| i.is_none() && required.contains(&c.name))
        .map(|(c, _)| c.label().to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(DecodeError::CsvMissingColumns { missing, header });
    }
    let mut known = vec![false; header.len()];
    for i in index.iter().flatten() {
        known[*i] = true;
    }

    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(body, &e)),
        }
        let mut rec = R::from_lookup(
            |pos, _| {
                let text = record.get(index[pos]?)?;
                (!text.trim().is_empty()).then_some(Cow::Borrowed(text))
            },
            required,
        )
        .map_err(|source| DecodeError::CsvRow {
            line: line_at(body, record.position().map_or(0, |p| p.byte())),
            source,
        })?;
        let extra = rec.extra_mut();
        for (i, value) in record.iter().enumerate() {
            if !known[i] && !value.is_empty() {
                extra.insert(header[i].clone(), value.to_owned());
            }
        }
        rows.push(rec);
    }
    Ok(rows)
}

/// 1-based line of a record starting at a byte offset. The csv crate's own line counter (and
/// offset) lag by one after CRLF line ends, which RFC 4180 exports use, so the line is counted
/// here from the offset, after skipping the line-end bytes it may point at.
fn line_at(body: &[u8], byte: u64) -> u64 {
    let mut end = (byte as usize).min(body.len());
    while end < body.len() && matches!(body[end], b'\r' | b'\n') {
        end += 1;
    }
    // A lone CR (old Mac line ends) ends a line as the csv crate sees it; a CRLF once.
    let ends = body[..end]
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\r' || (b == b'\n' && (i == 0 || body[i - 1] != b'\r')))
        .count();
    1 + ends as u64
}

fn csv_error(body: &[u8], e: &csv::Error) -> DecodeError {
    let line = e.position().map_or(0, |p| line_at(body, p.byte()));
    DecodeError::Csv {
        line,
        detail: match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!(
                "has {len} fields where the header has {expected_len} (truncated or mis-quoted line)"
            ),
            _ => e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xsolla::model::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    /// docs/xsolla-api.md's registry sample (§1.6), completed with a `transaction` and `user`.
    const REGISTRY_SAMPLE: &str = r#"[{
      "payment_details": {
        "chargebackPenalty": { "amount": 0 },
        "commission_agent": { "amount": 0, "percent": 0 },
        "commission_agent_fixed": 0,
        "commission_ps": { "amount": 0, "fixed_amount": 0, "percent": 0 },
        "commission_ps_from_vat": { "amount": 0 },
        "commission_user": { "amount": 0.01, "percent": 33.33 },
        "commission_xsolla": { "amount": 0, "fixed_amount": 0, "percent": 5 },
        "cpa_network_commission": { "amount": 0, "percent": 0 },
        "direct_wht": { "amount": 0, "percent": 0 },
        "payment": { "amount": 0.03, "amount_from_ps": 0, "currency": "USD" },
        "payout": { "amount": 0.02, "amount_from_ps": 0, "currency": "RUB", "fx_rate": 64.1386407767, "percent": 100 },
        "refundPenalty": { "amount": 0 },
        "repatriation_costs": { "amount": 0, "percent": 0 },
        "sales_tax": { "amount": 0, "percent": 0 },
        "vat": { "amount": 0, "percent": 0, "user_amount": 0, "user_percent": 0 }
      },
      "purchase": {
        "friend": { "email": null, "user_id": null },
        "items_amount": 1,
        "pin_codes": { "amount": null, "content": null, "currency": null },
        "purchase_amount": 0.02,
        "simple_checkout": { "amount": null, "currency": null },
        "subscription": { "name": null, "plan_id": null, "subscription_id": null },
        "virtual_currency": { "amount": 0.02, "currency": "USD" },
        "virtual_currency_amount": 1,
        "virtual_items": { "amount": null, "content": null, "currency": null }
      },
      "transaction": { "custom_parameters": null, "direct_account": 0, "dry_run": 0,
        "id": 123456789, "status": "done", "transfer_date": "2023-02-08 10:00:00",
        "some_new_field": "kept" },
      "user": { "id": 42, "country": "US" }
    }]"#;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn registry_sample_parses_exactly() {
        let rows: Vec<TransactionRow> =
            parse_json_rows(REGISTRY_SAMPLE.as_bytes(), REGISTRY_REQUIRED).unwrap();
        let r = &rows[0];
        assert_eq!(r.transaction_id, Some(123456789));
        assert_eq!(r.fx_rate.unwrap().to_string(), "64.1386407767");
        assert_eq!(r.payment_amount, Some(d("0.03")));
        assert_eq!(r.commission_user, Some(d("0.01")));
        assert_eq!(r.payout_currency.as_deref(), Some("RUB"));
        // A numeric user id becomes text (§5.2: it is a string on some pages).
        assert_eq!(r.user_id.as_deref(), Some("42"));
        // Unknown fields are kept, known ones are not duplicated, nulls are skipped.
        assert_eq!(
            r.extra
                .get("transaction.some_new_field")
                .map(String::as_str),
            Some("kept")
        );
        assert_eq!(
            r.extra.get("purchase.purchase_amount").map(String::as_str),
            Some("0.02")
        );
        assert!(!r.extra.contains_key("payment_details.payment.amount"));
        assert!(!r.extra.contains_key("purchase.friend.email"));
    }

    #[test]
    fn sums_are_exact() {
        let body = r#"[
          {"transaction":{"id":1,"status":"done","transfer_date":"2024-01-01"},
           "payment_details":{"payment":{"amount":0.1,"currency":"USD"},"payout":{"amount":0.1,"currency":"USD"}}},
          {"transaction":{"id":2,"status":"done","transfer_date":"2024-01-01"},
           "payment_details":{"payment":{"amount":0.2,"currency":"USD"},"payout":{"amount":0.2,"currency":"USD"}}}
        ]"#;
        let rows: Vec<TransactionRow> =
            parse_json_rows(body.as_bytes(), REGISTRY_REQUIRED).unwrap();
        let sum: Decimal = rows.iter().map(|r| r.payment_amount.unwrap()).sum();
        assert_eq!(sum, d("0.3"));
        assert_eq!(sum.to_string(), "0.3");
    }

    #[test]
    fn json_errors_name_the_place() {
        let e =
            parse_json_rows::<TransactionRow>(b"[{\"transaction\": {\"id\": 1", &[]).unwrap_err();
        assert!(matches!(e, DecodeError::Json { line: 1, .. }), "{e}");
        let e = parse_json_rows::<TransactionRow>(b"", &[]).unwrap_err();
        assert_eq!(e, DecodeError::Empty);
        let body = br#"[{"transaction":{"id":1,"status":"done","transfer_date":"2024-01-01"},
           "payment_details":{"payment":{"amount":"ten","currency":"USD"},"payout":{"amount":1,"currency":"USD"}}}]"#;
        let e = parse_json_rows::<TransactionRow>(body, REGISTRY_REQUIRED).unwrap_err();
        assert_eq!(
            e.to_string(),
            "row 0 (0-based element of the JSON array): column \"Payment amount\": value \"ten\" is not a decimal number"
        );
        let body = br#"[{"transaction":{"id":1,"status":"done"}}]"#;
        let e = parse_json_rows::<TransactionRow>(body, REGISTRY_REQUIRED).unwrap_err();
        assert!(
            e.to_string()
                .contains("\"Transfer date\": required value is missing"),
            "{e}"
        );
    }

    #[test]
    fn csv_maps_by_header_name_and_keeps_extras() {
        let body = "\u{feff}\"Payout currency\",\"Transaction ID\",\"Surprise\",\"Status\",\"Transfer date\",\"Payment amount\",\"Payment currency\",\"Payout amount\",\"Payment system fee, fixed\"\r\n\
                    \"USD\",\"7\",\"x\",\"done\",\"22.09.2022 14:05\",\"1,5\",\"JPY\",\"0.01\",\"\"\r\n";
        // "1,5" is not a valid amount: the error names line and column.
        let e = parse_csv_rows::<TransactionRow>(body.as_bytes(), REGISTRY_REQUIRED).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CSV line 2: column \"Payment amount\": value \"1,5\" is not a decimal number"
        );
        let body = body.replace("\"1,5\"", "\"150\"");
        let rows: Vec<TransactionRow> = parse_csv_rows(body.as_bytes(), REGISTRY_REQUIRED).unwrap();
        assert_eq!(rows[0].transaction_id, Some(7));
        assert_eq!(rows[0].payment_amount, Some(d("150")));
        assert_eq!(rows[0].commission_ps_fixed, None);
        assert_eq!(
            rows[0].transfer_date.unwrap().to_string(),
            "2022-09-22 14:05:00"
        );
        assert_eq!(rows[0].extra.get("Surprise").map(String::as_str), Some("x"));
    }

    #[test]
    fn csv_missing_required_column_is_named() {
        let body = "Transaction ID,Status\n1,done\n";
        let e = parse_csv_rows::<TransactionRow>(body.as_bytes(), REGISTRY_REQUIRED).unwrap_err();
        match e {
            DecodeError::CsvMissingColumns { missing, .. } => {
                assert!(missing.contains(&"Transfer date".to_owned()));
                assert!(missing.contains(&"Payout amount".to_owned()));
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn csv_truncated_line_is_an_error() {
        let body = "Transaction ID,Status\n1,done\n2";
        let e = parse_csv_rows::<TransactionRow>(body.as_bytes(), SEARCH_REQUIRED).unwrap_err();
        assert!(matches!(e, DecodeError::Csv { line: 3, .. }), "{e}");
    }

    #[test]
    fn regression_registry_csv_lone_cr_line_numbers() {
        let body = "Transaction ID,Status\r1,done\r2,done\rx,done\r";
        let e = parse_csv_rows::<TransactionRow>(body.as_bytes(), SEARCH_REQUIRED).unwrap_err();
        assert!(matches!(e, DecodeError::CsvRow { line: 4, .. }), "{e}");
        let body = "Transaction ID,Status\r\n1,done\r\nx,done\r\n";
        let e = parse_csv_rows::<TransactionRow>(body.as_bytes(), SEARCH_REQUIRED).unwrap_err();
        assert!(matches!(e, DecodeError::CsvRow { line: 3, .. }), "{e}");
    }

    #[test]
    fn regression_registry_csv_missing_columns_header_is_cut() {
        let header: Vec<String> = (0..5_000)
            .map(|i| format!("{}{i}", "h".repeat(100)))
            .collect();
        let body = format!("{}\n", header.join(","));
        let e = parse_csv_rows::<TransactionRow>(body.as_bytes(), SEARCH_REQUIRED).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("… and 4990 more"), "{msg}");
        assert!(msg.chars().count() < 1_000, "{} chars", msg.chars().count());
    }

    #[test]
    fn regression_registry_csv_duplicate_check_is_linear() {
        let mut header: Vec<String> = (0..200_000).map(|i| format!("c{i}")).collect();
        header.push("C5".to_owned());
        let body = format!("{}\n", header.join(","));
        let started = std::time::Instant::now();
        let e = parse_csv_rows::<TransactionRow>(body.as_bytes(), &[]).unwrap_err();
        assert_eq!(
            e,
            DecodeError::CsvDuplicateColumn {
                column: "C5".into()
            }
        );
        assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    }

    #[test]
    fn regression_registry_amounts_never_round() {
        let row = |amount: &str| {
            format!(
                r#"[{{"transaction":{{"id":1,"status":"done","transfer_date":"2024-01-01"}},
               "payment_details":{{"payment":{{"amount":{amount},"currency":"USD"}},"payout":{{"amount":1,"currency":"USD"}}}}}}]"#
            )
        };
        for bad in [
            "1e999",
            "0.12345678901234567890123456789",
            "1e-29",
            "123456789012345678901234567890",
        ] {
            let e = parse_json_rows::<TransactionRow>(row(bad).as_bytes(), REGISTRY_REQUIRED)
                .unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("\"Payment amount\""), "{msg}");
            // serde_json hands `1e999` over as `1e+999`; the rest verbatim.
            assert!(msg.contains(&bad.replace("e9", "e+9")), "{msg}");
            // And says why: rounding or range, not "not a decimal number".
            assert!(
                msg.contains("would be rounded") || msg.contains("out of range"),
                "{msg}"
            );
        }
        let rows: Vec<TransactionRow> =
            parse_json_rows(row("1.5E-2").as_bytes(), REGISTRY_REQUIRED).unwrap();
        assert_eq!(rows[0].payment_amount, Some(d("0.015")));
    }

    #[test]
    fn reports_sample_parses() {
        let body = r#"[ { "agreement_document_id": "Organization Inc_RUB", "currency": "RUB", "is_direct_payout": false, "is_draft_by_agreement": true, "month": "January", "report_id": 57613, "year": 2019 } ]"#;
        let rows: Vec<ReportEntry> = parse_json_rows(body.as_bytes(), REPORT_REQUIRED).unwrap();
        assert_eq!(rows[0].report_id, Some(57613));
        assert_eq!(rows[0].is_draft_by_agreement, Some(true));
        assert!(rows[0].extra.is_empty());
    }

    #[test]
    fn payout_fixture_parses() {
        let body = r#"[{"payout": {"id": 7, "date": "2010-03-31T00:00:00+00:00"}, "canceled": 0}]"#;
        let rows: Vec<Payout> = parse_json_rows(body.as_bytes(), PAYOUT_REQUIRED).unwrap();
        assert_eq!(rows[0].payout_id, Some(7));
        assert_eq!(rows[0].canceled, Some(false));
        assert_eq!(
            rows[0].payout_date.unwrap().to_string(),
            "2010-03-31 00:00:00"
        );
    }
}
