-- Provider registry rows in scope, with identical copies folded together.
-- A payment row that appears more than once (copies > 1) is reported by
-- classes/duplicate_in_provider.sql and counted once here, so the amount checks see it once.
-- Cancellation rows are never folded: two equal partial refunds on one day are legitimate.
-- `txn_rows` is how many registry rows the transaction has: nearly every transaction has one,
-- and those rows skip the grouping (at 10 million rows the grouping is what costs).
-- `window_pos` is where the row's transfer date lies: -1 before the window, 0 inside, 1 after
-- (rows in the margins are read for matching only).
WITH counted AS (
  SELECT *, COUNT(*) OVER (PARTITION BY transaction_id) AS txn_rows
  FROM provider
)
SELECT
  transaction_id,
  row_kind,
  payment_amount,
  payment_currency,
  transfer_date,
  transfer_day,
  external_id,
  status,
  payout_amount,
  payout_currency,
  fee_total,
  window_pos,
  dry_run,
  1 AS copies,
  source AS sources,
  txn_rows
FROM counted
WHERE txn_rows = 1 OR row_kind = 'cancellation'
UNION ALL
SELECT
  transaction_id,
  row_kind,
  payment_amount,
  payment_currency,
  transfer_date,
  MIN(transfer_day) AS transfer_day,
  MIN(external_id) AS external_id,
  MIN(status) AS status,
  MIN(payout_amount) AS payout_amount,
  MIN(payout_currency) AS payout_currency,
  MIN(fee_total) AS fee_total,
  MIN(window_pos) AS window_pos,
  MAX(dry_run) AS dry_run,
  COUNT(*) AS copies,
  STRING_AGG(source, ';') AS sources,
  MIN(txn_rows) AS txn_rows
FROM counted
WHERE txn_rows > 1 AND row_kind = 'payment'
GROUP BY transaction_id, row_kind, payment_amount, payment_currency, transfer_date
