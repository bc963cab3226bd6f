-- One line per transaction with cancellation rows (refunds, partial refunds, chargebacks):
-- their sum, with the rows it came from (15_provider_summed.sql). The payments are
-- 20_provider_payments.sql, with the same columns.
SELECT * FROM provider_summed WHERE row_kind = 'cancellation'
