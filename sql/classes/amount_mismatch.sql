-- report_order: 30
-- amount_mismatch: both sides have the line in the same currency and the amounts differ by
-- more than the currency's tolerance (config: reconcile.tolerance_minor_units).
-- For cancellations the amount is the sum of the refunds/chargebacks of the transaction.
-- Switched off when reconcile.comparisons leaves out "gross". Reported by the run whose
-- window holds the pair's governing date (gov_pos = 0), as every class but timing_difference.
SELECT
  'amount_mismatch:tx:' || CAST(transaction_id AS VARCHAR) || ':' || row_kind AS key,
  CASE WHEN row_kind = 'payment' THEN 'gross_amount' ELSE 'cancellation_amount' END AS rule,
  p_currency AS currency,
  p_amount AS expected,
  l_amount AS actual,
  transaction_id,
  order_id,
  provider_date,
  ledger_date,
  provider_rows,
  ledger_rows,
  'Xsolla and the ledger disagree on the amount' AS detail
FROM matched, settings
WHERE settings.cmp_gross
  AND p_txn IS NOT NULL AND l_key IS NOT NULL AND p_currency = l_currency
  AND gov_pos = 0
  AND ABS(l_amount - p_amount) > tolerance
