-- One line per ledger key with cancellation lines (a negative amount): their sum, split into
-- what is booked inside the window and outside (45_ledger_summed.sql). The payments are
-- 50_ledger_payments.sql, with the same columns.
SELECT * FROM ledger_summed WHERE row_kind = 'cancellation'
