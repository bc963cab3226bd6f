//! xsolla-recon: reconciles what Xsolla reports against what a merchant's ledger says.
//!
//! The pipeline flows one way through these modules:
//! `xsolla` (API client and records) → `fetch` (raw snapshots on disk) → `ledger` / frames →
//! `reconcile` → `report` → `notify`; `schedule` runs it nightly; `sandbox` is an
//! Xsolla-compatible server used by the demo, the tests and the benchmarks.

pub mod config;
pub(crate) mod csvsplit;
pub mod demo;
pub mod fetch;
pub mod frames;
pub mod fsutil;
#[doc(hidden)]
pub mod fuzz;
pub mod job;
pub mod ledger;
pub mod load;
pub mod money;
pub mod notify;
pub mod pipeline;
pub mod reconcile;
pub mod report;
pub mod sandbox;
pub mod schedule;
pub mod state;
pub mod xsolla;
