//! xsolla-recon: reconciles what Xsolla reports against what a merchant's ledger says.
//!
//! The layers, from the bottom up (see `ARCHITECTURE.md`); each imports only from below:
//! `domain` (shared types) → `xsolla` (the Reports API client) → `fetch` (raw snapshots) →
//! `load` (both sides as frames) → `reconcile` (rules, open items) → `report` (files) →
//! `deliver` (mail) → `job` (config, run, schedule). `sandbox`, `demo` and `fuzz` are the
//! test harness, built only with the `sandbox` feature.

pub mod deliver;
pub mod domain;
pub mod fetch;
pub mod job;
pub mod load;
pub mod reconcile;
pub mod report;
pub mod xsolla;

#[cfg(feature = "sandbox")]
pub mod demo;
#[cfg(feature = "sandbox")]
#[doc(hidden)]
pub mod fuzz;
#[cfg(feature = "sandbox")]
pub mod sandbox;
