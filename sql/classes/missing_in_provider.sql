-- report_order: 20
-- missing_in_provider: the ledger books a line in the window that Xsolla does not know at all
-- (neither the transaction id nor the order id appears in Xsolla's registry).
-- Ledger lines outside the window with no Xsolla counterpart are not judged: Xsolla's side was
-- not read for those dates.
SELECT
  'missing_in_provider:' || l_key || ':' || row_kind AS key,
  'ledger_line_unknown_to_xsolla' AS rule,
  l_currency AS currency,
  CAST(NULL AS DECIMAL(38, 6)) AS expected,
  l_amount AS actual,
  transaction_id,
  order_id,
  CAST(NULL AS DATE) AS provider_date,
  ledger_date,
  CAST(NULL AS VARCHAR) AS provider_rows,
  ledger_rows,
  'The ledger books this line; Xsolla reports no such transaction in the window' AS detail
FROM matched
WHERE p_txn IS NULL AND l_any_in_window = 1 AND provider_has_payment = 0
