//! Running the rule files: prepare files in order, each class file as soon as the tables it
//! reads exist, every table dropped after the last file that mentions it; then the classes'
//! results put together in the discrepancy schema.

use super::rules::{Rule, RuleSet, Tables};
use super::{pl, zero, QueryEngine, ReconcileError};
use crate::domain::frames::{self, money};
use polars::prelude::*;

/// The columns a class file outputs; the engine adds `class`, `probable` and `difference`
/// (see [`frames::discrepancy_schema`]).
pub(super) const CLASS_OUTPUT: &[&str] = &[
    "key",
    "rule",
    "currency",
    "expected",
    "actual",
    "transaction_id",
    "order_id",
    "provider_date",
    "ledger_date",
    "provider_rows",
    "ledger_rows",
    "detail",
];

/// Runs every file of `rules`. Returns each class's findings in the discrepancy schema, in
/// class order, and the tables still held (`matched` among them, for the summary).
///
/// Each class file runs as soon as the prepare files it reads have run, so a table only it
/// reads (the identical-row groups, say) is dropped before the big join is built.
pub(super) fn run_rules(
    rules: &RuleSet,
    mut tables: Tables,
    engine: QueryEngine,
) -> Result<(Vec<DataFrame>, Tables), ReconcileError> {
    let mut found: Vec<Option<DataFrame>> = vec![None; rules.classes.len()];
    for i in 0..=rules.prepare.len() {
        run_ready_classes(rules, &rules.prepare[i..], &mut tables, &mut found, engine)?;
        let Some(rule) = rules.prepare.get(i) else {
            break;
        };
        let df = rule.run(&tables, engine)?;
        tables.insert(&rule.table, df);
        drop_done(&mut tables, &rules.prepare[i + 1..], &rules.classes, &found);
        tracing::debug!(held_mib = tables.estimated_mib(), tables = ?tables.sizes(), "tables held");
    }
    // With no prepare file pending every class is ready, so none is left out.
    Ok((found.into_iter().flatten().collect(), tables))
}

/// Runs, in class order, the class files not run yet whose tables no `pending` prepare file is
/// still to make, dropping what no later file reads after each.
fn run_ready_classes(
    rules: &RuleSet,
    pending: &[Rule],
    tables: &mut Tables,
    found: &mut [Option<DataFrame>],
    engine: QueryEngine,
) -> Result<(), ReconcileError> {
    for (c, rule) in rules.classes.iter().enumerate() {
        if found[c].is_some() || !rule.ready(pending) {
            continue;
        }
        let df = rule.run(tables, engine)?;
        found[c] = Some(shape_class(df, rule)?);
        drop_done(tables, pending, &rules.classes, found);
    }
    Ok(())
}

/// Drops the tables that neither a `pending` prepare file nor a class file not yet run (no
/// result in `found`) reads; `matched` stays for the summary.
fn drop_done(tables: &mut Tables, pending: &[Rule], classes: &[Rule], found: &[Option<DataFrame>]) {
    let later: Vec<&Rule> = pending
        .iter()
        .chain(
            classes
                .iter()
                .zip(found)
                .filter(|(_, f)| f.is_none())
                .map(|(r, _)| r),
        )
        .collect();
    tables.drop_unused(&later, &["matched"]);
}

/// Brings one class file's result into the discrepancy schema: its [`CLASS_OUTPUT`] columns
/// cast to their types, the class named after the file, `difference` = actual − expected.
fn shape_class(df: DataFrame, rule: &Rule) -> Result<DataFrame, ReconcileError> {
    let names = df.get_column_names();
    if let Some(missing) = CLASS_OUTPUT
        .iter()
        .find(|c| !names.iter().any(|n| n.as_str() == **c))
    {
        return Err(ReconcileError::MissingOutput {
            file: rule.file.clone(),
            column: (*missing).to_owned(),
        });
    }
    let m = money();
    df.lazy()
        .select([
            col("key").cast(DataType::String),
            lit(rule.table.as_str()).alias("class"),
            col("rule").cast(DataType::String),
            lit(false).alias("probable"),
            col("currency").cast(DataType::String),
            col("expected").cast(m.clone()),
            col("actual").cast(m.clone()),
            (col("actual").cast(m.clone()).fill_null(zero())
                - col("expected").cast(m.clone()).fill_null(zero()))
            .cast(m)
            .alias("difference"),
            col("transaction_id").cast(DataType::Int64),
            col("order_id").cast(DataType::String),
            col("provider_date").cast(DataType::Date),
            col("ledger_date").cast(DataType::Date),
            col("provider_rows").cast(DataType::String),
            col("ledger_rows").cast(DataType::String),
            col("detail").cast(DataType::String),
        ])
        .collect()
        .and_then(compacted)
        .map_err(|e| ReconcileError::Rule {
            file: rule.file.clone(),
            message: e.to_string(),
        })
}

/// `df` with its text columns copied into buffers of their own.
///
/// Why: a text value longer than 12 bytes points into the buffer of the column it came from,
/// so a finding's `ledger_rows` or `detail` kept the whole buffer of its slice's source texts
/// (tens of MB) alive; the findings outlive their slice, so a run in slices or parts held one
/// such buffer per slice to the end (at 100 M rows in parts, gigabytes).
fn compacted(df: DataFrame) -> PolarsResult<DataFrame> {
    let height = df.height();
    let columns = df
        .into_columns()
        .into_iter()
        .map(|c| match c.dtype() {
            DataType::String => Ok(c
                .str()?
                .iter()
                .collect::<StringChunked>()
                .with_name(c.name().clone())
                .into_column()),
            _ => Ok(c),
        })
        .collect::<PolarsResult<Vec<Column>>>()?;
    DataFrame::new(height, columns)
}

/// Every class's findings in one frame, sorted by class and key.
pub(super) fn collect_findings(found: &[DataFrame]) -> Result<DataFrame, ReconcileError> {
    let mut all = frames::empty(&frames::discrepancy_schema());
    for f in found {
        pl("collecting findings", all.vstack_mut(f).map(|_| ()))?;
    }
    pl(
        "sorting findings",
        all.lazy()
            .sort(["class", "key"], SortMultipleOptions::default())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use polars_arrow::array::Utf8ViewArray;

    /// Bytes column `x` holds, the buffers its long texts point into included.
    fn buffers(df: &DataFrame) -> usize {
        let ca = df.column("x").unwrap().str().unwrap();
        ca.chunks()
            .iter()
            .map(|a| {
                let a = a.as_any().downcast_ref::<Utf8ViewArray>().unwrap();
                a.total_buffer_len()
            })
            .sum()
    }

    #[test]
    fn regression_findings_held_their_slice_s_text_buffers() {
        let long: Vec<String> = (0..10_000)
            .map(|i| format!("ledger-file-name.csv:{i:08}"))
            .collect();
        let df = DataFrame::new_infer_height(vec![Column::new("x".into(), long)]).unwrap();
        let one = df.slice(5, 1);
        assert!(
            buffers(&one) > 100_000,
            "a slice shares its column's buffers"
        );
        let kept = compacted(one).unwrap();
        assert!(buffers(&kept) < 100, "{}", buffers(&kept));
        assert_eq!(
            kept.column("x").unwrap().str().unwrap().get(0),
            Some("ledger-file-name.csv:00000005")
        );
    }
}
