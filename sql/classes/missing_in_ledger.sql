-- report_order: 10
-- missing_in_ledger: Xsolla has a payment in the window and the ledger has no line for that
-- transaction (by transaction id, or by order id = external_id). Xsolla lines in the margins
-- (gov_pos <> 0) take part in matching only.
SELECT
  'missing_in_ledger:tx:' || CAST(transaction_id AS VARCHAR) AS key,
  'provider_payment_without_ledger_line' AS rule,
  p_currency AS currency,
  p_amount AS expected,
  CAST(NULL AS DECIMAL(38, 6)) AS actual,
  transaction_id,
  order_id,
  provider_date,
  CAST(NULL AS DATE) AS ledger_date,
  provider_rows,
  CAST(NULL AS VARCHAR) AS ledger_rows,
  'Xsolla reports this payment; the ledger has no line for it' AS detail
FROM matched
WHERE row_kind = 'payment' AND l_key IS NULL AND gov_pos = 0
