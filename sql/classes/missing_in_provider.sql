-- report_order: 20
-- missing_in_provider: the ledger books a line in the window that Xsolla does not know at all
-- (neither the transaction id nor the order id appears in Xsolla's registry).
-- Ledger lines whose first booking lies outside the window (gov_pos <> 0) take part in matching
-- only: their own run judges them.
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
WHERE p_txn IS NULL AND gov_pos = 0 AND provider_has_payment = 0
