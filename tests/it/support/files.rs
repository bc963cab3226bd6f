//! Every file a run left behind, for the scans that look for secrets in it.

use std::path::{Path, PathBuf};

/// Every file under `dir`, at any depth, sorted. A folder that cannot be read fails the
/// test: a scan must not skip anything.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Whether `needle` occurs anywhere in `hay`, which need not be text.
pub fn bytes_contain(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}
