//! Bounded stable mutation fuzzer over the `xsolla_recon::fuzz` targets (the same functions
//! the nightly cargo-fuzz crate in `fuzz/` calls).
//!
//! Deterministic (ChaCha with a fixed seed) so a failure reproduces; about
//! `XSOLLA_RECON_FUZZ_SECS` seconds per target (default 2). A panic in a target is a crash:
//! the test fails printing the input as hex. Prints
//! `reliability: fuzz targets=4 execs=<N> crashes=<C>`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};
use xsolla_recon::fuzz;

/// Bytes that often sit at the edge of a parser's cases.
const TOKENS: &[&[u8]] = &[
    b";",
    b",",
    b"\"",
    b"\"\"",
    b"\r",
    b"\n",
    b"\r\n",
    b"\t",
    b"\xEF\xBB\xBF",
    b"1e999",
    b"-1e-999",
    b"1.5E-2",
    b"NaN",
    b"inf",
    b"(",
    b")",
    b"-",
    b"+",
    b".",
    b"0",
    b"\x00",
    b"\xFF",
    b"\xC3",
    b"\x80",
    b"99999999999999999999999999999999999999999999",
    b"0.00000000000000000000000000000001",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"null",
    b"${",
    b"${X}",
    b"=",
    b"[merchant.ledger]",
    b"order_id",
    b"amount",
    b"2024-02-30",
    b"+262142-12-31T23:59:59Z",
    b"-262143-01-01T00:00:00+14:00",
    b"2024-01-01T00:00:00-23:59",
    b"=HYPERLINK(",
];

/// Largest input the mutator builds (inputs stay small so many runs fit in the budget).
const MAX_LEN: usize = 64 * 1024;
/// Most mutations stacked on one input.
const MAX_STACK: usize = 8;

fn mutate(rng: &mut ChaCha8Rng, input: &mut Vec<u8>, pool: &[Vec<u8>]) {
    for _ in 0..rng.random_range(1..=MAX_STACK) {
        let len = input.len();
        match rng.random_range(0..8) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let i = rng.random_range(0..=len);
                input.insert(i, rng.random());
            }
            2 if len > 0 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=(len - i).min(16));
                input.drain(i..i + n);
            }
            3 | 4 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())];
                let i = rng.random_range(0..=len);
                input.splice(i..i, t.iter().copied());
            }
            5 if len > 0 => {
                // Duplicate a chunk (more rows, more columns, repeated quotes).
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=(len - i).min(256));
                let chunk = input[i..i + n].to_vec();
                let at = rng.random_range(0..=len);
                input.splice(at..at, chunk);
            }
            6 if len > 0 => {
                input.truncate(rng.random_range(0..len));
            }
            7 if !pool.is_empty() => {
                // Splice part of another seed in.
                let other = &pool[rng.random_range(0..pool.len())];
                if !other.is_empty() {
                    let i = rng.random_range(0..other.len());
                    let n = rng.random_range(1..=(other.len() - i).min(512));
                    let at = rng.random_range(0..=len);
                    input.splice(at..at, other[i..i + n].iter().copied());
                }
            }
            _ => {}
        }
    }
    input.truncate(MAX_LEN);
}

/// Cells a ledger export may hold, good and bad, for [`generate_ledger`].
const CELLS: &[&str] = &[
    "1.00",
    "-3.25",
    "(3.25)",
    "12.50-",
    "+7",
    "1,234.50",
    "1.234,50",
    "1 234,50",
    "0.0000001",
    "1e3",
    "1.5E-2",
    "NaN",
    "-inf",
    "",
    " ",
    "99999999999999999999999999999999999999",
    "12.000000000000000000000000000000",
    "USD",
    "usd",
    "US",
    "€",
    "2024-01-01",
    "2024-02-30",
    "01.02.2024",
    "2024-01-01T23:30:00-02:00",
    "+262142-12-31T23:59:59Z",
    "A-1",
    "A-1",
    "=HYPERLINK(\"x\")",
    "\"quoted, with comma\"",
    "\"multi\nline\"",
    "\"open quote",
    "\"\"",
    "Café",
    "\u{feff}",
    "x;y",
    "\t",
];

/// Header names, configured and not (the fuzz config maps order_id, amount, currency, date,
/// note).
const NAMES: &[&str] = &[
    "order_id", "amount", "currency", "date", "note", "ORDER_ID", " Amount ", "extra", "",
];

/// A random ledger export built from [`CELLS`]: reaches row-level paths that byte mutations
/// of a few seeds rarely do (every amount shape, every line end, ragged rows).
fn generate_ledger(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let delim = [",", ";", "\t"][rng.random_range(0..3)];
    let eol = ["\n", "\r\n", "\r"][rng.random_range(0..3)];
    let mut header: Vec<&str> = vec!["order_id", "amount", "currency", "date", "note"];
    for _ in 0..rng.random_range(0..3) {
        let i = rng.random_range(0..=header.len());
        header.insert(i, NAMES[rng.random_range(0..NAMES.len())]);
    }
    if rng.random_range(0..8) == 0 {
        header.remove(rng.random_range(0..header.len()));
    }
    let mut out = header.join(delim);
    out.push_str(eol);
    for _ in 0..rng.random_range(0..20) {
        let mut n = header.len();
        if rng.random_range(0..10) == 0 {
            n = rng.random_range(0..header.len() + 2);
        }
        let row: Vec<&str> = (0..n)
            .map(|k| match (k, rng.random_range(0..3)) {
                // Mostly plausible cells in the right place, so rows get past the first check.
                (0, 0..=1) => "A-1",
                (1, 0..=1) => "10.00",
                (2, 0..=1) => "USD",
                (3, 0..=1) => "2024-01-01",
                _ => CELLS[rng.random_range(0..CELLS.len())],
            })
            .collect();
        out.push_str(&row.join(delim));
        if rng.random_range(0..12) != 0 {
            out.push_str(eol);
        }
    }
    out.into_bytes()
}

fn files_in(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".md") || !p.is_file() {
            continue;
        }
        if let Ok(b) = std::fs::read(&p) {
            if b.len() <= MAX_LEN {
                out.push(b);
            }
        }
    }
    out
}

fn budget() -> Duration {
    let secs = std::env::var("XSOLLA_RECON_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs.min(24.0 * 3600.0))
}

/// What fuzzing one target found.
struct Outcome {
    execs: u64,
    crash: Option<(Vec<u8>, String)>,
}

fn run_target(
    name: &str,
    f: fn(&[u8]),
    seeds: Vec<Vec<u8>>,
    generate: Option<Generator>,
    budget: Duration,
) -> Outcome {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0000 ^ name.len() as u64);
    let started = Instant::now();
    let mut execs = 0u64;
    let call = |input: &[u8]| -> Option<String> {
        catch_unwind(AssertUnwindSafe(|| f(input))).err().map(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "non-text panic".to_owned())
        })
    };
    // The seeds themselves first, then mutants until the budget is spent.
    for s in seeds.iter().chain(std::iter::once(&Vec::new())) {
        execs += 1;
        if let Some(msg) = call(s) {
            return Outcome {
                execs,
                crash: Some((s.clone(), msg)),
            };
        }
    }
    let mut input = Vec::with_capacity(MAX_LEN);
    while started.elapsed() < budget {
        input.clear();
        match generate {
            // Half generated (sometimes mutated further), half mutated seeds.
            Some(g) if rng.random_range(0..2) == 0 => {
                input.extend(g(&mut rng));
                if rng.random_range(0..4) == 0 {
                    mutate(&mut rng, &mut input, &seeds);
                }
            }
            _ => {
                if !seeds.is_empty() {
                    input.extend_from_slice(&seeds[rng.random_range(0..seeds.len())]);
                }
                mutate(&mut rng, &mut input, &seeds);
            }
        }
        execs += 1;
        if let Some(msg) = call(&input) {
            return Outcome {
                execs,
                crash: Some((input, msg)),
            };
        }
    }
    Outcome { execs, crash: None }
}

/// Builds one input from scratch.
type Generator = fn(&mut ChaCha8Rng) -> Vec<u8>;

/// A target: its name, its entry point, its seed inputs and an optional input generator.
type Target = (&'static str, fn(&[u8]), Vec<Vec<u8>>, Option<Generator>);

#[test]
fn stable_bounded_fuzz_finds_no_crash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut ledger_seeds = files_in(&root.join("tests/data/bad-ledgers"));
    ledger_seeds.extend(files_in(&root.join("tests/data/ledger")));
    let mut config_seeds = fuzz::config_toml_seeds();
    config_seeds.extend(files_in(&root.join("config")));
    let targets: Vec<Target> = vec![
        (
            "ledger_csv",
            fuzz::ledger_csv,
            ledger_seeds,
            Some(generate_ledger as Generator),
        ),
        (
            "registry_json",
            fuzz::registry_json,
            fuzz::registry_json_seeds(),
            None,
        ),
        (
            "registry_csv",
            fuzz::registry_csv,
            fuzz::registry_csv_seeds(),
            None,
        ),
        ("config_toml", fuzz::config_toml, config_seeds, None),
    ];
    let budget = budget();
    let mut execs = 0;
    let mut crashes = Vec::new();
    let n_targets = targets.len();
    for (name, f, seeds, generate) in targets {
        assert!(!seeds.is_empty(), "{name} has seeds");
        let o = run_target(name, f, seeds, generate, budget);
        eprintln!("fuzz {name}: {} execs", o.execs);
        execs += o.execs;
        if let Some((input, msg)) = o.crash {
            crashes.push((name, input, msg));
        }
    }
    println!(
        "reliability: fuzz targets={n_targets} execs={execs} crashes={}",
        crashes.len()
    );
    for (name, input, msg) in &crashes {
        eprintln!(
            "CRASH in {name}: {msg}\ninput ({} bytes, hex): {}",
            input.len(),
            hex::encode(input)
        );
    }
    assert!(crashes.is_empty(), "{} target(s) crashed", crashes.len());
    assert!(execs >= n_targets as u64, "every target ran");
}

/// The inputs of the bugs fixed so far go through the fuzz targets without a panic or a
/// broken invariant (each misbehaved before its fix).
#[test]
fn regression_inputs_of_fixed_bugs() {
    // Lone CR line ends (all errors were on line 1).
    fuzz::ledger_csv(
        b"order_id,amount,currency,date,note\rA,1,USD,2024-01-01,\rB,x,USD,2024-01-01,\r",
    );
    // A giant wrong-delimiter header (the error message held all of it).
    fuzz::ledger_csv(format!("{}\n", "x;".repeat(50_000)).as_bytes());
    fuzz::registry_csv(format!("{}\n1\n", "c,".repeat(20_000)).as_bytes());
    // Amounts beyond an exact decimal (rounded silently before).
    fuzz::registry_json(br#"[{"transaction":{"id":1,"status":"done","transfer_date":"2024-01-01"},"payment_details":{"payment":{"amount":1e999,"currency":"USD"},"payout":{"amount":0.12345678901234567890123456789,"currency":"USD"}}}]"#);
    fuzz::config_toml(b"[merchant]\nx = ${");
}

/// Found by fuzzing: a date-time at the edge of chrono's range in a zone east of UTC panicked
/// ("Local time out of range for `NaiveDateTime`") instead of being a bad row.
#[test]
fn regression_extreme_date_east_of_utc_panicked() {
    let extreme = b"order_id,amount,currency,date,note\nA,1,USD,+262142-12-31T23:59:59Z,\n";
    // Padded to every length mod 4, so every fuzz dialect reads it, Pacific/Kiritimati too.
    for pad in 0..4 {
        let mut input = extreme.to_vec();
        input.extend(std::iter::repeat_n(b'\n', pad));
        fuzz::ledger_csv(&input);
    }
}
