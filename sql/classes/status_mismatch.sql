-- report_order: 50
-- status_mismatch: a refund or chargeback at Xsolla that the ledger has not booked, or the
-- reverse. Three rules:
--   xsolla_cancellation_not_in_ledger: Xsolla has a negative (cancellation) row, the ledger has
--     neither a negative line nor a refunded/charged-back status on the payment;
--   ledger_cancellation_not_at_xsolla: the ledger books a negative line in the window for a
--     transaction Xsolla knows, and Xsolla has no cancellation for it;
--   ledger_says_refunded_xsolla_done: the ledger marks the payment refunded or charged back,
--     Xsolla still reports it done;
--   test_flag: the ledger flags the payment a test purchase (ledger columns.test) and Xsolla
--     reports a real one, or the reverse: Xsolla's row is a test (dry_run) and the ledger
--     books a real sale. Only when the ledger has a test column (`l_test` is null otherwise:
--     the data cannot tell, and the summary lists such pairs as not checked).
-- Each only for lines whose governing date is inside the window (gov_pos = 0).
SELECT
  'status_mismatch:tx:' || CAST(transaction_id AS VARCHAR) || ':cancellation' AS key,
  'xsolla_cancellation_not_in_ledger' AS rule,
  p_currency AS currency,
  p_amount AS expected,
  CAST(NULL AS DECIMAL(38, 6)) AS actual,
  transaction_id,
  order_id,
  provider_date,
  CAST(NULL AS DATE) AS ledger_date,
  provider_rows,
  CAST(NULL AS VARCHAR) AS ledger_rows,
  'Xsolla refunded or charged back (status ' || p_status || '); the ledger has not booked it' AS detail
FROM matched
WHERE row_kind = 'cancellation' AND l_key IS NULL AND gov_pos = 0
  AND COALESCE(ledger_payment_status, 0) < 3
UNION ALL
SELECT
  'status_mismatch:' || l_key || ':cancellation' AS key,
  'ledger_cancellation_not_at_xsolla' AS rule,
  l_currency AS currency,
  CAST(NULL AS DECIMAL(38, 6)) AS expected,
  l_amount AS actual,
  transaction_id,
  order_id,
  CAST(NULL AS DATE) AS provider_date,
  ledger_date,
  CAST(NULL AS VARCHAR) AS provider_rows,
  ledger_rows,
  'The ledger books a refund; Xsolla reports no refund or chargeback for this transaction' AS detail
FROM matched
WHERE row_kind = 'cancellation' AND p_txn IS NULL AND gov_pos = 0 AND provider_has_payment = 1
UNION ALL
SELECT
  'status_mismatch:tx:' || CAST(transaction_id AS VARCHAR) || ':payment' AS key,
  'ledger_says_refunded_xsolla_done' AS rule,
  p_currency AS currency,
  p_amount AS expected,
  l_amount AS actual,
  transaction_id,
  order_id,
  provider_date,
  ledger_date,
  provider_rows,
  ledger_rows,
  'The ledger marks this payment refunded; Xsolla reports it done' AS detail
FROM matched
WHERE row_kind = 'payment' AND p_txn IS NOT NULL AND l_key IS NOT NULL
  AND p_status = 'done' AND COALESCE(l_status_rank, 0) >= 3 AND gov_pos = 0
UNION ALL
SELECT
  'status_mismatch:tx:' || CAST(transaction_id AS VARCHAR) || ':test' AS key,
  'test_flag' AS rule,
  p_currency AS currency,
  p_amount AS expected,
  l_amount AS actual,
  transaction_id,
  order_id,
  provider_date,
  ledger_date,
  provider_rows,
  ledger_rows,
  CASE WHEN p_test
    THEN 'Xsolla reports a test (dry-run) payment; the ledger books it as a real sale'
    ELSE 'The ledger flags a test purchase; Xsolla reports a real payment'
  END AS detail
FROM matched
WHERE row_kind = 'payment' AND p_txn IS NOT NULL AND l_key IS NOT NULL AND gov_pos = 0
  AND l_test IS NOT NULL AND p_test <> l_test
