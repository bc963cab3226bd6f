//! Load stage: both sides of the reconciliation as Polars frames with fixed schemas.
//!
//! - [`provider`]: Xsolla's side, from a stored snapshot or a registry export file;
//! - [`ledger`]: the merchant's side, from its ledger export (CSV, XLSX or Parquet).

pub mod ledger;
pub mod provider;

pub use provider::{
    load_registry_export, load_registry_export_in, load_registry_export_with, load_snapshot,
    load_snapshot_in, load_snapshot_with, DateZones, LoadCounts, LoadError, ProviderData,
};
