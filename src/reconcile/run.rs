//! Running the rule files: prepare files in order, two at a time where neither reads what the
//! other makes, each class file as soon as the tables it reads exist, every table dropped after
//! the last file that mentions it; then the classes' results put together in the discrepancy
//! schema.

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
/// reads (the identical-row groups, say) is dropped before the big join is built. Up to
/// [`AT_ONCE`] files run at the same time when neither reads what the other makes: the
/// provider side's prepare files beside the ledger side's, two classes side by side. Why:
/// one query keeps the two cores of these machines busy only part of its time. The results do
/// not depend on it: each file sees the tables it would see run one after another, and the
/// results are kept in file order.
pub(super) fn run_rules(
    rules: &RuleSet,
    mut tables: Tables,
    engine: QueryEngine,
) -> Result<(Vec<DataFrame>, Tables), ReconcileError> {
    let mut found: Vec<Option<DataFrame>> = vec![None; rules.classes.len()];
    let mut state = Progress::new(rules);
    std::thread::scope(|scope| -> Result<(), ReconcileError> {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let mut running = 0;
        loop {
            while running < AT_ONCE {
                let Some(job) = state.next_ready(rules, &tables, &found, running) else {
                    break;
                };
                let rule = job.rule(rules);
                // Only what the file mentions: the rest may be dropped while it runs.
                let own = tables.only(|name| rule.mentions(name));
                let done_tx = done_tx.clone();
                scope.spawn(move || {
                    // A panic outside the query (which `Rule::run` turns into an error) is sent
                    // too, so the wait below never outlasts the file; the receiver is gone only
                    // after an error, with nothing to report to.
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        rule.run(&own, engine)
                    }));
                    let _ = done_tx.send((job, ran));
                });
                running += 1;
            }
            if running == 0 {
                break;
            }
            let (job, result) = done_rx
                .recv()
                .expect("a running file sends its result before it ends");
            running -= 1;
            let df = result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            match job {
                Job::Prepare(i) => {
                    tables.insert(&rules.prepare[i].table, df);
                    state.made[i] = true;
                }
                Job::Class(c) => found[c] = Some(shape_class(df, &rules.classes[c])?),
            }
            let pending = state.pending(rules, rules.prepare.len());
            drop_done(&mut tables, &pending, &rules.classes, &found);
            if let Job::Prepare(_) = job {
                tracing::debug!(held_mib = tables.estimated_mib(), tables = ?tables.sizes(), "tables held");
            }
        }
        Ok(())
    })?;
    // With no prepare file pending every class is ready, so none is left out.
    debug_assert!(found.iter().all(Option::is_some), "every class file ran");
    Ok((found.into_iter().flatten().collect(), tables))
}

/// Files of one [`run_rules`] running at the same time, at most. Two: the machines have two
/// cores, and each file running holds its own intermediate tables.
const AT_ONCE: usize = 2;

/// One rule file to run.
#[derive(Debug, Clone, Copy)]
enum Job {
    /// The prepare file at this index.
    Prepare(usize),
    /// The class file at this index.
    Class(usize),
}

impl Job {
    fn rule(self, rules: &RuleSet) -> &Rule {
        match self {
            Job::Prepare(i) => &rules.prepare[i],
            Job::Class(c) => &rules.classes[c],
        }
    }
}

/// Which files have started, and which prepare files have made their table.
struct Progress {
    started_prepare: Vec<bool>,
    started_class: Vec<bool>,
    made: Vec<bool>,
}

impl Progress {
    fn new(rules: &RuleSet) -> Self {
        Progress {
            started_prepare: vec![false; rules.prepare.len()],
            started_class: vec![false; rules.classes.len()],
            made: vec![false; rules.prepare.len()],
        }
    }

    /// The prepare files before index `before` whose table is not made yet (running or not
    /// started), in order.
    fn pending<'r>(&self, rules: &'r RuleSet, before: usize) -> Vec<&'r Rule> {
        rules.prepare[..before]
            .iter()
            .zip(&self.made)
            .filter(|(_, made)| !**made)
            .map(|(r, _)| r)
            .collect()
    }

    /// The next file that may start, marked started: a class file whose tables are all made,
    /// in class order; else, in file order, a prepare file not started that reads no table a
    /// file before it is still to make, whose own table none of those reads, and whose table
    /// is new (no table held has its name, no other file makes it). With nothing running and
    /// none before it pending, the next prepare file starts whatever it reads or makes: one
    /// after another, as before.
    fn next_ready(
        &mut self,
        rules: &RuleSet,
        tables: &Tables,
        found: &[Option<DataFrame>],
        running: usize,
    ) -> Option<Job> {
        let pending = self.pending(rules, rules.prepare.len());
        for (c, rule) in rules.classes.iter().enumerate() {
            if !self.started_class[c] && found[c].is_none() && rule.ready(pending.iter().copied()) {
                self.started_class[c] = true;
                return Some(Job::Class(c));
            }
        }
        for (i, rule) in rules.prepare.iter().enumerate() {
            if self.started_prepare[i] {
                continue;
            }
            let earlier = self.pending(rules, i);
            let alone = running == 0 && earlier.is_empty();
            let apart = earlier
                .iter()
                .all(|e| !rule.mentions(&e.table) && !e.mentions(&rule.table))
                && !tables.names().any(|n| n == rule.table)
                && rules
                    .prepare
                    .iter()
                    .filter(|r| r.table == rule.table)
                    .count()
                    == 1;
            if alone || apart {
                self.started_prepare[i] = true;
                return Some(Job::Prepare(i));
            }
        }
        None
    }
}

/// Drops the tables that neither a `pending` prepare file nor a class file not yet run (no
/// result in `found`) reads; `matched` stays for the summary.
fn drop_done(
    tables: &mut Tables,
    pending: &[&Rule],
    classes: &[Rule],
    found: &[Option<DataFrame>],
) {
    let later: Vec<&Rule> = pending
        .iter()
        .copied()
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

    fn rule(table: &str, sql: &str) -> Rule {
        Rule::new(format!("{table}.sql"), table.to_owned(), sql.to_owned())
    }

    /// Provider side `pa` → `pb`, ledger side `lc` → `ld`, both into `m`; class `x` reads
    /// `pb`, class `y` reads `ld`.
    fn two_chains() -> RuleSet {
        RuleSet {
            prepare: vec![
                rule("pa", "SELECT a FROM provider"),
                rule("pb", "SELECT a FROM pa"),
                rule("lc", "SELECT a FROM ledger"),
                rule("ld", "SELECT a FROM lc"),
                rule("m", "SELECT pb.a FROM pb JOIN ld ON pb.a = ld.a"),
            ],
            classes: vec![rule("x", "SELECT a FROM pb"), rule("y", "SELECT a FROM ld")],
        }
    }

    fn held(names: &[&str]) -> Tables {
        let mut t = Tables::default();
        for n in names {
            t.insert(n, df!("a" => [1i64]).unwrap());
        }
        t
    }

    fn started(
        state: &mut Progress,
        rules: &RuleSet,
        tables: &Tables,
        running: usize,
    ) -> Option<String> {
        let found = vec![None; rules.classes.len()];
        state
            .next_ready(rules, tables, &found, running)
            .map(|j| j.rule(rules).table.clone())
    }

    #[test]
    fn the_two_sides_prepare_files_run_side_by_side_and_what_reads_both_waits() {
        let rules = two_chains();
        let tables = held(&["provider", "ledger"]);
        let mut st = Progress::new(&rules);
        assert_eq!(started(&mut st, &rules, &tables, 0).as_deref(), Some("pa"));
        // `pb` reads `pa`, still running: the ledger side's first file goes beside it.
        assert_eq!(started(&mut st, &rules, &tables, 1).as_deref(), Some("lc"));
        assert_eq!(started(&mut st, &rules, &tables, 2), None);
        st.made[0] = true;
        assert_eq!(started(&mut st, &rules, &tables, 1).as_deref(), Some("pb"));
        st.made[2] = true;
        assert_eq!(started(&mut st, &rules, &tables, 1).as_deref(), Some("ld"));
        // `m` reads `pb` and `ld`, both running; nor is any class ready.
        assert_eq!(started(&mut st, &rules, &tables, 2), None);
        st.made[1] = true;
        // Class `x` as soon as `pb` is made, before any later prepare file.
        assert_eq!(started(&mut st, &rules, &tables, 1).as_deref(), Some("x"));
        assert_eq!(started(&mut st, &rules, &tables, 2), None);
        st.made[3] = true;
        assert_eq!(started(&mut st, &rules, &tables, 1).as_deref(), Some("y"));
        assert_eq!(started(&mut st, &rules, &tables, 2).as_deref(), Some("m"));
        assert_eq!(started(&mut st, &rules, &tables, 3), None);
    }

    #[test]
    fn a_file_that_replaces_a_table_runs_alone() {
        let mut rules = two_chains();
        // `lc` now replaces the input `ledger`, which nothing before it reads: it still waits
        // for `pa` and `pb`, as one after another.
        rules.prepare[2] = rule("ledger", "SELECT a FROM ledger");
        rules.prepare[3] = rule("ld", "SELECT a FROM ledger");
        let tables = held(&["provider", "ledger"]);
        let mut st = Progress::new(&rules);
        assert_eq!(started(&mut st, &rules, &tables, 0).as_deref(), Some("pa"));
        assert_eq!(started(&mut st, &rules, &tables, 1), None);
        st.made[0] = true;
        assert_eq!(started(&mut st, &rules, &tables, 0).as_deref(), Some("pb"));
        assert_eq!(started(&mut st, &rules, &tables, 1), None);
        st.made[1] = true;
        assert_eq!(started(&mut st, &rules, &tables, 0).as_deref(), Some("x"));
        // Not beside the class either: alone.
        assert_eq!(started(&mut st, &rules, &tables, 1), None);
        assert_eq!(
            started(&mut st, &rules, &tables, 0).as_deref(),
            Some("ledger")
        );
    }

    /// A class query over `from_where` with every column a class file outputs.
    fn class_sql(from_where: &str) -> String {
        format!(
            "SELECT CAST(a AS VARCHAR) AS key, 'r' AS rule, 'EUR' AS currency, a AS expected, \
             a AS actual, a AS transaction_id, 'o' AS order_id, NULL AS provider_date, \
             NULL AS ledger_date, '' AS provider_rows, '' AS ledger_rows, '' AS detail \
             FROM {from_where}"
        )
    }

    #[test]
    fn files_run_side_by_side_give_what_they_give_one_after_another() {
        let rules = RuleSet {
            prepare: vec![
                rule("pa", "SELECT a, a * 2 AS b FROM provider"),
                rule("pb", "SELECT a, SUM(b) AS b FROM pa GROUP BY a"),
                rule("lc", "SELECT a, a + 1 AS c FROM ledger"),
                rule("ld", "SELECT a, MAX(c) AS c FROM lc GROUP BY a"),
                rule(
                    "m",
                    "SELECT COALESCE(pb.a, ld.a) AS a, pb.b, ld.c FROM pb FULL OUTER JOIN ld ON pb.a = ld.a",
                ),
            ],
            classes: vec![
                rule("x", &class_sql("pb WHERE b > 10")),
                rule("y", &class_sql("m WHERE b IS NULL OR c IS NULL")),
            ],
        };
        let mut tables = Tables::default();
        tables.insert(
            "provider",
            df!("a" => (0i64..2000).collect::<Vec<_>>()).unwrap(),
        );
        tables.insert(
            "ledger",
            df!("a" => (1000i64..3000).collect::<Vec<_>>()).unwrap(),
        );
        let (found, held) = run_rules(&rules, tables, Default::default()).unwrap();
        assert_eq!(found.len(), 2);
        let heights: Vec<usize> = found.iter().map(DataFrame::height).collect();
        // x: b = 2a > 10 for a in 6..2000; y: the 1000 rows on one side only, each way.
        assert_eq!(heights, vec![1994, 2000]);
        assert_eq!(
            found[0].column("class").unwrap().str().unwrap().get(0),
            Some("x")
        );
        assert_eq!(
            found[1].column("class").unwrap().str().unwrap().get(0),
            Some("y")
        );
        // Only `matched` would be kept; nothing else outlives the files that read it.
        assert_eq!(held.names().collect::<Vec<_>>(), Vec::<&str>::new());
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
