-- One line per (transaction, kind): the payment, and the sum of its cancellations
-- (refunds, partial refunds, chargebacks), each with the rows it came from.
SELECT
  transaction_id,
  row_kind,
  MIN(external_id) AS external_id,
  MIN(payment_currency) AS currency,
  COUNT(DISTINCT payment_currency) AS currencies,
  SUM(payment_amount) AS amount,
  SUM(payout_amount) AS payout_amount,
  MIN(payout_currency) AS payout_currency,
  SUM(fee_total) AS fee_total,
  MIN(transfer_date) AS provider_date,
  MIN(transfer_day) AS provider_day,
  MIN(status) AS status,
  SUM(copies) AS rows_in,
  STRING_AGG(sources, ';') AS provider_rows
FROM provider_groups
GROUP BY transaction_id, row_kind
