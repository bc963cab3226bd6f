//! The Reports API's records, declared once for JSON and CSV.
//!
//! Paths follow the official samples in `docs/xsolla-api.md` (§1.6, §5.1,
//! §5.2, §4). CSV header names are only partly confirmed (§1.7: `Transaction ID`, the fee and
//! VAT names); the rest are inferred, which is why CSV columns are matched by header name,
//! unknown ones are kept in `extra`, and a missing required one is named in the error.

use crate::record;

record! {
    /// One transaction row as the registry, search, simple search and details calls return it.
    ///
    /// The registry has one row per money movement: a payment is a positive row, and a refund
    /// or chargeback is a separate negative row dated later ([I], §1.2), so the identity of a
    /// row is the whole row, not the transaction id.
    pub struct TransactionRow / TRANSACTION_COLUMNS {
        /// Xsolla transaction id. [C]
        transaction_id: Int = ("Transaction ID", "transaction.id"),
        /// The game's order id (`external_id`). [C] in search.
        external_id: Text = ("External ID", "transaction.external_id"),
        /// Project id. [C] in search.
        project_id: Int = ("Project ID", "transaction.project.id"),
        /// Project name. [C] in search.
        project_name: Text = ("Project", "transaction.project.name"),
        /// Payment method id. [C] in search.
        payment_method_id: Int = ("Payment method ID", "transaction.payment_method.id"),
        /// Payment method name. [C] in search.
        payment_method: Text = ("Payment method", "transaction.payment_method.name"),
        /// `done`, `refunded`, `canceled`, `partiallyRefunded`… [C] enum (§6).
        status: Text = ("Status", "transaction.status"),
        /// When the user paid. [C] in search (date only there).
        created_at: DateTime = ("Transaction date", "transaction.create_date"),
        /// Payment time from simple_search. [C] `2023-02-11 15:32:46`.
        payment_date: DateTime = ("Payment date", "transaction.payment_date"),
        /// The date the row is booked on: payout date for a payment, cancellation date for a
        /// negative row ([I], §1.2). The registry window filters on it.
        transfer_date: DateTime = ("Transfer date", "transaction.transfer_date"),
        /// Payout (transfer) the row belongs to. [I]: the registry accepts `transfer_id`, so
        /// rows must carry it; the field name in the response is not documented.
        transfer_id: Int = ("Payout ID", "transaction.transfer_id"),
        /// Financial report the row belongs to. [I], as `transfer_id`.
        report_id: Int = ("Report ID", "transaction.report_id"),
        /// Refund reason code or text. [C] in search.
        refund_reason: Text = ("Refund reason", "transaction.refund_reason"),
        /// Free-text refund comment. [C-old] CSV column "Refund reason comment".
        refund_reason_comment: Text = ("Refund reason comment", "transaction.refund_reason_comment"),
        /// Test transaction. [C] `dry_run` 0/1.
        dry_run: Flag = ("Dry run", "transaction.dry_run"),
        /// Direct account. [C] `direct_account` 0/1; [C-old] CSV "Direct account".
        direct_account: Flag = ("Direct account", "transaction.direct_account"),
        /// Whether Xsolla still allows a refund. [C] in search.
        is_refund_allowed: Flag = ("Refund allowed", "transaction.is_refund_allowed"),
        /// User id in the game; a string or a number depending on the page ([C], §5.2).
        user_id: Text = ("User ID", "user.id"),
        /// User name.
        user_name: Text = ("User name", "user.name"),
        /// User e-mail.
        user_email: Text = ("Email", "user.email"),
        /// User country, ISO 3166-1 alpha-2.
        user_country: Text = ("Country", "user.country"),
        /// What the user paid, payment currency. [C] path; negative on cancellation rows.
        payment_amount: Money = ("Payment amount", "payment_details.payment.amount"),
        /// Payment currency, ISO 4217. [C]
        payment_currency: Text = ("Payment currency", "payment_details.payment.currency"),
        /// Part of the payment debited via the payment system. [C] path.
        payment_amount_from_ps: Money = ("Payment amount from payment system", "payment_details.payment.amount_from_ps"),
        /// Merchant payout for the row, payout currency. [C] path.
        payout_amount: Money = ("Payout amount", "payment_details.payout.amount"),
        /// Payout currency. [C]
        payout_currency: Text = ("Payout currency", "payment_details.payout.currency"),
        /// Payout amount from payment system. [C-old] CSV name.
        payout_amount_from_ps: Money = ("Payout amount from payment system", "payment_details.payout.amount_from_ps"),
        /// Payment → payout exchange rate, up to 10 decimals. [C] path.
        fx_rate: Rate = ("Exchange rate", "payment_details.payout.fx_rate"),
        /// Payout share, %. [C] path.
        payout_percent: Rate = ("Payout, %", "payment_details.payout.percent"),
        /// Fee charged to the user on top of the price. [C] path.
        commission_user: Money = ("User commission", "payment_details.commission_user.amount"),
        /// Xsolla revenue share. [C] path; [C-old] CSV name.
        commission_xsolla: Money = ("Xsolla revenue share", "payment_details.commission_xsolla.amount"),
        /// Xsolla revenue share, fixed part. [C-old] CSV name.
        commission_xsolla_fixed: Money = ("Xsolla revenue share, fixed", "payment_details.commission_xsolla.fixed_amount"),
        /// Xsolla revenue share, %.
        commission_xsolla_percent: Rate = ("Xsolla revenue share, %", "payment_details.commission_xsolla.percent"),
        /// Payment system fee. [C] path.
        commission_ps: Money = ("Payment system fee", "payment_details.commission_ps.amount"),
        /// Payment system fee, fixed part. [C-old] CSV name.
        commission_ps_fixed: Money = ("Payment system fee, fixed", "payment_details.commission_ps.fixed_amount"),
        /// Payment system fee, %.
        commission_ps_percent: Rate = ("Payment system fee, %", "payment_details.commission_ps.percent"),
        /// Agent commission. [C] path.
        commission_agent: Money = ("Agent commission", "payment_details.commission_agent.amount"),
        /// Agent commission, fixed part. [C] path (a bare number).
        commission_agent_fixed: Money = ("Agent commission, fixed", "payment_details.commission_agent_fixed"),
        /// CPA network commission. [C] path.
        cpa_network_commission: Money = ("CPA network commission", "payment_details.cpa_network_commission.amount"),
        /// Direct withholding tax. [C] path.
        direct_wht: Money = ("Direct WHT", "payment_details.direct_wht.amount"),
        /// Repatriation costs. [C] path; [C-old] CSV name.
        repatriation_costs: Money = ("Repatriation costs, total", "payment_details.repatriation_costs.amount"),
        /// US/Canada sales tax. [C] path; [C-old] CSV name.
        sales_tax: Money = ("Sales Tax", "payment_details.sales_tax.amount"),
        /// Sales tax, %.
        sales_tax_percent: Rate = ("Sales Tax, %", "payment_details.sales_tax.percent"),
        /// VAT deducted from the payout. [C] path; [C-old] CSV "Deducted VAT".
        vat_deducted: Money = ("Deducted VAT", "payment_details.vat.amount"),
        /// Deducted VAT, %. [C-old] CSV name.
        vat_deducted_percent: Rate = ("Deducted VAT, %", "payment_details.vat.percent"),
        /// VAT the user sees. [C] path; [C-old] CSV "VAT".
        vat_user: Money = ("VAT", "payment_details.vat.user_amount"),
        /// VAT the user sees, %. [C-old] CSV "VAT, %".
        vat_user_percent: Rate = ("VAT, %", "payment_details.vat.user_percent"),
        /// Chargeback penalty; non-zero only on cancellation rows ([I]). camelCase is [C].
        chargeback_penalty: Money = ("Chargeback penalty", "payment_details.chargebackPenalty.amount"),
        /// Refund penalty; non-zero only on cancellation rows ([I]).
        refund_penalty: Money = ("Refund penalty", "payment_details.refundPenalty.amount"),
        /// Virtual currency purchase amount. [C-old] CSV name; empty when 0.
        virtual_currency_amount: Money = ("Virtual currency purchase amount", "purchase.virtual_currency.amount"),
        /// Simple checkout purchase amount. [C-old] CSV name; empty when 0.
        simple_checkout_amount: Money = ("Simple checkout purchase amount", "purchase.simple_checkout.amount"),
        /// Items purchase amount. [C-old] CSV name.
        items_amount: Money = ("Items purchase amount", "purchase.virtual_items.amount"),
    }
}

/// Required fields of a registry row: without them a row cannot be reconciled.
pub const REGISTRY_REQUIRED: &[&str] = &[
    "transaction_id",
    "status",
    "transfer_date",
    "payment_amount",
    "payment_currency",
    "payout_amount",
    "payout_currency",
];
/// Required fields of a search row (search returns unfinished payments too).
pub const SEARCH_REQUIRED: &[&str] = &["transaction_id", "status"];
/// Required fields of a simple_search or details row.
pub const LOOKUP_REQUIRED: &[&str] = &["transaction_id"];

record! {
    /// One payout (`reports/transfers`). Shape is [S]/[I] (§2, §11.1): no amount field was seen
    /// in any source, so `amount` is optional and the payout total is derived from registry rows.
    pub struct Payout / PAYOUT_COLUMNS {
        /// Payout id; the registry's `transfer_id`.
        payout_id: Int = ("", "payout.id"),
        /// Payout date.
        payout_date: DateTime = ("", "payout.date"),
        /// Payout note.
        payout_note: Text = ("", "payout.note"),
        /// Payout currency.
        payout_currency: Text = ("", "payout.currency"),
        /// Payout amount, when the API sends one ([I]; the sandbox does).
        payout_amount: Money = ("", "payout.amount"),
        /// Bank transfer date.
        transfer_date: DateTime = ("", "transfer.date"),
        /// Bank transfer note.
        transfer_note: Text = ("", "transfer.note"),
        /// Bank transfer currency.
        transfer_currency: Text = ("", "transfer.currency"),
        /// Payout → transfer currency rate.
        rate: Rate = ("", "rate"),
        /// Whether the payout was canceled (0/1).
        canceled: Flag = ("", "canceled"),
    }
}
/// Required payout fields.
pub const PAYOUT_REQUIRED: &[&str] = &["payout_id"];

record! {
    /// One currency of the payouts breakdown (`reports/transactions/summary/transfer`).
    /// PascalCase names are [S] (a connector that says it copies Xsolla's names).
    pub struct BreakdownRow / BREAKDOWN_COLUMNS {
        /// Payment currency of the group.
        currency: Text = ("", "IsoCurrency"),
        /// Sum of payment amounts in that currency.
        payments_amount: Money = ("", "PaymentsAmount"),
        /// Sum of nominal (price) amounts.
        sum_nominal: Money = ("", "SumNominalSum"),
        /// Sum of item amounts.
        sum_items: Money = ("", "SumItems"),
        /// Sum of project-currency amounts.
        sum_out_project: Money = ("", "SumOutProject"),
        /// Payout total for the currency; [I] equals Σ `payout_amount` of its registry rows.
        sum_payout: Money = ("", "SumPayoutSum"),
        /// Sum of agent commission.
        sum_commission_agent: Money = ("", "SumCommissionAgent"),
        /// Sum of user commission taxes.
        sum_commission_user_taxes: Money = ("", "SumCommissionUserTaxes"),
        /// Taxes of payments.
        taxes_of_payments: Money = ("", "TaxesOfPayments"),
        /// Direct taxes of payments.
        direct_taxes_of_payments: Money = ("", "DirectTaxesOfPayments"),
    }
}
/// Required breakdown fields.
pub const BREAKDOWN_REQUIRED: &[&str] = &["currency", "sum_payout"];

record! {
    /// One financial report (`reports`). [C] sample (§4).
    pub struct ReportEntry / REPORT_COLUMNS {
        /// Report id; the registry's `report_id`.
        report_id: Int = ("", "report_id"),
        /// Agreement document name.
        agreement_document_id: Text = ("", "agreement_document_id"),
        /// Report currency.
        currency: Text = ("", "currency"),
        /// English month name.
        month: Text = ("", "month"),
        /// Year.
        year: Int = ("", "year"),
        /// Direct payout.
        is_direct_payout: Flag = ("", "is_direct_payout"),
        /// Draft by agreement.
        is_draft_by_agreement: Flag = ("", "is_draft_by_agreement"),
    }
}
/// Required report fields.
pub const REPORT_REQUIRED: &[&str] = &["report_id"];
