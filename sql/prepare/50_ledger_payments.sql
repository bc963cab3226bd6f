-- One line per ledger key with payment lines (amount zero or more), split into what is
-- booked inside the window and outside. Its cancellations (negative lines) are summed in
-- 55_ledger_cancellations.sql: two tables, as on Xsolla's side (20_provider_payments.sql).
-- `lkey` names the key in findings: `tx:<transaction>`, `order:<order id>` or `row:<row>`.
-- status_rank: the strongest status wins (chargeback > refunded > partially_refunded > paid).
-- A key with one ledger row is its own line.
-- `pos` / `last_pos`: where the first / last booking date lies against the window (-1 before,
-- 0 inside, 1 after).
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
SELECT
  COALESCE('tx:' || CAST(MIN(txn) AS VARCHAR), MIN(okey)) AS lkey,
  MIN(txn) AS txn,
  row_kind,
  MIN(order_id) AS order_id,
  MIN(currency) AS currency,
  SUM(amount) AS amount,
  SUM(CASE WHEN in_window = 1 THEN amount ELSE CAST(0 AS DECIMAL(38, 6)) END) AS amount_in_window,
  MAX(in_window) AS any_in_window,
  MIN(in_window) AS all_in_window,
  MIN(window_pos) AS pos,
  MAX(window_pos) AS last_pos,
  SUM(fee) AS fee,
  SUM(net) AS net,
  MAX(is_test) AS l_test,
  MIN(booked_date) AS ledger_date,
  MAX(CASE status
        WHEN 'chargeback' THEN 5
        WHEN 'refunded' THEN 4
        WHEN 'partially_refunded' THEN 3
        WHEN 'canceled' THEN 2
        WHEN 'paid' THEN 1
        ELSE 0 END) AS status_rank,
  STRING_AGG(sources, ';') AS ledger_rows
FROM ledger_groups
WHERE key_rows > 1 AND row_kind = 'payment'
GROUP BY txn, okey, row_kind
