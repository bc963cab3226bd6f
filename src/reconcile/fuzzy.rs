//! The fuzzy rule: probable pairs among missing_in_ledger and missing_in_provider.
//!
//! Both findings of a pair stay reported, flagged `probable` with a detail naming the other:
//! a person confirms, the engine never accepts a pair.

use super::{pl, typed, FuzzySettings, ReconcileError};
use crate::domain::frames::decimal_at;
use crate::domain::not_checked::NotChecked;
use polars::prelude::*;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// Flags the probable pairs of findings `d` (see [`FuzzySettings`]). `currencies` is the
/// `currency, tolerance` table; `provider` and `ledger` give each row's `user_id` by `source`.
/// With more unmatched lines than `max_candidates` the rule does not run, and says so in
/// `not_checked`.
pub(super) fn flag_probable(
    d: DataFrame,
    s: &FuzzySettings,
    currencies: &DataFrame,
    provider: &DataFrame,
    ledger: &DataFrame,
    not_checked: &mut Vec<NotChecked>,
) -> Result<DataFrame, ReconcileError> {
    let class = typed(&d, "class", "fuzzy", Column::str)?;
    let pick = |name: &str| -> Vec<usize> {
        (0..d.height())
            .filter(|&i| class.get(i) == Some(name))
            .collect()
    };
    let (left, right) = (pick("missing_in_ledger"), pick("missing_in_provider"));
    if left.len() > s.max_candidates || right.len() > s.max_candidates {
        tracing::warn!(
            left = left.len(),
            right = right.len(),
            max = s.max_candidates,
            "too many unmatched lines for the fuzzy rule; skipped"
        );
        not_checked.push(NotChecked::new(
            "fuzzy",
            "unmatched lines",
            (left.len() + right.len()) as u64,
            format!(
                "{} unmatched Xsolla lines and {} unmatched ledger lines, more than reconcile.fuzzy.max_candidates ({}): no probable pairs were looked for",
                left.len(),
                right.len(),
                s.max_candidates
            ),
        ));
        return mark_pairs(d, &[]);
    }
    let candidates = Candidates {
        currency: typed(&d, "currency", "fuzzy", Column::str)?,
        expected: pl("fuzzy", d.column("expected").cloned())?,
        actual: pl("fuzzy", d.column("actual").cloned())?,
        provider_date: typed(&d, "provider_date", "fuzzy", Column::date)?,
        ledger_date: typed(&d, "ledger_date", "fuzzy", Column::date)?,
        tolerance: tolerances(currencies)?,
        provider_user: users(&d, "provider_rows", &left, provider)?,
        ledger_user: users(&d, "ledger_rows", &right, ledger)?,
        settings: s,
    };
    let pairs = candidates.pairs(&left, &right)?;
    mark_pairs(d, &pairs)
}

/// Finding `left` (missing_in_ledger) is probably finding `right` (missing_in_provider).
struct Pair {
    left: usize,
    right: usize,
    /// Days between the two dates.
    days: u32,
    /// How the users compared, for the detail.
    user: String,
}

/// What the rule compares, per finding row.
struct Candidates<'a> {
    currency: StringChunked,
    expected: Column,
    actual: Column,
    provider_date: DateChunked,
    ledger_date: DateChunked,
    /// Per currency.
    tolerance: BTreeMap<String, Decimal>,
    /// Per finding row: the user of its Xsolla rows / its ledger rows, when they name one.
    provider_user: BTreeMap<usize, String>,
    ledger_user: BTreeMap<usize, String>,
    settings: &'a FuzzySettings,
}

impl Candidates<'_> {
    /// Each `left` finding with the first `right` finding it probably is, each `right` one
    /// taken at most once.
    fn pairs(&self, left: &[usize], right: &[usize]) -> Result<Vec<Pair>, ReconcileError> {
        let mut used = BTreeSet::new();
        let mut pairs = Vec::new();
        for &i in left {
            if let Some(pair) = self.first_match(i, right, &used)? {
                used.insert(pair.right);
                pairs.push(pair);
            }
        }
        Ok(pairs)
    }

    /// The first `right` finding not `used` with the same currency, an amount within the
    /// currency's tolerance, dates at most `days` apart and, when asked, the same user.
    fn first_match(
        &self,
        i: usize,
        right: &[usize],
        used: &BTreeSet<usize>,
    ) -> Result<Option<Pair>, ReconcileError> {
        let s = self.settings;
        let amount = pl("fuzzy", decimal_at(&self.expected, i))?.unwrap_or_default();
        let c = self.currency.get(i).unwrap_or_default();
        let t = self.tolerance.get(c).copied().unwrap_or_default();
        for &j in right {
            if used.contains(&j) || self.currency.get(j) != Some(c) {
                continue;
            }
            let other = pl("fuzzy", decimal_at(&self.actual, j))?.unwrap_or_default();
            let days = match (
                self.provider_date.physical().get(i),
                self.ledger_date.physical().get(j),
            ) {
                (Some(a), Some(b)) => (a - b).unsigned_abs(),
                _ => u32::MAX,
            };
            let (pu, lu) = (self.provider_user.get(&i), self.ledger_user.get(&j));
            let user_ok = !s.same_user || pu.is_none() || lu.is_none() || pu == lu;
            if (amount - other).abs() <= t && days <= s.days && user_ok {
                let user = match (pu, lu) {
                    (Some(u), Some(_)) if s.same_user => format!("same user {u}"),
                    _ => "user not compared".to_owned(),
                };
                return Ok(Some(Pair {
                    left: i,
                    right: j,
                    days,
                    user,
                }));
            }
        }
        Ok(None)
    }
}

/// `currency → tolerance` from the `currency, tolerance` table.
fn tolerances(currencies: &DataFrame) -> Result<BTreeMap<String, Decimal>, ReconcileError> {
    let codes = typed(currencies, "currency", "fuzzy", Column::str)?;
    let tol_col = pl("fuzzy", currencies.column("tolerance").cloned())?;
    let mut tol = BTreeMap::new();
    for i in 0..currencies.height() {
        tol.insert(
            codes.get(i).unwrap_or_default().to_owned(),
            pl("fuzzy", decimal_at(&tol_col, i))?.unwrap_or_default(),
        );
    }
    Ok(tol)
}

/// Sets `probable` on both findings of each pair and adds to each detail which finding it
/// probably is and why.
fn mark_pairs(mut d: DataFrame, pairs: &[Pair]) -> Result<DataFrame, ReconcileError> {
    let keys = typed(&d, "key", "fuzzy", Column::str)?;
    let mut probable = vec![false; d.height()];
    let mut detail: Vec<Option<String>> = typed(&d, "detail", "fuzzy", Column::str)?
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect();
    for p in pairs {
        let (i, j) = (p.left, p.right);
        let (ki, kj) = (
            keys.get(i).unwrap_or_default(),
            keys.get(j).unwrap_or_default(),
        );
        let (days, user) = (p.days, &p.user);
        probable[i] = true;
        probable[j] = true;
        detail[i] = Some(format!(
            "{} (probably the same as {kj}: same currency and amount, {days} days apart, {user})",
            detail[i].clone().unwrap_or_default()
        ));
        detail[j] = Some(format!(
            "{} (probably the same as {ki}: same currency and amount, {days} days apart, {user})",
            detail[j].clone().unwrap_or_default()
        ));
    }
    let probable = Series::new("probable".into(), probable).into_column();
    pl("fuzzy", d.replace("probable", probable).map(|_| ()))?;
    let detail = Series::new("detail".into(), detail).into_column();
    pl("fuzzy", d.replace("detail", detail).map(|_| ()))?;
    Ok(d)
}

/// The user id of each candidate row `rows` of `d`, from the first of its source rows
/// (column `sources_col`) that names one in `frame` (`source`, `user_id`).
fn users(
    d: &DataFrame,
    sources_col: &str,
    rows: &[usize],
    frame: &DataFrame,
) -> Result<BTreeMap<usize, String>, ReconcileError> {
    let srcs = typed(d, sources_col, "fuzzy", Column::str)?;
    let mut wanted: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &i in rows {
        for s in srcs.get(i).unwrap_or_default().split(';') {
            wanted.entry(s).or_default().push(i);
        }
    }
    let mut out = BTreeMap::new();
    if wanted.is_empty() {
        return Ok(out);
    }
    let fsrc = super::text(frame, "source", "fuzzy")?;
    let fuser = typed(frame, "user_id", "fuzzy", Column::str)?;
    for (src, user) in fsrc.iter().zip(fuser.iter()) {
        if let (Some(src), Some(user)) = (src, user) {
            if let Some(rows) = wanted.get(src) {
                for &i in rows {
                    out.entry(i).or_insert_with(|| user.to_owned());
                }
            }
        }
    }
    Ok(out)
}
