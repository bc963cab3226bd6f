#!/usr/bin/env python3
"""Does, with one DuckDB query, what the benchmark asks of xsolla-recon, on the same two files.

    duckdb_query.py WORK

Reads WORK/registry.csv and WORK/ledger.csv (written by gen.py, either variant) with DuckDB,
money as DECIMAL(38, 6) (exact, never DOUBLE), and:

- splits each side into payments (amount >= 0) and cancellations (negative rows), as
  xsolla-recon does;
- collapses identical rows (same transaction, kind, currency, amount, fee and day) into one,
  counting the copies: a payment booked more than once is a duplicate (duplicate_in_ledger,
  duplicate_in_provider), and counts once in the comparison;
- sums what is left per transaction and kind, and full-outer-joins the two sides on the
  transaction id (and kind);
- classifies: missing_in_ledger (an Xsolla payment without a ledger line), missing_in_provider
  (a ledger line for a transaction Xsolla does not know), status_mismatch (a cancellation on
  one side only), currency_mismatch, amount_mismatch (same currency, amounts differ),
  fee_mismatch (amounts agree, the ledger's fee differs from Xsolla's fee columns).

Writes the findings to WORK/duckdb_findings.csv, prints its wall time, peak memory
(getrusage) and the findings per class next to xsolla-recon's (WORK/out/discrepancies.csv,
when a run left one), and says whether they agree. Not done here, because the benchmark's
data does not need it: matching by order id when the ledger lacks the transaction id, the
date window and its margins, tolerances, payouts, timing differences.
"""
import csv
import os
import resource
import sys
import time
from collections import Counter

import duckdb

work = sys.argv[1]
t0 = time.perf_counter()
registry = os.path.join(work, "registry.csv")
ledger = os.path.join(work, "ledger.csv")
findings = os.path.join(work, "duckdb_findings.csv")
with open(registry, newline="") as f:
    reg_cols = next(csv.reader(f))
with open(ledger, newline="") as f:
    led_cols = next(csv.reader(f))

MONEY = "DECIMAL(38, 6)"
fee_cols = [c for c in ("Xsolla revenue share", "Payment system fee", "Agent commission")
            if c in reg_cols]
reg_types = {"Transaction ID": "BIGINT", "Payment amount": MONEY, "Payment currency": "VARCHAR",
             "Transfer date": "TIMESTAMP", "Dry run": "VARCHAR"}
reg_types.update({c: MONEY for c in fee_cols})
led_types = {"Xsolla transaction": "BIGINT", "Gross": MONEY, "Currency": "VARCHAR",
             "Booking date": "DATE"}
if "Fee" in led_cols:
    led_types["Fee"] = MONEY
p_fee = " + ".join(f'COALESCE("{c}", 0)' for c in fee_cols) or "0"
p_fee = f"CAST({p_fee} AS {MONEY})"
l_fee = '"Fee"' if "Fee" in led_cols else f"CAST(NULL AS {MONEY})"

def read(path, types):
    t = ", ".join(f"'{k}': '{v}'" for k, v in types.items())
    path = path.replace("'", "''")
    return f"read_csv('{path}', header = true, delim = ',', quote = '\"', types = {{{t}}})"

query = f"""
WITH
p AS (
  SELECT "Transaction ID" AS txn,
         CASE WHEN "Payment amount" < 0 THEN 'cancellation' ELSE 'payment' END AS kind,
         "Payment currency" AS currency, "Payment amount" AS amount, {p_fee} AS fee,
         CAST("Transfer date" AS DATE) AS day
  FROM {read(registry, reg_types)}
  WHERE COALESCE("Dry run", '0') NOT IN ('1', 'true', 'True', 'yes')
),
l AS (
  SELECT "Xsolla transaction" AS txn,
         CASE WHEN "Gross" < 0 THEN 'cancellation' ELSE 'payment' END AS kind,
         upper("Currency") AS currency, "Gross" AS amount, {l_fee} AS fee,
         "Booking date" AS day
  FROM {read(ledger, led_types)}
),
pg AS (SELECT txn, kind, currency, amount, fee, day, COUNT(*) AS copies FROM p GROUP BY ALL),
lg AS (SELECT txn, kind, currency, amount, fee, day, COUNT(*) AS copies FROM l GROUP BY ALL),
pt AS (SELECT txn, kind, MIN(currency) AS currency, MAX(currency) AS currency2,
              SUM(amount) AS amount, SUM(fee) AS fee, MIN(day) AS day
       FROM pg GROUP BY txn, kind),
lt AS (SELECT txn, kind, MIN(currency) AS currency, MAX(currency) AS currency2,
              SUM(amount) AS amount, SUM(fee) AS fee, MIN(day) AS day
       FROM lg GROUP BY txn, kind),
j AS (
  SELECT COALESCE(pt.txn, lt.txn) AS txn, COALESCE(pt.kind, lt.kind) AS kind,
         pt.txn IS NOT NULL AS p_has, lt.txn IS NOT NULL AS l_has,
         pt.currency AS p_currency, lt.currency AS l_currency,
         pt.currency2 AS p_currency2, lt.currency2 AS l_currency2,
         pt.amount AS p_amount, lt.amount AS l_amount, pt.fee AS p_fee, lt.fee AS l_fee,
         pt.day AS p_day, lt.day AS l_day
  FROM pt FULL OUTER JOIN lt ON pt.txn = lt.txn AND pt.kind = lt.kind
),
unmatched AS (SELECT * FROM j WHERE NOT (p_has AND l_has)),
known AS (SELECT DISTINCT txn FROM pt)
SELECT 'missing_in_ledger' AS class, txn, kind, p_currency AS currency,
       p_amount AS expected, CAST(NULL AS {MONEY}) AS actual, p_day AS provider_date,
       CAST(NULL AS DATE) AS ledger_date
FROM unmatched WHERE p_has AND kind = 'payment'
UNION ALL
SELECT 'status_mismatch', txn, kind, p_currency, p_amount, NULL, p_day, NULL
FROM unmatched WHERE p_has AND kind = 'cancellation'
UNION ALL
SELECT CASE WHEN k.txn IS NULL THEN 'missing_in_provider' ELSE 'status_mismatch' END,
       u.txn, u.kind, u.l_currency, NULL, u.l_amount, NULL, u.l_day
FROM unmatched u LEFT JOIN known k ON u.txn = k.txn
WHERE u.l_has AND (k.txn IS NULL OR u.kind = 'cancellation')
UNION ALL
SELECT 'currency_mismatch', txn, kind, p_currency || '/' || l_currency, p_amount, l_amount,
       p_day, l_day
FROM j WHERE p_has AND l_has
  AND (p_currency <> l_currency OR p_currency2 <> p_currency OR l_currency2 <> l_currency)
UNION ALL
SELECT 'amount_mismatch', txn, kind, p_currency, p_amount, l_amount, p_day, l_day
FROM j WHERE p_has AND l_has AND p_currency = l_currency AND p_currency2 = l_currency2
  AND p_amount <> l_amount
UNION ALL
SELECT 'fee_mismatch', txn, kind, p_currency, p_fee, l_fee, p_day, l_day
FROM j WHERE p_has AND l_has AND p_currency = l_currency AND p_currency2 = l_currency2
  AND p_amount = l_amount AND l_fee IS NOT NULL AND l_fee <> p_fee
UNION ALL
SELECT 'duplicate_in_ledger', txn, kind, currency, amount, NULL, NULL, day
FROM lg WHERE kind = 'payment' AND copies > 1
UNION ALL
SELECT 'duplicate_in_provider', txn, kind, currency, amount, NULL, day, NULL
FROM pg WHERE kind = 'payment' AND copies > 1
"""

con = duckdb.connect()
con.execute(f"CREATE TEMP TABLE findings AS {query}")
quoted = findings.replace("'", "''")
con.execute(f"COPY (SELECT * FROM findings ORDER BY class, txn, kind) TO '{quoted}' "
            "(HEADER, DELIMITER ',')")
ours = dict(con.execute("SELECT class, COUNT(*) FROM findings GROUP BY class").fetchall())
t1 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
print(f"duckdb {duckdb.__version__} ({threads} threads): read both files, classify, write "
      f"{sum(ours.values())} findings in {t1 - t0:.1f}s, peak memory {peak:.0f} MiB")

theirs_path = os.path.join(work, "out", "discrepancies.csv")
if not os.path.exists(theirs_path):
    print("  (no xsolla-recon output in WORK/out to compare with)")
    for c in sorted(ours):
        print(f"  {c:<24}{ours[c]:>10}")
    sys.exit(0)
with open(theirs_path, newline="") as f:
    theirs = Counter(r["class"] for r in csv.DictReader(f))
print(f"  {'class':<24}{'duckdb':>10}{'xsolla-recon':>14}")
for c in sorted(set(ours) | set(theirs)):
    print(f"  {c:<24}{ours.get(c, 0):>10}{theirs.get(c, 0):>14}")
agree = all(ours.get(c, 0) == theirs.get(c, 0) for c in set(ours) | set(theirs))
print(f"  {'total':<24}{sum(ours.values()):>10}{sum(theirs.values()):>14}   "
      + ("agree" if agree else "DISAGREE"))
