-- One line per ledger key with payment lines (amount zero or more), split into what is
-- booked inside the window and outside (the columns as in 45_ledger_summed.sql). A key with
-- one ledger line is its own line; the others' are summed in 45_ledger_summed.sql.
-- Payments and cancellations are two tables, as on Xsolla's side (20_provider_payments.sql).
-- Only columns a later file reads are kept: at 10 million lines each costs 40-160 MB.
SELECT
  COALESCE('tx:' || CAST(txn AS VARCHAR), okey) AS lkey,
  txn,
  row_kind,
  order_id,
  currency,
  amount,
  CASE WHEN in_window = 1 THEN amount ELSE CAST(0 AS DECIMAL(38, 6)) END AS amount_in_window,
  in_window AS any_in_window,
  in_window AS all_in_window,
  window_pos AS pos,
  window_pos AS last_pos,
  fee,
  net,
  is_test AS l_test,
  booked_date AS ledger_date,
  CASE status
    WHEN 'chargeback' THEN 5
    WHEN 'refunded' THEN 4
    WHEN 'partially_refunded' THEN 3
    WHEN 'canceled' THEN 2
    WHEN 'paid' THEN 1
    ELSE 0 END AS status_rank,
  sources AS ledger_rows
FROM ledger_groups
WHERE key_rows = 1 AND row_kind = 'payment'
UNION ALL
SELECT * FROM ledger_summed WHERE row_kind = 'payment'
