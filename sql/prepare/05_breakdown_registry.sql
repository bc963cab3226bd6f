-- Registry sums per breakdown window and payment currency, over every non-test row of the
-- merchant (the breakdown is merchant-wide, so no project filter applies here). `chunk_from`
-- is the first day of the breakdown window the row's transfer date falls in.
SELECT
  chunk_from,
  payment_currency AS currency,
  SUM(payment_amount) AS payments,
  SUM(payout_amount) AS payout
FROM provider_all
WHERE chunk_from IS NOT NULL
GROUP BY chunk_from, payment_currency
