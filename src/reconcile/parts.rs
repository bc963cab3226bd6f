//! Running the reconciliation in parts: each part's loaded rows are built and run on their own,
//! so a run holds one part at a time instead of both loaded files whole.
//!
//! Why: the loaded frames of both sides cost about 0.26 GiB per million rows per side, held
//! from the load to the last rule; a merchant's quarter at 100 M rows per side would need
//! about 26 GiB. Cut into parts that share nothing a rule compares, each part runs in what its
//! rows need, and the findings and counts are added up (README "Scaling").
//!
//! What a part keeps together: every row that shares a transaction id or an order id with
//! another, on either side, transitively ([`PartKeys`]): so the rows of a transaction, the
//! transactions of an order, a ledger line and its Xsolla rows (by transaction or by order),
//! a refund and the payment it refunds, a fee journal line and its sale, all meet in one part.
//! Within a part the rules may still run in slices ([`super::slices`]).
//!
//! What the whole run decides once, before any part runs its rules (a first pass builds each
//! part's tables for it): the `currencies` table, which ledger columns have no value at all,
//! the merchant-wide files (`provider_all`, payouts, breakdown) run on every part's
//! `provider_all` together, and the breakdown days without registry rows. After the parts:
//! the fuzzy rule on every finding, the summary from the findings and the parts' counts. Every
//! reconcile unit test runs whole, in slices and in parts, and compares (`tests::checked`).

use super::inputs::{self, WholeRun};
use super::not_checked::{self, EmptyLedgerColumns};
use super::rules::{self, RuleSet};
use super::{
    fuzzy, pl, run as rule_run, slices, summary, ReconcileError, ReconcileInput, ReconcileOutput,
    ReconcileSettings, RowCounts,
};
use crate::domain::frames;
use crate::domain::not_checked::NotChecked;
use crate::domain::sources;
use polars::prelude::*;

/// Where a run in parts gets each part's loaded rows.
pub trait PartSource {
    /// How many parts (at least one).
    fn count(&self) -> usize;
    /// Part `k`'s Xsolla rows and ledger lines as loaded ([`frames::provider_schema`],
    /// [`frames::ledger_schema`]): every row read in exactly one part, in file order within
    /// it. Each part is asked for twice (the first pass, then the rules).
    fn part(&mut self, k: usize) -> Result<[DataFrame; 2], ReconcileError>;

    /// Keeps `rows` aside until [`PartSource::taken_back`], all pieces given in one schema:
    /// every part's `provider_all`, which the merchant-wide files read once, after the first
    /// pass. Held in memory unless the source keeps them elsewhere (the job's part files
    /// write them to disk: at 100 M rows they are gigabytes the first pass need not hold).
    fn set_aside(&mut self, rows: DataFrame) -> Result<(), ReconcileError>;

    /// Every piece set aside, stacked in order, as a query the merchant-wide files read
    /// (only what they filter and project is read: at 100 M rows, reading the pieces whole
    /// took 11 GiB).
    fn taken_back(&mut self) -> Result<Option<LazyFrame>, ReconcileError>;
}

/// Which part each row goes to, from its transaction id and order id alone: rows that share
/// either, on either side, directly or through other rows, go to the same part.
///
/// Fed every row's ids first ([`PartKeys::add`]), then asked for each row's part
/// ([`PartOf::of`]), so the caller can read the ids in one pass and the rows in another. Held:
/// 16 bytes per distinct (order id, transaction id) pair until [`PartKeys::finish`] (a ledger
/// line and its Xsolla row carry the same pair, so about one pair per transaction: 1.6 GB at
/// 100 M); after it, only what the few rows whose part is not their transaction's own need.
#[derive(Debug)]
pub struct PartKeys {
    /// (order id's hash, transaction id) of every row carrying both, in [`BUCKETS`] buckets by
    /// the hash's top bits. A full bucket is sorted and its repeats dropped before it grows,
    /// so memory follows the distinct pairs, and it grows a bucket at a time: one vector of
    /// every pair doubled from 2 GB to 4 GB at 100 M rows per side, both held while it moved.
    buckets: Vec<Vec<(u64, i64)>>,
    /// Order ids' hashes of the rows without a transaction id.
    unkeyed: Vec<u64>,
}

/// Buckets of [`PartKeys`] (a power of two).
const BUCKETS: usize = 64;

impl Default for PartKeys {
    fn default() -> Self {
        PartKeys {
            buckets: vec![Vec::new(); BUCKETS],
            unkeyed: Vec::new(),
        }
    }
}

/// The bucket of an order id's hash.
fn bucket(h: u64) -> usize {
    (h >> (64 - BUCKETS.trailing_zeros())) as usize
}

/// An order id's 64-bit hash: two order ids sharing one only put more rows in one part.
fn order_hash(order: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(order.as_bytes())
}

impl PartKeys {
    /// Adds one row's ids (Xsolla: `transaction_id`, `external_id`; ledger: `transaction_id`,
    /// `order_id`).
    pub fn add(&mut self, txn: Option<i64>, order: Option<&str>) {
        match (txn, order) {
            (Some(t), Some(o)) => {
                let h = order_hash(o);
                let b = &mut self.buckets[bucket(h)];
                if b.len() == b.capacity() && b.len() >= 1024 {
                    b.sort_unstable();
                    b.dedup();
                    // Grown only when the repeats dropped freed less than half of it.
                    if b.len() > b.capacity() / 2 {
                        b.reserve_exact(b.capacity());
                    }
                }
                b.push((h, t));
            }
            (None, Some(o)) => self.unkeyed.push(order_hash(o)),
            _ => {}
        }
    }

    /// Adds every row of `df` (columns `txn` and `order`).
    pub fn add_frame(&mut self, df: &DataFrame, txn: &str, order: &str) -> PolarsResult<()> {
        let t = df.column(txn)?.i64()?;
        let o = df.column(order)?.str()?;
        for (t, o) in t.iter().zip(o.iter()) {
            self.add(t, o);
        }
        Ok(())
    }

    /// Each row's part among `n`.
    pub fn finish(self, n: u32) -> PartOf {
        let n = n.max(1);
        let mut unkeyed = self.unkeyed;
        unkeyed.sort_unstable();
        unkeyed.dedup();
        let mut groups = UnionFind::default();
        let mut order_txn = PlHashMap::new();
        // A bucket at a time, each freed once read: the order ids of one bucket are all there.
        for (k, mut edges) in self.buckets.into_iter().enumerate() {
            edges.sort_unstable();
            edges.dedup();
            // The transactions of one order id are one group; groups sharing a transaction
            // join.
            for order in edges.chunk_by(|a, b| a.0 == b.0) {
                for e in &order[1..] {
                    groups.union(order[0].1, e.1);
                }
            }
            // `unkeyed` is sorted, so this bucket's hashes are one run of it.
            let from = unkeyed.partition_point(|&h| bucket(h) < k);
            let to = unkeyed.partition_point(|&h| bucket(h) <= k);
            for &h in &unkeyed[from..to] {
                let i = edges.partition_point(|e| e.0 < h);
                if let Some(&(eh, t)) = edges.get(i) {
                    if eh == h {
                        order_txn.insert(h, t);
                    }
                }
            }
        }
        PartOf {
            n,
            root: groups.roots(),
            order_txn,
        }
    }
}

/// Each row's part, once every row's ids are known ([`PartKeys::finish`]).
#[derive(Debug)]
pub struct PartOf {
    n: u32,
    /// The group's transaction of every transaction in a group of several.
    root: PlHashMap<i64, i64>,
    /// A transaction of each order id that rows without a transaction id carry.
    order_txn: PlHashMap<u64, i64>,
}

impl PartOf {
    /// How many parts.
    pub fn parts(&self) -> u32 {
        self.n
    }

    /// The part of a row with these ids.
    pub fn of(&self, txn: Option<i64>, order: Option<&str>) -> u32 {
        let of_txn = |t: i64| of_id(*self.root.get(&t).unwrap_or(&t), self.n);
        match (txn, order) {
            (Some(t), _) => of_txn(t),
            (None, Some(o)) => {
                let h = order_hash(o);
                match self.order_txn.get(&h) {
                    Some(&t) => of_txn(t),
                    None => (h % u64::from(self.n)) as u32,
                }
            }
            // Rows without either id are grouped together by the rules: one part.
            (None, None) => 0,
        }
    }

    /// The part of every row of `df` (columns `txn` and `order`).
    pub fn of_frame(&self, df: &DataFrame, txn: &str, order: &str) -> PolarsResult<Vec<u32>> {
        let t = df.column(txn)?.i64()?;
        let o = df.column(order)?.str()?;
        Ok(t.iter().zip(o.iter()).map(|(t, o)| self.of(t, o)).collect())
    }
}

/// Part of a transaction id: splitmix64's finaliser, so neighbouring ids spread.
fn of_id(t: i64, n: u32) -> u32 {
    let mut z = (t as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) % u64::from(n)) as u32
}

/// Groups of transactions, each named by its smallest.
#[derive(Debug, Default)]
struct UnionFind {
    parent: PlHashMap<i64, i64>,
}

impl UnionFind {
    fn find(&mut self, t: i64) -> i64 {
        let mut x = t;
        while let Some(&p) = self.parent.get(&x) {
            if p == x {
                break;
            }
            // Path halving: each step points a node at its grandparent.
            let gp = *self.parent.get(&p).unwrap_or(&p);
            self.parent.insert(x, gp);
            x = gp;
        }
        x
    }

    fn union(&mut self, a: i64, b: i64) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            self.parent.entry(a).or_insert(a);
            return;
        }
        let (low, high) = (ra.min(rb), ra.max(rb));
        self.parent.insert(high, low);
        self.parent.entry(low).or_insert(low);
    }

    fn roots(mut self) -> PlHashMap<i64, i64> {
        let keys: Vec<i64> = self.parent.keys().copied().collect();
        keys.into_iter().map(|k| (k, self.find(k))).collect()
    }
}

/// A run's loaded frames cut into `n` parts in memory ([`PartKeys`]): for callers holding both
/// sides already, and the tests that check a run in parts finds what the whole run does.
pub struct CutParts {
    parts: Vec<[DataFrame; 2]>,
    aside: Vec<DataFrame>,
}

impl CutParts {
    /// `provider` and `ledger` cut into `n` parts (some may be empty).
    pub fn new(provider: &DataFrame, ledger: &DataFrame, n: u32) -> Result<Self, ReconcileError> {
        let what = "cutting the run into parts";
        let mut keys = PartKeys::default();
        pl(
            what,
            keys.add_frame(provider, "transaction_id", "external_id"),
        )?;
        pl(what, keys.add_frame(ledger, "transaction_id", "order_id"))?;
        let of = keys.finish(n);
        let p = pl(what, of.of_frame(provider, "transaction_id", "external_id"))?;
        let l = pl(what, of.of_frame(ledger, "transaction_id", "order_id"))?;
        let cut = |df: &DataFrame, part: &[u32], k: u32| {
            let mask =
                BooleanChunked::from_iter_values("part".into(), part.iter().map(|&x| x == k));
            pl(what, df.filter(&mask))
        };
        let parts = (0..of.parts())
            .map(|k| Ok([cut(provider, &p, k)?, cut(ledger, &l, k)?]))
            .collect::<Result<Vec<_>, ReconcileError>>()?;
        Ok(CutParts {
            parts,
            aside: Vec::new(),
        })
    }
}

impl PartSource for CutParts {
    fn count(&self) -> usize {
        self.parts.len()
    }

    fn part(&mut self, k: usize) -> Result<[DataFrame; 2], ReconcileError> {
        self.parts.get(k).cloned().ok_or_else(|| {
            ReconcileError::Invariant(format!("part {k} of {} asked for", self.parts.len()))
        })
    }

    fn set_aside(&mut self, rows: DataFrame) -> Result<(), ReconcileError> {
        self.aside.push(rows);
        Ok(())
    }

    fn taken_back(&mut self) -> Result<Option<LazyFrame>, ReconcileError> {
        let all = pl(
            "provider rows",
            frames::stacked(std::mem::take(&mut self.aside)),
        )?;
        // Read as the rules read a frame: coded columns as text.
        Ok(all.map(|df| crate::domain::codes::read_as_text(&df)))
    }
}

/// The tables only the merchant-wide files read.
const WHOLE_TABLES: [&str; 4] = ["provider_all", "payout_rows", "payouts", "breakdown"];

/// Runs the reconciliation of `shared` (its window, payouts, breakdown, conventions; its
/// `provider` and `ledger` must be empty) over the rows of `parts`, finding what one run over
/// all of them finds (the module's doc).
pub fn reconcile_in_parts(
    shared: ReconcileInput,
    parts: &mut dyn PartSource,
    settings: &ReconcileSettings,
) -> Result<ReconcileOutput, ReconcileError> {
    if shared.provider.height() > 0 || shared.ledger.height() > 0 {
        return Err(ReconcileError::Invariant(
            "a run in parts takes its rows from the parts, not from the shared input".into(),
        ));
    }
    let n = parts.count();
    if n == 0 {
        return Err(ReconcileError::Invariant(
            "a run in parts has no part".into(),
        ));
    }
    let rules = RuleSet::load(settings.sql_dir.as_deref())?;
    let plan = slices::plan(&rules).map_err(ReconcileError::NotInParts)?;
    // A run in parts is one too large to hold whole: memory a part frees goes back.
    rules::keep_freed_memory(false);
    let window = shared.window;
    let part_input = |rows: [DataFrame; 2]| {
        let [provider, ledger] = rows;
        ReconcileInput {
            provider,
            ledger,
            ..shared.clone()
        }
    };

    // First pass: what the whole run needs to know before a part runs a rule.
    let mut currencies: Vec<DataFrame> = Vec::with_capacity(n);
    let mut empty: Option<EmptyLedgerColumns> = None;
    let mut whole_tables = rules::Tables::default();
    let mut payout_lines: Vec<NotChecked> = Vec::new();
    for k in 0..n {
        rules::release_free_memory();
        let built = inputs::build(part_input(parts.part(k)?), settings, &rules, None)?;
        let mut tables = built.tables;
        parts.set_aside(tables.remove("provider_all").ok_or_else(|| {
            ReconcileError::Invariant("the input tables lack provider_all".into())
        })?)?;
        if k == 0 {
            // Built from the payouts and the breakdown alone: the same in every part.
            for name in ["payout_rows", "payouts", "breakdown", "settings"] {
                if let Some(df) = tables.remove(name) {
                    whole_tables.insert(name, df);
                }
            }
            payout_lines = built.not_checked.payouts;
        }
        currencies.push(built.currencies);
        empty = Some(match empty {
            None => built.empty_ledger,
            Some(e) => e.and(&built.empty_ledger),
        });
        tracing::debug!(
            part = k,
            of = n,
            "part's tables built for the whole run's facts"
        );
    }
    let whole = WholeRun {
        currencies: merged_currencies(currencies)?,
        empty_ledger: empty.unwrap_or_default(),
    };
    let provider_all = parts.taken_back()?.unwrap_or_default();
    let gaps = not_checked::breakdown_gaps(provider_all.clone(), &shared.breakdown, window)?;
    whole_tables.insert_lazy("provider_all", provider_all);
    whole_tables.insert("currencies", whole.currencies.clone());
    let (mut found, _) = rule_run::run_rules(&plan.whole, whole_tables, settings.engine)?;
    let mut reported_before = [summary::Reported::default(), summary::Reported::default()];
    for f in &found {
        reported_before[0].extend(summary::sources(f, "provider_rows")?);
        reported_before[1].extend(summary::sources(f, "ledger_rows")?);
    }

    // Second pass: each part's rules, its findings and counts added up.
    let judged = slices::Judged {
        settings,
        empty: &whole.empty_ledger,
        conventions: &shared.conventions,
    };
    let mut rows = RowCounts::default();
    let mut lines = summary::MatchedLines::default();
    let mut counted: Vec<NotChecked> = Vec::new();
    let mut fuzzy_rows: [Vec<DataFrame>; 2] = [Vec::new(), Vec::new()];
    for k in 0..n {
        rules::release_free_memory();
        let part = parts.part(k)?;
        let read = summary::RowsRead {
            provider: part[0].height(),
            ledger: part[1].height(),
        };
        let built = inputs::build(part_input(part), settings, &rules, Some(&whole))?;
        let mut tables = built.tables;
        for name in WHOLE_TABLES {
            tables.remove(name);
        }
        let scope_rows = [built.provider_rows, built.ledger_rows].map(summary::ScopeRows::whole);
        let (ran, [p_rows, l_rows]) = slices::run(
            &plan.per_slice,
            tables,
            &judged,
            scope_rows,
            &reported_before[0],
        )?;
        let mut reported = reported_before.clone();
        for f in &ran.found {
            reported[0].extend(summary::sources(f, "provider_rows")?);
            reported[1].extend(summary::sources(f, "ledger_rows")?);
        }
        let counts = summary::row_counts(
            read,
            built.ledger_scope,
            &p_rows,
            &l_rows,
            &reported[0],
            &reported[1],
        )?;
        summary::add_rows(&mut rows, &counts);
        lines.add(ran.lines)?;
        counted.extend(ran.not_checked);
        counted.extend(built.not_checked.journal);
        if settings.fuzzy.enabled {
            // The fuzzy rule reads the user id of the rows the findings name only.
            fuzzy_rows[0].push(named(&p_rows.rows, &reported[0])?);
            fuzzy_rows[1].push(named(&l_rows.rows, &reported[1])?);
        }
        found.extend(ran.found);
        tracing::debug!(part = k, of = n, "part done");
    }
    let mut discrepancies = rule_run::collect_findings(&found)?;
    drop(found);
    let mut not_checked: Vec<NotChecked> = payout_lines
        .into_iter()
        .chain(gaps)
        .chain(slices::add_counts(counted))
        .collect();
    if settings.fuzzy.enabled {
        let [p, l] = fuzzy_rows.map(|parts| pl("summary rows", frames::stacked(parts)));
        discrepancies = fuzzy::flag_probable(
            discrepancies,
            &settings.fuzzy,
            &whole.currencies,
            &p?.unwrap_or_default(),
            &l?.unwrap_or_default(),
            &mut not_checked,
        )?;
    }
    let mut summary = summary::summarize_counted(rows, lines, &discrepancies)?;
    summary.add_not_checked(not_checked, window);
    Ok(ReconcileOutput {
        discrepancies,
        summary,
    })
}

/// Every part's `currencies` table as the whole run's: each currency once, in order.
fn merged_currencies(parts: Vec<DataFrame>) -> Result<DataFrame, ReconcileError> {
    let what = "currencies";
    let all = pl(what, frames::stacked(parts))?.unwrap_or_default();
    pl(
        what,
        all.lazy()
            .unique_stable(
                Some(by_name(["currency"], true, false)),
                UniqueKeepStrategy::First,
            )
            .sort(["currency"], SortMultipleOptions::default())
            .collect(),
    )
}

/// The rows of `rows` (summary rows, `source` packed) whose source is in `named`.
fn named(rows: &DataFrame, named: &summary::Reported) -> Result<DataFrame, ReconcileError> {
    let what = "rows the findings name";
    let wanted: PlHashSet<u64> = named.iter().filter_map(|s| sources::lookup(s)).collect();
    let packed = pl(what, rows.column("source").and_then(|c| c.u64().cloned()))?;
    let mask = BooleanChunked::from_iter_values(
        "named".into(),
        packed
            .iter()
            .map(|s| s.is_some_and(|s| wanted.contains(&s))),
    );
    pl(what, rows.filter(&mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts_of(
        p: &[(Option<i64>, Option<&str>)],
        l: &[(Option<i64>, Option<&str>)],
        n: u32,
    ) -> (Vec<u32>, Vec<u32>) {
        let mut keys = PartKeys::default();
        for &(t, o) in p.iter().chain(l) {
            keys.add(t, o);
        }
        let of = keys.finish(n);
        (
            p.iter().map(|&(t, o)| of.of(t, o)).collect(),
            l.iter().map(|&(t, o)| of.of(t, o)).collect(),
        )
    }

    #[test]
    fn rows_sharing_an_id_on_either_side_go_to_one_part() {
        // 1 and 2 share order a (Xsolla); 2 and 3 share order b (ledger); 3's unkeyed ledger
        // line carries order c of transaction 3; 4 stands alone; 5's order d only the ledger has.
        let p = [
            (Some(1), Some("a")),
            (Some(2), Some("a")),
            (Some(3), Some("c")),
            (Some(4), Some("e")),
        ];
        let l = [
            (Some(2), Some("b")),
            (Some(3), Some("b")),
            (None, Some("c")),
            (None, Some("d")),
            (Some(5), Some("d")),
            (None, None),
        ];
        for n in [2, 3, 7, 64] {
            let (pp, lp) = parts_of(&p, &l, n);
            let group = pp[0];
            assert!(pp[..3].iter().all(|&x| x == group), "n {n}: {pp:?}");
            assert!(lp[..3].iter().all(|&x| x == group), "n {n}: {lp:?}");
            assert_eq!(
                lp[3], lp[4],
                "n {n}: an unkeyed line meets its order's transaction"
            );
            assert_eq!(lp[5], 0);
            assert!(pp.iter().chain(&lp).all(|&x| x < n));
        }
        // Many transactions spread over the parts.
        let p: Vec<_> = (0..1000).map(|t| (Some(t), None)).collect();
        let (pp, _) = parts_of(&p, &[], 8);
        for k in 0..8 {
            let c = pp.iter().filter(|&&x| x == k).count();
            assert!((60..200).contains(&c), "part {k}: {c} rows");
        }
    }

    #[test]
    fn many_rows_repeating_their_pairs_group_as_few_do() {
        // 300,000 rows: each order has three transactions, and each pair comes twice (an Xsolla
        // row and its ledger line), enough to fill and compact every bucket several times.
        let order = |t: i64| format!("o{}", t / 3);
        let mut keys = PartKeys::default();
        for t in 0..150_000i64 {
            keys.add(Some(t), Some(&order(t)));
            keys.add(Some(t), Some(&order(t)));
        }
        keys.add(None, Some(&order(299)));
        let of = keys.finish(16);
        for t in (0..150_000i64).step_by(3) {
            let p = of.of(Some(t), None);
            assert_eq!(of.of(Some(t + 1), None), p, "{t}");
            assert_eq!(of.of(Some(t + 2), Some("anything")), p, "{t}");
        }
        assert_eq!(of.of(None, Some(&order(299))), of.of(Some(297), None));
    }

    #[test]
    fn groups_join_through_a_chain_in_any_order() {
        // 10-a-20, 20-b-30, 30-c-40, given from the far end first.
        let p = [
            (Some(40), Some("c")),
            (Some(30), Some("c")),
            (Some(30), Some("b")),
            (Some(20), Some("b")),
            (Some(20), Some("a")),
            (Some(10), Some("a")),
        ];
        for n in [2, 5, 16] {
            let (pp, _) = parts_of(&p, &[], n);
            assert!(pp.iter().all(|&x| x == pp[0]), "n {n}: {pp:?}");
            assert_eq!(
                pp[0],
                of_id(10, n),
                "a group goes with its smallest transaction"
            );
        }
    }
}
