//! What `check-config` learns from a ledger without loading it: the header of its first file,
//! the configured columns that header lacks, and the status words `status_map` does not
//! cover. The run would stop at the first missing column and only count unmapped statuses
//! after a whole load; this says all of it before the first night.

use super::config::{LedgerConfig, LedgerFormat};
use super::{configured_names, csv_reader, parquet, xlsx, Field, LedgerError};
use crate::domain::frames::LEDGER_STATUSES;
use crate::domain::text::header_sample;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Most data rows whose status a probe reads.
pub const PROBE_MAX_ROWS: u64 = 100_000;
/// Most bytes of a CSV file a probe reads past its header.
pub const PROBE_MAX_BYTES: u64 = 64 << 20;

/// What the first file of a ledger says about its config.
#[derive(Debug)]
pub struct LedgerProbe {
    /// The file, as named relative to the config's folder.
    pub file: PathBuf,
    /// Line (row) of its header; 0 for Parquet, which has no header line.
    pub header_line: u64,
    /// The header, cut for messages ([`header_sample`]).
    pub header: Vec<String>,
    /// How many columns the header really has.
    pub columns: usize,
    /// Configured columns the header lacks: the config key (`amount` …) and its name.
    pub missing: Vec<(&'static str, String)>,
    /// Status words (trimmed, lower-cased; `""` for an empty cell) that `status_map` does
    /// not cover, with how many rows have each. Empty when no status column was read.
    pub uncovered_statuses: BTreeMap<String, u64>,
    /// Data rows whose status was read.
    pub rows_scanned: u64,
    /// The scan stopped at [`PROBE_MAX_ROWS`] or [`PROBE_MAX_BYTES`]: there may be more.
    pub cut: bool,
    /// Why the scan of the rows stopped early, when a row could not be read at all.
    pub scan_error: Option<LedgerError>,
}

/// Counts the status words of the rows a reader hands it, up to the limits.
pub(super) struct StatusScan {
    /// The configured status column, when there is one.
    name: Option<String>,
    /// Lower-cased words the map covers (the normalised statuses map to themselves).
    covered: HashSet<String>,
    uncovered: BTreeMap<String, u64>,
    rows: u64,
    cut: bool,
}

impl StatusScan {
    fn new(cfg: &LedgerConfig) -> Self {
        let covered = LEDGER_STATUSES
            .iter()
            .map(|s| (*s).to_owned())
            .chain(cfg.status_map.keys().map(|k| k.trim().to_lowercase()))
            .collect();
        StatusScan {
            name: cfg.columns.status.as_ref().map(|s| s.trim().to_lowercase()),
            covered,
            uncovered: BTreeMap::new(),
            rows: 0,
            cut: false,
        }
    }

    /// The status column's index in `header`, when it is configured and there.
    pub(super) fn column(&self, header: &[String]) -> Option<usize> {
        let name = self.name.as_deref()?;
        header.iter().position(|h| h.trim().to_lowercase() == name)
    }

    /// Whether another row may be read, `bytes` into the file; notes the cut when not.
    pub(super) fn more(&mut self, bytes: u64) -> bool {
        if self.rows >= PROBE_MAX_ROWS || bytes >= PROBE_MAX_BYTES {
            self.cut = true;
        }
        !self.cut
    }

    /// One data row's status cell, as text.
    pub(super) fn add(&mut self, status: &str) {
        self.rows += 1;
        let word = status.trim().to_lowercase();
        if !self.covered.contains(&word) {
            *self.uncovered.entry(word).or_insert(0) += 1;
        }
    }
}

/// What a reader's probe found: the header, its line, and the error that stopped the scan
/// of the rows after it (if one did).
pub(super) type Scanned = (Vec<String>, u64, Option<LedgerError>);

/// Opens the first file `cfg.path` matches (relative to `base_dir`), reads its header with
/// the same dialect, encoding and sheet rules as a load, and scans the status column of at
/// most [`PROBE_MAX_ROWS`] rows ([`PROBE_MAX_BYTES`] of a CSV).
pub fn probe_ledger(cfg: &LedgerConfig, base_dir: &Path) -> Result<LedgerProbe, LedgerError> {
    let files = super::resolve_files(&cfg.path, base_dir)?;
    let (path, label) = files.first().expect("resolve_files never returns no file");
    let format = match cfg.format {
        LedgerFormat::Auto => super::format_by_extension(path)?,
        f => f,
    };
    let mut scan = StatusScan::new(cfg);
    let (header, header_line, scan_error) = match format {
        LedgerFormat::Csv | LedgerFormat::Auto => csv_reader::probe(cfg, path, label, &mut scan)?,
        LedgerFormat::Xlsx => xlsx::probe(cfg, path, label, &mut scan)?,
        LedgerFormat::Parquet => parquet::probe(path, label, &mut scan)?,
    };
    let present: HashSet<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    let missing = Field::ALL
        .iter()
        .zip(configured_names(&cfg.columns))
        .filter_map(|(f, name)| {
            let name = name?;
            (!present.contains(&name.trim().to_lowercase())).then(|| (f.key(), name.to_owned()))
        })
        .collect();
    if scan.cut {
        tracing::info!(file = %label.display(), rows = scan.rows, "check-config read the statuses of the ledger's first rows only");
    }
    Ok(LedgerProbe {
        file: label.clone(),
        header_line,
        columns: header.len(),
        header: header_sample(&header),
        missing,
        uncovered_statuses: scan.uncovered,
        rows_scanned: scan.rows,
        cut: scan.cut,
        scan_error,
    })
}
