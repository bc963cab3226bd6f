//! Loading and running the SQL rule files.
//!
//! The built-in rules are the files in `sql/`, compiled into the binary so the job needs no
//! files next to it; `reconcile.sql_dir` points at a copy to run edited rules instead. Both are
//! put in order by `catalog`; what a rule may read and must output is `sql/README.md`.

use super::{catalog, QueryEngine, ReconcileError};
use polars::prelude::*;
use polars::sql::SQLContext;
use std::path::Path;

// `PREPARE` and `CLASS_FILES`: `(file stem, text)` of every file in `sql/prepare/` (by name)
// and `sql/classes/` (in report order), and `CLASS_NAMES`; written by `build.rs`.
include!(concat!(env!("OUT_DIR"), "/sql_rules.rs"));

/// One SQL file.
#[derive(Debug, Clone)]
pub struct Rule {
    /// File name, for errors (`sql/classes/amount_mismatch.sql`).
    pub file: String,
    /// Table it registers (prepare) or class it decides (classes).
    pub table: String,
    /// The query.
    pub sql: String,
    /// The query as [`Rule::mentions`] reads it (see [`code_of`]).
    code: String,
}

/// The tables rules can read, by name: frames, and queries read only when a rule runs (a
/// run in parts reads every part's `provider_all` back from its file that way, so the
/// merchant-wide files read what they filter and project, not 100 M rows).
#[derive(Default)]
pub struct Tables {
    frames: std::collections::BTreeMap<String, DataFrame>,
    lazy: std::collections::BTreeMap<String, LazyFrame>,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("frames", &self.frames)
            .field("lazy", &self.lazy.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Tables {
    /// Adds or replaces a table, each of its columns in one chunk ([`one_chunk`]).
    pub fn insert(&mut self, name: &str, mut df: DataFrame) {
        one_chunk(&mut df);
        self.lazy.remove(name);
        self.frames.insert(name.to_owned(), df);
    }

    /// Adds or replaces a table given as a query: rules read it as they read a frame.
    pub fn insert_lazy(&mut self, name: &str, lf: LazyFrame) {
        self.frames.remove(name);
        self.lazy.insert(name.to_owned(), lf);
    }
    /// `name=MiB` of every table held, for the debug log.
    pub fn sizes(&self) -> Vec<String> {
        self.frames
            .iter()
            .map(|(k, v)| format!("{k}={}", v.estimated_size() >> 20))
            .chain(self.lazy.keys().map(|k| format!("{k}=(read when used)")))
            .collect()
    }

    /// Estimated MiB of every table held (buffers shared between tables are counted once per
    /// table), for the debug log.
    pub fn estimated_mib(&self) -> usize {
        self.frames
            .values()
            .map(|df| df.estimated_size())
            .sum::<usize>()
            >> 20
    }

    /// Takes a table out.
    pub fn remove(&mut self, name: &str) -> Option<DataFrame> {
        self.lazy.remove(name);
        self.frames.remove(name)
    }

    /// A table.
    pub fn get(&self, name: &str) -> Option<&DataFrame> {
        self.frames.get(name)
    }

    /// The tables whose name `keep` says yes to (sharing their columns with these).
    pub fn only(&self, keep: impl Fn(&str) -> bool) -> Tables {
        fn kept<V: Clone>(
            all: &std::collections::BTreeMap<String, V>,
            keep: &impl Fn(&str) -> bool,
        ) -> std::collections::BTreeMap<String, V> {
            all.iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
        Tables {
            frames: kept(&self.frames, &keep),
            lazy: kept(&self.lazy, &keep),
        }
    }

    /// The names of the tables held: the frames, then the queries, each in name order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.frames
            .keys()
            .chain(self.lazy.keys())
            .map(String::as_str)
    }

    /// Drops every table no rule in `later` mentions, except `keep`: a 10-million-row run
    /// cannot afford to hold each intermediate table to the end.
    pub fn drop_unused(&mut self, later: &[&Rule], keep: &[&str]) {
        let wanted =
            |name: &String| keep.contains(&name.as_str()) || later.iter().any(|r| r.mentions(name));
        self.frames.retain(|name, _| wanted(name));
        self.lazy.retain(|name, _| wanted(name));
    }
}

impl Rule {
    /// A rule of `file` making `table` (or deciding class `table`) with query `sql`.
    pub(crate) fn new(file: String, table: String, sql: String) -> Rule {
        let code = code_of(&sql);
        Rule {
            file,
            table,
            sql,
            code,
        }
    }

    /// Whether the query names `table` (or a column) as a whole word, case-insensitive as SQL
    /// is. Comments and string literals do not count: a comment saying "provider and ledger"
    /// must not keep both 10-million-row input tables alive to the end of the run.
    pub fn mentions(&self, table: &str) -> bool {
        let table = table.to_ascii_lowercase();
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        self.code.match_indices(&table).any(|(at, _)| {
            let before = self.code[..at].chars().next_back();
            let after = self.code[at + table.len()..].chars().next();
            !before.is_some_and(word) && !after.is_some_and(word)
        })
    }

    /// Whether no table the query mentions is still to be made by one of `pending` (prepare
    /// files not run yet).
    pub fn ready<'a>(&self, pending: impl IntoIterator<Item = &'a Rule>) -> bool {
        !pending.into_iter().any(|p| self.mentions(&p.table))
    }
}

/// The query lower-cased, with `--` and `/* */` comments and `'…'` literals blanked out.
fn code_of(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
                out.push(' ');
            }
            '\'' => {
                // '' inside a literal is an escaped quote: the literal simply continues.
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                }
                out.push_str("''");
            }
            c => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

impl Rule {
    /// Runs the query and collects it (collecting once keeps later rules from recomputing it).
    ///
    /// Each rule gets a fresh SQL context: Polars' context remembers table aliases across
    /// queries, so an alias `r` in one file would otherwise leak into the next.
    pub fn run(&self, tables: &Tables, engine: QueryEngine) -> Result<DataFrame, ReconcileError> {
        let mut ctx = SQLContext::new();
        for (name, df) in &tables.frames {
            ctx.register(name, crate::domain::codes::read_as_text(df));
        }
        for (name, lf) in &tables.lazy {
            ctx.register(name, lf.clone());
        }
        let started = std::time::Instant::now();
        release_free_memory();
        // Polars panics on some queries it cannot run (an edited rule in `reconcile.sql_dir`,
        // say) instead of returning an error; that must not take the process down without
        // naming the file. Unwind-safe enough: the closure only reads `tables`, and
        // everything it built is dropped with the panic.
        let engine = self.engine(engine);
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ctx.execute(&self.sql).and_then(|lf| engine.collect(lf))
        }))
        .map_err(|panic| self.engine_panic(panic.as_ref()))?
        .map_err(|e| self.failure(e, tables))?;
        tracing::debug!(
            rule = %self.file,
            rows = out.height(),
            mib = out.estimated_size() >> 20,
            ms = started.elapsed().as_millis() as u64,
            rss_mib = crate::domain::memory::current_rss_bytes().unwrap_or(0) >> 20,
            ?engine,
            "rule ran"
        );
        Ok(out)
    }

    /// The engine this file runs on when the run asks for `engine`: a file with a window
    /// function (`… OVER (…)`) runs in memory even then.
    ///
    /// Why: Polars' streaming engine has no window functions of its own and runs them through
    /// its in-memory fallback at several times the in-memory engine's cost (10 million rows:
    /// a window count per order id in `classes/duplicate_in_provider` 22 s instead of 5 s,
    /// `prepare/30_ledger_keyed` 11 s instead of 5 s), while the joins, group-bys and filters
    /// of the other files run faster streamed (the pairs join of `prepare/60_matched` 9 s
    /// instead of 15 s).
    pub fn engine(&self, engine: QueryEngine) -> QueryEngine {
        if engine == QueryEngine::Streaming && self.mentions("over") {
            QueryEngine::InMemory
        } else {
            engine
        }
    }

    /// The error of a query the engine panicked on, with the panic's words.
    fn engine_panic(&self, panic: &(dyn std::any::Any + Send)) -> ReconcileError {
        let words = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        ReconcileError::Rule {
            file: self.file.clone(),
            message: format!(
                "the query engine failed on this file ({words}); an edited rule may use a \
                 construct the engine cannot run here, see sql/README.md"
            ),
        }
    }

    /// The error of a failed query: a column no table has is named as such (Polars' own
    /// words list only the columns carried, and the plan), anything else in Polars' words.
    fn failure(&self, error: PolarsError, tables: &Tables) -> ReconcileError {
        match missing_column(&error) {
            Some(column) => ReconcileError::UnknownColumn {
                file: self.file.clone(),
                column,
                tables: tables
                    .names()
                    .filter(|t| self.mentions(t))
                    .collect::<Vec<_>>()
                    .join(", "),
            },
            None => ReconcileError::Rule {
                file: self.file.clone(),
                message: error.to_string(),
            },
        }
    }
}

/// The column a failed query could not find, from Polars' two ways of saying so: a
/// `ColumnNotFound` error (`unable to find column "x"; …`, `"x" not found`) or, for a column
/// read through a table name (`m.x`), the SQL layer's `no column named 'x' found in table 'm'`.
fn missing_column(error: &PolarsError) -> Option<String> {
    let quoted = |message: &str, quote: char| {
        let name = message.split(quote).nth(1)?;
        Some(name.to_owned()).filter(|n| !n.is_empty())
    };
    match error {
        PolarsError::ColumnNotFound(message) => quoted(message, '"'),
        PolarsError::SQLInterface(message) if message.starts_with("no column named '") => {
            quoted(message, '\'')
        }
        PolarsError::Context { error, .. } => missing_column(error),
        _ => None,
    }
}

/// Puts every column of `df` in one chunk.
///
/// Why: Polars gathers a text column of several chunks value by value, copying each text
/// into new buffers, but one of one chunk by its 16-byte views, sharing the buffers; every
/// join and group-by gathers the columns it outputs. The loaders parse in parallel pieces and a
/// UNION ALL puts its halves one after the other, so most tables came in several chunks. At a
/// million rows this, with each side's payments and cancellations apart
/// (`sql/prepare/20_provider_payments.sql`), took the pairs join of `60_matched` from 561 to
/// 318-349 ms of processor time and the run from 2.87 to 2.33-2.47 s (README, "Then
/// (2026-12-06, late night)"). A frame whose chunks do not line up would be copied into one
/// chunk per column by the next filter anyway.
/// A column per core at a time: a column's old chunks are freed (when no other table holds
/// them) as soon as its copy is made, so the copy costs a few columns' memory, not the frame's.
pub fn one_chunk(df: &mut DataFrame) {
    df.rechunk_mut_par();
}

/// mimalloc's `mi_option_purge_delay` (`mimalloc.h` of the v3 sources libmimalloc-sys builds);
/// libmimalloc-sys names no constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc's own purge delay, in milliseconds (v3 `options.c`): what a process that never
/// calls [`keep_freed_memory`] runs with.
#[cfg(test)]
const MI_DEFAULT_PURGE_DELAY_MS: std::os::raw::c_long = 1000;

/// The purge delay a run that hands memory back sets, in milliseconds: shorter than
/// mimalloc's own second, as the 10 M figures were measured with.
const HAND_BACK_PURGE_DELAY_MS: std::os::raw::c_long = 10;

/// Whether mimalloc keeps the memory a run frees for its next allocations (`true`) or hands
/// it back to the system 10 ms after it is freed (`false`; mimalloc's own delay is a second).
///
/// Why: at 1 million rows a sixth of the run's processor time went to the kernel zeroing
/// pages that mimalloc had handed back moments before and the next column took again; keeping
/// them saved a tenth of the wall time for a fifth more peak memory. At 10 million rows the
/// same would cost 1.6 GiB of peak, so a large run hands memory back from the reconcile stage
/// on (see [`KEEP_FREED_MEMORY_MAX_ROWS`]; its peak, after the rules, is as before). Keeping
/// also lets the binary's allocator place large blocks itself, and handing back stops it
/// (`domain::alloc::hand_back`). No effect on the system allocator (tests).
pub fn keep_freed_memory(keep: bool) {
    let delay = if keep { -1 } else { HAND_BACK_PURGE_DELAY_MS };
    crate::domain::alloc::hand_back(!keep);
    // SAFETY: mi_option_set only stores the option; mimalloc reads it on later frees.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, delay) }
}

/// The largest run (rows on its larger side) that keeps freed memory, see [`keep_freed_memory`].
pub const KEEP_FREED_MEMORY_MAX_ROWS: usize = 2_000_000;

/// Hands memory freed by the previous rule back to the system (glibc malloc and mimalloc).
///
/// Why: glibc keeps freed blocks in per-thread arenas, and the next rule's allocations come
/// from other threads' arenas, so without this a 10-million-row run peaked at 14.5 GB instead
/// of 10 GB. It costs a few milliseconds per rule.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions and is thread-safe; it only returns free pages.
    unsafe {
        libc::malloc_trim(0);
    }
    // The binary allocates with mimalloc (`src/main.rs`), which keeps freed pages for a while
    // before returning them; a forced collection returns them now, so a rule's peak does not
    // stack on the pages of the tables dropped before it.
    // SAFETY: mi_collect has no preconditions and is thread-safe.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}

/// The rules of a run.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// `prepare/` files in order.
    pub prepare: Vec<Rule>,
    /// `classes/` files, one per class.
    pub classes: Vec<Rule>,
}

impl RuleSet {
    /// The built-in rules, or those of `dir` (`dir/prepare/*.sql`, `dir/classes/*.sql`), in the
    /// order `catalog` gives (prepare files by name, classes in report order).
    pub fn load(dir: Option<&Path>) -> Result<RuleSet, ReconcileError> {
        let Some(dir) = dir else {
            // build.rs has already put them in order.
            return Ok(RuleSet {
                prepare: PREPARE
                    .iter()
                    .map(|(n, s)| rule("prepare", n, s, true))
                    .collect(),
                classes: CLASS_FILES
                    .iter()
                    .map(|(n, s)| rule("classes", n, s, false))
                    .collect(),
            });
        };
        let prepare = read_dir(&dir.join("prepare"), true)?;
        let mut classes = read_dir(&dir.join("classes"), false)?;
        catalog::sort_classes(&mut classes, |r| (r.table.as_str(), r.sql.as_str())).map_err(
            |(class, message)| ReconcileError::Rule {
                file: dir
                    .join("classes")
                    .join(format!("{class}.sql"))
                    .display()
                    .to_string(),
                message,
            },
        )?;
        Ok(RuleSet { prepare, classes })
    }
}

fn rule(dir: &str, stem: &str, sql: &str, strip_number: bool) -> Rule {
    let table = if strip_number {
        stem.split_once('_')
            .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
            .map_or(stem, |(_, rest)| rest)
    } else {
        stem
    };
    Rule::new(
        format!("sql/{dir}/{stem}.sql"),
        table.to_owned(),
        sql.to_owned(),
    )
}

fn read_dir(dir: &Path, strip_number: bool) -> Result<Vec<Rule>, ReconcileError> {
    let err = |source| ReconcileError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let sql = std::fs::read_to_string(&p).map_err(|source| ReconcileError::Read {
                path: p.clone(),
                source,
            })?;
            let stem = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let mut r = rule("", &stem, &sql, strip_number);
            r.file = p.display().to_string();
            Ok(r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_mimalloc_numbers_15() {
        // The number is mimalloc's enum position, written by hand: a mimalloc that renumbered
        // its options would have `keep_freed_memory` set another option without a word.
        // SAFETY: mi_option_get only reads an option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(get(), MI_DEFAULT_PURGE_DELAY_MS);
        keep_freed_memory(true);
        assert_eq!(get(), -1);
        keep_freed_memory(false);
        assert_eq!(get(), HAND_BACK_PURGE_DELAY_MS);
    }

    #[test]
    fn every_class_has_exactly_one_rule_file() {
        let rules = RuleSet::load(None).unwrap();
        let names: Vec<&str> = rules.classes.iter().map(|r| r.table.as_str()).collect();
        assert_eq!(names.len(), super::super::CLASSES.len());
        for c in super::super::CLASSES {
            assert!(names.contains(c), "{c} has no rule file");
        }
        assert_eq!(rules.prepare[0].table, "breakdown_registry");
        assert!(rules.prepare[0].mentions("provider_all"));
        assert!(!rules.prepare[0].mentions("provider"));
    }

    #[test]
    fn comments_and_string_literals_are_not_mentions() {
        let r = rule(
            "prepare",
            "60_pairs",
            "-- provider and ledger side by side\n/* ledger */ SELECT 'ledger''s provider' AS x, \"Amount\" FROM pairs_input",
            true,
        );
        assert!(!r.mentions("provider"));
        assert!(!r.mentions("ledger"));
        assert!(r.mentions("pairs_input"));
        assert!(r.mentions("amount"));
        assert!(!r.mentions("pairs"));
    }

    #[test]
    fn files_with_a_window_function_run_in_memory_even_when_streaming() {
        let rules = RuleSet::load(None).unwrap();
        let engine_of = |file: &str, asked: QueryEngine| {
            let all = rules.prepare.iter().chain(&rules.classes);
            all.clone()
                .find(|r| r.file.ends_with(file))
                .unwrap_or_else(|| {
                    panic!(
                        "{file} not among {:?}",
                        all.map(|r| &r.file).collect::<Vec<_>>()
                    )
                })
                .engine(asked)
        };
        for file in ["30_ledger_keyed.sql", "duplicate_in_provider.sql"] {
            assert_eq!(
                engine_of(file, QueryEngine::Streaming),
                QueryEngine::InMemory,
                "{file}"
            );
        }
        for file in [
            "10_provider_groups.sql",
            "60_matched.sql",
            "50_ledger_payments.sql",
            "fee_mismatch.sql",
        ] {
            assert_eq!(
                engine_of(file, QueryEngine::Streaming),
                QueryEngine::Streaming,
                "{file}"
            );
            assert_eq!(
                engine_of(file, QueryEngine::InMemory),
                QueryEngine::InMemory,
                "{file}"
            );
        }
    }

    #[test]
    fn a_class_waits_for_the_prepare_files_it_reads() {
        let rules = RuleSet::load(None).unwrap();
        let class = |name: &str| rules.classes.iter().find(|r| r.table == name).unwrap();
        let after = |n: usize| &rules.prepare[n..];
        // duplicate_in_provider reads provider_groups and provider_payments (files 10 and 20).
        let at = rules
            .prepare
            .iter()
            .position(|r| r.table == "provider_payments")
            .unwrap();
        assert!(!class("duplicate_in_provider").ready(after(at)));
        assert!(class("duplicate_in_provider").ready(after(at + 1)));
        assert!(!class("missing_in_ledger").ready(after(rules.prepare.len() - 1)));
        assert!(class("missing_in_ledger").ready(after(rules.prepare.len())));
        assert!(class("payout_mismatch").ready(after(0)));
    }

    /// A frame whose `a` and `d` are two chunks (2 + 1 rows), `b` one chunk and `c` a constant.
    fn misaligned() -> DataFrame {
        let two_chunks = |name: &str| {
            let mut s = Series::new(name.into(), [1i64, 2]);
            s.append(&Series::new(name.into(), [3i64])).unwrap();
            s.into_column()
        };
        let b = Series::new("b".into(), [10i64, 20, 30]);
        let c = Column::new_scalar("c".into(), Scalar::from(7i32), 3);
        let columns = vec![two_chunks("a"), b.into_column(), c, two_chunks("d")];
        let df = DataFrame::new_infer_height(columns).unwrap();
        assert!(df.should_rechunk());
        df
    }

    #[test]
    fn inserted_tables_are_one_chunk_per_column() {
        let df = misaligned();
        let mut tables = Tables::default();
        tables.insert("t", df.clone());
        let t = tables.get("t").unwrap();
        assert!(t.columns().iter().all(|c| c.n_chunks() == 1));
        assert!(t.equals(&df));
        assert!(
            t.column("c").unwrap().as_scalar_column().is_some(),
            "a constant stays one"
        );
    }

    /// Why tables are held in one chunk: Polars gathers the texts of a column of several
    /// chunks into new buffers, and shares the buffers of a column of one.
    #[test]
    fn a_text_column_of_one_chunk_is_gathered_without_copying_its_texts() {
        let long = |i: usize| format!("registry.csv:{i:020}");
        let mut s = Series::new("x".into(), (0..1000).map(long).collect::<Vec<_>>());
        s.append(&Series::new(
            "x".into(),
            (1000..2000).map(long).collect::<Vec<_>>(),
        ))
        .unwrap();
        let buffers = |s: &Series| {
            s.str()
                .unwrap()
                .downcast_iter()
                .flat_map(|a| a.data_buffers().iter().map(|b| b.as_ptr()))
                .collect::<Vec<_>>()
        };
        let idx = IdxCa::from_vec("i".into(), vec![1999, 3, 1500]);
        let gathered = |s: &Series| s.take(&idx).unwrap();
        let two = gathered(&s);
        assert!(
            buffers(&two).iter().all(|b| !buffers(&s).contains(b)),
            "texts copied"
        );
        let mut df = DataFrame::new_infer_height(vec![s.into_column()]).unwrap();
        one_chunk(&mut df);
        let one_s = df.column("x").unwrap().as_materialized_series().clone();
        assert_eq!(one_s.n_chunks(), 1);
        let one = gathered(&one_s);
        assert!(
            buffers(&one).iter().all(|b| buffers(&one_s).contains(b)),
            "texts shared"
        );
        assert!(one.equals(&two));
        assert_eq!(one.str().unwrap().get(0), Some(long(1999).as_str()));
    }

    #[test]
    fn the_embedded_rules_are_the_files_in_sql() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        let from_disk = RuleSet::load(Some(&dir)).unwrap();
        let embedded = RuleSet::load(None).unwrap();
        let sqls = |r: &RuleSet| {
            r.prepare
                .iter()
                .chain(&r.classes)
                .map(|x| (x.table.clone(), x.sql.clone()))
                .collect::<Vec<_>>()
        };
        let mut a = sqls(&from_disk);
        let mut b = sqls(&embedded);
        a.sort();
        b.sort();
        assert_eq!(a, b, "a file in sql/ is missing from the embedded list");
    }
}
