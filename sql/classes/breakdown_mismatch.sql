-- report_order: 110
-- breakdown_mismatch: for a day and payment currency, the registry's sums differ from Xsolla's
-- payouts breakdown by currency (payments amount or payout sum). The breakdown is requested per
-- calendar day, so `window_from` is the day and the key, `breakdown_mismatch:<day>:<currency>:
-- <field>`, is the same in every run whose window holds that day: an unchanged difference stays
-- one open item instead of being new one night and resolved the next. Days of the margins
-- are fetched with the window; only the run whose window holds a day reports it.
SELECT
  'breakdown_mismatch:' || CAST(b.window_from AS VARCHAR) || ':' || b.currency || ':payments' AS key,
  'payments_amount' AS rule,
  b.currency,
  b.payments_amount AS expected,
  COALESCE(r.payments, CAST(0 AS DECIMAL(38, 6))) AS actual,
  CAST(NULL AS BIGINT) AS transaction_id,
  CAST(NULL AS VARCHAR) AS order_id,
  b.window_to AS provider_date,
  CAST(NULL AS DATE) AS ledger_date,
  b.source AS provider_rows,
  CAST(NULL AS VARCHAR) AS ledger_rows,
  'Registry payments in ' || b.currency || ' on ' || CAST(b.window_from AS VARCHAR) || ' do not add up to the breakdown' AS detail
FROM breakdown b
LEFT JOIN breakdown_registry r ON b.window_from = r.chunk_from AND b.currency = r.currency
WHERE b.in_window AND COALESCE(r.payments, CAST(0 AS DECIMAL(38, 6))) <> b.payments_amount
UNION ALL
SELECT
  'breakdown_mismatch:' || CAST(b.window_from AS VARCHAR) || ':' || b.currency || ':payout' AS key,
  'sum_payout' AS rule,
  b.currency,
  b.sum_payout AS expected,
  COALESCE(r.payout, CAST(0 AS DECIMAL(38, 6))) AS actual,
  CAST(NULL AS BIGINT) AS transaction_id,
  CAST(NULL AS VARCHAR) AS order_id,
  b.window_to AS provider_date,
  CAST(NULL AS DATE) AS ledger_date,
  b.source AS provider_rows,
  CAST(NULL AS VARCHAR) AS ledger_rows,
  'Registry payouts for ' || b.currency || ' payments on ' || CAST(b.window_from AS VARCHAR) || ' do not add up to the breakdown' AS detail
FROM breakdown b
LEFT JOIN breakdown_registry r ON b.window_from = r.chunk_from AND b.currency = r.currency
WHERE b.in_window AND ABS(COALESCE(r.payout, CAST(0 AS DECIMAL(38, 6))) - b.sum_payout) > b.fx_tolerance
