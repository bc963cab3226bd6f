//! Running the per-transaction rules one slice of the transactions at a time.
//!
//! Why: the rules' per-transaction tables (the identical-row groups, the pairs, `matched`)
//! each hold every in-scope row of the run at once, about 0.7 GiB per million rows per side,
//! and the pairs join of `60_matched` doubles that for a moment. No built-in rule looks
//! across transactions except by order id, so the in-scope rows are cut into slices that keep
//! together everything one rule could put side by side, and the rules run on one slice at a
//! time: the peak is one slice's tables on top of the slices still to run (both sides are cut
//! up front, and each slice goes once its rules have run, [`Assignment::cut`]; the waiting
//! ones hold their money narrow, [`Held`]). The files that read the merchant-wide tables
//! (payouts, breakdown) run once, on the whole. The summary's rows are taken from each slice
//! as it runs ([`summary::ScopeRows`]).
//!
//! What a slice keeps together (each is what one of `sql/prepare/` compares):
//! - every Xsolla row of one order id (`external_id`), so the rows of one transaction, and
//!   the transactions `duplicate_in_provider` finds sharing one order, meet;
//! - every ledger line of a transaction, with that transaction's Xsolla rows (`60_matched`);
//! - every ledger line without a transaction id, with the Xsolla rows of its order id (the
//!   order-id match of `30_ledger_keyed`) and the other lines of that order.
//!
//! A row's slice is a hash of its transaction id, on both sides; the transactions of an order
//! id that has several share the slice of the order's smallest, and a ledger line without a
//! transaction id goes where the transaction its order id matches is ([`assign`]). A
//! transaction carrying two order ids that each have other transactions cannot be kept
//! together that way, nor can rules that mix the two kinds of tables: the run then goes in one
//! piece, as it did before slices existed, and the debug log says why. The reports are the
//! same either way (every reconcile unit test runs both).

use super::rules::{self, Rule, RuleSet};
use super::{not_checked, pl, run as rule_run, summary, ReconcileError, ReconcileSettings};
use crate::domain::frames;
use crate::domain::not_checked::NotChecked;
use polars::prelude::*;
use polars_arrow::array::PrimitiveArray;
use polars_arrow::datatypes::ArrowDataType;

/// What the run after the rules needs to judge `matched`.
pub(super) struct Judged<'a> {
    pub settings: &'a ReconcileSettings,
    pub empty: &'a not_checked::EmptyLedgerColumns,
    pub conventions: &'a crate::load::ledger::Conventions,
}

/// What the rules gave: every class's findings (in no particular order: they are sorted
/// after), and what was counted of `matched` before it went.
pub(super) struct Ran {
    pub found: Vec<DataFrame>,
    pub lines: summary::MatchedLines,
    pub not_checked: Vec<NotChecked>,
}

/// Runs `rules` on `tables` and counts what `matched` holds: its provider lines (those named
/// by no finding of these rules or of `reported_before` are matched) and the comparisons it
/// could not make.
fn run_and_count(
    rules: &RuleSet,
    tables: rules::Tables,
    judged: &Judged,
    reported_before: &summary::Reported,
) -> Result<Ran, ReconcileError> {
    let (found, tables) = rule_run::run_rules(rules, tables, judged.settings.engine)?;
    let matched = tables.get("matched").ok_or_else(|| {
        ReconcileError::Invariant("the prepare rules did not produce table `matched`".into())
    })?;
    let mut reported = reported_before.clone();
    for f in &found {
        reported.extend(summary::sources(f, "provider_rows")?);
    }
    let lines = summary::matched_lines(matched, &reported)?;
    let mut not_checked = not_checked::comparisons(matched, judged.empty, judged.settings)?;
    not_checked.extend(not_checked::conventions(
        matched,
        judged.conventions,
        judged.settings,
    )?);
    Ok(Ran {
        found,
        lines,
        not_checked,
    })
}

/// Runs the rules whole, or in slices of the transactions when the run is large enough and
/// the rules and rows allow (the module's doc): the merchant-wide files once, then the others
/// on each slice in turn, their findings and counts added up. `scope_rows` are the summary's rows
/// of `provider` and `ledger` (the same rows, a few of their columns): given back as they
/// came when the run goes whole, else put together from the slices as they run.
/// `reported_before`: the provider rows findings of files run before these name (a run in
/// parts runs the merchant-wide files first, [`super::parts`]), not matched lines.
pub(super) fn run(
    rules: &RuleSet,
    mut tables: rules::Tables,
    judged: &Judged,
    scope_rows: [summary::ScopeRows; 2],
    reported_before: &summary::Reported,
) -> Result<(Ran, [summary::ScopeRows; 2]), ReconcileError> {
    let height = |t: &rules::Tables, n: &str| t.get(n).map_or(0, DataFrame::height);
    let rows = height(&tables, "provider").max(height(&tables, "ledger"));
    let n = count(rows, judged.settings.rows_per_slice);
    if n <= 1 {
        return Ok((
            run_and_count(rules, tables, judged, reported_before)?,
            scope_rows,
        ));
    }
    let plan = match plan(rules) {
        Ok(plan) => plan,
        Err(why) => {
            tracing::debug!(%why, "rules run whole");
            return Ok((
                run_and_count(rules, tables, judged, reported_before)?,
                scope_rows,
            ));
        }
    };
    let (Some(provider), Some(ledger)) = (tables.remove("provider"), tables.remove("ledger"))
    else {
        return Err(ReconcileError::Invariant(
            "the input tables lack provider or ledger".into(),
        ));
    };
    let assignment = match assign(&provider, &ledger, n)? {
        Ok(a) => a,
        Err(why) => {
            tracing::debug!(%why, "rules run whole");
            tables.insert("provider", provider);
            tables.insert("ledger", ledger);
            return Ok((
                run_and_count(rules, tables, judged, reported_before)?,
                scope_rows,
            ));
        }
    };
    // The summary's rows are taken from each slice as it runs; their `source`s are checked
    // for repeats now, whole and in file order.
    let [p_rows, l_rows] = scope_rows;
    let summary_columns = [
        p_rows.rows.get_column_names_owned(),
        l_rows.rows.get_column_names_owned(),
    ];
    // Each side's whole rows go once checked.
    let distinct = crate::domain::threads::both(
        move || p_rows.sources_distinct(),
        move || l_rows.sources_distinct(),
    );
    let distinct = [distinct.0?, distinct.1?];
    let shared: Vec<(String, DataFrame)> = ["currencies", "settings"]
        .iter()
        .filter_map(|t| tables.get(t).map(|df| (t.to_string(), df.clone())))
        .collect();
    tracing::debug!(slices = n, rows, "rules run in slices of the transactions");
    // The merchant-wide files first: `provider_all` shares columns with `provider`, which the
    // cut then frees as it goes.
    let (mut found, _) = rule_run::run_rules(&plan.whole, tables, judged.settings.engine)?;
    // Each side on a core of its own.
    let (provider, ledger) = crate::domain::threads::both(
        || Assignment::cut(provider, assignment.provider),
        || Assignment::cut(ledger, assignment.ledger),
    );
    let (mut provider, mut ledger) = (provider?, ledger?);
    let mut reported = reported_before.clone();
    for f in &found {
        reported.extend(summary::sources(f, "provider_rows")?);
    }
    let mut lines = summary::MatchedLines::default();
    let mut counted: Vec<NotChecked> = Vec::new();
    let mut slice_rows: [Vec<DataFrame>; 2] = [Vec::new(), Vec::new()];
    for k in 0..n {
        rules::release_free_memory();
        let mut t = rules::Tables::default();
        let sides = [&mut provider, &mut ledger];
        for (side, (held, name)) in sides.into_iter().zip(PER_SLICE_INPUTS).enumerate() {
            let df = held.take(k as usize)?;
            slice_rows[side].push(pl(
                "summary rows",
                df.select(summary_columns[side].clone()),
            )?);
            t.insert(name, df);
        }
        for (name, df) in &shared {
            t.insert(name, df.clone());
        }
        let ran = run_and_count(&plan.per_slice, t, judged, &reported)?;
        found.extend(ran.found);
        lines.add(ran.lines)?;
        counted.extend(ran.not_checked);
        tracing::debug!(slice = k, of = n, "slice done");
    }
    let ran = Ran {
        found,
        lines,
        not_checked: add_counts(counted),
    };
    let [p, l] = slice_rows.map(|parts| pl("summary rows", frames::stacked(parts)));
    let rows = [(p?, distinct[0]), (l?, distinct[1])].map(|(rows, d)| summary::ScopeRows {
        rows: rows.unwrap_or_default(),
        distinct: Some(d),
    });
    Ok((ran, rows))
}

/// Lines of the same check, subject, reason and day as one, their counts added (one line
/// per slice of the run becomes the line of the whole run).
pub(super) fn add_counts(lines: Vec<NotChecked>) -> Vec<NotChecked> {
    let mut out: Vec<NotChecked> = Vec::new();
    for l in lines {
        match out.iter_mut().find(|o| {
            o.check == l.check && o.subject == l.subject && o.reason == l.reason && o.date == l.date
        }) {
            Some(o) => o.count += l.count,
            None => out.push(l),
        }
    }
    out
}

/// The input tables cut into slices.
const PER_SLICE_INPUTS: [&str; 2] = ["provider", "ledger"];
/// The input tables read whole, by the files that run once.
const WHOLE_INPUTS: [&str; 4] = ["provider_all", "payout_rows", "payouts", "breakdown"];

/// The rule files split into those run once and those run per slice.
#[derive(Debug)]
pub(super) struct Plan {
    /// Files that read no table of a slice: run once, before the slices.
    pub whole: RuleSet,
    /// Files that read a slice's tables: run on each slice.
    pub per_slice: RuleSet,
}

/// Splits `rules` by the tables they read (directly or through a prepare file's table), or
/// says why they cannot be: a file reading both kinds, or a `matched` not made per slice.
pub(super) fn plan(rules: &RuleSet) -> Result<Plan, String> {
    let mut slice_tables: Vec<String> = PER_SLICE_INPUTS.iter().map(|s| s.to_string()).collect();
    let mut whole_tables: Vec<String> = WHOLE_INPUTS.iter().map(|s| s.to_string()).collect();
    let mut whole = RuleSet {
        prepare: Vec::new(),
        classes: Vec::new(),
    };
    let mut per_slice = RuleSet {
        prepare: Vec::new(),
        classes: Vec::new(),
    };
    let side = |r: &Rule, slice_tables: &[String], whole_tables: &[String]| {
        let reads_slice = slice_tables.iter().any(|t| r.mentions(t));
        let reads_whole = whole_tables.iter().any(|t| r.mentions(t));
        if reads_slice && reads_whole {
            Err(format!(
                "{} reads both per-transaction and merchant-wide tables",
                r.file
            ))
        } else {
            Ok(reads_slice)
        }
    };
    for r in &rules.prepare {
        if side(r, &slice_tables, &whole_tables)? {
            slice_tables.push(r.table.clone());
            per_slice.prepare.push(r.clone());
        } else {
            whole_tables.push(r.table.clone());
            whole.prepare.push(r.clone());
        }
    }
    for r in &rules.classes {
        if side(r, &slice_tables, &whole_tables)? {
            per_slice.classes.push(r.clone());
        } else {
            whole.classes.push(r.clone());
        }
    }
    if !slice_tables.iter().any(|t| t == "matched") {
        return Err("no prepare file makes `matched` from the per-transaction tables".into());
    }
    Ok(Plan { whole, per_slice })
}

/// How many slices a run of `rows` rows (the larger side) is cut into: one per
/// `rows_per_slice` rows, rounded down, at least one; `rows_per_slice = 0` never cuts.
///
/// So a run under twice `rows_per_slice` goes whole. From 2026-12-07 a run of 600,000 rows or
/// more went in at least three slices, which halved what a 1 M run touched (0.57 against 1.06
/// GiB) while fresh memory was faulted in as 2 MiB huge pages, 2.1-2.3 ms a MiB after an idle
/// spell. Since the binary's allocator faults small pages in a block at a time (0.32-0.35 ms a
/// MiB, `domain::alloc`), the three passes of every rule file cost more than the memory they
/// save: at 1 M, 1.35 s after 12 s idle and 1.29 s right after another run whole, against
/// 1.47 and 1.34 s in three slices (medians of five, interleaved).
pub(super) fn count(rows: usize, rows_per_slice: usize) -> u32 {
    if rows_per_slice == 0 {
        return 1;
    }
    u32::try_from((rows / rows_per_slice).max(1)).unwrap_or(u32::MAX)
}

/// The rows of each slice, for both sides: row numbers, rising.
#[derive(Debug)]
pub(super) struct Assignment {
    /// `provider` rows of each slice.
    pub provider: Vec<Vec<IdxSize>>,
    /// `ledger` rows of each slice.
    pub ledger: Vec<Vec<IdxSize>>,
}

/// Columns filtered at once while cutting (a frame's filter runs its columns in parallel).
const COLUMNS_AT_ONCE: usize = 2;

/// One side's slices waiting to run, each money column held as 64-bit mantissas when every
/// value of it fits ([`Held::take`] gives the column back as it was).
///
/// Why: a money column is a 128-bit decimal, and all the slices but the running one wait,
/// so most of the run's rows wait too: narrow, the waiting money columns of a 10 M-row run
/// hold about 0.35 GiB less (its peak went down 0.1 GiB, to where the cut and the build now
/// reach). Narrowing and widening a mantissa is exact, and costs a few milliseconds a slice.
pub(super) struct Held {
    slices: Vec<DataFrame>,
    /// The table's columns and types before the cut.
    schema: SchemaRef,
}

impl Held {
    /// Slice `k`, in the table's own types; it is no longer held.
    pub(super) fn take(&mut self, k: usize) -> Result<DataFrame, ReconcileError> {
        let what = "taking a slice";
        let df = std::mem::take(&mut self.slices[k]);
        let height = df.height();
        let columns = df
            .into_columns()
            .into_iter()
            .map(|c| match self.schema.get(c.name()) {
                Some(DataType::Decimal(p, s)) if c.dtype() == &DataType::Int64 => {
                    widened(&c, *p, *s)
                }
                _ => Ok(c),
            })
            .collect::<PolarsResult<Vec<Column>>>();
        pl(what, columns.and_then(|c| DataFrame::new(height, c)))
    }
}

/// A money column as 64-bit mantissas when every value fits (a constant stays: it costs
/// nothing), else as it is.
fn narrowed(c: Column) -> PolarsResult<Column> {
    if !matches!(c.dtype(), DataType::Decimal(..)) || c.as_scalar_column().is_some() {
        return Ok(c);
    }
    let m = c.decimal()?.physical();
    let fits = |v: Option<i128>| v.is_none_or(|v| i64::try_from(v).is_ok());
    if !(fits(m.min()) && fits(m.max())) {
        return Ok(c);
    }
    // Checked above: each value converts exactly. A plain loop, which the compiler vectorises
    // (Polars' checked cast converts value by value).
    let narrow = m.downcast_iter().map(|a| {
        let values: Vec<i64> = a.values().iter().map(|&v| v as i64).collect();
        PrimitiveArray::new(ArrowDataType::Int64, values.into(), a.validity().cloned())
    });
    Ok(Int64Chunked::from_chunk_iter(c.name().clone(), narrow).into_column())
}

/// Mantissas `c` (made by [`narrowed`]) as the money column `Decimal(precision, scale)`.
fn widened(c: &Column, precision: usize, scale: usize) -> PolarsResult<Column> {
    let wide = c.i64()?.downcast_iter().map(|a| {
        let values: Vec<i128> = a.values().iter().map(|&v| i128::from(v)).collect();
        PrimitiveArray::new(ArrowDataType::Int128, values.into(), a.validity().cloned())
    });
    Ok(Int128Chunked::from_chunk_iter(c.name().clone(), wide)
        .into_decimal(precision, scale)?
        .into_column())
}

impl Assignment {
    /// `df` cut into the slices `slices` gives its rows (every row in exactly one, see
    /// [`assign`]), each in the table's order; `df` goes as it is cut.
    ///
    /// Why up front, a few columns at a time: cut slice by slice, the whole table stayed while
    /// each slice's copy was made and run, one slice's rows on top of it (0.45 GiB at 10 M);
    /// cut here, each column goes once its pieces are made, so the slices together hold what
    /// the whole did, and each goes when its rules have run.
    ///
    /// Each slice gathers its own rows by number, so the cut reads every row once whatever the
    /// number of slices (a filter per slice read every row for every slice). The input tables
    /// come in one chunk per column ([`super::inputs`]), so the gather finds each row directly.
    pub(super) fn cut(df: DataFrame, slices: Vec<Vec<IdxSize>>) -> Result<Held, ReconcileError> {
        let what = "cutting a slice";
        let height = df.height();
        let schema = df.schema().clone();
        // Every row in exactly one slice: none lost, none twice.
        let mut seen = vec![false; height];
        for &r in slices.iter().flatten() {
            match seen.get_mut(r as usize) {
                Some(s) if !*s => *s = true,
                _ => {
                    return Err(ReconcileError::Invariant(format!(
                        "{what}: row {r} of {height} is out of range or in two slices"
                    )))
                }
            }
        }
        if seen.iter().any(|s| !s) {
            return Err(ReconcileError::Invariant(format!(
                "{what}: a row of {height} is in no slice"
            )));
        }
        drop(seen);
        let rows: Vec<IdxCa> = slices
            .into_iter()
            .map(|r| IdxCa::from_vec("rows".into(), r))
            .collect();
        let mut pieces: Vec<Vec<Column>> = vec![Vec::new(); rows.len()];
        let mut columns = df.into_columns().into_iter().peekable();
        while columns.peek().is_some() {
            let batch = DataFrame::new(height, columns.by_ref().take(COLUMNS_AT_ONCE).collect());
            let batch = pl(what, batch)?;
            for (piece, rows) in pieces.iter_mut().zip(&rows) {
                for c in pl(what, batch.take(rows))?.into_columns() {
                    piece.push(pl(what, narrowed(c))?);
                }
            }
        }
        let slices = pieces
            .into_iter()
            .zip(&rows)
            .map(|(columns, rows)| pl(what, DataFrame::new(rows.len(), columns)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Held { slices, schema })
    }
}

/// Row numbers of each of `n` slices, from each row's slice.
fn by_slice(slices: impl Iterator<Item = u32>, n: u32) -> Vec<Vec<IdxSize>> {
    let mut out: Vec<Vec<IdxSize>> = vec![Vec::new(); n as usize];
    for (i, k) in slices.enumerate() {
        out[k as usize].push(i as IdxSize);
    }
    out
}

/// The slice of every row of `provider` and `ledger` among `n`, or why the rows cannot be
/// cut (see the module's doc).
///
/// A transaction's slice is a hash of its id, so both sides find it without looking the other
/// up; only the few transactions whose order id has others too take the slice of the order's
/// smallest transaction, and a ledger line without a transaction id that of its order's
/// transaction (or of its order id, when Xsolla has none).
pub(super) fn assign(
    provider: &DataFrame,
    ledger: &DataFrame,
    n: u32,
) -> Result<Result<Assignment, String>, ReconcileError> {
    let what = "cutting the rows into slices";
    let has = |df: &DataFrame, c: &[&str]| c.iter().all(|c| df.column(c).is_ok());
    if !has(provider, &["transaction_id", "external_id"])
        || !has(ledger, &["transaction_id", "order_id"])
    {
        return Ok(Err(
            "the rules read no transaction_id/external_id of `provider` or transaction_id/order_id of `ledger`".into(),
        ));
    }
    let p_txn = super::typed(provider, "transaction_id", what, Column::i64)?;
    let p_ext = super::typed(provider, "external_id", what, Column::str)?;
    let l_txn = super::typed(ledger, "transaction_id", what, Column::i64)?;
    let l_order = super::typed(ledger, "order_id", what, Column::str)?;
    let groups = match order_groups(&p_txn, &p_ext) {
        Ok(g) => g,
        Err(why) => return Ok(Err(why)),
    };
    let slice_of = |t: Option<i64>| match t {
        Some(t) => of_id(*groups.get(&t).unwrap_or(&t), n),
        // Rows without a transaction id are grouped together by the rules: one slice.
        None => 0,
    };
    let by_order = transactions_of_unkeyed_orders(&p_txn, &p_ext, &l_txn, &l_order);
    let provider_slices = by_slice(p_txn.iter().map(slice_of), n);
    let ledger_slices = by_slice(
        l_txn.iter().zip(l_order.iter()).map(|(t, o)| match (t, o) {
            (Some(_), _) => slice_of(t),
            (None, Some(o)) => by_order
                .get(o)
                .map_or_else(|| of_text(o, n), |t| slice_of(Some(*t))),
            (None, None) => 0,
        }),
        n,
    );
    // That every row is in exactly one slice, [`Assignment::cut`] checks row by row.
    Ok(Ok(Assignment {
        provider: provider_slices,
        ledger: ledger_slices,
    }))
}

/// The transactions of order ids that have more than one, each mapped to the smallest
/// transaction of its order (what `duplicate_in_provider` puts side by side), or why not: a
/// transaction in two such orders.
///
/// Order ids seen more than once are found by their 64-bit hashes
/// ([`summary::repeated_hashes`]); only those are then looked at by value.
fn order_groups(txn: &Int64Chunked, ext: &StringChunked) -> Result<PlHashMap<i64, i64>, String> {
    let hash = |e: &str| xxhash_rust::xxh3::xxh3_64(e.as_bytes());
    // Each half of the rows on a core of its own.
    let half = ext.len() / 2;
    let hashed = |part: StringChunked| part.iter().map(|e| e.map(hash)).collect::<Vec<_>>();
    let (mut row_hashes, rest) = crate::domain::threads::both(
        || hashed(ext.slice(0, half)),
        || hashed(ext.slice(half as i64, ext.len() - half)),
    );
    row_hashes.extend(rest);
    let repeated = summary::repeated_hashes(row_hashes.iter().flatten().copied().collect());
    let mut groups = PlHashMap::new();
    if repeated.is_empty() {
        return Ok(groups);
    }
    // The rows whose order id may repeat, found once (a few percent of the rows).
    let rows: Vec<(i64, &str)> = txn
        .iter()
        .zip(ext.iter())
        .zip(&row_hashes)
        .filter_map(|((t, e), h)| match (t, e, h) {
            (Some(t), Some(e), Some(h)) if repeated.contains(h) => Some((t, e)),
            _ => None,
        })
        .collect();
    drop(row_hashes);
    // Order id → (its smallest transaction, the first one met, whether another was met).
    let mut orders: PlHashMap<&str, (i64, i64, bool)> = PlHashMap::new();
    for &(t, e) in &rows {
        let o = orders.entry(e).or_insert((t, t, false));
        o.0 = o.0.min(t);
        o.2 |= t != o.1;
    }
    for &(t, e) in &rows {
        let &(smallest, _, several) = &orders[e];
        if !several {
            continue;
        }
        match groups.insert(t, smallest) {
            Some(other) if other != smallest => {
                return Err(format!(
                    "Xsolla transaction {t} carries two order ids that each have other transactions"
                ))
            }
            _ => {}
        }
    }
    Ok(groups)
}

/// The transaction each order id of a ledger line without a transaction id matches by order
/// (the smallest with that `external_id`, as `30_ledger_keyed` takes it).
fn transactions_of_unkeyed_orders<'a>(
    p_txn: &Int64Chunked,
    p_ext: &StringChunked,
    l_txn: &Int64Chunked,
    l_order: &'a StringChunked,
) -> PlHashMap<&'a str, i64> {
    let wanted: PlHashSet<&str> = l_txn
        .iter()
        .zip(l_order.iter())
        .filter_map(|(t, o)| if t.is_none() { o } else { None })
        .collect();
    let mut out: PlHashMap<&'a str, i64> = PlHashMap::new();
    if wanted.is_empty() {
        return out;
    }
    for (t, e) in p_txn.iter().zip(p_ext.iter()) {
        let (Some(t), Some(e)) = (t, e) else {
            continue;
        };
        if let Some(o) = wanted.get(e) {
            let min = out.entry(*o).or_insert(t);
            *min = (*min).min(t);
        }
    }
    out
}

/// Slice of the order id of ledger lines without a transaction id that Xsolla has no
/// transaction for: the lines of one order stay together.
fn of_text(s: &str, n: u32) -> u32 {
    (xxhash_rust::xxh3::xxh3_64(s.as_bytes()) % u64::from(n)) as u32
}

/// Slice of a transaction id.
fn of_id(t: i64, n: u32) -> u32 {
    // splitmix64's finaliser: neighbouring ids spread over the slices.
    let mut z = (t as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) % u64::from(n)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_rules_split_into_merchant_wide_and_per_slice_files() {
        let rules = RuleSet::load(None).unwrap();
        let plan = plan(&rules).unwrap();
        let names = |r: &[Rule]| r.iter().map(|r| r.table.clone()).collect::<Vec<_>>();
        assert_eq!(names(&plan.whole.prepare), ["breakdown_registry"]);
        let mut whole = names(&plan.whole.classes);
        whole.sort();
        assert_eq!(whole, ["breakdown_mismatch", "payout_mismatch"]);
        assert_eq!(
            plan.per_slice.prepare.len() + plan.whole.prepare.len(),
            rules.prepare.len()
        );
        assert_eq!(plan.per_slice.classes.len(), rules.classes.len() - 2);
    }

    #[test]
    fn a_file_reading_both_kinds_of_table_keeps_the_run_whole() {
        let mut rules = RuleSet::load(None).unwrap();
        let first = &rules.classes[0];
        rules.classes[0] = Rule::new(
            first.file.clone(),
            first.table.clone(),
            "SELECT * FROM matched m JOIN payouts p ON m.transaction_id = p.payout_id".into(),
        );
        let why = plan(&rules).unwrap_err();
        assert!(
            why.contains("both per-transaction and merchant-wide"),
            "{why}"
        );
    }

    #[test]
    fn slice_counts_round_down_and_never_reach_zero() {
        assert_eq!(count(10_244_089, 1_000_000), 10);
        assert_eq!(count(4_100_000, 1_000_000), 4);
        assert_eq!(count(599_999, 1_000_000), 1);
        assert_eq!(count(0, 1_000_000), 1);
        assert_eq!(count(50_000_000, 0), 1);
        assert_eq!(count(10, 3), 3);
    }

    #[test]
    fn a_run_of_a_million_rows_goes_whole() {
        // Three passes of every rule file cost more than the memory they saved once fresh
        // memory is faulted in as small pages (see `count`).
        assert_eq!(count(1_024_385, 1_000_000), 1);
        assert_eq!(count(1_999_999, 1_000_000), 1);
        assert_eq!(count(2_000_000, 1_000_000), 2);
    }

    fn provider(rows: &[(i64, Option<&str>)]) -> DataFrame {
        df!(
            "transaction_id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "external_id" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn ledger(rows: &[(Option<i64>, Option<&str>)]) -> DataFrame {
        df!(
            "transaction_id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "order_id" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn what_a_rule_compares_lands_in_one_slice() {
        let mut p = Vec::new();
        let mut l = Vec::new();
        let orders: Vec<String> = (0..400).map(|i| format!("o{i}")).collect();
        for i in 0..400i64 {
            let o = orders[i as usize].as_str();
            p.push((i, Some(o)));
            // Every fourth order has a second transaction; refunds repeat the order id.
            if i % 4 == 0 {
                p.push((1000 + i, Some(o)));
                p.push((1000 + i, Some(o)));
            }
            match i % 3 {
                0 => l.push((Some(i), Some(o))),
                1 => l.push((None, Some(o))),
                _ => l.push((Some(i), None)),
            }
        }
        p.push((5000, None));
        l.push((Some(5000), Some("other")));
        l.push((Some(7777), None));
        let (pd, ld) = (provider(&p), ledger(&l));
        let a = assign(&pd, &ld, 7).unwrap().unwrap();
        let per_row = |slices: &[Vec<IdxSize>], rows: usize| {
            let mut out = vec![u32::MAX; rows];
            for (k, s) in slices.iter().enumerate() {
                assert!(s.windows(2).all(|w| w[0] < w[1]), "rows in order");
                for &i in s {
                    assert_eq!(out[i as usize], u32::MAX, "row {i} in one slice only");
                    out[i as usize] = k as u32;
                }
            }
            assert!(out.iter().all(|k| *k < 7), "every row in a slice");
            out
        };
        let ps = per_row(&a.provider, p.len());
        let ls = per_row(&a.ledger, l.len());
        let slice_of_txn = |t: i64| ps[p.iter().position(|r| r.0 == t).unwrap()];
        let slice_of_order = |o: &str| ps[p.iter().position(|r| r.1 == Some(o)).unwrap()];
        for (i, r) in p.iter().enumerate() {
            assert_eq!(ps[i], slice_of_txn(r.0), "rows of transaction {}", r.0);
            if let Some(o) = r.1 {
                assert_eq!(ps[i], slice_of_order(o), "rows of order {o}");
            }
        }
        for (i, r) in l.iter().enumerate() {
            match r {
                (Some(t), _) if p.iter().any(|x| x.0 == *t) => {
                    assert_eq!(ls[i], slice_of_txn(*t), "ledger line of {t}")
                }
                (None, Some(o)) => assert_eq!(ls[i], slice_of_order(o), "ledger order {o}"),
                _ => assert!(ls[i] < 7),
            }
        }
        assert!(ps.iter().collect::<std::collections::BTreeSet<_>>().len() > 3);
    }

    #[test]
    fn a_transaction_in_two_orders_that_each_have_others_is_not_cut() {
        // 9 carries order ids a and b; a has 2 too and b has 3 too.
        let p = provider(&[
            (9, Some("a")),
            (9, Some("b")),
            (2, Some("a")),
            (3, Some("b")),
        ]);
        let l = ledger(&[(Some(9), Some("a"))]);
        let why = assign(&p, &l, 5).unwrap().unwrap_err();
        assert!(why.contains("transaction 9"), "{why}");
        let l = ledger(&[(Some(1), Some("a"))]);
        // With only a shared with 2, b alone: one slice for 1 and 2.
        let p = provider(&[
            (1, Some("a")),
            (1, Some("b")),
            (2, Some("a")),
            (4, Some("c")),
        ]);
        let a = assign(&p, &l, 5).unwrap().unwrap();
        let with = |rows: usize| {
            a.provider
                .iter()
                .position(|s| s.contains(&(rows as IdxSize)))
        };
        assert_eq!(with(0), with(1));
        assert_eq!(with(0), with(2));
        assert_eq!(with(0), a.ledger.iter().position(|s| s.contains(&0)));
    }

    #[test]
    fn cutting_keeps_every_row_once_in_its_slice_in_order_over_chunks_and_columns() {
        // More columns than are cut at once, in several chunks, a constant among them.
        let n = 1000usize;
        let width = COLUMNS_AT_ONCE * 2 + 1;
        let mut columns: Vec<Column> = (0..width)
            .map(|c| {
                Column::new(
                    format!("c{c}").into(),
                    (0..n as i64).map(|i| i * 10 + c as i64).collect::<Vec<_>>(),
                )
            })
            .collect();
        columns.push(Column::new_scalar("k".into(), Scalar::from(7i32), n));
        // Money: one column that fits 64 bits (with nulls), one that does not.
        let money = |name: &str, big: bool| {
            let m = (0..n as i128).map(|i| match i % 5 {
                0 => None,
                _ if big && i == 999 => Some(i128::from(i64::MAX) + 1),
                _ => Some(i * 1_000_001 - 400_000_000),
            });
            Int128Chunked::from_iter_options(name.into(), m)
                .into_decimal(38, 6)
                .unwrap()
                .into_column()
        };
        columns.push(money("fits", false));
        columns.push(money("big", true));
        let mut df = DataFrame::new(n, columns).unwrap();
        let whole = df.clone();
        let chunk = df.slice(0, 300);
        df = chunk.vstack(&df.slice(300, 700)).unwrap();
        assert!(df.first_col_n_chunks() > 1);
        let slices: Vec<Vec<IdxSize>> = (0..3u32)
            .map(|k| (0..n as IdxSize).filter(|i| (i * 7 + 3) % 3 == k).collect())
            .collect();
        let mut cut = Assignment::cut(df, slices.clone()).unwrap();
        assert_eq!(cut.slices.len(), 3);
        let mut kept_wide = 0;
        for (k, rows) in slices.iter().enumerate() {
            // Waiting, the money that fits is held narrow; taken, it is the table's again.
            assert_eq!(
                cut.slices[k].column("fits").unwrap().dtype(),
                &DataType::Int64
            );
            // Row 999, too large for 64 bits, keeps its slice's column a decimal.
            let big = cut.slices[k].column("big").unwrap().dtype().clone();
            let with_999 = rows.contains(&999);
            kept_wide += usize::from(with_999);
            let held = if with_999 {
                DataType::Decimal(38, 6)
            } else {
                DataType::Int64
            };
            assert_eq!(big, held);
            let piece = cut.take(k).unwrap();
            assert_eq!(piece.schema(), whole.schema());
            let idx = IdxCa::from_vec("i".into(), rows.clone());
            for name in ["fits", "big"] {
                let want = whole.column(name).unwrap().take(&idx).unwrap();
                assert!(piece.column(name).unwrap().equals_missing(&want), "{name}");
            }
            assert_eq!(piece.width(), width + 3);
            assert_eq!(piece.height(), rows.len());
            for c in 0..width {
                let got: Vec<i64> = piece
                    .column(&format!("c{c}"))
                    .unwrap()
                    .i64()
                    .unwrap()
                    .into_no_null_iter()
                    .collect();
                let want: Vec<i64> = rows.iter().map(|&i| i as i64 * 10 + c as i64).collect();
                assert_eq!(got, want, "column c{c}");
            }
            let k = piece.column("k").unwrap().i32().unwrap();
            assert!(k.iter().all(|v| v == Some(7)));
        }
        assert_eq!(kept_wide, 1);
        // A row in no slice, or in two, fails rather than being lost or doubled.
        let df = DataFrame::new(3, vec![Column::new("a".into(), [1i64, 2, 3])]).unwrap();
        assert!(Assignment::cut(df.clone(), vec![vec![0], vec![1]]).is_err());
        assert!(Assignment::cut(df.clone(), vec![vec![0, 1, 2], vec![1]]).is_err());
        assert!(Assignment::cut(df.clone(), vec![vec![0, 2], vec![1, 3]]).is_err());
        assert!(Assignment::cut(df, vec![vec![0, 2], vec![1]]).is_ok());
    }
}
