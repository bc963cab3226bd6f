-- The pairs with the tolerance of their currency (config reconcile.tolerance_minor_units), and
-- `gov_pos`: where the pair's governing date lies against the window (-1 before, 0 inside,
-- 1 after). A line with one side is governed by that side's date; a pair by Xsolla's date, or
-- the ledger's with reconcile.governing_date = "ledger" (`ledger_governs` rides on the
-- currency rows). Every class but timing_difference reports only lines with gov_pos = 0.
SELECT
  pr.*,
  COALESCE(c.tolerance, CAST(0 AS DECIMAL(38, 6))) AS tolerance,
  CASE
    WHEN pr.p_txn IS NULL THEN pr.l_pos
    WHEN pr.l_key IS NULL THEN pr.p_pos
    WHEN c.ledger_governs THEN pr.l_pos
    ELSE pr.p_pos
  END AS gov_pos
FROM pairs pr
LEFT JOIN currencies c ON COALESCE(pr.p_currency, pr.l_currency) = c.currency
