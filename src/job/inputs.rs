//! The inputs step of a run: the ledger files (checked first, so a ledger path that matches
//! nothing fails before any request) and the Xsolla snapshot (reused, stored or fetched now),
//! each with its digest, and the report id those digests give.

use crate::fetch::{self, FetchError, Manifest, Progress};
use crate::job::config::{Config, MerchantConfig};
use crate::job::manifest::{hash_file, hash_files, InputFile};
use crate::job::pipeline::PipelineError;
use crate::job::run::{FetchMode, JobError, RunRequest};
use crate::xsolla::{ApiKey, Transport, XsollaClient, XsollaError};
use chrono::Utc;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The snapshot a run reads.
#[derive(Debug)]
pub struct Snapshot {
    /// Its folder.
    pub dir: PathBuf,
    /// Its manifest (the digest of every stored response).
    pub manifest: Manifest,
    /// Fetched by this run, rather than reused or read from the store (`--offline`).
    pub fetched: bool,
}

/// What a run reads, with the digests the manifest records.
#[derive(Debug)]
pub struct RunInputs {
    /// The Xsolla snapshot.
    pub snapshot: Snapshot,
    /// The snapshot's folder, with the digest of its `manifest.json`.
    pub snapshot_file: InputFile,
    /// The ledger files.
    pub ledger_files: Vec<InputFile>,
}

impl RunInputs {
    /// Finds the ledger files, then the snapshot (which may fetch), and digests both.
    pub async fn gather(
        cfg: &Config,
        req: &RunRequest,
        merchant: &MerchantConfig,
        progress: &dyn Progress,
    ) -> Result<RunInputs, JobError> {
        let ledger_files = ledger_inputs(merchant, req)?;
        let snapshot = snapshot_for(cfg, req, merchant, progress).await?;
        let snapshot_file = InputFile {
            path: snapshot.dir.clone(),
            ..hash_file(&snapshot.dir.join("manifest.json"))?
        };
        Ok(RunInputs {
            snapshot,
            snapshot_file,
            ledger_files,
        })
    }

    /// Digest of everything a report depends on: the stored Xsolla responses (their digests,
    /// not the snapshot's manifest, which records when and with how many retries they were
    /// fetched, so a fetch that survived faults gives the same id), the ledger files and the
    /// settings.
    pub fn report_id(&self, cfg: &Config, merchant: &MerchantConfig, req: &RunRequest) -> String {
        let mut h = Sha256::new();
        h.update(merchant.name.as_bytes());
        h.update(req.window.slug().as_bytes());
        let mut files: Vec<(&str, &str)> = self
            .snapshot
            .manifest
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.sha256.as_str()))
            .collect();
        files.sort_unstable();
        for (path, sha) in files {
            h.update(path.as_bytes());
            h.update(sha.as_bytes());
        }
        for f in &self.ledger_files {
            h.update(f.sha256.as_bytes());
        }
        // The settings that shape the results (not secrets, not the SMTP server).
        h.update(serde_json::to_vec(&cfg.reconcile).unwrap_or_default());
        h.update(serde_json::to_vec(&cfg.report).unwrap_or_default());
        h.update(serde_json::to_vec(&merchant.ledger).unwrap_or_default());
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        hex::encode(&h.finalize()[..8])
    }
}

/// The ledger files this run reads, with their digests.
fn ledger_inputs(merchant: &MerchantConfig, req: &RunRequest) -> Result<Vec<InputFile>, JobError> {
    let reconcile_err = |source: PipelineError| JobError::Reconcile {
        merchant: merchant.name.clone(),
        window: req.window,
        source: Box::new(source),
    };
    let pattern = match (&req.ledger, &merchant.ledger) {
        (Some(p), _) => p.display().to_string(),
        (None, Some(l)) => l.path.clone(),
        (None, None) => {
            return Err(reconcile_err(PipelineError::NoLedger(
                merchant.name.clone(),
            )));
        }
    };
    let files = crate::load::ledger::ledger_files(&pattern, &req.base_dir)
        .map_err(|e| reconcile_err(PipelineError::Ledger(e)))?;
    Ok(hash_files(&files)?)
}

/// The snapshot this run reads: reused, stored (`--offline`) or fetched now.
async fn snapshot_for(
    cfg: &Config,
    req: &RunRequest,
    merchant: &MerchantConfig,
    progress: &dyn Progress,
) -> Result<Snapshot, JobError> {
    let err = |source| JobError::Fetch {
        merchant: merchant.name.clone(),
        window: req.window,
        source: Box::new(source),
    };
    if let Some(stored) = stored_snapshot(cfg, req, merchant).map_err(err)? {
        return Ok(stored);
    }
    let key = match &req.api_key {
        Some(k) => k.clone(),
        None => merchant.api_key()?,
    };
    let client = xsolla_client(cfg, merchant, key)?;
    let (dir, manifest) = fetch::fetch_window(
        &client,
        &cfg.data_dir,
        merchant.fetch_target(),
        cfg.xsolla_days(req.window),
        &cfg.fetch,
        progress,
    )
    .await
    .map_err(err)?;
    Ok(Snapshot {
        dir,
        manifest,
        fetched: true,
    })
}

/// A stored snapshot of the window the run reads instead of fetching: the newest one with
/// `--offline` (an error when there is none), else one fetched less than
/// `reuse_snapshot_minutes` ago, if any.
fn stored_snapshot(
    cfg: &Config,
    req: &RunRequest,
    merchant: &MerchantConfig,
) -> Result<Option<Snapshot>, FetchError> {
    let stored =
        || fetch::find_snapshot(&cfg.data_dir, &merchant.name, cfg.xsolla_days(req.window));
    let reused = |(dir, manifest)| Snapshot {
        dir,
        manifest,
        fetched: false,
    };
    match req.fetch {
        FetchMode::Offline => Ok(Some(reused(stored()?))),
        FetchMode::Auto if cfg.run.reuse_snapshot_minutes > 0 => {
            let Ok((dir, m)) = stored() else {
                return Ok(None);
            };
            let age = (Utc::now() - m.finished_at).num_minutes();
            if age >= 0 && (age as u64) < cfg.run.reuse_snapshot_minutes {
                tracing::info!(snapshot = %dir.display(), minutes = age, "reusing a recent snapshot (--refetch to fetch again)");
                return Ok(Some(reused((dir, m))));
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// The Reports API client for a merchant, with the config's HTTP settings.
pub fn xsolla_client(
    cfg: &Config,
    merchant: &MerchantConfig,
    key: ApiKey,
) -> Result<XsollaClient, XsollaError> {
    let transport = Transport::new(
        &merchant.base_url,
        merchant.merchant_id,
        key,
        cfg.http.clone(),
    )?
    .with_key_env(&merchant.api_key_env);
    Ok(XsollaClient::new(transport))
}
