//! The pictures stand on their own: `chart.png` and `age.png` written by the real binary,
//! read back and searched, pixel for pixel, for the labels they must show (each label drawn
//! on its own with the same embedded font, [`label_pixels`]).

use crate::support::*;
use std::path::{Path, PathBuf};
use xsolla_recon::report::{
    label_pixels, LabelPixels, CHART_HEADING_PX, CHART_LABEL_PX, CHART_TEXT_RGB,
};

const WHITE: [u8; 3] = [255, 255, 255];

/// A PNG file decoded: width, height, RGB bytes.
struct Rgb {
    w: u32,
    h: u32,
    px: Vec<u8>,
}

fn decode(path: &Path) -> Rgb {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut px = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut px).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    px.truncate(info.buffer_size());
    Rgb {
        w: info.width,
        h: info.height,
        px,
    }
}

/// Whether `label`'s inked rectangle appears in `img` exactly.
fn contains(img: &Rgb, label: &LabelPixels) -> bool {
    let bg = &label.rgb[..3];
    let at = |x: u32, y: u32| &label.rgb[((y * label.width + x) * 3) as usize..][..3];
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for y in 0..label.height {
        for x in 0..label.width {
            if at(x, y) != bg {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
    }
    assert!(x0 <= x1, "the label has ink");
    let (nw, nh) = (x1 - x0 + 1, y1 - y0 + 1);
    let img_at = |x: u32, y: u32| &img.px[((y * img.w + x) * 3) as usize..][..3];
    (0..=img.h.saturating_sub(nh)).any(|oy| {
        (0..=img.w.saturating_sub(nw)).any(|ox| {
            (0..nh).all(|dy| (0..nw).all(|dx| img_at(ox + dx, oy + dy) == at(x0 + dx, y0 + dy)))
        })
    })
}

fn heading(text: &str) -> LabelPixels {
    label_pixels(text, CHART_HEADING_PX, CHART_TEXT_RGB, WHITE)
}

fn label(text: &str) -> LabelPixels {
    label_pixels(text, CHART_LABEL_PX, CHART_TEXT_RGB, WHITE)
}

/// The first run folder under `dir` holding `file`.
fn run_dir_with(dir: &Path, file: &str) -> PathBuf {
    files_under(dir)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == file))
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| panic!("no {file} under {}", dir.display()))
}

/// `One bar per day from A (left) to B (right)` in the page's text: the first and last day.
fn days_drawn(html: &str) -> (String, String) {
    let rest = html
        .split("One bar per day from ")
        .nth(1)
        .expect("the chart's legend");
    let from = rest[..10].to_owned();
    let to = rest.split(" (left) to ").nth(1).expect("to")[..10].to_owned();
    (from, to)
}

/// The currencies of the chart's panels, top to bottom, from the page's legend table.
fn panels(html: &str) -> Vec<String> {
    let table = html
        .split("<th>top of the panel (largest day)</th></tr>\n")
        .nth(1)
        .expect("the panel table");
    let table = &table[..table.find("</table>").unwrap()];
    table
        .lines()
        .map(|row| {
            row.split("<td>")
                .nth(1)
                .unwrap()
                .split("</td>")
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_chart_shows_its_currencies_and_its_first_and_last_day() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_bin(tmp.path(), "unused", &["demo"]).await;
    assert_exit(&out, 0);
    let run = run_dir_with(&tmp.path().join("out/demo/reports"), "chart.png");
    let img = decode(&run.join("chart.png"));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    // The panels, as the page's legend lists them: the four largest currencies.
    let currencies = panels(&html);
    assert_eq!(currencies.len(), 4, "{currencies:?}");
    for cur in &currencies {
        assert!(
            contains(&img, &heading(cur)),
            "{cur}'s panel is named in the picture"
        );
    }
    let (from, to) = days_drawn(&html);
    assert!(
        contains(&img, &label(&from)),
        "the first day, {from}, is drawn"
    );
    assert!(contains(&img, &label(&to)), "the last day, {to}, is drawn");
    assert!(
        contains(&img, &label("missing_in_ledger")),
        "the legend names the classes"
    );
    // The search can fail: what is not in the picture is not found.
    assert!(!contains(&img, &heading("XTS")));
    let after = (to.parse::<chrono::NaiveDate>().unwrap() + chrono::Days::new(1)).to_string();
    assert!(!contains(&img, &label(&after)), "{after} is not drawn");
    // The demo's age chart: one run, everything first seen in it.
    let age = decode(&run.join("age.png"));
    assert!(contains(&age, &label("0–7 days")));
    assert!(
        contains(&age, &label(&to)),
        "the run's date, the window's last day"
    );
}

/// `run --from 2026-10-01 --to <to> --dry-run` for acme; exit 0 or 1; its run folder.
async fn run_to(dir: &Path, to: &str) -> PathBuf {
    let o = run_bin(
        dir,
        "chart-key",
        &[
            "run",
            "--from",
            "2026-10-01",
            "--to",
            to,
            "--config",
            "recon.toml",
            "--dry-run",
        ],
    )
    .await;
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "run to {to}: {}",
        text(&o)
    );
    let window = dir.join(format!("reports/acme/2026-10-01_{to}"));
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&window)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort();
    runs.pop().unwrap()
}

/// The age table's rows in `report.html`: (run date, currency, counts per bucket).
fn age_rows(html: &str) -> Vec<(String, String, [u64; 3])> {
    let table = html
        .split("<h2>Open items by age</h2>")
        .nth(1)
        .expect("the age section");
    let table = &table[..table.find("</table>").unwrap()];
    table
        .split("<tr><td>")
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row
                .split("</td>")
                .map(|c| c.rsplit('>').next().unwrap_or(c))
                .collect();
            let n = |i: usize| cells[i].parse::<u64>().unwrap();
            let date = row[..10].to_owned();
            (date, cells[1].to_owned(), [n(2), n(4), n(6)])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_age_chart_follows_the_open_items_over_runs_and_reruns_byte_identical() {
    let sb = quirky_sandbox("chart-key").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_setup(dir, &sb, &Extra::default());
    run_to(dir, "2026-10-05").await;
    run_to(dir, "2026-10-20").await;
    let last = run_to(dir, "2026-11-10").await;

    let html = std::fs::read_to_string(last.join("report.html")).unwrap();
    let rows = age_rows(&html);
    let dates: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert!(
        dates.contains("2026-10-05") && dates.contains("2026-11-10"),
        "{rows:?}"
    );
    // Items first seen on 5 October are over 30 days old on 10 November, and were 0–7 days
    // old on 5 October.
    let on = |d: &str, b: usize| {
        rows.iter()
            .filter(|r| r.0 == d)
            .map(|r| r.2[b])
            .sum::<u64>()
    };
    assert!(on("2026-11-10", 2) > 0, "{rows:?}");
    assert!(on("2026-10-05", 0) > 0, "{rows:?}");
    assert_eq!(on("2026-10-05", 1) + on("2026-10-05", 2), 0, "{rows:?}");

    let img = decode(&last.join("age.png"));
    for d in &dates {
        assert!(contains(&img, &label(d)), "run {d} is labelled");
    }
    // Four currencies drawn at most (`chart_max_currencies`); the table has them all.
    let currencies: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let named = currencies
        .iter()
        .filter(|c| contains(&img, &heading(c)))
        .count();
    assert_eq!(named, currencies.len().min(4), "{currencies:?}");
    for bucket in ["0–7 days", "8–30 days", "over 30 days"] {
        assert!(contains(&img, &label(bucket)), "{bucket} in the legend");
    }
    assert!(!contains(&img, &label("2026-10-06")), "no run on 6 October");

    // The same window again, over the same snapshot and state: the same pictures.
    let again = run_to(dir, "2026-11-10").await;
    assert_ne!(again, last);
    for f in ["age.png", "chart.png", "report.html"] {
        assert_eq!(
            std::fs::read(again.join(f)).unwrap(),
            std::fs::read(last.join(f)).unwrap(),
            "{f} byte for byte"
        );
    }
}
