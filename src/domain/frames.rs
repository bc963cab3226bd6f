//! The fixed, documented schemas of the DataFrames that flow from loading to reconciliation.
//!
//! Money is `Decimal(38, 6)`: exact, wide enough for any amount, and 6 decimals cover every
//! ISO 4217 exponent (at most 3) plus the sub-minor precision fees sometimes carry. Rates are
//! `Decimal(38, 10)` (Xsolla's `fx_rate` has 10 decimals). Nothing here is ever a float.
//!
//! Every frame has a `source` column (`file#row` or `file:line`) so each discrepancy can name
//! the rows it came from.

use super::codes::code;
use super::sources::packed;
use polars::prelude::*;

/// Decimal precision of money and rate columns.
pub const PRECISION: usize = 38;
/// Decimals of every money column.
pub const MONEY_SCALE: usize = 6;
/// Decimals of every rate column.
pub const RATE_SCALE: usize = 10;

/// The money dtype.
pub fn money() -> DataType {
    DataType::Decimal(PRECISION, MONEY_SCALE)
}

/// The rate dtype.
pub fn rate() -> DataType {
    DataType::Decimal(PRECISION, RATE_SCALE)
}

fn schema(cols: &[(&str, DataType)]) -> Schema {
    cols.iter()
        .map(|(n, t)| Field::new((*n).into(), t.clone()))
        .collect()
}

/// The coded columns of [`provider_schema`].
pub const PROVIDER_CODED: &[&str] = &["status", "row_kind", "payment_currency", "payout_currency"];
/// The coded columns of [`ledger_schema`].
pub const LEDGER_CODED: &[&str] = &["currency", "status"];

/// Money columns of [`provider_schema`] besides the two amounts (fees, taxes, penalties), in
/// the order they appear.
pub const PROVIDER_FEE_COLUMNS: &[&str] = &[
    "commission_user",
    "commission_xsolla",
    "commission_ps",
    "commission_agent",
    "vat_deducted",
    "sales_tax",
    "direct_wht",
    "repatriation_costs",
    "chargeback_penalty",
    "refund_penalty",
];

/// Xsolla fee fields carried in [`provider_schema_with`] only when a setting names them
/// (`reconcile.fee_columns`, `conventions.fee_columns`, `conventions.amount_minus`): few
/// ledgers compare them, and every column costs memory on every row (160 MB at 10 million
/// rows). Money, payment currency, after the [`PROVIDER_FEE_COLUMNS`] in this order.
pub const PROVIDER_OPTIONAL_FEE_COLUMNS: &[&str] = &[
    "cpa_network_commission",
    "commission_xsolla_fixed",
    "commission_ps_fixed",
    "commission_agent_fixed",
];

/// Whether a setting may name `column` as an Xsolla money column to sum (fees, taxes,
/// penalties, optional fee fields).
pub fn is_provider_money_column(column: &str) -> bool {
    PROVIDER_FEE_COLUMNS.contains(&column) || PROVIDER_OPTIONAL_FEE_COLUMNS.contains(&column)
}

/// The [`PROVIDER_OPTIONAL_FEE_COLUMNS`] among `named`, in their order: what the loader must
/// carry for settings that name these columns.
pub fn optional_fee_columns<'a>(named: impl IntoIterator<Item = &'a str>) -> Vec<&'static str> {
    let named: Vec<&str> = named.into_iter().collect();
    PROVIDER_OPTIONAL_FEE_COLUMNS
        .iter()
        .copied()
        .filter(|c| named.contains(c))
        .collect()
}

/// [`provider_schema`] and the optional fee columns `extra` (any of
/// [`PROVIDER_OPTIONAL_FEE_COLUMNS`], kept in that order).
pub fn provider_schema_with(extra: &[&str]) -> Schema {
    let mut s = provider_schema();
    for c in PROVIDER_OPTIONAL_FEE_COLUMNS
        .iter()
        .filter(|c| extra.contains(c))
    {
        s.with_column((*c).into(), money());
    }
    s
}

/// Checks a provider frame: exactly [`provider_schema`], then any of
/// [`PROVIDER_OPTIONAL_FEE_COLUMNS`] in their order.
pub fn check_provider_schema(df: &DataFrame) -> PolarsResult<()> {
    let base = provider_schema();
    let got = df.schema();
    let extra: Vec<&str> = got
        .iter_names()
        .skip(base.len())
        .map(|n| n.as_str())
        .collect();
    polars_ensure!(
        provider_schema_with(&extra) == **got,
        SchemaMismatch: "provider: columns {:?} do not match the documented schema {:?} (and optional {:?})",
        got, base, PROVIDER_OPTIONAL_FEE_COLUMNS
    );
    Ok(())
}

/// Provider transactions: one row per registry row, sign kept (a refund is its own negative
/// row, `row_kind = "cancellation"`).
///
/// | column | type | meaning |
/// |---|---|---|
/// | source | packed | `snapshot file#index` or `export.csv:line` |
/// | transaction_id | i64 | Xsolla transaction id |
/// | external_id | str | the game's order id |
/// | project_id | i64 | |
/// | status | code | Xsolla status (`done`, `refunded`, …) of the transaction |
/// | row_kind | code | `payment` (amount ≥ 0) or `cancellation` |
/// | refund_reason | str | |
/// | created_at | datetime(ms) | when the user paid |
/// | transfer_date | date | the date the row is booked on (window filter) |
/// | transfer_id | i64 | payout id |
/// | report_id | i64 | financial report id |
/// | user_id | str | |
/// | dry_run | bool | test transaction |
/// | payment_amount, payment_currency | money, code | what the user paid |
/// | payout_amount, payout_currency | money, code | what the merchant gets |
/// | fx_rate | rate | payment → payout |
/// | commission_user … refund_penalty | money | see [`PROVIDER_FEE_COLUMNS`], payment currency |
///
/// `code` is text held as a code ([`crate::domain::codes`]), `packed` text held as a number
/// ([`crate::domain::sources`]): the rules read both as text.
pub fn provider_schema() -> Schema {
    let mut cols = vec![
        ("source", packed()),
        ("transaction_id", DataType::Int64),
        ("external_id", DataType::String),
        ("project_id", DataType::Int64),
        ("status", code()),
        ("row_kind", code()),
        ("refund_reason", DataType::String),
        (
            "created_at",
            DataType::Datetime(TimeUnit::Milliseconds, None),
        ),
        ("transfer_date", DataType::Date),
        ("transfer_id", DataType::Int64),
        ("report_id", DataType::Int64),
        ("user_id", DataType::String),
        ("dry_run", DataType::Boolean),
        ("payment_amount", money()),
        ("payment_currency", code()),
        ("payout_amount", money()),
        ("payout_currency", code()),
        ("fx_rate", rate()),
    ];
    cols.extend(PROVIDER_FEE_COLUMNS.iter().map(|c| (*c, money())));
    schema(&cols)
}

/// Payouts (`reports/transfers`), one row per distinct payout id.
///
/// `amount` is null when the API sends none (it is [I] that it does).
pub fn payouts_schema() -> Schema {
    schema(&[
        ("source", DataType::String),
        ("payout_id", DataType::Int64),
        ("payout_date", DataType::Date),
        ("currency", DataType::String),
        ("amount", money()),
        ("canceled", DataType::Boolean),
    ])
}

/// Payouts breakdown by currency, one row per (request window, currency).
pub fn breakdown_schema() -> Schema {
    schema(&[
        ("source", DataType::String),
        ("window_from", DataType::Date),
        ("window_to", DataType::Date),
        ("currency", DataType::String),
        ("payments_amount", money()),
        ("sum_payout", money()),
    ])
}

/// Ledger entries, one row per ledger line read and accepted.
///
/// | column | type | meaning |
/// |---|---|---|
/// | source | packed | `file:line` (or `file:sheet:row`) |
/// | transaction_id | i64 | Xsolla transaction id, when the ledger has it |
/// | order_id | str | the merchant's order id (Xsolla `external_id`) |
/// | amount | money | gross amount, sign kept (refunds negative) |
/// | currency | code | ISO 4217, upper case |
/// | status | code | normalised: `paid`, `refunded`, `partially_refunded`, `chargeback`, `canceled`, `pending`, `other` |
/// | booked_date | date | booking date in the configured zone |
/// | fee | money | optional |
/// | net | money | optional |
/// | payout_ref | str | optional payout reference |
/// | note | str | optional free text |
/// | user_id | str | optional: the paying user (fuzzy rule only) |
///
/// `code` is text held as a code ([`crate::domain::codes`]), `packed` text held as a number
/// ([`crate::domain::sources`]): the rules read both as text.
pub fn ledger_schema() -> Schema {
    schema(&[
        ("source", packed()),
        ("transaction_id", DataType::Int64),
        ("order_id", DataType::String),
        ("amount", money()),
        ("currency", code()),
        ("status", code()),
        ("booked_date", DataType::Date),
        ("fee", money()),
        ("net", money()),
        ("payout_ref", DataType::String),
        ("note", DataType::String),
        ("user_id", DataType::String),
    ])
}

/// Optional ledger columns, present only when the ledger maps them (a ledger convention:
/// `line_kind` from `columns.line_type`, `project_id`, `is_test` from `columns.test`, `rate`),
/// after the [`ledger_schema`] columns and in this order.
pub fn ledger_extra_columns() -> [(&'static str, DataType); 4] {
    [
        ("line_kind", DataType::String),
        ("project_id", DataType::Int64),
        ("is_test", DataType::Boolean),
        ("rate", money()),
    ]
}

/// `parts` stacked one under the other, in order; None when there are none.
pub fn stacked(parts: impl IntoIterator<Item = DataFrame>) -> PolarsResult<Option<DataFrame>> {
    let mut parts = parts.into_iter();
    let Some(mut out) = parts.next() else {
        return Ok(None);
    };
    for p in parts {
        out.vstack_mut_owned(p)?;
    }
    Ok(Some(out))
}

/// Checks a ledger frame: exactly [`ledger_schema`], then any of [`ledger_extra_columns`] in
/// their order.
pub fn check_ledger_schema(df: &DataFrame) -> PolarsResult<()> {
    let base = ledger_schema();
    let got = df.schema();
    let mut extra = ledger_extra_columns().into_iter();
    let fits = got.len() >= base.len()
        && got.iter().zip(base.iter()).all(|(a, b)| a == b)
        && got
            .iter()
            .skip(base.len())
            .all(|(n, t)| extra.any(|(en, et)| en == n.as_str() && &et == t));
    polars_ensure!(
        fits,
        SchemaMismatch: "ledger: columns {:?} do not match the documented schema {:?} (and optional {:?})",
        got, base, ledger_extra_columns()
    );
    Ok(())
}

/// Normalised ledger statuses.
pub const LEDGER_STATUSES: &[&str] = &[
    "paid",
    "refunded",
    "partially_refunded",
    "chargeback",
    "canceled",
    "pending",
    "other",
];

/// Discrepancies: one row per finding.
///
/// | column | type | meaning |
/// |---|---|---|
/// | key | str | stable id of the finding (same finding in two runs → same key) |
/// | class | str | `missing_in_ledger`, `amount_mismatch`, … |
/// | rule | str | the rule that fired (the SQL file's name) |
/// | probable | bool | found by the fuzzy rule: to be confirmed by a person |
/// | currency | str | |
/// | expected | money | Xsolla's value |
/// | actual | money | the ledger's value |
/// | difference | money | actual − expected |
/// | transaction_id | i64 | |
/// | order_id | str | |
/// | provider_date | date | |
/// | ledger_date | date | |
/// | provider_rows | str | `source`s of the provider rows, `;`-separated |
/// | ledger_rows | str | `source`s of the ledger rows, `;`-separated |
/// | detail | str | one sentence for a person |
pub fn discrepancy_schema() -> Schema {
    schema(&[
        ("key", DataType::String),
        ("class", DataType::String),
        ("rule", DataType::String),
        ("probable", DataType::Boolean),
        ("currency", DataType::String),
        ("expected", money()),
        ("actual", money()),
        ("difference", money()),
        ("transaction_id", DataType::Int64),
        ("order_id", DataType::String),
        ("provider_date", DataType::Date),
        ("ledger_date", DataType::Date),
        ("provider_rows", DataType::String),
        ("ledger_rows", DataType::String),
        ("detail", DataType::String),
    ])
}

/// An empty frame of a schema (for windows with no data).
pub fn empty(schema: &Schema) -> DataFrame {
    DataFrame::empty_with_schema(schema)
}

/// Checks that `df` has exactly `schema`'s columns and types, in order.
pub fn check_schema(df: &DataFrame, schema: &Schema, what: &str) -> PolarsResult<()> {
    let got = df.schema();
    polars_ensure!(
        got.as_ref() == schema,
        SchemaMismatch: "{what}: columns {:?} do not match the documented schema {:?}",
        got, schema
    );
    Ok(())
}

/// A Decimal column from exact values, at `scale` decimals.
///
/// Values with more decimals than `scale` are an error (never rounded silently).
pub fn decimal_column(
    name: &str,
    values: &[Option<rust_decimal::Decimal>],
    scale: usize,
) -> PolarsResult<Column> {
    let mantissas: Vec<Option<i128>> = values
        .iter()
        .map(|v| {
            v.map(|d| {
                let mut x = d;
                x.rescale(scale as u32);
                polars_ensure!(
                    x == d,
                    ComputeError: "{name}: value {d} has more than {scale} decimals"
                );
                Ok(x.mantissa())
            })
            .transpose()
        })
        .collect::<PolarsResult<_>>()?;
    let ca = Int128Chunked::from_iter_options(name.into(), mantissas.into_iter());
    Ok(ca
        .into_decimal(PRECISION, scale)?
        .into_series()
        .into_column())
}

/// Reads a Decimal cell back as `rust_decimal::Decimal` (for summaries and tests).
pub fn decimal_at(col: &Column, i: usize) -> PolarsResult<Option<rust_decimal::Decimal>> {
    let ca = col.decimal()?;
    let scale = ca.scale() as u32;
    Ok(ca
        .physical()
        .get(i)
        .map(|m| rust_decimal::Decimal::from_i128_with_scale(m, scale)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_have_a_source_column_and_no_floats() {
        for s in [
            provider_schema(),
            payouts_schema(),
            breakdown_schema(),
            ledger_schema(),
        ] {
            assert_eq!(s.get_at_index(0).unwrap().0.as_str(), "source");
            assert!(s.iter_values().all(|t| !t.is_float()));
        }
        assert!(discrepancy_schema().iter_values().all(|t| !t.is_float()));
        check_schema(&empty(&ledger_schema()), &ledger_schema(), "ledger").unwrap();
    }
}
