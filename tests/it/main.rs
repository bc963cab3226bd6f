//! Integration tests: the real client against the sandbox over real HTTP on loopback, and the
//! real binary in a temp folder. One binary for all of them keeps link times down.
//!
//! Each module below is tests, except `support`: what more than one of them needs (the sandbox,
//! the one way to run the binary, a folder set up for a job run, the SMTP server). Test modules
//! import from `support`, never from each other.

mod architecture;
mod bad_input;
mod bench;
mod breakdown_days;
mod chart;
mod check_config;
mod client;
mod conventions;
mod fetch_cli;
mod fetch_concurrency;
mod fuzz;
mod items;
mod job_cli;
mod nights;
mod not_checked;
mod notify;
mod paging;
mod parts;
mod reconcile_e2e;
mod refunds_across_windows;
mod reliability;
mod report;
mod schedule;
mod support;
mod time_zones;
mod window_edges;
