-- report_order: 60
-- duplicate_in_provider:
--   identical_payment_rows: the registry has the same payment row more than once;
--   one_order_several_payments: several Xsolla transactions carry the same external_id (the
--     same order paid twice).
-- Only where the (first) transfer date is inside the window: rows in the margins are read for
-- matching only.
SELECT
  'duplicate_in_provider:tx:' || CAST(transaction_id AS VARCHAR) AS key,
  'identical_payment_rows' AS rule,
  payment_currency AS currency,
  payment_amount AS expected,
  CAST(NULL AS DECIMAL(38, 6)) AS actual,
  transaction_id,
  external_id AS order_id,
  transfer_date AS provider_date,
  CAST(NULL AS DATE) AS ledger_date,
  sources AS provider_rows,
  CAST(NULL AS VARCHAR) AS ledger_rows,
  'Xsolla reports this payment ' || CAST(copies AS VARCHAR) || ' times' AS detail
FROM provider_groups
WHERE row_kind = 'payment' AND copies > 1 AND window_pos = 0
UNION ALL
SELECT
  'duplicate_in_provider:order:' || external_id AS key,
  'one_order_several_payments' AS rule,
  MIN(currency) AS currency,
  MIN(amount) AS expected,
  SUM(amount) AS actual,
  MIN(transaction_id) AS transaction_id,
  external_id AS order_id,
  MIN(provider_date) AS provider_date,
  CAST(NULL AS DATE) AS ledger_date,
  STRING_AGG(provider_rows, ';') AS provider_rows,
  CAST(NULL AS VARCHAR) AS ledger_rows,
  CAST(COUNT(*) AS VARCHAR) || ' Xsolla payments carry this order id' AS detail
FROM (
  -- Each payment carries the number of payments with its order id (a window count), and only
  -- the orders with more than one are grouped. Not a count per order joined back to the
  -- payments: that built a text key for every order id (120 against 60 ms a million rows).
  -- Not `IN (SELECT …)` either, which Polars' streaming engine runs in time quadratic in the
  -- rows (see prepare/60_matched.sql).
  SELECT external_id, currency, amount, transaction_id, provider_date, provider_rows, p_pos
  FROM (
    SELECT external_id, currency, amount, transaction_id, provider_date, provider_rows, p_pos,
      COUNT(*) OVER (PARTITION BY external_id) AS order_payments
    FROM provider_payments
    WHERE external_id IS NOT NULL
  ) w
  WHERE order_payments > 1
) t
GROUP BY external_id
HAVING MIN(p_pos) = 0
