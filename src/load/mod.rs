//! Load stage: both sides of the reconciliation as Polars frames with fixed schemas.
//!
//! - [`provider`]: Xsolla's side, from a stored snapshot or a registry export file;
//! - [`ledger`]: the merchant's side, from its ledger export (CSV, XLSX or Parquet).

pub mod ledger;
pub mod provider;

use polars::prelude::DataFrame;

/// Where a loader that reads in pieces hands each piece of its rows, in file order, instead
/// of stacking them into one frame: a run too large to hold both sides whole writes them out
/// part by part (`reconcile.rows_per_part`).
pub trait RowSink {
    /// Takes the next rows (the loader's frame schema). An error stops the reading.
    fn take(&mut self, rows: DataFrame) -> Result<(), String>;
}

/// Rows a loader reading into a [`RowSink`] gathers before handing them on when one reader
/// reads the file (a chunk read in parallel is handed on as it is).
pub const SINK_ROWS: usize = 1 << 20;

pub use provider::{
    load_registry_export, load_registry_export_in, load_registry_export_with, load_snapshot,
    load_snapshot_in, load_snapshot_with, DateZones, LoadCounts, LoadError, ProviderData,
};

/// A sink that keeps every piece (tests: a streamed read stacked equals the whole one).
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Collect(pub Vec<DataFrame>);

#[cfg(test)]
impl RowSink for Collect {
    fn take(&mut self, rows: DataFrame) -> Result<(), String> {
        self.0.push(rows);
        Ok(())
    }
}

#[cfg(test)]
impl Collect {
    /// The pieces stacked (`empty` when none came).
    pub(crate) fn stacked(self, empty: DataFrame) -> DataFrame {
        crate::domain::frames::stacked(self.0)
            .expect("pieces of one schema")
            .unwrap_or(empty)
    }
}
