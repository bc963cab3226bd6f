//! Embeds the SQL rules: lists `sql/prepare/*.sql` and `sql/classes/*.sql` and writes the
//! `include_str!` tables that `src/reconcile/rules.rs` includes, so the files themselves are the
//! only list of rules and classes (adding a class is adding one file). The order is decided by
//! `src/reconcile/catalog.rs`, which `reconcile.sql_dir` folders are read with too.

use std::fmt::Write as _;
use std::path::Path;

#[allow(dead_code)]
#[path = "src/reconcile/catalog.rs"]
mod catalog;

fn main() {
    println!("cargo:rerun-if-changed=sql");
    println!("cargo:rerun-if-changed=src/reconcile/catalog.rs");
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let sql = Path::new(&root).join("sql");
    let prepare = sql_files(&sql, "prepare");
    let mut classes = sql_files(&sql, "classes");
    catalog::sort_classes(&mut classes, |(name, text)| (name, text))
        .unwrap_or_else(|(name, e)| panic!("sql/classes/{name}.sql: {e}"));

    let mut out = String::from("// Written by build.rs from the files in sql/.\n");
    embed(&mut out, "PREPARE", "prepare", &prepare);
    embed(&mut out, "CLASS_FILES", "classes", &classes);
    out.push_str("/// The discrepancy classes, in report order (see `catalog`).\n");
    out.push_str("pub const CLASS_NAMES: &[&str] = &[\n");
    for (name, _) in &classes {
        writeln!(out, "    {name:?},").expect("writing to a String");
    }
    out.push_str("];\n");
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("sql_rules.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
}

/// `(file stem, text)` of every `.sql` file in `sql/<dir>`, by file name (as
/// `RuleSet::load` orders a `reconcile.sql_dir`).
fn sql_files(sql: &Path, dir: &str) -> Vec<(String, String)> {
    let dir_path = sql.join(dir);
    let entries = std::fs::read_dir(&dir_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir_path.display()));
    let mut paths: Vec<_> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("reading {}: {e}", dir_path.display()))
                .path()
        })
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let stem = p.file_stem().and_then(|s| s.to_str());
            let stem = stem.unwrap_or_else(|| panic!("{}: name is not UTF-8", p.display()));
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (stem.to_owned(), text)
        })
        .collect()
}

/// `const NAME: &[(&str, &str)]`: `(file stem, include_str!(file))` for each file, in order.
fn embed(out: &mut String, name: &str, dir: &str, files: &[(String, String)]) {
    writeln!(out, "const {name}: &[(&str, &str)] = &[").expect("writing to a String");
    for (stem, _) in files {
        let path = format!("/sql/{dir}/{stem}.sql");
        writeln!(
            out,
            "    ({stem:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {path:?}))),"
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
}
