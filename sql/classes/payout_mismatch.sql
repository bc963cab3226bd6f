-- report_order: 100
-- payout_mismatch: the registry rows of a payout (read per payout with the registry's
-- transfer_id filter) do not add up to the payout's amount. A row counts its payout.amount
-- plus its payout_deduction (its penalties in the payout currency when
-- reconcile.payout_deducts_penalties, else 0). Payouts without an amount (the field is not
-- documented by Xsolla) or whose rows were not read cannot be checked: the summary lists them
-- as not checked. Payouts dated in the margins (fetched with them) are left to the run whose
-- window holds their date.
SELECT
  'payout_mismatch:payout:' || CAST(po.payout_id AS VARCHAR) AS key,
  'payout_rows_sum' AS rule,
  po.currency,
  po.amount AS expected,
  COALESCE(r.total, CAST(0 AS DECIMAL(38, 6))) AS actual,
  CAST(NULL AS BIGINT) AS transaction_id,
  CAST(NULL AS VARCHAR) AS order_id,
  po.payout_date AS provider_date,
  CAST(NULL AS DATE) AS ledger_date,
  po.source AS provider_rows,
  CAST(NULL AS VARCHAR) AS ledger_rows,
  'Payout ' || CAST(po.payout_id AS VARCHAR) || ' does not equal the sum of its '
    || CAST(COALESCE(r.n, 0) AS VARCHAR) || ' registry rows' AS detail
FROM payouts po
LEFT JOIN (
  SELECT transfer_id, SUM(payout_amount + payout_deduction) AS total, COUNT(*) AS n
  FROM payout_rows
  GROUP BY transfer_id
) r ON po.payout_id = r.transfer_id
WHERE po.amount IS NOT NULL AND po.canceled = FALSE AND po.checkable = TRUE AND po.in_window
  AND ABS(COALESCE(r.total, CAST(0 AS DECIMAL(38, 6))) - po.amount) > po.fx_tolerance
