-- Every ledger row with the Xsolla transaction it belongs to: its own transaction id when the
-- ledger has one (rule match_by_transaction_id), else the provider transaction whose
-- external_id equals the ledger's order id (rule match_by_external_id).
-- `okey` keys a row no transaction claims: its order id, else the row itself.
-- `key_rows` is how many ledger rows share the row's key: rows alone on their key skip the
-- grouping in the next two files.
WITH by_order AS (
  SELECT external_id, MIN(transaction_id) AS transaction_id
  FROM provider
  WHERE external_id IN (SELECT order_id FROM ledger WHERE transaction_id IS NULL)
  GROUP BY external_id
),
keyed AS (
  SELECT
    l.source,
    l.order_id,
    l.amount,
    l.currency,
    l.status,
    l.booked_date,
    l.booked_day,
    l.in_window,
    l.window_pos,
    l.fee,
    l.net,
    l.transaction_id AS txn,
    CAST(NULL AS VARCHAR) AS okey,
    'match_by_transaction_id' AS match_rule
  FROM ledger l
  WHERE l.transaction_id IS NOT NULL
  UNION ALL
  SELECT
    l.source,
    l.order_id,
    l.amount,
    l.currency,
    l.status,
    l.booked_date,
    l.booked_day,
    l.in_window,
    l.window_pos,
    l.fee,
    l.net,
    x.transaction_id AS txn,
    CASE WHEN x.transaction_id IS NULL THEN COALESCE('order:' || l.order_id, 'row:' || l.source) END AS okey,
    CASE WHEN x.transaction_id IS NOT NULL THEN 'match_by_external_id' ELSE 'unmatched' END AS match_rule
  FROM ledger l
  LEFT JOIN by_order x ON l.order_id = x.external_id
  WHERE l.transaction_id IS NULL
)
SELECT
  *,
  CASE WHEN amount < CAST(0 AS DECIMAL(38, 6)) THEN 'cancellation' ELSE 'payment' END AS row_kind,
  COUNT(*) OVER (PARTITION BY txn, okey) AS key_rows
FROM keyed
