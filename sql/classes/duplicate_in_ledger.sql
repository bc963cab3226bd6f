-- report_order: 70
-- duplicate_in_ledger: the ledger books the same payment (same transaction or order, amount,
-- currency and date) more than once. Split bookings with different amounts are not
-- duplicates; they are summed and compared as one.
SELECT
  'duplicate_in_ledger:' || COALESCE('tx:' || CAST(txn AS VARCHAR), okey) || ':' || CAST(booked_date AS VARCHAR) || ':' || CAST(amount AS VARCHAR) AS key,
  'identical_ledger_lines' AS rule,
  currency,
  amount AS expected,
  CAST(NULL AS DECIMAL(38, 6)) AS actual,
  txn AS transaction_id,
  order_id,
  CAST(NULL AS DATE) AS provider_date,
  booked_date AS ledger_date,
  CAST(NULL AS VARCHAR) AS provider_rows,
  sources AS ledger_rows,
  'The ledger books this payment ' || CAST(copies AS VARCHAR) || ' times' AS detail
FROM ledger_groups
WHERE row_kind = 'payment' AND copies > 1 AND in_window = 1
