-- One line per transaction with a payment row: the payment, with the rows it came from.
-- Its cancellations (refunds, partial refunds, chargebacks) are summed in
-- 25_provider_cancellations.sql. Two tables, not one that 60_matched filters by kind: the
-- filter copied every column of the table before the join copied them again.
-- A transaction with one registry row is its own line (no grouping needed).
-- `p_pos` is where `provider_date` (the first transfer date) lies against the window: -1
-- before, 0 inside, 1 after; the first date's position is the smallest of its rows'.
-- Only columns a later file reads are kept: at 10 million lines each costs 40-160 MB.
SELECT
  transaction_id,
  row_kind,
  external_id,
  payment_currency AS currency,
  payment_amount AS amount,
  payout_amount,
  payout_currency,
  fee_total,
  transfer_date AS provider_date,
  window_pos AS p_pos,
  status,
  dry_run AS p_test,
  sources AS provider_rows
FROM provider_groups
WHERE txn_rows = 1 AND row_kind = 'payment'
UNION ALL
SELECT
  transaction_id,
  row_kind,
  MIN(external_id) AS external_id,
  MIN(payment_currency) AS currency,
  SUM(payment_amount) AS amount,
  SUM(payout_amount) AS payout_amount,
  MIN(payout_currency) AS payout_currency,
  SUM(fee_total) AS fee_total,
  MIN(transfer_date) AS provider_date,
  MIN(window_pos) AS p_pos,
  MIN(status) AS status,
  MAX(dry_run) AS p_test,
  STRING_AGG(sources, ';') AS provider_rows
FROM provider_groups
WHERE txn_rows > 1 AND row_kind = 'payment'
GROUP BY transaction_id, row_kind
