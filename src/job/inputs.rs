//! The inputs step of a run: the ledger files (checked first, so a ledger path that matches
//! nothing fails before any request) and the Xsolla snapshot (reused, stored or fetched now),
//! each with its digest, and the report id those digests give.

use crate::domain::window::Window;
use crate::fetch::{self, FetchError, LookupRecord, LookupRequest, Manifest, Progress};
use crate::job::config::{Config, MerchantConfig};
use crate::job::manifest::{hash_file, hash_files, InputFile};
use crate::job::pipeline::{self, PipelineError, ProviderSource, ReconcileRequest};
use crate::job::request::{FetchMode, JobError, RunRequest};
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
    /// The payments looked up for cancellations whose payment is not in the window (`None`
    /// when none was wanted or the lookup is off).
    pub payment_lookups: Option<LookupRecord>,
    /// Both sides as the lookup step loaded them, for the reconcile step to take (`None`
    /// when the lookup is off: the reconcile step loads them).
    pub loaded: Option<pipeline::LoadedInputs>,
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
        let (payment_lookups, loaded) = look_up_payments(cfg, req, merchant, &snapshot).await?;
        Ok(RunInputs {
            snapshot,
            snapshot_file,
            ledger_files,
            payment_lookups,
            loaded,
        })
    }

    /// Digest of everything a report depends on but the open items: the stored Xsolla
    /// responses (their digests, not the snapshot's manifest, which records when and with how
    /// many retries they were fetched, so a fetch that survived faults gives the same id), the
    /// ledger files, the settings and the decision log. [`report_id`] adds the open items.
    pub fn inputs_id(&self, cfg: &Config, merchant: &MerchantConfig, req: &RunRequest) -> String {
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
        // The looked-up payments are inputs too (their files' digests are in the record).
        if let Some(record) = &self.payment_lookups {
            h.update(serde_json::to_vec(&record.lookups).unwrap_or_default());
        }
        // The settings that shape the results (not secrets, not the SMTP server).
        h.update(serde_json::to_vec(&cfg.reconcile).unwrap_or_default());
        h.update(serde_json::to_vec(&cfg.report).unwrap_or_default());
        h.update(serde_json::to_vec(&merchant.ledger).unwrap_or_default());
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        // The team's decisions so far: a report after a decision is another report (it lists
        // the item as accepted). A damaged log fails the reconcile step, which names it.
        if let Ok(log) = crate::reconcile::decisions::AuditLog::load(&cfg.data_dir, &merchant.name)
        {
            if let Some(head) = log.head() {
                h.update(head.as_bytes());
            }
        }
        hex::encode(&h.finalize()[..8])
    }
}

/// The report id of a run over inputs digested as `inputs_id` ([`RunInputs::inputs_id`]): those
/// inputs and the report the merchant's open items build on
/// ([`crate::reconcile::open_items::RunLog::report_base`]). "New" and "resolved since the last
/// run" are measured by it, and one report is mailed once: a rerun over the same inputs has
/// the same id, a return to earlier inputs after another run does not. A damaged state file
/// fails the reconcile step, which names it.
pub fn report_id(cfg: &Config, merchant: &MerchantConfig, inputs_id: &str) -> String {
    let store = crate::reconcile::open_items::OpenItems::load(&cfg.data_dir, &merchant.name);
    let base = store
        .as_ref()
        .ok()
        .and_then(|s| s.runs().report_base(inputs_id));
    let mut h = Sha256::new();
    h.update(inputs_id.as_bytes());
    if let Some(base) = base {
        h.update(b"\0");
        h.update(base.as_bytes());
    }
    hex::encode(&h.finalize()[..8])
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

/// The payment-lookup step: for the cancellations of the window (Xsolla's, and the ledger's
/// refunds with a transaction id) whose payment row is not in the snapshot, finds the payment
/// in earlier snapshots, then with Xsolla's details call (never with `--offline`), within
/// `fetch.max_payment_lookups`, and stores what it found beside the snapshot for the reconcile
/// step. What is already stored is reused, so a rerun gives the same answer. Both sides, loaded
/// to know what to look up, are handed on to the reconcile step.
async fn look_up_payments(
    cfg: &Config,
    req: &RunRequest,
    merchant: &MerchantConfig,
    snapshot: &Snapshot,
) -> Result<(Option<LookupRecord>, Option<pipeline::LoadedInputs>), JobError> {
    if cfg.fetch.max_payment_lookups == 0 {
        return Ok((None, None));
    }
    let provider = ProviderSource::Snapshot(snapshot.dir.clone());
    let (wanted, loaded) = pipeline::payments_to_look_up(&ReconcileRequest {
        cfg,
        merchant,
        window: req.window,
        provider: &provider,
        ledger: req.ledger.as_deref(),
        base_dir: &req.base_dir,
        run_id: "",
        report_id: "",
        inputs_id: "",
    })
    .map_err(|source| JobError::Reconcile {
        merchant: merchant.name.clone(),
        window: req.window,
        source: Box::new(source),
    })?;
    if wanted.is_empty() {
        return Ok((None, Some(loaded)));
    }
    let client = match req.fetch {
        FetchMode::Offline => None,
        _ => {
            let key = match &req.api_key {
                Some(k) => k.clone(),
                None => merchant.api_key()?,
            };
            Some(xsolla_client(cfg, merchant, key)?)
        }
    };
    let lookup = LookupRequest {
        data_dir: &cfg.data_dir,
        merchant: &merchant.name,
        current: &snapshot.manifest,
        client: client.as_ref(),
        max: cfg.fetch.max_payment_lookups,
    };
    let record = fetch::look_up_payments(&lookup, &wanted)
        .await
        .map_err(|source| JobError::Fetch {
            merchant: merchant.name.clone(),
            window: req.window,
            source: Box::new(source),
        })?;
    Ok((Some(record), Some(loaded)))
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
    // Xsolla's side is fetched with margins, so a payment dated across midnight from its ledger
    // line still meets it (`reconcile.provider_margin_days`).
    let (dir, manifest) = fetch::fetch_window(
        &client,
        &cfg.data_dir,
        merchant.fetch_target(),
        cfg.xsolla_days(cfg.reconcile.provider_window(req.window)),
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
    let provider_window = cfg.reconcile.provider_window(req.window);
    let widened = || {
        fetch::find_snapshot(
            &cfg.data_dir,
            &merchant.name,
            cfg.xsolla_days(provider_window),
        )
    };
    let reused = |(dir, manifest)| Snapshot {
        dir,
        manifest,
        fetched: false,
    };
    match req.fetch {
        FetchMode::Offline => Ok(Some(reused(find_provider_snapshot(
            cfg,
            &merchant.name,
            req.window,
        )?))),
        // Only a snapshot with the margins is reused: a newer fetch would have them.
        FetchMode::Auto if cfg.run.reuse_snapshot_minutes > 0 => {
            let Ok((dir, m)) = widened() else {
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

/// The newest stored snapshot for a run of `window`: one of the window with its margins
/// (`reconcile.provider_margin_days`), as a run fetches it, else one of the window alone (as
/// `fetch` stores a window asked for by hand, or a snapshot stored before the margins),
/// whose reconciliation then has no margins on Xsolla's side. The error names the window with
/// its margins.
pub fn find_provider_snapshot(
    cfg: &Config,
    merchant: &str,
    window: Window,
) -> Result<(PathBuf, Manifest), FetchError> {
    // Snapshots are filed by the Xsolla days fetched (`Config::xsolla_days`).
    let provider_window = cfg.xsolla_days(cfg.reconcile.provider_window(window));
    let alone = cfg.xsolla_days(window);
    match fetch::find_snapshot(&cfg.data_dir, merchant, provider_window) {
        Err(FetchError::NoSnapshot { .. }) if provider_window != alone => {
            let found = fetch::find_snapshot(&cfg.data_dir, merchant, alone);
            if found.is_ok() {
                tracing::warn!(window = %window, "no stored snapshot with margins ({provider_window}); using one of the window alone, without margins on Xsolla's side");
                return found;
            }
            fetch::find_snapshot(&cfg.data_dir, merchant, provider_window)
        }
        other => other,
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
