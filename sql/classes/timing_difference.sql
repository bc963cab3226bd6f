-- report_order: 90
-- timing_difference: the amounts agree, one side dates the line inside the window and the
-- other after the window's last day (in the margin): the ledger books it later than Xsolla
-- (p_pos = 0, a ledger booking after the window) or Xsolla dates it later than the ledger
-- (l_pos = 0, p_pos = 1: a payment booked at 23:50 that Xsolla dates 00:07 the next day). The
-- next window holds both dates and matches the pair cleanly, which resolves it.
-- A pair whose other side lies *before* the window's first day is matched silently: the run
-- whose window ended before that side's date reported it and the next run resolved it;
-- raising it again at the start edge would report it twice, and no later window could
-- resolve it (every later window starts after that date).
-- expected / actual: Xsolla's / the ledger's amount inside the window.
-- "Agree" allows the conversion's rounding per Xsolla row summed (settings.fx_line_tolerance,
-- see amount_mismatch) for a ledger that books in another currency.
SELECT
  'timing_difference:tx:' || CAST(transaction_id AS VARCHAR) || ':' || row_kind AS key,
  'booked_across_window_edge' AS rule,
  p_currency AS currency,
  CASE WHEN p_pos = 0 THEN p_amount ELSE CAST(0 AS DECIMAL(38, 6)) END AS expected,
  l_amount_in_window AS actual,
  transaction_id,
  order_id,
  provider_date,
  ledger_date,
  provider_rows,
  ledger_rows,
  CASE WHEN p_pos = 0
    THEN 'Same amount on both sides, but the ledger books it outside the window'
    ELSE 'Same amount on both sides, but Xsolla dates it after the window (on '
      || CAST(provider_date AS VARCHAR) || ')'
  END AS detail
FROM (
  SELECT *, (LENGTH(provider_rows) - LENGTH(REPLACE(provider_rows, ';', '')) + 1) AS fx_rows
  FROM matched
  WHERE p_txn IS NOT NULL AND l_key IS NOT NULL AND p_currency = l_currency
    AND ((p_pos = 0 AND l_last_pos = 1) OR (l_pos = 0 AND p_pos = 1))
) m, settings
WHERE ABS(l_amount - p_amount) <= tolerance + settings.fx_line_tolerance * CAST(fx_rows AS DECIMAL(38, 6))
