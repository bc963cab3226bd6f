-- The pairs with the tolerance of their currency (config reconcile.tolerance_minor_units).
SELECT
  pr.*,
  COALESCE(c.tolerance, CAST(0 AS DECIMAL(38, 6))) AS tolerance
FROM pairs pr
LEFT JOIN currencies c ON COALESCE(pr.p_currency, pr.l_currency) = c.currency
