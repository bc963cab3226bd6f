//! The discrepancies frame read once into plain Rust rows, so every writer sees the same values.

use crate::domain::frames::{decimal_at, discrepancy_schema};
use chrono::NaiveDate;
use polars::prelude::*;
use rust_decimal::Decimal;

/// One discrepancy row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub key: String,
    pub class: String,
    pub rule: String,
    pub probable: Option<bool>,
    pub currency: String,
    pub expected: Option<Decimal>,
    pub actual: Option<Decimal>,
    pub difference: Option<Decimal>,
    pub transaction_id: Option<i64>,
    pub order_id: Option<String>,
    pub provider_date: Option<NaiveDate>,
    pub ledger_date: Option<NaiveDate>,
    pub first_seen: Option<NaiveDate>,
    pub age_days: Option<i64>,
    pub provider_rows: Option<String>,
    pub ledger_rows: Option<String>,
    pub detail: Option<String>,
}

impl Finding {
    /// The day the chart books it on: Xsolla's date, else the ledger's.
    pub fn day(&self) -> Option<NaiveDate> {
        self.provider_date.or(self.ledger_date)
    }
}

/// The frame's expected schema: the reconciliation's plus the state store's two columns.
pub(crate) fn schema() -> Schema {
    let mut s = discrepancy_schema();
    s.with_column("first_seen".into(), DataType::Date);
    s.with_column("age_days".into(), DataType::Int64);
    s
}

fn date(days: Option<i32>) -> Option<NaiveDate> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    epoch.checked_add_signed(chrono::Duration::days(i64::from(days?)))
}

/// Reads every row; fails when the frame does not have exactly [`schema`].
pub(crate) fn read(df: &DataFrame) -> PolarsResult<Vec<Finding>> {
    crate::domain::frames::check_schema(df, &schema(), "discrepancies")?;
    let s = |n: &str| -> PolarsResult<StringChunked> { Ok(df.column(n)?.str()?.clone()) };
    let d =
        |n: &str| -> PolarsResult<Int32Chunked> { Ok(df.column(n)?.date()?.physical().clone()) };
    let (key, class, rule, currency) = (s("key")?, s("class")?, s("rule")?, s("currency")?);
    let (order_id, prows, lrows, detail) = (
        s("order_id")?,
        s("provider_rows")?,
        s("ledger_rows")?,
        s("detail")?,
    );
    let probable = df.column("probable")?.bool()?.clone();
    let txn = df.column("transaction_id")?.i64()?.clone();
    let age = df.column("age_days")?.i64()?.clone();
    let (pdate, ldate, first) = (d("provider_date")?, d("ledger_date")?, d("first_seen")?);
    let (expected, actual, difference) = (
        df.column("expected")?,
        df.column("actual")?,
        df.column("difference")?,
    );
    let owned = |v: Option<&str>| v.map(str::to_owned);
    (0..df.height())
        .map(|i| {
            Ok(Finding {
                key: key.get(i).unwrap_or_default().to_owned(),
                class: class.get(i).unwrap_or_default().to_owned(),
                rule: rule.get(i).unwrap_or_default().to_owned(),
                probable: probable.get(i),
                currency: currency.get(i).unwrap_or_default().to_owned(),
                expected: decimal_at(expected, i)?,
                actual: decimal_at(actual, i)?,
                difference: decimal_at(difference, i)?,
                transaction_id: txn.get(i),
                order_id: owned(order_id.get(i)),
                provider_date: date(pdate.get(i)),
                ledger_date: date(ldate.get(i)),
                first_seen: date(first.get(i)),
                age_days: age.get(i),
                provider_rows: owned(prows.get(i)),
                ledger_rows: owned(lrows.get(i)),
                detail: owned(detail.get(i)),
            })
        })
        .collect()
}
