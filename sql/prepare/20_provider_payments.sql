-- One line per transaction with a payment row: the payment, with the rows it came from. A
-- transaction with one registry row is its own line (no grouping needed); the others' are
-- summed in 15_provider_summed.sql.
-- Payments and cancellations are two tables, not one that 60_matched filters by kind: the
-- filter copied every column of the table before the join copied them again.
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
SELECT * FROM provider_summed WHERE row_kind = 'payment'
