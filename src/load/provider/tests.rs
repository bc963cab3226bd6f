use super::*;
use crate::fetch::{Manifest, NoProgress};
use crate::job::config::{FetchSettings, MerchantConfig};
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::xsolla::{ApiKey, HttpSettings, Transport, XsollaClient};
use std::str::FromStr;

/// Fetches the sandbox's default month into `data_dir` with the real fetch stage.
async fn fetch(data_dir: &Path, format: Format) -> (PathBuf, Manifest) {
    let cfg = SandboxConfig::default();
    let window = Window::new(cfg.from, cfg.to).unwrap();
    let sb = Sandbox::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let merchant = MerchantConfig {
        name: "acme".into(),
        merchant_id: sb.merchant_id(),
        api_key_env: "UNUSED".into(),
        base_url: sb.base_url(),
        ledger: None,
        project_ids: vec![],
        mail: Default::default(),
    };
    let http = HttpSettings {
        min_request_interval_ms: 0,
        ..HttpSettings::default()
    };
    let transport = Transport::new(
        &merchant.base_url,
        merchant.merchant_id,
        ApiKey::new(sb.api_key()),
        http,
    )
    .unwrap();
    let client = XsollaClient::new(transport);
    // Several chunks and pages, so ordering and per-window rows are exercised.
    let settings = FetchSettings {
        format,
        page_limit: 200,
        chunk_days: 10,
        ..FetchSettings::default()
    };
    let out = crate::fetch::fetch_window(
        &client,
        data_dir,
        merchant.fetch_target(),
        window,
        &settings,
        &NoProgress,
    )
    .await
    .unwrap();
    sb.shutdown().await;
    out
}

fn decimals(df: &DataFrame, col: &str) -> Vec<Option<Decimal>> {
    let c = df.column(col).unwrap().decimal().unwrap();
    let scale = c.scale() as u32;
    c.physical()
        .iter()
        .map(|m| m.map(|m| Decimal::from_i128_with_scale(m, scale)))
        .collect()
}

fn strs(df: &DataFrame, col: &str) -> Vec<Option<String>> {
    crate::domain::codes::text(df.column(col).unwrap())
        .unwrap()
        .iter()
        .map(|s| s.map(str::to_owned))
        .collect()
}

fn without_source(df: &DataFrame) -> DataFrame {
    df.drop("source").unwrap()
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[test]
fn every_provider_column_has_a_registry_field() {
    let tx = TxFrame::with_columns(0, &[]);
    let fed: Vec<usize> = tx.target.iter().flatten().copied().collect();
    for (i, (name, _)) in frames::provider_schema().iter().enumerate() {
        let derived = i == tx.source || i == tx.row_kind;
        assert_eq!(fed.contains(&i), !derived, "{name}");
    }
}

#[test]
fn mantissas_are_exact_or_refused() {
    assert_eq!(mantissa_at(d("12.5"), 6), Some(12_500_000));
    assert_eq!(mantissa_at(d("-0.000001"), 6), Some(-1));
    assert_eq!(mantissa_at(d("1.5000000000"), 6), Some(1_500_000));
    assert_eq!(mantissa_at(d("0.0000001"), 6), None);
    assert_eq!(mantissa_at(d("64.1386407767"), 10), Some(641_386_407_767));
}

/// The export's shortcut for plainly written amounts gives the value the `Decimal` reading
/// gives, and leaves to it every text it does not read (so its errors stay its own).
#[test]
fn plain_amounts_read_as_the_decimal_reading_reads_them() {
    let by_decimal = |t: &str, scale: usize| {
        <Decimal as CellValue>::parse_text(t).and_then(|d| mantissa_at(d, scale))
    };
    let mut texts: Vec<String> = [
        "0",
        "-0",
        "-0.00",
        "12.5",
        " 12.50 ",
        "-3.000001",
        "0.1234567",
        "1.5000000",
        "5.",
        ".5",
        "+5",
        "--5",
        "1e3",
        "1,5",
        "",
        " ",
        "-",
        "1.2.3",
        "999999999999999999.999999",
        "9999999999999999999",
        "１2",
        "12a",
        "0000012.3400",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in 0..2000u64 {
        let n = i.wrapping_mul(2_654_435_761) % 100_000_000;
        texts.push(format!(
            "{}{}.{:0w$}",
            if i % 3 == 0 { "-" } else { "" },
            n / 100,
            n % 100,
            w = (i % 12) as usize
        ));
    }
    for t in &texts {
        for scale in [6, 10] {
            let fast = money::plain_mantissa(t.as_bytes(), b'.', scale);
            if let Some(m) = fast {
                assert_eq!(Some(m), by_decimal(t, scale), "{t:?} at scale {scale}");
            }
        }
    }
    assert_eq!(money::plain_mantissa(b"-12.34", b'.', 6), Some(-12_340_000));
    assert_eq!(money::plain_mantissa(b"7", b'.', 10), Some(70_000_000_000));
    assert_eq!(money::plain_mantissa(b"1.1234567", b'.', 6), None);
}

#[tokio::test]
async fn json_and_csv_snapshots_load_to_the_same_exact_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let (json_dir, manifest) = fetch(&tmp.path().join("j"), Format::Json).await;
    let (csv_dir, csv_manifest) = fetch(&tmp.path().join("c"), Format::Csv).await;
    let json = load_snapshot(&json_dir).unwrap();
    let csv = load_snapshot(&csv_dir).unwrap();

    for p in [&json, &csv] {
        frames::check_schema(&p.transactions, &frames::provider_schema(), "tx").unwrap();
        frames::check_schema(&p.payouts, &frames::payouts_schema(), "payouts").unwrap();
        frames::check_schema(&p.breakdown, &frames::breakdown_schema(), "breakdown").unwrap();
        assert_eq!(p.window, manifest.window);
    }
    let c = &manifest.counts;
    assert_eq!(json.transactions.height() as u64, c.registry.rows_unique);
    assert_eq!(json.payouts.height() as u64, c.payouts_unique);
    assert_eq!(json.breakdown.height() as u64, c.breakdown_rows);
    assert_eq!(json.counts.registry_rows_read, c.registry.rows_received);
    assert_eq!(json.counts.payouts_loaded, c.payouts_unique);
    assert_eq!(json.counts, csv.counts);
    // The optional fee columns are built only when asked for, the same from JSON and CSV.
    let extra = ["commission_xsolla_fixed", "cpa_network_commission"];
    let zones = DateZones::default();
    let json_x = load_snapshot_with(&json_dir, zones, None, &extra).unwrap();
    let csv_x = load_snapshot_with(&csv_dir, zones, None, &extra).unwrap();
    for p in [&json_x, &csv_x] {
        let want = frames::provider_schema_with(&extra);
        frames::check_schema(&p.transactions, &want, "tx with fee fields").unwrap();
        frames::check_provider_schema(&p.transactions).unwrap();
        let fixed = p.transactions.column("commission_xsolla_fixed").unwrap();
        assert!(
            fixed.null_count() < fixed.len(),
            "the sandbox fills the fixed part"
        );
    }
    assert!(
        without_source(&json_x.transactions).equals_missing(&without_source(&csv_x.transactions))
    );
    assert_eq!(
        csv.transactions.height() as u64,
        csv_manifest.counts.registry.rows_unique
    );
    assert!(json.transactions.height() > 1000, "a month of data");
    assert!(json.breakdown.height() > 3, "several chunks × currencies");

    // Same rows whichever format was fetched; only the page file names differ.
    assert!(without_source(&json.transactions).equals_missing(&without_source(&csv.transactions)));
    assert!(json.payouts.equals_missing(&csv.payouts));
    assert!(json.breakdown.equals_missing(&csv.breakdown));
    let src = strs(&json.transactions, "source");
    assert_eq!(
        src[0].as_deref(),
        Some("registry/2026-10-01_2026-10-10/p000000.json#0")
    );
    assert_eq!(
        strs(&csv.transactions, "source")[0].as_deref(),
        Some("registry/2026-10-01_2026-10-10/p000000.csv#0")
    );

    // Σ payment_amount per currency equals the breakdown exactly.
    let tx = &json.transactions;
    let mut ours: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    let cur = strs(tx, "payment_currency");
    for ((c, pay), out) in cur
        .iter()
        .zip(decimals(tx, "payment_amount"))
        .zip(decimals(tx, "payout_amount"))
    {
        let e = ours.entry(c.clone().unwrap()).or_default();
        e.0 += pay.unwrap();
        e.1 += out.unwrap();
    }
    let mut theirs: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    let bd = &json.breakdown;
    for ((c, pay), out) in strs(bd, "currency")
        .iter()
        .zip(decimals(bd, "payments_amount"))
        .zip(decimals(bd, "sum_payout"))
    {
        let e = theirs.entry(c.clone().unwrap()).or_default();
        e.0 += pay.unwrap();
        e.1 += out.unwrap();
    }
    assert_eq!(ours, theirs);
    assert!(ours.contains_key("JPY") && ours.contains_key("KWD"));

    // Derived columns.
    let kinds = strs(tx, "row_kind");
    let pays = decimals(tx, "payment_amount");
    assert!(kinds.iter().any(|k| k.as_deref() == Some("cancellation")));
    for (k, p) in kinds.iter().zip(&pays) {
        let negative = p.unwrap() < Decimal::ZERO;
        assert_eq!(
            k.as_deref(),
            Some(if negative { "cancellation" } else { "payment" })
        );
    }
    assert_eq!(tx.column("dry_run").unwrap().null_count(), 0);
    assert!(decimals(tx, "fx_rate")
        .iter()
        .any(|r| r.is_some_and(|r| r.scale() == 10)));
    let transfer = tx
        .column("transfer_date")
        .unwrap()
        .date()
        .unwrap()
        .physical();
    let w = json.window;
    let in_window = transfer
        .iter()
        .filter(|d| d.is_some_and(|d| w.contains(EPOCH + chrono::Duration::days(d.into()))))
        .count();
    assert_eq!(in_window, tx.height());
}

#[tokio::test]
async fn damaged_snapshots_are_refused_and_duplicates_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, mut manifest) = fetch(tmp.path(), Format::Json).await;
    let clean = load_snapshot(&dir).unwrap();

    // Mark row 0 of the second page as a repeat, as the fetch does when offsets shift.
    let page = manifest
        .files
        .iter_mut()
        .filter(|f| f.endpoint == "registry")
        .nth(1)
        .unwrap();
    page.duplicate_rows = vec![0];
    let skipped = format!("{}#0", page.path);
    manifest.counts.registry.duplicates_skipped += 1;
    manifest.counts.registry.rows_unique -= 1;
    let mpath = dir.join("manifest.json");
    std::fs::write(&mpath, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let dedup = load_snapshot(&dir).unwrap();
    assert_eq!(dedup.counts.duplicates_skipped, 1);
    assert_eq!(
        dedup.counts.registry_rows_read,
        clean.counts.registry_rows_read
    );
    assert_eq!(dedup.transactions.height(), clean.transactions.height() - 1);
    assert!(!strs(&dedup.transactions, "source").contains(&Some(skipped)));

    // Counts that disagree with the pages are refused.
    manifest.counts.registry.duplicates_skipped = 0;
    std::fs::write(&mpath, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let e = load_snapshot(&dir).unwrap_err();
    assert!(matches!(e, LoadError::Damaged { .. }), "{e}");

    // One changed byte in a page: refused, naming the page.
    let victim = manifest
        .files
        .iter()
        .find(|f| f.endpoint == "registry")
        .unwrap();
    let vpath = dir.join(&victim.path);
    let mut body = std::fs::read(&vpath).unwrap();
    let at = body.iter().position(|b| b.is_ascii_digit()).unwrap();
    body[at] = if body[at] == b'9' { b'8' } else { body[at] + 1 };
    std::fs::write(&vpath, body).unwrap();
    let e = load_snapshot(&dir).unwrap_err();
    assert!(
        matches!(&e, LoadError::Snapshot(f) if matches!(&**f, FetchError::Damaged { path, .. } if *path == vpath)),
        "{e}"
    );
}

#[tokio::test]
async fn an_export_with_reordered_and_extra_columns_loads_the_same_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, manifest) = fetch(tmp.path(), Format::Csv).await;
    let snap = load_snapshot(&dir).unwrap();

    // Concatenate the stored CSV pages into one export, columns reversed, one extra column.
    let export = tmp.path().join("export.csv");
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_path(&export)
        .unwrap();
    let mut header_written = false;
    let mut rows = 0;
    for f in manifest.files.iter().filter(|f| f.endpoint == "registry") {
        let mut r = csv::Reader::from_path(dir.join(&f.path)).unwrap();
        let h = r.headers().unwrap().clone();
        let reorder = |rec: &csv::StringRecord, extra: &str| {
            let mut v: Vec<String> = rec.iter().rev().map(str::to_owned).collect();
            v.insert(3, extra.to_owned());
            v
        };
        if !header_written {
            w.write_record(reorder(&h, "Note from finance")).unwrap();
            header_written = true;
        }
        for rec in r.records() {
            w.write_record(reorder(&rec.unwrap(), "checked")).unwrap();
            rows += 1;
        }
    }
    w.flush().unwrap();
    drop(w);

    let df = load_registry_export(&export, None).unwrap();
    frames::check_schema(&df, &frames::provider_schema(), "export").unwrap();
    assert_eq!(df.height(), rows);
    assert!(without_source(&df).equals_missing(&without_source(&snap.transactions)));
    let src = strs(&df, "source");
    assert_eq!(src[0].as_deref(), Some("export.csv:2"));
    assert_eq!(src[rows - 1], Some(format!("export.csv:{}", rows + 1)));

    // A window keeps only rows booked inside it.
    let w = Window::new(
        NaiveDate::from_ymd_opt(2026, 10, 5).unwrap(),
        NaiveDate::from_ymd_opt(2026, 10, 7).unwrap(),
    )
    .unwrap();
    let part = load_registry_export(&export, Some(w)).unwrap();
    let days = |df: &DataFrame| -> Vec<NaiveDate> {
        let c = df
            .column("transfer_date")
            .unwrap()
            .date()
            .unwrap()
            .physical()
            .clone();
        c.iter()
            .map(|d| EPOCH + chrono::Duration::days(d.unwrap().into()))
            .collect()
    };
    let expected = days(&df).into_iter().filter(|d| w.contains(*d)).count();
    assert!(expected > 0 && expected < rows);
    assert_eq!(part.height(), expected);
    assert!(days(&part).iter().all(|d| w.contains(*d)));
}

const HEADER: &str = "Transaction ID,Status,Transfer date,Payment amount,Payment currency,Payout amount,Payout currency,Exchange rate,Refund reason";

fn write_export(dir: &Path, eol: &str, rows: &[&str]) -> PathBuf {
    let p = dir.join("export.csv");
    let mut s = String::from(HEADER);
    for r in rows {
        s.push_str(eol);
        s.push_str(r);
    }
    s.push_str(eol);
    std::fs::write(&p, s).unwrap();
    p
}

#[test]
fn export_errors_name_file_line_column_and_value() {
    let tmp = tempfile::tempdir().unwrap();
    for eol in ["\r\n", "\n"] {
        // Row 1 spans two lines (a quoted line break), so row 2 is on line 4.
        let multi = format!("1,done,2026-10-01,10.5,USD,10.5,USD,1,\"first{eol}second\"");
        let p = write_export(
            tmp.path(),
            eol,
            &[&multi, "2,done,2026-10-01,\"1,5\",USD,1,USD,1,"],
        );
        let e = load_registry_export(&p, None).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}:4: column \"Payment amount\": value \"1,5\" is not a decimal number",
                p.display()
            ),
            "eol {eol:?}"
        );

        let p = write_export(
            tmp.path(),
            eol,
            &[&multi, "2,done,2026-10-01,-0.0000001,USD,0,USD,1,"],
        );
        let e = load_registry_export(&p, None).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}:4: column \"Payment amount\": value \"-0.0000001\" has more than 6 decimals",
                p.display()
            )),
            "{e}"
        );
    }
    // Rates keep 10 decimals, not 11.
    let ok = write_export(
        tmp.path(),
        "\r\n",
        &["1,done,2026-10-01,1,USD,1,USD,64.1386407767,"],
    );
    let df = load_registry_export(&ok, None).unwrap();
    assert_eq!(decimals(&df, "fx_rate"), vec![Some(d("64.1386407767"))]);
    assert_eq!(strs(&df, "source"), vec![Some("export.csv:2".to_owned())]);
    let bad = write_export(
        tmp.path(),
        "\r\n",
        &["1,done,2026-10-01,1,USD,1,USD,1.12345678901,"],
    );
    let e = load_registry_export(&bad, None).unwrap_err().to_string();
    assert!(
        e.contains("\"Exchange rate\": value \"1.12345678901\" has more than 10 decimals"),
        "{e}"
    );

    // Required values and columns.
    let p = write_export(tmp.path(), "\n", &["1,,2026-10-01,1,USD,1,USD,1,"]);
    let e = load_registry_export(&p, None).unwrap_err().to_string();
    assert!(
        e.ends_with(":2: column \"Status\": value \"\" is required but empty"),
        "{e}"
    );
    let p = tmp.path().join("short.csv");
    std::fs::write(&p, "Transaction ID,Status\n1,done\n").unwrap();
    let e = load_registry_export(&p, None).unwrap_err().to_string();
    assert!(e.contains("Transfer date"), "{e}");
    // Malformed CSV: the line is named too.
    let p = write_export(
        tmp.path(),
        "\r\n",
        &["1,done,2026-10-01,1,USD,1,USD,1,", "2,done"],
    );
    let e = load_registry_export(&p, None).unwrap_err().to_string();
    assert!(e.contains("export.csv:3: has 2 fields"), "{e}");
}

fn payout(id: i64, amount: &str, date: &str) -> Payout {
    Payout {
        payout_id: Some(id),
        payout_amount: Some(d(amount)),
        payout_date: Some(crate::xsolla::record::parse_xsolla_datetime(date).unwrap()),
        payout_currency: Some("USD".into()),
        ..Payout::default()
    }
}

#[test]
fn payouts_collapse_identical_repeats_and_refuse_conflicts() {
    let mut set = PayoutSet::default();
    set.add("payouts/a.json#0".into(), &payout(7, "10.50", "2026-10-15"))
        .unwrap();
    set.add("payouts/a.json#1".into(), &payout(8, "3", "2026-10-16"))
        .unwrap();
    // The same payout from the next window, written differently but equal.
    set.add("payouts/b.json#0".into(), &payout(7, "10.5", "2026-10-15"))
        .unwrap();
    assert_eq!(set.len(), 2);
    let e = set
        .add("payouts/c.json#4".into(), &payout(8, "3.01", "2026-10-16"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("payout 8") && e.contains("payouts/a.json#1") && e.contains("payouts/c.json#4"),
        "{e}"
    );
    let e = set
        .add("payouts/c.json#5".into(), &payout(7, "10.5", "2026-10-17"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("payouts/a.json#0") && e.contains("2026-10-17"),
        "{e}"
    );
    let df = set.finish().unwrap();
    frames::check_schema(&df, &frames::payouts_schema(), "payouts").unwrap();
    assert_eq!(decimals(&df, "amount"), vec![Some(d("10.5")), Some(d("3"))]);
    assert_eq!(strs(&df, "source")[0].as_deref(), Some("payouts/a.json#0"));
}

/// Scale check, not part of the suite: `LOAD_ROWS=10000000 cargo test --release --lib
/// export_scale -- --ignored --nocapture` prints rows/s and peak memory.
#[test]
#[ignore]
fn export_scale() {
    use std::io::Write as _;
    let n: usize = std::env::var("LOAD_ROWS").map_or(1_000_000, |v| v.parse().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("big.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    write!(
        f,
        "\"{}\",\"Payment system fee\",\"Dry run\",\"Project\"\r\n",
        HEADER.replace(',', "\",\"")
    )
    .unwrap();
    for i in 0..n {
        let (amount, cur) = if i % 10 == 9 {
            ("-12.34", "EUR")
        } else {
            ("12.34", "USD")
        };
        write!(
            f,
            "\"{i}\",\"done\",\"2026-10-{:02} 10:00:00\",\"{amount}\",\"{cur}\",\"11.1\",\"USD\",\"1.0876543210\",\"\",\"0.37\",\"0\",\"Game\"\r\n",
            1 + i % 28
        )
        .unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let t = std::time::Instant::now();
    let df = load_registry_export(&p, None).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(df.height(), n);
    assert_eq!(
        strs(&df.slice(n as i64 - 1, 1), "source")[0],
        Some(format!("big.csv:{}", n + 1))
    );
    println!(
        "{n} rows in {secs:.1}s ({:.0} rows/s), frame {} MB, peak RSS {} MB",
        n as f64 / secs,
        df.estimated_size() >> 20,
        crate::domain::memory::peak_rss_bytes().unwrap_or(0) >> 20
    );
}

/// An export whose rows exercise every way a chunk boundary can go wrong: quoted line breaks
/// (LF, CRLF, lone CR), doubled quotes, blank lines, a record starting with BOM bytes, and
/// the given line ends.
fn tricky_export(dir: &Path, eol: &str, rows: usize, bad: &[(usize, &str)]) -> PathBuf {
    let p = dir.join("tricky.csv");
    // The text column first, so a record may start with anything.
    let mut s = String::from("\u{feff}Refund reason,Transaction ID,Status,Transfer date,Payment amount,Payment currency,Payout amount,Payout currency,Exchange rate,Dry run");
    for i in 0..rows {
        s.push_str(eol);
        if i % 13 == 4 {
            s.push_str(eol);
        }
        if let Some((_, row)) = bad.iter().find(|(at, _)| *at == i) {
            s.push_str(row);
            continue;
        }
        let reason = crate::domain::csvsplit::tricky_field(i, eol);
        let amount = if i % 5 == 3 { "-1.25" } else { "10.5" };
        s.push_str(&format!(
            "{reason},{i},done,2026-10-{:02} 12:00:00,{amount},USD,{amount},USD,1.5,{}",
            1 + i % 28,
            i % 2
        ));
    }
    s.push_str(eol);
    std::fs::write(&p, s).unwrap();
    p
}

fn small_chunks(block_bytes: usize) -> Split {
    Split {
        block_bytes,
        threads: 3,
        min_file_bytes: 0,
    }
}

/// [`stream_registry_export_split`] stacked, read again by one reader when the parallel read
/// cannot finish (as the job does).
fn streamed(
    p: &Path,
    window: Option<Window>,
    split: &Split,
    sink_rows: usize,
) -> Result<DataFrame, String> {
    let mut split = *split;
    loop {
        let mut sink = crate::load::Collect::default();
        let r = stream_registry_export_split(
            p,
            window,
            DateZones::default(),
            (&split, sink_rows),
            &[],
            &mut sink,
        );
        match r {
            Ok(s) => {
                let df = sink.stacked(TxFrame::with_columns(0, &[]).finish().unwrap());
                assert_eq!(s.loaded, df.height() as u64);
                assert_eq!(s.read, s.loaded + s.outside);
                return Ok(df);
            }
            Err(LoadError::NotInChunks { .. }) => split = Split::sequential(),
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[test]
fn parallel_export_load_equals_the_sequential_one() {
    let tmp = tempfile::tempdir().unwrap();
    let w = Window::new(
        NaiveDate::from_ymd_opt(2026, 10, 3).unwrap(),
        NaiveDate::from_ymd_opt(2026, 10, 20).unwrap(),
    )
    .unwrap();
    for eol in ["\n", "\r\n", "\r"] {
        let p = tricky_export(tmp.path(), eol, 120, &[]);
        let len = std::fs::metadata(&p).unwrap().len() as usize;
        for window in [None, Some(w)] {
            let seq = load_registry_export_split(
                &p,
                window,
                DateZones::default(),
                &Split::sequential(),
                &[],
            )
            .unwrap();
            assert!(seq.height() > 50);
            if eol == "\n" && window.is_none() {
                // Sources count physical lines: quoted breaks and blank lines included.
                assert_eq!(strs(&seq, "source")[0].as_deref(), Some("tricky.csv:2"));
            }
            for block in [1, 2, 3, 5, 17, 64, 100, 333, 1000, len / 2, len] {
                let before = crate::domain::csvsplit::PARALLEL_READS.with(|n| n.get());
                let par = load_registry_export_split(
                    &p,
                    window,
                    DateZones::default(),
                    &small_chunks(block),
                    &[],
                )
                .unwrap();
                assert_eq!(
                    crate::domain::csvsplit::PARALLEL_READS.with(|n| n.get()),
                    before + 1,
                    "read in parallel"
                );
                assert_eq!(par.schema(), seq.schema());
                assert!(
                    par.equals_missing(&seq),
                    "eol {eol:?} block {block}:\n{par}\n{seq}"
                );
                // Streamed in pieces: the same rows.
                let s = streamed(&p, window, &small_chunks(block), 7).unwrap();
                assert_eq!(s.schema(), seq.schema());
                assert!(s.equals_missing(&seq), "streamed, block {block}");
            }
            for pieces in [1, 7, 1000] {
                let s = streamed(&p, window, &Split::sequential(), pieces).unwrap();
                assert!(s.equals_missing(&seq), "one reader, pieces of {pieces}");
            }
        }
    }
}

#[test]
fn parallel_export_load_reports_the_first_error_in_file_order() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [&[(usize, &str)]; 4] = [
        &[(90, "x,90,done,2026-10-01,1;5,USD,1,USD,1,0")],
        &[
            (30, "x,30,done"),
            (90, "x,90,done,2026-10-01,1;5,USD,1,USD,1,0"),
        ],
        &[(60, "x,60,,2026-10-01,1,USD,1,USD,1,0"), (61, "x,61,done")],
        &[(119, "\"unterminated,119,done")],
    ];
    for eol in ["\n", "\r\n"] {
        for bad in cases {
            let p = tricky_export(tmp.path(), eol, 120, bad);
            let seq = load_registry_export_split(
                &p,
                None,
                DateZones::default(),
                &Split::sequential(),
                &[],
            )
            .unwrap_err()
            .to_string();
            assert!(seq.contains("tricky.csv:"), "{seq}");
            for block in [1, 7, 64, 300, 2000] {
                let par = load_registry_export_split(
                    &p,
                    None,
                    DateZones::default(),
                    &small_chunks(block),
                    &[],
                )
                .unwrap_err()
                .to_string();
                assert_eq!(par, seq, "eol {eol:?} block {block}");
                let s = streamed(&p, None, &small_chunks(block), 5).unwrap_err();
                assert_eq!(s, seq, "streamed, eol {eol:?} block {block}");
            }
        }
    }
}

/// An export without a quote (nearly every real one): its chunks are split without the csv
/// crate's parser (`PlainRecords`) and give what the one reader gives, sources (lines), errors
/// and their lines included.
#[test]
fn quote_free_export_load_equals_the_sequential_one() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("plain.csv");
    let bad_rows: [Option<(usize, &str)>; 3] = [
        None,
        Some((40, "x,40,done")),
        Some((70, "x,70,done,2026-10-01 12:00:00,1;5,USD,1,USD,1.5,0")),
    ];
    for eol in ["\n", "\r\n"] {
        for bad in bad_rows {
            let mut s = String::from("Refund reason,Transaction ID,Status,Transfer date,Payment amount,Payment currency,Payout amount,Payout currency,Exchange rate,Dry run");
            for i in 0..120usize {
                s.push_str(eol);
                if i % 13 == 4 {
                    s.push_str(eol);
                }
                match bad {
                    Some((at, row)) if at == i => s.push_str(row),
                    _ => s.push_str(&format!(
                        "{},{i},done,2026-10-{:02} 12:00:00,10.5,USD,10.5,USD,1.5,{}",
                        if i % 3 == 0 { "" } else { "late" },
                        1 + i % 28,
                        i % 2
                    )),
                }
            }
            // One file ends without a line end.
            if eol == "\r\n" {
                s.push_str(eol);
            }
            std::fs::write(&p, &s).unwrap();
            let load = |split: &Split| {
                load_registry_export_split(&p, None, DateZones::default(), split, &[])
                    .map_err(|e| e.to_string())
            };
            let seq = load(&Split::sequential());
            for block in [1, 7, 64, 300, 2000] {
                match (&seq, &load(&small_chunks(block))) {
                    (Ok(s), Ok(par)) => assert!(par.equals_missing(s), "{eol:?} block {block}"),
                    (Err(s), Err(par)) => assert_eq!(par, s, "{eol:?} block {block}"),
                    (s, par) => panic!("{eol:?} block {block}: {s:?} / {par:?}"),
                }
            }
            match (bad, seq) {
                (None, Ok(df)) => {
                    assert_eq!(df.height(), 120);
                    assert_eq!(strs(&df, "source")[0].as_deref(), Some("plain.csv:2"));
                }
                (Some((at, _)), Err(e)) => assert!(e.contains("plain.csv:"), "{at}: {e}"),
                (bad, seq) => panic!("{bad:?}: {seq:?}"),
            }
        }
    }
}

/// One day's breakdown response as the fetch stores it.
fn breakdown_file(day: &str) -> SnapshotFile {
    let d = NaiveDate::from_str(day).unwrap();
    SnapshotFile {
        path: format!("breakdown/{day}_{day}.json"),
        endpoint: "breakdown".into(),
        url: String::new(),
        received_at: chrono::DateTime::default(),
        sha256: String::new(),
        bytes: 0,
        rows: 3,
        attempts: 1,
        window: Window::new(d, d).unwrap(),
        offset: None,
        duplicate_rows: vec![],
    }
}

#[test]
fn breakdown_values_that_cannot_be_taken_exactly_are_not_checked_never_rounded() {
    // Float noise on one currency, another listed twice, a third fine.
    let body = br#"[
        {"IsoCurrency": "USD", "PaymentsAmount": 10.5, "SumPayoutSum": 1234.5600000000002},
        {"IsoCurrency": "EUR", "PaymentsAmount": 3, "SumPayoutSum": 2.5},
        {"IsoCurrency": "JPY", "PaymentsAmount": 100, "SumPayoutSum": 0.9},
        {"IsoCurrency": "EUR", "PaymentsAmount": 4, "SumPayoutSum": 3.5}
    ]"#;
    let rows: Vec<BreakdownRow> = parse_json_rows(body, BREAKDOWN_REQUIRED).unwrap();
    let file = breakdown_file("2026-10-01");
    let mut out = FrameBuilder::new(frames::breakdown_schema());
    let skipped = push_breakdown(&mut out, &file, &rows).unwrap();
    let frame = out.finish("breakdown").unwrap();
    assert_eq!(strs(&frame, "currency"), [Some("JPY".to_owned())]);
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    let noise = &skipped[0];
    assert_eq!(noise.subject, "2026-10-01 USD");
    assert!(
        noise
            .reason
            .contains("#0: SumPayoutSum 1234.5600000000002 has more than 6 decimals"),
        "{noise:?}"
    );
    let twice = &skipped[1];
    assert_eq!((twice.subject.as_str(), twice.count), ("2026-10-01 EUR", 2));
    assert!(
        twice.reason.contains("listed 2 times (rows 1, 3)"),
        "{twice:?}"
    );
    assert!(skipped.iter().all(|l| l.date == Some(file.window.from)));
}

/// A reader that hands out at most `at_most` bytes per read, so a line end can fall on any
/// cut between reads.
struct Dribble<'a> {
    data: &'a [u8],
    at_most: usize,
}

impl std::io::Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.len().min(self.at_most).min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn line_counter_gives_each_byte_the_line_of_a_byte_by_byte_count() {
    use std::io::Read;
    let text: &[u8] = b"ab\r\nc\n\nd\r\r\ne\rf\n\r\ng,\"h\ri\"\n\n\rjkl\r\n";
    // By hand: a `\n` counts from where its run of `\r`/`\n` bytes began.
    let run_starts: Vec<usize> = (0..text.len())
        .filter(|&i| text[i] == b'\n')
        .map(|i| {
            let mut s = i;
            while s > 0 && matches!(text[s - 1], b'\r' | b'\n') {
                s -= 1;
            }
            s
        })
        .collect();
    for at_most in 1..=7 {
        let mut counter = LineCounter::starting_at(
            Dribble {
                data: text,
                at_most,
            },
            5,
        );
        let mut sink = Vec::new();
        counter.read_to_end(&mut sink).unwrap();
        assert_eq!(sink, text);
        for b in 0..text.len() {
            let expected = 5 + run_starts.iter().filter(|&&s| s <= b).count() as u64;
            assert_eq!(
                counter.line_at(b as u64),
                expected,
                "byte {b}, reads of {at_most}"
            );
        }
    }
    // A chunk's lines counted from its bytes when asked: the same, asked in increasing order
    // from any byte on.
    let chunk = Chunk {
        index: 0,
        bytes: text.to_vec(),
        lines_before: 4,
        lines: 0,
    };
    for from in 0..text.len() {
        let mut lines = ChunkRead::new(&chunk);
        for b in (from..text.len()).step_by(1 + from % 3) {
            let expected = 5 + run_starts.iter().filter(|&&s| s <= b).count() as u64;
            // The csv reader's count: the `\n`s before `b`, plus one.
            let csv_line = 1 + text[..b].iter().filter(|&&c| c == b'\n').count() as u64;
            assert_eq!(
                lines.line_at(b as u64, csv_line),
                expected,
                "byte {b} from {from}"
            );
        }
    }
}

/// An export lacking most of the registry's columns (no fees, no user, no dry-run flag) loads
/// every column of the schema, in its order: the missing ones null, `dry_run` false, read
/// by one reader or in chunks alike.
#[test]
fn an_exports_missing_columns_load_as_nulls_and_a_false_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("narrow.csv");
    let mut text = String::from(
        "Transaction ID,Status,Transfer date,Payment amount,Payment currency,Payout amount,Payout currency\n",
    );
    for i in 0..40 {
        text.push_str(&format!(
            "{i},done,2026-10-{:02} 12:00:00,1{i}.50,EUR,1{i}.00,EUR\n",
            1 + i % 28
        ));
    }
    std::fs::write(&p, text).unwrap();
    let seq = load_registry_export_split(&p, None, DateZones::default(), &Split::sequential(), &[])
        .unwrap();
    for df in [
        seq.clone(),
        load_registry_export_split(&p, None, DateZones::default(), &small_chunks(64), &[]).unwrap(),
    ] {
        frames::check_schema(&df, &frames::provider_schema(), "provider").unwrap();
        assert_eq!(df.height(), 40);
        for name in [
            "refund_reason",
            "user_id",
            "fx_rate",
            "commission_xsolla",
            "created_at",
        ] {
            assert_eq!(df.column(name).unwrap().null_count(), 40, "{name}");
        }
        let dry = df.column("dry_run").unwrap().bool().unwrap().clone();
        assert_eq!(dry.iter().filter(|d| *d == Some(false)).count(), 40);
        assert_eq!(strs(&df, "payment_currency")[3].as_deref(), Some("EUR"));
        assert!(df.equals_missing(&seq));
    }
}

#[test]
fn a_parquet_export_reads_as_its_csv_does() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("export.csv");
    let mut text = String::from("Refund reason,Transaction ID,Status,Transfer date,Payment amount,Payment currency,Payout amount,Payout currency,Exchange rate,Dry run\n");
    for i in 0..40 {
        let amount = if i % 5 == 3 { "-1.25" } else { "10.5" };
        let reason = if i % 4 == 0 {
            String::new()
        } else {
            format!("r{i}")
        };
        text.push_str(&format!(
            "{reason},{i},done,2026-10-{:02} 12:00:00,{amount},USD,{amount},USD,1.5,{}\n",
            1 + i % 28,
            i % 2
        ));
    }
    std::fs::write(&csv, &text).unwrap();
    let as_text = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(csv.clone()))
        .unwrap()
        .finish()
        .unwrap();
    let typed = as_text
        .clone()
        .lazy()
        .with_columns([
            col("Transaction ID").cast(DataType::Int64),
            col("Payment amount").cast(DataType::Decimal(12, 2)),
        ])
        .collect()
        .unwrap();
    let w = Window::new(
        NaiveDate::from_ymd_opt(2026, 10, 3).unwrap(),
        NaiveDate::from_ymd_opt(2026, 10, 20).unwrap(),
    )
    .unwrap();
    for (name, mut df) in [("text.parquet", as_text), ("typed.parquet", typed)] {
        let p = tmp.path().join(name);
        ParquetWriter::new(std::fs::File::create(&p).unwrap())
            .with_row_group_size(Some(7))
            .finish(&mut df)
            .unwrap();
        for window in [None, Some(w)] {
            let from_csv = load_registry_export(&csv, window).unwrap();
            let from_parquet = load_registry_export(&p, window).unwrap();
            assert!(from_parquet.height() > 10);
            let without = |df: &DataFrame| df.drop("source").unwrap();
            assert!(
                without(&from_parquet).equals_missing(&without(&from_csv)),
                "{name}:\n{from_parquet}\n{from_csv}"
            );
            if window.is_none() {
                let sources = strs(&from_parquet, "source");
                assert_eq!(sources[0].as_deref(), Some(format!("{name}:1").as_str()));
                assert_eq!(sources[39].as_deref(), Some(format!("{name}:40").as_str()));
            }
            // In pieces, as a run in parts reads it.
            for pieces in [1, 6, 100] {
                let s = streamed(&p, window, &Split::default(), pieces).unwrap();
                assert!(
                    s.equals_missing(&from_parquet),
                    "{name}, pieces of {pieces}"
                );
            }
        }
    }
    // Starting as Parquet does but not Parquet: an error naming the file.
    let fake = tmp.path().join("fake.parquet");
    std::fs::write(&fake, "PAR1 but not really").unwrap();
    let e = load_registry_export(&fake, None).unwrap_err().to_string();
    assert!(e.contains("fake.parquet"), "{e}");
}
