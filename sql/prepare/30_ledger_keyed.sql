-- Every ledger row with the Xsolla transaction it belongs to: its own transaction id when the
-- ledger has one (rule match_by_transaction_id), else the provider transaction whose
-- external_id equals the ledger's order id (rule match_by_external_id).
SELECT
  l.source,
  l.order_id,
  l.amount,
  l.currency,
  l.status,
  l.booked_date,
  l.booked_day,
  l.in_window,
  l.fee,
  l.net,
  COALESCE(l.transaction_id, x.transaction_id) AS txn,
  CASE
    WHEN l.transaction_id IS NOT NULL THEN 'match_by_transaction_id'
    WHEN x.transaction_id IS NOT NULL THEN 'match_by_external_id'
    ELSE 'unmatched'
  END AS match_rule,
  CASE WHEN l.amount < CAST(0 AS DECIMAL(38, 6)) THEN 'cancellation' ELSE 'payment' END AS row_kind
FROM ledger l
LEFT JOIN (
  SELECT external_id, MIN(transaction_id) AS transaction_id
  FROM provider
  GROUP BY external_id
) x ON l.order_id = x.external_id
