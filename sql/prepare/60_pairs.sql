-- Provider and ledger side by side: a FULL OUTER JOIN on (transaction, kind), written as one
-- join per kind (joining on the transaction id alone is much faster at 10 million rows).
-- A line with only one side is a candidate for missing_* or status_mismatch; a line with
-- both sides is checked for currency, amount, timing and fees.
-- Each line also says what the transaction's payment looks like on each side:
-- `ledger_payment_status` is the status the ledger gives the payment itself (some ledgers mark
-- a refund on the payment row instead of booking a negative line), `provider_has_payment`
-- whether Xsolla knows the transaction at all.
-- `p_pos`, `l_pos` (first booking) and `l_last_pos` (last booking) say where each side's
-- date lies against the window: -1 before, 0 inside, 1 after.
-- Each half names its kind as a constant: coalescing the two sides' row_kind would hold two
-- more 10-million-row columns at the run's memory peak.
-- The cancellations' payments are looked up among the transactions with a cancellation only
-- (`cancelled`): joining the cancellations to every payment line of both sides cost as much
-- as the payments' own join.
WITH cancelled AS (
  SELECT transaction_id AS txn FROM provider_txn WHERE row_kind = 'cancellation'
  UNION ALL
  SELECT txn FROM ledger_txn WHERE row_kind = 'cancellation'
)
SELECT
  p.transaction_id AS p_txn,
  l.lkey AS l_key,
  COALESCE(p.transaction_id, l.txn) AS transaction_id,
  'payment' AS row_kind,
  COALESCE(l.order_id, p.external_id) AS order_id,
  p.currency AS p_currency,
  p.amount AS p_amount,
  p.payout_amount AS p_payout,
  p.payout_currency AS p_payout_currency,
  p.fee_total AS p_fee,
  p.provider_date,
  p.p_pos,
  p.status AS p_status,
  p.p_test,
  p.provider_rows,
  l.currency AS l_currency,
  l.amount AS l_amount,
  l.amount_in_window AS l_amount_in_window,
  l.any_in_window AS l_any_in_window,
  l.all_in_window AS l_all_in_window,
  l.fee AS l_fee,
  l.net AS l_net,
  l.ledger_date,
  l.pos AS l_pos,
  l.last_pos AS l_last_pos,
  l.status_rank AS l_status_rank,
  l.l_test,
  l.ledger_rows,
  l.status_rank AS ledger_payment_status,
  CASE WHEN p.transaction_id IS NULL THEN 0 ELSE 1 END AS provider_has_payment
FROM (SELECT * FROM provider_txn WHERE row_kind = 'payment') p
FULL OUTER JOIN (SELECT * FROM ledger_txn WHERE row_kind = 'payment') l ON p.transaction_id = l.txn
UNION ALL
SELECT
  c.*,
  lp.status_rank AS ledger_payment_status,
  CASE WHEN pp.transaction_id IS NULL THEN 0 ELSE 1 END AS provider_has_payment
FROM (
  SELECT
  p.transaction_id AS p_txn,
  l.lkey AS l_key,
  COALESCE(p.transaction_id, l.txn) AS transaction_id,
  'cancellation' AS row_kind,
  COALESCE(l.order_id, p.external_id) AS order_id,
  p.currency AS p_currency,
  p.amount AS p_amount,
  p.payout_amount AS p_payout,
  p.payout_currency AS p_payout_currency,
  p.fee_total AS p_fee,
  p.provider_date,
  p.p_pos,
  p.status AS p_status,
  p.p_test,
  p.provider_rows,
  l.currency AS l_currency,
  l.amount AS l_amount,
  l.amount_in_window AS l_amount_in_window,
  l.any_in_window AS l_any_in_window,
  l.all_in_window AS l_all_in_window,
  l.fee AS l_fee,
  l.net AS l_net,
  l.ledger_date,
  l.pos AS l_pos,
  l.last_pos AS l_last_pos,
  l.status_rank AS l_status_rank,
  l.l_test,
  l.ledger_rows
  FROM (SELECT * FROM provider_txn WHERE row_kind = 'cancellation') p
  FULL OUTER JOIN (SELECT * FROM ledger_txn WHERE row_kind = 'cancellation') l ON p.transaction_id = l.txn
) c
LEFT JOIN (
  SELECT txn, status_rank FROM ledger_txn
  WHERE row_kind = 'payment' AND txn IN (SELECT txn FROM cancelled)
) lp
  ON c.transaction_id = lp.txn
LEFT JOIN (
  SELECT transaction_id FROM provider_txn
  WHERE row_kind = 'payment' AND transaction_id IN (SELECT txn FROM cancelled)
) pp
  ON c.transaction_id = pp.transaction_id
