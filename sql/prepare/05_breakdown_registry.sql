-- Registry sums per breakdown day and payment currency, over every non-test row of the
-- merchant (the breakdown is merchant-wide, so no project filter applies here). The fetch asks
-- for the breakdown one calendar day at a time, so `chunk_from` is the day of the breakdown
-- the row's transfer date falls in (the first day of its request window, for snapshots whose
-- breakdown was requested per chunk).
SELECT
  chunk_from,
  payment_currency AS currency,
  SUM(payment_amount) AS payments,
  SUM(payout_amount) AS payout
FROM provider_all
WHERE chunk_from IS NOT NULL
GROUP BY chunk_from, payment_currency
