//! Crash-safe file writing.
//!
//! Every output of the job (snapshots, manifests, reports, state) goes through
//! [`write_atomic`]: a temp file in the same folder, fsync, then rename. A run killed at any
//! point leaves either the old file or the new one under the final name, never half of one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An I/O failure with the path it concerns, so the message says which file.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct FsError {
    /// What was being done ("write", "create folder", "rename" …).
    pub action: &'static str,
    /// The file or folder concerned.
    pub path: PathBuf,
    /// The operating system's error.
    #[source]
    pub source: io::Error,
}

impl FsError {
    /// Wraps an `io::Error` with the action and path.
    pub fn new(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        FsError {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Prefix of in-flight temp files; anything starting with it is garbage after a crash.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Writes `bytes` to `path` atomically (temp file in the same folder, fsync, rename, fsync dir).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Like [`write_atomic`], but lets the caller stream into the temp file.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), FsError> {
    let dir = parent_dir(path);
    fs::create_dir_all(&dir).map_err(|e| FsError::new("create folder", &dir, e))?;
    let tmp = temp_path_for(path);
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| FsError::new("create", &tmp, e))?;
        fill(&mut f).map_err(|e| FsError::new("write", &tmp, e))?;
        f.sync_all().map_err(|e| FsError::new("sync", &tmp, e))?;
        drop(f);
        crash_point("write", path);
        fs::rename(&tmp, path).map_err(|e| FsError::new("rename into", path, e))?;
        sync_dir(&dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes a file inside a staging folder: temp file and rename, but no fsync.
///
/// Why: a fetch stores thousands of pages; one fsync each dominated its run time (measured:
/// half the wall time in I/O wait). The staging folder is never trusted until
/// [`sync_filesystem`] and [`publish_dir`] have run, so per-file durability buys nothing there.
pub fn write_staged(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    let dir = parent_dir(path);
    fs::create_dir_all(&dir).map_err(|e| FsError::new("create folder", &dir, e))?;
    let tmp = temp_path_for(path);
    let result = fs::write(&tmp, bytes)
        .map_err(|e| FsError::new("write", &tmp, e))
        .map(|()| crash_point("stage", path))
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| FsError::new("rename into", path, e)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes everything written so far on `dir`'s filesystem durable, in one call (`syncfs`).
pub fn sync_filesystem(dir: &Path) -> Result<(), FsError> {
    let f = File::open(dir).map_err(|e| FsError::new("open", dir, e))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `f` is an open descriptor for the whole call.
        if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
            return Err(FsError::new("sync", dir, io::Error::last_os_error()));
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = f;
        sync_folder(dir)?;
    }
    Ok(())
}

/// Makes the files of `dir` (and of its folders) and `dir` itself durable, one fsync each.
///
/// Why not [`sync_filesystem`] for a report's few files: `syncfs` also waits for whatever else
/// was written on the filesystem and is not on disk yet (another job's files, a build): the
/// 1 M-row benchmark's report took 2 ms or 150 ms to sync depending on what ran before it;
/// an fsync per file took 4-8 ms either way.
pub fn sync_folder(dir: &Path) -> Result<(), FsError> {
    for e in fs::read_dir(dir).map_err(|e| FsError::new("read folder", dir, e))? {
        let p = e.map_err(|e| FsError::new("read folder", dir, e))?.path();
        if p.is_dir() {
            sync_folder(&p)?;
        } else {
            File::open(&p)
                .and_then(|f| f.sync_all())
                .map_err(|e| FsError::new("sync", &p, e))?;
        }
    }
    sync_dir(dir);
    Ok(())
}

/// Renames a fully written folder into place (the folder-level twin of [`write_atomic`]).
///
/// `final_path` must not exist yet: an existing snapshot or report is never overwritten.
pub fn publish_dir(staging: &Path, final_path: &Path) -> Result<(), FsError> {
    if final_path.exists() {
        return Err(FsError::new(
            "publish (already exists)",
            final_path,
            io::Error::from(io::ErrorKind::AlreadyExists),
        ));
    }
    crash_point("publish", final_path);
    fs::rename(staging, final_path).map_err(|e| FsError::new("rename into", final_path, e))?;
    sync_dir(&parent_dir(final_path));
    Ok(())
}

/// A temp path next to `path`, unique per process and call.
pub fn temp_path_for(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_dir(path).join(format!("{TEMP_PREFIX}{}-{n}-{name}", std::process::id()))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(dir: &Path) {
    // Best effort: makes the rename durable on power loss; not all filesystems allow it.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The crash tests' hook: with `XSOLLA_RECON_CRASH_AT=<action>:<file name>` (e.g.
/// `write:open_items.json`, `publish:manifest.json`'s folder, `stage:page-0003.json`) the
/// process kills itself with SIGKILL at that point, just before the rename that would make
/// the file final. The tests then prove that nothing half-written is left under a final name.
/// The variable is read once; without it this is one comparison.
pub fn crash_point(action: &str, path: &Path) {
    use std::sync::OnceLock;
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let Some(at) = AT
        .get_or_init(|| std::env::var("XSOLLA_RECON_CRASH_AT").ok())
        .as_deref()
    else {
        return;
    };
    let Some((want_action, want_name)) = at.split_once(':') else {
        return;
    };
    let name = path.file_name().map(|n| n.to_string_lossy());
    let matches = want_action == action
        && name.is_some_and(|n| {
            n == want_name
                || (want_name.ends_with('*') && n.starts_with(&want_name[..want_name.len() - 1]))
        });
    if matches {
        eprintln!("crash point {at} reached: SIGKILL");
        #[cfg(unix)]
        // SAFETY: sending a signal to our own process.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_without_leaving_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
    }

    #[test]
    fn failed_fill_leaves_old_content_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"old").unwrap();
        let err = write_atomic_with(&p, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("killed"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("a.txt"), "{err}");
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn sync_folder_syncs_nested_files_and_names_a_missing_folder() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("a.csv"), b"a").unwrap();
        fs::write(dir.path().join("sub").join("b.csv"), b"b").unwrap();
        sync_folder(dir.path()).unwrap();
        let missing = dir.path().join("gone");
        let err = sync_folder(&missing).unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
    }

    #[test]
    fn publish_dir_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("staging");
        let b = dir.path().join("final");
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        assert!(publish_dir(&a, &b).is_err());
        fs::remove_dir(&b).unwrap();
        publish_dir(&a, &b).unwrap();
        assert!(b.is_dir() && !a.exists());
    }
}
