//! The run's summary: findings per class and currency, the row accounting that proves no row
//! was lost, and the matched lines and totals.

use super::{pl, typed, ClassTotal, ReconcileError, RowCounts, Summary};
use crate::domain::frames::{self, decimal_at};
use crate::domain::{sources, threads};
use polars::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Rows given to the reconciliation, before any scope or window.
#[derive(Debug, Clone, Copy)]
pub(super) struct RowsRead {
    pub provider: usize,
    pub ledger: usize,
}

/// One side's rows in scope as the summary counts them: `source`, `in_window` (and `user_id`
/// when the fuzzy rule is on), and whether no two share a `source`, when that was settled
/// before the rows were cut into slices.
///
/// Why: a run in slices gives these columns back slice by slice once each slice has run
/// ([`super::slices`]), so they are not held whole beside the slices (at 10M rows per side
/// 0.3 GiB of the peak). Stacked that way they are out of file order, and checking them for
/// repeats then would sort a copy of every `source`; so the check is made on the whole column, in
/// order, before the cut.
#[derive(Debug)]
pub(super) struct ScopeRows {
    pub rows: DataFrame,
    /// Whether the `source`s are distinct, if already checked.
    pub distinct: Option<bool>,
}

impl ScopeRows {
    /// Rows in file order, not yet checked.
    pub(super) fn whole(rows: DataFrame) -> Self {
        ScopeRows {
            rows,
            distinct: None,
        }
    }

    /// Whether no two rows share a `source`: as settled before, else checked now
    /// ([`sources::all_distinct`]).
    pub(super) fn sources_distinct(&self) -> Result<bool, ReconcileError> {
        match self.distinct {
            Some(d) => Ok(d),
            None => pl("summary", sources::all_distinct(packed_source(&self.rows)?)),
        }
    }
}

/// The packed `source` column of summary rows (the input tables are built with it packed).
fn packed_source(rows: &DataFrame) -> Result<&Column, ReconcileError> {
    let c = pl("summary", rows.column("source"))?;
    if !sources::is_packed(c) {
        return Err(ReconcileError::Invariant(format!(
            "the summary's rows hold `source` as {}, not packed",
            c.dtype()
        )));
    }
    Ok(c)
}

/// The summary of findings `d`. `provider` and `ledger` are the rows in scope; `lines` are
/// the provider lines of the prepare files' `matched` table, counted by [`matched_lines`] (per
/// slice of the run, added up).
pub(super) fn summarize(
    read: RowsRead,
    scope: super::conventions::LedgerScope,
    provider: &ScopeRows,
    ledger: &ScopeRows,
    lines: MatchedLines,
    d: &DataFrame,
) -> Result<Summary, ReconcileError> {
    // A row is reported when a finding names it. The reported sets are small (the findings'
    // rows); the in-scope rows are streamed past them, never collected, so this costs no
    // memory per row (a set of every source cost ~70 bytes a row at 10M rows). They are hash
    // sets: every row of both sides is looked up once, and an ordered set's string compares
    // cost about a second per 10M rows.
    let reported_p = sources(d, "provider_rows")?;
    let reported_l = sources(d, "ledger_rows")?;
    let rows = row_counts(read, scope, provider, ledger, &reported_p, &reported_l)?;
    summarize_counted(rows, lines, d)
}

/// The summary of findings `d` with the rows already counted (a run in parts counts each
/// part's rows against the findings that name them, [`add_rows`]). `d` is checked to be in
/// the discrepancy schema first: every run's findings pass here before they are reported.
pub(super) fn summarize_counted(
    rows: RowCounts,
    lines: MatchedLines,
    d: &DataFrame,
) -> Result<Summary, ReconcileError> {
    pl(
        "discrepancies",
        frames::check_schema(d, &frames::discrepancy_schema(), "discrepancies"),
    )?;
    Ok(Summary {
        by_class: class_totals(d)?,
        discrepancies: d.height() as u64,
        provider_lines: lines.lines,
        matched_lines: lines.matched,
        match_rate_percent: match_rate(lines.matched, lines.lines),
        matched_totals: lines.totals()?,
        rows,
        not_checked: Vec::new(),
    })
}

/// Count and sum of |difference| per class and currency.
fn class_totals(
    d: &DataFrame,
) -> Result<BTreeMap<String, BTreeMap<String, ClassTotal>>, ReconcileError> {
    let classes = typed(d, "class", "summary", Column::str)?;
    let currencies = typed(d, "currency", "summary", Column::str)?;
    let diff = pl("summary", d.column("difference").cloned())?;
    let mut by_class: BTreeMap<String, BTreeMap<String, ClassTotal>> = BTreeMap::new();
    for i in 0..d.height() {
        let class = classes.get(i).unwrap_or_default().to_owned();
        let cur = currencies.get(i).unwrap_or_default().to_owned();
        let t = by_class.entry(class).or_default().entry(cur).or_default();
        t.count += 1;
        t.amount += pl("summary", decimal_at(&diff, i))?
            .unwrap_or_default()
            .abs();
    }
    Ok(by_class)
}

/// Every row read is out of scope, reported or matched; checks that they add up and that no
/// two rows share a `source` (else a row could be counted for another).
pub(super) fn row_counts(
    read: RowsRead,
    scope: super::conventions::LedgerScope,
    provider: &ScopeRows,
    ledger: &ScopeRows,
    reported_p: &Reported,
    reported_l: &Reported,
) -> Result<RowCounts, ReconcileError> {
    let mut r = RowCounts {
        provider_rows: read.provider as u64,
        ledger_rows: read.ledger as u64,
        ..RowCounts::default()
    };
    // The two sides on two threads: each pass sees every row of its side (10M at the top).
    let (p, l) = threads::both(
        || side_rows(provider, reported_p),
        || side_rows(ledger, reported_l),
    );
    let (p, l) = (p?, l?);
    let (provider, ledger) = (&provider.rows, &ledger.rows);
    r.provider_out_of_scope = r.provider_rows - provider.height() as u64;
    (r.provider_reported, r.provider_in_margin) = (p.reported, p.in_margin);
    r.provider_matched = provider.height() as u64 - r.provider_reported - r.provider_in_margin;
    r.ledger_not_money = scope.not_money;
    r.ledger_journal_lines = scope.journal;
    r.ledger_other_projects = scope.other_projects;
    r.ledger_out_of_window = r.ledger_rows - scope.total() - ledger.height() as u64;
    (r.ledger_reported, r.ledger_in_margin) = (l.reported, l.in_margin);
    r.ledger_matched = ledger.height() as u64 - r.ledger_reported - r.ledger_in_margin;
    if !p.distinct || !l.distinct {
        return Err(ReconcileError::Invariant(
            "row sources are not unique; rows could not be accounted for".into(),
        ));
    }
    if r.provider_rows
        != r.provider_out_of_scope + r.provider_reported + r.provider_in_margin + r.provider_matched
        || r.ledger_rows
            != r.ledger_not_money
                + r.ledger_journal_lines
                + r.ledger_other_projects
                + r.ledger_out_of_window
                + r.ledger_reported
                + r.ledger_in_margin
                + r.ledger_matched
    {
        return Err(ReconcileError::Invariant(format!(
            "rows do not add up: {r:?}"
        )));
    }
    Ok(r)
}

/// Adds the row counts of another part of the run (each part's add up, so the sums do).
pub(super) fn add_rows(to: &mut RowCounts, part: &RowCounts) {
    let RowCounts {
        provider_rows,
        provider_out_of_scope,
        provider_reported,
        provider_matched,
        provider_in_margin,
        ledger_rows,
        ledger_out_of_window,
        ledger_reported,
        ledger_matched,
        ledger_in_margin,
        ledger_not_money,
        ledger_journal_lines,
        ledger_other_projects,
    } = part;
    to.provider_rows += provider_rows;
    to.provider_out_of_scope += provider_out_of_scope;
    to.provider_reported += provider_reported;
    to.provider_matched += provider_matched;
    to.provider_in_margin += provider_in_margin;
    to.ledger_rows += ledger_rows;
    to.ledger_out_of_window += ledger_out_of_window;
    to.ledger_reported += ledger_reported;
    to.ledger_matched += ledger_matched;
    to.ledger_in_margin += ledger_in_margin;
    to.ledger_not_money += ledger_not_money;
    to.ledger_journal_lines += ledger_journal_lines;
    to.ledger_other_projects += ledger_other_projects;
}

/// What [`side_rows`] found of one side's rows in scope.
struct SideRows {
    reported: u64,
    in_margin: u64,
    /// No two rows share a `source`.
    distinct: bool,
}

/// The reported rows, the other rows in the margin, and whether the sources are distinct.
fn side_rows(side: &ScopeRows, reported: &Reported) -> Result<SideRows, ReconcileError> {
    let (reported, in_margin) = reported_and_margin(&side.rows, reported)?;
    let distinct = side.sources_distinct()?;
    Ok(SideRows {
        reported,
        in_margin,
        distinct,
    })
}

/// Provider lines (transaction × kind) and those no finding names.
#[derive(Debug, Default)]
pub(super) struct MatchedLines {
    lines: u64,
    matched: u64,
    /// Matched Xsolla amount per currency, as mantissas of `scale`.
    sums: BTreeMap<String, i128>,
    /// The scale of `p_amount` (the money type's: the same in every slice).
    scale: u32,
}

impl MatchedLines {
    /// Adds the lines of another slice of the run.
    pub(super) fn add(&mut self, other: MatchedLines) -> Result<(), ReconcileError> {
        if self.lines > 0 && other.lines > 0 && self.scale != other.scale {
            return Err(ReconcileError::Invariant(format!(
                "matched amounts in scales {} and {}",
                self.scale, other.scale
            )));
        }
        if other.lines > 0 {
            self.scale = other.scale;
        }
        self.lines += other.lines;
        self.matched += other.matched;
        for (c, m) in other.sums {
            let sum = self.sums.entry(c).or_default();
            *sum = sum
                .checked_add(m)
                .ok_or_else(|| ReconcileError::Invariant("matched total overflows".into()))?;
        }
        Ok(())
    }

    /// Matched Xsolla amount per currency, formatted in the currency's exponent.
    fn totals(&self) -> Result<BTreeMap<String, String>, ReconcileError> {
        let mut out = BTreeMap::new();
        for (c, m) in &self.sums {
            let total = Decimal::try_from_i128_with_scale(*m, self.scale)
                .map_err(|e| ReconcileError::Invariant(format!("matched total of {c}: {e}")))?;
            out.insert(c.clone(), crate::domain::money::format_amount(total, c));
        }
        Ok(out)
    }
}

/// Lines of `matched` from which [`matched_lines`] counts its two halves on two threads.
const TWO_THREADS_FROM: usize = 100_000;

/// Counts the provider lines of `matched` dated inside the window and sums the amounts of
/// those whose rows no finding names (`reported`).
///
/// A long table is counted in two halves at once and the halves added (exact integer sums, so
/// the order does not matter): the pass looks up every line's sources in `reported`, about
/// 45 ms a million lines on one thread while the other core had nothing to do.
pub(super) fn matched_lines(
    matched: &DataFrame,
    reported: &Reported,
) -> Result<MatchedLines, ReconcileError> {
    let n = matched.height();
    if n < TWO_THREADS_FROM {
        return lines_of(matched, reported);
    }
    let half = n / 2;
    let (first, second) = (matched.slice(0, half), matched.slice(half as i64, n - half));
    let (first, second) = threads::both(
        || lines_of(&first, reported),
        || lines_of(&second, reported),
    );
    let mut out = first?;
    out.add(second?)?;
    Ok(out)
}

/// [`matched_lines`] on one thread.
fn lines_of(matched: &DataFrame, reported: &Reported) -> Result<MatchedLines, ReconcileError> {
    let p_txn = typed(matched, "p_txn", "summary", Column::i64)?;
    let p_rows = typed(matched, "provider_rows", "summary", Column::str)?;
    let p_cur = typed(matched, "p_currency", "summary", Column::str)?;
    let p_amount = typed(matched, "p_amount", "summary", Column::decimal)?;
    // Lines dated outside the window are read for matching only (rule sets without `p_pos`
    // count every line, as before it existed).
    let p_pos = match matched.column("p_pos") {
        Ok(c) => Some(pl("summary", c.cast(&DataType::Int32))?),
        Err(_) => None,
    };
    let p_pos = p_pos
        .as_ref()
        .map(|c| c.i32())
        .transpose()
        .map_err(|source| ReconcileError::Polars {
            what: "summary",
            source,
        })?;
    let scale = p_amount.scale() as u32;
    let mut out = MatchedLines {
        scale,
        ..MatchedLines::default()
    };
    // Iterators, not per-row lookups: this loop sees every line of a 10-million-row run.
    // A hash map for the sums, put in order once at the end: an ordered map's string compares
    // (a `memcmp` call each) cost more than the rest of a line's work.
    let mut sums: PlHashMap<&str, i128> = PlHashMap::new();
    let lines = p_txn
        .iter()
        .zip(p_rows.iter())
        .zip(p_cur.iter())
        .zip(p_amount.physical().iter());
    let mut outside = p_pos.map(|c| c.iter());
    for (((txn, rows), cur), amount) in lines {
        let pos = outside.as_mut().and_then(|i| i.next()).flatten();
        if txn.is_none() || pos.is_some_and(|p| p != 0) {
            continue;
        }
        out.lines += 1;
        let rows = rows.unwrap_or_default();
        if !names_any(rows, reported) {
            out.matched += 1;
            let sum = sums.entry(cur.unwrap_or_default()).or_default();
            *sum = sum
                .checked_add(amount.unwrap_or_default())
                .ok_or_else(|| ReconcileError::Invariant("matched total overflows".into()))?;
        }
    }
    out.sums = sums.into_iter().map(|(c, m)| (c.to_owned(), m)).collect();
    Ok(out)
}

/// Whether `rows` (`;`-separated sources) names any source in `reported`. Nearly every line
/// has one source and nearly none is reported: one lookup, without splitting.
#[inline]
fn names_any(rows: &str, reported: &Reported) -> bool {
    if reported.is_empty() {
        return false;
    }
    match memchr::memchr(b';', rows.as_bytes()) {
        None => reported.contains(rows),
        Some(_) => rows.split(';').any(|r| reported.contains(r)),
    }
}

/// matched / lines as a percentage with 2 decimals; 100.00 when there are no lines.
fn match_rate(matched: u64, lines: u64) -> String {
    if lines == 0 {
        return "100.00".into();
    }
    let mut rate = Decimal::from(matched * 100) / Decimal::from(lines);
    rate = rate.round_dp(2);
    rate.rescale(2);
    rate.to_string()
}

/// The `source`s the findings name.
pub(super) type Reported = PlHashSet<String>;

/// Every `source` named in column `column` of the findings (`;`-separated lists).
pub(super) fn sources(df: &DataFrame, column: &str) -> Result<Reported, ReconcileError> {
    let c = typed(df, column, "sources", Column::str)?;
    Ok(c.iter()
        .flatten()
        .flat_map(|s| s.split(';'))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The hashes that occur more than once in `hashes`, found by sorting them in place (80 MB at
/// 10M rows: faster than a hash set of every value, whose random accesses miss the cache):
/// each half on a core of its own, then both read in one merged pass.
pub(super) fn repeated_hashes(mut hashes: Vec<u64>) -> PlHashSet<u64> {
    let mid = hashes.len() / 2;
    let (a, b) = hashes.split_at_mut(mid);
    crate::domain::threads::both(|| a.sort_unstable(), || b.sort_unstable());
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    let mut repeated = PlHashSet::new();
    let mut last = None;
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x <= y => a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => break,
        };
        if next == last {
            repeated.extend(next);
        }
        last = next;
    }
    repeated
}

/// Rows whose `source` is in `reported`, and the other rows dated outside the window
/// (`in_window` false: read for matching only).
fn reported_and_margin(df: &DataFrame, reported: &Reported) -> Result<(u64, u64), ReconcileError> {
    let inside = typed(df, "in_window", "summary", Column::bool)?;
    // The findings' texts as packed values (a text no row was packed from names no row).
    let reported: PlHashSet<u64> = reported.iter().filter_map(|s| sources::lookup(s)).collect();
    let packed = pl("summary", packed_source(df)?.u64())?;
    let (mut rep, mut margin) = (0, 0);
    for (s, w) in packed.iter().zip(inside.iter()) {
        if s.is_some_and(|s| reported.contains(&s)) {
            rep += 1;
        } else if w == Some(false) {
            margin += 1;
        }
    }
    Ok((rep, margin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::frames::{decimal_column, MONEY_SCALE};

    proptest::proptest! {
        /// The two sorted halves read as one find exactly the values seen more than once,
        /// whichever half their copies fell in.
        #[test]
        fn repeated_hashes_are_exactly_the_values_seen_twice(
            values in proptest::collection::vec(0u64..40, 0..200)
        ) {
            let mut seen = std::collections::HashMap::new();
            for v in &values {
                *seen.entry(*v).or_insert(0) += 1;
            }
            let want: PlHashSet<u64> =
                seen.into_iter().filter(|(_, n)| *n > 1).map(|(v, _)| v).collect();
            proptest::prop_assert_eq!(repeated_hashes(values), want);
        }
    }

    /// A `matched` table of `n` lines: some without a Xsolla side, some dated outside the
    /// window, three currencies, lines of one and of two sources.
    fn matched(n: usize) -> DataFrame {
        let txn: Vec<Option<i64>> = (0..n).map(|i| (i % 97 != 0).then_some(i as i64)).collect();
        let rows: Vec<String> = (0..n)
            .map(|i| match i % 5 {
                0 => format!("export.csv:{i};export.csv:{}", i + n),
                _ => format!("export.csv:{i}"),
            })
            .collect();
        let cur: Vec<&str> = (0..n).map(|i| ["USD", "EUR", "JPY"][i % 3]).collect();
        let amounts: Vec<Option<Decimal>> = (0..n)
            .map(|i| Some(Decimal::new(i as i64 * 7 - 1_000, 2)))
            .collect();
        let pos: Vec<i32> = (0..n).map(|i| [0, 0, 0, -1, 1][i % 7 % 5]).collect();
        DataFrame::new_infer_height(vec![
            Column::new("p_txn".into(), txn),
            Column::new("provider_rows".into(), rows),
            Column::new("p_currency".into(), cur),
            decimal_column("p_amount", &amounts, MONEY_SCALE).unwrap(),
            Column::new("p_pos".into(), pos),
        ])
        .unwrap()
    }

    #[test]
    fn matched_lines_in_two_halves_count_and_sum_as_one_pass() {
        let n = TWO_THREADS_FROM * 2 + 1;
        let m = matched(n);
        // Findings name sources in both halves, the second source of a two-source line too.
        let reported: Reported = [3, 10, n / 2 + 1, n - 2]
            .iter()
            .map(|i| format!("export.csv:{i}"))
            .chain([format!("export.csv:{}", 15 + n)])
            .collect();
        let halves = matched_lines(&m, &reported).unwrap();
        let one = lines_of(&m, &reported).unwrap();
        assert_eq!(
            (halves.lines, halves.matched, &halves.sums, halves.scale),
            (one.lines, one.matched, &one.sums, one.scale)
        );
        // And what the lines are, counted here without the code under test.
        let expected_lines = (0..n).filter(|i| i % 97 != 0 && i % 7 % 5 < 3).count() as u64;
        assert_eq!(halves.lines, expected_lines);
        let unreported = [3, 10, n / 2 + 1, n - 2, 15]
            .iter()
            .filter(|&&i| i % 97 != 0 && i % 7 % 5 < 3)
            .count() as u64;
        assert_eq!(halves.matched, expected_lines - unreported);
        assert_eq!(halves.sums.len(), 3);
        // No findings: every line is matched.
        let none = matched_lines(&m, &Reported::default()).unwrap();
        assert_eq!((none.lines, none.matched), (expected_lines, expected_lines));
    }
}
