//! Which SQL files make up a rule set, and in which order.
//!
//! Shared, word for word, by the build script (which embeds `sql/` in the binary) and by
//! `rules::RuleSet::load` (which reads a `reconcile.sql_dir`), so the built-in rules and
//! an edited copy are ordered by the same rule. Plain `std` only: the build script has no crate.
//!
//! - `prepare/NN_name.sql` run in file-name order;
//! - `classes/<class>.sql` are reported in the order of the `-- report_order: N` line in the
//!   comment at the top of each file (smallest first, ties by name); a class file without one
//!   comes after those with one, alphabetically. Adding a class is adding one file.

/// The word of the header line: `-- report_order: 10`.
pub const REPORT_ORDER: &str = "report_order";

/// Where a class file asks to be in the report: the `-- report_order: N` line of the comment
/// block at the top of `sql`. `Ok(None)` when there is none; `Err` when the line is there but
/// `N` is not a whole number, so a typo never silently moves a class to the end.
pub fn report_order(sql: &str) -> Result<Option<u32>, String> {
    let header = sql
        .lines()
        .map(str::trim)
        .take_while(|l| l.is_empty() || l.starts_with("--"));
    for line in header {
        let Some(text) = line.strip_prefix("--") else {
            continue;
        };
        let Some(value) = text.trim().strip_prefix(REPORT_ORDER) else {
            continue;
        };
        let Some(value) = value.trim_start().strip_prefix(':') else {
            continue;
        };
        return value.trim().parse().map(Some).map_err(|_| {
            format!(
                "`-- {REPORT_ORDER}: {}` is not a whole number (write e.g. `-- {REPORT_ORDER}: 120`)",
                value.trim()
            )
        });
    }
    Ok(None)
}

/// Puts class files, given as `(class name, sql)` by `file`, in report order: by their
/// [`report_order`], then by name; files without one last, alphabetically. `Err` names the
/// class whose header is malformed.
pub fn sort_classes<T>(
    files: &mut Vec<T>,
    file: impl Fn(&T) -> (&str, &str),
) -> Result<(), (String, String)> {
    let mut keyed = Vec::with_capacity(files.len());
    for f in files.drain(..) {
        let (name, sql) = file(&f);
        let order = report_order(sql).map_err(|e| (name.to_owned(), e))?;
        // `None` sorts first in Rust; files without a header go last.
        let key = (order.is_none(), order, name.to_owned());
        keyed.push((key, f));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    files.extend(keyed.into_iter().map(|(_, f)| f));
    Ok(())
}
