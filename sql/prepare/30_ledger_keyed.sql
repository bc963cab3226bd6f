-- Every ledger row with the Xsolla transaction it belongs to: its own transaction id when the
-- ledger has one (rule match_by_transaction_id), else the provider transaction whose
-- external_id equals the ledger's order id (rule match_by_external_id).
-- `okey` keys a row no transaction claims: its order id, else the row's content and its
-- occurrence among identical lines (`row:<date>:<currency>:<amount>:<note>:<n>`), never its
-- file name or line, so renaming or reordering the export keeps the key. Identical lines are
-- numbered by status, fee and net (then source, which only orders lines identical in all).
-- `key_rows` is how many ledger rows share the row's key: rows alone on their key skip the
-- grouping of 40_ledger_groups.sql, and payments alone on their key that of
-- 45_ledger_summed.sql.
WITH by_order AS (
  SELECT external_id, MIN(transaction_id) AS transaction_id
  FROM provider
  WHERE external_id IN (SELECT order_id FROM ledger WHERE transaction_id IS NULL)
  GROUP BY external_id
),
unclaimed AS (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY order_id, booked_date, currency, amount, note
      ORDER BY status, fee, net, source
    ) AS occurrence
  FROM ledger
  WHERE transaction_id IS NULL
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
    l.is_test,
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
    l.is_test,
    x.transaction_id AS txn,
    CASE WHEN x.transaction_id IS NULL THEN COALESCE('order:' || l.order_id, 'row:'
      || COALESCE(CAST(l.booked_date AS VARCHAR), '') || ':' || COALESCE(l.currency, '') || ':'
      || COALESCE(CAST(l.amount AS VARCHAR), '') || ':' || COALESCE(l.note, '') || ':'
      || CAST(l.occurrence AS VARCHAR)) END AS okey,
    CASE WHEN x.transaction_id IS NOT NULL THEN 'match_by_external_id' ELSE 'unmatched' END AS match_rule
  FROM unclaimed l
  LEFT JOIN by_order x ON l.order_id = x.external_id
)
SELECT
  *,
  CASE WHEN amount < CAST(0 AS DECIMAL(38, 6)) THEN 'cancellation' ELSE 'payment' END AS row_kind,
  COUNT(*) OVER (PARTITION BY txn, okey) AS key_rows
FROM keyed
