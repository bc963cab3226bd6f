-- One line per (ledger key, kind) for the keys that need summing, split into what is booked
-- inside the window and outside: every kind of a key with several ledger lines, and every
-- key's cancellations (negative lines; a few in a hundred, so no fast path for one line). A
-- small table: 50_ledger_payments.sql adds the payments of one-line keys as they are, and
-- 55_ledger_cancellations.sql takes the cancellations, so each kind's sums are written here
-- once.
-- `lkey` names the key in findings: `tx:<transaction>`, `order:<order id>` or `row:<row>`.
-- status_rank: the strongest status wins (chargeback > refunded > partially_refunded > paid).
-- `pos` / `last_pos`: where the first / last booking date lies against the window (-1 before,
-- 0 inside, 1 after).
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
WHERE key_rows > 1 OR row_kind = 'cancellation'
GROUP BY txn, okey, row_kind
