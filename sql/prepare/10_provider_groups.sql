-- Provider registry rows in scope, with identical copies folded together.
-- A payment row that appears more than once (copies > 1) is reported by
-- classes/duplicate_in_provider.sql and counted once here, so the amount checks see it once.
-- Cancellation rows are never folded: two equal partial refunds on one day are legitimate.
-- `txn_rows` is how many registry rows the transaction has: nearly every transaction has one,
-- and those rows skip the grouping (at 10 million rows the grouping is what costs). It is
-- counted for the transactions with several rows only, and joined to their rows: a window
-- count over every transaction (COUNT(*) OVER (PARTITION BY transaction_id)) builds and
-- broadcasts a group per transaction, a sixth of this file's time at 1 million rows. Every
-- row has a transaction id (the loaders refuse a row without one).
-- `window_pos` is where the row's transfer date lies: -1 before the window, 0 inside, 1 after
-- (rows in the margins are read for matching only).
WITH repeated AS (
  SELECT transaction_id AS rep_txn, COUNT(*) AS rep_rows
  FROM provider
  GROUP BY transaction_id
  HAVING COUNT(*) > 1
),
counted AS (
  SELECT p.*, COALESCE(r.rep_rows, 1) AS txn_rows
  FROM provider p
  LEFT JOIN repeated r ON p.transaction_id = r.rep_txn
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
