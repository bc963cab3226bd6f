-- One line per (transaction, kind) for the transactions that need summing: every kind of a
-- transaction with several registry rows, and every transaction's cancellations (refunds,
-- partial refunds, chargebacks; a few in a hundred rows, so no fast path for one row). A
-- small table: 20_provider_payments.sql adds the payments of one-row transactions as they
-- are, and 25_provider_cancellations.sql takes the cancellations, so each kind's sums are
-- written here once.
-- `p_pos` is where `provider_date` (the first transfer date) lies against the window: -1
-- before, 0 inside, 1 after; the first date's position is the smallest of its rows'.
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
WHERE txn_rows > 1 OR row_kind = 'cancellation'
GROUP BY transaction_id, row_kind
