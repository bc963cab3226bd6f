//! `benches/reconcile-bench.sh` on a few thousand rows with the Python figures left out: the
//! script a speed claim is checked with runs each program the asked number of times, each
//! xsolla-recon run from a fresh state folder, and prints every run.

use crate::support::bin::{assert_exit, Bin, BIN};
use std::path::Path;
use std::process::{Command, Output};

/// The benchmark script of this checkout, run with `env` in a new work folder.
fn bench(work: &Path, rows: &str, k: &str, env: &[(&str, &str)]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reconcile-bench.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(script)
        .args([rows, k])
        .env("BIN", BIN)
        .env("BENCH_DIR", work)
        .env("SKIP_POLARS", "1")
        .env("SKIP_DATACOMPY", "1")
        .env("SKIP_DUCKDB", "1")
        .env_remove("BENCH_REAL")
        .env_remove("BENCH_RUNS")
        .env_remove("BENCH_PARQUET")
        .env_remove("BENCH_INSTRUCTIONS")
        .env_remove("ROWS_PER_PART")
        .env_remove("SQL_DIR");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output().expect("bash runs the benchmark script")
}

#[test]
fn the_benchmark_prints_each_run_of_xsolla_recon_from_a_fresh_state_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bench(tmp.path(), "3000", "30", &[("BENCH_RUNS", "3")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for run in 1..=3 {
        assert!(
            stdout.contains(&format!("run {run}: exit code 1 (1 = discrepancies found)")),
            "run {run} missing:\n{stdout}"
        );
    }
    // The planted discrepancies, from the last run's report (K = 30: 10 of each kind).
    assert!(stdout.contains("report: 30 findings"), "{stdout}");
    // Three wall/peak pairs on xsolla-recon's summary line, and no line for a skipped program.
    let line = stdout
        .lines()
        .find(|l| l.starts_with("xsolla-recon, end to end"))
        .unwrap_or_else(|| panic!("no summary line:\n{stdout}"));
    let figures: Vec<f64> = line["xsolla-recon, end to end".len()..]
        .split_whitespace()
        .map(|f| {
            f.parse()
                .unwrap_or_else(|_| panic!("not a figure in {line:?}"))
        })
        .collect();
    assert_eq!(figures.len(), 6, "{line:?}");
    assert!(
        figures.chunks(2).all(|f| f[0] > 0.0 && f[1] > 0.0),
        "{line:?}"
    );
    assert!(!stdout.contains("DuckDB, read"), "{stdout}");
    // Each run started from a fresh state folder: an item of the last run was first seen in
    // that run, not carried from an earlier one.
    let items = |args: &[&str]| {
        let out = Bin::new(tmp.path())
            .args(["items"])
            .args(args)
            .args(["--config", "bench.toml"])
            .output();
        assert_exit(&out, 0);
        String::from_utf8(out.stdout).unwrap()
    };
    let listed = items(&["list"]);
    let key = listed
        .lines()
        .nth(1)
        .and_then(|l| l.split('\t').next())
        .unwrap_or_else(|| panic!("no item listed:\n{listed}"));
    let shown = items(&["show", key]);
    let run_of = |label: &str| {
        let line = shown
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} in:\n{shown}"));
        line.rsplit("(run ")
            .next()
            .unwrap()
            .trim_end_matches(')')
            .to_string()
    };
    assert_eq!(run_of("first seen:"), run_of("last seen:"), "{shown}");
}

#[test]
fn the_benchmark_refuses_a_number_of_runs_that_is_not_a_whole_number_from_one() {
    let tmp = tempfile::tempdir().unwrap();
    for runs in ["0", "two", "-1"] {
        let out = bench(tmp.path(), "3000", "30", &[("BENCH_RUNS", runs)]);
        assert_eq!(out.status.code(), Some(2), "BENCH_RUNS={runs}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("BENCH_RUNS must be a whole number"),
            "BENCH_RUNS={runs}"
        );
    }
    // Refused before anything was generated.
    assert!(!tmp.path().join("registry.csv").exists());
}
