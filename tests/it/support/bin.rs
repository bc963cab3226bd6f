//! The real `xsolla-recon` binary as a child process, in the spirit of ripgrep's
//! `TestCommand`: [`Bin::new`] names the folder it runs in, the builder adds arguments and
//! environment, and [`Bin::output`], [`Bin::output_async`] or [`Bin::spawn`] runs it.
//!
//! The child inherits the test's environment; each test sets (or removes) the variables it
//! relies on, so what a test passes is visible where it runs the binary.

use std::ffi::OsStr;
use std::future::Future;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// The binary under test, built by Cargo for this test target.
pub const BIN: &str = env!("CARGO_BIN_EXE_xsolla-recon");

/// One run of the binary, being put together.
pub struct Bin {
    cmd: Command,
    /// [`Bin::discard_output`] was called.
    discard_output: bool,
}

impl Bin {
    /// The binary, to be run in `dir` (its working folder: relative paths in arguments and
    /// configs resolve there).
    pub fn new(dir: &Path) -> Bin {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir);
        Bin {
            cmd,
            discard_output: false,
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Bin
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Bin {
        self.cmd.env(key, value);
        self
    }

    /// Makes sure the child does not see `key`, even if the test's own environment has it.
    pub fn env_remove(mut self, key: &str) -> Bin {
        self.cmd.env_remove(key);
        self
    }

    /// Sends stdout and stderr nowhere: for children killed at some moment, whose output no
    /// one reads (a full pipe would stall them).
    pub fn discard_output(mut self) -> Bin {
        self.cmd.stdout(Stdio::null()).stderr(Stdio::null());
        self.discard_output = true;
        self
    }

    /// Runs to the end, blocking this thread; stdout and stderr are captured.
    pub fn output(mut self) -> Output {
        self.cmd.output().expect("the binary starts")
    }

    /// Starts the run at once on tokio's blocking pool, so that an async test's runtime (and
    /// the in-process sandbox it serves) keeps going; await the result for the output. Two
    /// calls before either is awaited run side by side.
    pub fn output_async(self) -> impl Future<Output = Output> {
        let run = tokio::task::spawn_blocking(move || self.output());
        async move { run.await.expect("the run's thread did not panic") }
    }

    /// Starts a long-running child (the scheduler, a run to be killed) and returns at once.
    /// Its stdout and stderr are pipes the test may read, unless [`Bin::discard_output`].
    pub fn spawn(mut self) -> Child {
        if !self.discard_output {
            self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        self.cmd.spawn().expect("the binary starts")
    }
}

/// Exit code, stdout and stderr of a finished run, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts the run exited with `code`, showing what it printed if not.
#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
}
