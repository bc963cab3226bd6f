-- report_order: 40
-- currency_mismatch: both sides have the line, in different currencies. Amounts in two
-- currencies cannot be compared, so no amount check is made on such a line.
SELECT
  'currency_mismatch:tx:' || CAST(transaction_id AS VARCHAR) || ':' || row_kind AS key,
  'same_transaction_other_currency' AS rule,
  p_currency || '/' || l_currency AS currency,
  p_amount AS expected,
  l_amount AS actual,
  transaction_id,
  order_id,
  provider_date,
  ledger_date,
  provider_rows,
  ledger_rows,
  'Xsolla reports ' || p_currency || ', the ledger books ' || l_currency AS detail
FROM matched
WHERE p_txn IS NOT NULL AND l_key IS NOT NULL AND p_currency <> l_currency AND gov_pos = 0
