-- report_order: 90
-- timing_difference: the line matches in amount, but the ledger books (part of) it outside
-- the window while Xsolla books it inside. It clears by itself when the later window is run.
SELECT
  'timing_difference:tx:' || CAST(transaction_id AS VARCHAR) || ':' || row_kind AS key,
  'booked_across_window_edge' AS rule,
  p_currency AS currency,
  p_amount AS expected,
  l_amount_in_window AS actual,
  transaction_id,
  order_id,
  provider_date,
  ledger_date,
  provider_rows,
  ledger_rows,
  'Same amount on both sides, but the ledger books it outside the window' AS detail
FROM matched
WHERE p_txn IS NOT NULL AND l_key IS NOT NULL AND p_currency = l_currency
  AND ABS(l_amount - p_amount) <= tolerance
  AND l_all_in_window = 0
