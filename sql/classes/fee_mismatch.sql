-- report_order: 80
-- fee_mismatch: the ledger carries fees or a net amount and they disagree with Xsolla's.
--   fees: ledger fee vs the sum of Xsolla's fee columns (config reconcile.fee_columns), in the
--     payment currency, within the currency's tolerance;
--   net_vs_payout: ledger net vs Xsolla's payout amount (payout currency, after FX), within
--     the FX rounding tolerance (config reconcile.fx_tolerance).
--   net_vs_payment_minus_fees: ledger net vs Xsolla's payment amount minus the fee columns,
--     in the payment currency, within the currency's tolerance (for ledgers that book net in
--     the payment currency).
-- Each is on when reconcile.comparisons lists it (settings.cmp_*). When "gross" is compared,
-- only lines whose gross amounts agree are checked, so one difference is reported once.
-- Each part narrows `matched` before it meets `settings`: the cross join would otherwise copy
-- every line. A ledger booking in another currency (ledger conventions.currency) allows the
-- conversion's rounding per Xsolla row summed (settings.fx_line_tolerance, see amount_mismatch).
SELECT
  'fee_mismatch:tx:' || CAST(transaction_id AS VARCHAR) || ':' || row_kind || ':fees' AS key,
  'fees' AS rule,
  p_currency AS currency,
  p_fee AS expected,
  l_fee AS actual,
  transaction_id,
  order_id,
  provider_date,
  ledger_date,
  provider_rows,
  ledger_rows,
  CASE WHEN settings.fx_line_tolerance > CAST(0 AS DECIMAL(38, 6))
    THEN 'The ledger books other fees than Xsolla charges (converted), by more than the conversion allows ('
      || CAST((LENGTH(provider_rows) - LENGTH(REPLACE(provider_rows, ';', '')) + 1) AS VARCHAR) || ' converted row(s) x fx_tolerance '
      || CAST(settings.fx_line_tolerance AS VARCHAR) || ')'
    ELSE 'The ledger books other fees than Xsolla charges'
  END AS detail
FROM (
  SELECT * FROM matched
  WHERE p_txn IS NOT NULL AND l_key IS NOT NULL AND p_currency = l_currency AND gov_pos = 0
    AND l_fee IS NOT NULL
    AND ABS(l_fee - COALESCE(p_fee, CAST(0 AS DECIMAL(38, 6)))) > tolerance
) m, settings
WHERE settings.cmp_fees
  AND ABS(l_fee - COALESCE(p_fee, CAST(0 AS DECIMAL(38, 6))))
    > tolerance + settings.fx_line_tolerance * CAST((LENGTH(provider_rows) - LENGTH(REPLACE(provider_rows, ';', '')) + 1) AS DECIMAL(38, 6))
  AND (NOT settings.cmp_gross OR ABS(l_amount - p_amount) <= tolerance + settings.fx_line_tolerance * CAST((LENGTH(provider_rows) - LENGTH(REPLACE(provider_rows, ';', '')) + 1) AS DECIMAL(38, 6)))
UNION ALL
SELECT
  'fee_mismatch:tx:' || CAST(transaction_id AS VARCHAR) || ':' || row_kind || ':net' AS key,
  'net_vs_payout' AS rule,
  p_payout_currency AS currency,
  p_payout AS expected,
  l_net AS actual,
  transaction_id,
  order_id,
  provider_date,
  ledger_date,
  provider_rows,
  ledger_rows,
  'The ledger''s net amount differs from Xsolla''s payout amount' AS detail
FROM (
  SELECT * FROM matched
  WHERE p_txn IS NOT NULL AND l_key IS NOT NULL AND p_currency = l_currency AND gov_pos = 0
    AND l_net IS NOT NULL
    AND l_net <> p_payout
) m, settings
WHERE settings.cmp_net_vs_payout
  AND (NOT settings.cmp_gross OR ABS(l_amount - p_amount) <= tolerance + settings.fx_line_tolerance * CAST((LENGTH(provider_rows) - LENGTH(REPLACE(provider_rows, ';', '')) + 1) AS DECIMAL(38, 6)))
  AND ABS(l_net - p_payout) > settings.fx_tolerance
UNION ALL
SELECT
  'fee_mismatch:tx:' || CAST(transaction_id AS VARCHAR) || ':' || row_kind || ':net_payment' AS key,
  'net_vs_payment_minus_fees' AS rule,
  p_currency AS currency,
  p_amount - COALESCE(p_fee, CAST(0 AS DECIMAL(38, 6))) AS expected,
  l_net AS actual,
  transaction_id,
  order_id,
  provider_date,
  ledger_date,
  provider_rows,
  ledger_rows,
  'The ledger''s net amount differs from Xsolla''s payment minus fees' AS detail
FROM (
  SELECT * FROM matched
  WHERE p_txn IS NOT NULL AND l_key IS NOT NULL AND p_currency = l_currency AND gov_pos = 0
    AND l_net IS NOT NULL
    AND ABS(l_net - (p_amount - COALESCE(p_fee, CAST(0 AS DECIMAL(38, 6))))) > tolerance
) m, settings
WHERE settings.cmp_net_vs_payment_minus_fees
  AND (NOT settings.cmp_gross OR ABS(l_amount - p_amount) <= tolerance + settings.fx_line_tolerance * CAST((LENGTH(provider_rows) - LENGTH(REPLACE(provider_rows, ';', '')) + 1) AS DECIMAL(38, 6)))
