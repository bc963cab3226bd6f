//! The configuration file: typed, every field documented and defaulted, `${VAR}` taken from
//! the environment, and every problem reported with its line.
//!
//! Secrets are never written in the file: a merchant names the environment variable that
//! holds its API key (`api_key_env`), read only when a client is built.

pub use crate::fetch::FetchSettings;
use crate::fetch::FetchTarget;
use crate::xsolla::http::{ApiKey, HttpSettings};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Xsolla's production base URL ([C], DOC-BUNDLE `servers`).
pub const XSOLLA_BASE_URL: &str = "https://api.xsolla.com/merchant/v2";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Folder for snapshots, state and reports. Relative paths are relative to the folder
    /// the job runs in. Default `./data`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// HTTP behaviour towards Xsolla: timeouts, retries, rate limit, concurrency.
    #[serde(default)]
    pub http: HttpSettings,
    /// How windows are read: format, page size and the limits on every loop.
    #[serde(default)]
    pub fetch: FetchSettings,
    /// How Xsolla and the ledger are compared: tolerances, fee columns, fuzzy matching.
    #[serde(default)]
    pub reconcile: crate::reconcile::ReconcileSettings,
    /// How `run` and the scheduler pick windows and inputs, and where run folders go.
    #[serde(default)]
    pub run: RunSettings,
    /// Report files: CSV dialect, chart, row limits.
    #[serde(default)]
    pub report: crate::report::ReportSettings,
    /// The SMTP server for report mail (`[smtp]`). Without it, `run` writes reports and sends
    /// no mail (say so with `--dry-run`, or the run fails when a merchant has recipients).
    #[serde(default)]
    pub smtp: Option<crate::deliver::SmtpSettings>,
    /// Built-in scheduler settings (`[scheduler]`).
    #[serde(default)]
    pub scheduler: crate::job::schedule::ScheduleSettings,
    /// Nightly jobs of `xsolla-recon schedule` (`[[schedule]]`).
    #[serde(default, rename = "schedule")]
    pub schedules: Vec<crate::job::schedule::JobSchedule>,
    /// One table per merchant (`[[merchant]]`). At least one is needed to fetch.
    #[serde(default, rename = "merchant")]
    pub merchants: Vec<MerchantConfig>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            http: HttpSettings::default(),
            fetch: FetchSettings::default(),
            reconcile: crate::reconcile::ReconcileSettings::default(),
            run: RunSettings::default(),
            report: crate::report::ReportSettings::default(),
            smtp: None,
            scheduler: crate::job::schedule::ScheduleSettings::default(),
            schedules: Vec::new(),
            merchants: Vec::new(),
        }
    }
}

/// One merchant account at Xsolla.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantConfig {
    /// Short name used on the command line (`--merchant`), in folders and in mail subjects.
    pub name: String,
    /// Xsolla merchant id (Publisher Account → Company settings).
    pub merchant_id: i64,
    /// Name of the environment variable holding the company-level API key. Default
    /// `XSOLLA_API_KEY`.
    #[serde(default = "default_key_env")]
    pub api_key_env: String,
    /// API base URL; the sandbox's URL for tests and the demo. Default Xsolla's production.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The merchant's ledger export (`[merchant.ledger]`): where it is and how to read it.
    #[serde(default)]
    pub ledger: Option<crate::load::ledger::LedgerConfig>,
    /// Only these projects are reconciled (empty: all projects of the merchant). The fetch
    /// always reads the whole merchant: payouts and the breakdown are merchant-wide.
    #[serde(default)]
    pub project_ids: Vec<i64>,
    /// Who gets this merchant's report mail (`[merchant.mail]`): to, cc, bcc, all_clear.
    #[serde(default)]
    pub mail: crate::deliver::MailRecipients,
}

fn default_key_env() -> String {
    "XSOLLA_API_KEY".to_owned()
}
fn default_base_url() -> String {
    XSOLLA_BASE_URL.to_owned()
}

impl MerchantConfig {
    /// Whose data the fetch stage reads and where it files it.
    pub fn fetch_target(&self) -> FetchTarget<'_> {
        FetchTarget {
            merchant: &self.name,
            merchant_id: self.merchant_id,
            base_url: &self.base_url,
        }
    }

    /// Reads the API key from the environment.
    pub fn api_key(&self) -> Result<ApiKey, ConfigError> {
        match std::env::var(&self.api_key_env) {
            Ok(v) if !v.trim().is_empty() => Ok(ApiKey::new(v.trim())),
            _ => Err(ConfigError::MissingSecret {
                merchant: self.name.clone(),
                var: self.api_key_env.clone(),
            }),
        }
    }
}

/// `[run]`: how `run` and the scheduler pick their inputs and where reports go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSettings {
    /// Days before yesterday that a nightly run (`--yesterday`, the scheduler) re-checks, so
    /// late refunds and chargebacks are caught. Default 7.
    pub lookback_days: u32,
    /// Folder for run folders (`<reports_dir>/<merchant>/<from>_<to>/<run id>/`). Relative
    /// paths are relative to the folder the job runs in. Default `reports`.
    pub reports_dir: PathBuf,
    /// A snapshot of the same window fetched at most this many minutes ago is reused instead
    /// of fetching again (a rerun the same morning sees the same inputs and gives the same
    /// reports). `--refetch` ignores it; 0 always fetches. Default 360.
    pub reuse_snapshot_minutes: u64,
    /// How long a run waits for another run of the same merchant to finish before giving up,
    /// in seconds. 0 refuses at once. Default 0.
    pub lock_wait_seconds: u64,
    /// IANA zone in which a window's days are counted, on both sides: Xsolla's times are
    /// converted to it from `fetch.xsolla_timezone`, ledger times from
    /// `merchant.ledger.timezone`, and "yesterday" (`--yesterday`, `--last`, the scheduler)
    /// is yesterday here. Date-only values are taken as days of this zone. Default `UTC`.
    #[serde(with = "crate::domain::window::tz_serde")]
    pub reporting_timezone: chrono_tz::Tz,
    /// Where a run's report mail goes: `smtp` (default) sends it through `[smtp]`; `file`
    /// writes it as `email.eml` into the run folder and needs no `[smtp]` (the demo's config,
    /// a trial before a mail server is set up). The recipients' rules (`all_clear`, `send`)
    /// apply to both.
    pub mail_transport: MailTransport,
}

/// `[run] mail_transport`: how a run's report mail leaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    /// Through the `[smtp]` server.
    #[default]
    Smtp,
    /// Written as `email.eml` into the run folder, not sent.
    File,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            lookback_days: 7,
            reports_dir: PathBuf::from("reports"),
            reuse_snapshot_minutes: 360,
            lock_wait_seconds: 0,
            reporting_timezone: chrono_tz::Tz::UTC,
            mail_transport: MailTransport::Smtp,
        }
    }
}

/// A configuration problem, with where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// `${VAR}` names a variable that is not set.
    #[error("{path}:{line}: environment variable {var} is not set (referenced as ${{{var}}})")]
    MissingVar {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The variable.
        var: String,
    },
    /// The API key variable is not set.
    #[error("merchant {merchant:?}: environment variable {var} (api_key_env) is not set or empty; export the company-level API key there")]
    MissingSecret {
        /// Merchant name.
        merchant: String,
        /// Variable name.
        var: String,
    },
    /// No merchant matches.
    #[error("{0}")]
    Merchant(String),
    /// A command-line value is unusable (dates the wrong way round…).
    #[error("{0}")]
    Usage(String),
}

impl Config {
    /// Xsolla's zone (`fetch.xsolla_timezone`) and the reporting zone
    /// (`run.reporting_timezone`).
    pub fn date_zones(&self) -> crate::load::DateZones {
        crate::load::DateZones {
            xsolla: self.fetch.xsolla_timezone,
            reporting: self.run.reporting_timezone,
        }
    }

    /// The Xsolla days to fetch for a window of reporting days: the same window when the
    /// zones agree, else the Xsolla days that cover it (one more day on one side).
    pub fn xsolla_days(&self, w: crate::domain::window::Window) -> crate::domain::window::Window {
        let z = self.date_zones();
        w.covering_in(z.reporting, z.xsolla)
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, |k| std::env::var(k).ok())
    }

    /// Parses config text; `env` resolves `${VAR}`.
    pub fn parse(
        text: &str,
        path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let expanded = interpolate(text, path, env)?;
        let cfg: Config = toml::from_str(&expanded).map_err(|e| {
            let line = e
                .span()
                .map_or(0, |s| 1 + expanded[..s.start].matches('\n').count());
            let text = expanded
                .lines()
                .nth(line.wrapping_sub(1))
                .map(str::to_owned);
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                message: with_key(text.as_ref(), e.message()),
            }
        })?;
        cfg.validate(text, path)?;
        Ok(cfg)
    }

    fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        match self.problems(text, path).into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every problem of a parsed config, each with its line (`check-config` lists them all;
    /// loading stops at the first).
    pub fn problems(&self, text: &str, path: &Path) -> Vec<ConfigError> {
        let mut found = Problems {
            text,
            path,
            out: Vec::new(),
        };
        self.settings_problems(&mut found);
        for (i, m) in self.merchants.iter().enumerate() {
            self.merchant_problems(i, m, &mut found);
        }
        self.schedule_problems(&mut found);
        found.out
    }

    /// The stage tables: `[http]`, `[fetch]`, `[run]`, `[report]`, `[smtp]`.
    fn settings_problems(&self, found: &mut Problems<'_>) {
        let text = found.text;
        if let Err(e) = self.http.validate() {
            found.invalid(line_of(text, "[http]"), format!("[http]: {e}"));
        }
        let f = &self.fetch;
        if f.page_limit == 0 {
            found.invalid(
                key_line(text, "[fetch]", 0, "page_limit"),
                "fetch.page_limit must be at least 1".into(),
            );
        }
        if !(1..=crate::domain::window::MAX_WINDOW_DAYS).contains(&f.chunk_days) {
            found.invalid(
                key_line(text, "[fetch]", 0, "chunk_days"),
                "fetch.chunk_days must be between 1 and 92 (Xsolla's limit)".into(),
            );
        }
        if self.run.lookback_days > 366 {
            found.invalid(
                key_line(text, "[run]", 0, "lookback_days"),
                format!(
                    "run.lookback_days = {} is more than a year; windows that long are a mistake",
                    self.run.lookback_days
                ),
            );
        }
        for c in &self.reconcile.fee_columns {
            if !crate::domain::frames::is_provider_money_column(c) {
                found.invalid(
                    key_line(text, "[reconcile]", 0, "fee_columns"),
                    format!("reconcile.fee_columns: {c:?} is not one of Xsolla's money columns (README, \"Xsolla fee fields\")"),
                );
            }
        }
        for p in self.report.problems() {
            found.invalid(line_of(text, "[report]"), format!("[report]: {p}"));
        }
        if let Some(smtp) = &self.smtp {
            for p in smtp.problems() {
                found.invalid(line_of(text, "[smtp]"), format!("[smtp]: {p}"));
            }
        }
    }

    /// The `i`-th `[[merchant]]` table: its name (unique, usable in folder names), ledger,
    /// base URL and mail recipients.
    fn merchant_problems(&self, i: usize, m: &MerchantConfig, found: &mut Problems<'_>) {
        let text = found.text;
        let at = |key: &str| key_line(text, "[[merchant]]", i, key);
        if self.merchants[..i].iter().any(|other| other.name == m.name) {
            found.invalid(
                at("name"),
                format!("merchant name {:?} is used twice", m.name),
            );
        }
        if m.name.is_empty()
            || !m
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            found.invalid(
                at("name"),
                format!(
                    "merchant name {:?} must be letters, digits, '-' or '_' (it names folders)",
                    m.name
                ),
            );
        }
        if let Some(Err(e)) = m.ledger.as_ref().map(|l| l.validate()) {
            found.invalid(
                at("[merchant.ledger"),
                format!("merchant {:?} ledger: {e}", m.name),
            );
        }
        if m.ledger.as_ref().is_some_and(|l| l.columns.test.is_some()) && !self.fetch.show_dry_run {
            found.invalid(
                at("[merchant.ledger.columns"),
                format!(
                    "merchant {:?} ledger: columns.test flags test purchases, which are matched \
                     against Xsolla's test transactions: set fetch.show_dry_run = true",
                    m.name
                ),
            );
        }
        if !(m.base_url.starts_with("https://") || m.base_url.starts_with("http://")) {
            found.invalid(
                at("base_url"),
                format!(
                    "base_url {:?} must start with https:// or http://",
                    m.base_url
                ),
            );
        }
        for p in m.mail.problems() {
            found.invalid(
                at("[merchant.mail"),
                format!("merchant {:?} mail: {p}", m.name),
            );
        }
        if !m.mail.is_empty()
            && self.smtp.is_none()
            && self.run.mail_transport == MailTransport::Smtp
        {
            found.invalid(
                at("[merchant.mail"),
                format!(
                    "merchant {:?} has mail recipients but the config has no [smtp] table (or [run] mail_transport = \"file\")",
                    m.name
                ),
            );
        }
    }

    /// The `[[schedule]]` tables, checked as the scheduler compiles them.
    fn schedule_problems(&self, found: &mut Problems<'_>) {
        let known: Vec<&str> = self.merchants.iter().map(|m| m.name.as_str()).collect();
        if let Err(errors) =
            crate::job::schedule::compile_jobs(&self.schedules, &known, self.run.lookback_days)
        {
            for e in errors {
                found.invalid(
                    key_line(
                        found.text,
                        "[[schedule]]",
                        e.index.saturating_sub(1),
                        e.field,
                    ),
                    e.to_string(),
                );
            }
        }
    }

    /// Everything `check-config` checks beyond the file itself: that the environment
    /// variables holding secrets are set and that the ledger files and the data folder are
    /// there. Secret values are never read into messages, only the variables' names.
    pub fn environment_problems(
        &self,
        text: &str,
        path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Vec<ConfigError> {
        let mut found = Problems {
            text,
            path,
            out: Vec::new(),
        };
        let base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        for (i, m) in self.merchants.iter().enumerate() {
            if env(&m.api_key_env).is_none_or(|v| v.trim().is_empty()) {
                found.invalid(
                    key_line(text, "[[merchant]]", i, "api_key_env"),
                    format!(
                        "merchant {:?}: environment variable {} (api_key_env) is not set",
                        m.name, m.api_key_env
                    ),
                );
            }
            if let Some(l) = &m.ledger {
                match ledger_problem(l, base_dir) {
                    Some(p) => found.invalid(
                        key_line(text, "[[merchant]]", i, "path"),
                        format!("merchant {:?}: ledger path {:?}: {p}", m.name, l.path),
                    ),
                    None => ledger_fit_problems(i, m, l, base_dir, &mut found),
                }
            }
        }
        if let Some(smtp) = &self.smtp {
            if smtp.username.is_some() && env(&smtp.password_env).is_none() {
                found.invalid(
                    key_line(text, "[smtp]", 0, "username"),
                    format!(
                        "[smtp]: username is set but environment variable {} (password_env) is not",
                        smtp.password_env
                    ),
                );
            }
        }
        if let Some(existing) = self.unwritable_data_dir() {
            found.invalid(
                line_of(text, "data_dir"),
                format!(
                    "data_dir {}: {} is not a writable folder",
                    self.data_dir.display(),
                    existing.display()
                ),
            );
        }
        found.out
    }

    /// The nearest existing folder of `data_dir` (itself or an ancestor), when the job could
    /// not write there.
    fn unwritable_data_dir(&self) -> Option<PathBuf> {
        let data = if self.data_dir.is_absolute() {
            self.data_dir.clone()
        } else {
            std::env::current_dir()
                .unwrap_or_default()
                .join(&self.data_dir)
        };
        let existing = data.ancestors().find(|a| a.exists())?;
        let ro = std::fs::metadata(existing)
            .map(|m| m.permissions().readonly() || !m.is_dir())
            .unwrap_or(true);
        ro.then(|| existing.to_path_buf())
    }

    /// Checks a config file and lists every problem found, each with its line: syntax, unknown
    /// keys and wrong types (every one, not only the first), missing `${VAR}`s, invalid values,
    /// and, with `env`, missing secrets and paths. Returns the config when it parsed.
    pub fn check_file(
        path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> (Option<Config>, Vec<ConfigError>) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(source) => {
                return (
                    None,
                    vec![ConfigError::Read {
                        path: path.to_owned(),
                        source,
                    }],
                )
            }
        };
        let mut problems = Vec::new();
        // Missing variables are all reported; an empty value lets the rest be checked.
        let expanded = match interpolate_all(&text, path, &env) {
            Ok(t) => t,
            Err((t, errors)) => {
                problems.extend(errors);
                t
            }
        };
        // serde stops at the first error: patch the offending line and parse again, so one
        // pass finds every unknown key and wrong value (bounded, like every loop here).
        let mut patched = Patched::new(&expanded);
        for _ in 0..MAX_CHECK_ERRORS {
            match patched.parse() {
                Ok(cfg) => {
                    let later = cfg
                        .problems(&text, path)
                        .into_iter()
                        .chain(cfg.environment_problems(&text, path, &env));
                    problems.extend(later.filter(|p| !patched.caused(p)));
                    return (Some(cfg), problems);
                }
                Err((line, message)) => {
                    problems.push(ConfigError::Invalid {
                        path: path.to_owned(),
                        line,
                        message: with_key(patched.original(line), &message),
                    });
                    if !patched.get_past(line, &message) {
                        break;
                    }
                }
            }
        }
        (None, problems)
    }

    pub fn merchant(&self, name: Option<&str>) -> Result<&MerchantConfig, ConfigError> {
        let names = || {
            self.merchants
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match name {
            Some(n) => self.merchants.iter().find(|m| m.name == n).ok_or_else(|| {
                ConfigError::Merchant(format!(
                    "no merchant {n:?} in the config (have: {})",
                    names()
                ))
            }),
            None => match self.merchants.as_slice() {
                [one] => Ok(one),
                [] => Err(ConfigError::Merchant(
                    "the config has no [[merchant]] table".into(),
                )),
                _ => Err(ConfigError::Merchant(format!(
                    "the config has several merchants; pick one with --merchant ({})",
                    names()
                ))),
            },
        }
    }
}

/// Why a ledger's files cannot be read: its path matches none, or one cannot be opened.
fn ledger_problem(ledger: &crate::load::ledger::LedgerConfig, base_dir: &Path) -> Option<String> {
    match crate::load::ledger::ledger_files(&ledger.path, base_dir) {
        Ok(files) if files.is_empty() => Some("matches no file".to_owned()),
        Ok(files) => files.iter().find_map(|f| {
            std::fs::File::open(f)
                .err()
                .map(|e| format!("{} cannot be read: {e}", f.display()))
        }),
        Err(e) => Some(e.to_string()),
    }
}

/// Whether the ledger's first file fits the `[merchant.ledger]` table: every mapped column
/// in its header, every status word in its rows covered by `status_map`.
fn ledger_fit_problems(
    i: usize,
    m: &MerchantConfig,
    l: &crate::load::ledger::LedgerConfig,
    base_dir: &Path,
    found: &mut Problems<'_>,
) {
    use crate::domain::text::header_summary;
    let text = found.text;
    let at = |key: &str| key_line(text, "[[merchant]]", i, key);
    let probe = match crate::load::ledger::probe_ledger(l, base_dir) {
        Ok(p) => p,
        Err(e) => {
            found.invalid(at("path"), format!("merchant {:?}: {e}", m.name));
            return;
        }
    };
    let file = probe.file.display();
    for (key, name) in &probe.missing {
        found.invalid(
            at(key),
            format!(
                "merchant {:?}: ledger {file}:{}: no column {name:?} (columns.{key}); the header has {}",
                m.name,
                probe.header_line,
                header_summary(&probe.header, probe.columns)
            ),
        );
    }
    // The status_map table when there is one, else the status column's key.
    let map_line = match at("[merchant.ledger.status_map") {
        l if l == at("[[merchant]]") => at("status"),
        l => l,
    };
    let scanned = if probe.cut {
        format!(
            " (in the first {} rows read; the rest was not read)",
            probe.rows_scanned
        )
    } else {
        String::new()
    };
    let words = probe.uncovered_statuses.len();
    for (word, n) in probe.uncovered_statuses.iter().take(MAX_STATUS_WORDS) {
        found.invalid(
            map_line,
            format!(
                "merchant {:?}: ledger {file}: status {word:?} ({n} row(s){scanned}) is not in status_map; such rows are loaded as `other`",
                m.name
            ),
        );
    }
    if words > MAX_STATUS_WORDS {
        found.invalid(
            map_line,
            format!(
                "merchant {:?}: ledger {file}: {} more status words not in status_map (is columns.status the status column?)",
                m.name,
                words - MAX_STATUS_WORDS
            ),
        );
    }
    if let Some(e) = probe.scan_error {
        found.invalid(at("path"), format!("merchant {:?}: {e}", m.name));
    }
}

/// Uncovered status words `check-config` names one by one; the rest are counted.
const MAX_STATUS_WORDS: usize = 20;

/// Problems found so far in one config file's text, each with its line.
struct Problems<'a> {
    text: &'a str,
    path: &'a Path,
    out: Vec<ConfigError>,
}

impl Problems<'_> {
    fn invalid(&mut self, line: usize, message: String) {
        self.out.push(ConfigError::Invalid {
            path: self.path.to_owned(),
            line,
            message,
        });
    }
}

/// The config text as `check-config` patches it to get past one error and find the next:
/// a wrong value is replaced by a placeholder of the expected type and a missing key is
/// added with one, so the error is reported once and nothing around it is disturbed; an
/// unknown key is blanked, an unknown table with its keys. Line numbers stay the file's.
struct Patched {
    /// The file's lines; a line may carry added lines after it.
    lines: Vec<String>,
    /// The original lines.
    original: Vec<String>,
    /// `(line, key)` given a placeholder: what the value checks then say about that key
    /// follows from the placeholder, not from the file.
    placeholders: Vec<(usize, String)>,
}

impl Patched {
    fn new(text: &str) -> Self {
        let lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
        Patched {
            original: lines.clone(),
            lines,
            placeholders: Vec::new(),
        }
    }

    /// The config, or the first error's 1-based line (0 when unknown) and message.
    fn parse(&self) -> Result<Config, (usize, String)> {
        let current = self.lines.join("\n");
        toml::from_str::<Config>(&current).map_err(|e| {
            let line = e.span().map_or(0, |s| self.line_at(s.start));
            (line, e.message().to_owned())
        })
    }

    /// The file's line holding byte `offset` of the patched text (added lines count as the
    /// line they were added to).
    fn line_at(&self, offset: usize) -> usize {
        let mut start = 0;
        for (i, l) in self.lines.iter().enumerate() {
            start += l.len() + 1;
            if offset < start {
                return i + 1;
            }
        }
        self.lines.len()
    }

    /// The file's 1-based `line`, for messages.
    fn original(&self, line: usize) -> Option<&String> {
        self.original.get(line.wrapping_sub(1))
    }

    /// Whether a problem found after patching is about a placeholder, not the file.
    fn caused(&self, p: &ConfigError) -> bool {
        match p {
            ConfigError::Invalid { line, message, .. } => self
                .placeholders
                .iter()
                .any(|(l, key)| l == line && message.contains(key.as_str())),
            _ => false,
        }
    }

    /// Patches the file past the error `message` on `line`; false when it cannot.
    fn get_past(&mut self, line: usize, message: &str) -> bool {
        let Some(text) = self.original(line).cloned() else {
            return false;
        };
        let t = text.trim_start();
        let i = line - 1;
        if t.starts_with('[') {
            if let Some(key) = missing_field(message) {
                let header = self.lines[i].clone();
                if self.try_placeholders(line, message, |v| format!("{header}\n{key} = {v}")) {
                    self.placeholders.push((line, key.to_owned()));
                    return true;
                }
            }
            self.blank_table(i);
            return true;
        }
        if t.is_empty() {
            return false;
        }
        if let Some((key, _)) = text.split_once('=').filter(|_| !t.starts_with('#')) {
            if !message.starts_with("unknown field") {
                let key = key.to_owned();
                if self.try_placeholders(line, message, |v| format!("{key}= {v}")) {
                    self.placeholders.push((line, key.trim().to_owned()));
                    return true;
                }
            }
        }
        self.lines[i] = String::new();
        true
    }

    /// Sets `line` to `patch(placeholder)` for the first placeholder that gets past the
    /// error there; leaves it as it was when none does.
    fn try_placeholders(
        &mut self,
        line: usize,
        message: &str,
        patch: impl Fn(&str) -> String,
    ) -> bool {
        let before = self.lines[line - 1].clone();
        for v in placeholders(message) {
            self.lines[line - 1] = patch(&v);
            match self.parse() {
                Ok(_) => return true,
                Err((l, _)) if l != line => return true,
                Err(_) => {}
            }
        }
        self.lines[line - 1] = before;
        false
    }

    /// Blanks the table whose header is at index `i`, its keys and its subtables, so its keys
    /// do not land in the table before it.
    fn blank_table(&mut self, i: usize) {
        let header = self.original[i].trim();
        let name = header.trim_matches(|c| c == '[' || c == ']').trim();
        let end = self.original[i + 1..]
            .iter()
            .position(|l| {
                let t = l.trim_start();
                t.starts_with('[')
                    && !(t.starts_with(&format!("[{name}."))
                        || t.starts_with(&format!("[[{name}.")))
            })
            .map_or(self.lines.len(), |p| i + 1 + p);
        for l in &mut self.lines[i..end] {
            l.clear();
        }
    }
}

/// `k` of toml's "missing field `k`".
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|r| r.split_once('`'))
        .map(|(k, _)| k)
}

/// Values of every TOML type, the first variant an "expected one of `a`, `b`" names first.
fn placeholders(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((_, rest)) = message.split_once("expected one of `") {
        if let Some((variant, _)) = rest.split_once('`') {
            out.push(format!("{variant:?}"));
        }
    }
    out.extend(
        ["0", "\"\"", "false", "[]", "{}", "0.0", "\"UTC\"", "1"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    out
}

/// `key: message` when the line holds `key = …` and the message does not name it already
/// (toml's type errors say what was expected, not where).
fn with_key(line: Option<&String>, message: &str) -> String {
    let key = line
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('#') && !k.starts_with('['));
    match key {
        Some(k) if !message.contains(k) => format!("{k}: {message}"),
        _ => message.to_owned(),
    }
}

/// Problems `check-config` lists at most.
const MAX_CHECK_ERRORS: usize = 50;

/// 1-based line of the first non-comment line containing `needle`, 0 when absent.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| !l.trim_start().starts_with('#') && l.contains(needle))
        .map_or(0, |i| i + 1)
}

/// 1-based line of `key` inside the `index`-th `header` table (e.g. the third `[[merchant]]`,
/// its subtables included); the header's own line when the key is not written there (a
/// default), and 0 when there is no such table.
fn key_line(text: &str, header: &str, index: usize, key: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let is_header = |l: &str| l.trim_start().starts_with('[');
    let Some(start) = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == header)
        .map(|(i, _)| i)
        .nth(index)
    else {
        return 0;
    };
    // The table's own name (`merchant` of `[[merchant]]`): its subtables belong to it.
    let name = header.trim_matches(|c| c == '[' || c == ']');
    let end = lines[start + 1..]
        .iter()
        .position(|l| {
            let t = l.trim_start();
            is_header(t)
                && !(t.starts_with(&format!("[{name}.")) || t.starts_with(&format!("[[{name}.")))
        })
        .map_or(lines.len(), |p| start + 1 + p);
    let found = lines[start..end].iter().position(|l| {
        let t = l.trim_start();
        if t.starts_with('#') {
            return false;
        }
        if key.starts_with('[') {
            return t.starts_with(key);
        }
        t.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    });
    start + 1 + found.unwrap_or(0)
}

/// [`interpolate`], but every missing variable is reported (replaced by an empty value so
/// the rest of the file can still be checked).
fn interpolate_all(
    text: &str,
    path: &Path,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, (String, Vec<ConfigError>)> {
    let missing = std::cell::RefCell::new(Vec::new());
    let lookup = |k: &str| {
        env(k).or_else(|| {
            missing.borrow_mut().push(k.to_owned());
            Some(String::new())
        })
    };
    match interpolate(text, path, lookup) {
        Ok(t) => {
            let missing = missing.into_inner();
            if missing.is_empty() {
                return Ok(t);
            }
            let errors = missing
                .into_iter()
                .map(|var| ConfigError::MissingVar {
                    path: path.to_owned(),
                    line: line_of(text, &format!("${{{var}}}")),
                    var,
                })
                .collect();
            Err((t, errors))
        }
        Err(e) => Err((text.to_owned(), vec![e])),
    }
}

/// Replaces `${VAR}` with the variable's value; `$${` stays a literal `${`. Comments are
/// left alone so a commented-out example does not demand its variable.
pub fn interpolate(
    text: &str,
    path: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos..];
            if let Some(stripped) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = stripped;
            } else if let Some(body) = after.strip_prefix("${") {
                let Some(end) = body.find('}') else {
                    return Err(ConfigError::Invalid {
                        path: path.to_owned(),
                        line: i + 1,
                        message: "unterminated ${ (write $${ for a literal)".into(),
                    });
                };
                let var = &body[..end];
                let value = env(var).ok_or_else(|| ConfigError::MissingVar {
                    path: path.to_owned(),
                    line: i + 1,
                    var: var.to_owned(),
                })?;
                // Values go inside TOML strings: escape what would break them.
                out.push_str(&value.replace('\\', "\\\\").replace('"', "\\\""));
                rest = &body[end + 1..];
            } else {
                out.push('$');
                rest = &after[1..];
            }
        }
        out.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"), |k| {
            (k == "DATA").then(|| "/srv/recon".to_owned())
        })
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../config/xsolla-recon.example.toml");
        let cfg = Config::parse(text, Path::new("example.toml"), |_| Some("x".into())).unwrap();
        assert!(!cfg.merchants.is_empty());
    }

    #[test]
    fn mail_recipients_need_smtp_unless_the_mail_goes_to_a_file() {
        let merchant = "[[merchant]]\nname = \"a\"\nmerchant_id = 1\n[merchant.mail]\nto = [\"f@example.com\"]\n";
        let e = parse(merchant).unwrap_err().to_string();
        assert!(
            e.contains("no [smtp] table") && e.contains("mail_transport"),
            "{e}"
        );
        let cfg = parse(&format!("[run]\nmail_transport = \"file\"\n{merchant}")).unwrap();
        assert_eq!(cfg.run.mail_transport, MailTransport::File);
        assert_eq!(RunSettings::default().mail_transport, MailTransport::Smtp);
        let e = parse("[run]\nmail_transport = \"pigeon\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("test.toml:2:") && e.contains("pigeon"), "{e}");
    }

    #[test]
    fn the_multi_merchant_example_parses() {
        let text = include_str!("../../config/xsolla-recon.multi.example.toml");
        let cfg = Config::parse(text, Path::new("multi.toml"), |_| Some("x".into())).unwrap();
        assert_eq!(cfg.merchants.len(), 2);
        assert_eq!(cfg.schedules.len(), 2);
        assert_eq!(cfg.merchants[1].mail.cc, vec!["controlling@globex.example"]);
    }

    #[test]
    fn check_file_lists_every_unknown_key_and_missing_variable_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "data_dir = \"${NOPE_A}\"\ncolour = 1\n[fetch]\npage_limt = 3\n# ${NOPE_B} in a comment\n[[merchant]]\nname = \"a\"\nmerchant_id = 1\n[[merchant]]\nname = \"b\"\nmerchant_id = 2\nbase_url = \"ftp://x\"\nsize = 3\n",
        )
        .unwrap();
        let (_, problems) = Config::check_file(&p, |_| None);
        let text: Vec<String> = problems.iter().map(|e| e.to_string()).collect();
        let has = |line: usize, what: &str| {
            text.iter()
                .any(|t| t.contains(&format!("c.toml:{line}:")) && t.contains(what))
        };
        assert!(has(1, "NOPE_A"), "{text:#?}");
        assert!(has(2, "colour"), "{text:#?}");
        assert!(has(4, "page_limt"), "{text:#?}");
        assert!(has(13, "size"), "{text:#?}");
        assert!(!text.iter().any(|t| t.contains("NOPE_B")), "{text:#?}");

        // With the syntax fixed, values are checked in the right merchant's table.
        std::fs::write(
            &p,
            "[[merchant]]\nname = \"a\"\nmerchant_id = 1\n[[merchant]]\nname = \"b\"\nmerchant_id = 2\nbase_url = \"ftp://x\"\n",
        )
        .unwrap();
        let (cfg, problems) = Config::check_file(&p, |_| None);
        assert!(cfg.is_some());
        let text: Vec<String> = problems.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("c.toml:7:") && t.contains("base_url")),
            "{text:#?}"
        );
        // Missing API key variables are named (their values never are).
        assert!(
            text.iter()
                .any(|t| t.contains("c.toml:1:") && t.contains("XSOLLA_API_KEY")),
            "{text:#?}"
        );
    }

    #[test]
    fn defaults_and_interpolation() {
        let cfg =
            parse("data_dir = \"${DATA}/data\"\n[[merchant]]\nname = \"acme\"\nmerchant_id = 1\n")
                .unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/srv/recon/data"));
        let m = cfg.merchant(None).unwrap();
        assert_eq!(m.base_url, XSOLLA_BASE_URL);
        assert_eq!(m.api_key_env, "XSOLLA_API_KEY");
        assert_eq!(cfg.fetch.page_limit, 500);
    }

    #[test]
    fn errors_carry_line_numbers() {
        let e = parse("data_dir = \"x\"\n\n[fetch]\npage_limt = 3\n").unwrap_err();
        assert!(e.to_string().starts_with("test.toml:4:"), "{e}");
        assert!(e.to_string().contains("page_limt"), "{e}");
        let e = parse("# ${NOPE} in a comment is fine\ndata_dir = \"${NOPE}\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "test.toml:2: environment variable NOPE is not set (referenced as ${NOPE})"
        );
        let e = parse("[fetch]\nchunk_days = 93\n").unwrap_err();
        assert!(e.to_string().starts_with("test.toml:2:"), "{e}");
        let e = parse("[[merchant]]\nname = \"a b\"\nmerchant_id = 1\n").unwrap_err();
        assert!(e.to_string().starts_with("test.toml:2:"), "{e}");
    }

    #[test]
    fn literal_dollar_brace_and_merchant_choice() {
        let cfg = parse(
            "data_dir = \"$${HOME}\"\n[[merchant]]\nname = \"a\"\nmerchant_id = 1\n[[merchant]]\nname = \"b\"\nmerchant_id = 2\n",
        )
        .unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("${HOME}"));
        assert!(cfg.merchant(None).is_err());
        assert_eq!(cfg.merchant(Some("b")).unwrap().merchant_id, 2);
        assert!(cfg
            .merchant(Some("c"))
            .unwrap_err()
            .to_string()
            .contains("a, b"));
    }

    #[test]
    fn a_ledger_flagging_test_purchases_needs_them_fetched() {
        let text = |show: bool| {
            format!(
                "[fetch]\nshow_dry_run = {show}\n[[merchant]]\nname = \"a\"\nmerchant_id = 1\n\
                 [merchant.ledger]\n[merchant.ledger.columns]\norder_id = \"o\"\ntest = \"Test\"\n"
            )
        };
        let e = parse(&text(false)).unwrap_err().to_string();
        assert!(e.contains("fetch.show_dry_run = true"), "{e}");
        parse(&text(true)).unwrap();
    }

    #[test]
    fn fee_columns_are_xsolla_s_money_columns_the_optional_ones_too() {
        let text = |cols: &str| {
            format!(
                "[reconcile]\nfee_columns = [{cols}]\n[[merchant]]\nname = \"a\"\nmerchant_id = 1\n"
            )
        };
        parse(&text(
            "\"commission_xsolla\", \"cpa_network_commission\", \"commission_ps_fixed\"",
        ))
        .unwrap();
        let e = parse(&text("\"commission_xsolla\", \"cpa\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("reconcile.fee_columns: \"cpa\""), "{e}");
    }
}
