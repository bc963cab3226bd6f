//! The job: the configuration that aggregates every stage's settings, the orchestrator that
//! runs fetch → load → reconcile → report → deliver for one merchant and window, the lock that
//! keeps two runs of one merchant apart, and the scheduler that runs it nightly.

pub mod config;
pub mod lock;
pub mod pipeline;
pub mod run;
pub mod schedule;

pub use run::*;
