-- Provider and ledger side by side: a FULL OUTER JOIN on (transaction, kind). A line with
-- only one side is a candidate for missing_* or status_mismatch; a line with both sides is
-- checked for currency, amount, timing and fees.
SELECT
  p.transaction_id AS p_txn,
  l.lkey AS l_key,
  COALESCE(p.transaction_id, l.txn) AS transaction_id,
  COALESCE(p.row_kind, l.row_kind) AS row_kind,
  COALESCE(l.order_id, p.external_id) AS order_id,
  p.currency AS p_currency,
  p.currencies AS p_currencies,
  p.amount AS p_amount,
  p.payout_amount AS p_payout,
  p.payout_currency AS p_payout_currency,
  p.fee_total AS p_fee,
  p.provider_date,
  p.provider_day,
  p.status AS p_status,
  p.provider_rows,
  l.currency AS l_currency,
  l.currencies AS l_currencies,
  l.amount AS l_amount,
  l.amount_in_window AS l_amount_in_window,
  l.any_in_window AS l_any_in_window,
  l.all_in_window AS l_all_in_window,
  l.fee AS l_fee,
  l.net AS l_net,
  l.ledger_date,
  l.ledger_day,
  l.status_rank AS l_status_rank,
  l.match_rule,
  l.ledger_rows
FROM provider_txn p
FULL OUTER JOIN ledger_txn l ON p.transaction_id = l.txn AND p.row_kind = l.row_kind
