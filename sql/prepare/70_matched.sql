-- The pairs, plus what the rest of the transaction looks like on each side:
-- `ledger_payment_status` is the status the ledger gives the payment itself (some ledgers mark
-- a refund on the payment row instead of booking a negative line), `provider_has_payment`
-- whether Xsolla knows the transaction at all, and the currency's tolerance.
SELECT
  pr.*,
  s.ledger_payment_status,
  CASE WHEN pp.t IS NULL THEN 0 ELSE 1 END AS provider_has_payment,
  COALESCE(c.tolerance, CAST(0 AS DECIMAL(38, 6))) AS tolerance
FROM pairs pr
LEFT JOIN (
  SELECT txn, MAX(status_rank) AS ledger_payment_status
  FROM ledger_txn
  WHERE row_kind = 'payment'
  GROUP BY txn
) s ON pr.transaction_id = s.txn
LEFT JOIN (
  SELECT transaction_id AS t FROM provider_txn WHERE row_kind = 'payment'
) pp ON pr.transaction_id = pp.t
LEFT JOIN currencies c ON COALESCE(pr.p_currency, pr.l_currency) = c.currency
