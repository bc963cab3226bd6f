//! Integration tests: the real client against the sandbox over real HTTP on loopback, and the
//! real binary in a temp folder. One binary for all of them keeps link times down.

mod architecture;
mod bad_input;
mod client;
mod fetch_cli;
mod fuzz;
mod job_cli;
mod notify;
mod reconcile_e2e;
mod reliability;
mod report;
mod schedule;
mod smtp_server;
mod support;
