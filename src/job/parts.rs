//! A run too large to hold both sides whole (`reconcile.rows_per_part`): the inputs read
//! twice, in pieces, and written out part by part, then reconciled one part at a time
//! ([`crate::reconcile::parts`]).
//!
//! Why twice: a row's part depends on every row that shares an id with it
//! ([`PartKeys`]), so the first read only gathers the ids (16 bytes per distinct pair of order
//! and transaction id), and the second
//! writes each row into its part's file. Neither holds more than a few pieces of rows; the run
//! then holds one part. The part files are Parquet (LZ4), in a folder of their own under
//! `reconcile.parts_dir`, removed when the run ends, however it ends.

use crate::domain::codes;
use crate::domain::frames;
use crate::domain::window::Window;
use crate::load::ledger::{self, LedgerConfig, LedgerError, LedgerStream};
use crate::load::{self, DateZones, LoadError, RowSink};
use crate::reconcile::parts::{PartKeys, PartOf, PartSource};
use crate::reconcile::ReconcileError;
use polars::prelude::*;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A failure writing or reading the part files.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct PartsError {
    /// The file or folder.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// Rows of one side gathered before they are written to a part's file: fewer, larger row
/// groups (a piece read in parallel holds a few thousand rows, spread over every part).
const WRITE_ROWS: usize = 1 << 17;

/// The two inputs of a registry-export run read into part files.
pub struct Parted {
    /// The part files, read back by the reconciliation.
    pub files: PartFiles,
    /// What the registry export read.
    pub export: load::provider::ExportStream,
    /// What the ledger read.
    pub ledger: LedgerStream,
}

/// Where the inputs are read from.
pub struct PartInputs<'a> {
    /// The registry export.
    pub export: &'a Path,
    /// Its rows outside this window are left out.
    pub provider_window: Window,
    /// Xsolla's and the reporting time zones.
    pub zones: DateZones,
    /// Optional fee columns to build.
    pub extra: &'a [&'static str],
    /// The ledger.
    pub ledger: &'a LedgerConfig,
    /// Folder relative ledger paths are relative to.
    pub base_dir: &'a Path,
    /// The reporting zone of the ledger's date-times.
    pub reporting: chrono_tz::Tz,
}

/// Errors of [`read_in_parts`].
#[derive(Debug, thiserror::Error)]
pub enum PartedError {
    /// Reading the registry export.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Reading the ledger.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The part files.
    #[error(transparent)]
    Files(#[from] PartsError),
}

/// Reads both inputs into part files under `dir`, about `rows_per_part` rows of the larger
/// side in each part.
pub fn read_in_parts(
    inputs: &PartInputs<'_>,
    rows_per_part: usize,
    dir: &Path,
) -> Result<Parted, PartedError> {
    // First read: the ids. A piece seen twice (a file read again by one reader) only adds ids
    // already there.
    let mut keys = Keys::default();
    let (export, export_parallel) = stream_export(inputs, &mut keys, true, true)?;
    keys.side = Side::Ledger;
    let mut one_reader = Vec::new();
    let ledger_rows = stream_ledger(inputs, &mut keys, &mut one_reader)?
        .counts
        .rows_loaded;
    let rows = export.loaded.max(ledger_rows);
    let n = rows.div_ceil(rows_per_part.max(1) as u64).max(1);
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    let of = keys.keys.finish(n);
    tracing::info!(
        parts = n,
        provider_rows = export.loaded,
        ledger_rows,
        rows_per_part,
        "the run goes in parts"
    );

    // Second read: each row into its part's file, the files read the same way as the first.
    let empty = [
        frames::empty(&frames::provider_schema_with(inputs.extra)),
        frames::empty(&frames::ledger_schema()),
    ];
    let files = PartFiles::create(dir, n as usize, empty)?;
    let mut writer = Writer::new(&files, Side::Provider, &of);
    // No second try here: rows written cannot be taken back.
    let (export_again, _) = stream_export(inputs, &mut writer, export_parallel, false)?;
    let provider = writer.finish()?;
    let mut writer = Writer::new(&files, Side::Ledger, &of);
    let ledger = ledger::stream_ledger(
        inputs.ledger,
        inputs.base_dir,
        Some(inputs.reporting),
        &one_reader,
        &mut writer,
    )?;
    let ledger_written = writer.finish()?;
    if export_again != export || ledger.counts.rows_loaded != ledger_rows {
        return Err(PartsError {
            path: inputs.export.to_path_buf(),
            message: "the inputs changed between the two reads of a run in parts".into(),
        }
        .into());
    }
    // Every row loaded is in exactly one part's file.
    if provider.rows != export.loaded || ledger_written.rows != ledger_rows {
        return Err(PartsError {
            path: files.dir.path().to_path_buf(),
            message: format!(
                "{} + {} rows loaded, {} + {} written to the parts",
                export.loaded, ledger_rows, provider.rows, ledger_written.rows
            ),
        }
        .into());
    }
    Ok(Parted {
        files: PartFiles {
            written: [provider, ledger_written],
            ..files
        },
        export,
        ledger,
    })
}

/// Reads the registry export into `sink` (in parallel chunks when `parallel`), again by one
/// reader if its chunks cannot be read in parallel and `again` (the sink takes rows twice);
/// whether it was read in parallel.
fn stream_export(
    inputs: &PartInputs<'_>,
    sink: &mut dyn RowSink,
    parallel: bool,
    again: bool,
) -> Result<(load::provider::ExportStream, bool), LoadError> {
    let read = |parallel, sink: &mut dyn RowSink| {
        load::provider::stream_registry_export(
            inputs.export,
            Some(inputs.provider_window),
            inputs.zones,
            inputs.extra,
            parallel,
            sink,
        )
    };
    match read(parallel, sink) {
        Err(LoadError::NotInChunks { .. }) if parallel && again => Ok((read(false, sink)?, false)),
        other => Ok((other?, parallel)),
    }
}

/// Reads the ledger into `sink`, each file that cannot be read in parallel chunks again by
/// one reader (added to `one_reader`).
fn stream_ledger(
    inputs: &PartInputs<'_>,
    sink: &mut dyn RowSink,
    one_reader: &mut Vec<PathBuf>,
) -> Result<LedgerStream, LedgerError> {
    loop {
        match ledger::stream_ledger(
            inputs.ledger,
            inputs.base_dir,
            Some(inputs.reporting),
            one_reader,
            sink,
        ) {
            Err(LedgerError::NotInChunks { file, .. }) if !one_reader.contains(&file) => {
                one_reader.push(file)
            }
            other => return other,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Side {
    #[default]
    Provider,
    Ledger,
}

impl Side {
    /// The columns of a row's ids.
    fn ids(self) -> (&'static str, &'static str) {
        match self {
            Side::Provider => ("transaction_id", "external_id"),
            Side::Ledger => ("transaction_id", "order_id"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Side::Provider => "provider",
            Side::Ledger => "ledger",
        }
    }

    fn coded(self) -> &'static [&'static str] {
        match self {
            Side::Provider => frames::PROVIDER_CODED,
            Side::Ledger => frames::LEDGER_CODED,
        }
    }
}

/// The first read's sink: every row's ids.
#[derive(Default)]
struct Keys {
    keys: PartKeys,
    side: Side,
}

impl RowSink for Keys {
    fn take(&mut self, rows: DataFrame) -> Result<(), String> {
        let (txn, order) = self.side.ids();
        self.keys
            .add_frame(&rows, txn, order)
            .map_err(|e| e.to_string())
    }
}

/// What was written of one side: its columns and which of them held one value throughout
/// (written, but read back as a constant: an absent fee column costs nothing in memory).
#[derive(Debug, Clone, Default)]
struct Written {
    schema: Schema,
    /// Per column, the one value every row held so far (`None` once two differ).
    constant: Vec<Option<Scalar>>,
    rows: u64,
}

/// The part files of a run: `provider-<k>.parquet` and `ledger-<k>.parquet` in a folder of
/// their own, removed when dropped.
pub struct PartFiles {
    dir: tempfile::TempDir,
    n: usize,
    written: [Written; 2],
    /// Each side's frame when it has no row at all.
    empty: [DataFrame; 2],
    /// Where [`PartSource::set_aside`] writes, and the rows written.
    aside: Option<polars::io::parquet::write::BatchedWriter<File>>,
    aside_rows: usize,
}

impl PartFiles {
    fn create(parent: &Path, n: usize, empty: [DataFrame; 2]) -> Result<Self, PartsError> {
        std::fs::create_dir_all(parent).map_err(|e| PartsError {
            path: parent.to_path_buf(),
            message: format!("cannot create the folder for the part files: {e}"),
        })?;
        let dir = tempfile::Builder::new()
            .prefix("xsolla-recon-parts-")
            .tempdir_in(parent)
            .map_err(|e| PartsError {
                path: parent.to_path_buf(),
                message: format!("cannot create a folder for the part files: {e}"),
            })?;
        Ok(PartFiles {
            dir,
            n,
            written: Default::default(),
            empty,
            aside: None,
            aside_rows: 0,
        })
    }

    fn path(&self, side: Side, k: usize) -> PathBuf {
        self.dir.path().join(format!("{}-{k}.parquet", side.name()))
    }

    /// One side of part `k` as the loader made it.
    fn read(&self, side: Side, k: usize) -> Result<DataFrame, PartsError> {
        let path = self.path(side, k);
        let w = &self.written[side as usize];
        if w.rows == 0 {
            return Ok(self.empty[side as usize].clone());
        }
        let fail = |e: PolarsError| PartsError {
            path: path.clone(),
            message: e.to_string(),
        };
        let varying: Vec<String> = w
            .schema
            .iter_names()
            .zip(&w.constant)
            .filter(|(_, c)| c.is_none())
            .map(|(n, _)| n.to_string())
            .collect();
        let read = match File::open(&path) {
            Ok(f) => ParquetReader::new(f)
                .with_columns(Some(varying))
                .finish()
                .map_err(fail)?,
            // A part no row went to.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DataFrame::empty(),
            Err(e) => return Err(fail(e.into())),
        };
        let height = read.height();
        let columns = w
            .schema
            .iter()
            .zip(&w.constant)
            .map(|((name, dtype), c)| match c {
                Some(value) => Ok(Column::new_scalar(name.clone(), value.clone(), height)),
                None if height == 0 => Ok(Column::full_null(name.clone(), 0, dtype)),
                None => read.column(name).cloned(),
            })
            .collect::<PolarsResult<Vec<Column>>>()
            .map_err(fail)?;
        let df = DataFrame::new(height, columns).map_err(fail)?;
        // Written as text; held as codes again, as the loader holds them.
        codes::coded(df, side.coded()).map_err(fail)
    }
}

impl PartSource for PartFiles {
    fn count(&self) -> usize {
        self.n
    }

    fn set_aside(&mut self, rows: DataFrame) -> Result<(), ReconcileError> {
        let path = self.dir.path().join("aside.parquet");
        let fail = |e: PolarsError| ReconcileError::Part {
            part: usize::MAX,
            message: format!("{}: {e}", path.display()),
        };
        let df = as_text(rows, frames::PROVIDER_CODED).map_err(fail)?;
        let writer = match &mut self.aside {
            Some(w) => w,
            slot => slot.insert(parquet_writer(&path, df.schema()).map_err(fail)?),
        };
        self.aside_rows += df.height();
        writer.write_batch(&df).map_err(fail)
    }

    fn taken_back(&mut self) -> Result<Option<LazyFrame>, ReconcileError> {
        let path = self.dir.path().join("aside.parquet");
        let fail = |e: PolarsError| ReconcileError::Part {
            part: usize::MAX,
            message: format!("{}: {e}", path.display()),
        };
        let Some(w) = self.aside.take() else {
            return Ok(None);
        };
        w.finish().map_err(fail)?;
        // Read when the merchant-wide files run; the file stays until the run ends. Its
        // coded columns are text, as the rules read them.
        let place = PlRefPath::try_from_path(&path).map_err(fail)?;
        let lf = LazyFrame::scan_parquet(place, ScanArgsParquet::default()).map_err(fail)?;
        let rows = lf
            .clone()
            .select([len().alias("rows")])
            .collect()
            .and_then(|df| Ok(df.column("rows")?.u32()?.get(0).unwrap_or(0) as usize))
            .map_err(fail)?;
        if rows != self.aside_rows {
            let set = self.aside_rows;
            return Err(fail(
                polars_err!(ComputeError: "{set} rows set aside, {rows} in the file"),
            ));
        }
        Ok(Some(lf))
    }

    fn part(&mut self, k: usize) -> Result<[DataFrame; 2], ReconcileError> {
        let read = |side| {
            self.read(side, k).map_err(|e| ReconcileError::Part {
                part: k,
                message: e.to_string(),
            })
        };
        Ok([read(Side::Provider)?, read(Side::Ledger)?])
    }
}

/// The second read's sink: every row into its part's file.
struct Writer<'a> {
    files: &'a PartFiles,
    side: Side,
    of: &'a PartOf,
    /// Rows waiting per part.
    waiting: Vec<Vec<DataFrame>>,
    writers: Vec<Option<polars::io::parquet::write::BatchedWriter<File>>>,
    written: Written,
}

impl<'a> Writer<'a> {
    fn new(files: &'a PartFiles, side: Side, of: &'a PartOf) -> Self {
        Writer {
            files,
            side,
            of,
            waiting: vec![Vec::new(); files.n],
            writers: (0..files.n).map(|_| None).collect(),
            written: Written::default(),
        }
    }

    /// Writes what waits for part `k`.
    fn write(&mut self, k: usize) -> Result<(), PartsError> {
        let pieces = std::mem::take(&mut self.waiting[k]);
        let path = self.files.path(self.side, k);
        let fail = |e: PolarsError| PartsError {
            path: path.clone(),
            message: e.to_string(),
        };
        let Some(df) = frames::stacked(pieces).map_err(fail)? else {
            return Ok(());
        };
        let df = as_text(df, self.side.coded()).map_err(fail)?;
        let writer = match &mut self.writers[k] {
            Some(w) => w,
            slot => slot.insert(parquet_writer(&path, df.schema()).map_err(fail)?),
        };
        writer.write_batch(&df).map_err(fail)
    }

    fn finish(mut self) -> Result<Written, PartsError> {
        for k in 0..self.files.n {
            self.write(k)?;
            if let Some(w) = &self.writers[k] {
                w.finish().map_err(|e| PartsError {
                    path: self.files.path(self.side, k),
                    message: e.to_string(),
                })?;
            }
        }
        Ok(self.written)
    }

    /// Notes which columns of `rows` still hold one value throughout.
    fn note_constants(&mut self, rows: &DataFrame) -> PolarsResult<()> {
        if self.written.rows == 0 {
            self.written.schema = rows.schema().as_ref().clone();
            self.written.constant = rows
                .columns()
                .iter()
                .map(|c| one_value(c).ok().flatten())
                .collect();
        } else {
            if rows.schema().as_ref() != &self.written.schema {
                polars_bail!(SchemaMismatch: "a piece of rows in another schema than the first");
            }
            for (c, kept) in rows.columns().iter().zip(self.written.constant.iter_mut()) {
                if let Some(v) = kept {
                    if one_value(c)?.as_ref() != Some(v) {
                        *kept = None;
                    }
                }
            }
        }
        self.written.rows += rows.height() as u64;
        Ok(())
    }
}

/// A part file's writer: LZ4, fast to write and read back, about 30 bytes a row.
fn parquet_writer(
    path: &Path,
    schema: &Schema,
) -> PolarsResult<polars::io::parquet::write::BatchedWriter<File>> {
    ParquetWriter::new(File::create(path)?)
        .with_compression(ParquetCompression::Lz4Raw)
        .batched(schema)
}

/// `df` with its coded columns `coded` as text: codes are written as their text (their
/// numbers are this process's own).
fn as_text(mut df: DataFrame, coded: &[&str]) -> PolarsResult<DataFrame> {
    for name in coded {
        if let Ok(c) = df.column(name) {
            if codes::is_code(c.dtype()) {
                let text = codes::text(c)?.into_column();
                df.with_column(text)?;
            }
        }
    }
    Ok(df)
}

/// The one value of `c` when every row holds it (nulls included), for a constant column or
/// one of all nulls; `None` otherwise (a column read from text is not looked at row by row).
fn one_value(c: &Column) -> PolarsResult<Option<Scalar>> {
    if let Some(s) = c.as_scalar_column() {
        return Ok(Some(s.scalar().clone()));
    }
    if !c.is_empty() && c.null_count() == c.len() {
        return Ok(Some(Scalar::null(c.dtype().clone())));
    }
    Ok(None)
}

impl RowSink for Writer<'_> {
    fn take(&mut self, rows: DataFrame) -> Result<(), String> {
        if rows.height() == 0 {
            return Ok(());
        }
        self.note_constants(&rows).map_err(|e| e.to_string())?;
        let (txn, order) = self.side.ids();
        let parts = self
            .of
            .of_frame(&rows, txn, order)
            .map_err(|e| e.to_string())?;
        for k in 0..self.files.n {
            let mask = BooleanChunked::from_iter_values(
                "part".into(),
                parts.iter().map(|&p| p as usize == k),
            );
            let piece = rows.filter(&mask).map_err(|e| e.to_string())?;
            if piece.height() == 0 {
                continue;
            }
            self.waiting[k].push(piece);
            if self.waiting[k].iter().map(DataFrame::height).sum::<usize>() >= WRITE_ROWS {
                self.write(k).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}
