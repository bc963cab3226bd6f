//! The built-in scheduler: cron expressions per job and time zone, the per-merchant run lock, and the status file.
