-- One line per (ledger key, kind), split into what is booked inside the window and outside.
-- status_rank: the strongest status wins (chargeback > refunded > partially_refunded > paid).
SELECT
  lkey,
  MIN(txn) AS txn,
  row_kind,
  MIN(order_id) AS order_id,
  MIN(currency) AS currency,
  COUNT(DISTINCT currency) AS currencies,
  SUM(amount) AS amount,
  SUM(CASE WHEN in_window = 1 THEN amount ELSE CAST(0 AS DECIMAL(38, 6)) END) AS amount_in_window,
  MAX(in_window) AS any_in_window,
  MIN(in_window) AS all_in_window,
  SUM(fee) AS fee,
  SUM(net) AS net,
  MIN(booked_date) AS ledger_date,
  MIN(booked_day) AS ledger_day,
  MAX(CASE status
        WHEN 'chargeback' THEN 5
        WHEN 'refunded' THEN 4
        WHEN 'partially_refunded' THEN 3
        WHEN 'canceled' THEN 2
        WHEN 'paid' THEN 1
        ELSE 0 END) AS status_rank,
  MIN(match_rule) AS match_rule,
  SUM(copies) AS rows_in,
  STRING_AGG(sources, ';') AS ledger_rows
FROM ledger_groups
GROUP BY lkey, row_kind
