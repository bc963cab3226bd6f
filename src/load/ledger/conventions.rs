//! `[ledger.conventions]`: how the merchant's books differ from Xsolla's registry.
//!
//! Finance exports differ in what "amount" means (with or without taxes), which currency a
//! line is booked in, how a refund shows, and which lines belong to the reconciliation. Each
//! difference, left unconfigured, turns into a flood of false findings (or silence), so each
//! is a setting here with the default that matches the most common export (and the sandbox's
//! own): gross in the payment currency, refunds as negative lines, every line a paid sale of
//! the reconciled projects. The README's "Ledger conventions" table maps exports to settings.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The ledger's conventions. Every field has a default that keeps the common export working.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Conventions {
    /// Xsolla amount columns subtracted from `payment.amount` before it is compared with the
    /// ledger's amount: `["vat_deducted", "sales_tax"]` for a ledger that books sales without
    /// tax, `["vat_deducted", "sales_tax", "commission_user"]` for one that books the
    /// purchase's nominal price (what the item costs: the payment less the user's commission
    /// and the taxes on top). Any money column of the registry frame may be named (see
    /// `docs/xsolla-api.md`). Default empty: the ledger books what the user paid.
    pub amount_minus: Vec<String>,
    /// Xsolla fee columns whose sum is compared with the ledger's fee column, for this
    /// merchant (overrides `reconcile.fee_columns`). Default: unset, `reconcile.fee_columns`.
    pub fee_columns: Option<Vec<String>>,
    /// Which currency the ledger books in: `payment` (what the user paid in), `payout` (the
    /// merchant's payout currency: Xsolla's amounts are converted with the row's `fx_rate`,
    /// as `in_transfer_currency=1` would) or `reporting` (one fixed currency,
    /// `reporting_currency`, converted with the ledger's own rate column `columns.rate`).
    /// Default `payment`.
    pub currency: LedgerCurrency,
    /// The ledger's reporting currency (ISO 4217) when `currency = "reporting"`. Default:
    /// unset.
    pub reporting_currency: Option<String>,
    /// How a refund or chargeback shows in the ledger: `negative_lines` (its own line with a
    /// negative amount), `status_lines` (its own line with a positive amount and a refund or
    /// chargeback status; the amount is negated when read) or `status_on_payment` (no line of
    /// its own: the payment line's status says refunded). Default `negative_lines`.
    pub refunds: RefundConvention,
    /// Journal line type text (matched trimmed, case-insensitive) of `columns.line_type` →
    /// what the line is: `sale`, `refund` (a cancellation; a positive amount is negated),
    /// `fee`, `tax`, `discount` or `other`. Only `sale` and `refund` lines are compared; the
    /// others are counted as journal lines and set aside, and so is a type the map does not
    /// name (counted per text, with a warning). An empty cell is looked up as `""`: map
    /// `"" = "sale"` when only the journal lines carry a type. Default empty.
    pub line_types: BTreeMap<String, LineKind>,
    /// Normalised ledger statuses that are not money yet: lines with them are out of scope
    /// and counted as such (`ledger_not_money`). Default `["pending", "canceled"]`.
    pub not_money_statuses: Vec<String>,
}

impl Default for Conventions {
    fn default() -> Self {
        Conventions {
            amount_minus: Vec::new(),
            fee_columns: None,
            currency: LedgerCurrency::Payment,
            reporting_currency: None,
            refunds: RefundConvention::NegativeLines,
            line_types: BTreeMap::new(),
            not_money_statuses: vec!["pending".to_owned(), "canceled".to_owned()],
        }
    }
}

/// The currency a ledger books in (`conventions.currency`).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LedgerCurrency {
    /// The payment currency: Xsolla's `payment.amount` as it is.
    #[default]
    Payment,
    /// The payout currency: each Xsolla row's amounts × its `fx_rate`, rounded to the payout
    /// currency.
    Payout,
    /// A fixed reporting currency: each Xsolla row's amounts × the ledger line's own rate
    /// (`columns.rate`), rounded to the reporting currency.
    Reporting,
}

/// How refunds show in the ledger (`conventions.refunds`).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RefundConvention {
    /// A line of its own with a negative amount.
    #[default]
    NegativeLines,
    /// A line of its own with a positive amount and a refund or chargeback status.
    StatusLines,
    /// The payment line's status (refunded, chargeback); no line of its own. The refunded
    /// amount is then compared with nothing: each such Xsolla refund is a `refund_amount`
    /// not-checked line of the summary.
    StatusOnPayment,
}

/// What a journal line is (`conventions.line_types`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// A sale: compared.
    Sale,
    /// A refund or chargeback: compared as a cancellation.
    Refund,
    /// A fee booking: summed into the fee of the sale line of its transaction (or order) and
    /// compared there, then set aside; one with no such sale line is a `fees` not-checked
    /// line.
    Fee,
    /// A tax booking: set aside.
    Tax,
    /// A discount booking: set aside.
    Discount,
    /// Anything else: set aside.
    Other,
}

impl LineKind {
    /// The value of the ledger frame's `line_kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Sale => "sale",
            LineKind::Refund => "refund",
            LineKind::Fee => "fee",
            LineKind::Tax => "tax",
            LineKind::Discount => "discount",
            LineKind::Other => "other",
        }
    }
}

/// The `line_kind` of a type text the map does not name.
pub const UNMAPPED_LINE_KIND: &str = "unmapped";

impl Conventions {
    /// One sentence per inconsistent setting; `has_rate` / `has_status` / `has_type`: whether
    /// the ledger maps `columns.rate` / `columns.status` / `columns.line_type`.
    pub fn problems(&self, has_rate: bool, has_status: bool, has_type: bool) -> Vec<String> {
        let mut p = Vec::new();
        match (self.currency, &self.reporting_currency) {
            (LedgerCurrency::Reporting, None) => p.push(
                "conventions.currency = \"reporting\" needs conventions.reporting_currency"
                    .to_owned(),
            ),
            (LedgerCurrency::Reporting, Some(c))
                if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) =>
            {
                p.push(format!(
                    "conventions.reporting_currency {c:?} is not a 3-letter ISO 4217 code"
                ))
            }
            (LedgerCurrency::Reporting, Some(_)) if !has_rate => p.push(
                "conventions.currency = \"reporting\" needs columns.rate (the ledger's rate)"
                    .to_owned(),
            ),
            _ => {}
        }
        if self.refunds != RefundConvention::NegativeLines && !has_status {
            p.push(format!(
                "conventions.refunds = {:?} needs columns.status",
                self.refunds
            ));
        }
        if !self.line_types.is_empty() && !has_type {
            p.push("conventions.line_types needs columns.line_type".to_owned());
        }
        let frames_ = (
            crate::domain::frames::PROVIDER_FEE_COLUMNS,
            crate::domain::frames::PROVIDER_OPTIONAL_FEE_COLUMNS,
        );
        let money_columns: Vec<&str> = frames_.0.iter().chain(frames_.1).copied().collect();
        let named = self.amount_minus.iter().map(|c| ("amount_minus", c));
        let fees = self
            .fee_columns
            .iter()
            .flatten()
            .map(|c| ("fee_columns", c));
        for (key, c) in named.chain(fees) {
            if !crate::domain::frames::is_provider_money_column(c) {
                p.push(format!(
                    "conventions.{key}: {c:?} is not one of Xsolla's money columns {money_columns:?}"
                ));
            }
        }
        for s in &self.not_money_statuses {
            if !crate::domain::frames::LEDGER_STATUSES.contains(&s.as_str()) {
                p.push(format!(
                    "conventions.not_money_statuses: {s:?} is not one of {:?}",
                    crate::domain::frames::LEDGER_STATUSES
                ));
            }
        }
        p
    }
}
