//! The hand `reconcile` command's job: the reconcile step of a run (a stored snapshot or a
//! registry export against the ledger) written into a folder of the user's choosing, with the
//! same report files a run writes. No lock, no fetch, no manifest, no mail.
//!
//! The folder is the user's to rerun into, so an existing one is replaced, but only once the
//! new one is complete (see `write_replacing`).

use crate::domain::fsutil;
use crate::domain::window::Window;
use crate::fetch::FetchError;
use crate::job::config::{Config, MerchantConfig};
use crate::job::exit;
use crate::job::pipeline::{self, PipelineError, ProviderSource, ReconcileRequest, RunResult};
use crate::job::request::new_run_id;
use crate::report::{self, ReportError, ReportInput, ReportSettings};
use std::path::{Path, PathBuf};

/// One hand reconciliation.
#[derive(Debug, Clone, Copy)]
pub struct FolderRequest<'a> {
    /// The configuration.
    pub cfg: &'a Config,
    /// The merchant.
    pub merchant: &'a MerchantConfig,
    /// The window.
    pub window: Window,
    /// A registry CSV exported from the Publisher Account; `None` reads the newest stored
    /// snapshot of the window.
    pub registry_export: Option<&'a Path>,
    /// Ledger file or glob overriding the merchant's `ledger.path`.
    pub ledger: Option<&'a Path>,
    /// Folder that relative ledger paths in the config are relative to.
    pub base_dir: &'a Path,
    /// Output folder; `None` gives `out/<merchant>/<from>_<to>`.
    pub out: Option<&'a Path>,
}

/// What a hand reconciliation wrote.
#[derive(Debug)]
pub struct FolderOutcome {
    /// The output folder.
    pub out: PathBuf,
    /// The reconciliation.
    pub result: RunResult,
}

impl FolderOutcome {
    /// The command's exit code: found something, or not.
    pub fn exit_code(&self) -> u8 {
        if self.result.found() {
            exit::FOUND
        } else {
            exit::OK
        }
    }
}

/// Why a hand reconciliation failed.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// No usable stored snapshot of the window.
    #[error(transparent)]
    Snapshot(Box<FetchError>),
    /// Loading or reconciling.
    #[error("reconciling {window} for merchant {merchant}")]
    Reconcile {
        /// Merchant.
        merchant: String,
        /// Window.
        window: Window,
        /// Why.
        #[source]
        source: Box<PipelineError>,
    },
    /// Writing the report files.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// Swapping the new folder for the previous one.
    #[error("{step}")]
    Replace {
        /// Which move failed, with the folder.
        step: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Reconciles a window and writes its reports into the request's folder.
pub fn reconcile_to_folder(req: &FolderRequest<'_>) -> Result<FolderOutcome, FolderError> {
    let (merchant, window) = (req.merchant, req.window);
    let provider = match req.registry_export {
        Some(p) => ProviderSource::Export(p.to_owned()),
        None => ProviderSource::Snapshot(
            crate::job::inputs::find_provider_snapshot(req.cfg, &merchant.name, window)
                .map_err(|e| FolderError::Snapshot(Box::new(e)))?
                .0,
        ),
    };
    let out = req.out.map_or_else(
        || {
            PathBuf::from("out")
                .join(&merchant.name)
                .join(window.slug())
        },
        Path::to_owned,
    );
    let run_id = new_run_id(chrono::Utc::now());
    // No snapshot digests here: the id names the merchant and window only.
    let report_id = format!("{}-{}", merchant.name, window.slug());
    let request = ReconcileRequest {
        cfg: req.cfg,
        merchant,
        window,
        provider: &provider,
        ledger: req.ledger,
        base_dir: req.base_dir,
        run_id: &run_id,
        report_id: &report_id,
        inputs_id: &report_id,
    };
    let result = pipeline::reconcile(&request).map_err(|source| FolderError::Reconcile {
        merchant: merchant.name.clone(),
        window,
        source: Box::new(source),
    })?;
    let input = result.report_input(&merchant.name, &report_id);
    write_replacing(&input, &req.cfg.report, &out)?;
    Ok(FolderOutcome { out, result })
}

/// Writes the reports into `out`, replacing an existing folder only once the new one is
/// complete: it is written beside `out` under a temporary name, the old one is moved aside
/// (as `<out>.old-<pid>`, where it stays should the process die now), the new one published
/// in its place, and the old one removed. A failed swap puts the old one back.
fn write_replacing(
    input: &ReportInput<'_>,
    settings: &ReportSettings,
    out: &Path,
) -> Result<(), FolderError> {
    if !out.exists() {
        report::write_reports(input, settings, out)?;
        return Ok(());
    }
    let fresh = fsutil::temp_path_for(out);
    report::write_reports(input, settings, &fresh)?;
    let aside = aside_path(out);
    if let Err(source) = std::fs::rename(out, &aside) {
        let _ = std::fs::remove_dir_all(&fresh);
        return Err(FolderError::Replace {
            step: format!("moving {} aside", out.display()),
            source,
        });
    }
    if let Err(e) = fsutil::publish_dir(&fresh, out) {
        let _ = std::fs::rename(&aside, out);
        let _ = std::fs::remove_dir_all(&fresh);
        return Err(FolderError::Replace {
            step: format!("renaming into {}", out.display()),
            source: e.source,
        });
    }
    // Best effort: the new folder is in place; a leftover old one is only clutter.
    let _ = std::fs::remove_dir_all(&aside);
    Ok(())
}

/// `<out>.old-<pid>`, next to `out`.
fn aside_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_owned();
    name.push(format!(".old-{}", std::process::id()));
    out.with_file_name(name)
}
