#!/usr/bin/env python3
"""Generates a registry export and a matching ledger with a known number of discrepancies.

    gen.py ROWS DISCREPANCIES OUT_DIR

Writes OUT_DIR/registry.csv (Xsolla registry export headers) and OUT_DIR/ledger.csv
(a finance export), both for October 2026. Every k-th transaction is disturbed in one of three
ways (dropped from the ledger, amount off by one unit, booked twice), so exactly
DISCREPANCIES findings are expected. Amounts are written as exact decimal text.
"""
import os
import sys

rows, k, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)
currencies = [("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3), ("BRL", 2)]
step = max(rows // max(k, 1), 1)
disturbed = 0

def amount(i, exp):
    minor = 99 + (i * 7919) % 100_000
    if exp == 0:
        return str(minor)
    s = str(minor).rjust(exp + 1, "0")
    return s[:-exp] + "." + s[-exp:]

with open(os.path.join(out, "registry.csv"), "w", newline="") as reg, \
     open(os.path.join(out, "ledger.csv"), "w", newline="") as led:
    reg.write("Transaction ID,External ID,Project ID,Status,Transfer date,Payment amount,"
              "Payment currency,Payout amount,Payout currency,Dry run\r\n")
    led.write("Booking date,Xsolla transaction,Order,Currency,Gross,Fee,Status,Note\r\n")
    rb, lb = [], []
    for i in range(rows):
        txn = 10_000_000 + i
        cur, exp = currencies[i % len(currencies)]
        a = amount(i, exp)
        day = 1 + i % 31
        date = f"2026-10-{day:02d}"
        rb.append(f"{txn},ord-{txn},{1 + i % 3},done,{date} 12:00:00,{a},{cur},{a},{cur},0\r\n")
        kind = (i // step) % 3 if (i % step == step // 2 and disturbed < k) else None
        if kind is not None:
            disturbed += 1
        if kind == 0:
            pass  # missing_in_ledger
        elif kind == 1:
            bumped = amount(i + 1, exp) if amount(i + 1, exp) != a else amount(i + 2, exp)
            lb.append(f"{date},{txn},ord-{txn},{cur},{bumped},0,Paid,\r\n")  # amount_mismatch
        else:
            lb.append(f"{date},{txn},ord-{txn},{cur},{a},0,Paid,\r\n")
            if kind == 2:
                lb.append(f"{date},{txn},ord-{txn},{cur},{a},0,Paid,\r\n")  # duplicate_in_ledger
        if len(rb) >= 100_000:
            reg.write("".join(rb)); led.write("".join(lb)); rb, lb = [], []
    reg.write("".join(rb)); led.write("".join(lb))
print(f"{rows} provider rows, {disturbed} discrepancies injected -> {out}")
