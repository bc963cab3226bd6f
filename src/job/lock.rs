//! The per-merchant run lock: never two runs of the same merchant at once, whether both come
//! from the scheduler, a manual `xsolla-recon run`, or two processes.
//!
//! `flock(LOCK_EX | LOCK_NB)` on `data_dir/locks/<merchant>.lock`. The kernel drops the lock
//! when its holder dies, so a lock file left by a crashed process is not a held lock: stale
//! locks need no detection of their own. The file's text (pid, host, time) only feeds the
//! "busy" message and is rewritten by each new holder. The file itself is never deleted:
//! deleting it would let a waiter lock an unlinked inode while a newcomer locks a new one.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a waiting acquire retries.
const POLL: Duration = Duration::from_millis(50);
/// Most of the holder's text read back for a message.
const MAX_HOLDER_BYTES: u64 = 256;
/// The scheduler's own lock file name, under `locks/`.
pub const SCHEDULER_LOCK: &str = ".scheduler.lock";
/// Longest merchant name accepted as a lock file name.
const MAX_NAME_LEN: usize = 64;

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds the merchant's lock.
    #[error("merchant {merchant:?} is busy: another run holds {path} ({holder})")]
    Busy {
        /// The merchant.
        merchant: String,
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as its file says ("pid 1234 on host since …").
        holder: String,
    },
    /// The merchant name cannot be used as a file name.
    #[error("merchant name {merchant:?} cannot name a lock file (use letters, digits, '.', '_', '-'; at most {MAX_NAME_LEN})")]
    BadName {
        /// The name given.
        merchant: String,
    },
    /// The lock folder or file could not be created, opened or locked.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

/// A held merchant lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

/// Whether `name` is safe as a single file name component.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The lock file of `merchant` under `data_dir`.
pub fn lock_path(data_dir: &Path, merchant: &str) -> PathBuf {
    data_dir.join("locks").join(format!("{merchant}.lock"))
}

impl RunLock {
    /// Takes `merchant`'s lock. With `wait = None` fails at once with [`LockError::Busy`] when
    /// it is held; otherwise retries every 50 ms for up to `wait`. Blocks the calling thread
    /// while waiting: from async code prefer [`RunLock::acquire_async`].
    pub fn acquire(
        data_dir: &Path,
        merchant: &str,
        wait: Option<Duration>,
    ) -> Result<RunLock, LockError> {
        let pending = Pending::open(data_dir, merchant)?;
        let deadline = wait.map(|w| Instant::now() + w);
        while let Some(pause) = pending.next_pause(merchant, deadline)? {
            std::thread::sleep(pause);
        }
        Ok(pending.into_lock(merchant))
    }

    /// Like [`RunLock::acquire`], but waits with `tokio::time::sleep`, so signal handling and
    /// other tasks keep running on the runtime meanwhile.
    pub async fn acquire_async(
        data_dir: &Path,
        merchant: &str,
        wait: Option<Duration>,
    ) -> Result<RunLock, LockError> {
        let pending = Pending::open(data_dir, merchant)?;
        let deadline = wait.map(|w| Instant::now() + w);
        while let Some(pause) = pending.next_pause(merchant, deadline)? {
            tokio::time::sleep(pause).await;
        }
        Ok(pending.into_lock(merchant))
    }

    /// Takes the scheduler's own lock (`locks/.scheduler.lock`; a leading dot cannot be a
    /// merchant's name), so two `xsolla-recon schedule` processes on one data folder do not
    /// both run every job. Fails at once when held: [`LockError::Busy`] with merchant
    /// `"(scheduler)"`.
    pub fn acquire_scheduler(data_dir: &Path) -> Result<RunLock, LockError> {
        let pending = Pending::open_path(data_dir, data_dir.join("locks").join(SCHEDULER_LOCK))?;
        if pending.try_lock()? {
            Ok(pending.into_lock("(scheduler)"))
        } else {
            Err(pending.busy("(scheduler)"))
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_holder(&mut self) -> io::Result<()> {
        let text = format!(
            "pid {} on {} since {}\n",
            std::process::id(),
            hostname(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(text.as_bytes())
    }
}

/// The next poll's sleep, or `None` when the wait is over.
fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    let now = Instant::now();
    match deadline {
        Some(d) if now < d => Some(POLL.min(d - now)),
        _ => None,
    }
}

/// The open lock file, not locked yet.
struct Pending {
    file: File,
    path: PathBuf,
}

impl Pending {
    fn open(data_dir: &Path, merchant: &str) -> Result<Pending, LockError> {
        if !is_safe_name(merchant) {
            return Err(LockError::BadName {
                merchant: merchant.to_owned(),
            });
        }
        Pending::open_path(data_dir, lock_path(data_dir, merchant))
    }

    fn open_path(data_dir: &Path, path: PathBuf) -> Result<Pending, LockError> {
        let dir = data_dir.join("locks");
        std::fs::create_dir_all(&dir).map_err(|source| LockError::Io {
            action: "create folder",
            path: dir.clone(),
            source,
        })?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| LockError::Io {
                action: "open",
                path: path.clone(),
                source,
            })?;
        Ok(Pending { file, path })
    }

    /// One non-blocking attempt: `Ok(false)` when someone else holds it.
    fn try_lock(&self) -> Result<bool, LockError> {
        // SAFETY: `self.file` is an open descriptor for the whole call.
        let rc = unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::WouldBlock {
            Ok(false)
        } else {
            Err(LockError::Io {
                action: "lock",
                path: self.path.clone(),
                source: err,
            })
        }
    }

    /// One attempt of a waiting acquire: `None` once the lock is taken, else how long to
    /// sleep before the next attempt; [`LockError::Busy`] when the wait is over.
    fn next_pause(
        &self,
        merchant: &str,
        deadline: Option<Instant>,
    ) -> Result<Option<Duration>, LockError> {
        if self.try_lock()? {
            return Ok(None);
        }
        match remaining(deadline) {
            Some(pause) => Ok(Some(pause)),
            None => Err(self.busy(merchant)),
        }
    }

    fn busy(&self, merchant: &str) -> LockError {
        LockError::Busy {
            merchant: merchant.to_owned(),
            holder: read_holder(&self.file),
            path: self.path.clone(),
        }
    }

    fn into_lock(self, merchant: &str) -> RunLock {
        let mut lock = RunLock {
            file: self.file,
            path: self.path,
        };
        if let Err(e) = lock.write_holder() {
            // The lock is held; only the message for others is missing.
            tracing::warn!(path = %lock.path.display(), error = %e, "cannot write lock holder");
        }
        tracing::debug!(merchant, path = %lock.path.display(), "merchant lock taken");
        lock
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Closing the descriptor releases it too; unlocking first makes it explicit.
        // SAFETY: `self.file` is still open here.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn read_holder(file: &File) -> String {
    let mut text = String::new();
    let mut f = file;
    let ok = f.seek(SeekFrom::Start(0)).is_ok()
        && f.take(MAX_HOLDER_BYTES).read_to_string(&mut text).is_ok();
    let text = text.trim();
    if ok && !text.is_empty() {
        text.to_owned()
    } else {
        "holder unknown".to_owned()
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; the result is NUL-terminated or cut.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".to_owned();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_the_folder_are_refused() {
        assert!(is_safe_name("acme-eu_1.x"));
        for bad in ["", "../x", "a/b", ".hidden", "a b", &"x".repeat(65)] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let err = RunLock::acquire(dir.path(), "../evil", None).unwrap_err();
        assert!(matches!(err, LockError::BadName { .. }), "{err}");
        assert!(!dir.path().join("locks").exists());
    }
}
