-- The pairs: Xsolla and the ledger side by side, each line with the tolerance of its currency
-- and its governing date. One file (one query), not a `pairs` table and then `matched`: at
-- 10 million lines the two tables, some 30 columns each, were held together while `matched`
-- was built, the run's memory peak.
--
-- Provider and ledger side by side: a FULL OUTER JOIN on (transaction, kind), written as one
-- join per kind, each side's payments and cancellations being tables of their own (joining on
-- the transaction id alone is much faster at 10 million rows).
-- A line with only one side is a candidate for missing_* or status_mismatch; a line with
-- both sides is checked for currency, amount, timing and fees.
-- Each line also says what the transaction's payment looks like on each side:
-- `ledger_payment_status` is the status the ledger gives the payment itself (some ledgers mark
-- a refund on the payment row instead of booking a negative line), `provider_has_payment`
-- whether Xsolla knows the transaction at all.
-- `p_pos`, `l_pos` (first booking) and `l_last_pos` (last booking) say where each side's
-- date lies against the window: -1 before, 0 inside, 1 after.
-- Each half names its kind as a constant: coalescing the two sides' row_kind would hold two
-- more 10-million-row columns at the run's memory peak.
-- The cancellations' payments are looked up among the transactions with a cancellation only
-- (`cancelled`): joining the cancellations to every payment line of both sides cost as much
-- as the payments' own join. The lookup is an inner join to the distinct ids, not
-- `txn IN (SELECT …)`: Polars' streaming engine (reconcile.engine) ran that in time and memory
-- quadratic in the lines (25 s at 100,000 lines, out of memory at 1 million).
--
-- The pairs with the tolerance of their currency (config reconcile.tolerance_minor_units), and
-- `gov_pos`: where the pair's governing date lies against the window (-1 before, 0 inside,
-- 1 after). A line with one side is governed by that side's date; a pair by Xsolla's date, or
-- the ledger's with reconcile.governing_date = "ledger" (`ledger_governs` rides on the
-- currency rows). Every class but timing_difference reports only lines with gov_pos = 0.
WITH cancelled AS (
  SELECT transaction_id AS txn FROM provider_cancellations
  UNION ALL
  SELECT txn FROM ledger_cancellations
),
pairs AS (
  SELECT
    p.transaction_id AS p_txn,
    l.lkey AS l_key,
    COALESCE(p.transaction_id, l.txn) AS transaction_id,
    'payment' AS row_kind,
    COALESCE(l.order_id, p.external_id) AS order_id,
    p.currency AS p_currency,
    p.amount AS p_amount,
    p.payout_amount AS p_payout,
    p.payout_currency AS p_payout_currency,
    p.fee_total AS p_fee,
    p.provider_date,
    p.p_pos,
    p.status AS p_status,
    p.p_test,
    p.provider_rows,
    l.currency AS l_currency,
    l.amount AS l_amount,
    l.amount_in_window AS l_amount_in_window,
    l.any_in_window AS l_any_in_window,
    l.all_in_window AS l_all_in_window,
    l.fee AS l_fee,
    l.net AS l_net,
    l.ledger_date,
    l.pos AS l_pos,
    l.last_pos AS l_last_pos,
    l.status_rank AS l_status_rank,
    l.l_test,
    l.ledger_rows,
    l.status_rank AS ledger_payment_status,
    CASE WHEN p.transaction_id IS NULL THEN 0 ELSE 1 END AS provider_has_payment
  FROM provider_payments p
  FULL OUTER JOIN ledger_payments l ON p.transaction_id = l.txn
  UNION ALL
  SELECT
    c.*,
    lp.status_rank AS ledger_payment_status,
    CASE WHEN pp.transaction_id IS NULL THEN 0 ELSE 1 END AS provider_has_payment
  FROM (
    SELECT
    p.transaction_id AS p_txn,
    l.lkey AS l_key,
    COALESCE(p.transaction_id, l.txn) AS transaction_id,
    'cancellation' AS row_kind,
    COALESCE(l.order_id, p.external_id) AS order_id,
    p.currency AS p_currency,
    p.amount AS p_amount,
    p.payout_amount AS p_payout,
    p.payout_currency AS p_payout_currency,
    p.fee_total AS p_fee,
    p.provider_date,
    p.p_pos,
    p.status AS p_status,
    p.p_test,
    p.provider_rows,
    l.currency AS l_currency,
    l.amount AS l_amount,
    l.amount_in_window AS l_amount_in_window,
    l.any_in_window AS l_any_in_window,
    l.all_in_window AS l_all_in_window,
    l.fee AS l_fee,
    l.net AS l_net,
    l.ledger_date,
    l.pos AS l_pos,
    l.last_pos AS l_last_pos,
    l.status_rank AS l_status_rank,
    l.l_test,
    l.ledger_rows
    FROM provider_cancellations p
    FULL OUTER JOIN ledger_cancellations l ON p.transaction_id = l.txn
  ) c
  LEFT JOIN (
    SELECT lt.txn, lt.status_rank
    FROM ledger_payments lt
    INNER JOIN (SELECT DISTINCT txn FROM cancelled) k ON lt.txn = k.txn
  ) lp
    ON c.transaction_id = lp.txn
  LEFT JOIN (
    SELECT pt.transaction_id
    FROM provider_payments pt
    INNER JOIN (SELECT DISTINCT txn FROM cancelled) k ON pt.transaction_id = k.txn
  ) pp
    ON c.transaction_id = pp.transaction_id
)
SELECT
  pr.*,
  COALESCE(cur.tolerance, CAST(0 AS DECIMAL(38, 6))) AS tolerance,
  CASE
    WHEN pr.p_txn IS NULL THEN pr.l_pos
    WHEN pr.l_key IS NULL THEN pr.p_pos
    WHEN cur.ledger_governs THEN pr.l_pos
    ELSE pr.p_pos
  END AS gov_pos
FROM pairs pr
LEFT JOIN currencies cur ON COALESCE(pr.p_currency, pr.l_currency) = cur.currency
