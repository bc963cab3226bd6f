-- report_order: 30
-- amount_mismatch: both sides have the line in the same currency and the amounts differ by
-- more than the currency's tolerance (config: reconcile.tolerance_minor_units).
-- For cancellations the amount is the sum of the refunds/chargebacks of the transaction.
-- Switched off when reconcile.comparisons leaves out "gross". Reported by the run whose
-- window holds the pair's governing date (gov_pos = 0), as every class but timing_difference.
-- A ledger that books in another currency than the payment's (ledger conventions.currency)
-- is compared with Xsolla's amounts converted row by row; each converted row may be off by
-- the rounding, so the line may differ by settings.fx_line_tolerance (reconcile.fx_tolerance
-- then, else 0) per Xsolla row summed (`fx_rows`), and the detail says so.
-- The line is narrowed before it meets `settings`: the cross join would copy every line.
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
  CASE WHEN settings.fx_line_tolerance > CAST(0 AS DECIMAL(38, 6))
    THEN 'Xsolla (converted) and the ledger disagree on the amount by more than the conversion allows ('
      || CAST(fx_rows AS VARCHAR) || ' converted row(s) x fx_tolerance '
      || CAST(settings.fx_line_tolerance AS VARCHAR) || ')'
    ELSE 'Xsolla and the ledger disagree on the amount'
  END AS detail
FROM (
  SELECT *, (LENGTH(provider_rows) - LENGTH(REPLACE(provider_rows, ';', '')) + 1) AS fx_rows
  FROM matched
  WHERE p_txn IS NOT NULL AND l_key IS NOT NULL AND p_currency = l_currency
    AND gov_pos = 0
    AND ABS(l_amount - p_amount) > tolerance
) m, settings
WHERE settings.cmp_gross
  AND ABS(l_amount - p_amount) > tolerance + settings.fx_line_tolerance * CAST(fx_rows AS DECIMAL(38, 6))
