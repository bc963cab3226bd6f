//! What more than one test module needs, and nothing else: test modules import from here,
//! never from each other.
//!
//! - [`sandbox`]: a sandbox on an ephemeral loopback port and a client with fast retries.
//! - [`bin`]: the one way to run the real binary ([`Bin`]) and to show what it printed.
//! - [`job`]: a folder set up for `xsolla-recon run` against a sandbox, and its run folders.
//! - [`files`]: every file under a folder, for scans of what a run wrote.
//! - [`inprocess`]: the job run in-process against a sandbox (a config, one run of a window).
//! - [`smtp_server`]: a small real SMTP server on loopback (imported by name, not re-exported).

pub mod bin;
pub mod files;
pub mod inprocess;
pub mod job;
pub mod sandbox;
pub mod smtp_server;

pub use bin::*;
pub use files::*;
pub use inprocess::*;
pub use job::*;
pub use sandbox::*;
