//! PLACEHOLDER (lead's local stand-in until the report branch merges; replaced by it).
#![allow(missing_docs, dead_code, unused_variables)]
use crate::xsolla::window::Window;
use chrono::NaiveDate;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct OpenItemCounts {
    pub new: u64,
    pub still_open: u64,
    pub resolved: u64,
}
pub struct ReportInput<'a> {
    pub merchant: &'a str,
    pub window: Window,
    pub report_id: &'a str,
    pub as_of: NaiveDate,
    pub discrepancies: &'a DataFrame,
    pub summary: &'a crate::reconcile::Summary,
    pub open_items: OpenItemCounts,
    pub quarantined: &'a [crate::ledger::BadRow],
    pub ledger: &'a crate::ledger::LedgerCounts,
    pub provider: Option<&'a crate::load::LoadCounts>,
}
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportSettings {
    pub chart: bool,
}
impl ReportSettings {
    pub fn problems(&self) -> Vec<String> {
        vec![]
    }
}
#[derive(Debug, Clone)]
pub struct ReportFiles {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("x")]
    X,
}
pub fn write_reports(
    input: &ReportInput,
    settings: &ReportSettings,
    final_dir: &Path,
) -> Result<ReportFiles, ReportError> {
    todo!()
}
pub mod mail {
    pub struct MailContent {
        pub subject: String,
        pub html: String,
        pub text: String,
        pub chart_png: Option<Vec<u8>>,
    }
    pub const CHART_CID: &str = "chart";
    pub fn compose(
        input: &super::ReportInput,
        settings: &super::ReportSettings,
    ) -> Result<MailContent, super::ReportError> {
        todo!()
    }
}
