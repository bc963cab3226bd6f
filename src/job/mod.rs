//! The job: the configuration that aggregates every stage's settings, the orchestrator that
//! runs fetch → load → reconcile → report → deliver for one merchant and window, the lock that
//! keeps two runs of one merchant apart, and the scheduler that runs it nightly.
//!
//! | file | what |
//! |---|---|
//! | `run.rs` | the orchestrator [`run()`]: lock → inputs → reconcile → report → manifest → mail |
//! | `request.rs` | what a run is asked to do, how it fails, its exit codes (shared by every step) |
//! | `nightly.rs` | the days a nightly run covers (`--yesterday`, `--last`, the scheduler) |
//! | `inputs.rs` | step: the ledger files and the Xsolla snapshot (reused, stored or fetched) |
//! | `pipeline.rs` | step: load both sides, reconcile, carry open items; the report's input |
//! | `manifest.rs` | step: `manifest.json`, the record of a run |
//! | `mail.rs` | step: the report mail, never sent twice |
//! | `to_folder.rs` | the hand `reconcile` command: the reconcile step into a folder of one's choosing |
//! | `items.rs` | the `items` commands: open items with the team's decisions, imports, the log check |
//! | `config.rs` | the config file, every stage's settings together |
//! | `lock.rs` | the per-merchant lock |
//! | `schedule/` | the built-in scheduler |

pub mod config;
pub mod inputs;
pub mod items;
pub mod lock;
pub mod mail;
pub mod manifest;
pub mod nightly;
pub mod parts;
pub mod pipeline;
pub mod request;
pub mod run;
pub mod schedule;
pub mod to_folder;

pub use config::RunSettings;
pub use inputs::xsolla_client;
pub use mail::MailError;
pub use mail::MailStatus;
pub use manifest::{sha256_hex, InputFile, Outcome, RunCounts, RunManifest, Timings};
pub use nightly::*;
pub use request::*;
pub use run::*;
pub use to_folder::{reconcile_to_folder, FolderOutcome, FolderRequest};
