-- Ledger rows with identical copies of a payment folded together (see
-- classes/duplicate_in_ledger.sql). The group key is the transaction when known, else `okey`.
-- Rows alone on their key are their own group.
SELECT
  txn,
  okey,
  row_kind,
  amount,
  currency,
  booked_date,
  booked_day,
  order_id,
  status,
  match_rule,
  fee,
  net,
  is_test,
  CASE WHEN in_window THEN 1 ELSE 0 END AS in_window,
  window_pos,
  1 AS copies,
  source AS sources,
  key_rows
FROM ledger_keyed
WHERE key_rows = 1 OR row_kind = 'cancellation'
UNION ALL
SELECT
  txn,
  okey,
  row_kind,
  amount,
  currency,
  booked_date,
  MIN(booked_day) AS booked_day,
  MIN(order_id) AS order_id,
  MIN(status) AS status,
  MIN(match_rule) AS match_rule,
  MIN(fee) AS fee,
  MIN(net) AS net,
  MAX(is_test) AS is_test,
  MAX(CASE WHEN in_window THEN 1 ELSE 0 END) AS in_window,
  MIN(window_pos) AS window_pos,
  COUNT(*) AS copies,
  STRING_AGG(source, ';') AS sources,
  MIN(key_rows) AS key_rows
FROM ledger_keyed
WHERE key_rows > 1 AND row_kind = 'payment'
GROUP BY txn, okey, row_kind, amount, currency, booked_date
