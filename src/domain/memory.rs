//! Resident memory of this process, read from `/proc/self/status` (Linux; `None` elsewhere).
//!
//! Stages log it beside their timings so a run shows which step holds the memory.

/// Peak resident memory of this process in bytes (Linux `VmHWM`), for summaries.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// Resident memory now, from `/proc/self/status` (Linux; `None` elsewhere): with the peak, it
/// shows which step of a reconciliation holds the memory.
pub fn current_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS:")
}

fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
